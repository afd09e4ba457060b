"""zoo.extract and zoo rank on several local devices: the same features and scores as one device; several
hosts refused with a pointer to the trainer. Two logical CPU devices stand in for two accelerators.

The same on JAX (DataParallel over two forced host devices) is test_distribute_jax.py's
test_data_parallel_extraction_on_two_devices_matches_one, in the process that fine-tunes there."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import zoo
from zoo.testing import TINY_IMAGE

# Two logical CPU devices must exist before TensorFlow starts, so these tests run in a subprocess.
TWO_DEVICES = textwrap.dedent(
    """
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import sys, json
    import numpy as np
    import zoo
    """
)

# `replicas`: how many replicas each extraction splits its batches over.
SPY = textwrap.dedent(
    """
    import zoo.features
    replicas, run = [], zoo.features._run
    def spy(model, *args):
        replicas.append(model.distribute_strategy.num_replicas_in_sync)
        return run(model, *args)
    zoo.features._run = spy
    """
)
PRELUDE = TWO_DEVICES + SPY

# 13 images in batches of 4: the last batch (1 image, padded to 4) still splits over the two replicas.
SAME_FEATURES = textwrap.dedent(
    """
    import keras
    x = np.random.default_rng(0).integers(0, 256, (13, 32, 32, 3), dtype=np.uint8)
    features = {}
    for distribution in ("none", "mirrored"):
        keras.utils.set_random_seed(0)  # weights=None: the same random backbone both times
        features[distribution] = zoo.extract("tiny_image", x, weights=None, batch_size=4,
                                             distribution=distribution, verbose=0)
    model = zoo.backbone("tiny_image", weights=None)  # a model object: rebuilt in the strategy's scope
    for distribution in ("none", "mirrored"):
        features["model-" + distribution] = zoo.extract(model, x, batch_size=4, distribution=distribution, verbose=0)

    def relative(a, b):
        return float(np.abs(features[a] - features[b]).max() / np.abs(features[a]).max())
    print(json.dumps({"replicas": replicas, "shape": features["mirrored"].shape,
                      "name": relative("none", "mirrored"), "model": relative("model-none", "model-mirrored")}))
    """
)

SAME_SCORES = textwrap.dedent(
    """
    replicas.clear()
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (30, 32, 32, 3), dtype=np.uint8)
    y = np.array(["a", "b", "c"] * 10)
    scores = {}
    for distribution in ("none", "mirrored"):  # a cache each: the second must compute its features again
        (result,) = zoo.rank((x, y), "tiny_image", weights=None, batch_size=4, folds=3,
                             cache_dir=f"{sys.argv[1]}/cache-{distribution}", distribution=distribution, verbose=0)
        scores[distribution] = [result.error, result.logme, result.probe]
    print(json.dumps({"replicas": replicas, **scores}))
    """
)
# Both in one fresh process (each imports TensorFlow): the features' JSON line, then the scores'.
FEATURES_THEN_SCORES = PRELUDE + SAME_FEATURES + SAME_SCORES


def _python(code, *args, tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}
    env["ZOO_CACHE_DIR"] = str(tmp_path / "cache")
    result = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def on_two_devices(tmp_path_factory):
    """What FEATURES_THEN_SCORES prints: the features compared, then the scores."""
    folder = tmp_path_factory.mktemp("two-devices")
    features, scores = _python(FEATURES_THEN_SCORES, folder, tmp_path=folder)
    return {"features": features, "scores": scores}


@pytest.mark.slow  # a fresh process importing TensorFlow or JAX
def test_mirrored_extraction_matches_one_device(on_two_devices):
    result = on_two_devices["features"]
    assert result["replicas"] == [1, 2, 1, 2], result
    assert result["shape"] == [13, 16]
    assert result["name"] <= 1e-5 and result["model"] <= 1e-5, result


@pytest.mark.slow  # a fresh process importing TensorFlow or JAX
def test_mirrored_ranking_matches_one_device(on_two_devices):
    scores = on_two_devices["scores"]
    assert scores["replicas"] == [1, 2], scores
    (error, logme, probe), mirrored = scores["none"], scores["mirrored"]
    assert error is None and mirrored[0] is None, scores
    assert mirrored[1:] == pytest.approx([logme, probe], rel=1e-5)


def test_several_hosts_and_unknown_names_are_refused():
    x = np.zeros((2, 32, 32, 3), np.uint8)
    with pytest.raises(zoo.ConfigError, match=r"one host: .*zoo train --distribute multi-worker"):
        zoo.extract(TINY_IMAGE, x, weights=None, distribution="multi-worker", verbose=0)
    with pytest.raises(zoo.ConfigError, match=r"one host: .*zoo train --distribute multi-worker"):
        zoo.rank((x, [0, 1]), TINY_IMAGE, weights=None, folds=2, distribution="multi-worker", verbose=0)
    with pytest.raises(zoo.ConfigError, match="distribution must be one of"):
        zoo.extract(TINY_IMAGE, x, weights=None, distribution="everywhere", verbose=0)


def test_rank_command_refuses_an_unknown_distribution_before_tensorflow_loads(tmp_path):
    code = (
        "import sys; from zoo.cli import main; code = main(sys.argv[1:]); "
        "print('heavy:', sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)); sys.exit(code)"
    )
    args = ["rank", "--data", tmp_path, "--backbones", TINY_IMAGE, "--distribute", "nonsense"]
    result = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "zoo: error: --distribute must be one of auto, none, mirrored, got 'nonsense' "
        "(several hosts: zoo train --distribute multi-worker)"
    ]
    assert "heavy: []" in result.stdout
