"""The example plugin's own tests, written with zoo.testing as any plugin author would."""

import numpy as np
import pytest
import zoo_example_plugin

import zoo
from zoo.testing import check_backbone


def test_tiny_convnet_conforms(zoo_plugin):
    zoo_plugin(zoo_example_plugin)  # only this plugin: no other backbone can interfere
    assert [s.name for s in zoo.list_backbones()] == ["tiny_convnet"]
    check_backbone("tiny_convnet")
    check_backbone("tiny_convnet", input_shape=96)  # any size from min_input_size up


def test_declared_params_and_feature_shape_match_the_built_network(zoo_plugin):
    zoo_plugin(zoo_example_plugin)
    spec = zoo.get_spec("tiny_convnet")
    network = spec.factory(spec, weights=None, input_shape=spec.input_shape)
    assert network.count_params() == spec.params
    assert tuple(network.output_shape[1:]) == spec.feature_shape


def test_preprocessing_is_inside_the_model(zoo_plugin):
    zoo_plugin(zoo_example_plugin)
    model = zoo.backbone("tiny_convnet", weights=None, pooling=None)
    gray = np.full((1, 64, 64, 3), 127.5, dtype="float32")  # (127.5/255 - 0.5) / 0.25 == 0
    np.testing.assert_allclose(model.get_layer("preprocessing")(gray), 0.0, atol=1e-6)


def test_local_weights_file_round_trip(zoo_plugin, tmp_path):
    zoo_plugin(zoo_example_plugin)
    first = zoo.backbone("tiny_convnet", weights=None)
    path = tmp_path / "tiny_convnet.weights.h5"
    first.get_layer("backbone").save_weights(path)
    again = zoo.backbone("tiny_convnet", weights=path)
    pixels = np.random.default_rng(1).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(first.predict(pixels, verbose=0), again.predict(pixels, verbose=0), atol=1e-5)


def test_no_pretrained_weights_is_said_clearly(zoo_plugin):
    zoo_plugin(zoo_example_plugin)
    with pytest.raises(zoo.WeightsError, match="declares no pretrained weights"):
        zoo.backbone("tiny_convnet")  # weights="default", but the plugin publishes none
