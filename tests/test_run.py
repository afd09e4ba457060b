"""zoo.Run owns the run directory; a loaded model trains again; failed starts leave nothing behind."""

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

import zoo
import zoo.testing
from zoo.cache import FeatureCache
from zoo.cli import main
from zoo.run import Run

FAST = dict(epochs=2, batch_size=8, verbose=0)


@pytest.fixture(autouse=True)
def tiny():
    zoo.testing.register_plugin(zoo.testing, keep_installed=True)  # the autouse registry fixture resets it


def _data(n=24, labels=("cat", "dog", "fox"), seed=0):
    rng = np.random.default_rng(seed)
    y = np.array([labels[i % len(labels)] for i in range(n)])
    x = rng.integers(0, 256, (n, 32, 32, 3)).astype("uint8")
    x[y == labels[0], :, :, 0] = 250  # something to learn
    return x, y


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """A finished, fine-tuned run of tiny_image, trained once for the module: tests read it or copy it."""
    out = tmp_path_factory.mktemp("first") / "first"
    return zoo.train("tiny_image", _data(), weights=None, out=out, fine_tune=1, **FAST)


@pytest.mark.slow
def test_a_loaded_model_continues_training_from_its_weights(first_run, tmp_path):
    model = zoo.load_model(first_run.path)
    start = [w.copy() for w in model.get_weights()]
    again = zoo.train(model, _data(seed=1), out=tmp_path / "again", fine_tune=2, **FAST)
    assert again.complete and again.model_config.backbone == "tiny_image"
    saved = zoo.load_model(again.path)
    assert saved.zoo_config.unfrozen == ("block3", "block2")  # deeper than the first run's one block
    assert Run(again.path).model_config == saved.zoo_config  # config.json says what model.keras holds
    assert saved.zoo_config.class_names == ("cat", "dog", "fox")
    assert any(not np.array_equal(a, b) for a, b in zip(start, saved.get_weights(), strict=True))
    assert [row["phase"] for row in again.history] == [1, 1, 2, 2]


@pytest.mark.slow
def test_more_epochs_start_where_the_run_ended(first_run, tmp_path):
    model = zoo.load_model(first_run.path)
    x, y = _data()
    before = model.predict(x, verbose=0)
    np.testing.assert_array_equal(before, first_run.model.predict(x, verbose=0))  # the trained weights, not new ones
    again = zoo.train(model, (x, y), out=tmp_path / "more", epochs=1, learning_rate=1e-9, batch_size=8, verbose=0)
    np.testing.assert_allclose(again.model.predict(x, verbose=0), before, atol=1e-4)


@pytest.mark.slow
def test_new_data_keeps_the_label_map(first_run, tmp_path):
    x, y = _data(labels=("fox", "cat", "dog"))  # the same labels, met in another order
    again = zoo.train(zoo.load_model(first_run.path), (x, y), out=tmp_path / "again", **FAST)
    assert again.class_names == ("cat", "dog", "fox")
    x, y = _data(labels=("cat", "dog", "emu"))
    with pytest.raises(zoo.DataError, match="emu"):
        zoo.train(zoo.load_model(first_run.path), (x, y), out=tmp_path / "unknown", **FAST)
    assert not (tmp_path / "unknown").exists()


def saved_training_state(path):
    """What of a training state a ``.keras`` file holds: its weights file's optimizer entries, its compile config."""
    import io

    import h5py

    with zipfile.ZipFile(path) as archive:
        compile_config = json.loads(archive.read("config.json")).get("compile_config")
        with h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as weights:
            names = []
            weights.visit(names.append)
    return [name for name in names if "optimizer" in name], compile_config


class Killed(Exception):
    """Stands for the process dying right after a phase-2 checkpoint."""


@pytest.mark.slow
def test_resume_restores_the_optimizer_which_model_keras_leaves_out(tmp_path, monkeypatch):
    import zoo.trainer

    real_save_state = Run.save_state

    def die_in_phase_two(self, state):
        real_save_state(self, state)
        if state.phase == 2 and state.epoch == 1:
            raise Killed

    monkeypatch.setattr(Run, "save_state", die_in_phase_two)
    out = tmp_path / "run"
    with pytest.raises(Killed):
        zoo.train("tiny_image", _data(), weights=None, out=out, fine_tune=1, fine_tune_epochs=3, cache=False, **FAST)
    monkeypatch.setattr(Run, "save_state", real_save_state)
    checkpoint = [out / "checkpoints" / name for name in ("phase2.weights.h5", "phase2-optimizer.npz")]
    with np.load(checkpoint[1]) as saved:
        optimizer_state = [saved[f"arr_{i}"] for i in range(len(saved.files))]

    restored = []
    real_restore = zoo.trainer.restore_optimizer

    def spy(model, values):
        real_restore(model, values)
        restored.append([np.asarray(v) for v in model.optimizer.variables])

    monkeypatch.setattr(zoo.trainer, "restore_optimizer", spy)
    checkpoint_bytes = sum(path.stat().st_size for path in checkpoint)
    run = zoo.train("tiny_image", _data(), weights=None, out=out, resume=True, fine_tune=1, fine_tune_epochs=3,
                    cache=False, **FAST)  # fmt: skip
    assert run.complete and [row["epoch"] for row in run.history if row["phase"] == 2] == [1, 2, 3]
    assert len(restored) == 1 and int(restored[0][0]) > 0  # Adam's step count and moments, as checkpointed
    for got, expected in zip(restored[0], optimizer_state, strict=True):
        np.testing.assert_array_equal(got, expected)
    assert saved_training_state(run.path / "model.keras") == ([], {})  # deployed without them
    assert (run.path / "model.keras").stat().st_size < checkpoint_bytes


@pytest.mark.slow
def test_a_fine_tuned_model_keras_holds_no_optimizer_and_the_trained_model_keeps_its_own(first_run, tmp_path):
    model = first_run.model  # the object that trained: still compiled, its Adam state intact after saving
    assert model.compiled and int(model.optimizer.iterations) > 0
    model.save(tmp_path / "with-adam.keras")  # what model.keras was before: Keras saves the optimizer
    assert saved_training_state(tmp_path / "with-adam.keras")[0]
    assert saved_training_state(first_run.path / "model.keras") == ([], {})
    assert (first_run.path / "model.keras").stat().st_size < (tmp_path / "with-adam.keras").stat().st_size
    assert first_run.load_requirements == ["keras"] == Run(first_run.path).load_requirements
    assert json.loads((first_run.path / "config.json").read_text())["load_requirements"] == ["keras"]


def test_options_of_a_built_model_are_refused(first_run, tmp_path):
    with pytest.raises(zoo.ConfigError, match="head applies when train"):
        zoo.train(zoo.load_model(first_run.path), _data(), head="max", out=tmp_path / "x", **FAST)
    assert not (tmp_path / "x").exists()


def test_the_run_object_reads_every_file(first_run):
    run = Run(first_run.path)
    assert run.complete and run.task == "classification"
    assert run.class_names == ("cat", "dog", "fox") and run.input_shape == (32, 32, 3)
    assert run.metrics == json.loads((run.path / "metrics.json").read_text())
    assert run.train_config.fine_tune == 1 and run.data_sources == {"train": "<arrays>", "val": None}
    assert run.skipped == [] and run.data["train examples"] + run.data["validation examples"] == 24
    assert run.spec["name"] == "tiny_image"
    assert not (run.path / "checkpoints").exists()
    assert repr(run).startswith(f"Run({run.path}, accuracy")
    with pytest.raises(zoo.RunError, match="not a run directory"):
        Run(run.path.parent)
    with pytest.raises(zoo.RunError, match="does not exist"):
        Run(run.path / "checkpoints")  # removed once the run finished


def test_run_files_get_the_users_normal_permissions(tmp_path):
    previous = os.umask(0o022)
    try:
        run = zoo.train("tiny_image", _data(), weights=None, out=tmp_path / "run", **FAST)
    finally:
        os.umask(previous)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in run.path.iterdir() if p.is_file()}
    assert {"model.keras", "config.json", "metrics.json", "README.md", "learning_curves.png"} <= set(modes)
    assert set(modes.values()) == {0o644}, modes


def test_skipped_inputs_are_listed(tmp_path):
    from PIL import Image

    for label in ("a", "b"):
        (tmp_path / "data" / label).mkdir(parents=True)
        for i in range(6):
            colour = (i * 40, 0, 0 if label == "a" else 90)  # no image under both labels
            Image.new("RGB", (32, 32), colour).save(tmp_path / "data" / label / f"{i}.png")
    (tmp_path / "data" / "a" / "broken.png").write_bytes(b"\x89PNG not an image")
    with pytest.warns(zoo.DataWarning):
        run = zoo.train("tiny_image", tmp_path / "data", weights=None, out=tmp_path / "run", **FAST)
    assert [item["path"].endswith("broken.png") for item in run.skipped] == [True]
    assert run.skipped[0]["reason"]


@pytest.mark.parametrize(
    "bad",
    [
        dict(epochs=0),
        dict(fine_tune=0),
        dict(learning_rate=-1.0),
        dict(weights="no/such/file.h5"),
        dict(input_shape=8),
        dict(task="regression", class_weight="balanced"),
        dict(epoch=3),
    ],
    ids=["epochs", "fine_tune", "lr", "weights", "input", "class_weight", "typo"],
)
def test_a_run_that_fails_before_training_leaves_no_directory(bad, tmp_path):
    with pytest.raises(zoo.ZooError):
        zoo.train("tiny_image", _data(), **{"weights": None, "verbose": 0, **bad}, out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_fine_tuning_more_blocks_than_exist_leaves_no_directory(tmp_path):
    with pytest.raises(zoo.ConfigError, match="fine_tune must be between 1 and 3"):
        zoo.train("tiny_image", _data(), weights=None, fine_tune=9, out=tmp_path / "run", **FAST)
    assert not (tmp_path / "run").exists()


def test_a_text_backbone_refuses_images_before_building(tmp_path):
    with pytest.raises(zoo.DataError, match="text backbone but .* holds images"):
        zoo.train("bert_tiny_en_uncased", _data(), weights=None, out=tmp_path / "run", **FAST)
    assert not (tmp_path / "run").exists()


def _start_like(run, path, **options):
    """A new run directory at ``path`` with ``run``'s records, held by this process (release it)."""
    return Run.create(path, train=run.train_config, model=run.model_config, spec=run.spec, data=run.data_sources,
                      data_id="data", **options)  # fmt: skip


def test_runs_started_in_the_same_second_get_a_directory_each(first_run, tmp_path):
    base = tmp_path / "runs" / "tiny_image-20261206-120000"  # zoo.run.default_path's form: one name a second
    runs = [_start_like(first_run, base, unique=True) for _ in range(3)]
    assert [run.path.name for run in runs] == [base.name, f"{base.name}-2", f"{base.name}-3"]
    with pytest.raises(zoo.BusyError, match=f"is being trained by process {os.getpid()}"):
        Run(runs[0].path).lock.hold()  # each is held by its training
    for run in runs:
        run.lock.release()
    Run(runs[0].path).lock.hold()


def test_a_read_only_run_is_refused_before_training(first_run, small_disk, capsys):
    run = _start_like(first_run, small_disk / "run")  # unfinished: phase 1, epoch 0
    run.lock.release()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        with pytest.raises(zoo.RunError, match="is on a read-only file system: copy the run somewhere writable"):
            Run(run.path).lock.hold()
        assert main(["train", "--resume", str(run.path)]) == 2  # at once, before TensorFlow and any epoch
        assert "read-only file system" in capsys.readouterr().err
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)


def test_a_read_only_feature_cache_is_read_but_not_written(small_disk):
    FeatureCache(small_disk).get_or_compute("kept", (2, 3), lambda out: out.fill(1))
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        cache = FeatureCache(small_disk)
        assert cache.get_or_compute("kept", (2, 3), lambda out: out.fill(2)).sum() == 6  # a shared read-only cache
        with pytest.raises(zoo.ConfigError, match="cannot be written .Read-only file system.: set ZOO_CACHE_DIR"):
            cache.get_or_compute("new", (2, 3), lambda out: out.fill(2))
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)


TRAIN_FROM_MODEL = """
import sys
import zoo, zoo.testing
zoo.testing.register_plugin(zoo.testing, keep_installed=True)
model = zoo.load_model(sys.argv[1])
zoo.train(model, sys.argv[2], out=sys.argv[3], epochs=40, patience=100, cache=False, batch_size=4, verbose=0)
"""


@pytest.mark.slow
def test_a_killed_run_that_started_from_a_loaded_model_resumes_from_it(first_run, tmp_path, capsys):
    from PIL import Image

    x, y = _data(n=120)
    for i, (pixels, label) in enumerate(zip(x, y, strict=True)):
        (tmp_path / "data" / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(tmp_path / "data" / label / f"{i}.png")
    out = tmp_path / "again"
    env = {**os.environ, "ZOO_CACHE_DIR": str(tmp_path / "cache")}
    args = [sys.executable, "-c", TRAIN_FROM_MODEL, str(first_run.path), str(tmp_path / "data"), str(out)]
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if (out / "state.json").exists() and json.loads((out / "state.json").read_text()).get("epoch", 0) >= 2:
            break
        time.sleep(0.1)
    assert process.poll() is None, process.stderr.read().decode()[-2000:]
    # while it trains, no other process may train the directory: not the same command, not a resume
    training = f"{out} is being trained by process {process.pid}: wait for it to finish"
    capsys.readouterr()
    with pytest.raises(zoo.BusyError, match=re.escape(training)):  # the same command: refused, not said resumed
        zoo.train(zoo.load_model(first_run.path), tmp_path / "data", out=out, epochs=40, patience=100, cache=False,
                  batch_size=4)  # fmt: skip
    assert "resuming" not in capsys.readouterr().err
    with pytest.raises(zoo.BusyError, match=re.escape(training)):
        zoo.resume(out, verbose=0)
    with pytest.raises(zoo.BusyError, match=re.escape(training)):
        zoo.train("tiny_image", tmp_path / "data", weights=None, out=out, verbose=0)  # another run into its --out
    assert main(["train", "--resume", str(out)]) == 2 and training in capsys.readouterr().err
    with pytest.raises(zoo.RunError, match="is not finished: another process is training it; wait for it to finish"):
        zoo.predict(out, tmp_path / "data")  # not "resume it first", which the lock refuses
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert (out / "checkpoints" / "start.keras").exists()  # what the run started from, kept for a resume
    done = json.loads((out / "state.json").read_text())["epoch"]
    assert done < 40 and not (out / "model.keras").exists()  # killed mid-training
    assert main(["train", "--resume", str(out)]) == 0  # the lock of a killed process is free
    assert "run directory" in capsys.readouterr().out
    resumed = zoo.Run(out)
    assert [row["epoch"] for row in resumed.history] == list(range(1, 41))  # nothing redone, nothing lost
    assert resumed.complete and resumed.class_names == ("cat", "dog", "fox")
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # the lock went with the training


def test_an_edited_labels_json_is_refused_not_used_to_rename_predictions(first_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(first_run.path, run)
    names = json.loads((run / "labels.json").read_text())
    (run / "labels.json").write_text(json.dumps(names[::-1]))  # every prediction would get another's name
    changed = "labels.json says .* but the run was trained with .*: the file was changed after training"
    with pytest.raises(zoo.RunError, match=changed):
        zoo.predict(run, _data(n=3)[0])
    assert main(["evaluate", str(run), "--data", str(run)]) == 2 and "the file was changed" in capsys.readouterr().err
    config = json.loads((run / "config.json").read_text())  # labels.json and config.json edited alike
    config["model"]["class_names"] = names[::-1]
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(zoo.RunError, match=changed):  # model.keras holds the names it was trained with
        zoo.predict(run, _data(n=3)[0])


def test_a_model_keras_copied_from_another_run_is_named_as_the_file_that_changed(first_run, tmp_path, capsys):
    """Another network, input size or class count in model.keras: the export or prediction raised Keras' shape
    error, or blamed labels.json (whose "put back" advice would have matched the labels to the wrong model)."""
    run = tmp_path / "run"
    shutil.copytree(first_run.path, run)
    for other, said in (
        ({"input_shape": 48, "num_classes": 3}, "tiny_image (48x48x3 inputs, classification, 3 "),
        ({"input_shape": 32, "num_classes": 2}, "tiny_image (32x32x3 inputs, classification, 2 "),
    ):
        zoo.run.save_model(zoo.build("tiny_image", weights=None, **other), run / "model.keras")
        replaced = (
            f"{run / 'model.keras'} is not this run's model: it is {said}outputs), where config.json says "
            "tiny_image (32x32x3 inputs, classification, 3 outputs); it was replaced after training"
        )
        with pytest.raises(zoo.RunError, match=re.escape(replaced)):
            zoo.predict(run, _data(n=3)[0])
        assert main(["export", str(run), "--out", str(tmp_path / "export")]) == 2
        assert replaced in capsys.readouterr().err and not (tmp_path / "export").exists()


@pytest.mark.slow  # 3 s or more (docs/contributing.md: the tiers)
def test_a_python_resume_goes_on_with_the_options_the_run_started_with(tmp_path, monkeypatch):
    real_save_state = Run.save_state

    def die_after_the_first_epoch(self, state):
        real_save_state(self, state)
        if state.epoch == 1:
            raise Killed

    monkeypatch.setattr(Run, "save_state", die_after_the_first_epoch)
    out, data = tmp_path / "run", _data()
    with pytest.raises(Killed):
        zoo.train("tiny_image", data, weights=None, out=out, epochs=3, patience=3, cache=False, batch_size=8, verbose=0)
    monkeypatch.setattr(Run, "save_state", real_save_state)
    recorded = (out / "config.json").read_text()
    with pytest.raises(zoo.ConfigError, match=r"these differ: epochs=9 \(it has 3\); drop them"):
        zoo.train("tiny_image", data, weights=None, out=out, resume=True, epochs=9, verbose=0)
    assert (out / "config.json").read_text() == recorded  # nothing changed
    run = zoo.train("tiny_image", data, out=out, resume=True, verbose=0)  # no options: the run's own
    assert run.complete and run.train_config.epochs == 3 and [r["epoch"] for r in run.history] == [1, 2, 3]
