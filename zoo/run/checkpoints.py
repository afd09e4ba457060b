"""A run's ``checkpoints/``: what a resume goes on from (the state.json beside it says where)."""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from zoo import files
from zoo.errors import RunError
from zoo.run.layout import BEST, CHECKPOINTS, EPOCH_WEIGHTS, HEAD, OPTIMIZER, PHASE_PREFIX, START
from zoo.run.models import damaged, load_model, nbytes, save_model

if TYPE_CHECKING:
    import keras


class Checkpoints:
    """The checkpoints of the run directory at ``run_path``: per phase, the weights after its last epoch, the best
    weights so far and the optimizer's state; the head after phase 1; the model the run started from, when it was
    given as an object. Each is written atomically, once the disk is known to have room for it."""

    def __init__(self, run_path: Path) -> None:
        self.run_path = run_path
        self.folder = run_path / CHECKPOINTS

    @property
    def any_saved(self) -> bool:
        """Whether an epoch of training was saved (a checkpoint of some phase exists)."""
        return any(self.folder.glob(f"{PHASE_PREFIX}*"))

    def save_epoch(self, model: keras.Model, phase: int) -> None:
        """Keep ``model``'s weights as they are at the end of an epoch of ``phase``."""
        self._write_weights(model, self.folder / EPOCH_WEIGHTS.format(phase))

    def load_epoch(self, model: keras.Model, phase: int) -> None:
        """Set ``model``'s weights to those :meth:`save_epoch` kept for ``phase``."""
        self._read_weights(model, self.folder / EPOCH_WEIGHTS.format(phase))

    def save_head(self, head: keras.Model) -> None:
        """Keep the head as phase 1 left it."""
        self._write_weights(head, self.folder / HEAD)

    def load_head(self, head: keras.Model) -> None:
        self._read_weights(head, self.folder / HEAD)

    def save_best(self, phase: int, weights: Sequence[np.ndarray]) -> None:
        """Keep the best weights of ``phase`` so far (early stopping restores them)."""
        self._write_arrays(self.folder / BEST.format(phase), weights)

    def load_best(self, phase: int) -> list[np.ndarray] | None:
        """The weights :meth:`save_best` kept for ``phase``; ``None`` before any."""
        return self._read_arrays(self.folder / BEST.format(phase))

    def save_optimizer(self, phase: int, values: Sequence[np.ndarray]) -> None:
        """Keep the optimizer's variables at the end of an epoch of ``phase``."""
        self._write_arrays(self.folder / OPTIMIZER.format(phase), values)

    def load_optimizer(self, phase: int) -> list[np.ndarray] | None:
        return self._read_arrays(self.folder / OPTIMIZER.format(phase))

    def save_start(self, model: keras.Model) -> None:
        """Keep the model the run starts from, so a resume starts from the very same weights."""
        save_model(model, self.folder / START)

    def load_start(self) -> keras.Model | None:
        return load_model(self.folder / START) if (self.folder / START).exists() else None

    def remove_orphans(self) -> None:
        """Delete the temporary files a writer of this run left when it died (its one writer calls this)."""
        for folder in (self.run_path, self.folder):
            for orphan in files.orphans(folder) if folder.is_dir() else ():
                orphan.unlink(missing_ok=True)

    def remove(self) -> None:
        """Delete every checkpoint (the run is complete, or failed before its first one)."""
        shutil.rmtree(self.folder, ignore_errors=True)

    def _write_weights(self, model: keras.Model, path: Path) -> None:
        files.ensure_space(path, nbytes(model.weights))  # h5py crashes on a full disk: check first
        with files.atomic_path(path) as tmp:
            model.save_weights(tmp)

    def _read_weights(self, model: keras.Model, path: Path) -> None:
        try:
            model.load_weights(path)
        except OSError as err:  # h5py: a truncated or overwritten file
            raise damaged(path, err) from None
        except ValueError as err:  # Keras: other variables than the model's (another version of the zoo)
            raise RunError(
                f"{path} does not fit the model ({str(err).splitlines()[0]}): it was written for another model, "
                "or by another version of the zoo; start the run again"
            ) from None

    def _write_arrays(self, path: Path, arrays: Sequence[np.ndarray]) -> None:
        files.ensure_space(path, nbytes(arrays))
        with files.atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, *arrays)

    def _read_arrays(self, path: Path) -> list[np.ndarray] | None:
        if not path.exists():
            return None
        try:
            with np.load(path) as data:
                return [data[f"arr_{i}"] for i in range(len(data.files))]
        except (OSError, ValueError, zipfile.BadZipFile) as err:
            raise damaged(path, err) from None


class WorkerCheckpoints(Checkpoints):
    """The checkpoints as a worker of a multi-worker job keeps them: read like any run's, never written.

    Saving a distributed model is itself a collective step (every process takes part), so a worker saves its
    weights and models as the chief does, into a throwaway folder.
    """

    def _write_weights(self, model: keras.Model, path: Path) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            model.save_weights(Path(scratch) / path.name)

    def save_start(self, model: keras.Model) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            save_model(model, Path(scratch) / START)

    def _write_arrays(self, path: Path, arrays: Sequence[np.ndarray]) -> None:
        pass
