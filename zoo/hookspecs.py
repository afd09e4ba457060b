"""The hooks a backbone-zoo plugin can implement.

A plugin is a module (or object) with functions decorated by :data:`zoo.hookimpl`, published under
the ``backbone_zoo`` entry-point group of its distribution::

    [project.entry-points.backbone_zoo]
    my_backbones = "my_package.zoo_plugin"

First-party plugins in ``plugins/`` register exactly this way, and the core's own default plugins
(``zoo.plugins.DEFAULT_PLUGINS``) go through the same path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from zoo.config_sources import ConfigSource

PROJECT = "backbone_zoo"
ENTRY_POINT_GROUP = "backbone_zoo"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_config_sources() -> list:
    """Return the ``backbones.toml`` entry kinds (``source = "..."``) the plugin builds, as :class:`zoo.ConfigSource`.

    Called once per process, before any ``register_backbones``. Must not import TensorFlow or
    Keras: put that in the factories that ``factory_for`` returns.

    >>> import zoo
    >>> @zoo.hookimpl
    ... def register_config_sources():
    ...     return [zoo.ConfigSource(name="onnx", keys=("path",), factory_for=onnx_factory)]
    """


@hookspec
def register_backbones(config_sources: Mapping[str, ConfigSource]) -> list:
    """Return the plugin's backbones as a list of :class:`zoo.BackboneSpec` (or their dicts).

    Must not import TensorFlow or Keras: put that in each spec's ``factory``. ``config_sources``
    (source name -> :class:`zoo.ConfigSource` of every loaded plugin) is there for plugins that
    read config files; declare the argument only if you use it.

    >>> import zoo
    >>> @zoo.hookimpl
    ... def register_backbones():
    ...     return [zoo.BackboneSpec(name="tiny", family="demo", input_shape=(32, 32, 3),
    ...             feature_dim=8, feature_shape=(4, 4, 8), preprocessing=zoo.Preprocessing.tf())]
    """


@hookspec(firstresult=True)
def locate_weights(spec: object, tag: str) -> str | None:
    """Where the weights ``tag`` of ``spec`` are on this machine (a local path), or ``None``.

    ``zoo info`` shows it, so users see where ``weights="default"`` comes from. Answer only for your
    own backbones (``spec.plugin``); return ``None`` for the rest.

    >>> @hookimpl
    ... def locate_weights(spec, tag):
    ...     return "/opt/models/tiny" if spec.name == "tiny" else None
    """
