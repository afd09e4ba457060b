"""Each export format: what exporting costs (peak memory, time) against Keras' own ``model.export``, and
serving speed against Keras ``predict``; same run, same CPU, same images.

    python benchmarks/export.py [--size 224] [--per-class 24] [--repeat 20] [--weights none] [--only cost|speed]

For MobileNetV3Small and ResNet50 (``weights=None`` by default: the time does not depend on the
weights' values), trains a run on generated scenes (4 classes), exports it with ``zoo.export`` to a
SavedModel, TFLite float32, TFLite int8 (calibrated on the run's training data) and ONNX, then
times each runtime on uint8 images at the training size:

- latency at batch 1: the median of ``--repeat`` calls, after a warm-up call;
- throughput at batch 32: images per second over three batches of 32, after a warm-up batch.

Keras is ``model.predict``; the SavedModel is its ``serving_default`` signature through
``tf.saved_model.load``; TFLite is LiteRT's interpreter (``ai-edge-litert``) with as many threads as
cores; ONNX is onnxruntime's CPU provider. Prints a table per model with the ratios to Keras, the
file sizes, and each export's parity with Keras; the last lines say whether the int8 file is at
least 3x smaller than float32 (the target), for ``run_all.py``.

Export cost: each export runs in a fresh process that loads the run and exports it, once with
``zoo.export`` (parity check included, as ``zoo export`` runs it) and once the plain way, Keras'
``model.export`` on ``keras.saving.load_model("RUN/model.keras")`` (``"tf_saved_model"``, ``"litert"``,
``"litert"`` with ``optimizations`` and a ``representative_dataset`` of random pixels for int8, ``"onnx"``).
Reported: the process's peak resident memory (``ru_maxrss``, TensorFlow's ~0.6 GB included) and the wall
time from before loading the model to the file written. Target: ResNet50's ONNX export peaks at
2.5 GB or less (an 8 GB laptop or CI runner), and no zoo export above that.

The int8 parity printed here says little with random weights: a randomly initialised
MobileNetV3Small gives features of norm ~1e-8 (every image gets the same prediction), and a random
ResNet50's activations quantise badly. ``--weights default`` (pretrained, where they can be
downloaded) or a local weights file gives the figure that matters for a real model.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import tensorflow as tf
from result import report

import zoo
from zoo.demo import SCENES, write_scenes

MODELS = {"mobilenet_v3_small": "MobileNetV3Small", "resnet50": "ResNet50"}
EXPORTS = {"savedmodel": ("savedmodel", None), "tflite": ("tflite", None), "tflite-int8": ("tflite", "int8"),
           "onnx": ("onnx", None)}  # fmt: skip
SIZE_TARGET = 3.0
MEMORY_TARGET_MB = 2560  # 2.5 GB: what an 8 GB machine can spare for an export

# One export in a fresh process: argv = run folder, format key, output path. Prints seconds and peak RSS.
ZOO_EXPORT = """
import json, resource, sys, time
start = time.perf_counter()
import zoo
format, _, quantize = sys.argv[2].partition("-")
zoo.export(sys.argv[1], format, quantize=quantize or None, out=sys.argv[3])
print(json.dumps({"seconds": time.perf_counter() - start,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""
PLAIN_EXPORT = """
import json, resource, sys, time
start = time.perf_counter()
import keras, numpy as np, tensorflow as tf
run, key, out = sys.argv[1:4]
model = keras.saving.load_model(run + "/model.keras", compile=False)
if key == "savedmodel":
    model.export(out, format="tf_saved_model", verbose=False)
elif key == "tflite":
    model.export(out + ".tflite", format="litert", verbose=False)
elif key == "tflite-int8":
    rng, shape = np.random.default_rng(0), model.input_shape[1:]
    examples = lambda: ([rng.uniform(0, 255, (1, *shape)).astype("float32")] for _ in range(76))
    model.export(out + ".tflite", format="litert", verbose=False, optimizations=[tf.lite.Optimize.DEFAULT],
                 representative_dataset=examples)
elif key == "onnx":  # a loaded model was never called: its input signature, as the exporter's own error asks
    signature = [tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)]
    model.export(out + ".onnx", format="onnx", verbose=False, input_signature=signature)
print(json.dumps({"seconds": time.perf_counter() - start,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def latency_ms(run: Callable[[np.ndarray], object], image: np.ndarray, repeat: int) -> float:
    run(image)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run(image)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def throughput(run: Callable[[np.ndarray], object], batches: list[np.ndarray]) -> float:
    run(batches[0])
    start = time.perf_counter()
    for batch in batches[1:]:
        run(batch)
    return sum(len(b) for b in batches[1:]) / (time.perf_counter() - start)


def tflite_runner(path: Path, batch: int) -> Callable[[np.ndarray], np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=os.cpu_count())
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, [batch, *interpreter.get_input_details()[0]["shape"][1:]])
    interpreter.allocate_tensors()
    output = interpreter.get_output_details()[0]["index"]

    def run(x: np.ndarray) -> np.ndarray:
        interpreter.set_tensor(index, x)
        interpreter.invoke()
        return interpreter.get_tensor(output)

    return run


def runtimes(run: zoo.Run, exports: dict[str, zoo.exports.Exported]) -> dict[str, Callable[[int], Callable]]:
    """For each runtime, a maker of its call for a given batch size."""
    import onnxruntime

    model = run.model
    served = tf.saved_model.load(str(exports["savedmodel"].path)).signatures["serving_default"]
    session = onnxruntime.InferenceSession(str(exports["onnx"].artefact), providers=["CPUExecutionProvider"])
    return {
        "Keras predict": lambda n: lambda x: model.predict(x, batch_size=32, verbose=0),
        "SavedModel": lambda n: lambda x: served(images=tf.constant(x)),
        "TFLite float32": lambda n: tflite_runner(exports["tflite"].artefact, n),
        "TFLite int8": lambda n: tflite_runner(exports["tflite-int8"].artefact, n),
        "onnxruntime": lambda n: lambda x: session.run(None, {"images": x}),
    }


def megabytes(count: int) -> str:
    return f"{count / 1e6:.1f} MB"


def measure(code: str, *args: str) -> dict[str, float]:
    """Run ``code`` in a fresh Python with ``args``; its last line of output, as JSON."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)
    if result.returncode:
        print(result.stderr[-2000:])
        return {"seconds": float("nan"), "peak_mb": float("nan")}
    return json.loads(result.stdout.strip().splitlines()[-1])


def export_cost(label: str, run: zoo.Run, out: Path) -> dict[str, tuple[dict, dict]]:
    """Peak memory and time of each export, the zoo's and Keras' own, each in a fresh process; prints a table."""
    costs = {}
    print(f"\nExport cost, {label} (fresh process per export: peak RSS, wall time including loading the model)")
    print(f"{'format':<14}{'zoo peak':>11}{'Keras peak':>12}{'ratio':>8}{'zoo time':>10}{'Keras time':>12}{'ratio':>8}")
    for key in EXPORTS:
        ours = measure(ZOO_EXPORT, str(run.path), key, str(out / f"zoo-{key}"))
        plain = measure(PLAIN_EXPORT, str(run.path), key, str(out / f"plain-{key}"))
        costs[key] = ours, plain
        memory, seconds = ours["peak_mb"] / plain["peak_mb"], ours["seconds"] / plain["seconds"]
        print(f"{key:<14}{ours['peak_mb']:>8.0f} MB{plain['peak_mb']:>9.0f} MB{memory:>8.2f}"
              f"{ours['seconds']:>8.1f} s{plain['seconds']:>10.1f} s{seconds:>8.2f}")  # fmt: skip
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--per-class", type=int, default=24, help="generated training images per scene kind")
    parser.add_argument("--repeat", type=int, default=20, help="batch-1 calls timed per runtime")
    parser.add_argument("--weights", default="none", help="none | default | PATH, for both backbones")
    parser.add_argument("--only", choices=("cost", "speed"), help="measure only the export cost or only serving")
    args = parser.parse_args()
    tf.get_logger().setLevel("ERROR")  # predict's retracing notice for batch 1 after batch 32
    weights = None if args.weights.lower() == "none" else args.weights
    rng = np.random.default_rng(0)
    batches = [rng.integers(0, 256, (32, args.size, args.size, 3), dtype=np.uint8) for _ in range(4)]
    single = batches[0][:1]
    ratios, costs = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        data = write_scenes(Path(tmp) / "data", per_class=args.per_class, size=args.size)
        for name, label in MODELS.items():
            start = time.perf_counter()
            run = zoo.train(name, data, weights=weights, input_shape=args.size, epochs=5, learning_rate=3e-3,
                            out=Path(tmp) / name, cache_dir=Path(tmp) / "cache", verbose=0)  # fmt: skip
            trained = time.perf_counter() - start
            if args.only != "speed":
                costs[label] = export_cost(label, run, Path(tmp) / f"{name}-exports")
            if args.only == "cost":
                continue
            exports, took = {}, {}
            for key, (format, quantize) in EXPORTS.items():
                start = time.perf_counter()
                exports[key] = zoo.export(run, format, quantize=quantize)
                took[key] = time.perf_counter() - start
            sizes = {
                "Keras predict": (run.path / "model.keras").stat().st_size,
                "SavedModel": exports["savedmodel"].size,
                "TFLite float32": exports["tflite"].size,
                "TFLite int8": exports["tflite-int8"].size,
                "onnxruntime": exports["onnx"].size,
            }
            print(f"\n{label} at {args.size}x{args.size}, {len(SCENES)} classes (trained in {trained:.0f} s; exports: "
                  + ", ".join(f"{k} {v:.0f} s" for k, v in took.items()) + ")")  # fmt: skip
            print(f"{'runtime':<16}{'batch 1 ms':>12}{'x Keras':>9}{'batch 32 img/s':>16}{'x Keras':>9}{'file':>10}")
            base_latency = base_rate = None
            for runtime, maker in runtimes(run, exports).items():
                latency = latency_ms(maker(1), single, args.repeat)
                rate = throughput(maker(32), batches)
                base_latency, base_rate = base_latency or latency, base_rate or rate
                print(f"{runtime:<16}{latency:>12.1f}{base_latency / latency:>9.2f}{rate:>16.1f}"
                      f"{rate / base_rate:>9.2f}{megabytes(sizes[runtime]):>10}")  # fmt: skip
            for key, exported in exports.items():
                print(f"  {key}: {exported.metadata['parity']['verdict']}")
            ratios[label] = exports["tflite-int8"].metadata["size_ratio"]
            keras.backend.clear_session()
    for label, ratio in ratios.items():
        report(f"TFLite int8 vs float32 file size ({label})", 1 / ratio, 1.0, "x", ratio, f">= {SIZE_TARGET}",
               ratio >= SIZE_TARGET)  # fmt: skip
    for label, cost in costs.items():
        ours, plain = cost["onnx"]
        report(f"ONNX export peak memory ({label})", ours["peak_mb"], plain["peak_mb"], "MB",
               ours["peak_mb"] / plain["peak_mb"], f"zoo <= {MEMORY_TARGET_MB:,} MB",
               ours["peak_mb"] <= MEMORY_TARGET_MB)  # fmt: skip
        highest = max(cost, key=lambda key: cost[key][0]["peak_mb"])
        ours, plain = cost[highest]
        report(f"largest export peak memory ({label}: {highest})", ours["peak_mb"], plain["peak_mb"], "MB",
               ours["peak_mb"] / plain["peak_mb"], f"zoo <= {MEMORY_TARGET_MB:,} MB",
               ours["peak_mb"] <= MEMORY_TARGET_MB)  # fmt: skip


if __name__ == "__main__":
    main()
