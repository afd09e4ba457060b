"""An example backbone-zoo plugin: ``tiny_convnet``, a small custom convnet with its own preprocessing.

The module imports no Keras (the zoo lists backbones without it); the factory does, when the
backbone is built. ``weights`` reaches the factory as ``None`` (random init) or a local path.

>>> from zoo_example_plugin import register_backbones
>>> [spec.name for spec in register_backbones()]
['tiny_convnet']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import zoo

WIDTHS = (16, 32, 64)  # one stride-2 block per width: 64x64 -> 8x8


def build(spec: zoo.BackboneSpec, *, weights: str | Path | None, input_shape: tuple[int, ...]) -> Any:
    """Preprocessed pixels -> the (8, 8, 64) feature map at 64x64; loads a local weights file if given.

    >>> build(None, weights=None, input_shape=(64, 64, 3)).output_shape
    (None, 8, 8, 64)
    """
    import keras

    inputs = keras.Input(input_shape)
    x = inputs
    for i, width in enumerate(WIDTHS, start=1):
        x = keras.layers.Conv2D(width, 3, strides=2, padding="same", use_bias=False, name=f"block{i}_conv")(x)
        x = keras.layers.BatchNormalization(name=f"block{i}_bn")(x)
        x = keras.layers.ReLU(name=f"block{i}_relu")(x)
    model = keras.Model(inputs, x, name="tiny_convnet")
    if weights is not None:  # this plugin publishes no weights, so anything else is a local file
        model.load_weights(weights)
    return model


@zoo.hookimpl
def register_backbones() -> list[zoo.BackboneSpec]:
    """The plugin's one backbone."""
    return [
        zoo.BackboneSpec(
            name="tiny_convnet",
            family="tiny_convnet",
            input_shape=(64, 64, 3),
            feature_dim=WIDTHS[-1],
            feature_shape=(8, 8, WIDTHS[-1]),
            preprocessing=zoo.Preprocessing(mode="custom", scale=1 / 255, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)),
            params=23_920,
            min_input_size=16,
            block_pattern=r"^(block\d+)_",
            description="Three Conv-BN-ReLU blocks; an example of a custom backbone plugin, no pretrained weights",
            factory=build,
        )
    ]
