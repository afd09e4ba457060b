"""Text lengths: the sequence length a run's texts need, and which texts a model's window cuts.

TensorFlow and Keras are imported inside the functions that use them, so importing this module stays light.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from zoo.data.dataset import Dataset
from zoo.data.pipelines import text_pipeline

LENGTH_PERCENTILE = 95  # a text model reads this share of the training texts whole, by default ...
LENGTH_MULTIPLE = 8  # ... in a length rounded up to a multiple of 8 (accelerators tile by 8) ...
LENGTH_MIN = 8  # ... of at least 8 tokens ...
LENGTH_SAMPLE = 10_000  # ... measured on at most this many training texts (a seeded sample)


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
