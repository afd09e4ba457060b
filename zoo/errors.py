"""Every exception and warning the zoo raises, in one place."""

from __future__ import annotations

import copy
import functools
import itertools
import os
import re
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_R = TypeVar("_R")


class ZooError(Exception):
    """Base class of the zoo's own errors."""


class SpecError(ZooError, ValueError):
    """A spec (usually from a plugin) is malformed; the message says which field and why."""


class PluginError(ZooError, RuntimeError):
    """A plugin is broken (raised instead of :class:`PluginWarning` in strict mode)."""


class DuplicateBackboneError(PluginError):
    """Two plugins (or two specs) declare the same backbone name or alias."""


class UnknownBackboneError(ZooError, KeyError):
    """No installed plugin registers this backbone; the message suggests close names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class WeightsError(ZooError, ValueError):
    """Weights could not be found, downloaded or loaded into the backbone."""


class ConfigError(ZooError, ValueError):
    """An option has a value the zoo cannot use: ``epochs=0``, an unknown task or head, a negative dropout."""


class RunError(ZooError, ValueError):
    """A run directory cannot be started, resumed or read as asked."""


class BusyError(ZooError, RuntimeError):
    """Another process holds what this one needs: a run directory it is training, or a feature-cache entry it is
    writing (past ``ZOO_LOCK_TIMEOUT``). The message names the process."""


class ExportError(ZooError, ValueError):
    """A model cannot be exported as asked: an unknown format, an option the format does not take, a missing
    ``backbone-zoo[export]`` extra, an output folder that holds something else, or a model the format cannot hold."""


class DiskFullError(ZooError, OSError):
    """Not enough free space for a file the zoo is about to write; nothing was half-written (exit status 1)."""

    @classmethod
    def needed(cls, path: object, nbytes: int, free: int | None = None) -> DiskFullError:
        """``disk full: N MB needed at PATH`` (and what is free, when known).

        >>> str(DiskFullError.needed("/runs/x/model.keras", 5 << 20, 1 << 20))
        'disk full: 5 MB needed at /runs/x/model.keras (1 MB free)'
        """
        free_text = "" if free is None else f" ({free >> 20} MB free)"
        return cls(f"disk full: {max(1, -(-nbytes >> 20))} MB needed at {path}{free_text}")


class InputShapeError(ZooError, ValueError):
    """An input shape the backbone cannot take (wrong channels, too small)."""


class PluginWarning(UserWarning):
    """A plugin failed to load or returned an invalid spec; the zoo carries on without it."""


class DataError(ZooError, ValueError):
    """A data set cannot be used: a missing path or column, unknown labels, too many bad files, too few examples,
    or data of the wrong kind for the backbone (images for a text encoder). Arrays given to a function
    (features, labels, outputs) of the wrong shape or dtype, or holding NaN or inf, are data errors too."""


class DataTypeError(DataError, TypeError):
    """``data`` is of a type the zoo cannot read as a data set (not a folder, a file, an ``(x, y)`` tuple of
    arrays or a ``Dataset``). A :class:`DataError`, and a ``TypeError`` as Python's own wrong-type errors are."""


class DataWarning(UserWarning):
    """Some input files were skipped (corrupt, truncated, unreadable; ``Dataset.skipped`` lists them), or cached
    features disagree with what the backbone computes from their inputs."""


class TrainingWarning(UserWarning):
    """A run finished but learned nothing useful (its validation loss never left chance level), or a plot of its
    report could not be drawn (the run is complete without it)."""


class TrackingWarning(UserWarning):
    """A tracking server (MLflow) could not be reached or stopped answering: the run went on, and finished, without
    it; the run directory holds everything that was not logged."""


class ExportWarning(UserWarning):
    """An exported file was kept although it misses its agreement target with the Keras model (a quantised
    export); ``metadata.json`` holds the parity numbers."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or SIGTERM stopped the work at a safe point (``zoo.interrupts``); the run resumes.

    A ``KeyboardInterrupt``, so code that handles Ctrl-C handles it. ``status`` is the exit status of
    the ``zoo`` command: 130 for SIGINT, 143 for SIGTERM. ``run_path``: the run directory the training kept,
    which ``zoo train --resume`` (or the same call again) goes on from; ``None`` before there was one.

    >>> Interrupted(15).status
    143
    """

    def __init__(self, signum: int = 2) -> None:
        import signal

        super().__init__(signal.Signals(signum).name)
        self.signum, self.status = int(signum), 128 + int(signum)
        self.run_path: os.PathLike[str] | None = None


# A zoo error raised inside a tf.data function reaches Python as a TensorFlow error that keeps only its text.
# :func:`carries_errors` keeps the error itself here, under a key its text names; :func:`zoo_error_in` takes it
# back. Bounded: an error nobody asks for (a parallel map's second failure) is dropped after _CARRIED_LIMIT more.
_CARRIED_LIMIT = 16
_CARRIED: dict[str, ZooError] = {}
_CARRIED_KEY = re.compile(r"\[zoo error (\d+)\]")
_CARRIED_LOCK = threading.Lock()
_carried_ids = itertools.count(1)
_ENGINE_REPORT = re.compile(r"\b(DataError|RunError|ConfigError): ([^\n]+)")


def carries_errors(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """``function``, run by tf.data (``tf.numpy_function``), with its zoo errors carried across whole: the
    :class:`ZooError` raised there is what :func:`zoo_error_in` finds in the engine's error, the same object
    (class, message, attributes). What tf.data shows of it is its message with ``[zoo error N]`` added.

    >>> @carries_errors
    ... def decode(data):
    ...     raise DataTypeError("not an image")
    >>> try:
    ...     decode(b"")
    ... except DataTypeError as err:
    ...     str(err)[:12], type(zoo_error_in(RuntimeError(f"UnknownError: {err}"))).__name__
    ('not an image', 'DataTypeError')
    """

    @functools.wraps(function)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return function(*args, **kwargs)
        except ZooError as err:
            key = str(next(_carried_ids))
            with _CARRIED_LOCK:  # tf.data runs the function on several threads at once
                _CARRIED[key] = err
                while len(_CARRIED) > _CARRIED_LIMIT:
                    _CARRIED.pop(next(iter(_CARRIED)))
            try:
                carrier = copy.copy(err)  # the same class and attributes; its text names the key
            except Exception:  # a class that cannot be copied: its message alone crosses, as it would anyway
                raise err from None
            carrier.args = (f"{err} [zoo error {key}]",)
            raise carrier from None

    return run


def zoo_error_in(err: BaseException) -> ZooError | None:
    """The zoo error an engine reported as its own: a zoo error raised inside a ``tf.data`` function reaches
    Python as a TensorFlow error whose message names it. ``None`` when there is none.

    The error itself where the function was :func:`carries_errors` (in this process); else one rebuilt from the
    message, for a ``DataError``, ``RunError`` or ``ConfigError`` (its first line).

    >>> zoo_error_in(RuntimeError("UnknownError: DataError: x.png changed since the data was checked"))
    DataError('x.png changed since the data was checked')
    """
    if isinstance(err, ZooError):
        return None
    text = str(err)
    key = _CARRIED_KEY.search(text)
    with _CARRIED_LOCK:
        carried = _CARRIED.pop(key[1], None) if key is not None else None
    if carried is not None:
        return carried
    match = _ENGINE_REPORT.search(text)
    if match is None:
        return None
    return {"DataError": DataError, "RunError": RunError, "ConfigError": ConfigError}[match[1]](match[2].strip())


_GRAPH_NODE = re.compile(r"^\{\{function_node [^}]*\}\}\s*")


def first_line(err: BaseException, limit: int = 300) -> str:
    """The first line of an error's message (its type's name when it has none), for one-line reports; the
    ``{{function_node ...}}`` that TensorFlow puts before the message of an op that failed in a graph is left out.

    >>> first_line(ValueError("bad shape\\n  at layer 3"))
    'bad shape'
    >>> first_line(MemoryError("{{function_node __wrapped__IteratorGetNext}} OOM when allocating tensor"))
    'OOM when allocating tensor'
    """
    message = _GRAPH_NODE.sub("", str(err).strip())
    return (message.splitlines() or [type(err).__name__])[0][:limit]


def out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is running out of memory: Python's ``MemoryError``, or the backend's (TensorFlow's
    ``ResourceExhaustedError``, an XLA ``RESOURCE_EXHAUSTED``), checked without importing the backend.

    >>> out_of_memory(MemoryError()), out_of_memory(ValueError("bad shape"))
    (True, False)
    """
    return (
        isinstance(err, MemoryError)
        or type(err).__name__ == "ResourceExhaustedError"
        or ("RESOURCE_EXHAUSTED" in first_line(err))
    )
