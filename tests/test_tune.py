"""`zoo tune`: an Optuna search on cached features (each backbone's features made once per reduction), its best
options as a `zoo train` command and as a run, one study shared by two processes through SQLite (and refused to a
process with other settings), and bad input in one line before any trial."""

import json
import os
import shlex
import subprocess
import sys

import keras
import numpy as np
import optuna
import pytest
from PIL import Image

import zoo
from zoo.cli import main
from zoo.demo import write_scenes
from zoo.testing import TINY_IMAGE
from zoo.tuning import _reduce, tune

pytestmark = pytest.mark.slow  # each test trains a few heads for every trial; the shared study starts two processes


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    return write_scenes(tmp_path_factory.mktemp("data") / "scenes", per_class=12, size=32, seed=0)


def test_a_search_over_two_backbones_extracts_each_once_and_its_command_trains_the_best(scenes, tmp_path):
    cache = tmp_path / "cache"
    found = tune(scenes, "tiny_image*", trials=8, epochs=4, weights=None, batch_size=8, cache_dir=cache, verbose=0)
    assert [t["number"] for t in found.trials] == list(range(8))
    assert {t["state"] for t in found.trials} <= {"complete", "pruned"}
    complete = [t for t in found.trials if t["state"] == "complete"]
    assert found.best["value"] == min(t["value"] for t in complete)
    # each backbone's feature maps, training and validation split: extracted once, whatever reductions the trials
    # used (they reduce the cached maps as the model's pooling layer would)
    assert {p["backbone"] for p in (t["params"] for t in found.trials)} == {"tiny_image", "tiny_image_caffe"}
    assert len({t["params"]["head"] for t in found.trials}) > 1
    assert len(list(cache.glob("*.npy"))) == 2 * 2

    words = shlex.split(found.command)
    assert words[:2] == ["zoo", "train"] and words[words.index("--backbone") + 1] == found.best["params"]["backbone"]
    out = tmp_path / "best"
    assert main([*words[1:], "--out", str(out), "-q"]) == 0
    trained = zoo.Run(out).train_config
    best = found.best["params"]
    assert (trained.learning_rate, trained.dropout, trained.head) == (best["learning_rate"], best["dropout"],
                                                                      best["head"])  # fmt: skip
    # the command trains as the trial did: its score (the true labels' cross-entropy, where the loss is smoothed)
    phase1 = [row.get("val_crossentropy", row["val_loss"]) for row in zoo.Run(out).history]
    assert min(phase1) == pytest.approx(found.best["value"], rel=1e-5)


def test_a_trial_with_label_smoothing_is_scored_by_the_true_labels_cross_entropy(scenes, tmp_path):
    """Smoothed targets' loss has a floor, their entropy (0.59 for 4 classes at 0.2): scored by it, every smoothed
    trial would trail every unsmoothed one however well its head classifies."""
    from zoo.cache import FeatureCache
    from zoo.data import load_dataset, split
    from zoo.tuning import _Features

    config = zoo.TrainConfig(weights=None, epochs=20, batch_size=8, learning_rate=0.01, label_smoothing=0.2)
    store = _Features(split(load_dataset(scenes), config.val_fraction, config.seed), config, FeatureCache(tmp_path), 0)
    score, accuracy = store.train_head(TINY_IMAGE, config, optuna.trial.FixedTrial({}))
    smoothed = np.array([0.85, 0.05, 0.05, 0.05])
    floor = float(-(smoothed * np.log(smoothed)).sum())
    assert accuracy >= 0.75 and score < floor, (score, accuracy, floor)


def test_a_reduction_of_the_cached_maps_is_the_models_own_pooling(scenes):
    pixels = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in sorted(scenes.rglob("*.png"))[:6]])
    for head in ("avg", "max", "flatten"):
        keras.utils.set_random_seed(0)  # the same random network as the maps'
        model = zoo.backbone(TINY_IMAGE, weights=None, pooling=head)
        keras.utils.set_random_seed(0)
        maps = zoo.extract(zoo.backbone(TINY_IMAGE, weights=None, pooling=None), pixels, verbose=0)
        np.testing.assert_allclose(_reduce(maps, head), zoo.extract(model, pixels, verbose=0), rtol=1e-5, atol=1e-6)


def test_train_best_makes_a_normal_run_with_the_best_options_and_fine_tuning(scenes, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["tune", "--backbone", "tiny_image", "--data", str(scenes), "--trials", "4", "--epochs", "3", "--weights",
            "none", "--batch-size", "8", "--train-best", "--out", str(out), "--fine-tune", "1", "--json"]  # fmt: skip
    assert main([*args, "-q"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["run"] == str(out) and len(found["trials"]) == 4
    run = zoo.Run(out)
    assert run.complete and run.train_config.fine_tune == 1 and run.train_config.epochs == 3
    best = found["best"]["params"]
    assert run.train_config.learning_rate == best["learning_rate"] and run.train_config.dropout == best["dropout"]
    words = shlex.split(found["command"])  # the command the best run trained with: its fine-tuning too
    assert words[words.index("--fine-tune") + 1] == "1" and words[words.index("--epochs") + 1] == "3"

    # --out checked as `zoo train` checks it, before any trial (not -q: a trial would say its loss on stderr)
    (tmp_path / "file").write_text("x")
    for taken, said in ((out, "already holds a finished run"), (tmp_path / "file", "exists and is not a directory")):
        assert main([*args[: args.index("--out") + 1], str(taken)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"zoo: error: {taken} ") and said in err and err.count("\n") == 1
    at = args.index("--train-best")  # fine-tuning is the best run's: without it, refused, not ignored
    assert main([*args[:at], *args[at + 3 :]]) == 2
    assert capsys.readouterr().err == ("zoo: error: --fine-tune is for the best run (the trials train the head "
                                       "alone): add --train-best, or drop --fine-tune\n")  # fmt: skip
    # a best run that fails (here: more blocks than the network has) keeps the search: said before it trains
    deeper = ["tune", "--backbone", "tiny_image", "--data", str(scenes), "--trials", "1", "--epochs", "1", "--weights",
              "none", "--train-best", "--out", str(tmp_path / "deeper"), "--fine-tune", "99"]  # fmt: skip
    assert main(deeper) == 2
    printed, err = capsys.readouterr()
    assert "best: trial 0, validation loss " in printed and "--fine-tune 99" in printed.split("train it: ")[1]
    assert err.splitlines()[-1].startswith("zoo: error: fine_tune must be between 1 and ")
    # the run's head starts and trains as the trial's did: its phase 1 scores what the search reported
    phase1 = [row.get("val_crossentropy", row["val_loss"]) for row in run.history if row["phase"] == 1]
    assert min(phase1) == pytest.approx(found["best"]["value"], rel=1e-5)


def test_two_processes_share_one_sqlite_study_and_no_trial_is_lost(scenes, tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    args = [sys.executable, "-m", "zoo", "-q", "tune", "--backbone", "tiny_image", "--data", str(scenes), "--trials",
            "3", "--epochs", "2", "--weights", "none", "--batch-size", "8", "--storage", storage, "--study", "shared",
            "--json"]  # fmt: skip
    env = {**os.environ, "ZOO_CACHE_DIR": str(tmp_path / "cache")}
    jobs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in "ab"]
    results = [job.communicate(timeout=240) for job in jobs]
    assert [job.returncode for job in jobs] == [0, 0], [err[-2000:] for _, err in results]
    study = optuna.load_study(study_name="shared", storage=storage)
    assert sorted(t.number for t in study.trials) == list(range(6))
    assert {t.state for t in study.trials} <= {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED}
    for out, _ in results:  # each process ends with the study as it found it: its own 3 trials at least
        assert len(json.loads(out)["trials"]) >= 3


@pytest.mark.parametrize("kind", ["missing-folder", "unknown-scheme", "not-a-database"])
def test_a_storage_that_cannot_be_opened_is_one_line_before_any_trial(scenes, tmp_path, capsys, kind):
    (tmp_path / "notes.txt").write_text("not a database\n" * 100)
    storage = {
        "missing-folder": f"sqlite:///{tmp_path / 'no' / 'such' / 'folder' / 'study.db'}",
        "unknown-scheme": "bogus://x",
        "not-a-database": f"sqlite:///{tmp_path / 'notes.txt'}",
    }[kind]
    args = ["tune", "--backbone", "tiny_image", "--data", str(scenes), "--trials", "1", "--storage", storage]
    assert main([*args, "--study", "s", "--weights", "none"]) == 2  # not -q: a trial would say its loss
    err = capsys.readouterr().err
    assert err.startswith(f"zoo: error: cannot open the Optuna storage {storage}: ") and err.count("\n") == 1


def test_options_the_search_chooses_are_refused_not_silently_replaced(scenes):
    with pytest.raises(
        zoo.ConfigError,
        match=r"^tune \(it searches the head, the learning rate and the optimizer "
        r"itself\) does not use learning_rate, hidden: drop them \(it takes task, weights, ",
    ):
        tune(scenes, "tiny_image", weights=None, learning_rate=0.5, hidden=(7,), verbose=0)


def test_a_study_name_without_a_storage_is_refused_in_one_line(scenes, capsys):
    args = ["tune", "--backbone", "tiny_image", "--data", str(scenes), "--study", "s9", "--weights", "none"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err == "zoo: error: --study names a study kept in --storage: add --storage (e.g. sqlite:///study.db)\n"
    with pytest.raises(zoo.ConfigError, match="is kept in a storage"):
        tune(scenes, "tiny_image", study="s9", weights=None, verbose=0)


def test_a_shared_study_keeps_its_settings_refuses_others_and_prints_its_best_trials_command(
    scenes, tmp_path, capsys, monkeypatch
):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    shared = {"storage": storage, "study": "s1", "weights": None, "batch_size": 8, "verbose": 0}
    tune(scenes, "tiny_image", trials=2, epochs=2, cache_dir=tmp_path / "cache", **shared)
    recorded = optuna.load_study(study_name="s1", storage=storage).user_attrs["zoo_settings"]
    assert recorded["backbones"] == ["tiny_image"] and recorded["epochs"] == 2 and recorded["weights"] is None

    other = write_scenes(tmp_path / "other", per_class=4, size=32, seed=1)
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "unused"))
    args = ["tune", "--data", str(scenes), "--weights", "none", "--batch-size", "8", "--trials", "1",
            "--storage", storage, "--study", "s1"]  # fmt: skip
    for changed, said in [
        (["--backbone", "tiny_image_caffe", "tiny_image", "--epochs", "2"], "backbones ['tiny_image'], not ["),
        (["--backbone", "tiny_image", "--epochs", "1"], "epochs 2, not 1"),
        (["--backbone", "tiny_image", "--epochs", "2", "--input-size", "40"], "input_shape None, not 40"),
        (["--backbone", "tiny_image", "--epochs", "2", "--data", str(other)], "other data"),
    ]:
        assert main([*args, *changed]) == 2
        err = capsys.readouterr().err
        assert err.startswith("zoo: error: the study s1 was created with ") and said in err, err
        assert err.endswith("use another --study name\n") and err.count("\n") == 1
    assert not (tmp_path / "unused").exists()  # refused before any feature was extracted
    study = optuna.load_study(study_name="s1", storage=storage)
    assert len(study.trials) == 2 and all(t.params["backbone"] == "tiny_image" for t in study.trials)

    # the same settings (the same images at another path, one with a space): one more trial; the best trial's
    # command printed on one line, shell-quoted, its own backbone and the study's epochs in it
    spaced = tmp_path / "my scenes"
    spaced.symlink_to(scenes, target_is_directory=True)
    monkeypatch.setenv("COLUMNS", "80")
    assert main([*args, "--data", str(spaced), "--backbone", "tiny_image", "--epochs", "2"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("train it: "))
    words = shlex.split(line.removeprefix("train it: "))
    best = min((t for t in optuna.load_study(study_name="s1", storage=storage).trials if t.value is not None),
               key=lambda t: t.value)  # fmt: skip
    assert words[:6] == ["zoo", "train", "--backbone", best.params["backbone"], "--data", str(spaced)]
    assert words[words.index("--epochs") + 1] == "2"
    assert float(words[words.index("--lr") + 1]) == best.params["learning_rate"]  # in full: it trains as the trial


def test_a_backbone_that_cannot_run_fails_in_one_line_before_any_trial(tiny_text, tmp_path, capsys):
    from zoo.data import topics_path

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    args = ["tune", "--backbone", tiny_text, "--data", str(topics_path()), "--storage", storage, "--study", "s", "-q"]
    assert main(args) == 2  # tiny_text has no pretrained weights: --weights none is needed
    err = capsys.readouterr().err
    assert (
        err
        == f"zoo: error: Backbone '{tiny_text}' declares no pretrained weights; pass weights=None or a local path.\n"
    )
    assert optuna.get_all_study_names(storage) == []  # no study, no failed trial: the next try records its settings
