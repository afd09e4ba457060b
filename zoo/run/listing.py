"""Many runs at once: every run directory under a folder, each summed up in one :class:`RunSummary` (``zoo runs``).

Only the runs' JSON records are read (no Keras); a damaged run is listed as damaged, with the reason.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zoo.config import TrainConfig
from zoo.errors import ConfigError, ZooError
from zoo.files import as_path
from zoo.locks import held_elsewhere
from zoo.run.layout import CHECKPOINTS, CONFIG, EXPORTS, METRICS, MODEL, STATE, TENSORBOARD, TRAINING_LOCK
from zoo.run.models import check_archive

STATUSES = ("complete", "training", "stopped", "damaged")
_DEFAULTS = TrainConfig().to_dict()
# options every row shows in its own column (or that say nothing about how it trained)
_NOT_OPTIONS = ("task", "distribution", "tensorboard")


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """One run, as ``zoo runs`` lists it.

    ``options``: the training options that differ from the defaults; ``metrics``: the validation metrics
    (complete runs); ``status``: complete, training (another process holds it now), stopped (``zoo train
    --resume`` goes on; ``where`` says at which epoch) or damaged (``where`` says why); ``updated``:
    when its state was last written.
    """

    path: Path
    status: str
    backbone: str = ""
    task: str = ""
    data: str = ""
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    updated: datetime.datetime | None = None
    where: str = ""

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def shown_status(self) -> str:
        """The status as ``zoo runs`` shows it: a stopped run with where it stopped (``stopped: phase 1, epoch 1``)."""
        return f"{self.status}: {self.where}" if self.status == "stopped" else self.status

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``zoo runs --json``): every field, the path and time as text."""
        record = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        record["path"] = str(self.path)
        record["updated"] = self.updated.isoformat(timespec="seconds") if self.updated else None
        return {"name": self.name, **record}


def find_runs(root: str | os.PathLike[str]) -> list[RunSummary]:
    """Every run directory in ``root`` (itself included, and folders below it), newest first.

    >>> [(run.name, run.status) for run in find_runs("runs/")]
    [('run', 'complete')]
    """
    folder = as_path(root, "root")
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder: give the folder that holds your runs (default: runs)")
    return sorted((summarize(path) for path in _run_dirs(folder)), key=_newest_first)


def summarize(path: Path) -> RunSummary:
    """The :class:`RunSummary` of the run directory ``path``."""
    from zoo.run import Run

    try:
        run = Run(path)
        state, config = run.read_state(), run.train_config
        _records = run.spec, run.class_names  # read: a damaged record is said here, not by the next command
        updated = datetime.datetime.fromtimestamp((path / STATE).stat().st_mtime).astimezone()
        summary = RunSummary(
            path=path,
            status="complete",
            backbone=run.model_config.backbone,
            task=config.task,
            data=(state.data or "")[:8],
            options={k: v for k, v in config.to_dict().items() if v != _DEFAULTS[k] and k not in _NOT_OPTIONS},
            updated=updated,
        )
        if state.complete:
            check_archive(path)  # a finished run's model.keras deleted or cut short: damaged, not complete
            metrics = {k: v for k, v in run.metrics.items() if isinstance(v, (int, float))}
            return dataclasses.replace(summary, metrics=metrics)
        status = "training" if held_elsewhere(path / TRAINING_LOCK) else "stopped"
        return dataclasses.replace(summary, status=status, where=f"phase {state.phase}, epoch {state.epoch}")
    except (ZooError, OSError, ValueError, KeyError, TypeError) as err:
        return RunSummary(path=path, status="damaged", where=str(err).splitlines()[0] if str(err) else repr(err))


def _run_dirs(root: Path) -> Iterator[Path]:
    """The folders under ``root`` that hold a run's config.json beside its state, checkpoints or model (one that
    lost a file is listed, as damaged), not looking inside a run's own folders."""
    for folder, subfolders, names in os.walk(root):
        if CONFIG in names and (CHECKPOINTS in subfolders or {STATE, MODEL, METRICS} & set(names)):
            yield Path(folder)
            subfolders[:] = [s for s in subfolders if s not in (CHECKPOINTS, EXPORTS, TENSORBOARD)]
        subfolders.sort()


def _newest_first(run: RunSummary) -> tuple[float, str]:
    return (-(run.updated.timestamp() if run.updated else 0.0), str(run.path))
