"""``zoo rank``: which backbone suits this dataset, without fine-tuning any of them.

For each candidate the features are extracted once (through the feature cache), then scored with
LogME (the evidence of a Bayesian linear model on the features) and a k-fold linear probe. A
backbone that fails (weights missing, input too small, ...) is reported in the table, not fatal.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

from zoo import interrupts, scoring
from zoo.backbones import Weights, backbone
from zoo.cache import FeatureCache
from zoo.config import Task
from zoo.console import say
from zoo.data import Dataset, load_dataset, split
from zoo.data.split import distinct
from zoo.distribute import Placement, resolve_one_host
from zoo.errors import DataError, first_line
from zoo.features import cached_extract
from zoo.plugins import get_spec, select_backbones


@dataclasses.dataclass
class Ranking:
    """One candidate's scores: LogME (higher is better), linear-probe accuracy or R², and timings."""

    backbone: str
    logme: float | None = None
    probe: float | None = None
    probe_metric: str = ""
    feature_dim: int | None = None
    feature_seconds: float = 0.0
    scoring_seconds: float = 0.0
    notes: str = ""
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@interrupts.stoppable
def rank(
    data: Any,
    backbones: str | Sequence[str] = "*",
    *,
    sample: int | None = None,
    task: Task = "classification",
    weights: Weights = "default",
    input_shape: int | tuple[int, ...] | None = None,
    batch_size: int | None = None,
    folds: int = 5,
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
    distribution: Any = "auto",
    verbose: int = 1,
) -> list[Ranking]:
    """Score each backbone matching ``backbones`` (names or fnmatch patterns) on ``data``, best first.

    ``sample`` scores a stratified subset of that many examples. ``weights`` and ``input_shape``
    apply to every candidate. Candidates are those of the data's modality (images or texts).
    ``distribution`` (as for :func:`zoo.train`; default ``auto``: every local GPU when there are
    several) builds each candidate on every local device and splits its batches over them.

    Memory stays flat over many candidates: after each one, Keras' session is cleared
    (``keras.backend.clear_session``), then the Keras state the caller had when ``rank`` began is put
    back (the dtype policy, the distribution, the logging settings, custom-object scopes, the layer-name
    counters), so ``rank`` changes none of it.

    >>> table = rank("data/train", "tiny_image*", weights=None, verbose=0)  # the tests' tiny backbones
    >>> sorted(row.backbone for row in table), table[0].logme >= table[1].logme
    (['tiny_image', 'tiny_image_caffe'], True)
    """
    placement = resolve_one_host(distribution, "zoo rank")
    dataset = distinct(load_dataset(data, task=task))  # a copy in two folds would score as learned
    asked = sample if sample is not None and sample < len(dataset) else None
    if asked is not None:
        whole = len(dataset)
        dataset = split(dataset, val_fraction=asked / whole, seed=seed)[1]
        say(f"scoring a stratified sample of {len(dataset)} of {whole} examples", verbose)
    _check_scorable(dataset, folds, asked)
    names = candidates(backbones, dataset.modality)
    cache = FeatureCache(cache_dir)
    results, clear = [], _session_clearer()
    for i, name in enumerate(names, 1):
        say(f"[{i}/{len(names)}] {name}", verbose)
        results.append(_score(name, dataset, cache, placement, weights, input_shape, batch_size, folds, seed, verbose))
        clear()  # memory stays flat over many candidates, and the caller's Keras settings stay theirs
    return sorted(results, key=lambda r: (r.error is not None, -(r.logme if r.logme is not None else -np.inf)))


def _session_clearer() -> Callable[[], None]:
    """A ``clear()`` that frees what the candidates left in Keras' global state, and puts back the caller's.

    ``keras.backend.clear_session`` drops the global state of the whole process: the kernel caches and name
    counters the candidates filled (what keeps memory flat), and also the caller's settings. Keras has no
    public way to read that state, so this thread's attributes, as they are now, are copied from
    ``global_state`` (private, hence looked up defensively: without it, ``clear()`` is a plain
    ``clear_session``). Another thread's Keras state is cleared with no copy to put back, as by
    ``clear_session`` itself.
    """
    try:
        from keras.src.backend.common import global_state
    except ImportError:  # a Keras that moved it: clear all the same (flat memory comes first)
        return keras.backend.clear_session  # type: ignore[no-any-return]

    saved = [
        (name, {key: _own(value) for key, value in vars(getattr(global_state, name)).items()})
        for name in ("GLOBAL_STATE_TRACKER", "GLOBAL_SETTINGS_TRACKER")  # clear_session replaces both objects
    ]

    def clear() -> None:
        keras.backend.clear_session()
        for name, attributes in saved:
            tracker = getattr(global_state, name)
            for key, value in attributes.items():
                setattr(tracker, key, _own(value))

    return clear


def _own(value: Any) -> Any:
    """A copy of a container Keras changes in place (the name counters, a scope's dict); any other value itself."""
    return value.copy() if isinstance(value, (dict, list, set)) else value


def candidates(backbones: str | Sequence[str], modality: str) -> list[str]:
    """Backbone names matching any of ``backbones`` (exact names or fnmatch patterns) for ``modality``, in order.

    >>> candidates(["resnet50", "efficientnet_b[01]", "ResNet50"], "image")  # a name found twice counts once
    ['resnet50', 'efficientnet_b0', 'efficientnet_b1']
    """
    return [spec.name for spec in select_backbones(backbones, modality)]


def _score(
    name: str,
    dataset: Dataset,
    cache: FeatureCache,
    placement: Placement,
    weights: Weights,
    input_shape: Any,
    batch_size: int | None,
    folds: int,
    seed: int,
    verbose: int,
) -> Ranking:
    result = Ranking(backbone=name)
    start = time.perf_counter()
    keras.utils.set_random_seed(seed)  # weights=None: the same random backbone on every run
    try:
        with placement.scope():  # built on every replica; each batch split over them
            model = backbone(name, weights=weights, input_shape=input_shape)
            interpolation = get_spec(name).interpolation or "bilinear"  # a text backbone resizes nothing
            options = {"batch_size": batch_size, "interpolation": interpolation, "verbose": verbose}
            features = np.asarray(cached_extract(model, dataset, cache, **options))  # type: ignore[arg-type]
    except Exception as err:  # any backbone may fail (offline weights, too-small input...): report, go on
        result.error = f"{type(err).__name__}: {first_line(err)}"
        result.feature_seconds = time.perf_counter() - start
        return result
    result.feature_seconds = time.perf_counter() - start
    result.feature_dim = features.shape[1]
    start = time.perf_counter()
    regression = dataset.task == "regression"
    try:
        features, report = scoring.clean_features(features)
        result.logme = scoring.logme(features, dataset.targets, regression=regression)
        probe = scoring.linear_probe(features, dataset.targets, regression=regression, folds=folds, seed=seed)
        result.probe, result.probe_metric = probe["score"], probe["metric"]
        if report.get("constant_columns"):
            result.notes = f"{report['constant_columns']} constant feature columns dropped"
    except ValueError as err:
        result.error = f"scoring: {err}"
    result.scoring_seconds = time.perf_counter() - start
    return result


def _check_scorable(dataset: Dataset, folds: int, sample: int | None) -> None:
    """Refuse data that ``rank`` cannot score (``sample``: the size asked for, when ``dataset`` is that sample)."""
    if dataset.task == "multilabel":
        raise DataError("zoo rank scores classification and regression data; multilabel is not supported")
    if len(dataset) < folds:
        found = f"{len(dataset)} examples are"
        if sample is not None:
            found = f"a sample of {sample} gave {len(dataset)} examples (stratified by class, copies left out),"
        ask = "ask for a larger sample (--sample)" if sample is not None else f"need at least {folds}"
        raise DataError(f"{found} too few to score with {folds}-fold probing; {ask}")
    if dataset.task == "classification" and len(np.unique(dataset.targets)) < 2:
        raise DataError("ranking needs at least two classes in the data")


def table_rows(results: Sequence[Ranking]) -> list[tuple[str, ...]]:
    """Rows for the printed table: backbone, LogME, probe, feature time, scoring time, notes or error."""
    rows = []
    for r in results:
        logme = "-" if r.logme is None else f"{r.logme:.4f}"
        probe = "-" if r.probe is None else f"{r.probe:.3f} {r.probe_metric}"
        rows.append(
            (r.backbone, logme, probe, f"{r.feature_seconds:.1f}s", f"{r.scoring_seconds:.2f}s", r.error or r.notes)
        )
    return rows  # type: ignore[return-value]
