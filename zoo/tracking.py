"""Tracking a run in the tools teams already use: TensorBoard (each phase's metrics and learning rate through
Keras' own callback, the run's options through TensorBoard's HParams dashboard) and MLflow (:class:`MlflowRun`:
the options as params, every epoch's metrics, the final ones, the reports and the model).

Each is imported when a run asks for it; a missing one is said before any work (:func:`require_tensorboard`,
:func:`require_mlflow`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import tempfile
import time
import urllib.request
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.console import installed, say
from zoo.errors import ConfigError, TrackingWarning, first_line

if TYPE_CHECKING:
    from zoo.run import Run


def require_tensorboard() -> None:
    """Refuse ``tensorboard=...`` in one line where the ``tensorboard`` package is not installed.

    >>> require_tensorboard()  # installed here (the tensorflow extra brings it)
    """
    if not installed("tensorboard"):
        raise ConfigError(
            "tensorboard logs need the tensorboard package: pip install tensorboard, or drop --tensorboard"
        )


def tensorboard_callbacks(logs: Path, phase: int, fresh: bool, run_name: str, options: Mapping[str, Any]) -> list[Any]:
    """Keras' ``TensorBoard`` callback writing ``phase`` into ``logs/phase<N>`` (``train/`` and ``validation/``:
    each epoch's metrics and the learning rate). A ``fresh`` run (phase 1, not resumed) first records its
    ``options`` for the HParams dashboard, under the session name ``run_name``."""
    import keras

    if fresh:
        _write_hparams(logs, run_name, options)
    return [keras.callbacks.TensorBoard(log_dir=str(logs / f"phase{phase}"), write_graph=False)]


def _write_hparams(logs: Path, run_name: str, options: Mapping[str, Any]) -> None:
    """The options as hyperparameters: numbers, booleans and strings as they are, anything else (lists, None)
    as its text."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hparams

    values = {k: v if isinstance(v, (bool, int, float, str)) else str(v) for k, v in options.items()}
    with tf.summary.create_file_writer(str(logs)).as_default():
        hparams.hparams(values, trial_id=run_name)


def require_mlflow() -> None:
    """Refuse ``mlflow=...`` in one line where MLflow (or ``mlflow-skinny`` with pandas) is not installed.

    >>> require_mlflow()  # installed here (the mlflow extra)
    """
    if not (installed("mlflow") and installed("pandas")):
        raise ConfigError(
            "MLflow tracking needs mlflow: pip install 'backbone-zoo[mlflow]' (or mlflow itself), or drop --mlflow"
        )


class MlflowRun:
    """One zoo run, or one ``zoo tune`` study or trial, as an MLflow run, logged through ``MlflowClient``.

    Tracking never breaks training: a server that cannot be reached when the run starts, or that stops answering,
    is one :class:`zoo.TrackingWarning`, and the run goes on without it (:meth:`open` returns ``None``; a failed
    call turns the rest off). A tracking URI of ``True`` is MLflow's own default (``MLFLOW_TRACKING_URI``, else its
    local store); the experiment is ``MLFLOW_EXPERIMENT_NAME``'s, else MLflow's default one.
    """

    def __init__(self, client: Any, run_id: str, uri: str, experiment: str) -> None:
        self.client, self.run_id, self.uri, self.experiment = client, run_id, uri, experiment
        self.logged = 0  # history rows logged so far
        self.on = True

    @classmethod
    def open(
        cls,
        where: bool | str,
        name: str,
        *,
        key: str | None = None,
        resume: bool = False,
        tags: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        parent: MlflowRun | None = None,
    ) -> MlflowRun | None:
        """A new MLflow run named ``name`` and tagged with ``key``; with ``resume``, the unfinished one tagged with
        ``key`` if there is one (a resumed zoo run goes on in its MLflow run, from the epoch after the last one
        logged). ``None`` when the server cannot be reached."""
        for variable, value in MLFLOW_DEFAULTS.items():
            os.environ.setdefault(variable, value)
        uri = parent.uri if parent is not None else _tracking_uri(where)
        try:
            _reachable(uri)
            from mlflow import MlflowClient

            with _quiet_mlflow():  # a new local store says it made its tables
                client = MlflowClient(tracking_uri=uri)
                client.search_experiments(max_results=1)  # the store opened now: a bad URI is said here, once
            experiment = parent.experiment if parent is not None else _experiment(client)
            found = _unfinished(client, experiment, key) if key and resume else None
            if found is not None:
                tracked = cls(client, found, uri, experiment)
                client.update_run(found, status="RUNNING")
                steps = [m.step for m in client.get_metric_history(found, PHASE_METRIC)]
                tracked.logged = max(steps) + 1 if steps else 0
                return tracked
            all_tags = {**(tags or {}), **({KEY_TAG: key} if key else {})}
            if parent is not None:
                all_tags[PARENT_TAG] = parent.run_id
            created = client.create_run(experiment, run_name=name, tags=all_tags)
            tracked = cls(client, created.info.run_id, uri, experiment)
            tracked.log_params(params or {})
            return tracked
        except Exception as err:  # tracking never stops training: the reason is said, the run goes on
            _warn(uri, err)
            return None

    @classmethod
    def of_run(
        cls, where: bool | str, run: Run, backbone: str, options: Mapping[str, Any], data: str | None, resume: bool
    ) -> MlflowRun | None:
        """The MLflow run of the zoo run ``run``: named as its directory, its ``options`` and ``backbone`` as params,
        tagged with its path and ``data`` (the digest of its examples); with ``resume``, the unfinished one it
        started, if any."""
        tags = {"zoo.backbone": backbone, "zoo.path": str(run.path.resolve()), "zoo.data": data or ""}
        params = {"backbone": backbone, **options}
        return cls.open(where, run.path.name, key=run_key(run.path), resume=resume, tags=tags, params=params)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log ``params`` as MLflow params (values as text; lists and ``None`` as their text)."""
        from mlflow.entities import Param

        self._safely(lambda: self.client.log_batch(self.run_id, params=[
            Param(k, str(v)[:PARAM_LENGTH]) for k, v in params.items()
        ]))  # fmt: skip

    def log_metrics(self, values: Mapping[str, Any], step: int = 0) -> None:
        """Log the numbers among ``values`` at ``step``."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, step) for k, v in values.items() if _number(v)]
        if metrics:
            self._safely(lambda: self.client.log_batch(self.run_id, metrics=metrics))

    def set_tag(self, name: str, value: str) -> None:
        self._safely(lambda: self.client.set_tag(self.run_id, name, value))

    def log_history(self, history: Sequence[Mapping[str, Any]]) -> None:
        """Log the rows of ``history`` (a run's, as in ``history.csv``) not logged yet, each at its row number."""
        for step in range(self.logged, len(history)):
            self.log_metrics({k: v for k, v in history[step].items() if k != "epoch"}, step)
        self.logged = len(history)

    def history_callback(self, history: Callable[[], Sequence[Mapping[str, Any]]]) -> Any:
        """A Keras callback that logs the new rows of the run's ``history()`` after each epoch (place it after the
        callback that adds them)."""
        import keras

        tracked = self

        class LogHistory(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
                tracked.log_history(history())

        return LogHistory()

    def finish(self, run: Run, verbose: int = 1) -> None:
        """Log a finished zoo run: its history, its validation metrics (``final_<name>``), its records and reports
        as artefacts, and the model in MLflow's ``python_function`` flavour (``runs:/<id>/model``); then end it,
        saying where unless ``verbose`` is 0."""
        import mlflow.pyfunc

        from zoo.card import ZOO_DISTRIBUTION
        from zoo.version import __version__

        self.log_history(run.history)
        self.log_metrics({f"final_{k}": v for k, v in run.metrics.items()}, len(run.history))
        for path in run.results.reports():
            self._safely(functools.partial(self.client.log_artifact, self.run_id, str(path)))
        requirements = sorted({f"{ZOO_DISTRIBUTION}=={__version__}", *run.load_requirements} - {ZOO_DISTRIBUTION})

        def log_model() -> None:
            with tempfile.TemporaryDirectory() as folder:
                copy = run.results.copy_for_inference(Path(folder) / "run")
                saved = Path(folder) / MODEL_ARTIFACT
                mlflow.pyfunc.save_model(saved, loader_module=PYFUNC_LOADER, data_path=str(copy),
                                         pip_requirements=requirements)  # fmt: skip
                self.client.log_artifacts(self.run_id, str(saved), MODEL_ARTIFACT)

        self._safely(log_model)
        self.end("FINISHED")
        if self.on:
            say(f"MLflow run: {self.url}; its model: runs:/{self.run_id}/{MODEL_ARTIFACT}", verbose)

    @property
    def url(self) -> str:
        """Where the run is seen: its page in the MLflow UI for a server, else its id and store."""
        if self.uri.startswith(("http://", "https://")):
            return f"{self.uri.rstrip('/')}/#/experiments/{self.experiment}/runs/{self.run_id}"
        return f"{self.run_id} in {self.uri}"

    def end(self, status: str) -> None:
        """Mark the MLflow run ``FINISHED``, ``FAILED`` or ``KILLED`` (stopped; a resume goes on in it)."""
        self._safely(lambda: self.client.set_terminated(self.run_id, status=status))

    def end_after(self, err: BaseException, *stopping: type[BaseException]) -> None:
        """End the MLflow run that ``err`` interrupted: ``KILLED`` after Ctrl-C, SIGTERM or one of ``stopping``
        (Optuna's pruning), else ``FAILED``."""
        self.end("KILLED" if isinstance(err, (KeyboardInterrupt, *stopping)) else "FAILED")

    def nested(self, name: str, params: Mapping[str, Any]) -> MlflowRun | None:
        """A new MLflow run in this one (a trial in its study), in the same store and experiment."""
        return MlflowRun.open(self.uri, name, params=params, parent=self)

    def _safely(self, action: Callable[[], Any]) -> None:
        if not self.on:
            return
        try:
            with _quiet_mlflow():
                action()
        except Exception as err:  # tracking never stops training: the reason is said, the run goes on
            self.on = False
            _warn(self.uri, err)


PHASE_METRIC = "phase"  # logged with every epoch: its steps say how many epochs the MLflow run holds
KEY_TAG = "zoo.run"  # an unfinished zoo run's identity, which a resume finds its MLflow run by
PARENT_TAG = "mlflow.parentRunId"  # MLflow's own tag of a nested run
MODEL_ARTIFACT = "model"
PYFUNC_LOADER = "zoo.mlflow_model"  # named, not imported: MLflow imports it where the model is loaded
PARAM_LENGTH = 6000  # MLflow's limit on a param's value
# Unless the user set them: fail in seconds, not after MLflow's default of 7 retries with back-off (minutes); no
# progress bar of MLflow's, and no "View run" line of its own on stdout (the zoo says where the run is, on stderr).
MLFLOW_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}
PROBE_SECONDS = 5.0


def run_key(path: Path) -> str:
    """The tag value that identifies the zoo run at ``path`` across resumes (a digest of its absolute path, so
    any path, quotes included, fits MLflow's search syntax).

    >>> len(run_key(Path("runs/a")))
    32
    """
    return hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:32]


def _tracking_uri(where: bool | str) -> str:
    import mlflow

    return mlflow.get_tracking_uri() if where is True else str(where)


def _reachable(uri: str) -> None:
    """``OSError`` unless the HTTP(S) tracking server at ``uri`` answers its health check within seconds (a local
    store always does)."""
    if not uri.startswith(("http://", "https://")):
        return
    with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=PROBE_SECONDS) as answer:
        answer.read()


def _experiment(client: Any) -> str:
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME")
    if not name:
        return os.environ.get("MLFLOW_EXPERIMENT_ID", "0")
    found = client.get_experiment_by_name(name)
    return found.experiment_id if found is not None else client.create_experiment(name)


def _unfinished(client: Any, experiment: str, key: str) -> str | None:
    """The run id of the latest MLflow run tagged ``key`` that did not finish, if any."""
    runs = client.search_runs(
        [experiment],
        filter_string=f"tags.`{KEY_TAG}` = '{key}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0].info.run_id if runs and runs[0].info.status != "FINISHED" else None


def _number(value: Any) -> bool:
    """Whether ``value`` is a metric MLflow takes: a number (NaN and infinities too: a diverged epoch is logged as
    it was), not a flag, a count table or text."""
    return isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))


def _warn(uri: str, err: BaseException) -> None:
    warnings.warn(
        f"MLflow tracking at {uri} is off for the rest of this run ({first_line(err)}); the run goes on, and its "
        "directory keeps everything",
        TrackingWarning,
        stacklevel=3,
    )


@contextlib.contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """MLflow's own INFO lines (a new store's tables, environment notes) kept out of the zoo's output."""
    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
