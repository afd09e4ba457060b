"""The run directory, owned by one class: :class:`Run` alone knows its file layout.

::

    runs/<name>/
        config.json          TrainConfig, ModelConfig and the data sources (written first; the
                             ModelConfig is brought up to date when the run finishes)
        spec.json            the backbone's spec, as it was when the run started
        labels.json          the class names, in output order
        state.json           a RunState: phase, epoch, early stopping and the history so far (rewritten each
                             epoch); once complete, the DataSummary (counts of the data the run saw)
        checkpoints/         weights, best weights and optimizer state per phase, the head after phase 1;
                             start.keras when the run started from a model object (removed once the run is
                             complete)
        skipped.json         inputs left out as unreadable, with the reason
        model.keras          the trained model, with its ModelConfig inside (member zoo.json), without
                             its optimizer state (what is deployed; the checkpoints keep it for a resume)
        metrics.json         validation metrics; history.csv, learning_curves.png,
                             confusion_matrix.png and README.md (the model card) beside it
        exports/             ``zoo export``'s default outputs: savedmodel/, tflite/, tflite-int8/, onnx/, ...

Training, resume, evaluate, predict and export go through it; every file is written atomically and with
the user's normal permissions. No other module names these files, the state's keys, the checkpoints or the
summary's rows (tests/test_run_schema.py): they ask a Run (``save_epoch``, ``read_state``, ``data_summary``...).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import errno
import functools
import hashlib
import importlib.metadata
import json
import math
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo import card, files, locks, plots
from zoo.config import ModelConfig, TrainConfig
from zoo.errors import BusyError, ConfigError, RunError, ZooError, first_line
from zoo.history import write_history_csv
from zoo.metrics import summary_rows

if TYPE_CHECKING:
    import keras

    from zoo.data import Dataset

MODEL = "model.keras"
CONFIG = "config.json"
SPEC = "spec.json"
LABELS = "labels.json"
STATE = "state.json"
RECORDS = ("train", "model", "data")  # what config.json holds
METRICS = "metrics.json"
SKIPPED = "skipped.json"
HISTORY = "history.csv"
CURVES = "learning_curves.png"
CONFUSION = "confusion_matrix.png"
CARD = "README.md"
CHECKPOINTS = "checkpoints"
EXPORTS = "exports"
START = "start.keras"  # in checkpoints/: the model a run started from, when it was given as an object
# In checkpoints/, per phase: the weights after its last epoch, the best weights so far and the optimizer's state;
# and the head after phase 1. Only Run's checkpoint methods name them.
_EPOCH_WEIGHTS, _BEST, _OPTIMIZER = "phase{}.weights.h5", "phase{}-best.npz", "phase{}-optimizer.npz"
_HEAD = "phase1-final.weights.h5"
_PHASE_PREFIX = "phase"  # every checkpoint above starts so: discard() keeps a run that has one
ARRAYS, DATASET = "<arrays>", "<dataset>"  # config.json's data sources for in-memory data (nothing to read again)
CONFIG_MEMBER = "zoo.json"  # inside model.keras: the ModelConfig, so a loaded model can be trained again
TRUST_MEMBER = "zoo-trust.json"  # inside model.keras: {external file: SHA-256} of what the model reads on load
TRAINING_LOCK = ".training.lock"  # while a process trains the run: its pid; removed after
REQUIREMENTS = "load_requirements"  # in config.json: the distributions model.keras needs to load
KERAS_IMPORTS = ("keras", "keras_hub", "keras_cv", "keras_nlp")  # packages whose classes Keras imports by itself


@dataclasses.dataclass(frozen=True)
class DataSummary:
    """Counts of the data a run saw, as :meth:`Run.finish` records them (``Run.data_summary``).

    >>> DataSummary(24, 8, 0).rows()
    {'train examples': 24, 'validation examples': 8, 'skipped files': 0}
    >>> DataSummary(30, 10, 1, texts_cut=2, token_limit=16).notes()
    ['2 texts cut at 16 tokens']
    """

    train_examples: int
    validation_examples: int
    skipped_files: int
    texts_cut: int | None = None  # texts longer than the model reads; None when the model does not tokenize
    token_limit: int | None = None  # the tokens the model reads of each text

    _LABELS = ("train examples", "validation examples", "skipped files")  # how state.json and the card name them
    _CUT = re.compile(r"texts cut at (\d+) tokens")

    def rows(self) -> dict[str, int]:
        """The counts by their labels, in order: what ``Run.data`` returns and the card's Data table shows."""
        rows = dict(zip(self._LABELS, (self.train_examples, self.validation_examples, self.skipped_files), strict=True))
        if self.texts_cut is not None:
            rows[f"texts cut at {self.token_limit} tokens"] = self.texts_cut
        return rows

    def notes(self) -> list[str]:
        """What a user should know after training (``zoo train`` prints each as a note): texts that were cut."""
        return [f"{self.texts_cut} texts cut at {self.token_limit} tokens"] if self.texts_cut else []

    @classmethod
    def from_rows(cls, rows: Mapping[str, Any]) -> DataSummary:
        """The summary :meth:`rows` wrote (``state.json``'s ``summary``)."""
        train, val, skipped = (int(rows.get(label, 0)) for label in cls._LABELS)
        cut = next(((int(m.group(1)), int(v)) for k, v in rows.items() if (m := cls._CUT.fullmatch(k))), None)
        return cls(train, val, skipped, texts_cut=cut[1] if cut else None, token_limit=cut[0] if cut else None)


@dataclasses.dataclass
class StopState:
    """Early stopping's record, kept in ``state.json`` so a resume goes on counting where the run stopped."""

    best: float = math.inf  # the lowest validation loss so far
    best_epoch: int = -1  # its epoch (0-based)
    wait: int = 0  # epochs since it, without a lower one


@dataclasses.dataclass
class RunState:
    """Where a run's training stands: ``state.json``, rewritten after every epoch (:meth:`Run.read_state`).

    ``data`` and ``labels`` identify the examples and their labels (a resume checks both); ``phase`` and
    ``epoch`` the last epoch saved (``epoch`` 0: the phase has not started); ``history`` one row per epoch.

    >>> state = RunState(data="d1", labels=None)
    >>> RunState.from_dict(state.to_dict()) == state
    True
    """

    data: str | None = None
    labels: str | None = None  # None: a run from before labels were recorded
    phase: int = 1
    epoch: int = 0
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    stopped: bool = False  # early stopping ended the phase
    early_stopping: StopState = dataclasses.field(default_factory=StopState)
    phase1_done: bool = False
    phase2_done: bool = False
    complete: bool = False
    summary: DataSummary | None = None  # when complete

    def to_dict(self) -> dict[str, Any]:
        record = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        record["early_stopping"] = dataclasses.asdict(self.early_stopping)
        record["summary"] = self.summary.rows() if self.summary is not None else None
        return record

    @classmethod
    def from_dict(cls, record: Any, source: Path | str = STATE) -> RunState:
        """The state ``record`` holds (keys missing from an older zoo's state take their defaults)."""
        if not isinstance(record, dict):
            raise RunError(f"{source} is not a run's state (a JSON object); the run directory is damaged")
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in record.items() if k in known}
        try:
            stop = values.get("early_stopping") or {}
            fields = [f.name for f in dataclasses.fields(StopState)]
            values["early_stopping"] = StopState(**{name: stop[name] for name in fields if name in stop})
            values["summary"] = DataSummary.from_rows(values["summary"]) if values.get("summary") else None
            return cls(**values)
        except (TypeError, ValueError, AttributeError) as err:
            raise RunError(f"{source} holds a damaged state ({err}); the run directory is damaged") from None


class Run:
    """A run directory: its configuration, state, checkpoints, model and results.

    ``Run(path)`` opens an existing one (:class:`RunError` if ``path`` is not a run directory);
    :meth:`create` starts one. ``zoo.train`` returns the Run it wrote.

    >>> run = Run("runs/demo/run")
    >>> run.class_names, run.complete, 0 <= run.metrics["accuracy"] <= 1
    (('beach', 'forest', 'night', 'sunset'), True, True)
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise RunError(f"{self.path} does not exist: give the directory of a run (`zoo train --out`)")
        if not (self.path / CONFIG).is_file():
            raise RunError(f"{self.path} is not a run directory (no {CONFIG})")
        self._config = _read_json(self.path / CONFIG)
        if not isinstance(self._config, dict) or not all(isinstance(self._config.get(k), dict) for k in RECORDS):
            raise RunError(
                f"{self.path / CONFIG} is not a zoo run's configuration (it has no {', '.join(map(repr, RECORDS))} "
                "records): give the directory of a run (`zoo train --out`)"
            )
        self._model: Any = None
        self._made = False  # whether create() made the directory (discard() then removes it)
        self._held: contextlib.ExitStack | None = None  # the training lock, while this process trains the run

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
        """Start a run directory at ``path`` (made if missing), held by this process until :meth:`release`.

        :class:`RunError` if it already holds a run; :class:`BusyError` if another process is training there.
        ``unique``: ``path`` is a default name, made exclusively, with ``-2``, ``-3``... when taken (two runs
        started in one second). ``data_id`` identifies the examples (their contents) and ``labels_id`` their
        labels, in ``state.json``: a resume checks both."""
        path, made = _make_unique(Path(path)) if unique else (cls.check_free(path), False)
        if not unique:
            with contextlib.suppress(FileExistsError):
                path.mkdir(parents=True)
                made = True
        run = cls.__new__(cls)
        run.path, run._model, run._made, run._held = path, None, made, None
        run.hold()
        try:
            if (path / CONFIG).exists() or (path / STATE).exists():  # another process's, started meanwhile
                raise RunError(f"{path} already holds a run, started meanwhile by another process; pick another --out")
            files.write_json(path / CONFIG, {"train": train.to_dict(), "model": model.to_dict(), "data": dict(data)})
            files.write_json(path / SPEC, dict(spec))
            files.write_json(path / LABELS, list(model.class_names))
            run.save_state(RunState(data=data_id, labels=labels_id))
            run._config = _read_json(path / CONFIG)
        except BaseException:
            run.release()
            raise
        return run

    def hold(self) -> None:
        """Take this run directory for training in this process; :class:`BusyError` if another process has it.

        The lock (``.training.lock``, holding the pid) goes when :meth:`release` is called or the process ends.
        """
        if self._held is not None:
            return
        held = contextlib.ExitStack()
        try:
            free = held.enter_context(locks.locked(self.path / TRAINING_LOCK, wait=False, remove=True))
        except PermissionError as err:  # read-only: refused now, not after an epoch of training
            raise RunError(
                f"{self.path} cannot be written by this process ({err.strerror}): training writes its checkpoints "
                "there; fix its permissions, or copy the run somewhere writable"
            ) from None
        except OSError as err:
            if err.errno != errno.EROFS:
                raise
            raise RunError(f"{self.path} is on a read-only file system: copy the run somewhere writable") from None
        if not free:
            who = locks.holder(self.path / TRAINING_LOCK)
            held.close()
            raise BusyError(
                f"{self.path} is being trained by {who}: wait for it to finish (then resume it, if it stopped), "
                "or pick another --out"
            )
        self._held = held

    def check_idle(self) -> None:
        """:class:`BusyError` while another process trains this run directory (:class:`RunError` if it cannot be
        written): what :meth:`hold` checks, without keeping the lock."""
        self.hold()
        self.release()

    def release(self) -> None:
        """Let other processes train this run directory again (after :meth:`create` or :meth:`hold`)."""
        held, self._held = self._held, None
        if held is not None:
            held.close()

    @staticmethod
    def check_free(path: str | os.PathLike[str]) -> Path:
        """``path`` as a Path if a new run may start there; :class:`RunError` if it holds a run or is a file."""
        path = Path(path)
        if (path / STATE).exists() or (path / CONFIG).exists():
            try:
                Run(path)
            except RunError:  # another tool's config.json (a checkpoint folder), or a damaged run
                found = CONFIG if (path / CONFIG).exists() else STATE
                raise RunError(f"{path} holds a {found} that is not a zoo run's; pick another --out") from None
            with contextlib.suppress(RunError):  # BusyError while another process trains it (read-only: no matter)
                Run(path).check_idle()
            raise RunError(f"{path} already holds a run; resume it (`zoo train --resume {path}`) or pick --out")
        if path.exists() and not path.is_dir():
            raise RunError(f"{path} exists and is not a directory; pick another --out")
        if path.is_symlink() and not path.exists():
            target = os.readlink(path)
            raise RunError(f"{path} is a symbolic link to {target}, which does not exist; pick another --out")
        return path

    @classmethod
    def finished(cls, run: str | os.PathLike[str] | Run) -> Run:
        """The run at ``run`` (or ``run`` itself), checked to be complete; :class:`RunError` otherwise.

        >>> Run.finished("runs/demo/run").complete
        True
        """
        run = run if isinstance(run, Run) else cls(run)
        if not run.complete:
            raise RunError(f"{run.path} is not finished: resume it (`zoo train --resume {run.path}`) first")
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

    @staticmethod
    def default_path(backbone: str) -> Path:
        """``runs/<backbone>-<time>``, the directory a run gets when no ``out`` is given (``create(unique=True)``
        adds ``-2``, ``-3``... when another run took it in the same second)."""
        return Path("runs") / f"{backbone}-{datetime.datetime.now():%Y%m%d-%H%M%S}"

    # -- configuration ---------------------------------------------------------------------------
    @property
    def train_config(self) -> TrainConfig:
        """The options the run was started with."""
        try:
            return TrainConfig(**self._config["train"])
        except TypeError as err:  # an option another version of the zoo wrote
            raise RunError(f"{self.path / CONFIG} holds options this version of the zoo does not know: {err}") from None
        except ConfigError as err:  # a hand-edited value
            raise RunError(f"{self.path / CONFIG} holds an option the zoo cannot use: {err}") from None

    @property
    def model_config(self) -> ModelConfig:
        """The model's record as the run started (labels included)."""
        try:
            return ModelConfig.from_dict(self._config["model"])
        except (TypeError, ValueError, KeyError) as err:  # a hand-edited or foreign record
            raise RunError(f"{self.path / CONFIG} has a damaged model record ({err}); the run cannot be read") from None

    @property
    def data_sources(self) -> dict[str, str | None]:
        """``{"train": ..., "val": ...}``: absolute paths, or ``"<arrays>"`` for in-memory data."""
        return dict(self._config["data"])

    @staticmethod
    def describe_source(data: Any) -> str | None:
        """How ``config.json`` records a data source: a path made absolute, ``"<arrays>"`` for ``(x, y)`` arrays,
        ``"<dataset>"`` for a :class:`zoo.data.Dataset` (in-memory data: nothing to read again), ``None`` for none.

        >>> Run.describe_source(([0], [1])), Run.describe_source(None)
        ('<arrays>', None)
        """
        if data is None:
            return None
        if isinstance(data, (str, os.PathLike)):
            return str(Path(data).resolve())
        return ARRAYS if isinstance(data, tuple) else DATASET

    @property
    def trained_in_memory(self) -> bool:
        """Whether the run's training data was given in memory (or not recorded): none to read again."""
        return _in_memory(self.data_sources.get("train"))

    @functools.cached_property
    def spec(self) -> dict[str, Any]:
        """The backbone's spec as JSON (``BackboneSpec.to_dict()``), read once."""
        return _read_json(self.path / SPEC)

    @property
    def task(self) -> str:
        return self.model_config.task

    @functools.cached_property
    def class_names(self) -> tuple[str, ...]:
        """The labels in output order, from ``labels.json``: :class:`RunError` when they are not the ones the run
        recorded when it trained (an edited file would rename every prediction)."""
        names = _read_json(self.path / LABELS)
        recorded = self._config["model"].get("class_names")
        if not isinstance(names, list) or (recorded is not None and names != list(recorded)):
            raise _labels_changed(self.path, names, recorded)
        return tuple(names)

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
        trained from in-memory data has nothing to read: :class:`RunError`.

        >>> train, val = Run("runs/demo/run").read_data()
        >>> len(train), len(val)
        (24, 8)
        """
        from zoo.data import load_dataset, split

        sources, names = self.data_sources, self.class_names or None
        if self.trained_in_memory:
            raise RunError(f"{self.path} was trained from in-memory data ({sources.get('train')}): there is no "
                           "training data to read again; pass the data yourself")  # fmt: skip
        train = load_dataset(sources["train"], task=self.task, class_names=names, progress=progress)  # type: ignore[arg-type]
        if sources.get("val") is None:
            config = self.train_config
            return split(train, config.val_fraction, config.seed)
        if _in_memory(sources["val"]):
            raise RunError(f"{self.path} was validated on in-memory data: there is no validation data to read again")
        return train, load_dataset(sources["val"], task=self.task, class_names=names, progress=progress)  # type: ignore[arg-type]

    def export_path(self, format: str, quantize: str | None = None) -> Path:
        """Where ``zoo export`` writes ``format`` when no ``--out`` is given: ``exports/<format>[-<quantize>]``.

        >>> Run("runs/demo/run").export_path("tflite", "int8")
        PosixPath('runs/demo/run/exports/tflite-int8')
        """
        return self.path / EXPORTS / (f"{format}-{quantize}" if quantize else format)

    # -- state and checkpoints -------------------------------------------------------------------
    def read_state(self) -> RunState:
        """Where training stands (``state.json``): :class:`RunState`."""
        return RunState.from_dict(_read_json(self.path / STATE), self.path / STATE)

    def save_state(self, state: RunState) -> None:
        files.write_json(self.path / STATE, state.to_dict())

    @property
    def complete(self) -> bool:
        return (self.path / STATE).exists() and self.read_state().complete

    def _checkpoint(self, name: str) -> Path:
        return self.path / CHECKPOINTS / name

    @property
    def has_checkpoints(self) -> bool:
        """Whether an epoch of training was saved (a checkpoint of some phase exists)."""
        return any((self.path / CHECKPOINTS).glob(f"{_PHASE_PREFIX}*"))

    def save_epoch(self, model: keras.Model, phase: int) -> None:
        """Keep ``model``'s weights as they are at the end of an epoch of ``phase``."""
        self._write_weights(model, self._checkpoint(_EPOCH_WEIGHTS.format(phase)))

    def load_epoch(self, model: keras.Model, phase: int) -> None:
        """Set ``model``'s weights to those :meth:`save_epoch` kept for ``phase``."""
        self._read_weights(model, self._checkpoint(_EPOCH_WEIGHTS.format(phase)))

    def save_head(self, head: keras.Model) -> None:
        """Keep the head as phase 1 left it."""
        self._write_weights(head, self._checkpoint(_HEAD))

    def load_head(self, head: keras.Model) -> None:
        self._read_weights(head, self._checkpoint(_HEAD))

    def save_best(self, phase: int, weights: Sequence[np.ndarray]) -> None:
        """Keep the best weights of ``phase`` so far (early stopping restores them)."""
        self._write_arrays(self._checkpoint(_BEST.format(phase)), weights)

    def load_best(self, phase: int) -> list[np.ndarray] | None:
        """The weights :meth:`save_best` kept for ``phase``; ``None`` before any."""
        return self._read_arrays(self._checkpoint(_BEST.format(phase)))

    def save_optimizer(self, phase: int, values: Sequence[np.ndarray]) -> None:
        """Keep the optimizer's variables at the end of an epoch of ``phase``."""
        self._write_arrays(self._checkpoint(_OPTIMIZER.format(phase)), values)

    def load_optimizer(self, phase: int) -> list[np.ndarray] | None:
        return self._read_arrays(self._checkpoint(_OPTIMIZER.format(phase)))

    def _write_weights(self, model: keras.Model, path: Path) -> None:
        files.ensure_space(path, _nbytes(model.weights))  # h5py crashes on a full disk: check first
        with files.atomic_path(path) as tmp:
            model.save_weights(tmp)

    def _read_weights(self, model: keras.Model, path: Path) -> None:
        try:
            model.load_weights(path)
        except OSError as err:  # h5py: a truncated or overwritten file
            raise _damaged(path, err) from None
        except ValueError as err:  # Keras: other variables than the model's (another version of the zoo)
            raise RunError(
                f"{path} does not fit the model ({str(err).splitlines()[0]}): it was written for another model, "
                "or by another version of the zoo; start the run again"
            ) from None

    def _write_arrays(self, path: Path, arrays: Sequence[np.ndarray]) -> None:
        files.ensure_space(path, _nbytes(arrays))
        with files.atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, *arrays)

    def _read_arrays(self, path: Path) -> list[np.ndarray] | None:
        if not path.exists():
            return None
        try:
            with np.load(path) as data:
                return [data[f"arr_{i}"] for i in range(len(data.files))]
        except (OSError, ValueError, zipfile.BadZipFile) as err:
            raise _damaged(path, err) from None

    def save_start(self, model: keras.Model) -> None:
        """Keep the model the run starts from, so a resume starts from the very same weights."""
        save_model(model, self._checkpoint(START))

    def load_start(self) -> keras.Model | None:
        return load_model(self._checkpoint(START)) if self._checkpoint(START).exists() else None

    def remove_orphans(self) -> None:
        """Delete the temporary files a writer of this run left when it died (its one writer calls this)."""
        for folder in (self.path, self.path / CHECKPOINTS):
            for orphan in files.orphans(folder) if folder.is_dir() else ():
                orphan.unlink(missing_ok=True)

    def discard(self) -> None:
        """Remove a run that failed before its first checkpoint: its directory if this run made it."""
        if self.has_checkpoints:
            return
        if self._made:
            shutil.rmtree(self.path, ignore_errors=True)
        else:
            for name in (CONFIG, SPEC, LABELS, STATE, SKIPPED):
                (self.path / name).unlink(missing_ok=True)
            shutil.rmtree(self.path / CHECKPOINTS, ignore_errors=True)

    # -- the model and the results ---------------------------------------------------------------
    @property
    def model(self) -> keras.Model:
        """The trained model (loaded from ``model.keras`` on first use)."""
        if self._model is None:
            model = load_model(self.path / MODEL)
            if list(model.zoo_config.class_names) != list(self.class_names):
                raise _labels_changed(self.path, list(self.class_names), list(model.zoo_config.class_names))
            self._model = model
        return self._model

    @property
    def load_requirements(self) -> list[str]:
        """The distributions that must be installed to load ``model.keras`` (see :func:`load_requirements`).

        Recorded in ``config.json`` when the run finished; read from ``model.keras`` for a run finished before.
        ``card.ZOO_DISTRIBUTION`` among them means ``zoo.load_model`` is needed; without it, plain
        ``keras.saving.load_model`` loads the model.

        >>> Run("runs/demo/run").load_requirements  # plain Keras layers: keras.saving.load_model loads it
        ['keras']
        """
        recorded = self._config.get(REQUIREMENTS)
        if recorded is None:
            if not (self.path / MODEL).is_file():
                raise RunError(f"{self.path} is not finished: no {MODEL} (resume it with `zoo train --resume`)")
            return load_requirements(self.path / MODEL)
        return list(recorded)

    def write_skipped(self, skipped: Sequence[tuple[str, str]]) -> None:
        files.write_json(self.path / SKIPPED, [{"path": str(p), "reason": str(r)} for p, r in skipped])

    @property
    def skipped_path(self) -> Path:
        """The file that lists the inputs left out as unreadable."""
        return self.path / SKIPPED

    @property
    def skipped(self) -> list[dict[str, str]]:
        """The inputs left out as unreadable: ``[{"path", "reason"}, ...]``."""
        path = self.path / SKIPPED
        return _read_json(path) if path.exists() else []

    def finish(
        self,
        model: keras.Model,
        metrics: Mapping[str, Any],
        history: Sequence[Mapping[str, Any]],
        summary: DataSummary,
    ) -> None:
        """Write the model and every report, then mark the run complete and drop its checkpoints.

        ``model.keras`` is loaded back before anything else: a file that does not load (a full disk, a
        failing device) raises here, and the checkpoints stay for ``zoo train --resume`` to write it again.
        """
        save_model(model, self.path / MODEL)
        load_model(self.path / MODEL)  # verified before the checkpoints go
        self._model = model
        requirements = load_requirements(self.path / MODEL)
        # as trained: labels, opened blocks; and what loading model.keras needs, for the card and exports
        self._config = {**self._config, "model": model.zoo_config.to_dict(), REQUIREMENTS: requirements}
        files.write_json(self.path / CONFIG, self._config)
        files.write_json(self.path / METRICS, dict(metrics))
        write_history_csv(history, self.path / HISTORY)
        plots.plot_learning_curves(history, self.path / CURVES)
        names = self.class_names
        if "confusion_matrix" in metrics:
            plots.plot_confusion_matrix(metrics["confusion_matrix"], names, self.path / CONFUSION)
        model_config = model.zoo_config
        built = ("task", "head", "hidden", "dropout", "standardize", "weights", "unfrozen")
        card.write_model_card(
            self.path / CARD,
            name=self.path.name,
            spec={**self.spec, "input_shape": list(model_config.input_shape)},
            config={
                **self.train_config.to_dict(),
                **{k: getattr(model_config, k) for k in built},  # as built
                **self.data_sources,
            },
            metrics=metrics,
            class_names=names,
            task=model_config.task,
            data_summary=summary.rows(),
            texts_cut=summary.texts_cut,
            history=history,
            load_requirements=requirements,
        )
        self.save_state(dataclasses.replace(self.read_state(), complete=True, summary=summary))
        shutil.rmtree(self.path / CHECKPOINTS, ignore_errors=True)

    @property
    def metrics(self) -> dict[str, Any]:
        """The validation metrics (``metrics.json``) of a complete run."""
        if not (self.path / METRICS).exists():
            raise RunError(f"{self.path} is not finished: no {METRICS} (resume it with `zoo train --resume`)")
        return _read_json(self.path / METRICS)

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

    @property
    def writes(self) -> bool:
        return False

    def _write_weights(self, model: keras.Model, path: Path) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            model.save_weights(Path(scratch) / path.name)

    def save_start(self, model: keras.Model) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            save_model(model, Path(scratch) / START)

    def save_state(self, state: RunState) -> None:
        pass

    def _write_arrays(self, path: Path, arrays: Sequence[np.ndarray]) -> None:
        pass

    def write_skipped(self, skipped: Sequence[tuple[str, str]]) -> None:
        pass

    def discard(self) -> None:
        pass

    def finish(self, model: keras.Model, *args: Any, **kwargs: Any) -> None:
        pass


def save_model(model: keras.Model, path: str | os.PathLike[str]) -> Path:
    """Save ``model`` as a ``.keras`` file, with its :class:`ModelConfig` inside when it has one.

    Keras loads the file by itself (it ignores the extra members); :func:`load_model` also restores
    ``model.zoo_config``, so the model can be trained again (``zoo.train`` compiles it afresh). The file is
    what gets deployed: it holds no optimizer state (Adam's doubles a fine-tuned model's trainable weights)
    and no compile settings; the run's checkpoints keep the optimizer for a resume. The files outside the
    archive that the model reads when loaded (a SavedModel, as its plugin's ``external_files`` hook names
    them) are recorded by SHA-256: the trust record, which lets :func:`load_model` load them in another process.

    >>> import zoo
    >>> save_model(zoo.build("tiny_image", num_classes=2, weights=None), "m.keras")
    PosixPath('m.keras')
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise RunError(f"a zoo model is saved as a .keras file, got {path}")
    files.ensure_space(path, _nbytes(model.weights))
    with files.atomic_path(path) as tmp:
        with _without_training_state(model):
            model.save(tmp)
        config = getattr(model, "zoo_config", None)
        trusted = {name: _sha256_tree(name) for name in _external_files(model)}
        with zipfile.ZipFile(tmp, "a") as archive:
            if config is not None:
                archive.writestr(CONFIG_MEMBER, json.dumps(config.to_dict()))
            if trusted:
                archive.writestr(TRUST_MEMBER, json.dumps(trusted))
    return path


@contextlib.contextmanager
def _without_training_state(model: keras.Model) -> Any:
    """``model`` as if never compiled while it is saved: Keras then writes neither optimizer nor compile config.

    Keras 3 has no ``include_optimizer`` for ``.keras`` files: it saves the ``optimizer`` attribute's variables
    and, while ``compiled``, the compile config, of the model and of every model nested in it (the trainer
    compiles the head alone for phase 1). They are set aside in the instances' own attributes (no tracking
    touched) and put back, so a model still being trained goes on with its optimizer.
    """
    kept: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for part in _parts(model):
        state = vars(part)
        if state.get("optimizer") is not None or state.get("compiled"):
            kept.append((state, {name: state[name] for name in ("optimizer", "compiled") if name in state}))
            state.update(optimizer=None, compiled=False)
    try:
        yield model
    finally:
        for state, values in kept:
            state.pop("optimizer", None)
            state.pop("compiled", None)
            state.update(values)


def _parts(model: keras.Model) -> list[Any]:
    """``model`` and every layer inside it, nested models' layers included, each once."""
    found: dict[int, Any] = {}
    layers = [model]
    while layers:
        layer = layers.pop(0)
        if id(layer) not in found:
            found[id(layer)] = layer
            layers.extend(getattr(layer, "layers", ()))
    return list(found.values())


def load_requirements(model: keras.Model | str | os.PathLike[str]) -> list[str]:
    """The distributions that must be installed to load ``model`` (a model, a ``.keras`` file or a run), sorted.

    Always ``keras``. Then the classes in the model's Keras config: those of keras-hub, keras-cv or
    keras-nlp name their distribution (Keras imports their modules by itself, once installed); a class of
    any other package names the installed distribution that provides it (``packages_distributions``) and
    ``backbone-zoo``, whose ``zoo.load_model`` registers such classes (the zoo's text layers, a plugin's
    layer through ``register_keras_objects``). Without ``backbone-zoo`` in the list, plain
    ``keras.saving.load_model`` loads the model. A file or run is read without importing Keras.

    >>> load_requirements("runs/demo/run")
    ['keras']
    >>> import zoo
    >>> load_requirements(zoo.backbone("mobilenet_v3_small_kerascv", weights=None, input_shape=32))
    ['keras', 'keras-cv']
    """
    if isinstance(model, (str, os.PathLike)):
        path = Path(model) / MODEL if Path(model).is_dir() else Path(model)
        try:
            with zipfile.ZipFile(path) as archive:
                config = json.loads(archive.read("config.json"))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
            raise _damaged(path, err) from None
    else:
        import keras

        config = keras.saving.serialize_keras_object(model)
    distributions = importlib.metadata.packages_distributions()
    needed = {"keras"}
    for package in _packages(config, distributions):
        needed.update(distributions.get(package) or [package])  # not installed from a distribution: its name
        if package not in KERAS_IMPORTS:
            needed.add(card.ZOO_DISTRIBUTION)
    return sorted(needed)


def _packages(config: Any, installed: Mapping[str, Any]) -> set[str]:
    """The top-level packages of the modules named in a Keras config (``{"module", "class_name", ...}``).

    A registered function is saved under the module ``builtins`` with its registered name as config
    (``"keras_hub>gelu_approximate"``): its package is that name's prefix, when a package has that name.

    >>> sorted(_packages({"module": "keras.layers", "class_name": "Dense", "config": {"activation": {
    ...     "module": "builtins", "class_name": "function", "config": "keras_hub>gelu_approximate"}}}, {}))
    ['keras', 'keras_hub']
    """
    found: set[str] = set()
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            module, inner = item.get("module"), item.get("config")
            if module == "builtins" and isinstance(inner, str) and ">" in inner:
                prefix = inner.split(">")[0]
                found.update([prefix] if prefix in KERAS_IMPORTS or prefix in installed else [])
            elif isinstance(module, str) and module != "builtins" and "class_name" in item:
                found.add(module.split(".")[0])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _external_files(model: keras.Model) -> list[str]:
    """The files outside the archive that ``model``'s layers read when loaded, absolute, each once."""
    from zoo.plugins import registry

    found: dict[str, None] = {}
    for layer in _parts(model)[1:]:
        found.update((str(Path(name).expanduser().resolve()), None) for name in registry().external_files(layer))
    return list(found)


def _trusted(path: Path, archive: zipfile.ZipFile) -> list[str]:
    """The external files ``path`` recorded, each checked against its SHA-256; :class:`RunError` if one changed."""
    if TRUST_MEMBER not in archive.namelist():
        return []
    try:
        recorded: dict[str, str] = dict(json.loads(archive.read(TRUST_MEMBER)))
    except (OSError, ValueError, TypeError, zipfile.BadZipFile) as err:
        raise _damaged(path, err) from None
    for name, digest in recorded.items():
        if not Path(name).exists():
            raise RunError(
                f"{path} reads {name}, which is missing: put back the files it was trained with "
                "(it loads only while their SHA-256 matches), or train again"
            )
        if _sha256_tree(name) != digest:
            raise RunError(
                f"{path} reads {name}, which changed since the model was saved (SHA-256 {digest[:12]}... recorded): "
                "restore the files it was trained with, or train again on the new ones"
            )
    return list(recorded)


def load_model(path: str | os.PathLike[str]) -> keras.Model:
    """Load a model the zoo saved (a ``.keras`` file or a run directory), with Keras' safe mode on.

    Image models load with ``keras.saving.load_model`` alone, even where the zoo is not installed;
    text models need the zoo's layers, which this registers, and the plugins' own classes come from
    their ``register_keras_objects`` hook. External files the model reads (a SavedModel) load only
    while their SHA-256 matches the trust record :func:`save_model` wrote (:class:`RunError` when not);
    safe mode stays on for everything else. ``model.zoo_config`` is restored, so
    ``zoo.train(load_model(run), data)`` continues training it. A config that safe mode refuses (a class or
    function outside Keras and the plugins, a lambda), a damaged ``zoo.json``, or a block pattern outside the
    bounded language of ``zoo.plugins.block_pattern_refusal`` (unless it is the pattern its installed
    backbone declares) is a one-line :class:`RunError`, before anything runs.

    >>> model = load_model("runs/demo/run")
    >>> model.zoo_config.backbone, model.output_shape
    ('tiny_image', (None, 4))
    """
    import keras

    import zoo.layers  # noqa: F401  (text models use the zoo's layers)

    path = Path(path)
    if path.is_dir():
        path = path / MODEL
    if not path.is_file():
        raise RunError(f"No saved model at {path}: is this a finished run directory?")
    if not zipfile.is_zipfile(path):  # Keras calls a damaged archive "File not found"
        raise RunError(
            f"{path} is damaged (not a complete .keras archive: truncated or overwritten); restore it from a copy, "
            "or train again (an unfinished run writes it again with `zoo train --resume RUN`)"
        )
    from zoo.plugins import registry

    with zipfile.ZipFile(path) as archive:
        trusted = _trusted(path, archive)
        zoo_config = _zoo_config(path, archive)
    classes = registry().keras_objects(trusted)
    try:
        # compile=False: the zoo never uses a loaded model's training state (train() compiles afresh). Compiling
        # would rebuild the saved optimizer for every variable trainable on load, which after fine-tuning a
        # keras-hub network (whose sublayers come back all trainable) is more than were saved, and Keras
        # warns "Skipping variable loading for optimizer ...".
        custom_objects = {keras.saving.get_registered_name(c): c for c in classes}
        model = keras.saving.load_model(path, custom_objects=custom_objects, safe_mode=True, compile=False)
    except Exception as err:  # Keras reports a damaged file, or what its safe mode refuses, as many types
        raise _load_error(path, err) from err
    if zoo_config is not None:
        model.zoo_config = zoo_config
    return model


def _zoo_config(path: Path, archive: zipfile.ZipFile) -> ModelConfig | None:
    """The :class:`ModelConfig` inside ``path`` (``None`` without one), checked before Keras reads anything.

    A damaged ``zoo.json`` is a :class:`RunError`, and so is a block pattern that matching could spend hours
    on: one outside ``zoo.plugins.block_pattern_refusal``'s language, unless its backbone, installed,
    declares it (a plugin's own pattern is code the user installed).
    """
    from zoo.plugins import block_pattern_refusal, registry

    if CONFIG_MEMBER not in archive.namelist():
        return None
    try:
        config = ModelConfig.from_dict(json.loads(archive.read(CONFIG_MEMBER)))
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as err:
        raise RunError(
            f"{path}: its {CONFIG_MEMBER} is damaged ({type(err).__name__}: {first_line(err)}); restore the file from "
            "a copy, or train again"
        ) from None
    pattern, declared = config.block_pattern, None
    if pattern is not None and isinstance(config.backbone, str):
        with contextlib.suppress(ZooError):  # not installed (or declared twice): its pattern must prove itself
            declared = registry().get(config.backbone).block_pattern
    reason = block_pattern_refusal(pattern) if pattern is not None and pattern != declared else None
    if reason:
        raise RunError(
            f"{path}: the zoo refuses its block_pattern {pattern!r}: it {reason}, so matching it against layer "
            f"names could run for hours (it is not the pattern of an installed {config.backbone!r}: the file was "
            "edited or made elsewhere)"
        )
    return config


def _load_error(path: Path, err: Exception) -> RunError:
    """One line for a model Keras did not load: what its safe mode refused (a class or function outside Keras
    and the installed plugins, a lambda; Keras wraps the reason in a ``TypeError``), else the error itself."""
    chain = [err]
    while (cause := chain[-1].__cause__ or chain[-1].__context__) is not None and cause not in chain:
        chain.append(cause)  # type: ignore[arg-type]
    if not isinstance(err, (TypeError, RecursionError)) and not any(re.search("safe[ _]mode", str(e)) for e in chain):
        return RunError(f"Cannot load {path}: {type(err).__name__}: {first_line(err)}")
    reason = first_line(chain[-1]).split(". ")[0].rstrip(",.")
    return RunError(
        f"{path}: refused by Keras' safe mode ({reason}); a zoo model names only Keras' classes and those of "
        "installed plugins, so this file was edited, made elsewhere, or needs a plugin that is not installed"
    )


def _sha256_tree(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file, or of a directory's regular files (their relative paths and contents, in order).

    >>> folder = Path(tempfile.mkdtemp()); _ = (folder / "a").write_text("x"); before = _sha256_tree(folder)
    >>> _ = (folder / "a").write_text("y"); _sha256_tree(folder) == before
    False
    """
    root = Path(path)
    members = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    digest = hashlib.sha256()
    for member in members:
        content = hashlib.sha256()
        with open(member, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                content.update(block)
        digest.update(member.relative_to(root).as_posix().encode() + b"\0" + content.digest())
    return digest.hexdigest()


def _damaged(path: Path, err: BaseException) -> RunError:
    """The one error for a checkpoint that cannot be read back."""
    return RunError(f"{path} is damaged ({type(err).__name__}): this run cannot resume from it; start it again")


def _nbytes(arrays: Sequence[Any]) -> int:
    """The bytes of arrays or Keras variables (what writing them takes, before the file format's own)."""
    return sum(int(np.prod(a.shape)) * np.dtype(str(a.dtype)).itemsize for a in arrays)


def _labels_changed(path: Path, names: Any, trained: Any) -> RunError:
    return RunError(
        f"{path / LABELS} says {names!r:.200}, but the run was trained with {trained!r:.200}: the file was changed "
        f"after training and would rename the predictions; put back {json.dumps(trained)[:200]}"
    )


def _make_unique(base: Path) -> tuple[Path, bool]:
    """``base``, or ``base-2``, ``base-3``..., whichever this process makes first: ``(path, True)``."""
    number = 1
    while True:
        path = base if number == 1 else base.with_name(f"{base.name}-{number}")
        try:
            path.mkdir(parents=True)
            return path, True
        except FileExistsError:
            number += 1


def _in_memory(source: str | None) -> bool:
    """Whether a recorded data source is in-memory data (or none): nothing to read again."""
    return not source or source in (ARRAYS, DATASET)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{path.parent} is missing {path.name}: not a complete run directory") from None
    except (OSError, ValueError) as err:
        raise RunError(f"{path} cannot be read ({err}); the run directory is damaged") from None
