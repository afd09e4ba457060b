"""backbone-zoo plugin: KerasCV image backbones, built from their architecture arguments.

KerasCV 0.9 (its last release; development moved to keras-hub) builds its named backbones from
presets whose configs are downloaded from Kaggle, so offline they cannot be built. Here each
backbone is its KerasCV class called with the preset's arguments, so ``weights=None`` builds
offline. ``weights="imagenet"`` (the default where KerasCV publishes weights) is the KerasCV preset,
downloaded through Kaggle. Names end in ``_kerascv`` so they never clash with keras.applications.
Parameter counts and feature shapes are at the declared input size, as built (checked by the
tests; KerasCV's preset metadata gives slightly smaller counts for MobileNetV3 than its class builds).
Each backbone's feature pyramid (``zoo.backbone(name, features="pyramid")``) is the P2..P5 of its
KerasCV class's ``pyramid_level_inputs``, written out here (the tests check them against KerasCV).
Nothing here imports KerasCV until a backbone is built.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

from zoo import BackboneSpec, Preprocessing, WeightsVariant, hookimpl

PLUGIN = "backbone-zoo-keras-cv"
SUFFIX = "_kerascv"
# include_rescaling=True puts Rescaling(1/255) first in every KerasCV backbone; the zoo does it instead.
PREPROCESSING = Preprocessing(mode="unit", scale=1 / 255)

_RESNET_FILTERS = [64, 128, 256, 512]
_RESNET_STRIDES = [1, 2, 2, 2]
_EFFNETV2_B = {
    "stackwise_kernel_sizes": [3, 3, 3, 3, 3, 3],
    "stackwise_num_repeats": [1, 2, 2, 3, 5, 8],
    "stackwise_input_filters": [32, 16, 32, 48, 96, 112],
    "stackwise_output_filters": [16, 32, 48, 96, 112, 192],
    "stackwise_expansion_ratios": [1, 4, 4, 4, 6, 6],
    "stackwise_squeeze_and_excite_ratios": [0, 0, 0, 0.25, 0.25, 0.25],
    "stackwise_strides": [1, 2, 2, 2, 1, 2],
    "stackwise_conv_types": ["fused"] * 3 + ["unfused"] * 3,
}
_EFFNETV2_S = {
    **_EFFNETV2_B,
    "stackwise_num_repeats": [2, 4, 4, 6, 9, 15],
    "stackwise_input_filters": [24, 24, 48, 64, 128, 160],
    "stackwise_output_filters": [24, 48, 64, 128, 160, 256],
}
_HS = "hard_swish"
_MOBILENET_V3 = {
    "small": {
        "stackwise_expansion": [1, 72.0 / 16, 88.0 / 24, 4, 6, 6, 3, 3, 6, 6, 6],
        "stackwise_filters": [16, 24, 24, 40, 40, 40, 48, 48, 96, 96, 96],
        "stackwise_kernel_size": [3, 3, 3, 5, 5, 5, 5, 5, 5, 5, 5],
        "stackwise_stride": [2, 2, 1, 2, 1, 1, 1, 1, 2, 1, 1],
        "stackwise_se_ratio": [0.25, None, None] + [0.25] * 8,
        "stackwise_activation": ["relu"] * 3 + [_HS] * 8,
    },
    "large": {
        "stackwise_expansion": [1, 4, 3, 3, 3, 3, 6, 2.5, 2.3, 2.3, 6, 6, 6, 6, 6],
        "stackwise_filters": [16, 24, 24, 40, 40, 40, 80, 80, 80, 80, 112, 112, 160, 160, 160],
        "stackwise_kernel_size": [3, 3, 3, 5, 5, 5, 3, 3, 3, 3, 3, 3, 5, 5, 5],
        "stackwise_stride": [1, 2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1],
        "stackwise_se_ratio": [None] * 3 + [0.25] * 3 + [None] * 4 + [0.25] * 5,
        "stackwise_activation": ["relu"] * 6 + [_HS] * 9,
    },
}


_MOBILENET_V3_PYRAMID = {
    "small": ["expanded_conv_project_BatchNorm", "expanded_conv_2_Add", "expanded_conv_7_Add", "expanded_conv_10_Add"],
    "large": ["expanded_conv_2_Add", "expanded_conv_5_Add", "expanded_conv_11_Add", "expanded_conv_14_Add"],
}


@dataclasses.dataclass(frozen=True)
class Backbone:
    """One KerasCV backbone: its class, the arguments of its preset, and what it gives."""

    name: str  # zoo name, ending in _kerascv
    cls: str  # keras_cv.models.<cls>
    kwargs: dict[str, Any]
    preset: str | None  # the KerasCV preset with ImageNet weights (None: KerasCV publishes none)
    params: int
    feature_shape: tuple[int, int, int]  # at 224x224
    block_pattern: str | None
    reference: str
    pyramid: dict[str, str]  # P2..P5 -> layer, as KerasCV's pyramid_level_inputs


def _levels(*layers: str) -> dict[str, str]:
    return {f"P{level}": layer for level, layer in enumerate(layers, start=2)}


def _resnet(depth: int, version: int, blocks: list[int], params: int, channels: int, weights: bool) -> Backbone:
    cls = "ResNetBackbone" if version == 1 else "ResNetV2Backbone"
    suffix = "" if version == 1 else "_v2"
    return Backbone(
        name=f"resnet{depth}{suffix}{SUFFIX}",
        cls=cls,
        kwargs={
            "stackwise_filters": _RESNET_FILTERS,
            "stackwise_blocks": blocks,
            "stackwise_strides": _RESNET_STRIDES,
            "block_type": "basic_block" if depth < 50 else "block",
        },
        preset=f"resnet{depth}{suffix}_imagenet" if weights else None,
        params=params,
        feature_shape=(7, 7, channels),
        block_pattern=r"^(v2_stack_\d+_block\d+)_",
        reference="https://arxiv.org/abs/1512.03385" if version == 1 else "https://arxiv.org/abs/1603.05027",
        pyramid=_levels(*(f"v2_stack_{stack}_block{last}_out" for stack, last in enumerate(blocks))),
    )


def _effnetv2(
    variant: str, width: float, depth: float, params: int, channels: int, weights: bool, last_blocks: str
) -> Backbone:
    return Backbone(
        name=f"efficientnet_v2_{variant}{SUFFIX}",
        cls="EfficientNetV2Backbone",
        kwargs={
            **(_EFFNETV2_S if variant == "s" else _EFFNETV2_B),
            "width_coefficient": width,
            "depth_coefficient": depth,
        },
        preset=f"efficientnetv2_{variant}_imagenet" if weights else None,
        params=params,
        feature_shape=(7, 7, channels),
        block_pattern=r"^(block\d+[a-z])_",
        reference="https://arxiv.org/abs/2104.00298",
        pyramid=_levels(*(f"block{block}_" for block in last_blocks.split()), "top_activation"),
    )


def _mobilenet_v3(size: str, params: int, channels: int) -> Backbone:
    return Backbone(
        name=f"mobilenet_v3_{size}{SUFFIX}",
        cls="MobileNetV3Backbone",
        kwargs=_MOBILENET_V3[size],
        preset=f"mobilenet_v3_{size}_imagenet",
        params=params,
        feature_shape=(7, 7, channels),
        block_pattern=r"^(expanded_conv(?:_\d+)?)_",
        reference="https://arxiv.org/abs/1905.02244",
        pyramid=_levels(*_MOBILENET_V3_PYRAMID[size]),
    )


def _csp_darknet(size: str, channels: list[int], depth: list[int], params: int, weights: bool) -> Backbone:
    return Backbone(
        name=f"csp_darknet_{size}{SUFFIX}",
        cls="CSPDarkNetBackbone",
        kwargs={"stackwise_channels": channels, "stackwise_depth": depth},
        preset=f"csp_darknet_{size}_imagenet" if weights else None,
        params=params,
        feature_shape=(7, 7, channels[-1]),
        block_pattern=r"^(dark\d)_",
        reference="https://arxiv.org/abs/2004.10934",
        pyramid=_levels("dark2_csp", "dark3_csp", "dark4_csp", "dark5_csp"),
    )


def _densenet(depth: int, repeats: list[int], params: int, channels: int) -> Backbone:
    return Backbone(
        name=f"densenet{depth}{SUFFIX}",
        cls="DenseNetBackbone",
        kwargs={"stackwise_num_repeats": repeats},
        preset=f"densenet{depth}_imagenet",
        params=params,
        feature_shape=(7, 7, channels),
        block_pattern=r"^(conv\d_block_\d+)_",
        reference="https://arxiv.org/abs/1608.06993",
        pyramid=_levels(*(f"conv{stage}_block_{count - 1}_concat" for stage, count in enumerate(repeats, start=2))),
    )


BACKBONES: list[Backbone] = [
    _resnet(18, 1, [2, 2, 2, 2], 11_186_112, 512, weights=False),
    _resnet(34, 1, [3, 4, 6, 3], 21_301_696, 512, weights=False),
    _resnet(50, 1, [3, 4, 6, 3], 23_561_152, 2048, weights=True),
    _resnet(101, 1, [3, 4, 23, 3], 42_605_504, 2048, weights=False),
    _resnet(18, 2, [2, 2, 2, 2], 11_183_488, 512, weights=False),
    _resnet(34, 2, [3, 4, 6, 3], 21_299_072, 512, weights=False),
    _resnet(50, 2, [3, 4, 6, 3], 23_564_800, 2048, weights=True),
    _resnet(101, 2, [3, 4, 23, 3], 42_626_560, 2048, weights=False),
    _mobilenet_v3("small", 939_120, 576),
    _mobilenet_v3("large", 2_996_352, 960),
    _effnetv2("b0", 1.0, 1.0, 5_919_312, 1280, weights=True, last_blocks="2b 3b 5e"),
    _effnetv2("b1", 1.0, 1.1, 6_931_124, 1280, weights=True, last_blocks="2c 3c 5f"),
    _effnetv2("b2", 1.1, 1.2, 8_769_374, 1408, weights=True, last_blocks="2c 3c 5f"),
    _effnetv2("b3", 1.2, 1.4, 12_930_622, 1536, weights=False, last_blocks="2c 3c 5g"),
    _effnetv2("s", 1.0, 1.0, 20_331_360, 1280, weights=True, last_blocks="2d 3d 5i"),
    _csp_darknet("tiny", [48, 96, 192, 384], [1, 3, 3, 1], 2_380_416, weights=True),
    _csp_darknet("s", [64, 128, 256, 512], [1, 3, 3, 1], 4_223_488, weights=False),
    _csp_darknet("m", [96, 192, 384, 768], [2, 6, 6, 2], 12_374_400, weights=False),
    _densenet(121, [6, 12, 24, 16], 7_037_504, 1024),
    _densenet(169, [6, 12, 32, 32], 12_642_880, 1664),
    _densenet(201, [6, 12, 48, 32], 18_321_984, 1920),
]


def build(backbone: Backbone, spec: BackboneSpec, *, weights: str | Path | None, input_shape: tuple[int, ...]) -> Any:
    """Build ``keras_cv.models.<cls>`` without rescaling: preprocessed pixels -> feature map.

    >>> from zoo import get_spec
    >>> spec = get_spec("resnet18_kerascv")
    >>> build(BY_NAME[spec.name], spec, weights=None, input_shape=(64, 64, 3)).output_shape
    (None, 2, 2, 512)
    """
    import keras_cv

    cls = getattr(keras_cv.models, backbone.cls)
    options = {"include_rescaling": False, "input_shape": tuple(input_shape)}
    if isinstance(weights, str):  # a tag: the KerasCV preset, downloaded through Kaggle
        return cls.from_preset(backbone.preset, **options)
    model = cls(**backbone.kwargs, **options)
    if weights is not None:
        model.load_weights(weights)
    return model


BY_NAME = {b.name: b for b in BACKBONES}


def _spec(backbone: Backbone) -> BackboneSpec:
    weights = ()
    if backbone.preset:
        weights = (
            WeightsVariant(
                tag="imagenet",
                source=f"keras_cv.models.{backbone.cls}.from_preset({backbone.preset!r})",
                license="Apache-2.0",
                description="ImageNet-1k, from the KerasCV preset on Kaggle (downloaded once, needs internet)",
            ),
        )
    return BackboneSpec(
        name=backbone.name,
        family=f"kerascv_{backbone.cls.removesuffix('Backbone').lower()}",
        modality="image",
        input_shape=(224, 224, 3),
        preprocessing=PREPROCESSING,
        feature_dim=backbone.feature_shape[-1],
        feature_shape=backbone.feature_shape,
        weights=weights,
        params=backbone.params,
        block_pattern=backbone.block_pattern,
        pyramid=backbone.pyramid,
        description=f"keras_cv.models.{backbone.cls} ({backbone.preset or 'architecture only, no published weights'})",
        reference=backbone.reference,
        factory=functools.partial(build, backbone),
    )


@hookimpl
def register_backbones() -> list[BackboneSpec]:
    """The KerasCV image backbones, named ``<architecture>_kerascv``."""
    return [_spec(b) for b in BACKBONES]
