"""LogME speed: zoo.logme on 10,000 x 2,048 features with 10 classes vs a plain full-SVD implementation.

    python benchmarks/logme_speed.py [--samples 10000] [--dim 2048] [--classes 10]

The baseline is the textbook route: a float64 full SVD of the feature matrix, then the fixed
point per class column in a Python loop (about 10 s here). Both get the same features; the scores
must agree. Target: zoo.logme under 2 s (the ratio printed is baseline / zoo).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from result import report

from zoo.scoring import logme


def plain_logme(f: np.ndarray, labels: np.ndarray) -> float:
    f = f.astype(np.float64)
    n, d = f.shape
    u, sigma, _ = np.linalg.svd(f, full_matrices=False)
    s = sigma**2
    evidences = []
    for c in np.unique(labels):
        y = (labels == c).astype(np.float64)
        x = u.T @ y
        x2 = x**2
        r0 = y @ y - x2.sum()
        alpha, beta = 1.0, 1.0
        for _ in range(100):
            t = alpha + beta * s
            gamma = (beta * s / t).sum()
            mm = (beta**2 * s * x2 / t**2).sum()
            res = (alpha**2 * x2 / t**2).sum() + r0
            new_alpha, new_beta = gamma / mm, (n - gamma) / res
            done = abs(new_alpha - alpha) / alpha < 1e-6 and abs(new_beta - beta) / beta < 1e-6
            alpha, beta = new_alpha, new_beta
            if done:
                break
        t = alpha + beta * s
        mm = (beta**2 * s * x2 / t**2).sum()
        res = (alpha**2 * x2 / t**2).sum() + r0
        log_det = np.log(t).sum() + (d - len(s)) * np.log(alpha)
        evidence = n / 2 * np.log(beta) + d / 2 * np.log(alpha) - n / 2 * np.log(2 * np.pi)
        evidences.append((evidence - beta / 2 * res - alpha / 2 * mm - log_det / 2) / n)
    return float(np.mean(evidences))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--classes", type=int, default=10)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    labels = rng.integers(0, args.classes, args.samples)
    features = (rng.normal(size=(args.samples, args.dim)) + np.eye(args.classes, args.dim)[labels]).astype("float32")
    start = time.perf_counter()
    ours = logme(features, labels)
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    theirs = plain_logme(features, labels)
    theirs_s = time.perf_counter() - start
    print(f"zoo.logme {ours_s:.2f} s (score {ours:.6f}); full-SVD float64 {theirs_s:.2f} s (score {theirs:.6f})")
    assert abs(ours - theirs) <= 1e-6 * abs(theirs), "the two implementations disagree"
    report("LogME 10,000 x 2,048, 10 classes", ours_s, theirs_s, "s", theirs_s / ours_s, "zoo < 2 s", ours_s < 2.0)


if __name__ == "__main__":
    main()
