"""The hooks a backbone-zoo plugin can implement.

A plugin is a module (or object) with functions decorated by :data:`zoo.hookimpl`, published under
the ``backbone_zoo`` entry-point group of its distribution::

    [project.entry-points.backbone_zoo]
    my_backbones = "my_package.zoo_plugin"

First-party plugins in ``plugins/`` register exactly this way, and the core's own default plugins
(``zoo.plugins.DEFAULT_PLUGINS``) go through the same path.

The import and each ``register_*`` hook run in a thread of their own and get ``ZOO_PLUGIN_TIMEOUT``
seconds (30 by default); what they print goes to stderr, and ``os._exit`` there fails the plugin
instead of ending the process. A plugin that overruns, raises or exits is skipped with one warning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from zoo.config_sources import ConfigSource
    from zoo.spec import BackboneSpec

PROJECT = "backbone_zoo"
ENTRY_POINT_GROUP = "backbone_zoo"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_config_sources() -> list[ConfigSource]:
    """Return the ``backbones.toml`` entry kinds (``source = "..."``) the plugin builds, as :class:`zoo.ConfigSource`.

    Called once per process, before any ``register_backbones``. Must not import TensorFlow or
    Keras: put that in the factories that ``factory_for`` returns.

    >>> import zoo
    >>> @zoo.hookimpl
    ... def register_config_sources():
    ...     return [zoo.ConfigSource(name="onnx", keys=("path",), factory_for=onnx_factory)]
    """


@hookspec
def register_backbones(config_sources: Mapping[str, ConfigSource]) -> list[BackboneSpec]:
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

    ``zoo info`` shows it, so users see where ``weights="default"`` comes from. The zoo asks only the
    plugin that registered ``spec``: every ``spec`` it receives is one of its own.

    >>> @hookimpl
    ... def locate_weights(spec, tag):
    ...     return "/opt/models/tiny" if spec.name == "tiny" else None
    """


@hookspec
def register_keras_objects(trusted: Sequence[str]) -> list[type]:
    """Return the Keras classes (layers, ...) your models hold, so that a saved model loads in a new process.

    Called before the zoo loads a model (``zoo.load_model``, ``zoo predict``), so it may import
    Keras; return ``[]`` where your classes cannot work (another backend). ``trusted`` are the
    external files the model about to be loaded reads (as :func:`external_files` named them when it
    was saved), each checked just now against the SHA-256 recorded then: allow those under Keras'
    safe mode. Declare the argument only if you use it.

    >>> @hookimpl
    ... def register_keras_objects():
    ...     from my_plugin.layers import MyLayer
    ...     return [MyLayer]
    """


@hookspec
def external_files(layer: Any) -> list[str] | None:
    """The files outside the ``.keras`` archive that ``layer`` (one of your layers) reads when it is loaded.

    Called by ``zoo.save_model`` for every layer of the model; return ``None`` for layers that are
    not yours. The zoo records each file's (or directory's) SHA-256 in the saved model, and loads it
    again only while the files are unchanged, passing them to :func:`register_keras_objects` as
    ``trusted``. A layer that loads a SavedModel (whose graph runs on load) names its directory.

    >>> @hookimpl
    ... def external_files(layer):
    ...     return [layer.filepath] if type(layer).__name__ == "MyLayer" else None
    """
