"""Keras layers the zoo puts inside its models (backend-agnostic: ``keras.ops`` only).

They are registered as serialisable, so a saved ``.keras`` model loads with ``safe_mode=True``
once ``zoo`` is imported.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from zoo.spec import Preprocessing


@keras.saving.register_keras_serializable(package="zoo")
class ImagePreprocessing(keras.layers.Layer):
    """Turn raw RGB pixels in [0, 255] into a network's input, as a :class:`zoo.Preprocessing` says.

    >>> layer = ImagePreprocessing.from_spec(Preprocessing.tf())
    >>> [round(float(v), 3) for v in layer(ops.convert_to_tensor([[0.0, 127.5, 255.0]]))[0]]
    [-1.0, 0.0, 1.0]
    """

    def __init__(
        self,
        channel_order: str = "rgb",
        scale: float = 1.0,
        offset: float = 0.0,
        mean: tuple[float, ...] | None = None,
        std: tuple[float, ...] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.channel_order = channel_order
        self.scale = float(scale)
        self.offset = float(offset)
        self.mean = None if mean is None else tuple(float(m) for m in mean)
        self.std = None if std is None else tuple(float(s) for s in std)

    @classmethod
    def from_spec(cls, preprocessing: Preprocessing, **kwargs: Any) -> ImagePreprocessing:
        return cls(
            channel_order=preprocessing.channel_order,
            scale=preprocessing.scale,
            offset=preprocessing.offset,
            mean=preprocessing.mean,
            std=preprocessing.std,
            **kwargs,
        )

    def call(self, pixels: Any) -> Any:
        x = ops.cast(pixels, self.compute_dtype)
        if self.channel_order == "bgr":
            x = ops.flip(x, axis=-1)
        if self.scale != 1.0 or self.offset != 0.0:
            x = x * self.scale + self.offset
        if self.mean is not None:
            x = x - ops.convert_to_tensor(self.mean, dtype=x.dtype)
        if self.std is not None:
            x = x / ops.convert_to_tensor(self.std, dtype=x.dtype)
        return x

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "channel_order": self.channel_order,
            "scale": self.scale,
            "offset": self.offset,
            "mean": self.mean,
            "std": self.std,
        }
