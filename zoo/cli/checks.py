"""What the ``zoo`` command checks before TensorFlow or Keras is imported: the Keras backend, the training options
(a :class:`zoo.TrainConfig`), names, paths and run directories; one ``check_*`` per command that loads the
framework, called first by its handler. A mistake fails in one line, fast, and writes nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from zoo.backbones import resolve_input_shape, resolve_weights
from zoo.config import ONE_HOST, TrainConfig, check_applies, finished_run_error
from zoo.errors import ConfigError, DataError
from zoo.plugins import get_spec, select_backbones
from zoo.run.layout import check_not_a_run_file

KERAS_BACKENDS = ("tensorflow", "jax", "torch", "numpy", "openvino")  # each the package it needs


def check_backend() -> None:
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


def train_config(args: argparse.Namespace) -> TrainConfig:
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


def is_given(args: argparse.Namespace, field: dataclasses.Field) -> bool:
    value = getattr(args, field.name)
    return value is not None and not (field.type == "bool" and value == field.default)


def is_complete(path: str) -> bool:
    """Whether ``path`` holds a finished run (without importing TensorFlow)."""
    from zoo.errors import RunError
    from zoo.run import Run

    try:
        return Run(path).complete
    except RunError:
        return False


def finished_run(path: str) -> Any:
    """The run at ``path``, checked to be finished, without importing TensorFlow."""
    from zoo.run import Run

    return Run.finished(path)


def check_resume(args: argparse.Namespace) -> None:
    """``zoo train --resume RUN``: no other options (``--distribute`` aside), and a run directory that this
    process may write and no other process trains."""
    fields = [f for f in dataclasses.fields(TrainConfig) if is_given(args, f) and f.name != "distribution"]
    given = [f.metadata.get("flags", (f"--{f.name.replace('_', '-')}",))[0] for f in fields]
    if args.backbone or args.data or args.val or args.out or given:
        dropped = ", ".join(given) or "the other options"
        if given and is_complete(args.resume):  # say why they cannot apply, not only to drop them
            raise finished_run_error(args.resume, given)
        raise ConfigError(f"--resume RUN continues a run with its own options (--distribute aside); drop {dropped}")
    from zoo.run import Run

    run = Run(args.resume)  # a run directory, writable, that no other process trains? (before TensorFlow loads)
    if not run.complete:
        run.lock.check_idle()


def check_train(args: argparse.Namespace) -> TrainConfig:
    """``zoo train``: the options as a :class:`zoo.TrainConfig`, the backbone, its input size and weights, and the
    data paths (``--val`` other than ``--data``)."""
    if not args.backbone or not args.data:
        raise ConfigError("--backbone and --data are required (or --resume RUN)")
    config = train_config(args)
    given = [field.name for field in dataclasses.fields(TrainConfig) if is_given(args, field)]
    check_applies(given, config, separate_val=args.val is not None)
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
    return config


def check_rank(args: argparse.Namespace) -> None:
    """``zoo rank``: the sample, folds and placement, the backbones' names and the data path."""
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


def check_evaluate(args: argparse.Namespace) -> Any:
    """``zoo evaluate``: the finished run, and the data path."""
    run = finished_run(args.run_dir)
    if not Path(args.data).exists():
        raise DataError(f"{args.data} does not exist: give labelled data, as for `zoo train`")
    return run


def check_predict(args: argparse.Namespace) -> Any:
    """``zoo predict``: the finished run, ``--top-k`` and ``--out`` (a file, not a folder)."""
    run = finished_run(args.run_dir)
    if args.top_k < 1:
        raise ConfigError(f"--top-k must be at least 1, got {args.top_k}")
    if args.out is not None and Path(args.out).is_dir():
        example = Path(args.out) / "preds.csv"
        raise ConfigError(f"--out {args.out} is a folder: give the CSV file to write, e.g. {example}")
    if args.out is not None:
        check_not_a_run_file(args.out, "--out")
    if args.out is not None and Path(args.out).is_file():
        same = next((item for item in args.files if Path(item).is_file() and Path(item).samefile(args.out)), None)
        if same is not None:  # the predictions would replace what they are predictions of
            raise ConfigError(f"--out {args.out} is one of the inputs ({same}): give another file to write")
    return run


def check_export(args: argparse.Namespace) -> Any:
    """``zoo export``: the format, quantisation and calibration options, the finished run and the calibration
    path."""
    from zoo.exports import check_options

    check_options(args.format, args.quantize, args.calibration)  # before TensorFlow loads
    run = finished_run(args.run_dir)
    if args.calibration is not None and not Path(args.calibration).exists():
        raise DataError(f"{args.calibration} does not exist: give images to calibrate on, as for `zoo train --data`")
    return run
