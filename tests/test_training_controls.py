"""Label smoothing, AdamW with weight decay and learning-rate warm-up: options of TrainConfig, so the CLI, Python,
config.json, the card and resume get them at once, and each does to training what it says."""

import csv
import warnings

import keras
import numpy as np
import pytest
from PIL import Image

import zoo
from zoo.cli import main
from zoo.demo import write_scenes
from zoo.testing import TINY_IMAGE


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    return write_scenes(tmp_path_factory.mktemp("data") / "scenes", per_class=8, size=32, seed=0)


def _history(run_dir):
    with (run_dir / "history.csv").open() as f:
        return [(int(row["phase"]), float(row["learning_rate"])) for row in csv.DictReader(f)]


@pytest.mark.slow
def test_the_cli_options_reach_the_optimizer_the_schedule_the_record_the_card_and_a_resume(scenes, tmp_path):
    out = tmp_path / "run"
    options = ["--optimizer", "adamw", "--label-smoothing", "0.2", "--warmup-epochs", "2", "--schedule", "constant"]
    args = ["train", "--backbone", TINY_IMAGE, "--weights", "none", "--data", str(scenes), "--epochs", "4",
            "--batch-size", "8", "--lr", "0.01", "--fine-tune", "1", "--fine-tune-epochs", "3", *options]  # fmt: skip
    assert main([*args, "--out", str(out)]) == 0

    recorded = zoo.Run(out).train_config  # config.json, as resume reads it
    assert (recorded.optimizer, recorded.weight_decay, recorded.label_smoothing) == ("adamw", None, 0.2)
    assert recorded.warmup_epochs == 2 and recorded.effective_weight_decay == 0.004
    config = (out / "config.json").read_text()
    # each phase rises linearly from 0 over two epochs (recorded at each epoch's end), then holds its rate
    phase1, phase2 = ([rate for phase, rate in _history(out) if phase == p] for p in (1, 2))
    np.testing.assert_allclose(phase1, [0.005, 0.01, 0.01, 0.01], rtol=1e-5)
    np.testing.assert_allclose(phase2, [0.0005, 0.001, 0.001], rtol=1e-5)
    card = (out / "README.md").read_text()
    assert "| 0.01, linear warm-up over 2 epochs, then constant, AdamW, weight decay 0.004 |" in card
    assert "| label_smoothing | 0.2 of each target spread evenly over the classes |" in card

    # a resume goes on with what the run recorded: another value is refused in one line, the run untouched
    assert main(["train", "--resume", str(out), "--label-smoothing", "0.1"]) == 2
    assert (out / "config.json").read_text() == config


@pytest.mark.slow
def test_label_smoothing_caps_the_confidence_and_weight_decay_shrinks_the_head(scenes, tmp_path):
    common = {"weights": None, "epochs": 30, "batch_size": 8, "learning_rate": 0.05, "patience": None, "verbose": 0,
              "schedule": "constant", "cache_dir": tmp_path / "cache"}  # fmt: skip
    plain = zoo.train(TINY_IMAGE, scenes, out=tmp_path / "plain", **common)
    with warnings.catch_warnings():  # its loss cannot go below the smoothed targets' entropy: still not "chance"
        warnings.simplefilter("error", zoo.TrainingWarning)
        smoothed = zoo.train(TINY_IMAGE, scenes, out=tmp_path / "smoothed", label_smoothing=0.4, **common)
    decayed = zoo.train(TINY_IMAGE, scenes, out=tmp_path / "decayed", optimizer="adamw", weight_decay=0.5, **common)
    pixels = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in sorted(scenes.rglob("*.png"))])

    def confidence(run):
        return float(zoo.load_model(run.path).predict(pixels, verbose=0).max(axis=1).mean())

    # smoothing 0.4 over 4 classes: the best the model can do is 0.6 + 0.4 / 4 = 0.7 on its class
    assert confidence(plain) > 0.9
    assert 0.5 < confidence(smoothed) < 0.8

    def kernel_norm(run):
        model = zoo.load_model(run.path)
        return float(np.linalg.norm(model.get_layer(model.zoo_config.parts.head).layers[-1].get_weights()[0]))

    assert kernel_norm(decayed) < 0.7 * kernel_norm(plain)


def test_early_stopping_is_said_with_the_epoch_whose_weights_are_kept(scenes, tmp_path, caplog):
    """A run that stops early says so where its progress ends (only the model card said it)."""
    caplog.set_level("INFO", logger="zoo")
    run = zoo.train(TINY_IMAGE, scenes, weights=None, epochs=6, patience=1, learning_rate=30.0, out=tmp_path / "run",
                    cache_dir=tmp_path / "cache")  # fmt: skip
    losses = [row["val_loss"] for row in run.history]
    assert len(losses) < 6, "it did not stop early"
    best = int(np.argmin(losses)) + 1  # the first of equal losses, as early stopping keeps it
    said = (
        f"phase 1: stopped early after epoch {len(losses)} of 6: no better validation loss in 1 epoch; epoch {best}'s"
    )
    assert f"{said} weights are kept" in caplog.messages


def test_a_run_that_trains_every_epoch_says_when_an_earlier_epochs_weights_are_kept(scenes, tmp_path, caplog):
    """Without early stopping too (patience=None), the best epoch's weights are the model: said, not silent."""

    class Scramble(keras.callbacks.Callback):  # the last epoch starts from a wrecked head: its loss is the worst
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                out, rng = self.model.layers[-1], np.random.default_rng(0)  # confidently wrong at random
                out.set_weights([rng.normal(0, 100, w.shape).astype(w.dtype) for w in out.get_weights()])

    caplog.set_level("INFO", logger="zoo")
    run = zoo.train(TINY_IMAGE, scenes, weights=None, epochs=3, patience=None, out=tmp_path / "run",
                    cache_dir=tmp_path / "cache", callbacks=[Scramble()])  # fmt: skip
    losses = [row["val_loss"] for row in run.history]
    assert len(losses) == 3 and int(np.argmin(losses)) < 2, losses
    kept = int(np.argmin(losses)) + 1
    said = [m for m in caplog.messages if "weights are kept" in m]
    assert said == [f"phase 1: epoch {kept}'s weights are kept, whose validation loss {losses[kept - 1]:.4g} is the "
                    f"best (epoch 3: {losses[2]:.4g})"]  # fmt: skip
    assert run.metrics["loss"] == pytest.approx(losses[kept - 1], rel=1e-4)  # the model is that epoch's
