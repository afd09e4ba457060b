"""The embedded end-to-end example behind ``zoo demo`` (no network, no data to download)."""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import numpy as np

from zoo.plugins import get_spec, list_backbones


def sample_image(size: int = 224, seed: int = 0) -> np.ndarray:
    """A deterministic RGB test picture (uint8, ``size x size x 3``): a gradient sky, a sun, a hill.

    >>> sample_image(64).shape
    (64, 64, 3)
    """
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    image = np.stack([60 + 80 * y, 120 + 80 * y, 230 - 40 * y], axis=-1)
    sun = (x - 0.75) ** 2 + (y - 0.25) ** 2 < 0.012
    image[sun] = (255, 215, 60)
    hill = y > 0.7 + 0.1 * np.sin(6 * x)
    image[hill] = (40, 140, 60)
    image += rng.normal(0, 4, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def run_demo(backbone_name: str = "resnet50", out: str | os.PathLike = "runs/demo") -> np.ndarray:
    """List the zoo, write a sample image, build ``backbone_name`` and extract its features.

    Weights are random (``weights=None``): this machine may have no internet to download the
    pretrained ones. Returns the pooled features of the sample image.
    """
    from PIL import Image

    import zoo

    specs = list_backbones()
    families = Counter(s.family for s in specs)
    print(f"{len(specs)} backbones from {len({s.plugin for s in specs})} plugin(s), {len(families)} families:")
    print("  " + ", ".join(f"{f} ({n})" for f, n in sorted(families.items())))

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    spec = get_spec(backbone_name)
    image_path = out / "sample.png"
    Image.fromarray(sample_image(spec.input_shape[0])).save(image_path)
    pixels = np.asarray(Image.open(image_path).convert("RGB"), dtype=np.float32)[None]
    print(f"\nsample image: {image_path} {pixels.shape[1:]}")

    import keras

    keras.utils.set_random_seed(0)
    start = time.perf_counter()
    model = zoo.backbone(spec.name, weights=None)
    print(
        f"built {spec.name} (random init, no download) in {time.perf_counter() - start:.1f}s: "
        f"{model.count_params():,} parameters, preprocessing {spec.preprocessing.describe()}"
    )
    features = np.asarray(model.predict(pixels, verbose=0))
    np.save(out / "features.npy", features)
    print(
        f"features: shape {features.shape}, L2 norm {np.linalg.norm(features):.4f}, "
        f"first values {np.round(features[0, :4], 4).tolist()}"
    )
    print(f"wrote {out / 'features.npy'}")
    return features
