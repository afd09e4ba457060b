"""Plots as PNG: a run's learning curves and confusion matrix, and the learning-rate finder's curve.

matplotlib is imported when a plot is drawn (no pyplot, no global state), so nothing here needs TensorFlow
or Keras. Every file goes through :mod:`zoo.files`: it is complete or absent. A plot that cannot be drawn
is a :class:`zoo.TrainingWarning`, never a failed run.
"""

from __future__ import annotations

import errno
import functools
import io
import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zoo import escape
from zoo.errors import DataError, DiskFullError, TrainingWarning, first_line
from zoo.files import atomic_path
from zoo.metrics import checked_names

ANNOTATE_MAX_CLASSES = 30  # confusion matrix cells get their value written up to this many classes
TICKS_MAX_CLASSES = 100  # and class names on the axes up to this many


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


def plot_lr_find(
    rates: Sequence[float], losses: Sequence[float], suggestion: float, path: str | os.PathLike
) -> Path | None:
    """Plot the learning-rate finder's smoothed loss against the rate (log scale) to a PNG, the suggestion marked.

    >>> import tempfile, pathlib
    >>> plot_lr_find([1e-4, 1e-3, 1e-2], [1.4, 1.1, 2.0], 1e-3, pathlib.Path(tempfile.mkdtemp()) / "lr.png").suffix
    '.png'
    """

    def draw() -> Path:
        figure = _figure(figsize=(6, 4), dpi=100)
        ax = figure.subplots()
        ax.plot(rates, losses)
        ax.axvline(suggestion, color="tab:red", linestyle="--", label=f"suggested {suggestion:.2g}")
        ax.set(xscale="log", xlabel="learning rate", ylabel="training loss (smoothed)", title="learning-rate finder")
        ax.legend()
        return _save_png(figure, path)

    return _drawn(path, draw)


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


def overlaid_curves_png(histories: Mapping[str, Sequence[Mapping[str, Any]]]) -> bytes:
    """A PNG of several runs' validation loss and main validation metric per epoch, one line per run (named by
    its key), for comparing them; epochs numbered across phases.

    >>> overlaid_curves_png({"a": [{"val_loss": 1.0}, {"val_loss": 0.8}]})[:4]
    b'\\x89PNG'
    """
    keys = {key for history in histories.values() for row in history for key in row}
    metric = next((m for m in ("accuracy", "binary_accuracy", "mae") if f"val_{m}" in keys), None)
    panels = ["val_loss"] + ([f"val_{metric}"] if metric else [])
    figure = _figure(figsize=(5 * len(panels), 4), dpi=100)
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, name in zip(axes, panels, strict=True):
        for index, (label, history) in enumerate(histories.items()):
            values = _series(history, name)
            if np.isfinite(values).any():  # each run its own colour in every panel, whichever runs a panel lacks
                ax.plot(np.arange(1, len(history) + 1), values, marker="o", markersize=3, label=escape.terminal(label),
                        color=f"C{index % 10}")  # fmt: skip
        if ax.has_data():
            ax.legend(fontsize="small")
        ax.set(title=name.replace("_", " "), xlabel="epoch", ylabel=name)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    figure.clear()
    return buffer.getvalue()


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
    names = checked_names(class_names, len(counts))
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
        shown = [_drawable(escape.terminal(name)) for name in names]  # plain text: no math ($...$) parsed
        short = [name if len(name) <= 20 else name[:19] + "…" for name in shown]
        rotate = max(len(name) for name in short) > 3
        ax.set_xticks(range(c), short, fontsize=fontsize, rotation=45 if rotate else 0,
                      ha="right" if rotate else "center", parse_math=False)  # fmt: skip
        ax.set_yticks(range(c), short, fontsize=fontsize, parse_math=False)
    title = "confusion matrix" + (" (share of each true class)" if normalize else " (counts)")
    ax.set(title=title, xlabel="predicted", ylabel="true")
    return _save_png(figure, path)


@functools.lru_cache(maxsize=1)
def _font_characters() -> frozenset[int]:
    """The code points the plots' font (matplotlib's default) can draw."""
    from matplotlib import font_manager, ft2font

    return frozenset(ft2font.FT2Font(font_manager.findfont(font_manager.FontProperties())).get_charmap())


def _drawable(text: str) -> str:
    """``text`` with each character the font cannot draw as its code point (``\\u6d77``), where matplotlib would draw
    a box and warn: two classes named in a script the font lacks stay told apart on the axes.

    >>> print(_drawable("beach 海"))
    beach \\u6d77
    """
    known = _font_characters()
    return "".join(c if ord(c) in known or c.isspace() else f"\\u{ord(c):04x}" for c in text)


def _series(history: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    """The column ``key`` as floats, NaN where missing or not a number."""
    values = []
    for row in history:
        try:
            values.append(float(row.get(key)))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            values.append(math.nan)
    return np.asarray(values, dtype=np.float64)
