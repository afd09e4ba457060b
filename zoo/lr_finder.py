"""``zoo lr-find``: the learning-rate finder (Leslie Smith's range test, as fastai runs it) on cached features.

The head trains for one short sweep, the learning rate rising exponentially from ``start`` to ``end`` batch by
batch, on the frozen backbone's cached features (so the sweep costs seconds once they are cached, and fills the
cache ``zoo train`` then reads). The loss is smoothed (an exponential moving average, debiased); the sweep
stops once it passes four times its lowest. Nothing is written but the feature cache and the plot asked for.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import warnings
from pathlib import Path
from typing import Any, cast

import keras
import numpy as np

from zoo import interrupts
from zoo.cache import FeatureCache
from zoo.config import LR_FIND_OPTIONS, Task, TrainConfig, check_taken, is_whole
from zoo.data import load_dataset, split
from zoo.errors import ConfigError, TrainingWarning
from zoo.features import model_identity
from zoo.heads import set_standardization, unfitted_standardization
from zoo.plots import plot_lr_find
from zoo.plugins import get_spec
from zoo.run import check_not_a_run_file
from zoo.trainer import build_for_training, losses, optimizer_for, seeded
from zoo.training_data import ArrayBatches, TrainingData
from zoo.tuning import train_command

SMOOTHING = 0.98  # the moving average's weight on the past (fastai's)
DIVERGED = 4.0  # the sweep stops once the smoothed loss passes this many times its lowest
MIN_POINTS = 10  # a sweep that diverges sooner shows no valley to suggest from


@dataclasses.dataclass
class LRFinding:
    """What a sweep found: each rate tried and its smoothed loss, and the suggested rate.

    ``suggestion``: the rate in the middle of the valley, the longest stretch where the loss keeps falling;
    ``minimum``: the rate of the lowest loss (a tenth of it is the other classic choice);
    ``command``: the ``zoo train`` command that trains with the suggestion and the sweep's options.
    """

    backbone: str
    rates: list[float]
    losses: list[float]
    suggestion: float
    minimum: float
    command: str

    def plot(self, path: str | os.PathLike[str]) -> Path | None:
        """Draw the loss against the rate, the suggestion marked, to a PNG at ``path``."""
        check_not_a_run_file(path, "the plot")
        return plot_lr_find(self.rates, self.losses, self.suggestion, path)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@interrupts.stoppable
def lr_find(
    backbone: str,
    data: Any,
    *,
    start: float = 1e-7,
    end: float = 10.0,
    steps: int = 100,
    cache_dir: str | os.PathLike[str] | None = None,
    verbose: int = 1,
    **options: Any,
) -> LRFinding:
    """Sweep the head's learning rate from ``start`` to ``end`` over ``steps`` batches of ``data``'s training split
    (the part ``zoo.train`` would train on, with the same ``val_fraction`` and ``seed``) and suggest a rate.

    ``options`` are :class:`zoo.TrainConfig`'s that shape the head and its training (``head``, ``hidden``,
    ``dropout``, ``weights``, ``input_shape``, ``batch_size``, ``optimizer``, ``weight_decay``,
    ``label_smoothing``, ``class_weight``, ``seed``, ...); pass the suggestion as ``learning_rate`` to
    :func:`zoo.train` with the same options (``command`` is that ``zoo train`` command).

    >>> found = lr_find("tiny_image", "data/train", weights=None, batch_size=8, verbose=0)
    >>> 1e-7 <= found.suggestion <= 10 and len(found.rates) == len(found.losses)
    True
    """
    real = all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in (start, end))
    if not (real and is_whole(steps) and 0 < start < end < math.inf and steps >= 10):
        raise ConfigError(f"the sweep needs 0 < start < end and at least 10 steps, got {start!r}, {end!r}, {steps!r}")
    check_taken(options, LR_FIND_OPTIONS, "lr_find (it sweeps the rate of the head alone, from start to end)")
    config = given = TrainConfig.from_options(options)
    if config.augment:
        raise ConfigError("lr_find sweeps the head on cached features: drop augment (the rate it finds holds with it)")
    spec = get_spec(backbone)
    train_set, val_set = split(load_dataset(data, task=cast(Task, config.task)), config.val_fraction, config.seed)
    with seeded(config.seed):
        config, model = build_for_training(spec.name, train_set, config)
        recipe = model.zoo_config
        extractor = keras.Model(model.inputs, model.get_layer(recipe.parts.features).output, name="features")
        plan = TrainingData.on_one_device(train_set, val_set, config, recipe, FeatureCache(cache_dir), verbose)
        features = plan.features(extractor, train_set, model_identity(extractor), "train")
        standardization = unfitted_standardization(model)
        if standardization is not None:
            set_standardization(standardization, features)
        head = model.get_layer(recipe.parts.head)
        head.compile(optimizer=optimizer_for(config, start), loss=losses(recipe.task, recipe.num_outputs,
                     config.label_smoothing, weighted=False)[0])  # fmt: skip
        batches = ArrayBatches(features, *plan.targets(train_set), config)
        rates, smoothed = _sweep(head, batches, np.geomspace(start, end, steps))
    suggestion, minimum = _suggest(rates, smoothed)
    if minimum == rates[-1]:  # never turned up: the "valley" is the sweep itself, and its middle says nothing
        warnings.warn(f"the loss was still falling at the end of the sweep ({rates[-1]:.2g}): the suggestion "
                      f"{suggestion:.2g} is only the middle of the range swept; sweep to higher rates (end=, --end)",
                      TrainingWarning, stacklevel=2)  # fmt: skip
    command = train_command(spec.name, data, given.updated({"learning_rate": float(f"{suggestion:.2g}")}))
    return LRFinding(spec.name, rates, smoothed, suggestion, minimum, command)


def _sweep(head: Any, batches: ArrayBatches, schedule: np.ndarray) -> tuple[list[float], list[float]]:
    """Train ``head`` one batch per rate of ``schedule``; each rate tried and the smoothed loss after it."""
    rates: list[float] = []
    smoothed: list[float] = []
    average, lowest = 0.0, math.inf
    for step, rate in enumerate(schedule):
        if step and step % len(batches) == 0:
            batches.on_epoch_end()  # a new shuffle, as a new epoch of training
        head.optimizer.learning_rate = float(rate)
        loss = float(head.train_on_batch(*batches[step % len(batches)], return_dict=True)["loss"])
        if not math.isfinite(loss):
            break
        average = SMOOTHING * average + (1 - SMOOTHING) * loss
        value = average / (1 - SMOOTHING ** (step + 1))
        rates.append(float(rate))
        smoothed.append(value)
        lowest = min(lowest, value)
        if value > DIVERGED * lowest:
            break
    if len(rates) < MIN_POINTS:
        where = rates[-1] if rates else schedule[0]
        raise ConfigError(
            f"the loss diverged after {len(rates)} steps of the sweep, at a rate of {where:.2g}: start lower (--start) "
            "or sweep more steps"
        )
    return rates, smoothed


def _suggest(rates: list[float], losses: list[float]) -> tuple[float, float]:
    """``(valley, minimum)``: the middle of the valley, the longest run of ever lower losses (fastai's default
    suggestion: the steepest point alone is often a wiggle of the noisy start), and the rate of the lowest loss.

    >>> _suggest([10.0**k for k in range(-4, 6)], [5, 6, 5, 4.9, 4, 3, 2, 1, 1, 9])  # the valley: 1e-3 to 1e3
    (1.0, 1000.0)
    """
    longest = np.ones(len(losses), dtype=int)  # the longest run of falling losses that ends at each point
    for i in range(len(losses)):
        for j in range(i):
            if losses[j] > losses[i]:
                longest[i] = max(longest[i], longest[j] + 1)
    end = int(np.argmax(longest))
    start = end - int(longest[end]) + 1
    return rates[(start + end) // 2], rates[int(np.argmin(losses))]
