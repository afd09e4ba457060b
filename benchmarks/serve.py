"""``zoo serve`` (dynamic batching) against a naive server that calls ``model.predict`` once per request.

    python benchmarks/serve.py [--backbone mobilenet_v3_small] [--size 224] [--requests 20]

Both serve the same finished run over HTTP on 127.0.0.1 (uvicorn, one process each, run one after the other) and
get the same requests: TF Serving's predict with one base64 JPEG. The naive server decodes and resizes with the
zoo's own functions, as ``zoo serve`` does, so the difference is the batching. Each is driven by 1 client, then
by 32 concurrent clients (``--requests`` each); throughput and latency p50/p99 are measured at the clients.
Target: at least 3x the naive server's throughput at 32 clients. Random backbone weights (no model hub here).
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import io
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from result import report

import zoo
from zoo.demo import write_scenes

# The naive server: the same decoding, resize and model, one model.predict per request.
NAIVE = """
import base64, sys
import numpy as np, uvicorn
from fastapi import FastAPI, Request
import zoo
from zoo.data.decode import decode_image
from zoo.data.pipelines import resize_images

run = zoo.Run(sys.argv[1])
model, size = run.model, run.input_shape[:2]
app = FastAPI()

@app.post("/v1/models/{target}")
async def predict(target: str, request: Request):
    body = await request.json()
    pixels = [decode_image(base64.b64decode(item["b64"])) for item in body["instances"]]
    batch = np.stack([np.asarray(resize_images(p, size, run.interpolation)) for p in pixels])
    return {"predictions": model.predict(batch, verbose=0).tolist()}

@app.get("/readyz")
async def ready():
    return {"status": "ready"}

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def started(command: list[str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return process
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"{command[:4]} did not start")


def drive(port: int, body: bytes, clients: int, requests: int) -> tuple[float, float, float]:
    """Throughput (requests a second) and latency p50 and p99 (ms) of ``clients`` clients sending ``requests`` each."""
    url = f"http://127.0.0.1:{port}/v1/models/run:predict"

    def one() -> float:
        start = time.perf_counter()
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as answer:
            assert answer.status == 200 and json.loads(answer.read())["predictions"]
        return time.perf_counter() - start

    def client(_: int) -> list[float]:
        return [one() for _ in range(requests)]

    for _ in range(3):  # warm-up: connections, the first batches
        one()
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        latencies = [t for times in pool.map(client, range(clients)) for t in times]
    wall = time.perf_counter() - start
    p50, p99 = np.percentile(latencies, [50, 99]) * 1000
    return len(latencies) / wall, float(p50), float(p99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="mobilenet_v3_small")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--requests", type=int, default=20, help="requests each client sends")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = write_scenes(work / "data", per_class=8, size=args.size, seed=0)
        zoo.train(args.backbone, data, out=work / "run", epochs=1, weights=None, input_shape=args.size, verbose=0)
        from PIL import Image

        jpeg = io.BytesIO()
        Image.open(sorted(data.rglob("*.png"))[0]).convert("RGB").save(jpeg, "JPEG")
        body = json.dumps({"instances": [{"b64": base64.b64encode(jpeg.getvalue()).decode()}]}).encode()
        results = {}
        servers = {
            "zoo serve": lambda port: [sys.executable, "-m", "zoo", "serve", str(work / "run"), "--port", str(port)],
            "naive (predict per request)": lambda port: [sys.executable, "-c", NAIVE, str(work / "run"), str(port)],
        }
        for name, command in servers.items():
            port = free_port()
            process = started(command(port), port)
            try:
                results[name] = {clients: drive(port, body, clients, args.requests) for clients in (1, 32)}
            finally:
                process.terminate()
                process.wait(60)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"{args.backbone} at {args.size}x{args.size}, one JPEG a request, {args.requests} requests a client")
    print(f"{'server':<30}{'clients':>8}{'requests/s':>12}{'p50 ms':>10}{'p99 ms':>10}")
    for name, by_clients in results.items():
        for clients, (throughput, p50, p99) in by_clients.items():
            print(f"{name:<30}{clients:>8}{throughput:>12.1f}{p50:>10.1f}{p99:>10.1f}")
    print(f"peak memory of a server process {peak:.0f} MB")
    zoo_rate, naive_rate = results["zoo serve"][32][0], results["naive (predict per request)"][32][0]
    ratio = zoo_rate / naive_rate
    report("serve throughput at 32 clients vs naive", zoo_rate, naive_rate, "requests/s", ratio, ">= 3", ratio >= 3)


if __name__ == "__main__":
    main()
