"""The data layer: read images or texts into a checked :class:`Dataset`, split it, then stream it.

>>> import numpy as np
>>> from zoo.data import load_dataset, split
>>> train, val = split(load_dataset((np.arange(10).reshape(10, 1, 1), [0, 1] * 5)), val_fraction=0.2)
>>> len(train), len(val)
(8, 2)

:mod:`zoo.data.sources` imports neither TensorFlow nor Keras; :func:`pipeline`, :func:`image_pipeline`
and :func:`text_pipeline` import them when called.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from zoo.config import AUGMENTATIONS
from zoo.data.images import augmentation_layers, decode_image, image_pipeline, read_image, scan_files
from zoo.data.sources import (
    IMAGE_EXTENSIONS,
    TASKS,
    TEXT_EXTENSIONS,
    Dataset,
    Modality,
    Task,
    load_dataset,
    split,
)
from zoo.data.text import text_pipeline, topics_path
from zoo.errors import ConfigError

if TYPE_CHECKING:
    import tensorflow as tf


def pipeline(
    dataset: Dataset,
    *,
    image_size: tuple[int, int] | None = None,
    interpolation: str = "bilinear",
    batch_size: int = 32,
    shuffle: bool = False,
    seed: int = 0,
    augment: bool | str | Sequence[str] | None = None,
    with_targets: bool = True,
) -> tf.data.Dataset:
    """:func:`image_pipeline` or :func:`text_pipeline`, by ``dataset.modality``: one call for either kind.

    ``image_size`` is required for images; ``image_size`` and ``interpolation`` are ignored for texts,
    which take no ``augment`` (:class:`zoo.ConfigError`).

    >>> texts = load_dataset((["Goal!", "Rain."], ["sports", "weather"]))
    >>> pipeline(texts, batch_size=2).element_spec[0].dtype.name
    'string'
    """
    if dataset.modality == "text":
        if augment is not None and augment is not False:
            raise ConfigError(f"augmentation applies to images only, got augment={augment!r} for a text dataset")
        return text_pipeline(dataset, batch_size=batch_size, shuffle=shuffle, seed=seed, with_targets=with_targets)
    if image_size is None:
        raise ConfigError("image_size=(height, width) is required for an image dataset")
    return image_pipeline(
        dataset,
        image_size=image_size,
        interpolation=interpolation,
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
        augment=augment,
        with_targets=with_targets,
    )


__all__ = [
    "AUGMENTATIONS",
    "IMAGE_EXTENSIONS",
    "TASKS",
    "TEXT_EXTENSIONS",
    "Dataset",
    "Modality",
    "Task",
    "augmentation_layers",
    "decode_image",
    "image_pipeline",
    "load_dataset",
    "pipeline",
    "read_image",
    "scan_files",
    "split",
    "text_pipeline",
    "topics_path",
]
