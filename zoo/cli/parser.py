"""The ``zoo`` command's flags: one sub-parser per command, ``zoo train``'s flags generated from
:class:`zoo.TrainConfig`, ``-q``/``-v`` everywhere, and ``--help`` showing every default.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
from typing import Any, NoReturn

from zoo import console, escape
from zoo.cli import commands as handlers
from zoo.config import LR_FIND_OPTIONS, ONE_HOST, TOP_K, TUNE_OPTIONS, TrainConfig
from zoo.run.listing import STATUSES
from zoo.spec import MODALITIES
from zoo.version import __version__ as zoo_version


def build_parser() -> argparse.ArgumentParser:
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
    p.set_defaults(run=handlers.do_list)

    p = commands.add_parser("info", help="show everything a backbone declares")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=handlers.do_info)

    p = commands.add_parser("plugins", help="show plugins, their versions, backbones and errors")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=handlers.do_plugins)

    p = commands.add_parser("registry", help="write or check registry.json (first-party backbones)")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="exit 1 when the file is stale")
    mode.add_argument("--write", action="store_true")
    p.add_argument("--file", default="registry.json")
    p.set_defaults(run=handlers.do_registry)

    p = commands.add_parser(
        "train", help="fit a backbone with a new head to labelled data", formatter_class=DefaultsFormatter
    )
    p.add_argument("--backbone", help="backbone name (see `zoo list`)")
    p.add_argument("--data", help="folder of class sub-folders, or a CSV manifest (path,label)")
    p.add_argument("--val", help="validation data; default: a stratified split of --data")
    p.add_argument("--out", help="run directory (default runs/BACKBONE-TIMESTAMP)")
    p.add_argument("--resume", metavar="RUN", help="continue an interrupted run from its last checkpoint")
    _add_config_flags(p)
    p.set_defaults(run=handlers.do_train)

    p = commands.add_parser("evaluate", help="metrics of a finished run on labelled data")
    p.add_argument("run_dir", metavar="RUN")
    p.add_argument("--data", required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=handlers.do_evaluate)

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
    p.set_defaults(run=handlers.do_predict)

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
    p.set_defaults(run=handlers.do_export)

    p = commands.add_parser("rank", help="which backbone suits this data? LogME and a linear probe, no fine-tuning")
    p.add_argument("--data", required=True, help="labelled data, as for `zoo train`")
    p.add_argument("--backbones", nargs="+", default=["*"], metavar="PATTERN", help="names or patterns (default: all)")
    p.add_argument("--sample", type=int, metavar="N", help="score a stratified sample of N examples")
    # the options rank shares with training are TrainConfig's fields, narrowed to what ranking does
    _add_config_flag(p, "task", choices=("classification", "regression"))
    _add_config_flag(p, "weights", help="default | none | PATH, for every candidate")
    _add_config_flag(p, "input_shape", flags=("--input-size",), help="square image size, or tokens per text")
    p.add_argument("--folds", type=int, default=5)
    _add_config_flag(
        p,
        "distribution",
        choices=None,
        metavar="{" + ",".join(ONE_HOST) + "}",
        help="every local GPU when there are several (auto, the default), one device (none), every local device "
        "(mirrored)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=handlers.do_rank)

    p = commands.add_parser(
        "lr-find",
        help="which learning rate? a sweep of the head's rate on cached features, with a plot and a suggestion",
        formatter_class=DefaultsFormatter,
    )
    p.add_argument("--backbone", required=True, help="backbone name (see `zoo list`)")
    p.add_argument("--data", required=True, help="labelled data, as for `zoo train` (its training split is swept)")
    p.add_argument("--start", type=float, default=1e-7, help="the first rate of the sweep")
    p.add_argument("--end", type=float, default=10.0, help="the last rate (the sweep stops early if the loss diverges)")
    p.add_argument("--steps", type=int, default=100, help="batches in the sweep, one rate each")
    p.add_argument("--plot", metavar="PNG", help="draw the loss against the rate here")
    _add_fixed_flags(p, LR_FIND_OPTIONS)  # what shapes the head and its training, as for `zoo train`
    p.add_argument("--json", action="store_true", help="every rate and loss of the sweep, and the suggestion")
    p.set_defaults(run=handlers.do_lr_find)

    p = commands.add_parser(
        "tune",
        help="search the head's options (and the backbone) with Optuna on cached features; train the best",
        formatter_class=DefaultsFormatter,
    )
    p.add_argument("--backbone", "--backbones", dest="backbones", nargs="+", required=True, metavar="NAME",
                   help="one backbone, or several (names or patterns): the search picks among them too")  # fmt: skip
    p.add_argument("--data", required=True, help="labelled data, as for `zoo train`")
    p.add_argument("--trials", type=int, default=20, help="trials this process runs")
    p.add_argument("--epochs", type=int, default=10, help="epochs of each trial (and of the best run)")
    p.add_argument("--storage", metavar="URL", help="Optuna storage shared by processes, e.g. sqlite:///study.db")
    p.add_argument("--study", metavar="NAME", help="the study's name in --storage (the same name: one study, which "
                   "keeps the settings it was created with)")  # fmt: skip
    p.add_argument("--train-best", action="store_true", help="then train the best options as a normal run at --out")
    p.add_argument("--out", help="the best run's directory (with --train-best; default runs/BACKBONE-TIMESTAMP)")
    _add_config_flag(p, "fine_tune", help="with --train-best: phase 2 with the top N blocks unfrozen")
    _add_fixed_flags(p, TUNE_OPTIONS)  # the same in every trial and the best run
    p.add_argument("--json", action="store_true", help="every trial, the best one and its command, as JSON")
    p.set_defaults(run=handlers.do_tune)

    p = commands.add_parser(
        "runs",
        help="the runs in a folder, one row each: backbone, data, score, options, status",
        formatter_class=DefaultsFormatter,
    )
    p.add_argument("root", nargs="?", default="runs", metavar="DIR", help="where to look, folders below it too")
    p.add_argument(
        "--sort", default="updated", metavar="KEY",
        help="updated (newest first), name, backbone, or a metric (accuracy, macro_f1, r2, loss, ...: best first)",
    )  # fmt: skip
    p.add_argument("--status", choices=STATUSES, help="only the runs in this state")
    p.add_argument("--backbone", metavar="PATTERN", help="only the runs of backbones matching, e.g. 'resnet*'")
    p.add_argument("--json", action="store_true", help="every run's full record, as JSON")
    p.set_defaults(run=handlers.do_runs)

    p = commands.add_parser(
        "report",
        help="finished runs compared in one self-contained HTML file: metrics, curves, per class, top losses",
        formatter_class=DefaultsFormatter,
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories")
    p.add_argument("--out", default="report.html", metavar="FILE", help="the HTML file to write")
    p.add_argument("--top-losses", type=int, default=8, metavar="N",
                   help="examples of each run's validation set shown, the worst first (0: none)")  # fmt: skip
    p.set_defaults(run=handlers.do_report)

    p = commands.add_parser(
        "serve",
        help="a finished run (or its SavedModel export) behind TF Serving's REST API, with batching and a web page",
        formatter_class=DefaultsFormatter,
    )
    p.add_argument("run_dir", metavar="RUN", help="a run directory, or a folder zoo export --format savedmodel wrote")
    p.add_argument("--host", default="127.0.0.1", help="the address to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=8501, help="the port (TF Serving's REST port by default)")
    p.add_argument("--name", help="the model's name in the URLs: letters, digits, '.', '_', '-' (default: the run "
                   "directory's name)")  # fmt: skip
    p.add_argument("--max-batch", type=int, default=32, metavar="N", help="inputs run as one batch")
    p.add_argument("--max-wait-ms", type=float, default=5.0, metavar="MS",
                   help="how long a request waits for others to join its batch")  # fmt: skip
    p.add_argument("--max-request-mb", type=float, default=32.0, metavar="MB", help="the largest request body")
    p.set_defaults(run=handlers.do_serve)

    p = commands.add_parser("demo", help="the embedded end-to-end example (no network, no data)")
    p.add_argument("--backbone", default="resnet50")
    p.add_argument("--out", default="runs/demo", help="where to write the generated data and the run")
    p.set_defaults(run=handlers.do_demo)
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


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per :class:`zoo.TrainConfig` field, with its help, type, choices and default."""
    for field in dataclasses.fields(TrainConfig):
        flags, meta = _flags_of(field)
        negative = meta.pop("negative", None)
        if field.type == "bool" and field.default:  # on by default: the flag turns it off
            flag = f"--no-{field.name.replace('_', '-')}"
            parser.add_argument(flag, dest=field.name, action="store_false", default=True, help=negative)
        elif field.type == "bool":
            parser.add_argument(*flags, dest=field.name, action="store_true", help=meta["help"])
        else:
            parser.add_argument(*flags, dest=field.name, default=None, **meta)


def _add_fixed_flags(parser: argparse.ArgumentParser, names: tuple[str, ...]) -> None:
    """The flags of the TrainConfig fields ``names`` for a command other than ``zoo train``."""
    for name in names:
        if name == "input_shape":
            _add_config_flag(parser, name, flags=("--input-size", "--sequence-length"))
        elif name == "hidden":
            _add_config_flag(parser, name, help="hidden ReLU layer sizes of the head (default: none)")
        elif name == "mlflow":
            _add_config_flag(parser, name, help="log to MLflow: the study as a run, each trial as a run nested in it, "
                             "the best run with --train-best; at MLflow's default tracking URI, or at URI "
                             "(default: off)")  # fmt: skip
        else:
            _add_config_flag(parser, name)


def _add_config_flag(parser: argparse.ArgumentParser, name: str, **narrowed: Any) -> None:
    """The flag of :class:`zoo.TrainConfig`'s field ``name`` for a command other than ``zoo train``: its flags,
    type and default are the field's (argparse's default, as nothing is read back from a run), ``narrowed``
    replaces what that command accepts or says (``help``, ``choices``, ``flags``)."""
    flags, meta = _flags_of(_FIELDS[name])
    flags = narrowed.pop("flags", flags)
    meta.update(narrowed)
    parser.add_argument(
        *flags, dest=flags[0].removeprefix("--").replace("-", "_"), default=_FIELDS[name].default, **meta
    )


def _flags_of(field: dataclasses.Field[Any]) -> tuple[tuple[str, ...], dict[str, Any]]:
    """A TrainConfig field's flags and the rest of its argparse metadata (``shown``, how --help words the default,
    left out: the formatter words it)."""
    meta = {key: value for key, value in field.metadata.items() if key != "shown"}
    return meta.pop("flags", None) or (f"--{field.name.replace('_', '-')}",), meta


class DefaultsFormatter(argparse.HelpFormatter):
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
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        """A usage mistake in one line, pointing at ``--help`` (argparse prints its whole usage first), exit 2."""
        self.exit(2, f"{self.prog}: error: {escape.terminal(message)} (see {self.prog} --help)\n")
