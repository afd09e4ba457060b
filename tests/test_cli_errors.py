"""One error policy: a user mistake is one line on stderr and exit status 2, before TensorFlow loads
where it can be; an internal error is a traceback and exit status 1."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from zoo import cli
from zoo.cli import commands

# Runs the CLI in a fresh interpreter and reports whether TensorFlow or Keras got imported.
RUN_CLI = (
    "import sys; from zoo.cli import main; code = main(sys.argv[1:]); "
    "print('heavy:', sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)); sys.exit(code)"
)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    for label in ("a", "b"):
        (root / label).mkdir()
        for i in range(4):
            value = i * 50 + (label == "b") * 20  # no image under both labels
            Image.fromarray(np.full((32, 32, 3), value, np.uint8)).save(root / label / f"{i}.png")
    return root


def _zoo(*args, tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "ZOO_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-c", RUN_CLI, *map(str, args)], capture_output=True, text=True, env=env)
    return result.returncode, result.stdout, result.stderr


def _assert_user_error(code, stderr, match):
    assert code == 2, stderr
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("zoo: error:")]
    assert len(errors) == 1 and match in errors[0], stderr


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--epochs", "0"], "epochs must be a positive integer"),
        (["--batch-size", "-3"], "batch_size must be a positive integer"),
        (["--lr", "0"], "learning_rate must be a positive number"),
        (["--dropout", "1.5"], "dropout must be in [0, 1)"),
        (["--fine-tune", "0"], "fine_tune must be a positive integer"),
        (["--augment", "rotate"], "unknown augmentation ['rotate']; known: crop, flip, rotation"),
        (["--input-size", "8"], "needs images of at least 32x32"),
        (["--weights", "no/such/file.weights.h5"], "Weights file not found"),
        (["--task", "regression", "--class-weight", "balanced"], "class_weight applies to classification only"),
        (["--label-smoothing", "1"], "label_smoothing must be in [0, 1), got 1.0"),
        (["--task", "regression", "--label-smoothing", "0.1"], "label_smoothing applies to classification and"),
        (["--weight-decay", "-0.1"], "weight_decay must be a number in [0, 1), got -0.1"),
        (["--epochs", "2", "--warmup-epochs", "2"], "warmup_epochs=2.0 is not shorter than the 2 epochs"),
        (["--fine-tune", "1", "--fine-tune-epochs", "1", "--warmup-epochs", "1.5"], "than the 1 fine-tuning epochs"),
        (["--mlflow", "htp://typo:5000"], "mlflow must be True, False or a tracking URI (http://host:5000"),
        (["--fine-tune-epochs", "3"], "fine_tune_epochs applies when fine-tuning: give fine_tune"),  # no --fine-tune
        (["--fine-tune-learning-rate", "0.1"], "fine_tune_learning_rate applies when fine-tuning"),
        (["--val", "{images}", "--val-fraction", "0.3"], "val_fraction applies when the validation set is split"),
    ],
    ids=[
        "epochs",
        "batch",
        "lr",
        "dropout",
        "fine-tune",
        "augment",
        "input-size",
        "weights",
        "class-weight",
        "label-smoothing",
        "smoothing-regression",
        "weight-decay",
        "warmup",
        "warmup-phase2",
        "mlflow-uri",
        "idle-fine-tune-epochs",
        "idle-fine-tune-rate",
        "idle-val-fraction",
    ],
)
def test_bad_numbers_fail_before_tensorflow_loads(args, match, images, tmp_path):
    args = [arg.format(images=images) for arg in args]
    code, out, err = _zoo("train", "--backbone", "resnet50", "--data", images, *args, tmp_path=tmp_path)
    _assert_user_error(code, err, match)
    assert "heavy: []" in out
    assert not any(tmp_path.glob("runs*"))


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["train", "--backbone", "resnet5O", "--data", "{images}"], "Unknown backbone 'resnet5O'. Did you mean"),
        (["train", "--backbone", "resnet50", "--data", "{missing}"], "does not exist"),
        (["train", "--backbone", "resnet50"], "--backbone and --data are required"),
        (["rank", "--data", "{images}", "--backbones", "nonet*"], "no backbone matches 'nonet*'"),
        (["rank", "--data", "{missing}", "--backbones", "resnet50"], "does not exist"),
        (["evaluate", "{missing}", "--data", "{images}"], "does not exist"),
        (["predict", "{images}", "x.png"], "is not a run directory"),
        (["info", "nonet"], "Unknown backbone 'nonet'"),
        (["train", "--resume", "{missing}"], "does not exist"),
        (["rank", "--data", "{images}", "--backbones", "densenet12"], "Did you mean: densenet121"),
        (["train", "--resume", "{images}", "--epochs", "3"], "drop --epochs"),
        (["lr-find", "--backbone", "resnet5O", "--data", "{images}"], "Unknown backbone 'resnet5O'. Did you mean"),
        (["lr-find", "--backbone", "resnet50", "--data", "{missing}"], "missing does not exist"),
        (["lr-find", "--backbone", "resnet50", "--data", "{images}", "--dropout", "2"], "dropout must be in [0, 1)"),
        (["runs", "{missing}"], "is not a folder: give the folder that holds your runs"),
        (["tune", "--backbone", "resnet5O", "--data", "{images}"], "Unknown backbone 'resnet5O'. Did you mean"),
        (["tune", "--backbone", "resnet50", "--data", "{images}", "--trials", "0"], "--trials must be a positive"),
        (["tune", "--backbone", "resnet50", "--data", "{images}", "--out", "x"], "add --train-best, or drop --out"),
        (
            ["tune", "--backbone", "resnet50", "--data", "{images}", "--train-best", "--out", "/proc/zoo-run"],
            "cannot write /proc/zoo-run: no such file",
        ),
    ],
    ids=[
        "unknown-name",
        "missing-data",
        "no-data",
        "no-match",
        "rank-missing-data",
        "evaluate-missing",
        "predict-missing",
        "info",
        "resume-missing",
        "rank-typo",
        "resume-options",
        "lr-find-typo",
        "lr-find-missing",
        "lr-find-dropout",
        "runs-missing",
        "tune-typo",
        "tune-trials",
        "tune-out",
        "tune-out-unwritable",
    ],
)
def test_unknown_names_and_missing_paths_fail_fast(args, match, images, tmp_path):
    filled = [a.format(images=images, missing=tmp_path / "missing") for a in args]
    code, out, err = _zoo(*filled, tmp_path=tmp_path)
    _assert_user_error(code, err, match)
    assert "heavy: []" in out


@pytest.mark.slow
def test_a_text_backbone_given_images_is_one_line_and_leaves_no_run(images, tmp_path):
    out = tmp_path / "run"
    code, _, err = _zoo("train", "--backbone", "bert_tiny_en_uncased", "--weights", "none", "--data", images,
                        "--out", out, tmp_path=tmp_path)  # fmt: skip
    _assert_user_error(code, err, "is a text backbone but")
    assert not out.exists()


@pytest.mark.slow
def test_an_out_folder_that_cannot_be_made_is_one_line_and_nothing_is_trained(images, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for out, said in ((blocker / "run", f"{blocker} is a file, not a folder"), ("/proc/zoo-run", "no such file")):
        code, _, err = _zoo("train", "--backbone", "tiny_image", "--weights", "none", "--data", images, "--out", out,
                            tmp_path=tmp_path)  # fmt: skip
        _assert_user_error(code, err, said)
        assert "phase 1" not in err


@pytest.mark.slow
def test_a_fine_tune_deeper_than_the_network_leaves_no_run(images, tmp_path):
    out = tmp_path / "run"
    code, _, err = _zoo("train", "--backbone", "mobilenet_v2", "--weights", "none", "--input-size", "32",
                        "--data", images, "--fine-tune", "999", "--out", out, tmp_path=tmp_path)  # fmt: skip
    _assert_user_error(code, err, "fine_tune must be between 1 and")
    assert not out.exists()


def test_an_input_size_beyond_the_memory_is_one_line_before_any_work(images, tmp_path, capsys):
    out = tmp_path / "run"  # a typo: each image 100000x100000, 120 GB as float32
    args = ["train", "--backbone", "tiny_image", "--weights", "none", "--input-size", "100000", "--data", str(images),
            "--out", str(out)]  # fmt: skip
    code, err = cli.main(args), capsys.readouterr().err
    _assert_user_error(code, err, "an input of 100000x100000 takes 120 GB for each image, more than this machine's")
    assert "phase 1" not in err and not out.exists()


def test_running_out_of_memory_is_one_line_naming_what_to_lower(monkeypatch, capsys):
    def out_of_memory(args):  # what TensorFlow raises for a batch larger than the memory, its graph node first
        raise MemoryError("{{function_node __wrapped__IteratorGetNext}} OOM when allocating tensor with shape[64]")

    monkeypatch.setattr(commands, "do_list", out_of_memory)
    assert cli.main(["list"]) == 2
    err = capsys.readouterr().err
    assert err == ("zoo: error: out of memory (OOM when allocating tensor with shape[64]): use a smaller "
                   "--batch-size, or a smaller --input-size where the command takes one\n")  # fmt: skip


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["train", "--epochs", "abc"], "zoo train: error: argument --epochs: invalid int value: 'abc' (see zoo train"),
        (["bogus"], "zoo: error: argument COMMAND: invalid choice: 'bogus' (choose from 'list'"),
        (["train", "--optimizer", "bogus"], "zoo train: error: argument --optimizer: invalid choice: 'bogus'"),
        (["train", "--epochs", "1\x1b[2J"], "invalid int value: '1\\x1b[2J' (see zoo train --help)"),  # escaped
    ],
)
def test_a_usage_mistake_is_one_line_pointing_at_help_and_exit_2(args, said, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(args)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1 and said in err and "usage:" not in err, err


def test_help_shows_every_training_option_with_its_default(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag in ("--epochs", "--lr", "--fine-tune", "--augment", "--class-weight", "--no-cache", "--patience"):
        assert flag in text
    assert "(default: 10)" in text and "(default: cosine)" in text and "(default: 0.001)" in text


def test_an_internal_error_prints_its_traceback_and_exits_1(monkeypatch, capsys):
    def broken(args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(commands, "do_list", broken)
    assert cli.main(["list"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: a bug" in err and "internal error" in err


def test_a_plugin_calling_sys_exit_during_a_command_never_ends_it_with_success(monkeypatch, capsys):
    def exits(args):
        raise SystemExit(0)  # what a plugin's layer or factory might do mid-command

    monkeypatch.setattr(commands, "do_list", exits)
    assert cli.main(["list"]) == 1
    assert "called sys.exit(0) during the command" in capsys.readouterr().err
