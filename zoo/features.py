"""Fast feature extraction: ``zoo.extract`` (used by the trainer's cache and by ``zoo rank``).

Arrays go to the model as uint8 and become float on the device (a quarter of the bytes to copy);
a background thread prepares the next batch (and on JAX starts copying it to the device) while the
model runs the current one; the batch size halves by itself when the device runs out of memory.
Arrays need nothing but Keras, so this runs on JAX or PyTorch too; files and texts go through
``tf.data`` (TensorFlow).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import keras
import numpy as np

from zoo import interrupts
from zoo.backbones import Weights, backbone
from zoo.cache import FeatureCache, cache_key, weights_fingerprint
from zoo.console import Progress, say
from zoo.data import IMAGE_EXTENSIONS, Dataset, load_dataset, pipeline, scan_files
from zoo.data.decode import rgb_uint8
from zoo.data.listing import first_items
from zoo.data.pipelines import resize_pixels
from zoo.distribute import Placement, has_gpu, resolve_one_host
from zoo.errors import ConfigError, DataError, zoo_error_in
from zoo.plugins import get_spec

DEFAULT_BATCH = {"cpu": 64, "gpu": 256}
_OUT_OF_MEMORY = ("RESOURCE_EXHAUSTED", "out of memory", "OOM", "Failed to allocate")


@interrupts.stoppable
def extract(
    model: str | keras.Model,
    data: Any,
    *,
    batch_size: int | None = None,
    weights: Weights = "default",
    input_shape: int | tuple[int, ...] | None = None,
    pooling: str = "avg",
    out: np.ndarray | None = None,
    distribution: Any = "none",
    interpolation: str | None = None,
    verbose: int = 1,
    label: str | None = None,
) -> np.ndarray:
    """Features of ``data`` from a backbone (a name, or any zoo model up to its features).

    ``data``: an array of raw pixels ``(N, H, W, 3)`` (uint8 is fastest), a list of texts, a
    :class:`zoo.data.Dataset`, or anything :func:`zoo.data.load_dataset` reads. ``out`` (e.g. a
    memory-mapped array) receives the rows as they come, so the result need not fit in memory.
    ``batch_size=None`` starts at 64 on CPU (256 on GPU) and halves on out-of-memory errors.
    Images are resized to the model's input with ``interpolation``: by default the spec's declared
    method for a backbone named here, else bilinear (the trainer passes its run's).

    ``distribution`` (as for :func:`zoo.train`: ``auto``, ``none``, ``mirrored`` or a strategy object)
    splits each batch over the local devices; a model object is then rebuilt inside the strategy's
    scope first. Several hosts (``multi-worker``) are the trainer's alone. ``label`` says what the
    progress measures (default: ``extracting features: NAME (N images)``); ``verbose=0`` prints nothing.

    >>> x = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    >>> extract("mobilenet_v3_small", x, weights=None, verbose=0).shape
    (8, 576)
    >>> extract("mobilenet_v3_small", x, weights=None, distribution="mirrored", verbose=0).shape  # doctest: +SKIP
    (8, 576)
    """
    placement = resolve_one_host(distribution, "zoo.extract")
    items = _as_inputs(data)
    count = len(items)
    if out is not None and len(out) != count:
        raise ConfigError(f"out has {len(out)} rows for {count} examples")
    with placement.scope():  # the model's variables on every replica, each batch split over them
        noun = "text" if isinstance(items, Dataset) and items.modality == "text" else "image"
        label = label or f"extracting features: {model if isinstance(model, str) else model.name} ({count} {noun}s)"
        if isinstance(model, str):
            interpolation = interpolation or get_spec(model).interpolation
            model = backbone(model, weights=weights, input_shape=input_shape, pooling=pooling)  # type: ignore[arg-type]
        else:
            model = placement.place(model)
        if out is None:
            out = np.empty((count, *model.output_shape[1:]), dtype="float32")
        size = batch_size or DEFAULT_BATCH["gpu" if has_gpu() else "cpu"]
        while True:
            try:
                bar = Progress(label, count, noun, verbose=verbose)
                _run(model, items, size, out, interpolation or "bilinear", bar)
                return out
            except Exception as err:
                if (reported := zoo_error_in(err)) is not None:  # raised inside a tf.data function
                    raise reported from err
                if batch_size is not None or size == 1 or not any(s in str(err) for s in _OUT_OF_MEMORY):
                    raise
                size //= 2
                say(f"out of memory: retrying with batch size {size}", verbose)


def cached_extract(
    model: keras.Model,
    dataset: Dataset,
    cache: FeatureCache,
    *,
    batch_size: int | None = None,
    identity: str | None = None,
    placement: Placement | None = None,
    interpolation: str = "bilinear",
    verbose: int = 1,
    label: str | None = None,
) -> np.ndarray:
    """:func:`extract` through the feature cache: computed once, then read back (memory-mapped).

    The key is everything that changes the features: the model (see :func:`model_identity`; pass
    ``identity`` to reuse one for several datasets) and the content of every example. In a job of
    several processes (``placement``), each process extracts its own contiguous shard into the
    shared cache folder; after a barrier the shards are assembled into the one entry, which every
    process then reads. ``model`` is then each process's local copy.
    """
    key = cache_key(model=identity or model_identity(model), examples=dataset.digests, interpolation=interpolation)
    shape = (len(dataset), *model.output_shape[1:])

    def compute(rows: slice) -> Callable[[np.ndarray], None]:
        subset = dataset.subset(np.arange(len(dataset))[rows])
        options = {"batch_size": batch_size, "interpolation": interpolation, "verbose": verbose, "label": label}
        return lambda out: extract(model, subset, out=out, **options)

    if placement is None or placement.processes == 1:
        return cache.get_or_compute(key, shape, compute(slice(None)))
    shards = _shards(len(dataset), placement.processes)
    shard_keys = [cache_key(entry=key, rows=[s.start, s.stop]) for s in shards]
    if cache.load(key, shape) is None:
        mine = shards[placement.process]
        with placement.local():
            cache.get_or_compute(shard_keys[placement.process], (mine.stop - mine.start, *shape[1:]), compute(mine))
    placement.barrier(f"zoo: features {key}")  # every shard is in the cache folder

    def assemble(out: np.ndarray) -> None:
        for rows, shard_key in zip(shards, shard_keys, strict=True):
            part = cache.load(shard_key, (rows.stop - rows.start, *shape[1:]))
            if part is None:  # gone (a cache cleared meanwhile): computed here instead
                with placement.local():
                    compute(rows)(out[rows])
            else:
                out[rows] = part
        for shard_key in shard_keys:
            cache.remove(shard_key)

    return cache.get_or_compute(key, shape, assemble)


def _shards(count: int, parts: int) -> list[slice]:
    """``parts`` contiguous slices covering ``range(count)``, sizes differing by at most one.

    >>> _shards(5, 2)
    [slice(0, 3, None), slice(3, 5, None)]
    """
    bounds = [-(-count * i // parts) for i in range(parts + 1)]
    return [slice(a, b) for a, b in itertools.pairwise(bounds)]


def model_identity(model: keras.Model) -> str:
    """A key for what ``model`` computes: its weight values, layer configurations and input shape."""
    return cache_key(
        weights=weights_fingerprint(keras.ops.convert_to_numpy(w) for w in model.weights),
        layers=[_describe(layer) for layer in model.layers],
        input_shape=list(model.input_shape[1:]),
    )


def _describe(layer: Any) -> Any:
    """A layer's configuration for cache keys: no names (they depend on the session) or trainable flags."""
    config = {} if isinstance(layer, keras.Model) else layer.get_config()  # a network's weights say enough
    return {"class": type(layer).__name__, **_without(config, ("name", "trainable"))}


def _without(value: Any, keys: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        return {k: _without(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, (list, tuple)):
        return [_without(v, keys) for v in value]
    return value


def _run(
    model: keras.Model, items: np.ndarray | Dataset, size: int, out: np.ndarray, interpolation: str, bar: Progress
) -> None:
    row = 0
    strategy = getattr(model, "distribute_strategy", None)  # tf.distribute: predict_on_batch would not split
    if strategy is not None and strategy.num_replicas_in_sync > 1:
        predict = lambda batch: model.predict(batch, batch_size=len(batch), verbose=0)  # noqa: E731
    else:
        predict = model.predict_on_batch
    for count, batch in _prefetch(_staged(_batches(model, items, size, interpolation), size)):
        features = np.asarray(predict(batch), dtype=out.dtype)[:count]
        if not np.isfinite(features).all():  # refused now: trained on, they would give NaN losses every epoch
            raise _not_finite(bar.label, items, row, features)
        out[row : row + count] = features
        row += count
        bar.update(row)
        interrupts.check()
    if row != len(out):
        raise RuntimeError(f"extracted {row} feature rows for {len(out)} examples")


def _not_finite(label: str, items: np.ndarray | Dataset, row: int, features: np.ndarray) -> DataError:
    """The error for a batch of features (its first row ``row``) holding NaN or infinity, said after what was
    being extracted (``label``, naming the backbone): it names the inputs."""
    bad = np.flatnonzero(~np.isfinite(features.reshape(len(features), -1)).all(axis=1)) + row
    paths, texts = getattr(items, "paths", None), getattr(items, "texts", None)
    first = repr(paths[bad[0]]) if paths else repr(texts[bad[0]][:60]) if texts else f"example {bad[0]}"
    return DataError(
        f"{label}: the features are not finite (NaN or infinity) for {len(bad)} of the inputs "
        f"{row}-{row + len(features) - 1} ({first} first): its weights or preprocessing are broken for them; "
        "nothing was trained or cached on them"
    )


def _staged(batches: Iterator[np.ndarray], size: int) -> Iterator[tuple[int, Any]]:
    """Pad each batch to ``size`` (one compiled shape, no retracing) and, on JAX, start its copy to the
    device while the previous batch computes."""
    put = None
    if keras.backend.backend() == "jax":
        import jax

        put = jax.device_put
    for batch in batches:
        count = len(batch)
        if count < size:
            batch = np.concatenate([batch, np.repeat(batch[:1], size - count, axis=0)])
        yield count, (put(batch) if put is not None and batch.dtype != object else batch)


def _batches(model: keras.Model, items: np.ndarray | Dataset, size: int, interpolation: str) -> Iterator[np.ndarray]:
    shape = tuple(model.input_shape[1:])
    if isinstance(items, Dataset) and items.images is not None and items.images.shape[1:3] == shape[:2]:
        items = items.images
    if isinstance(items, np.ndarray):  # pixels stay uint8 until the model casts them on the device
        for start in range(0, len(items), size):
            batch = np.ascontiguousarray(items[start : start + size])
            yield resize_pixels(batch, shape[:2], interpolation)
        return
    size_hw = shape[:2] or None
    for batch in pipeline(items, image_size=size_hw, interpolation=interpolation, batch_size=size, with_targets=False):
        yield np.asarray(batch)


def _prefetch(batches: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """Run ``batches`` in a background thread, ``depth`` ahead of the consumer (which may stop early: an
    interrupt, an error)."""
    ready: queue.Queue[Any] = queue.Queue(maxsize=depth)
    done, stopped = object(), threading.Event()

    def hand_over(item: Any) -> None:
        while not stopped.is_set():
            with contextlib.suppress(queue.Full):
                return ready.put(item, timeout=0.1)

    def produce() -> None:
        try:
            for batch in batches:
                hand_over(batch)
                if stopped.is_set():
                    return
            hand_over(done)
        except BaseException as err:  # hand the producer's error to the consumer
            hand_over(err)

    threading.Thread(target=produce, daemon=True).start()
    try:
        while (item := ready.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stopped.set()


def _as_inputs(data: Any) -> np.ndarray | Dataset:
    """What :func:`extract` runs on: checked uint8 pixels, image files, texts, or a :class:`Dataset`.

    Pixel arrays get the checks of :func:`zoo.data.load_dataset` (values in [0, 255], a warning
    for [0, 1]); a list of strings is a list of image files when every item names one (by its
    extension), texts otherwise. Bad input is a :class:`DataError` that says what to pass.

    >>> _as_inputs(np.full((1, 2, 2, 3), 127.6)).dtype
    dtype('uint8')
    >>> _as_inputs(["a sunny day", "rain at noon"]).texts
    ('a sunny day', 'rain at noon')
    >>> _as_inputs(np.array(["a sunny day"], dtype=object)).texts
    ('a sunny day',)
    """
    if isinstance(data, Dataset):
        return data
    if isinstance(data, np.ndarray) and data.dtype.kind in "uif":
        return rgb_uint8(data)
    if isinstance(data, np.ndarray) and data.dtype.kind in "OU" and data.ndim == 1:
        data = data.tolist()  # strings, as model.predict takes them
    if isinstance(data, Sequence) and not isinstance(data, str) and data and isinstance(data[0], str):
        images = _image_files(data)
        if images is not None:
            return images
        count = len(data)  # unlabelled texts: targets and digests are not needed to extract
        return Dataset("regression", np.zeros(count), (), ("",) * count, texts=tuple(data))
    if isinstance(data, (str, os.PathLike, tuple)):
        return _as_inputs(load_dataset(data))
    raise DataError(
        f"zoo.extract cannot read {type(data).__name__}: pass pixels (N, height, width, 3) in [0, 255], "
        "a list of image paths or of texts, a zoo.data.Dataset, or a folder or manifest that zoo.load_dataset reads"
    )


def _image_files(items: Sequence[str]) -> Dataset | None:
    """``items`` as an unlabelled image dataset if they name image files; ``None`` if they are texts.

    Every item must then be an image file that decodes (the digests of :func:`scan_files`); a list
    that mixes image files and other strings is refused rather than guessed.
    """
    named = [str(item).lower().endswith(IMAGE_EXTENSIONS) for item in items]
    found = [isinstance(item, str) and os.path.isfile(item) for item, name in zip(items, named, strict=True) if name]
    if not any(found) and not all(named):
        return None  # texts (a text that merely ends in ".png" is no file)
    if not all(named):
        texts = [repr(item)[:60] for item, name in zip(items, named, strict=True) if not name]
        raise DataError(
            f"the list mixes image files and {len(texts)} strings that are not image files ({first_items(texts)}): "
            "pass only image paths, or only texts"
        )
    paths = [os.path.abspath(item) for item in items]
    checked = scan_files(paths)
    bad = [f"{path} ({reason})" for path, (_, reason) in zip(paths, checked, strict=True) if reason]
    if bad:
        unreadable = first_items(bad)
        raise DataError(f"{len(bad)} of {len(paths)} image files cannot be read: {unreadable}; fix or remove them")
    digests = tuple(digest for digest, _ in checked)
    return Dataset("regression", np.zeros(len(paths)), (), digests, paths=tuple(paths), source="image files")  # type: ignore[arg-type]
