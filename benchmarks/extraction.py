"""CPU extraction throughput: zoo.extract (uint8 in) vs plain model.predict (float32 in), same model.

    python benchmarks/extraction.py [--images 256] [--size 224] [--batch-size 32]

The baseline is the keras.applications model with ``pooling="avg"``, fed a float32 NumPy array
with ``predict``; the zoo extracts the same images, given as uint8, from the zoo's model of the
same architecture (preprocessing inside). Random weights on both sides. Each is warmed up on one
batch. Prints images/s per model and the ratio of the totals (target: >= 1.0).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
from result import report

import zoo

MODELS = {"mobilenet_v3_small": "MobileNetV3Small", "resnet50": "ResNet50"}


def rate(run, images: np.ndarray, batch_size: int) -> float:
    run(images[:batch_size])
    start = time.perf_counter()
    run(images)
    return len(images) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    images = np.random.default_rng(0).integers(0, 256, (args.images, args.size, args.size, 3), dtype=np.uint8)
    shape = images.shape[1:]
    pixels = images.astype("float32")  # the baseline's input, converted before timing
    total_zoo = total_plain = 0.0
    for name, constructor in MODELS.items():
        plain = getattr(keras.applications, constructor)(
            include_top=False, weights=None, input_shape=shape, pooling="avg"
        )
        plain_rate = rate(
            lambda x, m=plain: m.predict(x, batch_size=args.batch_size, verbose=0), pixels, args.batch_size
        )
        ours = zoo.backbone(name, weights=None, input_shape=shape)
        zoo_rate = rate(
            lambda x, m=ours: zoo.extract(m, x, batch_size=args.batch_size, verbose=0), images, args.batch_size
        )
        print(f"{name:<20} model.predict {plain_rate:8.1f} img/s   zoo.extract {zoo_rate:8.1f} img/s")
        total_plain += len(images) / plain_rate
        total_zoo += len(images) / zoo_rate
        keras.backend.clear_session()
    ratio = total_plain / total_zoo
    report("zoo.extract vs model.predict (CPU)", total_zoo, total_plain, "s", ratio, ">= 1.0", ratio >= 1.0)


if __name__ == "__main__":
    main()
