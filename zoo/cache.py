"""The on-disk feature cache: backbone features computed once, memory-mapped, verified on read.

An entry is keyed by everything that changes the features: the network's weights (their bytes),
the spec's preprocessing, the input size, the reducer, and the content of every example. It is
a ``.npy`` file written under a temporary name and renamed, with a ``.json`` beside it holding
its shape and SHA-256; an entry that is missing, truncated or altered is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from zoo import files

ENV_CACHE_DIR = "ZOO_CACHE_DIR"
FORMAT = 1


def default_cache_dir() -> Path:
    """``$ZOO_CACHE_DIR``, else ``$XDG_CACHE_HOME/backbone-zoo/features`` (``~/.cache/...``)."""
    if os.environ.get(ENV_CACHE_DIR):
        return Path(os.environ[ENV_CACHE_DIR]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "backbone-zoo" / "features"


def cache_key(**parts: Any) -> str:
    """A stable hex key from JSON-able parts (dict order does not matter).

    >>> cache_key(a=1, b=[2, 3]) == cache_key(b=[2, 3], a=1)
    True
    """
    text = json.dumps({"format": FORMAT, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def weights_fingerprint(arrays: Iterable[Any]) -> str:
    """SHA-256 over the bytes of a model's weights, in order: the identity of what it computes."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


class FeatureCache:
    """Memory-mapped feature arrays under ``root``, one ``<key>.npy`` per entry.

    >>> import tempfile
    >>> cache = FeatureCache(tempfile.mkdtemp())
    >>> def fill(out): out[:] = 1.0
    >>> float(cache.get_or_compute("k", (2, 3), fill).sum())
    6.0
    """

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def get_or_compute(
        self, key: str, shape: tuple[int, ...], compute: Callable[[np.ndarray], None], dtype: str = "float32"
    ) -> np.ndarray:
        """The cached array for ``key``, or ``compute(out)`` fills a new memmap that is then stored.

        Returns a read-only memmap, so entries larger than memory work.
        """
        cached = self.load(key, shape, dtype)
        if cached is not None:
            return cached
        self.root.mkdir(parents=True, exist_ok=True)
        path, meta = self._paths(key)
        with files.atomic_path(path) as tmp:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
            compute(out)
            out.flush()
            del out
            checksum = _sha256(tmp)
        files.write_json(meta, {"shape": list(shape), "dtype": dtype, "sha256": checksum})
        return np.load(path, mmap_mode="r")

    def load(self, key: str, shape: tuple[int, ...], dtype: str = "float32") -> np.ndarray | None:
        """The verified entry, or ``None`` when it is missing or damaged (then it is deleted)."""
        path, meta = self._paths(key)
        if not path.exists() or not meta.exists():
            return None
        try:
            info = json.loads(meta.read_text())
            if info["shape"] != list(shape) or info["dtype"] != dtype or info["sha256"] != _sha256(path):
                raise ValueError("entry does not match its record")
            return np.load(path, mmap_mode="r")
        except (OSError, ValueError, KeyError, TypeError):
            path.unlink(missing_ok=True)
            meta.unlink(missing_ok=True)
            return None

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.root / f"{key}.npy", self.root / f"{key}.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()
