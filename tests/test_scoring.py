"""Transferability scores: LogME agrees with a literal evaluation, ranks known-good features first, fails clearly."""

import doctest
import itertools
import math
import subprocess
import sys

import numpy as np
import pytest

import zoo.scoring
from zoo.scoring import LOGME_MAX_ITER, LOGME_TOL, clean_features, linear_probe, logme


def logme_reference(features, labels, regression=False):
    """LogME evaluated literally, one target column at a time: ``A``, its inverse, ``m`` and ``log|A|`` from the
    D x D matrix at every step, the same fixed point and stopping rule, then the evidence formula as written."""
    f = np.asarray(features, dtype=np.float64)
    n, d = f.shape
    if regression:
        y = np.asarray(labels, dtype=np.float64).reshape(n, -1)
    else:
        y = np.eye(len(np.unique(labels)))[np.unique(labels, return_inverse=True)[1]]

    def posterior(alpha, beta, column):
        a = alpha * np.eye(d) + beta * f.T @ f
        a_inv = np.linalg.inv(a)
        return a, a_inv, beta * a_inv @ f.T @ column

    scores = []
    for column in y.T:
        alpha, beta = 1.0, 1.0
        for _ in range(LOGME_MAX_ITER):
            _, a_inv, m = posterior(alpha, beta, column)
            gamma = d - alpha * np.trace(a_inv)
            new_alpha = gamma / (m @ m)
            new_beta = (n - gamma) / np.sum((f @ m - column) ** 2)
            done = abs(new_alpha - alpha) / alpha < LOGME_TOL and abs(new_beta - beta) / beta < LOGME_TOL
            alpha, beta = new_alpha, new_beta
            if done:
                break
        a, _, m = posterior(alpha, beta, column)
        sign, log_det = np.linalg.slogdet(a)
        assert sign > 0
        evidence = (
            n / 2 * math.log(beta)
            + d / 2 * math.log(alpha)
            - n / 2 * math.log(2 * math.pi)
            - beta / 2 * np.sum((f @ m - column) ** 2)
            - alpha / 2 * (m @ m)
            - log_det / 2
        )
        scores.append(evidence / n)
    return float(np.mean(scores))


def clusters(n, d, classes, separation, seed=0):
    """Gaussian features whose class means lie ``separation`` apart along the first ``classes`` axes."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    return rng.normal(size=(n, d)) + separation * np.eye(classes, d)[labels], labels


def relative(a, b):
    return abs(a - b) / abs(b)


# --- LogME: agreement with the literal evaluation ------------------------------------------------


@pytest.mark.parametrize(
    ("n", "d", "regression", "outputs"),
    [
        (60, 5, False, 3),  # n > D
        (20, 35, False, 4),  # n < D: zero singular values
        (25, 25, False, 2),  # n = D
        (80, 6, True, 1),  # regression, (N,) labels
        (30, 45, True, 3),  # regression, k > 1 outputs, n < D
    ],
)
@pytest.mark.parametrize("signal", [0.0, 2.0])
def test_logme_agrees_with_literal_evaluation(n, d, regression, outputs, signal):
    rng = np.random.default_rng(n * d + outputs)
    features = rng.normal(size=(n, d)) * rng.uniform(0.1, 3.0, size=d) + rng.normal(size=d)
    if regression:
        labels = signal * features[:, :outputs] @ rng.normal(size=(outputs, outputs)) + rng.normal(size=(n, outputs))
        labels = labels[:, 0] if outputs == 1 else labels
    else:
        labels = np.arange(n) % outputs
        features[:, :outputs] += signal * np.eye(outputs)[labels]
    ours, reference = logme(features, labels, regression), logme_reference(features, labels, regression)
    assert math.isfinite(ours)
    assert relative(ours, reference) <= 1e-6


def test_logme_agrees_with_literal_evaluation_with_constant_columns():
    features, labels = clusters(40, 6, 3, 1.5)
    features = np.hstack([features, np.zeros((40, 2)), np.full((40, 1), 4.0)])
    assert relative(logme(features, labels), logme_reference(features, labels)) <= 1e-6


def test_float32_features_score_as_float64():
    features, labels = clusters(200, 16, 4, 1.0)
    single = features.astype(np.float32)
    assert relative(logme(single, labels), logme(single.astype(np.float64), labels)) < 1e-12


def test_classification_is_the_mean_over_one_hot_regressions():
    features, labels = clusters(90, 7, 3, 1.0)
    one_hot = np.eye(3)[labels]
    assert relative(logme(features, labels), logme(features, one_hot, regression=True)) < 1e-12
    per_column = [logme(features, column, regression=True) for column in one_hot.T]
    assert relative(logme(features, labels), np.mean(per_column)) < 1e-12


# --- LogME: known answers ------------------------------------------------------------------------


def test_informative_features_beat_random_features():
    features, labels = clusters(300, 32, 5, 2.0)
    random = np.random.default_rng(1).normal(size=features.shape)
    assert logme(features, labels) > logme(random, labels) + 0.05


def test_more_separable_features_score_higher():
    scores = [logme(*clusters(400, 24, 4, separation)) for separation in (0.25, 0.75, 1.5, 3.0)]
    assert all(a < b for a, b in itertools.pairwise(scores)), scores


def test_regression_features_related_to_the_target_beat_noise():
    rng = np.random.default_rng(2)
    features = rng.normal(size=(200, 10))
    target = features @ rng.normal(size=10) + 0.5 * rng.normal(size=200)
    noise = rng.normal(size=(200, 10))
    assert logme(features, target, regression=True) > logme(noise, target, regression=True) + 0.5


def test_n_smaller_than_d_ranks_too():
    features, labels = clusters(50, 200, 5, 3.0)
    random = np.random.default_rng(3).normal(size=features.shape)
    assert logme(features, labels) > logme(random, labels)


# --- LogME: invariances --------------------------------------------------------------------------


def test_invariant_to_the_order_of_samples_columns_and_class_names():
    features, labels = clusters(120, 9, 3, 1.0)
    rng = np.random.default_rng(4)
    score = logme(features, labels)
    rows, columns = rng.permutation(120), rng.permutation(9)
    assert relative(logme(features[rows], labels[rows]), score) < 1e-10
    assert relative(logme(features[:, columns], labels), score) < 1e-10
    assert relative(logme(features, np.array(["cat", "dog", "eel"])[labels]), score) < 1e-12
    assert relative(logme(features, np.array([7, 2, 5])[labels]), score) < 1e-12


def test_invariant_to_rotating_the_features():
    features, labels = clusters(150, 12, 4, 1.0)
    rotation, _ = np.linalg.qr(np.random.default_rng(5).normal(size=(12, 12)))
    assert relative(logme(features @ rotation, labels), logme(features, labels)) < 1e-9


def test_zero_columns_change_nothing():
    features, labels = clusters(80, 10, 3, 1.0)
    padded = np.hstack([features, np.zeros((80, 5))])
    assert relative(logme(padded, labels), logme(features, labels)) < 1e-10


# --- LogME: degenerate input ---------------------------------------------------------------------


@pytest.mark.parametrize("value", [0.0, 3.0])
@pytest.mark.parametrize("shape", [(50, 4), (10, 30)])
def test_all_constant_features_score_finite_and_low(value, shape):
    features, labels = clusters(shape[0], shape[1], 2, 3.0)
    constant = np.full(shape, value)
    score = logme(constant, labels)
    assert math.isfinite(score)
    assert score < logme(features, labels)


def test_constant_columns_among_informative_ones_are_finite():
    features, labels = clusters(60, 8, 3, 2.0)
    features[:, [1, 5]] = 0.5
    assert math.isfinite(logme(features, labels))
    assert math.isfinite(logme(features[:, :0], labels))  # no columns at all: the noise model alone


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_features_raise_naming_the_rows(bad):
    features, labels = clusters(30, 4, 2, 1.0)
    features[[3, 7], 1] = bad
    features[7, 2] = bad
    with pytest.raises(ValueError, match="NaN or inf in 2 of 30 rows"):
        logme(features, labels)


def test_bad_labels_raise():
    features, labels = clusters(30, 4, 2, 1.0)
    with pytest.raises(ValueError, match="LogME needs at least two classes"):
        logme(features, np.zeros(30, dtype=int))
    with pytest.raises(ValueError, match="at least two examples"):
        logme(features[:1], labels[:1])
    with pytest.raises(ValueError, match=r"shape \(30,\)"):
        logme(features, labels[:29])
    with pytest.raises(ValueError, match=r"shape \(30,\) or \(30, k\)"):
        logme(features, labels[:29], regression=True)
    with pytest.raises(ValueError, match="non-integer"):
        logme(features, labels + 0.5)
    with pytest.raises(ValueError, match="NaN or inf"):
        logme(features, np.where(labels == 0, np.nan, 1.0), regression=True)
    with pytest.raises(ValueError, match="all zeros"):
        logme(features, np.zeros(30), regression=True)
    with pytest.raises(ValueError, match="2-D"):
        logme(features[:, 0], labels)


@pytest.mark.parametrize("seed", range(4))
def test_exact_linear_fit_scores_high_and_finite(seed):
    features = np.random.default_rng(seed).normal(size=(40, 3))
    target = features @ np.array([1.0, -2.0, 0.5])
    noisy = target + 0.1 * np.random.default_rng(9).normal(size=40)
    score = logme(features, target, regression=True)
    assert math.isfinite(score)
    assert score > logme(features, noisy, regression=True)


# --- linear probe --------------------------------------------------------------------------------


def test_linear_probe_separable_data_is_perfect():
    features, labels = clusters(200, 10, 4, 8.0)
    result = linear_probe(features, labels)
    assert result["metric"] == "accuracy"
    assert result["n_folds"] == 5 and len(result["folds"]) == 5
    assert result["score"] == pytest.approx(1.0, abs=0.01)


def test_linear_probe_random_features_are_at_chance():
    rng = np.random.default_rng(7)
    result = linear_probe(rng.normal(size=(800, 5)), np.arange(800) % 4)
    assert 0.15 < result["score"] < 0.35


def test_linear_probe_regression_r2():
    rng = np.random.default_rng(8)
    features = rng.normal(size=(300, 6)) * 10 + 3
    target = np.stack([features @ rng.normal(size=6) + 1, features[:, 0] * 2], axis=1)
    target += 0.01 * rng.normal(size=target.shape)
    result = linear_probe(features, target, regression=True)
    assert result["metric"] == "r2"
    assert result["score"] > 0.999
    assert linear_probe(rng.normal(size=(300, 6)), target[:, 0], regression=True)["score"] < 0.1


@pytest.mark.parametrize(("n", "d"), [(60, 300), (250, 200)])  # fewer examples than dimensions; about as many
def test_linear_probe_high_dimensional_separable_data(n, d):
    rng = np.random.default_rng(10)
    labels = np.arange(n) % 3
    features = rng.normal(size=(n, d)) + rng.normal(size=(3, d))[labels]  # class means differ in every dimension
    assert linear_probe(features, labels)["score"] > 0.95


def test_linear_probe_folds_are_stratified_and_seeded():
    features, labels = clusters(103, 5, 3, 1.0)
    assert linear_probe(features, labels, seed=3) == linear_probe(features, labels, seed=3)
    constant = linear_probe(np.ones((103, 4)), labels)  # majority class, each fold holds every class
    assert constant["score"] == pytest.approx(np.mean(labels == 0), abs=0.02)


def test_linear_probe_reduces_folds_to_the_smallest_class():
    features, labels = clusters(40, 4, 2, 4.0)
    labels[:37] = 0
    labels[37:] = 1  # 3 examples of class 1
    result = linear_probe(features, labels)
    assert result["n_folds"] == 3 and len(result["folds"]) == 3


def test_linear_probe_too_small_datasets_raise():
    features, labels = clusters(20, 4, 2, 4.0)
    labels[:] = 0
    labels[5] = 1
    with pytest.raises(ValueError, match=r"too small to score: class 1 has 1 example.*at least 2 examples per class"):
        linear_probe(features, labels)
    with pytest.raises(ValueError, match="two classes"):
        linear_probe(features, np.zeros(20, dtype=int))
    with pytest.raises(ValueError, match="too small to score: 4 examples for 5-fold"):
        linear_probe(features[:4], np.arange(4.0), regression=True)
    with pytest.raises(ValueError, match="folds must be at least 2"):
        linear_probe(features, np.arange(20) % 2, folds=1)
    features[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or inf in 1 of 20 rows"):
        linear_probe(features, np.arange(20) % 2)


# --- clean_features ------------------------------------------------------------------------------


def test_clean_features_drops_constant_columns():
    features, _ = clusters(30, 6, 2, 1.0)
    features[:, 2] = 0.0
    features[:, 4] = -1.5
    kept, report = clean_features(features.astype(np.float32))
    assert report == {"constant_columns": 2, "columns": 4}
    assert kept.dtype == np.float32
    np.testing.assert_array_equal(kept, features[:, [0, 1, 3, 5]].astype(np.float32))
    assert clean_features(np.ones((5, 3)))[1] == {"constant_columns": 3, "columns": 0}


def test_clean_features_raises_on_nan():
    with pytest.raises(ValueError, match="NaN or inf in 1 of 2 rows"):
        clean_features(np.array([[1.0, np.nan], [2.0, 3.0]]))


# --- module --------------------------------------------------------------------------------------


def test_docstring_examples():
    result = doctest.testmod(zoo.scoring)
    assert result.attempted >= 3 and result.failed == 0


def test_scoring_imports_neither_keras_nor_tensorflow():
    code = """
import sys
import zoo.scoring
assert not any(m.split('.')[0] in ('keras', 'tensorflow', 'scipy') for m in sys.modules), 'heavy import'
"""
    subprocess.run([sys.executable, "-c", code], check=True)
