"""zoo.build: one head builder for every backbone, task and head type."""

import keras
import numpy as np
import pytest

import zoo
from zoo.backbones import network_of
from zoo.testing import TINY_IMAGE, TINY_IMAGE_CAFFE

# Feature-map cells at 64x64 input: the family downsamples 32 times (2x2), the tiny test backbone 8 times (8x8).
CELLS = {"mobilenet_v2": 4, TINY_IMAGE: 64}
# The head builder's logic is the same for every backbone (each family's map at every size: tests/test_builds.py):
# the tiny one runs always, one real family in the slow tier.
NAMES = [TINY_IMAGE, *(pytest.param(name, marks=pytest.mark.slow) for name in CELLS if name != TINY_IMAGE)]


def pixels(n=2, size=32):
    return np.random.default_rng(0).uniform(0, 255, (n, size, size, 3)).astype("float32")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("head", ["avg", "max", "flatten"])
def test_head_types_on_several_families(name, head):
    model = zoo.build(name, num_classes=3, head=head, weights=None, input_shape=64)
    spec = zoo.get_spec(name)
    width = spec.feature_dim * (CELLS[name] if head == "flatten" else 1)
    assert model.get_layer("pool").output.shape == (None, width)
    probs = keras.ops.convert_to_numpy(model(pixels(2, 64)))
    assert probs.shape == (2, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert network_of(model).trainable is False
    keras.backend.clear_session()


@pytest.mark.parametrize(
    ("task", "counts", "shape"),
    [
        ("classification", {"num_classes": 4}, (2, 4)),
        ("multilabel", {"num_classes": 5}, (2, 5)),
        ("regression", {}, (2, 1)),
        ("regression", {"num_outputs": 3}, (2, 3)),
    ],
)
def test_tasks_give_the_right_outputs(task, counts, shape):
    model = zoo.build(TINY_IMAGE, task=task, hidden=(16,), dropout=0.2, weights=None, input_shape=32, **counts)
    out = keras.ops.convert_to_numpy(model(pixels()))
    assert out.shape == shape
    if task == "classification":
        np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    if task == "multilabel":
        assert ((out > 0) & (out < 1)).all()
    assert model.zoo_config.task == task and model.zoo_config.num_outputs == shape[1]


def test_classic_recipe_is_one_call_with_the_hand_written_architecture():
    model = zoo.build("resnet50", num_classes=100, head="flatten", dropout=0.5, standardize=False, weights=None)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert (model.count_params(), trainable) == (33_623_012, 10_035_300)

    base = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(224, 224, 3))
    base.trainable = False
    classic = keras.Sequential(
        [base, keras.layers.Flatten(), keras.layers.Dropout(0.5), keras.layers.Dense(100, activation="softmax")]
    )
    classic.build((None, 224, 224, 3))
    assert classic.count_params() == model.count_params()
    head = model.get_layer("head")
    assert [type(layer).__name__ for layer in head.layers[1:]] == ["Dropout", "Dense"]
    assert head.layers[1].rate == 0.5 and head.layers[2].activation.__name__ == "softmax"
    assert isinstance(model.get_layer("pool"), keras.layers.Flatten)


def test_the_head_standardises_its_features_by_default():
    model = zoo.build(TINY_IMAGE, num_classes=3, head="flatten", dropout=0.5, weights=None, input_shape=32)
    head = model.get_layer("head")
    assert [type(layer).__name__ for layer in head.layers[1:]] == ["BatchNormalization", "Dropout", "Dense"]
    assert not head.layers[1].trainable  # statistics set from the training features, never learned
    assert head.layers[1].name == model.zoo_config.parts.standardize and model.zoo_config.standardize
    plain = zoo.build(TINY_IMAGE, num_classes=3, head="flatten", dropout=0.5, weights=None, input_shape=32,
                      standardize=False)  # fmt: skip
    assert model.count_params() - plain.count_params() == 2 * 4 * 4 * 16  # a mean and a variance per feature
    assert plain.zoo_config.parts.standardize is None and not plain.zoo_config.standardize


def test_hidden_layers_add_the_expected_parameters():
    plain = zoo.build(TINY_IMAGE, num_classes=3, weights=None, input_shape=32)
    deep = zoo.build(TINY_IMAGE, num_classes=3, hidden=(64, 32), weights=None, input_shape=32)
    assert deep.count_params() - plain.count_params() == (16 * 64 + 64) + (64 * 32 + 32) + (32 * 3 + 3) - (16 * 3 + 3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task": "ranking", "num_classes": 3}, "task must be one of"),
        ({"head": "attention", "num_classes": 3}, "head must be one of"),
        ({"num_classes": 1}, "at least 2 classes"),
        ({}, "needs num_classes"),
        ({"task": "regression", "num_classes": 3}, "no classes"),
        ({"num_classes": 3, "dropout": 1.0}, "dropout"),
        ({"num_classes": 3, "hidden": (0,)}, "hidden"),
        ({"num_classes": "3"}, "num_classes must be a whole number, got '3'"),
        ({"num_classes": 3, "hidden": 16}, r"hidden is a sequence of layer widths, e.g. hidden=\[256\], got 16"),
    ],
)
def test_bad_head_arguments(kwargs, message):
    with pytest.raises(zoo.ConfigError, match=message):
        zoo.build(TINY_IMAGE, weights=None, input_shape=32, **kwargs)


def test_numpy_integers_are_whole_numbers_and_a_name_must_be_a_string():
    model = zoo.build(TINY_IMAGE, num_classes=np.int64(3), hidden=np.array([8]), weights=None, input_shape=32)
    assert model.output_shape == (None, 3)
    with pytest.raises(zoo.ConfigError, match="a backbone is named by a string, e.g. 'resnet50', got 5"):
        zoo.get_spec(5)
    with pytest.raises(zoo.ConfigError, match=r"pattern is a string, e.g. 'resnet\*', got 5"):
        zoo.list_backbones(5)


def test_built_model_saves_and_loads_in_safe_mode(tmp_path):
    model = zoo.build(TINY_IMAGE_CAFFE, num_classes=3, hidden=(8,), weights=None, input_shape=32)  # RGB->BGR inside
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = zoo.load_model(path)
    x = pixels()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)), atol=1e-6)
