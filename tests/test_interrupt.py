"""Ctrl-C at any stage of `zoo train` stops within seconds, exits 130, and the same command again finishes
the run (from its last checkpoint once there is one)."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from zoo.testing import TINY_IMAGE

pytestmark = pytest.mark.slow  # fresh processes importing TensorFlow


@pytest.fixture(scope="module")
def many_images(tmp_path_factory):
    """Enough files that checking them takes a few seconds (a progress bar shows above 200)."""
    root = tmp_path_factory.mktemp("many")
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (root / label).mkdir()
        for i in range(1500):
            Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)).save(root / label / f"{i}.png")
    return root


def _ctrl_c_on():
    """In the child: SIGINT at its default, so Python turns it into KeyboardInterrupt even when the tests run
    where it is ignored (a background job of a shell without job control, as `make test &` in a script)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _reached(stage, stderr, state):
    if stage == "scan":
        return "checking images" in stderr.read_text()
    if stage == "extraction":  # a cache entry being written: its key's lock exists, its array not yet
        cache = state.parent.parent / "cache"
        return any(cache.glob("*.lock")) and not any(p for p in cache.glob("*.npy") if not p.name.startswith("."))
    progress = json.loads(state.read_text()) if state.exists() else {}
    return progress.get("phase") == int(stage[-1]) and progress.get("epoch", 0) >= 1


@pytest.mark.parametrize("stage", ["scan", "extraction", "phase1", "phase2"])
def test_ctrl_c_stops_within_seconds_and_the_run_resumes(many_images, tmp_path, stage):
    out, stderr = tmp_path / "run", tmp_path / "stderr.txt"
    command = [sys.executable, "-m", "zoo", "train", "--backbone", TINY_IMAGE, "--weights", "none",
               "--data", str(many_images), "--epochs", "3", "--fine-tune", "1", "--batch-size", "64",
               "--out", str(out)]  # fmt: skip
    env = {**os.environ, "ZOO_CACHE_DIR": str(tmp_path / "cache")}
    with open(stderr, "w") as errors:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=errors, preexec_fn=_ctrl_c_on)
        deadline = time.time() + 600
        while process.poll() is None and time.time() < deadline and not _reached(stage, stderr, out / "state.json"):
            time.sleep(0.05)
        assert process.poll() is None, f"the run ended before {stage}: {stderr.read_text()[-2000:]}"
        process.send_signal(signal.SIGINT)
        start = time.time()
        code = process.wait(60)
    assert code == 130 and time.time() - start < 10, (code, stderr.read_text()[-2000:])
    assert "zoo: interrupted" in stderr.read_text() and "Traceback" not in stderr.read_text()

    again = subprocess.run(command, env=env, capture_output=True, text=True)  # the same command again
    assert again.returncode == 0, again.stderr[-2000:]
    history = json.loads((out / "state.json").read_text())["history"]
    assert [(row["phase"], row["epoch"]) for row in history] == [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)]
