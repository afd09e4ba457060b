"""The one trainer: any zoo model, image or text, in two phases, resumable, leaving a run directory.

Phase 1 trains the head with the backbone frozen. Without augmentation the backbone's features
are computed once (through the feature cache) and the head trains on them. Phase 2 (optional)
unfreezes the top blocks at a lower learning rate with BatchNorm kept in inference mode. Each
epoch ends with a checkpoint; ``resume(run_dir)`` continues from the last one. The parts of the
model are found through its :class:`zoo.ModelConfig`, so a model loaded with ``zoo.load_model``
trains again like a new one. Every file goes through :class:`zoo.Run`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import os
import random
import re
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import keras
import numpy as np

from zoo import console, distribute, interrupts
from zoo.cache import FeatureCache, cache_key
from zoo.checkpoints import EXACT_LOSS, EpochEnd, restore_optimizer
from zoo.config import (
    MODEL_OPTIONS,
    TOP_ACCURACY_K,
    ModelConfig,
    TrainConfig,
    check_applies,
    check_class_weight,
    finished_run_error,
)
from zoo.data import Dataset, load_dataset, split
from zoo.data.dataset import check_modality
from zoo.data.listing import with_article
from zoo.data.pipelines import require_tf_data
from zoo.data.split import check_separate
from zoo.data.text import fitted_sequence_length, token_counts
from zoo.errors import ConfigError, DataError, DataWarning, Interrupted, RunError, TrainingWarning, zoo_error_in
from zoo.features import extract, model_identity
from zoo.heads import build, set_standardization, unfitted_standardization
from zoo.metrics import compute_metrics
from zoo.plugins import get_spec
from zoo.run import Run, RunState, StopState, WorkerView, check_free, default_path, describe_source, load_model
from zoo.run.models import dtype_policy
from zoo.run.state import data_identity
from zoo.tracking import MlflowRun, require_mlflow, require_tensorboard, tensorboard_callbacks
from zoo.training_data import ArrayBatches, TrainingData

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack from Python 3.11; only the type checker reads it

CHANCE_MARGIN = 0.02  # a best validation loss within 2% of the way from chance, ln(classes), to the lowest: no learning
TARGET_LIMIT = 1e15  # |regression target| beyond which squared errors overflow float32 (about 3e38) in a batch
TARGET_SCALE = 1e4  # beyond this, a warning: a head that starts near 0 learns such targets slowly
CACHE_AGREEMENT = 0.02  # head on cached features vs model on inputs; a float16 run differs by ~1e-3


class TrainOptions(TypedDict, total=False):
    """``zoo.train``'s keyword options for a type checker: the fields of :class:`zoo.TrainConfig`, as given.

    The values are what ``TrainConfig`` accepts (a list where it keeps a tuple, a path for ``weights``); it
    checks them. tests/test_public_api.py keeps the names equal to the config's fields.
    """

    task: str
    head: str
    hidden: Sequence[int]
    dropout: float
    standardize: bool
    weights: str | os.PathLike[str] | None
    input_shape: int | Sequence[int] | None
    epochs: int
    batch_size: int
    learning_rate: float
    fine_tune: int | None
    fine_tune_epochs: int | None
    fine_tune_learning_rate: float | None
    augment: bool | str | Sequence[str] | None
    seed: int
    val_fraction: float
    patience: int | None
    schedule: str
    optimizer: str
    weight_decay: float | None
    label_smoothing: float
    warmup_epochs: float
    class_weight: str | None
    mixed_precision: bool
    cache: bool
    shuffle: bool
    tensorboard: bool | str | os.PathLike[str]
    mlflow: bool | str
    distribution: str | object


@interrupts.stoppable
def train(
    model: str | keras.Model,
    data: Any,
    val: Any = None,
    config: TrainConfig | None = None,
    *,
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    verbose: int = 1,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    **options: Unpack[TrainOptions],
) -> Run:
    """Fit a zoo model (or a backbone by name, with a new head) to ``data`` and write a run directory.

    ``model``: a backbone name, a model from ``zoo.build``, or one from ``zoo.load_model`` (it goes
    on from its current weights, with its label map). ``data``/``val``: a folder of class
    sub-folders, a CSV manifest, ``(x, y)`` arrays or a :class:`zoo.data.Dataset`; without ``val`` a
    stratified ``val_fraction`` is held out. ``options`` are the fields of :class:`zoo.TrainConfig`
    (``epochs``, ``fine_tune``, ``augment``, ``head``, ...), or pass a ``config``. ``resume=True``
    continues the run in ``out`` from its last checkpoint. Returns the :class:`zoo.Run`. (The examples
    use ``tiny_image``, the test suite's backbone: any name of ``zoo list`` goes there.)

    Training is reproducible from ``seed``: it calls ``keras.utils.set_random_seed(seed)``, which seeds Python's,
    NumPy's and the backend's random generators. Python's and NumPy's global states are put back when ``train``
    returns, so the caller's own draws go on as before; the backend's global seed (TensorFlow's
    ``tf.random.set_seed``, Keras' global ``SeedGenerator``) stays as ``set_random_seed`` left it (Keras cannot
    read it back): seed it yourself after ``train`` if your own code relies on it.

    >>> run = train("tiny_image", "data/train", weights=None, epochs=2, out="runs/scenes", verbose=0)
    >>> run.complete, run.class_names
    (True, ('beach', 'forest', 'night', 'sunset'))
    >>> from zoo import load_model
    >>> more = train(load_model(run.path), "data/more", fine_tune=1, epochs=1, out="runs/more", verbose=0)
    >>> more.class_names == run.class_names  # it went on with the same label map
    True
    """
    require_tf_data("training")
    given = [f.name for f in dataclasses.fields(TrainConfig)] if config is not None else list(options)
    config = (config or TrainConfig()).updated(options)
    if resume and out is not None:
        config = _resumed_config(out, config, given)
    check_applies(options, config, separate_val=val is not None)
    if config.tensorboard:
        require_tensorboard()
    if config.mlflow:
        require_mlflow()
    if isinstance(model, str):
        spec, recipe, task = get_spec(model), None, config.task
    else:
        recipe = model_config_of(model)
        fixed = [name for name in MODEL_OPTIONS if name in options]
        if fixed or config.mixed_precision:
            raise ConfigError(
                f"{', '.join(fixed) or 'mixed_precision'} applies when train() builds the model from a backbone "
                "name; this model is built already (build a new one with zoo.build, under a dtype policy if needed)"
            )
        spec, task = get_spec(recipe.backbone), recipe.task
        check_class_weight(config.class_weight, task)
        # recorded as built (config.json, the card, zoo runs, MLflow's params), not as TrainConfig's defaults
        built = {"head": recipe.head, "hidden": recipe.hidden, "dropout": recipe.dropout,
                 "standardize": recipe.standardize, "weights": recipe.weights}  # fmt: skip
        config = config.updated(built)
    known = (recipe.class_names or None) if recipe else None
    train_set = load_dataset(data, task=task, class_names=known)  # type: ignore[arg-type]
    backbone = f"{spec.name} is {with_article(spec.modality)} backbone"
    other = "text" if spec.modality == "image" else "image"
    choose = f", or choose {with_article(other)} backbone (`zoo list --modality {other}`)"
    check_modality(train_set, spec.modality, backbone, choose)
    if val is None:
        train_set, val_set = split(train_set, config.val_fraction, config.seed)
    else:
        val_set = load_dataset(val, task=task, class_names=train_set.class_names or None)  # type: ignore[arg-type]
        check_modality(val_set, spec.modality, backbone)
        check_separate(train_set, val_set)  # the same examples on both sides: refused; some: counted
    if task == "regression":
        _check_target_scale(train_set)
    if recipe is not None and recipe.num_outputs != train_set.num_outputs:
        raise DataError(
            f"the model has {recipe.num_outputs} outputs but the data has {train_set.num_outputs} "
            f"({', '.join(train_set.class_names) or 'regression targets'})"
        )
    several = config.distribution == "multi-worker"
    if several and out is None:  # checked before this process joins the job and waits for the others
        raise ConfigError("a multi-worker run needs a run directory (--out) on storage every process shares")
    placement = distribute.resolve(config.distribution)
    if placement.processes > 1:
        if out is None:
            raise ConfigError("a job of several processes needs a run directory (--out) that every process shares")
        if config.class_weight is not None:
            raise ConfigError("--class-weight is not supported on several processes yet: drop it, or train on one host")
        placement.check_same("options, data or run directory", cache_key(
            backbone=spec.name, options=config.to_dict(), train=train_set.digests, val=val_set.digests,
            labels=[train_set.label_digest, val_set.label_digest], out=str(Path(out).resolve()),
        ))  # fmt: skip
    try:
        with placement.scope(), seeded(config.seed):  # the variables live on every replica; compile and fit follow
            args = (config, train_set, val_set, data, val, out, resume, cache_dir, verbose, list(callbacks))
            return _train_placed(model, spec, placement, *args)
    except Exception as err:
        if placement.processes > 1 and _lost_a_peer(err):
            raise RunError(
                "another process of this job stopped or failed (see its output): run the same command again on "
                "every host, and the run goes on from its last checkpoint"
            ) from err
        raise


def _train_placed(
    model: Any,
    spec: Any,
    placement: distribute.Placement,
    config: TrainConfig,
    train_set: Dataset,
    val_set: Dataset,
    data: Any,
    val: Any,
    out: str | os.PathLike[str] | None,
    resume: bool,
    cache_dir: str | os.PathLike[str] | None,
    verbose: int,
    callbacks: list[Any],
) -> Run:
    """The rest of :func:`train`, inside the distribution's scope, seeded."""
    started_from_model = not isinstance(model, str)
    if not started_from_model:
        recorded = out if resume and out is not None else None
        config, model = build_for_training(spec.name, train_set, config, placement, recorded)
    else:
        model = placement.place(model)
    model.zoo_config = dataclasses.replace(model.zoo_config, class_names=train_set.class_names)
    check_fine_tune(model.get_layer(model.zoo_config.parts.network), config.fine_tune, model.zoo_config.block_pattern)
    cache = FeatureCache(cache_dir)  # a file there is refused before any run directory is made
    data_id = data_identity(train_set, val_set)  # the examples; their labels beside them
    labels_id = cache_key(train=train_set.label_digest, val=val_set.label_digest)
    if not resume and out is not None and _unfinished_same_run(Path(out), spec.name, config, data_id):
        resume = True  # the same command again goes on from the last checkpoint (Keras' BackupAndRestore)
        if placement.chief:
            Run(out).lock.check_idle()  # BusyError while another process trains it: before saying it resumes
        if verbose:
            console.say(f"{out} holds this run, unfinished: resuming it from its last checkpoint")
    if resume:
        if out is None:
            raise ConfigError("resume=True continues the run in out=<run directory>: pass out")
        run = Run(out) if placement.chief else WorkerView(out)
        state = run.read_state()
        if state.data != data_id:
            raise RunError(f"The data of {run.path} changed since the run started; start a new run instead")
        if state.labels not in (None, labels_id):  # None: a run from before labels were recorded
            raise RunError(
                f"the labels of the data changed since the run in {run.path} started (the same examples, other "
                "labels): its checkpoints learnt the old ones; start a new run (another --out) instead"
            )
        if placement.chief:
            run.lock.hold()  # BusyError while another process trains it
            run.checkpoints.remove_orphans()  # left by a writer that died: a full disk, SIGKILL
    else:
        path = check_free(out) if out is not None else default_path(spec.name)
        placement.barrier("zoo: run directory checked")  # by every process, before the chief makes it
        if placement.chief:
            sources = {"train": describe_source(data), "val": describe_source(val)}
            recipe = model.zoo_config
            run = Run.create(path, train=config, model=recipe, spec=spec.to_dict(), data=sources, data_id=data_id,
                             labels_id=labels_id, unique=out is None)  # fmt: skip
        placement.barrier("zoo: run directory made")
        run = run if placement.chief else WorkerView(path)
    try:
        plan = TrainingData(train_set, val_set, config, model.zoo_config, cache, placement, run.interpolation, verbose)
        trainer = _Trainer(model, config, plan, run, verbose, callbacks)
        return trainer.run(resume, started_from_model)
    except Exception as err:
        if not resume:
            run.discard()  # failed before its first checkpoint: leave nothing half-made behind
        reported = zoo_error_in(err)  # raised inside a tf.data function: said as the zoo error it is
        if reported is not None:
            raise reported from err
        raise
    finally:
        run.lock.release()  # another process may train or resume it now


@interrupts.stoppable
def resume(
    run_dir: str | os.PathLike[str],
    *,
    distribution: Any = None,
    cache_dir: str | os.PathLike[str] | None = None,
    verbose: int = 1,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> Run:
    """Continue an interrupted run from its last checkpoint (data given as paths; see :func:`train`).

    ``distribution`` overrides the run's own (a run started with a strategy object needs it again).

    >>> resume("runs/demo/run", verbose=0).complete  # a finished run: nothing left to do
    True
    """
    run = Run(run_dir)
    if run.complete:
        load_model(run.path)  # a damaged model.keras says so now, not at the next predict
        console.say(f"{run.path} is already complete", verbose)
        return run
    sources = run.data_sources
    if run.trained_in_memory:
        raise RunError(
            f"{run_dir} was trained from in-memory data; call zoo.train(..., out={str(run_dir)!r}, resume=True) "
            "with the same data instead"
        )
    config = run.train_config if distribution is None else run.train_config.updated({"distribution": distribution})
    model = run.checkpoints.load_start() or run.model_config.backbone  # the model it started from, or a rebuild by name
    return train(model, sources["train"], sources["val"], config, out=run_dir, resume=True, cache_dir=cache_dir,
                 verbose=verbose, callbacks=callbacks)  # fmt: skip


def _resumed_config(out: str | os.PathLike[str], config: TrainConfig, given: list[str]) -> TrainConfig:
    """The options a resume of the run in ``out`` goes on with: the ones it started with (``distribution`` may
    change). Options ``given`` that differ from them are refused: a finished run cannot apply them, and an
    unfinished one would train with them while config.json and the card said otherwise."""
    try:
        run = Run(out)
        recorded, complete = run.train_config, run.complete
    except RunError:
        return config  # no run there yet, or a damaged one: the resume itself says so
    changed = [
        name
        for name in given
        if name != "distribution"
        and getattr(config, name) != getattr(recorded, name)
        and not (name == "input_shape" and getattr(config, name) is None)
    ]
    if complete and changed:
        raise finished_run_error(out, [f"{name}={getattr(config, name)!r}" for name in changed])
    if changed:
        differ = ", ".join(f"{name}={getattr(config, name)!r} (it has {getattr(recorded, name)!r})" for name in changed)
        raise ConfigError(
            f"resume=True goes on with the options {os.fspath(out)} started with, and these differ: {differ}; drop "
            "them, or start a new run in another out"
        )
    return recorded.updated({"distribution": config.distribution}) if "distribution" in given else recorded


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """``keras.utils.set_random_seed(seed)`` for the run; Python's and NumPy's global random states put back after
    (the backend's global seed has no public getter: it stays set)."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    keras.utils.set_random_seed(seed)
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def _lost_a_peer(err: BaseException) -> bool:
    """Whether ``err`` is a collective that failed because another process of the job is gone."""
    text = f"{err} {err.__cause__ or ''}"
    return any(mark in text for mark in ("Gloo", "DEADLINE_EXCEEDED", "Connection reset by peer", "coordination"))


def _unfinished_same_run(out: Path, backbone: str, config: TrainConfig, data_id: str) -> bool:
    """Whether ``out`` holds an unfinished run of ``backbone`` with these options on this data."""
    try:
        run = Run(out)
        same = run.model_config.backbone == backbone and run.train_config.to_dict() == config.to_dict()
        return same and not run.complete and run.read_state().data == data_id
    except RunError:
        return False  # no run there, or a damaged one (check_free then refuses the folder)


def model_config_of(model: Any) -> ModelConfig:
    """The :class:`zoo.ModelConfig` of a model made by ``zoo.build`` or loaded by ``zoo.load_model``.

    >>> model_config_of(keras.Sequential())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    zoo.errors.ConfigError: train() takes a backbone name, a model made by zoo.build(...), or one loaded by ...
    """
    config = getattr(model, "zoo_config", None)
    if not isinstance(config, ModelConfig):
        raise ConfigError(
            "train() takes a backbone name, a model made by zoo.build(...), or one loaded by zoo.load_model(...)"
        )
    return config


class _Trainer:
    """One run's training from start (or its last checkpoint) to the finished run directory: phase 1 (the head,
    on cached features when it can), phase 2 (fine-tuning), then the model, metrics and reports through ``Run``.
    The data comes through :class:`TrainingData`; each epoch ends in :class:`zoo.checkpoints.EpochEnd`."""

    def __init__(
        self, model: Any, config: TrainConfig, data: TrainingData, run: Run, verbose: int, callbacks: list[Any]
    ) -> None:
        self.model, self.config, self.data, self.run_dir, self.verbose = model, config, data, run, verbose
        self.callbacks = callbacks
        self.mlflow: MlflowRun | None = None
        self.recipe: ModelConfig = model.zoo_config
        self.head = model.get_layer(self.recipe.parts.head)
        self.network = model.get_layer(self.recipe.parts.network)
        self.placement = data.placement
        self.state = RunState()

    def run(self, resume: bool, started_from_model: bool) -> Run:
        self.state = self.run_dir.read_state()
        if self.state.complete:
            console.say(f"{self.run_dir.path} is already complete", self.verbose)
            return self.run_dir
        if not resume:
            self.run_dir.results.write_skipped(self.data.skipped())
            if started_from_model:
                self.run_dir.checkpoints.save_start(self.model)
        config, run = self.config, self.run_dir
        if config.mlflow and run.writes:  # the chief's alone: new, or the one a resume goes on in (None: unreachable)
            options, data = config.to_dict(), self.state.data
            self.mlflow = MlflowRun.of_run(config.mlflow, run, self.recipe.backbone, options, data, resume)
        try:
            features = None
            if not self.state.phase1_done:
                features = self._phase1()
            else:
                self.run_dir.checkpoints.load_head(self.head)
            if self.config.fine_tune:
                self._phase2()
            finished = self._finish(features)
        except BaseException as err:
            if self.mlflow is not None:  # stopped (a resume goes on in the same MLflow run) or failed
                self.mlflow.end_after(err)
            if isinstance(err, Interrupted):
                err.run_path = self.run_dir.path  # what to resume, said by the zoo command
            raise
        if self.mlflow is not None:
            self.mlflow.finish(finished, self.verbose)
        return finished

    def _phase1(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Train the head on the frozen network, first fitting the head's standardisation to the training
        features while it is unfitted (a new model, from a name or ``zoo.build``; one that arrives fitted,
        trained or from ``zoo.fit_standardization``, keeps its own; a resumed phase 1 has it in its checkpoint)."""
        self.network.trainable = False  # a loaded model may come fine-tuned: phase 1 trains the head only
        data, config = self.data, self.config
        cached = config.cache and not config.augment
        standardization = unfitted_standardization(self.model) if self._epoch(1) == 0 else None
        adapt = standardization is not None
        name, epochs = self.recipe.backbone, config.epochs
        why = "augmentation on" if config.augment else "cache off"
        how = f"on cached features of the frozen {name}" if cached else f"with {name} frozen, run every epoch ({why})"
        self._say(f"phase 1: training the head {how}, {epochs} epoch{'' if epochs == 1 else 's'}")
        if cached or adapt:
            features_output = self.model.get_layer(self.recipe.parts.features).output
            extractor = keras.Model(self.model.inputs, features_output, name="features")
            extractor = self.placement.local_copy(extractor)  # several processes: each extracts its own shard
        if cached:
            identity = model_identity(extractor)  # the weights are hashed once for both sets
            splits = (("train", data.train_set), ("validation", data.val_set))
            features = tuple(data.features(extractor, d, identity, split) for split, d in splits)
            target, placement = self.head, self.placement
            train_targets = data.targets(data.train_set)
            fit_data = ArrayBatches(features[0], *train_targets, config, placement, epoch=self._epoch(1))
            val_data = ArrayBatches(features[1], data.val_set.targets, None, config, placement, shuffle=False)
        else:
            features, target = None, self.model
            fit_data = data.pipeline(data.train_set, training=True)
            val_data = data.pipeline(data.val_set, training=False)
        if adapt:
            with self.placement.local():
                sample = (
                    features[0]
                    if features
                    else extract(extractor, data.adapt_sample(), interpolation=data.interpolation, verbose=0)
                )
            set_standardization(standardization, sample)
        self._fit(target, 1, fit_data, val_data, config.epochs, config.learning_rate)
        self.run_dir.checkpoints.save_head(self.head)
        self.state.phase1_done, self.state.phase, self.state.epoch = True, 2, 0
        self.run_dir.save_state(self.state)
        return features  # type: ignore[return-value]

    def _phase2(self) -> None:
        unfrozen = unfreeze_top(self.network, self.config.fine_tune, self.recipe.block_pattern)  # type: ignore[arg-type]
        self.recipe = dataclasses.replace(self.recipe, unfrozen=tuple(unfrozen))
        epochs, lr = self.config.phase2_epochs, self.config.phase2_learning_rate
        fit_data = self.data.pipeline(self.data.train_set, training=True)
        count = len(unfrozen)
        self._say(
            f"phase 2: fine-tuning the top {count} block{'' if count == 1 else 's'} of {self.recipe.backbone} "
            f"({', '.join(unfrozen)}) with the head, learning rate {lr:g}, {epochs} epoch{'' if epochs == 1 else 's'}"
        )
        self._fit(self.model, 2, fit_data, self.data.pipeline(self.data.val_set, training=False), epochs, lr)
        self.state.phase2_done = True
        self.run_dir.save_state(self.state)

    def _fit(self, target: Any, phase: int, fit_data: Any, val_data: Any, epochs: int, lr: float) -> None:
        resumed = self.state.phase == phase and self.state.epoch > 0
        start = self.state.epoch if resumed else 0
        if resumed:
            self.run_dir.checkpoints.load_epoch(target, phase)
            best = self.run_dir.checkpoints.load_best(phase)
            if start >= epochs or self.state.stopped:  # killed after the phase's last epoch
                if best is not None:
                    target.set_weights(best)
                return
        self._compile(target, epochs, lr)
        callback = EpochEnd(self.run_dir, self.state, phase, self.config.patience)
        if resumed:
            callback.restore(best)
            restore_optimizer(target, self.run_dir.checkpoints.load_optimizer(phase))
        else:
            state = self.state
            state.phase, state.epoch, state.stopped, state.early_stopping = phase, 0, False, StopState()
        if start:
            self._say(f"phase {phase}: resuming after epoch {start} of {epochs}")
        aliases = {EXACT_LOSS: "loss", f"val_{EXACT_LOSS}": "val_loss"}  # several processes: the exact losses
        keras_verbose, progress = console.fit_progress(self.verbose if self.run_dir.writes else 0, aliases)
        target.fit(
            fit_data,
            validation_data=val_data,
            epochs=epochs,
            initial_epoch=start,
            shuffle=False,  # the data shuffles itself, reproducibly from the seed
            verbose=keras_verbose,
            callbacks=[
                interrupts.keras_callback(),
                callback,
                *progress,
                *self._tracking(phase, resumed),
                *self.callbacks,
            ],
        )
        kept = self.state.early_stopping.best_epoch + 1
        if self.state.stopped and self.state.epoch < epochs:
            waited = self.config.patience
            self._say(f"phase {phase}: stopped early after epoch {self.state.epoch} of {epochs}: no better validation "
                      f"loss in {waited} epoch{'s' * (waited != 1)}; epoch {kept}'s weights are kept")  # fmt: skip
        elif 0 < kept < self.state.epoch:  # every epoch trained, the best one earlier: its weights, said so
            lowest, last = self.state.early_stopping.best, self.state.history[-1].get("val_loss", math.nan)
            self._say(f"phase {phase}: epoch {kept}'s weights are kept, whose validation loss {lowest:.4g} is the best "
                      f"(epoch {self.state.epoch}: {last:.4g})")  # fmt: skip

    def _tracking(self, phase: int, resumed: bool) -> list[Any]:
        """The tracking callbacks of ``phase`` that the options ask for (the chief's alone)."""
        config, run = self.config, self.run_dir
        tracking = [self.mlflow.history_callback(lambda: self.state.history)] if self.mlflow is not None else []
        if not config.tensorboard or not run.writes:
            return tracking
        options = {"backbone": self.recipe.backbone, **config.to_dict()}
        fresh = phase == 1 and not resumed
        logs = run.tensorboard_path(config.tensorboard)
        return [*tracking, *tensorboard_callbacks(logs, phase, fresh, run.path.name, options)]

    def _compile(self, target: Any, epochs: int, lr: float) -> None:
        """Compile ``target`` afresh for a phase of ``epochs`` at learning rate ``lr``."""
        config, task = self.config, self.recipe.task
        per_epoch = math.ceil(len(self.data.train_set) / config.batch_size)
        rate = learning_rate_schedule(lr, epochs * per_epoch, round(config.warmup_epochs * per_epoch), config.schedule)
        metrics = epoch_metrics(task, self.recipe.num_outputs, config.label_smoothing)
        optimizer = optimizer_for(config, rate)
        loss, loss_metric = losses(task, self.recipe.num_outputs, config.label_smoothing, self.placement.processes > 1)
        if loss_metric is None:
            target.compile(optimizer=optimizer, loss=loss, metrics=metrics)
        else:  # padding rows weigh 0 (Placement.shard_rows): a batch's loss and metrics are over its real rows
            target.compile(optimizer=optimizer, loss=loss, weighted_metrics=[*metrics, loss_metric])

    def _finish(self, features: tuple[np.ndarray, np.ndarray] | None) -> Run:
        self.model.zoo_config = self.recipe
        model = self.placement.local_copy(self.model)  # several processes: the chief predicts alone (all copy)
        if not self.run_dir.writes:
            return self.run_dir  # a worker: the chief measures and writes the results
        stoppable = [interrupts.keras_callback()]
        data, history = self.data, self.state.history
        with self.placement.local():
            # the model as saved, on the validation inputs: never the feature cache, which a stale or rewritten
            # entry can make wrong (and the model must score what metrics.json says)
            val_inputs = data.pipeline(data.val_set, training=False, targets=False)
            outputs = model.predict(val_inputs, verbose=0, callbacks=stoppable)
            if features is not None and not self.config.fine_tune:
                batches = ArrayBatches(features[1], None, None, self.config, shuffle=False)
                cached = model.get_layer(self.recipe.parts.head).predict(batches, verbose=0, callbacks=stoppable)
                _check_cache(self.run_dir, data.cache, self.recipe, np.asarray(cached, "float32"), outputs)
            metrics = compute_metrics(self.recipe.task, data.val_set.targets, outputs, data.train_set.class_names)
            self.run_dir.results.finish(model, metrics, history, data.summary(self.model))
        _warn_at_chance(self.run_dir, self.recipe, history, self.config.label_smoothing)
        return self.run_dir

    def _say(self, message: str) -> None:
        console.say(message, self.verbose if self.run_dir.writes else 0)  # one process of a job speaks

    def _epoch(self, phase: int) -> int:
        return self.state.epoch if self.state.phase == phase else 0


def optimizer_for(config: TrainConfig, rate: Any) -> Any:
    """A new optimizer as ``config`` says (``optimizer``, ``weight_decay``) at learning rate ``rate`` (a number or
    a schedule).

    >>> type(optimizer_for(TrainConfig(optimizer="adamw"), 0.01)).__name__
    'AdamW'
    """
    decay = config.effective_weight_decay
    return {
        "adam": lambda: keras.optimizers.Adam(rate, weight_decay=decay),
        "adamw": lambda: keras.optimizers.AdamW(rate, weight_decay=decay),
        "sgd": lambda: keras.optimizers.SGD(rate, 0.9, weight_decay=decay),
    }[config.optimizer]()


def learning_rate_schedule(lr: float, steps: int, warmup: int, schedule: str) -> Any:
    """The learning rate of a phase of ``steps`` steps: ``lr`` (``schedule="constant"``) or a cosine decay from it
    to 0 (``"cosine"``), after ``warmup`` steps that raise it linearly from 0.

    >>> rate = learning_rate_schedule(0.1, steps=10, warmup=2, schedule="cosine")
    >>> [round(float(rate(step)), 3) for step in (0, 1, 2, 6, 10)]
    [0.0, 0.05, 0.1, 0.05, 0.0]
    >>> round(float(learning_rate_schedule(0.1, steps=10, warmup=2, schedule="constant")(7)), 3)
    0.1
    """
    if not warmup:
        return keras.optimizers.schedules.CosineDecay(lr, decay_steps=steps) if schedule == "cosine" else lr
    alpha = 0.0 if schedule == "cosine" else 1.0  # constant: a cosine "decay" to 100% of the rate
    return keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=max(steps - warmup, 1), alpha=alpha, warmup_target=lr, warmup_steps=warmup
    )


CROSSENTROPY = "crossentropy"  # the epoch metric of the true labels' cross-entropy, where the loss is smoothed


def epoch_metrics(task: str, outputs: int, smoothing: float = 0.0) -> list[Any]:
    """What each epoch reports besides the loss: ``accuracy`` (and ``top5_accuracy`` above 5 classes) for a
    classifier; for multilabel ``binary_accuracy``, the share of (example, label) pairs right at 0.5 (Keras'
    ``"accuracy"`` would be categorical there: whether the top score is a true label); ``mae`` for regression.
    With label ``smoothing``, also ``crossentropy``: the loss of the true labels, which ``metrics.json`` reports
    (the loss itself is the smoothed targets', whose floor is their entropy).

    >>> [getattr(metric, "name", metric) for metric in epoch_metrics("multilabel", 4, smoothing=0.1)]
    ['binary_accuracy', 'crossentropy']
    """
    if task == "regression":
        return ["mae"]
    if task == "multilabel":
        found = [keras.metrics.BinaryAccuracy(name="binary_accuracy", threshold=0.5)]
        plain = keras.metrics.BinaryCrossentropy
    else:
        found = ["accuracy"]
        if outputs > TOP_ACCURACY_K:
            found.append(keras.metrics.SparseTopKCategoricalAccuracy(k=TOP_ACCURACY_K, name="top5_accuracy"))
        plain = keras.metrics.SparseCategoricalCrossentropy
    return [*found, plain(name=CROSSENTROPY)] if smoothing else found


def losses(task: str, classes: int, smoothing: float, weighted: bool) -> tuple[Any, Any]:
    """``(loss, loss_metric)`` for ``task``, with ``smoothing`` of the targets (label smoothing). ``weighted``: for
    a job of several processes, whose padding rows weigh 0, the loss averages over the real rows alone and the
    metric (named ``checkpoints.EXACT_LOSS``) is the same loss over the epoch; else the metric is None.

    >>> loss, _ = losses("classification", 3, 0.3, weighted=False)
    >>> round(float(loss(np.array([0]), np.array([[0.8, 0.1, 0.1]]))), 4)  # targets [0.8, 0.1, 0.1]
    0.639
    """
    reduction = "mean_with_sample_weight" if weighted else "sum_over_batch_size"
    if task == "regression":
        loss, metric = keras.losses.MeanSquaredError(reduction=reduction), keras.metrics.MeanSquaredError
    elif task == "multilabel":
        loss = keras.losses.BinaryCrossentropy(label_smoothing=smoothing, reduction=reduction)
        metric = functools.partial(keras.metrics.BinaryCrossentropy, label_smoothing=smoothing)
    elif smoothing:  # Keras' sparse cross-entropy takes no label smoothing: the same on one-hot targets

        def smoothed(targets: Any, outputs: Any) -> Any:
            targets = keras.ops.one_hot(keras.ops.reshape(keras.ops.cast(targets, "int32"), (-1,)), classes)
            return keras.losses.categorical_crossentropy(targets, outputs, label_smoothing=smoothing)

        class SmoothedCrossentropy(keras.losses.Loss):  # never saved: model.keras holds no compile settings
            def call(self, targets: Any, outputs: Any) -> Any:
                return smoothed(targets, outputs)

        loss = SmoothedCrossentropy(reduction=reduction, name="smoothed_crossentropy")
        metric = functools.partial(keras.metrics.MeanMetricWrapper, smoothed)
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(reduction=reduction)
        metric = keras.metrics.SparseCategoricalCrossentropy
    return loss, metric(name=EXACT_LOSS) if weighted else None


def _check_cache(run: Run, cache: FeatureCache, recipe: ModelConfig, cached: np.ndarray, outputs: Any) -> None:
    """Warn when the head on the cached validation features disagrees with the model on the images (a stale
    or rewritten cache entry): the history's validation rows came from the cache, metrics.json does not."""
    outputs = np.asarray(outputs, "float32")
    scale = max(1.0, float(np.abs(outputs).max(initial=0.0)))  # probabilities, or regression values
    differ = float(np.abs(cached - outputs).max(initial=0.0)) / scale
    if not differ <= CACHE_AGREEMENT:
        warnings.warn(
            f"{run.path}: the cached features of the validation split disagree with what "
            f"{recipe.backbone} computes from its inputs now (outputs differ by up to {differ:.3g}); the "
            f"history's validation rows came from the cache, metrics.json from the model itself; delete "
            f"{cache.root} and train again",
            DataWarning,
            stacklevel=2,
        )


def _warn_at_chance(run: Run, recipe: ModelConfig, history: list[dict[str, Any]], smoothing: float) -> None:
    """Warn when no epoch's validation loss beat chance level: ln(classes), what uniform outputs score (sat at
    it, or above it: confidently wrong is no better). The margin is a share of the way from chance to the best
    loss possible, 0, or with label ``smoothing`` the entropy of the smoothed targets. A run whose validation accuracy
    got half way from guessing to all right did learn: it is told that its wrong answers are confidently wrong."""
    losses = [row["val_loss"] for row in history if "val_loss" in row]
    if recipe.task != "classification" or not losses:
        return
    classes = recipe.num_outputs
    chance = math.log(classes)
    low, high = smoothing / classes, 1 - smoothing + smoothing / classes  # the smoothed targets
    best = -sum(p * math.log(p) for p in (high, *[low] * (classes - 1)) if p > 0)
    learned = chance - CHANCE_MARGIN * (chance - best)
    if min(losses) < learned:
        return
    at_chance = f"{run.path}: the validation loss never went clearly below chance level, ln({classes}) = {chance:.3f}"
    at_chance += f" (best {min(losses):.3f}, not below {learned:.3f})"
    accuracy = max((row["val_accuracy"] for row in history if "val_accuracy" in row), default=0.0)
    if accuracy >= (1 + 1 / classes) / 2:  # half way from guessing to all right: it learned, and is overconfident
        message = (f"{at_chance} although the validation accuracy reached {accuracy:.3f}: its wrong answers are "
                   "confidently wrong; try a lower learning rate, label smoothing or more data")  # fmt: skip
    else:
        message = f"{at_chance}: the model learned nothing; check the labels or try another learning rate"
        if recipe.weights is None:  # random features: pretrained ones are the likelier cure
            message += ", or use pretrained weights (these were random: weights=None, --weights none)"
    warnings.warn(message, TrainingWarning, stacklevel=2)


def blocks(network: Any, block_pattern: str | None) -> list[tuple[str, list[Any]]]:
    """The network's fine-tunable units, bottom first: ``(name, layers)`` per block, or per weighted layer
    without a pattern (layers that match no block belong to the block before them)."""
    layers = [layer for layer in network.layers if layer.weights]
    if not block_pattern:
        return [(layer.name, [layer]) for layer in layers]
    units: list[tuple[str, list[Any]]] = []
    for layer in layers:
        match = re.search(block_pattern, layer.name)
        if match and (not units or units[-1][0] != match.group(1)):
            units.append((match.group(1), []))
        if units:
            units[-1][1].append(layer)
    return units


def check_fine_tune(network: Any, count: int | None, block_pattern: str | None) -> None:
    """Raise :class:`ConfigError` unless ``count`` top blocks exist to unfreeze (``None``: no phase 2)."""
    total = len(blocks(network, block_pattern))
    if count is not None and not 1 <= count <= total:
        raise ConfigError(f"fine_tune must be between 1 and {total} (blocks of {network.name}), got {count}")


def unfreeze_top(network: Any, count: int, block_pattern: str | None) -> list[str]:
    """Make the top ``count`` blocks (or weighted layers, without a pattern) trainable; BatchNorm stays frozen.

    Returns the names of the unfrozen blocks or layers, top first.
    """
    check_fine_tune(network, count, block_pattern)
    network.trainable = True
    chosen = blocks(network, block_pattern)[-count:]
    keep = {id(layer) for _, members in chosen for layer in members}
    for layer in network.layers:
        frozen_bn = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = id(layer) in keep and not frozen_bn
    return [name for name, _ in reversed(chosen)]


def _fit_sequence_length(
    model: Any,
    name: str,
    dataset: Dataset,
    config: TrainConfig,
    placement: distribute.Placement,
    resumed: str | os.PathLike[str] | None,
) -> tuple[TrainConfig, Any]:
    """The config with the text length these training texts need (see :func:`fitted_sequence_length`), and
    the model built at it. ``model`` (built at the backbone's declared length) counts the tokens; the length
    is recorded in ``input_shape``, so the run's config, resume, predict and export all use it. A ``resumed``
    run keeps the length it recorded (a run of an older zoo recorded none: the declared one)."""
    declared = model.zoo_config.input_shape[0]
    if resumed is not None:
        try:
            length = Run(resumed).train_config.input_shape or declared
        except RunError:
            length = declared
        length = length[0] if isinstance(length, tuple) else length
    else:
        steps = [model.get_layer(layer) for layer in model.zoo_config.parts.text_steps]
        with placement.local():
            length = fitted_sequence_length(token_counts(steps, dataset, seed=config.seed), declared)
    config = config.updated({"input_shape": length})
    if length != declared:
        keras.utils.set_random_seed(config.seed)  # the same start as a model built at this length (a resume)
        model = _build_for(name, dataset, config)
    return config, model


def build_for_training(
    name: str,
    dataset: Dataset,
    config: TrainConfig,
    placement: distribute.Placement | None = None,
    resumed: str | os.PathLike[str] | None = None,
) -> tuple[TrainConfig, Any]:
    """The model :func:`train` builds from backbone ``name`` for ``dataset`` (``zoo lr-find`` and ``zoo tune`` too),
    and the config it goes with: for a text model that tokenizes, the token window fitted to the texts unless
    ``config`` fixes one (see :func:`_fit_sequence_length`)."""
    model = _build_for(name, dataset, config)
    if model.zoo_config.modality == "text" and config.input_shape is None and model.zoo_config.parts.text_steps:
        config, model = _fit_sequence_length(model, name, dataset, config, placement or distribute.Placement(None),
                                             resumed)  # fmt: skip
    return config, model


def _build_for(name: str, dataset: Dataset, config: TrainConfig) -> Any:
    counts = {"num_outputs" if dataset.task == "regression" else "num_classes": dataset.num_outputs}
    options = {k: v for k, v in config.model_options.items() if k != "task"}
    mixed = ("mixed_float16" if distribute.has_gpu() else "mixed_bfloat16") if config.mixed_precision else None
    with dtype_policy(mixed):
        return build(name, task=dataset.task, **options, **counts, seed=config.seed)  # type: ignore[arg-type]


def _check_target_scale(dataset: Dataset) -> None:
    """Refuse regression targets whose squares overflow a float32 loss; warn about ones far from unit scale."""
    largest = float(np.abs(dataset.targets).max(initial=0.0))
    rescale = "divide them by a scale that brings them to about 1, and multiply the predictions back"
    if largest > TARGET_LIMIT:
        raise DataError(f"regression targets of {dataset.source} reach {largest:.3g}: their squares overflow the "
                        f"float32 loss, so training would end in inf and NaN; {rescale}")  # fmt: skip
    if largest > TARGET_SCALE:
        warnings.warn(
            f"regression targets of {dataset.source} reach {largest:.3g}: the head starts near 0 and learns slowly "
            f"at that scale; {rescale}",
            DataWarning,
            stacklevel=3,
        )
