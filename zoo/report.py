"""Run reports: evaluation metrics, the epoch history as CSV, plots and a Markdown model card.

Numpy and matplotlib only (matplotlib is imported when a plot is drawn), so a report can be made
without TensorFlow or Keras. Every file goes through :mod:`zoo.files`: it is complete or absent.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zoo import escape
from zoo.config import TASKS
from zoo.errors import ConfigError, DataError, DiskFullError, TrainingWarning, first_line
from zoo.files import atomic_path, write_text

EPSILON = 1e-7  # probability clipping for the loss, as Keras does
ANNOTATE_MAX_CLASSES = 30  # confusion matrix cells get their value written up to this many classes
TICKS_MAX_CLASSES = 100  # and class names on the axes up to this many
CARD_MAX_CLASSES = 50  # per-class table in the model card up to this many classes
ZOO_DISTRIBUTION = "backbone-zoo"  # among a model's load requirements: it loads through zoo.load_model only


# --- metrics -------------------------------------------------------------------------------------


def compute_metrics(
    task: str,
    y_true: np.ndarray,
    outputs: np.ndarray,
    class_names: Sequence[str] = (),
    *,
    threshold: float = 0.5,
) -> dict[str, Any]:
    """Evaluation metrics of a model's ``outputs`` against ``y_true``, as a JSON-ready dict.

    ``task`` is ``"classification"`` (``y_true`` class indices ``(N,)``, ``outputs`` probabilities
    ``(N, C)``), ``"multilabel"`` (multi-hot ``(N, C)``, sigmoid probabilities ``(N, C)``, positive
    when above ``threshold``) or ``"regression"`` (``(N,)`` or ``(N, k)`` both). Precision, recall
    and F1 of a class with nothing predicted or nothing true are 0.0; ``macro_f1`` of a
    classification averages the classes seen in ``y_true`` or predicted, as scikit-learn does.

    >>> m = compute_metrics("classification", np.array([0, 1, 1]), np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]))
    >>> m["accuracy"], m["confusion_matrix"]
    (0.6666666666666666, [[1, 0], [1, 1]])
    """
    if task == "classification":
        return _classification(y_true, outputs, class_names)
    if task == "multilabel":
        return _multilabel(y_true, outputs, class_names, threshold)
    if task == "regression":
        return _regression(y_true, outputs)
    raise ConfigError(f"task must be one of {TASKS}, got {task!r}")


def _classification(y_true: Any, outputs: Any, class_names: Sequence[str]) -> dict[str, Any]:
    probs = _probabilities(outputs, "classification")
    n, c = probs.shape
    if c < 2:
        raise DataError(f"classification outputs need at least 2 classes (columns), got shape {probs.shape}")
    y = np.asarray(y_true)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != n:
        raise DataError(
            f"classification y_true must be class indices of shape ({n},) to match outputs {probs.shape}, "
            f"got shape {y.shape}"
        )
    y = _integers(y, "classification y_true")
    if y.min() < 0 or y.max() >= c:
        raise DataError(
            f"classification y_true must be class indices in [0, {c}), got values in [{y.min()}, {y.max()}]"
        )
    names = _names(class_names, c)

    pred = probs.argmax(axis=1)
    matrix = np.bincount(y * c + pred, minlength=c * c).reshape(c, c)
    per_class, f1 = _per_class(names, np.diag(matrix), matrix.sum(axis=0), matrix.sum(axis=1))
    seen = (matrix.sum(axis=0) + matrix.sum(axis=1)) > 0  # scikit-learn averages over these labels
    true_p = probs[np.arange(n), y] / np.where((total := probs.sum(axis=1)) > 0, total, 1.0)
    metrics: dict[str, Any] = {"n": int(n), "accuracy": float(np.mean(pred == y))}
    if c > 5:
        # The true class is in the top 5 when fewer than 5 classes score strictly higher (ties count as hits).
        metrics["top5_accuracy"] = float(np.mean((probs > probs[np.arange(n), y][:, None]).sum(axis=1) < 5))
    metrics["macro_f1"] = float(f1[seen].mean())
    metrics["loss"] = float(-np.mean(np.log(np.clip(true_p, EPSILON, 1 - EPSILON))))
    metrics["per_class"] = per_class
    metrics["confusion_matrix"] = matrix.tolist()
    return metrics


def _multilabel(y_true: Any, outputs: Any, class_names: Sequence[str], threshold: float) -> dict[str, Any]:
    probs = _probabilities(outputs, "multilabel")
    y = np.asarray(y_true)
    if y.shape != probs.shape:
        raise DataError(f"multilabel y_true must have the shape of outputs {probs.shape}, got {y.shape}")
    y = _integers(y, "multilabel y_true")
    if not np.isin(y, (0, 1)).all():
        raise DataError("multilabel y_true must be multi-hot: only 0 and 1")
    names = _names(class_names, probs.shape[1])

    y = y.astype(bool)
    pred = probs > threshold
    tp = (y & pred).sum(axis=0)
    per_class, f1 = _per_class(names, tp, pred.sum(axis=0), y.sum(axis=0))
    micro = 2 * tp.sum() / (pred.sum() + y.sum()) if pred.sum() + y.sum() else 0.0
    return {
        "n": len(y),
        "subset_accuracy": float(np.mean((y == pred).all(axis=1))),
        "micro_f1": float(micro),
        "macro_f1": float(f1.mean()),
        "per_class": per_class,
    }


def _regression(y_true: Any, outputs: Any) -> dict[str, Any]:
    y, out = np.asarray(y_true, dtype=np.float64), np.asarray(outputs, dtype=np.float64)
    shapes = f"y_true {y.shape}, outputs {out.shape}"
    y = y[:, None] if y.ndim == 1 else y
    out = out[:, None] if out.ndim == 1 else out
    if y.ndim != 2 or y.shape != out.shape:
        raise DataError(f"regression y_true and outputs must both be (N,) or (N, k) of one shape, got {shapes}")
    if len(y) == 0:
        raise DataError("cannot compute metrics of zero examples")
    if not (np.isfinite(y).all() and np.isfinite(out).all()):
        raise DataError("regression y_true and outputs must be finite (no NaN or inf)")
    error = out - y
    residual = (error**2).sum(axis=0)
    total = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    # A constant target: R2 is 1 when predicted exactly, else 0 (scikit-learn's force_finite).
    r2 = np.where(total > 0, 1 - residual / np.where(total > 0, total, 1.0), np.where(residual == 0, 1.0, 0.0))
    return {
        "n": len(y),
        "mae": float(np.abs(error).mean(axis=0).mean()),
        "rmse": float(np.sqrt((error**2).mean(axis=0)).mean()),
        "r2": float(r2.mean()),
    }


def _probabilities(outputs: Any, task: str) -> np.ndarray:
    probs = np.asarray(outputs, dtype=np.float64)
    if probs.ndim != 2:
        raise DataError(f"{task} outputs must be probabilities of shape (N, C), got shape {probs.shape}")
    if len(probs) == 0:
        raise DataError("cannot compute metrics of zero examples")
    if not np.isfinite(probs).all():
        raise DataError(f"{task} outputs contain NaN or inf")
    if probs.min() < 0 or probs.max() > 1 + 1e-6:
        raise DataError(
            f"{task} outputs must be probabilities in [0, 1], got values in [{probs.min():.4g}, {probs.max():.4g}] "
            "(logits instead of probabilities?)"
        )
    return probs


def _integers(values: np.ndarray, what: str) -> np.ndarray:
    if values.dtype.kind in "iub":
        return values.astype(np.int64)
    if values.dtype.kind == "f" and np.isfinite(values).all() and (values == np.round(values)).all():
        return values.astype(np.int64)
    raise DataError(f"{what} must hold integers, got dtype {values.dtype}")


def _names(class_names: Sequence[str], count: int) -> list[str]:
    names = [str(name) for name in class_names] or [str(i) for i in range(count)]
    if len(names) != count:
        raise DataError(f"{len(names)} class names for {count} output columns")
    if len(set(names)) != count:
        raise DataError("class names must be unique")
    return names


def _per_class(
    names: list[str], tp: np.ndarray, predicted: np.ndarray, support: np.ndarray
) -> tuple[dict[str, dict[str, float | int]], np.ndarray]:
    """Per-class precision, recall, F1 and support (0.0 where undefined), and the F1 array."""
    precision = tp / np.where(predicted > 0, predicted, 1)
    recall = tp / np.where(support > 0, support, 1)
    both = predicted + support
    f1 = 2 * tp / np.where(both > 0, both, 1)
    table = {
        name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for name, p, r, f, s in zip(names, precision, recall, f1, support, strict=True)
    }
    return table, f1


def summary_rows(task: str, metrics: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The headline numbers of ``metrics`` as ``(label, formatted value)`` rows for a summary table.

    >>> summary_rows("regression", {"n": 4, "mae": 0.5, "rmse": 0.75, "r2": 0.9})
    [('MAE', '0.5'), ('RMSE', '0.75'), ('R2', '0.9000')]
    """
    rows = {
        "classification": [
            ("accuracy", "accuracy", "{:.4f}"),
            ("macro F1", "macro_f1", "{:.4f}"),
            ("top-5 accuracy", "top5_accuracy", "{:.4f}"),
            ("loss", "loss", "{:.4f}"),
        ],
        "multilabel": [
            ("subset accuracy", "subset_accuracy", "{:.4f}"),
            ("micro F1", "micro_f1", "{:.4f}"),
            ("macro F1", "macro_f1", "{:.4f}"),
        ],
        "regression": [("MAE", "mae", "{:.6g}"), ("RMSE", "rmse", "{:.6g}"), ("R2", "r2", "{:.4f}")],
    }
    if task not in rows:
        raise ConfigError(f"task must be one of {TASKS}, got {task!r}")
    return [(label, fmt.format(metrics[key])) for label, key, fmt in rows[task] if metrics.get(key) is not None]


# --- history -------------------------------------------------------------------------------------


def write_history_csv(history: Sequence[Mapping[str, Any]], path: str | os.PathLike) -> Path:
    """Write one CSV row per epoch; the columns are every key in first-seen order, missing values empty.

    >>> import tempfile, pathlib
    >>> out = write_history_csv([{"epoch": 1, "loss": 0.5}, {"epoch": 2, "val_loss": 0.4}],
    ...                         pathlib.Path(tempfile.mkdtemp()) / "history.csv")
    >>> out.read_text().splitlines()
    ['epoch,loss,val_loss', '1,0.5,', '2,,0.4']
    """
    columns = list(dict.fromkeys(key for row in history for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
    if columns:
        writer.writeheader()
    writer.writerows({key: _cell_value(value) for key, value in row.items()} for row in history)
    return write_text(path, buffer.getvalue())


def _cell_value(value: Any) -> Any:
    if value is None:
        return ""
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    return value


def _series(history: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    """The column ``key`` as floats, NaN where missing or not a number."""
    values = []
    for row in history:
        try:
            values.append(float(row.get(key)))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            values.append(math.nan)
    return np.asarray(values, dtype=np.float64)


# --- plots ---------------------------------------------------------------------------------------


def _figure(**kwargs: Any) -> Any:
    """A matplotlib Figure drawn by the Agg canvas: no pyplot, no global state, nothing to close."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(layout="constrained", **kwargs)
    FigureCanvasAgg(figure)
    return figure


def _save_png(figure: Any, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    figure.clear()
    return Path(path)


def _drawn(path: str | os.PathLike, draw: Callable[[], Path]) -> Path | None:
    """``draw()``; where it fails (a matplotlibrc asking for LaTeX where there is none, a font that cannot draw a
    label) a :class:`TrainingWarning` naming the plot, and ``None``: a picture never costs a run its model and
    metrics. A full disk stays an error, as everywhere."""
    try:
        return draw()
    except Exception as err:
        if isinstance(err, DiskFullError) or getattr(err, "errno", None) == errno.ENOSPC:
            raise
        warnings.warn(f"{Path(path).name} could not be drawn ({type(err).__name__}: {first_line(err)}); the run "
                      "is complete without it", TrainingWarning, stacklevel=3)  # fmt: skip
        return None


def plot_learning_curves(
    history: Sequence[Mapping[str, Any]], path: str | os.PathLike, *, metric: str | None = None
) -> Path | None:
    """Plot loss (train and val) and the main metric per epoch to a PNG; a line marks where fine-tuning starts.

    The metric is ``metric`` if given, else the first of accuracy, binary_accuracy and mae in the history.
    Epochs are numbered across phases in row order. A plot that cannot be drawn is a :class:`TrainingWarning`
    and ``None``.

    >>> import tempfile, pathlib
    >>> plot_learning_curves([{"loss": 1.0, "val_loss": 1.2}, {"loss": 0.7, "val_loss": 0.9}],
    ...                      pathlib.Path(tempfile.mkdtemp()) / "curves.png").suffix
    '.png'
    """
    return _drawn(path, lambda: _learning_curves(history, path, metric))


def _learning_curves(history: Sequence[Mapping[str, Any]], path: str | os.PathLike, metric: str | None) -> Path:
    keys = {key for row in history for key in row}
    if metric is None:
        metric = next((m for m in ("accuracy", "binary_accuracy", "mae") if {m, f"val_{m}"} & keys), None)
    panels = ["loss"] + ([metric] if metric else [])
    figure = _figure(figsize=(5 * len(panels), 4), dpi=100)
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    epochs = np.arange(1, len(history) + 1)
    start = _fine_tune_start(history)
    for ax, name in zip(axes, panels, strict=True):
        for key, label in ((name, "train"), (f"val_{name}", "validation")):
            values = _series(history, key)
            if np.isfinite(values).any():
                ax.plot(epochs, values, marker="o", markersize=3, label=label)
        if start is not None:
            ax.axvline(start - 0.5, color="grey", linestyle="--", label="fine-tuning starts")
        if not ax.has_data():
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        else:
            ax.legend()
        ax.set(title=name, xlabel="epoch", ylabel=name)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    return _save_png(figure, path)


def _fine_tune_start(history: Sequence[Mapping[str, Any]]) -> int | None:
    """The 1-based epoch where the ``phase`` column first changes, or None."""
    phases = [row.get("phase") for row in history]
    first = next((p for p in phases if p is not None), None)
    for i, phase in enumerate(phases):
        if phase is not None and phase != first:
            return i + 1
    return None


def plot_confusion_matrix(
    matrix: Sequence[Sequence[int]],
    class_names: Sequence[str],
    path: str | os.PathLike,
    normalize: bool = True,
) -> Path | None:
    """Plot a confusion matrix (rows true, columns predicted) as an annotated heatmap PNG.

    ``normalize`` divides each row by its total, so a cell is the share of a true class predicted as
    each class. Cells are annotated up to 30 classes; names are shortened and rotated to stay legible.
    A matrix that is not square, or names that do not fit it, are a :class:`zoo.DataError`; a plot that cannot be
    drawn a :class:`TrainingWarning` and ``None``.

    >>> import tempfile, pathlib
    >>> plot_confusion_matrix([[5, 1], [2, 7]], ["cat", "dog"], pathlib.Path(tempfile.mkdtemp()) / "cm.png").name
    'cm.png'
    """
    counts = np.asarray(matrix, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise DataError(f"a confusion matrix must be square, got shape {counts.shape}")
    names = _names(class_names, len(counts))
    return _drawn(path, lambda: _confusion_matrix(counts, names, path, normalize))


def _confusion_matrix(counts: np.ndarray, names: Sequence[str], path: str | os.PathLike, normalize: bool) -> Path:
    c = len(counts)
    values = counts / np.where((rows := counts.sum(axis=1, keepdims=True)) > 0, rows, 1) if normalize else counts

    size = min(4 + 0.4 * c, 24)
    figure = _figure(figsize=(size + 1.5, size), dpi=100)
    ax = figure.subplots()
    image = ax.imshow(values, cmap="Blues", vmin=0, vmax=1 if normalize else max(values.max(), 1))
    figure.colorbar(image, ax=ax, shrink=0.8)
    fontsize = 9 if c <= 15 else 7 if c <= 30 else 5
    if c <= ANNOTATE_MAX_CLASSES:
        high = (1 if normalize else max(values.max(), 1)) / 2
        for (i, j), value in np.ndenumerate(values):
            text = f"{value:.2f}" if normalize else f"{int(value)}"
            ax.text(j, i, text, ha="center", va="center", fontsize=fontsize, color="white" if value > high else "black")
    if c <= TICKS_MAX_CLASSES:
        shown = [escape.terminal(name) for name in names]  # plain text: escapes visible, no math ($...$) parsed
        short = [name if len(name) <= 20 else name[:19] + "…" for name in shown]
        rotate = max(len(name) for name in short) > 3
        ax.set_xticks(range(c), short, fontsize=fontsize, rotation=45 if rotate else 0,
                      ha="right" if rotate else "center", parse_math=False)  # fmt: skip
        ax.set_yticks(range(c), short, fontsize=fontsize, parse_math=False)
    title = "confusion matrix" + (" (share of each true class)" if normalize else " (counts)")
    ax.set(title=title, xlabel="predicted", ylabel="true")
    return _save_png(figure, path)


# --- model card ----------------------------------------------------------------------------------


def write_model_card(
    path: str | os.PathLike,
    *,
    name: str,
    spec: Mapping[str, Any],
    config: Mapping[str, Any],
    metrics: Mapping[str, Any],
    class_names: Sequence[str],
    task: str,
    data_summary: Mapping[str, Any] | None = None,
    history: Sequence[Mapping[str, Any]] = (),
    load_requirements: Sequence[str] | None = None,
) -> Path:
    """Write a short Markdown model card (``README.md`` of a run directory) and return its path.

    ``path`` is the card file, or a directory to write ``README.md`` in; the usage snippet points at
    ``model.keras`` beside it. ``spec`` is the backbone's ``BackboneSpec.to_dict()``, its
    ``input_shape`` what the model reads (``[tokens]`` for text); its ``modality`` chooses the
    wording of the input, usage and limitations. ``config`` holds the run's ``TrainConfig`` fields
    (and its data sources); ``history`` the epochs the run trained, so the card gives the epochs and
    learning rate each phase really used. ``load_requirements`` (``Run.load_requirements``: the
    distributions loading ``model.keras`` needs) gives the usage one line on what to install and whether
    plain ``keras.saving.load_model`` loads it or ``zoo.load_model`` is needed. Nothing unset is printed
    as ``None``: it is left out or worded ("none", "not used").

    >>> import tempfile, pathlib
    >>> card = write_model_card(pathlib.Path(tempfile.mkdtemp()), name="pets", spec={"name": "resnet50"},
    ...                         config={"epochs": 3}, metrics={"n": 2, "accuracy": 1.0}, class_names=["cat", "dog"],
    ...                         task="classification")
    >>> card.read_text().splitlines()[0], card.name
    ('# pets', 'README.md')
    """
    path = Path(path)
    if path.is_dir():
        path = path / "README.md"
    if hasattr(spec, "to_dict"):
        spec = spec.to_dict()
    if hasattr(config, "to_dict"):
        config = config.to_dict()
    folder = path.parent.as_posix()
    names = [str(n) for n in class_names]
    backbone = spec.get("name", "?")
    text = spec.get("modality") == "text"
    train = _train_config(config)
    lines = [f"# {escape.markdown(name)}", ""]
    outputs = {
        "classification": f"one of {len(names)} classes (softmax probabilities)",
        "multilabel": f"any of {len(names)} labels (independent sigmoid probabilities)",
        "regression": f"{len(names) or 'one or more'} regression target(s)",
    }.get(task, task)
    kind = "text " if text else "image " if spec.get("modality") == "image" else ""
    lines += [
        f"A {kind}{task} model trained with backbone-zoo on the `{backbone}` backbone: it predicts {outputs}.",
        "",
    ]

    lines += ["## Model", ""]
    lines += [f"- backbone: `{backbone}`" + (f" ({spec['family']} family)" if spec.get("family") else "")]
    if spec.get("plugin"):
        lines += [f"- plugin: `{spec['plugin']}`"]
    lines += _text_input(spec) if text else _image_input(spec)
    lines += [f"- head: {_describe_head(train, task, text, len(names))}", ""]

    lines += [
        "## Training",
        "",
        *_table(("phase", "what trains", "epochs", "learning rate"), _phases(train, config, history)),
    ]
    settings = _settings(config, train, task)
    lines += ["", *_table(("setting", "value"), settings), ""] if settings else [""]
    if data_summary:
        rows = [(k, _cell(v)) for k, v in data_summary.items() if v is not None]
        lines += ["## Data", "", *_table(("item", "value"), rows), ""]

    lines += ["## Evaluation", ""]
    n = metrics.get("n")
    if n is not None:
        lines += [f"On {n} validation examples:", ""]
    headline = summary_rows(task, metrics) if task in TASKS else []
    lines += [*_table(("metric", "value"), headline), ""] if headline else ["No metrics recorded.", ""]
    per_class = metrics.get("per_class") or {}
    if per_class and len(per_class) <= CARD_MAX_CLASSES:
        rows = [
            (Code(label), *(f"{m[k]:.4f}" for k in ("precision", "recall", "f1")), str(m["support"]))  # type: ignore[misc]
            for label, m in per_class.items()
        ]
        lines += [*_table(("label", "precision", "recall", "F1", "support"), rows), ""]

    if names:
        lines += ["## Labels", "", "Output index: label", ""]
        lines += [f"- {i}: {escape.markdown_code(label)}" for i, label in enumerate(names)] + [""]

    lines += ["## Usage", ""]
    lines += [_how_to_load(load_requirements), ""] if load_requirements is not None else []
    lines += [*(_text_usage(folder) if text else _image_usage(folder, spec)), ""]

    lines += ["## Limitations", ""]
    if n is not None:
        lines += [f"- Evaluated on {n} validation examples only: the metrics are an estimate, not a guarantee."]
    if task != "regression":
        lines += ["- It knows only the labels above: anything else is forced into one of them."]
    few = [label for label, m in per_class.items() if m.get("support", 0) < 10]
    if few:
        shown = ", ".join(escape.markdown_code(label) for label in few[:10]) + (", ..." if len(few) > 10 else "")
        lines += [f"- {len(few)} label(s) have fewer than 10 validation examples, so their scores are noisy: {shown}."]
    lines += _text_limitations(spec, data_summary or {}) if text else _image_limitations()
    return write_text(path, "\n".join(lines) + "\n")


def _train_config(config: Mapping[str, Any]) -> Any:
    """The run's :class:`zoo.TrainConfig` from the TrainConfig fields among ``config`` (the rest are data sources)."""
    import dataclasses

    from zoo.config import TrainConfig

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig.from_options({k: v for k, v in config.items() if k in fields})


def _image_input(spec: Mapping[str, Any]) -> list[str]:
    lines = []
    shape = spec.get("input_shape")
    pre = spec.get("preprocessing") or {}
    if shape:
        size = " x ".join(str(d) for d in shape)
        resize = (
            f", resized {pre['interpolation']} to this size"
            if isinstance(pre, Mapping) and "interpolation" in pre
            else ""
        )
        lines += [f"- input: RGB images of {size}, raw pixels in [0, 255]{resize}"]
    if pre:
        lines += [f"- preprocessing (inside the model): {_describe_preprocessing(pre)}"]
    return lines


def _text_input(spec: Mapping[str, Any]) -> list[str]:
    pre = dict(spec.get("preprocessing") or {})
    shape = spec.get("input_shape") or ()
    length = shape[0] if len(shape) == 1 else pre.get("sequence_length")  # type: ignore[misc]
    lines = ["- input: one raw string per example (the model tokenizes it)"]
    tokenizer = pre.get("tokenizer")
    if tokenizer:
        case = [w for w, on in (("lower-cased", pre.get("lowercase")), ("accents stripped", pre.get("strip_accents")))
                if on]  # fmt: skip
        case_text = f" ({', '.join(case)})" if case else ""
        vocabulary = f"; vocabulary: {pre['vocabulary']}" if pre.get("vocabulary") else ""
        lines += [f"- tokenizer (inside the model): {tokenizer}{case_text}{vocabulary}"]
    if length:
        declared = pre.get("sequence_length")
        most = f" (the backbone reads up to {declared})" if declared and declared != length else ""
        lines += [f"- sequence length: {length} tokens{most}; longer texts are cut to their first {length}"]
    pooling = pre.get("pooling")
    if pooling:
        pooled = {"cls": "the first token's vector", "none": "pooled by the encoder itself"}.get(
            pooling, f"{pooling} of the token vectors over the padding mask"
        )
        lines += [f"- pooling: {pooled}{', L2-normalised' if pre.get('normalize') else ''}"]
    return lines


def _describe_head(train: Any, task: str, text: bool, outputs: int) -> str:
    steps = [] if text else [f"{train.head} pooling of the feature map"]
    steps += ["standardised features"] if getattr(train, "standardize", True) else []
    if train.dropout and train.hidden:
        steps += [f"dropout {train.dropout:g} and Dense {units} (ReLU)" for units in train.hidden]
    else:
        steps += [f"Dense {units} (ReLU)" for units in train.hidden]
    if train.dropout:
        steps += [f"dropout {train.dropout:g}"]
    activation = {"classification": "softmax", "multilabel": "sigmoid", "regression": "linear"}.get(task, "")
    dense = f"Dense {outputs}" if outputs else "Dense"  # a regression without target names: as many as targets
    steps += [f"{dense} ({activation})" if activation else dense]
    return ", then ".join(steps)


def _phases(train: Any, config: Mapping[str, Any], history: Sequence[Mapping[str, Any]]) -> list[tuple[str, ...]]:
    """One row per phase: what trained, the epochs run (of the most allowed) and the learning rate used."""
    schedule = "cosine decay to 0" if train.schedule == "cosine" else "constant"
    optimizer = {"adam": "Adam", "sgd": "SGD, momentum 0.9"}.get(train.optimizer, train.optimizer)

    def epochs(phase: int, most: int) -> str:
        run = sum(1 for row in history if row.get("phase") == phase)
        if not history:
            return f"at most {most}"
        stopped = " (early stopping)" if run < most else ""
        return f"{run} of {most}{stopped}"

    rows = [
        (
            "1",
            "the head (backbone frozen)",
            epochs(1, train.epochs),
            f"{train.learning_rate:g}, {schedule}, {optimizer}",
        )
    ]
    if train.fine_tune:
        unfrozen = list(config.get("unfrozen blocks") or [])
        blocks = f" ({', '.join(unfrozen)})" if unfrozen else ""
        what = f"the head and the top {train.fine_tune} backbone blocks{blocks}, BatchNorm frozen"
        rate = f"{train.phase2_learning_rate:g}, {schedule}, {optimizer}"
        rows.append(("2", what, epochs(2, train.phase2_epochs), rate))
    else:
        rows.append(("2", "not used (no fine-tuning)", "-", "-"))
    return rows  # type: ignore[return-value]


# The settings table: TrainConfig fields the phases and the head do not already show, and how to word them.
_SETTINGS = ("batch_size", "weights", "augment", "class_weight", "patience", "seed", "mixed_precision", "cache",
             "shuffle", "distribution", "val_fraction")  # fmt: skip


def _settings(config: Mapping[str, Any], train: Any, task: str) -> list[tuple[str, str]]:
    rows = []
    for key in _SETTINGS:
        if key == "class_weight" and task != "classification":
            continue
        value = getattr(train, key)
        if key == "weights":
            text = {None: "none (random initialisation)", "default": "default (the backbone's pretrained ones)"}.get(
                value, str(value)
            )
        elif key == "augment":
            text = "none" if not value else "all" if value is True else ", ".join(value)
        elif key == "class_weight":
            text = value or "none (every class weighs 1)"
        elif key == "patience":
            text = "none (never stops early)" if value is None else f"{value} epochs"
        elif key == "val_fraction":
            if config.get("val", "") is not None:
                continue  # validated on its own data (or not said): nothing was held out
            text = f"{value:g} of the training data held out for validation"
        elif isinstance(value, bool):
            text = "yes" if value else "no"
        else:
            text = _cell(value)
        rows.append((key, text))
    rows += [(key, _cell(config[key])) for key in ("train", "val") if config.get(key) is not None]
    return rows


def _how_to_load(requirements: Sequence[str]) -> str:
    """One line: what must be installed to load ``model.keras``, and which function loads it.

    >>> print(_how_to_load(["keras", "keras-cv"]))
    To load `model.keras`, install `keras` and `keras-cv`: plain `keras.saving.load_model` loads it (no zoo needed).
    >>> _how_to_load(["backbone-zoo", "keras", "keras-hub"])[:77]
    'To load `model.keras`, install `backbone-zoo`, `keras` and `keras-hub`: use `'
    """
    names = [f"`{name}`" for name in requirements] or ["`keras`"]
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    if ZOO_DISTRIBUTION in requirements:
        how = ("use `zoo.load_model` (its layers are not Keras' own, so plain `keras.saving.load_model` "
               "does not know them)")  # fmt: skip
    else:
        how = "plain `keras.saving.load_model` loads it (no zoo needed)"
    return f"To load `model.keras`, install {listed}: {how}."


def _image_usage(folder: str, spec: Mapping[str, Any]) -> list[str]:
    shape = spec.get("input_shape")
    shaped = f" of shape (N, {', '.join(str(d) for d in shape)})" if shape else ""
    return [
        "```python",
        "import zoo",
        "",
        f"model = zoo.load_model({escape.python(folder + '/model.keras')})",
        f"outputs = model.predict(images)  # raw RGB pixels in [0, 255]{shaped}; the model preprocesses them",
        f'results = zoo.predict({escape.python(folder)}, ["image.jpg"])  # or from files, resized as in training',
        "```",
        "",
        "```sh",
        f"zoo predict {escape.shell(folder)} image.jpg other.png",
        "```",
    ]


def _text_usage(folder: str) -> list[str]:
    return [
        "```python",
        "import numpy as np",
        "import zoo",
        "",
        f"model = zoo.load_model({escape.python(folder + '/model.keras')})",
        'outputs = model.predict(np.array(["some text", "another text"], dtype=object))  # raw strings',
        f'results = zoo.predict({escape.python(folder)}, ["some text", "another text"])',
        "```",
        "",
        "```sh",
        f'zoo predict {escape.shell(folder)} "some text" "another text"',
        f"xargs -d '\\n' zoo predict {escape.shell(folder)} < texts.txt  # one text per line",
        "```",
    ]


def _image_limitations() -> list[str]:
    return ["- Performance on images unlike the training data (other cameras, domains, resolutions) is unknown."]


def _text_limitations(spec: Mapping[str, Any], data_summary: Mapping[str, Any]) -> list[str]:
    pre = spec.get("preprocessing") or {}
    shape = spec.get("input_shape") or ()
    length = shape[0] if len(shape) == 1 else pre.get("sequence_length")  # type: ignore[misc]
    vocabulary = f" (its vocabulary: {pre['vocabulary']})" if pre.get("vocabulary") else ""
    lines = [
        f"- Performance on texts unlike the training data (other languages, domains, styles or lengths) is unknown; "
        f"the backbone reads what its tokenizer knows{vocabulary}."
    ]
    if length:
        cut = next((v for k, v in data_summary.items() if k.startswith("texts cut at")), None)
        counted = f" ({cut} of the training and validation texts were)" if cut is not None else ""
        lines += [f"- Only the first {length} tokens of a text are read: the rest is ignored{counted}."]
    return lines


def _describe_preprocessing(pre: Any) -> str:
    if isinstance(pre, str):
        return pre
    if hasattr(pre, "describe"):
        return pre.describe()
    from zoo.spec import Preprocessing

    try:
        return Preprocessing(**{k: tuple(v) if isinstance(v, list) else v for k, v in pre.items()}).describe()  # type: ignore[arg-type]
    except (TypeError, AttributeError):
        return _cell({k: v for k, v in pre.items() if v is not None})


def _cell(value: Any) -> str:
    """A short rendering of a config or data value for a table cell ("none" for ``None``)."""
    if value is None:
        return "none"
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, (list, tuple)) and len(value) > 5:
        head = ", ".join(str(v) for v in value[:5])
        text = f"{len(value)} ({head}, ...)"
    elif isinstance(value, (Mapping, list, tuple)):
        text = json.dumps(value, default=str)
    else:
        text = str(value)
    return text


class Code(str):
    """A table cell shown as code (a label): :func:`escape.markdown_code` rather than :func:`escape.markdown`."""


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    shown = [[escape.markdown_code(c) if isinstance(c, Code) else escape.markdown(c) for c in row] for row in rows]
    return lines + ["| " + " | ".join(row) + " |" for row in shown]
