"""The data of a training run as the trainer feeds it: cached features, tf.data pipelines, batches of arrays,
class weights, the sample the head's standardisation is fit on, and the counts the run records."""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

from zoo import distribute
from zoo.cache import FeatureCache
from zoo.config import ModelConfig, TrainConfig
from zoo.data import Dataset, pipeline
from zoo.data.text import cut_texts
from zoo.features import cached_extract
from zoo.run import DataSummary

ADAPT_SAMPLE = 2048  # without cached features, the head's standardisation is fit on this many examples


class TrainingData:
    """The training and validation sets of one run, and every form the trainer reads them in."""

    def __init__(
        self,
        train_set: Dataset,
        val_set: Dataset,
        config: TrainConfig,
        recipe: ModelConfig,
        cache: FeatureCache,
        placement: distribute.Placement,
        interpolation: str,
        verbose: int,
    ) -> None:
        self.train_set, self.val_set, self.config, self.recipe = train_set, val_set, config, recipe
        self.cache, self.placement, self.interpolation, self.verbose = cache, placement, interpolation, verbose

    @classmethod
    def on_one_device(
        cls, train_set: Dataset, val_set: Dataset, config: TrainConfig, recipe: ModelConfig, cache: FeatureCache,
        verbose: int,
    ) -> TrainingData:  # fmt: skip
        """The data of a head trained without a run (``zoo lr-find``, ``zoo tune``): on one device, the images
        resized as the backbone's spec declares, as a run records it."""
        from zoo.plugins import get_spec

        interpolation = get_spec(recipe.backbone).interpolation or "bilinear"
        return cls(train_set, val_set, config, recipe, cache, distribute.Placement(None), interpolation, verbose)

    def skipped(self) -> list[tuple[str, str]]:
        """Inputs left out as unreadable, once each (a split gives both halves the same list)."""
        return list(dict.fromkeys([*self.train_set.skipped, *self.val_set.skipped]))

    def summary(self, model: Any) -> DataSummary:
        """The counts the run records; for a model that tokenizes, how many texts its window cut."""
        counts = (len(self.train_set), len(self.val_set), len(self.skipped()))
        if not self.recipe.parts.text_steps:
            return DataSummary(*counts)
        steps = [model.get_layer(name) for name in self.recipe.parts.text_steps]
        batch = self.config.batch_size
        cut = sum(int(cut_texts(steps, d, batch_size=batch).sum()) for d in (self.train_set, self.val_set))
        return DataSummary(*counts, texts_cut=cut, token_limit=self.recipe.input_shape[0])

    def adapt_sample(self) -> Dataset:
        """Up to :data:`ADAPT_SAMPLE` training examples (all when fewer), chosen with the run's seed."""
        count = min(len(self.train_set), ADAPT_SAMPLE)
        rows = np.random.default_rng(self.config.seed).choice(len(self.train_set), count, replace=False)
        return self.train_set.subset(np.sort(rows))

    def features(self, extractor: Any, dataset: Dataset, identity: str, split: str) -> np.ndarray:
        """``extractor``'s features of ``dataset`` through the feature cache (each process its own shard)."""
        options = {"batch_size": self.config.batch_size, "identity": identity, "verbose": self.verbose}
        noun = "text" if dataset.modality == "text" else "image"
        options["label"] = f"extracting features: {self.recipe.backbone}, {split} split ({len(dataset)} {noun}s)"
        options["interpolation"] = self.interpolation  # the resize every other consumer of the run uses
        return cached_extract(extractor, dataset, self.cache, placement=self.placement, **options)  # type: ignore[arg-type]

    def pipeline(self, dataset: Dataset, training: bool, targets: bool = True) -> Any:
        """``dataset`` as a tf.data pipeline of batches (shuffled and augmented for training, with class
        weights when the run has them); on several processes, each process's rows of every batch."""
        batches = pipeline(
            dataset,
            image_size=self.recipe.input_shape[:2] or None,  # type: ignore[arg-type]
            interpolation=self.interpolation,
            batch_size=self.config.batch_size,
            shuffle=training and self.config.shuffle,
            seed=self.config.seed,
            augment=self.config.augment if training else None,
            with_targets=targets,
        )
        import tensorflow as tf

        if training and self.config.class_weight is not None:
            table = tf.constant(class_weights(dataset), dtype=tf.float32)
            batches = batches.map(lambda x, y: (x, y, tf.gather(table, y)))
        if self.placement.processes == 1 or not targets:
            return batches

        def my_rows(x: Any, y: Any) -> tuple[Any, Any, Any]:  # this process's part of the batch (no class weights)
            rows, weight = tf.numpy_function(self.placement.shard_rows, [tf.shape(y)[0]], (tf.int64, tf.float32))
            return tf.nest.map_structure(lambda t: tf.gather(t, rows), x), tf.gather(y, rows), weight

        return batches.map(my_rows)

    def targets(self, dataset: Dataset) -> tuple[np.ndarray, np.ndarray | None]:
        """``dataset``'s targets and their sample weights (``None`` without class weights)."""
        if self.config.class_weight is None:
            return dataset.targets, None
        return dataset.targets, class_weights(dataset)[dataset.targets]


class ArrayBatches(keras.utils.PyDataset):
    """Batches of rows of a (memory-mapped) array, shuffled per epoch with the run's seed."""

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray | None,
        sample_weight: np.ndarray | None,
        config: TrainConfig,
        placement: distribute.Placement | None = None,
        *,
        shuffle: bool | None = None,
        epoch: int = 0,
    ) -> None:
        super().__init__()
        self.x, self.y, self.sample_weight, self.config = x, y, sample_weight, config
        self.placement = placement or distribute.Placement(None)
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
        weight = None if self.sample_weight is None else self.sample_weight[rows]
        shard = self.placement.shard_rows(len(rows)) if self.y is not None else None
        if shard is not None:  # several processes (no class weights): this one's part of the global batch
            rows, weight = rows[shard[0]], shard[1]
        batch = np.asarray(self.x[rows], dtype="float32")
        if self.y is None:
            return (batch,)
        return (batch, self.y[rows]) if weight is None else (batch, self.y[rows], weight)

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = self._order()


def class_weights(dataset: Dataset) -> np.ndarray:
    """``"balanced"`` class weights: ``n / (classes * count)`` per class (0 for a class with no examples)."""
    counts = np.bincount(dataset.targets, minlength=len(dataset.class_names)).astype("float64")
    return np.where(counts > 0, len(dataset) / (len(counts) * np.maximum(counts, 1)), 0.0).astype("float32")
