"""``zoo tune`` (50 trials on cached features) against one ``zoo train`` with the default options.

    python benchmarks/tune.py [--images 128] [--size 224] [--trials 50] [--backbone mobilenet_v3_small]

Both run on the same labelled images (the demo's scenes) and are scored on a held-out set of others. The
search's wall time includes extracting each reduction's features once (cold cache) and its 50 trials of 10
epochs; the plain run's includes its own extraction. Then the best options train a run (as ``--train-best``
does), also scored on the held-out set. Target: the search costs at most 3x the plain run. Random backbone
weights (``weights=None``: no model hub here), so the accuracies compare options, not the backbone.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from result import report

import zoo
from zoo.demo import SCENES, write_scenes
from zoo.tuning import best_options


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--backbone", default="mobilenet_v3_small")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        per_class = args.images // len(SCENES)
        data = write_scenes(work / "train", per_class=per_class, size=args.size, seed=0)
        held_out = write_scenes(work / "test", per_class=max(per_class // 2, 2), size=args.size, seed=1)
        fixed = {"weights": None, "input_shape": args.size, "epochs": args.epochs}

        start = time.perf_counter()
        plain = zoo.train(args.backbone, data, out=work / "plain", cache_dir=work / "cache-plain", verbose=0, **fixed)
        plain_seconds = time.perf_counter() - start

        start = time.perf_counter()
        found = zoo.tune(data, args.backbone, trials=args.trials, cache_dir=work / "cache", verbose=0, **fixed)
        tune_seconds = time.perf_counter() - start

        start = time.perf_counter()
        name, chosen = best_options(found.best["params"], [args.backbone])
        tuned = zoo.train(name, data, out=work / "tuned", cache_dir=work / "cache", verbose=0, **fixed, **chosen)
        best_seconds = time.perf_counter() - start

        plain_accuracy = zoo.evaluate(plain, held_out)["accuracy"]
        tuned_accuracy = zoo.evaluate(tuned, held_out)["accuracy"]
    pruned = sum(t["state"] == "pruned" for t in found.trials)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{args.backbone}, {args.images} images at {args.size}x{args.size}, {args.epochs} epochs per run and trial")
    print(f"{'zoo train, default options':<46}{plain_seconds:8.1f} s   held-out accuracy {plain_accuracy:.3f}")
    print(f"{f'zoo tune, {args.trials} trials ({pruned} pruned)':<46}{tune_seconds:8.1f} s")
    print(f"{'zoo train, the best options (cached features)':<46}{best_seconds:8.1f} s   held-out accuracy "
          f"{tuned_accuracy:.3f}")  # fmt: skip
    print(f"best: {found.command}")
    print(f"peak memory {peak:.0f} MB")
    ratio = tune_seconds / plain_seconds
    report(f"tune ({args.trials} trials) vs one train", tune_seconds, plain_seconds, "s", ratio, "<= 3", ratio <= 3)


if __name__ == "__main__":
    main()
