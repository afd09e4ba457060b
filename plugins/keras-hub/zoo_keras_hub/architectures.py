"""Constructor arguments of keras-hub image backbones, declared here because offline a preset carries none.

Each function gives the keyword arguments of one keras-hub backbone class for one architecture, as
keras-hub's own checkpoint converters write them (``keras_hub/src/utils/timm/convert_*.py`` for the
timm checkpoints, ``tools/checkpoint_conversion/convert_*.py`` in the keras-hub repository for the
others); the tests compare them with those converters where keras-hub ships them. Plain data: nothing
here imports keras or keras-hub.
"""

from __future__ import annotations

from typing import Any

Arguments = dict[str, Any]


def resnet(blocks: list[int], block_type: str, *, v2: bool = False, vd: bool = False) -> Arguments:
    """ResNet v1 / v2 (timm ``resnet*``, ``resnetv2_*``) and ResNet-vd (PaddleClas: a 3-conv stem, avg-pool shortcut).

    >>> resnet([2, 2, 2, 2], "basic_block_vd", vd=True)["input_conv_filters"]
    [32, 32, 64]
    """
    arguments: Arguments = dict(
        input_conv_filters=[32, 32, 64] if vd else [64],
        input_conv_kernel_sizes=[3, 3, 3] if vd else [7],
        stackwise_num_filters=[64, 128, 256, 512],
        stackwise_num_blocks=blocks,
        stackwise_num_strides=[1, 2, 2, 2],
        block_type=block_type,
    )
    if v2:
        arguments["use_pre_activation"] = True
    return arguments


_EFFICIENTNET: Arguments = dict(  # timm's EfficientNet B0 layout; the variants below change parts of it
    stackwise_kernel_sizes=[3, 3, 5, 3, 5, 5, 3],
    stackwise_num_repeats=[1, 2, 2, 3, 3, 4, 1],
    stackwise_input_filters=[32, 16, 24, 40, 80, 112, 192],
    stackwise_output_filters=[16, 24, 40, 80, 112, 192, 320],
    stackwise_expansion_ratios=[1, 6, 6, 6, 6, 6, 6],
    stackwise_strides=[1, 2, 2, 2, 1, 2, 1],
    stackwise_block_types=["v1"] * 7,
    min_depth=None,
    include_stem_padding=True,
    use_depth_divisor_as_min_depth=True,
    cap_round_filter_decrease=True,
    stem_conv_padding="valid",
    batch_norm_momentum=0.9,
    batch_norm_epsilon=1e-5,
    dropout=0,
    projection_activation=None,
)

_EDGE_TPU: Arguments = dict(  # EfficientNet-EdgeTPU: fused first stages, no squeeze-and-excite, ReLU
    stackwise_kernel_sizes=[3, 3, 3, 5, 5, 5],
    stackwise_num_repeats=[1, 2, 4, 5, 4, 2],
    stackwise_input_filters=[32, 24, 32, 48, 96, 144],
    stackwise_output_filters=[24, 32, 48, 96, 144, 192],
    stackwise_expansion_ratios=[4, 8, 8, 8, 8, 8],
    stackwise_strides=[1, 2, 2, 2, 1, 2],
    stackwise_squeeze_and_excite_ratios=[0] * 6,
    stackwise_block_types=["fused"] * 3 + ["unfused"] * 3,
    stackwise_force_input_filters=[24, 0, 0, 0, 0, 0],
    stackwise_nores_option=[True] + [False] * 5,
    activation="relu",
)

_V2_RW: Arguments = dict(  # Ross Wightman's EfficientNet-V2 variants
    stackwise_kernel_sizes=[3, 3, 3, 3, 3, 3],
    stackwise_num_repeats=[2, 4, 4, 6, 9, 15],
    stackwise_input_filters=[24, 24, 48, 64, 128, 160],
    stackwise_output_filters=[24, 48, 64, 128, 160, 272],
    stackwise_expansion_ratios=[1, 4, 4, 4, 6, 6],
    stackwise_strides=[1, 2, 2, 2, 1, 2],
    stackwise_squeeze_and_excite_ratios=[0, 0, 0, 0.25, 0.25, 0.25],
    stackwise_block_types=["fused"] * 3 + ["unfused"] * 3,
    stackwise_force_input_filters=[0] * 6,
    stackwise_nores_option=[False] * 6,
    activation="silu",
)


def efficientnet(variant: str) -> Arguments:
    """timm's ``efficientnet_<variant>`` / ``efficientnetv2_<variant>``: ``b0``..``b5``, ``lite0``, ``el``, ``em``,
    ``es``, ``rw_t``, ``rw_s``, ``rw_m``.

    >>> efficientnet("b3")["stackwise_depth_coefficients"]
    [1.4, 1.4, 1.4, 1.4, 1.4, 1.4, 1.4]
    """
    scaling = {"b0": (1.0, 1.0), "b1": (1.0, 1.1), "b2": (1.1, 1.2), "b3": (1.2, 1.4), "b4": (1.4, 1.8),
               "b5": (1.6, 2.2), "lite0": (1.0, 1.0), "el": (1.2, 1.4), "em": (1.0, 1.1), "es": (1.0, 1.0),
               "rw_m": (1.2, None), "rw_s": (1.0, 1.0), "rw_t": (0.8, 0.9)}  # fmt: skip
    width, depth = scaling[variant]
    stacks = 7 if variant.startswith(("b", "lite")) else 6
    arguments = dict(_EFFICIENTNET)
    if variant in ("el", "em", "es"):
        arguments.update(_EDGE_TPU)
    elif variant.startswith("rw_"):
        arguments.update(_V2_RW)
    arguments["stackwise_width_coefficients"] = [width] * stacks
    arguments["stackwise_depth_coefficients"] = [1.2] * 4 + [1.6] * 2 if depth is None else [depth] * stacks
    if stacks == 7:
        arguments["stackwise_squeeze_and_excite_ratios"] = [0 if variant == "lite0" else 0.25] * 7
    if variant == "lite0":
        arguments["activation"] = "relu6"
    if variant in ("rw_m", "rw_s"):
        arguments["num_features"] = 1792
    if variant == "rw_t":
        arguments["stackwise_output_filters"] = [24, 48, 64, 128, 160, 256]
        arguments["stackwise_block_types"] = ["cba"] + ["fused"] * 2 + ["unfused"] * 3
    return arguments


def mobilenet_v3(variant: str) -> Arguments:
    """timm's ``mobilenetv3_<variant>``: ``small_050``, ``small_100``, ``large_100``.

    >>> mobilenet_v3("small_100")["last_layer_filter"]
    576
    """
    if variant.startswith("large"):
        return dict(
            stackwise_num_blocks=[2, 3, 4, 2, 3],
            stackwise_expansion=[[64, 72], [72, 120, 120], [240, 200, 184, 184], [480, 672], [672, 960, 960]],
            stackwise_num_filters=[[24, 24], [40, 40, 40], [80, 80, 80, 80], [112, 112], [160, 160, 160]],
            stackwise_kernel_size=[[3, 3], [5, 5, 5], [3, 3, 3, 3], [3, 3], [5, 5, 5]],
            stackwise_num_strides=[[2, 1], [2, 1, 1], [2, 1, 1, 1], [1, 1], [2, 1, 1]],
            stackwise_se_ratio=[[None, None], [0.25] * 3, [None] * 4, [0.25] * 2, [0.25] * 3],
            stackwise_activation=[["relu"] * 2, ["relu"] * 3, ["hard_swish"] * 4, ["hard_swish"] * 2,
                                  ["hard_swish"] * 3],
            stackwise_padding=[[1, 1], [2, 2, 2], [1, 1, 1, 1], [1, 1], [2, 2, 2]],
            output_num_filters=1024,
            input_num_filters=16,
            depthwise_filters=16,
            depthwise_stride=1,
            depthwise_residual=True,
            squeeze_and_excite=None,
            last_layer_filter=960,
            input_activation="hard_swish",
            output_activation="hard_swish",
        )  # fmt: skip
    full = variant == "small_100"
    return dict(
        stackwise_num_blocks=[2, 3, 2, 3],
        stackwise_expansion=[[72, 88], [96, 240, 240], [120, 144], [288, 576, 576]] if full
        else [[40, 56], [64, 144, 144], [72, 72], [144, 288, 288]],
        stackwise_num_filters=[[24, 24], [40, 40, 40], [48, 48], [96, 96, 96]] if full
        else [[16, 16], [24, 24, 24], [24, 24], [48, 48, 48]],
        stackwise_kernel_size=[[3, 3], [5, 5, 5], [5, 5], [5, 5, 5]],
        stackwise_num_strides=[[2, 1], [2, 1, 1], [1, 1], [2, 1, 1]],
        stackwise_se_ratio=[[None, None], [0.25] * 3, [0.25] * 2, [0.25] * 3],
        stackwise_activation=[["relu"] * 2, ["hard_swish"] * 3, ["hard_swish"] * 2, ["hard_swish"] * 3],
        stackwise_padding=[[1, 1], [2, 2, 2], [2, 2], [2, 2, 2]],
        output_num_filters=1024,
        input_num_filters=16,
        depthwise_filters=16 if full else 8,
        depthwise_stride=2,
        depthwise_residual=False,
        squeeze_and_excite=0.5,
        last_layer_filter=576 if full else 288,
        input_activation="hard_swish",
        output_activation="hard_swish",
    )  # fmt: skip


def cspnet(architecture: str) -> Arguments:
    """timm's ``cspresnet50``, ``cspresnext50``, ``cspdarknet53`` and ``darknet53``.

    >>> cspnet("darknet53")["stage_type"]
    'dark'
    """
    darknet = dict(stem_filters=32, stem_kernel_size=3, stem_strides=1, stackwise_depth=[1, 2, 8, 8, 4],
                   stackwise_num_filters=[64, 128, 256, 512, 1024], stackwise_strides=[2, 2, 2, 2, 2],
                   block_type="dark_block", stem_padding="same", stem_pooling=None, avg_down=False,
                   cross_linear=False, groups=1)  # fmt: skip
    resnet_like = dict(stem_filters=64, stem_kernel_size=7, stem_strides=4, stackwise_depth=[3, 3, 5, 2],
                       stackwise_strides=[1, 2, 2, 2], block_type="bottleneck_block", stage_type="csp",
                       stem_padding="valid", stem_pooling="max", avg_down=False, down_growth=False,
                       cross_linear=True)  # fmt: skip
    return {
        "cspdarknet53": dict(darknet, bottle_ratio=[0.5, 1.0], block_ratio=[1.0, 0.5], expand_ratio=[2.0, 1.0],
                             stage_type="csp", down_growth=True),
        "darknet53": dict(darknet, bottle_ratio=[0.5], block_ratio=[1.0], expand_ratio=[1.0], stage_type="dark",
                          down_growth=False),
        "cspresnet50": dict(resnet_like, stackwise_num_filters=[128, 256, 512, 1024], bottle_ratio=[0.5],
                            block_ratio=[1.0], expand_ratio=[2.0], groups=1),
        "cspresnext50": dict(resnet_like, stackwise_num_filters=[256, 512, 1024, 2048], bottle_ratio=[1.0],
                             block_ratio=[0.5], expand_ratio=[1.0], groups=32),
    }[architecture]  # fmt: skip


_HGNETV2 = {  # timm's hgnetv2_b4..b6: stem channels and per stage [in, mid, out, blocks, layers, kernel]
    "b4": ([3, 32, 48], [[48, 48, 128, 1, 6, 3], [128, 96, 512, 1, 6, 3], [512, 192, 1024, 3, 6, 5],
                         [1024, 384, 2048, 1, 6, 5]], [1, 1, 3, 1]),
    "b5": ([3, 32, 64], [[64, 64, 128, 1, 6, 3], [128, 128, 512, 2, 6, 3], [512, 256, 1024, 5, 6, 5],
                         [1024, 512, 2048, 2, 6, 5]], [1, 2, 5, 2]),
    "b6": ([3, 48, 96], [[96, 96, 192, 2, 6, 3], [192, 192, 512, 3, 6, 3], [512, 384, 1024, 6, 6, 5],
                         [1024, 768, 2048, 3, 6, 5]], [2, 3, 6, 3]),
}  # fmt: skip


def hgnetv2(variant: str) -> Arguments:
    """timm's ``hgnetv2_<variant>`` (``b4``..``b6``) with SSLD weights (no learnable affine blocks).

    >>> hgnetv2("b5")["depths"]
    [1, 2, 5, 2]
    """
    stem, stages, depths = _HGNETV2[variant]
    return dict(
        depths=depths,
        embedding_size=stem[-1],
        hidden_sizes=[stage[2] for stage in stages],
        stem_channels=stem,
        hidden_act="relu",
        use_learnable_affine_block=False,
        stackwise_stage_filters=stages,
        apply_downsample=[False, True, True, True],
        use_lightweight_conv_block=[False, False, True, True],
    )


def mit(variant: str) -> Arguments:
    """MiT (SegFormer's Mix Transformer encoder) ``b0``..``b5``.

    >>> sum(mit("b2")["layerwise_depths"])
    16
    """
    depths = {"b0": [2, 2, 2, 2], "b1": [2, 2, 2, 2], "b2": [3, 4, 6, 3], "b3": [3, 4, 18, 3], "b4": [3, 8, 27, 3],
              "b5": [3, 6, 40, 3]}[variant]  # fmt: skip
    return dict(
        layerwise_depths=depths,
        hidden_dims=[32, 64, 160, 256] if variant == "b0" else [64, 128, 320, 512],
        num_layers=4,
        layerwise_num_heads=[1, 2, 5, 8],
        layerwise_sr_ratios=[8, 4, 2, 1],
        max_drop_path_rate=0.1,
        layerwise_patch_sizes=[7, 3, 3, 3],
        layerwise_strides=[4, 2, 2, 2],
    )


def deit(size: str) -> Arguments:
    """DeiT distilled ``tiny``, ``small``, ``base`` with 16-pixel patches (facebook/deit-*-distilled-patch16-*).

    >>> deit("small")["hidden_dim"]
    384
    """
    layers, heads, hidden = {"tiny": (12, 3, 192), "small": (12, 6, 384), "base": (12, 12, 768)}[size]
    return dict(patch_size=16, num_layers=layers, num_heads=heads, hidden_dim=hidden, intermediate_dim=4 * hidden,
                layer_norm_epsilon=1e-12)  # fmt: skip


def swin(size: str, window: int) -> Arguments:
    """Swin ``tiny``, ``small``, ``base``, ``large`` with 4-pixel patches (microsoft/swin-*).

    >>> swin("base", 12)["num_heads"]
    (4, 8, 16, 32)
    """
    embed, depths, heads = {"tiny": (96, (2, 2, 6, 2), (3, 6, 12, 24)), "small": (96, (2, 2, 18, 2), (3, 6, 12, 24)),
                            "base": (128, (2, 2, 18, 2), (4, 8, 16, 32)),
                            "large": (192, (2, 2, 18, 2), (6, 12, 24, 48))}[size]  # fmt: skip
    return dict(patch_size=4, embed_dim=embed, depths=depths, num_heads=heads, window_size=window, mlp_ratio=4.0,
                qkv_bias=True, dropout_rate=0.0, attention_dropout=0.0, drop_path=0.1, patch_norm=True)  # fmt: skip


def xception41() -> Arguments:
    """Keras Applications' Xception (keras-hub's ``xception_41_imagenet``).

    >>> len(xception41()["stackwise_conv_filters"])
    14
    """
    return dict(
        stackwise_conv_filters=[[32, 64], [128, 128], [256, 256], [728, 728]]
        + [[728, 728, 728]] * 8
        + [[728, 1024], [1536, 2048]],
        stackwise_pooling=[False, True, True, True] + [False] * 8 + [True, False],
    )
