"""The ``backbones.toml`` sources of this plugin: ``savedmodel`` (a local TF2 SavedModel directory) and
``hub`` (a TF Hub handle, downloaded once). Both networks pool themselves; nothing here imports
TensorFlow until a backbone is built.

.. code-block:: toml

    [backbones.my_classifier]
    source = "savedmodel"              # or "hub", with handle = "https://tfhub.dev/..."
    path = "models/my_saved_model"
    signature = "serving_default"      # optional: which SavedModel function to call
    output_key = "feature_vector"      # optional: which output of a dict-returning signature
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from zoo import BackboneSpec, ConfigSource, SpecError
from zoo_tensorflow_hub import no_random_weights, resolve, saved_model_network

OPTIONS = ("signature", "output_key")


def build(
    location: str | Path,
    spec: BackboneSpec,
    *,
    weights: str | Path | None,
    input_shape: tuple[int, ...],
    signature: str | None = None,
    output_key: str | None = None,
) -> Any:
    """The factory of a config entry: ``weights`` is the entry's tag (``location``), a local SavedModel, or ``None``.

    >>> build(Path("/models/pooled"), spec, weights="savedmodel", input_shape=(224, 224, 3))  # doctest: +SKIP
    <Functional name=functional, built=True>
    """
    if weights is None:
        raise no_random_weights(spec.name, f"its configured location {location}")
    if isinstance(weights, Path):
        path = weights
    else:
        path = location if isinstance(location, Path) else resolve(location)
    return saved_model_network(
        path, input_shape, feature_dim=spec.feature_dim, signature=signature, output_key=output_key
    )


def _options(entry: Mapping[str, Any]) -> dict[str, str]:
    for key in OPTIONS:
        if key in entry and (not isinstance(entry[key], str) or not entry[key]):
            raise SpecError(f"{key} must be a non-empty string, got {entry[key]!r}")
    return {key: entry[key] for key in OPTIONS if key in entry}


def _savedmodel(entry: Mapping[str, Any]) -> tuple[Path, Any]:
    if "path" not in entry:
        raise SpecError("needs path = '/path/to/saved_model' (a local SavedModel directory)")
    return entry["path"], functools.partial(build, entry["path"], **_options(entry))


def _hub(entry: Mapping[str, Any]) -> tuple[str, Any]:
    handle = entry.get("handle")
    if not isinstance(handle, str) or not handle:
        raise SpecError("needs handle = 'https://tfhub.dev/...' (a TF Hub handle)")
    return handle, functools.partial(build, handle, **_options(entry))


SOURCES = [
    ConfigSource(name="savedmodel", keys=("path", *OPTIONS), factory_for=_savedmodel),
    ConfigSource(name="hub", keys=("handle", *OPTIONS), factory_for=_hub),
]
