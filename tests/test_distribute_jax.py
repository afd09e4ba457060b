"""Keras' own multi-device and multi-host path, JAX: DataParallel over two forced host devices, and a job of
two processes joined by jax.distributed on 127.0.0.1, end to end through the CLI, killed and resumed.

The processes compute what one device computes with the same global batch; only the chief writes the run
directory; the feature cache is extracted in shards, one per process, and assembled.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import jax  # noqa: F401  (in the test extra: missing, these tests fail rather than skip)
import numpy as np
import pytest
from PIL import Image
from servers import free_port

import zoo
from zoo.cache import FeatureCache
from zoo.data import load_dataset
from zoo.distribute import Placement
from zoo.features import cached_extract, extract
from zoo.run import RunState, WorkerView
from zoo.testing import TINY_IMAGE

OPTIONS = [
    "--backbone",
    TINY_IMAGE,
    "--weights",
    "none",
    "--epochs",
    "2",
    "--fine-tune",
    "1",
    "--batch-size",
    "5",
]  # fmt: skip  (5 splits unevenly over two processes: every batch is padded)


@pytest.fixture(scope="module", autouse=True)
def _compile_once(tmp_path_factory):
    """One JAX compilation cache for the processes these tests start: a program that one compiled (the reference
    run, the job that is killed) is loaded by the next instead of compiled again, which is most of their time."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path_factory.mktemp("jax-compilation-cache")))
        patch.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
        patch.setenv("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
        yield


# XLA's code generation without LLVM's costly optimisations: a third less CPU for these small programs, which
# compiling dominates, and the same code for the one-device run and the job that must match it.
FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"


def _env(tmp_path, **extra):
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3", "ZOO_CACHE_DIR": str(tmp_path / "cache")}
    return {**env, "XLA_FLAGS": FAST_COMPILE, **extra}


def _workers(tmp_path, *args):
    """Start the two processes of a job running ``zoo ARGS``; stdout of each goes to a file beside the data."""
    address, processes = f"127.0.0.1:{free_port()}", []
    for index in range(2):
        env = _env(tmp_path, JAX_COORDINATOR_ADDRESS=address, JAX_NUM_PROCESSES="2", JAX_PROCESS_ID=str(index))
        log = open(tmp_path / f"process{index}.log", "w")  # closed when this test process ends
        command = [sys.executable, "-m", "zoo", *map(str, args)]
        processes.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))
    return processes


def _wait(processes, tmp_path, timeout=300):
    for index, process in enumerate(processes):
        assert process.wait(timeout) == 0, (tmp_path / f"process{index}.log").read_text()[-3000:]
    return [(tmp_path / f"process{i}.log").read_text() for i in range(len(processes))]


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    for label in ("a", "b", "c"):
        (tmp_path / "data" / label).mkdir(parents=True)
        for i in range(11):
            pixels = np.clip(rng.normal(60 + 60 * "abc".index(label), 40, (32, 32, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "data" / label / f"{i}.png")
    return tmp_path / "data"


def _relative_difference(a, b):
    return max(float(np.abs(x - y).max() / max(np.abs(x).max(), 1e-12)) for x, y in zip(a, b, strict=True))


@pytest.mark.slow
def test_two_processes_train_like_one_device_and_only_the_chief_writes(images, tmp_path):
    one = tmp_path / "one-device"
    single = [sys.executable, "-m", "zoo", "train", *OPTIONS, "--data", images, "--distribute", "none", "--out", one]
    result = subprocess.run(list(map(str, single)), env=_env(tmp_path / "single"), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]

    out = tmp_path / "run"
    logs = _wait(_workers(tmp_path, "train", *OPTIONS, "--data", images, "--distribute", "multi-worker",
                          "--out", out), tmp_path)  # fmt: skip
    assert "run directory" in logs[0] and "the chief (process 0) writes" in logs[1]
    run, reference = zoo.Run(out), zoo.Run(one)
    assert run.complete and run.train_config.distribution == "multi-worker"
    assert _relative_difference(reference.model.get_weights(), run.model.get_weights()) <= 1e-4
    assert run.metrics["accuracy"] == reference.metrics["accuracy"]
    assert [(r["phase"], r["epoch"]) for r in run.history] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    for mine, theirs in zip(run.history, reference.history, strict=True):  # every batch padded: still exact
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert abs(mine[key] - theirs[key]) <= 1e-5 * max(abs(theirs[key]), 1), (key, mine, theirs)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in one.iterdir())  # nothing extra
    entries = sorted(p.name for p in (tmp_path / "cache").glob("*.npy"))
    assert len(entries) == 2  # the training and validation features, assembled; the shards are gone

    export = [sys.executable, "-m", "zoo", "export", str(out), "--format", "savedmodel"]
    refused = subprocess.run(export, env=_env(tmp_path), capture_output=True, text=True)  # still KERAS_BACKEND=jax
    assert refused.returncode == 2 and "zoo export needs the TensorFlow backend" in refused.stderr


@pytest.mark.slow
@pytest.mark.parametrize("differ", ["epochs", "labels"])
def test_processes_started_with_different_options_are_refused_before_anything_is_written(images, tmp_path, differ):
    out = tmp_path / "run"
    rows = [(f"{label}/{i}.png", label) for label in "abc" for i in range(11)]
    swapped = [("a/0.png", "b"), ("b/0.png", "a")] + [row for row in rows if row[0] not in ("a/0.png", "b/0.png")]
    manifests = [tmp_path / "data" / "labels.csv", tmp_path / "data" / "swapped.csv"]  # the same files
    for manifest, table in zip(manifests, (rows, swapped), strict=True):
        manifest.write_text("path,label\n" + "".join(f"{path},{label}\n" for path, label in table))
    address = f"127.0.0.1:{free_port()}"
    processes = []
    for index in range(2):  # a typo on one host: another epoch count, or labels
        data = manifests[index] if differ == "labels" else manifests[0]
        epochs = str(2 + index) if differ == "epochs" else "2"
        args = ["train", *OPTIONS, "--data", data, "--distribute", "multi-worker", "--out", out, "--epochs", epochs]
        env = _env(tmp_path, JAX_COORDINATOR_ADDRESS=address, JAX_NUM_PROCESSES="2", JAX_PROCESS_ID=str(index))
        command = [sys.executable, "-m", "zoo", *map(str, args)]
        processes.append(subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True))
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 2, stderr[-2000:]
        assert "differ in their options, data or run directory: start every process with the same" in stderr
    assert not out.exists()


@pytest.mark.slow
def test_a_killed_process_and_the_same_command_again_finish_the_run(images, tmp_path):
    out, epochs = tmp_path / "run", 5  # the kill comes within 50 ms of the first checkpoint of phase 2
    command = ["train", *OPTIONS, "--epochs", "1", "--fine-tune-epochs", epochs,
               "--patience", "100", "--data", images, "--distribute", "multi-worker", "--out", out]  # fmt: skip
    chief, worker = _workers(tmp_path, *command)
    state, deadline = out / "state.json", time.time() + 300
    while time.time() < deadline and chief.poll() is None:
        if (
            state.exists()
            and json.loads(state.read_text()).get("phase") == 2
            and json.loads(state.read_text())["epoch"]
        ):
            break
        time.sleep(0.05)
    assert chief.poll() is None, (tmp_path / "process0.log").read_text()[-3000:]
    worker.send_signal(signal.SIGKILL)
    # JAX stops the chief once the worker misses its heartbeats (100 s); a scheduler stops it at once.
    chief.send_signal(signal.SIGKILL)
    chief.wait(), worker.wait()
    done = json.loads(state.read_text())
    assert done["phase"] == 2 and 1 <= done["epoch"] < epochs and not (out / "model.keras").exists()

    logs = _wait(_workers(tmp_path, *command), tmp_path)  # the same command again
    assert "resuming it from its last checkpoint" in logs[0]
    history = zoo.Run(out).history
    assert [r["epoch"] for r in history if r["phase"] == 2] == list(range(1, epochs + 1))  # nothing redone or lost
    assert zoo.Run(out).complete and zoo.load_model(out).output_shape == (None, 3)


# On two forced host devices, "mirrored" is keras.distribution.DataParallel: fine-tuning, then extraction (13
# images in batches of 4: the last one padded), each on one device and on both; a JSON line each.
DATA_PARALLEL = """if True:
    import json, sys
    import numpy as np, zoo
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (50, 32, 32, 3)).astype("uint8"), np.array(["a", "b"] * 25)
    weights = {}
    for distribution in ("none", "mirrored"):
        run = zoo.train("tiny_image", (x, y), weights=None, epochs=2, fine_tune=2, batch_size=8, verbose=0,
                        distribution=distribution, out=f"{sys.argv[1]}/{distribution}")
        weights[distribution] = run.model.get_weights()
    diff = max(float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-12))
               for a, b in zip(weights["none"], weights["mirrored"]))
    replicas = zoo.distribute.resolve("mirrored").replicas
    print(json.dumps({"replicas": replicas, "relative": diff}))

    x = np.random.default_rng(0).integers(0, 256, (13, 32, 32, 3), dtype=np.uint8)
    model = zoo.backbone("tiny_image", weights=None)
    one, mirrored = (zoo.extract(model, x, batch_size=4, distribution=d, verbose=0) for d in ("none", "mirrored"))
    print(json.dumps({"replicas": replicas, "relative": float(np.abs(one - mirrored).max() / np.abs(one).max())}))
"""


@pytest.fixture(scope="module")
def data_parallel(tmp_path_factory):
    """What DATA_PARALLEL says, run once for the module in a fresh process: the fine-tuning, the extraction."""
    folder = tmp_path_factory.mktemp("data-parallel")
    env = _env(folder, XLA_FLAGS=f"{FAST_COMPILE} --xla_force_host_platform_device_count=2")
    result = subprocess.run([sys.executable, "-c", DATA_PARALLEL, folder], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    fine_tuning, extraction = (json.loads(line) for line in result.stdout.splitlines() if line.startswith("{"))
    return {"fine-tuning": fine_tuning, "extraction": extraction}


@pytest.mark.slow
def test_data_parallel_fine_tuning_on_two_devices_matches_one(data_parallel):
    report = data_parallel["fine-tuning"]
    assert report["replicas"] == 2 and report["relative"] <= 1e-4, report


@pytest.mark.slow
def test_data_parallel_extraction_on_two_devices_matches_one(data_parallel):
    report = data_parallel["extraction"]
    assert report["replicas"] == 2 and report["relative"] <= 1e-5, report


class _Threads(Placement):
    """Two processes of a job, played by two threads of this one: the barrier is a threading.Barrier."""

    def barrier(self, name):
        self.meeting.wait(timeout=60)


def test_shards_extracted_by_each_process_assemble_into_the_one_cache_entry(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (7, 32, 32, 3)).astype("uint8")
    dataset = load_dataset((x, np.array([0, 1] * 3 + [0])))
    model = zoo.backbone(TINY_IMAGE, weights=None)
    cache, meeting, results = FeatureCache(tmp_path / "cache"), threading.Barrier(2), {}

    def process(index):
        placement = _Threads(None, process=index, processes=2)
        object.__setattr__(placement, "meeting", meeting)
        results[index] = np.array(cached_extract(model, dataset, cache, batch_size=3, placement=placement, verbose=0))

    threads = [threading.Thread(target=process, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    expected = extract(model, dataset, batch_size=3, verbose=0)
    np.testing.assert_allclose(results[0], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(results[0], results[1])
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1  # the shards were removed once assembled


def test_a_worker_reads_the_run_and_writes_nothing(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (12, 32, 32, 3)).astype("uint8")
    run = zoo.train(TINY_IMAGE, (x, np.array(["a", "b"] * 6)), weights=None, epochs=1, out=tmp_path / "run", verbose=0)
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(run.path.rglob("*")) if p.is_file()}
    view = WorkerView(run.path)
    assert not view.writes and view.read_state() == run.read_state() and view.class_names == run.class_names
    view.save_state(RunState(epoch=99))
    view.checkpoints.save_epoch(run.model, 1)
    view.checkpoints.save_best(1, [np.zeros(3)])
    view.checkpoints.save_optimizer(1, [np.zeros(3)])
    view.checkpoints.save_start(run.model)
    view.results.write_skipped([("x.png", "broken")])
    view.results.finish(run.model, {}, [], {})
    view.discard()
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(run.path.rglob("*")) if p.is_file()}
    assert after == before


def test_each_process_takes_an_equal_part_of_a_batch_weighted_to_the_batch_mean():
    parts = [Placement(None, process=i, processes=3).shard_rows(7) for i in range(3)]
    rows = np.concatenate([p[0] for p in parts])
    weights = np.concatenate([p[1] for p in parts])
    assert all(len(p[0]) == 3 for p in parts) and sorted(rows[weights > 0]) == list(range(7))
    losses = np.arange(7.0)[rows]
    assert np.isclose((weights * losses).sum() / weights.sum(), np.arange(7.0).mean())  # mean_with_sample_weight
    assert Placement(None).shard_rows(7) is None


def test_multi_worker_on_tensorflow_is_refused_with_the_reason():
    with pytest.raises(zoo.ConfigError, match="keras-team/keras#20585.*KERAS_BACKEND=jax"):
        zoo.distribute.resolve("multi-worker")
