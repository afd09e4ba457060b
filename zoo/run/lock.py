"""Who trains a run directory: one process at a time, holding its ``.training.lock`` (through :mod:`zoo.locks`);
and where a new run may start."""

from __future__ import annotations

import contextlib
import datetime
import errno
import os
import shlex
from pathlib import Path

from zoo import locks
from zoo.errors import BusyError, RunError
from zoo.files import cannot_write, file_in_the_way, make_folder
from zoo.run.layout import CONFIG, STATE, TRAINING_LOCK, read_json
from zoo.run.record import read_config
from zoo.run.state import RunState


def default_path(backbone: str) -> Path:
    """``runs/<backbone>-<time>``, the directory a run gets when no ``out`` is given (:func:`claim` with
    ``unique=True`` adds ``-2``, ``-3``... when another run took it in the same second)."""
    return Path("runs") / f"{backbone}-{datetime.datetime.now():%Y%m%d-%H%M%S}"


class TrainingLock:
    """The training lock of the run directory at ``run_path``, as this process holds it (or not)."""

    def __init__(self, run_path: Path) -> None:
        self.run_path = run_path
        self._held: contextlib.ExitStack | None = None

    def hold(self) -> None:
        """Take the run directory for training in this process; :class:`BusyError` if another process has it.

        The lock (``.training.lock``, holding the pid) goes when :meth:`release` is called or the process ends.
        """
        if self._held is not None:
            return
        held = contextlib.ExitStack()
        try:
            free = held.enter_context(locks.locked(self.run_path / TRAINING_LOCK, wait=False, remove=True))
        except PermissionError as err:  # read-only: refused now, not after an epoch of training
            raise RunError(
                f"{self.run_path} cannot be written by this process ({err.strerror}): training writes its "
                "checkpoints there; fix its permissions, or copy the run somewhere writable"
            ) from None
        except OSError as err:
            if err.errno != errno.EROFS:
                raise
            raise RunError(f"{self.run_path} is on a read-only file system: copy the run somewhere writable") from None
        if not free:
            who = locks.holder(self.run_path / TRAINING_LOCK)
            held.close()
            raise BusyError(
                f"{self.run_path} is being trained by {who}: wait for it to finish (then resume it, if it stopped), "
                "or pick another --out"
            )
        self._held = held

    def check_idle(self) -> None:
        """:class:`BusyError` while another process trains the run directory (:class:`RunError` if it cannot be
        written): what :meth:`hold` checks, without keeping the lock."""
        self.hold()
        self.release()

    def release(self) -> None:
        """Let other processes train the run directory again (after :meth:`hold`)."""
        held, self._held = self._held, None
        if held is not None:
            held.close()


def resume_command(path: str | os.PathLike[str]) -> str:
    """The command that resumes the run at ``path``, ready to paste.

    >>> resume_command("runs/my run")
    "zoo train --resume 'runs/my run'"
    """
    return f"zoo train --resume {shlex.quote(os.fspath(path))}"


def check_free(path: str | os.PathLike[str]) -> Path:
    """``path`` as a Path if a new run may start there; :class:`RunError` if it holds a run or is a file."""
    path = Path(path)
    if (path / STATE).exists() or (path / CONFIG).exists():
        try:
            read_config(path)
        except RunError:  # another tool's config.json (a checkpoint folder), or a damaged run
            found = CONFIG if (path / CONFIG).exists() else STATE
            raise RunError(f"{path} holds a {found} that is not a zoo run's; pick another --out") from None
        with contextlib.suppress(RunError):  # BusyError while another process trains it (read-only: no matter)
            TrainingLock(path).check_idle()
        finished = False
        with contextlib.suppress(RunError):  # a damaged state.json: as unfinished, and the resume says why
            finished = RunState.from_dict(read_json(path / STATE), path / STATE).complete is True
        if finished:  # a resume would do nothing
            raise RunError(f"{path} already holds a finished run; pick another --out (or delete it to train there "
                           "again)")  # fmt: skip
        raise RunError(f"{path} already holds a run; resume it (`{resume_command(path)}`) or pick --out")
    if path.exists() and not path.is_dir():
        raise RunError(f"{path} exists and is not a directory; pick another --out")
    if (in_the_way := file_in_the_way(path)) is not None:
        raise RunError(f"{path} cannot be made: {in_the_way} is a file, not a folder; pick another --out")
    if path.is_symlink() and not path.exists():
        target = os.readlink(path)
        raise RunError(f"{path} is a symbolic link to {target}, which does not exist; pick another --out")
    return path


def claim(path: str | os.PathLike[str], *, unique: bool) -> tuple[Path, bool, TrainingLock]:
    """A directory for a new run at ``path`` (made if missing), held by this process: ``(path, made, lock)``,
    ``made`` whether this process made it. :class:`RunError` if it holds a run, started meanwhile by another process
    included; :class:`BusyError` if another process is training there. ``unique``: ``path`` is a default name, made
    exclusively, with ``-2``, ``-3``... when taken (two runs started in one second)."""
    path, made = _make_unique(Path(path)) if unique else (check_free(path), False)
    if not unique:
        made = make_folder(path)
    lock = TrainingLock(path)
    lock.hold()
    if (path / CONFIG).exists() or (path / STATE).exists():  # another process's, started meanwhile
        lock.release()
        raise RunError(f"{path} already holds a run, started meanwhile by another process; pick another --out")
    return path, made, lock


def _make_unique(base: Path) -> tuple[Path, bool]:
    """``base``, or ``base-2``, ``base-3``..., whichever this process makes first: ``(path, True)``."""
    number = 1
    while True:
        path = base if number == 1 else base.with_name(f"{base.name}-{number}")
        try:
            path.mkdir(parents=True)
            return path, True
        except FileExistsError:
            number += 1
        except OSError as err:
            raise cannot_write(path, err) from None
