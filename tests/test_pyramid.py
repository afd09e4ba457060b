"""``zoo.backbone(name, features="pyramid")``: raw pixels to the feature maps at strides 4..32 that a spec declares.

The tests here use the tiny test backbone and a few real networks below their declared size. Every first-party
family's pyramid is checked with :func:`check_pyramid` where tests/test_builds.py builds it at its declared
size: the smallest member of each family in `make test`, every backbone in `make test-all`.
"""

import dataclasses
import json
import re
from pathlib import Path

import keras
import numpy as np
import pytest

import zoo
import zoo.testing
from zoo.backbones import network_of, pyramid_sizes
from zoo.cli import main

GUIDE = Path(__file__).parent.parent / "docs" / "guide.md"
FIRST_PARTY = ("backbone-zoo-keras-applications", "backbone-zoo-keras-cv", "backbone-zoo-keras-hub")


def preprocessed(pixels: np.ndarray, pre: zoo.Preprocessing) -> np.ndarray:
    """The spec's preprocessing in numpy, independently of the zoo's Keras layers."""
    x = pixels[..., ::-1] if pre.channel_order == "bgr" else pixels
    x = x * pre.scale + pre.offset
    x = x - np.asarray(pre.mean or 0.0, "float32")
    return (x / np.asarray(pre.std or 1.0, "float32")).astype("float32")


def check_pyramid(name: str, input_shape=None, batch: int = 2, model=None) -> dict[str, np.ndarray]:
    """Build ``name``'s pyramid with random weights (or take ``model``, built so) and check it against the
    plugin's own network.

    The maps must be the declared levels, each ``input / 2**n`` in size, and equal to the outputs of the
    network's declared layers fed the pixels preprocessed in numpy: so the model takes raw pixels and does
    its preprocessing in front.
    """
    spec = zoo.get_spec(name)
    model = model or zoo.backbone(name, weights=None, input_shape=input_shape, features="pyramid")
    height, width, channels = model.input_shape[1:]
    assert sorted(model.output) == sorted(spec.pyramid)
    pixels = np.random.default_rng(0).uniform(0, 255, (batch, height, width, channels)).astype("float32")
    maps = model.predict(pixels, verbose=0)
    assert sorted(maps) == sorted(spec.pyramid)

    network = network_of(model)  # the plugin's layers: its declared layers, fed preprocessed pixels directly
    reference = keras.Model(network.inputs, [network.get_layer(layer).output for layer in spec.pyramid.values()])
    expected = reference.predict(preprocessed(pixels, spec.preprocessing), verbose=0)
    for (level, layer), want in zip(spec.pyramid.items(), expected, strict=True):
        stride = 2 ** int(level[1:])
        got = maps[level]
        assert got.shape[0] == batch and got.ndim == 4, (name, level, got.shape)
        for size, found in zip((height, width), got.shape[1:3], strict=True):  # "same" padding rounds up
            assert found in (size // stride, -(-size // stride)), f"{name} {level} ({layer}): {got.shape} at {size}"
        scale = max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4 * scale, err_msg=f"{name} {level} ({layer})")
    return maps


@pytest.mark.parametrize("name", ["tiny_image", "tiny_image_caffe"])
@pytest.mark.parametrize("input_shape", [None, (48, 40)])
def test_tiny_backbone_pyramid_from_raw_pixels(name, input_shape):
    maps = check_pyramid(name, input_shape)
    height, width = input_shape or (32, 32)
    assert {level: m.shape[1:] for level, m in maps.items()} == {
        "P2": (height // 4, width // 4, 16),
        "P3": (height // 8, width // 8, 16),
    }


@pytest.mark.slow  # 3 s or more (docs/contributing.md: the tiers)
def test_a_keras_hub_pyramid_below_its_declared_size():
    """Every family's declared layers and map shapes at its declared size: tests/test_builds.py."""
    maps = check_pyramid("mobilenet_v3_small_050_imagenet", input_shape=64, batch=1)
    assert [m.shape[1] for m in maps.values()] == [16, 8, 4, 2]


@pytest.mark.slow
def test_convnext_with_named_stages_is_keras_applications_convnext(tmp_path):
    """The plugin adds named Identity layers to ConvNeXt: the same numbers, and weights files load both ways."""
    pixels = np.random.default_rng(2).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    pooled = zoo.backbone("convnext_tiny", weights=None, input_shape=32)  # its smallest input: pooled, frozen
    features = pooled.predict(pixels, verbose=0)
    assert features.shape == (2, 768) and np.isfinite(features).all() and pooled.trainable_weights == []
    zoo_network = network_of(pooled)
    zoo_network.save_weights(tmp_path / "zoo.weights.h5")
    keras_network = keras.applications.ConvNeXtTiny(
        include_top=False, weights=str(tmp_path / "zoo.weights.h5"), input_shape=(32, 32, 3)
    )
    expected = keras_network.predict(pixels, verbose=0)
    np.testing.assert_allclose(zoo_network.predict(pixels, verbose=0), expected, rtol=1e-5, atol=1e-5)
    keras_network.save_weights(tmp_path / "keras.weights.h5")
    again = zoo.backbone("convnext_tiny", weights=tmp_path / "keras.weights.h5", input_shape=32, pooling=None)
    np.testing.assert_allclose(again.predict(pixels, verbose=0), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.slow  # 3 s or more (docs/contributing.md: the tiers)
def test_odd_input_sizes_round_as_the_network_pads():
    maps = check_pyramid("mobilenet_v2", input_shape=(72, 100), batch=1)
    assert [m.shape[1:3] for m in maps.values()] == [(18, 25), (9, 13), (5, 7), (3, 4)]
    assert pyramid_sizes(zoo.get_spec("mobilenet_v2"), (72, 100)) == {
        "P2": (18, 25),
        "P3": (9, 13),
        "P4": (5, 7),
        "P5": (3, 4),
    }


def test_the_pyramid_trains_when_asked_and_stays_frozen_by_default():
    assert not zoo.backbone("tiny_image", weights=None, features="pyramid").trainable_weights
    assert zoo.backbone("tiny_image", weights=None, features="pyramid", trainable=True).trainable_weights


def test_a_pyramid_model_loads_without_the_zoo(tmp_path):
    model = zoo.backbone("tiny_image_caffe", weights=None, features="pyramid")
    model.save(tmp_path / "pyramid.keras")
    loaded = keras.saving.load_model(tmp_path / "pyramid.keras")
    pixels = np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    before, after = model.predict(pixels, verbose=0), loaded.predict(pixels, verbose=0)
    assert sorted(after) == ["P2", "P3"]
    for level in before:
        np.testing.assert_allclose(after[level], before[level], rtol=1e-6)


def test_a_backbone_without_pyramid_says_which_have_one():
    with pytest.raises(zoo.ConfigError) as caught:
        zoo.backbone("inception_v3", weights=None, features="pyramid")
    message = str(caught.value)
    assert message.startswith("inception_v3 declares no feature pyramid; backbones that do: ")
    assert "\n" not in message and "(" in message and "in all)" in message


def test_unknown_features_value_is_refused():
    with pytest.raises(zoo.ConfigError, match=r"features must be one of \('final', 'pyramid'\), got 'pyramids'"):
        zoo.backbone("tiny_image", weights=None, features="pyramids")


def _plugin_with(pyramid: dict[str, str]) -> None:
    tiny = zoo.testing.tiny_specs()[0]

    class Plugin:
        @zoo.hookimpl
        def register_backbones(self):
            return [dataclasses.replace(tiny, name="tiny_declared", pyramid=pyramid)]

    zoo.testing.register_plugin(Plugin(), name="pyramid-plugin")


@pytest.mark.parametrize(
    "pyramid, says",
    [
        ({"P2": "block1_relu", "P3": "block9_relu"}, "has no layer 'block9_relu' (declared as pyramid level P3)"),
        ({"P3": "block1_relu"}, "gives pyramid level P3 (stride 8) from layer 'block1_relu' with shape (8, 8, 16)"),
    ],
)
def test_a_pyramid_the_network_does_not_have_is_a_plugin_error(pyramid, says):
    _plugin_with(pyramid)
    with pytest.raises(zoo.PluginError) as caught:
        zoo.backbone("tiny_declared", weights=None, features="pyramid")
    message = str(caught.value)
    assert "backbone 'tiny_declared' (plugin 'pyramid-plugin')" in message and says in message
    assert "\n" not in message
    with pytest.raises(zoo.PluginError, match="pyramid level"):  # the plugin author's one-line conformance check
        zoo.testing.check_backbone("tiny_declared")


def test_zoo_info_shows_the_pyramid(capsys):
    assert main(["info", "resnet50"]) in (0, None)
    out = capsys.readouterr().out
    assert re.search(r"^pyramid: +P2 stride 4, 56x56: conv2_block3_out$", out, re.M), out
    assert re.search(r"^ +P5 stride 32, 7x7: conv5_block3_out$", out, re.M), out
    assert main(["info", "tiny_image"]) in (0, None)
    out = capsys.readouterr().out
    assert re.search(r"^ +P3 stride 8, 4x4: block3_relu$", out, re.M), out
    for name in ("inception_v3", "all_minilm_l6_v2"):  # an image backbone without a pyramid, a text one
        assert main(["info", name]) in (0, None)
        assert re.search(r"^pyramid: +-$", capsys.readouterr().out, re.M)
    assert main(["info", "resnet50", "--json"]) in (0, None)
    assert json.loads(capsys.readouterr().out)["pyramid"]["P4"] == "conv4_block6_out"


def test_first_party_families_declare_pyramids():
    """Every keras.applications and KerasCV backbone with stride-exact maps declares them (see the plugins)."""
    declared = {s.name for s in zoo.list_backbones() if s.pyramid}
    apps = {s.name for s in zoo.list_backbones() if s.plugin == FIRST_PARTY[0]}
    left_out = {"inception_v3", "inception_resnet_v2", "nasnet_mobile", "nasnet_large", "xception"}  # "valid" padding
    assert apps - declared == left_out
    kerascv = {s.name for s in zoo.list_backbones() if s.plugin == FIRST_PARTY[1]}
    assert kerascv and kerascv <= declared
    assert all(list(zoo.get_spec(n).pyramid) == ["P2", "P3", "P4", "P5"] for n in (apps | kerascv) & declared)


def guide_code(backbone: str) -> str:
    """The guide's segmentation example, with ``backbone`` (random weights) in place of its pretrained one."""
    code = re.search(r"## Dense tasks.*?```python\n(.*?)```", GUIDE.read_text(), re.S).group(1)
    original = 'zoo.backbone("mobilenet_v3_small", '
    assert code.count(original) == 1
    return code.replace(original, f'zoo.backbone("{backbone}", weights=None, ')


@pytest.mark.slow
def test_the_guide_segmentation_example_learns_on_the_tiny_backbone(capsys):
    keras.utils.set_random_seed(0)
    namespace = {}
    exec(compile(guide_code("tiny_image"), str(GUIDE), "exec"), namespace)
    accuracy, baseline = namespace["accuracy"], namespace["baseline"]
    assert 0.9 < baseline < 0.99  # a square covers a few percent of the image
    assert accuracy > baseline + (1 - baseline) / 2, (accuracy, baseline)  # at least half the errors gone
    assert f"pixel accuracy {accuracy:.3f}" in capsys.readouterr().out


@pytest.mark.slow
def test_the_guide_example_runs_as_written_on_its_backbone():
    """With random weights (the machine is offline): the code, the shapes and the training run."""
    namespace = {}
    exec(compile(guide_code("mobilenet_v3_small"), str(GUIDE), "exec"), namespace)
    assert namespace["model"].output_shape == (None, 64, 64, 1)
    assert namespace["accuracy"] > namespace["baseline"]
