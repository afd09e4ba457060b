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
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import errno
import gc
import hashlib
import importlib.util
import json
import os
import re
import secrets
import shutil
import socket
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo import files
from zoo.config import ModelConfig
from zoo.data.text import counting_cut_texts
from zoo.errors import ConfigError, DiskFullError, ExportError, ExportWarning, ZooError, first_line
from zoo.run import Run, load_requirements
from zoo.spec import BackboneSpec

if TYPE_CHECKING:
    import keras  # for annotations only: TensorFlow and Keras load when an export runs

FORMATS = ("savedmodel", "tflite", "onnx")
QUANTIZATIONS = ("dynamic", "int8")
EXTRA = "pip install 'backbone-zoo[export]'"
METADATA = "metadata.json"
ARTEFACTS = {"savedmodel": "saved_model.pb", "tflite": "model.tflite", "onnx": "model.onnx"}
SERVING = "serving_default"  # the signature TF Serving calls by default
FEATURES = "features"  # the SavedModel's second signature: pooled backbone features
TF_CALLS = ("StatefulPartitionedCall", "PartitionedCall")  # TensorFlow function calls, no ONNX op
FLOAT_TOLERANCE = 1e-4  # max abs difference from Keras a float artefact may show
# A mixed-precision model's TFLite/ONNX file computes in float32, so it differs from the Keras model by the
# Keras model's own rounding: bfloat16 keeps 8 significant bits (float16 11). Measured (2-core CPU, Keras
# 3.15): a trained tiny_image run's probabilities move by up to 0.028 between mixed_bfloat16 and float32 (1,000
# images), and by 0.0055 under mixed_float16; a ResNet50's (random weights) by 0.0057 in bfloat16. About 3.5x
# those, scaled by the outputs' magnitude (regression values are not bounded by 1). A converter error still
# shows: the file must also match its float32 source within FLOAT_TOLERANCE.
MIXED_TOLERANCE = {"bfloat16": 0.1, "float16": 0.02}
AGREEMENT_TARGET = 0.98  # top-1 agreement with Keras a quantised artefact should reach
CALIBRATION_SIZE = 200  # training examples that calibrate an int8 model
CHECK_SIZE = 200  # held-out examples the parity check runs on
_EXTRA_MODULES = {"onnx": ("onnx", "tf2onnx", "onnxruntime")}  # what each format needs beyond TensorFlow
_MARK = "backbone-zoo"  # metadata.json's "exported_by" starts with it: a folder the zoo may replace
# Every entry an export writes in its folder (a SavedModel's, TFLite's, ONNX's): the rest is the user's and stays.
WRITTEN = frozenset({METADATA, *ARTEFACTS.values(), "variables", "assets", "fingerprint.pb"})
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]  # process ids are compared on one host only
_LEFTOVER = re.compile(r"\.(?P<name>.+)\.(?P<kind>tmp|old)-(?P<host>[0-9a-f]{6})-(?P<pid>\d+)-[0-9a-f]{8}")


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


def _check_calibration(calibration: Any) -> None:
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
    _check_calibration(calibration)
    for name, value in (("calibration_size", calibration_size), ("check_size", check_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    src = _Source.of(source)
    if src.config.modality == "text" and format != "savedmodel":
        raise ExportError(
            f"{src.config.backbone} is a text model: it tokenizes strings inside with TensorFlow Text ops "
            f"(wordpiece, regex split), which {'ONNX' if format == 'onnx' else 'TFLite builtins'} do not "
            "provide; export it as savedmodel"
        )
    if src.config.task != "regression" and not src.labels:
        raise ExportError(f"{src.name} has no class names yet: train it (zoo.train) before exporting")
    if quantize == "int8" and calibration is None and src.run is None:
        raise ExportError("int8 quantization calibrates on example inputs: pass calibration=pixels or a data folder")
    _require_extra(format)
    target = _output_folder(src, format, quantize, out)
    with _writing(target, format):
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_leftovers(target.parent)
    tmp = _temporary(target, "tmp")
    try:
        with _quiet(), _writing(target, format):  # (TensorFlow starts here, quietly)
            import keras

            if keras.backend.backend() != "tensorflow":  # the exporters trace the model with TensorFlow
                raise _needs_tensorflow(keras.backend.backend())
            exporter = _Exporter(src, format, quantize, calibration, calibration_size, check, check_size)
            metadata = exporter.write(tmp)
            parity = metadata.get("parity") or {}
            if parity and not parity["ok"] and quantize is None:  # a float artefact must compute what Keras does
                raise ExportError(
                    f"the {format} export of {src.name} does not match the Keras model ({parity['verdict']}), so "
                    "nothing was written: this is a bug in the zoo or the converter, please report it"
                )
            files.write_json(tmp / METADATA, metadata)
            _replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if parity and not parity["ok"]:  # quantised below the agreement target: kept, and said loudly
        warnings.warn(f"the {format} export of {src.name} {parity['verdict']}", ExportWarning, stacklevel=2)
    artefact = target if format == "savedmodel" else target / ARTEFACTS[format]
    return Exported(target, artefact, format, quantize, metadata)


@dataclasses.dataclass
class _Source:
    """What an export needs to know, from a run directory (no TensorFlow yet) or from a model object."""

    name: str
    config: ModelConfig
    spec: BackboneSpec
    labels: tuple[str, ...]
    run: Run | None
    _model: Any = None

    @classmethod
    def of(cls, source: Any) -> _Source:
        if isinstance(source, (str, os.PathLike, Run)):
            run = Run.finished(source)
            spec = BackboneSpec.from_dict(run.spec)
            return cls(str(run.path), run.model_config, spec, run.class_names, run)
        config = getattr(source, "zoo_config", None)
        if not isinstance(config, ModelConfig):
            raise ExportError(
                f"{type(source).__name__} is neither a run directory nor a model made by zoo.build/zoo.load_model"
            )
        from zoo.plugins import get_spec

        spec = get_spec(config.backbone)
        return cls(getattr(source, "name", "the model"), config, spec, config.class_names, None, source)

    @property
    def model(self) -> Any:
        if self._model is None:
            self._model = self.run.model  # type: ignore[union-attr]
        return self._model

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.config.input_shape[:2])  # type: ignore[return-value]

    @property
    def interpolation(self) -> str:
        return self.spec.interpolation or "none"

    @property
    def sequence_length(self) -> int | None:
        """The tokens a text model reads of each string: the length the run fitted (``input_shape[0]``)."""
        return int(self.config.input_shape[0]) if self.config.modality == "text" else None


def _require_extra(format: str) -> None:
    """A one-line :class:`ExportError` naming the extra when a package ``format`` needs is missing."""
    missing = []
    for module in _EXTRA_MODULES.get(format, ()):
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(module)
    if missing:
        raise ExportError(f"{format} export needs the export extra ({', '.join(missing)} missing): {EXTRA}")


def _output_folder(src: _Source, format: str, quantize: str | None, out: str | os.PathLike[str] | None) -> Path:
    if out is None:
        if src.run is None:
            raise ExportError("pass out=<folder> when exporting a model object (a run exports into <run>/exports/)")
        target = src.run.export_path(format, quantize)
        inside = src.run.path.resolve()
        for folder in (target.parent, target):  # exports/ and exports/<format>: a link there leads elsewhere
            if folder.is_symlink() or (folder.exists() and not folder.resolve().is_relative_to(inside)):
                raise ExportError(f"{folder} is a link out of the run directory; remove it, or export with --out")
    else:
        target = Path(out)
    _check_names(target)
    folder = _existing(target.parent)
    if not os.access(folder, os.W_OK) or not folder.stat().st_mode & 0o222:  # root too: the mode says "keep out"
        raise ExportError(f"cannot write into {folder}: it is read-only (no write permission); choose an --out "
                          "folder you can write to")  # fmt: skip
    if target.exists() and not target.is_dir():
        raise ExportError(f"{target} exists and is not a folder; choose another --out")
    if target.is_dir() and any(target.iterdir()) and not _is_export(target):
        raise ExportError(f"{target} holds other files (no earlier export); choose another --out or empty it")
    return target


def _existing(folder: Path) -> Path:
    """``folder``, or its nearest ancestor that exists: where an export would make its folders."""
    while not os.path.isdir(folder) and folder != folder.parent:
        folder = folder.parent
    return folder


def _check_names(target: Path) -> None:
    """Raise :class:`ExportError` when a name in ``target``, or the temporary name the export first writes it
    under, is longer than the file system takes (ENAMETOOLONG): before anything is written."""
    try:
        limit = os.pathconf(_existing(target.parent), "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # no pathconf (Windows): the common limit
        limit = 255
    for name in target.parts[:-1]:
        if (size := len(os.fsencode(name))) > limit:
            raise ExportError(f"the folder name {_short(name)} in {_short(str(target))} is too long for this file "
                              f"system ({size} bytes, at most {limit}); choose a shorter --out")  # fmt: skip
    size = len(os.fsencode(target.name))
    extra = len(os.fsencode(_temporary(target, "tmp").name)) - size
    if size + extra > limit:
        raise ExportError(f"the name {_short(target.name)} ({size} bytes) is too long for this file system: the "
                          f"export writes it under a temporary name {extra} bytes longer, and names take at most "
                          f"{limit}; choose a shorter --out (at most {limit - extra} bytes)")  # fmt: skip


def _short(name: str) -> str:
    return name if len(name) <= 40 else f"{name[:20]}...{name[-12:]}"


def _is_export(folder: Path) -> bool:
    try:
        return str(json.loads((folder / METADATA).read_text(encoding="utf-8"))["exported_by"]).startswith(_MARK)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _temporary(target: Path, kind: str, pid: int | None = None) -> Path:
    """The folder beside ``target`` an export is written in (``tmp``) or an earlier one is moved to (``old``),
    named for its process (``pid``, this one's by default) so that a later export can tell a dead one's."""
    pid = os.getpid() if pid is None else pid
    return target.parent / f".{target.name}.{kind}-{_HOST}-{pid}-{secrets.token_hex(4)}"


def _remove_leftovers(folder: Path) -> None:
    """Remove what exports killed mid-way left in ``folder``: their temporary folders (on this host, of
    processes that no longer run). An earlier export a killed one had moved aside goes back in place when
    nothing took its place, so the user's files in it are never lost."""
    if os.name != "posix":  # os.kill(pid, 0) would signal the process on Windows
        return
    for path in folder.iterdir():
        found = _LEFTOVER.fullmatch(path.name)
        if found is None or found["host"] != _HOST or _alive(int(found["pid"])) or path.is_symlink():
            continue
        target = folder / found["name"]
        if found["kind"] == "old" and not os.path.lexists(target):
            with contextlib.suppress(OSError):  # another export put it back first
                os.rename(path, target)
        else:
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


def _replace(tmp: Path, target: Path) -> None:
    """Put the finished folder ``tmp`` at ``target``; an earlier export there goes only once ``tmp`` is in place.

    What else the earlier folder holds (TF Serving's ``assets.extra/``, the user's notes) is carried into ``tmp``
    first, hard-linked where the file system allows (copied elsewhere), so it is in one of the two at every moment.
    """
    if not target.exists():
        os.rename(tmp, target)
        return
    written = WRITTEN | {entry.name for entry in tmp.iterdir()}
    for entry in target.iterdir():
        if entry.name in written:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, tmp / entry.name, symlinks=True, copy_function=_link_or_copy)
        elif entry.is_symlink():
            os.symlink(os.readlink(entry), tmp / entry.name)
        else:
            _link_or_copy(entry, tmp / entry.name)
    old = _temporary(target, "old")
    os.rename(target, old)
    os.rename(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


def _link_or_copy(source: str | os.PathLike[str], destination: str | os.PathLike[str]) -> None:
    try:
        os.link(source, destination)
    except OSError:  # a file system without hard links
        shutil.copy2(source, destination)


@contextlib.contextmanager
def _writing(target: Path, format: str) -> Iterator[None]:
    """What the file system refuses while an export is written, as the zoo's errors: a full disk is a
    :class:`DiskFullError` (TensorFlow's writers raise ``ResourceExhaustedError``); a folder without write
    permission, a file where a folder should be or a name too long an :class:`ExportError`."""
    try:
        yield
    except ZooError:
        raise
    except Exception as err:
        number, text = getattr(err, "errno", None), str(err)
        if number == errno.ENOSPC or "No space left on device" in text:
            raise DiskFullError(f"disk full: no space left at {target} for the {format} export; nothing was "
                                "written there") from err  # fmt: skip
        if number == errno.ENAMETOOLONG or "File name too long" in text:
            raise ExportError(f"a name under {target} is too long for this file system ({first_line(err)}); "
                              "choose a shorter --out") from err  # fmt: skip
        if number in (errno.ENOTDIR, errno.EEXIST):  # a file where the export's folders go
            raise ExportError(f"cannot make the export folder {target}: {err.filename} is a file, not a folder; "  # type: ignore[attr-defined]
                              "choose another --out") from err  # fmt: skip
        if number in (errno.EACCES, errno.EPERM, errno.EROFS) or "Permission denied" in text:
            raise ExportError(f"cannot write the {format} export at {target} ({first_line(err)}); choose an --out "
                              "folder you can write to") from err  # fmt: skip
        raise


class _Exporter:
    """Builds one artefact in a folder and measures it against the Keras model; TensorFlow from here on."""

    def __init__(
        self,
        src: _Source,
        format: str,
        quantize: str | None,
        calibration: Any,
        calibration_size: int,
        check: bool,
        check_size: int,
    ) -> None:
        import keras
        import tensorflow as tf

        self.tf, self.keras = tf, keras
        self.src, self.format, self.quantize = src, format, quantize
        self.calibration, self.calibration_size = calibration, calibration_size
        self.check, self.check_size = check, check_size
        self.model = src.model
        self.text = src.config.modality == "text"
        self._data: tuple[Any, Any] | str | None = None
        self.compute_dtype = _compute_dtype(self.model)  # float32, or bfloat16/float16 for a mixed-precision model
        # What the artefact is made from: TFLite and ONNX take float32 graphs, so a mixed-precision model
        # goes through a float32 copy; the SavedModel keeps the model as it is.
        self.served = self.model
        if self.compute_dtype != "float32" and format != "savedmodel":
            self.served = _float32_copy(self.model, src.name)

    # -- what every format shares -------------------------------------------------------------------
    @property
    def output_name(self) -> str:
        return "values" if self.src.config.task == "regression" else "probabilities"

    def input_spec(self, any_size: bool) -> Any:
        tf = self.tf
        if self.text:
            return tf.TensorSpec([None], tf.string, name="text")
        height, width = self.src.image_size
        return tf.TensorSpec([None, None if any_size else height, None if any_size else width, 3], tf.uint8, "images")

    def write(self, folder: Path) -> dict[str, Any]:
        folder.mkdir(parents=True)
        write = {"savedmodel": self._savedmodel, "tflite": self._tflite, "onnx": self._onnx}[self.format]
        details = write(folder)
        size = _folder_size(folder) if self.format == "savedmodel" else (folder / ARTEFACTS[self.format]).stat().st_size
        return self._metadata(size, details)

    def keras_outputs(self, inputs: np.ndarray, model: Any = None) -> np.ndarray:
        model = model or self.model
        batches = [model.predict_on_batch(inputs[i : i + 32]) for i in range(0, len(inputs), 32)]
        return np.concatenate([np.asarray(b, dtype=np.float32) for b in batches])

    # -- SavedModel ---------------------------------------------------------------------------------
    def _savedmodel(self, folder: Path) -> dict[str, Any]:
        tf, keras = self.tf, self.keras
        model, config = self.model, self.src.config
        features_model = keras.Model(model.inputs, model.get_layer(config.parts.features).output, name="features")
        names = tf.constant(list(self.src.labels) or [""], dtype=tf.string)
        prepare = self._resize_inside()
        truncated = self._truncated()

        def serve(inputs: Any) -> dict[str, Any]:
            outputs = model(prepare(inputs), training=False)
            if config.task == "regression":
                result = {"values": outputs}
            else:
                result = {"probabilities": outputs, "classes": tf.tile(names[None], [tf.shape(outputs)[0], 1])}
            if config.task == "classification":
                result["label"] = tf.gather(names, tf.argmax(outputs, axis=-1))
            if truncated is not None:
                result["truncated"] = truncated(inputs)
            return result

        def features(inputs: Any) -> dict[str, Any]:
            result = {"features": features_model(prepare(inputs), training=False)}
            if truncated is not None:
                result["truncated"] = truncated(inputs)
            return result

        archive = keras.export.ExportArchive()  # no track(): it would save every variable twice (Keras 3.15)
        archive.add_endpoint(SERVING, serve, input_signature=[self.input_spec(any_size=True)])
        archive.add_endpoint(FEATURES, features, input_signature=[self.input_spec(any_size=True)])
        archive.write_out(str(folder), verbose=False)
        details: dict[str, Any] = {"signatures": self._signatures(features_model.output_shape[-1])}
        if self.check:
            loaded = tf.saved_model.load(str(folder))
            key = self.input_spec(True).name

            def run(fn: Any, x: np.ndarray, output: str) -> np.ndarray:
                batches = [fn(**{key: tf.constant(x[i : i + 32])})[output].numpy() for i in range(0, len(x), 32)]
                return np.concatenate(batches)

            details["parity"] = self._parity(lambda x: run(loaded.signatures[SERVING], x, self.output_name))
            if details["parity"].get("examples"):
                x = self._check_inputs()[0]
                got = run(loaded.signatures[FEATURES], x, "features")
                details["parity"]["features_max_abs_diff"] = _max_diff(got, self.keras_outputs(x, features_model))
        return details

    def _resize_inside(self) -> Callable[[Any], Any]:
        """Strings pass through; images of any size become float32 at the training size, as ``zoo predict`` does."""
        if self.text:
            return lambda texts: texts
        from zoo.data.pipelines import resize_images

        return lambda images: resize_images(images, self.src.image_size, self.src.interpolation)

    def _truncated(self) -> Callable[[Any], Any] | None:
        """For a text model that tokenizes in its own layers: strings -> whether each is longer than the token
        window, so was cut, counted as the trainer and ``zoo predict`` count it (:func:`counting_cut_texts`).
        None for an image model, or a text network that tokenizes inside one layer (a SavedModel): there are
        no tokens to count."""
        steps = [self.model.get_layer(name) for name in self.src.config.parts.text_steps] if self.text else []
        if not steps:
            return None
        tf = self.tf

        def truncated(texts: Any) -> Any:
            tokens = texts
            with counting_cut_texts(steps) as cut_from:  # traced: the graph keeps the longer window
                for layer in steps:
                    tokens = layer(tokens)
            return tf.reduce_sum(tf.cast(tokens["padding_mask"], tf.int32), axis=1) >= cut_from

        return truncated

    def _signatures(self, feature_dim: int) -> dict[str, Any]:
        task, labels = self.src.config.task, len(self.src.labels)
        outputs: dict[str, Any] = {}
        if task == "regression":
            outputs["values"] = {"dtype": "float32", "shape": [None, self.src.config.num_outputs]}
        else:
            kind = "softmax" if task == "classification" else "sigmoid, one per class"
            outputs["probabilities"] = {"dtype": "float32", "shape": [None, labels], "meaning": kind}
            outputs["classes"] = {"dtype": "string", "shape": [None, labels], "meaning": "the class names, in order"}
            if task == "classification":
                outputs["label"] = {"dtype": "string", "shape": [None], "meaning": "the most probable class"}
        features = {"features": {"dtype": "float32", "shape": [None, feature_dim], "meaning": "pooled features"}}
        if self._truncated() is not None:
            length = self.src.sequence_length
            meaning = (f"the text is longer than the {length} tokens the model reads (the length fitted to the "
                       "run's training texts): it was cut there")  # fmt: skip
            flag = {"dtype": "bool", "shape": [None], "meaning": meaning}
            outputs["truncated"] = features["truncated"] = flag  # type: ignore[assignment]
        return {SERVING: outputs, FEATURES: features}

    # -- TFLite -------------------------------------------------------------------------------------
    def _tflite(self, folder: Path) -> dict[str, Any]:
        model, tf = self.served, self.tf
        name = self.output_name

        def serve(images: Any) -> dict[str, Any]:
            return {name: model(tf.cast(images, tf.float32), training=False)}

        with tempfile.TemporaryDirectory() as saved:
            archive = self.keras.export.ExportArchive()
            archive.add_endpoint(SERVING, serve, input_signature=[self.input_spec(any_size=False)])
            archive.write_out(saved, verbose=False)
            flat = self._convert(saved, None)
            data = flat if self.quantize is None else self._convert(saved, self.quantize)
        (folder / ARTEFACTS["tflite"]).write_bytes(data)
        details: dict[str, Any] = {}
        if self.quantize is not None:
            details["float32_bytes"] = len(flat)
            details["size_ratio"] = round(len(flat) / len(data), 2)
        if self.check:
            details["parity"] = self._parity(lambda x: _run_tflite(folder / ARTEFACTS["tflite"], x, name))
        return details

    def _convert(self, saved: str, quantize: str | None) -> bytes:
        tf = self.tf
        converter = tf.lite.TFLiteConverter.from_saved_model(saved, signature_keys=[SERVING])
        if quantize is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize == "int8":
            examples = self._calibration_inputs()
            converter.representative_dataset = lambda: ([example[None]] for example in examples)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter._experimental_calibrate_only = True  # quantised by _int8, on ranges measured again
        try:
            data = converter.convert()
            return _int8(data, examples) if quantize == "int8" else data
        except Exception as err:  # the converter raises its own types, with the unsupported op in the message
            what = f"{quantize} quantization" if quantize else "TFLite"
            raise ExportError(f"{self.src.name} cannot be converted to {what}: {first_line(err)}") from err

    # -- ONNX ---------------------------------------------------------------------------------------
    def _onnx(self, folder: Path) -> dict[str, Any]:
        import onnx

        path = folder / ARTEFACTS["onnx"]
        try:
            graph = self._onnx_graph()
        except ExportError:
            raise
        except Exception as err:  # tf2onnx raises many types; the first line says which op
            raise ExportError(f"{self.src.name} cannot be converted to ONNX: {first_line(err)}") from err
        _name_onnx_output(graph, self.output_name)
        for key, value in {"labels": json.dumps(list(self.src.labels)), "exported_by": _exported_by()}.items():
            graph.metadata_props.add(key=key, value=value)
        onnx.checker.check_model(graph)
        onnx.save(graph, str(path))
        del graph
        gc.collect()  # the converter's graphs hold reference cycles: free them before the parity check runs
        details: dict[str, Any] = {}
        if self.check:
            details["parity"] = self._parity(lambda x: _run_onnx(path, x))
        return details

    def _onnx_graph(self) -> Any:
        """The served model as an ONNX ``ModelProto``, converted by tf2onnx with the least memory it can.

        Keras' ``model.export(format="onnx")`` took 7.6 GB for ResNet50 (100 MB of weights). tf2onnx's default
        path freezes the graph into one ``GraphDef`` and runs Grappler on it (2.9 GB at its peak), then
        runs its ONNX optimizers, deep-copying the graph before each pass (24 passes) and rewriting every
        node's proto after it, which under protobuf's upb runtime leaves a copy of every weight behind each
        time (see :func:`_fresh_node_protos`). Its ``large_model`` path keeps the weights out of the
        ``GraphDef`` (no Grappler, no deep copies) and returns them beside the graph; with fresh node protos
        the conversion peaks at 1.5 GB, the whole export (parity check included) at 1.7 GB. The weights go
        back into the graph here, so the artefact stays one file.
        """
        import tensorflow as tf
        import tf2onnx

        with contextlib.suppress(ImportError):  # Keras' numpy 2 fixes for tf2onnx 1.17 (np.object, np.product)
            from keras.src.export.tf2onnx_lib import patch_tf2onnx

            patch_tf2onnx()
        model, spec = self.served, self.input_spec(any_size=False)

        @tf.function(input_signature=[spec], autograph=False)  # type: ignore[untyped-decorator]
        def serve(images: Any) -> Any:
            return model(tf.cast(images, tf.float32), training=False)

        with _fresh_node_protos():
            graph, storage = tf2onnx.convert.from_function(serve, [spec], large_model=True)
        calls = [node.name for node in graph.graph.node if node.op_type in TF_CALLS]
        if calls:  # a layer traced as a function of its own (keras-hub's MobileNet): tf2onnx keeps the call
            layer = calls[0].rsplit("/", 1)[0]
            raise ExportError(
                f"{self.src.name} cannot be converted to ONNX: tf2onnx leaves {len(calls)} TensorFlow function "
                f"calls that ONNX has no op for (the first in {layer}); export it as savedmodel or tflite"
            )
        _inline_external_tensors(graph, storage.name_to_tensor_data if storage is not None else {})
        return graph

    # -- data: calibration and the parity check -------------------------------------------------------
    def _run_data(self) -> tuple[Any, Any] | None:
        """The run's (train, validation) datasets, read once through the Run; None when they cannot be read."""
        if self._data is None:
            self._data = "unreadable"
            if self.src.run is not None:
                with contextlib.suppress(ZooError, OSError):
                    self._data = self.src.run.read_data(progress=False)
        return None if isinstance(self._data, str) else self._data

    def _calibration_inputs(self) -> np.ndarray:
        if self.calibration is not None:
            return _sample(self._inputs(self.calibration), self.calibration_size)
        data = self._run_data()
        if data is None:
            raise ExportError(
                f"int8 quantization calibrates on the training data, and that of {self.src.name} cannot be read "
                "again (in-memory data, or moved files): pass calibration= (or --calibration DATA)"
            )
        return self._inputs(_subset(data[0], self.calibration_size))

    def _check_inputs(self) -> tuple[np.ndarray, str]:
        data = self._run_data()
        if data is not None:
            return self._inputs(_subset(data[1], self.check_size)), "the run's validation data"
        if self.calibration is not None:
            return _sample(self._inputs(self.calibration), self.check_size), "the calibration data"
        if self.text:
            texts = ["a short sentence", "another example text", "what does the model say about this?"]
            return np.array(texts, dtype=object), "three example sentences"
        height, width = self.src.image_size
        pixels = np.random.default_rng(0).integers(0, 256, (16, height, width, 3), dtype=np.uint8)
        return pixels, "random pixels (the run's data cannot be read again)"

    def _inputs(self, data: Any) -> np.ndarray:
        """Model inputs from a Dataset, a data source or arrays: uint8 pixels at the training size, or strings."""
        from zoo.data import Dataset, load_dataset, pipeline

        if isinstance(data, np.ndarray) and data.dtype.kind in "uif":  # checked by _check_calibration
            from zoo.data.pipelines import resize_pixels

            return _to_uint8(resize_pixels(data, self.src.image_size, self.src.interpolation))
        if self.text:
            texts = data.texts if isinstance(data, Dataset) else None
            return np.array(texts if texts is not None else list(data), dtype=object)
        task = self.src.config.task
        dataset = data if isinstance(data, Dataset) else load_dataset(data, task=task, progress=False)  # type: ignore[arg-type]
        if isinstance(data, (str, os.PathLike)) and dataset.modality != "image":
            raise ExportError(f"{data} holds {dataset.modality}s; the model reads images")
        batches = pipeline(dataset, image_size=self.src.image_size, interpolation=self.src.interpolation,
                           with_targets=False)  # fmt: skip
        return _to_uint8(np.concatenate([np.asarray(batch) for batch in batches]))

    def _parity(self, run: Callable[[np.ndarray], np.ndarray]) -> dict[str, Any]:
        inputs, described = self._check_inputs()
        expected, got = self.keras_outputs(inputs), np.asarray(run(inputs), dtype=np.float32)
        parity: dict[str, Any] = {"against": "the Keras model", "data": described, "examples": len(inputs)}
        parity["max_abs_diff"] = _max_diff(got, expected)
        if self.src.config.task == "classification":
            parity["top1_agreement"] = float(np.mean(got.argmax(-1) == expected.argmax(-1)))
        if self.quantize is None and self.served is not self.model:  # a float32 file of a mixed-precision model
            scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
            tolerance = MIXED_TOLERANCE.get(self.compute_dtype, MIXED_TOLERANCE["bfloat16"]) * scale
            parity["tolerance"] = round(tolerance, 6)
            parity["float32_copy_max_abs_diff"] = _max_diff(got, self.keras_outputs(inputs, self.served))
            parity["float32_copy_tolerance"] = FLOAT_TOLERANCE
            copied = parity["float32_copy_max_abs_diff"]
            parity["ok"] = parity["max_abs_diff"] <= tolerance and copied <= FLOAT_TOLERANCE
            verdict = (f"max abs diff from the {self.compute_dtype} Keras model {parity['max_abs_diff']:.2g} "
                       f"(tolerance {tolerance:.2g}, its rounding), from its float32 copy {copied:.2g} "
                       f"(tolerance {FLOAT_TOLERANCE:g})")  # fmt: skip
        elif self.quantize is None:
            parity["tolerance"] = FLOAT_TOLERANCE
            parity["ok"] = parity["max_abs_diff"] <= FLOAT_TOLERANCE
            verdict = f"max abs diff from Keras {parity['max_abs_diff']:.2g} (tolerance {FLOAT_TOLERANCE:g})"
        elif "top1_agreement" in parity:
            parity["target"] = AGREEMENT_TARGET
            parity["ok"] = parity["top1_agreement"] >= AGREEMENT_TARGET
            verdict = (f"top-1 agreement with Keras {parity['top1_agreement']:.1%} (target {AGREEMENT_TARGET:.0%}), "
                       f"max abs diff {parity['max_abs_diff']:.2g}")  # fmt: skip
        else:
            parity["ok"] = True  # no top-1 to compare: the difference is reported as it is
            verdict = f"max abs diff from Keras {parity['max_abs_diff']:.2g}"
        parity["verdict"] = f"{verdict}, on {len(inputs)} examples of {described}"
        return parity

    # -- metadata.json ------------------------------------------------------------------------------
    def _metadata(self, size: int, details: dict[str, Any]) -> dict[str, Any]:
        src, spec, config = self.src, self.src.spec, self.src.config
        any_size = self.format == "savedmodel"
        preprocessing = spec.preprocessing
        if self.text:  # the spec declares the backbone's length; the run fitted its own to its texts
            length = src.sequence_length
            preprocessing = dataclasses.replace(preprocessing, sequence_length=length)  # type: ignore[arg-type]
            inputs = {"name": "text", "dtype": "string", "shape": [None], "value": "raw text, one string per example",
                      "sequence_length": length, "truncation": f"the model reads the first {length} tokens of each "
                      "text (the length fitted to the run's training texts) and ignores the rest"}  # fmt: skip
            if self._truncated() is not None:
                inputs["truncation"] += "; the output truncated says which texts filled them all"  # type: ignore[operator]
        else:
            height, width = src.image_size
            shape = [None, None, None, 3] if any_size else [None, height, width, 3]
            resize = (f"inside, to {height}x{width} with {src.interpolation} interpolation (any size in)" if any_size
                      else f"before feeding, to {height}x{width} with {src.interpolation} interpolation")  # fmt: skip
            inputs = {"name": "images", "dtype": "uint8", "shape": shape, "value_range": [0, 255],  # type: ignore[dict-item, list-item]
                      "channels": "RGB", "resize": resize}  # fmt: skip
        output = {"name": self.output_name, "dtype": "float32", "shape": [None, config.num_outputs]}
        metadata: dict[str, Any] = {
            "format": self.format,
            "quantize": self.quantize,
            "artefact": "." if any_size else ARTEFACTS[self.format],
            "bytes": size,
            "exported_by": _exported_by(),
            "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "source_run": str(src.run.path.resolve()) if src.run is not None else None,
            "task": config.task,
            "modality": config.modality,
            "input": inputs,
            "output": output,
            "preprocessing": {
                "inside": True,
                "description": preprocessing.describe(),
                **dataclasses.asdict(preprocessing),
            },
            "labels": list(src.labels),
            "backbone": _backbone(spec, config),
            # What the source run's model.keras needs to load (not this artefact, which needs its runtime only).
            "source_model_requires": src.run.load_requirements if src.run is not None else load_requirements(src.model),
            **{k: v for k, v in details.items() if k != "parity"},
        }
        if self.compute_dtype != "float32":
            computes = "float32 (a float32 copy of the model, same weights)" if self.served is not self.model else (
                f"mixed {self.compute_dtype}, as the Keras model")  # fmt: skip
            metadata["mixed_precision"] = {"keras_compute_dtype": self.compute_dtype, "artefact_computes_in": computes}
        if "parity" in details:
            metadata["parity"] = details["parity"]
        return metadata


def _backbone(spec: BackboneSpec, config: ModelConfig) -> dict[str, Any]:
    """The backbone and the licence of the weights the model started from."""
    weights = config.weights
    tag = spec.default_weights if weights == "default" else weights
    variant = next((w for w in spec.weights if w.tag == tag), None)
    if weights is None:
        described, licence = "none (random initialisation)", None
    elif variant is not None:
        described, licence = f"{variant.tag}: {variant.source}", variant.license or "unknown"
    else:
        described, licence = f"local file {weights}", "unknown (a local weights file)"
    return {"name": spec.name, "family": spec.family, "plugin": spec.plugin, "weights": described,
            "weights_license": licence, "reference": spec.reference}  # fmt: skip


def _int8(calibrated: bytes, examples: np.ndarray) -> bytes:
    """The full-integer model of the converter's calibrated float model, on ranges measured again and with
    each flip (``REVERSE_V2``) keeping its input's scale: two converter bugs (TensorFlow 2.21) that trained
    networks meet.

    - The calibrator logs an op's inputs again after the op ran; an op that ran in place (the ADD of each
      ResNet block writes over its convolution's output) so gave its input the union of both ranges, up to
      3.5x too wide (tensorflow/tensorflow#127842). The range of every tensor is measured again here, min and
      max over ``examples`` as the calibrator means to, with no tensor sharing its memory.
    - The RGB->BGR flip of caffe preprocessing (ResNet v1, VGG) is a ``REVERSE_V2``, whose int8 kernel copies
      bytes without rescaling them, but the quantiser gives its output a scale of its own: every later op
      read the pixels as about ``1.46 * x - 117``. The output is given the input's scale and zero point.

    A ResNet50 trained from scratch on 32x32 shapes went from 69.5% top-1 agreement with Keras (on its
    validation data) to 98.5%, the caffe-preprocessed CNN of tests/test_int8.py from 91.7% to 99.7%.
    """
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.python.convert import mlir_quantize
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(calibrated))
    tensors = model.subgraphs[0].tensors
    ranged = [i for i, t in enumerate(tensors) if t.quantization is not None and t.quantization.min is not None
              and len(t.quantization.min) == 1]  # fmt: skip
    interpreter = _interpreter(calibrated, experimental_preserve_all_tensors=True)
    (image,) = interpreter.get_input_details()
    interpreter.resize_tensor_input(image["index"], [1, *examples.shape[1:]])
    interpreter.allocate_tensors()
    low, high = np.full(len(tensors), np.inf), np.full(len(tensors), -np.inf)
    for example in examples:
        interpreter.set_tensor(image["index"], example[None])
        interpreter.invoke()
        for i in ranged:
            values = interpreter.get_tensor(i)
            low[i], high[i] = min(low[i], values.min()), max(high[i], values.max())
    for i in ranged:
        tensors[i].quantization.min = np.array([low[i]], np.float32)
        tensors[i].quantization.max = np.array([high[i]], np.float32)
    model = flatbuffer_utils.convert_bytearray_to_object(
        mlir_quantize(bytes(flatbuffer_utils.convert_object_to_bytearray(model)))
    )
    reverse = {i for i, code in enumerate(model.operatorCodes)
               if max(code.builtinCode, code.deprecatedBuiltinCode) == schema.BuiltinOperator.REVERSE_V2}  # fmt: skip
    for graph in model.subgraphs:
        for op in graph.operators:
            if op.opcodeIndex in reverse:
                graph.tensors[op.outputs[0]].quantization = graph.tensors[op.inputs[0]].quantization
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _interpreter(model: bytes | Path, **options: Any) -> Any:
    """LiteRT's interpreter of a TFLite model (TensorFlow's where ``ai-edge-litert`` is missing)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    source = {"model_path": str(model)} if isinstance(model, (str, os.PathLike)) else {"model_content": model}
    return Interpreter(**source, num_threads=os.cpu_count(), **options)


def _run_tflite(path: Path, inputs: np.ndarray, output: str) -> np.ndarray:
    """Run a TFLite file with LiteRT's interpreter (TensorFlow's where ``ai-edge-litert`` is missing)."""
    runner = _interpreter(path).get_signature_runner(SERVING)
    results = []
    for start in range(0, len(inputs), 32):
        batch = inputs[start : start + 32]
        results.append(runner(images=batch)[output])
    return np.concatenate(results)


def _run_onnx(path: Path, inputs: np.ndarray) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: inputs[i : i + 32]})[0] for i in range(0, len(inputs), 32)])


def _name_onnx_output(graph: Any, name: str) -> None:
    """Name the graph's input dimension ``batch`` and its output ``name`` (tf2onnx calls it ``Identity:0``)."""
    old = graph.graph.output[0].name
    for node in graph.graph.node:
        node.output[:] = [name if o == old else o for o in node.output]
        node.input[:] = [name if i == old else i for i in node.input]
    graph.graph.output[0].name = name
    for value in (graph.graph.input[0], graph.graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"


def _compute_dtype(model: Any) -> str:
    """``float32``, or the lower precision a mixed-precision model computes in (``bfloat16``, ``float16``)."""
    layers, seen = [model], set()
    while layers:
        layer = layers.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        policy = getattr(layer, "dtype_policy", None)
        dtype = str(getattr(policy, "compute_dtype", "float32"))
        if dtype in ("bfloat16", "float16") and str(getattr(policy, "name", "")).startswith("mixed_"):
            return dtype
        layers.extend(getattr(layer, "layers", ()))
    return "float32"


def _float32_copy(model: Any, name: str) -> Any:
    """The same model under the float32 dtype policy, with the same weights (a mixed-precision model keeps
    its variables in float32 already, so they are copied as they are).

    Rebuilt from its config with every ``mixed_*`` policy replaced by ``float32``: Keras 3.15's
    ``clone_model`` keeps each layer's policy, and ``keras.config.set_dtype_policy`` changes only layers
    built after it. Classes Keras imports by itself (keras, keras_hub, keras_cv) come from their modules,
    the others (the zoo's, a plugin's) from the model's own layers.
    """
    import keras

    def float32(value: Any) -> Any:
        if isinstance(value, dict):
            policy = value.get("config") if value.get("class_name") == "DTypePolicy" else None
            if isinstance(policy, dict) and str(policy.get("name")).startswith("mixed_"):
                return {**value, "config": {**policy, "name": "float32"}}
            return {k: "float32" if k == "dtype" and str(v).startswith("mixed_") else float32(v)
                    for k, v in value.items()}  # fmt: skip
        if isinstance(value, list):
            return [float32(v) for v in value]
        return value

    # Built-in classes are left out: their registered names clash (keras.layers.Add and keras.ops' Add are both "Add").
    builtin = ("keras", "keras_hub", "keras_cv", "keras_nlp")
    classes = {keras.saving.get_registered_name(type(layer)): type(layer)
               for layer in model._flatten_layers(include_self=True, recursive=True)
               if type(layer).__module__.split(".")[0] not in builtin}  # fmt: skip
    previous = keras.config.dtype_policy()
    try:
        keras.config.set_dtype_policy("float32")
        copy = keras.saving.deserialize_keras_object(
            float32(keras.saving.serialize_keras_object(model)), custom_objects=classes
        )
        copy.set_weights(model.get_weights())
    except Exception as err:  # whatever rebuilding raises, the model cannot become float32 here
        raise ExportError(
            f"{name} computes in mixed precision and could not be rebuilt in float32 for this format "
            f"({first_line(err)}); export it as savedmodel"
        ) from err
    finally:
        keras.config.set_dtype_policy(previous)
    if _compute_dtype(copy) != "float32":
        raise ExportError(
            f"{name} computes in mixed precision and could not be rebuilt in float32: export it as savedmodel"
        )
    return copy


@contextlib.contextmanager
def _fresh_node_protos() -> Iterator[None]:
    """Let tf2onnx free each node's old proto when it rewrites it.

    tf2onnx (1.17) rewrites every node's ``NodeProto`` in place after each optimizer pass
    (``Node.update_proto``: ``del attribute[:]``, then ``extend``). Under protobuf's upb runtime
    (protobuf >= 4, the default) a message's arena gives nothing back until the whole message goes,
    so each pass left one more copy of every weight behind: about 90 MB per pass for ResNet50, 24
    passes. Giving the node a new proto before each rewrite lets the old one, and its arena, go.
    Where tf2onnx's ``Node`` is not as expected, nothing is changed (the conversion only costs more).
    """
    try:
        from tf2onnx.graph import Node

        original = Node.update_proto
    except (ImportError, AttributeError):
        original = None

    def update_proto(self: Any, *args: Any, **kwargs: Any) -> Any:
        old = getattr(self, "_op", None)
        if old is not None:
            fresh = type(old)()
            for field, value in old.ListFields():
                if field.name == "attribute":  # the rewrite sets them all again
                    continue
                if field.is_repeated:
                    getattr(fresh, field.name).extend(value)
                elif field.message_type is not None:
                    getattr(fresh, field.name).CopyFrom(value)
                else:
                    setattr(fresh, field.name, value)
            self._op = fresh
        return original(self, *args, **kwargs)

    if original is None:
        yield
        return
    Node.update_proto = update_proto
    try:
        yield
    finally:
        Node.update_proto = original


def _inline_external_tensors(graph: Any, data: dict[str, bytes]) -> None:
    """Put the weights tf2onnx's ``large_model`` path kept beside ``graph`` back into it (one file to ship)."""
    import onnx

    def tensors(g: Any) -> Iterator[Any]:
        yield from g.initializer
        for node in g.node:
            for attribute in node.attribute:
                if attribute.HasField("t"):
                    yield attribute.t
                yield from attribute.tensors
                if attribute.HasField("g"):
                    yield from tensors(attribute.g)
                for sub in attribute.graphs:
                    yield from tensors(sub)

    for tensor in tensors(graph.graph):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = {entry.key: entry.value for entry in tensor.external_data}.get("location")
        if location not in data:
            raise ExportError(f"tf2onnx left the tensor {tensor.name} outside the graph without its data")
        tensor.raw_data = data.pop(location)
        del tensor.external_data[:]
        tensor.data_location = onnx.TensorProto.DEFAULT


def _exported_by() -> str:
    import zoo

    return f"{_MARK} {zoo.__version__}"


def _subset(dataset: Any, count: int) -> Any:
    """At most ``count`` examples of ``dataset``, a fixed random choice kept in the dataset's order."""
    if len(dataset) <= count:
        return dataset
    return dataset.subset(np.sort(np.random.default_rng(0).choice(len(dataset), count, replace=False)))


def _sample(inputs: np.ndarray, count: int) -> np.ndarray:
    if len(inputs) <= count:
        return inputs
    return inputs[np.sort(np.random.default_rng(0).choice(len(inputs), count, replace=False))]


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def _max_diff(got: np.ndarray, expected: np.ndarray) -> float:
    if got.shape != expected.shape:
        raise ExportError(f"the exported model gives outputs of shape {got.shape}, Keras {expected.shape}")
    return float(np.max(np.abs(got.astype(np.float64) - expected.astype(np.float64)), initial=0.0))


def _folder_size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and f.name != METADATA)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keep TensorFlow's converters quiet: their C++ logs, prints and warnings go to a temporary file.

    On an unexpected error (a bug, not a :class:`ZooError`) what they said is replayed to stderr.
    """
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        failed = False
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield
        except ZooError:
            raise
        except BaseException:
            failed = True
            raise
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            if failed:
                log.seek(0)
                sys.stderr.write(log.read()[-5000:].decode(errors="replace"))
