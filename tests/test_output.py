"""What the `zoo` command prints: results on stdout, no framework noise, plain progress in files, honest notes.

The commands run as real subprocesses (TensorFlow starts in each, as for a user), with stdout and
stderr redirected to files, and without TF_CPP_MIN_LOG_LEVEL in the environment.
"""

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import zoo
from zoo import console
from zoo.cli.parser import build_parser as _parser
from zoo.testing import TINY_IMAGE

# TensorFlow's, absl's, CUDA's, oneDNN's and XLA's start-up lines (and Keras' retracing and optimizer warnings).
NOISE = re.compile(
    r"absl|InitializeLog|cuda|CUDA|oneDNN|XLA|cuDNN|cuFFT|cuBLAS|computation placer|TF-TRT|cpu_feature_guard|"
    r"^[IWEF]\d{4} \d\d:\d\d|retracing|UserWarning|DeprecationWarning|Skipping variable loading|Downloading data"
)
BROKEN = ("broken0.jpg", "broken1.jpg", "broken2.jpg")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Two classes of 8 random 32x32 images, and three files that are not images."""
    root = tmp_path_factory.mktemp("output") / "data"
    rng = np.random.default_rng(0)
    for label in ("cat", "dog"):
        (root / label).mkdir(parents=True)
        for i in range(8):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / label / f"{i}.png")
    for name in BROKEN:
        (root / "cat" / name).write_bytes(b"not an image")
    return root


def zoo_command(tmp_path: Path, *args: str, **env: str) -> tuple[int, str, str]:
    """Run ``zoo ARGS`` with stdout and stderr redirected to files (not a terminal); their texts."""
    environ = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "PYTHONWARNINGS")}
    environ.update(ZOO_CACHE_DIR=str(tmp_path / "cache"), **env)
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        status = subprocess.run(
            [sys.executable, "-m", "zoo", *args], stdout=stdout, stderr=stderr, env=environ
        ).returncode
    return status, out.read_text(), err.read_text()


def stray(text: str) -> list[str]:
    """Lines of noise, and any terminal control (carriage returns, ANSI escapes)."""
    bad = [line for line in text.splitlines() if NOISE.search(line)]
    return bad + [repr(text[:200])] * ("\r" in text or "\x1b[" in text)


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    """`zoo train` with a validation split and a fine-tuning phase, its outputs and its run directory."""
    tmp = tmp_path_factory.mktemp("train")
    options = ["--weights", "none", "--epochs", "2", "--fine-tune", "1", "--batch-size", "8"]
    status, out, err = zoo_command(tmp, "train", "--backbone", TINY_IMAGE, "--data", str(data), *options,
                                   "--out", str(tmp / "run"), PYTHONWARNINGS="ignore")  # fmt: skip
    assert status == 0, err
    return tmp / "run", out, err


@pytest.mark.slow
def test_train_prints_plain_progress_phases_and_the_skipped_files_without_noise(trained):
    run, out, err = trained
    assert stray(out) == [] and stray(err) == []
    assert "run directory:" in out and "epoch" not in out  # stdout: the results alone
    lines = err.splitlines()
    assert any(
        line.startswith("phase 1: training the head on cached features of the frozen tiny_image") for line in lines
    )
    assert any(line.startswith("phase 2: fine-tuning the top 1 block of tiny_image (block3)") for line in lines)
    assert any(line.startswith("extracting features: tiny_image, train split (") for line in lines)
    assert sum(bool(re.fullmatch(r"epoch [12]/2: .*loss \d.*val_accuracy \d.* \(\d+ s\)", line)) for line in lines) == 4
    # the skipped files: counted once (the split does not double them), named by the command, listed in the run,
    # and shown although PYTHONWARNINGS=ignore
    assert f"note: 3 skipped files (unreadable; listed in {run / 'skipped.json'}):" in lines
    assert all(any(line.startswith("  ") and f"{name}: not an image" in line for line in lines) for name in BROKEN)
    assert sorted(Path(item["path"]).name for item in zoo.Run(run).skipped) == list(BROKEN)
    assert zoo.Run(run).data["skipped files"] == 3


@pytest.mark.slow  # eight commands, seven starting TensorFlow: about 50 s
def test_every_json_output_parses_and_nothing_strays(trained, data, tmp_path):
    run = trained[0]
    image = str(data / "dog" / "0.png")
    commands = {
        "list": ["list", "tiny*", "--json"],
        "info": ["info", TINY_IMAGE, "--json"],
        "plugins": ["plugins", "--json"],
        "evaluate": ["evaluate", str(run), "--data", str(data), "--json"],
        "predict": ["predict", str(run), image, "--json"],
        "rank": ["rank", "--data", str(data), "--backbones", TINY_IMAGE, "--weights", "none", "--folds", "2", "--json"],
        "export": ["export", str(run), "--out", str(tmp_path / "exported"), "--json"],
        "runs": ["runs", str(Path(run).parent), "--json"],
    }
    for name, args in commands.items():
        status, out, err = zoo_command(tmp_path, *args)
        assert status == 0, (name, err)
        json.loads(out)  # stdout is the JSON, nothing else
        assert stray(out) == [] and stray(err) == [], name


@pytest.mark.slow
def test_quiet_prints_only_results_wherever_the_flag_goes(trained, data, tmp_path):
    run = trained[0]
    images = [str(data / "dog" / "0.png"), str(data / "cat" / "1.png")]
    status, out, err = zoo_command(tmp_path, "-q", "predict", str(run), *images)
    assert status == 0 and err == ""
    assert [line.split(":")[0] for line in out.splitlines()] == images
    status, out, err = zoo_command(tmp_path, "evaluate", str(run), "--data", str(data), "--quiet")
    assert status == 0 and out.splitlines()[0].split() == ["METRIC", "VALUE"] and "accuracy" in out
    assert [line for line in err.splitlines() if not line.startswith("DataWarning: skipped 3 of 19 images")] == []


@pytest.mark.slow
def test_predicting_a_run_by_its_path_again_and_again_does_not_retrace(trained, data):
    # TensorFlow counts traces by the function's code, over all the models of the process: the first call traces
    # (a model new here), and after earlier tests' models that one trace can reach its warning
    zoo.predict(str(trained[0]), [str(data / "dog" / "0.png")])
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("tensorflow")
    logger.addHandler(handler)
    logger.removeFilter(zoo.console._not_retracing)  # the cause is fixed, not only the message hidden
    try:
        for _ in range(7):  # TensorFlow warns from the 5th trace of the same function in a row
            zoo.predict(str(trained[0]), [str(data / "dog" / "0.png")])
    finally:
        logger.removeHandler(handler)
        logger.addFilter(zoo.console._not_retracing)
    assert [r.getMessage() for r in records if "retracing" in r.getMessage()] == []


def test_several_models_each_traced_once_give_no_retracing_warning(capfd):
    """TensorFlow counts the traces of every Keras model's predict function together (one code object):
    a command that builds several models would warn about retracing; the zoo drops that false alarm."""
    import keras

    zoo.console.load_framework()
    for _ in range(8):
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        model.predict(np.zeros((4, 3)), verbose=0)
    assert "retracing" not in "".join(capfd.readouterr())


def test_verbosity_flags_go_before_or_after_the_command():
    parse = _parser().parse_args
    assert parse(["list"]).verbosity == console.NORMAL
    assert parse(["-q", "list"]).verbosity == parse(["list", "--quiet"]).verbosity == console.QUIET
    assert parse(["-v", "train"]).verbosity == parse(["rank", "-v", "--data", "d"]).verbosity == console.VERBOSE
    with pytest.raises(SystemExit):
        parse(["list", "-q", "-v"])


def test_the_noise_filter_drops_tensorflow_start_up_lines_and_keeps_the_rest():
    assert console.is_noise("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR")
    assert console.is_noise("I0000 00:00:1795855754.295597    7696 port.cc:153] oneDNN custom operations are on.")
    assert console.is_noise(
        "E0000 00:00:1732.1 51 cuda_dnn.cc:8310] Unable to register cuDNN factory: Attempting to register factory "
        "for plugin cuDNN when one has already been registered"
    )
    assert not console.is_noise("E0000 00:00:1732.1 51 file.cc:10] Failed to open the model: permission denied")
    assert console.is_noise(
        "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the appropriate "
        "compiler flags."
    )
    assert not console.is_noise("Traceback (most recent call last):")
    assert console.epoch_line(3, 10, {"loss": 0.41, "val_accuracy": 0.88}, 12.4) == (
        "epoch 3/10: loss 0.41, val_accuracy 0.88 (12 s)"
    )


# A fine-tuned run of every kind of backbone (keras-hub's text networks among them) loads without Keras'
# "Skipping variable loading for optimizer" warning: tests/test_capabilities.py, "fine-tune".


def test_keras_messages_never_reach_stdout_while_a_command_works(capsys):
    from keras.src.utils import io_utils

    with console.results_only() as stdout:
        io_utils.print_msg("Downloading data from https://example.org/weights.h5")  # what keras.utils.get_file says
        print("[1/2] resnet50")
    print("result", file=stdout)
    out, err = capsys.readouterr()
    assert out == "result\n" and "Downloading data from" in err and "[1/2] resnet50" in err


def test_quiet_silences_progress_and_notes_in_python_too(capsys):
    console.set_level("quiet")
    try:
        console.say("phase 1: training the head")
        console.Progress("extracting features: tiny_image (4 images)", 4, "image").update(4)
        assert console.fit_progress(1) == (0, [])
    finally:
        console.set_level("normal")
    assert capsys.readouterr() == ("", "")
    console.say("phase 1: training the head")
    bar = console.Progress("extracting features: tiny_image (4 images)", 4, "image")
    bar.update(4)
    verbose, callbacks = console.fit_progress(1)  # not a terminal here: one plain line per epoch instead of Keras' bar
    assert verbose == 0 and len(callbacks) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[:2] == ["phase 1: training the head", "extracting features: tiny_image (4 images)"]
    assert "\r" not in err and "\x1b[" not in err


# Each public function that can be the first to start TensorFlow in a Python process, then work that runs its ops
# (the device's start, tf.data): none of TensorFlow's C++ lines reach stderr.
FIRST_CALLS = {
    "backbone": "model = zoo.backbone(NAME, weights=None); zoo.extract(model, x, verbose=0)",  # backbone first
    "build": "zoo.build(NAME, num_classes=2, weights=None).predict(x, verbose=0)",
    "load_model": "zoo.load_model(sys.argv[1]).predict(x, verbose=0)",
    "train": "zoo.train(NAME, (x, ['a', 'b'] * 4), weights=None, epochs=1, out=sys.argv[2], verbose=0)",
}


@pytest.mark.slow
@pytest.mark.parametrize("first", list(FIRST_CALLS))
def test_the_python_api_starts_tensorflow_without_its_start_up_lines(first, tmp_path):
    saved = tmp_path / "model.keras"
    if first == "load_model":
        zoo.save_model(zoo.build(TINY_IMAGE, num_classes=2, weights=None), saved)
    environ = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    code = (
        f"import sys, warnings; warnings.simplefilter('ignore'); import numpy as np, zoo; NAME = {TINY_IMAGE!r}; "
        f"x = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), 'uint8'); {FIRST_CALLS[first]}; print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", code, str(saved), str(tmp_path / "run")], capture_output=True,
                            text=True, env=environ)  # fmt: skip
    assert result.stdout == "ok\n" and result.stderr == "", result.stderr[-3000:]
