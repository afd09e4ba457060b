"""The ``zoo`` command: its entry points (``run()``, the console script; :func:`main`) and its one error policy.

Listing commands import no TensorFlow or Keras and take ``--json``. The package's modules: :mod:`zoo.cli.parser`
(the flags), :mod:`zoo.cli.checks` (what is checked before TensorFlow loads), :mod:`zoo.cli.commands` (one
handler per command) and :mod:`zoo.cli.tables` (tables and wrapped text that fit the terminal).
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import traceback
import warnings
from collections.abc import Sequence
from typing import Any

from zoo import console, escape, interrupts
from zoo.cli.checks import check_backend
from zoo.cli.parser import build_parser
from zoo.errors import (
    DataWarning,
    DiskFullError,
    ExportWarning,
    PluginWarning,
    TrackingWarning,
    TrainingWarning,
    ZooError,
    first_line,
    out_of_memory,
)
from zoo.plugins import registry

ZOO_WARNINGS = (DataWarning, PluginWarning, TrainingWarning, TrackingWarning, ExportWarning)
INTERRUPTED = (130, 143)  # the exit status after Ctrl-C (SIGINT) and SIGTERM
LISTING = ("list", "info", "plugins", "registry", "runs")  # the commands that never import Keras


def run() -> None:
    """The ``zoo`` program: :func:`main`, then exit with its status.

    After Ctrl-C or SIGTERM it leaves at once (``os._exit``): the run's files are already written, and a
    normal interpreter shutdown can wait forever on tf.data's threads.
    """
    with warnings.catch_warnings():  # here, not in main(): a caller of main() keeps Python's own warnings
        _show_warnings_as_lines()
        status = main()
    jax = sys.modules.get("jax")
    in_a_job = jax is not None and jax.distributed.is_initialized()  # a failed process of a multi-worker job
    if status in INTERRUPTED or (status != 0 and in_a_job):  # must not wait at the job's shutdown barrier
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    raise SystemExit(status)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``zoo`` command; returns the exit status.

    A user mistake (any :class:`zoo.ZooError`) prints one line and exits 2; an internal error
    prints its traceback and exits 1; Ctrl-C exits 130 and SIGTERM 143, at the work's next safe point
    (:mod:`zoo.interrupts`), or after a few seconds without one.

    >>> main(["list", "vgg*", "--json"])  # doctest: +ELLIPSIS
    [...
    0
    """
    args = build_parser().parse_args(argv)
    console.install_handler()  # the zoo's notes on stderr, as the message alone, whatever the process did before
    console.set_level(args.verbosity)
    if args.verbosity < console.VERBOSE:  # TensorFlow's C++ chatter, for the commands that import it themselves
        console.quiet_framework_logs()
    try:
        with interrupts.stop_at_safe_points(on_overdue=_leave_interrupted):
            if args.command not in LISTING:
                check_backend()
            _load_plugins()
            return args.run(args) or 0
    except DiskFullError as err:  # not the user's mistake: exit 1, in one line, with nothing half-written
        print(f"zoo: {err}", file=sys.stderr)
        return 1
    except ZooError as err:  # one line, whatever a label or file name in it holds
        print(f"zoo: error: {escape.terminal(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        kept = getattr(err, "run_path", None)  # the run training kept (zoo.Interrupted), to resume
        run = escape.terminal(kept) if kept else ""
        print(f"zoo: interrupted; {run} is kept: `zoo train --resume {run}` goes on" if run else "zoo: interrupted",
              file=sys.stderr)  # fmt: skip
        return getattr(err, "status", 130)
    except SystemExit as err:  # the zoo never exits from inside a command: a plugin's code did
        traceback.print_exc()
        print(f"zoo: internal error: code in a plugin called sys.exit({err.code!r}) during the command; "
              "please report it to the plugin's authors", file=sys.stderr)  # fmt: skip
        return 1
    except BrokenPipeError:  # `zoo list | head`: stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as err:
        if isinstance(err, OSError) and err.errno == errno.ENOSPC:  # a full disk below the zoo's own checks
            print(f"zoo: disk full: no space left for {err.filename or 'a file'}", file=sys.stderr)
            return 1
        if out_of_memory(err):  # the options ask for more than the machine has: one line, what to lower
            print(f"zoo: error: out of memory ({escape.terminal(first_line(err))}): use a smaller --batch-size, or a "
                  "smaller --input-size where the command takes one", file=sys.stderr)  # fmt: skip
            return 2
        traceback.print_exc()
        print("zoo: internal error (a bug in the zoo or a plugin): please report it with the traceback above",
              file=sys.stderr)  # fmt: skip
        return 1


def _load_plugins() -> None:
    """Load the plugins with file descriptor 1 on stderr: what their code writes there (a subprocess, C code,
    ``os.write``) is not a result. Python's own ``sys.stdout`` the registry guards itself (:mod:`zoo.plugins`)."""
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    try:
        saved = os.dup(1)
        os.dup2(2, 1)
    except OSError:  # no descriptor 1 or 2 (a detached process): nothing to keep apart
        registry()
        return
    try:
        registry()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _leave_interrupted(status: int) -> None:
    """Leave now, from the interrupt's timer: the work reached no safe point in time (see zoo.interrupts).
    Every file the zoo writes is whole at any moment, so nothing is lost."""
    print("zoo: interrupted", file=sys.stderr, flush=True)
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    os._exit(status)


def _show_warnings_as_lines() -> None:
    """Inside ``warnings.catch_warnings()``: the zoo's warnings (unreadable inputs, a run at chance, a broken
    plugin) print as one line each, ``DataWarning: ...``, even under ``PYTHONWARNINGS=ignore``; other
    libraries' warnings print as Python prints them, except when quiet."""
    python_format = warnings.showwarning

    def show(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if issubclass(category, ZOO_WARNINGS):
            print(f"{category.__name__}: {message}", file=sys.stderr, flush=True)
        elif console.level() > console.QUIET:
            python_format(message, category, *args, **kwargs)

    warnings.showwarning = show
    for category in ZOO_WARNINGS:
        warnings.simplefilter("default", category)  # each distinct message once
