"""The feature cache under concurrent writers: real processes sharing one cache folder, no mocks.

Each child is ``sys.executable -c SCRIPT`` with its arguments on the command line; it reports
through files in a work folder (``ready<i>`` for a start barrier, ``call<i>`` when it computes).
"""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import zoo
import zoo.testing
from zoo.cache import FeatureCache
from zoo.data import load_dataset
from zoo.features import cached_extract

SHAPE = (256, 64)
SLOW_COMPUTE_S = 1.0

# Both children reach get_or_compute within milliseconds of each other (the ready-file barrier);
# each computes slowly and writes values no other child writes.
SAME_KEY = """
import sys, time
from pathlib import Path
import numpy as np
from zoo.cache import FeatureCache

root, work, me = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
(work / f"ready{me}").touch()
while len(list(work.glob("ready*"))) < 2:
    time.sleep(0.002)

def compute(out):
    (work / f"call{me}").touch()
    time.sleep(SLOW_COMPUTE_S)
    out[:] = np.arange(out.size, dtype=out.dtype).reshape(out.shape) + 1e6 * me

np.save(work / f"result{me}.npy", FeatureCache(root).get_or_compute("key", SHAPE, compute))
"""

# A writer between its two renames, holding the key's lock: the new array is in place, the record
# beside it is still the previous writer's.
HALF_PUBLISHED = """
import os, sys, time
from pathlib import Path
from zoo.cache import FeatureCache

root, source, work = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
with FeatureCache(root).lock("key"):
    os.replace(source / "key.npy", root / "key.npy")
    (work / "published").touch()
    time.sleep(1.5)
    os.replace(source / "key.json", root / "key.json")
    (work / "recorded").touch()
"""

# A writer that takes the key's lock, says so, then is stopped (as by Ctrl-Z) by the test, holding it.
HOLDS_THE_LOCK = """
import sys, time
from pathlib import Path
from zoo.cache import FeatureCache

with FeatureCache(sys.argv[1]).lock("key"):
    (Path(sys.argv[2]) / "held").touch()
    time.sleep(600)
"""

# zoo.features.cached_extract with the tiny backbone and weights from one file, over the ranges given.
EXTRACT = """
import json, sys, time
from pathlib import Path
import numpy as np
import zoo, zoo.testing
from zoo.cache import FeatureCache
from zoo.data import load_dataset
from zoo.features import cached_extract

zoo.testing.register_plugin(zoo.testing, keep_installed=True)
root, work, me, ranges = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
x = np.load(work / "x.npy")
model = zoo.backbone("tiny_image", weights=str(work / "tiny.weights.h5"), input_shape=32)
(work / f"ready{me}").touch()
while len(list(work.glob("ready*"))) < 2:
    time.sleep(0.002)
for lo, hi in ranges:
    dataset = load_dataset((x[lo:hi], [i % 2 for i in range(lo, hi)]))
    cached_extract(model, dataset, FeatureCache(root), batch_size=8, verbose=0)
"""


def start(script: str, *args: object) -> subprocess.Popen:
    source = f"SHAPE = {SHAPE!r}\nSLOW_COMPUTE_S = {SLOW_COMPUTE_S!r}\n" + textwrap.dedent(script)
    return subprocess.Popen(
        [sys.executable, "-c", source, *map(str, args)],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(*processes: subprocess.Popen, timeout: float = 120) -> None:
    for process in processes:
        output, _ = process.communicate(timeout=timeout)
        assert process.returncode == 0, output


def leftovers(root: Path) -> list[str]:
    """Temporary files of a write (``.<key>.<random>.npy``): none once every writer is done."""
    return sorted(p.name for p in root.glob(".*"))


def test_two_processes_filling_one_key_compute_it_once(tmp_path):
    root, work = tmp_path / "cache", tmp_path / "work"
    work.mkdir()
    finish(*(start(SAME_KEY, root, work, me) for me in (1, 2)))

    callers = [int(p.name[len("call") :]) for p in work.glob("call*")]
    assert len(callers) == 1, "the second process must wait for the first one's entry, not compute it again"
    expected = np.arange(np.prod(SHAPE), dtype="float32").reshape(SHAPE) + 1e6 * callers[0]
    for me in (1, 2):
        np.testing.assert_array_equal(np.load(work / f"result{me}.npy"), expected)
    entry = FeatureCache(root).load("key", SHAPE)
    assert entry is not None
    np.testing.assert_array_equal(entry, expected)
    assert leftovers(root) == []


def test_a_reader_never_deletes_an_entry_being_published(tmp_path):
    root, source, work = tmp_path / "cache", tmp_path / "source", tmp_path / "work"
    work.mkdir()
    cache, calls = FeatureCache(root), []

    def fill(value):
        def compute(out):
            calls.append(value)
            out[:] = value

        return compute

    cache.get_or_compute("key", SHAPE, fill(1.0))  # the entry of an earlier writer
    FeatureCache(source).get_or_compute("key", SHAPE, fill(2.0))  # the next writer's pair, about to be moved in
    calls.clear()
    writer = start(HALF_PUBLISHED, root, source, work)
    deadline = time.monotonic() + 60
    while not (work / "published").exists():
        assert writer.poll() is None and time.monotonic() < deadline, writer.communicate()[0]
        time.sleep(0.005)

    # The new array beside the old record: a mismatch, but the lock is held, so nothing is deleted.
    assert cache.load("key", SHAPE) is None
    assert (root / "key.npy").exists() and (root / "key.json").exists()
    # get_or_compute waits for the lock and then reads the writer's entry: no computation.
    entry = cache.get_or_compute("key", SHAPE, fill(3.0))
    assert (work / "recorded").exists(), "get_or_compute returned before the writer released the lock"
    finish(writer)
    assert calls == []
    np.testing.assert_array_equal(entry, np.full(SHAPE, 2.0, "float32"))
    np.testing.assert_array_equal(cache.load("key", SHAPE), np.full(SHAPE, 2.0, "float32"))


@pytest.mark.slow  # two fresh processes importing TensorFlow
def test_two_processes_extracting_overlapping_data_match_one_process(tmp_path):
    root, work = tmp_path / "cache", tmp_path / "work"
    work.mkdir()
    x = np.random.default_rng(0).integers(0, 256, (60, 32, 32, 3), dtype=np.uint8)
    np.save(work / "x.npy", x)
    zoo.testing.build_tiny_image(None, weights=None, input_shape=(32, 32, 3)).save_weights(work / "tiny.weights.h5")
    shared, first, second = [0, 60], [0, 40], [20, 60]
    children = [start(EXTRACT, root, work, 1, [shared, first]), start(EXTRACT, root, work, 2, [shared, second])]

    # What one process computes, into a cache of its own (while the children run).
    model = zoo.backbone("tiny_image", weights=str(work / "tiny.weights.h5"), input_shape=32)
    alone = FeatureCache(tmp_path / "alone")
    for lo, hi in (shared, first, second):
        dataset = load_dataset((x[lo:hi], [i % 2 for i in range(lo, hi)]))
        cached_extract(model, dataset, alone, batch_size=8, verbose=0)
    finish(*children, timeout=300)

    keys = sorted(p.stem for p in alone.root.glob("*.npy"))
    assert len(keys) == 3
    assert sorted(p.stem for p in root.glob("*.npy")) == keys  # the same keys: one entry per dataset
    assert leftovers(root) == []
    for key in keys:
        features = np.load(alone.root / f"{key}.npy")
        entry = FeatureCache(root).load(key, features.shape)
        assert entry is not None, "an entry that does not verify"
        np.testing.assert_array_equal(entry, features)


@pytest.mark.slow  # waits 3 s for the lock, as asked
def test_a_lock_held_by_a_stopped_process_is_named_and_waited_for_as_long_as_asked(tmp_path, monkeypatch, capsys):
    root, work = tmp_path / "cache", tmp_path / "work"
    work.mkdir()
    holder = start(HOLDS_THE_LOCK, root, work)
    try:
        deadline = time.monotonic() + 60
        while not (work / "held").exists():
            assert holder.poll() is None and time.monotonic() < deadline, holder.communicate()[0]
            time.sleep(0.01)
        holder.send_signal(signal.SIGSTOP)
        monkeypatch.setenv("ZOO_LOCK_TIMEOUT", "3")
        started = time.monotonic()
        with pytest.raises(zoo.BusyError) as refused:
            FeatureCache(root).get_or_compute("key", SHAPE, lambda out: None)
        assert 3 <= time.monotonic() - started < 10
        stopped = f"process {holder.pid} (stopped, as by Ctrl-Z: `kill -CONT {holder.pid}`"
        assert str(refused.value).startswith(f"gave up after 3 s waiting for {stopped}")
        assert "ZOO_LOCK_TIMEOUT" in str(refused.value)
        said = capsys.readouterr().err.splitlines()
        assert len(said) == 1 and said[0].startswith(f"waiting for {stopped}")  # within seconds, then quiet
        monkeypatch.setenv("ZOO_LOCK_TIMEOUT", "not a number")
        with pytest.raises(zoo.ConfigError, match="ZOO_LOCK_TIMEOUT='not a number' is not a number of seconds"):
            FeatureCache(root).get_or_compute("key", SHAPE, lambda out: None)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    monkeypatch.delenv("ZOO_LOCK_TIMEOUT")  # unset: waits as long as it takes; the holder is gone, so not at all
    np.testing.assert_array_equal(FeatureCache(root).get_or_compute("key", SHAPE, lambda out: out.fill(1)), 1)
