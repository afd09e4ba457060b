"""Helpers for testing a backbone-zoo plugin: a registry fixture and a one-line conformance check.

Use the fixture with ``pytest_plugins = ["zoo.testing"]`` in your root ``conftest.py`` (or
``from zoo.testing import zoo_plugin`` there), and call :func:`check_backbone` in a test::

    import my_plugin
    from zoo.testing import check_backbone

    def test_my_backbone(zoo_plugin):
        zoo_plugin(my_plugin)
        check_backbone("my_net")

``import zoo`` never imports this module, and it imports pytest only to define the fixture.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

import zoo
from zoo.plugins import Registry, load_registry, reset

try:
    import pytest
except ImportError:  # check_backbone works without pytest; the fixture needs it
    pytest = None


def register_plugin(*plugins: object, keep_installed: bool = False, name: str | None = None) -> Registry:
    """Make the process registry hold only ``plugins`` (modules or objects), plus the installed ones if asked.

    Strict: a broken plugin raises instead of being skipped. Undo with ``zoo.plugins.reset()``.

    >>> import zoo_keras_applications
    >>> reg = register_plugin(zoo_keras_applications)
    >>> "resnet50" in reg.specs
    True
    >>> reset()
    """
    extra = {name or getattr(p, "__name__", None) or type(p).__name__: p for p in plugins}
    if name is not None and len(plugins) != 1:
        raise ValueError("name= names one plugin; register several without it")
    registry = load_registry(allow=None if keep_installed else [], strict=True, extra_plugins=extra)
    registry.check()
    reset(registry)
    return registry


def check_backbone(name: str, input_shape: int | tuple[int, ...] | None = None, batch: int = 2) -> Any:
    """Build ``name`` with random weights, run raw random pixels through it and check the features.

    Asserts the output is ``(batch, spec.feature_dim)`` and finite; returns the model.

    >>> model = check_backbone("mobilenet_v3_small", input_shape=32)
    >>> model.output_shape
    (None, 576)
    """
    spec = zoo.get_spec(name)
    model = zoo.backbone(name, weights=None, input_shape=input_shape)
    if spec.modality == "text":
        inputs = np.array([f"plugin test sentence number {i}" for i in range(batch)], dtype=object)
    else:
        shape = tuple(model.input_shape[1:])
        inputs = np.random.default_rng(0).uniform(0, 255, (batch, *shape)).astype("float32")
    features = np.asarray(model.predict(inputs, verbose=0))
    expected = (batch, spec.feature_dim)
    assert features.shape == expected, (
        f"backbone {name!r} (plugin {spec.plugin!r}) gives features of shape {features.shape}, but its spec "
        f"declares feature_dim={spec.feature_dim}, so {expected} was expected: fix feature_shape/feature_dim "
        "or the factory's last layer"
    )
    assert np.isfinite(features).all(), (
        f"backbone {name!r} (plugin {spec.plugin!r}) gives NaN or infinite features on random input"
    )
    return model


if pytest is not None:

    @pytest.fixture
    def zoo_plugin() -> Iterator[Callable[..., Registry]]:
        """Register plugins in-process for one test: ``zoo_plugin(my_module, keep_installed=False)``.

        The registry then holds only the given plugins (and the installed ones with
        ``keep_installed=True``); afterwards the zoo reloads the installed plugins as usual.
        """
        reset()
        try:
            yield register_plugin
        finally:
            reset()
