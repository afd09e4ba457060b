"""``zoo tune``: a hyperparameter search with Optuna on cached features.

Each candidate backbone runs once over the data, its feature maps cached (each head reduction is then applied
to them as the model's own pooling layer would); then every trial trains a new head on them, in seconds:
Optuna's TPE sampler picks the options, and its median pruner stops a trial whose validation loss, epoch by
epoch, trails the median of the trials before it. A trial trains as ``zoo train``'s phase 1 does on cached
features (the same data split, options, optimizer, schedule, loss and standardisation; only the head's first
random weights differ) and scores its best epoch's validation loss, of the true labels where label smoothing
(which it searches) smooths the loss's targets (see :func:`_score_key`).
The best options then make a ``zoo train`` command, or a run (``zoo tune --train-best``).

With a ``storage`` (Optuna's RDB storage: ``sqlite:///study.db`` on one host, a database server's URL across
hosts) and a ``study`` name, several processes add trials to one study. The study records the settings its trials
share (the data, the backbones searched, every option not searched) when it is created, and refuses a process
with other settings: its trials would not compare, and its best options would make the wrong command.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import random
import shlex
import time
from collections.abc import Mapping, Sequence
from typing import Any, cast

import keras
import numpy as np

from zoo import interrupts
from zoo.cache import FeatureCache, cache_key
from zoo.config import TUNE_OPTIONS, Task, TrainConfig, check_taken
from zoo.console import say
from zoo.data import Dataset, load_dataset, split
from zoo.errors import ConfigError, first_line
from zoo.features import model_identity
from zoo.heads import STANDARDIZE, build_head, set_standardization
from zoo.plugins import get_spec, select_backbones
from zoo.tracking import MlflowRun, require_mlflow
from zoo.trainer import (
    CROSSENTROPY,
    build_for_training,
    epoch_metrics,
    learning_rate_schedule,
    losses,
    optimizer_for,
    seeded,
)
from zoo.training_data import ArrayBatches, TrainingData

HIDDEN = {"none": (), "256": (256,), "512": (512,), "256,128": (256, 128)}  # the head's hidden layers tried
STARTUP_TRIALS = 5  # trials the median pruner lets finish before it compares
WARMUP_EPOCHS = 2  # epochs of each trial it lets pass before it compares
CREATE_TRIES = 5  # attempts at opening a study that other processes are creating at the same moment
SEARCHED = ("head", "hidden", "dropout", "learning_rate", "label_smoothing", "optimizer", "weight_decay",
            "class_weight")  # the options a trial draws (_suggest)  # fmt: skip
UNSCORED = ("mlflow", "tensorboard", "distribution")  # where a process logs and runs, not what its trials score
SETTINGS = "zoo_settings"  # the study's user attribute that records the settings its trials share


@dataclasses.dataclass
class Tuning:
    """A finished search: every trial of the study (this process's and any other's), the best one's options, and
    the ``zoo train`` command that trains with them."""

    study: str
    trials: list[dict[str, Any]]
    best: dict[str, Any]
    command: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@interrupts.stoppable
def tune(
    data: Any,
    backbones: str | Sequence[str],
    *,
    trials: int = 20,
    epochs: int = 10,
    storage: str | None = None,
    study: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    verbose: int = 1,
    **options: Any,
) -> Tuning:
    """Search the head's options (and the backbone, when ``backbones`` names several) for ``trials`` trials of
    ``epochs`` epochs on ``data``, each scored by its best validation loss; returns every trial and the best.

    The space: the head's reduction (``avg``, ``max``, ``flatten``, for a feature map), hidden layers
    (none, 256, 512, 256+128), dropout (0 to 0.5), the learning rate (1e-4 to 3e-2, log), label smoothing (0 to
    0.2; not for regression), the optimizer (Adam, or AdamW with a weight decay of 1e-5 to 0.1, log) and class
    weights (none or balanced; classification). ``options`` fix the rest as for :func:`zoo.train` (``weights``,
    ``input_shape``, ``batch_size``, ``val_fraction``, ``seed``, ``task``). ``storage`` and ``study`` share the
    study with other processes (each then samples from its own random state: ``seed`` fixes the data split
    and the heads' first weights, not the trials); the study keeps the settings it was created with (the data,
    ``backbones``, ``epochs`` and every fixed option but ``mlflow``), and a process with others is refused.

    >>> found = tune("data/train", "tiny_image", trials=2, epochs=2, weights=None, verbose=0)
    >>> len(found.trials), found.command.startswith("zoo train --backbone tiny_image --data data/train")
    (2, True)
    """
    import optuna

    if not isinstance(trials, int) or isinstance(trials, bool) or trials < 1:
        raise ConfigError(f"trials must be a positive integer, got {trials!r}")
    if study is not None and storage is None and not options.get("mlflow"):  # else it names the MLflow run
        raise ConfigError(f"the study {study!r} is kept in a storage: pass storage too (e.g. 'sqlite:///study.db')")
    base = TrainConfig.from_options({**options, "epochs": epochs})
    if base.mlflow:
        require_mlflow()
    if base.augment or base.fine_tune:
        raise ConfigError("zoo tune searches the head on cached features: drop augment and fine_tune (train the best "
                          "options with them: train_best, fine-tuning included)")  # fmt: skip
    check_taken({k: v for k, v in options.items() if k not in ("augment", "fine_tune")}, TUNE_OPTIONS,
                "tune (it searches the head, the learning rate and the optimizer itself)")  # fmt: skip
    dataset = load_dataset(data, task=cast(Task, base.task))
    names = [spec.name for spec in select_backbones(backbones, dataset.modality)]
    if not names:
        raise ConfigError(
            f"no {dataset.modality} backbone matches {backbones!r}: see `zoo list --modality {dataset.modality}`"
        )
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # a trial's error reaches the caller: no log line of its own
    settings = _settings(dataset, names, base)
    shared = _storage(storage)  # before the features: a URL it cannot open, or a study of other settings, fail now
    if shared is not None and study in optuna.get_all_study_names(shared):
        _check_settings(optuna.load_study(study_name=study, storage=shared), settings)
    sets = split(dataset, base.val_fraction, base.seed)
    store = _Features(sets, base, FeatureCache(cache_dir), verbose)
    for name in names:  # before the study: a backbone that cannot run (weights, input size) fails here, in one line
        store.of(name, base)
    searched = _study(shared, study, base.seed, settings)
    tracked = _track_study(base, searched.study_name, names, data, trials) if base.mlflow else None

    def objective(trial: Any) -> float:
        name, config = _suggest(trial, names, dataset, base)
        logged = tracked.nested(f"trial {trial.number}", trial.params) if tracked else None
        try:
            score, accuracy = store.train_head(name, config, trial, logged)
        except BaseException as err:
            if logged is not None:  # a pruned trial is ended as killed, with its epochs so far
                logged.end_after(err, optuna.TrialPruned)
            raise
        if accuracy is not None:
            trial.set_user_attr("val_accuracy", accuracy)
        if logged is not None:
            logged.log_metrics({"best_val_loss": score, "best_val_accuracy": accuracy}, config.epochs)
            logged.end("FINISHED")
        say(f"trial {trial.number}: {score_words(score, config.label_smoothing)}", verbose)
        return score

    try:
        searched.optimize(objective, n_trials=trials, catch=())
        found = _result(searched, names, data, base)
    except BaseException as err:
        if tracked is not None:
            tracked.end_after(err)
        raise
    if tracked is not None:
        tracked.log_metrics({"best_value": found.best["value"], "best_trial": found.best["number"]})
        tracked.set_tag("zoo.command", found.command)
        tracked.end("FINISHED")
    return found


def _track_study(base: TrainConfig, study: str, names: list[str], data: Any, trials: int) -> MlflowRun | None:
    """The MLflow run of this process's part of the study (each trial a run nested in it)."""
    params = {"study": study, "backbones": ",".join(names), "data": str(data), "trials": trials, **base.to_dict()}
    return MlflowRun.open(base.mlflow, f"zoo tune {study}", tags={"zoo.study": study}, params=params)


def _settings(dataset: Dataset, names: list[str], base: TrainConfig) -> dict[str, Any]:
    """What every trial of a study shares: the data (its examples and labels), the backbones searched, and every
    option not searched (the epochs among them), tracking and placement aside."""
    fixed = {k: v for k, v in base.to_dict().items() if k not in SEARCHED + UNSCORED}
    data = cache_key(examples=dataset.digests, labels=dataset.label_digest)
    return cast(dict[str, Any], json.loads(json.dumps({"data": data, "backbones": names, **fixed})))


def _check_settings(searched: Any, settings: dict[str, Any]) -> None:
    """Refuse to add trials with ``settings`` to a study created with others."""
    recorded = searched.user_attrs.get(SETTINGS, settings)  # a study made elsewhere: nothing to compare
    differs = [key for key in {**recorded, **settings} if recorded.get(key) != settings.get(key)]
    if not differs:
        return
    key = differs[0]
    said = "other data" if key == "data" else f"{key} {recorded.get(key)!r}, not {settings.get(key)!r}"
    raise ConfigError(f"the study {searched.study_name} was created with {said}: its trials would not compare; give "
                      "its settings, or use another --study name")  # fmt: skip


def _storage(url: str | None) -> Any:
    """Optuna's storage at ``url`` (``None``: the study in memory), its tables made if new.

    Processes that start together on a new database race to create its tables (and then the study), and all but
    one fail: they try again, briefly, and find what the first made.
    """
    import optuna
    import sqlalchemy.exc

    if url is None:
        return None
    if not isinstance(url, str):
        raise ConfigError(f"storage must be an Optuna storage URL such as 'sqlite:///study.db', got {url!r:.60}")
    try:
        for _ in range(CREATE_TRIES - 1):
            with contextlib.suppress(sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError):
                return optuna.storages.RDBStorage(url)
            time.sleep(random.uniform(0.2, 1.0))  # another process is making the same tables now
        return optuna.storages.RDBStorage(url)
    except (sqlalchemy.exc.SQLAlchemyError, ValueError, ImportError) as err:  # a bad URL, a missing driver
        raise ConfigError(f"cannot open the Optuna storage {url}: {first_line(err)}; check the URL, or give a new "
                          "SQLite file (sqlite:///study.db)") from None  # fmt: skip


def _study(storage: Any, name: str | None, seed: int, settings: dict[str, Any]) -> Any:
    """The Optuna study to add trials to: new, ``settings`` recorded in it, or the one named ``name`` in ``storage``,
    refused if it was created with other ``settings``."""
    import optuna
    import sqlalchemy.exc

    # seeded alone; in a shared study each process draws its own trials (one seed would repeat the others')
    sampler = optuna.samplers.TPESampler(seed=seed if storage is None else None)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=STARTUP_TRIALS, n_warmup_steps=WARMUP_EPOCHS)
    tries = CREATE_TRIES
    while True:
        tries -= 1
        try:
            searched = optuna.create_study(study_name=name, storage=storage, direction="minimize", sampler=sampler,
                                           pruner=pruner)  # fmt: skip
        except optuna.exceptions.DuplicatedStudyError:
            searched = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
            if SETTINGS not in searched.user_attrs and tries:
                time.sleep(random.uniform(0.2, 1.0))  # created a moment ago: its creator records the settings next
                continue
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError) as err:
            if not tries:
                raise ConfigError(f"cannot create the study {name} in {storage.url}: {first_line(err)}") from None
            time.sleep(random.uniform(0.2, 1.0))  # another process is creating it now
            continue
        _check_settings(searched, settings)
        if SETTINGS not in searched.user_attrs:  # new, or made by Optuna alone
            searched.set_user_attr(SETTINGS, settings)
        return searched


def _suggest(trial: Any, names: list[str], dataset: Dataset, base: TrainConfig) -> tuple[str, TrainConfig]:
    """The trial's backbone and options, drawn from the space :func:`tune` describes."""
    name = trial.suggest_categorical("backbone", names)  # one name too: each trial records its own backbone
    chosen: dict[str, Any] = {"hidden": HIDDEN[trial.suggest_categorical("hidden", list(HIDDEN))]}
    if get_spec(name).reduces:
        chosen["head"] = trial.suggest_categorical("head", ["avg", "max", "flatten"])
    chosen["dropout"] = trial.suggest_float("dropout", 0.0, 0.5)
    chosen["learning_rate"] = trial.suggest_float("learning_rate", 1e-4, 3e-2, log=True)
    if dataset.task != "regression":
        chosen["label_smoothing"] = trial.suggest_float("label_smoothing", 0.0, 0.2)
    chosen["optimizer"] = trial.suggest_categorical("optimizer", ["adam", "adamw"])
    if chosen["optimizer"] == "adamw":
        chosen["weight_decay"] = trial.suggest_float("weight_decay", 1e-5, 0.1, log=True)
    if dataset.task == "classification":
        weighted = trial.suggest_categorical("class_weight", ["none", "balanced"])
        chosen["class_weight"] = None if weighted == "none" else weighted
    return name, base.updated(chosen)


class _Features:
    """Each backbone's cached features of the training and validation sets, made once: for a network that gives a
    feature map, the map itself, which each head reduction (avg, max, flatten) then reduces as the model's own
    pooling layer would."""

    def __init__(self, sets: tuple[Dataset, Dataset], base: TrainConfig, cache: FeatureCache, verbose: int) -> None:
        self.train_set, self.val_set = sets
        self.base, self.cache, self.verbose = base, cache, verbose
        self.made: dict[str, tuple[Any, np.ndarray, np.ndarray]] = {}
        self.reduced: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}

    def of(self, name: str, config: TrainConfig) -> tuple[Any, np.ndarray, np.ndarray]:
        """``(recipe, train features, validation features)`` of backbone ``name`` under ``config``'s reduction."""
        if name not in self.made:
            self.made[name] = self._extract(name)
        recipe, train, val = self.made[name]
        if not get_spec(name).reduces:
            return recipe, train, val
        if (name, config.head) not in self.reduced:
            self.reduced[name, config.head] = (_reduce(train, config.head), _reduce(val, config.head))
        return (recipe, *self.reduced[name, config.head])

    def _extract(self, name: str) -> tuple[Any, np.ndarray, np.ndarray]:
        with seeded(self.base.seed):
            _, model = build_for_training(name, self.train_set, self.base)
        recipe = model.zoo_config
        pool = model.get_layer(recipe.parts.features)  # the reduction: its input is the network's feature map
        output = pool.input if get_spec(name).reduces else pool.output
        extractor = keras.Model(model.inputs, output, name="features")
        plan, identity = self._plan(self.base, recipe), model_identity(extractor)
        splits = (("train", self.train_set), ("validation", self.val_set))
        return (recipe, *(plan.features(extractor, data, identity, split) for split, data in splits))

    def _plan(self, config: TrainConfig, recipe: Any) -> TrainingData:
        return TrainingData.on_one_device(self.train_set, self.val_set, config, recipe, self.cache, self.verbose)

    def train_head(
        self, name: str, config: TrainConfig, trial: Any, logged: MlflowRun | None = None
    ) -> tuple[float, float | None]:
        """Train a new head on ``name``'s features as ``config`` says, reporting each epoch's validation loss to
        ``trial`` (pruned when it trails) and its metrics to the ``logged`` MLflow run; its best validation loss,
        and that epoch's accuracy."""
        import optuna

        recipe, train_features, val_features = self.of(name, config)
        with seeded(config.seed):
            # the head zoo.train builds with these options, its first weights from the same seed
            head = build_head(train_features.shape[1:], recipe.task, recipe.num_outputs, config.hidden, config.dropout,
                              True, config.seed)  # fmt: skip
            set_standardization(head.get_layer(STANDARDIZE), train_features)
            per_epoch = math.ceil(len(train_features) / config.batch_size)
            rate = learning_rate_schedule(config.learning_rate, config.epochs * per_epoch, 0, config.schedule)
            loss = losses(recipe.task, recipe.num_outputs, config.label_smoothing, weighted=False)[0]
            head.compile(optimizer=optimizer_for(config, rate), loss=loss,
                         metrics=epoch_metrics(recipe.task, recipe.num_outputs, config.label_smoothing))  # fmt: skip
            plan = self._plan(config, recipe)
            batches = ArrayBatches(train_features, *plan.targets(self.train_set), config)
            validation = ArrayBatches(val_features, self.val_set.targets, None, config, shuffle=False)
            history = head.fit(batches, validation_data=validation, epochs=config.epochs, verbose=0, shuffle=False,
                               callbacks=[_Report(trial, logged), interrupts.keras_callback()])  # fmt: skip
            # shuffle=False as zoo.train: the batches shuffle themselves from the seed, where Keras would fetch
            # them in an order of its global generator's (a trial then trains unlike the run of its options)
        if trial.should_prune():
            raise optuna.TrialPruned()
        val_losses = history.history[_score_key(history.history)]
        best = int(np.nanargmin(val_losses)) if np.isfinite(val_losses).any() else 0
        accuracy = history.history.get("val_accuracy")
        return float(val_losses[best]), (float(accuracy[best]) if accuracy else None)


def _reduce(maps: np.ndarray, head: str) -> np.ndarray:
    """Feature maps ``(N, ..., C)`` reduced as the head's pooling layer does: the mean or the maximum over the
    positions, or every value in a row.

    >>> maps = np.arange(8, dtype="float32").reshape(1, 2, 2, 2)
    >>> _reduce(maps, "avg").tolist(), _reduce(maps, "max").tolist(), _reduce(maps, "flatten").shape
    ([[3.0, 4.0]], [[6.0, 7.0]], (1, 8))
    """
    positions = tuple(range(1, maps.ndim - 1))
    if head == "flatten":
        return np.asarray(maps, dtype="float32").reshape(len(maps), -1)
    return np.asarray(maps.mean(axis=positions) if head == "avg" else maps.max(axis=positions), dtype="float32")


def score_words(score: float, smoothing: float | None) -> str:
    """A trial's score in words, saying whose loss it is where the trial smoothed its targets.

    >>> score_words(0.1234, 0.1)
    'validation loss 0.1234 (of the true labels: its loss was of smoothed ones)'
    """
    whose = " (of the true labels: its loss was of smoothed ones)" if smoothing else ""
    return f"validation loss {score:.4g}{whose}"


def _score_key(logs: Mapping[str, Any]) -> str:
    """What trials are compared by: the validation cross-entropy of the true labels (``val_crossentropy``) where
    the loss is of smoothed ones (label smoothing is searched, and a smoothed target's loss has a floor, its
    entropy: that would rank the smoothing, not the head), else the validation loss."""
    return f"val_{CROSSENTROPY}" if f"val_{CROSSENTROPY}" in logs else "val_loss"


class _Report(keras.callbacks.Callback):
    """Each epoch's validation loss to the Optuna trial, and its metrics to the trial's MLflow run if ``logged``;
    training stops when the pruner says the trial trails."""

    def __init__(self, trial: Any, logged: MlflowRun | None) -> None:
        super().__init__()
        self.trial, self.logged = trial, logged

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.logged is not None:
            self.logged.log_metrics(logs or {}, epoch)
        value = float((logs or {}).get(_score_key(logs or {}), math.inf))
        self.trial.report(value if math.isfinite(value) else math.inf, epoch)
        if self.trial.should_prune():
            self.model.stop_training = True


def _result(searched: Any, names: list[str], data: Any, base: TrainConfig) -> Tuning:
    """The study's trials, its best trial's options and the ``zoo train`` command that uses them."""
    rows = [
        {
            "number": t.number,
            "state": t.state.name.lower(),
            "value": t.value,
            "params": t.params,
            "val_accuracy": t.user_attrs.get("val_accuracy"),
        }
        for t in searched.trials
    ]
    done = [t for t in searched.trials if t.value is not None and t.state.name == "COMPLETE"]
    if not done:
        raise ConfigError("no trial finished (every one was pruned or failed): run more trials")
    best = min(done, key=lambda t: t.value)
    name, chosen = best_options(best.params, names)
    return Tuning(searched.study_name, rows, {"number": best.number, "value": best.value, "params": best.params},
                  train_command(name, data, base.updated(chosen)))  # fmt: skip


def best_options(params: dict[str, Any], names: list[str]) -> tuple[str, dict[str, Any]]:
    """The backbone and :class:`zoo.TrainConfig` options of a trial's ``params``.

    >>> best_options({"hidden": "256,128", "dropout": 0.2, "class_weight": "none"}, ["resnet50"])
    ('resnet50', {'hidden': (256, 128), 'dropout': 0.2, 'class_weight': None})
    """
    chosen = {k: v for k, v in params.items() if k != "backbone"}
    if "hidden" in chosen:
        chosen["hidden"] = HIDDEN[chosen["hidden"]]
    if chosen.get("class_weight") == "none":
        chosen["class_weight"] = None
    return params.get("backbone", names[0]), chosen


def train_command(backbone: str, data: Any, config: TrainConfig) -> str:
    """The ``zoo train`` command, one line, shell-quoted, that trains ``backbone`` on ``data`` with ``config``'s
    options that differ from the defaults (placement aside).

    >>> train_command("resnet50", "my data", TrainConfig(weights=None, hidden=(256,), learning_rate=0.0025))
    "zoo train --backbone resnet50 --data 'my data' --hidden 256 --weights none --lr 0.0025"
    """
    values, defaults = config.to_dict(), TrainConfig().to_dict()
    words = ["zoo", "train", "--backbone", backbone, "--data", str(data)]
    for field in dataclasses.fields(TrainConfig):
        key, value = field.name, values[field.name]
        if value == defaults[key] or key == "distribution":
            continue
        flag = field.metadata.get("flags", (f"--{key.replace('_', '-')}",))[0]
        if isinstance(value, bool):
            words.append(flag if value else f"--no-{key.replace('_', '-')}")
        elif isinstance(value, list):
            words += [flag, *map(str, value)]
        elif value is None:
            words += [flag, "none"] if key == "weights" else []
        else:
            words += [flag, _exact(value) if isinstance(value, float) else str(value)]
    return shlex.join(words)


def _exact(value: float) -> str:
    """``value`` in 4 significant digits where they are exact, else in full: the command trains as the trial did.

    >>> _exact(0.0025), _exact(0.0030612345678)
    ('0.0025', '0.0030612345678')
    """
    short = f"{value:.4g}"
    return short if float(short) == value else repr(value)
