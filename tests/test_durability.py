"""What survives a damaged final model and a power cut: the checkpoints stay until model.keras loads back,
a damaged model.keras is named as such, and every file the zoo writes is fsynced with its directory."""

import os

import numpy as np
import pytest

import zoo
import zoo.run.results
from zoo import files
from zoo.errors import RunError
from zoo.testing import TINY_IMAGE

FAST = dict(weights=None, epochs=2, verbose=0)


def _data():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (16, 32, 32, 3)).astype("uint8"), np.array(["a", "b"] * 8)


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_a_final_model_that_does_not_load_back_keeps_the_checkpoints_and_resume_rewrites_it(tmp_path, monkeypatch):
    real_save = zoo.run.results.save_model

    def save_then_damage(model, path):  # a disk that fails while model.keras is written
        real_save(model, path)
        _truncate(path)
        return path

    monkeypatch.setattr(zoo.run.results, "save_model", save_then_damage)
    out = tmp_path / "run"
    with pytest.raises(RunError, match="model.keras is damaged"):
        zoo.train(TINY_IMAGE, _data(), out=out, **FAST)
    run = zoo.Run(out)
    assert not run.complete and any((out / "checkpoints").iterdir())  # nothing lost

    monkeypatch.setattr(zoo.run.results, "save_model", real_save)
    again = zoo.train(TINY_IMAGE, _data(), out=out, resume=True, **FAST)
    assert again.complete and not (out / "checkpoints").exists()
    assert [row["epoch"] for row in again.history] == [1, 2]  # nothing trained twice
    assert zoo.load_model(out).output_shape == (None, 2)


def test_a_damaged_model_keras_is_named_as_damaged_not_missing(tmp_path):
    run = zoo.train(TINY_IMAGE, _data(), out=tmp_path / "run", **FAST)
    _truncate(run.path / "model.keras")
    for attempt in (lambda: zoo.load_model(run.path), lambda: zoo.resume(run.path, verbose=0)):
        with pytest.raises(RunError, match=r"model.keras is damaged \(not a complete .keras archive"):
            attempt()


def test_every_write_is_fsynced_with_its_directory(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real_fsync(fd)))
    target = files.write_json(tmp_path / "state.json", {"epoch": 3})
    assert synced[0].startswith(str(tmp_path / ".state.")) and synced[1] == str(tmp_path)  # the bytes, then the rename
    assert target.read_text() == '{\n  "epoch": 3\n}\n'


def test_a_checkpoint_of_another_model_is_said_not_a_traceback(tmp_path):
    run = zoo.train(TINY_IMAGE, _data(), out=tmp_path / "run", **FAST)
    head = run.model.get_layer(run.model.zoo_config.parts.head)
    run.checkpoints.save_epoch(head, 1)  # as a zoo whose heads had other layers would have left it
    with pytest.raises(RunError, match="does not fit the model .*start the run again"):
        run.checkpoints.load_epoch(run.model, 1)
