"""The parity check: an artefact run against the Keras model on held-out examples, within a tolerance (float) or
an agreement target (quantised)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.errors import ExportError, first_line

if TYPE_CHECKING:
    from zoo.exports.job import Job

FLOAT_TOLERANCE = 1e-4  # max abs difference from Keras a float artefact may show
# A mixed-precision model's TFLite/ONNX file computes in float32, so it differs from the Keras model by the
# Keras model's own rounding: bfloat16 keeps 8 significant bits (float16 11). Measured (2-core CPU, Keras
# 3.15): a trained tiny_image run's probabilities move by up to 0.028 between mixed_bfloat16 and float32 (1,000
# images), and by 0.0055 under mixed_float16; a ResNet50's (random weights) by 0.0057 in bfloat16. About 3.5x
# those, scaled by the outputs' magnitude (regression values are not bounded by 1). A converter error still
# shows: the file must also match its float32 source within FLOAT_TOLERANCE.
MIXED_TOLERANCE = {"bfloat16": 0.1, "float16": 0.02}
AGREEMENT_TARGET = 0.98  # top-1 agreement with Keras a quantised artefact should reach


def keras_outputs(model: Any, inputs: np.ndarray) -> np.ndarray:
    """What the Keras ``model`` gives for ``inputs``, in batches of 32, as float32."""
    batches = [model.predict_on_batch(inputs[i : i + 32]) for i in range(0, len(inputs), 32)]
    return np.concatenate([np.asarray(b, dtype=np.float32) for b in batches])


def max_diff(got: np.ndarray, expected: np.ndarray) -> float:
    """The largest absolute difference between an artefact's outputs and Keras'."""
    if got.shape != expected.shape:
        raise ExportError(f"the exported model gives outputs of shape {got.shape}, Keras {expected.shape}")
    return float(np.max(np.abs(got.astype(np.float64) - expected.astype(np.float64)), initial=0.0))


def parity(job: Job, run: Callable[[np.ndarray], np.ndarray]) -> dict[str, Any]:
    """The artefact (``run``: inputs -> outputs) against the Keras model on the held-out examples: the
    differences, whether they are ``ok``, and a ``verdict`` in words."""
    inputs, described = job.examples.for_check()
    expected = keras_outputs(job.model, inputs)
    try:
        got = np.asarray(run(inputs), dtype=np.float32)
    except Exception as err:  # the runtime refuses the file (LiteRT's XNNPACK cannot prepare an int8 kernel)
        what = f"{job.quantize} {job.format}" if job.quantize else job.format
        raise ExportError(
            f"the {what} file of {job.src.name} does not run in its runtime ({type(err).__name__}: "
            f"{first_line(err)}), so nothing was written; export it without quantization or with another one"
        ) from None
    result: dict[str, Any] = {"against": "the Keras model", "data": described, "examples": len(inputs)}
    result["max_abs_diff"] = max_diff(got, expected)
    if job.src.config.task == "classification":
        result["top1_agreement"] = float(np.mean(got.argmax(-1) == expected.argmax(-1)))
    if job.quantize is None and job.served is not job.model:  # a float32 file of a mixed-precision model
        scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
        tolerance = MIXED_TOLERANCE.get(job.compute_dtype, MIXED_TOLERANCE["bfloat16"]) * scale
        result["tolerance"] = round(tolerance, 6)
        result["float32_copy_max_abs_diff"] = max_diff(got, keras_outputs(job.served, inputs))
        result["float32_copy_tolerance"] = FLOAT_TOLERANCE
        copied = result["float32_copy_max_abs_diff"]
        result["ok"] = result["max_abs_diff"] <= tolerance and copied <= FLOAT_TOLERANCE
        verdict = (f"max abs diff from the {job.compute_dtype} Keras model {result['max_abs_diff']:.2g} "
                   f"(tolerance {tolerance:.2g}, its rounding), from its float32 copy {copied:.2g} "
                   f"(tolerance {FLOAT_TOLERANCE:g})")  # fmt: skip
    elif job.quantize is None:
        result["tolerance"] = FLOAT_TOLERANCE
        result["ok"] = result["max_abs_diff"] <= FLOAT_TOLERANCE
        verdict = f"max abs diff from Keras {result['max_abs_diff']:.2g} (tolerance {FLOAT_TOLERANCE:g})"
    elif "top1_agreement" in result:
        result["target"] = AGREEMENT_TARGET
        result["ok"] = result["top1_agreement"] >= AGREEMENT_TARGET
        verdict = (f"top-1 agreement with Keras {result['top1_agreement']:.1%} (target {AGREEMENT_TARGET:.0%}), "
                   f"max abs diff {result['max_abs_diff']:.2g}")  # fmt: skip
    else:
        result["ok"] = True  # no top-1 to compare: the difference is reported as it is
        verdict = f"max abs diff from Keras {result['max_abs_diff']:.2g}"
    result["verdict"] = f"{verdict}, on {len(inputs)} examples of {described}"
    return result
