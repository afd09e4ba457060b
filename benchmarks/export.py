"""Serving speed of each export format against Keras ``predict``, same run, same CPU, same images.

    python benchmarks/export.py [--size 224] [--per-class 24] [--repeat 20] [--weights none]

For MobileNetV3Small and ResNet50 (``weights=None`` by default: the time does not depend on the
weights' values), trains a run on generated scenes (4 classes), exports it with ``zoo.export`` to a
SavedModel, TFLite float32, TFLite int8 (calibrated on the run's training data) and ONNX, then
times each runtime on uint8 images at the training size:

- latency at batch 1: the median of ``--repeat`` calls, after a warm-up call;
- throughput at batch 32: images per second over three batches of 32, after a warm-up batch.

Keras is ``model.predict``; the SavedModel is its ``serving_default`` signature through
``tf.saved_model.load``; TFLite is LiteRT's interpreter (``ai-edge-litert``) with as many threads as
cores; ONNX is onnxruntime's CPU provider. Prints a table per model with the ratios to Keras, the
file sizes, and each export's parity with Keras; the last lines say whether the int8 file is at
least 3x smaller than float32 (the target), for ``run_all.py``.

The int8 parity printed here says little with random weights: a randomly initialised
MobileNetV3Small gives features of norm ~1e-8 (every image gets the same prediction), and a random
ResNet50's activations quantise badly. ``--weights default`` (pretrained, where they can be
downloaded) or a local weights file gives the figure that matters for a real model.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import tensorflow as tf
from result import report

import zoo
from zoo.demo import SCENES, write_scenes

MODELS = {"mobilenet_v3_small": "MobileNetV3Small", "resnet50": "ResNet50"}
EXPORTS = {"savedmodel": ("savedmodel", None), "tflite": ("tflite", None), "tflite-int8": ("tflite", "int8"),
           "onnx": ("onnx", None)}  # fmt: skip
SIZE_TARGET = 3.0


def latency_ms(run: Callable[[np.ndarray], object], image: np.ndarray, repeat: int) -> float:
    run(image)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run(image)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def throughput(run: Callable[[np.ndarray], object], batches: list[np.ndarray]) -> float:
    run(batches[0])
    start = time.perf_counter()
    for batch in batches[1:]:
        run(batch)
    return sum(len(b) for b in batches[1:]) / (time.perf_counter() - start)


def tflite_runner(path: Path, batch: int) -> Callable[[np.ndarray], np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=os.cpu_count())
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, [batch, *interpreter.get_input_details()[0]["shape"][1:]])
    interpreter.allocate_tensors()
    output = interpreter.get_output_details()[0]["index"]

    def run(x: np.ndarray) -> np.ndarray:
        interpreter.set_tensor(index, x)
        interpreter.invoke()
        return interpreter.get_tensor(output)

    return run


def runtimes(run: zoo.Run, exports: dict[str, zoo.exports.Exported]) -> dict[str, Callable[[int], Callable]]:
    """For each runtime, a maker of its call for a given batch size."""
    import onnxruntime

    model = run.model
    served = tf.saved_model.load(str(exports["savedmodel"].path)).signatures["serving_default"]
    session = onnxruntime.InferenceSession(str(exports["onnx"].artefact), providers=["CPUExecutionProvider"])
    return {
        "Keras predict": lambda n: lambda x: model.predict(x, batch_size=32, verbose=0),
        "SavedModel": lambda n: lambda x: served(images=tf.constant(x)),
        "TFLite float32": lambda n: tflite_runner(exports["tflite"].artefact, n),
        "TFLite int8": lambda n: tflite_runner(exports["tflite-int8"].artefact, n),
        "onnxruntime": lambda n: lambda x: session.run(None, {"images": x}),
    }


def megabytes(count: int) -> str:
    return f"{count / 1e6:.1f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--per-class", type=int, default=24, help="generated training images per scene kind")
    parser.add_argument("--repeat", type=int, default=20, help="batch-1 calls timed per runtime")
    parser.add_argument("--weights", default="none", help="none | default | PATH, for both backbones")
    args = parser.parse_args()
    tf.get_logger().setLevel("ERROR")  # predict's retracing notice for batch 1 after batch 32
    weights = None if args.weights.lower() == "none" else args.weights
    rng = np.random.default_rng(0)
    batches = [rng.integers(0, 256, (32, args.size, args.size, 3), dtype=np.uint8) for _ in range(4)]
    single = batches[0][:1]
    ratios = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = write_scenes(Path(tmp) / "data", per_class=args.per_class, size=args.size)
        for name, label in MODELS.items():
            start = time.perf_counter()
            run = zoo.train(name, data, weights=weights, input_shape=args.size, epochs=5, learning_rate=3e-3,
                            out=Path(tmp) / name, cache_dir=Path(tmp) / "cache", verbose=0)  # fmt: skip
            trained = time.perf_counter() - start
            exports, took = {}, {}
            for key, (format, quantize) in EXPORTS.items():
                start = time.perf_counter()
                exports[key] = zoo.export(run, format, quantize=quantize)
                took[key] = time.perf_counter() - start
            sizes = {
                "Keras predict": (run.path / "model.keras").stat().st_size,
                "SavedModel": exports["savedmodel"].size,
                "TFLite float32": exports["tflite"].size,
                "TFLite int8": exports["tflite-int8"].size,
                "onnxruntime": exports["onnx"].size,
            }
            print(f"\n{label} at {args.size}x{args.size}, {len(SCENES)} classes (trained in {trained:.0f} s; exports: "
                  + ", ".join(f"{k} {v:.0f} s" for k, v in took.items()) + ")")  # fmt: skip
            print(f"{'runtime':<16}{'batch 1 ms':>12}{'x Keras':>9}{'batch 32 img/s':>16}{'x Keras':>9}{'file':>10}")
            base_latency = base_rate = None
            for runtime, maker in runtimes(run, exports).items():
                latency = latency_ms(maker(1), single, args.repeat)
                rate = throughput(maker(32), batches)
                base_latency, base_rate = base_latency or latency, base_rate or rate
                print(f"{runtime:<16}{latency:>12.1f}{base_latency / latency:>9.2f}{rate:>16.1f}"
                      f"{rate / base_rate:>9.2f}{megabytes(sizes[runtime]):>10}")  # fmt: skip
            for key, exported in exports.items():
                print(f"  {key}: {exported.metadata['parity']['verdict']}")
            ratios[label] = exports["tflite-int8"].metadata["size_ratio"]
            keras.backend.clear_session()
    for label, ratio in ratios.items():
        report(f"TFLite int8 vs float32 file size ({label})", 1 / ratio, 1.0, "x", ratio, f">= {SIZE_TARGET}",
               ratio >= SIZE_TARGET)  # fmt: skip


if __name__ == "__main__":
    main()
