"""The example inputs an export reads: the calibration data of an int8 model (checked before TensorFlow loads)
and the held-out data of the parity check, read through the :class:`zoo.Run` and :mod:`zoo.data`."""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.errors import DataError, ExportError, ZooError, first_line

if TYPE_CHECKING:
    from zoo.exports.job import Source

CALIBRATION_SIZE = 200  # training examples that calibrate an int8 model
CHECK_SIZE = 200  # held-out examples the parity check runs on


def check_calibration(calibration: Any) -> None:
    """Raise :class:`ExportError` for calibration data that cannot calibrate: no examples (the converter would
    write a float32 file), or pixels that are not numbers, not images, NaN or infinite, or outside 0 to 255 (they
    would be cast or clipped without a word). A folder or manifest is checked as it is read."""
    from zoo.data import Dataset

    if isinstance(calibration, (np.ndarray, Dataset)) and not len(calibration):
        raise ExportError(f"int8 quantization needs calibration examples; the calibration data holds none: pass "
                          f"images like the run's (up to {CALIBRATION_SIZE} are used)")  # fmt: skip
    if not isinstance(calibration, np.ndarray):
        return
    if calibration.dtype.kind not in "uif":
        raise ExportError(f"calibration pixels must be numbers 0 to 255 (N, height, width, 3), got an array of "
                          f"{calibration.dtype}; pass pixels, an image folder or a manifest")  # fmt: skip
    if calibration.ndim != 4 or calibration.shape[-1] != 3:
        raise ExportError(f"calibration pixels must be (N, height, width, 3), got shape {calibration.shape}")
    if calibration.dtype.kind == "f" and (bad := int(np.count_nonzero(~np.isfinite(calibration)))):
        raise ExportError(f"calibration pixels hold {bad} values that are NaN or infinite (of {calibration.size}); "
                          "pass pixels 0 to 255")  # fmt: skip
    if outside := int(np.count_nonzero((calibration < 0) | (calibration > 255))):
        raise ExportError(f"calibration pixels hold {outside} values outside 0 to 255 (from {calibration.min()} to "
                          f"{calibration.max()}); pass pixels 0 to 255, as uint8 images hold them")  # fmt: skip


class Examples:
    """The inputs an export calibrates on and checks against Keras, as the model takes them: uint8 pixels at the
    training size, or strings. The run's data is read once, through the Run."""

    def __init__(self, src: Source, calibration: Any, calibration_size: int, check_size: int) -> None:
        self.src = src
        self.calibration, self.calibration_size, self.check_size = calibration, calibration_size, check_size
        self._data: tuple[Any, Any] | str | None = None

    def run_data(self) -> tuple[Any, Any] | None:
        """The run's (train, validation) datasets, read once through the Run; None when they cannot be read."""
        if self._data is None:
            self._data = "unreadable"
            if self.src.run is not None:
                with contextlib.suppress(ZooError, OSError):
                    self._data = self.src.run.read_data(progress=False)
        return None if isinstance(self._data, str) else self._data

    def for_calibration(self) -> np.ndarray:
        """Up to ``calibration_size`` examples of the calibration data, or else of the run's training data."""
        if self.calibration is not None:
            return self._calibration(self.calibration_size)
        data = self.run_data()
        if data is None:
            raise ExportError(
                f"int8 quantization calibrates on the training data, and that of {self.src.name} cannot be read "
                "again (in-memory data, or files moved or changed since): pass calibration= (or --calibration DATA)"
            )
        return self.inputs(_subset(data[0], self.calibration_size))

    def for_check(self) -> tuple[np.ndarray, str]:
        """Up to ``check_size`` held-out examples, and what they are: the run's validation data, else the
        calibration data, else made-up examples."""
        data = self.run_data()
        if data is not None:
            return self.inputs(_subset(data[1], self.check_size)), "the run's validation data"
        if self.calibration is not None:
            return self._calibration(self.check_size), "the calibration data"
        if self.src.text:
            texts = ["a short sentence", "another example text", "what does the model say about this?"]
            return np.array(texts, dtype=object), "three example sentences"
        height, width = self.src.image_size
        pixels = np.random.default_rng(0).integers(0, 256, (16, height, width, 3), dtype=np.uint8)
        return pixels, "random pixels (the run's data cannot be read again)"

    def _calibration(self, count: int) -> np.ndarray:
        """Up to ``count`` examples of the calibration data as model inputs, a fixed random choice made before
        anything is read or resized. A folder or manifest of images is read without labels: calibrating measures
        pixels alone."""
        from zoo.data import Dataset

        data = self.calibration
        if isinstance(data, (str, os.PathLike)):
            return self._images(data, count)
        if isinstance(data, (np.ndarray, Dataset)):
            return self.inputs(_subset(data, count))
        return _subset(self.inputs(data), count)

    def inputs(self, data: Any) -> np.ndarray:
        """Model inputs from a Dataset, a data source or arrays: uint8 pixels at the training size, or strings."""
        from zoo.data import Dataset, load_dataset, pipeline

        if isinstance(data, np.ndarray) and data.dtype.kind in "uif":  # checked by check_calibration
            from zoo.data.pipelines import resize_pixels

            return _to_uint8(resize_pixels(data, self.src.image_size, self.src.interpolation))
        if self.src.text:
            texts = data.texts if isinstance(data, Dataset) else None
            return np.array(texts if texts is not None else list(data), dtype=object)
        task = self.src.config.task
        dataset = data if isinstance(data, Dataset) else load_dataset(data, task=task, progress=False)  # type: ignore[arg-type]
        batches = pipeline(dataset, image_size=self.src.image_size, interpolation=self.src.interpolation,
                           with_targets=False)  # fmt: skip
        return _to_uint8(np.concatenate([np.asarray(batch) for batch in batches]))

    def _images(self, source: str | os.PathLike[str], count: int) -> np.ndarray:
        """Up to ``count`` images of a file, a folder (at any depth: class sub-folders or none) or a manifest's
        ``path`` column, as uint8 pixels at the training size."""
        from zoo.data import read_image
        from zoo.data.pipelines import resize_pixels
        from zoo.data.sources import unlabelled

        try:
            files = [file for _, file in unlabelled(source, "image", "to calibrate on") or [("", os.fspath(source))]]
        except DataError as err:
            raise ExportError(first_line(err)) from None
        pixels = []
        for file in _subset(files, count):
            try:
                image = read_image(file)
            except (DataError, OSError) as err:
                raise ExportError(f"{file} cannot calibrate: {first_line(err)}") from None
            pixels.append(resize_pixels(image[np.newaxis], self.src.image_size, self.src.interpolation)[0])
        return _to_uint8(np.stack(pixels))


def _subset(items: Any, count: int) -> Any:
    """At most ``count`` of ``items`` (a Dataset, an array or a list), a fixed random choice kept in their order."""
    if len(items) <= count:
        return items
    chosen = np.sort(np.random.default_rng(0).choice(len(items), count, replace=False))
    if isinstance(items, list):
        return [items[i] for i in chosen]
    return items.subset(chosen) if hasattr(items, "subset") else items[chosen]


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
