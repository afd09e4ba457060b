"""Peak memory of extracting 20,000 images at 64x64: the zoo streams to a memory-mapped cache.

    python benchmarks/memory.py [--images 20000] [--size 64]

Writes a folder of generated PNG images, then in two fresh processes measures the peak resident
memory of (a) ``zoo.features.cached_extract`` from the folder into the on-disk feature cache and
(b) the plain Keras way: every image loaded into one float32 array, then ``model.predict``.
Same model (MobileNetV3Small, random weights). Target: the zoo stays under 1.5 GB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from result import report

from zoo.demo import SCENES, write_scenes

ZOO = """
import json, resource, sys
import zoo
from zoo.cache import FeatureCache
from zoo.data import load_dataset
from zoo.features import cached_extract
model = zoo.backbone("mobilenet_v3_small", weights=None, input_shape={size})
features = cached_extract(model, load_dataset(sys.argv[1]), FeatureCache(sys.argv[2]), verbose=0)
print(json.dumps({{"rows": len(features), "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

PLAIN = """
import json, resource, sys
from pathlib import Path
import keras, numpy as np
paths = sorted(Path(sys.argv[1]).glob("*/*.png"))
images = np.stack([keras.utils.img_to_array(keras.utils.load_img(p)) for p in paths])
shape = images.shape[1:]
model = keras.applications.MobileNetV3Small(include_top=False, weights=None, input_shape=shape, pooling="avg")
features = model.predict(images, verbose=0)
print(json.dumps({"rows": len(features), "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def peak_mb(code: str, *args: str) -> float:
    env_code = "import os; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'\n" + code
    result = subprocess.run([sys.executable, "-c", env_code, *args], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])["peak_mb"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = write_scenes(Path(tmp) / "data", per_class=args.images // len(SCENES), size=args.size)
        ours = peak_mb(ZOO.format(size=args.size), str(data), str(Path(tmp) / "cache"))
        plain = peak_mb(PLAIN, str(data))
    print(f"{args.images} images at {args.size}x{args.size}: zoo peak {ours:.0f} MB, plain Keras peak {plain:.0f} MB")
    report(f"peak memory, {args.images} images at {args.size}x{args.size}", ours, plain, "MB", ours / plain,
           "zoo < 1,536 MB", ours < 1536)  # fmt: skip


if __name__ == "__main__":
    main()
