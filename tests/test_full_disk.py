"""A full disk: the zoo checks the space before large writes, ends with one line "disk full: N MB needed at
PATH" and exit status 1, leaves nothing half-written, and cleans what a dead writer left at the next start.

The disk is a small tmpfs where this machine lets the tests mount one (root), else those tests skip; the
orphan cleaning needs no mount. `make test`'s summary says whether the tests on a full disk ran (tests/conftest.py).
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import zoo
import zoo.files
from zoo.cache import FeatureCache
from zoo.errors import DiskFullError
from zoo.run import Run
from zoo.testing import TINY_IMAGE

FILL = """if True:
    import sys
    from zoo.cache import FeatureCache
    from zoo.errors import DiskFullError
    def fill(out): out[:] = 1.0
    try:
        FeatureCache(sys.argv[1]).get_or_compute("k", (1000, 1000), fill)  # 4 MB
    except DiskFullError as err:
        print(err)
        sys.exit(1)
"""


@pytest.mark.full_disk
def test_a_cache_entry_larger_than_the_disk_is_refused_not_a_bus_error(small_disk):
    result = subprocess.run([sys.executable, "-c", FILL, str(small_disk / "cache")], capture_output=True, text=True)
    assert result.returncode == 1, result.stderr[-2000:]  # was 135, SIGBUS, from the memory-mapped write
    assert result.stdout.startswith("disk full: 4 MB needed at ")
    assert sorted(p.name for p in (small_disk / "cache").iterdir()) == ["k.lock"]  # no orphan .npy


@pytest.mark.full_disk
@pytest.mark.slow
def test_a_run_on_a_full_disk_ends_in_one_line_and_exit_1(small_disk, tmp_path):
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (tmp_path / "data" / label).mkdir(parents=True)
        for i in range(8):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
                tmp_path / "data" / label / f"{i}.png"
            )
    out = small_disk / "run"
    command = [sys.executable, "-m", "zoo", "train", "--backbone", TINY_IMAGE, "--weights", "none", "--data",
               str(tmp_path / "data"), "--epochs", "1", "--out", str(out)]  # fmt: skip
    env = {**os.environ, "ZOO_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    assert result.returncode == 1, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("zoo:")]
    assert len(lines) == 1 and lines[0].startswith("zoo: disk full: ") and "MB needed at " in lines[0], lines
    assert "Traceback" not in result.stderr
    assert not out.exists()  # it failed before its first checkpoint: nothing half-made is left


def test_what_dead_writers_left_is_removed_at_the_next_start(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / ".0123abcd0123abcd0123abcd0123abcd.1a2b3c4d.npy").write_bytes(b"half an entry")
    (cache / "other.npy").write_bytes(b"not ours to judge")
    FeatureCache(cache)
    assert sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock")) == ["other.npy"]

    x = np.random.default_rng(0).integers(0, 256, (12, 32, 32, 3)).astype("uint8")
    y = np.array(["a", "b"] * 6)
    run = zoo.train(TINY_IMAGE, (x, y), weights=None, epochs=1, out=tmp_path / "run", verbose=0)
    checkpoints = run.path / "checkpoints"
    checkpoints.mkdir()
    (checkpoints / ".phase2.weights.0a1b2c3d.weights.h5").write_bytes(b"half a checkpoint")
    Run(run.path).checkpoints.remove_orphans()
    assert not list(checkpoints.iterdir())


def test_a_checkpoint_that_cannot_fit_is_refused_before_h5py_writes_it(tmp_path, monkeypatch):
    x = np.random.default_rng(0).integers(0, 256, (12, 32, 32, 3)).astype("uint8")
    run = zoo.train(TINY_IMAGE, (x, np.array(["a", "b"] * 6)), weights=None, epochs=1, out=tmp_path / "r", verbose=0)
    monkeypatch.setattr(zoo.files, "SPACE_MARGIN", 1 << 62)  # a disk with less free than that: every one
    with pytest.raises(DiskFullError, match=r"disk full: \d+ MB needed at .*phase1.weights.h5 \(\d+ MB free\)"):
        run.checkpoints.save_epoch(run.model, 1)
    assert not (run.path / "checkpoints").exists()
