"""Every keras-hub image family: declared arguments against keras-hub's converters, parameter counts against
the built network (and what keras-hub's metadata counts instead), feature maps and pyramid strides at a small
size, and preprocessing against keras-hub's own image converter for the same source checkpoint."""

import json
import os
import subprocess
import sys

import keras
import keras_hub
import numpy as np
import pytest
from test_builds import RECORDED, SWEEP  # what every build gives; make test-all's sweep
from zoo_keras_hub import architectures as arch
from zoo_keras_hub.images import FAMILIES, IMAGES, Image

import zoo
from zoo.backbones import network_of, preprocessing_graph

BY_NAME = {image.name: image for image in IMAGES}
# keras-hub image-classifier presets the plugin leaves out, and why (see plugins/keras-hub/README.md)
LEFT_OUT = {"mobilenetv5_300m_enc_gemma3n": "Gemma 3n's vision encoder: output resized to 16x16 whatever the input"}
# One cheap preset per family (and per network kind) is built in the fast tier, at this size; the rest are slow.
# (ResNet v1 and DINOv2 are built fast by test_keras_hub_images.py; MiT and Swin take seconds: slow only.)
FAST = {
    "resnet_v2_50_imagenet": 64, "resnet_vd_18_imagenet": 64, "densenet_121_imagenet": 64, "vgg_11_imagenet": 64,
    "efficientnet_b0_ra_imagenet": 64, "mobilenet_v3_small_050_imagenet": 64, "darknet_53_imagenet": 64,
    "hgnetv2_b4_ssld_stage2_ft_in1k": 64, "xception_41_imagenet": 96, "deit_tiny_distilled_patch16_224_imagenet": 224,
}  # fmt: skip
SIZE_DEPENDENT = {"vit", "deit", "dinov2"}  # position embeddings: the parameter count depends on the input size
HUGE = 250_000_000  # parameters: not built again at a small size by the sweep (tests/builds.json has them)


def _small(image: Image) -> int:
    """A small input size the architecture takes: its own where it fixes it (ViT, DeiT, Swin)."""
    if image.name in FAST:
        return FAST[image.name]
    return image.min_input_size if image.min_input_size > 32 else 64


def _param(image: Image, fast: bool) -> object:
    return pytest.param(image, id=image.name, marks=[] if fast else [pytest.mark.slow])


def test_every_image_classifier_preset_of_keras_hub_is_declared():
    shipped = set(keras_hub.models.ImageClassifier.presets)
    assert shipped - set(BY_NAME) == set(LEFT_OUT)
    assert len(IMAGES) >= 60 and len({image.family for image in IMAGES}) == len(FAMILIES) == 15
    specs = {spec.name: spec for spec in zoo.list_backbones()}
    assert set(BY_NAME) <= set(specs)
    for image in IMAGES:
        assert (
            specs[image.name].description
            == keras_hub.models.Backbone.presets[image.name]["metadata"]["description"].strip()
        )


def _timm(converter: str, architecture: str, tag: str = "") -> dict:
    module = __import__(f"keras_hub.src.utils.timm.{converter}", fromlist=["convert_backbone_config"])
    return module.convert_backbone_config({"architecture": architecture, "pretrained_cfg": {"tag": tag}})


def _same(declared: dict, reference: dict) -> None:
    as_json = json.loads(json.dumps(declared)), json.loads(json.dumps(reference))
    assert {k: v for k, v in as_json[0].items() if k in as_json[1]} == as_json[1]


@pytest.mark.parametrize(
    ("declared", "converter", "architecture"),
    [
        *((arch.efficientnet(v), "convert_efficientnet", f"efficientnet{'v2' if v.startswith('rw') else ''}_{v}")
          for v in ("b0", "b1", "b2", "b3", "b4", "b5", "lite0", "el", "em", "es", "rw_t", "rw_s", "rw_m")),
        *((arch.mobilenet_v3(v), "convert_mobilenet", f"mobilenetv3_{v}") for v in ("small_050", "small_100",
                                                                                   "large_100")),
        *((arch.cspnet(a), "convert_cspnet", a) for a in ("cspdarknet53", "darknet53", "cspresnet50", "cspresnext50")),
        *((arch.hgnetv2(v), "convert_hgnetv2", f"hgnetv2_{v}") for v in ("b4", "b5", "b6")),
        (arch.resnet([3, 4, 6, 3], "bottleneck_block", v2=True), "convert_resnet", "resnetv2_50"),
        (arch.resnet([3, 4, 23, 3], "bottleneck_block", v2=True), "convert_resnet", "resnetv2_101"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)  # fmt: skip
def test_declared_arguments_are_keras_hubs_timm_conversion(declared, converter, architecture):
    """keras-hub builds a timm checkpoint with exactly these arguments (SSLD tags: no learnable affine blocks)."""
    _same(declared, _timm(converter, architecture, tag="ssld_stage2_ft_in1k"))


def _built(image: Image, size: int) -> keras.Model:
    family = FAMILIES[image.family]
    return getattr(keras_hub.models, family.backbone_class)(**image.arguments, **{family.shape_argument: (size,) * 2
                                                                                   + (3,)})  # fmt: skip


def _head(image: Image) -> int:
    return image.feature_shape[-1] * 1000 + 1000


# What keras-hub's metadata "params" counts, where it is not the backbone: checked, so the difference is known.
# (image, trainable parameters of its network) -> the metadata's count
METADATA = {
    "resnet_vd": lambda image, trainable: image.params + _head(image),  # the 1000-class head too
    # timm's count: trainable parameters (no batch-norm statistics) plus timm's 1000-class head
    "efficientnet": lambda image, trainable: trainable + _head(image),
    "cspnet": lambda image, trainable: trainable + _head(image),
    "mit": lambda image, trainable: image.params + image.feature_shape[-1] * 10 + 10,  # a 10-class head
    # ResNetV2: the count of the ResNet v1 preset of the same depth
    "resnet_v2": lambda image, trainable: BY_NAME[image.name.replace("_v2", "")].params,
}


@pytest.mark.parametrize("image", [pytest.param(image, id=image.name) for image in IMAGES])
def test_keras_hubs_metadata_counts_the_declared_parameters_or_the_difference_is_known(image):
    """An independent source for ``params``: keras-hub's metadata (the trainable count: tests/builds.json)."""
    metadata = keras_hub.models.Backbone.presets[image.name]["metadata"]["params"]
    trainable = RECORDED[image.name]["trainable_params"]
    assert metadata == METADATA.get(image.family, lambda image, trainable: image.params)(image, trainable)


def _scaled(image: Image, size: int) -> tuple[int, ...]:
    if len(image.feature_shape) == 1:  # a CLS token
        return image.feature_shape
    return (-(-size // 32), -(-size // 32), image.feature_shape[-1])  # padded strides: ceil(size / 32)


# `make test`: the fast presets (one a family; tests/builds.json has every preset at its declared size);
# `make test-all` (ZOO_SWEEP): every preset.
SMALL_BUILDS = [image for image in IMAGES if image.params < HUGE] if SWEEP else [i for i in IMAGES if i.name in FAST]


@pytest.mark.parametrize("image", [_param(image, image.name in FAST) for image in SMALL_BUILDS])
def test_builds_small_with_its_feature_shape_and_pyramid_strides(image):
    size = _small(image)
    model = zoo.backbone(image.name, weights=None, input_shape=size, pooling=None)
    network = network_of(model)
    assert tuple(model.output_shape[1:]) == _scaled(image, size)
    if size == image.size or image.family not in SIZE_DEPENDENT:
        assert network.count_params() == image.params
    for level, name in image.pyramid.items():  # on the factory's own network, as the spec names them
        stride = 2 ** int(level[1:])
        assert tuple(network.get_layer(name).output.shape[1:3]) == (size // stride, size // stride), (level, name)
    assert (not image.pyramid) == (image.family in ("vit", "deit", "dinov2", "swin", "xception"))
    rebuilt = keras.models.model_from_json(model.to_json())  # what keras.saving.load_model does, without weights
    assert rebuilt.output_shape == model.output_shape
    # its layers keep their names (a run finds its network by name), also beside a network of that name
    assert [layer.name for layer in rebuilt.layers] == [layer.name for layer in model.layers]
    if image.name in FAST:
        pixels = np.random.default_rng(0).uniform(0, 255, (1, size, size, 3)).astype("float32")
        assert np.isfinite(np.asarray(model(pixels))).all()


# The source checkpoint's preprocessing, as keras-hub reads it when it converts that checkpoint.
_IMAGENET, _INCEPTION = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)), ((0.5,) * 3, (0.5,) * 3)
TIMM = {  # family -> timm pretrained_cfg (timm/models/*.py) of the presets' checkpoints: mean/std, interpolation
    "resnet": (_IMAGENET, "bicubic"), "resnet_v2": (_INCEPTION, "bicubic"), "densenet": (_IMAGENET, "bicubic"),
    "vgg": (_IMAGENET, "bilinear"), "efficientnet": (_IMAGENET, "bicubic"), "mobilenet_v3": (_IMAGENET, "bicubic"),
    "cspnet": (_IMAGENET, "bilinear"), "hgnetv2": (_IMAGENET, "bicubic"),
}  # fmt: skip
TIMM_PRESETS = {  # presets whose checkpoint's pretrained_cfg differs from the family's
    "efficientnet_b0_ra4_e3600_r224_imagenet": (_INCEPTION, "bicubic"),
    "efficientnet_b1_ra4_e3600_r240_imagenet": (_INCEPTION, "bicubic"),
    "mobilenet_v3_large_100_imagenet_21k": (((0.0,) * 3, (1.0,) * 3), "bilinear"),  # timm's MIIL weights
    "darknet_53_imagenet": (_IMAGENET, "bicubic"),
}


def _converter_class(image: Image) -> type:
    prefix = FAMILIES[image.family].backbone_class.removesuffix("Backbone")
    return getattr(keras_hub.layers, f"{prefix}ImageConverter")


def _reference_converter(image: Image, tmp_path) -> keras.layers.Layer:
    """keras-hub's image converter for the preset's source checkpoint, made by keras-hub's own code where it has it."""
    cls, size = _converter_class(image), (image.size, image.size)
    if image.family in TIMM:
        from keras_hub.src.utils.timm.preset_loader import TimmPresetLoader

        (mean, std), interpolation = TIMM_PRESETS.get(image.name, TIMM[image.family])
        config = {"architecture": "resnet50", "pretrained_cfg": {"input_size": (3, *size), "mean": mean, "std": std,
                                                                 "interpolation": interpolation}}  # fmt: skip
        return TimmPresetLoader(str(tmp_path), config).load_image_converter(cls)
    if image.family == "swin":  # microsoft/swin-*: preprocessor_config.json, read by keras-hub's converter
        from keras_hub.src.utils.transformers import convert_swin_transformer

        (mean, std), size_config = _IMAGENET, {"height": image.size, "width": image.size}
        config = {"image_mean": mean, "image_std": std, "rescale_factor": 1 / 255, "size": size_config}
        (tmp_path / "preprocessor_config.json").write_text(json.dumps(config))
        return cls(**convert_swin_transformer.load_image_converter_config(str(tmp_path), {}))
    # tools/checkpoint_conversion/convert_{deit,vit,segformer,xception,resnet_vd}_checkpoints.py, dinov2's card
    (mean, std), interpolation = {
        "deit": (_IMAGENET, "bicubic"), "dinov2": (_IMAGENET, "bicubic"), "vit": (_INCEPTION, "bilinear"),
        "mit": (_IMAGENET, "bilinear"), "resnet_vd": (_IMAGENET, "bilinear"), "xception": (_INCEPTION, "bilinear"),
    }[image.family]  # fmt: skip
    scale, offset = [1 / 255 / s for s in std], [-m / s for m, s in zip(mean, std, strict=True)]
    return cls(image_size=size, scale=scale, offset=offset, interpolation=interpolation)


@pytest.mark.parametrize("image", [pytest.param(image, id=image.name) for image in IMAGES])
def test_preprocessing_is_keras_hubs_image_converter(image, tmp_path):
    spec = zoo.get_spec(image.name)
    converter = _reference_converter(image, tmp_path)
    pixels = np.random.default_rng(1).integers(0, 256, (1, image.size, image.size, 3)).astype("float32")
    inputs = keras.Input((image.size, image.size, 3))
    ours = keras.Model(inputs, preprocessing_graph(inputs, spec.preprocessing))(pixels)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(converter(pixels)), atol=2e-5)
    assert spec.preprocessing.interpolation == converter.resizing.interpolation


def test_edge_tpu_efficientnets_take_their_weights_from_timm():
    """keras-hub 0.32's efficientnet_{el,em,es} presets point at efficientnet_b1_ft_imagenet's Kaggle files."""
    for name in ("efficientnet_el_ra_imagenet", "efficientnet_em_ra2_imagenet", "efficientnet_es_ra_imagenet"):
        handle = keras_hub.models.Backbone.presets[name]["kaggle_handle"]
        assert "efficientnet_b1_ft_imagenet" in handle
        assert zoo.get_spec(name).weights[0].source.startswith("timm checkpoint hf://timm/efficientnet_e")


@pytest.mark.slow  # 3 s or more (docs/contributing.md: the tiers)
def test_a_preset_of_another_architecture_is_refused(tmp_path):
    """A preset of the same class with other arguments must not load: keras-hub 0.32's efficientnet_{el,em,es}
    presets, for one, point at B1's Kaggle files."""
    saved = keras_hub.models.EfficientNetBackbone(**arch.efficientnet("b0"), input_shape=(64, 64, 3))
    saved.save_to_preset(str(tmp_path))
    with pytest.raises(zoo.WeightsError, match="another EfficientNetBackbone .* activation"):
        zoo.backbone("efficientnet_lite0_ra_imagenet", weights=tmp_path, input_shape=64)
    model = zoo.backbone("efficientnet_b0_ra_imagenet", weights=tmp_path, input_shape=64)
    assert all(np.array_equal(a, b) for a, b in zip(network_of(model).get_weights(), saved.get_weights(), strict=True))


WRAPPED = ["hgnetv2_b4_ssld_stage2_ft_in1k", "swin_tiny_patch4_window7_224", "deit_tiny_distilled_patch16_224_imagenet"]
# Loads each model.keras with keras.saving.load_model in a fresh process and runs it on the same pixels:
# the largest difference from what the model gave in the process that saved it, by name.
PLAIN_KERAS = """if True:
    import json, sys
    import keras, numpy as np
    diffs = {}
    for name, folder in json.loads(sys.argv[1]).items():
        model = keras.saving.load_model(f"{folder}/model.keras")
        diffs[name] = float(np.abs(np.asarray(model(np.load(f"{folder}/x.npy"))) - np.load(f"{folder}/y.npy")).max())
    print(json.dumps(diffs))
"""


@pytest.fixture(scope="module")
def wrapped(tmp_path_factory):
    """Each of WRAPPED built by the zoo from a local preset of a keras-hub network and saved as model.keras; then
    every model.keras loaded in one fresh process: ``{name: (model, the keras-hub network, max abs diff)}``."""
    built, folders = {}, {}
    for name in WRAPPED:
        folder = tmp_path_factory.mktemp(name)
        image, size = BY_NAME[name], _small(BY_NAME[name])
        saved = _built(image, size)
        saved.save_to_preset(str(folder / "preset"))
        model = zoo.backbone(name, weights=folder / "preset", input_shape=size)
        pixels = np.random.default_rng(2).uniform(0, 255, (1, size, size, 3)).astype("float32")
        model.save(folder / "model.keras")
        np.save(folder / "x.npy", pixels)
        np.save(folder / "y.npy", np.asarray(model(pixels)))
        built[name], folders[name] = (model, saved), str(folder)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", PLAIN_KERAS, json.dumps(folders)], capture_output=True, text=True,
                            env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    diffs = json.loads(result.stdout.strip().splitlines()[-1])
    return {name: (*built[name], diffs[name]) for name in WRAPPED}


@pytest.mark.slow
@pytest.mark.parametrize("name", WRAPPED)
def test_a_network_around_the_backbone_loads_a_local_preset_and_saves(name, wrapped):
    """HGNetV2's stages are re-wired, Swin and DeiT wrapped: weights load, and model.keras loads again with plain
    Keras in a fresh process, giving the same outputs."""
    model, saved, diff = wrapped[name]
    assert diff <= 1e-5, diff

    def sums(weights: list) -> list[float]:
        return sorted(float(np.sum(np.asarray(w))) for w in weights)

    np.testing.assert_allclose(sums(network_of(model).weights), sums(saved.weights), rtol=1e-6)
