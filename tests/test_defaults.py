"""Defaults a user relies on: shown in --help, one top-k, predict's exit status, finished runs, text length."""

import argparse
import dataclasses
import inspect
import json

import numpy as np
import pytest

import zoo
from zoo.cli import main
from zoo.cli.parser import build_parser as _parser
from zoo.config import TOP_K, TrainConfig
from zoo.data.text import fitted_sequence_length
from zoo.demo import write_scenes
from zoo.testing import TINY_IMAGE


def commands():
    subparsers = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return subparsers.choices


def cli(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


# --- --help ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", sorted(commands()))
def test_every_option_with_a_default_shows_it_and_none_shows_none_or_false(command):
    parser = commands()[command]
    text = " ".join(parser.format_help().split())  # wrapped lines joined
    for bad in ("(default: None)", "(default: False)", "(default: True)", "(default: ())", "(default: [])"):
        assert bad not in text
    for action in parser._actions:
        default = action.default
        if action.nargs == 0 or default in (None, argparse.SUPPRESS):
            continue
        shown = " ".join(map(str, default)) if isinstance(default, list) else str(default)
        said = any(w in (action.help or "") for w in ("(default", "default:", "the default"))
        assert said or f"(default: {shown})" in text, f"zoo {command} {action.dest}: default {shown!r} not shown"


def option_help(help_text, flag):
    """The help of one option in ``--help`` output: from its line to the next option's, joined."""
    lines = help_text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.lstrip().startswith(flag + " ") or line.strip() == flag)
    end = next((i for i in range(first + 1, len(lines)) if lines[i].lstrip().startswith("-")), len(lines))
    return " ".join(" ".join(lines[first:end]).split())


def test_train_help_shows_every_training_default():
    text = commands()["train"].format_help()
    for field in dataclasses.fields(TrainConfig):
        if field.type == "bool":  # on/off flags say what they do instead
            continue
        flag = field.metadata.get("flags", (f"--{field.name.replace('_', '-')}",))[0]
        shown = field.metadata.get("shown", field.default)
        if shown is None:  # worded in its help, e.g. "(default: --epochs)"
            assert "(default: " in option_help(text, flag), flag
        else:
            assert f"(default: {shown})" in option_help(text, flag), flag
    assert "(default: 10)" in option_help(text, "--epochs") and "(default: 0.001)" in option_help(text, "--lr")


def test_predict_help_documents_its_exit_status():
    text = " ".join(commands()["predict"].format_help().split())
    assert "0 when every input was predicted, 1 when some inputs failed" in text
    assert "2 when every input failed" in text and f"(default: {TOP_K})" in text


# --- predict: one top-k, and the exit status ---------------------------------------------------------


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("defaults")
    data = write_scenes(root / "data", per_class=6, size=32, seed=0)
    run = zoo.train(TINY_IMAGE, data, weights=None, epochs=2, learning_rate=0.05, batch_size=16, out=root / "run",
                    cache_dir=root / "cache", verbose=0)  # fmt: skip
    return run, sorted((data / "night").iterdir())[0]


@pytest.mark.slow
def test_one_top_k_for_the_command_and_python(image_run, capsys):
    run, image = image_run
    assert inspect.signature(zoo.predict).parameters["top_k"].default == TOP_K
    assert commands()["predict"].get_default("top_k") == TOP_K
    status, out, _ = cli(capsys, "predict", run.path, image, "--json")
    from_cli = json.loads(out)[0]["predictions"]
    assert status == 0 and from_cli == zoo.predict(run, [image])[0]["predictions"]
    assert len(from_cli) == min(TOP_K, len(run.class_names))


def test_predict_exits_1_when_some_inputs_failed_and_2_when_all_did(image_run, capsys, tmp_path):
    run, image = image_run
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    status, out, _ = cli(capsys, "predict", run.path, image, broken, tmp_path / "missing.png")
    assert status == 1
    assert f"{image}:" in out and "error" not in out.splitlines()[0]  # the good input is still predicted
    assert "broken.png: error" in out and "missing.png: error" in out
    status, out, _ = cli(capsys, "predict", run.path, broken, tmp_path / "missing.png", "--json")
    assert status == 2 and all("error" in r for r in json.loads(out))


# --- a finished run is never trained silently ---------------------------------------------------------


def test_resume_with_more_epochs_on_a_finished_run_says_it_cannot(image_run, capsys):
    run, _ = image_run
    before = (run.path / "state.json").read_text()
    status, _, err = cli(capsys, "train", "--resume", run.path, "--epochs", "20")
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert f"{run.path} is complete, so --epochs cannot apply" in err and "zoo.load_model" in err
    with pytest.raises(zoo.ConfigError, match=r"is complete, so epochs=20, learning_rate=0\.1 cannot apply"):
        zoo.train(TINY_IMAGE, run.data_sources["train"], config=run.train_config, out=run.path, resume=True,
                  epochs=20, learning_rate=0.1, verbose=0)  # fmt: skip
    assert (run.path / "state.json").read_text() == before  # nothing trained, nothing rewritten
    again = zoo.train(TINY_IMAGE, run.data_sources["train"], config=run.train_config, out=run.path, resume=True)
    assert again.complete and (run.path / "state.json").read_text() == before  # the same options: done already


# --- text sequence length -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("counts", "maximum", "expected"),
    [
        ([5, 9, 12, 14, 30], 256, 32),  # the 95th percentile (30), rounded up to a multiple of 8
        (list(range(1, 101)), 256, 96),  # 95 -> 96
        ([17] * 20, 256, 24),
        ([3, 4, 2], 256, 8),  # at least 8
        ([300, 400, 500], 256, 256),  # at most the backbone's
        ([40] * 39 + [1000], 128, 40),  # one outlier in 40 does not set the length
        ([], 128, 128),
    ],
)
def test_the_fitted_length_is_the_95th_percentile_rounded_up_to_8_within_bounds(counts, maximum, expected):
    assert fitted_sequence_length(np.array(counts), maximum) == expected


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    from tests.test_text import write_hf_bert

    path = tmp_path_factory.mktemp("bert") / "tiny"
    write_hf_bert(path)
    return path


SHORT = [f"the {a} {v} on {w}" for a in ("cat", "dog") for v in ("sat", "ran", "sat .") for w in ("a mat", "the")]
LABELS = ["cat"] * 6 + ["dog"] * 6


def train_text(bert, out, texts=SHORT, **options):
    return zoo.train("bert_tiny_en_uncased", (texts, LABELS), weights=bert, epochs=1, batch_size=4, out=out,
                     cache_dir=out.parent / "cache", verbose=0, **options)  # fmt: skip


@pytest.mark.slow
def test_short_texts_get_a_short_sequence_length_that_the_saved_model_uses(bert, tmp_path):
    run = train_text(bert, tmp_path / "run")
    # "the cat sat . on a mat" is 7 word pieces, 9 tokens with [CLS] and [SEP]: the window is 16, not 128
    assert (
        run.train_config.input_shape == 16 == json.loads((run.path / "config.json").read_text())["train"]["input_shape"]
    )
    loaded = zoo.load_model(run.path)
    assert loaded.zoo_config.input_shape == (16,) and loaded.get_layer("tokenize").sequence_length == 16
    assert run.data["texts cut at 16 tokens"] == 0
    assert zoo.predict(run, ["the dog ran on the mat"], top_k=1)[0]["predictions"][0]["label"] in ("cat", "dog")


@pytest.mark.slow
def test_an_explicit_sequence_length_wins_and_long_texts_are_capped(bert, tmp_path):
    run = train_text(bert, tmp_path / "explicit", input_shape=40)
    assert run.train_config.input_shape == 40 and zoo.load_model(run.path).get_layer("tokenize").sequence_length == 40
    long = [text + " the mat" * 80 for text in SHORT]  # hundreds of word pieces each
    capped = train_text(bert, tmp_path / "long", texts=long)
    assert capped.model_config.input_shape == (128,)  # bert_tiny_en_uncased declares 128


def test_the_command_line_takes_sequence_length_as_an_alias_of_input_size():
    args = _parser().parse_args(["train", "--backbone", "x", "--data", "d", "--sequence-length", "48"])
    assert args.input_shape == 48
