"""The one trainer: any zoo model, image or text, in two phases, resumable, leaving a run directory.

Phase 1 trains the head with the backbone frozen. Without augmentation the backbone's features
are computed once (through the feature cache) and the head trains on them. Phase 2 (optional)
unfreezes the top blocks at a lower learning rate with BatchNorm kept in inference mode. Each
epoch ends with a checkpoint; ``resume(run_dir)`` continues from the last one.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from zoo import files, report
from zoo.backbones import Weights
from zoo.cache import FeatureCache, cache_key
from zoo.data import Dataset, load_dataset, pipeline, split
from zoo.errors import ZooError
from zoo.features import cached_extract, model_identity
from zoo.heads import BuildConfig, Task, build
from zoo.plugins import get_spec

SCHEDULES = ("cosine", "constant")
LOSSES = {"classification": "sparse_categorical_crossentropy", "multilabel": "binary_crossentropy", "regression": "mse"}


class RunError(ZooError, ValueError):
    """A run directory cannot be started or resumed as asked."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a run, saved as ``config.json`` so ``resume`` can redo it exactly."""

    data: str | None
    val: str | None
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    fine_tune: int | None = None
    fine_tune_epochs: int | None = None
    fine_tune_learning_rate: float | None = None
    augment: bool | tuple[str, ...] | None = None
    seed: int = 0
    val_fraction: float = 0.2
    patience: int | None = 5
    schedule: str = "cosine"
    class_weight: str | None = None
    mixed_precision: bool = False
    cache: bool = True
    shuffle: bool = True


@dataclasses.dataclass
class Run:
    """A finished (or resumed and finished) training run and its directory."""

    path: Path
    model: keras.Model
    history: list[dict[str, Any]]
    metrics: dict[str, Any]
    class_names: tuple[str, ...]
    data: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __repr__(self) -> str:
        headline = ", ".join(f"{k} {v}" for k, v in report.summary_rows(self.task, self.metrics)[:2])
        return f"Run({self.path}, {headline})"

    @property
    def task(self) -> str:
        return self.model.zoo_config.task if hasattr(self.model, "zoo_config") else _read(self.path)["build"]["task"]


def train(
    model: str | keras.Model,
    data: Any,
    val: Any = None,
    *,
    task: Task = "classification",
    epochs: int = 10,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    fine_tune: int | None = None,
    fine_tune_epochs: int | None = None,
    fine_tune_learning_rate: float | None = None,
    augment: bool | Sequence[str] | None = None,
    seed: int = 0,
    out: str | os.PathLike | None = None,
    head: str = "avg",
    hidden: Sequence[int] = (),
    dropout: float = 0.0,
    weights: Weights = "default",
    input_shape: int | tuple[int, ...] | None = None,
    val_fraction: float = 0.2,
    patience: int | None = 5,
    schedule: str = "cosine",
    class_weight: str | None = None,
    mixed_precision: bool = False,
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
    shuffle: bool = True,
    resume: bool = False,
    verbose: int = 1,
) -> Run:
    """Fit a zoo model (or a backbone by name, with a new head) to ``data`` and write a run directory.

    ``data``/``val``: a folder of class sub-folders, a CSV manifest, ``(x, y)`` arrays or a
    :class:`zoo.data.Dataset`; without ``val`` a stratified ``val_fraction`` is held out. ``fine_tune``
    unfreezes that many top blocks (or layers) for phase 2. ``augment`` (True or names) trains on
    augmented images, so features are not cached. ``class_weight="balanced"`` weighs classes by
    inverse frequency. ``resume=True`` continues the run in ``out`` from its last checkpoint.

    >>> run = train("mobilenet_v2", "data/train", epochs=5, weights=None, input_shape=64)  # doctest: +SKIP
    """
    config = TrainConfig(
        data=_describe_source(data),
        val=_describe_source(val),
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        fine_tune=fine_tune,
        fine_tune_epochs=fine_tune_epochs,
        fine_tune_learning_rate=fine_tune_learning_rate,
        augment=tuple(augment) if isinstance(augment, (list, tuple)) else augment,
        seed=seed,
        val_fraction=val_fraction,
        patience=patience,
        schedule=schedule,
        class_weight=class_weight,
        mixed_precision=mixed_precision,
        cache=cache,
        shuffle=shuffle,
    )
    _check(config)
    keras.utils.set_random_seed(seed)
    if isinstance(model, str):
        task_of_model = task
    else:
        if not isinstance(getattr(model, "zoo_config", None), BuildConfig):
            raise ValueError("train() takes a backbone name or a model made by zoo.build(...)")
        if mixed_precision:
            raise ValueError("mixed_precision applies when train() builds the model; build yours under a policy")
        task_of_model = model.zoo_config.task
    if class_weight is not None and task_of_model != "classification":
        raise ValueError(f"class_weight applies to classification only, not {task_of_model}")
    train_set = load_dataset(data, task=task_of_model)
    if val is None:
        train_set, val_set = split(train_set, val_fraction, seed)
    else:
        val_set = load_dataset(val, task=task_of_model, class_names=train_set.class_names or None)

    if isinstance(model, str):
        model = _build_for(model, train_set, head, hidden, dropout, weights, input_shape, mixed_precision)
    elif model.zoo_config.num_outputs != train_set.num_outputs:
        raise ValueError(
            f"the model has {model.zoo_config.num_outputs} outputs but the data has {train_set.num_outputs} "
            f"({', '.join(train_set.class_names) or 'regression targets'})"
        )

    run_dir = Path(out) if out is not None else _default_run_dir(model.zoo_config.backbone)
    trainer = _Trainer(model, config, train_set, val_set, run_dir, FeatureCache(cache_dir), verbose)
    return trainer.run(resume)


def resume(run_dir: str | os.PathLike, *, cache_dir: str | os.PathLike | None = None, verbose: int = 1) -> Run:
    """Continue an interrupted run from its last checkpoint (data given as paths; see :func:`train`).

    >>> run = resume("runs/resnet50-20261127-101500")  # doctest: +SKIP
    """
    saved = _read(Path(run_dir))
    config, build_config = saved["train"], saved["build"]
    if config["data"] is None or config["data"].startswith("<"):
        raise RunError(
            f"{run_dir} was trained from in-memory data; call zoo.train(..., out={str(run_dir)!r}, resume=True) "
            "with the same data instead"
        )
    return train(
        build_config["backbone"],
        config["data"],
        config["val"],
        task=build_config["task"],
        out=run_dir,
        resume=True,
        head=build_config["head"],
        hidden=build_config["hidden"],
        dropout=build_config["dropout"],
        weights=build_config["weights"],
        input_shape=tuple(build_config["input_shape"]),
        cache_dir=cache_dir,
        verbose=verbose,
        **{k: v for k, v in config.items() if k not in ("data", "val")},
    )


def load_model(path: str | os.PathLike) -> keras.Model:
    """Load a model the zoo saved (``model.keras`` or a run directory) with Keras' safe mode on.

    >>> model = load_model("runs/demo/model.keras")  # doctest: +SKIP
    """
    import zoo.layers  # noqa: F401  (registers the zoo's layers for deserialisation)

    path = Path(path)
    if path.is_dir():
        path = path / "model.keras"
    if not path.exists():
        raise RunError(f"No saved model at {path}: is this a finished run directory?")
    return keras.saving.load_model(path, safe_mode=True)


class _Trainer:
    def __init__(
        self,
        model: Any,
        config: TrainConfig,
        train_set: Dataset,
        val_set: Dataset,
        run_dir: Path,
        cache: FeatureCache,
        verbose: int,
    ) -> None:
        self.model, self.config, self.train_set, self.val_set = model, config, train_set, val_set
        self.dir, self.cache, self.verbose = run_dir, cache, verbose
        self.build: BuildConfig = model.zoo_config
        self.spec = get_spec(self.build.backbone)
        self.head = model.get_layer("head")
        self.history: list[dict[str, Any]] = []
        self.state: dict[str, Any] = {}
        self.data_id = cache_key(train=train_set.digests, val=val_set.digests)

    # -- the run ---------------------------------------------------------------------------------
    def run(self, resume: bool) -> Run:
        self._open(resume)
        if self.state.get("complete"):
            print(f"{self.dir} is already complete")
            metrics = json.loads((self.dir / "metrics.json").read_text())
            return Run(self.dir, load_model(self.dir), self.history, metrics, self.train_set.class_names)
        features = None
        if not self.state.get("phase1_done"):
            features = self._phase1()
        else:
            self._load_weights(self.head, "phase1-final")
        if self.config.fine_tune:
            self._phase2()
        return self._finish(features)

    def _open(self, resume: bool) -> None:
        state_file = self.dir / "state.json"
        if resume:
            if not state_file.exists():
                raise RunError(f"{self.dir} has no state.json: nothing to resume (start it with out={self.dir})")
            self.state = json.loads(state_file.read_text())
            if self.state.get("data") != self.data_id:
                raise RunError(f"The data of {self.dir} changed since the run started; start a new run instead")
            self.history = self.state.get("history", [])
            return
        if state_file.exists():
            raise RunError(f"{self.dir} already holds a run; resume it (`zoo train --resume {self.dir}`) or pick --out")
        self.dir.mkdir(parents=True, exist_ok=True)
        files.write_json(
            self.dir / "config.json", {"train": dataclasses.asdict(self.config), "build": self.build.to_dict()}
        )
        files.write_json(self.dir / "spec.json", self.spec.to_dict())
        files.write_json(self.dir / "labels.json", list(self.train_set.class_names))
        self.state = {"data": self.data_id, "phase": 1, "epoch": 0, "history": []}
        self._save_state()

    def _phase1(self) -> tuple[np.ndarray, np.ndarray] | None:
        cached = self.config.cache and not self.config.augment
        if cached:
            extractor = keras.Model(self.model.inputs, self.model.get_layer("pool").output, name="features")
            identity = model_identity(extractor)  # the weights are hashed once for both sets
            features = tuple(self._features(extractor, d, identity) for d in (self.train_set, self.val_set))
            target = self.head
            fit_data = _ArrayBatches(features[0], *self._targets(self.train_set), self.config, epoch=self._epoch(1))
            val_data = _ArrayBatches(features[1], self.val_set.targets, None, self.config, shuffle=False)
        else:
            features, target = None, self.model
            fit_data = self._pipeline(self.train_set, training=True)
            val_data = self._pipeline(self.val_set, training=False)
        self._fit(target, 1, fit_data, val_data, self.config.epochs, self.config.learning_rate)
        self._save_weights(self.head, "phase1-final")
        self.state.update(phase1_done=True, phase=2, epoch=0)
        self._save_state()
        return features

    def _phase2(self) -> None:
        unfreeze_top(self.model.get_layer("backbone"), self.config.fine_tune, self.spec.block_pattern)
        epochs = self.config.fine_tune_epochs or self.config.epochs
        lr = self.config.fine_tune_learning_rate or self.config.learning_rate / 10
        fit_data = self._pipeline(self.train_set, training=True)
        self._fit(self.model, 2, fit_data, self._pipeline(self.val_set, training=False), epochs, lr)
        self.state.update(phase2_done=True)
        self._save_state()

    def _fit(self, target: Any, phase: int, fit_data: Any, val_data: Any, epochs: int, lr: float) -> None:
        resumed = self.state.get("phase") == phase and self.state.get("epoch", 0) > 0
        start = self.state["epoch"] if resumed else 0
        if resumed:
            self._load_weights(target, f"phase{phase}")
            best = self._load_arrays(f"phase{phase}-best")
            if start >= epochs or self.state.get("stopped"):  # killed after the phase's last epoch
                if best is not None:
                    target.set_weights(best)
                return
        batch = self.config.batch_size
        rate = (
            keras.optimizers.schedules.CosineDecay(lr, decay_steps=epochs * math.ceil(len(self.train_set) / batch))
            if self.config.schedule == "cosine"
            else lr
        )
        metrics = ["accuracy"] if self.build.task != "regression" else ["mae"]
        if self.build.task == "classification" and self.build.num_outputs > 5:
            metrics.append(keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5_accuracy"))
        target.compile(optimizer=keras.optimizers.Adam(rate), loss=LOSSES[self.build.task], metrics=metrics)
        callback = _EpochEnd(self, phase, self.config.patience)
        if resumed:
            callback.restore(self.state.get("early_stopping", {}), best)
            _restore_optimizer(target, self._load_arrays(f"phase{phase}-optimizer"))
        else:
            self.state.update(phase=phase, epoch=0, stopped=False, early_stopping={})
        target.fit(
            fit_data,
            validation_data=val_data,
            epochs=epochs,
            initial_epoch=start,
            callbacks=[callback],
            shuffle=False,  # the data shuffles itself, reproducibly from the seed
            verbose=self.verbose,
        )

    def _finish(self, features: tuple[np.ndarray, np.ndarray] | None) -> Run:
        if features is not None and not self.config.fine_tune:
            outputs = self.head.predict(_ArrayBatches(features[1], None, None, self.config, shuffle=False), verbose=0)
        else:
            outputs = self.model.predict(self._pipeline(self.val_set, training=False, targets=False), verbose=0)
        names = self.train_set.class_names
        metrics = report.compute_metrics(self.build.task, self.val_set.targets, outputs, names)
        with files.atomic_path(self.dir / "model.keras") as tmp:
            self.model.save(tmp)
        files.write_json(self.dir / "metrics.json", metrics)
        report.write_history_csv(self.history, self.dir / "history.csv")
        report.plot_learning_curves(self.history, self.dir / "learning_curves.png")
        if "confusion_matrix" in metrics:
            report.plot_confusion_matrix(metrics["confusion_matrix"], names, self.dir / "confusion_matrix.png")
        data = self._data_summary()
        report.write_model_card(
            self.dir / "README.md",
            name=self.dir.name,
            spec={**self.spec.to_dict(), "input_shape": list(self.build.input_shape)},
            config={**dataclasses.asdict(self.config), **self.build.to_dict()},
            metrics=metrics,
            class_names=names,
            task=self.build.task,
            data_summary=data,
        )
        self.state["complete"] = True
        self._save_state()
        for leftover in (self.dir / "checkpoints").glob("*"):
            leftover.unlink()
        return Run(self.dir, self.model, self.history, metrics, names, data)

    # -- data ------------------------------------------------------------------------------------
    def _data_summary(self) -> dict[str, Any]:
        summary = {
            "train examples": len(self.train_set),
            "validation examples": len(self.val_set),
            "skipped files": len(self.train_set.skipped) + len(self.val_set.skipped),
        }
        if self.spec.modality == "text" and self.spec.preprocessing.pooling != "none":
            limit = self.build.input_shape[0]  # tokens read of each text
            summary[f"texts cut at {limit} tokens"] = sum(self._truncated(d) for d in (self.train_set, self.val_set))
        return summary

    def _truncated(self, dataset: Dataset) -> int:
        """How many texts fill the whole token window (so were cut, or end exactly there)."""
        steps = [layer for layer in self.model.layers if layer.name in ("lowercase", "preprocessing")]
        limit, count = self.build.input_shape[0], 0
        for batch in self._pipeline(dataset, training=False, targets=False):
            for layer in steps:
                batch = layer(batch)
            count += int((keras.ops.convert_to_numpy(batch["padding_mask"]).sum(axis=1) >= limit).sum())
        return count

    def _features(self, extractor: Any, dataset: Dataset, identity: str) -> np.ndarray:
        batch = self.config.batch_size
        return cached_extract(extractor, dataset, self.cache, batch_size=batch, identity=identity, verbose=self.verbose)

    def _pipeline(self, dataset: Dataset, training: bool, targets: bool = True) -> Any:
        batches = pipeline(
            dataset,
            image_size=self.build.input_shape[:2] or None,
            interpolation=getattr(self.spec.preprocessing, "interpolation", "bilinear"),
            batch_size=self.config.batch_size,
            shuffle=training and self.config.shuffle,
            seed=self.config.seed,
            augment=self.config.augment if training else None,
            with_targets=targets,
        )
        if not training or self.config.class_weight is None:
            return batches
        import tensorflow as tf

        table = tf.constant(_class_weights(dataset), dtype=tf.float32)
        return batches.map(lambda x, y: (x, y, tf.gather(table, y)))

    def _targets(self, dataset: Dataset) -> tuple[np.ndarray, np.ndarray | None]:
        if self.config.class_weight is None:
            return dataset.targets, None
        return dataset.targets, _class_weights(dataset)[dataset.targets]

    def _epoch(self, phase: int) -> int:
        return self.state.get("epoch", 0) if self.state.get("phase") == phase else 0

    # -- checkpoints -----------------------------------------------------------------------------
    def _save_state(self) -> None:
        files.write_json(self.dir / "state.json", {**self.state, "history": self.history})

    def _checkpoint(self, name: str) -> Path:
        return self.dir / "checkpoints" / name

    def _save_weights(self, model: Any, name: str) -> None:
        with files.atomic_path(self._checkpoint(f"{name}.weights.h5")) as tmp:
            model.save_weights(tmp)

    def _load_weights(self, model: Any, name: str) -> None:
        model.load_weights(self._checkpoint(f"{name}.weights.h5"))

    def _save_arrays(self, name: str, arrays: Sequence[np.ndarray]) -> None:
        with files.atomic_path(self._checkpoint(f"{name}.npz")) as tmp, open(tmp, "wb") as f:
            np.savez(f, *arrays)

    def _load_arrays(self, name: str) -> list[np.ndarray] | None:
        path = self._checkpoint(f"{name}.npz")
        if not path.exists():
            return None
        with np.load(path) as data:
            return [data[f"arr_{i}"] for i in range(len(data.files))]


class _EpochEnd(keras.callbacks.Callback):
    """Early stopping on val_loss with best-weights restore, history, and a checkpoint per epoch."""

    def __init__(self, trainer: _Trainer, phase: int, patience: int | None) -> None:
        super().__init__()
        self.trainer, self.phase, self.patience = trainer, phase, patience
        self.best, self.best_epoch, self.wait, self.best_weights = math.inf, -1, 0, None

    def restore(self, state: dict[str, Any], best_weights: list[np.ndarray] | None) -> None:
        self.best = state.get("best", math.inf)
        self.best_epoch, self.wait = state.get("best_epoch", -1), state.get("wait", 0)
        self.best_weights = best_weights

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        trainer, logs = self.trainer, dict(logs or {})
        optimizer = self.model.optimizer
        row = {"phase": self.phase, "epoch": epoch + 1, **{k: float(v) for k, v in logs.items()}}
        row["learning_rate"] = float(np.asarray(optimizer.learning_rate))
        trainer.history.append(row)
        current = logs.get("val_loss")
        stopped = False
        if current is not None and current < self.best:
            self.best, self.best_epoch, self.wait = float(current), epoch, 0
            self.best_weights = self.model.get_weights()
            trainer._save_arrays(f"phase{self.phase}-best", self.best_weights)
        elif current is not None:
            self.wait += 1
            stopped = self.patience is not None and self.wait >= self.patience
            self.model.stop_training = stopped
        trainer._save_weights(self.model, f"phase{self.phase}")
        trainer._save_arrays(f"phase{self.phase}-optimizer", [np.asarray(v) for v in optimizer.variables])
        trainer.state.update(
            phase=self.phase,
            epoch=epoch + 1,
            stopped=stopped,
            early_stopping={"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait},
        )
        trainer._save_state()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class _ArrayBatches(keras.utils.PyDataset):
    """Batches of rows of a (memory-mapped) array, shuffled per epoch with the run's seed."""

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray | None,
        sample_weight: np.ndarray | None,
        config: TrainConfig,
        *,
        shuffle: bool | None = None,
        epoch: int = 0,
    ) -> None:
        super().__init__()
        self.x, self.y, self.sample_weight, self.config = x, y, sample_weight, config
        self.epoch = epoch
        self.shuffle = config.shuffle if shuffle is None else shuffle
        self.order = self._order()

    def _order(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(len(self.x))
        return np.random.default_rng([self.config.seed, self.epoch]).permutation(len(self.x))

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.config.batch_size)

    def __getitem__(self, index: int) -> Any:
        size = self.config.batch_size
        rows = np.sort(self.order[index * size : (index + 1) * size])
        batch = np.asarray(self.x[rows], dtype="float32")
        if self.y is None:
            return (batch,)
        if self.sample_weight is None:
            return batch, self.y[rows]
        return batch, self.y[rows], self.sample_weight[rows]

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = self._order()


def unfreeze_top(network: Any, count: int, block_pattern: str | None) -> list[str]:
    """Make the top ``count`` blocks (or weighted layers, without a pattern) trainable; BatchNorm stays frozen.

    Returns the names of the unfrozen blocks or layers, top first.
    """
    network.trainable = True
    layers = [layer for layer in network.layers if layer.weights]
    if block_pattern:
        units: list[tuple[str, list[Any]]] = []
        for layer in layers:
            match = re.search(block_pattern, layer.name)
            if match and (not units or units[-1][0] != match.group(1)):
                units.append((match.group(1), []))
            if units:
                units[-1][1].append(layer)
    else:
        units = [(layer.name, [layer]) for layer in layers]
    if count < 1 or count > len(units):
        raise ValueError(f"fine_tune must be between 1 and {len(units)} (blocks of {network.name}), got {count}")
    chosen = units[-count:]
    keep = {id(layer) for _, members in chosen for layer in members}
    for layer in network.layers:
        frozen_bn = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = id(layer) in keep and not frozen_bn
    return [name for name, _ in reversed(chosen)]


def _restore_optimizer(model: Any, values: list[np.ndarray] | None) -> None:
    if values is None:
        return
    model.optimizer.build(model.trainable_variables)
    variables = model.optimizer.variables
    if len(variables) != len(values):
        raise RunError(f"the checkpoint's optimizer has {len(values)} variables, expected {len(variables)}")
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)


def _class_weights(dataset: Dataset) -> np.ndarray:
    counts = np.bincount(dataset.targets, minlength=len(dataset.class_names)).astype("float64")
    return np.where(counts > 0, len(dataset) / (len(counts) * np.maximum(counts, 1)), 0.0).astype("float32")


def _build_for(
    name: str,
    dataset: Dataset,
    head: str,
    hidden: Sequence[int],
    dropout: float,
    weights: Weights,
    input_shape: Any,
    mixed_precision: bool,
) -> Any:
    counts = {"num_classes": dataset.num_outputs} if dataset.task != "regression" else {}
    if dataset.task == "regression":
        counts["num_outputs"] = dataset.num_outputs
    previous = keras.config.dtype_policy()
    if mixed_precision:
        keras.config.set_dtype_policy("mixed_float16" if _has_gpu() else "mixed_bfloat16")
    try:
        return build(name, task=dataset.task, head=head, hidden=hidden, dropout=dropout, weights=weights,
                     input_shape=input_shape, **counts)  # fmt: skip
    finally:
        keras.config.set_dtype_policy(previous)


def _has_gpu() -> bool:
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if keras.backend.backend() == "jax":
        import jax

        return jax.default_backend() == "gpu"
    return False


def _check(config: TrainConfig) -> None:
    if config.epochs < 1 or config.batch_size < 1 or config.learning_rate <= 0:
        raise ValueError("epochs and batch_size must be positive integers and learning_rate positive")
    if config.schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {config.schedule!r}")
    if config.class_weight not in (None, "balanced"):
        raise ValueError(f"class_weight must be None or 'balanced', got {config.class_weight!r}")
    if config.fine_tune is not None and config.fine_tune < 1:
        raise ValueError("fine_tune is a number of top blocks (>= 1) to unfreeze, or None")


def _describe_source(data: Any) -> str | None:
    if data is None:
        return None
    if isinstance(data, (str, os.PathLike)):
        return str(Path(data).resolve())
    return "<arrays>" if isinstance(data, tuple) else "<dataset>"


def _default_run_dir(backbone: str) -> Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{backbone}-{stamp}"


def _read(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "config.json"
    if not path.exists():
        raise RunError(f"{run_dir} is not a run directory (no config.json)")
    return json.loads(path.read_text())
