"""The hooks a backbone-zoo plugin can implement.

A plugin is a module (or object) with functions decorated by :data:`zoo.hookimpl`, published under
the ``backbone_zoo`` entry-point group of its distribution::

    [project.entry-points.backbone_zoo]
    my_backbones = "my_package.zoo_plugin"

First-party plugins in ``plugins/`` register exactly this way.
"""

from __future__ import annotations

import pluggy

PROJECT = "backbone_zoo"
ENTRY_POINT_GROUP = "backbone_zoo"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_backbones() -> list:
    """Return the plugin's backbones as a list of :class:`zoo.BackboneSpec` (or their dicts).

    Must not import TensorFlow or Keras: put that in each spec's ``factory``.

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
