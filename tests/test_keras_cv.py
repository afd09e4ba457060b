"""The KerasCV plugin: declared params match KerasCV's metadata; backbones build offline; local weights load."""

import keras_cv  # a first-party plugin's library: missing, these tests fail, not skip
import numpy as np
import pytest
from zoo_keras_cv import BACKBONES

import zoo
from zoo.backbones import network_of
from zoo.testing import check_backbone

PLUGIN = "backbone-zoo-keras-cv"
SPECS = zoo.list_backbones("*_kerascv")
# KerasCV's preset metadata counts parameters too (an independent source): the declared count, except for
# MobileNetV3, whose metadata differs by these many (not explained here; checked, so that a change shows).
METADATA_DIFFERENCE = {"mobilenet_v3_small_kerascv": 5_618, "mobilenet_v3_large_kerascv": 1_834}


def test_every_backbone_is_registered_with_the_kerascv_suffix_and_unit_scaling():
    assert len(SPECS) == 21
    assert all(s.plugin == PLUGIN and s.name.endswith("_kerascv") for s in SPECS)
    assert {(s.preprocessing.mode, s.preprocessing.scale) for s in SPECS} == {("unit", 1 / 255)}
    assert {s.default_weights for s in SPECS} == {"imagenet", None}


def test_declared_params_are_kerascvs_preset_metadata():
    """The built networks' counts are checked against the declarations in tests/test_builds.py."""
    counted = {}
    for backbone in BACKBONES:
        preset = getattr(keras_cv.models, backbone.cls).presets.get(backbone.preset or "", {})
        if "params" in preset.get("metadata", {}):
            counted[backbone.name] = preset["metadata"]["params"] + METADATA_DIFFERENCE.get(backbone.name, 0)
    assert len(counted) >= 9
    assert counted == {name: zoo.get_spec(name).params for name in counted}


@pytest.mark.parametrize("name", ["resnet18_kerascv", "mobilenet_v3_small_kerascv", "csp_darknet_tiny_kerascv"])
@pytest.mark.slow
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


@pytest.mark.slow
def test_a_mixed_precision_run_measures_the_model_it_saved(tmp_path):
    """KerasCV's backbones leave their mixed-precision policy out of their config: loaded as Keras alone loads
    them, they compute in float32 what trained in bfloat16. zoo.load_model loads a model under the policy it was
    built with, so model.keras gives what the run's model gave, and metrics.json is what it scores."""
    from PIL import Image

    from zoo.demo import write_scenes

    data = write_scenes(tmp_path / "scenes", per_class=8, size=32, seed=0)
    run = zoo.train("resnet18_kerascv", data, weights=None, input_shape=32, epochs=1, fine_tune=1,
                    mixed_precision=True, batch_size=8, out=tmp_path / "run", verbose=0)  # fmt: skip
    _, val = run.read_data(progress=False)
    pixels = np.stack([np.asarray(Image.open(path).convert("RGB")) for path in val.paths])
    saved = zoo.load_model(run.path).predict(pixels, verbose=0)  # model.keras, loaded again
    np.testing.assert_allclose(run.model.predict(pixels, verbose=0), saved, atol=1e-6)
    truth = np.asarray(val.targets)
    loss = float(np.mean(-np.log(np.maximum(saved[np.arange(len(truth)), truth], np.finfo(np.float32).tiny))))
    assert run.metrics["loss"] == pytest.approx(loss, rel=1e-5)
    assert run.metrics["accuracy"] == pytest.approx(float(np.mean(saved.argmax(1) == truth)))
