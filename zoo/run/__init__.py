"""The run directory, owned by one package: :class:`Run` and the collaborators it holds.

- ``layout``: the name of every file and folder of a run directory (its map);
- ``record``: what the run started with, ``config.json``, ``spec.json`` and ``labels.json`` (``run.record``);
- ``state``: the records of ``state.json`` (:class:`RunState`, :class:`StopState`, :class:`DataSummary`);
- ``lock``: who trains the run, one process at a time (``run.lock``), and where a new run may start;
- ``checkpoints``: ``checkpoints/``, what a resume goes on from (``run.checkpoints``);
- ``results``: the skipped inputs, then the model and every report as the run finishes (``run.results``);
- ``models``: :func:`save_model`, :func:`load_model` and :func:`load_requirements`, for any ``.keras`` file.

Training, resume, evaluate, predict and export go through a Run; every file is written atomically and with
the user's normal permissions. No other module names the files, the state's keys, the checkpoints or the
summary's rows (tests/test_run_schema.py): they ask a Run (``run.checkpoints.save_epoch``, ``run.read_state``,
``run.data_summary``...).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import files
from zoo.config import ModelConfig, TrainConfig
from zoo.errors import RunError
from zoo.locks import held_elsewhere
from zoo.metrics import summary_rows
from zoo.run.checkpoints import Checkpoints, WorkerCheckpoints
from zoo.run.layout import EXPORTS, MODEL, STATE, TENSORBOARD, TRAINING_LOCK, check_not_a_run_file, read_json
from zoo.run.lock import TrainingLock, check_free, claim, default_path, resume_command
from zoo.run.models import load_model, load_requirements, save_model
from zoo.run.record import Record, describe_source
from zoo.run.results import Results, WorkerResults
from zoo.run.state import DataSummary, RunState, StopState, data_identity

if TYPE_CHECKING:
    import keras

    from zoo.data import Dataset

__all__ = [
    "DataSummary",
    "Run",
    "RunState",
    "StopState",
    "WorkerView",
    "check_free",
    "check_not_a_run_file",
    "default_path",
    "describe_source",
    "load_model",
    "load_requirements",
    "save_model",
]


class Run:
    """A run directory: its configuration, state, checkpoints, model and results.

    ``Run(path)`` opens an existing one (:class:`RunError` if ``path`` is not a run directory);
    :meth:`create` starts one. ``zoo.train`` returns the Run it wrote.

    >>> run = Run("runs/demo/run")
    >>> run.class_names, run.complete, 0 <= run.metrics["accuracy"] <= 1
    (('beach', 'forest', 'night', 'sunset'), True, True)
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = files.as_path(path, "a run")
        self.record = Record(self.path)  # config.json, spec.json, labels.json
        self.lock = TrainingLock(self.path)  # held while this process trains the run
        self.checkpoints = Checkpoints(self.path)
        self.results = Results(self)  # model.keras, metrics.json, skipped.json and the reports
        self._made = False  # whether create() made the directory (discard() then removes it)

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        *,
        train: TrainConfig,
        model: ModelConfig,
        spec: Mapping[str, Any],
        data: Mapping[str, str | None],
        data_id: str,
        labels_id: str | None = None,
        unique: bool = False,
    ) -> Run:
        """Start a run directory at ``path`` (made if missing), held by this process until ``run.lock.release()``.

        :class:`RunError` if it already holds a run; :class:`BusyError` if another process is training there.
        ``unique``: ``path`` is a default name, made exclusively, with ``-2``, ``-3``... when taken (two runs
        started in one second). ``data_id`` identifies the examples (their contents) and ``labels_id`` their
        labels, in ``state.json``: a resume checks both."""
        path, made, lock = claim(path, unique=unique)
        try:
            Record.write(path, train, model, spec, data)
            run = cls(path)
            run.lock, run._made = lock, made
            run.save_state(RunState(data=data_id, labels=labels_id))
        except BaseException:
            lock.release()
            raise
        return run

    @classmethod
    def finished(cls, run: str | os.PathLike[str] | Run) -> Run:
        """The run at ``run`` (or ``run`` itself), checked to be complete; :class:`RunError` otherwise.

        >>> Run.finished("runs/demo/run").complete
        True
        """
        run = run if isinstance(run, Run) else cls(run)
        if not run.complete:
            if held_elsewhere(run.path / TRAINING_LOCK):  # resuming it would be refused: it is being trained
                raise RunError(f"{run.path} is not finished: another process is training it; wait for it to finish")
            run.read_state()  # a missing or damaged state.json says so (resuming would refuse it too)
            raise RunError(f"{run.path} is not finished: resume it (`{resume_command(run.path)}`) first")
        return run

    @property
    def writes(self) -> bool:
        """Whether this process writes the directory: ``False`` for a worker's :class:`WorkerView`."""
        return True

    @staticmethod
    def model_file(path: str | os.PathLike[str]) -> Path:
        """Where the run directory at ``path`` keeps its trained model (``model.keras``), without opening it.

        >>> Run.model_file("runs/demo/run")
        PosixPath('runs/demo/run/model.keras')
        """
        return Path(path) / MODEL

    # -- what the run started with (``run.record``) -----------------------------------------------
    @property
    def train_config(self) -> TrainConfig:
        """The options the run was started with."""
        return self.record.train_config

    @property
    def model_config(self) -> ModelConfig:
        """The model's record as the run started (labels included)."""
        return self.record.model_config

    @property
    def data_sources(self) -> dict[str, str | None]:
        """``{"train": ..., "val": ...}``: absolute paths, or ``"<arrays>"`` for in-memory data."""
        return self.record.data_sources

    @property
    def trained_in_memory(self) -> bool:
        """Whether the run's training data was given in memory (or not recorded): none to read again."""
        return self.record.trained_in_memory

    @property
    def spec(self) -> dict[str, Any]:
        """The backbone's spec as JSON (``BackboneSpec.to_dict()``), read once."""
        return self.record.spec

    @property
    def task(self) -> str:
        return self.model_config.task

    @property
    def class_names(self) -> tuple[str, ...]:
        """The labels in output order, from ``labels.json``: :class:`RunError` when they are not the ones the run
        recorded when it trained (an edited file would rename every prediction)."""
        return self.record.class_names

    @property
    def input_shape(self) -> tuple[int, ...]:
        """What the model reads: ``(height, width, 3)``, or ``(tokens,)`` for text."""
        return self.model_config.input_shape

    @property
    def modality(self) -> str:
        return self.model_config.modality

    @property
    def interpolation(self) -> str:
        """How images are resized to :attr:`input_shape` (the spec's declared method)."""
        return self.spec["preprocessing"].get("interpolation", "bilinear")

    def read_data(self, *, progress: bool | None = None) -> tuple[Dataset, Dataset]:
        """The training and validation sets as the run used them, read again from their sources.

        Without a separate validation source, the training data is split again with the run's
        ``val_fraction`` and ``seed``, so the held-out examples are the ones the run held out. A run
        trained from in-memory data has nothing to read, and files changed since the run trained are not its
        data: :class:`RunError`.

        >>> train, val = Run("runs/demo/run").read_data()
        >>> len(train), len(val)
        (24, 8)
        """
        train, val = self.record.read_data(progress)
        recorded = self.read_state().data  # None: a run from before the zoo recorded it
        if recorded is not None and data_identity(train, val) != recorded:
            raise RunError(f"the data of {self.path} changed since it trained (files added, removed or edited): the "
                           "examples it trained and validated on cannot be read again")  # fmt: skip
        return train, val

    def export_path(self, format: str, quantize: str | None = None) -> Path:
        """Where ``zoo export`` writes ``format`` when no ``--out`` is given: ``exports/<format>[-<quantize>]``.

        >>> Run("runs/demo/run").export_path("tflite", "int8")
        PosixPath('runs/demo/run/exports/tflite-int8')
        """
        return self.path / EXPORTS / (f"{format}-{quantize}" if quantize else format)

    def tensorboard_path(self, where: bool | str) -> Path:
        """Where training writes TensorBoard's logs: ``tensorboard/`` in the run (``where=True``), or a folder
        named as the run in ``where``, beside other runs' (``tensorboard --logdir`` it to compare them).

        >>> Run("runs/demo/run").tensorboard_path(True), Run("runs/demo/run").tensorboard_path("logs")
        (PosixPath('runs/demo/run/tensorboard'), PosixPath('logs/run'))
        """
        return self.path / TENSORBOARD if isinstance(where, bool) else Path(where).expanduser() / self.path.name

    # -- where training stands (``state.json``) ---------------------------------------------------
    def read_state(self) -> RunState:
        """Where training stands: :class:`RunState`."""
        return RunState.from_dict(read_json(self.path / STATE), self.path / STATE)

    def save_state(self, state: RunState) -> None:
        files.write_json(self.path / STATE, state.to_dict())

    @property
    def complete(self) -> bool:
        return (self.path / STATE).exists() and self.read_state().complete

    @property
    def history(self) -> list[dict[str, Any]]:
        """One row per epoch: phase, epoch, losses, metrics, learning rate."""
        return self.read_state().history

    @property
    def data(self) -> dict[str, Any]:
        """Counts of the data the run saw: examples, skipped files, texts cut at the token limit, by their labels
        (``{"train examples": 24, ...}``; empty until the run is complete). :attr:`data_summary` has them as fields."""
        summary = self.data_summary
        return dict(summary.rows()) if summary is not None else {}

    @property
    def data_summary(self) -> DataSummary | None:
        """The counts of :attr:`data` as a :class:`DataSummary`; ``None`` until the run is complete."""
        return self.read_state().summary

    def discard(self) -> None:
        """Remove a run that failed before its first checkpoint: its directory if this run made it."""
        if self.checkpoints.any_saved:
            return
        if self._made:
            shutil.rmtree(self.path, ignore_errors=True)
        else:
            self.record.remove()
            for path in (self.path / STATE, self.results.skipped_path):
                path.unlink(missing_ok=True)
            self.checkpoints.remove()

    # -- the model and the reports (``run.results``) ----------------------------------------------
    @property
    def model(self) -> keras.Model:
        """The trained model (loaded from ``model.keras`` on first use)."""
        return self.results.model

    @property
    def load_requirements(self) -> list[str]:
        """The distributions that must be installed to load ``model.keras`` (see :func:`load_requirements`).

        Recorded in ``config.json`` when the run finished; read from ``model.keras`` for a run finished before.
        ``card.ZOO_DISTRIBUTION`` among them means ``zoo.load_model`` is needed; without it, plain
        ``keras.saving.load_model`` loads the model.

        >>> Run("runs/demo/run").load_requirements  # plain Keras layers: keras.saving.load_model loads it
        ['keras']
        """
        return self.results.load_requirements

    @property
    def metrics(self) -> dict[str, Any]:
        """The validation metrics (``metrics.json``) of a complete run."""
        return self.results.metrics

    @property
    def skipped_path(self) -> Path:
        """The file that lists the inputs left out as unreadable."""
        return self.results.skipped_path

    @property
    def skipped(self) -> list[dict[str, str]]:
        """The inputs left out as unreadable: ``[{"path", "reason"}, ...]``."""
        return self.results.skipped

    def __repr__(self) -> str:
        if not self.complete:
            return f"Run({self.path}, incomplete)"
        headline = ", ".join(f"{k} {v}" for k, v in summary_rows(self.task, self.metrics)[:2])
        return f"Run({self.path}, {headline})"


class WorkerView(Run):
    """A run directory as a worker of a multi-worker job sees it: read like any run, never written.

    The chief (process 0) writes the directory. A worker computes the same steps and reads the
    chief's state and checkpoints to resume. Saving a distributed model is itself a collective step
    (every process takes part), so a worker saves models as the chief does, into a throwaway folder.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(path)
        self.checkpoints = WorkerCheckpoints(self.path)
        self.results = WorkerResults(self)

    @property
    def writes(self) -> bool:
        return False

    def save_state(self, state: RunState) -> None:
        pass

    def discard(self) -> None:
        pass
