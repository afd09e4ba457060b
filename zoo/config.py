"""The options of a training run and the record of a built model: one definition each.

:class:`TrainConfig` is the single source of ``zoo.train``'s keyword options, of what ``resume``
reads back from ``config.json``, and of the ``zoo train`` flags with their help and defaults.
:class:`ModelConfig` is what the zoo knows about a model it built (backbone, task, head, labels,
and the names of its parts), kept with the model so a loaded model can be trained again.
Neither imports TensorFlow or Keras: the CLI checks every option before paying for them.
"""

from __future__ import annotations

import dataclasses
import difflib
import numbers
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from zoo.errors import ConfigError
from zoo.spec import as_lists

# The tracking URIs MLflow takes (`--mlflow URI`): its servers, its database stores, Databricks, its file store.
MLFLOW_SCHEMES = (
    "http", "https", "sqlite", "postgresql", "mysql", "mssql", "databricks", "databricks-uc", "uc", "file"
)  # fmt: skip
Task = Literal["classification", "multilabel", "regression"]
TASKS = ("classification", "multilabel", "regression")
HEADS = ("avg", "max", "flatten")
SCHEDULES = ("cosine", "constant")
OPTIMIZERS = ("adam", "adamw", "sgd")
ADAMW_WEIGHT_DECAY = 0.004  # Keras' AdamW default, where weight_decay is not given
CLASS_WEIGHTS = ("balanced",)
AUGMENTATIONS = ("crop", "flip", "rotation", "zoom", "contrast")
ONE_HOST = ("auto", "none", "mirrored")  # what extraction and ranking accept: several hosts are the trainer's
DISTRIBUTIONS = (*ONE_HOST, "multi-worker")
STRATEGY = "strategy:"  # config.json's record of a distribution given as an object: "strategy:MirroredStrategy"
TOP_K = 5  # labels per input that zoo.predict and `zoo predict` give unless told otherwise
TOP_ACCURACY_K = 5  # top5_accuracy: the true class among the best 5, measured where there are more classes
ACTIVATIONS = {"classification": "softmax", "multilabel": "sigmoid", "regression": None}  # the head's last Dense


def _option(default: Any, help: str, **cli: Any) -> Any:
    """A dataclass field that also describes its ``zoo train`` flag (``flags``, ``type``, ``choices``, ...).

    ``shown`` is how ``--help`` words the default where the bare value would not say it (``None``).
    """
    factory = {"default_factory": lambda: default} if isinstance(default, (list, dict)) else {"default": default}
    return dataclasses.field(**factory, metadata={"help": help, **cli})


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Every option of a training run. ``zoo.train(..., **options)``, ``config.json`` and ``zoo train`` share it.

    The model options (``task`` to ``input_shape``) apply when ``train`` builds the model from a
    backbone name; the rest to every run.

    >>> TrainConfig(epochs=3, fine_tune=2).fine_tune_epochs is None
    True
    >>> TrainConfig(epochs=0)
    Traceback (most recent call last):
    zoo.errors.ConfigError: epochs must be a positive integer, got 0
    """

    task: str = _option("classification", "what the head predicts", choices=TASKS)
    head: str = _option("avg", "how the feature map is reduced before the head", choices=HEADS)
    hidden: tuple[int, ...] = _option(
        (), "hidden ReLU layer sizes of the head", type=int, nargs="*", metavar="UNITS", shown="none"
    )
    dropout: float = _option(0.0, "dropout before each Dense layer of the head", type=float)
    standardize: bool = _option(
        True,
        "standardise the features at the head's input, with statistics fitted to the training features",
        negative="build the head without its standardisation (the classic recipe exactly)",
    )
    weights: str | None = _option(
        "default", "backbone weights: default | none | PATH", metavar="WEIGHTS", shown="default, the pretrained ones"
    )
    input_shape: int | tuple[int, ...] | None = _option(
        None,
        "square image size, or tokens per text (default: the backbone's image size; for text, the 95th percentile "
        "of the training texts' token counts rounded up to a multiple of 8, at most the backbone's sequence length)",
        flags=("--input-size", "--sequence-length"),
        type=int,
        metavar="N",
    )
    epochs: int = _option(10, "phase-1 epochs (head only, backbone frozen)", type=int)
    batch_size: int = _option(32, "examples per step", type=int)
    learning_rate: float = _option(
        1e-3, "phase-1 learning rate", flags=("--lr", "--learning-rate"), type=float, metavar="LR"
    )
    fine_tune: int | None = _option(
        None, "phase 2: unfreeze the top N blocks", type=int, metavar="N", shown="none, no phase 2"
    )
    fine_tune_epochs: int | None = _option(None, "phase-2 epochs (default: --epochs)", type=int, metavar="N")
    fine_tune_learning_rate: float | None = _option(
        None, "phase-2 learning rate (default: lr/10)", type=float, metavar="LR"
    )
    augment: bool | tuple[str, ...] | None = _option(
        None,
        f"augment training images: all (no NAME), or some of {' '.join(AUGMENTATIONS)}",
        nargs="*",
        metavar="NAME",
        shown="none",
    )
    seed: int = _option(0, "seed of weights, splits, shuffling and augmentation", type=int)
    val_fraction: float = _option(0.2, "share held out for validation when no --val is given", type=float)
    patience: int | None = _option(5, "early-stopping patience in epochs (Python: None never stops early)", type=int)
    schedule: str = _option("cosine", "learning-rate schedule", choices=SCHEDULES)
    optimizer: str = _option(
        "adam", "Adam, AdamW (decoupled weight decay), or SGD with momentum 0.9", choices=OPTIMIZERS
    )
    weight_decay: float | None = _option(
        None,
        f"decoupled weight decay, any optimizer (default: {ADAMW_WEIGHT_DECAY} with adamw, none otherwise)",
        type=float,
        metavar="WD",
    )
    label_smoothing: float = _option(
        0.0,
        "move this share of each target evenly onto every class (classification and multilabel)",
        type=float,
        metavar="SHARE",
    )
    warmup_epochs: float = _option(
        0.0, "raise the learning rate linearly from 0 over the first N epochs of each phase", type=float, metavar="N"
    )
    class_weight: str | None = _option(
        None, "weigh classes by inverse frequency", choices=CLASS_WEIGHTS, shown="none, every class weighs 1"
    )
    mixed_precision: bool = _option(False, "compute in float16/bfloat16 (the model is built under the policy)")
    cache: bool = _option(
        True, "cache the frozen backbone's features", negative="run the frozen backbone every epoch instead of caching"
    )
    shuffle: bool = _option(True, "shuffle the training data every epoch", negative="keep the data in its order")
    tensorboard: bool | str = _option(
        False,
        "write TensorBoard logs (each phase's metrics and learning rate, the options as hyperparameters): in the run's "
        "tensorboard/, or in DIR/<run name> beside other runs'",
        nargs="?",
        const=True,
        metavar="DIR",
        shown="off",
    )
    mlflow: bool | str = _option(
        False,
        "log the run to MLflow (the options as params, every epoch's metrics, the final ones, the reports and the "
        "model as a pyfunc): at MLflow's default tracking URI, or at URI (an http(s) server or a local store)",
        nargs="?",
        const=True,
        metavar="URI",
        shown="off",
    )
    distribution: str | object = _option(
        "auto",
        "where to train: every local GPU when there are several (auto), one device (none), every local device "
        "(mirrored), or every device of several JAX processes (multi-worker, see docs/scaling.md); in Python also "
        "a tf.distribute.Strategy or keras.distribution.Distribution",
        flags=("--distribute",),
        choices=DISTRIBUTIONS,
    )

    def __post_init__(self) -> None:
        if isinstance(self.hidden, (list, tuple)):
            object.__setattr__(self, "hidden", tuple(self.hidden))
        if isinstance(self.augment, (list, str)):
            object.__setattr__(
                self, "augment", (self.augment,) if isinstance(self.augment, str) else tuple(self.augment)
            )
        if isinstance(self.input_shape, list):
            object.__setattr__(self, "input_shape", tuple(self.input_shape))
        if isinstance(self.tensorboard, os.PathLike):
            object.__setattr__(self, "tensorboard", os.fspath(self.tensorboard))
        if isinstance(self.weights, os.PathLike):
            object.__setattr__(self, "weights", os.fspath(self.weights))
        self.validate()

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> TrainConfig:
        """A config from keyword options; an unknown name is a :class:`ConfigError` suggesting the closest.

        >>> TrainConfig.from_options({"epoch": 3})
        Traceback (most recent call last):
        zoo.errors.ConfigError: unknown training option 'epoch'; did you mean 'epochs'?
        """
        names = [f.name for f in dataclasses.fields(cls)]
        for key in options:
            if key not in names:
                close = difflib.get_close_matches(key, names, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; options: {', '.join(names)}"
                raise ConfigError(f"unknown training option {key!r}{hint}")
        return cls(**options)

    def updated(self, options: Mapping[str, Any]) -> TrainConfig:
        """A copy with ``options`` changed, checked as :meth:`from_options` checks them.

        >>> TrainConfig(epochs=3).updated({"seed": 7}).epochs
        3
        """
        return self.from_options({**{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}, **options})

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first option with a value the trainer cannot use."""
        _choice("task", self.task, TASKS)
        _choice("head", self.head, HEADS)
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("class_weight", self.class_weight, (None, *CLASS_WEIGHTS))
        for name in ("epochs", "batch_size"):
            _positive_int(name, getattr(self, name))
        for name in ("fine_tune", "fine_tune_epochs", "patience"):
            if getattr(self, name) is not None:
                _positive_int(name, getattr(self, name))
        for name in ("learning_rate", "fine_tune_learning_rate"):
            value = getattr(self, name)
            if value is not None and (not is_number(value) or not 0 < value < float("inf")):
                raise ConfigError(f"{name} must be a positive number, got {value!r}")
        if self.weight_decay is not None and (not is_number(self.weight_decay) or not 0 <= self.weight_decay < 1):
            raise ConfigError(f"weight_decay must be a number in [0, 1), got {self.weight_decay!r}")
        if not is_number(self.label_smoothing) or not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        if self.label_smoothing and self.task == "regression":
            raise ConfigError("label_smoothing applies to classification and multilabel, not regression: drop it")
        self._check_warmup()
        if not isinstance(self.tensorboard, (bool, str)) or self.tensorboard == "":
            raise ConfigError(f"tensorboard must be True, False or a folder, got {self.tensorboard!r}")
        if not isinstance(self.mlflow, (bool, str)) or (
            isinstance(self.mlflow, str) and self.mlflow.partition("://")[0].split("+")[0].lower() not in MLFLOW_SCHEMES
        ):
            raise ConfigError(
                "mlflow must be True, False or a tracking URI (http://host:5000, https://..., sqlite:///mlflow.db, "
                f"postgresql://..., databricks), got {self.mlflow!r}"
            )
        if not is_number(self.dropout) or not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not is_number(self.val_fraction) or not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction must be between 0 and 1, got {self.val_fraction!r}")
        if any(not isinstance(h, int) or isinstance(h, bool) or h < 1 for h in self.hidden):
            raise ConfigError(f"hidden layer sizes must be positive integers, got {list(self.hidden)}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or not 0 <= self.seed < 2**32:
            raise ConfigError(f"seed must be an integer from 0 to 2**32 - 1 (4294967295), got {self.seed!r}")
        if isinstance(self.augment, tuple):
            augmentation_names(self.augment)
        if self.augment is not None and not isinstance(self.augment, (bool, tuple)):
            raise ConfigError(f"augment must be True, False, None or a list of names, got {self.augment!r}")
        if isinstance(self.distribution, str) and not self.distribution.startswith(STRATEGY):
            _choice("distribution", self.distribution, DISTRIBUTIONS)
        check_class_weight(self.class_weight, self.task)

    def _check_warmup(self) -> None:
        if not is_number(self.warmup_epochs) or not 0 <= self.warmup_epochs < float("inf"):
            raise ConfigError(f"warmup_epochs must be a number of epochs, 0 or more, got {self.warmup_epochs!r}")
        phases = [("epochs", self.epochs)] + ([("fine-tuning epochs", self.phase2_epochs)] if self.fine_tune else [])
        for name, epochs in phases:
            if is_number(epochs) and self.warmup_epochs >= epochs:
                raise ConfigError(
                    f"warmup_epochs={self.warmup_epochs} is not shorter than the {epochs} {name}: the learning rate "
                    "would never reach its value; warm up for fewer epochs, or train for more"
                )

    @property
    def effective_weight_decay(self) -> float | None:
        """The decoupled weight decay the optimizer applies: ``weight_decay``, else AdamW's default, else none.

        >>> TrainConfig(optimizer="adamw").effective_weight_decay, TrainConfig().effective_weight_decay
        (0.004, None)
        """
        if self.weight_decay is not None:
            return self.weight_decay or None
        return ADAMW_WEIGHT_DECAY if self.optimizer == "adamw" else None

    @property
    def phase2_epochs(self) -> int:
        """The epochs phase 2 runs: ``fine_tune_epochs``, else ``epochs``.

        >>> TrainConfig(epochs=8).phase2_epochs, TrainConfig(epochs=8, fine_tune_epochs=3).phase2_epochs
        (8, 3)
        """
        return self.fine_tune_epochs or self.epochs

    @property
    def phase2_learning_rate(self) -> float:
        """The learning rate phase 2 starts from: ``fine_tune_learning_rate``, else a tenth of ``learning_rate``.

        >>> TrainConfig(learning_rate=0.01).phase2_learning_rate
        0.001
        """
        return self.fine_tune_learning_rate or self.learning_rate / 10

    def applied(self) -> dict[str, Any]:
        """:meth:`to_dict` with each option left to a default that depends on others as training applies it.

        >>> TrainConfig(optimizer="adamw").applied()["weight_decay"], TrainConfig().to_dict()["weight_decay"]
        (0.004, None)
        """
        data = self.to_dict()
        data["weight_decay"] = self.effective_weight_decay
        if self.fine_tune:
            data["fine_tune_epochs"], data["fine_tune_learning_rate"] = self.phase2_epochs, self.phase2_learning_rate
        return data

    @property
    def model_options(self) -> dict[str, Any]:
        """The options that shape the model (``zoo.build`` arguments), as given.

        >>> TrainConfig(head="flatten").model_options["head"]
        'flatten'
        """
        return {name: getattr(self, name) for name in MODEL_OPTIONS}

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form, as ``config.json`` keeps it (a strategy object by its class name)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if not isinstance(self.distribution, str):
            data["distribution"] = STRATEGY + type(self.distribution).__name__
        return as_lists(data)


MODEL_OPTIONS = ("task", "head", "hidden", "dropout", "standardize", "weights", "input_shape")
# The training options zoo.lr_find and zoo.tune take (and `zoo lr-find` and `zoo tune` as flags): lr_find sweeps the
# rate of the head alone, for one epoch; tune searches the head, the rate and the optimizer itself.
LR_FIND_OPTIONS = ("task", "head", "hidden", "dropout", "weights", "input_shape", "batch_size", "optimizer",
                   "weight_decay", "label_smoothing", "class_weight", "val_fraction", "seed")  # fmt: skip
TUNE_OPTIONS = ("task", "weights", "input_shape", "batch_size", "val_fraction", "seed", "mlflow")


def check_taken(options: Mapping[str, Any], taken: Sequence[str], by: str) -> None:
    """Refuse the known training options that ``by`` (a function's name) does not use: never silently ignored.

    >>> check_taken({"epochs": 3, "seed": 1}, LR_FIND_OPTIONS, "lr_find")
    Traceback (most recent call last):
    zoo.errors.ConfigError: lr_find does not use epochs: drop it (it takes task, head, hidden, dropout, ...)
    """
    TrainConfig.from_options({k: v for k, v in options.items() if k not in taken})  # a misspelt name says so
    unused = [name for name in options if name not in taken]
    if unused:
        raise ConfigError(f"{by} does not use {', '.join(unused)}: drop {'it' if len(unused) == 1 else 'them'} "
                          f"(it takes {', '.join(taken)})")  # fmt: skip


def check_applies(given: Iterable[str], config: TrainConfig, separate_val: bool) -> None:
    """Refuse the training options ``given`` that would change nothing: never silently ignored (nor listed as the
    run's options). ``separate_val``: a validation set is given, so nothing is split off.

    >>> check_applies(["fine_tune_epochs"], TrainConfig(fine_tune_epochs=3), separate_val=False)
    Traceback (most recent call last):
    zoo.errors.ConfigError: fine_tune_epochs applies when fine-tuning: give fine_tune (the blocks to open), or drop it
    """
    given = set(given)
    idle = [name for name in ("fine_tune_epochs", "fine_tune_learning_rate") if name in given and not config.fine_tune]
    if idle:
        raise ConfigError(f"{' and '.join(idle)} appl{'y' if len(idle) > 1 else 'ies'} when fine-tuning: give "
                          f"fine_tune (the blocks to open), or drop {'them' if len(idle) > 1 else 'it'}")  # fmt: skip
    if separate_val and "val_fraction" in given:
        raise ConfigError("val_fraction applies when the validation set is split off the training data: with a "
                          "separate validation set (val), drop it")  # fmt: skip


def check_class_weight(class_weight: str | None, task: str) -> None:
    """Raise :class:`ConfigError` where ``class_weight`` is set for a task other than classification.

    >>> check_class_weight("balanced", "regression")
    Traceback (most recent call last):
    zoo.errors.ConfigError: class_weight applies to classification only, not regression
    """
    if class_weight is not None and task != "classification":
        raise ConfigError(f"class_weight applies to classification only, not {task}")


def finished_run_error(run: str | os.PathLike[str], options: Sequence[str]) -> ConfigError:
    """The error for training options given with a run that is complete: they cannot apply, and are never ignored.

    A finished run has dropped its checkpoints (optimizer and early-stopping state), so more epochs
    cannot continue it as if it had been asked for them from the start; a new run can, from its model.

    >>> print(finished_run_error("runs/a", ["--epochs"]))  # doctest: +ELLIPSIS
    runs/a is complete, so --epochs cannot apply: ... zoo.train(zoo.load_model('runs/a'), DATA, epochs=N, ...)
    """
    given = ", ".join(options)
    return ConfigError(
        f"{os.fspath(run)} is complete, so {given} cannot apply: resuming finishes an interrupted run, and a finished "
        f"one has no checkpoints to train on from; start a new run with {given}, or go on from its weights in "
        f"Python: zoo.train(zoo.load_model({os.fspath(run)!r}), DATA, epochs=N, out=NEW_RUN)"
    )


@dataclasses.dataclass(frozen=True)
class ModelParts:
    """Names of the layers of a zoo model the trainer works with; recorded when the model is built.

    ``network`` is the backbone network (unfrozen for fine-tuning), ``features`` the layer whose
    output the head reads (cached while the network is frozen), ``head`` the head model,
    ``text_steps`` the layers from strings to the token dict (empty for images and for text
    encoders that tokenize inside), and ``standardize`` the head's standardisation layer, fitted to
    the training features (``None`` for a head built with ``standardize=False``, and in models built
    before heads had one).
    """

    network: str
    features: str
    head: str
    text_steps: tuple[str, ...] = ()
    standardize: str | None = None


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """What the zoo knows about a model it built; it travels inside ``model.keras`` and ``config.json``.

    ``class_names`` are set once the model is trained; ``block_pattern`` is the spec's, so a loaded
    model fine-tunes by blocks even where its plugin is not installed; ``unfrozen`` lists the blocks
    fine-tuning has opened so far; ``dtype_policy`` is Keras' global policy it was built under
    (``mixed_bfloat16`` for mixed precision), which ``zoo.load_model`` loads it under again: a layer whose
    config leaves its policy out (KerasCV's) then computes as it trained.

    >>> parts = ModelParts(network="resnet50", features="pool", head="head")
    >>> config = ModelConfig("resnet50", "classification", 3, "avg", (), 0.0, None, (64, 64, 3), parts)
    >>> ModelConfig.from_dict(config.to_dict()) == config
    True
    """

    backbone: str
    task: str
    num_outputs: int
    head: str
    hidden: tuple[int, ...]
    dropout: float
    weights: str | None
    input_shape: tuple[int, ...]
    parts: ModelParts
    modality: str = "image"
    block_pattern: str | None = None
    class_names: tuple[str, ...] = ()
    unfrozen: tuple[str, ...] = ()
    dtype_policy: str = "float32"

    @property
    def standardize(self) -> bool:
        """Whether the head standardises its features (``zoo.build``'s option, recorded in :attr:`parts`).

        >>> parts = ModelParts(network="resnet50", features="pool", head="head")
        >>> ModelConfig("resnet50", "classification", 3, "avg", (), 0.0, None, (64, 64, 3), parts).standardize
        False
        """
        return bool(self.parts.standardize)

    def describe_head(self, *, pools: bool = True) -> str:
        """The head as built, in words (the model card's ``head`` line). ``pools=False`` for an image network
        that gives a vector by itself: ``zoo.build`` adds no pooling then (a text model never has one).

        >>> parts = ModelParts(network="resnet50", features="pool", head="head", standardize="standardize")
        >>> config = ModelConfig("resnet50", "classification", 3, "avg", (64,), 0.5, None, (64, 64, 3), parts)
        >>> config.describe_head().split(", then ")  # doctest: +NORMALIZE_WHITESPACE
        ['avg pooling of the feature map', 'standardised features', 'dropout 0.5 and Dense 64 (ReLU)',
         'dropout 0.5', 'Dense 3 (softmax)']
        """
        reduction = self.head if pools and self.modality == "image" else None
        return describe_head(self.task, self.num_outputs, reduction, self.hidden, self.dropout, self.standardize)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form (lists, not tuples)."""
        return as_lists(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelConfig:
        """Rebuild a config from :meth:`to_dict` output."""
        data = dict(data)
        parts = data.pop("parts")
        parts = ModelParts(**{**parts, "text_steps": tuple(parts.get("text_steps", ()))})
        tuples = {k: tuple(v) for k, v in data.items() if isinstance(v, list)}
        return cls(**{**data, **tuples, "parts": parts})


def describe_head(
    task: str,
    outputs: int | None,
    reduction: str | None,
    hidden: Sequence[int] = (),
    dropout: float = 0.0,
    standardize: bool = True,
) -> str:
    """The head ``zoo.build`` puts on a backbone's features, in words, in the order of its layers.

    ``reduction`` is how the feature map is reduced (``avg``, ``max``, ``flatten``; ``None`` where the
    features are a vector already: text, or an image network that pools by itself); ``outputs`` the
    last Dense layer's units (``None`` where not known). :meth:`ModelConfig.describe_head` words a
    built model's head with it; the model card asks for the one it shows.

    >>> describe_head("regression", None, None, standardize=False)
    'Dense (linear)'
    >>> describe_head("multilabel", 4, "max", (32,), 0.0)
    'max pooling of the feature map, then standardised features, then Dense 32 (ReLU), then Dense 4 (sigmoid)'
    """
    steps = [f"{reduction} pooling of the feature map"] if reduction else []
    steps += ["standardised features"] if standardize else []
    before = f"dropout {dropout:g} and " if dropout else ""  # a Dropout in front of each Dense layer
    steps += [f"{before}Dense {units} (ReLU)" for units in hidden]
    steps += [f"dropout {dropout:g}"] if dropout else []
    activation = {**ACTIVATIONS, "regression": "linear"}.get(task)  # a regression's Dense has no activation
    dense = f"Dense {outputs}" if outputs else "Dense"
    steps += [f"{dense} ({activation})" if activation else dense]
    return ", then ".join(steps)


def is_number(value: Any) -> bool:
    """A Python int or float, not a bool: what a JSON record or an option holds as a number.

    >>> is_number(0.5), is_number(True), is_number("1")
    (True, False, False)
    """
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_whole(value: Any) -> bool:
    """A whole number, NumPy's integers included (``y.max() + 1``), not a bool.

    >>> import numpy as np
    >>> is_whole(np.int64(3)), is_whole(3.0), is_whole(False)
    (True, False, False)
    """
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _positive_int(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")


def _choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    if value not in choices:
        shown = ", ".join(repr(c) for c in choices)
        raise ConfigError(f"{name} must be one of {shown}, got {value!r}")


def augmentation_names(augment: bool | str | Sequence[str] | None) -> set[str]:
    """The augmentations ``augment`` asks for: None/False none, True all, or names from :data:`AUGMENTATIONS`;
    :class:`ConfigError` for any other name.

    >>> sorted(augmentation_names(["zoom", "flip"])), augmentation_names(None)
    (['flip', 'zoom'], set())
    """
    if augment is None or augment is False:
        return set()
    if augment is True:
        return set(AUGMENTATIONS)
    names = {augment} if isinstance(augment, str) else set(augment)
    unknown = names - set(AUGMENTATIONS)
    if unknown:
        raise ConfigError(f"unknown augmentation {sorted(unknown)}; known: {', '.join(AUGMENTATIONS)}")
    return names
