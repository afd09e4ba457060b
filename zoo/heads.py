"""The one head builder: any registered backbone plus a task head, from raw input to outputs.

Nothing here depends on the backbone's family: what differs is declared by the spec.
"""

from __future__ import annotations

import dataclasses
import itertools
import numbers
import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from zoo.backbones import Weights, feature_graph, resolve_input_shape
from zoo.config import ACTIVATIONS, HEADS, TASKS, ModelConfig, Task, is_whole
from zoo.console import load_framework
from zoo.errors import ConfigError
from zoo.plugins import get_spec

if TYPE_CHECKING:
    import keras

STANDARDIZE = "standardize"  # the head's first layer (ModelParts.standardize)


def build(
    backbone: str,
    num_classes: int | None = None,
    task: Task = "classification",
    head: Literal["avg", "max", "flatten"] = "avg",
    hidden: Sequence[int] = (),
    dropout: float = 0.0,
    weights: Weights = "default",
    input_shape: int | tuple[int, ...] | None = None,
    num_outputs: int | None = None,
    standardize: bool = True,
    seed: int | None = None,
) -> keras.Model:
    """A frozen backbone with a new head: raw input -> features -> ``head`` (a nested model) -> outputs.

    ``task``: ``classification`` (softmax over ``num_classes``), ``multilabel`` (sigmoid per class)
    or ``regression`` (``num_outputs`` linear outputs, default 1). ``head`` reduces the feature map
    (``avg``, ``max`` or ``flatten``); with ``standardize`` the head then standardises it (a frozen
    layer holding a mean and a variance per feature, which ``zoo.train`` fits to the training features
    while it is unfitted, and :func:`zoo.fit_standardization` fits for a plain ``model.fit``); ``hidden``
    adds ReLU layers; ``dropout`` comes before each Dense layer. ``seed`` fixes the head's first weights and
    its dropout whatever the backbone drew before it (``zoo.train`` passes its own, so ``zoo tune``'s trial
    and the run of its options start alike); ``None`` draws from Keras' global generator. ``model.zoo_config`` (a
    :class:`zoo.ModelConfig`) records how it was built; it is saved inside ``model.keras`` by
    ``zoo.save_model`` and the trainer. The classic recipe (frozen ResNet50, Flatten, Dropout, Dense) is
    one call; ``standardize=False`` makes it exactly the hand-written model:

    >>> model = build("resnet50", num_classes=100, head="flatten", dropout=0.5, standardize=False, weights=None)
    >>> model.count_params(), sum(int(w.numpy().size) for w in model.trainable_weights)
    (33623012, 10035300)
    """
    load_framework()
    import keras

    if task not in TASKS:
        raise ConfigError(f"task must be one of {TASKS}, got {task!r}")
    if head not in HEADS:
        raise ConfigError(f"head must be one of {HEADS}, got {head!r}")
    outputs = _output_count(task, num_classes, num_outputs)
    widths = tuple(hidden) if isinstance(hidden, Iterable) else (hidden,)
    if isinstance(hidden, (str, numbers.Number)) or not all(map(is_whole, widths)):
        raise ConfigError(f"hidden is a sequence of layer widths, e.g. hidden=[256], got {hidden!r}")
    hidden = tuple(int(h) for h in widths)
    if any(h < 1 for h in hidden) or not 0.0 <= dropout < 1.0:
        raise ConfigError(f"hidden sizes must be positive and 0 <= dropout < 1, got {hidden} and {dropout}")

    spec = get_spec(backbone)
    inputs, features, parts = feature_graph(spec, weights, input_shape, False, head)
    head_model = build_head(features.shape[1:], task, outputs, hidden, dropout, standardize, seed)
    parts = dataclasses.replace(parts, head=head_model.name, standardize=STANDARDIZE if standardize else None)
    model = keras.Model(inputs, head_model(features), name=f"{spec.name}_{task}")
    model.zoo_config = ModelConfig(
        backbone=spec.name,
        task=task,
        num_outputs=outputs,
        head=head,
        hidden=hidden,
        dropout=float(dropout),
        weights=None if weights is None else os.fspath(weights),
        input_shape=resolve_input_shape(spec, input_shape),  # (tokens,) for text
        parts=parts,
        modality=spec.modality,
        block_pattern=spec.block_pattern,
        dtype_policy=keras.config.dtype_policy().name,
    )
    return model


def fit_standardization(model: keras.Model, data: Any, *, batch_size: int | None = None, verbose: int = 1) -> None:
    """Fit the head's standardisation of a zoo model to ``data``, for training it with plain ``model.fit``.

    ``data``: the training inputs, raw as the model takes them: pixels ``(N, H, W, 3)`` in [0, 255],
    texts, or anything :func:`zoo.extract` reads. The backbone runs once over them; the head's
    standardisation then holds the per-feature mean and variance of their features. ``zoo.train`` does
    this by itself for a model whose standardisation is unfitted (and keeps a fitted one).

    >>> model = zoo.build("resnet50", num_classes=3, weights=None)  # doctest: +SKIP
    >>> zoo.fit_standardization(model, x_train)  # doctest: +SKIP
    >>> model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])  # doctest: +SKIP
    >>> model.fit(x_train, y_train, epochs=10)  # doctest: +SKIP
    """
    import keras

    from zoo.features import extract

    layer = standardization_of(model)
    if layer is None:
        raise ConfigError("this model's head has no standardisation to fit (it was built with standardize=False)")
    parts = model.zoo_config.parts
    extractor = keras.Model(model.inputs, model.get_layer(parts.features).output, name="features")
    interpolation = get_spec(model.zoo_config.backbone).interpolation  # the resize zoo.train would use
    features = extract(extractor, data, batch_size=batch_size, interpolation=interpolation, verbose=verbose)
    set_standardization(layer, features)


def standardization_of(model: keras.Model) -> Any:
    """The standardisation layer of a zoo model's head (``ModelParts.standardize``), or ``None`` where the
    head has none (``standardize=False``, or a model of a zoo that built none).

    >>> import keras
    >>> standardization_of(keras.Sequential())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    zoo.errors.ConfigError: ... takes a model made by zoo.build(...) or loaded by zoo.load_model(...)
    """
    config = getattr(model, "zoo_config", None)
    if not isinstance(config, ModelConfig):
        raise ConfigError(
            f"{type(model).__name__} {getattr(model, 'name', '')!r}: the zoo takes a model made by zoo.build(...) "
            "or loaded by zoo.load_model(...)"
        )
    if not config.parts.standardize:
        return None
    return model.get_layer(config.parts.head).get_layer(config.parts.standardize)


def unfitted_standardization(model: keras.Model) -> Any:
    """The head's standardisation layer while it still holds the statistics it was built with (mean 0,
    variance 1): the head has not been fitted yet. ``None`` once fitted (trained, or fitted by
    :func:`zoo.fit_standardization`; ``model.keras`` keeps the statistics) and for a head without one."""
    layer = standardization_of(model)
    if layer is None:
        return None
    mean, variance = layer.get_weights()
    return layer if not np.any(mean) and np.all(variance == 1) else None


def set_standardization(layer: Any, features: np.ndarray, chunk: int = 8192) -> None:
    """Set a head's standardisation (``ModelParts.standardize``) to the per-feature mean and variance of
    ``features`` (rows, e.g. a memory-mapped cache entry, read in chunks).

    A variance is floored at 1% of the mean variance: a feature that hardly varied in training is
    amplified at most ten times more than a typical one, so it cannot swamp the others when it varies
    later (or in a quantised export); features that never vary at all are only centred.

    >>> import keras
    >>> layer = keras.layers.BatchNormalization(center=False, scale=False, epsilon=1e-30, trainable=False)
    >>> layer.build((None, 2))
    >>> set_standardization(layer, np.array([[1.0, 5.0], [3.0, 5.0]]))
    >>> mean, variance = layer.get_weights()
    >>> mean.tolist(), variance.tolist()
    ([2.0, 5.0], [1.0, 0.004999999888241291])
    """
    count = len(features)
    chunks = [range(start, min(start + chunk, count)) for start in range(0, count, chunk)]
    mean = sum(np.asarray(features[r.start : r.stop], np.float64).sum(axis=0) for r in chunks) / count
    variance = sum(((np.asarray(features[r.start : r.stop], np.float64) - mean) ** 2).sum(axis=0) for r in chunks)
    variance = variance / count
    floor = 1e-2 * variance.mean() if variance.mean() > 0 else 1.0
    layer.set_weights([mean.astype("float32"), np.maximum(variance, floor).astype("float32")])


def _output_count(task: str, num_classes: int | None, num_outputs: int | None) -> int:
    if task == "regression":
        if num_classes is not None:
            raise ConfigError("regression has no classes: pass num_outputs (default 1), not num_classes")
        count = 1 if num_outputs is None else num_outputs
    else:
        if num_classes is None or num_outputs is not None:
            raise ConfigError(f"{task} needs num_classes (and no num_outputs)")
        if not is_whole(num_classes):
            raise ConfigError(f"num_classes must be a whole number, got {num_classes!r}")
        count = int(num_classes)  # a NumPy integer too (y.max() + 1)
        if task == "classification" and count < 2:
            raise ConfigError(f"classification needs at least 2 classes, got num_classes={count}")
    if not isinstance(count, int) or count < 1:
        raise ConfigError(f"the number of outputs must be a positive integer, got {count!r}")
    return count


def build_head(
    feature_shape: Sequence[int],
    task: str,
    outputs: int,
    hidden: tuple[int, ...],
    dropout: float,
    standardize: bool,
    seed: int | None = None,
) -> Any:
    """The head :func:`build` puts on a backbone, alone: a model from features of ``feature_shape`` to the outputs
    (``zoo tune`` trains one per trial on cached features). With a ``seed``, its Dense kernels and dropout draw
    from seeds made of it alone, one a layer.

    >>> build_head((8,), "classification", 3, (4,), 0.1, True).output_shape
    (None, 3)
    """
    import keras

    seeds = itertools.repeat(None) if seed is None else itertools.count(seed)  # one a layer

    def kernel() -> Any:
        return keras.initializers.GlorotUniform(seed=next(seeds))  # Dense's default, seeded

    features = x = keras.Input(shape=tuple(feature_shape), name="features")
    if standardize:
        # Features of any scale (1e-10 from random weights, 1e3 from some encoders) reach the Dense layers
        # standardised. A BatchNormalization kept in inference mode, holding the statistics set_standardization
        # sets (until then it passes features through): Keras' Normalization floors the deviation at 1e-7.
        x = keras.layers.BatchNormalization(
            center=False, scale=False, epsilon=1e-30, trainable=False, name=STANDARDIZE
        )(x)
    for i, units in enumerate(hidden):
        if dropout:
            x = keras.layers.Dropout(dropout, seed=next(seeds), name=f"dropout_{i}")(x)
        x = keras.layers.Dense(units, activation="relu", kernel_initializer=kernel(), name=f"hidden_{i}")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, seed=next(seeds), name="dropout")(x)
    # float32 outputs keep losses stable under a mixed-precision policy.
    out = keras.layers.Dense(outputs, activation=ACTIVATIONS[task], kernel_initializer=kernel(), dtype="float32",
                             name="predictions")(x)  # fmt: skip
    return keras.Model(features, out, name="head")
