"""Pipelines: a :class:`~zoo.data.Dataset` streamed as tf.data batches, images resized (and augmented), or texts.

TensorFlow and Keras are imported inside the functions that build pipelines and layers, so importing this
module stays light.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.config import AUGMENTATIONS, augmentation_names
from zoo.console import installed
from zoo.data.dataset import Dataset
from zoo.data.decode import decode_image
from zoo.errors import ConfigError, DataError, carries_errors
from zoo.spec import INTERPOLATIONS

if TYPE_CHECKING:
    import keras
    import tensorflow as tf


def require_tf_data(what: str) -> None:
    """Refuse in one line, before any work, where TensorFlow is not installed: the zoo reads files and batches
    data with tf.data on every Keras backend (a JAX or PyTorch model trains from it too).

    >>> require_tf_data("training")  # TensorFlow is installed here: nothing to say
    """
    if not installed("tensorflow"):
        raise ConfigError(
            f"{what} reads data with tf.data, which needs TensorFlow whatever the Keras backend: pip install tensorflow"
        )


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

    >>> from zoo.data import load_dataset
    >>> texts = load_dataset((["Goal!", "Rain."], ["sports", "weather"]))
    >>> pipeline(texts, batch_size=2).element_spec[0].dtype.name
    'string'
    """
    require_tf_data("a data pipeline")
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


def image_pipeline(
    dataset: Dataset,
    *,
    image_size: tuple[int, int],
    interpolation: str = "bilinear",
    batch_size: int = 32,
    shuffle: bool = False,
    seed: int = 0,
    augment: bool | str | Sequence[str] | None = None,
    with_targets: bool = True,
) -> tf.data.Dataset:
    """Batches of ``(pixels, targets)`` (or pixels alone): float32 RGB in [0, 255], shape ``(B, h, w, 3)``.

    Files are decoded in parallel with :func:`decode_image` and resized with ``tf.image.resize``;
    arrays are used as they are (resized when their size differs). Targets keep the dtype of
    ``dataset.targets``. ``shuffle`` reshuffles every epoch from ``seed``; without it the order is the
    dataset's. ``augment`` (see :func:`augmentation_layers`) is for training data only.

    >>> import numpy as np
    >>> from zoo.data import load_dataset
    >>> pixels = np.arange(4 * 8 * 8 * 3).reshape(4, 8, 8, 3).astype(np.uint8)  # four different images
    >>> dataset = load_dataset((pixels, ["cat", "dog", "cat", "dog"]))
    >>> ds = image_pipeline(dataset, image_size=(16, 16), batch_size=3, shuffle=True, augment=True)
    >>> [tuple(pixels.shape) for pixels, targets in ds]
    [(3, 16, 16, 3), (1, 16, 16, 3)]
    """
    import tensorflow as tf

    height, width = _check_size(image_size)
    if interpolation not in INTERPOLATIONS:
        raise ConfigError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    layers = augmentation_layers(augment, (height, width), seed)
    n = len(dataset)
    if n == 0:
        raise DataError("the dataset is empty")

    def resize(images: tf.Tensor) -> tf.Tensor:
        return resize_images(images, (height, width), interpolation)

    order = tf.data.Dataset.range(n)
    if shuffle:
        order = order.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    targets = tf.constant(dataset.targets)
    if dataset.images is not None:
        images = tf.constant(dataset.images)
        ds = order.batch(batch_size).map(
            lambda i: (resize(tf.gather(images, i)), tf.gather(targets, i)), num_parallel_calls=tf.data.AUTOTUNE
        )
    elif dataset.paths is not None:
        paths, digests = tf.constant(dataset.paths), tf.constant(dataset.digests)

        def load(i: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            inputs = [tf.io.read_file(paths[i]), digests[i], paths[i]]
            pixels = tf.numpy_function(_decode_unchanged, inputs, tf.uint8, stateful=False)
            return resize(tf.ensure_shape(pixels, [None, None, 3])), targets[i]

        ds = order.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=not shuffle).batch(batch_size)
    else:
        raise DataError("the dataset has neither paths nor images")
    if layers:
        ds = ds.map(lambda x, y: (_apply(layers, x), y), num_parallel_calls=tf.data.AUTOTUNE)
    if not with_targets:
        ds = ds.map(lambda x, y: x)
    return ds.prefetch(tf.data.AUTOTUNE)


def text_pipeline(
    dataset: Dataset, *, batch_size: int = 32, shuffle: bool = False, seed: int = 0, with_targets: bool = True
) -> tf.data.Dataset:
    """Batches of ``(texts, targets)`` (or texts alone): tf.string tensors of shape ``(B,)``, UTF-8 encoded.

    Targets keep the dtype of ``dataset.targets``. ``shuffle`` reshuffles every epoch from ``seed``;
    without it the order is the dataset's. Batches are prefetched.

    >>> from zoo.data import load_dataset
    >>> ds = load_dataset((["Rain by noon.", "Goal!", "Whisk the eggs."], [2, 0, 1]))
    >>> [texts.numpy().tolist() for texts in text_pipeline(ds, batch_size=2, with_targets=False)]
    [[b'Rain by noon.', b'Goal!'], [b'Whisk the eggs.']]
    """
    import tensorflow as tf

    if dataset.texts is None:
        raise DataError(f"{dataset!r} holds images, not texts; use image_pipeline")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    n = len(dataset)
    if n == 0:
        raise DataError("the dataset is empty")
    texts = tf.constant(dataset.texts, dtype=tf.string)
    targets = tf.constant(dataset.targets)
    order = tf.data.Dataset.range(n)
    if shuffle:
        order = order.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    batches = order.batch(batch_size)
    if with_targets:
        ds = batches.map(lambda i: (tf.gather(texts, i), tf.gather(targets, i)), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = batches.map(lambda i: tf.gather(texts, i), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def augmentation_layers(
    augment: bool | str | Sequence[str] | None, image_size: tuple[int, int], seed: int = 0
) -> list[keras.layers.Layer]:
    """The Keras preprocessing layers for ``augment``: None/False none, True all, or names from ``AUGMENTATIONS``.

    They take and return float pixels in [0, 255] at ``image_size``, in the order of ``AUGMENTATIONS``;
    "crop" is a random crop of a 15% larger resize.

    >>> [type(layer).__name__ for layer in augmentation_layers(["flip", "contrast"], (32, 32))]
    ['RandomFlip', 'RandomContrast']
    """
    names = augmentation_names(augment)
    if not names:
        return []
    import keras

    height, width = image_size
    makers: dict[str, Callable[[int], list[keras.layers.Layer]]] = {
        "crop": lambda s: [
            keras.layers.Resizing(round(height * 1.15), round(width * 1.15)),
            keras.layers.RandomCrop(height, width, seed=s),
        ],
        "flip": lambda s: [keras.layers.RandomFlip("horizontal", seed=s)],
        "rotation": lambda s: [keras.layers.RandomRotation(0.05, seed=s)],
        "zoom": lambda s: [keras.layers.RandomZoom(0.1, seed=s)],
        "contrast": lambda s: [keras.layers.RandomContrast(0.2, value_range=(0, 255), seed=s)],
    }
    return [layer for i, name in enumerate(AUGMENTATIONS) if name in names for layer in makers[name](seed + i)]


def resize_images(images: tf.Tensor, size: tuple[int, int], interpolation: str) -> tf.Tensor:
    """Images ``(h, w, 3)`` or ``(b, h, w, 3)`` of any size as float32 in [0, 255] at ``size``, in a TF graph.

    The one resize of the data pipeline and of an exported SavedModel's signature (a no-op at ``size``).

    >>> import tensorflow as tf
    >>> resize_images(tf.zeros((2, 8, 8, 3), tf.uint8), (4, 4), "bilinear").shape
    TensorShape([2, 4, 4, 3])
    """
    import tensorflow as tf

    height, width = size
    images = tf.cast(images, tf.float32)
    shape = tf.shape(images)
    same = tf.logical_and(tf.equal(shape[-3], height), tf.equal(shape[-2], width))
    resized = tf.cond(
        same,
        lambda: images,
        lambda: tf.clip_by_value(tf.image.resize(images, (height, width), method=interpolation), 0.0, 255.0),
    )
    return tf.ensure_shape(resized, [*images.shape[:-3], height, width, 3])


def resize_pixels(pixels: np.ndarray, size: Sequence[int], interpolation: str = "bilinear") -> np.ndarray:
    """Pixels ``(..., h, w, 3)`` at ``size`` (height, width), still in [0, 255]; unchanged when already there.

    :func:`resize_images` on NumPy pixels, for what reads batches outside tf.data (feature extraction, an
    export's calibration data), on any Keras backend: ``keras.ops.image.resize`` is ``tf.image.resize`` on
    TensorFlow (the same numbers), and JAX's own resize without TensorFlow installed.

    >>> resize_pixels(np.zeros((2, 8, 8, 3), np.uint8), (4, 4)).shape
    (2, 4, 4, 3)
    """
    if tuple(pixels.shape[-3:-1]) == tuple(size):
        return pixels
    import keras

    resized = keras.ops.image.resize(pixels.astype("float32"), tuple(size), interpolation=interpolation)
    return np.clip(keras.ops.convert_to_numpy(resized), 0, 255)


def _apply(layers: list[Any], images: Any) -> Any:
    import tensorflow as tf

    shape = images.shape
    for layer in layers:
        images = layer(images, training=True)
    return tf.ensure_shape(images, shape)


def _check_size(image_size: Any) -> tuple[int, int]:
    size = tuple(image_size) if isinstance(image_size, (tuple, list)) else ()
    if len(size) != 2 or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0 for s in size):
        raise ConfigError(f"image_size must be (height, width) with positive integers, got {image_size!r}")
    return int(size[0]), int(size[1])


@carries_errors  # run by tf.data: its DataError reaches zoo_error_in whole
def _decode_unchanged(data: bytes, digest: bytes, path: bytes) -> np.ndarray:
    """:func:`decode_image` of bytes that still hash to the digest the scan took (the cache key of their
    features): a file changed since then raises :class:`DataError` rather than train on other pixels."""
    if hashlib.sha256(data).hexdigest() != digest.decode():
        raise DataError(f"{path.decode()} changed since the data was checked; run the command again")
    return decode_image(data)
