"""MLflow tracking against a real `mlflow server` on 127.0.0.1 (SQLite backend, artefacts served over HTTP): a run's
params, every epoch's metrics, final metrics, reports and model read back through MlflowClient; the model loaded with
mlflow.pyfunc in a new process; a resume going on in the same MLflow run; tune's trials as nested runs; and a server
that cannot be reached, which must not stop training.

`make test` builds the server's environment (.venv-mlflow, the full mlflow) and points ZOO_MLFLOW_SERVER at its
`mlflow` command; the zoo's own environment has only the client (the mlflow extra).
"""

import csv
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from servers import free_port

import zoo
from zoo.cli import main
from zoo.demo import write_scenes
from zoo.testing import TINY_IMAGE

SERVER = os.environ.get("ZOO_MLFLOW_SERVER") and os.path.abspath(os.environ["ZOO_MLFLOW_SERVER"])  # tests move cwd
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SERVER, reason="set ZOO_MLFLOW_SERVER to an `mlflow` command (`make test` does)"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real MLflow tracking server: SQLite for runs, artefacts uploaded to it over HTTP."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    command = [SERVER, "server", "--backend-store-uri", f"sqlite:///{root / 'runs.db'}", "--artifacts-destination",
               str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]  # fmt: skip
    log = open(root / "server.log", "w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(uri + "/health", timeout=2):
                break
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, (root / "server.log").read_text()[-3000:]
            time.sleep(0.3)
    yield uri
    process.terminate()
    process.wait(30)
    log.close()


@pytest.fixture(scope="module")
def client(server):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=server)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    return write_scenes(tmp_path_factory.mktemp("data") / "scenes", per_class=4, size=32, seed=0)


def mlflow_run_of(client, run_path):
    """The MLflow run the zoo made for the run directory at ``run_path``."""
    (found,) = client.search_runs(["0"], filter_string=f"tags.`zoo.path` = '{run_path.resolve()}'")
    return found


def test_a_run_is_logged_whole_and_its_model_predicts_in_a_new_process(server, client, scenes, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--backbone", TINY_IMAGE, "--weights", "none", "--data", str(scenes), "--epochs", "2",
            "--fine-tune", "1", "--out", str(out), "--mlflow", server]  # fmt: skip
    assert main(args) == 0
    captured = capsys.readouterr()
    tracked = mlflow_run_of(client, out)
    run_id = tracked.info.run_id
    assert f"MLflow run: {server}/#/experiments/0/runs/{run_id}" in captured.err
    assert "View run" not in captured.out + captured.err and "\x1b" not in captured.err  # MLflow's own output stays out
    assert tracked.info.status == "FINISHED" and tracked.info.run_name == "run"
    run = zoo.Run(out)

    # params: every option the run started with, and the backbone
    assert tracked.data.params == {"backbone": TINY_IMAGE, **{k: str(v) for k, v in run.train_config.to_dict().items()}}
    # every epoch of both phases, as history.csv holds it, one step each
    with open(out / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["phase"] for r in rows] == ["1", "1", "2", "2"]
    for name in ("loss", "val_loss", "accuracy", "val_accuracy", "learning_rate", "phase"):
        logged = sorted((m.step, m.value) for m in client.get_metric_history(run_id, name))
        assert logged == [(step, pytest.approx(float(row[name]), rel=1e-6)) for step, row in enumerate(rows)], name
    # the final metrics are metrics.json's
    for name in ("accuracy", "macro_f1", "loss"):
        assert tracked.data.metrics[f"final_{name}"] == pytest.approx(run.metrics[name], rel=1e-9)
    # the reports, and the model
    artefacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"config.json", "metrics.json", "history.csv", "README.md", "learning_curves.png", "labels.json",
            "skipped.json", "model"} <= artefacts  # fmt: skip
    assert {a.path for a in client.list_artifacts(run_id, "model")} >= {"model/MLmodel", "model/requirements.txt"}

    images = sorted(str(p) for p in scenes.rglob("*.png"))[:5]
    expected = zoo.predict(out, images, top_k=4)
    script = (
        "import json, sys, mlflow;"
        "mlflow.set_tracking_uri(sys.argv[1]);"
        "model = mlflow.pyfunc.load_model(sys.argv[2]);"
        "print(model.predict(sys.argv[3:]).to_json(orient='split'))"
    )
    shown = subprocess.run([sys.executable, "-c", script, server, f"runs:/{run_id}/model", *images],
                           capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})  # fmt: skip
    assert shown.returncode == 0, shown.stderr[-3000:]
    frame = json.loads(shown.stdout.strip().splitlines()[-1])
    assert frame["columns"] == ["label", *run.class_names]
    for row, result in zip(frame["data"], expected, strict=True):
        assert row[0] == result["predictions"][0]["label"]
        scores = {p["label"]: p["score"] for p in result["predictions"]}
        assert row[1:] == pytest.approx([scores[name] for name in run.class_names], abs=1e-6)


def test_a_resumed_run_goes_on_in_the_same_mlflow_run_with_no_epoch_lost_or_repeated(
    server, client, scenes, tmp_path, foreground_signals, capsys
):
    import keras

    class CtrlC(keras.callbacks.Callback):  # Ctrl-C during the second epoch's end: the zoo stops at a safe point
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                os.kill(os.getpid(), signal.SIGINT)

    out = tmp_path / "run"
    options = dict(weights=None, epochs=4, out=out, mlflow=server, verbose=0)
    with pytest.raises(zoo.Interrupted):
        zoo.train(TINY_IMAGE, scenes, callbacks=[CtrlC()], **options)
    stopped = mlflow_run_of(client, out)
    assert stopped.info.status == "KILLED"
    capsys.readouterr()
    run = zoo.train(TINY_IMAGE, scenes, resume=True, **options)
    assert "MLflow run" not in capsys.readouterr().err  # verbose=0: where it was logged is not said either
    resumed = mlflow_run_of(client, out)  # one MLflow run for the zoo run, not two
    assert resumed.info.run_id == stopped.info.run_id and resumed.info.status == "FINISHED"
    logged = sorted((m.step, m.value) for m in client.get_metric_history(resumed.info.run_id, "val_loss"))
    assert logged == [(step, pytest.approx(row["val_loss"], rel=1e-6)) for step, row in enumerate(run.history)]
    assert len(run.history) == 4


class Failing(http.server.BaseHTTPRequestHandler):
    """A tracking server that is up (its health check answers) and fails every call."""

    def do_GET(self):
        self._answer(200 if self.path == "/health" else 500)

    def do_POST(self):
        self._answer(500)

    def _answer(self, status):
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK" if status == 200 else b"no")

    def log_message(self, *args):
        pass


@pytest.fixture
def failing_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize("where", ["nothing listens", "every call fails"])
def test_a_server_that_cannot_be_used_is_one_warning_and_the_run_completes(scenes, tmp_path, where, request):
    uri = f"http://127.0.0.1:{free_port()}" if where == "nothing listens" else request.getfixturevalue("failing_server")
    out = tmp_path / "run"
    args = ["train", "--backbone", TINY_IMAGE, "--weights", "none", "--data", str(scenes), "--epochs", "1",
            "--out", str(out), "--mlflow", uri]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True)
    assert time.monotonic() - started < 90  # given up at once, not after minutes of MLflow's retries
    assert done.returncode == 0, done.stderr[-3000:]
    warned = [line for line in done.stderr.splitlines() if "TrackingWarning" in line]
    assert len(warned) == 1 and uri in warned[0] and "the run goes on" in warned[0], done.stderr
    assert "Traceback" not in done.stderr and zoo.Run(out).complete


def test_tune_logs_the_study_and_each_trial_as_a_nested_run(server, client, scenes):
    import mlflow

    found = zoo.tune(scenes, TINY_IMAGE, trials=3, epochs=2, weights=None, mlflow=server, study="nested", verbose=0)
    (study,) = client.search_runs(["0"], filter_string="tags.`zoo.study` = 'nested'")
    assert study.info.status == "FINISHED" and study.data.params["trials"] == "3"
    assert study.data.metrics["best_value"] == pytest.approx(found.best["value"])
    assert study.data.tags["zoo.command"] == found.command
    nested = client.search_runs(["0"], filter_string=f"tags.`{mlflow.utils.mlflow_tags.MLFLOW_PARENT_RUN_ID}` = "
                                f"'{study.info.run_id}'")  # fmt: skip
    by_name = {r.info.run_name: r for r in nested}
    assert sorted(by_name) == [f"trial {t['number']}" for t in found.trials]
    for trial in found.trials:
        logged = by_name[f"trial {trial['number']}"]
        assert logged.data.params == {k: str(v) for k, v in trial["params"].items()}
        assert logged.info.status == {"complete": "FINISHED", "pruned": "KILLED"}[trial["state"]]
        if trial["state"] == "complete":
            assert logged.data.metrics["best_val_loss"] == pytest.approx(trial["value"])
            scored = "val_crossentropy" if trial["params"].get("label_smoothing") else "val_loss"  # true labels'
            steps = client.get_metric_history(logged.info.run_id, scored)
            assert len(steps) == 2 and min(m.value for m in steps) == pytest.approx(trial["value"], rel=1e-6)
