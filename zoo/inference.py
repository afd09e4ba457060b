"""Use a finished run (a :class:`zoo.Run` or its directory): evaluate it on labelled data, or predict inputs."""

from __future__ import annotations

import csv
import functools
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zoo.config import TOP_K, is_whole
from zoo.data import load_dataset, pipeline, read_image
from zoo.data.dataset import Dataset, check_modality
from zoo.data.decode import repair_text, rgb_uint8
from zoo.data.listing import with_article
from zoo.data.pipelines import resize_images
from zoo.data.sources import unlabelled
from zoo.data.text import cut_texts
from zoo.errors import ConfigError, DataError
from zoo.metrics import compute_metrics
from zoo.run import Run

PREDICT_CHUNK = 128  # inputs read, resized and predicted at a time by predict()


def evaluate(run: str | os.PathLike[str] | Run, data: Any, *, batch_size: int = 32) -> dict[str, Any]:
    """Metrics of a saved run on labelled ``data`` (folder, manifest or arrays), as in ``metrics.json``.

    Labels the model does not know raise a clear error.

    >>> metrics = evaluate("runs/demo/run", "data/test")
    >>> metrics["accuracy"] > 0.8, metrics["skipped"]
    (True, 0)
    """
    run = _finished(run)
    model_is = f"{run.path} is {with_article(run.modality)} model"
    try:
        dataset = load_dataset(data, task=run.task, class_names=run.class_names or None)  # type: ignore[arg-type]
    except DataError as err:  # unknown labels, say: data of the other modality is the likelier cause, said first
        try:
            found = load_dataset(data, task=run.task)  # type: ignore[arg-type]
        except DataError:
            raise err from None
        check_modality(found, run.modality, model_is)
        raise
    check_modality(dataset, run.modality, model_is)
    metrics = compute_metrics(run.task, dataset.targets, dataset_outputs(run, dataset, batch_size), run.class_names)
    metrics["skipped"] = len(dataset.skipped)
    return metrics


def dataset_outputs(run: Run, dataset: Dataset, batch_size: int = 32) -> np.ndarray:
    """The finished run's model outputs on every example of ``dataset``, read and resized as training read them.

    >>> train, val = Run("runs/demo/run").read_data()
    >>> dataset_outputs(Run("runs/demo/run"), val).shape
    (8, 4)
    """
    inputs = pipeline(
        dataset,
        image_size=run.input_shape[:2] or None,  # type: ignore[arg-type]
        interpolation=run.interpolation,
        batch_size=batch_size,
        with_targets=False,
    )
    return np.asarray(run.model.predict(inputs, verbose=0))


NO_SUCH_IMAGE = "no such file or folder (an image model predicts image files, folders of them, CSV manifests or pixels)"


def predict(run: str | os.PathLike[str] | Run, inputs: Any, *, top_k: int = TOP_K) -> list[dict[str, Any]]:
    """One result per input: ``{"input", "predictions": [{"label", "score"}, ...]}`` (the best ``top_k``, 5
    by default as for ``zoo predict``), ``{"input", "values"}`` for regression, or ``{"input", "error"}``
    for a file that cannot be read. A text model's results say whether the text was ``truncated``: it
    reads as many tokens as the run was trained with (``Run.input_shape``, ``zoo train --sequence-length``).

    ``inputs`` is one input or a list of them. For an image model: image files, folders (their image
    files, at any depth), CSV manifests (their ``path`` column), or pixels ``(N, H, W, 3)`` or
    ``(H, W, 3)`` in [0, 255]. For a text model: texts (one string is one text), folders of ``.txt``
    files, CSV files with a ``text`` column.

    >>> (result,) = predict("runs/demo/run", "beach.png", top_k=4)
    >>> result["input"], sorted(p["label"] for p in result["predictions"])
    ('beach.png', ['beach', 'forest', 'night', 'sunset'])
    >>> round(sum(p["score"] for p in result["predictions"]), 4)
    1.0
    >>> [len(r["predictions"]) for r in predict("runs/demo/run", ["beach.png", "data/test/night"], top_k=2)]
    [2, 2, 2, 2, 2, 2, 2, 2, 2]
    """
    if not is_whole(top_k) or top_k < 1:
        raise ConfigError(f"top_k must be a whole number of at least 1, got {top_k!r}")
    run = _finished(run)
    named = _named_inputs(inputs, run.modality)
    results: list[dict[str, Any]] = [{"input": name} for name, _ in named]
    for start in range(0, len(named), PREDICT_CHUNK):  # memory stays flat however many inputs come
        _predict_chunk(run, named[start : start + PREDICT_CHUNK], results[start : start + PREDICT_CHUNK], top_k)
    return results


def _predict_chunk(run: Run, named: list[tuple[str, Any]], results: list[dict[str, Any]], top_k: int) -> None:
    """:func:`predict` of some inputs, filling in their ``results``."""
    if run.modality == "text":  # the texts themselves, repaired as training repairs them
        batch = np.array([repair_text(text)[0] for _, text in named], dtype=object)
        readable = list(range(len(named)))
        for result, cut in zip(results, _cut(run, batch), strict=True):
            result["truncated"] = cut
    else:
        images, readable = [], []
        for i, (_, item) in enumerate(named):
            try:
                pixels = item if isinstance(item, np.ndarray) else read_image(item)
                images.append(np.asarray(resize_images(pixels, run.input_shape[:2], run.interpolation)))  # type: ignore[arg-type]
                readable.append(i)  # resized as the training pipeline resizes: one resize for all
            except FileNotFoundError:  # a text given to an image model, a typo
                results[i]["error"] = NO_SUCH_IMAGE
            except (OSError, DataError) as err:
                results[i]["error"] = str(err)
        batch = np.stack(images) if images else None  # type: ignore[assignment]
    if batch is None or not len(batch):
        return
    outputs = run.model.predict(batch, verbose=0)
    for i, output in zip(readable, outputs, strict=True):
        if run.task == "regression":
            results[i]["values"] = [float(v) for v in np.atleast_1d(output)]
            continue
        order = np.argsort(-output)[: int(top_k)]
        results[i]["predictions"] = [{"label": run.class_names[j], "score": float(output[j])} for j in order]


def _cut(run: Run, texts: np.ndarray) -> list[bool]:
    """Whether each text is longer than the model's token window, so was cut: the model reads
    ``run.input_shape[0]`` tokens, the length its training texts were fitted to."""
    steps = [run.model.get_layer(name) for name in run.model_config.parts.text_steps]
    if not steps or not len(texts):
        return [False] * len(texts)  # a model that tokenizes inside one layer (a SavedModel) says nothing
    unlabelled = Dataset("regression", np.zeros(len(texts)), (), ("",) * len(texts), texts=tuple(texts))
    return [bool(cut) for cut in cut_texts(steps, unlabelled)]


def predictions_csv(results: Sequence[Mapping[str, Any]]) -> str:
    """:func:`predict`'s results as CSV: ``input``, then ``label_1, score_1, ...`` (``value_1, ...`` for
    regression), then ``truncated`` for texts, then ``error``; one row per input.

    >>> print(predictions_csv([{"input": "a.png", "predictions": [{"label": "cat", "score": 0.9}]}]), end="")
    input,label_1,score_1,error
    a.png,cat,0.9,
    """
    width = max([len(r.get("predictions", r.get("values", []))) for r in results] or [0])
    regression = any("values" in r for r in results)
    names = [f"value_{i}" for i in range(1, width + 1)] if regression else [
        name for i in range(1, width + 1) for name in (f"label_{i}", f"score_{i}")
    ]  # fmt: skip
    texts = ["truncated"] if any("truncated" in r for r in results) else []
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["input", *names, *texts, "error"])
    for r in results:
        cells = r.get("values") or [c for p in r.get("predictions", []) for c in (p["label"], f"{p['score']:.6g}")]
        cut = [str(r.get("truncated", "")).lower()] if texts else []
        writer.writerow([r["input"], *cells, *[""] * (len(names) - len(cells)), *cut, r.get("error", "")])
    return out.getvalue()


def _named_inputs(inputs: Any, modality: str) -> list[tuple[str, Any]]:
    """``(name, image path, pixels or text)`` for each input :func:`predict` was given (see there).

    >>> _named_inputs("Rain by noon.", "text")
    [('Rain by noon.', 'Rain by noon.')]
    """
    if isinstance(inputs, np.ndarray) and inputs.dtype.kind in "uifb":
        if modality == "text":
            raise DataError("a text model predicts strings, not an array of numbers")
        one = inputs.ndim == 3 and inputs.shape[-1] in (3, 4)  # (H, W, 3|4): one image; (N, H, W): grey ones
        pixels = rgb_uint8(inputs[np.newaxis] if one else inputs)
        return [(f"array[{i}]", image) for i, image in enumerate(pixels)]
    if isinstance(inputs, np.ndarray):
        inputs = inputs.tolist()  # strings: dtype object or str
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    if not isinstance(inputs, Sequence):
        raise DataError(
            f"predict takes {'texts' if modality == 'text' else 'image files, folders or pixel arrays'}, "
            f"not {type(inputs).__name__}"
        )
    named: list[tuple[str, Any]] = []
    for item in inputs:
        if not isinstance(item, (str, os.PathLike)):
            raise DataError(f"each input must be a string or a path, not {type(item).__name__}: {item!r:.60}")
        found = unlabelled(item, modality) if modality == "image" or os.path.exists(item) else None  # type: ignore[arg-type]
        named += found if found is not None else [(os.fspath(item), os.fspath(item))]
    return named


def _finished(run: str | os.PathLike[str] | Run) -> Run:
    """The finished run; one named by its path is loaded once per model file, so ``predict(path, ...)`` in a
    loop reuses one model and its compiled predict function (a model loaded per call traced a new function
    each time, which TensorFlow reports as "triggered tf.function retracing")."""
    if isinstance(run, Run):
        return Run.finished(run)
    if not isinstance(run, (str, os.PathLike)):  # a model: it knows neither its labels nor how its inputs are read
        raise ConfigError(
            f"expected a finished run (its folder or a zoo.Run), got a {type(run).__name__}; for a model of "
            "zoo.build or zoo.load_model, call its own predict() on pixels or texts"
        )
    try:
        stamp = os.stat(Run.model_file(run))
    except OSError:
        return Run.finished(run)  # says what is missing
    return _loaded(str(Path(run).resolve()), stamp.st_mtime_ns, stamp.st_size)


@functools.lru_cache(maxsize=2)
def _loaded(path: str, mtime_ns: int, size: int) -> Run:
    """A finished run, kept while its ``model.keras`` is the same file (same time and size)."""
    return Run.finished(path)
