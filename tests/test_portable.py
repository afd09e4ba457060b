"""A model leaves the zoo intact: image models are built-in Keras layers, their ``model.keras`` loads
where backbone-zoo is not installed, predicts the same numbers, and trains again once loaded."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import zoo
import zoo.testing
from zoo.backbones import preprocessing_graph
from zoo.errors import RunError

# Runs in a fresh interpreter where importing any backbone-zoo module fails, as if it were not installed.
LOAD_WITHOUT_ZOO = textwrap.dedent(
    """
    import importlib.abc, sys

    class NoZoo(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "zoo" or name.startswith(("zoo.", "zoo_")):
                raise ModuleNotFoundError(f"No module named {name!r} (backbone-zoo is not installed here)")
            return None

    sys.meta_path.insert(0, NoZoo())
    import keras, numpy as np

    model = keras.saving.load_model(sys.argv[1], safe_mode=True)
    np.save(sys.argv[3], model.predict(np.load(sys.argv[2]), verbose=0))
    print(sorted(name for name in sys.modules if name == "zoo" or name.startswith(("zoo.", "zoo_"))))
    """
)


@pytest.fixture
def tiny():
    zoo.testing.register_plugin(zoo.testing, keep_installed=True)  # the autouse fixture resets it


def _pixels(n=6, size=32, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3)).astype("float32")


def _predict_without_zoo(path, pixels, tmp_path):
    np.save(tmp_path / "x.npy", pixels)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", LOAD_WITHOUT_ZOO, str(path), str(tmp_path / "x.npy"),
                             str(tmp_path / "y.npy")], capture_output=True, text=True, env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"  # no zoo module was imported
    return np.load(tmp_path / "y.npy")


def _layer_packages(model):
    """The top-level packages of every layer class inside ``model``, nested models included."""
    found = set()
    for layer in model._flatten_layers(include_self=False, recursive=True):
        found.add(type(layer).__module__.split(".")[0])
    return found


@pytest.mark.parametrize("name", ["tiny_image", "tiny_image_caffe"])
@pytest.mark.slow
def test_an_image_run_loads_and_predicts_identically_without_the_zoo(tiny, name, tmp_path):
    from tests.test_run import saved_training_state

    x, y = _pixels(24), np.array(["cat", "dog", "fox"] * 8)
    run = zoo.train(name, (x, y), weights=None, epochs=2, fine_tune=1, fine_tune_epochs=1, out=tmp_path / "run",
                    verbose=0)  # fmt: skip
    assert saved_training_state(run.path / "model.keras") == ([], {})  # fine-tuned, deployed without Adam's state
    assert run.load_requirements == ["keras"]
    expected = run.model.predict(_pixels(), verbose=0)
    np.testing.assert_array_equal(_predict_without_zoo(run.path / "model.keras", _pixels(), tmp_path), expected)


# keras-applications, keras-cv and keras-hub runs: their cards and plain-Keras loads where the zoo cannot be
# imported are cells of the capability matrix (tests/test_capabilities.py, "plain Keras load").


@pytest.mark.parametrize("name", ["resnet50", "mobilenet_v3_small", "densenet121", "efficientnet_b0"])
def test_keras_applications_models_hold_only_keras_layers(name):
    model = zoo.build(name, num_classes=3, weights=None, input_shape=32)
    assert _layer_packages(model) == {"keras"}


@pytest.mark.parametrize(
    "preprocessing",
    [
        zoo.Preprocessing.caffe(),
        zoo.Preprocessing.tf(),
        zoo.Preprocessing.torch(),
        zoo.Preprocessing.raw("inside"),
        zoo.Preprocessing(mode="custom", channel_order="bgr", scale=0.5, offset=3.0, mean=(1, 2, 3), std=(2, 4, 8)),
    ],
    ids=["caffe", "tf", "torch", "none", "custom"],
)
def test_preprocessing_is_the_declared_affine_map(preprocessing):
    pixels = _pixels(2, 4)
    inputs = keras.Input((4, 4, 3))
    got = keras.Model(inputs, preprocessing_graph(inputs, preprocessing)).predict(pixels, verbose=0)
    x = pixels.astype("float64")
    if preprocessing.channel_order == "bgr":
        x = x[..., ::-1]
    x = x * preprocessing.scale + preprocessing.offset
    x = x - np.array(preprocessing.mean or 0.0)
    x = x / np.array(preprocessing.std or 1.0)
    np.testing.assert_allclose(got, x, rtol=1e-5, atol=1e-4)


def test_a_loaded_model_keeps_its_config_and_a_plain_keras_save_loses_only_that(tiny, tmp_path):
    model = zoo.build("tiny_image", num_classes=2, weights=None)
    zoo.save_model(model, tmp_path / "zoo.keras")
    assert zoo.load_model(tmp_path / "zoo.keras").zoo_config == model.zoo_config
    model.save(tmp_path / "plain.keras")
    plain = zoo.load_model(tmp_path / "plain.keras")
    assert not hasattr(plain, "zoo_config")
    with pytest.raises(zoo.ConfigError, match="made by zoo.build"):
        zoo.train(plain, (_pixels(8), np.array([0, 1] * 4)), epochs=1, out=tmp_path / "r", verbose=0)
    assert not (tmp_path / "r").exists()


def test_a_damaged_model_file_is_one_clear_error(tmp_path):
    (tmp_path / "model.keras").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(RunError, match=r"is damaged \(not a complete .keras archive"):
        zoo.load_model(tmp_path / "model.keras")
    with pytest.raises(RunError, match="No saved model"):
        zoo.load_model(tmp_path / "missing")


def test_the_model_config_inside_model_keras_is_json(tiny, tmp_path):
    import zipfile

    model = zoo.build("tiny_image", num_classes=2, weights=None, head="flatten", dropout=0.25)
    zoo.save_model(model, tmp_path / "m.keras")
    record = json.loads(zipfile.ZipFile(tmp_path / "m.keras").read("zoo.json"))
    assert record["backbone"] == "tiny_image" and record["head"] == "flatten" and record["dropout"] == 0.25
    assert record["parts"]["network"] in [layer.name for layer in model.layers]


LAYER_MODULE = """
import keras

class Halve(keras.layers.Layer):
    def call(self, x):
        return x / 2
"""


def test_a_layer_of_a_distribution_installed_meanwhile_is_named_in_the_load_requirements(tmp_path, monkeypatch):
    """The installed distributions are read once and read again after an install: one in the same folder too."""
    from zoo.run.models import load_requirements

    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))

    def installed_layer(dist):
        module = dist.replace("-", "_")
        (site / f"{module}.py").write_text(LAYER_MODULE)
        info = site / f"{module}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        (info / "top_level.txt").write_text(f"{module}\n")
        inputs = keras.Input((2,))
        return keras.Model(inputs, __import__(module).Halve()(inputs))

    assert load_requirements(installed_layer("first-layers")) == ["backbone-zoo", "first-layers", "keras"]
    assert load_requirements(installed_layer("second-layers")) == ["backbone-zoo", "keras", "second-layers"]
