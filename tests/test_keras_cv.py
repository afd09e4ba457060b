"""The KerasCV plugin: declared params and feature shapes match KerasCV, built offline; local weights load."""

import keras
import keras_cv  # noqa: F401  (a first-party plugin's library: missing, these tests fail, not skip)
import numpy as np
import pytest

import zoo
from zoo.backbones import build_network, network_of
from zoo.testing import check_backbone

PLUGIN = "backbone-zoo-keras-cv"
SPECS = zoo.list_backbones("*_kerascv")
# Measured on CPU: these build in about 1 s at 224x224; the rest take 2-7 s and are slow-marked.
QUICK = {"resnet18_kerascv", "resnet34_kerascv", "mobilenet_v3_small_kerascv", "mobilenet_v3_large_kerascv"}


def test_every_backbone_is_registered_with_the_kerascv_suffix_and_unit_scaling():
    assert len(SPECS) == 21
    assert all(s.plugin == PLUGIN and s.name.endswith("_kerascv") for s in SPECS)
    assert {(s.preprocessing.mode, s.preprocessing.scale) for s in SPECS} == {("unit", 1 / 255)}
    assert {s.default_weights for s in SPECS} == {"imagenet", None}


@pytest.mark.parametrize(
    "spec",
    [s if s.name in QUICK else pytest.param(s, marks=pytest.mark.slow) for s in SPECS],
    ids=lambda s: s.name,
)
def test_declared_params_and_feature_shape_match_kerascv(spec):
    network = build_network(spec, None, spec.input_shape)
    assert network.count_params() == spec.params
    assert tuple(network.output_shape[1:]) == spec.feature_shape
    keras.backend.clear_session()


@pytest.mark.parametrize("name", ["resnet18_kerascv", "mobilenet_v3_small_kerascv", "csp_darknet_tiny_kerascv"])
def test_forward_pass_on_small_input(name):
    check_backbone(name, input_shape=64)


def test_local_weights_round_trip(tmp_path):
    first = zoo.backbone("resnet18_kerascv", weights=None, input_shape=64)
    path = tmp_path / "resnet18.weights.h5"
    network_of(first).save_weights(path)
    again = zoo.backbone("resnet18_kerascv", weights=path, input_shape=64)
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(first.predict(pixels, verbose=0), again.predict(pixels, verbose=0), atol=1e-4)


def test_weights_of_another_architecture_are_refused(tmp_path):
    path = tmp_path / "resnet34.weights.h5"
    network_of(zoo.backbone("resnet34_kerascv", weights=None, input_shape=64)).save_weights(path)
    with pytest.raises(zoo.WeightsError, match="resnet18_kerascv"):
        zoo.backbone("resnet18_kerascv", weights=path, input_shape=64)


def test_default_weights_offline_are_a_weights_error(monkeypatch, tmp_path):
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path))  # nothing cached: the preset must be downloaded
    with pytest.raises(zoo.WeightsError, match="resnet50_kerascv"):
        zoo.backbone("resnet50_kerascv", input_shape=64)
    with pytest.raises(zoo.WeightsError, match="declares no pretrained weights"):
        zoo.backbone("resnet18_kerascv", input_shape=64)
