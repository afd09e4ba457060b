"""What a run leaves for its user: the inputs it skipped, then, once trained, the model and every report."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import card, files, plots
from zoo.errors import RunError
from zoo.history import write_history_csv
from zoo.metrics import metrics_problem
from zoo.run.layout import (
    CARD,
    CONFIG,
    CONFUSION,
    CURVES,
    HISTORY,
    LABELS,
    METRICS,
    MODEL,
    SKIPPED,
    SPEC,
    STATE,
    read_json,
)
from zoo.run.models import load_model, load_requirements, save_model
from zoo.run.record import labels_changed
from zoo.run.state import DataSummary

if TYPE_CHECKING:
    import keras

    from zoo.config import ModelConfig
    from zoo.run import Run


class Results:
    """The results of ``run``: ``skipped.json``, written as training starts; ``model.keras``, ``metrics.json``,
    the history, the plots and the model card, written when it finishes. The Run reads them (``run.model``...)."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self._model: Any = None

    @property
    def model(self) -> keras.Model:
        if self._model is None:
            model, names = load_model(self.run.path / MODEL), list(self.run.class_names)
            found, recorded = _described(model.zoo_config), _described(self.run.model_config)
            if found != recorded:  # another run's model.keras copied over this one's
                raise RunError(f"{self.run.path / MODEL} is not this run's model: it is {found}, where {CONFIG} "
                               f"says {recorded}; it was replaced after training: put back the run's own")  # fmt: skip
            if list(model.zoo_config.class_names) != names:
                raise labels_changed(self.run.path, names, list(model.zoo_config.class_names))
            self._model = model
        return self._model

    @property
    def load_requirements(self) -> list[str]:
        recorded = self.run.record.requirements
        if recorded is None:  # a run finished by an older zoo, or not finished
            if not (self.run.path / MODEL).is_file():
                raise RunError(f"{self.run.path} is not finished: no {MODEL} (resume it with `zoo train --resume`)")
            return load_requirements(self.run.path / MODEL)
        return recorded

    @property
    def metrics(self) -> dict[str, Any]:
        if not (self.run.path / METRICS).exists():
            raise RunError(f"{self.run.path} is not finished: no {METRICS} (resume it with `zoo train --resume`)")
        metrics = read_json(self.run.path / METRICS)
        problem = metrics_problem(metrics, self.run.class_names)
        if problem:
            raise RunError(f"{self.run.path / METRICS} is damaged ({problem}): it was changed after training; put "
                           "it back, or train the run again")  # fmt: skip
        return metrics  # type: ignore[no-any-return]

    @property
    def skipped_path(self) -> Path:
        return self.run.path / SKIPPED

    @property
    def card_path(self) -> Path:
        """The model card (Markdown), written when the run finishes."""
        return self.run.path / CARD

    @property
    def skipped(self) -> list[dict[str, str]]:
        return read_json(self.skipped_path) if self.skipped_path.exists() else []

    def reports(self) -> list[Path]:
        """The run's records and reports that exist, for a tracker to keep: config, spec, labels, metrics, history,
        plots, the card and the skipped inputs (not the model, nor the checkpoints)."""
        names = (CONFIG, SPEC, LABELS, METRICS, HISTORY, CURVES, CONFUSION, CARD, SKIPPED)
        return [self.run.path / name for name in names if (self.run.path / name).is_file()]

    def copy_for_inference(self, target: Path) -> Path:
        """Copy what predicting with the finished run needs (its records, state and ``model.keras``; no checkpoint,
        no report) into a new directory ``target``, which ``zoo.Run`` and ``zoo.predict`` then open as the run."""
        target.mkdir(parents=True)
        for name in (CONFIG, SPEC, LABELS, STATE, METRICS, MODEL):
            shutil.copy2(self.run.path / name, target / name)
        return target

    def write_skipped(self, skipped: Sequence[tuple[str, str]]) -> None:
        """List the inputs left out as unreadable, each with the reason."""
        files.write_json(self.skipped_path, [{"path": str(p), "reason": str(r)} for p, r in skipped])

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
        run = self.run
        save_model(model, run.path / MODEL)
        load_model(run.path / MODEL)  # verified before the checkpoints go
        self._model = model
        requirements = load_requirements(run.path / MODEL)
        # as trained: labels, opened blocks; and what loading model.keras needs, for the card and exports
        run.record.trained(model.zoo_config, requirements)
        files.write_json(run.path / METRICS, dict(metrics))
        write_history_csv(history, run.path / HISTORY)
        plots.plot_learning_curves(history, run.path / CURVES)
        names = run.class_names
        if "confusion_matrix" in metrics:
            plots.plot_confusion_matrix(metrics["confusion_matrix"], names, run.path / CONFUSION)
        model_config = model.zoo_config
        built = ("task", "head", "hidden", "dropout", "standardize", "weights", "unfrozen", "dtype_policy")
        card.write_model_card(
            run.path / CARD,
            name=run.path.name,
            spec={**run.spec, "input_shape": list(model_config.input_shape)},
            config={
                **run.train_config.to_dict(),
                **{k: getattr(model_config, k) for k in built},  # as built
                **run.data_sources,
            },
            metrics=metrics,
            class_names=names,
            task=model_config.task,
            data_summary=summary.rows(),
            texts_cut=summary.texts_cut,
            history=history,
            load_requirements=requirements,
        )
        run.save_state(dataclasses.replace(run.read_state(), complete=True, summary=summary))
        run.checkpoints.remove()


class WorkerResults(Results):
    """A worker of a multi-worker job writes no results: the chief (process 0) measures and writes them."""

    def write_skipped(self, skipped: Sequence[tuple[str, str]]) -> None:
        pass

    def finish(self, model: keras.Model, *args: Any, **kwargs: Any) -> None:
        pass


def _described(config: ModelConfig) -> str:
    """What a model is, in the words of :meth:`Results.model`'s refusal: backbone, input, task, classes."""
    shape = "x".join(map(str, config.input_shape))
    return f"{config.backbone} ({shape} inputs, {config.task}, {config.num_outputs} outputs)"
