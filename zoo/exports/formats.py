"""The names an export uses: the formats and quantisations it makes, the file each writes, the SavedModel's
signatures. Imports nothing."""

from __future__ import annotations

FORMATS = ("savedmodel", "tflite", "onnx")
QUANTIZATIONS = ("dynamic", "int8")
METADATA = "metadata.json"
ARTEFACTS = {"savedmodel": "saved_model.pb", "tflite": "model.tflite", "onnx": "model.onnx"}
SERVING = "serving_default"  # the signature TF Serving calls by default
FEATURES = "features"  # the SavedModel's second signature: pooled backbone features


def output_name(task: str) -> str:
    """The name of an export's (and ``zoo serve``'s) output: ``values`` for regression, else ``probabilities``.

    >>> output_name("regression"), output_name("multilabel")
    ('values', 'probabilities')
    """
    return "values" if task == "regression" else "probabilities"
