"""Transferability scores behind ``zoo rank``: how well a backbone's features suit a dataset, without fine-tuning.

* :func:`logme` is LogME (You et al., ICML 2021, "LogME: Practical Assessment of Pre-trained Models for
  Transfer Learning"): the log evidence of Bayesian linear regression from the features to the labels,
  per example. Higher is better; it compares backbones on one dataset, not datasets with each other.
* :func:`linear_probe` is the cross-validated accuracy (or R2) of a closed-form ridge model.
* :func:`clean_features` drops constant columns and reports them.

Features are scored as given: nothing is rescaled or centred (the linear probe standardises inside
each fold, as training a linear head would). Numpy only: no TensorFlow, Keras or SciPy.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from zoo.errors import ConfigError, DataError
from zoo.metrics import compute_metrics

LOGME_TOL = 1e-6  # the fixed point stops when alpha and beta both change by less than this, relatively
LOGME_MAX_ITER = 100
RIDGE_GRID = 10.0 ** np.arange(-4, 3)  # linear probe penalties, times the mean eigenvalue of the standardised X^T X


# --- LogME ---------------------------------------------------------------------------------------


def logme(features: np.ndarray, labels: np.ndarray, regression: bool = False) -> float:
    """LogME of ``features`` ``(N, D)`` for ``labels``: the mean over target columns of the maximised log evidence / N.

    Classification ``labels`` are class labels ``(N,)`` (one-hot targets, one column per class present);
    with ``regression=True`` they are ``(N,)`` or ``(N, k)`` numbers, one target per column. Each column
    is a Bayesian linear regression ``y = F w + noise`` with ``w ~ N(0, I / alpha)`` and noise precision
    ``beta``; MacKay's fixed point maximises the evidence over ``(alpha, beta)``. All columns share one
    eigendecomposition of the smaller Gram matrix (``F^T F`` or ``F F^T``, in float64) and iterate
    together. The paper's code stops after at most 11 iterations, once ``alpha / beta`` changes by less
    than 1e-2; here a column iterates until ``alpha`` and ``beta`` both change by less than
    ``LOGME_TOL`` (1e-6) relatively, or ``LOGME_MAX_ITER`` (100) iterations, and the evidence is
    evaluated at the final ``(alpha, beta)``. The cap is reached where the evidence keeps rising as
    ``alpha`` grows without bound (a column with no linear signal: the best ``w`` is 0); its evidence is
    then close to the supremum (within about 1e-5 per example on random features). An exact linear fit
    would have an infinite evidence: the least-squares residual is floored at rounding level, so it
    scores high but finite. Raises :class:`zoo.DataError` (a ``ValueError``) on NaN or inf, fewer than two
    examples or classes, mismatched lengths, or an evidence that is not finite.

    >>> rng = np.random.default_rng(0)
    >>> labels = rng.integers(0, 3, 300)
    >>> informative = rng.normal(size=(300, 8)) + 3 * np.eye(3, 8)[labels]
    >>> logme(informative, labels) > logme(rng.normal(size=(300, 8)), labels)
    True
    """
    f = _features(features)
    n, d = f.shape
    if n < 2:
        raise DataError(f"LogME needs at least two examples, got {n}")
    if regression:
        y = _regression_targets(labels, n)
        if not (y != 0).any(axis=0).all():
            raise DataError("a regression target column is all zeros: its LogME evidence is unbounded")
    else:
        classes, index = _classes(labels, n)
        if len(classes) < 2:
            raise DataError("LogME needs at least two classes")
        y = np.eye(len(classes))[index]

    s, c, r0, _ = _spectrum(f, y)
    x2 = c * c
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # degenerate input ends as a clear error
        alpha, beta = _fixed_point(s, x2, r0, n)
        _, mm, res = _moments(alpha, beta, s, x2, r0)
        log_det = np.log(alpha + beta * s[:, None]).sum(axis=0) + (d - len(s)) * np.log(alpha)
        evidence = (
            n / 2 * np.log(beta)
            + d / 2 * np.log(alpha)
            - n / 2 * math.log(2 * math.pi)
            - beta / 2 * res
            - alpha / 2 * mm
            - log_det / 2
        )
    score = float(np.mean(evidence) / n)
    if not math.isfinite(score):
        raise DataError(
            f"LogME evidence is not finite (alpha {alpha.tolist()}, beta {beta.tolist()}): "
            "the features fit the targets exactly or are degenerate"
        )
    return score


def _spectrum(f: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The SVD ``F = U diag(sqrt(s)) V^T`` as far as the scores need it, from the smaller Gram matrix in float64.

    Returns the squared singular values ``s`` (``min(N, D)``, zero below the rank tolerance), the
    projections ``c = U^T y`` of the target columns (zero where ``s`` is), the residual ``r0`` of
    projecting each column on the column space of F, and the eigenvectors: ``V`` when ``N > D``, else ``U``.
    ``r0`` is floored at rounding level, ``N * eps * ||y||^2``, so an exact linear fit stays finite.
    """
    f64 = np.asarray(f, dtype=np.float64)
    n, d = f64.shape
    if n > d:
        s, vectors = np.linalg.eigh(f64.T @ f64)
        c = vectors.T @ (f64.T @ y)  # V^T F^T y = sqrt(s) * U^T y
    else:
        s, vectors = np.linalg.eigh(f64 @ f64.T)
        c = vectors.T @ y
    rank = s > (s.max() * max(n, d) * np.finfo(np.float64).eps if len(s) else 0.0)
    s = np.where(rank, s, 0.0)  # numerically zero (and tiny negative) eigenvalues are zero
    if n > d:
        c = c / np.sqrt(np.where(rank, s, 1.0))[:, None]
    c = np.where(rank[:, None], c, 0.0)
    yy = (y * y).sum(axis=0)
    r0 = np.maximum(yy - (c * c).sum(axis=0), n * np.finfo(np.float64).eps * yy)
    return s, c, r0, vectors


def _moments(
    alpha: np.ndarray, beta: np.ndarray, s: np.ndarray, x2: np.ndarray, r0: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column: ``gamma``, ``m^T m`` and ``||F m - y||^2`` at ``m = beta A^-1 F^T y``, ``A = alpha I + beta F^T F``.

    ``x2`` holds the squared projections ``(U^T y)^2`` and ``r0`` the residual outside the column space of F.
    """
    t = alpha + beta * s[:, None]
    gamma = (beta * s[:, None] / t).sum(axis=0)
    mm = (beta**2 * s[:, None] * x2 / t**2).sum(axis=0)
    res = r0 + (x2 * (alpha / t) ** 2).sum(axis=0)
    return gamma, mm, res


def _fixed_point(s: np.ndarray, x2: np.ndarray, r0: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """MacKay's updates ``alpha = gamma / m^T m``, ``beta = (N - gamma) / ||F m - y||^2`` for all columns at once;
    a column stops when both change by less than ``LOGME_TOL`` relatively."""
    alpha, beta = np.ones(x2.shape[1]), np.ones(x2.shape[1])
    active = np.ones(x2.shape[1], dtype=bool)
    for _ in range(LOGME_MAX_ITER):
        gamma, mm, res = _moments(alpha, beta, s, x2, r0)
        # No signal in the column space (m = 0): the evidence does not depend on alpha, keep it.
        new_alpha = np.where(mm > 0, gamma / np.where(mm > 0, mm, 1.0), alpha)
        new_beta = (n - gamma) / res
        change = np.maximum(np.abs(new_alpha - alpha) / alpha, np.abs(new_beta - beta) / beta)
        alpha, beta = np.where(active, new_alpha, alpha), np.where(active, new_beta, beta)
        active &= ~(change < LOGME_TOL)  # NaN never converges; the caller reports a non-finite evidence
        if not active.any():
            break
    return alpha, beta


# --- linear probe --------------------------------------------------------------------------------


def linear_probe(
    features: np.ndarray, labels: np.ndarray, regression: bool = False, folds: int = 5, seed: int = 0
) -> dict[str, Any]:
    """Cross-validated score of a closed-form ridge model on ``features`` ``(N, D)``.

    Classification: stratified ``folds``-fold, one-vs-rest ridge on one-hot targets, argmax, mean
    accuracy. Regression (``labels`` ``(N,)`` or ``(N, k)``): shuffled ``folds``-fold, mean R2 (of
    :func:`zoo.metrics.compute_metrics`, as scikit-learn's ``r2_score``, averaged over outputs). Each
    fold standardises the features with its training statistics (constant columns become zero) and
    fits an intercept. The ridge penalty is ``trace(X^T X) / D`` of the standardised training features
    times one of ``RIDGE_GRID`` (1e-4 to 100): the one with the lowest generalised cross-validation
    error on the fold's training part (closed form, one eigendecomposition per fold). When the smallest
    class has fewer than ``folds`` examples the folds drop to its size (at least 2); the result's
    ``n_folds`` says how many were used.

    >>> rng = np.random.default_rng(0)
    >>> labels = np.repeat([0, 1], 20)
    >>> result = linear_probe(rng.normal(size=(40, 3)) + 5 * labels[:, None], labels)
    >>> result["score"], result["metric"], result["n_folds"]
    (1.0, 'accuracy', 5)
    """
    f = np.asarray(_features(features), dtype=np.float64)
    n = len(f)
    if folds < 2:
        raise ConfigError(f"folds must be at least 2, got {folds}")
    rng = np.random.default_rng(seed)
    if regression:
        y = _regression_targets(labels, n)
        if n < folds:
            raise DataError(f"dataset too small to score: {n} examples for {folds}-fold cross-validation")
        order = rng.permutation(n)
    else:
        classes, index = _classes(labels, n)
        if len(classes) < 2:
            raise DataError("a linear probe needs at least two classes")
        counts = np.bincount(index)
        if counts.min() < 2:
            raise DataError(
                f"dataset too small to score: class {classes.tolist()[counts.argmin()]!r} has {counts.min()} example; "
                f"cross-validation needs at least 2 examples per class ({folds} for {folds} folds)"
            )
        folds = min(folds, int(counts.min()))
        y = np.eye(len(classes))[index]
        shuffled = rng.permutation(n)
        order = shuffled[np.argsort(index[shuffled], kind="stable")]  # classes in turn, shuffled within
    fold = np.empty(n, dtype=np.int64)
    fold[order] = np.arange(n) % folds  # consecutive examples of one class go to different folds

    scores = []
    for k in range(folds):
        test = fold == k
        predicted = _ridge(f[~test], y[~test], f[test])
        if regression:
            scores.append(compute_metrics("regression", y[test], predicted)["r2"])
        else:
            scores.append(float(np.mean(predicted.argmax(axis=1) == index[test])))
    return {
        "score": float(np.mean(scores)),
        "folds": scores,
        "metric": "r2" if regression else "accuracy",
        "n_folds": folds,
    }


def _ridge(x: np.ndarray, y: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    """Predictions for ``x_test`` of ridge regression on standardised ``x`` and centred ``y``; the penalty is the
    one of ``RIDGE_GRID`` (times ``trace(X^T X) / D``) with the lowest generalised cross-validation error."""
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    a, b = (x - mean) / scale, (x_test - mean) / scale
    y_mean = y.mean(axis=0)
    s, c, r0, vectors = _spectrum(a, y - y_mean)
    n, d = a.shape
    penalties = RIDGE_GRID * (s.sum() / d if s.sum() > 0 else 1.0)  # all constant: any penalty gives w = 0
    shrink = penalties / (s[:, None] + penalties)  # (rank, grid): 1 - the hat matrix's eigenvalues
    residual = r0.sum() + ((c * c).sum(axis=1)[:, None] * shrink**2).sum(axis=0)
    dof = n - 1 - (1 - shrink).sum(axis=0)  # residual degrees of freedom; the intercept takes one
    gcv = np.where(dof > 0, residual / np.where(dof > 0, dof, 1.0) ** 2, np.inf)
    penalty = penalties[gcv.argmin()]
    if n > d:  # w = (A^T A + l I)^-1 A^T y = V diag(sqrt(s) / (s + l)) U^T y
        w = vectors @ (np.sqrt(s)[:, None] * c / (s[:, None] + penalty))
    else:  # w = A^T (A A^T + l I)^-1 y = A^T U diag(1 / (s + l)) U^T y
        w = a.T @ (vectors @ (c / (s[:, None] + penalty)))
    return b @ w + y_mean


# --- inputs --------------------------------------------------------------------------------------


def clean_features(features: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
    """``features`` ``(N, D)`` without their constant columns, and a report of what was dropped.

    Raises :class:`zoo.DataError` on NaN or inf, naming how many rows hold them.

    >>> kept, report = clean_features(np.array([[1.0, 7.0, 0.5], [2.0, 7.0, 0.1]]))
    >>> kept.tolist(), report
    ([[1.0, 0.5], [2.0, 0.1]], {'constant_columns': 1, 'columns': 2})
    """
    f = _features(features)
    constant = (f.min(axis=0) == f.max(axis=0)) if len(f) else np.zeros(f.shape[1], dtype=bool)
    kept = f[:, ~constant]
    return kept, {"constant_columns": int(constant.sum()), "columns": int(kept.shape[1])}


def _features(features: Any) -> np.ndarray:
    f = np.asarray(features)
    if f.ndim != 2:
        raise DataError(f"features must be a 2-D array (examples, dimensions), got shape {f.shape}")
    if f.dtype.kind not in "biuf":
        raise DataError(f"features must be numbers, got dtype {f.dtype}")
    if not np.isfinite(f).all():
        bad = int((~np.isfinite(f)).any(axis=1).sum())
        raise DataError(f"features contain NaN or inf in {bad} of {len(f)} rows")
    return f


def _classes(labels: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct class labels and each example's index into them."""
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"classification labels must have shape ({n},) to match the features, got {y.shape}")
    if y.dtype.kind == "f" and not (np.isfinite(y).all() and (y == np.round(y)).all()):
        raise DataError("classification labels must be class indices, got non-integer numbers (regression=True?)")
    classes, index = np.unique(y, return_inverse=True)
    return classes, index.reshape(-1)


def _regression_targets(labels: Any, n: int) -> np.ndarray:
    y = np.asarray(labels, dtype=np.float64)
    y = y[:, None] if y.ndim == 1 else y
    if y.ndim != 2 or len(y) != n or y.shape[1] == 0:
        raise DataError(
            f"regression labels must have shape ({n},) or ({n}, k) to match the features, got {np.shape(labels)}"
        )
    if not np.isfinite(y).all():
        raise DataError("regression labels contain NaN or inf")
    return y
