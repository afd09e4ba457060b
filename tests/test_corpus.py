"""The bad-input corpus (tests/corpus) through the CLI, in-process: the exit status, one line and no
traceback on stderr for a refusal, nothing half-written, and every skipped file named."""

from __future__ import annotations

import hashlib
import re
import shutil
import threading
import warnings
from pathlib import Path

import pytest

import zoo
import zoo.plugins
import zoo.run
from tests import corpus
from zoo.cli import main

# Cases that misbehave today, kept visible: strict, so the fix makes them fail until they leave this list.
# A case that trains a text model (a few seconds each) is in the slow tier; every other one is fast.
CASES = [
    pytest.param(case, id=case.name, marks=[pytest.mark.slow] if case.args[:3] == corpus.TRAIN_TEXTS[:3] else [])
    for case in corpus.cases()
]
TIMEOUT = 120  # seconds: a case that blocks (a FIFO read, an endless file) fails instead of hanging the suite


def run_cli(argv: list[str]) -> tuple[int | None, list[str]]:
    """``main(argv)`` in a thread, with a timeout: its exit status (``None`` if it hung) and its warnings."""
    result: list[int] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        thread = threading.Thread(target=lambda: result.append(main(argv)), daemon=True)
        thread.start()
        thread.join(TIMEOUT)
    said = [f"{w.category.__name__}: {w.message}" for w in caught if not issubclass(w.category, DeprecationWarning)]
    return (result[0] if result else None), said


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with the digest of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A finished run and one interrupted after phase 1's first of two epochs, of the tiny backbone, made once."""
    root = tmp_path_factory.mktemp("corpus-runs")
    data = corpus.image_folder(root / "data")
    save_state = zoo.run.Run.save_state

    def save_then_interrupt(run, state):  # Ctrl-C once the first epoch's checkpoint is written
        save_state(run, state)
        if state.phase == 1 and state.epoch == 1:
            raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZOO_CACHE_DIR", str(root / "cache"))
        assert main([*corpus.TRAIN, "--data", str(data), "--out", str(root / "finished")]) == 0
        patch.setattr(zoo.run.Run, "save_state", save_then_interrupt)
        assert main([*corpus.TRAIN, "--epochs", "2", "--data", str(data), "--out", str(root / "interrupted")]) == 130
    assert {p.suffix for p in (root / "interrupted" / "checkpoints").iterdir()} == {".h5", ".npz"}
    return {"finished": root / "finished", "interrupted": root / "interrupted"}


@pytest.mark.parametrize("case", CASES)
def test_bad_input(case, runs, tiny_text, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    if case.needs:
        shutil.copytree(runs[case.needs], tmp_path / "run", symlinks=True)
    paths = case.make(tmp_path)
    argv = case.argv(tmp_path, paths)
    run_dir = Path(case.names(tmp_path, paths)["run"])
    before = snapshot(run_dir) if run_dir.is_dir() else None
    with monkeypatch.context() as env:
        for key, value in case.environ(tmp_path, paths).items():
            env.setenv(key, value)
        zoo.plugins.reset()
        code, warned = run_cli(argv)
    zoo.plugins.reset()
    _, err = capsys.readouterr()
    said = f"argv: {argv}\nexit: {code}\nstderr:\n{err[-3000:]}\nwarnings: {warned}"
    expect = case.expect

    assert code is not None, f"hung for {TIMEOUT} s\n{said}"
    assert code == expect.exit, said
    assert "Traceback" not in err, said
    errors = [line for line in err.splitlines() if line.startswith(("zoo: error:", "zoo: disk full"))]
    if expect.error is None:
        assert not errors, said
    else:
        assert len(errors) == 1 and re.search(expect.error, errors[0]), said
    if expect.warning is not None:
        lines = warned + err.splitlines()
        assert len([w for w in lines if re.search(expect.warning, w)]) == 1, said

    training = argv[0] == "train" and "--resume" not in argv
    out_dir = tmp_path / "out"
    if code != 0 and training:
        assert not out_dir.exists(), f"a refused zoo train left {sorted(out_dir.rglob('*'))}\n{said}"
    if code != 0 and before is not None:
        assert snapshot(run_dir) == before, f"a failed command changed {run_dir}\n{said}"
    if code == 0 and training:
        assert zoo.Run(out_dir).complete, said
        skipped = [Path(entry["path"]).name for entry in zoo.Run(out_dir).skipped]
        assert skipped == ([expect.skipped] if expect.skipped else []), said
