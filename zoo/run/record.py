"""What a run started with: its options, the model's record and the data sources (``config.json``), the backbone's
spec (``spec.json``) and the labels (``labels.json``)."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import files
from zoo.config import ModelConfig, TrainConfig
from zoo.errors import ConfigError, RunError, ZooError, first_line
from zoo.run.layout import ARRAYS, CONFIG, DATASET, LABELS, RECORDS, REQUIREMENTS, SPEC, in_memory, read_json

if TYPE_CHECKING:
    from zoo.data import Dataset


def describe_source(data: Any) -> str | None:
    """How ``config.json`` records a data source: a path made absolute, ``"<arrays>"`` for ``(x, y)`` arrays,
    ``"<dataset>"`` for a :class:`zoo.data.Dataset` (in-memory data: nothing to read again), ``None`` for none.

    >>> describe_source(([0], [1])), describe_source(None)
    ('<arrays>', None)
    """
    if data is None:
        return None
    if isinstance(data, (str, os.PathLike)):
        return str(Path(data).resolve())
    return ARRAYS if isinstance(data, tuple) else DATASET


class Record:
    """The records of the run directory at ``run_path`` (:class:`RunError` if it holds no run). ``config.json`` is
    rewritten once, when the run finishes: the model's record as trained, and what loading ``model.keras`` needs."""

    def __init__(self, run_path: Path) -> None:
        self.run_path = run_path
        self.config_file = run_path / CONFIG
        self._config = read_config(run_path)

    @staticmethod
    def write(
        run_path: Path,
        train: TrainConfig,
        model: ModelConfig,
        spec: Mapping[str, Any],
        data: Mapping[str, str | None],
    ) -> None:
        """Write the records of a new run at ``run_path``."""
        files.write_json(run_path / CONFIG, {"train": train.to_dict(), "model": model.to_dict(), "data": dict(data)})
        files.write_json(run_path / SPEC, dict(spec))
        files.write_json(run_path / LABELS, list(model.class_names))

    @property
    def train_config(self) -> TrainConfig:
        try:
            return TrainConfig(**self._config["train"])
        except TypeError as err:  # an option another version of the zoo wrote
            raise RunError(f"{self.config_file} holds options this version of the zoo does not know: {err}") from None
        except ConfigError as err:  # a hand-edited value
            raise RunError(f"{self.config_file} holds an option the zoo cannot use: {err}") from None

    @property
    def model_config(self) -> ModelConfig:
        try:
            return ModelConfig.from_dict(self._config["model"])
        except (TypeError, ValueError, KeyError) as err:  # a hand-edited or foreign record
            raise RunError(f"{self.config_file} has a damaged model record ({err}); the run cannot be read") from None

    @property
    def data_sources(self) -> dict[str, str | None]:
        return dict(self._config["data"])

    @functools.cached_property
    def spec(self) -> dict[str, Any]:
        """The backbone's spec as the run started, checked to be one (a hand edit can leave ``{}`` or ``null``)."""
        from zoo.spec import BackboneSpec

        spec = read_json(self.run_path / SPEC)
        problem = None if isinstance(spec, dict) else f"{json.dumps(spec)[:40]}, not a backbone's spec"
        try:
            if problem is None:
                BackboneSpec.from_dict(spec)
        except (ZooError, TypeError, ValueError, AttributeError) as err:
            problem = first_line(err)
        if problem is not None:
            raise RunError(f"{self.run_path / SPEC} is damaged ({problem}): it was changed after training; put it "
                           "back, or train the run again")  # fmt: skip
        return spec  # type: ignore[no-any-return]

    @functools.cached_property
    def class_names(self) -> tuple[str, ...]:
        """The labels of ``labels.json``, checked against those the run recorded in ``config.json``."""
        names = read_json(self.run_path / LABELS)
        recorded = self._config["model"].get("class_names")
        if not isinstance(names, list) or (recorded is not None and names != list(recorded)):
            raise labels_changed(self.run_path, names, recorded)
        return tuple(names)

    @property
    def trained_in_memory(self) -> bool:
        return in_memory(self.data_sources.get("train"))

    def read_data(self, progress: bool | None) -> tuple[Dataset, Dataset]:
        """The training and validation sets as the run used them (the same split), read again from their sources."""
        from zoo.data import load_dataset, split

        sources, names, task = self.data_sources, self.class_names or None, self.model_config.task
        if self.trained_in_memory:
            raise RunError(f"{self.run_path} was trained from in-memory data ({sources.get('train')}): it has no "
                           "data files to read again")  # fmt: skip
        train = load_dataset(sources["train"], task=task, class_names=names, progress=progress)  # type: ignore[arg-type]
        if sources.get("val") is None:
            config = self.train_config
            return split(train, config.val_fraction, config.seed)
        if in_memory(sources["val"]):
            raise RunError(
                f"{self.run_path} was validated on in-memory data: there is no validation data to read again"
            )
        return train, load_dataset(sources["val"], task=task, class_names=names, progress=progress)  # type: ignore[arg-type]

    @property
    def requirements(self) -> list[str] | None:
        """What loading ``model.keras`` needs, recorded when the run finished (``None`` before, or by an older zoo)."""
        recorded = self._config.get(REQUIREMENTS)
        return None if recorded is None else list(recorded)

    def trained(self, model: ModelConfig, requirements: list[str]) -> None:
        """Record the model as trained (its labels, its opened blocks) and what loading ``model.keras`` needs."""
        self._config = {**self._config, "model": model.to_dict(), REQUIREMENTS: requirements}
        files.write_json(self.config_file, self._config)

    def remove(self) -> None:
        """Delete the records (a run that failed before its first checkpoint, in a directory it did not make)."""
        for name in (CONFIG, SPEC, LABELS):
            (self.run_path / name).unlink(missing_ok=True)


def read_config(path: Path) -> dict[str, Any]:
    """The records of ``path/config.json``; :class:`RunError` if ``path`` holds no run."""
    if not path.exists():
        raise RunError(f"{path} does not exist: give the directory of a run (`zoo train --out`)")
    if not (path / CONFIG).is_file():
        if (path / "saved_model.pb").is_file():  # an export that lost the zoo's metadata.json beside it
            raise RunError(f"{path} is a SavedModel, not a run directory, and holds no zoo metadata.json: export the "
                           "run again (zoo export RUN --format savedmodel)")  # fmt: skip
        raise RunError(f"{path} is not a run directory (no {CONFIG})")
    config = read_json(path / CONFIG)
    if not isinstance(config, dict) or not all(isinstance(config.get(k), dict) for k in RECORDS):
        raise RunError(
            f"{path / CONFIG} is not a zoo run's configuration (it has no {', '.join(map(repr, RECORDS))} "
            "records): give the directory of a run (`zoo train --out`)"
        )
    return config


def labels_changed(path: Path, names: Any, trained: Any) -> RunError:
    """The error for a ``labels.json`` that says other labels than those the run was trained with."""
    return RunError(
        f"{path / LABELS} says {names!r:.200}, but the run was trained with {trained!r:.200}: the file was changed "
        f"after training and would rename the predictions; put back {json.dumps(trained)[:200]}"
    )
