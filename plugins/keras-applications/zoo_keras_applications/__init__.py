"""backbone-zoo plugin: the 40 image backbones of ``keras.applications``.

Each row of :data:`BACKBONES` is one constructor; its family says how its input is preprocessed.
Parameter counts and feature shapes are for ``include_top=False`` at the default input size
(checked against Keras by the tests). :data:`PYRAMIDS` names the layers whose outputs are the
feature maps at strides 4 to 32 (``zoo.backbone(name, features="pyramid")``). Nothing here
imports Keras until a backbone is built.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoo import BackboneSpec, Preprocessing, WeightsVariant, hookimpl


@dataclasses.dataclass(frozen=True)
class Family:
    preprocessing: Preprocessing
    weights_license: str
    reference: str
    min_input_size: int = 32
    block_pattern: str | None = None  # first group: the block a layer belongs to (None: fine-tune by layer)
    finish: Callable[[Any], Any] | None = None  # applied to the built network


def _name_convnext_stages(network: Any) -> Any:
    """keras.applications' ConvNeXt ends each stage with an unnamed sum (``inputs + branch``): name its outputs.

    The same network, sharing its layers and weights (its weights files load both ways), with an
    ``Identity`` layer ``<name>_stage_<i>_output`` on the output of each of the 4 stages: the input of
    the next downsampling block, or of the final LayerNormalization. Those are its pyramid's layers.
    """
    import keras

    takers = {f"{network.name}_downsampling_block_{i}": i for i in range(3)} | {network.layers[-1].name: 3}

    def call(layer: Any, *args: Any, **kwargs: Any) -> Any:
        if layer.name in takers:
            named = keras.layers.Identity(name=f"{network.name}_stage_{takers[layer.name]}_output")
            args = (named(args[0]), *args[1:])
        return layer(*args, **kwargs)

    return keras.models.clone_model(network, clone_function=lambda layer: layer, call_function=call)


_RESCALES_TO_UNIT_AND_NORMALISES = "Rescaling(1/255), then ImageNet mean/std Normalization"

FAMILIES: dict[str, Family] = {
    "resnet": Family(
        Preprocessing.caffe(), "MIT", "https://arxiv.org/abs/1512.03385", block_pattern=r"^(conv\d_block\d+)_"
    ),
    "resnet_v2": Family(
        Preprocessing.tf(), "Apache-2.0", "https://arxiv.org/abs/1603.05027", block_pattern=r"^(conv\d_block\d+)_"
    ),
    "vgg": Family(Preprocessing.caffe(), "CC-BY-4.0", "https://arxiv.org/abs/1409.1556", block_pattern=r"^(block\d+)_"),
    "mobilenet": Family(
        Preprocessing.tf(), "Apache-2.0", "https://arxiv.org/abs/1704.04861", block_pattern=r"^conv_(?:dw|pw)_(\d+)"
    ),
    "mobilenet_v2": Family(
        Preprocessing.tf(), "Apache-2.0", "https://arxiv.org/abs/1801.04381", block_pattern=r"^(block_\d+)_"
    ),
    "mobilenet_v3": Family(
        Preprocessing.raw("Rescaling(1/127.5, offset=-1) (include_preprocessing=True)"),
        "Apache-2.0",
        "https://arxiv.org/abs/1905.02244",
        block_pattern=r"^(expanded_conv(?:_\d+)?)_",
    ),
    "efficientnet": Family(
        Preprocessing.raw(_RESCALES_TO_UNIT_AND_NORMALISES),
        "Apache-2.0",
        "https://arxiv.org/abs/1905.11946",
        block_pattern=r"^(block\d+[a-z])_",
    ),
    "efficientnet_v2": Family(
        Preprocessing.raw(
            f"B0-B3: {_RESCALES_TO_UNIT_AND_NORMALISES}; S/M/L: Rescaling(1/128, offset=-1) "
            "(include_preprocessing=True)"
        ),
        "Apache-2.0",
        "https://arxiv.org/abs/2104.00298",
        block_pattern=r"^(block\d+[a-z])_",
    ),
    "convnext": Family(
        Preprocessing.raw("ImageNet mean/std Normalization on [0, 255] pixels (include_preprocessing=True)"),
        "MIT",
        "https://arxiv.org/abs/2201.03545",
        block_pattern=r"_(stage_\d+_block_\d+)_",
        finish=_name_convnext_stages,
    ),
    "densenet": Family(
        Preprocessing.torch(), "BSD-3-Clause", "https://arxiv.org/abs/1608.06993", block_pattern=r"^(conv\d_block\d+)_"
    ),
    "inception_v3": Family(Preprocessing.tf(), "Apache-2.0", "https://arxiv.org/abs/1512.00567", min_input_size=75),
    "inception_resnet_v2": Family(
        Preprocessing.tf(), "Apache-2.0", "https://arxiv.org/abs/1602.07261", min_input_size=75
    ),
    "xception": Family(
        Preprocessing.tf(), "MIT", "https://arxiv.org/abs/1610.02357", min_input_size=71, block_pattern=r"^(block\d+)_"
    ),
    "nasnet": Family(Preprocessing.tf(), "Apache-2.0", "https://arxiv.org/abs/1707.07012"),
}

# (keras.applications constructor, zoo name, family, default input size, params, feature map)
BACKBONES: list[tuple[str, str, str, int, int, tuple[int, int, int]]] = [
    ("ConvNeXtTiny", "convnext_tiny", "convnext", 224, 27_820_128, (7, 7, 768)),
    ("ConvNeXtSmall", "convnext_small", "convnext", 224, 49_454_688, (7, 7, 768)),
    ("ConvNeXtBase", "convnext_base", "convnext", 224, 87_566_464, (7, 7, 1024)),
    ("ConvNeXtLarge", "convnext_large", "convnext", 224, 196_230_336, (7, 7, 1536)),
    ("ConvNeXtXLarge", "convnext_xlarge", "convnext", 224, 348_147_968, (7, 7, 2048)),
    ("DenseNet121", "densenet121", "densenet", 224, 7_037_504, (7, 7, 1024)),
    ("DenseNet169", "densenet169", "densenet", 224, 12_642_880, (7, 7, 1664)),
    ("DenseNet201", "densenet201", "densenet", 224, 18_321_984, (7, 7, 1920)),
    ("EfficientNetB0", "efficientnet_b0", "efficientnet", 224, 4_049_571, (7, 7, 1280)),
    ("EfficientNetB1", "efficientnet_b1", "efficientnet", 240, 6_575_239, (8, 8, 1280)),
    ("EfficientNetB2", "efficientnet_b2", "efficientnet", 260, 7_768_569, (9, 9, 1408)),
    ("EfficientNetB3", "efficientnet_b3", "efficientnet", 300, 10_783_535, (10, 10, 1536)),
    ("EfficientNetB4", "efficientnet_b4", "efficientnet", 380, 17_673_823, (12, 12, 1792)),
    ("EfficientNetB5", "efficientnet_b5", "efficientnet", 456, 28_513_527, (15, 15, 2048)),
    ("EfficientNetB6", "efficientnet_b6", "efficientnet", 528, 40_960_143, (17, 17, 2304)),
    ("EfficientNetB7", "efficientnet_b7", "efficientnet", 600, 64_097_687, (19, 19, 2560)),
    ("EfficientNetV2B0", "efficientnet_v2_b0", "efficientnet_v2", 224, 5_919_312, (7, 7, 1280)),
    ("EfficientNetV2B1", "efficientnet_v2_b1", "efficientnet_v2", 240, 6_931_124, (8, 8, 1280)),
    ("EfficientNetV2B2", "efficientnet_v2_b2", "efficientnet_v2", 260, 8_769_374, (9, 9, 1408)),
    ("EfficientNetV2B3", "efficientnet_v2_b3", "efficientnet_v2", 300, 12_930_622, (10, 10, 1536)),
    ("EfficientNetV2S", "efficientnet_v2_s", "efficientnet_v2", 384, 20_331_360, (12, 12, 1280)),
    ("EfficientNetV2M", "efficientnet_v2_m", "efficientnet_v2", 480, 53_150_388, (15, 15, 1280)),
    ("EfficientNetV2L", "efficientnet_v2_l", "efficientnet_v2", 480, 117_746_848, (15, 15, 1280)),
    ("InceptionResNetV2", "inception_resnet_v2", "inception_resnet_v2", 299, 54_336_736, (8, 8, 1536)),
    ("InceptionV3", "inception_v3", "inception_v3", 299, 21_802_784, (8, 8, 2048)),
    ("MobileNet", "mobilenet", "mobilenet", 224, 3_228_864, (7, 7, 1024)),
    ("MobileNetV2", "mobilenet_v2", "mobilenet_v2", 224, 2_257_984, (7, 7, 1280)),
    ("MobileNetV3Small", "mobilenet_v3_small", "mobilenet_v3", 224, 939_120, (7, 7, 576)),
    ("MobileNetV3Large", "mobilenet_v3_large", "mobilenet_v3", 224, 2_996_352, (7, 7, 960)),
    ("NASNetMobile", "nasnet_mobile", "nasnet", 224, 4_269_716, (7, 7, 1056)),
    ("NASNetLarge", "nasnet_large", "nasnet", 331, 84_916_818, (11, 11, 4032)),
    ("ResNet50", "resnet50", "resnet", 224, 23_587_712, (7, 7, 2048)),
    ("ResNet101", "resnet101", "resnet", 224, 42_658_176, (7, 7, 2048)),
    ("ResNet152", "resnet152", "resnet", 224, 58_370_944, (7, 7, 2048)),
    ("ResNet50V2", "resnet50_v2", "resnet_v2", 224, 23_564_800, (7, 7, 2048)),
    ("ResNet101V2", "resnet101_v2", "resnet_v2", 224, 42_626_560, (7, 7, 2048)),
    ("ResNet152V2", "resnet152_v2", "resnet_v2", 224, 58_331_648, (7, 7, 2048)),
    ("VGG16", "vgg16", "vgg", 224, 14_714_688, (7, 7, 512)),
    ("VGG19", "vgg19", "vgg", 224, 20_024_384, (7, 7, 512)),
    ("Xception", "xception", "xception", 299, 20_861_480, (10, 10, 2048)),
]


def _levels(*layers: str) -> dict[str, str]:
    """Pyramid levels from ``P2`` up, one layer name each."""
    return {f"P{level}": layer for level, layer in enumerate(layers, start=2)}


def _resnet(blocks: tuple[int, ...]) -> dict[str, str]:
    """ResNet v1: the output of each stack's last block (a stack's first block halves the size)."""
    return _levels(*(f"conv{stack}_block{last}_out" for stack, last in enumerate(blocks, start=2)))


def _resnet_v2(blocks: tuple[int, int, int]) -> dict[str, str]:
    """ResNet v2 halves the size in each stack's LAST block: its pre-activation (BN+ReLU of the stack so
    far) is the stride's map; the network's output (``post_relu``) is stride 32."""
    return _levels(*(f"conv{stack}_block{last}_preact_relu" for stack, last in enumerate(blocks, start=2)), "post_relu")


def _efficientnet(last_blocks: str) -> dict[str, str]:
    """EfficientNet v1/v2: the residual sum of the last block at strides 4, 8, 16 (stages 2, 3, 5), then the top."""
    return _levels(*(f"block{block}_add" for block in last_blocks.split()), "top_activation")


# DenseNet: each dense block's BN+ReLU before its transition (the last one is the network's output).
_DENSENET = _levels("pool2_relu", "pool3_relu", "pool4_relu", "relu")

# Constructor -> {level: layer}; P2..P5 are at exactly 1/4 .. 1/32 of the input ("same" padding).
# ConvNeXt's stage outputs are named by the plugin (_name_convnext_stages). Left out: the families whose
# "valid" convolutions and pools make maps that are not input/2**n: InceptionV3, InceptionResNetV2, the
# NASNets and Xception (55x55 at stride 4 for 224 pixels; 37x37, not 38x38, at stride 8 for its default
# 299). The rest have exactly ceil(input/2**n).
PYRAMIDS: dict[str, dict[str, str]] = {
    "ResNet50": _resnet((3, 4, 6, 3)),
    "ResNet101": _resnet((3, 4, 23, 3)),
    "ResNet152": _resnet((3, 8, 36, 3)),
    "ResNet50V2": _resnet_v2((3, 4, 6)),
    "ResNet101V2": _resnet_v2((3, 4, 23)),
    "ResNet152V2": _resnet_v2((3, 8, 36)),
    "VGG16": _levels("block3_conv3", "block4_conv3", "block5_conv3", "block5_pool"),
    "VGG19": _levels("block3_conv4", "block4_conv4", "block5_conv4", "block5_pool"),
    "MobileNet": _levels("conv_pw_3_relu", "conv_pw_5_relu", "conv_pw_11_relu", "conv_pw_13_relu"),
    "MobileNetV2": _levels("block_2_add", "block_5_add", "block_12_add", "out_relu"),
    # MobileNetV3's last activations are auto-named (activation_17), so P5 is the last block's sum, as in KerasCV.
    "MobileNetV3Small": _levels(
        "expanded_conv_project_bn", "expanded_conv_2_add", "expanded_conv_7_add", "expanded_conv_10_add"
    ),
    "MobileNetV3Large": _levels(
        "expanded_conv_2_add", "expanded_conv_5_add", "expanded_conv_11_add", "expanded_conv_14_add"
    ),
    "EfficientNetB0": _efficientnet("2b 3b 5c"),
    "EfficientNetB1": _efficientnet("2c 3c 5d"),
    "EfficientNetB2": _efficientnet("2c 3c 5d"),
    "EfficientNetB3": _efficientnet("2c 3c 5e"),
    "EfficientNetB4": _efficientnet("2d 3d 5f"),
    "EfficientNetB5": _efficientnet("2e 3e 5g"),
    "EfficientNetB6": _efficientnet("2f 3f 5h"),
    "EfficientNetB7": _efficientnet("2g 3g 5j"),
    "EfficientNetV2B0": _efficientnet("2b 3b 5e"),
    "EfficientNetV2B1": _efficientnet("2c 3c 5f"),
    "EfficientNetV2B2": _efficientnet("2c 3c 5f"),
    "EfficientNetV2B3": _efficientnet("2c 3c 5g"),
    "EfficientNetV2S": _efficientnet("2d 3d 5i"),
    "EfficientNetV2M": _efficientnet("2e 3e 5n"),
    "EfficientNetV2L": _efficientnet("2g 3g 5s"),
    **{
        f"ConvNeXt{size}": _levels(*(f"convnext_{size.lower()}_stage_{i}_output" for i in range(4)))
        for size in ("Tiny", "Small", "Base", "Large", "XLarge")
    },
    "DenseNet121": _DENSENET,
    "DenseNet169": _DENSENET,
    "DenseNet201": _DENSENET,
}


def build(constructor: str, spec: BackboneSpec, *, weights: str | Path | None, input_shape: tuple[int, ...]) -> Any:
    """Build ``keras.applications.<constructor>`` without its top: preprocessed pixels -> feature map.

    >>> from zoo import get_spec
    >>> build("MobileNetV2", get_spec("mobilenet_v2"), weights=None, input_shape=(32, 32, 3)).output_shape
    (None, 1, 1, 1280)
    """
    import keras

    network = getattr(keras.applications, constructor)(
        include_top=False,
        weights=str(weights) if isinstance(weights, Path) else weights,
        input_shape=tuple(input_shape),
    )
    finish = FAMILIES[spec.family].finish
    return finish(network) if finish is not None else network


def _spec(constructor: str, name: str, family: str, size: int, params: int, feature_shape: tuple) -> BackboneSpec:
    fam = FAMILIES[family]
    imagenet = WeightsVariant(
        tag="imagenet",
        source=f"keras.applications.{constructor}(weights='imagenet', include_top=False)",
        license=fam.weights_license,
        description="ImageNet-1k; downloaded once by Keras into ~/.keras/models and checked against its file hash",
    )
    return BackboneSpec(
        name=name,
        aliases=(constructor,),
        family=family,
        modality="image",
        input_shape=(size, size, 3),
        preprocessing=fam.preprocessing,
        feature_dim=feature_shape[-1],
        feature_shape=feature_shape,
        weights=(imagenet,),
        params=params,
        min_input_size=fam.min_input_size,
        block_pattern=fam.block_pattern,
        pyramid=PYRAMIDS.get(constructor, {}),
        description=f"keras.applications.{constructor}, ImageNet-1k pretrained",
        reference=fam.reference,
        factory=functools.partial(build, constructor),
    )


@hookimpl
def register_backbones() -> list[BackboneSpec]:
    """Every ``keras.applications`` image backbone."""
    return [_spec(*row) for row in BACKBONES]
