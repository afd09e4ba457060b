"""GPU extraction throughput: zoo.extract vs plain model.predict, on JAX, without TensorFlow.

    KERAS_BACKEND=jax python benchmarks/gpu.py [--images 8192] [--batch-size 256] [--size 224]

For ResNet50, MobileNetV3Small and EfficientNetB0 (random weights: speed does not depend on them),
in float32 and mixed bfloat16: images/s of ``model.predict`` on a float32 NumPy array (the plain
Keras way) and of ``zoo.extract`` on the same images as uint8 (converted on the device, copies
overlapped with compute), in one run, with the ratio (target >= 2 on a GPU). Each is warmed up on
one batch first. Also runs on a CPU (small ``--images``) to check the script itself.
"""

from __future__ import annotations

import argparse
import json
import time

import keras
import numpy as np

import zoo

MODELS = {"resnet50": "ResNet50", "mobilenet_v3_small": "MobileNetV3Small", "efficientnet_b0": "EfficientNetB0"}


def plain_predict(constructor: str, images: np.ndarray, batch_size: int) -> float:
    model = getattr(keras.applications, constructor)(
        include_top=False, weights=None, input_shape=images.shape[1:], pooling="avg"
    )
    pixels = images.astype("float32")  # what a user hands to predict
    model.predict(pixels[:batch_size], batch_size=batch_size, verbose=0)
    start = time.perf_counter()
    model.predict(pixels, batch_size=batch_size, verbose=0)
    return len(images) / (time.perf_counter() - start)


def zoo_extract(name: str, images: np.ndarray, batch_size: int) -> float:
    model = zoo.backbone(name, weights=None, input_shape=images.shape[1:])
    zoo.extract(model, images[:batch_size], batch_size=batch_size, verbose=0)
    start = time.perf_counter()
    zoo.extract(model, images, batch_size=batch_size, verbose=0)
    return len(images) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=8192)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--policies", nargs="+", default=["float32", "mixed_bfloat16"])
    parser.add_argument("--json", action="store_true", help="print the results as JSON lines")
    args = parser.parse_args()
    devices = keras.distribution.list_devices()
    print(f"backend {keras.backend.backend()}, devices {devices}, {args.images} images of {args.size}x{args.size}")
    images = np.random.default_rng(0).integers(0, 256, (args.images, args.size, args.size, 3), dtype=np.uint8)
    print(f"{'model':<20}{'policy':<16}{'predict img/s':>14}{'zoo img/s':>12}{'ratio':>8}")
    for name in args.models:
        for policy in args.policies:
            keras.config.set_dtype_policy(policy)
            baseline = plain_predict(MODELS[name], images, args.batch_size)
            ours = zoo_extract(name, images, args.batch_size)
            keras.config.set_dtype_policy("float32")
            keras.backend.clear_session()
            row = {"model": name, "policy": policy, "predict": baseline, "zoo": ours, "ratio": ours / baseline}
            print(
                json.dumps(row)
                if args.json
                else f"{name:<20}{policy:<16}{baseline:>14.1f}{ours:>12.1f}{ours / baseline:>8.2f}"
            )


if __name__ == "__main__":
    main()
