"""Duplicates and the split: examples compared by content (file bytes, decoded pixels or text).

The same content under two targets is refused; repeated content is reported, and kept once by :func:`split`;
validation data that holds training examples is refused or said (:func:`check_separate`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

from zoo.data.dataset import Dataset
from zoo.data.decode import REDUCED, pixel_digest, read_image
from zoo.data.listing import first_items
from zoo.errors import ConfigError, DataError, DataWarning


def split(dataset: Dataset, val_fraction: float = 0.2, seed: int = 0) -> tuple[Dataset, Dataset]:
    """Split into ``(train, validation)`` by content: stratified by class for classification, random otherwise.

    Examples with the same content (the same :attr:`Dataset.contents` entry: bytes, decoded pixels or
    text) count once: the first is kept and its copies are dropped, so no content is on both sides and
    neither side is inflated. The same content with two different targets is a :class:`DataError`.
    Every class with at least two distinct examples gets at least one validation example; the same
    seed gives the same split, and both parts keep the dataset's order.

    >>> from zoo.data import load_dataset
    >>> ds = load_dataset((np.arange(6).reshape(6, 1, 1), [0, 0, 0, 1, 1, 1]))
    >>> [part.targets.tolist() for part in split(ds, 0.34)]
    [[0, 0, 1, 1], [0, 1]]
    >>> copies = Dataset("regression", [1.0, 1.0, 2.0], (), ("a", "a", "b"), texts=("x", "x", "y"))
    >>> [part.texts for part in split(copies, 0.5)]
    [('y',), ('x',)]
    """
    if not 0 < val_fraction < 1:
        raise ConfigError(f"val_fraction must be between 0 and 1, got {val_fraction!r}")
    rng = np.random.default_rng(seed)
    where = dataset.paths or [f"example {i}" for i in range(len(dataset))]
    copies = _copies(dataset, where)
    pool = np.array([i for i in range(len(dataset)) if i not in copies], dtype=np.int64)
    n = len(pool)
    if dataset.task == "classification":
        val = []  # type: ignore[var-annotated]
        for c in range(len(dataset.class_names)):
            members = pool[dataset.targets[pool] == c]
            if len(members) >= 2:
                k = min(max(1, math.floor(len(members) * val_fraction + 0.5)), len(members) - 1)
                val.extend(rng.permutation(members)[:k])
        if not val:
            raise DataError(f"too small to split: no class has two distinct examples ({n} examples)")
    else:
        if n < 2:
            raise DataError(f"too small to split: {n} distinct example(s), at least two are needed")
        val = pool[rng.permutation(n)[: min(max(1, math.floor(n * val_fraction + 0.5)), n - 1)]]  # type: ignore[assignment]
    is_val = np.zeros(len(dataset), dtype=bool)
    is_val[np.asarray(val, dtype=np.int64)] = True
    is_train = ~is_val
    is_train[list(copies)] = False
    return dataset.subset(is_train), dataset.subset(is_val)


def distinct(dataset: Dataset) -> Dataset:
    """``dataset`` with each content once (the first example that has it), as :func:`split` keeps it: what a
    score over examples must use, lest a copy on both sides of a fold count as learned.

    >>> from zoo.data import load_dataset
    >>> len(distinct(load_dataset(([[[1]], [[1]], [[2]]], [0, 0, 1]))))
    2
    """
    where = dataset.paths or [f"example {i}" for i in range(len(dataset))]
    copies = _copies(dataset, where)
    return dataset.subset([i for i in range(len(dataset)) if i not in copies]) if copies else dataset


def _copies(dataset: Dataset, where: Sequence[str]) -> dict[int, int]:
    """``{copy: first example with the same content}``; a :class:`DataError` if a copy's target differs.

    ``where`` names each example in messages (a path, ``"line 3"``, ``"item 2"``).
    """
    first: dict[str, int] = {}
    copies, conflicts = {}, []
    for i, digest in enumerate(dataset.contents):
        j = first.setdefault(digest, i)
        if j != i:
            copies[i] = j
            if not np.array_equal(dataset.targets[i], dataset.targets[j]):
                conflicts.append(f"{where[j]} {_target(dataset, j)} and {where[i]} {_target(dataset, i)}")
    if conflicts:
        noun = "label" if dataset.task == "classification" else "target"
        raise DataError(
            f"the same content has different {noun}s in {len(conflicts)} place(s): {first_items(conflicts)}; "
            f"give each file or text one {noun} (fix or remove the other rows)"
        )
    return copies


def _report_copies(dataset: Dataset, where: Sequence[str]) -> list[str]:
    """Refuse the same content under two targets; a message counting duplicates, if any."""
    copies = _copies(dataset, where)
    if not copies:
        return []
    pairs = [f"{where[i]} = {where[j]}" for i, j in copies.items()]
    return [
        f"{len(copies)} of {len(dataset)} examples of {dataset.source} repeat the content of another "
        f"(the same bytes, pixels or text); the validation split and zoo rank use each content once: "
        f"{first_items(pairs)}"
    ]


def check_separate(train: Dataset, val: Dataset) -> None:
    """Refuse validation data that holds the same examples as the training data; warn, counting them, when some
    of its examples are training examples. Examples are compared by content, as :func:`split` compares them.

    >>> from zoo.data import load_dataset
    >>> texts = load_dataset((["Rain by noon.", "Goal!"], ["weather", "sports"]))
    >>> check_separate(texts, texts)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    zoo.errors.DataError: the validation data (--val, arrays (2 texts)) holds the same 2 examples as the training ...
    """
    paths = [p for part in (train, val) for p in (part.paths or ("",) * len(part))]
    keys = _confirmed(train.contents + val.contents, paths, train.digests + val.digests)
    seen, theirs = set(keys[: len(train)]), keys[len(train) :]
    shared = [key for key in theirs if key in seen]
    if not shared:
        return
    val_source, train_source = val.source or "a Dataset", train.source or "a Dataset"
    if set(theirs) == seen:
        examples = f"{len(seen)} example{'' if len(seen) == 1 else 's'}"
        raise DataError(
            f"the validation data (--val, {val_source}) holds the same {examples} as the training data "
            f"(--data, {train_source}): validation needs examples training does not see; give other data to --val, "
            "or leave it out to hold out --val-fraction of --data"
        )
    warnings.warn(
        f"{len(shared)} of the {len(val)} examples of the validation data (--val, {val_source}) are also in the "
        f"training data (--data, {train_source}): the validation metrics overstate how the model does on new data; "
        "remove them from one side",
        DataWarning,
        stacklevel=2,
    )


def _confirmed(keys: Sequence[str], paths: Sequence[str], digests: Sequence[str]) -> list[str]:
    """``keys`` (:attr:`Dataset.contents`) where a reduced pixel digest, of a large JPEG checked at a reduced scale,
    is shared by files of other bytes: then each is decoded whole, and only the same whole pixels are one content."""
    reduced: dict[str, set[str]] = {}
    for key, digest in zip(keys, digests, strict=True):
        if key.startswith(REDUCED):
            reduced.setdefault(key, set()).add(digest)
    whole: dict[str, str] = {}  # the bytes' digest -> the whole pixels' digest
    confirmed = list(keys)
    for i, key in enumerate(keys):
        if len(reduced.get(key, ())) > 1:
            if digests[i] not in whole:
                try:
                    whole[digests[i]] = pixel_digest(read_image(paths[i]))
                except (OSError, DataError):  # changed since the scan: its bytes are its content
                    whole[digests[i]] = digests[i]
            confirmed[i] = whole[digests[i]]
    return confirmed


def _target(dataset: Dataset, i: int) -> str:
    """Example ``i``'s target for a message: ``'cat'``, ``'cat; dog'`` or ``[0.5]``."""
    target = dataset.targets[i]
    if dataset.task == "classification":
        return repr(dataset.class_names[target])
    if dataset.task == "multilabel":
        return repr("; ".join(name for name, on in zip(dataset.class_names, target, strict=True) if on))
    return str(np.atleast_1d(target).tolist())
