"""Exclusive file locks that say who holds them: a run directory while a process trains it, a feature-cache
entry while a process writes it.

A lock is the operating system's lock on a file holding the pid of its holder (``flock`` on POSIX,
``LockFileEx`` on Windows, both through :func:`filelock.lock_descriptor`); the kernel releases it when the
holder ends, however it ends (SIGKILL included), so a lock is never stale. A process that waits for one says,
after :data:`NOTE_AFTER` seconds and then every :data:`NOTE_EVERY`, which process holds it and whether that
process is stopped (Ctrl-Z), and gives up after ``ZOO_LOCK_TIMEOUT`` seconds when that is set.

The wait is written here rather than left to ``filelock.FileLock``: ``FileLock`` owns the file's content
(older releases truncate it on every try, so a waiter would erase the holder's pid), and its wait cannot say
who holds the lock as it goes nor stop at a zoo safe point (:func:`zoo.interrupts.check`) on Ctrl-C. So the
zoo opens the file itself, writes its pid into it, and asks ``filelock`` only to lock that descriptor.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from zoo import console, interrupts
from zoo.errors import BusyError, ConfigError

ENV_TIMEOUT = "ZOO_LOCK_TIMEOUT"
NOTE_AFTER = 2.0  # seconds of waiting before the first note
NOTE_EVERY = 30.0  # seconds between notes after it
POLL = 0.1  # seconds between tries while waiting


def timeout() -> float | None:
    """Seconds a process waits for a lock: ``ZOO_LOCK_TIMEOUT``, or ``None`` (unset: as long as it takes).

    >>> os.environ[ENV_TIMEOUT] = "90"; timeout()
    90.0
    >>> del os.environ[ENV_TIMEOUT]; timeout() is None
    True
    """
    value = os.environ.get(ENV_TIMEOUT, "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:  # NaN included
        raise ConfigError(f"{ENV_TIMEOUT}={value!r} is not a number of seconds: set it to one like 600, or unset it")
    return seconds


def holder(path: str | os.PathLike) -> str:
    """Who holds the lock file ``path``, for a message: ``process 123``, ``process 123 (stopped: ...)``."""
    try:
        pid = int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return "another process"
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        state = ""
    stopped = f" (stopped, as by Ctrl-Z: `kill -CONT {pid}` or `fg` lets it go on)" if state in ("T", "t") else ""
    return f"process {pid}{stopped}"


def held_elsewhere(path: str | os.PathLike) -> bool:
    """Whether another process holds the lock file ``path`` now (a missing file: no); the file is not touched.

    >>> held_elsewhere("no/such.lock")
    False
    """
    from filelock import lock_descriptor

    try:
        handle = open(path)
    except OSError:
        return False
    with handle:  # closing it lets go of the lock this took, if it took it
        return not lock_descriptor(handle.fileno(), blocking=False)


@contextlib.contextmanager
def locked(path: str | os.PathLike, *, wait: bool = True, what: str = "", remove: bool = False) -> Iterator[bool]:
    """Hold the exclusive lock on the file ``path`` (made if missing) for the block; yields ``True`` once held.

    ``wait=False`` yields ``False`` at once when another process holds it. Waiting, it says which process holds
    ``what`` (a phrase: "the features of ...") and raises :class:`BusyError` after ``ZOO_LOCK_TIMEOUT``
    seconds. ``remove`` deletes the file when the block ends (a lock taken by a process that opened the
    file before it went is found stale and taken again).

    >>> import tempfile
    >>> with locked(Path(tempfile.mkdtemp()) / "x.lock") as held:
    ...     held
    True
    """
    from filelock import lock_descriptor  # imported when a lock is taken: zoo.run loads without it

    path = Path(path)
    limit = timeout() if wait else 0.0
    started, noted = time.monotonic(), None
    while True:
        handle = open(path, "a+")  # "a+": made if missing, never truncated by opening
        try:
            held = lock_descriptor(handle.fileno(), blocking=False)  # False: another process holds it
        except BaseException:
            handle.close()
            raise
        if not held:
            handle.close()
            waited = time.monotonic() - started
            if not wait:
                yield False
                return
            if limit is not None and waited >= limit:
                raise BusyError(
                    f"gave up after {waited:.0f} s waiting for {holder(path)}, which holds {what or path}; let it "
                    f"finish, or stop it, then run this again ({ENV_TIMEOUT} sets how long to wait)"
                ) from None
            if waited >= NOTE_AFTER and (noted is None or time.monotonic() - noted >= NOTE_EVERY):
                console.say(f"waiting for {holder(path)}, which holds {what or path} (lock {path})")
                noted = time.monotonic()
            interrupts.check()  # Ctrl-C stops the wait at once
            time.sleep(POLL)
            continue
        if not _same_file(handle, path):  # taken on a file its last holder removed: take the current one
            handle.close()
            continue
        break
    with handle:
        with contextlib.suppress(OSError):  # a full disk: held all the same, only not named
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
        try:
            yield True
        finally:
            if remove:
                with contextlib.suppress(OSError):
                    path.unlink()


def _same_file(handle: IO[str], path: Path) -> bool:
    try:
        return os.fstat(handle.fileno()).st_ino == path.stat().st_ino
    except OSError:
        return False
