"""`zoo serve`: a real server on 127.0.0.1 driven over HTTP, in TF Serving's request format and the zoo's own; bad
requests answered 4xx with the cause while the server stays up; 1,000 mixed requests from 16 concurrent clients, each
good one answered as `zoo.predict` answers it; SIGTERM draining what is in flight and exiting 0; a text model; and the
web page in headless Chromium, an image uploaded and its label shown.
"""

import base64
import concurrent.futures
import csv
import http.client
import io
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zlib

import pytest
from PIL import Image
from servers import CHROMIUM, NO_CHROMIUM, QUIET_CHROMIUM, TEXTS, free_port

import zoo
import zoo.serving
from zoo.cli import main
from zoo.demo import write_scenes
from zoo.testing import TINY_IMAGE

pytestmark = pytest.mark.slow


class Server:
    """`zoo serve RUN` in its own process, on a free port of 127.0.0.1."""

    def __init__(self, run_path, *options, env=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "zoo", "serve", str(run_path), "--port", str(self.port), *options]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        env={**os.environ, **(env or {})})  # fmt: skip
        deadline = time.monotonic() + 120
        while True:
            try:
                if self.get("/readyz")[0] == 200:
                    break
            except OSError:
                pass
            assert self.process.poll() is None and time.monotonic() < deadline, self.process.communicate()[1][-3000:]
            time.sleep(0.3)

    def request(self, method, path, body=None, headers=None):
        """``(status, parsed JSON or text)``; a 4xx or 5xx is an answer here, not an exception."""
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                status, text = answer.status, answer.read().decode()
        except urllib.error.HTTPError as err:
            status, text = err.code, err.read().decode()
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, body, headers=None):
        return self.request("POST", path, body, headers)

    def stop(self):
        """SIGTERM; the exit status and the output."""
        self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=60)
        return self.process.returncode, out, err


def b64(path):
    return {"b64": base64.b64encode(path.read_bytes()).decode()}


def serving_line(url, name="run"):
    """What `zoo serve` says on stderr once it listens, and nothing else while it serves."""
    return f"serving {name} at {url}/ (POST /v1/models/{name}:predict); Ctrl-C stops"


def bomb_png(width=12000, height=12000):
    """A PNG whose header claims ``width`` x ``height`` pixels (over Pillow's own limit), in a few bytes."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def multipart(field, filename, data, kind="application/octet-stream"):
    boundary = "zoo-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
            f"Content-Type: {kind}\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()  # fmt: skip
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    scenes = write_scenes(root / "scenes", per_class=4, size=32, seed=0)
    run = zoo.train(TINY_IMAGE, scenes, out=root / "run", epochs=3, learning_rate=0.05, weights=None, verbose=0)
    images = sorted(scenes.rglob("*.png"))[::2]  # 8 images, 2 of each class
    expected = {str(p): zoo.predict(run, str(p), top_k=4)[0]["predictions"] for p in images}
    return run, images, expected


@pytest.fixture(scope="module")
def server(trained):
    served = Server(trained[0].path, "--max-wait-ms", "20")
    yield served
    if served.process.poll() is None:
        served.stop()


def scores_of(run, predictions):
    """zoo.predict's predictions as the model's output row (in class order)."""
    by_label = {p["label"]: p["score"] for p in predictions}
    return [by_label[name] for name in run.class_names]


def test_tf_serving_requests_are_answered_as_zoo_predict_answers(trained, server):
    run, images, expected = trained
    status, answer = server.get("/v1/models/run")
    assert status == 200 and answer["model_version_status"][0]["state"] == "AVAILABLE"
    status, meta = server.get("/v1/models/run/metadata")
    assert status == 200 and meta["model_spec"]["name"] == "run"
    assert meta["zoo"]["class_names"] == list(run.class_names) and meta["zoo"]["input_shape"] == [32, 32, 3]
    signature = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    # as TF Serving says an input of encoded images: one string per instance, whatever the image's size
    assert signature["inputs"]["images"]["dtype"] == "DT_STRING"
    assert [d["size"] for d in signature["inputs"]["images"]["tensor_shape"]["dim"]] == ["-1"]
    # predict is a POST; other paths and methods are answered as JSON errors, as the API's own are
    status, answer = server.get("/v1/models/run:predict")
    assert status == 405 and "POST /v1/models/run:predict" in answer["error"]
    assert server.get("/v1/models/run:classify")[0] == 404
    status, answer = server.get("/v1/models/run/versions")
    assert status == 404 and "Not Found" in answer["error"]

    status, answer = server.post("/v1/models/run:predict", {"instances": [b64(p) for p in images[:3]]})
    assert status == 200
    for row, path in zip(answer["predictions"], images[:3], strict=True):
        assert row == pytest.approx(scores_of(run, expected[str(path)]), abs=1e-5)
    # the columnar format, with the input named as TF Serving's clients name it
    status, answer = server.post("/v1/models/run:predict", {"inputs": {"images": [b64(images[3])]},
                                                            "signature_name": "serving_default"})  # fmt: skip
    assert status == 200 and answer["outputs"][0] == pytest.approx(scores_of(run, expected[str(images[3])]), abs=1e-5)
    # an upload to /predict: the top classes
    status, answer = server.post("/predict", *multipart("file", images[4].name, images[4].read_bytes(), "image/png"))
    assert status == 200 and [p["label"] for p in answer["predictions"]] == [
        p["label"] for p in expected[str(images[4])]
    ]


def bad_requests(image):
    """(what, method, path, body, headers, status, words of the error) of requests the server must refuse."""
    big = Image.new("RGB", (400, 300))  # over the server's pixel limit (ZOO_MAX_PIXELS=100000 below)
    buffer = io.BytesIO()
    big.save(buffer, "PNG")
    return [
        ("malformed JSON", "/v1/models/run:predict", b"{not json", None, 400, "not JSON"),
        ("no instances", "/v1/models/run:predict", {"examples": []}, None, 400, '"instances"'),
        ("empty instances", "/v1/models/run:predict", {"instances": []}, None, 400, "no input"),
        ("bad base64", "/v1/models/run:predict", {"instances": [{"b64": "@@@"}]}, None, 400, "base64"),
        ("not an image", "/v1/models/run:predict", {"instances": [{"b64": "aGVsbG8="}]}, None, 400, "cannot be used"),
        ("a number", "/v1/models/run:predict", {"instances": [3]}, None, 400, '{"b64"'),
        ("a text", "/v1/models/run:predict", {"instances": ["a text"]}, None, 400, '{"b64"'),
        ("too many pixels", "/v1/models/run:predict",
         {"instances": [{"b64": base64.b64encode(buffer.getvalue()).decode()}]}, None, 400, "pixels"),
        ("instances and inputs", "/v1/models/run:predict", {"instances": [b64(image)], "inputs": [b64(image)]},
         None, 400, "not both"),
        ("nested too deeply", "/v1/models/run:predict", b'{"instances": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
         None, 400, "nested too deeply"),
        # a TF Serving client asking for embeddings must not get the probabilities as if they were
        ("the features signature", "/v1/models/run:predict", {"signature_name": "features",
         "instances": [b64(image)]}, None, 400, "no signature 'features' here"),
        ("an input by another name", "/v1/models/run:predict", {"inputs": {"pixels": [b64(image)]}}, None, 400,
         "{'images': [...]}"),
        ("unknown model", "/v1/models/other:predict", {"instances": [b64(image)]}, None, 404, "no model named"),
        ("unknown verb", "/v1/models/run:classify", {"instances": [b64(image)]}, None, 404, "unknown method"),
        ("upload of a text file", "/predict", *multipart("file", "notes.txt", b"hello"), 400, "cannot be used"),
        ("empty body", "/predict", b"", None, 400, 'multipart field "file"'),
        ("decompression bomb", "/v1/models/run:predict",
         {"instances": [{"b64": base64.b64encode(bomb_png()).decode()}]}, None, 400, "above the zoo's limit"),
        # sent whole before the answer is read (as urllib sends it): the 413 must still reach the client
        ("over the size limit", "/v1/models/run:predict", b"x" * (3 * 2**20), None, 413, "size limit"),
    ]  # fmt: skip


def test_bad_requests_are_4xx_with_their_cause_and_the_server_stays_up(trained, tmp_path):
    run, images, _ = trained
    served = Server(run.path, "--max-request-mb", "1", env={"ZOO_MAX_PIXELS": "100000"})
    try:
        for what, path, body, headers, status, words in bad_requests(images[0]):
            answered, answer = served.post(path, body, headers)
            assert answered == status and isinstance(answer, dict) and words in answer["error"], (what, answer)
            assert served.get("/healthz") == (200, {"status": "ok"}), what
        for path in ("/healthz", "/readyz", "/"):  # as health checkers probe: HEAD answers as GET, without a body
            assert served.request("HEAD", path) == (200, ""), path
        # an upload with no declared length (chunked), whose size the limit could not know in advance
        body, headers = multipart("file", "big.png", images[0].read_bytes())
        connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=60)
        connection.request("POST", "/predict", body=iter([body]), headers=headers, encode_chunked=True)
        answer = connection.getresponse()
        assert answer.status == 411 and "Content-Length" in json.loads(answer.read())["error"]
        connection.close()
        # a client that sends the headers, pauses, then the whole oversized body before it reads: the 413 reaches it
        connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=60)
        connection.putrequest("POST", "/v1/models/run:predict")
        connection.putheader("Content-Length", str(3 * 2**20))
        connection.putheader("Connection", "close")  # as urllib sends it: the server may close once it has answered
        connection.endheaders()
        time.sleep(1)
        connection.send(b"x" * (3 * 2**20))
        answer = connection.getresponse()
        assert answer.status == 413 and "size limit" in json.loads(answer.read())["error"]
        connection.close()
        # a chunked body over the limit is counted as it comes, and refused once past it
        connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=60)
        chunks = iter([b'{"instances": ["'] + [b"x" * 2**16] * 48 + [b'"]}'])
        connection.request("POST", "/v1/models/run:predict", body=chunks, encode_chunked=True)
        answer = connection.getresponse()
        assert answer.status == 413 and "size limit" in json.loads(answer.read())["error"]
        connection.close()
        status, answer = served.post("/v1/models/run:predict", {"instances": [b64(images[0])]})
        assert status == 200 and len(answer["predictions"]) == 1  # and it still answers good ones
    finally:
        code, _, err = served.stop()
    assert code == 0 and err.splitlines() == [serving_line(served.url)], err  # no traceback, no Pillow warning


def test_a_thousand_mixed_requests_from_sixteen_clients_lose_nothing(trained, server):
    run, images, expected = trained
    limits = ("too many pixels", "over the size limit")  # they need a server started with those limits (above)
    bad = [request for request in bad_requests(images[0]) if request[0] not in limits]
    rng = random.Random(0)
    plan = [("good", rng.choice(images)) if rng.random() < 0.7 else ("bad", rng.choice(bad)) for _ in range(1000)]

    def send(item):
        kind, what = item
        if kind == "good":
            return server.post("/v1/models/run:predict", {"instances": [b64(what)]})
        _, path, body, headers, _, _ = what
        return server.post(path, body, headers)

    _, before = server.get("/readyz")
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(send, plan))
    assert len(answers) == 1000
    for (kind, what), (status, answer) in zip(plan, answers, strict=True):
        if kind == "good":
            assert status == 200, answer
            assert answer["predictions"][0] == pytest.approx(scores_of(run, expected[str(what)]), abs=1e-5)
        else:
            assert status == what[4] and what[5] in answer["error"], (what[0], answer)
    _, after = server.get("/readyz")
    good = sum(kind == "good" for kind, _ in plan)
    assert after["inputs"] - before["inputs"] == good  # every good input run once
    assert after["batches"] - before["batches"] < good  # concurrent requests shared batches


def test_sigterm_answers_the_requests_in_flight_and_exits_0(trained):
    run, images, expected = trained
    served = Server(run.path, "--max-wait-ms", "800")  # requests wait in the batcher: in flight at the signal
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        pending = [pool.submit(served.post, "/v1/models/run:predict", {"instances": [b64(p)]}) for p in images[:6]]
        time.sleep(0.3)
        served.process.send_signal(signal.SIGTERM)
        answers = [future.result(timeout=60) for future in pending]
    _, err = served.process.communicate(timeout=60)
    assert [status for status, _ in answers] == [200] * 6
    for (_, answer), path in zip(answers, images[:6], strict=True):
        assert answer["predictions"][0] == pytest.approx(scores_of(run, expected[str(path)]), abs=1e-5)
    assert served.process.returncode == 0 and "Traceback" not in err, err


def test_a_text_model_is_served_its_texts_answered_as_zoo_predict_answers(tmp_path, tiny_text):
    data = tmp_path / "texts.csv"
    with data.open("w", newline="") as f:
        csv.writer(f).writerows([("text", "label"), *((t, label) for label in TEXTS for t in TEXTS[label])])
    run = zoo.train(tiny_text, data, out=tmp_path / "run", epochs=2, weights=None, val_fraction=0.25, verbose=0)
    asked = ["rain again tonight", "a record goal"]
    expected = zoo.predict(run, asked, top_k=2)
    plugin = os.pathsep.join(p for p in sys.path if "tiny-text" in p)  # where the tiny_text fixture installed it
    served = Server(run.path, env={"PYTHONPATH": plugin})
    try:
        status, answer = served.post("/v1/models/run:predict", {"instances": asked})
        assert status == 200
        for row, result in zip(answer["predictions"], expected, strict=True):
            assert row == pytest.approx(scores_of(run, result["predictions"]), abs=1e-5)
        status, answer = served.post("/predict", {"text": asked[0]}, {"Content-Type": "application/json"})
        assert status == 200 and answer["predictions"][0]["label"] == expected[0]["predictions"][0]["label"]
        status, answer = served.post("/v1/models/run:predict", {"instances": [{"b64": "aGVsbG8="}]})
        assert status == 400 and "a text model takes strings" in answer["error"]
        assert served.get("/v1/models/run/metadata")[1]["zoo"]["sequence_length"] == run.input_shape[0]
        if CHROMIUM:  # the page takes a typed text
            from playwright.sync_api import sync_playwright

            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=QUIET_CHROMIUM)
                page = browser.new_page()
                page.goto(served.url + "/")
                page.fill("#text", asked[0])
                page.click("#send")
                page.wait_for_selector("#results .row")
                shown = page.eval_on_selector_all("#results .label", "all => all.map(e => e.textContent)")
                browser.close()
            assert shown == [p["label"] for p in expected[0]["predictions"]]
    finally:
        assert served.stop()[0] == 0


@pytest.mark.skipif(not CHROMIUM, reason=NO_CHROMIUM)
def test_the_web_page_in_a_browser_shows_the_label_of_an_uploaded_image(trained, server):
    from playwright.sync_api import sync_playwright

    _, images, expected = trained
    image = images[5]
    errors, requests = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=QUIET_CHROMIUM)
        page = browser.new_page()
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("request", lambda request: requests.append(request.url))
        page.goto(server.url + "/")
        assert page.inner_text("#name") == "run"
        page.set_input_files("#file", str(image))
        page.wait_for_selector("#results .row")
        labels = page.eval_on_selector_all("#results .label", "all => all.map(e => e.textContent)")
        browser.close()
    assert errors == []
    assert labels == [p["label"] for p in expected[str(image)]]
    assert all(url.startswith((server.url, "blob:", "data:")) for url in requests), requests  # nothing elsewhere


def test_a_savedmodel_export_is_served_as_its_run_is(trained, tmp_path):
    run, images, expected = trained
    exported = zoo.export(run, "savedmodel", out=tmp_path / "export")
    assert zoo.serving.check_options(exported.path) == run.path.resolve().name  # its run's name, not "export"
    served = Server(exported.path, "--name", "scenes")
    try:
        assert served.get("/v1/models/scenes/metadata")[1]["zoo"]["class_names"] == list(run.class_names)
        status, answer = served.post("/v1/models/scenes:predict", {"instances": [b64(p) for p in images[:4]]})
        assert status == 200
        for row, path in zip(answer["predictions"], images[:4], strict=True):  # at the training size: no rounding
            assert row == pytest.approx(scores_of(run, expected[str(path)]), abs=1e-4)
    finally:
        assert served.stop()[0] == 0
    # an export changed after it was written: one line each, not a traceback, nor predictions under other names
    cases = {
        "relabelled": ("metadata.json", lambda meta: {**meta, "labels": meta["labels"][::-1]},
                       "metadata.json names the classes "),
        "no input": ("metadata.json", lambda meta: {k: v for k, v in meta.items() if k != "input"},
                     "its metadata.json cannot be read: 'input' is missing"),
        "cut short": ("saved_model.pb", None, "Wire format was corrupt"),
    }  # fmt: skip
    for case, (name, change, said) in cases.items():
        copy = tmp_path / case
        shutil.copytree(exported.path, copy)
        if change is None:
            (copy / name).write_bytes((copy / name).read_bytes()[:1000])
        else:
            (copy / name).write_text(json.dumps(change(json.loads((copy / name).read_text()))))
        with pytest.raises(zoo.ConfigError, match=re.escape(f"{copy} is a damaged export (")) as raised:
            zoo.serving.make_app(copy)
        assert said in str(raised.value) and str(raised.value).endswith("export the run again (zoo export RUN "
                                                                       "--format savedmodel)"), case  # fmt: skip
    (tmp_path / "cut short" / "metadata.json").unlink()  # a SavedModel the zoo cannot describe
    assert main(["serve", str(tmp_path / "cut short")]) == 2


def test_the_address_is_taken_before_the_model_loads_so_a_second_server_is_refused_at_once():
    """Bound with SO_REUSEADDR but not listening, the port was bound by a second `zoo serve` too, which then served
    while the first crashed with "address already in use" once its model was warm."""
    first = zoo.serving._bound("127.0.0.1", 0)
    try:
        port = first.getsockname()[1]
        with pytest.raises(zoo.ConfigError, match=f"cannot listen on 127.0.0.1:{port}: address already in use; "
                           "choose another --port"):  # fmt: skip
            zoo.serving._bound("127.0.0.1", port)
    finally:
        first.close()


def test_serve_refuses_what_is_not_a_finished_run_in_one_line(tmp_path, capsys):
    assert main(["serve", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("zoo: error: ") and err.count("\n") == 1


def test_a_run_whose_model_is_damaged_is_one_line_not_a_failed_start(trained, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(trained[0].path, damaged)
    (damaged / "model.keras").write_bytes((trained[0].path / "model.keras").read_bytes()[:1000])  # cut short
    command = [sys.executable, "-m", "zoo", "serve", str(damaged), "--port", str(free_port())]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith("zoo: error: ") and done.stderr.count("\n") == 1, done
    assert "model.keras is damaged" in done.stderr and "plugin" not in done.stderr


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (["--name", "a/b"], "such as 'a-b'"),  # no URL would reach it
        (["--name", "<b>my model"], "cannot be a URL path segment"),
        (["--max-batch", "0"], "--max-batch must be at least 1, got 0"),  # the flag, not the Python argument
        (["--max-wait-ms", "-1"], "--max-wait-ms must be 0 or more milliseconds, got -1.0"),
        (["--host", "999.1.1.1"], "cannot listen on 999.1.1.1:"),
        (["--port", "{busy}"], "address already in use; choose another --port"),
    ],
)
def test_serve_refuses_what_it_cannot_serve_in_one_line_before_it_says_it_serves(trained, options, words):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        options = [option.format(busy=busy.getsockname()[1]) for option in options]
        command = [sys.executable, "-m", "zoo", "serve", str(trained[0].path), "--port", str(free_port()), *options]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith("zoo: error: ") and done.stderr.count("\n") == 1, done
    assert words in done.stderr and done.stdout == ""


FUSSY_PLUGIN = """
import os

import keras

import zoo


@keras.saving.register_keras_serializable(package="zoo_fussy")
class Fussy(keras.layers.Layer):
    def call(self, x):  # trains and loads (no batch size yet); a batch of images fails where FUSSY is set: a bug
        if os.environ.get("FUSSY") and x.shape[0] is not None:
            raise RuntimeError("the fussy layer failed")
        return x


def build(spec, *, weights, input_shape):
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, Fussy()(keras.layers.Conv2D(4, 3, strides=4)(inputs)))


@zoo.hookimpl
def register_backbones():
    return [zoo.BackboneSpec(name="fussy_net", family="fussy", input_shape=(32, 32, 3), feature_dim=4,
                             feature_shape=(8, 8, 4), preprocessing=zoo.Preprocessing.tf(), factory=build)]
"""


def test_a_warm_up_that_fails_is_the_error_itself_not_a_plugin_calling_sys_exit(install_plugin, tmp_path):
    install_plugin("zoo-fussy", FUSSY_PLUGIN)
    scenes = write_scenes(tmp_path / "scenes", per_class=4, size=32, seed=0)
    run = zoo.train("fussy_net", scenes, out=tmp_path / "run", epochs=1, weights=None, cache=False, verbose=0)
    site = str(tmp_path / "site")  # where install_plugin put it: found by the new process as an installed plugin
    env = {**os.environ, "FUSSY": "1", "PYTHONPATH": os.pathsep.join([site, os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "zoo", "serve", str(run.path), "--port", str(free_port())]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 1 and "zoo: internal error" in done.stderr, done  # a bug: its traceback, once
    assert done.stderr.count("Traceback") == 1 and 'raise RuntimeError("the fussy layer failed")' in done.stderr, done
    assert "sys.exit" not in done.stderr and "Application startup failed" not in done.stderr
    assert "serving" not in done.stdout


@pytest.mark.slow  # a training and a SavedModel export
def test_a_regression_model_says_it_answers_values_and_how_many(tmp_path):
    """TF Serving's metadata names the output as the exports do (``values``), with one column per target."""
    import numpy as np

    x = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3), dtype="uint8")
    y = np.stack([x.mean((1, 2, 3)), x[..., 0].mean((1, 2))], axis=1) / 255
    run = zoo.train(TINY_IMAGE, (x, y), task="regression", weights=None, epochs=1, out=tmp_path / "run", verbose=0)
    exported = zoo.export(run, "savedmodel", out=tmp_path / "export")
    for source in (run, exported.path):
        meta = zoo.serving.Served.of(source, "r").metadata()
        ((name, output),) = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]["outputs"].items()
        assert name == "values" and [d["size"] for d in output["tensor_shape"]["dim"]] == ["-1", "2"], source
