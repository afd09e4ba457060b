"""Tracking a run: the user's Keras callbacks in both phases, and TensorBoard logs (each phase's metrics and
learning rate, the options as hyperparameters) read back in a new process with TensorBoard's own reader."""

import csv
import importlib.abc
import json
import subprocess
import sys

import keras
import pytest

import zoo
from zoo.cli import main
from zoo.demo import write_scenes
from zoo.testing import TINY_IMAGE

# Reads every events file under each folder given with TensorBoard's EventAccumulator: {folder: {"scalars":
# {tag: [(step, value)]}, "hparams": {name: value}}}.
READ = """
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2
from tensorboard.util import tensor_util

found = {}
for folder in sys.argv[1:]:
    events = EventAccumulator(folder, size_guidance={"tensors": 0})
    events.Reload()
    scalars = {tag: [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in events.Tensors(tag)]
               for tag in events.Tags()["tensors"] if tag != "_hparams_/session_start_info"}
    hparams = {}
    try:
        tagged = events.PluginTagToContent("hparams")
    except KeyError:  # no hparams in this folder
        tagged = {}
    for content in tagged.values():
        info = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
        hparams.update({k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind")) for k, v in info.hparams.items()})
    found[folder] = {"scalars": scalars, "hparams": hparams}
print(json.dumps(found))
"""


class Recorder(keras.callbacks.Callback):
    """A user's callback: what it saw, epoch by epoch."""

    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append((epoch, self.model.name, sorted(logs)))


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    return write_scenes(tmp_path_factory.mktemp("data") / "scenes", per_class=4, size=32, seed=0)


def _losses(run_dir, phase):
    with (run_dir / "history.csv").open() as f:
        return [(float(r["loss"]), float(r["val_loss"]), float(r["learning_rate"])) for r in csv.DictReader(f)
                if r["phase"] == str(phase)]  # fmt: skip


@pytest.mark.slow
def test_callbacks_see_both_phases_and_tensorboard_logs_what_the_history_says(scenes, tmp_path):
    recorder = Recorder()
    options = {"weights": None, "epochs": 2, "fine_tune": 1, "fine_tune_epochs": 1, "batch_size": 8, "verbose": 0}
    run = zoo.train(TINY_IMAGE, scenes, out=tmp_path / "run", tensorboard=True, callbacks=[recorder], **options)
    # phase 1 fits the head on cached features, phase 2 the whole model: the callback sees both, every epoch
    assert [(epoch, name) for epoch, name, _ in recorder.epochs] == [(0, "head"), (1, "head"), (0, run.model.name)]
    assert all({"loss", "val_loss", "accuracy"} <= set(keys) for _, _, keys in recorder.epochs)

    # the same options on the command line, with a folder of logs shared by runs: <folder>/<run name>
    shared = tmp_path / "logs"
    args = [
        "train",
        "--backbone",
        TINY_IMAGE,
        "--weights",
        "none",
        "--data",
        str(scenes),
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--lr",
        "0.01",
        "--tensorboard",
        str(shared),
        "--out",
        str(tmp_path / "cli-run"),
        "-q",
    ]
    assert main(args) == 0
    assert zoo.Run(tmp_path / "cli-run").train_config.tensorboard == str(shared)

    logs = run.path / "tensorboard"
    folders = [logs, *(logs / p / s for p in ("phase1", "phase2") for s in ("train", "validation")), shared / "cli-run"]
    result = subprocess.run([sys.executable, "-c", READ, *map(str, folders)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    found = {
        k.replace(str(logs), "RUN").replace(str(shared), "SHARED"): v for k, v in json.loads(result.stdout).items()
    }

    hparams = found["RUN"]["hparams"]
    assert hparams["backbone"] == TINY_IMAGE and hparams["fine_tune"] == 1 and hparams["learning_rate"] == 0.001
    assert hparams["weights"] == "None" and hparams["tensorboard"] is True
    assert found["SHARED/cli-run"]["hparams"]["learning_rate"] == 0.01
    for phase in (1, 2):
        train, val = found[f"RUN/phase{phase}/train"]["scalars"], found[f"RUN/phase{phase}/validation"]["scalars"]
        history = _losses(run.path, phase)
        assert [step for step, _ in train["epoch_loss"]] == list(range(len(history)))
        assert [v for _, v in train["epoch_loss"]] == pytest.approx([loss for loss, _, _ in history], rel=1e-6)
        assert [v for _, v in val["epoch_loss"]] == pytest.approx([v for _, v, _ in history], rel=1e-6)
        assert [v for _, v in train["epoch_learning_rate"]] == pytest.approx([r for _, _, r in history], rel=1e-6)


class _Hidden(importlib.abc.MetaPathFinder):
    """An import hook that hides a package, as if it were not installed."""

    def __init__(self, package):
        self.package = package

    def find_spec(self, name, path=None, target=None):
        if name == self.package or name.startswith(self.package + "."):
            raise ModuleNotFoundError(f"No module named {name!r}")


@pytest.mark.parametrize(
    ("flag", "package", "message"),
    [
        ("--tensorboard", "tensorboard",
         "tensorboard logs need the tensorboard package: pip install tensorboard, or drop --tensorboard"),
        ("--mlflow", "mlflow",
         "MLflow tracking needs mlflow: pip install 'backbone-zoo[mlflow]' (or mlflow itself), or drop --mlflow"),
    ],
)  # fmt: skip
def test_tracking_without_its_package_is_one_line_before_any_work(
    scenes, tmp_path, monkeypatch, capsys, flag, package, message
):
    monkeypatch.setattr(sys, "meta_path", [_Hidden(package), *sys.meta_path])
    for name in [name for name in sys.modules if name == package or name.startswith(package + ".")]:
        monkeypatch.delitem(sys.modules, name)
    args = ["train", "--backbone", TINY_IMAGE, "--weights", "none", "--data", str(scenes), flag]
    assert main([*args, "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err == f"zoo: error: {message}\n"
    assert not (tmp_path / "run").exists()


class Failing(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        raise RuntimeError("the user's callback failed")


@pytest.mark.slow
def test_a_failing_callback_stops_the_run_which_the_same_command_then_resumes(scenes, tmp_path):
    options = {"weights": None, "epochs": 2, "batch_size": 8, "verbose": 0, "out": tmp_path / "run"}
    with pytest.raises(RuntimeError, match="the user's callback failed"):
        zoo.train(TINY_IMAGE, scenes, callbacks=[Failing()], **options)
    assert not zoo.Run(tmp_path / "run").complete  # kept: its first epoch is checkpointed
    run = zoo.train(TINY_IMAGE, scenes, **options)  # the same call, without the callback, goes on from there
    assert run.complete and len(run.history) == 2
