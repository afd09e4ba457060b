"""keras-hub image backbones: each spec is one keras-hub preset, its architecture declared here.

Offline a keras-hub preset carries only metadata, so the constructor arguments of every preset are
declared in the plugin (``architectures.py``: from keras-hub's timm / Hugging Face / PaddleClas
converters and the model cards) and the tests build each one. ``params`` is the count of the network
the factory builds, at the preset's input size; where keras-hub's metadata counts something else (a
classifier head, timm's trainable-only count) the tests say what. ``weights=None`` builds offline; a
tag is the keras-hub preset (downloaded from Kaggle where there is internet; ``Image.preset`` where
the weights come from another handle); a ``pathlib.Path`` is a local keras-hub preset directory
(``save_to_preset``) or a timm / Hugging Face checkpoint directory that keras-hub converts. Nothing
here imports keras-hub until a backbone is built.

``pyramid`` names, for the CNNs and MiT, the layers of the factory's network whose outputs are the
feature maps at strides 4..32 (``P2``..``P5``): ``network.get_layer(name)`` finds them.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import Any

from zoo import BackboneSpec, Preprocessing, WeightsError, WeightsVariant
from zoo_keras_hub import architectures as arch

# keras-hub's image converters for these presets: scale to [0, 1], then ImageNet mean/std (timm's default)
IMAGENET = Preprocessing.torch()
IMAGENET_BICUBIC = Preprocessing.torch(interpolation="bicubic")
# google/vit-* checkpoints, timm's "inception" mean/std: mean 0.5, std 0.5, that is [-1, 1]
VIT = Preprocessing.tf()
INCEPTION_BICUBIC = Preprocessing.tf(interpolation="bicubic")
# timm's MIIL ImageNet-21k checkpoints: mean 0, std 1, that is [0, 1]
UNIT = Preprocessing(mode="unit", scale=1 / 255)

# How the factory cuts the zoo's network out of a keras-hub backbone (see ``_network``).
NETWORKS = ("map", "graph", "cls", "swin", "stages")


@dataclasses.dataclass(frozen=True)
class Family:
    """What the presets of one keras-hub backbone class share."""

    backbone_class: str  # in keras_hub.models
    preprocessing: Preprocessing  # the presets' default; an ``Image`` may declare its own
    license: str
    reference: str
    block_pattern: str | None = None
    network: str = "map"  # one of NETWORKS
    shape_argument: str = "image_shape"  # the constructor argument that takes the input shape


FAMILIES: dict[str, Family] = {
    "resnet": Family("ResNetBackbone", IMAGENET_BICUBIC, "Apache-2.0", "https://arxiv.org/abs/1512.03385",
                     block_pattern=r"^(stack\d+_block\d+)_"),
    "resnet_v2": Family("ResNetBackbone", INCEPTION_BICUBIC, "Apache-2.0", "https://arxiv.org/abs/1603.05027",
                        block_pattern=r"^(stack\d+_block\d+)_"),
    "resnet_vd": Family("ResNetBackbone", IMAGENET, "Apache-2.0", "https://arxiv.org/abs/1812.01187",
                        block_pattern=r"^(stack\d+_block\d+)_"),
    "densenet": Family("DenseNetBackbone", IMAGENET_BICUBIC, "BSD-3-Clause", "https://arxiv.org/abs/1608.06993",
                       block_pattern=r"^(stack\d+_block\d+)_"),
    "vgg": Family("VGGBackbone", IMAGENET, "BSD-3-Clause", "https://arxiv.org/abs/1409.1556",
                  block_pattern=r"^(block\d+)_", network="graph"),
    "efficientnet": Family("EfficientNetBackbone", IMAGENET_BICUBIC, "Apache-2.0", "https://arxiv.org/abs/1905.11946",
                           block_pattern=r"^(block\d+[a-z])_", shape_argument="input_shape", network="graph"),
    "mobilenet_v3": Family("MobileNetBackbone", IMAGENET_BICUBIC, "Apache-2.0", "https://arxiv.org/abs/1905.02244",
                           block_pattern=r"^(block_\d+(?:_\d+)?)$"),
    "cspnet": Family("CSPNetBackbone", IMAGENET, "Apache-2.0", "https://arxiv.org/abs/1911.11929",
                     block_pattern=r"^(stage_\d+)_"),
    "hgnetv2": Family("HGNetV2Backbone", IMAGENET_BICUBIC, "Apache-2.0",
                      "https://github.com/PaddlePaddle/PaddleClas", block_pattern=r"^(stage\d+)$", network="stages"),
    "mit": Family("MiTBackbone", IMAGENET, "NVIDIA Source Code License (non-commercial)",
                  "https://arxiv.org/abs/2105.15203", block_pattern=r"^(hierarchical_encoder_\d+_\d+)$"),
    "xception": Family("XceptionBackbone", VIT, "MIT", "https://arxiv.org/abs/1610.02357",
                       block_pattern=r"^(block\d+)_"),
    "vit": Family("ViTBackbone", VIT, "Apache-2.0", "https://arxiv.org/abs/2010.11929", network="cls"),
    "deit": Family("DeiTBackbone", IMAGENET_BICUBIC, "Apache-2.0", "https://arxiv.org/abs/2012.12877",
                   network="cls"),
    "dinov2": Family("DINOV2Backbone", IMAGENET_BICUBIC, "Apache-2.0", "https://arxiv.org/abs/2304.07193",
                     network="cls"),
    "swin": Family("SwinTransformerBackbone", IMAGENET_BICUBIC, "MIT", "https://arxiv.org/abs/2103.14030",
                   network="swin"),
}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Image:
    """One keras-hub image preset: its constructor arguments, input size, feature map and parameter count."""

    name: str  # the keras-hub preset
    family: str
    size: int  # the input size it was trained at
    feature_shape: tuple[int, ...]  # at ``size``; one value: a vector (the CLS token)
    params: int  # of the network the factory builds, at ``params_size`` (else ``size``)
    arguments: dict[str, Any]
    description: str  # keras-hub's metadata for the preset
    min_input_size: int = 32
    params_size: int | None = None  # the input size ``params`` is counted at, when it depends on it (else ``size``)
    pyramid: dict[str, str] = dataclasses.field(default_factory=dict)
    preprocessing: Preprocessing | None = None  # when it differs from the family's
    preset: str | None = None  # the weights behind the tag, when not the keras-hub preset ``name`` (an hf:// handle)


def _levels(*names: str) -> dict[str, str]:
    """``P2``..``P5`` (strides 4..32) to these layer names."""
    return {f"P{level}": name for level, name in enumerate(names, start=2)}


def _resnet(name: str, blocks: list[int], params: int, depth: int, *, basic: bool = False) -> Image:
    arguments = arch.resnet(blocks, "basic_block" if basic else "bottleneck_block")
    description = f"{depth}-layer ResNet model pre-trained on the ImageNet 1k dataset at a 224x224 resolution."
    pyramid = _levels(*(f"stack{i}_block{n - 1}_out" for i, n in enumerate(blocks)))
    return Image(name, "resnet", 224, (7, 7, 512 if basic else 2048), params, arguments, description, pyramid=pyramid)


def _resnet_v2(depth: int, blocks: list[int], params: int) -> Image:
    description = f"{depth}-layer ResNetV2 model pre-trained on the ImageNet 1k dataset at a 224x224 resolution."
    pyramid = _levels(*(f"stack{i}_block{n - 1}_out" for i, n in enumerate(blocks)))
    arguments = arch.resnet(blocks, "bottleneck_block", v2=True)
    return Image(f"resnet_v2_{depth}_imagenet", "resnet_v2", 224, (7, 7, 2048), params, arguments, description,
                 pyramid=pyramid)  # fmt: skip


def _resnet_vd(depth: int, blocks: list[int], params: int, variant: str = "", training: str = "") -> Image:
    basic = depth < 50
    description = (
        f"{depth}-layer ResNetVD (ResNet with bag of tricks) model pre-trained on the ImageNet 1k dataset at a "
        f"224x224 resolution{training}."
    )
    pyramid = _levels(*(f"stack{i}_block{n - 1}_out" for i, n in enumerate(blocks)))
    arguments = arch.resnet(blocks, "basic_block_vd" if basic else "bottleneck_block_vd", vd=True)
    return Image(f"resnet_vd_{depth}{variant}_imagenet", "resnet_vd", 224, (7, 7, 512 if basic else 2048), params,
                 arguments, description, pyramid=pyramid)  # fmt: skip


def _densenet(name: str, repeats: list[int], channels: int, params: int, depth: int) -> Image:
    arguments = dict(stackwise_num_repeats=repeats, compression_ratio=0.5, growth_rate=32)
    description = f"{depth}-layer DenseNet model pre-trained on the ImageNet 1k dataset at a 224x224 resolution."
    pyramid = _levels(*(f"stack{i + 1}_block{n}_concat" for i, n in enumerate(repeats)))
    return Image(name, "densenet", 224, (7, 7, channels), params, arguments, description, pyramid=pyramid)


def _vgg(name: str, repeats: list[int], params: int, depth: int) -> Image:
    arguments = dict(stackwise_num_repeats=repeats, stackwise_num_filters=[64, 128, 256, 512, 512])
    description = f"{depth}-layer vgg model pre-trained on the ImageNet 1k dataset at a 224x224 resolution."
    pyramid = _levels(*(f"block{i}_pool" for i in (2, 3, 4, 5)))
    return Image(name, "vgg", 224, (7, 7, 512), params, arguments, description, pyramid=pyramid)


def _efficientnet(name: str, variant: str, size: int, channels: int, params: int, blocks: str, description: str,
                  **kw: Any) -> Image:  # fmt: skip
    """``blocks``: the last block at strides 4, 8 and 16, e.g. ``"2b 3b 5c"`` (keras-hub's pyramid outputs)."""
    fused = variant in ("el", "em", "es") or variant.startswith("rw_")  # these blocks end in a layer "blockNx_"
    names = [f"block{b}_" if fused else f"block{b}_add" for b in blocks.split()]
    feature = (-(-size // 32), -(-size // 32), channels)
    return Image(name, "efficientnet", size, feature, params, arch.efficientnet(variant), description,
                 pyramid=_levels(*names, "top_activation"), **kw)  # fmt: skip


def _mobilenet_v3(name: str, variant: str, channels: int, params: int, description: str, **kw: Any) -> Image:
    large = variant.startswith("large")
    pyramid = _levels(*(("block_1_1", "block_2_2", "block_4_1", "block_6_0") if large
                        else ("block_0_0", "block_1_1", "block_3_1", "block_5_0")))  # fmt: skip
    return Image(name, "mobilenet_v3", 224, (7, 7, channels), params, arch.mobilenet_v3(variant), description,
                 pyramid=pyramid, **kw)  # fmt: skip


def _cspnet(name: str, architecture: str, channels: int, params: int, description: str, **kw: Any) -> Image:
    if architecture == "darknet53":  # five stages, each at half the size; the last block of each
        names = ["stage_1_block_1_dark_block_add", "stage_2_block_7_dark_block_add",
                 "stage_3_block_7_dark_block_add", "stage_4_block_3_dark_block_add"]  # fmt: skip
    else:  # cspdarknet53 has five stages (stem at stride 1), the CSP ResNets four (stem at stride 4)
        first = 1 if architecture == "cspdarknet53" else 0
        names = [f"stage_{i}_csp_transition_activation" for i in range(first, first + 4)]
    return Image(name, "cspnet", 256, (8, 8, channels), params, arch.cspnet(architecture), description,
                 pyramid=_levels(*names), **kw)  # fmt: skip


def _hgnetv2(variant: str, training: str, params: int) -> Image:
    stages = (
        "1-stage SSLD training, pre-trained on ImageNet-22K and" if "stage1" in training else "2-stage SSLD training,"
    )
    description = f"HGNetV2 {variant.upper()} model with {stages} fine-tuned on ImageNet-1K."
    return Image(f"hgnetv2_{variant}_ssld_{training}", "hgnetv2", 224, (7, 7, 2048), params, arch.hgnetv2(variant),
                 description, pyramid=_levels("stage1", "stage2", "stage3", "stage4"))  # fmt: skip


def _mit(variant: str, data: str, size: int, params: int) -> Image:
    blocks = sum(arch.mit(variant)["layerwise_depths"])
    description = f"MiT (MixTransformer) model with {blocks} transformer blocks."
    pyramid = _levels(*(f"output_level_{i}" for i in range(4)))  # keras-hub calls these P1..P4: strides 4..32
    channels = arch.mit(variant)["hidden_dims"][-1]
    return Image(f"mit_{variant}_{data}_{size}", "mit", size, (size // 32, size // 32, channels), params,
                 arch.mit(variant), description, pyramid=pyramid)  # fmt: skip


def _vit(name: str, size: int, patch: int, params: int) -> Image:
    kind = name.split("_")[1]
    layers, heads, hidden = {"base": (12, 12, 768), "large": (24, 16, 1024), "huge": (32, 16, 1280)}[kind]
    arguments = dict(
        patch_size=(patch, patch), num_layers=layers, num_heads=heads, hidden_dim=hidden, mlp_dim=4 * hidden
    )
    data, what = ("21k", "backbone") if name.endswith("21k") else ("1k", "model")
    description = (
        f"ViT-{kind[0].upper()}{patch} {what} pre-trained on the ImageNet {data} dataset with image "
        f"resolution of {size}x{size}"
    )
    return Image(name, "vit", size, (hidden,), params, arguments, description, min_input_size=size)


def _deit(size_name: str, size: int, params: int) -> Image:
    letter = size_name[0].upper()
    description = f"DeiT-{letter}16 model pre-trained on the ImageNet 1k dataset with image resolution of {size}x{size}"
    hidden = arch.deit(size_name)["hidden_dim"]
    return Image(f"deit_{size_name}_distilled_patch16_{size}_imagenet", "deit", size, (hidden,), params,
                 arch.deit(size_name), description, min_input_size=size)  # fmt: skip


def _swin(size_name: str, window: int, size: int, params: int) -> Image:
    arguments = arch.swin(size_name, window)
    description = (
        f"Swin-{size_name.capitalize()} model pre-trained on the ImageNet 1k dataset with image resolution of "
        f"{size}x{size}."
    )
    channels = 8 * arguments["embed_dim"]
    return Image(f"swin_{size_name}_patch4_window{window}_{size}", "swin", size, (size // 32, size // 32, channels),
                 params, arguments, description, min_input_size=size)  # fmt: skip


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


_RA4 = (
    "pre-trained on the ImageNet 1k dataset by Ross Wightman. Trained with timm scripts using hyper-parameters "
    "inspired by the MobileNet-V4 small, mixed with go-to hparams from timm and 'ResNet Strikes Back'."
)
_SW = (
    "Based on Swin Transformer train / pretrain recipe with modifications (related to both DeiT and ConvNeXt recipes)."
)
_CSP = "(Cross-Stage-Partial) image classification model pre-trained on the Randomly Augmented ImageNet 1k dataset"
_MOBILENET = (
    "Mobilenet V3 model pre-trained on the ImageNet {} dataset at a 224x224 resolution. Has {} channel multiplier."
)
_MIT_PARAMS = {"b0": 3_319_392, "b1": 13_151_424, "b2": 24_196_288, "b3": 44_072_128, "b4": 60_842_688,
               "b5": 81_443_008}  # fmt: skip
_MIT_DATA = (("ade20k", (512, 512, 512, 512, 512, 640)), ("cityscapes", (1024,) * 6))  # fine-tuned on, at sizes

IMAGES = [
    _resnet("resnet_18_imagenet", [2, 2, 2, 2], 11_186_112, 18, basic=True),
    _resnet("resnet_50_imagenet", [3, 4, 6, 3], 23_561_152, 50),
    _resnet("resnet_101_imagenet", [3, 4, 23, 3], 42_605_504, 101),
    _resnet("resnet_152_imagenet", [3, 8, 36, 3], 58_295_232, 152),
    _resnet_v2(50, [3, 4, 6, 3], 23_545_792),
    _resnet_v2(101, [3, 4, 23, 3], 42_590_144),
    _resnet_vd(18, [2, 2, 2, 2], 11_209_824),
    _resnet_vd(34, [3, 4, 6, 3], 21_325_408),
    _resnet_vd(50, [3, 4, 6, 3], 23_580_512),
    _resnet_vd(50, [3, 4, 6, 3], 23_580_512, "_ssld", " with knowledge distillation"),
    _resnet_vd(50, [3, 4, 6, 3], 23_580_512, "_ssld_v2", " with knowledge distillation and AutoAugment"),
    _resnet_vd(50, [3, 4, 6, 3], 23_580_512, "_ssld_v2_fix",
               " with knowledge distillation, AutoAugment and additional fine-tuning of the classification head"),
    _resnet_vd(101, [3, 4, 23, 3], 42_624_864),
    _resnet_vd(101, [3, 4, 23, 3], 42_624_864, "_ssld", " with knowledge distillation"),
    _resnet_vd(152, [3, 8, 36, 3], 58_314_592),
    _resnet_vd(200, [3, 12, 48, 3], 72_884_064),
    _densenet("densenet_121_imagenet", [6, 12, 24, 16], 1024, 7_037_504, 121),
    _densenet("densenet_169_imagenet", [6, 12, 32, 32], 1664, 12_642_880, 169),
    _densenet("densenet_201_imagenet", [6, 12, 48, 32], 1920, 18_321_984, 201),
    _vgg("vgg_11_imagenet", [1, 1, 2, 2, 2], 9_220_480, 11),
    _vgg("vgg_13_imagenet", [2, 2, 2, 2, 2], 9_404_992, 13),
    _vgg("vgg_16_imagenet", [2, 2, 3, 3, 3], 14_714_688, 16),
    _vgg("vgg_19_imagenet", [2, 2, 4, 4, 4], 20_024_384, 19),
    _efficientnet("efficientnet_b0_ra_imagenet", "b0", 224, 1280, 4_049_564, "2b 3b 5c",
                  "EfficientNet B0 model pre-trained on the ImageNet 1k dataset with RandAugment recipe."),
    _efficientnet("efficientnet_b0_ra4_e3600_r224_imagenet", "b0", 224, 1280, 4_049_564, "2b 3b 5c",
                  f"EfficientNet B0 model {_RA4}", preprocessing=INCEPTION_BICUBIC),
    _efficientnet("efficientnet_b1_ft_imagenet", "b1", 240, 1280, 6_575_232, "2c 3c 5d",
                  "EfficientNet B1 model fine-tuned on the ImageNet 1k dataset."),
    _efficientnet("efficientnet_b1_ra4_e3600_r240_imagenet", "b1", 240, 1280, 6_575_232, "2c 3c 5d",
                  f"EfficientNet B1 model {_RA4}", preprocessing=INCEPTION_BICUBIC),
    _efficientnet("efficientnet_b2_ra_imagenet", "b2", 256, 1408, 7_768_562, "2c 3c 5d",
                  "EfficientNet B2 model pre-trained on the ImageNet 1k dataset with RandAugment recipe."),
    _efficientnet("efficientnet_b3_ra2_imagenet", "b3", 288, 1536, 10_783_528, "2c 3c 5e",
                  "EfficientNet B3 model pre-trained on the ImageNet 1k dataset with RandAugment2 recipe."),
    _efficientnet("efficientnet_b4_ra2_imagenet", "b4", 320, 1792, 17_673_816, "2d 3d 5f",
                  "EfficientNet B4 model pre-trained on the ImageNet 1k dataset with RandAugment2 recipe."),
    _efficientnet("efficientnet_b5_sw_imagenet", "b5", 416, 2048, 28_513_520, "2e 3e 5g",
                  f"EfficientNet B5 model pre-trained on the ImageNet 12k dataset by Ross Wightman. {_SW}"),
    _efficientnet("efficientnet_b5_sw_ft_imagenet", "b5", 448, 2048, 28_513_520, "2e 3e 5g",
                  "EfficientNet B5 model pre-trained on the ImageNet 12k dataset and fine-tuned on ImageNet-1k by "
                  f"Ross Wightman. {_SW}"),
    # keras-hub 0.32's presets of these three hold efficientnet_b1_ft_imagenet's files: their weights come from timm
    _efficientnet("efficientnet_el_ra_imagenet", "el", 300, 1536, 9_144_920, "2c 3f 5f",
                  "EfficientNet-EdgeTPU Large model trained on the ImageNet 1k dataset with RandAugment recipe.",
                  preset="hf://timm/efficientnet_el.ra_in1k"),
    _efficientnet("efficientnet_em_ra2_imagenet", "em", 240, 1280, 5_686_304, "2c 3e 5e",
                  "EfficientNet-EdgeTPU Medium model trained on the ImageNet 1k dataset with RandAugment2 recipe.",
                  preset="hf://timm/efficientnet_em.ra2_in1k"),
    _efficientnet("efficientnet_es_ra_imagenet", "es", 224, 1280, 4_208_832, "2b 3d 5d",
                  "EfficientNet-EdgeTPU Small model trained on the ImageNet 1k dataset with RandAugment recipe.",
                  preset="hf://timm/efficientnet_es.ra_in1k"),
    _efficientnet("efficientnet2_rw_m_agc_imagenet", "rw_m", 320, 2152, 51_390_674, "2e 3e 5o",
                  "EfficientNet-v2 Medium model trained on the ImageNet 1k dataset with adaptive gradient clipping."),
    _efficientnet("efficientnet2_rw_s_ra2_imagenet", "rw_s", 288, 1792, 22_309_144, "2d 3d 5i",
                  "EfficientNet-v2 Small model trained on the ImageNet 1k dataset with RandAugment2 recipe."),
    _efficientnet("efficientnet2_rw_t_ra2_imagenet", "rw_t", 224, 1024, 12_743_412, "2d 3d 5i",
                  "EfficientNet-v2 Tiny model trained on the ImageNet 1k dataset with RandAugment2 recipe."),
    _efficientnet("efficientnet_lite0_ra_imagenet", "lite0", 224, 1280, 3_413_024, "2b 3b 5c",
                  "EfficientNet-Lite model fine-trained on the ImageNet 1k dataset with RandAugment recipe."),
    _mobilenet_v3("mobilenet_v3_small_050_imagenet", "small_050", 288, 278_784,
                  "Small " + _MOBILENET.format("1k", "half")),
    _mobilenet_v3("mobilenet_v3_small_100_imagenet", "small_100", 576, 939_120,
                  "Small " + _MOBILENET.format("1k", "baseline")),
    _mobilenet_v3("mobilenet_v3_large_100_imagenet", "large_100", 960, 2_996_352,
                  "Large " + _MOBILENET.format("1k", "baseline")),
    _mobilenet_v3("mobilenet_v3_large_100_imagenet_21k", "large_100", 960, 2_996_352,
                  "Large " + _MOBILENET.format("21k", "baseline"), preprocessing=UNIT),
    _cspnet("csp_darknet_53_ra_imagenet", "cspdarknet53", 1024, 26_652_512,
            f"A CSP-DarkNet {_CSP} at a 256x256 resolution."),
    _cspnet("csp_resnext_50_ra_imagenet", "cspresnext50", 2048, 18_578_368,
            f"A CSP-ResNeXt {_CSP} at a 256x256 resolution."),
    _cspnet("csp_resnet_50_ra_imagenet", "cspresnet50", 1024, 20_631_488,
            f"A CSP-ResNet {_CSP} at a 256x256 resolution."),
    _cspnet("darknet_53_imagenet", "darknet53", 1024, 40_620_640,
            "A DarkNet image classification model pre-trained on theImageNet 1k dataset at a 256x256 resolution.",
            preprocessing=IMAGENET_BICUBIC),
    _hgnetv2("b4", "stage2_ft_in1k", 13_599_072),
    _hgnetv2("b5", "stage1_in22k_in1k", 33_419_680),
    _hgnetv2("b5", "stage2_ft_in1k", 33_419_680),
    _hgnetv2("b6", "stage1_in22k_in1k", 69_179_888),
    _hgnetv2("b6", "stage2_ft_in1k", 69_179_888),
    *(_mit(variant, data, size, params) for data, sizes in _MIT_DATA
      for (variant, params), size in zip(_MIT_PARAMS.items(), sizes, strict=True)),
    Image("xception_41_imagenet", "xception", 299, (10, 10, 2048), 20_861_480, arch.xception41(),
          "41-layer Xception model pre-trained on ImageNet 1k.", min_input_size=71),
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
    _vit("vit_huge_patch14_224_imagenet21k", 224, 14, 630_764_800),
    _deit("tiny", 224, 5_524_800),
    _deit("small", 224, 21_666_432),
    _deit("base", 224, 85_800_192),
    _deit("base", 384, 86_092_032),
    _swin("tiny", 7, 224, 27_519_354),
    _swin("small", 7, 224, 48_837_258),
    _swin("base", 7, 224, 86_743_224),
    _swin("base", 12, 384, 86_878_584),
    _swin("large", 7, 224, 194_995_476),
    _swin("large", 12, 384, 195_198_516),
    _dinov2("dinov2_small", "small", 12, 6, 384, 22_582_656),
    _dinov2("dinov2_base", "base", 12, 12, 768, 87_632_640),
    _dinov2("dinov2_large", "large", 24, 16, 1024, 305_771_520),
    _dinov2("dinov2_with_registers_small", "small", 12, 6, 384, 22_584_192, registers=4),
    _dinov2("dinov2_with_registers_base", "base", 12, 12, 768, 87_635_712, registers=4),
    _dinov2("dinov2_with_registers_large", "large", 24, 16, 1024, 305_775_616, registers=4),
]  # fmt: skip


def build(image: Image, spec: BackboneSpec, *, weights: str | Path | None, input_shape: tuple[int, ...]) -> Any:
    """Preprocessed pixels -> the last feature map, or the CLS token of a transformer.

    >>> build(IMAGES[0], image_spec(IMAGES[0]), weights=None, input_shape=(64, 64, 3)).output_shape  # doctest: +SKIP
    (None, 2, 2, 512)
    """
    import keras_hub

    family = FAMILIES[image.family]
    backbone_class = getattr(keras_hub.models, family.backbone_class)
    shape = {family.shape_argument: tuple(input_shape)}
    if weights is None:
        backbone = backbone_class(**image.arguments, **shape)
    else:
        source = str(_check_directory(weights)) if isinstance(weights, Path) else image.preset or image.name
        backbone = keras_hub.models.Backbone.from_preset(source, **shape)
        _check_architecture(backbone, backbone_class, image, spec, source)
    return _network(family.network, backbone, tuple(input_shape))


def _network(kind: str, backbone: Any, input_shape: tuple[int, ...]) -> Any:
    """The zoo's network in a keras-hub backbone: one output, the pyramid's layers reachable by ``get_layer``.

    ``map``: the backbone itself. ``graph``: its layers in a plain ``keras.Model``: keras-hub 0.32's
    ``EfficientNetBackbone.get_config`` drops ``num_features`` and ``stackwise_nores_option``, so the
    backbone itself would not rebuild from a saved model; ``VGGBackbone.get_config`` drops the layer's
    name and ``trainable``, so a loaded run's network came back renamed (``vgg_backbone_2``) and unfrozen.
    ``cls``: its first token. ``swin``: its last tokens as a map. Both keep the backbone whole, as one
    layer: keras-hub 0.32 cannot serialise DeiT's and Swin's inner layers one by one (their ``get_config``
    fails). ``stages``: HGNetV2's stages called one by one (its encoder is one layer with several
    outputs), each output an ``Identity`` layer ``stage1``..``stage4``.
    """
    import keras

    if kind == "map":
        return backbone
    if kind == "graph":  # the same layers in a plain functional model, serialised layer by layer
        return keras.Model(backbone.input, backbone.output, name=backbone.name)
    pixels = keras.Input(input_shape, name="images")
    if kind == "stages":
        x = backbone.embedder_layer(pixels)
        for i, stage in enumerate(backbone.encoder_layer.stages_list, start=1):
            x = keras.layers.Identity(name=f"stage{i}")(stage(x))
        return keras.Model(pixels, x, name=backbone.name)
    tokens = backbone({"images": pixels} if isinstance(backbone.input, dict) else pixels)
    if kind == "cls":
        return keras.Model(pixels, tokens[:, 0, :], name=f"{backbone.name}_cls")
    shape = (input_shape[0] // 32, input_shape[1] // 32, tokens.shape[-1])  # swin: tokens (batch, h*w, channels)
    return keras.Model(pixels, keras.layers.Reshape(shape, name="feature_map")(tokens), name=f"{backbone.name}_map")


def _check_architecture(backbone: Any, backbone_class: type, image: Image, spec: BackboneSpec, source: str) -> None:
    """Refuse a preset whose architecture is not the one ``spec`` declares: never run on other weights in silence."""
    if not isinstance(backbone, backbone_class):
        raise WeightsError(f"{source} holds a {type(backbone).__name__}; {spec.name} is a {backbone_class.__name__}")
    config = json.loads(json.dumps(backbone.get_config(), default=str))
    declared = json.loads(json.dumps(image.arguments))
    differs = sorted(key for key, value in declared.items() if key in config and not _equal(config[key], value))
    if differs:
        key = differs[0]
        raise WeightsError(
            f"{source} holds another {backbone_class.__name__} than {spec.name}: {key} is {config[key]!r}, "
            f"not {declared[key]!r}. Pass the preset or directory of {spec.name}'s own weights."
        )


def _equal(found: Any, declared: Any) -> bool:
    """Whether a preset's config value is the declared argument, a number standing for a pair of it included.

    >>> _equal(16, [16, 16]), _equal([16, 16], 16), _equal(4, 4.0), _equal([2, 2], [2, 3])
    (True, True, True, False)
    """
    if isinstance(found, list) != isinstance(declared, list):
        scalar, values = (declared, found) if isinstance(found, list) else (found, declared)
        return all(value == scalar for value in values)
    return found == declared


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
    """The zoo spec of one keras-hub image preset.

    >>> image_spec(IMAGES[0]).pyramid["P5"]
    'stack3_block1_out'
    """
    family = FAMILIES[image.family]
    source = f"timm checkpoint {image.preset}" if image.preset else f"keras-hub preset {image.name}"
    weights = WeightsVariant(tag=image.name, source=source, license=family.license)
    return BackboneSpec(
        name=image.name,
        family=image.family,
        modality="image",
        input_shape=(image.size, image.size, 3),
        preprocessing=image.preprocessing or family.preprocessing,
        feature_dim=image.feature_shape[-1],
        feature_shape=image.feature_shape,
        weights=(weights,),
        params=image.params,
        min_input_size=image.min_input_size,
        block_pattern=family.block_pattern,
        description=image.description,
        reference=family.reference,
        pyramid=image.pyramid,
        factory=functools.partial(build, image),
    )
