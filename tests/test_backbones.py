"""zoo.backbone: raw pixels in, features out, with each family's preprocessing inside the model."""

import warnings
from pathlib import Path

import keras
import numpy as np
import pytest

import zoo
from zoo.plugins import load_registry, reset
from zoo.testing import TINY_IMAGE

# One member of each keras.applications family, at the smallest input it takes. Built here: the families no
# other test builds at that size; the rest are built at it by EQUIVALENCE below (their values against Keras too),
# by test_pyramid.py (convnext_tiny), the capability matrix (vgg16) and zoo.testing's doctest (mobilenet_v3_small).
FAMILY_MEMBERS = ["efficientnet_v2_b0", "inception_resnet_v2", "mobilenet", "nasnet_mobile", "resnet50_v2", "xception"]
BUILT_ELSEWHERE = ["convnext_tiny", "densenet121", "efficientnet_b0", "inception_v3", "mobilenet_v2",
                   "mobilenet_v3_small", "resnet50", "vgg16"]  # fmt: skip
SLOW_TO_BUILD = {"inception_resnet_v2", "nasnet_mobile"}  # 2-3 s each on a CPU: built in the slow tier


def pixels(n, size, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype("float32")


def test_family_members_cover_every_family():
    applications = [s for s in zoo.list_backbones(modality="image") if s.plugin == "backbone-zoo-keras-applications"]
    families = [zoo.get_spec(n).family for n in FAMILY_MEMBERS + BUILT_ELSEWHERE]
    assert sorted(families) == sorted({s.family for s in applications})  # each family once


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_TO_BUILD else n for n in FAMILY_MEMBERS]
)
def test_every_family_builds_and_returns_pooled_features(name):
    spec = zoo.get_spec(name)
    size = max(spec.min_input_size, 32)
    model = zoo.backbone(name, weights=None, input_shape=size)
    features = keras.ops.convert_to_numpy(model(pixels(2, size)))
    assert features.shape == (2, spec.feature_dim)
    assert np.isfinite(features).all()
    assert model.trainable_weights == []  # frozen unless asked
    keras.backend.clear_session()


def test_pooling_options_and_trainable():
    x = pixels(1, 32)
    feature_map = zoo.backbone(TINY_IMAGE, weights=None, input_shape=32, pooling=None)
    assert feature_map.output_shape == (None, 4, 4, 16)
    maxed = zoo.backbone(TINY_IMAGE, weights=None, input_shape=32, pooling="max", trainable=True)
    assert maxed.output_shape == (None, 16) and len(maxed.trainable_weights) > 0
    assert np.isfinite(keras.ops.convert_to_numpy(maxed(x))).all()
    with pytest.raises(ValueError, match="pooling"):
        zoo.backbone(TINY_IMAGE, weights=None, pooling="mean")


# name, keras.applications constructor, module with preprocess_input, input size (the smallest each takes)
EQUIVALENCE = [
    ("resnet50", "ResNet50", "resnet", 32),
    ("mobilenet_v2", "MobileNetV2", "mobilenet_v2", 32),
    ("efficientnet_b0", "EfficientNetB0", "efficientnet", 32),
    ("densenet121", "DenseNet121", "densenet", 32),
    ("inception_v3", "InceptionV3", "inception_v3", 75),  # tf, as MobileNetV2
]


@pytest.mark.parametrize(("name", "constructor", "module", "size"), EQUIVALENCE)
@pytest.mark.slow
def test_preprocessing_matches_keras_applications_with_the_same_weights(name, constructor, module, size, tmp_path):
    reference = getattr(keras.applications, constructor)(
        include_top=False, weights=None, input_shape=(size, size, 3), pooling="avg"
    )
    weights_file = tmp_path / f"{name}.weights.h5"
    reference.save_weights(weights_file)
    model = zoo.backbone(name, weights=weights_file, input_shape=size)

    x = pixels(4, size)
    ours = keras.ops.convert_to_numpy(model(x))
    assert ours.shape == (4, zoo.get_spec(name).feature_dim) and model.trainable_weights == []  # pooled, frozen
    preprocess_input = getattr(keras.applications, module).preprocess_input
    expected = keras.ops.convert_to_numpy(reference(preprocess_input(x.copy())))
    scale = np.abs(expected).max()
    assert np.abs(ours - expected).max() <= 1e-4
    assert np.abs(ours - expected).max() <= 1e-4 * scale  # also relative: random-init outputs can be tiny

    # The check can fail: the classic mistake (wrong preprocessing) is far off.
    wrong = x / 255.0 if zoo.get_spec(name).preprocessing.mode == "none" else x
    mistaken = keras.ops.convert_to_numpy(reference(wrong))
    assert np.abs(mistaken - expected).max() > 1e-2 * scale
    keras.backend.clear_session()


@pytest.mark.parametrize(
    ("name", "input_shape", "message"),
    [
        ("resnet50", (64, 64, 1), "3-channel RGB"),
        ("resnet50", (64, 64, 4), "3-channel RGB"),
        ("resnet50", 16, "at least 32x32"),
        ("inception_v3", 64, "at least 75x75"),
        ("xception", (70, 200), "at least 71x71"),
        ("resnet50", (64,), "input_shape must be"),
        ("resnet50", (64, 64.0, 3), "input_shape must be"),
    ],
)
def test_impossible_input_shapes_are_refused(name, input_shape, message):
    with pytest.raises(zoo.InputShapeError, match=message):
        zoo.backbone(name, weights=None, input_shape=input_shape)


def test_missing_corrupt_and_foreign_weights_files(tmp_path):
    with pytest.raises(zoo.WeightsError, match="Weights file not found"):
        zoo.backbone("mobilenet_v2", weights=tmp_path / "nope.weights.h5", input_shape=32)
    with pytest.raises(zoo.WeightsError, match="Unknown weights 'imagenet21k'.*'imagenet'"):
        zoo.backbone("mobilenet_v2", weights="imagenet21k", input_shape=32)

    corrupt = tmp_path / "corrupt.weights.h5"
    corrupt.write_bytes(b"\x89HDF\r\n" + b"\0" * 100)
    with pytest.raises(zoo.WeightsError, match="Could not load weights from .*corrupt.weights.h5"):
        zoo.backbone("mobilenet_v2", weights=corrupt, input_shape=32)

    foreign = tmp_path / "vgg16.weights.h5"
    keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3)).save_weights(foreign)
    with pytest.raises(zoo.WeightsError, match="saved from mobilenet_v2 without its classification top"):
        zoo.backbone("mobilenet_v2", weights=foreign, input_shape=32)


class OfflinePlugin:
    """An in-process plugin whose pretrained weights cannot be downloaded (as on this machine)."""

    @staticmethod
    def build(spec, *, weights, input_shape):
        if weights == "hub":
            raise ConnectionError("Name or service not known")
        if isinstance(weights, Path):  # what Keras says when a file fits only in part
            warnings.warn(
                "Skipping nested container. Affected layers will retain their freshly-initialized weights.",
                stacklevel=2,
            )
        inputs = keras.Input(input_shape)
        return keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs))

    @zoo.hookimpl
    def register_backbones(self):
        common = dict(
            family="x",
            input_shape=(32, 32, 3),
            feature_dim=4,
            feature_shape=(30, 30, 4),
            preprocessing=zoo.Preprocessing.tf(),
            factory=self.build,
        )
        return [
            zoo.BackboneSpec(name="offline_net", weights=(zoo.WeightsVariant(tag="hub", source="a hub"),), **common),
            zoo.BackboneSpec(name="no_weights_net", **common),
        ]


def test_default_weights_that_cannot_be_downloaded_say_what_to_do():
    reset(load_registry(allow=[], extra_plugins={"offline": OfflinePlugin()}))
    with pytest.raises(zoo.WeightsError, match="needs internet.*weights=None") as err:
        zoo.backbone("offline_net")
    assert isinstance(err.value.__cause__, ConnectionError)
    with pytest.raises(zoo.WeightsError, match="declares no pretrained weights"):
        zoo.backbone("no_weights_net")
    assert zoo.backbone("no_weights_net", weights=None).output_shape == (None, 4)


def test_weights_that_load_only_in_part_are_refused(tmp_path):
    reset(load_registry(allow=[], extra_plugins={"offline": OfflinePlugin()}))
    partial = tmp_path / "partial.weights.h5"
    partial.write_bytes(b"")
    with pytest.raises(zoo.WeightsError, match="1 parts were left unloaded"):
        zoo.backbone("no_weights_net", weights=partial)


# keras.io/api/applications: each model's parameters with its 1000-class ImageNet top, in millions. The zoo
# declares the backbone without its top (tests/test_builds.py checks the built networks against the declarations).
PUBLISHED = {
    "xception": 22.9, "vgg16": 138.4, "vgg19": 143.7, "resnet50": 25.6, "resnet50_v2": 25.6, "resnet101": 44.7,
    "resnet101_v2": 44.7, "resnet152": 60.4, "resnet152_v2": 60.4, "inception_v3": 23.9, "inception_resnet_v2": 55.9,
    "mobilenet": 4.3, "mobilenet_v2": 3.5, "densenet121": 8.1, "densenet169": 14.3, "densenet201": 20.2,
    "nasnet_mobile": 5.3, "nasnet_large": 88.9, "efficientnet_b0": 5.3, "efficientnet_b1": 7.9, "efficientnet_b2": 9.2,
    "efficientnet_b3": 12.3, "efficientnet_b4": 19.5, "efficientnet_b5": 30.6, "efficientnet_b6": 43.3,
    "efficientnet_b7": 66.7, "efficientnet_v2_b0": 7.2, "efficientnet_v2_b1": 8.2, "efficientnet_v2_b2": 10.2,
    "efficientnet_v2_b3": 14.5, "efficientnet_v2_s": 21.6, "efficientnet_v2_m": 54.4, "efficientnet_v2_l": 119.0,
}  # fmt: skip
# Not checked here: MobileNetV3 is not in that table, and its ConvNeXt rows are not rounded counts of these networks.
UNPUBLISHED = {"mobilenet_v3_small", "mobilenet_v3_large", *(f"convnext_{s}" for s in ("tiny", "small", "base", "large",
                                                                                        "xlarge"))}  # fmt: skip
VGG_TOP = 7 * 7 * 512 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 1000 + 1000  # fc1, fc2, predictions


def test_declared_counts_are_the_published_ones_without_the_top():
    """An independent source: the published count less the classification top, by arithmetic."""
    applications = {s.name for s in zoo.list_backbones() if s.plugin == "backbone-zoo-keras-applications"}
    assert set(PUBLISHED) | UNPUBLISHED == applications
    for name, millions in PUBLISHED.items():
        spec = zoo.get_spec(name)
        top = VGG_TOP if spec.family == "vgg" else spec.feature_dim * 1000 + 1000  # pooled features -> 1000 classes
        assert round((spec.params + top) / 1e6, 1) == millions, name
