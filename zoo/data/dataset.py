"""The :class:`Dataset` record: images (file paths or pixel arrays) or texts with their targets, checked.

It reads nothing: :mod:`zoo.data.sources` makes one; :mod:`zoo.data.split` and :mod:`zoo.data.pipelines` take one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence

import numpy as np

from zoo.config import TASKS, Task
from zoo.errors import DataError
from zoo.spec import Modality


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


def check_modality(dataset: Dataset, modality: str, model: str, hint: str = "") -> None:
    """Refuse ``dataset`` when it holds other inputs than ``model`` (a phrase: "resnet50 is an image backbone")
    takes: a text model given images, or an image model given texts. ``hint`` ends the message.

    >>> from zoo.data import load_dataset
    >>> texts = load_dataset((["Rain by noon.", "Goal!"], ["weather", "sports"]))
    >>> check_modality(texts, "image", "resnet50 is an image backbone")
    Traceback (most recent call last):
    zoo.errors.DataError: resnet50 is an image backbone but arrays (2 texts) holds texts: give it images
    """
    if dataset.modality != modality:
        raise DataError(f"{model} but {dataset.source} holds {dataset.modality}s: give it {modality}s{hint}")
