"""Data sets: a folder of class sub-folders, a CSV manifest or NumPy arrays, read into one :class:`Dataset`.

Neither TensorFlow nor Keras is imported here: files are checked with Pillow (:mod:`zoo.data.images`)
and labels with NumPy. Every file is read and decoded once, before any training, so a bad file is
reported (and skipped) up front rather than halfway through an epoch.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import math
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from zoo.data.images import scan_files
from zoo.errors import DataError, DataWarning

Task = Literal["classification", "multilabel", "regression"]
TASKS = ("classification", "multilabel", "regression")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
SHOW = 5  # how many paths an error or warning lists


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """Images (file paths or pixel arrays) with their targets, checked and ready for a pipeline.

    ``targets`` is int64 class indices ``(N,)`` for classification, float32 multi-hot ``(N, C)`` for
    multilabel and float32 ``(N,)`` or ``(N, k)`` for regression. ``digests`` holds one sha256 per
    example (of the file's bytes, or of the pixel row prefixed with its shape), a key for feature
    caches. ``skipped`` lists the ``(path, reason)`` of files left out as unreadable.

    >>> pixels = np.zeros((3, 8, 8, 3), np.uint8)
    >>> ds = Dataset("classification", np.array([0, 1, 1]), ("cat", "dog"), ("a", "b", "c"), images=pixels)
    >>> len(ds), ds.num_outputs, ds.subset([2]).targets.tolist()
    (3, 2, [1])
    """

    task: Task
    targets: np.ndarray
    class_names: tuple[str, ...]
    digests: tuple[str, ...]
    paths: tuple[str, ...] | None = None
    images: np.ndarray | None = None
    skipped: tuple[tuple[str, str], ...] = ()
    source: str = ""

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise DataError(f"task must be one of {TASKS}, got {self.task!r}")
        targets = np.asarray(self.targets, dtype=np.int64 if self.task == "classification" else np.float32)
        object.__setattr__(self, "targets", targets)
        object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
        object.__setattr__(self, "digests", tuple(self.digests))
        object.__setattr__(self, "skipped", tuple((str(p), str(r)) for p, r in self.skipped))
        if self.paths is not None:
            object.__setattr__(self, "paths", tuple(str(p) for p in self.paths))
        n = len(targets)
        lengths = [len(self.digests)] + [len(a) for a in (self.paths, self.images) if a is not None]
        if any(length != n for length in lengths):
            raise DataError(f"targets, digests, paths and images need one entry per example, got {n} and {lengths}")
        classes = len(self.class_names)
        in_range = n == 0 or 0 <= targets.min() <= targets.max() < classes
        if self.task == "classification" and (targets.ndim != 1 or not in_range):
            raise DataError(f"classification targets must be class indices in [0, {classes}) of shape (N,)")
        if self.task == "multilabel" and (targets.ndim != 2 or targets.shape[1] != classes):
            raise DataError(f"multilabel targets must have shape (N, {classes}), one column per class name")
        if self.task == "regression" and (targets.ndim not in (1, 2) or classes):
            raise DataError("regression targets must have shape (N,) or (N, k), and no class names")

    def __len__(self) -> int:
        return len(self.targets)

    def __repr__(self) -> str:
        kind = "images" if self.images is not None else "files"
        return f"Dataset({self.task}, {len(self)} {kind}, {self.num_outputs} outputs, source={self.source!r})"

    @property
    def num_outputs(self) -> int:
        """How many outputs a head needs: the number of classes, or k for regression targets ``(N, k)``."""
        if self.task == "regression":
            return 1 if self.targets.ndim == 1 else self.targets.shape[1]
        return len(self.class_names)

    def subset(self, indices: Sequence[int] | np.ndarray) -> Dataset:
        """The examples at ``indices`` (integers or a boolean mask), with the same classes and ``skipped``."""
        idx = np.asarray(indices)
        idx = np.flatnonzero(idx) if idx.dtype == bool else idx.astype(np.int64).reshape(-1)
        return dataclasses.replace(
            self,
            targets=self.targets[idx],
            digests=tuple(self.digests[i] for i in idx),
            paths=None if self.paths is None else tuple(self.paths[i] for i in idx),
            images=None if self.images is None else self.images[idx],
            source=f"{self.source} [{len(idx)} of {len(self)}]",
        )


def load_dataset(
    data: str | os.PathLike | tuple[Any, Any] | Dataset,
    *,
    task: Task = "classification",
    class_names: Sequence[str] | None = None,
    path_column: str = "path",
    label_column: str | Sequence[str] = "label",
    max_bad_fraction: float = 0.2,
    workers: int | None = None,
    progress: bool | None = None,
) -> Dataset:
    """Read a folder of class sub-folders, a CSV manifest, an ``(x, y)`` pair of arrays, or pass a Dataset through.

    A manifest has a ``path`` column (relative to the CSV's folder, or absolute) and a ``label``
    column: one class, several separated by ``;`` or ``|`` (multilabel) or a number (regression;
    ``label_column=("a", "b")`` for several). Arrays are ``x`` pixels in [0, 255] of shape
    ``(N, H, W)``, ``(N, H, W, 1|3|4)`` and ``y`` class indices or names, multi-hot rows, or numbers.
    Given ``class_names`` (at evaluation), labels must be among them and targets follow their order.
    Unreadable files are skipped with one :class:`DataWarning`; more than ``max_bad_fraction`` of them
    raises :class:`DataError`. ``workers`` threads check the files, with a progress bar above 200
    files (``progress`` forces it on or off).

    >>> ds = load_dataset((np.zeros((4, 8, 8, 3)), ["dog", "cat", "cat", "dog"]))
    >>> ds.class_names, ds.targets.tolist()
    (('cat', 'dog'), [1, 0, 0, 1])
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if not 0 <= max_bad_fraction <= 1:
        raise ValueError(f"max_bad_fraction must be in [0, 1], got {max_bad_fraction!r}")
    if class_names is not None:
        class_names = tuple(str(c) for c in class_names)
        if len(set(class_names)) != len(class_names):
            raise DataError(f"class_names has duplicates: {_listing(class_names)}")
        if task == "regression" and class_names:
            raise DataError("regression has no class_names")
    if isinstance(data, Dataset):
        if data.task != task:
            raise DataError(f"this dataset is for {data.task}, not {task} ({data.source})")
        return data if class_names is None or class_names == data.class_names else _reindex(data, class_names)
    if isinstance(data, tuple) and len(data) == 2:
        return _from_arrays(data[0], data[1], task, class_names)
    if not isinstance(data, (str, os.PathLike)):
        kind = type(data).__name__
        raise TypeError(f"data must be a folder, a CSV manifest, an (x, y) tuple of arrays or a Dataset, got {kind}")
    path = Path(os.path.abspath(data))
    if not path.exists():
        raise DataError(f"{path} does not exist")
    if path.is_dir():
        files = _folder(path, task)
    else:
        files = _manifest(path, task, path_column, label_column, max_bad_fraction)
    dataset, message = _from_files(files, task, class_names, max_bad_fraction, workers, progress)
    if message:
        warnings.warn(message, DataWarning, stacklevel=2)
    return dataset


def split(dataset: Dataset, val_fraction: float = 0.2, seed: int = 0) -> tuple[Dataset, Dataset]:
    """Split into ``(train, validation)``: stratified by class for classification, random otherwise.

    Every class with at least two examples gets at least one validation example; the same seed
    gives the same split, and both parts keep the dataset's order.

    >>> ds = load_dataset((np.zeros((6, 8, 8)), [0, 0, 0, 1, 1, 1]))
    >>> [part.targets.tolist() for part in split(ds, 0.34)]
    [[0, 0, 1, 1], [0, 1]]
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction!r}")
    rng = np.random.default_rng(seed)
    n = len(dataset)
    if dataset.task == "classification":
        val = []
        for c in range(len(dataset.class_names)):
            members = np.flatnonzero(dataset.targets == c)
            if len(members) >= 2:
                k = min(max(1, math.floor(len(members) * val_fraction + 0.5)), len(members) - 1)
                val.extend(rng.permutation(members)[:k])
        if not val:
            raise DataError(f"too small to split: no class has two examples ({n} examples)")
    else:
        if n < 2:
            raise DataError(f"too small to split: {n} example(s), at least two are needed")
        val = rng.permutation(n)[: min(max(1, math.floor(n * val_fraction + 0.5)), n - 1)]
    is_val = np.zeros(n, dtype=bool)
    is_val[np.asarray(val, dtype=np.int64)] = True
    return dataset.subset(~is_val), dataset.subset(is_val)


@dataclasses.dataclass
class _Files:
    """What a folder or a manifest lists, before the files are checked."""

    paths: list[str]
    labels: list[Any]  # a class name, a list of names (multilabel) or a list of numbers (regression)
    source: str
    declared: tuple[str, ...] | None = None  # classes a folder declares, even if empty
    missing: dict[int, str] = dataclasses.field(default_factory=dict)  # row -> reason, found before reading


def _folder(root: Path, task: Task) -> _Files:
    if task != "classification":
        raise DataError(f"a folder of class sub-folders gives classification labels; use a CSV manifest for {task}")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise DataError(f"{root} has no class sub-folders (it needs one sub-folder of images per class)")
    paths, labels = [], []
    for name in classes:
        found = _image_files(root / name)
        paths += found
        labels += [name] * len(found)
    if not paths:
        extensions = ", ".join(IMAGE_EXTENSIONS)
        raise DataError(f"no images in the {len(classes)} class folders of {root} (looked for {extensions})")
    return _Files(paths, labels, f"folder {root} ({len(classes)} classes)", declared=tuple(classes))


def _image_files(folder: Path) -> list[str]:
    found = []
    for parent, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [
            os.path.join(parent, f)
            for f in sorted(files)
            if not f.startswith(".") and os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS
        ]
    return found


def _manifest(
    path: Path, task: Task, path_column: str, label_column: str | Sequence[str], max_bad_fraction: float
) -> _Files:
    columns = (label_column,) if isinstance(label_column, str) else tuple(label_column)
    if task != "regression" and len(columns) != 1:
        raise DataError(f"label_column must name one column for {task}, got {columns}")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
            header = [c.strip() for c in reader.fieldnames or []]
            reader.fieldnames = header
            absent = [c for c in (path_column, *columns) if c not in header]
            if absent:
                raise DataError(
                    f"manifest {path} has no column {_listing(absent)} (its columns: {_listing(header) or 'none'}); "
                    "name them with path_column= and label_column="
                )
            rows = [{k: (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
    except (UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"cannot read manifest {path} as a UTF-8 CSV file: {err}") from None
    base = path.parent
    paths = [os.path.abspath(os.path.join(base, row[path_column])) if row[path_column] else "" for row in rows]
    labels = _manifest_labels(rows, task, columns, path)
    missing = {i: "file not found" for i, p in enumerate(paths) if not p or not os.path.exists(p)}
    if rows and len(missing) > max_bad_fraction * len(rows):
        shown = [paths[i] or f"(empty path, line {i + 2})" for i in missing]
        raise DataError(
            f"{len(missing)} of the {len(rows)} paths in manifest {path} do not exist "
            f"(relative paths are read from {base}): {_first(shown)}"
        )
    return _Files(paths, labels, f"manifest {path} ({len(rows)} rows)", missing=missing)


def _manifest_labels(rows: list[dict[str, str]], task: Task, columns: tuple[str, ...], path: Path) -> list[Any]:
    if task == "classification":
        empty = [f"line {i + 2}" for i, row in enumerate(rows) if not row[columns[0]]]
        if empty:
            raise DataError(f"manifest {path}: {len(empty)} rows have no label: {_first(empty)}")
        return [row[columns[0]] for row in rows]
    if task == "multilabel":
        return [_split_labels(row[columns[0]]) for row in rows]
    labels, bad = [], []
    for i, row in enumerate(rows):
        values = []
        for column in columns:
            try:
                value = float(row[column])
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                bad.append(f"line {i + 2} {column}={row[column]!r}")
            values.append(value)
        labels.append(values if len(columns) > 1 else values[0])
    if bad:
        raise DataError(f"regression labels must be finite numbers; {len(bad)} are not: {_first(bad)}")
    return labels


def _from_files(
    files: _Files,
    task: Task,
    class_names: tuple[str, ...] | None,
    max_bad_fraction: float,
    workers: int | None,
    progress: bool | None,
) -> tuple[Dataset, str | None]:
    n = len(files.paths)
    if n == 0:
        raise DataError(f"the dataset is empty: {files.source} lists no images")
    targets, names = _targets(files.labels, task, class_names, files.declared)
    reasons: list[str | None] = [files.missing.get(i) for i in range(n)]
    digests: list[str | None] = [None] * n
    to_check = [i for i in range(n) if reasons[i] is None]
    checked = scan_files([files.paths[i] for i in to_check], workers=workers, progress=progress)
    for i, (digest, reason) in zip(to_check, checked, strict=True):
        digests[i], reasons[i] = digest, reason
    bad = [(files.paths[i] or f"(empty path, line {i + 2})", reason) for i, reason in enumerate(reasons) if reason]
    shown = [f"{p} ({r})" for p, r in bad]
    if len(bad) > max_bad_fraction * n:
        raise DataError(
            f"{len(bad)} of {n} images ({len(bad) / n:.0%}) cannot be used, more than max_bad_fraction="
            f"{max_bad_fraction}: {_first(shown)}"
        )
    keep = np.array([d is not None for d in digests])
    if not keep.any():
        raise DataError(f"the dataset is empty: none of the {n} images in {files.source} can be read")
    if class_names is None and task != "regression":
        _check_classes(targets, keep, names, task)
    dataset = Dataset(
        task=task,
        targets=targets[keep],
        class_names=names,
        digests=tuple(d for d in digests if d is not None),
        paths=tuple(p for p, k in zip(files.paths, keep, strict=True) if k),
        skipped=tuple(bad),
        source=files.source,
    )
    message = f"skipped {len(bad)} of {n} images that cannot be used (see Dataset.skipped): {_first(shown)}"
    return dataset, message if bad else None


def _check_classes(targets: np.ndarray, keep: np.ndarray, names: tuple[str, ...], task: Task) -> None:
    def counts(t: np.ndarray) -> np.ndarray:
        return np.bincount(t, minlength=len(names)) if task == "classification" else t.sum(axis=0)

    before, after = counts(targets), counts(targets[keep])
    empty = [
        f"{name!r} ({'no images' if b == 0 else f'all {int(b)} images skipped'})"
        for name, b, a in zip(names, before, after, strict=True)
        if a == 0
    ]
    if empty:
        raise DataError(f"every class needs at least one usable image; {len(empty)} have none: {', '.join(empty)}")


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


def _from_arrays(x: Any, y: Any, task: Task, class_names: tuple[str, ...] | None) -> Dataset:
    images = _rgb_uint8(np.asarray(x))
    y = np.asarray(y)
    n = len(images)
    if y.ndim == 0 or len(y) != n:
        raise DataError(f"x has {n} images but y has {y.shape[0] if y.ndim else 'no'} labels")
    if n == 0:
        raise DataError("the dataset is empty: x has no images")
    if task == "classification":
        targets, names = _class_indices(y, class_names)
    elif task == "multilabel":
        if y.ndim != 2 or y.dtype.kind not in "biuf" or not np.isin(y, (0, 1)).all():
            raise DataError(f"multilabel y must be a multi-hot (N, C) array of 0 and 1, got shape {y.shape}")
        names = class_names if class_names is not None else tuple(str(i) for i in range(y.shape[1]))
        if len(names) != y.shape[1]:
            raise DataError(f"y has {y.shape[1]} label columns but class_names has {len(names)} names")
        _check_two_classes(names, task)
        targets = y
    else:
        if y.dtype.kind not in "iuf" or y.ndim not in (1, 2):
            raise DataError(f"regression labels must be numbers of shape (N,) or (N, k), got {y.dtype} {y.shape}")
        if not np.isfinite(y).all():
            raise DataError("regression labels must be finite numbers, got NaN or infinity")
        targets, names = y, ()
    digests = tuple(_array_digest(row) for row in images)
    source = f"arrays ({n} images of {images.shape[1]}x{images.shape[2]})"
    return Dataset(task, targets, names, digests, images=images, source=source)


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


def _rgb_uint8(x: np.ndarray) -> np.ndarray:
    if x.dtype.kind not in "iuf":
        raise DataError(f"images must be a numeric array of pixels in [0, 255], got dtype {x.dtype}")
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise DataError(f"images must have shape (N, H, W) or (N, H, W, 1|3|4), got {x.shape}")
    if x.dtype != np.uint8:
        low, high = (x.min(), x.max()) if x.size else (0, 0)
        if not 0 <= low <= high <= 255:  # also catches NaN
            raise DataError(f"pixel values must be in [0, 255], got {low}..{high}")
        if x.dtype.kind == "f" and 0 < high <= 1:
            warnings.warn(
                "every pixel value is within [0, 1], but the zoo expects raw pixels in [0, 255]; "
                "multiply the images by 255 if they were scaled",
                DataWarning,
                stacklevel=4,
            )
        x = (np.rint(x) if x.dtype.kind == "f" else x).astype(np.uint8)
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    elif x.shape[-1] == 4:  # composite onto white, as decode_image does
        alpha = x[..., 3:].astype(np.uint16)
        x = ((x[..., :3] * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)
    return np.ascontiguousarray(x)


def _array_digest(image: np.ndarray) -> str:
    digest = hashlib.sha256(f"{image.shape[0]}x{image.shape[1]}x3:".encode())
    digest.update(np.ascontiguousarray(image))
    return digest.hexdigest()


def _split_labels(cell: str) -> list[str]:
    """``"a; b|a"`` -> ``["a", "b"]``: multilabel names separated by ``;`` or ``|``, without repeats."""
    return list(dict.fromkeys(name for name in (part.strip() for part in re.split(r"[;|]", cell)) if name))


def _first(items: Sequence[Any]) -> str:
    return _listing(items, SHOW, quote=False)


def _listing(items: Sequence[Any], limit: int = 20, quote: bool = True) -> str:
    """``'a', 'b', ... (30 in all)``: the first ``limit`` items, quoted or not."""
    shown = ", ".join(repr(i) if quote else str(i) for i in items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")
