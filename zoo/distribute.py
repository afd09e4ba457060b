"""Where a run computes: one device, every local device, or several hosts, through the engines' own APIs.

The zoo writes no collective of its own: on TensorFlow a run uses ``tf.distribute``
(``MirroredStrategy`` over the local devices), on JAX ``keras.distribution.DataParallel``. A
:class:`Placement` is what the trainer asks: a scope to build, compile and fit in, and the number of
replicas. Several hosts (``MultiWorkerMirroredStrategy``, ``jax.distributed``) are not supported
yet: a run has exactly one process writing its directory.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

from zoo.config import DISTRIBUTIONS, STRATEGY
from zoo.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Placement:
    """A resolved distribution: ``engine`` is a ``tf.distribute.Strategy``, a ``keras.distribution.Distribution``
    or ``None`` (the default device).

    >>> Placement(None).replicas
    1
    """

    engine: Any
    replicas: int = 1
    name: str = "none"

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """Build, compile and fit inside this: the model's variables are placed on every replica."""
        if self.engine is None:
            yield
            return
        with self.engine.scope():
            yield


def resolve(distribution: Any = "auto") -> Placement:
    """The :class:`Placement` for ``distribution``: a name of :data:`DISTRIBUTIONS`, a
    ``tf.distribute.Strategy`` or a ``keras.distribution.Distribution``.

    ``auto`` takes every local accelerator when there is more than one, else the default device.

    >>> resolve("none").name
    'none'
    """
    import keras

    if distribution is None or distribution == "none":
        return Placement(None)
    if isinstance(distribution, str) and distribution.startswith(STRATEGY):
        raise ConfigError(
            f"this run was trained under a {distribution.removeprefix(STRATEGY)} object, which config.json cannot "
            "hold: pass it again, zoo.resume(run, distribution=...)"
        )
    if isinstance(distribution, str) and distribution not in DISTRIBUTIONS:
        raise ConfigError(f"distribution must be one of {DISTRIBUTIONS} or a strategy object, got {distribution!r}")
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _tensorflow(distribution)
    if backend == "jax":
        return _jax(distribution)
    if distribution == "auto":
        return Placement(None)
    raise ConfigError(f"distribution {distribution!r} needs the tensorflow or jax backend, not {backend}")


def _tensorflow(distribution: Any) -> Placement:
    import tensorflow as tf

    if isinstance(distribution, tf.distribute.Strategy):
        resolver = getattr(distribution, "cluster_resolver", None)
        if resolver is not None and resolver.cluster_spec().as_dict():
            raise ConfigError(f"{type(distribution).__name__} spans several hosts, which the zoo does not support yet")
        return Placement(distribution, distribution.num_replicas_in_sync, type(distribution).__name__)
    accelerators = tf.config.list_logical_devices("GPU")
    if distribution == "auto" and len(accelerators) < 2:
        return Placement(None)
    devices = [d.name for d in accelerators] or [d.name for d in tf.config.list_logical_devices("CPU")]
    strategy = tf.distribute.MirroredStrategy(devices)
    return Placement(strategy, strategy.num_replicas_in_sync, "mirrored")


def _jax(distribution: Any) -> Placement:
    import jax
    import keras

    if jax.process_count() > 1:
        raise ConfigError("this JAX job spans several processes, which the zoo does not support yet")
    if hasattr(distribution, "device_mesh") and hasattr(distribution, "scope"):  # a keras.distribution object
        return Placement(distribution, distribution.device_mesh.devices.size, type(distribution).__name__)
    devices = jax.devices()
    if distribution == "auto" and (len(devices) < 2 or devices[0].platform == "cpu"):
        return Placement(None)
    return Placement(keras.distribution.DataParallel(devices=devices), len(devices), "mirrored")
