"""Texts: the tf.data pipeline of string batches, and the demo dataset shipped with the zoo.

TensorFlow is imported inside :func:`text_pipeline`, so importing this module stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from zoo.errors import DataError

if TYPE_CHECKING:
    import tensorflow as tf

    from zoo.data.sources import Dataset

_DATASETS = Path(__file__).resolve().parent.parent / "datasets"


def topics_path() -> Path:
    """The installed demo text dataset: a CSV of 400 short texts (``text,label``), 100 in each of 4 topics.

    The topics are sports, cooking, technology and weather; see ``zoo/datasets/README.md``.

    >>> from zoo.data import load_dataset
    >>> load_dataset(topics_path()).class_names
    ('cooking', 'sports', 'technology', 'weather')
    """
    path = _DATASETS / "topics.csv"
    if not path.is_file():
        raise DataError(f"the demo dataset {path} is missing; reinstall backbone-zoo")
    return path


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
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
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
