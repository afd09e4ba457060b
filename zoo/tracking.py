"""Tracking a run in the tools teams already use: TensorBoard (each phase's metrics and learning rate through
Keras' own callback, the run's options through TensorBoard's HParams dashboard).

TensorBoard is imported when a run asks for it; a missing one is said before any work
(:func:`require_tensorboard`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zoo.console import installed
from zoo.errors import ConfigError


def require_tensorboard() -> None:
    """Refuse ``tensorboard=...`` in one line where the ``tensorboard`` package is not installed.

    >>> require_tensorboard()  # installed here (the tensorflow extra brings it)
    """
    if not installed("tensorboard"):
        raise ConfigError(
            "tensorboard logs need the tensorboard package: pip install tensorboard, or drop --tensorboard"
        )


def tensorboard_callbacks(logs: Path, phase: int, fresh: bool, run_name: str, options: Mapping[str, Any]) -> list[Any]:
    """Keras' ``TensorBoard`` callback writing ``phase`` into ``logs/phase<N>`` (``train/`` and ``validation/``:
    each epoch's metrics and the learning rate). A ``fresh`` run (phase 1, not resumed) first records its
    ``options`` for the HParams dashboard, under the session name ``run_name``."""
    import keras

    if fresh:
        _write_hparams(logs, run_name, options)
    return [keras.callbacks.TensorBoard(log_dir=str(logs / f"phase{phase}"), write_graph=False)]


def _write_hparams(logs: Path, run_name: str, options: Mapping[str, Any]) -> None:
    """The options as hyperparameters: numbers, booleans and strings as they are, anything else (lists, None)
    as its text."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hparams

    values = {k: v if isinstance(v, (bool, int, float, str)) else str(v) for k, v in options.items()}
    with tf.summary.create_file_writer(str(logs)).as_default():
        hparams.hparams(values, trial_id=run_name)
