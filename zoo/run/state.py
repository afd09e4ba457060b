"""The records of ``state.json``: where a run's training stands (:class:`RunState`), early stopping's count
(:class:`StopState`) and, once the run is complete, the counts of the data it saw (:class:`DataSummary`)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.errors import RunError
from zoo.run.layout import STATE

if TYPE_CHECKING:
    from zoo.data.dataset import Dataset


def data_identity(train: Dataset, val: Dataset) -> str:
    """What ``state.json`` records as a run's data: a key of its training and validation examples (their contents,
    in the run's split; the labels beside them are keyed apart). Its format is its own: runs keep their key when
    the feature cache's changes (the key was first the cache's, of format 1).

    >>> import numpy as np
    >>> from zoo.data import load_dataset
    >>> pixels = np.arange(192, dtype="uint8").reshape(4, 4, 4, 3)
    >>> train, val = load_dataset((pixels[:2], [0, 1])), load_dataset((pixels[2:], [0, 1]))
    >>> data_identity(train, val) == data_identity(train, load_dataset((pixels[2:] // 2, [0, 1])))
    False
    """
    text = json.dumps({"format": 1, "train": list(train.digests), "val": list(val.digests)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclasses.dataclass(frozen=True)
class DataSummary:
    """Counts of the data a run saw, recorded when it finishes (``Run.data_summary``).

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
