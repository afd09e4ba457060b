"""keras-hub image backbones: each spec is one keras-hub preset, its architecture declared here.

Offline a keras-hub preset carries only metadata, so the constructor arguments of every preset are
written out below (from keras-hub's timm / Hugging Face converters and the model cards) and the
tests check them against the preset's parameter count. ``weights=None`` builds them offline; a tag
is the keras-hub preset (downloaded from Kaggle where there is internet); a ``pathlib.Path`` is a
local keras-hub preset directory (``save_to_preset``) or a timm / Hugging Face checkpoint directory
that keras-hub converts. Nothing here imports keras-hub until a backbone is built.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

from zoo import BackboneSpec, Preprocessing, WeightsVariant

# keras-hub's image converters for these presets: scale to [0, 1], then ImageNet mean/std (timm's default)
IMAGENET = Preprocessing.torch()
# google/vit-* checkpoints: mean 0.5, std 0.5, that is [-1, 1]
VIT = Preprocessing.tf()


@dataclasses.dataclass(frozen=True)
class Family:
    """What the presets of one keras-hub backbone class share."""

    backbone_class: str  # in keras_hub.models
    preprocessing: Preprocessing
    license: str
    reference: str
    block_pattern: str | None = None
    tokens: bool = False  # a transformer: the backbone gives tokens (B, T, D); the zoo takes the CLS token


FAMILIES: dict[str, Family] = {
    "resnet": Family("ResNetBackbone", IMAGENET, "Apache-2.0", "https://arxiv.org/abs/1512.03385",
                     block_pattern=r"^(stack\d+_block\d+)_"),
    "densenet": Family("DenseNetBackbone", IMAGENET, "BSD-3-Clause", "https://arxiv.org/abs/1608.06993",
                       block_pattern=r"^(stack\d+_block\d+)_"),
    "vgg": Family("VGGBackbone", IMAGENET, "BSD-3-Clause", "https://arxiv.org/abs/1409.1556",
                  block_pattern=r"^(block\d+)_"),
    "vit": Family("ViTBackbone", VIT, "Apache-2.0", "https://arxiv.org/abs/2010.11929", tokens=True),
    "dinov2": Family("DINOV2Backbone", IMAGENET, "Apache-2.0", "https://arxiv.org/abs/2304.07193", tokens=True),
}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Image:
    """One keras-hub image preset: its constructor arguments, input size, feature map and parameter count."""

    name: str  # the keras-hub preset
    family: str
    size: int  # the input size it was trained at
    feature_shape: tuple[int, ...]  # at ``size``; one value: a vector (the CLS token)
    params: int  # keras-hub's metadata for the preset
    arguments: dict[str, Any]
    description: str  # keras-hub's metadata for the preset
    min_input_size: int = 32
    params_size: int | None = None  # the input size ``params`` is counted at, when it depends on it (else ``size``)


def _resnet(name: str, blocks: list[int], params: int, depth: int, *, basic: bool = False) -> Image:
    arguments = dict(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 128, 256, 512],
        stackwise_num_blocks=blocks,
        stackwise_num_strides=[1, 2, 2, 2],
        block_type="basic_block" if basic else "bottleneck_block",
    )
    description = f"{depth}-layer ResNet model pre-trained on the ImageNet 1k dataset at a 224x224 resolution."
    return Image(name, "resnet", 224, (7, 7, 512 if basic else 2048), params, arguments, description)


def _densenet(name: str, repeats: list[int], channels: int, params: int, depth: int) -> Image:
    arguments = dict(stackwise_num_repeats=repeats, compression_ratio=0.5, growth_rate=32)
    description = f"{depth}-layer DenseNet model pre-trained on the ImageNet 1k dataset at a 224x224 resolution."
    return Image(name, "densenet", 224, (7, 7, channels), params, arguments, description)


def _vgg(name: str, repeats: list[int], params: int, depth: int) -> Image:
    arguments = dict(stackwise_num_repeats=repeats, stackwise_num_filters=[64, 128, 256, 512, 512])
    description = f"{depth}-layer vgg model pre-trained on the ImageNet 1k dataset at a 224x224 resolution."
    return Image(name, "vgg", 224, (7, 7, 512), params, arguments, description)


def _vit(name: str, size: int, patch: int, params: int) -> Image:
    large = "_large_" in name
    layers, heads, hidden = (24, 16, 1024) if large else (12, 12, 768)
    arguments = dict(
        patch_size=(patch, patch), num_layers=layers, num_heads=heads, hidden_dim=hidden, mlp_dim=4 * hidden
    )
    data, kind = ("21k", "backbone") if name.endswith("21k") else ("1k", "model")
    description = (
        f"ViT-{'L' if large else 'B'}{patch} {kind} pre-trained on the ImageNet {data} dataset with image "
        f"resolution of {size}x{size}"
    )
    return Image(name, "vit", size, (hidden,), params, arguments, description, min_input_size=size)


def _dinov2(name: str, size: str, layers: int, heads: int, hidden: int, params: int, registers: int = 0) -> Image:
    arguments = dict(
        patch_size=14,
        num_layers=layers,
        hidden_dim=hidden,
        num_heads=heads,
        intermediate_dim=4 * hidden,
        layer_scale_init_value=1.0,
        num_register_tokens=registers,
        position_embedding_shape=(518, 518),  # learnt at 518x518; interpolated to the input size
    )
    with_registers = ", with registers" if registers else ""
    description = f"Vision Transformer ({size}-sized model) trained using DINOv2{with_registers}."
    return Image(name, "dinov2", 224, (hidden,), params, arguments, description, min_input_size=14, params_size=518)


IMAGES = [
    _resnet("resnet_18_imagenet", [2, 2, 2, 2], 11_186_112, 18, basic=True),
    _resnet("resnet_50_imagenet", [3, 4, 6, 3], 23_561_152, 50),
    _resnet("resnet_101_imagenet", [3, 4, 23, 3], 42_605_504, 101),
    _resnet("resnet_152_imagenet", [3, 8, 36, 3], 58_295_232, 152),
    _densenet("densenet_121_imagenet", [6, 12, 24, 16], 1024, 7_037_504, 121),
    _densenet("densenet_169_imagenet", [6, 12, 32, 32], 1664, 12_642_880, 169),
    _densenet("densenet_201_imagenet", [6, 12, 48, 32], 1920, 18_321_984, 201),
    _vgg("vgg_11_imagenet", [1, 1, 2, 2, 2], 9_220_480, 11),
    _vgg("vgg_13_imagenet", [2, 2, 2, 2, 2], 9_404_992, 13),
    _vgg("vgg_16_imagenet", [2, 2, 3, 3, 3], 14_714_688, 16),
    _vgg("vgg_19_imagenet", [2, 2, 4, 4, 4], 20_024_384, 19),
    _vit("vit_base_patch16_224_imagenet", 224, 16, 85_798_656),
    _vit("vit_base_patch16_384_imagenet", 384, 16, 86_090_496),
    _vit("vit_base_patch32_384_imagenet", 384, 32, 87_528_192),
    _vit("vit_large_patch16_224_imagenet", 224, 16, 303_301_632),
    _vit("vit_large_patch16_384_imagenet", 384, 16, 303_690_752),
    _vit("vit_large_patch32_384_imagenet", 384, 32, 305_607_680),
    _vit("vit_base_patch16_224_imagenet21k", 224, 16, 85_798_656),
    _vit("vit_base_patch32_224_imagenet21k", 224, 32, 87_455_232),
    _vit("vit_large_patch16_224_imagenet21k", 224, 16, 303_301_632),
    _vit("vit_large_patch32_224_imagenet21k", 224, 32, 305_510_400),
    _dinov2("dinov2_small", "small", 12, 6, 384, 22_582_656),
    _dinov2("dinov2_base", "base", 12, 12, 768, 87_632_640),
    _dinov2("dinov2_large", "large", 24, 16, 1024, 305_771_520),
    _dinov2("dinov2_with_registers_small", "small", 12, 6, 384, 22_584_192, registers=4),
    _dinov2("dinov2_with_registers_base", "base", 12, 12, 768, 87_635_712, registers=4),
    _dinov2("dinov2_with_registers_large", "large", 24, 16, 1024, 305_775_616, registers=4),
]


def build(image: Image, spec: BackboneSpec, *, weights: str | Path | None, input_shape: tuple[int, ...]) -> Any:
    """Preprocessed pixels -> the last feature map, or the CLS token of a transformer."""
    import keras
    import keras_hub

    family = FAMILIES[image.family]
    backbone_class = getattr(keras_hub.models, family.backbone_class)
    if weights is None:
        backbone = backbone_class(**image.arguments, image_shape=tuple(input_shape))
    else:
        source = str(_check_directory(weights)) if isinstance(weights, Path) else image.name
        backbone = keras_hub.models.Backbone.from_preset(source, image_shape=tuple(input_shape))
        if not isinstance(backbone, backbone_class):
            raise ValueError(f"{source} holds a {type(backbone).__name__}; {spec.name} is a {backbone_class.__name__}")
    if not family.tokens:
        return backbone
    pixels = backbone.input["images"] if isinstance(backbone.input, dict) else backbone.input
    return keras.Model(pixels, backbone.output[:, 0, :])


def _check_directory(path: Path) -> Path:
    """A local keras-hub preset (config.json, metadata.json) or timm / Hugging Face directory (config.json)."""
    if not path.is_dir():
        raise ValueError(f"{path} is a file; keras-hub image weights are a preset or timm checkpoint directory")
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"{path} has no config.json: not a keras-hub preset or timm checkpoint directory")
    if not (path / "metadata.json").exists() and not (path / "model.safetensors").exists():
        raise FileNotFoundError(
            f"{path} has neither metadata.json (a keras-hub preset) nor model.safetensors (a timm checkpoint)"
        )
    return path


def image_spec(image: Image) -> BackboneSpec:
    """The zoo spec of one keras-hub image preset."""
    family = FAMILIES[image.family]
    weights = WeightsVariant(tag=image.name, source=f"keras-hub preset {image.name}", license=family.license)
    return BackboneSpec(
        name=image.name,
        family=image.family,
        modality="image",
        input_shape=(image.size, image.size, 3),
        preprocessing=family.preprocessing,
        feature_dim=image.feature_shape[-1],
        feature_shape=image.feature_shape,
        weights=(weights,),
        params=image.params,
        min_input_size=image.min_input_size,
        block_pattern=family.block_pattern,
        description=image.description,
        reference=family.reference,
        factory=functools.partial(build, image),
    )
