"""Ctrl-C and SIGTERM: the one home of stopping work that a user interrupts.

Python turns Ctrl-C into a ``KeyboardInterrupt`` wherever the main thread happens to be, and that
is not always a place that can take it. Raised inside a garbage-collection callback (JAX registers
one), a finaliser or a C-level hook, it is printed and dropped, and training goes on to the end;
raised inside TensorFlow's C code it can leave TensorFlow broken. So while the zoo works
(:func:`stop_at_safe_points`), a SIGINT or SIGTERM only *records* itself, and the work raises
:class:`Interrupted` at its next safe point (:func:`check`): between files in the scan, between
batches in extraction and training. Every checkpoint is then whole, and the same command resumes.

Work that reaches no safe point within :data:`GRACE_SECONDS` is stopped all the same: the ``zoo``
command leaves at once with status 130 (143 for SIGTERM); in Python a ``KeyboardInterrupt`` is
raised in the main thread again every few seconds until it lands. A second signal does the same
at once.

>>> with stop_at_safe_points():
...     check()  # nothing pending: carries on
"""

from __future__ import annotations

import _thread
import contextlib
import functools
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

from zoo.errors import Interrupted

GRACE_SECONDS = 5.0  # from the signal to a forced stop when no safe point is reached
SIGNALS = (signal.SIGINT, signal.SIGTERM)
_state: dict = {"depth": 0, "pending": None, "forced": False, "timer": None, "overdue": None, "late": None}


def check() -> None:
    """A safe point: raise :class:`Interrupted` if SIGINT or SIGTERM arrived since the work began.

    >>> check()
    """
    signum = _state["pending"]
    if signum is not None:
        _state.update(pending=None, forced=False)
        _stop_timer()
        raise Interrupted(signum)


@contextlib.contextmanager
def stop_at_safe_points(on_overdue: Callable[[int], None] | None = None) -> Iterator[None]:
    """Meanwhile SIGINT and SIGTERM are recorded and raised as :class:`Interrupted` at the next :func:`check`.

    ``on_overdue(status)`` is called (from another thread) when no safe point came within
    :data:`GRACE_SECONDS`, or at a second signal; the ``zoo`` command leaves the process there.
    Without it, a ``KeyboardInterrupt`` is raised in the main thread instead. A signal that came
    after the last safe point is raised when the block ends. Nested blocks are one; outside the
    main thread this does nothing (only it receives signals), and a signal ignored when the block
    starts (``nohup``) stays ignored.

    >>> with stop_at_safe_points():
    ...     pass
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if _state["depth"]:
        _state["depth"] += 1
        try:
            yield
        finally:
            _state["depth"] -= 1
        return
    previous = {signum: signal.getsignal(signum) for signum in SIGNALS}
    _state.update(depth=1, pending=None, forced=False, overdue=on_overdue, late=None)
    try:
        for signum, handler in previous.items():
            if handler is not signal.SIG_IGN:  # ignored by whoever started us (nohup, a background job): stays so
                signal.signal(signum, _record)
        yield
        check()  # a signal after the last safe point
    finally:
        _stop_timer()
        _state.update(depth=0, pending=None, forced=False, overdue=None)  # from here _record keeps a signal late
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        late, _state["late"] = _state["late"], None
        if late is not None:  # it came as the work ended: the handler just restored takes it
            signal.raise_signal(late)


def stoppable(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` run inside :func:`stop_at_safe_points`: the public functions whose work has safe points.

    >>> stoppable(sum)([1, 2])
    3
    """

    @functools.wraps(function)
    def stopping_at_safe_points(*args: Any, **kwargs: Any) -> Any:
        with stop_at_safe_points():
            return function(*args, **kwargs)

    return stopping_at_safe_points


def _record(signum: int, frame: object) -> None:
    """The signal handler: record the first signal; a second one, or one past the grace time, stops at once."""
    if not _state["depth"]:  # the work is ending, its handlers being restored: kept for the restored one
        _state["late"] = signum
        return
    if _state["forced"]:
        raise Interrupted(signum)  # in the main thread, at a moment the grace time ran out or the user insisted
    if _state["pending"] is not None:
        _force(signum)
        return
    _state["pending"] = signum
    _start_timer(signum)


def _force(signum: int) -> None:
    """No safe point in time: leave through ``on_overdue``, or raise in the main thread (again later too, in
    case a library swallows it)."""
    if not _state["depth"] or (_state["pending"] is None and not _state["forced"]):
        return  # a safe point took it meanwhile, or the work ended
    if _state["overdue"] is not None:
        _state["overdue"](128 + signum)
        return
    _state["forced"] = True
    if threading.current_thread() is threading.main_thread():
        raise Interrupted(signum)
    _thread.interrupt_main(signum)  # type: ignore[arg-type]  # runs _record in the main thread
    _start_timer(signum)


def _start_timer(signum: int) -> None:
    timer = threading.Timer(GRACE_SECONDS, _force, (signum,))
    timer.daemon = True
    _state["timer"] = timer
    timer.start()


def _stop_timer() -> None:
    timer, _state["timer"] = _state["timer"], None
    if timer is not None:
        timer.cancel()


def keras_callback() -> Any:
    """A Keras callback that makes every batch end of ``fit``, ``evaluate`` and ``predict`` a safe point.

    >>> model.fit(x, y, callbacks=[keras_callback()])  # doctest: +SKIP
    """
    import keras

    class StopAtInterrupt(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if _state["pending"] is not None:
                self.model.stop_training = True  # the epoch is not finished: no epoch-end checkpoint follows
            check()

        on_test_batch_end = on_predict_batch_end = on_train_batch_end

    return StopAtInterrupt()
