"""Labels: read from cells, JSON values and arrays, repaired (Unicode NFC) and checked, then made into targets.

A label is one class, several (multilabel) or numbers (regression); a label holding a control character is
refused, and one name composed two ways is one class.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zoo.config import Task
from zoo.data.dataset import Dataset
from zoo.data.decode import repair_text
from zoo.data.listing import SHOW, _listing, first_items
from zoo.errors import DataError

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # Unicode's control characters (category Cc)


def _labels(
    rows: list[dict[str, Any]], lines: list[int], task: Task, columns: tuple[str, ...], path: Path
) -> list[Any]:
    """Labels from cells: a class name, names separated by ``;`` or ``|`` (or a list) for multilabel, or numbers."""
    if task == "classification":
        empty = [f"line {line}" for row, line in zip(rows, lines, strict=True) if not row[columns[0]]]
        if empty:
            raise DataError(f"{path}: {len(empty)} rows have no label: {first_items(empty)}")
        return [row[columns[0]] for row in rows]
    if task == "multilabel":
        return [
            _split_labels(cell) if isinstance(cell, str) else list(dict.fromkeys(cell))
            for cell in (row[columns[0]] for row in rows)
        ]
    labels, bad = [], []
    for row, line in zip(rows, lines, strict=True):
        values = []
        for column in columns:
            try:
                value = float(row[column])
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                bad.append(f"line {line} {column}={row[column]!r}")
            values.append(value)
        labels.append(values if len(columns) > 1 else values[0])
    if bad:
        raise DataError(f"regression labels must be finite numbers; {len(bad)} are not: {first_items(bad)}")
    return labels


def _split_labels(cell: str) -> list[str]:
    """``"a; b|a"`` -> ``["a", "b"]``: multilabel names separated by ``;`` or ``|``, without repeats."""
    return list(dict.fromkeys(name for name in (part.strip() for part in re.split(r"[;|]", cell)) if name))


def _json_cell(value: Any, task: Task, path: Path, line: int) -> tuple[str | list[str], bool]:
    """A JSON label as a table cell (a string; a list of names for multilabel) and whether it was repaired."""
    if isinstance(value, list) and task == "multilabel":
        names = [_json_cell(v, "classification", path, line) for v in value]
        return [name for name, _ in names if name], any(bad for _, bad in names)  # type: ignore[misc]
    if isinstance(value, (list, dict)):
        kind = "several labels" if isinstance(value, list) else "an object"
        raise DataError(f"{path} line {line}: a {task} label must be one value, got {kind}: {value!r}")
    if value is None:
        return "", False
    return repair_text(value.strip()) if isinstance(value, str) else (json.dumps(value), False)


def _clean_labels(labels: list[Any], task: Task, where: Sequence[str], source: str) -> tuple[list[Any], list[str]]:
    """Class labels in Unicode NFC, so one name composed two ways (``é``, ``e`` and U+0301) is one class, and a
    message when both forms occur; a :class:`DataError` naming the rows whose labels hold control characters or are
    blank.

    >>> _clean_labels(["caf\u00e9", "cafe\u0301"], "classification", ["line 2", "line 3"], "t.csv")[0]
    ['café', 'café']
    """
    if task == "regression":
        return labels, []
    rows = [label if task == "multilabel" else [label] for label in labels]
    hostile = [f"{w} {name!r}" for w, names in zip(where, rows, strict=True) for name in names if _CONTROL.search(name)]
    if hostile:
        one = len(hostile) == 1
        raise DataError(
            f"{len(hostile)} {'label holds' if one else 'labels hold'} control characters in {source}: "
            f"{first_items(hostile)}; remove them (a label is a name, shown and saved as text)"
        )
    blank = [f"{w} {name!r}" for w, names in zip(where, rows, strict=True) for name in names if not name.strip()]
    if blank:
        raise DataError(f"{len(blank)} {'label is' if len(blank) == 1 else 'labels are'} blank (empty or only spaces) "
                        f"in {source}: {first_items(blank)}; give each a class name")  # fmt: skip
    forms: dict[str, set[str]] = {}
    for name in (name for names in rows for name in names):
        forms.setdefault(unicodedata.normalize("NFC", name), set()).add(name)
    two = [" and ".join(ascii(form) for form in sorted(found)) for found in forms.values() if len(found) > 1]
    messages = [
        f"the same label in two Unicode forms (NFC and NFD) in {source}: {first_items(two)}; each is read as one "
        "class, in NFC"
    ] if two else []  # fmt: skip
    normal = [list(dict.fromkeys(unicodedata.normalize("NFC", name) for name in names)) for names in rows]
    return (normal if task == "multilabel" else [names[0] for names in normal]), messages


def _implausible(labels: list[Any], task: Task, declared: tuple[str, ...] | None, source: str) -> list[str]:
    """A message when labels read from a file's cells have more distinct values than half its rows (20 or more)."""
    found = {name for row in labels for name in (row if task == "multilabel" else [row])}
    if declared is not None or len(labels) < 20 or len(found) <= len(labels) / 2:
        return []
    numbers = all(_reads_as_number(name) for name in found)
    return [
        f"{len(found)} distinct labels in {len(labels)} rows of {source}, implausibly many: "
        + (
            "every one is a number: for a value to predict, train with task regression (--task regression); else "
            if numbers
            else ""
        )
        + "check label_column, and that fields containing the separator are quoted (labels such as "
        f"{_listing(sorted(found), SHOW)})"
    ]


def _reads_as_number(text: str) -> bool:
    """Whether ``text`` reads as a finite number.

    >>> _reads_as_number("0.75"), _reads_as_number("-3e2"), _reads_as_number("cat"), _reads_as_number("nan")
    (True, True, False, False)
    """
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _check_classes(
    targets: np.ndarray, keep: np.ndarray, names: tuple[str, ...], task: Task, noun: str = "images"
) -> None:
    def counts(t: np.ndarray) -> np.ndarray:
        return np.bincount(t, minlength=len(names)) if task == "classification" else t.sum(axis=0)

    before, after = counts(targets), counts(targets[keep])
    empty = [
        f"{name!r} ({f'no {noun}' if b == 0 else f'all {int(b)} {noun} skipped'})"
        for name, b, a in zip(names, before, after, strict=True)
        if a == 0
    ]
    if empty:
        raise DataError(
            f"every class needs at least one usable {noun[:-1]}; {len(empty)} have none: {', '.join(empty)}"
        )


def _targets(
    labels: list[Any], task: Task, class_names: tuple[str, ...] | None, declared: tuple[str, ...] | None = None
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Class names (given, declared by folders, or the sorted labels) and the target array."""
    if task == "regression":
        return np.asarray(labels, dtype=np.float32), ()
    found = sorted({name for row in labels for name in (row if task == "multilabel" else [row])})
    names = class_names if class_names is not None else declared or tuple(found)
    _check_known(found, names)
    _check_two_classes(names, task)
    index = {name: i for i, name in enumerate(names)}
    if task == "classification":
        return np.array([index[name] for name in labels], dtype=np.int64), names
    targets = np.zeros((len(labels), len(names)), dtype=np.float32)
    for row, row_labels in enumerate(labels):
        targets[row, [index[name] for name in row_labels]] = 1.0
    return targets, names


def _check_known(found: Iterable[str], names: tuple[str, ...]) -> None:
    unknown = sorted(set(found) - set(names))
    if unknown:
        raise DataError(f"unknown label(s) {_listing(unknown)}; the known classes are {_listing(names)}")


def _check_two_classes(names: tuple[str, ...], task: Task) -> None:
    if task == "classification" and len(names) < 2:
        found = f"only {names[0]!r}" if names else "none"
        raise DataError(f"classification needs at least two classes, found {found}")
    if task == "multilabel" and not names:
        raise DataError("multilabel data needs at least one label, found none")


def _reindex(dataset: Dataset, class_names: tuple[str, ...]) -> Dataset:
    """The same examples with targets in the order of ``class_names`` (which must cover every label used)."""
    old = dataset.targets
    if dataset.task == "classification":
        used = [dataset.class_names[i] for i in np.unique(old)]
    else:
        used = [name for name, column in zip(dataset.class_names, old.T, strict=True) if column.any()]
    _check_known(used, class_names)
    _check_two_classes(class_names, dataset.task)
    index = {name: i for i, name in enumerate(class_names)}
    if dataset.task == "classification":
        targets = np.array([index.get(name, -1) for name in dataset.class_names], dtype=np.int64)[old]
    else:
        targets = np.zeros((len(old), len(class_names)), dtype=np.float32)
        for j, name in enumerate(dataset.class_names):
            if name in index:
                targets[:, index[name]] = old[:, j]
    return dataclasses.replace(dataset, targets=targets, class_names=class_names)


def _array_labels(y: Any, task: Task, source: str) -> tuple[Any, list[str]]:
    """Class names ``y`` (a list, or a 1-D array) cleaned as a file's labels are (:func:`_clean_labels`); other
    ``y`` as given. A list is read before NumPy, which drops a string's trailing NUL characters."""
    names = y if isinstance(y, (list, tuple)) else np.asarray(y)
    if isinstance(names, np.ndarray) and names.ndim != 1:
        return y, []
    if task != "classification" or not len(names) or not all(isinstance(v, str) for v in names):
        return y, []
    labels, messages = _clean_labels(list(names), task, [f"item {i}" for i in range(len(names))], source)
    return np.array(labels, dtype=object), messages


def _array_targets(
    y: Any, n: int, noun: str, task: Task, class_names: tuple[str, ...] | None
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Targets and class names from an array ``y`` of labels for ``n`` examples (``noun``: images or texts)."""
    y = np.asarray(y)
    if y.ndim == 0 or len(y) != n:
        raise DataError(f"x has {n} {noun} but y has {y.shape[0] if y.ndim else 'no'} labels")
    if n == 0:
        raise DataError(f"the dataset is empty: x has no {noun}")
    if task == "classification":
        return _class_indices(y, class_names)
    if task == "multilabel":
        if y.ndim != 2 or y.dtype.kind not in "biuf" or not np.isin(y, (0, 1)).all():
            raise DataError(f"multilabel y must be a multi-hot (N, C) array of 0 and 1, got shape {y.shape}")
        names = class_names if class_names is not None else tuple(str(i) for i in range(y.shape[1]))
        if len(names) != y.shape[1]:
            raise DataError(f"y has {y.shape[1]} label columns but class_names has {len(names)} names")
        _check_two_classes(names, task)
        return y, names
    if y.dtype.kind not in "iuf" or y.ndim not in (1, 2):
        raise DataError(f"regression labels must be numbers of shape (N,) or (N, k), got {y.dtype} {y.shape}")
    if not np.isfinite(y).all():
        raise DataError("regression labels must be finite numbers, got NaN or infinity")
    return y, ()


def _class_indices(y: np.ndarray, class_names: tuple[str, ...] | None) -> tuple[np.ndarray, tuple[str, ...]]:
    if y.ndim == 2 and y.shape[1] > 1:  # one-hot rows
        if y.dtype.kind not in "biuf" or not np.isin(y, (0, 1)).all() or not (y.sum(axis=1) == 1).all():
            raise DataError("classification y of shape (N, C) must be one-hot; use task='multilabel' for multi-hot")
        class_names = class_names if class_names is not None else tuple(str(i) for i in range(y.shape[1]))
        y = y.argmax(axis=1)
    y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    if y.ndim != 1:
        raise DataError(f"classification labels must have shape (N,), got {y.shape}")
    if y.dtype.kind in "USO":
        return _targets([str(v) for v in y], "classification", class_names)
    if y.dtype.kind not in "biuf" or (y.dtype.kind == "f" and not (np.isfinite(y) & (y == np.round(y))).all()):
        raise DataError(f"classification labels must be integers or strings, got {y.dtype}")
    indices = y.astype(np.int64)
    if indices.min() < 0:
        raise DataError(f"class indices must not be negative, got {indices.min()}")
    names = class_names if class_names is not None else tuple(str(i) for i in range(indices.max() + 1))
    _check_known((str(i) for i in np.unique(indices) if i >= len(names)), names)
    _check_two_classes(names, "classification")
    return indices, names
