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
        data = flat if job.quantize is None else _convert(job, saved, job.quantize)
    (folder / ARTEFACTS["tflite"]).write_bytes(data)
    details: dict[str, Any] = {}
    if job.quantize is not None:
        details["float32_bytes"] = len(flat)
        details["size_ratio"] = round(len(flat) / len(data), 2)
    if job.check:
        details["parity"] = parity(job, lambda x: run_tflite(folder / ARTEFACTS["tflite"], x, name))
    return details


def _convert(job: Job, saved: str, quantize: str | None) -> bytes:
    """The TFLite model of the SavedModel ``saved``, quantised as ``quantize`` says."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(saved, signature_keys=[SERVING])
    if quantize is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "int8":
        examples = job.examples.for_calibration()
        converter.representative_dataset = lambda: ([example[None]] for example in examples)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter._experimental_calibrate_only = True  # quantised by int8(), on ranges measured again
    try:
        data = converter.convert()
        return int8(data, examples) if quantize == "int8" else data
    except Exception as err:  # the converter raises its own types, with the unsupported op in the message
        what = f"{quantize} quantization" if quantize else "TFLite"
        raise ExportError(f"{job.src.name} cannot be converted to {what}: {first_line(err)}") from err
