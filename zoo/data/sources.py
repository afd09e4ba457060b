"""Data sets of images or texts, read into one :class:`Dataset`.

Images come from a folder of class sub-folders, a CSV manifest of paths or NumPy pixel arrays; texts
from a CSV, TSV or JSON Lines file with a text column, a folder of class sub-folders of ``.txt`` files
or a list of strings. Neither TensorFlow nor Keras is imported here: image files are checked with
Pillow (:mod:`zoo.data.images`) and labels with NumPy. Every file is read (and every image decoded)
once, before any training, so a bad file is reported (and skipped) up front rather than halfway
through an epoch.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import math
import os
import re
import unicodedata
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from zoo.config import TASKS, Task
from zoo.data.images import pixel_digest, read_image, read_regular, scan_images
from zoo.data.text import ENV_MAX_TEXT_BYTES, max_text_bytes
from zoo.errors import ConfigError, DataError, DataTypeError, DataWarning

Modality = Literal["image", "text"]
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
TEXT_EXTENSIONS = (".txt",)
SHOW = 5  # how many paths an error or warning lists
_SURROGATE = re.compile("[\ud800-\udfff]")
_LONE_SURROGATE = re.compile("[\ud800-\udc7f\udd00-\udfff]")  # not an escaped byte (U+DC80..U+DCFF)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # Unicode's control characters (category Cc)
REDUCED = "reduced:"  # a pixel digest of a large JPEG checked at a reduced scale (zoo.data.images.check_image)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """Images (file paths or pixel arrays) or texts with their targets, checked and ready for a pipeline.

    ``targets`` is int64 class indices ``(N,)`` for classification, float32 multi-hot ``(N, C)`` for
    multilabel and float32 ``(N,)`` or ``(N, k)`` for regression. ``digests`` holds one sha256 per
    example (of the file's bytes, of the pixel row prefixed with its shape, or of ``"text:"`` and the
    text's UTF-8 bytes), a key for feature caches. Image files also have ``pixel_digests``, of their
    decoded pixels: two files that differ only in metadata are one content (:attr:`contents`), for
    duplicates and the split. ``skipped`` lists the ``(path, reason)`` of files left out as unreadable.
    A text dataset has ``texts`` (one string per example) and neither ``paths`` nor ``images``.

    >>> pixels = np.zeros((3, 8, 8, 3), np.uint8)
    >>> ds = Dataset("classification", np.array([0, 1, 1]), ("cat", "dog"), ("a", "b", "c"), images=pixels)
    >>> len(ds), ds.num_outputs, ds.subset([2]).targets.tolist(), ds.modality
    (3, 2, [1], 'image')
    """

    task: Task
    targets: np.ndarray
    class_names: tuple[str, ...]
    digests: tuple[str, ...]
    paths: tuple[str, ...] | None = None
    images: np.ndarray | None = None
    texts: tuple[str, ...] | None = None
    skipped: tuple[tuple[str, str], ...] = ()
    source: str = ""
    pixel_digests: tuple[str, ...] | None = None

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
        if self.pixel_digests is not None:
            if self.paths is None:
                raise DataError("pixel_digests are of image files: a dataset of files has them")
            object.__setattr__(self, "pixel_digests", tuple(self.pixel_digests))
        if self.texts is not None:
            if self.paths is not None or self.images is not None:
                raise DataError("a dataset holds texts or images (paths or pixels), not both")
            if not all(isinstance(t, str) for t in self.texts):
                raise DataError("texts must be strings, one per example")
            object.__setattr__(self, "texts", tuple(str(t) for t in self.texts))
        n = len(targets)
        arrays = (self.paths, self.images, self.texts, self.pixel_digests)
        lengths = [len(self.digests)] + [len(a) for a in arrays if a is not None]
        if any(length != n for length in lengths):
            raise DataError(
                f"targets, digests and paths, images or texts need one entry per example, got {n} and {lengths}"
            )
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
        kind = "texts" if self.texts is not None else "images" if self.images is not None else "files"
        return f"Dataset({self.task}, {len(self)} {kind}, {self.num_outputs} outputs, source={self.source!r})"

    @property
    def modality(self) -> Modality:
        """``"text"`` for a dataset of texts, ``"image"`` for one of image files or pixels."""
        return "text" if self.texts is not None else "image"

    @property
    def contents(self) -> tuple[str, ...]:
        """One key per example for what a model sees: ``pixel_digests`` for image files, ``digests`` otherwise."""
        return self.digests if self.pixel_digests is None else self.pixel_digests

    @property
    def label_digest(self) -> str:
        """A sha256 of the class names and every example's target, in order: with ``digests``, what a run learns.

        >>> texts = {"digests": ("x", "y"), "texts": ("a", "b")}
        >>> swapped = [Dataset("classification", targets, ("cat", "dog"), **texts) for targets in ([0, 1], [1, 0])]
        >>> swapped[0].label_digest == swapped[1].label_digest
        False
        """
        digest = hashlib.sha256(json.dumps([self.task, self.class_names]).encode())
        digest.update(f"{self.targets.dtype}{self.targets.shape}:".encode())
        digest.update(np.ascontiguousarray(self.targets))  # type: ignore[arg-type]
        return digest.hexdigest()

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
            texts=None if self.texts is None else tuple(self.texts[i] for i in idx),
            pixel_digests=None if self.pixel_digests is None else tuple(self.pixel_digests[i] for i in idx),
            source=f"{self.source} [{len(idx)} of {len(self)}]",
        )


def load_dataset(
    data: str | os.PathLike[str] | tuple[Any, Any] | Dataset,
    *,
    task: Task = "classification",
    class_names: Sequence[str] | None = None,
    path_column: str = "path",
    label_column: str | Sequence[str] = "label",
    text_column: str = "text",
    max_bad_fraction: float = 0.2,
    workers: int | None = None,
    progress: bool | None = None,
) -> Dataset:
    """Read images or texts: a folder of class sub-folders, a CSV/TSV/JSONL file, an ``(x, y)`` pair, or a Dataset.

    Images: a folder with one sub-folder of images per class; a CSV manifest with a ``path`` column
    (relative to the CSV's folder, or absolute) and a ``label`` column; or ``x`` pixels in [0, 255] of
    shape ``(N, H, W)``, ``(N, H, W, 1|3|4)``. Texts: a CSV or TSV file with a ``text`` column and no
    ``path`` column, a JSON Lines file (one object per line with ``text`` and ``label`` keys), a
    folder with one sub-folder of ``.txt`` files (one example each) per class, or ``x`` a list of
    strings. A label is one class, several separated by ``;`` or ``|`` or a JSON list (multilabel),
    or a number (regression; ``label_column=("a", "b")`` for several); array ``y`` holds class indices
    or names, multi-hot rows, or numbers. Given ``class_names`` (at evaluation), labels must be among
    them and targets follow their order. Unreadable files are skipped with one :class:`DataWarning`;
    more than ``max_bad_fraction`` of them raises :class:`DataError`. Bytes that are not UTF-8 in
    texts are replaced by U+FFFD, with one :class:`DataWarning`. ``workers`` threads check image
    files, with a progress bar above 200 files (``progress`` forces it on or off).

    Nothing is silently wrong: the same content (file bytes, decoded pixels or text) under two
    different targets is a :class:`DataError` naming both; repeated content is kept (one output per
    input for ``extract`` and ``predict``) and reported with a :class:`DataWarning`, and :func:`split`
    keeps it once. A CSV/TSV row with more or fewer fields than the header (an unquoted comma or tab)
    is a :class:`DataError` naming its line; more distinct labels than half of 20 or more rows warns.
    Labels (class names) are read in Unicode NFC, so one name composed two ways is one class (said
    when both forms occur); a label with a control character (NUL, ESC, a newline...) is a
    :class:`DataError` naming its rows. A ``.txt`` file above ``$ZOO_MAX_TEXT_BYTES`` (16 MB) is skipped.

    >>> ds = load_dataset((np.arange(4).reshape(4, 1, 1), ["dog", "cat", "cat", "dog"]))
    >>> ds.class_names, ds.targets.tolist()
    (('cat', 'dog'), [1, 0, 0, 1])
    >>> load_dataset((["Rain by noon.", "Goal!"], ["weather", "sports"])).texts
    ('Rain by noon.', 'Goal!')
    """
    if task not in TASKS:
        raise ConfigError(f"task must be one of {TASKS}, got {task!r}")
    if not 0 <= max_bad_fraction <= 1:
        raise ConfigError(f"max_bad_fraction must be in [0, 1], got {max_bad_fraction!r}")
    if class_names is not None:
        class_names = tuple(unicodedata.normalize("NFC", str(c)) for c in class_names)
        if len(set(class_names)) != len(class_names):
            raise DataError(f"class_names has duplicates: {_listing(class_names)}")
        if task == "regression" and class_names:
            raise DataError("regression has no class_names")
    if isinstance(data, Dataset):
        if data.task != task:
            raise DataError(f"this dataset is for {data.task}, not {task} ({data.source})")
        return data if class_names is None or class_names == data.class_names else _reindex(data, class_names)
    if isinstance(data, tuple) and len(data) == 2:
        arrays = _from_text_arrays if _is_texts(data[0]) else _from_arrays
        dataset, messages = arrays(data[0], data[1], task, class_names)
    elif isinstance(data, (str, os.PathLike)):
        found = _read_path(Path(os.path.abspath(data)), task, path_column, label_column, text_column, max_bad_fraction)
        if isinstance(found, _Texts):
            dataset, messages = _from_texts(found, task, class_names, max_bad_fraction)
        else:
            dataset, messages = _from_files(found, task, class_names, max_bad_fraction, workers, progress)
    else:
        kind = type(data).__name__
        raise DataTypeError(
            f"data must be a folder, a CSV, TSV or JSONL file, an (x, y) tuple of arrays or a Dataset, got {kind}"
        )
    for message in messages:
        warnings.warn(message, DataWarning, stacklevel=2)
    return dataset


def split(dataset: Dataset, val_fraction: float = 0.2, seed: int = 0) -> tuple[Dataset, Dataset]:
    """Split into ``(train, validation)`` by content: stratified by class for classification, random otherwise.

    Examples with the same content (the same :attr:`Dataset.contents` entry: bytes, decoded pixels or
    text) count once: the first is kept and its copies are dropped, so no content is on both sides and
    neither side is inflated. The same content with two different targets is a :class:`DataError`.
    Every class with at least two distinct examples gets at least one validation example; the same
    seed gives the same split, and both parts keep the dataset's order.

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
        f"(the same bytes, pixels or text); split() keeps each content once, on one side: {first_items(pairs)}"
    ]


def check_modality(dataset: Dataset, modality: str, model: str, hint: str = "") -> None:
    """Refuse ``dataset`` when it holds other inputs than ``model`` (a phrase: "resnet50 is an image backbone")
    takes: a text model given images, or an image model given texts. ``hint`` ends the message.

    >>> texts = load_dataset((["Rain by noon.", "Goal!"], ["weather", "sports"]))
    >>> check_modality(texts, "image", "resnet50 is an image backbone")
    Traceback (most recent call last):
    zoo.errors.DataError: resnet50 is an image backbone but arrays (2 texts) holds texts: give it images
    """
    if dataset.modality != modality:
        raise DataError(f"{model} but {dataset.source} holds {dataset.modality}s: give it {modality}s{hint}")


def check_separate(train: Dataset, val: Dataset) -> None:
    """Refuse validation data that holds the same examples as the training data; warn, counting them, when some
    of its examples are training examples. Examples are compared by content, as :func:`split` compares them.

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


@dataclasses.dataclass
class _Files:
    """What a folder or a manifest lists, before the files are checked."""

    paths: list[str]
    labels: list[Any]  # a class name, a list of names (multilabel) or a list of numbers (regression)
    source: str
    declared: tuple[str, ...] | None = None  # classes a folder declares, even if empty
    missing: dict[int, str] = dataclasses.field(default_factory=dict)  # row -> reason, found before reading
    where: list[str] | None = None  # "line N" per row of a manifest, for messages


@dataclasses.dataclass
class _Texts:
    """Texts read from a table, a JSON Lines file or a folder, with their labels, before assembly."""

    texts: list[str]  # already repaired (no surrogate escapes left)
    labels: list[Any]
    source: str
    where: list[str]  # a file path or "line N" per example, for messages
    declared: tuple[str, ...] | None = None
    skipped: dict[int, str] = dataclasses.field(default_factory=dict)  # example -> why its file cannot be read
    replaced: list[int] = dataclasses.field(default_factory=list)  # examples whose bytes were not all UTF-8


def _read_path(
    path: Path,
    task: Task,
    path_column: str,
    label_column: str | Sequence[str],
    text_column: str,
    max_bad_fraction: float,
) -> _Files | _Texts:
    """What a folder, a JSON Lines file or a CSV/TSV file holds: image files to check, or texts."""
    if not path.exists():
        raise DataError(f"{path} does not exist")
    if path.is_dir():
        return _folder(path, task)
    columns = (label_column,) if isinstance(label_column, str) else tuple(label_column)
    if task != "regression" and len(columns) != 1:
        raise DataError(f"label_column must name one column for {task}, got {columns}")
    if path.suffix.lower() == ".jsonl":
        return _jsonl(path, task, text_column, columns)
    return _table(path, task, path_column, text_column, columns, max_bad_fraction)


def _folder(root: Path, task: Task) -> _Files | _Texts:
    if task != "classification":
        raise DataError(
            f"a folder of class sub-folders gives classification labels; use a CSV manifest for {task} "
            "(or a CSV, TSV or JSON Lines file of texts)"
        )
    folders: dict[str, list[str]] = {}  # a label (in NFC) -> the folders of that name
    for d in sorted(root.iterdir()):
        if d.is_dir() and not d.name.startswith("."):
            folders.setdefault(unicodedata.normalize("NFC", d.name), []).append(d.name)
    classes = sorted(folders)
    if not classes:
        raise DataError(f"{root} has no class sub-folders (it needs one sub-folder of images or .txt files per class)")
    hostile = [name for names in folders.values() for name in names if _CONTROL.search(name)]
    if hostile:
        one = len(hostile) == 1
        raise DataError(
            f"{root}: the name{'' if one else 's'} of class folder{'' if one else 's'} {_listing(hostile)} "
            f"{'holds' if one else 'hold'} control characters; rename {'it' if one else 'them'} "
            "(a folder's name is its label, shown and saved as text)"
        )
    for name, names in folders.items():
        if len(names) > 1:  # said, not merged in silence
            warnings.warn(
                f"{root}: class folders {' and '.join(ascii(n) for n in names)} are the same label {name!r} in two "
                "Unicode forms (NFC and NFD); their files count as one class, in NFC",
                DataWarning,
                stacklevel=4,
            )
    images = {name: [p for d in folders[name] for p in _files_in(root / d, IMAGE_EXTENSIONS)] for name in classes}
    texts = {name: [p for d in folders[name] for p in _files_in(root / d, TEXT_EXTENSIONS)] for name in classes}
    with_images = [n for n in classes if images[n]]
    only_texts = [n for n in classes if texts[n] and not images[n]]
    if with_images and only_texts:  # .txt files beside images (notes, licences) are not examples
        raise DataError(
            f"{root} mixes images and texts: class folder(s) {_listing(only_texts)} hold only .txt files, "
            f"{_listing(with_images)} images; put image and text datasets in separate folders"
        )
    found = texts if only_texts else images
    nested = {
        name: len([p for p in found[name] if os.path.dirname(p) not in {str(root / d) for d in folders[name]}])
        for name in classes
    }
    if any(nested.values()):  # said, not merged in silence: a sub-folder may be a class put in the wrong place
        where = ", ".join(f"{count} in sub-folders of '{name}'" for name, count in nested.items() if count)
        warnings.warn(
            f"{root}: {where}; they count as examples of the class folder that holds them", DataWarning, stacklevel=4
        )
    if only_texts:
        return _text_folder(root, classes, texts)
    paths = [path for name in classes for path in images[name]]
    labels = [name for name in classes for _ in images[name]]
    if not paths:
        extensions = ", ".join(IMAGE_EXTENSIONS + TEXT_EXTENSIONS)
        raise DataError(f"no images or texts in the {len(classes)} class folders of {root} (looked for {extensions})")
    return _Files(paths, labels, f"folder {root} ({len(classes)} classes)", declared=tuple(classes))


def _files_in(folder: Path, extensions: tuple[str, ...]) -> list[str]:
    found = []
    for parent, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [
            os.path.join(parent, f)
            for f in sorted(files)
            if not f.startswith(".") and os.path.splitext(f)[1].lower() in extensions
        ]
    return found


def _text_folder(root: Path, classes: list[str], files: dict[str, list[str]]) -> _Texts:
    found = _Texts([], [], f"folder {root} ({len(classes)} classes of .txt files)", [], declared=tuple(classes))
    limit = max_text_bytes()
    for name in classes:
        for path in files[name]:
            text, changed = "", False
            try:
                text, changed = _read_text(path, limit)
            except OSError as err:
                found.skipped[len(found.texts)] = f"unreadable: {err.strerror or err}"
            except DataError as err:
                found.skipped[len(found.texts)] = str(err)
            if changed:
                found.replaced.append(len(found.texts))
            found.texts.append(text)
            found.labels.append(name)
            found.where.append(path)
    return found


def _read_text(path: str, limit: int) -> tuple[str, bool]:
    """A ``.txt`` file's text, repaired (see :func:`repair_text`); only a regular file, of at most ``limit`` bytes,
    is read (:class:`DataError` otherwise: a FIFO would block, ``/dev/zero`` fill the memory)."""
    hint = f"far more than a text model reads; set {ENV_MAX_TEXT_BYTES} to read it"
    return repair_text(_decode(read_regular(path, limit, hint)))


def _predicted_text(path: str, limit: int) -> str:
    """:func:`_read_text` for :func:`unlabelled`: a file that cannot be read is a :class:`DataError` naming it."""
    try:
        return _read_text(path, limit)[0]
    except OSError as err:
        raise DataError(f"{path}: unreadable: {err.strerror or err}; remove it to predict the others") from None
    except DataError as err:
        raise DataError(f"{path}: {err}; remove it to predict the others") from None


def _table(
    path: Path, task: Task, path_column: str, text_column: str, columns: tuple[str, ...], max_bad_fraction: float
) -> _Files | _Texts:
    """A CSV or TSV file: texts when it has ``text_column`` and not ``path_column``, an image manifest otherwise."""
    header, rows, lines, replaced = _read_table(path)
    texts = text_column in header and path_column not in header
    absent = [c for c in (text_column if texts else path_column, *columns) if c not in header]
    if absent:
        name = "text_column=" if texts else "path_column="
        hint = "" if texts else f" (or text_column= for a text dataset, which has a {text_column!r} column)"
        raise DataError(
            f"{'text file' if texts else 'manifest'} {path} has no column {_listing(absent)} "
            f"(its columns: {_listing(header) or 'none'}); name them with {name} and label_column={hint}"
        )
    where = [f"line {line}" for line in lines]
    if texts:
        source = f"text file {path} ({len(rows)} rows)"
        labels = _labels(rows, lines, task, columns, path)
        return _Texts([row[text_column] for row in rows], labels, source, where, replaced=replaced)
    if replaced:
        raise DataError(f"manifest {path} is not UTF-8 on {first_items([where[i] for i in replaced])}")
    labels = _labels(rows, lines, task, columns, path)
    base = path.parent
    paths = [os.path.abspath(os.path.join(base, row[path_column])) if row[path_column] else "" for row in rows]
    missing = {i: "file not found" for i, p in enumerate(paths) if not p or not os.path.exists(p)}
    if rows and len(missing) > max_bad_fraction * len(rows):
        shown = [paths[i] or f"(empty path, {where[i]})" for i in missing]
        raise DataError(
            f"{len(missing)} of the {len(rows)} paths in manifest {path} do not exist "
            f"(relative paths are read from {base}): {first_items(shown)}"
        )
    return _Files(paths, labels, f"manifest {path} ({len(rows)} rows)", missing=missing, where=where)


MANIFESTS = (".csv", ".tsv")


def unlabelled(source: str | os.PathLike[str], modality: Modality) -> list[tuple[str, str]] | None:
    """The inputs a folder or a file holds, to predict: ``(where, image path or text)`` pairs, in order.

    A folder gives its image files (its ``.txt`` files for texts, one text each) at any depth, hidden
    ones aside; a CSV or TSV file its ``path`` column (relative to the file) or ``text`` column, any
    label column ignored; for texts, a ``.txt`` file its text. ``None`` when ``source`` is none of
    these: then it is one input itself.

    >>> unlabelled("beach.png", "image") is None
    True
    """
    path = Path(os.path.abspath(source))
    if path.is_dir():
        files = _files_in(path, IMAGE_EXTENSIONS if modality == "image" else TEXT_EXTENSIONS)
        if not files:
            kind = "image files" if modality == "image" else ".txt files"
            raise DataError(f"{path} holds no {kind} to predict")
        if modality == "image":
            return [(file, file) for file in files]
        limit = max_text_bytes()
        return [(file, _predicted_text(file, limit)) for file in files]
    if modality == "text" and path.suffix.lower() in TEXT_EXTENSIONS and path.is_file():
        return [(str(path), _predicted_text(str(path), max_text_bytes()))]
    if path.suffix.lower() not in MANIFESTS or not path.is_file():
        if modality == "text" and path.is_file():  # its name is no text to classify
            kind = "an image file" if path.suffix.lower() in IMAGE_EXTENSIONS else "a file, not a .txt file or a CSV"
            raise DataError(
                f"{source} is {kind}, and a text model reads texts: give texts, .txt files, folders of them, or a "
                "CSV file with a text column"
            )
        return None
    header, rows, lines, _ = _read_table(path)
    column = "path" if modality == "image" else "text"
    if column not in header:
        raise DataError(f"{path} has no {column!r} column to predict (its columns: {_listing(header) or 'none'})")
    if modality == "text":
        return [(f"{path} line {line}", row["text"]) for row, line in zip(rows, lines, strict=True)]
    found = [os.path.abspath(os.path.join(path.parent, row["path"])) for row in rows]
    return [(file, file) for file in found]


def _read_table(path: Path) -> tuple[list[str], list[dict[str, str]], list[int], list[int]]:
    """A CSV (or, for ``.tsv``, tab-separated) file's header, rows of stripped cells, their lines, and repaired rows.

    A row is repaired when one of its cells had bytes that are not UTF-8 (now U+FFFD). A row with more
    or fewer fields than the header (empty trailing fields aside) is a :class:`DataError` naming its
    line: an unquoted separator inside a text would otherwise shift the label silently.
    """
    delimiter, name = ("\t", "tab") if path.suffix.lower() == ".tsv" else (",", "comma")
    try:
        reader = csv.reader(io.StringIO(_decode(read_regular(str(path), None)), newline=""), delimiter=delimiter)
        header = _trim([c.strip() for c in next(reader, [])])
        rows, lines, replaced, bad = [], [], [], []  # type: ignore[var-annotated]
        for fields in reader if header else ():  # no header: no columns, which the caller reports
            fields = _trim(fields, keep=len(header))
            if not fields:
                continue  # a blank line
            if len(fields) != len(header):
                bad.append(f"line {reader.line_num} ({len(fields)})")
                continue
            cells = {k: repair_text(v.strip()) for k, v in zip(header, fields, strict=True)}
            if any(changed for _, changed in cells.values()):
                replaced.append(len(rows))
            rows.append({k: text for k, (text, _) in cells.items()})
            lines.append(reader.line_num)
    except (OSError, csv.Error, DataError) as err:
        raise DataError(f"cannot read {path} as a CSV file: {err}") from None
    if bad:
        raise DataError(
            f"{path}: {len(bad)} line(s) have more or fewer fields than the {len(header)} of the header "
            f"({first_items(bad)}); put fields that contain a {name} in double quotes, or fix those lines"
        )
    return header, rows, lines, replaced


def _trim(fields: list[str], keep: int = 0) -> list[str]:
    """``fields`` without empty trailing ones beyond the first ``keep`` (``"a,b,,"`` is two fields)."""
    end = len(fields)
    while end > keep and not fields[end - 1].strip():
        end -= 1
    return fields[:end]


def _jsonl(path: Path, task: Task, text_column: str, columns: tuple[str, ...]) -> _Texts:
    """A JSON Lines file: one object per line with a text and label keys; blank lines are ignored."""
    try:
        content = _decode(read_regular(str(path), None))
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror or err}") from None
    except DataError as err:
        raise DataError(f"cannot read {path}: {err}") from None
    records, lines = [], []
    for number, line in enumerate(content.split("\n"), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path} line {number} is not valid JSON: {err.msg} (column {err.colno})") from None
        if not isinstance(record, dict):
            raise DataError(f"{path} line {number} is a JSON {type(record).__name__}, not an object")
        records.append(record)
        lines.append(number)
    keys = list(dict.fromkeys(key for record in records for key in record))
    for column in (text_column, *columns):
        lacking = [f"line {n}" for n, record in zip(lines, records, strict=True) if column not in record]
        if lacking:
            raise DataError(
                f"{path}: {len(lacking)} of {len(records)} lines have no key {column!r} ({first_items(lacking)}); "
                f"the keys found are {_listing(keys)}; name them with text_column= and label_column="
            )
    not_text = [f"line {n}" for n, r in zip(lines, records, strict=True) if not isinstance(r[text_column], str)]
    if not_text:
        raise DataError(f"{path}: {text_column!r} must be a string; {len(not_text)} are not: {first_items(not_text)}")
    texts, rows, replaced = [], [], []
    for i, record in enumerate(records):
        text, changed = repair_text(record[text_column])
        cells = {column: _json_cell(record[column], task, path, lines[i]) for column in columns}
        if changed or any(bad for _, bad in cells.values()):
            replaced.append(i)
        texts.append(text)
        rows.append({column: cell for column, (cell, _) in cells.items()})
    labels = _labels(rows, lines, task, columns, path)
    where = [f"line {n}" for n in lines]
    return _Texts(texts, labels, f"JSON Lines {path} ({len(records)} lines)", where, replaced=replaced)


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


def _from_files(
    files: _Files,
    task: Task,
    class_names: tuple[str, ...] | None,
    max_bad_fraction: float,
    workers: int | None,
    progress: bool | None,
) -> tuple[Dataset, list[str]]:
    n = len(files.paths)
    if n == 0:
        raise DataError(f"the dataset is empty: {files.source} lists no images")
    labels, messages = _clean_labels(files.labels, task, files.where or files.paths, files.source)
    targets, names = _targets(labels, task, class_names, files.declared)
    reasons: list[str | None] = [files.missing.get(i) for i in range(n)]
    digests: list[str | None] = [None] * n
    pixels: list[str | None] = [None] * n
    to_check = [i for i in range(n) if reasons[i] is None]
    checked = scan_images([files.paths[i] for i in to_check], workers=workers, progress=progress)
    for i, found in zip(to_check, checked, strict=True):
        digests[i], pixels[i], reasons[i] = found
    bad = [(files.paths[i] or f"(empty path, line {i + 2})", reason) for i, reason in enumerate(reasons) if reason]
    shown = [f"{p} ({r})" for p, r in bad]
    if len(bad) > max_bad_fraction * n:
        raise DataError(
            f"{len(bad)} of {n} images ({len(bad) / n:.0%}) cannot be used, more than max_bad_fraction="
            f"{max_bad_fraction}: {first_items(shown)}"
        )
    keep = np.array([d is not None for d in digests])
    if not keep.any():
        raise DataError(f"the dataset is empty: none of the {n} images in {files.source} can be read")
    if class_names is None and task != "regression":
        _check_classes(targets, keep, names, task)
        messages += _implausible(labels, task, files.declared, files.source)
    kept = [i for i in range(n) if keep[i]]
    paths, kept_digests = [files.paths[i] for i in kept], [str(digests[i]) for i in kept]
    dataset = Dataset(
        task=task,
        targets=targets[keep],
        class_names=names,
        digests=tuple(kept_digests),
        paths=tuple(paths),
        skipped=tuple(bad),
        source=files.source,
        pixel_digests=tuple(_confirmed([str(pixels[i]) for i in kept], paths, kept_digests)),
    )
    if bad:
        messages.append(f"skipped {len(bad)} of {n} images that cannot be used: {first_items(shown)}")
    where = [f"{p} ({files.where[i]})" if files.where else p for i, p in enumerate(files.paths) if keep[i]]
    return dataset, messages + _report_copies(dataset, where)


def _from_texts(
    found: _Texts, task: Task, class_names: tuple[str, ...] | None, max_bad_fraction: float
) -> tuple[Dataset, list[str]]:
    n = len(found.texts)
    if n == 0:
        raise DataError(f"the dataset is empty: {found.source} has no texts")
    labels, messages = _clean_labels(found.labels, task, found.where, found.source)
    targets, names = _targets(labels, task, class_names, found.declared)
    bad = [(found.where[i], reason) for i, reason in sorted(found.skipped.items())]
    shown = [f"{p} ({r})" for p, r in bad]
    if len(bad) > max_bad_fraction * n:
        raise DataError(
            f"{len(bad)} of {n} text files ({len(bad) / n:.0%}) cannot be read, more than max_bad_fraction="
            f"{max_bad_fraction}: {first_items(shown)}"
        )
    keep = np.array([i not in found.skipped for i in range(n)])
    if not keep.any():
        raise DataError(f"the dataset is empty: none of the {n} text files in {found.source} can be read")
    if class_names is None and task != "regression":
        _check_classes(targets, keep, names, task, "texts")
        messages += _implausible(labels, task, found.declared, found.source)
    texts = tuple(text for text, k in zip(found.texts, keep, strict=True) if k)
    dataset = Dataset(
        task, targets[keep], names, _text_digests(texts), texts=texts, skipped=tuple(bad), source=found.source
    )
    if bad:
        messages.append(f"skipped {len(bad)} of {n} text files that cannot be read: {first_items(shown)}")
    replaced = [found.where[i] for i in found.replaced if keep[i]]
    where = [w for w, k in zip(found.where, keep, strict=True) if k]
    messages += _replaced_message(replaced, len(dataset), found.source)
    return dataset, messages + _report_copies(dataset, where)


def _replaced_message(where: list[str], n: int, source: str) -> list[str]:
    if not where:
        return []
    replaced = first_items(where)
    return [f"replaced bytes that are not UTF-8 with U+FFFD in {len(where)} of {n} texts of {source}: {replaced}"]


def _clean_labels(labels: list[Any], task: Task, where: Sequence[str], source: str) -> tuple[list[Any], list[str]]:
    """Class labels in Unicode NFC, so one name composed two ways (``é``, ``e`` and U+0301) is one class, and a
    message when both forms occur; a :class:`DataError` naming the rows whose labels hold control characters.

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
    return [
        f"{len(found)} distinct labels in {len(labels)} rows of {source}, implausibly many: check label_column, "
        f"and that fields containing the separator are quoted (labels such as {_listing(sorted(found), SHOW)})"
    ]


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


def _from_arrays(x: Any, y: Any, task: Task, class_names: tuple[str, ...] | None) -> tuple[Dataset, list[str]]:
    images = rgb_uint8(np.asarray(x))
    source = f"arrays ({len(images)} images of {images.shape[1]}x{images.shape[2]})"
    y, messages = _array_labels(y, task, source)
    targets, names = _array_targets(y, len(images), "images", task, class_names)
    digests = tuple(pixel_digest(row) for row in images)
    dataset = Dataset(task, targets, names, digests, images=images, source=source)
    return dataset, messages + _report_copies(dataset, [f"item {i}" for i in range(len(dataset))])


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


def _is_texts(x: Any) -> bool:
    """Whether ``x`` looks like texts: a 1-D array of strings, or a list or tuple starting with a string."""
    if isinstance(x, np.ndarray):
        return x.ndim == 1 and (x.dtype.kind == "U" or (x.dtype.kind == "O" and len(x) > 0 and isinstance(x[0], str)))
    return isinstance(x, (list, tuple)) and len(x) > 0 and isinstance(x[0], str)


def _from_text_arrays(
    x: Sequence[str] | np.ndarray, y: Any, task: Task, class_names: tuple[str, ...] | None
) -> tuple[Dataset, list[str]]:
    not_text = [f"item {i} ({type(t).__name__})" for i, t in enumerate(x) if not isinstance(t, str)]
    if not_text:
        raise DataError(f"texts must all be strings; {len(not_text)} are not: {first_items(not_text)}")
    repaired = [repair_text(str(t)) for t in x]
    texts = tuple(text for text, _ in repaired)
    source = f"arrays ({len(texts)} texts)"
    y, messages = _array_labels(y, task, source)
    targets, names = _array_targets(y, len(texts), "texts", task, class_names)
    dataset = Dataset(task, targets, names, _text_digests(texts), texts=texts, source=source)
    replaced = [f"item {i}" for i, (_, changed) in enumerate(repaired) if changed]
    messages += _replaced_message(replaced, len(texts), source)
    return dataset, messages + _report_copies(dataset, [f"item {i}" for i in range(len(texts))])


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


def rgb_uint8(x: np.ndarray) -> np.ndarray:
    """Pixel arrays ``(N, H, W[, 1|3|4])`` checked (no NaN, values in [0, 255]) and made RGB uint8, as training
    takes them; :class:`DataError` otherwise.

    >>> rgb_uint8(np.zeros((1, 2, 2))).shape
    (1, 2, 2, 3)
    """
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


def _text_digests(texts: Iterable[str]) -> tuple[str, ...]:
    """One sha256 per text, of ``"text:"`` and its UTF-8 bytes (so it never equals an image file's digest)."""
    return tuple(hashlib.sha256(b"text:" + text.encode("utf-8")).hexdigest() for text in texts)


def _decode(data: bytes) -> str:
    """UTF-8 bytes to a string without a BOM; bytes that are not UTF-8 stay escaped for :func:`repair_text`."""
    return data.decode("utf-8-sig", "surrogateescape")


def repair_text(text: str) -> tuple[str, bool]:
    """``(text, False)``, or the text with undecodable bytes (and lone surrogates) replaced by U+FFFD and True.

    >>> repair_text(b"caf\\xe9 ok".decode("utf-8", "surrogateescape"))
    ('caf\ufffd ok', True)
    """
    if not _SURROGATE.search(text):
        return text, False
    text = _LONE_SURROGATE.sub("\ufffd", text)  # from JSON escapes such as "\\ud800"; not bytes
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"), True


def _split_labels(cell: str) -> list[str]:
    """``"a; b|a"`` -> ``["a", "b"]``: multilabel names separated by ``;`` or ``|``, without repeats."""
    return list(dict.fromkeys(name for name in (part.strip() for part in re.split(r"[;|]", cell)) if name))


def first_items(items: Sequence[Any]) -> str:
    """The first few items for a message, then how many there are in all.

    >>> first_items(["a.png", "b.png"])
    'a.png, b.png'
    """
    return _listing(items, SHOW, quote=False)


def _listing(items: Sequence[Any], limit: int = 20, quote: bool = True) -> str:
    """``'a', 'b', ... (30 in all)``: the first ``limit`` items, quoted or not."""
    shown = ", ".join(repr(i) if quote else str(i) for i in items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")
