"""Running an artefact outside Keras: a TFLite file with LiteRT's interpreter, an ONNX file with onnxruntime."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from zoo.exports.formats import SERVING


def interpreter(model: bytes | Path, **options: Any) -> Any:
    """LiteRT's interpreter of a TFLite model (TensorFlow's where ``ai-edge-litert`` is missing)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    source = {"model_path": str(model)} if isinstance(model, (str, os.PathLike)) else {"model_content": model}
    return Interpreter(**source, num_threads=os.cpu_count(), **options)


def run_tflite(path: Path, inputs: np.ndarray, output: str) -> np.ndarray:
    """Run a TFLite file with LiteRT's interpreter (TensorFlow's where ``ai-edge-litert`` is missing)."""
    runner = interpreter(path).get_signature_runner(SERVING)
    results = []
    for start in range(0, len(inputs), 32):
        batch = inputs[start : start + 32]
        results.append(runner(images=batch)[output])
    return np.concatenate(results)


def run_onnx(path: Path, inputs: np.ndarray) -> np.ndarray:
    """Run an ONNX file with onnxruntime, on the CPU."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: inputs[i : i + 32]})[0] for i in range(0, len(inputs), 32)])
