"""The ``keras_hub_preset`` source of ``backbones.toml``: any keras-hub image backbone preset, cut at its
last (deepest) feature map.

.. code-block:: toml

    [backbones.my_resnet]
    source = "keras_hub_preset"
    path = "presets/my_resnet"        # a local preset directory (save_to_preset), relative to the file;
    # handle = "resnet_50_imagenet"   # or a keras-hub preset handle (downloaded where there is internet)
    input_shape = [224, 224, 3]
    feature_dim = 2048                # feature_shape defaults to the map at stride 32: [7, 7, 2048]
    preprocessing = "torch"

Nothing here imports keras-hub until a backbone is built.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zoo import BackboneSpec, ConfigSource, SpecError, WeightsError


def build(location: str | Path, spec: BackboneSpec, *, weights: str | Path | None, input_shape: tuple[int, ...]) -> Any:
    """Preprocessed pixels -> the preset's last feature map. ``weights``: the entry's tag (``location``),
    a local preset directory, or ``None`` (the preset's architecture, randomly initialised).

    >>> build("resnet_18_imagenet", spec, weights=None, input_shape=(224, 224, 3))  # doctest: +SKIP
    <Functional name=functional, built=True>
    """
    import keras
    import keras_hub

    preset = weights if isinstance(weights, Path) else location
    try:
        backbone = keras_hub.models.Backbone.from_preset(str(preset), load_weights=weights is not None)
    except Exception as err:  # a missing file, a download without internet, not a backbone preset
        raise WeightsError(
            f"Could not load the keras-hub preset {preset} for {spec.name} ({type(err).__name__}: {err}). "
            "A handle is downloaded once and needs internet; a local directory is what save_to_preset writes."
        ) from err
    pyramid = getattr(backbone, "pyramid_outputs", None)
    output = pyramid[sorted(pyramid)[-1]] if pyramid else backbone.output
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, keras.Model(backbone.inputs, output)(inputs))


def _preset(entry: Mapping[str, Any]) -> tuple[str | Path, Any]:
    if ("path" in entry) == ("handle" in entry):
        raise SpecError(
            "needs either path = '/path/to/preset' (a local keras-hub preset directory) "
            "or handle = 'resnet_50_imagenet' (a keras-hub preset handle)"
        )
    location = entry["path"] if "path" in entry else entry["handle"]
    if not isinstance(location, (str, Path)) or not str(location):
        raise SpecError(f"handle must be a non-empty string, got {location!r}")
    return location, functools.partial(build, location)


SOURCES = [ConfigSource(name="keras_hub_preset", keys=("path", "handle"), factory_for=_preset, feature_stride=32)]
