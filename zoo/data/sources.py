"""Reading data sets of images or texts into one :class:`~zoo.data.Dataset`: :func:`load_dataset`.

Images come from a folder of class sub-folders, a CSV manifest of paths or NumPy pixel arrays; texts
from a CSV, TSV or JSON Lines file with a text column, a folder of class sub-folders of ``.txt`` files
or a list of strings. Neither TensorFlow nor Keras is imported here: files are read and decoded by
:mod:`zoo.data.decode`, labels made into targets by :mod:`zoo.data.labels`, duplicates found by
:mod:`zoo.data.split`. Every file is read (and every image decoded) once, before any training, so a
bad file is reported (and skipped) up front rather than halfway through an epoch.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import os
import unicodedata
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zoo.config import TASKS, Task
from zoo.data.dataset import Dataset
from zoo.data.decode import (
    _decode_text,
    _read_text,
    max_text_bytes,
    pixel_digest,
    read_regular,
    repair_text,
    rgb_uint8,
    scan_images,
)
from zoo.data.labels import (
    _CONTROL,
    _array_labels,
    _array_targets,
    _check_classes,
    _clean_labels,
    _implausible,
    _json_cell,
    _labels,
    _reindex,
    _targets,
)
from zoo.data.listing import _listing, first_items
from zoo.data.split import _confirmed, _report_copies
from zoo.errors import ConfigError, DataError, DataTypeError, DataWarning
from zoo.spec import Modality

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
TEXT_EXTENSIONS = (".txt",)
MANIFESTS = (".csv", ".tsv")
_DATASETS = Path(__file__).resolve().parent.parent / "datasets"


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
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        raise DataError(f"{path} is one image: give a folder of images with a sub-folder per class, or a CSV "
                        "manifest of image paths and labels")  # fmt: skip
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
    blank = [name for names in folders.values() for name in names if not name.strip()]
    if blank:
        folders_have = "a class folder has" if len(blank) == 1 else f"{len(blank)} class folders have"
        raise DataError(f"{root}: {folders_have} a blank name (only spaces): {_listing(blank)}; rename it (a folder's "
                        "name is its label, shown and saved as text)")  # fmt: skip
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
    kinds = TEXT_EXTENSIONS if only_texts else IMAGE_EXTENSIONS
    loose = sorted(f.name for f in root.iterdir() if f.suffix.lower() in kinds and f.name[:1] != "." and f.is_file())
    if loose:  # said, not left out in silence: an example put beside the class folders instead of in one
        count = f"{len(loose)} files" if len(loose) > 1 else "a file"
        warnings.warn(f"{root}: {count} beside the class folders, with no label, left out ({_listing(loose)}); move "
                      "each into its class folder", DataWarning, stacklevel=4)  # fmt: skip
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
        wanted = _listing([text_column if texts else path_column, *columns])
        keywords = "text_column=" if texts else "path_column= (or text_column= for texts)"
        raise DataError(
            f"{'text file' if texts else 'manifest'} {path} has no column {_listing(absent)} "
            f"(its columns: {_listing(header) or 'none'}); name its columns {wanted}, or in Python pass {keywords} "
            "and label_column="
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


def unlabelled(source: str | os.PathLike[str], modality: Modality, purpose: str = "to predict"
               ) -> list[tuple[str, str]] | None:  # fmt: skip
    """The inputs a folder or a file holds, to predict: ``(where, image path or text)`` pairs, in order.

    A folder gives its image files (its ``.txt`` files for texts, one text each) at any depth, hidden
    ones aside; a CSV or TSV file its ``path`` column (relative to the file) or ``text`` column, any
    label column ignored; for texts, a ``.txt`` file its text. ``None`` when ``source`` is none of
    these: then it is one input itself. Each input is named from ``source`` as given (a relative folder gives
    relative names), as the results show it. A folder with none is a :class:`DataError` ending with ``purpose``.

    >>> unlabelled("beach.png", "image") is None
    True
    """
    path = Path(os.path.abspath(source))
    folder = path.is_dir()
    given, anchor = (os.fspath(source), path) if folder else (os.path.dirname(os.fspath(source)), path.parent)

    def named(file: str) -> str:  # a file of the folder or manifest `source`, named from it as the user gave it
        return os.path.normpath(os.path.join(given, os.path.relpath(file, anchor)))

    if folder:
        files = _files_in(path, IMAGE_EXTENSIONS if modality == "image" else TEXT_EXTENSIONS)
        if not files:
            kind = "image files" if modality == "image" else ".txt files"
            raise DataError(f"{path} holds no {kind} {purpose}")
        if modality == "image":
            return [(named(file), file) for file in files]
        limit = max_text_bytes()
        return [(named(file), _predicted_text(file, limit)) for file in files]
    if modality == "text" and path.suffix.lower() in TEXT_EXTENSIONS and path.is_file():
        return [(os.fspath(source), _predicted_text(str(path), max_text_bytes()))]
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
        return [(f"{os.fspath(source)} line {line}", row["text"]) for row, line in zip(rows, lines, strict=True)]
    found = [os.path.abspath(os.path.join(path.parent, row["path"])) for row in rows]
    return [(named(file), file) for file in found]


def _read_table(path: Path) -> tuple[list[str], list[dict[str, str]], list[int], list[int]]:
    """A CSV (or, for ``.tsv``, tab-separated) file's header, rows of stripped cells, their lines, and repaired rows.

    A row is repaired when one of its cells had bytes that are not UTF-8 (now U+FFFD). A row with more
    or fewer fields than the header (empty trailing fields aside) is a :class:`DataError` naming its
    line: an unquoted separator inside a text would otherwise shift the label silently.
    """
    delimiter, name = ("\t", "tab") if path.suffix.lower() == ".tsv" else (",", "comma")
    try:
        reader = csv.reader(io.StringIO(_decode_text(read_regular(str(path), None)), newline=""), delimiter=delimiter)
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
        content = _decode_text(read_regular(str(path), None))
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


def _from_arrays(x: Any, y: Any, task: Task, class_names: tuple[str, ...] | None) -> tuple[Dataset, list[str]]:
    images = rgb_uint8(np.asarray(x))
    source = f"arrays ({len(images)} images of {images.shape[1]}x{images.shape[2]})"
    y, messages = _array_labels(y, task, source)
    targets, names = _array_targets(y, len(images), "images", task, class_names)
    digests = tuple(pixel_digest(row) for row in images)
    dataset = Dataset(task, targets, names, digests, images=images, source=source)
    return dataset, messages + _report_copies(dataset, [f"item {i}" for i in range(len(dataset))])


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


def _text_digests(texts: Iterable[str]) -> tuple[str, ...]:
    """One sha256 per text, of ``"text:"`` and its UTF-8 bytes (so it never equals an image file's digest)."""
    return tuple(hashlib.sha256(b"text:" + text.encode("utf-8")).hexdigest() for text in texts)


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
