"""Use a finished run (a :class:`zoo.Run` or its directory): evaluate it on labelled data, or predict inputs."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zoo.config import TOP_K
from zoo.data import load_dataset, pipeline, read_image
from zoo.data.images import resize_images
from zoo.data.sources import repair_text
from zoo.errors import DataError
from zoo.report import compute_metrics
from zoo.run import MODEL, Run


def evaluate(run: str | os.PathLike | Run, data: Any, *, batch_size: int = 32) -> dict[str, Any]:
    """Metrics of a saved run on labelled ``data`` (folder, manifest or arrays), as in ``metrics.json``.

    Labels the model does not know raise a clear error.

    >>> evaluate("runs/demo", "data/test")["accuracy"]  # doctest: +SKIP
    0.95
    """
    run = _finished(run)
    dataset = load_dataset(data, task=run.task, class_names=run.class_names or None)
    inputs = pipeline(
        dataset,
        image_size=run.input_shape[:2] or None,
        interpolation=run.interpolation,
        batch_size=batch_size,
        with_targets=False,
    )
    outputs = run.model.predict(inputs, verbose=0)
    metrics = compute_metrics(run.task, dataset.targets, outputs, run.class_names)
    metrics["skipped"] = len(dataset.skipped)
    return metrics


def predict(
    run: str | os.PathLike | Run, inputs: Sequence[str | os.PathLike], *, top_k: int = TOP_K
) -> list[dict[str, Any]]:
    """One result per input (an image file, or a text for a text model): ``{"input", "predictions":
    [{"label", "score"}, ...]}`` (the best ``top_k``, 5 by default as for ``zoo predict``), ``{"input",
    "values"}`` for regression, or ``{"input", "error"}`` for a file that cannot be read.

    >>> predict("runs/demo", ["beach.png"], top_k=1)  # doctest: +SKIP
    [{'input': 'beach.png', 'predictions': [{'label': 'beach', 'score': 0.98}]}]
    """
    run = _finished(run)
    results: list[dict[str, Any]] = [{"input": os.fspath(item)} for item in inputs]
    if run.modality == "text":  # the inputs are the texts themselves, repaired as training repairs them
        texts = [repair_text(os.fspath(item))[0] for item in inputs]
        batch, readable = np.array(texts, dtype=object), list(range(len(inputs)))
    else:
        images, readable = [], []
        for i, path in enumerate(inputs):
            try:
                pixels = read_image(path)  # resized as the training pipeline resizes: one resize for all
                images.append(np.asarray(resize_images(pixels, run.input_shape[:2], run.interpolation)))
                readable.append(i)
            except (OSError, DataError) as err:
                results[i]["error"] = str(err)
        batch = np.stack(images) if images else None
    if batch is None:
        return results
    outputs = run.model.predict(batch, verbose=0)
    for i, output in zip(readable, outputs, strict=True):
        if run.task == "regression":
            results[i]["values"] = [float(v) for v in np.atleast_1d(output)]
            continue
        order = np.argsort(-output)[: max(1, top_k)]
        results[i]["predictions"] = [{"label": run.class_names[j], "score": float(output[j])} for j in order]
    return results


def _finished(run: str | os.PathLike | Run) -> Run:
    """The finished run; one named by its path is loaded once per model file, so ``predict(path, ...)`` in a
    loop reuses one model and its compiled predict function (a model loaded per call traced a new function
    each time, which TensorFlow reports as "triggered tf.function retracing")."""
    if isinstance(run, Run):
        return Run.finished(run)
    try:
        stamp = os.stat(Path(run) / MODEL)
    except OSError:
        return Run.finished(run)  # says what is missing
    return _loaded(str(Path(run).resolve()), stamp.st_mtime_ns, stamp.st_size)


@functools.lru_cache(maxsize=2)
def _loaded(path: str, mtime_ns: int, size: int) -> Run:
    """A finished run, kept while its ``model.keras`` is the same file (same time and size)."""
    return Run.finished(path)
