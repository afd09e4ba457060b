"""Where a run computes: one device, every local device, or several hosts, through the engines' own APIs.

The zoo writes no collective of its own. On TensorFlow a run uses ``tf.distribute``
(``MirroredStrategy`` over the local devices); on JAX, ``keras.distribution.DataParallel`` over
the local devices, or over every device of several processes joined by ``jax.distributed``
(``multi-worker``). A :class:`Placement` is what the trainer asks: a scope to build, compile and
fit in, the number of replicas, which process this is, and how each process takes its part of a
global batch.

Several hosts on TensorFlow (``MultiWorkerMirroredStrategy``) are refused: Keras 3 cannot train
under it (keras-team/keras#20585; ``fit`` fails on its first batch with Keras 3.15 and TensorFlow
2.21). Keras' own multi-host path is JAX, and that is the one the zoo takes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from zoo.config import DISTRIBUTIONS, STRATEGY
from zoo.errors import ConfigError

# How the processes of a multi-worker JAX job find each other, when no cluster manager (SLURM, Open MPI,
# Kubernetes, Cloud TPU) tells JAX: the first is JAX's own variable, the other two the zoo reads for it.
JAX_ENV = ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID")
TF_MULTI_WORKER = (
    "Keras 3 cannot train under TensorFlow's MultiWorkerMirroredStrategy (keras-team/keras#20585): run several "
    "hosts on the JAX backend, KERAS_BACKEND=jax zoo train --distribute multi-worker (docs/scaling.md)"
)


@dataclasses.dataclass(frozen=True)
class Placement:
    """A resolved distribution: ``engine`` is a ``tf.distribute.Strategy``, a ``keras.distribution.Distribution``
    or ``None`` (the default device); ``process`` of ``processes`` is this process's place in the job.

    >>> Placement(None).replicas, Placement(None).chief
    (1, True)
    """

    engine: Any
    replicas: int = 1
    name: str = "none"
    process: int = 0
    processes: int = 1

    @property
    def chief(self) -> bool:
        """Whether this process writes: the only one, or process 0 of several."""
        return self.process == 0

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """Build, compile and fit inside this: the model's variables are placed on every replica."""
        if self.engine is None:
            yield
            return
        with self.engine.scope():
            yield

    def place(self, model: Any) -> Any:
        """``model`` rebuilt inside this placement's scope, so its variables live on every replica."""
        if self.engine is None:
            return model
        with self.scope():
            return _rebuilt(model)

    @contextlib.contextmanager
    def local(self) -> Iterator[None]:
        """Compute on this process alone, outside a distribution that spans several processes (a shard of
        the features, the chief's final predictions); with one process, nothing changes."""
        if self.processes == 1:
            yield
            return
        import keras

        previous = keras.distribution.distribution()
        keras.distribution.set_distribution(None)
        try:
            yield
        finally:
            keras.distribution.set_distribution(previous)

    def local_copy(self, model: Any) -> Any:
        """``model`` copied to this process's default device, for use under :meth:`local` (every process of
        the job must call this together: reading a distributed model's weights is a collective step)."""
        if self.processes == 1:
            return model
        with self.local():
            return _rebuilt(model)

    def barrier(self, name: str) -> None:
        """Wait until every process of the job reaches the barrier ``name`` (nothing to wait for with one)."""
        if self.processes > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices(name)

    def check_same(self, what: str, key: str) -> None:
        """:class:`ConfigError` on every process unless all give the same ``key`` (a hex digest of ``what``):
        processes that disagree on their options or data would otherwise fail later, in a collective."""
        if self.processes == 1:
            return
        from jax.experimental import multihost_utils

        try:
            multihost_utils.assert_equal(np.frombuffer(bytes.fromhex(key[:16]), np.uint32), what)
        except AssertionError:
            raise ConfigError(
                f"the processes of this job differ in their {what}: start every process with the same command"
            ) from None

    def shard_rows(self, count: int) -> tuple[np.ndarray, np.ndarray] | None:
        """This process's rows of a global batch of ``count`` and their weights, or ``None`` with one process.

        Each of P processes takes an equal, contiguous part. A batch that does not split evenly is padded
        with copies of its first row, weighted 0; real rows weigh 1. With a loss reduced by
        ``mean_with_sample_weight`` and weighted metrics, a batch's loss, gradient and metrics are those
        of its real rows, as on one device.

        >>> rows, weights = Placement(None, process=1, processes=2).shard_rows(3)
        >>> rows.tolist(), weights.tolist()
        ([2, 0], [1.0, 0.0])
        """
        if self.processes == 1:
            return None
        part = -(-count // self.processes)
        padded = part * self.processes
        rows = np.concatenate([np.arange(count), np.zeros(padded - count, np.int64)])
        weights = (np.arange(padded) < count).astype("float32")
        mine = slice(self.process * part, (self.process + 1) * part)
        return rows[mine], weights[mine]


def resolve(distribution: Any = "auto") -> Placement:
    """The :class:`Placement` for ``distribution``: a name of :data:`DISTRIBUTIONS`, a
    ``tf.distribute.Strategy`` or a ``keras.distribution.Distribution``.

    ``auto`` takes every local accelerator when there is more than one, else the default device.
    ``multi-worker`` joins the processes of a JAX job (call it before anything else runs on JAX).

    >>> resolve("none").name
    'none'
    """
    if distribution is None or distribution == "none":
        return Placement(None)
    if isinstance(distribution, str) and distribution.startswith(STRATEGY):
        raise ConfigError(
            f"this run was trained under a {distribution.removeprefix(STRATEGY)} object, which config.json cannot "
            "hold: pass it again, zoo.resume(run, distribution=...)"
        )
    if isinstance(distribution, str) and distribution not in DISTRIBUTIONS:
        raise ConfigError(f"distribution must be one of {DISTRIBUTIONS} or a strategy object, got {distribution!r}")
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _tensorflow(distribution)
    if backend == "jax":
        return _jax(distribution)
    if distribution == "auto":
        return Placement(None)
    raise ConfigError(f"distribution {distribution!r} needs the tensorflow or jax backend, not {backend}")


def resolve_one_host(distribution: Any, who: str) -> Placement:
    """:func:`resolve` for work that runs on one host (``who``: extraction, ranking); :class:`ConfigError` for
    several, before a JAX job is joined.

    >>> resolve_one_host("multi-worker", "zoo rank")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    zoo.errors.ConfigError: zoo rank runs on one host: for several hosts, use the trainer (zoo train --distribute ...
    """
    placement = None if distribution == "multi-worker" else resolve(distribution)  # never joins a JAX job
    if placement is None or placement.processes > 1:
        several = "use the trainer (zoo train --distribute multi-worker)"
        raise ConfigError(f"{who} runs on one host: for several hosts, {several}")
    return placement


def has_gpu() -> bool:
    """Whether Keras' backend computes on a GPU in this process: what the batch size extraction starts at and
    the mixed-precision policy (float16 on a GPU, bfloat16 elsewhere) depend on. TensorFlow's logical devices
    count (those ``tf.config.set_visible_devices`` left), as for :func:`resolve`.

    >>> has_gpu()  # on a machine without one
    False
    """
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_logical_devices("GPU"))
    if backend == "jax":
        import jax

        return jax.default_backend() in ("gpu", "cuda", "rocm")
    if backend == "torch":
        import torch  # type: ignore[import-not-found]

        return bool(torch.cuda.is_available())
    return False


def _tensorflow(distribution: Any) -> Placement:
    import tensorflow as tf

    if distribution == "multi-worker" or isinstance(distribution, tf.distribute.MultiWorkerMirroredStrategy):
        raise ConfigError(TF_MULTI_WORKER)
    if isinstance(distribution, tf.distribute.Strategy):
        resolver = getattr(distribution, "cluster_resolver", None)
        if resolver is not None and resolver.cluster_spec().as_dict():
            raise ConfigError(f"{type(distribution).__name__} spans several hosts: {TF_MULTI_WORKER}")
        return Placement(distribution, distribution.num_replicas_in_sync, type(distribution).__name__)
    accelerators = tf.config.list_logical_devices("GPU")
    if distribution == "auto" and len(accelerators) < 2:
        return Placement(None)
    devices = [d.name for d in accelerators] or [d.name for d in tf.config.list_logical_devices("CPU")]
    strategy = _mirrored(tuple(devices))
    return Placement(strategy, strategy.num_replicas_in_sync, "mirrored")


@functools.cache
def _mirrored(devices: tuple[str, ...]) -> Any:
    """The process's one ``MirroredStrategy`` over ``devices``. A second one would number its all-reduces as the
    first did, and TensorFlow's collectives remember the first's shapes: a second mirrored ``zoo.train`` in one
    process failed at its first step with "Shape mismatch in the collective instance"."""
    import tensorflow as tf

    return tf.distribute.MirroredStrategy(list(devices))


def _jax(distribution: Any) -> Placement:
    import jax
    import keras

    if distribution == "multi-worker":
        _join_jax_job()
    processes, process = jax.process_count(), jax.process_index()
    if hasattr(distribution, "device_mesh") and hasattr(distribution, "scope"):  # a keras.distribution object
        if processes > 1:
            distribution.auto_shard_dataset = False  # each process feeds its own rows (Placement.shard_rows)
        name = type(distribution).__name__
        return Placement(distribution, distribution.device_mesh.devices.size, name, process, processes)
    devices = jax.devices()  # every process's devices, in a multi-process job
    if processes == 1 and distribution == "auto" and (len(devices) < 2 or devices[0].platform == "cpu"):
        return Placement(None)
    name = "multi-worker" if processes > 1 else "mirrored"
    engine = keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False)
    return Placement(engine, len(devices), name, process, processes)


def _join_jax_job() -> None:
    """``jax.distributed.initialize`` from :data:`JAX_ENV`, or from the cluster manager JAX detects."""
    import jax

    if jax.distributed.is_initialized():
        return
    address, count, index = (os.environ.get(name) for name in JAX_ENV)
    if address and count and index:  # JAX waits for every process (300 s), then aborts without a Python error
        print(f"zoo: joining the JAX job at {address} as process {index} of {count}; waiting for the others up to "
              "300 s", file=sys.stderr, flush=True)  # fmt: skip
    try:
        if count is not None or index is not None:
            jax.distributed.initialize(address, int(count or 0) or None, None if index is None else int(index))
        else:
            jax.distributed.initialize()  # SLURM, Open MPI, Kubernetes, Cloud TPU: JAX reads them itself
    except ValueError as err:
        raise ConfigError(
            f"multi-worker needs {', '.join(JAX_ENV)} set on every process (or a cluster JAX detects, such as "
            f"SLURM): {err}"
        ) from None
    except RuntimeError as err:
        raise ConfigError(
            "multi-worker must join the JAX job before anything runs on JAX: in Python, call "
            f"zoo.distribute.resolve('multi-worker') first ({str(err).splitlines()[0]})"
        ) from None


def _rebuilt(model: Any) -> Any:
    """``model`` saved and loaded again under the current scope (where its new variables then live)."""
    from zoo.run import load_model, save_model

    with tempfile.TemporaryDirectory() as folder:
        return load_model(save_model(model, Path(folder) / "model.keras"))
