"""Backbones from a TOML file, without writing a plugin.

The file is ``$ZOO_CONFIG`` if set, else ``$XDG_CONFIG_HOME/backbone-zoo/backbones.toml``
(``~/.config`` without XDG). Each ``[backbones.<name>]`` table is one backbone::

    [backbones.my_classifier]
    source = "savedmodel"            # savedmodel | hub | keras_hub_preset
    path = "/models/my_saved_model"  # or handle = "https://tfhub.dev/..." for hub
    input_shape = [224, 224, 3]
    feature_dim = 1280
    preprocessing = { mode = "unit", scale = 0.00392156862745098 }  # or "tf" | "torch" | "caffe" | "none"
    description = "my own classifier"

``savedmodel`` and ``hub`` need the ``backbone-zoo-tensorflow-hub`` plugin (a pooled feature
vector); ``keras_hub_preset`` loads ``keras_hub.models.Backbone.from_preset`` and takes its last
feature map. Optional keys: ``signature`` and ``output_key`` (SavedModels), ``feature_shape``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from pathlib import Path
from typing import Any

from zoo.errors import SpecError
from zoo.hookspecs import hookimpl
from zoo.spec import BackboneSpec, Preprocessing, WeightsVariant

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, as the `tomli` package
    import tomli as tomllib

ENV_CONFIG = "ZOO_CONFIG"
PLUGIN_NAME = "user-config"
SOURCES = ("savedmodel", "hub", "keras_hub_preset")
PRESETS = {"tf": Preprocessing.tf, "torch": Preprocessing.torch, "caffe": Preprocessing.caffe, "none": Preprocessing}
KEYS = {"source", "path", "handle", "input_shape", "feature_dim", "feature_shape", "preprocessing", "description"}
KEYS |= {"signature", "output_key"}


def config_path() -> Path:
    """Where the user's backbones file is (it may not exist).

    >>> config_path().name
    'backbones.toml'
    """
    if os.environ.get(ENV_CONFIG):
        return Path(os.environ[ENV_CONFIG]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base).expanduser() / "backbone-zoo" / "backbones.toml"


def plugin() -> object | None:
    """A plugin object registering the file's backbones, or ``None`` when there is no file.

    >>> from zoo.plugins import load_registry
    >>> registry = load_registry(extra_plugins={"user-config": plugin()}) if plugin() else None
    """
    path = config_path()
    return UserConfig(path) if path.is_file() else None


@dataclasses.dataclass(frozen=True)
class UserConfig:
    """The plugin for one config file; it reads the file when the host asks for backbones."""

    path: Path

    @hookimpl
    def register_backbones(self) -> list[BackboneSpec]:
        try:
            data = tomllib.loads(self.path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as err:  # its message ends "(at line 3, column 7)"
            raise SpecError(f"{self.path} is not valid TOML: {err}") from None
        except OSError as err:
            raise SpecError(f"cannot read {self.path}: {err}") from None
        unknown = set(data) - {"backbones"}
        if unknown:
            raise SpecError(f"{self.path}: unknown top-level keys {sorted(unknown)}; use [backbones.<name>] tables")
        entries = data.get("backbones", {})
        return [_spec(name, entry, self.path) for name, entry in entries.items()]


def _spec(name: str, entry: Any, config: Path) -> BackboneSpec:
    """One ``[backbones.<name>]`` table as a spec; every error names the entry and the field."""

    def fail(message: str) -> SpecError:
        return SpecError(f"{config}: [backbones.{name}] {message}")

    if not isinstance(entry, dict):
        raise fail("must be a table")
    unknown = set(entry) - KEYS
    if unknown:
        raise fail(f"has unknown keys {sorted(unknown)}; known: {sorted(KEYS)}")
    source = entry.get("source")
    if source not in SOURCES:
        raise fail(f"source must be one of {SOURCES}, got {source!r}")
    location = _location(entry, source, config, fail)
    shape = entry.get("input_shape")
    if not isinstance(shape, list) or len(shape) != 3 or not all(type(d) is int and d > 0 for d in shape):
        raise fail(f"input_shape must be [height, width, 3], got {shape!r}")
    if shape[2] != 3:
        raise fail(f"input_shape must have 3 (RGB) channels, got {shape[2]}")
    if min(shape[:2]) < 32:
        raise fail(f"input_shape {shape} is too small: height and width must be at least 32")
    dim = entry.get("feature_dim")
    if type(dim) is not int or dim < 1:
        raise fail(f"feature_dim must be a positive integer, got {dim!r}")
    if "feature_shape" in entry:
        feature_shape = entry["feature_shape"]
    elif source == "keras_hub_preset":  # a feature map, at the usual stride of 32
        feature_shape = [math.ceil(shape[0] / 32), math.ceil(shape[1] / 32), dim]
    else:
        feature_shape = [dim]
    try:
        return BackboneSpec(
            name=name,
            family="user",
            input_shape=tuple(shape),
            feature_dim=dim,
            feature_shape=tuple(feature_shape),
            preprocessing=_preprocessing(entry.get("preprocessing"), fail),
            weights=(WeightsVariant(tag=source, source=str(location)),),
            description=f"{entry.get('description', name)} (from {config})",
            factory=_factory(source, location, entry.get("signature"), entry.get("output_key")),
        )
    except (SpecError, TypeError) as err:
        raise fail(str(err)) from None


def _location(entry: dict[str, Any], source: str, config: Path, fail: Any) -> str | Path:
    """The entry's existing local directory (``path``, relative to the config file) or its ``handle``."""
    if source == "hub" or (source == "keras_hub_preset" and "handle" in entry):
        handle = entry.get("handle")
        if not isinstance(handle, str) or not handle:
            raise fail(f"needs handle = '...' (a {'TF Hub handle' if source == 'hub' else 'keras-hub preset'})")
        return handle
    path = entry.get("path")
    if not isinstance(path, str) or not path:
        raise fail("needs path = '/path/to/model' (a local directory)")
    resolved = (config.parent / Path(path).expanduser()).resolve()
    if not resolved.exists():
        raise fail(f"path {resolved} does not exist")
    return resolved


def _preprocessing(value: Any, fail: Any) -> Preprocessing:
    if isinstance(value, str):
        if value not in PRESETS:
            raise fail(f"preprocessing must be one of {sorted(PRESETS)} or a table, got {value!r}")
        return PRESETS[value]()
    if not isinstance(value, dict):
        raise fail(f"needs preprocessing: one of {sorted(PRESETS)} or a table of zoo.Preprocessing fields")
    fields = {f.name for f in dataclasses.fields(Preprocessing)}
    unknown = set(value) - fields
    if unknown:
        raise fail(f"preprocessing has unknown fields {sorted(unknown)}; known: {sorted(fields)}")
    return Preprocessing(**{k: tuple(v) if isinstance(v, list) else v for k, v in value.items()})


def _factory(source: str, location: str | Path, signature: str | None, output_key: str | None) -> Any:
    """The lazy builder of one entry: ``weights`` is the entry's tag, a local directory, or ``None``."""

    def build(spec: BackboneSpec, *, weights: str | Path | None, input_shape: tuple[int, ...]) -> Any:
        target = weights if isinstance(weights, Path) else location
        if source == "keras_hub_preset":
            return _keras_hub_features(target, input_shape, load_weights=weights is not None)
        if weights is None:
            raise ValueError(
                f"{spec.name} is a SavedModel, which has no random initialisation: "
                "pass weights='default' (its configured location) or a local SavedModel directory"
            )
        try:
            import zoo_tensorflow_hub
        except ImportError:
            raise ImportError(
                f"{spec.name} (source = {source!r}) needs the plugin: pip install backbone-zoo-tensorflow-hub"
            ) from None
        path = zoo_tensorflow_hub.resolve(target) if source == "hub" and isinstance(target, str) else target
        return zoo_tensorflow_hub.saved_model_network(
            path, input_shape, feature_dim=spec.feature_dim, signature=signature, output_key=output_key
        )

    return build


def _keras_hub_features(preset: str | Path, input_shape: tuple[int, ...], load_weights: bool) -> Any:
    """A keras-hub image backbone cut at its last (deepest) feature map."""
    import keras
    import keras_hub

    backbone = keras_hub.models.Backbone.from_preset(str(preset), load_weights=load_weights)
    pyramid = getattr(backbone, "pyramid_outputs", None)
    output = pyramid[sorted(pyramid)[-1]] if pyramid else backbone.output
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, keras.Model(backbone.inputs, output)(inputs))
