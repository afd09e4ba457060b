"""The learning-rate finder: a sweep of the head's rate on cached features whose suggestion trains, where a rate
far below it does not; the same from Python and `zoo lr-find` (plot, JSON), and bad input in one line."""

import json
import os
import shlex

import numpy as np
import pytest
from PIL import Image

import zoo
from zoo.cli import main
from zoo.demo import write_scenes
from zoo.lr_finder import lr_find
from zoo.testing import TINY_IMAGE

OPTIONS = {"weights": None, "batch_size": 8}


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    return write_scenes(tmp_path_factory.mktemp("data") / "scenes", per_class=16, size=32, seed=0)


@pytest.mark.slow
def test_the_suggested_rate_trains_where_one_far_below_it_does_not(scenes, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cache = tmp_path / "cache"
    found = lr_find(TINY_IMAGE, scenes, cache_dir=cache, verbose=0, **OPTIONS)
    assert os.listdir(tmp_path) == ["cache"]  # no run directory: the sweep trains a throwaway head
    ratios = np.array(found.rates[1:]) / np.array(found.rates[:-1])
    assert found.rates[0] == pytest.approx(1e-7) and np.allclose(ratios, ratios[0]) and ratios[0] > 1
    assert len(found.losses) == len(found.rates) and np.isfinite(found.losses).all()
    assert 1e-7 < found.suggestion < 10 and found.minimum in found.rates

    common = {"epochs": 5, "patience": None, "cache_dir": cache, "verbose": 0, **OPTIONS}
    suggested = zoo.train(TINY_IMAGE, scenes, out=tmp_path / "suggested", learning_rate=found.suggestion, **common)
    timid = zoo.train(TINY_IMAGE, scenes, out=tmp_path / "timid", learning_rate=found.suggestion / 1000, **common)
    assert suggested.metrics["accuracy"] >= 0.9 > timid.metrics["accuracy"]
    assert suggested.metrics["loss"] < timid.metrics["loss"]

    again = lr_find(TINY_IMAGE, scenes, cache_dir=cache, verbose=0, **OPTIONS)  # from the cache, seeded: the same
    assert (again.rates, again.losses, again.suggestion) == (found.rates, found.losses, found.suggestion)

    # a rate that blows the loss up (past 4x its lowest, or to inf or NaN) ends the sweep there; a hidden ReLU layer
    # under SGD does (a linear head on separable features only grows surer as the rate grows)
    diverging = lr_find(TINY_IMAGE, scenes, cache_dir=cache, verbose=0, optimizer="sgd", end=1e6, hidden=[64],
                        **OPTIONS)  # fmt: skip
    assert len(diverging.rates) < 100 and np.isfinite(diverging.losses).all()


@pytest.mark.slow
def test_the_command_prints_the_suggestion_draws_the_plot_and_gives_json(scenes, tmp_path, capsys):
    args = ["lr-find", "--backbone", TINY_IMAGE, "--data", str(scenes), "--weights", "none", "--batch-size", "8"]
    assert main([*args, "--plot", str(tmp_path / "lr.png"), "--json", "-q"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["plot"] == str(tmp_path / "lr.png")
    with Image.open(tmp_path / "lr.png") as png:
        assert png.format == "PNG" and png.size[0] > 300
    python = lr_find(TINY_IMAGE, scenes, verbose=0, **OPTIONS)
    assert found["suggestion"] == python.suggestion and found["rates"] == python.rates

    assert main(args) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    said = "(the middle of the valley, where the loss keeps falling)"
    assert lines[0] == f"suggested learning rate: {python.suggestion:.2g} {said}"
    assert "suggest" not in err  # said once
    # the `zoo train` command: one line, shell-quoted, with the options the sweep used
    command = ["zoo", "train", "--backbone", TINY_IMAGE, "--data", str(scenes), "--weights", "none", "--batch-size",
               "8", "--lr", f"{python.suggestion:.2g}"]  # fmt: skip
    assert lines[-1] == f"train with it: {shlex.join(command)}" == f"train with it: {python.command}"


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--steps", "3"], "the sweep needs 0 < start < end and at least 10 steps, got 1e-07, 10.0, 3"),
        (["--start", "1", "--end", "0.1"], "the sweep needs 0 < start < end"),
    ],
    ids=["steps", "start-end"],
)
def test_bad_input_is_one_line_and_status_2(scenes, extra, said, capsys):
    args = ["lr-find", "--backbone", TINY_IMAGE, "--data", str(scenes), "--weights", "none", *extra]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("zoo: error: ") and said in err and err.count("\n") == 1


def test_a_sweep_whose_loss_never_turns_up_says_its_suggestion_is_only_the_middle_of_the_range(scenes, tmp_path):
    """A loss still falling at the last rate has no valley to find: the "suggestion" was the middle of whatever range
    was swept (0.00091 for the default, 0.3 for 1e-3 to 100, on the same data), and said as a finding."""
    with pytest.warns(
        zoo.TrainingWarning,
        match=r"^the loss was still falling at the end of the sweep \(0\.03\): "
        r"the suggestion [0-9.e-]+ is only the middle of the range swept; sweep to higher rates",
    ):
        found = lr_find(TINY_IMAGE, scenes, start=1e-3, end=3e-2, steps=20, cache_dir=tmp_path, verbose=0, **OPTIONS)
    assert found.minimum == found.rates[-1]


def test_options_the_sweep_does_not_use_are_refused_not_ignored(scenes):
    with pytest.raises(
        zoo.ConfigError,
        match=r"^lr_find \(it sweeps the rate of the head alone, from start to end\) "
        r"does not use epochs, fine_tune, learning_rate: drop them \(it takes task, head, ",
    ):
        lr_find(TINY_IMAGE, scenes, weights=None, epochs=3, fine_tune=2, learning_rate=3)
    with pytest.raises(zoo.ConfigError, match="unknown training option 'epoch'; did you mean 'epochs'"):
        lr_find(TINY_IMAGE, scenes, weights=None, epoch=3)


def test_a_plot_over_a_file_of_a_run_is_refused_before_the_sweep(scenes, tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"  # a run's own files: the plot replaced its model.keras
    run.mkdir()
    (run / "config.json").write_text("{}")
    (run / "model.keras").write_bytes(b"the model")
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    args = ["lr-find", "--backbone", TINY_IMAGE, "--data", str(scenes), "--weights", "none", "--plot"]
    assert main([*args, str(run / "model.keras")]) == 2
    assert capsys.readouterr().err == (f"zoo: error: --plot {run / 'model.keras'} is a file of the run {run}: "
                                       "writing it would damage the run; give another file\n")  # fmt: skip
    assert (run / "model.keras").read_bytes() == b"the model" and not (tmp_path / "cache").exists()


@pytest.mark.parametrize("kind", ["folder", "under-a-file", "unwritable"])
def test_a_plot_that_cannot_be_written_is_one_line_before_the_sweep(scenes, tmp_path, kind, capsys, monkeypatch):
    (tmp_path / "notes.txt").write_text("x")
    plot = {"folder": tmp_path, "under-a-file": tmp_path / "notes.txt" / "lr.png", "unwritable": "/proc/lr.png"}[kind]
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    args = ["lr-find", "--backbone", TINY_IMAGE, "--data", str(scenes), "--weights", "none", "--plot", str(plot)]
    assert main(args) == 2
    err = capsys.readouterr().err
    said = {"folder": f"{plot} is a folder", "under-a-file": f"cannot write {plot}: {tmp_path / 'notes.txt'} is a file",
            "unwritable": f"cannot write {plot}: no such file or directory"}[kind]  # fmt: skip
    assert err.startswith(f"zoo: error: {said}") and err.count("\n") == 1, err
    assert not (tmp_path / "cache").exists()  # before the sweep: no feature extracted
