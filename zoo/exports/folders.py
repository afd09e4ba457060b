"""Where an export is written: the output folder (checked before anything is written), a temporary folder named
for its process and swapped in, keeping the files of the folder it did not write and removing dead processes'
temporaries, and the file system's refusals as the zoo's errors."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from zoo import files
from zoo.errors import DiskFullError, ExportError, ZooError, first_line
from zoo.exports.formats import ARTEFACTS, METADATA
from zoo.exports.metadata import is_export

if TYPE_CHECKING:
    from zoo.exports.job import Source

# Every entry an export writes in its folder (a SavedModel's, TFLite's, ONNX's): the rest is the user's and stays.
WRITTEN = frozenset({METADATA, *ARTEFACTS.values(), "variables", "assets", "fingerprint.pb"})
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]  # process ids are compared on one host only
_LEFTOVER = re.compile(r"\.(?P<name>.+)\.(?P<kind>tmp|old)-(?P<host>[0-9a-f]{6})-(?P<pid>\d+)-[0-9a-f]{8}")


def output_folder(src: Source, format: str, quantize: str | None, out: str | os.PathLike[str] | None) -> Path:
    if out is None:
        if src.run is None:
            raise ExportError("pass out=<folder> when exporting a model object (a run exports into <run>/exports/)")
        target = src.run.export_path(format, quantize)
        inside = src.run.path.resolve()
        for folder in (target.parent, target):  # exports/ and exports/<format>: a link there leads elsewhere
            if folder.is_symlink() or (folder.exists() and not folder.resolve().is_relative_to(inside)):
                raise ExportError(f"{folder} is a link out of the run directory; remove it, or export with --out")
    else:
        target = files.as_path(out, "out")
    _check_names(target)
    folder = _existing(target.parent)
    if not os.access(folder, os.W_OK) or not folder.stat().st_mode & 0o222:  # root too: the mode says "keep out"
        raise ExportError(f"cannot write into {folder}: it is read-only (no write permission); choose an --out "
                          "folder you can write to")  # fmt: skip
    if target.exists() and not target.is_dir():
        raise ExportError(f"{target} exists and is not a folder; choose another --out")
    if target.is_dir() and any(target.iterdir()) and not is_export(target):
        raise ExportError(f"{target} holds other files (no earlier export); choose another --out or empty it")
    return target


def _existing(folder: Path) -> Path:
    """``folder``, or its nearest ancestor that exists: where an export would make its folders."""
    while not os.path.isdir(folder) and folder != folder.parent:
        folder = folder.parent
    return folder


def _check_names(target: Path) -> None:
    """Raise :class:`ExportError` when a name in ``target``, or the temporary name the export first writes it
    under, is longer than the file system takes (ENAMETOOLONG): before anything is written."""
    try:
        limit = os.pathconf(_existing(target.parent), "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # no pathconf (Windows): the common limit
        limit = 255
    for name in target.parts[:-1]:
        if (size := len(os.fsencode(name))) > limit:
            raise ExportError(f"the folder name {_short(name)} in {_short(str(target))} is too long for this file "
                              f"system ({size} bytes, at most {limit}); choose a shorter --out")  # fmt: skip
    size = len(os.fsencode(target.name))
    extra = len(os.fsencode(temporary(target, "tmp").name)) - size
    if size + extra > limit:
        raise ExportError(f"the name {_short(target.name)} ({size} bytes) is too long for this file system: the "
                          f"export writes it under a temporary name {extra} bytes longer, and names take at most "
                          f"{limit}; choose a shorter --out (at most {limit - extra} bytes)")  # fmt: skip


def _short(name: str) -> str:
    return name if len(name) <= 40 else f"{name[:20]}...{name[-12:]}"


def temporary(target: Path, kind: str, pid: int | None = None) -> Path:
    """The folder beside ``target`` an export is written in (``tmp``) or an earlier one is moved to (``old``),
    named for its process (``pid``, this one's by default) so that a later export can tell a dead one's."""
    pid = os.getpid() if pid is None else pid
    return target.parent / f".{target.name}.{kind}-{_HOST}-{pid}-{secrets.token_hex(4)}"


def remove_leftovers(folder: Path) -> None:
    """Remove what exports killed mid-way left in ``folder``: their temporary folders (on this host, of
    processes that no longer run). An earlier export a killed one had moved aside goes back in place when
    nothing took its place, so the user's files in it are never lost."""
    if os.name != "posix":  # os.kill(pid, 0) would signal the process on Windows
        return
    for path in folder.iterdir():
        found = _LEFTOVER.fullmatch(path.name)
        if found is None or found["host"] != _HOST or _alive(int(found["pid"])) or path.is_symlink():
            continue
        target = folder / found["name"]
        if found["kind"] == "old" and not os.path.lexists(target):
            with contextlib.suppress(OSError):  # another export put it back first
                os.rename(path, target)
        else:
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


def replace(tmp: Path, target: Path) -> None:
    """Put the finished folder ``tmp`` at ``target``; an earlier export there goes only once ``tmp`` is in place.

    What else the earlier folder holds (TF Serving's ``assets.extra/``, the user's notes) is carried into ``tmp``
    first, hard-linked where the file system allows (copied elsewhere), so it is in one of the two at every moment.
    """
    if not target.exists():
        os.rename(tmp, target)
        return
    written = WRITTEN | {entry.name for entry in tmp.iterdir()}
    for entry in target.iterdir():
        if entry.name in written:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, tmp / entry.name, symlinks=True, copy_function=_link_or_copy)
        elif entry.is_symlink():
            os.symlink(os.readlink(entry), tmp / entry.name)
        else:
            _link_or_copy(entry, tmp / entry.name)
    old = temporary(target, "old")
    os.rename(target, old)
    os.rename(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


def _link_or_copy(source: str | os.PathLike[str], destination: str | os.PathLike[str]) -> None:
    try:
        os.link(source, destination)
    except OSError:  # a file system without hard links
        shutil.copy2(source, destination)


@contextlib.contextmanager
def writing(target: Path, format: str) -> Iterator[None]:
    """What the file system refuses while an export is written, as the zoo's errors: a full disk is a
    :class:`DiskFullError` (TensorFlow's writers raise ``ResourceExhaustedError``); a folder without write
    permission, a file where a folder should be or a name too long an :class:`ExportError`."""
    try:
        yield
    except ZooError:
        raise
    except Exception as err:
        number, text = getattr(err, "errno", None), str(err)
        if number == errno.ENOSPC or "No space left on device" in text:
            raise DiskFullError(f"disk full: no space left at {target} for the {format} export; nothing was "
                                "written there") from err  # fmt: skip
        if number == errno.ENAMETOOLONG or "File name too long" in text:
            raise ExportError(f"a name under {target} is too long for this file system ({first_line(err)}); "
                              "choose a shorter --out") from err  # fmt: skip
        if number in (errno.ENOTDIR, errno.EEXIST):  # a file where the export's folders go
            raise ExportError(f"cannot make the export folder {target}: {err.filename} is a file, not a folder; "  # type: ignore[attr-defined]
                              "choose another --out") from err  # fmt: skip
        if number in (errno.EACCES, errno.EPERM, errno.EROFS) or "Permission denied" in text:
            raise ExportError(f"cannot write the {format} export at {target} ({first_line(err)}); choose an --out "
                              "folder you can write to") from err  # fmt: skip
        raise


def folder_size(folder: Path) -> int:
    """The bytes of every file under ``folder``, metadata.json left out."""
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and f.name != METADATA)
