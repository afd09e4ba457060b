"""What the zoo prints, and how much: the one home of the output level, progress and the framework's noise.

Results go to stdout; progress, notes and warnings go to stderr. The level is ``"quiet"`` (results and
errors only), ``"normal"`` or ``"verbose"`` (the framework's own messages too: TensorFlow's start-up
lines, Keras' progress bars). The ``zoo`` command sets it from ``-q``/``-v``; in Python::

    import zoo.console
    zoo.console.set_level("quiet")      # zoo.train(...) and friends print nothing but errors

A function's own ``verbose=0`` (``zoo.train``, ``zoo.extract``, ``zoo.rank``) silences that call alone.

Notes and progress lines are :mod:`logging` records at ``INFO`` on named loggers under ``"zoo"`` (the
module that speaks: ``"zoo.trainer"``, ``"zoo.features"``, ...). The level *is* the ``"zoo"`` logger's
level (quiet ``WARNING``, normal ``INFO``, verbose ``DEBUG``), and its one handler, :data:`HANDLER`,
writes each message alone on whatever ``sys.stderr`` is at that moment, which is the zoo's output as it
always was. A program that routes logging itself takes the zoo's records over::

    import logging
    zoo_logger = logging.getLogger("zoo")
    zoo_logger.removeHandler(zoo.console.HANDLER)
    zoo_logger.propagate = True         # to the root logger's handlers, with their format

Progress suits where it goes: on a terminal a bar redrawn in place; elsewhere (a log file, a pipe)
plain lines, one per epoch, with no carriage return and no ANSI escape. TensorFlow prints its
start-up lines from C++ straight to file descriptor 2 while it is imported, whatever
``TF_CPP_MIN_LOG_LEVEL`` says; :func:`load_framework` imports it with that descriptor caught and
replays every line that is not known noise.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TextIO

from zoo.errors import ConfigError

QUIET, NORMAL, VERBOSE = 0, 1, 2
LEVELS = {"quiet": QUIET, "normal": NORMAL, "verbose": VERBOSE}
# What the zoo command sets before TensorFlow loads (unless verbose): its C++ logging, gRPC's.
QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "GRPC_VERBOSITY": "ERROR"}
_state: dict[str, Any] = {"loaded": False}
# Imported by Keras and TensorFlow when installed, for what no zoo command uses: Keras' scikit-learn wrappers,
# TFLite's JAX converter (jax stays when it is Keras' backend). See load_framework(lean=True).
UNUSED_OPTIONAL_IMPORTS = ("sklearn", "jax")
# The output level as the "zoo" logger's level, and back (a level set by logging itself reads as the nearest).
_LOGGING_LEVELS = {QUIET: logging.WARNING, NORMAL: logging.INFO, VERBOSE: logging.DEBUG}

# An absl/glog line ("I0000 00:00:1795855754.295597    7696 port.cc:153] ...") or TensorFlow's own older
# format ("2026-11-28 08:00:00.000000: I tensorflow/core/...").
_LOG_LINE = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] |^\d{4}-\d\d-\d\d [\d:.]+: ([IWEF]) \S+")
# Errors that are noise all the same: the CUDA plugins registering twice, a missing GPU on a CPU machine.
_NOISY_ERRORS = re.compile(r"Unable to register (cuDNN|cuFFT|cuBLAS)|cuda drivers|cuInit|CUDA|computation placer")
# The second line of cpu_feature_guard's record ("This TensorFlow binary is optimized to use ...").
_CONTINUED = re.compile(r"^To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler")
_ABSL_NOTICE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler that writes a record's message alone, then a newline, on ``sys.stderr`` as it is when the
    record is emitted (so a redirected or captured stderr gets it, as ``print(..., file=sys.stderr)`` did).

    >>> StderrHandler().format(logging.LogRecord("zoo", logging.INFO, "", 0, "phase 1", None, None))
    'phase 1'
    """

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass  # always the current sys.stderr


LOGGER = logging.getLogger("zoo")  # the root of the zoo's named loggers
HANDLER = StderrHandler()  # the zoo's own output: the message alone, on stderr


def install_handler() -> None:
    """Give the ``"zoo"`` logger :data:`HANDLER`, unless it has it (``import zoo`` does; the ``zoo`` command
    does again, so its output does not depend on what the process did before).

    >>> install_handler(); HANDLER in logging.getLogger("zoo").handlers
    True
    """
    if HANDLER not in LOGGER.handlers:
        LOGGER.addHandler(HANDLER)
    LOGGER.propagate = False  # said once, by HANDLER, not again by the root logger's handlers


if LOGGER.level == logging.NOTSET:  # the default level, unless the program set one before importing the zoo
    LOGGER.setLevel(logging.INFO)
install_handler()


def set_level(level: int | str) -> None:
    """Set how much the zoo prints: ``"quiet"``, ``"normal"`` (the default) or ``"verbose"`` (or 0, 1, 2).

    It sets the ``"zoo"`` logger's level: ``WARNING``, ``INFO`` or ``DEBUG``.

    >>> set_level("quiet"); level()
    0
    >>> set_level("normal")
    """
    value = LEVELS.get(level, -1) if isinstance(level, str) else level
    if value not in _LOGGING_LEVELS:
        raise ConfigError(f"level must be one of {', '.join(LEVELS)} (or 0, 1, 2), got {level!r}")
    LOGGER.setLevel(_LOGGING_LEVELS[value])


def level() -> int:
    """The output level: :data:`QUIET`, :data:`NORMAL` or :data:`VERBOSE`, read from the ``"zoo"`` logger's level.

    >>> level() in (QUIET, NORMAL, VERBOSE)
    True
    """
    effective = LOGGER.getEffectiveLevel()
    return VERBOSE if effective <= logging.DEBUG else NORMAL if effective <= logging.INFO else QUIET


def shows(verbose: int = 1) -> bool:
    """Whether progress and notes are printed, given a call's own ``verbose`` and the level.

    >>> shows(1), shows(0)
    (True, False)
    """
    return bool(verbose) and level() > QUIET


def say(message: str, verbose: int = 1, *, logger: str | None = None) -> None:
    """A note or a progress line: an ``INFO`` record of the logger ``logger`` (default: the calling module's,
    ``"zoo.trainer"`` and so on), on stderr through :data:`HANDLER`; nothing when quiet, or for ``verbose=0``.

    >>> say("phase 1: training the head")  # doctest: +SKIP
    """
    if not verbose:
        return
    if logger is None:  # the speaking module's logger, so a program can tune one part of the zoo
        caller = sys._getframe(1).f_globals.get("__name__", "")
        logger = caller if caller == "zoo" or caller.startswith("zoo.") else "zoo"
    logging.getLogger(logger).info(message)


def interactive(stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (default stderr) is a terminal or a notebook, where a bar can be redrawn in place."""
    stream = stream or sys.stderr
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) or "ipykernel" in sys.modules


class Progress:
    """Progress of ``total`` units of work on stderr, said with what it measures.

    On a terminal: one bar redrawn in place. Elsewhere: a line when the work starts, one every
    ``every`` seconds, and one when it ends; no ``\\r``, no escape sequence.

    >>> bar = Progress("extracting features: resnet50, train split (128 images)", 128, "image", verbose=0)
    >>> bar.update(128)
    """

    # Hand-written rather than rich.progress (installed with Keras): off a terminal, where tests, logs and CI see
    # the zoo, rich's Progress prints nothing until it stops and then its last frame, where this says the label,
    # a line every `every` seconds and "done" as plain logging records; on a terminal, a rich Live display would
    # own stderr while Keras' bar and the zoo's notes are written there too. The bar itself is the few lines below.

    def __init__(self, label: str, total: int, unit: str = "example", *, verbose: int = 1, every: float = 30.0):
        self.label, self.total, self.unit, self.every = label, total, unit, every
        self.on, self.live = shows(verbose), interactive()
        self.start = self.last = time.monotonic()
        self.done = 0
        if self.on and not self.live:
            say(label, logger="zoo.progress")

    def update(self, done: int) -> None:
        """Record that ``done`` units of ``total`` are finished (the last call, ``done == total``, ends the line)."""
        self.done, now = done, time.monotonic()
        finished = done >= self.total
        if not self.on or (not finished and now - self.last < (0.1 if self.live else self.every)):
            return
        self.last = now
        counted = f"{done}/{self.total} {self.unit}{'' if self.total == 1 else 's'} ({now - self.start:.0f} s)"
        if self.live:
            filled = 30 * done // max(self.total, 1)
            end = "\n" if finished else ""
            sys.stderr.write(f"\r{self.label} [{'=' * filled}{' ' * (30 - filled)}] {counted}{end}")
            sys.stderr.flush()
        else:
            say(f"  {'done: ' if finished else ''}{counted}", logger="zoo.progress")


def epoch_line(epoch: int, epochs: int | None, logs: Mapping[str, Any], seconds: float) -> str:
    """One epoch said in one plain line.

    >>> epoch_line(3, 10, {"loss": 0.41234, "val_accuracy": 0.875}, 12.3)
    'epoch 3/10: loss 0.4123, val_accuracy 0.875 (12 s)'
    """
    values = ", ".join(f"{name} {float(value):.4g}" for name, value in logs.items() if _number(value))
    return f"epoch {epoch}/{epochs or '?'}: {values} ({seconds:.0f} s)"


def fit_progress(verbose: int = 1, aliases: Mapping[str, str] | None = None) -> tuple[int, list[Any]]:
    """``(verbose, callbacks)`` for Keras' ``fit``: its own bar on a terminal (or when verbose), else one
    plain line per epoch on stderr, else nothing. ``aliases`` renames metrics in those lines.

    >>> fit_progress(0)
    (0, [])
    """
    if not shows(verbose):
        return 0, []
    if level() >= VERBOSE or (interactive() and interactive(sys.stdout)):  # Keras writes its bar to stdout
        return 1, []
    import keras

    class EpochLines(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
            self.start = time.monotonic()

        def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
            shown = {(aliases or {}).get(k, k): v for k, v in (logs or {}).items()}
            say(epoch_line(epoch + 1, self.params.get("epochs"), shown, time.monotonic() - self.start),
                logger="zoo.progress")  # fmt: skip

    return 0, [EpochLines()]


def _number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


# -- the framework's noise --------------------------------------------------------------------------
def is_noise(line: str) -> bool:
    """Whether ``line``, printed while TensorFlow starts, is start-up noise: absl's notice, an
    informational or warning log line, or an error line about CUDA on a machine without it.

    >>> is_noise("I0000 00:00:1795855754.295951    7696 cudart_stub.cc:31] Could not find cuda drivers on your machine")
    True
    >>> is_noise("Traceback (most recent call last):")
    False
    """
    line = line.rstrip("\r\n")
    if line == _ABSL_NOTICE or _CONTINUED.match(line):
        return True
    match = _LOG_LINE.match(line)
    if not match:
        return False
    severity = match.group(1) or match.group(2)
    return severity in "IW" or bool(_NOISY_ERRORS.search(line))


@contextlib.contextmanager
def filtered_stderr(
    keep: Callable[[str], bool] | None = None,
    *,
    stdout: bool = False,
    replay: Callable[[BaseException], bool] | None = None,
    tail: int | None = None,
) -> Iterator[None]:
    """Catch file descriptor 2 (C++ logs, Python's stderr) in a temporary file meanwhile, then replay on
    stderr every line that :func:`is_noise` does not recognise; on an error, replay everything.

    ``keep`` chooses the lines replayed instead (``lambda line: False``: none); ``stdout`` catches file
    descriptor 1 (prints) in the same file; ``replay`` says which errors replay everything (all by default);
    ``tail`` replays only the last ``tail`` bytes then. The exporter quiets the converters so.

    >>> with filtered_stderr(lambda line: False, stdout=True):  # doctest: +SKIP
    ...     print("dropped")
    """
    streams = (sys.stdout, sys.stderr)
    for stream in streams:
        with contextlib.suppress(Exception):
            stream.flush()
    saved: dict[int, int] = {}
    for fd in (1, 2) if stdout else (2,):
        with contextlib.suppress(OSError):  # no such descriptor (a detached process): nothing to filter there
            saved[fd] = os.dup(fd)
    if not saved:
        yield
        return
    failed = False
    with tempfile.TemporaryFile() as caught:
        for fd in saved:
            os.dup2(caught.fileno(), fd)
        try:
            yield
        except BaseException as err:
            failed = replay is None or replay(err)
            raise
        finally:
            for stream in streams if stdout else (sys.stderr,):
                with contextlib.suppress(Exception):
                    stream.flush()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            caught.seek(0)
            data = caught.read()
            if failed and tail is not None:
                data = data[-tail:]
            lines = data.decode(errors="replace").splitlines(keepends=True)
            kept = "".join(line for line in lines if failed or (keep(line) if keep else not is_noise(line)))
            if kept:
                sys.stderr.write(kept)
                sys.stderr.flush()


def installed(package: str) -> bool:
    """Whether ``package`` can be imported here (a broken install, or one an import hook hides: no).

    >>> installed("numpy"), installed("no_such_package")
    (True, False)
    """
    if package in sys.modules:
        return True
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def quiet_framework_logs() -> None:
    """Set :data:`QUIET_ENV` where the environment does not already say: TensorFlow's C++ logging after its
    start-up (a missing GPU, tf.data's notes) and gRPC's stay out of the output. Call it before TensorFlow loads."""
    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)


def load_framework(*, lean: bool = False) -> None:
    """Import Keras, and TensorFlow where it is installed, without their start-up noise (unless verbose).

    The commands, and the functions that build or load a model (``zoo.backbone``, ``zoo.build``,
    ``zoo.load_model``, the lazily imported ``zoo.train``...), call it first; ``import zoo`` never does. Calling it
    again does nothing. ``lean`` (the ``zoo`` command's processes): while they load, Keras and TensorFlow
    are not shown the packages of :data:`UNUSED_OPTIONAL_IMPORTS`, which they import when installed for
    features no command uses: 1.2 to 1.8 s and 160 MB less at every command's start on 2 cores
    (docs/benchmarks.md). Each stays importable afterwards; a Python caller's process is left as Keras
    makes it.

    >>> load_framework()  # doctest: +SKIP
    """
    if _state["loaded"]:
        return
    verbose = level() >= VERBOSE
    fresh = "tensorflow" not in sys.modules and "keras" not in sys.modules
    unseen = [name for name in UNUSED_OPTIONAL_IMPORTS if lean and fresh and name not in sys.modules]
    if "jax" in unseen and keras_backend() == "jax":
        unseen.remove("jax")
    for name in unseen:
        sys.modules[name] = None  # type: ignore[assignment]  # `import name` raises ImportError (see sys.modules)
    if fresh and not verbose:
        quiet_framework_logs()
    try:
        with filtered_stderr() if fresh and not verbose else contextlib.nullcontext():
            import keras  # noqa: F401  (on the TensorFlow backend, TensorFlow starts here)

            if "tensorflow" not in sys.modules and installed("tensorflow"):
                import tensorflow  # noqa: F401  (tf.data reads files on every backend)
    finally:
        for name in unseen:
            sys.modules.pop(name, None)
    if not verbose:
        logging.getLogger("tensorflow").addFilter(_not_retracing)
    _state["loaded"] = True


def keras_backend() -> str:
    """The backend ``import keras`` starts, read before it does: ``KERAS_BACKEND``, else the ``keras.json``
    of ``KERAS_HOME`` (``~/.keras``), else ``tensorflow``.

    >>> keras_backend() in ("tensorflow", "jax", "torch", "numpy", "openvino")
    True
    """
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json")) as f:
            return str(json.load(f).get("backend") or "tensorflow")
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def _not_retracing(record: logging.LogRecord) -> bool:
    """Drop TensorFlow's "N out of the last M calls to ... triggered tf.function retracing" warning.

    TensorFlow counts traces per code object, and every Keras model's predict function shares one
    (``make_predict_function``'s inner function): a command that builds a few models (training,
    then evaluating and predicting with the model loaded back) traces each of them once and still
    gets the warning, which then points at nothing to fix.

    >>> _not_retracing(logging.LogRecord("tensorflow", 30, "", 0, "5 out of the last 7 calls to f triggered "
    ...                                  "tf.function retracing.", None, None))
    False
    """
    return "triggered tf.function retracing" not in record.getMessage()


@contextlib.contextmanager
def results_only() -> Iterator[TextIO]:
    """Meanwhile, what anything prints on ``sys.stdout`` (Keras' "Downloading data from ...", its bars, a
    plugin's prints) goes to stderr, or nowhere when quiet: stdout carries the command's results alone,
    so ``--json`` output parses. Yields the real stdout.

    >>> with results_only() as out:
    ...     print("Downloading data from https://...")  # to stderr
    """
    real = sys.stdout
    if level() == QUIET:
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            yield real
    else:
        with contextlib.redirect_stdout(sys.stderr):
            yield real
