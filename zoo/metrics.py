"""Evaluation metrics: a model's outputs against the truth, as a JSON-ready dict, and their headline rows.

Numpy only, so metrics can be computed without TensorFlow or Keras.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from zoo.config import TASKS, TOP_ACCURACY_K, is_number
from zoo.errors import ConfigError, DataError

EPSILON = 1e-7  # probability clipping for the multilabel loss, as Keras does (a float32 sigmoid saturates at 1 - 6e-8)
# The smallest probability a float32 softmax gives before it rounds to 0: a classifier's loss is then the cross-entropy
# its logits give (Keras computes it from them each epoch), not one capped at -ln(1e-7) = 16.1 an example.
SMALLEST_PROBABILITY = float(np.finfo(np.float32).tiny)


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
    names = checked_names(class_names, c)

    pred = probs.argmax(axis=1)
    matrix = np.bincount(y * c + pred, minlength=c * c).reshape(c, c)
    per_class, f1 = _per_class(names, np.diag(matrix), matrix.sum(axis=0), matrix.sum(axis=1))
    seen = (matrix.sum(axis=0) + matrix.sum(axis=1)) > 0  # scikit-learn averages over these labels
    metrics: dict[str, Any] = {"n": int(n), "accuracy": float(np.mean(pred == y))}
    if c > TOP_ACCURACY_K:
        # The true class is in the top 5 when fewer than 5 classes score strictly higher (ties count as hits).
        metrics["top5_accuracy"] = float(
            np.mean((probs > probs[np.arange(n), y][:, None]).sum(axis=1) < TOP_ACCURACY_K)
        )
    metrics["macro_f1"] = float(f1[seen].mean())
    metrics["loss"] = float(np.mean(example_losses("classification", y, probs)))
    metrics["per_class"] = per_class
    metrics["confusion_matrix"] = matrix.tolist()
    return metrics


def example_losses(task: str, targets: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """Each example's loss: the cross-entropy of its class (classification; its mean is ``metrics.json``'s
    ``loss``), the mean binary cross-entropy of its labels (multilabel), the mean squared error (regression).

    >>> example_losses("classification", np.array([0, 1]), np.array([[0.5, 0.5], [0.9, 0.1]])).round(3).tolist()
    [0.693, 2.303]
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    if task == "classification":
        total = outputs.sum(axis=1)
        true_p = outputs[np.arange(len(targets)), np.asarray(targets).astype(int)] / np.where(total > 0, total, 1.0)
        return -np.log(np.clip(true_p, SMALLEST_PROBABILITY, 1.0))
    if task == "multilabel":
        p = np.clip(outputs, EPSILON, 1 - EPSILON)
        return -(targets * np.log(p) + (1 - targets) * np.log(1 - p)).mean(axis=1)
    flat = (len(targets), -1)
    return ((outputs.reshape(flat) - np.asarray(targets, dtype=np.float64).reshape(flat)) ** 2).mean(axis=1)


def _multilabel(y_true: Any, outputs: Any, class_names: Sequence[str], threshold: float) -> dict[str, Any]:
    probs = _probabilities(outputs, "multilabel")
    y = np.asarray(y_true)
    if y.shape != probs.shape:
        raise DataError(f"multilabel y_true must have the shape of outputs {probs.shape}, got {y.shape}")
    y = _integers(y, "multilabel y_true")
    if not np.isin(y, (0, 1)).all():
        raise DataError("multilabel y_true must be multi-hot: only 0 and 1")
    names = checked_names(class_names, probs.shape[1])

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


def checked_names(class_names: Sequence[str], count: int) -> list[str]:
    """``class_names`` as strings, one per output column and unique (``"0"``, ``"1"``, ... when none are given).

    >>> checked_names([], 2)
    ['0', '1']
    """
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


def metrics_problem(metrics: Any, class_names: Sequence[str]) -> str | None:
    """Why ``metrics`` (``metrics.json`` read back) is not a record :func:`compute_metrics` writes, or ``None``:
    every value a number, ``per_class`` numbers per class, ``confusion_matrix`` counts, one row and column a class.

    >>> metrics_problem({"n": 2, "accuracy": "high"}, ["a", "b"])
    'accuracy is "high", not a number'
    >>> metrics_problem({"n": 2, "accuracy": 0.5, "confusion_matrix": [[1]]}, ["a", "b"]) is None
    False
    """
    if not isinstance(metrics, dict):
        return f"{json.dumps(metrics)[:40]}, not an object of metrics"
    count = len(class_names)
    for key, value in metrics.items():
        if key == "per_class":
            rows = value.values() if isinstance(value, dict) else [None]
            if not all(isinstance(row, dict) and all(map(is_number, row.values())) for row in rows):
                return "per_class is not a table of numbers for each class"
        elif key == "confusion_matrix":
            square = isinstance(value, list) and len(value) == count
            if not (square and all(isinstance(row, list) and len(row) == count and all(map(is_number, row))
                                   for row in value)):  # fmt: skip
                return f"confusion_matrix is not {count}x{count} counts, one row and column for each class"
        elif not is_number(value):
            return f"{key} is {json.dumps(value)[:40]}, not a number"
    return None


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
