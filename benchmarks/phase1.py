"""Phase 1 with cached features vs the hand-written Keras recipe, same data, head and epochs.

    python benchmarks/phase1.py [--images 128] [--epochs 5] [--size 224]

The recipe: frozen ResNet50 inside ``model.fit`` (image_dataset_from_directory, preprocess_input,
Flatten, Dropout(0.5), Dense softmax, Adam) for E epochs. The zoo: ``zoo.train`` with the same head,
which extracts the features once (cold cache, included in the time) and trains the head on them.
Both train on the same images and validate on them. Prints the speed-up (target: >= 0.8 * E).
Weights are random (``weights=None``) on both sides: the time does not depend on their values.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
from result import report

import zoo
from zoo.demo import SCENES, write_scenes


def hand_written_recipe(data: Path, size: int, classes: int, epochs: int) -> float:
    start = time.perf_counter()
    images = keras.utils.image_dataset_from_directory(data, image_size=(size, size), batch_size=32, verbose=False)
    images = images.map(lambda x, y: (keras.applications.resnet.preprocess_input(x), y))
    base = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(size, size, 3))
    base.trainable = False
    model = keras.Sequential(
        [base, keras.layers.Flatten(), keras.layers.Dropout(0.5), keras.layers.Dense(classes, activation="softmax")]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(images, validation_data=images, epochs=epochs, verbose=0)
    return time.perf_counter() - start


def zoo_cached_phase1(data: Path, size: int, epochs: int, workdir: Path) -> float:
    start = time.perf_counter()
    zoo.train("resnet50", data, val=data, weights=None, input_shape=size, head="flatten", dropout=0.5,
              epochs=epochs, patience=None, out=workdir / "run", cache_dir=workdir / "cache", verbose=0)  # fmt: skip
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        data = write_scenes(workdir / "data", per_class=args.images // len(SCENES), size=args.size)
        recipe = hand_written_recipe(data, args.size, len(SCENES), args.epochs)
        keras.backend.clear_session()
        cached = zoo_cached_phase1(data, args.size, args.epochs, workdir)
    ratio, target = recipe / cached, 0.8 * args.epochs
    print(f"{args.images} images at {args.size}x{args.size}, ResNet50, {args.epochs} epochs")
    print(f"{'hand-written recipe (frozen backbone in fit)':<46}{recipe:8.1f} s")
    print(f"{'zoo.train, cached phase 1 (cold cache)':<46}{cached:8.1f} s")
    report(
        f"cached phase 1 vs recipe ({args.epochs} epochs)",
        cached,
        recipe,
        "s",
        ratio,
        f">= {target:.1f}",
        ratio >= target,
    )


if __name__ == "__main__":
    main()
