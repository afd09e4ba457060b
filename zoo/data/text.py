"""Texts: the tf.data pipeline of string batches, the sequence length the data needs, and the demo dataset.

TensorFlow and Keras are imported inside the functions that use them, so importing this module stays light.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.errors import ConfigError, DataError

if TYPE_CHECKING:
    import tensorflow as tf

    from zoo.data.sources import Dataset

_DATASETS = Path(__file__).resolve().parent.parent / "datasets"
LENGTH_PERCENTILE = 95  # a text model reads this share of the training texts whole, by default ...
LENGTH_MULTIPLE = 8  # ... in a length rounded up to a multiple of 8 (accelerators tile by 8) ...
LENGTH_MIN = 8  # ... of at least 8 tokens ...
LENGTH_SAMPLE = 10_000  # ... measured on at most this many training texts (a seeded sample)
# A .txt file above this many bytes is skipped, not read: a text model reads a few hundred tokens of a text, and
# /dev/zero never ends. ZOO_MAX_TEXT_BYTES raises it.
ENV_MAX_TEXT_BYTES = "ZOO_MAX_TEXT_BYTES"
DEFAULT_MAX_TEXT_BYTES = 16 << 20


def max_text_bytes() -> int:
    """The largest ``.txt`` file the zoo reads as one text: ``$ZOO_MAX_TEXT_BYTES``, else 16 MB.

    >>> max_text_bytes()
    16777216
    """
    value = os.environ.get(ENV_MAX_TEXT_BYTES, "")
    if not value:
        return DEFAULT_MAX_TEXT_BYTES
    if not value.isdecimal() or int(value) < 1:
        raise ConfigError(f"{ENV_MAX_TEXT_BYTES} must be a positive whole number of bytes, got {value!r}")
    return int(value)


def fitted_sequence_length(token_counts: Sequence[int] | np.ndarray, maximum: int) -> int:
    """The default sequence length for texts of these token counts.

    The 95th percentile of the counts (an observed count: ``method="higher"``), rounded up to a
    multiple of 8, at least 8 and at most ``maximum`` (the backbone's declared length). Short texts
    then cost short sequences: a 256-token window over 20-token texts spends most of its work on
    padding. No counts give ``maximum``.

    >>> fitted_sequence_length([5, 9, 12, 14, 30], maximum=256)
    32
    >>> fitted_sequence_length([3, 4], maximum=256), fitted_sequence_length([900] * 3, maximum=256)
    (8, 256)
    """
    counts = np.asarray(token_counts)
    if counts.size == 0:
        return int(maximum)
    percentile = float(np.percentile(counts, LENGTH_PERCENTILE, method="higher"))
    length = max(LENGTH_MIN, math.ceil(percentile / LENGTH_MULTIPLE) * LENGTH_MULTIPLE)
    return int(min(length, maximum))


def token_counts(
    steps: Sequence[Any], dataset: Dataset, *, seed: int = 0, batch_size: int = 256, sample: int | None = LENGTH_SAMPLE
) -> np.ndarray:
    """How many tokens each text becomes through ``steps`` (a model's layers from strings to the token dict).

    The count includes the tokenizer's special tokens and stops at the tokenizer's own sequence
    length. With more than ``sample`` texts (:data:`LENGTH_SAMPLE`; ``None``: count all), a sample of
    that many chosen with ``seed`` is counted.

    >>> import zoo  # doctest: +SKIP
    >>> model = zoo.backbone("all_minilm_l6_v2")  # doctest: +SKIP
    >>> steps = [model.get_layer("lowercase"), model.get_layer("tokenize")]  # doctest: +SKIP
    >>> token_counts(steps, zoo.data.load_dataset((["Rain by noon.", "Goal!"], [0, 1]))).tolist()  # doctest: +SKIP
    [6, 4]
    """
    import keras

    if sample is not None and len(dataset) > sample:
        rows = np.random.default_rng(seed).choice(len(dataset), sample, replace=False)
        dataset = dataset.subset(np.sort(rows))
    counts = []
    for batch in text_pipeline(dataset, batch_size=batch_size, with_targets=False):
        for layer in steps:
            batch = layer(batch)
        counts.append(keras.ops.convert_to_numpy(batch["padding_mask"]).sum(axis=1))
    return np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)


@contextlib.contextmanager
def counting_cut_texts(steps: Sequence[Any]) -> Iterator[int]:
    """Within it, ``steps`` (strings to tokens) read one token past the model's window; yields the token count
    from which a text was cut. A text that fills the window exactly was not cut: it counts the window, not one more.

    >>> with counting_cut_texts([]) as cut_from:  # no tokenizer among the steps: nothing is ever cut
    ...     cut_from
    inf
    """
    tokenizers = [step for step in steps if hasattr(step, "reading_one_more")]
    if not tokenizers:
        yield math.inf  # type: ignore[misc]
        return
    with tokenizers[-1].reading_one_more() as cut_from:
        yield cut_from


def cut_texts(steps: Sequence[Any], dataset: Dataset, *, batch_size: int = 256) -> np.ndarray:
    """Whether each text of ``dataset`` is longer than the window of ``steps`` (strings to tokens), so was cut:
    as the trainer, ``zoo predict`` and an export's ``truncated`` flag count it (:func:`counting_cut_texts`)."""
    with counting_cut_texts(steps) as cut_from:
        counts = token_counts(steps, dataset, batch_size=batch_size, sample=None)
    return counts >= cut_from


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
