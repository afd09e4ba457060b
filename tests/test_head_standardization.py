"""The head standardises its input features: features of any scale train, and the trainer agrees with the
linear probe of ``zoo rank`` on the same features. A run that learns nothing says so."""

import dataclasses
import warnings

import keras
import numpy as np
import pytest

import zoo
from zoo.data import Dataset
from zoo.testing import build_tiny_image, register_plugin, tiny_specs

FAINT = "tiny_faint"


def _faint(spec, *, weights, input_shape):
    """The tiny network with features 1e-10 of its own: the scale random MobileNet weights give."""
    network = build_tiny_image(spec, weights=weights, input_shape=input_shape)
    return keras.Model(network.input, keras.layers.Rescaling(1e-10)(network.output), name=spec.name)


class _FaintPlugin:
    @zoo.hookimpl
    def register_backbones(self):
        return [dataclasses.replace(tiny_specs()[0], name=FAINT, factory=_faint)]


@pytest.fixture(autouse=True)
def faint():
    register_plugin(_FaintPlugin(), name="faint")


def _images(per_class=16, classes=3, distinct=True):
    """Images whose brightness tells the class, or (``distinct=False``) one image under every label."""
    rng = np.random.default_rng(0)
    x = np.stack([
        np.clip(rng.normal(40 + 80 * (i % classes), 25, (32, 32, 3)), 0, 255) if distinct else np.full((32, 32, 3), 128)
        for i in range(per_class * classes)
    ]).astype("uint8")  # fmt: skip
    y = np.array([f"c{i % classes}" for i in range(per_class * classes)])
    return x, y


def test_features_a_billion_times_too_small_still_train_and_agree_with_the_probe(tmp_path):
    x, y = _images()
    with warnings.catch_warnings():
        warnings.simplefilter("error", zoo.TrainingWarning)
        run = zoo.train(FAINT, (x, y), weights=None, epochs=15, learning_rate=0.1, out=tmp_path / "run", verbose=0)
    assert run.metrics["accuracy"] >= 0.9  # at chance (0.33) without the standardisation
    probe = zoo.rank((x, y), [FAINT], weights=None, cache_dir=tmp_path / "cache", verbose=0)[0]
    assert probe.error is None and abs(probe.probe - run.metrics["accuracy"]) <= 0.1, (probe, run.metrics)
    head = run.model.get_layer(run.model.zoo_config.parts.head)
    standardize = head.get_layer(run.model.zoo_config.parts.standardize)
    assert float(np.mean(standardize.get_weights()[1])) < 1e-15  # fit to the features' variance
    reloaded = keras.saving.load_model(run.path / "model.keras")  # the standardisation travels with the model
    np.testing.assert_allclose(reloaded.predict(x[:4], verbose=0), run.model.predict(x[:4], verbose=0), rtol=1e-5)


def test_a_run_that_stays_at_chance_says_so(tmp_path):
    x, y = _images(distinct=False)  # nothing tells the classes apart
    # load_dataset and split refuse one image under several labels; Datasets given as data and val are taken as they are
    same = Dataset("classification", np.arange(len(y)) % 3, ("c0", "c1", "c2"), ("one image",) * len(y), images=x)
    with pytest.warns(zoo.TrainingWarning, match=r"stayed at chance level, ln\(3\) = 1.099"):
        zoo.train(FAINT, same, same, weights=None, epochs=3, out=tmp_path / "run", verbose=0)


def test_a_model_that_arrives_trained_keeps_its_standardisation(tmp_path):
    x, y = _images()
    first = zoo.train(FAINT, (x, y), weights=None, epochs=2, learning_rate=0.1, out=tmp_path / "a", verbose=0)
    model = zoo.load_model(first.path)
    parts = model.zoo_config.parts
    before = [w.copy() for w in model.get_layer(parts.head).get_layer(parts.standardize).get_weights()]
    again = zoo.train(model, (x[::-1] * 0.5, y[::-1]), epochs=1, out=tmp_path / "b", verbose=0)
    after = again.model.get_layer(parts.head).get_layer(parts.standardize).get_weights()
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)
