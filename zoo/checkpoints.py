"""The end of a training epoch: its history row, early stopping with the best weights, and the checkpoint.

Why not Keras' own ``EarlyStopping(restore_best_weights=True)`` and ``BackupAndRestore``: a zoo run must resume
from the run directory alone, in a new process, after Ctrl-C, SIGKILL or a lost peer of a multi-worker job, and
every file of it belongs to :class:`zoo.Run` (one writer, atomic writes, the disk space checked first).

- ``EarlyStopping`` keeps its best value, wait count and best weights in memory only, so a resumed run would
  start counting afresh and restore weights no better than the resume's own; here they are part of the run's
  state (``RunState.early_stopping``) and the best weights a checkpoint (``run.checkpoints.save_best``).
- ``BackupAndRestore`` writes its own folder of TensorFlow checkpoints (backend-specific, not through ``Run``),
  deletes it when ``fit`` ends, and has no notion of the zoo's two phases; a resume here reads the phase and
  epoch from ``state.json`` and the weights and optimizer state from the phase's checkpoints.
- On several processes only the chief writes: a worker's :class:`zoo.WorkerView` saves nothing (its weights are
  still saved, into a throwaway folder, because saving is a collective step). The callback runs in every process,
  which must all stop at the same epoch (or the job's collectives wait for a missing peer).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from zoo.errors import RunError

if TYPE_CHECKING:
    from zoo.run import Run, RunState

# On several processes, the loss as a metric over a batch's real rows (Keras' own loss average counts a padded
# batch at its padded size): the trainer compiles it under this name, the history reports it as loss and val_loss.
EXACT_LOSS = "exact_loss"


class EpochEnd(keras.callbacks.Callback):
    """After each epoch of ``phase``: a history row, early stopping on ``val_loss`` after ``patience`` epochs
    without improvement (``None``: never) with the best weights restored when training ends, and a checkpoint
    (weights, best weights, optimizer state, then the state) through ``run``."""

    def __init__(self, run: Run, state: RunState, phase: int, patience: int | None) -> None:
        super().__init__()
        self.run, self.state, self.phase, self.patience = run, state, phase, patience
        self.best, self.best_epoch, self.wait = math.inf, -1, 0
        self.best_weights: list[np.ndarray] | None = None

    def restore(self, best_weights: list[np.ndarray] | None) -> None:
        """Go on from the early-stopping record of ``state`` and the best weights saved so far (a resume)."""
        record = self.state.early_stopping
        self.best, self.best_epoch, self.wait = record.best, record.best_epoch, record.wait
        self.best_weights = best_weights

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = dict(logs or {})
        for prefix in ("", "val_"):
            if prefix + EXACT_LOSS in logs:
                logs[prefix + "loss"] = logs.pop(prefix + EXACT_LOSS)
        optimizer = self.model.optimizer
        row = {"phase": self.phase, "epoch": epoch + 1, **{k: float(v) for k, v in logs.items()}}
        row["learning_rate"] = float(np.asarray(optimizer.learning_rate))
        self.state.history.append(row)
        current = logs.get("val_loss")
        stopped = False
        if current is not None and current < self.best:
            self.best, self.best_epoch, self.wait = float(current), epoch, 0
            self.best_weights = self.model.get_weights()
            self.run.checkpoints.save_best(self.phase, self.best_weights)  # type: ignore[arg-type]
        elif current is not None:
            self.wait += 1
            stopped = self.patience is not None and self.wait >= self.patience
            self.model.stop_training = stopped
        self.run.checkpoints.save_epoch(self.model, self.phase)
        self.run.checkpoints.save_optimizer(self.phase, [np.asarray(v) for v in optimizer.variables])
        self.state.phase, self.state.epoch, self.state.stopped = self.phase, epoch + 1, stopped
        record = self.state.early_stopping
        record.best, record.best_epoch, record.wait = self.best, self.best_epoch, self.wait
        self.run.save_state(self.state)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


def restore_optimizer(model: Any, values: list[np.ndarray] | None) -> None:
    """Put back the optimizer state a checkpoint kept (``None``: none kept, the optimizer starts afresh)."""
    if values is None:
        return
    model.optimizer.build(model.trainable_variables)
    variables = model.optimizer.variables
    if len(variables) != len(values):
        raise RunError(f"the checkpoint's optimizer has {len(values)} variables, expected {len(variables)}")
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)
