"""What the ``zoo`` command checks before TensorFlow or Keras is imported: the Keras backend, the training options
(a :class:`zoo.TrainConfig`), and whether a run directory is a finished run. A mistake fails in one line, fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import sys
from typing import Any

from zoo.config import TrainConfig
from zoo.errors import ConfigError

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
