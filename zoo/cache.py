"""The on-disk feature cache: backbone features computed once, memory-mapped, verified on read.

An entry is keyed by everything that changes the features: the network's weights (their bytes),
the spec's preprocessing, the input size, the reducer, and the content of every example. It is
a ``<key>.npy`` file written under a temporary name and renamed, then a ``<key>.json`` record
beside it holding its shape, dtype and SHA-256; an entry that is missing, truncated or altered is
recomputed.

Several processes (the workers of one job, two runs on one machine) may share a cache folder.
Whoever writes or deletes an entry holds an exclusive lock on ``<key>.lock`` (:mod:`zoo.locks`),
so a key is computed once: a second process asking for it waits for the lock, saying which
process holds it, then reads the first one's entry. Readers take no lock for an intact entry:
they check the array's SHA-256 against the record and map the very file they checked. A reader
that finds a mismatched pair (a writer between its two renames) deletes nothing unless it holds
the lock itself. Lock files stay after use, holding the pid of their last holder. The locks are
the operating system's (``flock`` on POSIX, ``LockFileEx`` on Windows, through ``filelock``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import numpy as np

from zoo import files, locks
from zoo.errors import ConfigError

ENV_CACHE_DIR = "ZOO_CACHE_DIR"
_PICK_ANOTHER = f"set {ENV_CACHE_DIR} (or cache_dir=) to a folder you can write, or train with --no-cache (cache=False)"
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
    """Memory-mapped feature arrays under ``root``, one ``<key>.npy`` per entry, safe to share between processes.

    >>> import tempfile
    >>> cache = FeatureCache(tempfile.mkdtemp())
    >>> def fill(out): out[:] = 1.0
    >>> float(cache.get_or_compute("k", (2, 3), fill).sum())
    6.0
    >>> cache.load("k", (2, 3)).shape, cache.load("other", (2, 3))
    ((2, 3), None)
    """

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(f"the feature cache folder {self.root} is a file: {_PICK_ANOTHER}")
        self._remove_orphans()

    def _remove_orphans(self) -> None:
        """Delete the temporary files of writers that died (a full disk, SIGKILL): each one whose key's lock
        is free, so a writer at work keeps its file."""
        for orphan in files.orphans(self.root) if self.root.is_dir() else ():
            key = orphan.name[1:].split(".")[0]
            with contextlib.suppress(OSError, ConfigError), self.lock(key, wait=False) as held:
                if held:
                    orphan.unlink(missing_ok=True)

    def get_or_compute(
        self, key: str, shape: tuple[int, ...], compute: Callable[[np.ndarray], None], dtype: str = "float32"
    ) -> np.ndarray:
        """The cached array for ``key``, or ``compute(out)`` fills a new memmap that is then stored.

        An intact entry is read without a lock. Otherwise this waits for the key's lock, so while
        another process computes the key, this one waits and then reads its entry. A damaged entry
        is deleted and computed again. Returns a read-only memmap, so entries larger than memory work.
        """
        entry = self._read(key, shape, dtype)
        if entry is not None:
            return entry
        with self.lock(key):
            entry = self._load_locked(key, shape, dtype)
            if entry is not None:
                return entry  # written by another process while this one waited
            path, meta = self._paths(key)
            with files.atomic_path(path) as tmp:
                out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
                files.preallocate(tmp, tmp.stat().st_size)  # a full disk now, not a SIGBUS mid-write
                compute(out)
                out.flush()
                del out
                checksum = _sha256(tmp)
            files.write_json(meta, {"shape": list(shape), "dtype": dtype, "sha256": checksum})
            with open(path, "rb") as f:
                return _map(f)

    def load(self, key: str, shape: tuple[int, ...], dtype: str = "float32") -> np.ndarray | None:
        """The verified entry, or ``None`` when it is missing or damaged; never waits.

        A damaged entry is deleted only when the key's lock is free (taken for the deletion): while
        another process holds it, the mismatch may be a write in progress, so this returns ``None``
        and leaves the files alone.
        """
        entry = self._read(key, shape, dtype)
        path, meta = self._paths(key)
        if entry is not None or not (path.exists() or meta.exists()):
            return entry
        try:
            with self.lock(key, wait=False) as held:
                return self._load_locked(key, shape, dtype) if held else None
        except (OSError, ConfigError):  # a folder this process may not write to: nothing to delete either
            return None

    def remove(self, key: str) -> None:
        """Delete the entry ``key`` (waiting for its lock, so no writer is cut short); nothing if it is missing."""
        with self.lock(key):
            for path in self._paths(key):
                path.unlink(missing_ok=True)

    def lock(self, key: str, wait: bool = True) -> contextlib.AbstractContextManager[bool]:
        """Hold the exclusive lock on ``<key>.lock``: the right to write or delete the entry ``key``.

        Yields ``True`` once held; with ``wait=False``, yields ``False`` at once if another process
        holds it. Waiting, it says which process holds it (see :mod:`zoo.locks`). Released when the
        block ends (or the process dies).
        """
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            (self.root / f"{key}.lock").touch()
        except OSError as err:
            if err.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise
            why = f"the feature cache folder {self.root} cannot be written ({err.strerror})"
            raise ConfigError(f"{why}: {_PICK_ANOTHER}") from None
        return locks.locked(self.root / f"{key}.lock", wait=wait, what=f"the feature-cache entry {key} in {self.root}")

    def _load_locked(self, key: str, shape: tuple[int, ...], dtype: str) -> np.ndarray | None:
        """Under the key's lock: the verified entry, or ``None`` after deleting whatever is left of it.

        Whatever is left includes the temporary files of a writer that died holding the lock.
        """
        entry = self._read(key, shape, dtype)
        if entry is None:
            for leftover in (*self._paths(key), *self.root.glob(f".{key}.*")):
                leftover.unlink(missing_ok=True)
        return entry

    def _read(self, key: str, shape: tuple[int, ...], dtype: str) -> np.ndarray | None:
        """The entry if its record matches ``shape``, ``dtype`` and the array's SHA-256, else ``None``.

        Takes no lock and deletes nothing. The array is mapped from the file handle whose bytes were
        hashed, so a rename that replaces the file afterwards cannot swap what is returned.
        """
        path, meta = self._paths(key)
        try:
            info = json.loads(meta.read_text())
            with open(path, "rb") as f:
                if info["shape"] != list(shape) or info["dtype"] != dtype or info["sha256"] != _sha256(f):
                    return None
                return _map(f)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.root / f"{key}.npy", self.root / f"{key}.json"


def _map(f: IO[bytes]) -> np.memmap:
    """A read-only memmap of the ``.npy`` file open as ``f`` (it stays valid after ``f`` closes)."""
    f.seek(0)
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    return np.memmap(f, dtype=dtype, mode="r", shape=shape, order="F" if fortran else "C", offset=f.tell())


def _sha256(source: Path | IO[bytes]) -> str:
    """SHA-256 of a file, given by path or as a binary file object (read from its start)."""
    with open(source, "rb") if isinstance(source, Path) else contextlib.nullcontext(source) as f:
        f.seek(0)
        digest = hashlib.sha256()
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
        return digest.hexdigest()
