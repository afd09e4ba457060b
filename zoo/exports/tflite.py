"""The TFLite (LiteRT) writer: float32, dynamic (int8 weights) or int8 (full integer, calibrated), checked
against Keras."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.errors import ExportError, first_line
from zoo.exports.formats import ARTEFACTS, SERVING
from zoo.exports.int8 import int8
from zoo.exports.parity import parity
from zoo.exports.runtimes import run_tflite

if TYPE_CHECKING:
    from zoo.exports.job import Job


def write_tflite(job: Job, folder: Path) -> dict[str, Any]:
    """Write the TFLite file of ``job`` into ``folder``; its details for metadata.json (sizes, parity)."""
    import keras
    import tensorflow as tf

    model, name = job.served, job.src.output_name

    def serve(images: Any) -> dict[str, Any]:
        return {name: model(tf.cast(images, tf.float32), training=False)}

    with tempfile.TemporaryDirectory() as saved:
        archive = keras.export.ExportArchive()
        archive.add_endpoint(SERVING, serve, input_signature=[job.input_spec(any_size=False)])
        archive.write_out(saved, verbose=False)
        flat = _convert(job, saved, None)
        if job.quantize is None:
            data = flat
        elif job.quantize == "int8":
            data = _int8(job, flat)
        else:
            data = _convert(job, saved, job.quantize)
    (folder / ARTEFACTS["tflite"]).write_bytes(data)
    details: dict[str, Any] = {}
    if job.quantize is not None:
        details["float32_bytes"] = len(flat)
        details["size_ratio"] = round(len(flat) / len(data), 2)
    if job.check:
        details["parity"] = parity(job, lambda x: run_tflite(folder / ARTEFACTS["tflite"], x, name))
    return details


def _convert(job: Job, saved: str, quantize: str | None) -> bytes:
    """The TFLite model of the SavedModel ``saved``: float32, or with int8 weights (``quantize="dynamic"``)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(saved, signature_keys=[SERVING])
    if quantize is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    try:
        return converter.convert()
    except Exception as err:  # the converter raises its own types, with the unsupported op in the message
        raise _failed(job, quantize, err) from err


def _int8(job: Job, flat: bytes) -> bytes:
    """The full-integer model of the float32 model ``flat``, calibrated on the job's examples.

    What the converter's calibrate-only pass does after converting the SavedModel again (the same float graph):
    here the float32 conversion already made is calibrated, which saves a conversion (for VGG16 at 32x32, 5 s of
    5.7). The ranges are measured again and the model quantised by :func:`int8`; the conversion metadata says
    full-integer post-training quantisation, as the converter's own would.
    """
    from tensorflow.lite.python.optimize import calibrator

    examples = job.examples.for_calibration()
    try:
        calibrating = calibrator.Calibrator(calibrator.add_intermediate_tensors(flat))
        calibrated = calibrating.calibrate(lambda: ([example[None]] for example in examples))
        return _said_full_integer(int8(calibrated, examples))
    except Exception as err:  # an op without an int8 kernel, in the calibrator's or the quantiser's message
        raise _failed(job, "int8", err) from err


def _said_full_integer(data: bytes) -> bytes:
    """``data`` with its conversion metadata listing full-integer post-training quantisation."""
    from tensorflow.lite.python import conversion_metadata_schema_py_generated as schema
    from tensorflow.lite.python.util import populate_conversion_metadata
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
    (buffer,) = [entry.buffer for entry in model.metadata or [] if entry.name == b"CONVERSION_METADATA"]
    metadata = schema.ConversionMetadataT.InitFromPackedBuf(bytes(model.buffers[buffer].data))
    metadata.options.modelOptimizationModes = [schema.ModelOptimizationMode.PTQ_FULL_INTEGER]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(populate_conversion_metadata(model, metadata)))


def _failed(job: Job, quantize: str | None, err: Exception) -> ExportError:
    what = f"{quantize} quantization" if quantize else "TFLite"
    return ExportError(f"{job.src.name} cannot be converted to {what}: {first_line(err)}")
