"""Training on several local devices through tf.distribute: the same numbers as one device, and a run
that evaluates and exports like any other. Two logical CPU devices stand in for two accelerators."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import zoo
from zoo.config import TrainConfig
from zoo.distribute import resolve

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

SAME_NUMBERS = textwrap.dedent(
    """
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (60, 32, 32, 3)).astype("uint8")
    y = np.array(["a", "b", "c"] * 20)
    weights, runs = {}, {}
    for distribution in ("none", "mirrored"):
        # 48 training examples in batches of 8: every global batch splits evenly over the replicas.
        runs[distribution] = zoo.train("tiny_image", (x, y), weights=None, epochs=2, fine_tune=2, batch_size=8,
                                       learning_rate=0.01, optimizer="sgd", shuffle=False, distribution=distribution,
                                       out=f"{sys.argv[1]}/{distribution}", verbose=0,
                                       cache_dir=f"{sys.argv[1]}/cache-{distribution}")
        weights[distribution] = runs[distribution].model.get_weights()
    relative = max(float(np.abs(a - b).max() / np.abs(a).max()) for a, b in zip(weights["none"], weights["mirrored"]))
    print(json.dumps({"replicas": zoo.distribute.resolve("mirrored").replicas, "relative": relative,
                      "second": [runs["mirrored"].complete, len(runs["mirrored"].history)]}))
    """
)

# `zoo train ARGS` (2 classes, 20 images, batches of 4), then SAME_NUMBERS in the same process: its mirrored run
# (3 classes, 60 examples, batches of 8) is the process's second mirrored training, of other shapes.
TRAIN_THEN_SAME_NUMBERS = (
    TWO_DEVICES
    + textwrap.dedent(
        """
        from zoo.cli import main
        main(sys.argv[2:]) and sys.exit(1)
        """
    )
    + SAME_NUMBERS
)
# zoo commands one after another in a new process (sys.argv[1]: a JSON list of argument lists; the first that
# fails ends it).
COMMANDS = TWO_DEVICES + textwrap.dedent(
    """
        from zoo.cli import main
        for argv in json.loads(sys.argv[1]):
            main(argv) and sys.exit(1)
        """
)


def _python(code, *args, tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}
    env["ZOO_CACHE_DIR"] = str(tmp_path / "cache")
    result = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory):
    """data/ (20 images) and run/, trained on it by `zoo train --distribute mirrored`, then SAME_NUMBERS' line from
    the same process; and what `zoo evaluate --json` and `zoo export` of run/ say in a new process."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("mirrored")
    for label in ("a", "b"):
        (folder / "data" / label).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(np.full((32, 32, 3), i * 20 + (label == "a") * 50, np.uint8)).save(
                folder / "data" / label / f"{i}.png"
            )
    out = folder / "run"
    train = ["train", "--backbone", "tiny_image", "--weights", "none", "--data", folder / "data", "--epochs", "2",
             "--fine-tune", "1", "--batch-size", "4", "--distribute", "mirrored", "--out", out]  # fmt: skip
    trained = _python(TRAIN_THEN_SAME_NUMBERS, folder, *train, tmp_path=folder)
    evaluate = ["evaluate", str(out), "--data", str(folder / "data"), "--json"]
    export = ["export", str(out), "--format", "savedmodel", "--quiet"]
    said = _python(COMMANDS, json.dumps([evaluate, export]), tmp_path=folder)
    metrics, _ = json.JSONDecoder().raw_decode(said)  # evaluate's JSON, then export's line
    return {"out": out, "metrics": metrics, "same numbers": json.loads(trained.strip().splitlines()[-1])}


@pytest.mark.slow
def test_mirrored_fine_tuning_matches_one_device(mirrored):
    result = mirrored["same numbers"]
    assert result["replicas"] == 2
    assert result["relative"] <= 1e-4, result


@pytest.mark.slow
def test_a_second_mirrored_training_in_one_process_trains(mirrored):
    """Each mirrored run of a process shares its one MirroredStrategy: a new one failed at the first step."""
    assert mirrored["same numbers"]["second"] == [True, 4]


@pytest.mark.slow
def test_a_mirrored_cli_run_evaluates_and_exports(mirrored):
    out = mirrored["out"]
    run = zoo.Run(out)
    assert run.complete and run.train_config.distribution == "mirrored"
    assert [row["phase"] for row in run.history] == [1, 1, 2, 2]
    assert mirrored["metrics"]["n"] == 20  # evaluated and exported in a new process
    assert (out / "exports" / "savedmodel" / "saved_model.pb").exists()


def test_auto_uses_one_device_without_several_accelerators():
    assert resolve("auto").engine is None and resolve("none").replicas == 1


def test_a_distribution_is_checked_and_recorded():
    with pytest.raises(zoo.ConfigError, match="distribution must be one of"):
        TrainConfig(distribution="everywhere")
    import tensorflow as tf

    config = TrainConfig(distribution=tf.distribute.OneDeviceStrategy("/cpu:0"))
    assert config.to_dict()["distribution"] == "strategy:OneDeviceStrategy"
    recorded = TrainConfig(**config.to_dict())  # what resume reads back
    with pytest.raises(zoo.ConfigError, match="pass it again, zoo.resume"):
        resolve(recorded.distribution)
