"""Atomic, durable file writing: a reader sees the old file or the new one, never half of one, and a
file written survives a power cut (it and its directory entry are fsynced)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from zoo.errors import ConfigError, DiskFullError

_TEMPORARY = re.compile(r"\..+?\.[0-9a-f]{8}(\.[^.]+)*")  # atomic_path's names
SPACE_MARGIN = 8 << 20  # bytes left free besides a file, for the records written next to it


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix); it replaces ``path`` when the block succeeds.

    The file gets the user's usual permissions (``0o666`` less the umask), as ``open`` would give it.
    Its bytes are fsynced before the rename and the directory after it, so once the block ends the
    new file is on disk, not only in the page cache.

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    path = Path(path)
    make_folder(path.parent, path)
    suffix = "".join(path.suffixes) or ".tmp"
    while True:  # O_EXCL: a name nobody else holds; 0o666 & ~umask, unlike mkstemp's 0o600
        tmp = path.parent / f".{path.stem}.{secrets.token_hex(4)}{suffix}"
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            break
        except FileExistsError:
            continue
        except OSError as err:
            raise cannot_write(path, err) from None
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
        if hasattr(os, "O_DIRECTORY"):  # POSIX: the rename itself is durable once the directory is
            _fsync(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def as_path(value: Any, what: str) -> Path:
    """``value`` as a Path, or a :class:`ConfigError` naming ``what`` (an argument) when it is no path at all.

    >>> as_path("runs/a", "out"), as_path(5, "out")
    Traceback (most recent call last):
    zoo.errors.ConfigError: out must be a path (a str or os.PathLike), got int
    """
    if not isinstance(value, (str, os.PathLike)) or isinstance(value, bytes):
        raise ConfigError(f"{what} must be a path (a str or os.PathLike), got {type(value).__name__}")
    return Path(value)


def make_folder(folder: Path, target: Path | None = None) -> bool:
    """Make ``folder`` and its parents if missing (whether it made it); a place that cannot hold it (a file in the
    way, a read-only or special file system) is a :class:`ConfigError` naming ``target`` (default ``folder``).

    >>> make_folder(Path("/proc/zoo-run"))
    Traceback (most recent call last):
    zoo.errors.ConfigError: cannot write /proc/zoo-run: no such file or directory; choose a folder you can write to
    """
    try:
        folder.mkdir(parents=True)
        return True
    except FileExistsError as err:
        if folder.is_dir():
            return False
        raise cannot_write(target or folder, err) from None
    except OSError as err:
        raise cannot_write(target or folder, err) from None


def check_writable(path: Path) -> None:
    """:class:`ConfigError` unless a file can be written at ``path``: not a folder, no file among its parents, and
    the nearest folder that exists takes a new file (the missing ones are made when the file is written).

    >>> check_writable(Path("/proc/lr.png"))
    Traceback (most recent call last):
    zoo.errors.ConfigError: cannot write /proc/lr.png: no such file or directory; choose a folder you can write to
    """
    if path.is_dir():
        raise ConfigError(f"{path} is a folder: give a file's path in it, e.g. {path / 'out.png'}")
    _check_takes_files(path, path.parents)


def check_can_make(folder: Path) -> None:
    """:class:`ConfigError` unless ``folder`` is a folder that takes new files, or can be made: the nearest folder
    above it that exists takes new files (a read-only or special file system does not).

    >>> check_can_make(Path("/proc/zoo-run"))
    Traceback (most recent call last):
    zoo.errors.ConfigError: cannot write /proc/zoo-run: no such file or directory; choose a folder you can write to
    """
    _check_takes_files(folder, [folder, *folder.parents])


def _check_takes_files(path: Path, candidates: Sequence[Path]) -> None:
    """:class:`ConfigError` naming ``path`` unless the first of ``candidates`` that exists is a folder that takes a
    new file."""
    folder = next(p for p in candidates if p.exists())
    try:
        if not folder.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(folder))
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as err:
        raise cannot_write(path, err) from None


def file_in_the_way(path: Path) -> Path | None:
    """The file (not a folder) among ``path``'s parents, which stops a folder being made there; ``None`` if none.

    >>> file_in_the_way(Path("/etc/hostname/run")), file_in_the_way(Path("/tmp/run"))
    (PosixPath('/etc/hostname'), None)
    """
    return next((p for p in path.parents if p.exists() and not p.is_dir()), None)


def cannot_write(path: Path, err: OSError) -> OSError | ConfigError:
    """The error for a file or folder the zoo cannot make at ``path``: ``err`` itself for a full disk."""
    if err.errno == errno.ENOSPC:
        return err
    in_the_way = file_in_the_way(path)
    if in_the_way is not None and err.errno in (errno.EEXIST, errno.ENOTDIR):
        return ConfigError(f"cannot write {path}: {in_the_way} is a file, not a folder; choose another place")
    return ConfigError(f"cannot write {path}: {str(err.strerror).lower()}; choose a folder you can write to")


def _fsync(path: Path) -> None:
    """Flush a file's (or a directory's) data and metadata to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_space(path: str | os.PathLike, nbytes: int) -> None:
    """Raise :class:`DiskFullError` unless the file system of ``path`` has ``nbytes`` free, and a margin.

    >>> ensure_space("/tmp/x", 1)
    >>> ensure_space("/tmp/x", 1 << 60)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    zoo.errors.DiskFullError: disk full: ... MB needed at /tmp/x (... MB free)
    """
    folder = Path(path).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if free < nbytes + SPACE_MARGIN:
        raise DiskFullError.needed(path, nbytes + SPACE_MARGIN, free)


def preallocate(path: str | os.PathLike, nbytes: int) -> None:
    """Reserve ``nbytes`` for the file at ``path`` now, so writing it later (through a memory map, where a
    full disk is a SIGBUS) cannot run out of space; :class:`DiskFullError` if the space is not there."""
    if not hasattr(os, "posix_fallocate"):  # macOS, Windows: a check of the free space
        ensure_space(path, nbytes)
        return
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, nbytes)
    except OSError as err:
        if err.errno == errno.ENOSPC:
            raise DiskFullError.needed(path, nbytes, shutil.disk_usage(Path(path).parent).free) from None
        if err.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # file systems without fallocate: checked instead
            raise
        ensure_space(path, nbytes)
    finally:
        os.close(fd)


def orphans(folder: str | os.PathLike) -> list[Path]:
    """The temporary files :func:`atomic_path` left in ``folder`` when their writer died
    (``.<name>.<8 hex digits><suffixes>``).

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / ".phase1.weights.0a1b2c3d.weights.h5").write_bytes(b"half")
    >>> _ = (folder / ".hidden").write_bytes(b"kept")
    >>> [p.name for p in orphans(folder)]
    ['.phase1.weights.0a1b2c3d.weights.h5']
    """
    return sorted(p for p in Path(folder).glob(".*") if _TEMPORARY.fullmatch(p.name) and p.is_file())


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    return write_text(path, json.dumps(data, indent=2, ensure_ascii=False, default=_jsonable) + "\n")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
