"""The ``zoo`` command. Listing commands import no TensorFlow or Keras and take ``--json``."""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import errno
import importlib.util
import json
import os
import shutil
import sys
import textwrap
import traceback
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from zoo import __version__ as zoo_version
from zoo import catalogue, console, escape, interrupts
from zoo.backbones import pyramid_sizes, resolve_input_shape, resolve_weights
from zoo.config import ONE_HOST, TOP_K, TrainConfig, finished_run_error
from zoo.errors import (
    ConfigError,
    DataError,
    DataWarning,
    DiskFullError,
    ExportWarning,
    PluginWarning,
    TrainingWarning,
    ZooError,
)
from zoo.plugins import get_spec, list_backbones, registry, select_backbones
from zoo.spec import MODALITIES, BackboneSpec, level_stride

ZOO_WARNINGS = (DataWarning, PluginWarning, TrainingWarning, ExportWarning)
INTERRUPTED = (130, 143)  # the exit status after Ctrl-C (SIGINT) and SIGTERM
LISTING = ("list", "info", "plugins", "registry")  # the commands that never import Keras
KERAS_BACKENDS = ("tensorflow", "jax", "torch", "numpy", "openvino")  # each the package it needs


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
    args = _parser().parse_args(argv)
    console.set_level(args.verbosity)
    if args.verbosity < console.VERBOSE:  # TensorFlow's C++ chatter, for the commands that import it themselves
        for name, value in console.QUIET_ENV.items():
            os.environ.setdefault(name, value)
    try:
        with interrupts.stop_at_safe_points(on_overdue=_leave_interrupted):
            if args.command not in LISTING:
                _check_backend()
            _load_plugins()
            return args.run(args) or 0
    except DiskFullError as err:  # not the user's mistake: exit 1, in one line, with nothing half-written
        print(f"zoo: {err}", file=sys.stderr)
        return 1
    except ZooError as err:  # one line, whatever a label or file name in it holds
        print(f"zoo: error: {escape.terminal(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        print("zoo: interrupted", file=sys.stderr)
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
        traceback.print_exc()
        print("zoo: internal error (a bug in the zoo or a plugin): please report it with the traceback above",
              file=sys.stderr)  # fmt: skip
        return 1


def _check_backend() -> None:
    """Refuse a ``KERAS_BACKEND`` that Keras cannot start, in one line, before Keras is imported (it would
    raise at import, or fail inside its own modules, with a traceback)."""
    name = os.environ.get("KERAS_BACKEND", "")
    if not name:
        return
    unset = "(or unset it for tensorflow)"
    if name not in KERAS_BACKENDS:
        known = f"{', '.join(KERAS_BACKENDS[:-1])} or {KERAS_BACKENDS[-1]}"
        raise ConfigError(f"KERAS_BACKEND={name} is not a Keras backend: set {known} {unset}")
    if name not in sys.modules and importlib.util.find_spec(name) is None:
        raise ConfigError(
            f"KERAS_BACKEND={name} needs {name}, which is not installed: install it (pip install {name}), or set "
            f"another backend {unset}"
        )


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


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="zoo", description="Pretrained backbones as plugins, for transfer learning.")
    parser.add_argument("--version", action="version", version=f"zoo (backbone-zoo) {zoo_version}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("list", help="list installed backbones")
    p.add_argument(
        "pattern",
        nargs="?",
        default="*",
        help="part of a name or alias (case, -, _ aside), e.g. 'resnet-50', or an fnmatch pattern such as 'resnet*'",
    )
    p.add_argument("--modality", choices=MODALITIES)
    p.add_argument("--json", action="store_true", help="print the specs as JSON")
    p.set_defaults(run=_list)

    p = commands.add_parser("info", help="show everything a backbone declares")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_info)

    p = commands.add_parser("plugins", help="show plugins, their versions, backbones and errors")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_plugins)

    p = commands.add_parser("registry", help="write or check registry.json (first-party backbones)")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="exit 1 when the file is stale")
    mode.add_argument("--write", action="store_true")
    p.add_argument("--file", default="registry.json")
    p.set_defaults(run=_registry)

    p = commands.add_parser(
        "train", help="fit a backbone with a new head to labelled data", formatter_class=_DefaultsFormatter
    )
    p.add_argument("--backbone", help="backbone name (see `zoo list`)")
    p.add_argument("--data", help="folder of class sub-folders, or a CSV manifest (path,label)")
    p.add_argument("--val", help="validation data; default: a stratified split of --data")
    p.add_argument("--out", help="run directory (default runs/BACKBONE-TIMESTAMP)")
    p.add_argument("--resume", metavar="RUN", help="continue an interrupted run from its last checkpoint")
    _add_config_flags(p)
    p.set_defaults(run=_train)

    p = commands.add_parser("evaluate", help="metrics of a finished run on labelled data")
    p.add_argument("run_dir", metavar="RUN")
    p.add_argument("--data", required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_evaluate)

    p = commands.add_parser(
        "predict",
        help="predict image files (or texts, for a text model) with a finished run",
        description="Predict image files (or texts, for a text model) with a finished run. Every input gets its "
        "result, or its error, printed. Exit status: 0 when every input was predicted, 1 when some inputs failed "
        "(the others are printed all the same), 2 when every input failed or the command was wrong.",
    )
    p.add_argument("run_dir", metavar="RUN")
    p.add_argument(
        "files",
        nargs="+",
        metavar="INPUT",
        help="image files, folders of them or CSV manifests (a path column); for a text model the texts "
        "themselves, .txt files, folders of them or CSV files with a text column",
    )
    p.add_argument("--top-k", type=int, default=TOP_K, metavar="K", help="labels shown per input, best first")
    p.add_argument("--out", metavar="CSV", help="also write every result to this CSV file (input, label_1, score_1...)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_predict)

    p = commands.add_parser(
        "export",
        help="export a finished run as SavedModel, TFLite or ONNX, checked against Keras",
        description="Exit status: 0 exported and checked; 1 a quantised file missed its agreement target with Keras "
        "(the file is kept, metadata.json and --json give the parity numbers, stderr says so in one line) or the "
        "disk is full; 2 a wrong option, path or calibration data (nothing written).",
    )
    p.add_argument("run_dir", metavar="RUN")
    p.add_argument(
        "--format",
        default="savedmodel",
        metavar="FORMAT",
        help="savedmodel (TF Serving; any image size), tflite (LiteRT) or onnx (default: savedmodel)",
    )
    p.add_argument("--out", metavar="DIR", help="output folder (default: RUN/exports/FORMAT[-QUANTIZE])")
    p.add_argument(
        "--quantize",
        metavar="MODE",
        help="tflite only: dynamic (int8 weights) or int8 (full integer, calibrated on the training data)",
    )
    p.add_argument("--calibration", metavar="DATA", help="images to calibrate int8 on (default: training data)")
    p.add_argument("--no-check", dest="check", action="store_false", help="skip the parity check against Keras")
    p.add_argument("--json", action="store_true", help="print metadata.json")
    p.set_defaults(run=_export)

    p = commands.add_parser("rank", help="which backbone suits this data? LogME and a linear probe, no fine-tuning")
    p.add_argument("--data", required=True, help="labelled data, as for `zoo train`")
    p.add_argument("--backbones", nargs="+", default=["*"], metavar="PATTERN", help="names or patterns (default: all)")
    p.add_argument("--sample", type=int, metavar="N", help="score a stratified sample of N examples")
    p.add_argument("--task", choices=("classification", "regression"), default="classification")
    p.add_argument("--weights", default="default", help="default | none | PATH, for every candidate")
    p.add_argument("--input-size", type=int, metavar="N", help="square image size, or tokens per text")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument(
        "--distribute",
        default="auto",
        metavar="{" + ",".join(ONE_HOST) + "}",
        help="every local GPU when there are several (auto, the default), one device (none), every local device "
        "(mirrored)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_rank)

    p = commands.add_parser("demo", help="the embedded end-to-end example (no network, no data)")
    p.add_argument("--backbone", default="resnet50")
    p.add_argument("--out", default="runs/demo", help="where to write the generated data and the run")
    p.set_defaults(run=_demo)
    _add_verbosity_flags(parser, default=console.NORMAL)
    for command in commands.choices.values():  # `zoo -q train` and `zoo train -q` both work
        _add_verbosity_flags(command, default=argparse.SUPPRESS)
    return parser


def _add_verbosity_flags(parser: argparse.ArgumentParser, default: Any) -> None:
    """``-q/--quiet`` and ``-v/--verbose``; on a command they default to SUPPRESS, so the top level's stand."""
    level = parser.add_mutually_exclusive_group()
    options = {"dest": "verbosity", "action": "store_const", "default": default}
    level.add_argument("-q", "--quiet", const=console.QUIET, help="print only results and errors", **options)
    level.add_argument(
        "-v", "--verbose", const=console.VERBOSE, help="also the framework's messages (TensorFlow logs, Keras bars)",
        **options,
    )  # fmt: skip


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


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per :class:`zoo.TrainConfig` field, with its help, type, choices and default."""
    for field in dataclasses.fields(TrainConfig):
        meta = dict(field.metadata)
        flags = meta.pop("flags", None) or (f"--{field.name.replace('_', '-')}",)
        negative = meta.pop("negative", None)
        meta.pop("shown", None)  # how --help words the default: the formatter's
        if field.type == "bool" and field.default:  # on by default: the flag turns it off
            flag = f"--no-{field.name.replace('_', '-')}"
            parser.add_argument(flag, dest=field.name, action="store_false", default=True, help=negative)
        elif field.type == "bool":
            parser.add_argument(*flags, dest=field.name, action="store_true", help=meta["help"])
        else:
            parser.add_argument(*flags, dest=field.name, default=None, **meta)


class _DefaultsFormatter(argparse.HelpFormatter):
    """Shows every option's default in ``--help``, e.g. ``(default: 10)``.

    The ``zoo train`` flags have no argparse default (so that a given flag can be told from an absent
    one): theirs is the :class:`zoo.TrainConfig` field's, worded by its ``shown`` where the value is
    ``None``. On/off flags show none (their help says what they do), nor does help that states its own.
    """

    def _format_action(self, action: argparse.Action) -> str:
        if not (action.help or "").strip() and _default_of(action) is not None:  # argparse skips empty help
            action = copy.copy(action)
            action.help = f"(default: {_default_of(action)})".replace("%", "%%")
        return super()._format_action(action)

    def _get_help_string(self, action: argparse.Action) -> str:
        text, default = action.help or "", _default_of(action)
        if default is None or any(said in text for said in ("(default", "default:", "the default")):
            return text
        return f"{text} (default: {default})".replace("%", "%%") if "%" in default else f"{text} (default: {default})"


def _default_of(action: argparse.Action) -> str | None:
    """The default ``--help`` shows for ``action``, or ``None`` when it has none to show."""
    if action.nargs == 0:  # an on/off flag, --help, --version
        return None
    default, field = action.default, _FIELDS.get(action.dest)
    if default is None and field is not None:
        default = field.metadata.get("shown", field.default)
    if default in (None, (), [], argparse.SUPPRESS) or isinstance(default, bool):
        return None
    return " ".join(map(str, default)) if isinstance(default, (list, tuple)) else str(default)


_FIELDS = {field.name: field for field in dataclasses.fields(TrainConfig)}


class _Parser(argparse.ArgumentParser):
    """An argument parser whose ``--help`` shows every default; ``zoo``'s commands are made of it too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _DefaultsFormatter)
        super().__init__(*args, **kwargs)


def _config(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig the flags describe (validated: a bad value fails here, before TensorFlow loads)."""
    options: dict[str, Any] = {}
    for field in dataclasses.fields(TrainConfig):
        value = getattr(args, field.name)
        if value is None or (field.type == "bool" and value == field.default):
            continue
        if field.name == "augment":
            value = tuple(value) or True  # `--augment` alone: every augmentation
        elif field.name == "weights" and value.lower() == "none":
            value = None
        options[field.name] = value
    return TrainConfig(**options)


def _train(args: argparse.Namespace) -> int:
    if args.resume:
        fields = [f for f in dataclasses.fields(TrainConfig) if _given(args, f) and f.name != "distribution"]
        given = [f.metadata.get("flags", (f"--{f.name.replace('_', '-')}",))[0] for f in fields]
        if args.backbone or args.data or args.val or args.out or given:
            dropped = ", ".join(given) or "the other options"
            if given and _complete(args.resume):  # say why they cannot apply, not only to drop them
                raise finished_run_error(args.resume, given)
            raise ConfigError(f"--resume RUN continues a run with its own options (--distribute aside); drop {dropped}")
        from zoo.run import Run

        run = Run(args.resume)  # a run directory, writable, that no other process trains? (before TensorFlow loads)
        if not run.complete:
            run.check_idle()
        console.load_framework()
        import zoo

        with console.results_only():
            run = zoo.resume(args.resume, distribution=args.distribution)  # e.g. a multi-worker run on one host
    else:
        if not args.backbone or not args.data:
            raise ConfigError("--backbone and --data are required (or --resume RUN)")
        config = _config(args)  # every check that needs no TensorFlow comes first
        spec = get_spec(args.backbone)
        resolve_input_shape(spec, config.input_shape)
        if config.weights != "default":
            resolve_weights(spec, config.weights)
        for source in (args.data, args.val):
            if source is not None and not Path(source).exists():
                raise DataError(f"{source} does not exist: give a folder of class sub-folders or a CSV manifest")
        if args.val is not None and Path(args.val).samefile(args.data):  # a copy elsewhere: zoo.train refuses it
            raise DataError(f"--val is --data ({args.val}): validation needs examples training does not see; give "
                            "other data to --val, or leave it out to hold out --val-fraction of --data")  # fmt: skip
        if config.distribution == "mirrored":  # oneDNN's CPU convolution mishandles an empty per-replica batch
            os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
        console.load_framework()
        import zoo

        with console.results_only():
            run = zoo.train(args.backbone, args.data, args.val, config, out=args.out)
    if not run.writes:
        print(f"this worker is done; the chief (process 0) writes {run.path}")
        return 0
    _print_skipped(run)
    for item, count in run.data.items():
        if item.startswith("texts cut") and count:
            console.say(f"note: {count} {item}")
    _print_summary(run.path, run.task, run.metrics)
    return 0


def _print_skipped(run: Any, shown: int = 10) -> None:
    """Name the inputs a run left out, on stderr: one line each, the first ``shown`` of them."""
    from zoo.run import SKIPPED

    skipped = run.skipped
    if not skipped:
        return
    s = "" if len(skipped) == 1 else "s"
    console.say(f"note: {len(skipped)} skipped file{s} (unreadable; listed in {run.path / SKIPPED}):")
    for item in skipped[:shown]:
        console.say(f"  {item['path']}: {item['reason']}")
    if len(skipped) > shown:
        console.say(f"  ... and {len(skipped) - shown} more")


def _complete(path: str) -> bool:
    """Whether ``path`` holds a finished run (without importing TensorFlow)."""
    from zoo.errors import RunError
    from zoo.run import Run

    try:
        return Run(path).complete
    except RunError:
        return False


def _given(args: argparse.Namespace, field: dataclasses.Field) -> bool:
    value = getattr(args, field.name)
    return value is not None and not (field.type == "bool" and value == field.default)


def _rank(args: argparse.Namespace) -> int:
    if args.sample is not None and args.sample < 2:
        raise ConfigError(f"--sample must be at least 2, got {args.sample}")
    if args.folds < 2:
        raise ConfigError(f"--folds must be at least 2, got {args.folds}")
    if args.distribute not in ONE_HOST:
        raise ConfigError(
            f"--distribute must be one of {', '.join(ONE_HOST)}, got {args.distribute!r} "
            "(several hosts: zoo train --distribute multi-worker)"
        )
    select_backbones(args.backbones)  # checked before TensorFlow loads; an unknown name suggests close ones
    if not Path(args.data).exists():
        raise DataError(f"{args.data} does not exist: give labelled data, as for `zoo train`")
    if args.distribute == "mirrored":  # oneDNN's CPU convolution mishandles an empty per-replica batch
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    console.load_framework()
    from zoo.ranking import rank, table_rows

    with console.results_only():  # progress on stderr: with --json, stdout is the JSON alone
        results = rank(
            args.data,
            args.backbones,
            sample=args.sample,
            task=args.task,
            weights=None if args.weights.lower() == "none" else args.weights,
            input_shape=args.input_size,
            folds=args.folds,
            distribution=args.distribute,
        )
    if args.json:
        _print_json([r.to_dict() for r in results])
    else:
        print()
        _print_table(("BACKBONE", "LOGME", "LINEAR PROBE", "FEATURES", "SCORING", "NOTES"), table_rows(results))
        best = next((r for r in results if r.error is None), None)
        print(f"recommended: {best.backbone} (highest LogME)" if best else "no backbone could be scored")
    return 0 if any(r.error is None for r in results) else 1


def _print_summary(path: Any, task: str, metrics: dict[str, Any]) -> None:
    from zoo.metrics import summary_rows

    print()
    _print_table(("METRIC", "VALUE"), summary_rows(task, metrics))
    print(f"run directory: {path}")


def _evaluate(args: argparse.Namespace) -> None:
    run = _finished_run(args.run_dir)
    if not Path(args.data).exists():
        raise DataError(f"{args.data} does not exist: give labelled data, as for `zoo train`")
    console.load_framework()
    from zoo.inference import evaluate

    with console.results_only():
        metrics = evaluate(run, args.data)
    if args.json:
        _print_json(metrics)
    else:
        _print_summary(run.path, run.task, metrics)


def _predict(args: argparse.Namespace) -> int:
    run = _finished_run(args.run_dir)
    if args.top_k < 1:
        raise ConfigError(f"--top-k must be at least 1, got {args.top_k}")
    if args.out is not None and Path(args.out).is_dir():
        example = Path(args.out) / "preds.csv"
        raise ConfigError(f"--out {args.out} is a folder: give the CSV file to write, e.g. {example}")
    console.load_framework()
    from zoo.files import write_text
    from zoo.inference import predict, predictions_csv

    with console.results_only():
        results = predict(run, args.files, top_k=args.top_k)
    if args.out is not None:
        write_text(args.out, predictions_csv(results))
    if cut := sum(bool(r.get("truncated")) for r in results):
        console.say(
            f"note: {cut} of {len(results)} texts were cut at {run.input_shape[0]} tokens, the length {run.path} was "
            "trained with; a model trained with a larger --sequence-length reads more"
        )
    if args.json:
        _print_json(results)
    else:
        for result in results:  # inputs and labels are data: their control characters are shown, not obeyed
            shown = escape.terminal(result["input"])
            if "error" in result:
                print(f"{shown}: error: {escape.terminal(result['error'])}")
            elif "values" in result:
                print(f"{shown}: {', '.join(f'{v:.4g}' for v in result['values'])}")
            else:
                best = ", ".join(f"{escape.terminal(p['label'])} {p['score']:.3f}" for p in result["predictions"])
                print(f"{shown}: {best}")
    failed = sum("error" in r for r in results)
    return 0 if not failed else 2 if failed == len(results) else 1  # as `zoo predict --help` says


def _export(args: argparse.Namespace) -> int:
    from zoo.exports import check_options

    check_options(args.format, args.quantize, args.calibration)  # before TensorFlow loads
    run = _finished_run(args.run_dir)
    if args.calibration is not None and not Path(args.calibration).exists():
        raise DataError(f"{args.calibration} does not exist: give images to calibrate on, as for `zoo train --data`")
    from zoo.exports import export

    with warnings.catch_warnings(record=True) as caught, console.results_only():
        warnings.simplefilter("always")
        exported = export(run, args.format, out=args.out, quantize=args.quantize, calibration=args.calibration,
                          check=args.check)  # fmt: skip
    meta = exported.metadata
    kind = f"{args.format} ({args.quantize})" if args.quantize else args.format
    parity = meta.get("parity")
    if args.json:
        _print_json(meta)
    else:
        size = _bytes(exported.size)
        if "size_ratio" in meta:
            size += f"; float32 {_bytes(meta['float32_bytes'])}: {meta['size_ratio']:.1f}x smaller"
        print(f"{kind}: {exported.artefact} ({size})")
        if parity:
            print(f"parity: {parity['verdict']}: {'ok' if parity['ok'] else 'MISSED'}")
        print(f"metadata: {exported.path / 'metadata.json'}")
    for warning in caught:  # the parity verdict (the ExportWarning) is said below
        if not issubclass(warning.category, ExportWarning):
            print(f"warning: {warning.message}", file=sys.stderr)
    if not parity or parity["ok"]:
        return 0
    # A quantised model below its agreement target: kept, but a script must not ship it unawares (--json too).
    print(f"zoo: parity missed: {kind} export, {escape.terminal(parity['verdict'])}; the file is kept at "
          f"{escape.terminal(exported.artefact)} and metadata.json says so", file=sys.stderr)  # fmt: skip
    return 1


def _bytes(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    return f"{count / 1024:.1f} KB" if count < 1024**2 else f"{count / 1024**2:.1f} MB"


def _finished_run(path: str) -> Any:
    """The run at ``path``, checked to be finished, without importing TensorFlow."""
    from zoo.run import Run

    return Run.finished(path)


def _list(args: argparse.Namespace) -> None:
    specs = list_backbones(args.pattern, args.modality)
    if args.json:
        _print_json([s.to_dict() for s in specs])
        return
    if not specs:
        modality = f" {args.modality}" if args.modality else ""
        if args.pattern == "*":
            print(f"0{modality} backbones")
            return
        width = _terminal_width()
        _print_wrapped("", f"0{modality} backbones match {args.pattern!r}", width)
        close = registry().suggest(args.pattern)
        hint = f"did you mean: {', '.join(close)}? `zoo list` shows all" if close else "try `zoo list` for all of them"
        _print_wrapped("", hint, width, indent=2)
        return
    rows = [
        (
            s.name,
            s.family,
            s.modality,
            "x".join(map(str, s.input_shape[:2])) or "text",  # height x width of RGB pixels
            s.feature_dim,
            _millions(s.params),
            _weights(s),
            s.plugin.removeprefix("backbone-zoo-"),  # type: ignore[union-attr]  # the first-party plugins' common prefix says nothing here
        )
        for s in specs
    ]
    _print_table(
        ("NAME", "FAMILY", "MODALITY", "INPUT", "FEATURES", "PARAMS", "WEIGHTS", "PLUGIN"),
        rows,
        shrink={"WEIGHTS": 8, "PLUGIN": 10},
        drop=("MODALITY", "FAMILY", "PLUGIN"),  # the input says the modality, the name the family
        drop_to_fit=("FEATURES", "INPUT", "PARAMS"),  # the name and its weights stay
    )
    print(f"{len(specs)} backbone{'' if len(specs) == 1 else 's'}")


def _weights(spec: BackboneSpec) -> str:
    """The tag ``weights="default"`` loads, and how many others there are; or ``none``.

    A tag that is the backbone's own name (a keras-hub preset's) reads ``yes``: repeating the name tells nothing.
    """
    if not spec.default_weights:
        return "none"
    more = f" (+{len(spec.weights) - 1})" if len(spec.weights) > 1 else ""
    return f"{'yes' if spec.default_weights == spec.name else spec.default_weights}{more}"


def _info(args: argparse.Namespace) -> None:
    spec = get_spec(args.name)
    if args.json:
        _print_json(spec.to_dict())
        return
    width = _terminal_width()
    for key, value in _describe(spec):
        _print_wrapped(f"{key + ':':<16}" if key else " " * 16, str(value), width)


def _describe(spec: BackboneSpec) -> list[tuple[str, Any]]:
    weights = [
        f"{w.tag}{' (default)' if w.tag == spec.default_weights else ''}: {w.source}; licence {w.license or 'unknown'}"
        + (f"; found locally: {found}" if (found := registry().locate_weights(spec, w.tag)) else "")
        for w in spec.weights
    ] or ["none declared: use weights=None or a local path"]
    # the maps zoo.backbone(name, features="pyramid") gives at the declared input size
    pyramid = [
        f"{level} stride {level_stride(level)}, {height}x{width}: {spec.pyramid[level]}"
        for level, (height, width) in pyramid_sizes(spec).items()
    ] or ["-"]
    lines = [
        ("name", spec.name),
        ("aliases", ", ".join(spec.aliases) or "-"),
        ("family", spec.family),
        ("modality", spec.modality),
        ("plugin", spec.plugin),
        ("input", _input(spec)),
        ("preprocessing", spec.preprocessing.describe()),
        ("features", f"{spec.feature_dim} pooled, feature map {list(spec.feature_shape)}"),
        ("pyramid", pyramid[0]),
        *(("", level) for level in pyramid[1:]),
        ("parameters", f"{spec.params:,}" if spec.params else "unknown"),
        ("weights", weights[0]),
        *(("", w) for w in weights[1:]),
        ("reference", spec.reference or "-"),
    ]
    return [*lines, ("description", spec.description)] if spec.description else lines


def _input(spec: BackboneSpec) -> str:
    if spec.modality == "text":
        return "one string per example (tokenized inside the model)"
    interpolation = spec.preprocessing.interpolation  # type: ignore[union-attr]
    return f"{list(spec.input_shape)} RGB, at least {spec.min_input_size} per side, resized {interpolation}"


def _plugins(args: argparse.Namespace) -> None:
    reg = registry()
    if args.json:
        _print_json({"plugins": [p.to_dict() for p in reg.plugins], "conflicts": reg.conflicts})
        return
    width = _terminal_width()
    rows = [(p.name, p.version or "-", p.status, _names(p.backbones)) for p in reg.plugins]
    lines = _table_lines(("PLUGIN", "VERSION", "STATUS", "BACKBONES"), rows, width, shrink={"BACKBONES": 12})
    print(lines[0])
    for plugin, line in zip(reg.plugins, lines[1:], strict=True):
        print(line)
        note = f"error: {plugin.error}" if plugin.error else _conflicting(plugin)
        if note:  # in full, under its plugin
            _print_wrapped("  ", note, width, indent=4)
    for conflict in reg.conflicts:
        _print_wrapped("error: ", conflict, width, indent=2)


def _conflicting(plugin: Any) -> str:
    return f"conflicting: {', '.join(plugin.conflicts)} (left out, see below)" if plugin.conflicts else ""


def _registry(args: argparse.Namespace) -> int:
    if args.write:
        count = catalogue.write(args.file)
        print(f"wrote {args.file} with {count} backbones")
        return 0
    stale = catalogue.check(args.file)
    if stale:
        print(
            f"{args.file} is stale ({', '.join(stale[:10])}{' ...' if len(stale) > 10 else ''}); "
            "run `zoo registry --write` and commit it",
            file=sys.stderr,
        )
        return 1
    print(f"{args.file} is in sync")
    return 0


def _demo(args: argparse.Namespace) -> None:
    console.load_framework()
    from zoo.demo import run_demo

    run_demo(args.backbone, args.out)


def _names(names: Sequence[str], shown: int = 3) -> str:
    more = f" (+{len(names) - shown} more)" if len(names) > shown else ""
    return f"{len(names)}: {', '.join(names[:shown])}{more}" if names else "0"


def _millions(params: int | None) -> str:
    return "-" if params is None else f"{params / 1e6:.1f}M"


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def _terminal_width() -> int:
    """The columns output may use: the terminal's width, else ``$COLUMNS``, else 80 (as ``ls`` and rich do)."""
    return shutil.get_terminal_size((80, 24)).columns


def _print_table(
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    shrink: Mapping[str, int] | None = None,
    drop: Sequence[str] = (),
    drop_to_fit: Sequence[str] = (),
) -> None:
    """Print ``rows`` under ``header`` within the terminal's width (see :func:`_table_lines`)."""
    for line in _table_lines(header, rows, _terminal_width(), shrink=shrink, drop=drop, drop_to_fit=drop_to_fit):
        print(line)


def _table_lines(
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    width: int,
    *,
    shrink: Mapping[str, int] | None = None,
    drop: Sequence[str] = (),
    drop_to_fit: Sequence[str] = (),
) -> list[str]:
    """A table's lines, none wider than ``width``: a line for the header, then one per row.

    While it is too wide, the columns in ``drop`` (the dispensable ones) are left out, in that
    order; then those in ``drop_to_fit``, while it would not fit even with the ``shrink`` columns
    cut down to their given widths. Then columns are cut, widest first: the ``shrink`` ones to those
    widths, then any but the first (it names the row), then the first. A cut cell ends with "…".

    >>> _table_lines(("NAME", "NOTE"), [("resnet50", "a long note")], 20, shrink={"NOTE": 4})
    ['NAME      NOTE', 'resnet50  a long no…']
    """
    cells = [list(map(str, header))] + [[escape.terminal(c) for c in row] for row in rows]  # data shown, not obeyed
    natural = [max(len(row[i]) for row in cells) for i in range(len(header))]
    floor = [min(n, (shrink or {}).get(h, n)) for h, n in zip(header, natural, strict=True)]
    shown = list(range(len(header)))

    def total(widths: Sequence[int]) -> int:
        return sum(widths[i] for i in shown) + 2 * (len(shown) - 1)

    for name in drop:
        if total(natural) <= width:
            break
        shown.remove(header.index(name))
    for name in drop_to_fit:
        if total(floor) <= width:
            break
        shown.remove(header.index(name))
    widths = list(natural)
    for limits in (floor, [natural[0]] + [1] * (len(header) - 1), [1] * len(header)):  # widest first in each
        while total(widths) > width:
            wider = [i for i in shown if widths[i] > limits[i]]
            if not wider:
                break
            widths[max(wider, key=lambda i: (widths[i], i))] -= 1  # of equals, the rightmost
    return ["  ".join(_cut(row[i], widths[i]).ljust(widths[i]) for i in shown).rstrip()[:width] for row in cells]


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _print_wrapped(head: str, text: str, width: int, indent: int | None = None) -> None:
    """``head`` then ``text`` wrapped to ``width``, its further lines indented by ``indent`` (default: the head's).

    Long words (paths, URLs) are broken; nothing passes ``width``.
    """
    indent = min(len(head) if indent is None else indent, width // 2)
    lines = textwrap.wrap(
        text, max(width, len(head) + 1), initial_indent=head, subsequent_indent=" " * indent, break_on_hyphens=False
    )
    for line in lines or [head.rstrip()]:
        print(line[:width])


if __name__ == "__main__":
    raise SystemExit(main())
