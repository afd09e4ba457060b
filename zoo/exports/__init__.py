"""Export a finished run (or a zoo model) for serving: SavedModel, TFLite (LiteRT) or ONNX, checked against Keras.

Every artefact takes raw input, as the Keras model does: uint8 RGB pixels ``[N, H, W, 3]`` (strings
for a text model), with the backbone's preprocessing inside. The SavedModel also resizes: its
``serving_default`` signature takes images of any size and resizes them with the spec's
interpolation, as ``zoo predict`` does, and returns the class names with the probabilities; its
``features`` signature returns the pooled backbone features. TFLite and ONNX take the training size.
A text model's SavedModel reads as many tokens of each string as the run was trained with (the length
fitted to its training texts, ``ModelConfig.input_shape[0]``) and says per string whether it filled them
all (``truncated``).

A mixed-precision model (``zoo train --mixed-precision``) is converted to TFLite and ONNX as a float32
copy with the same weights (their converters take float32 graphs); the parity check compares that file
with the mixed-precision Keras model within what bfloat16 (float16) rounding explains, and with the copy
within :data:`FLOAT_TOLERANCE`. The SavedModel keeps the model's own precision.

Each export writes one folder: the artefact and ``metadata.json`` (input spec, preprocessing, labels,
backbone and weights' licence, source run, and the parity with Keras measured on held-out data).
The folder is written under a temporary name and renamed, so it is never half-written; what else the folder
held beside an earlier export (TF Serving's ``assets.extra/``, notes) is kept. The temporary name carries the
process's id: what a killed export left is removed by the next export into the same place.

``onnx``, ``tf2onnx``, ``onnxruntime`` and ``ai-edge-litert`` are the optional extra
``backbone-zoo[export]``; TensorFlow and the converters are imported only when an export runs.

The exporter's parts are modules of this package, none of them API: :mod:`~zoo.exports.job` (what an export is
made from), :mod:`~zoo.exports.examples` (calibration and check data), one writer per format
(:mod:`~zoo.exports.savedmodel`, :mod:`~zoo.exports.tflite` with :mod:`~zoo.exports.int8`,
:mod:`~zoo.exports.onnx`), :mod:`~zoo.exports.parity`, :mod:`~zoo.exports.metadata` and
:mod:`~zoo.exports.folders` (where the files go).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import console, files
from zoo.console import filtered_stderr
from zoo.errors import ConfigError, ExportError, ExportWarning, ZooError
from zoo.exports.examples import CALIBRATION_SIZE, CHECK_SIZE, Examples, check_calibration
from zoo.exports.folders import folder_size, output_folder, remove_leftovers, replace, temporary, writing
from zoo.exports.formats import ARTEFACTS, FORMATS, METADATA, QUANTIZATIONS
from zoo.exports.job import Job, Source
from zoo.exports.metadata import metadata
from zoo.exports.onnx import write_onnx
from zoo.exports.savedmodel import write_savedmodel
from zoo.exports.tflite import write_tflite
from zoo.run import Run

if TYPE_CHECKING:
    import keras  # for annotations only: TensorFlow and Keras load when an export runs

__all__ = ["Exported", "check_options", "export"]

EXTRA = "pip install 'backbone-zoo[export]'"
_EXTRA_MODULES = {"onnx": ("onnx", "tf2onnx", "onnxruntime")}  # what each format needs beyond TensorFlow
_WRITERS: dict[str, Callable[[Job, Path], dict[str, Any]]] = {
    "savedmodel": write_savedmodel,
    "tflite": write_tflite,
    "onnx": write_onnx,
}


@dataclasses.dataclass(frozen=True)
class Exported:
    """One export: the folder, the artefact in it, and what ``metadata.json`` says about it.

    >>> exported = export("runs/demo/run", "tflite")
    >>> exported.artefact.name, exported.metadata["format"], exported.path.name
    ('model.tflite', 'tflite', 'tflite')
    """

    path: Path
    artefact: Path
    format: str
    quantize: str | None
    metadata: dict[str, Any]

    @property
    def size(self) -> int:
        """The artefact's size in bytes (a SavedModel's whole folder, metadata.json left out)."""
        return int(self.metadata["bytes"])


def check_options(format: str, quantize: str | None = None, calibration: Any = None) -> None:
    """Raise :class:`ExportError` for a format, quantisation or calibration the zoo cannot export; imports nothing
    heavy. Calibration data is for int8 quantization only: another export would ignore it.

    >>> check_options("tflite", "int8")
    >>> check_options("onnx", "int8")
    Traceback (most recent call last):
    zoo.errors.ExportError: quantize applies to the tflite format only, not onnx; drop quantize int8
    >>> check_options("onnx", calibration="data/train")
    Traceback (most recent call last):
    zoo.errors.ExportError: calibration applies to int8 quantization only, not to this onnx export; drop --calibration
    """
    if format not in FORMATS:
        raise ExportError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise ExportError(f"unknown quantization {quantize!r}; choose one of {', '.join(QUANTIZATIONS)}")
    if quantize is not None and format != "tflite":
        raise ExportError(f"quantize applies to the tflite format only, not {format}; drop quantize {quantize}")
    if calibration is not None and quantize != "int8":
        what = f"tflite {quantize or 'float32'}" if format == "tflite" else format
        fix = "drop --calibration, or quantize int8" if format == "tflite" else "drop --calibration"
        raise ExportError(f"calibration applies to int8 quantization only, not to this {what} export; {fix}")
    backend = os.environ.get("KERAS_BACKEND") or "tensorflow"
    if backend != "tensorflow":  # said before Keras starts (a backend set in keras.json, once it has)
        raise _needs_tensorflow(backend)


def _needs_tensorflow(backend: str) -> ExportError:
    return ExportError(
        f"zoo export needs the TensorFlow backend, not {backend}: run it with KERAS_BACKEND=tensorflow (a model "
        "trained on any backend exports)"
    )


def export(
    source: str | os.PathLike[str] | Run | keras.Model,
    format: str = "savedmodel",
    *,
    out: str | os.PathLike[str] | None = None,
    quantize: str | None = None,
    calibration: Any = None,
    calibration_size: int = CALIBRATION_SIZE,
    check: bool = True,
    check_size: int = CHECK_SIZE,
) -> Exported:
    """Export a finished run (a :class:`zoo.Run` or its directory) or a zoo model as ``format``.

    ``format``: ``"savedmodel"`` (TF Serving, ``tf.saved_model.load``), ``"tflite"`` (LiteRT) or
    ``"onnx"`` (onnxruntime). ``quantize`` (TFLite only): ``"dynamic"`` (int8 weights) or
    ``"int8"`` (full integer, calibrated on ``calibration_size`` examples of the run's training
    data, or of ``calibration``: pixels ``(N, H, W, 3)``, a folder or a manifest). ``out`` defaults
    to ``<run>/exports/<format>[-<quantize>]``; an existing folder is written into only if it holds an
    earlier export, whose files are replaced (the user's beside them are kept). With ``check`` the artefact
    is run against Keras on up to ``check_size`` held-out examples (the run's validation data) and the result
    goes into ``metadata.json``; a quantised one below its agreement target is kept, with an ``ExportWarning``.

    >>> exported = export("runs/demo/run", "savedmodel")
    >>> exported.metadata["parity"]["ok"], exported.metadata["parity"]["max_abs_diff"] <= 1e-4
    (True, True)
    """
    check_options(format, quantize, calibration)
    check_calibration(calibration)
    for name, value in (("calibration_size", calibration_size), ("check_size", check_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    src = Source.of(source)
    if src.config.modality == "text" and format != "savedmodel":
        raise ExportError(
            f"{src.config.backbone} is a text model: it tokenizes strings inside with TensorFlow Text ops "
            f"(wordpiece, regex split), which {'ONNX does' if format == 'onnx' else 'TFLite builtins do'} not "
            "provide; export it as savedmodel"
        )
    if src.config.task != "regression" and not src.labels:
        raise ExportError(f"{src.name} has no class names yet: train it (zoo.train) before exporting")
    if quantize == "int8" and calibration is None and src.run is None:
        raise ExportError("int8 quantization calibrates on example inputs: pass calibration=pixels or a data folder")
    _require_extra(format)
    target = output_folder(src, format, quantize, out)
    with writing(target, format):
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_leftovers(target.parent)
    tmp = temporary(target, "tmp")
    try:
        with _quiet(), writing(target, format):  # (TensorFlow starts here, quietly)
            import keras

            if keras.backend.backend() != "tensorflow":  # the exporters trace the model with TensorFlow
                raise _needs_tensorflow(keras.backend.backend())
            examples = Examples(src, calibration, calibration_size, check_size)
            written = _write(Job.start(src, format, quantize, check, examples), tmp)
            parity = written.get("parity") or {}
            if parity and not parity["ok"] and quantize is None:  # a float artefact must compute what Keras does
                raise ExportError(
                    f"the {format} export of {src.name} does not match the Keras model ({parity['verdict']}), so "
                    "nothing was written: this is a bug in the zoo or the converter, please report it"
                )
            files.write_json(tmp / METADATA, written)
            replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if parity and not parity["ok"]:  # quantised below the agreement target: kept, and said loudly
        warnings.warn(f"the {format} export of {src.name}: {parity['verdict']}", ExportWarning, stacklevel=2)
    artefact = target if format == "savedmodel" else target / ARTEFACTS[format]
    return Exported(target, artefact, format, quantize, written)


def _require_extra(format: str) -> None:
    """A one-line :class:`ExportError` naming the extra when a package ``format`` needs is missing."""
    missing = [module for module in _EXTRA_MODULES.get(format, ()) if not console.installed(module)]
    if missing:
        raise ExportError(f"{format} export needs the export extra ({', '.join(missing)} missing): {EXTRA}")


def _write(job: Job, folder: Path) -> dict[str, Any]:
    """Write the artefact of ``job`` into the new ``folder``, and measure it against the Keras model; what
    metadata.json will say."""
    folder.mkdir(parents=True)
    details = _WRITERS[job.format](job, folder)
    size = folder_size(folder) if job.format == "savedmodel" else (folder / ARTEFACTS[job.format]).stat().st_size
    return metadata(job, size, details)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keep TensorFlow's converters quiet: their C++ logs, prints and warnings go to a temporary file.

    On an unexpected error (a bug, not a :class:`ZooError`) what they said is replayed to stderr.
    """

    def unexpected(err: BaseException) -> bool:
        return not isinstance(err, ZooError)

    with filtered_stderr(lambda line: False, stdout=True, replay=unexpected, tail=5000), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
