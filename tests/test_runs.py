"""`zoo runs`: every run under a folder in one table (80 columns) or as JSON, sorted and filtered, each run's
state told truly: complete with its metrics, stopped (resumable), being trained by another process, damaged."""

import json
import shutil
import subprocess
import sys

import keras
import pytest
from rich.cells import cell_len

import zoo
from zoo.cli import main
from zoo.demo import write_scenes
from zoo.testing import TINY_IMAGE

pytestmark = pytest.mark.slow  # the folder of runs trains four tiny ones
ODD = "[red]猫odd\x1bname👍"  # markup and a control character shown as text; a character and an emoji two columns wide


class StopAfterOneEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        raise KeyboardInterrupt  # as Ctrl-C would, after the epoch's checkpoint


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A folder of runs: two complete (different options), one stopped after its first epoch, one damaged, one
    whose name holds markup, a control character and characters two terminal columns wide."""
    root = tmp_path_factory.mktemp("runs")
    scenes = write_scenes(root.parent / "scenes", per_class=4, size=32, seed=0)
    common = {"weights": None, "batch_size": 8, "verbose": 0, "cache_dir": root.parent / "cache"}
    zoo.train(TINY_IMAGE, scenes, out=root / "plain", epochs=1, **common)
    zoo.train(TINY_IMAGE, scenes, out=root / "group" / "longer", epochs=6, learning_rate=0.01, **common)
    zoo.train(TINY_IMAGE, scenes, out=root / ODD, epochs=1, label_smoothing=0.1, **common)
    with pytest.raises(KeyboardInterrupt):
        zoo.train(TINY_IMAGE, scenes, out=root / "stopped", epochs=3, callbacks=[StopAfterOneEpoch()], **common)
    (root / "broken").mkdir()
    (root / "broken" / "config.json").write_text("{not json")
    (root / "broken" / "state.json").write_text("{}")
    return root


def _zoo(capsys, *args):
    status = main(["runs", *map(str, args)])
    out, err = capsys.readouterr()
    return status, out, err


def test_every_run_is_listed_with_its_state_and_metrics_as_json(runs, capsys):
    status, out, _ = _zoo(capsys, runs, "--json")
    assert status == 0
    found = {row["name"]: row for row in json.loads(out)}
    assert set(found) == {"plain", "longer", ODD, "stopped", "broken"}
    for name in ("plain", "longer"):
        assert found[name]["status"] == "complete" and found[name]["backbone"] == TINY_IMAGE
        assert found[name]["metrics"] == {k: v for k, v in zoo.Run(found[name]["path"]).metrics.items()
                                          if isinstance(v, (int, float))}  # fmt: skip
    assert found["longer"]["options"] == {"weights": None, "epochs": 6, "batch_size": 8, "learning_rate": 0.01}
    assert found["plain"]["data"] == found["longer"]["data"] and len(found["plain"]["data"]) == 8
    assert (found["stopped"]["status"], found["stopped"]["where"], found["stopped"]["metrics"]) == (
        "stopped", "phase 1, epoch 1", {})  # fmt: skip
    assert found["broken"]["status"] == "damaged" and "config.json" in found["broken"]["where"]


def test_a_finished_run_whose_model_is_gone_or_cut_short_is_damaged_not_complete(runs, capsys, tmp_path):
    for name in ("gone", "cut"):
        shutil.copytree(runs / "plain", tmp_path / name)
    (tmp_path / "gone" / "model.keras").unlink()
    model = tmp_path / "cut" / "model.keras"
    model.write_bytes(model.read_bytes()[:1000])
    status, out, _ = _zoo(capsys, tmp_path, "--json")
    found = {row["name"]: row for row in json.loads(out)}
    assert status == 0 and found["gone"]["status"] == found["cut"]["status"] == "damaged"
    assert found["gone"]["where"].startswith("No saved model at ")
    assert found["cut"]["where"].endswith("is damaged (not a complete .keras archive: truncated or overwritten); "
                                          "restore it from a copy, or train again (an unfinished run writes it again "
                                          "with `zoo train --resume RUN`)")  # fmt: skip


DAMAGED_METRICS = {  # metrics.json as hand edits leave it: what `zoo runs` and `zoo report` then say
    "null": ("null", "null, not an object of metrics"),
    "words": ('{"n": 16, "accuracy": "high"}', 'accuracy is "high", not a number'),
    "per-class": ('{"n": 16, "accuracy": 0.5, "per_class": "x"}', "per_class is not a table of numbers"),
    "confusion": ('{"n": 16, "accuracy": 0.5, "confusion_matrix": [[1]]}', "confusion_matrix is not 4x4 counts"),
}


def test_a_run_with_a_damaged_record_is_listed_as_damaged_with_the_reason_and_the_others_still_are(
    runs, capsys, tmp_path
):
    """One run's hand-edited metrics.json, or its lost state.json, must not hide the folder's other runs (it
    raised out of `zoo runs`), nor the run itself (a run without state.json was not listed)."""
    shutil.copytree(runs / "plain", tmp_path / "plain")
    for name, (text, _) in DAMAGED_METRICS.items():
        shutil.copytree(runs / "plain", tmp_path / name)
        (tmp_path / name / "metrics.json").write_text(text)
    shutil.copytree(runs / "plain", tmp_path / "no-state")
    (tmp_path / "no-state" / "state.json").unlink()
    for name, text in (("empty-spec", "{}"), ("null-spec", "null")):  # every command raised a KeyError or TypeError
        shutil.copytree(runs / "plain", tmp_path / name)
        (tmp_path / name / "spec.json").write_text(text)
    shutil.copytree(runs / "plain", tmp_path / "no-labels")
    (tmp_path / "no-labels" / "labels.json").unlink()
    status, out, _ = _zoo(capsys, tmp_path, "--json")
    found = {row["name"]: row for row in json.loads(out)}
    assert status == 0 and found.pop("plain")["status"] == "complete"
    others = ["no-state", "empty-spec", "null-spec", "no-labels"]
    assert {name: row["status"] for name, row in found.items()} == dict.fromkeys([*DAMAGED_METRICS, *others], "damaged")
    for name, (_, reason) in DAMAGED_METRICS.items():
        assert reason in found[name]["where"] and "changed after training" in found[name]["where"], found[name]
    assert found["no-state"]["where"].endswith("is missing state.json: not a complete run directory")
    assert found["no-labels"]["where"].endswith("is missing labels.json: not a complete run directory")
    assert found["null-spec"]["where"].endswith("spec.json is damaged (null, not a backbone's spec): it was changed "
                                                "after training; put it back, or train the run again")  # fmt: skip
    for name in ("empty-spec", "null-spec"):
        assert main(["predict", str(tmp_path / name), str(next((runs.parent / "scenes").rglob("*.png")))]) == 2
        assert "spec.json is damaged" in capsys.readouterr().err
    for name, (_, reason) in DAMAGED_METRICS.items():  # the report refuses it in one line, as evaluate would
        assert main(["report", str(tmp_path / name), "--out", str(tmp_path / f"{name}.html")]) == 2
        err = capsys.readouterr().err
        assert reason in err and len(err.strip().splitlines()) == 1, err
    # evaluating a run that lost its state says so, not "resume it", which would be refused for the same reason
    assert main(["evaluate", str(tmp_path / "no-state"), "--data", str(runs.parent / "scenes")]) == 2
    assert "is missing state.json" in capsys.readouterr().err


def test_the_table_fits_80_columns_sorts_filters_and_shows_names_as_text(runs, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    status, out, _ = _zoo(capsys, runs, "--sort", "accuracy")
    lines = out.splitlines()
    assert status == 0 and all(cell_len(line) <= 80 for line in lines), out  # in terminal columns
    assert lines[0].split()[:2] == ["RUN", "BACKBONE"] and lines[-1] == "5 runs"
    accuracies = [float(line.split("acc ")[1].split()[0]) for line in lines if "acc " in line]
    assert len(accuracies) == 3 and accuracies == sorted(accuracies, reverse=True)
    assert "\x1b" not in out and "\\x1b" in out  # the control character shown, not obeyed
    odd, plain = (next(line for line in lines if line.startswith(start)) for start in ("[red]猫", "plain "))
    assert cell_len(odd[: odd.index(TINY_IMAGE)]) == plain.index(TINY_IMAGE)  # in line on the terminal
    assert any(line.startswith("damaged: broken: ") for line in lines)
    assert any(line.split()[0] == "stopped" and "stopped: " in line for line in lines)  # its phase and epoch in JSON

    status, out, _ = _zoo(capsys, runs, "--status", "complete", "--backbone", "tiny_*", "--json")
    assert status == 0 and sorted(row["name"] for row in json.loads(out)) == sorted([ODD, "longer", "plain"])
    status, out, _ = _zoo(capsys, runs, "--status", "stopped", "--json")  # the word the table and docs use
    assert status == 0 and [row["name"] for row in json.loads(out)] == ["stopped"]
    status, out, _ = _zoo(capsys, runs, "--backbone", "resnet*")
    assert status == 0 and out.splitlines()[-1] == "0 runs"


def test_a_run_being_trained_by_another_process_says_so(runs, capsys):
    hold = (
        "import sys, time\nfrom zoo.locks import locked\n"
        "with locked(sys.argv[1], wait=False) as held:\n    print(held, flush=True)\n    time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", hold, str(runs / "stopped" / ".training.lock")],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "True"
        status, out, _ = _zoo(capsys, runs, "--json", "--status", "training")
        assert status == 0 and [row["name"] for row in json.loads(out)] == ["stopped"]
    finally:
        holder.kill()
        holder.wait()
    status, out, _ = _zoo(capsys, runs, "--json", "--status", "training")
    assert json.loads(out) == []


def test_bad_input_is_one_line_and_status_2(runs, tmp_path, capsys):
    status, _, err = _zoo(capsys, runs, "--sort", "speed")
    assert status == 2 and err.startswith("zoo: error: --sort speed: no run has that metric; sort by one of updated")
    assert err.count("\n") == 1
    status, _, err = _zoo(capsys, tmp_path / "nowhere")
    assert (
        status == 2
        and err
        == f"zoo: error: {tmp_path / 'nowhere'} is not a folder: give the folder that holds your runs (default: runs)\n"
    )


def test_a_narrow_terminal_keeps_the_sorted_column_and_a_stopped_runs_epoch(runs, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    status, out, _ = _zoo(capsys, runs, "--sort", "loss")
    lines = out.splitlines()
    assert status == 0 and "LOSS" in lines[0].split() and max(map(len, lines)) <= 80
    status, out, _ = _zoo(capsys, runs, "--sort", "macro_f1")  # any metric sorted by: its column shown
    header, *rows = out.splitlines()
    shown = [f"{zoo.Run(runs / name).metrics['macro_f1']:.4g}" for name in ("plain", "group/longer")]
    assert "MACRO_F1" in header.split() and all(any(value in row.split() for row in rows) for value in shown)
    status, out, _ = _zoo(capsys, runs, "--status", "stopped")
    assert status == 0 and "stopped: phase 1, epoch 1" in out  # where to resume from, not cut
