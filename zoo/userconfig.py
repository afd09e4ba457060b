"""The ``user-config`` plugin: backbones from a TOML file, without writing a plugin.

A default plugin of the core (``zoo.plugins.DEFAULT_PLUGINS``), loaded, listed and allowed by
``ZOO_PLUGINS`` like an installed one. The file is ``$ZOO_CONFIG`` if set, else
``$XDG_CONFIG_HOME/backbone-zoo/backbones.toml`` (``~/.config`` without XDG). Each
``[backbones.<name>]`` table is one backbone::

    [backbones.my_classifier]
    source = "savedmodel"            # a config source of an installed plugin: `zoo plugins --json`
    path = "models/my_saved_model"   # relative to this file
    input_shape = [224, 224, 3]
    feature_dim = 1280               # feature_shape defaults to what the source's network gives
    preprocessing = { mode = "unit", scale = 0.00392156862745098 }  # or "tf" | "torch" | "caffe" | "none"
    description = "my own classifier"

This module reads the keys every entry shares (``zoo.config_sources.CONFIG_KEYS``), resolves
``path`` relative to the file, and hands the source's own keys to the :class:`ConfigSource` of that
name, which some plugin registered through ``register_config_sources``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from zoo.config_sources import CONFIG_KEYS, ConfigSource, Factory
from zoo.errors import SpecError
from zoo.hookspecs import hookimpl
from zoo.spec import BackboneSpec, Preprocessing, WeightsVariant

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, as the `tomli` package
    import tomli as tomllib

ENV_CONFIG = "ZOO_CONFIG"
PRESETS = {"tf": Preprocessing.tf, "torch": Preprocessing.torch, "caffe": Preprocessing.caffe, "none": Preprocessing}
# The sources of first-party plugins, so that an entry using one names the distribution to install.
PROVIDERS = {
    "savedmodel": "backbone-zoo-tensorflow-hub",
    "hub": "backbone-zoo-tensorflow-hub",
    "keras_hub_preset": "backbone-zoo-keras-hub",
}

Fail = Callable[[str], SpecError]


def config_path() -> Path:
    """Where the user's backbones file is (it may not exist).

    >>> config_path().name
    'backbones.toml'
    """
    if os.environ.get(ENV_CONFIG):
        return Path(os.environ[ENV_CONFIG]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base).expanduser() / "backbone-zoo" / "backbones.toml"


@hookimpl
def register_backbones(config_sources: Mapping[str, ConfigSource]) -> list[BackboneSpec]:
    """The backbones of the user's config file (none without a file)."""
    path = config_path()
    if os.environ.get(ENV_CONFIG) and not path.is_file():  # asked for by name: never ignored without a word
        what = "is a folder" if path.is_dir() else "does not exist"
        raise SpecError(f"{ENV_CONFIG}={path} {what}: point it at a backbones.toml file, or unset it")
    return read_config(path, config_sources) if path.is_file() else []


def read_config(path: Path, sources: Mapping[str, ConfigSource]) -> list[BackboneSpec]:
    """The specs of a ``backbones.toml`` file; a :class:`SpecError` names the file, the entry and the field.

    >>> from zoo.plugins import registry
    >>> read_config(config_path(), registry().config_sources)  # doctest: +SKIP
    [BackboneSpec(name='my_classifier', family='user', ...)]
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:  # its message ends "(at line 3, column 7)"
        raise SpecError(f"{path} is not valid TOML: {err}") from None
    except OSError as err:
        raise SpecError(f"cannot read {path}: {err}") from None
    unknown = set(data) - {"backbones"}
    if unknown:
        raise SpecError(f"{path}: unknown top-level keys {sorted(unknown)}; use [backbones.<name>] tables")
    return [_spec(name, entry, path, sources) for name, entry in data.get("backbones", {}).items()]


def _spec(name: str, entry: Any, config: Path, sources: Mapping[str, ConfigSource]) -> BackboneSpec:
    """One ``[backbones.<name>]`` table as a spec; every error names the entry and the field."""

    def fail(message: str) -> SpecError:
        return SpecError(f"{config}: [backbones.{name}] {message}")

    if not isinstance(entry, dict):
        raise fail("must be a table")
    source = entry.get("source")
    if source not in sources:
        raise fail(_missing_source(source, sources))
    kind = sources[source]  # type: ignore[index]
    known = {*CONFIG_KEYS, *kind.keys}
    unknown = set(entry) - known
    if unknown:
        raise fail(f"has unknown keys {sorted(unknown)}; known for source {source!r}: {sorted(known)}")
    own = {key: entry[key] for key in kind.keys if key in entry}
    if "path" in own:
        own["path"] = _path(own["path"], config, fail)
    location, factory = _resolve(kind, own, fail)
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
    elif kind.feature_stride is None:  # the network pools itself
        feature_shape = [dim]
    else:  # a feature map at the source's stride
        feature_shape = [math.ceil(shape[0] / kind.feature_stride), math.ceil(shape[1] / kind.feature_stride), dim]
    try:
        return BackboneSpec(
            name=name,
            family="user",
            input_shape=tuple(shape),
            feature_dim=dim,
            feature_shape=tuple(feature_shape),
            preprocessing=_preprocessing(entry.get("preprocessing"), fail),
            weights=(WeightsVariant(tag=source, source=location),),  # type: ignore[arg-type]
            description=f"{entry.get('description', name)} (from {config})",
            factory=factory,
        )
    except (SpecError, TypeError) as err:
        raise fail(str(err)) from None


def _missing_source(source: Any, sources: Mapping[str, ConfigSource]) -> str:
    """Why ``source`` is not among the loaded ``sources``, and which plugin provides it when it is a known one."""
    loaded = f"loaded sources: {', '.join(sorted(sources)) or 'none'}"
    if not isinstance(source, str):
        return f"needs source = '<kind>' ({loaded})"
    provider = PROVIDERS.get(source)
    if provider is None:
        return f"source {source!r} is not provided by any loaded plugin ({loaded}); install the plugin that provides it"
    try:
        metadata.distribution(provider)
    except metadata.PackageNotFoundError:
        return f"source {source!r} is provided by the plugin {provider}: pip install {provider} ({loaded})"
    return (
        f"source {source!r} is provided by the plugin {provider}, which is installed but not loaded: "
        f"`zoo plugins` says why (ZOO_PLUGINS may leave it out) ({loaded})"
    )


def _path(value: Any, config: Path, fail: Fail) -> Path:
    """``path``: an existing local file or directory, relative to the config file."""
    if not isinstance(value, str) or not value:
        raise fail("path must be a non-empty string, the local model (relative to this file)")
    resolved = (config.parent / Path(value).expanduser()).resolve()
    if not resolved.exists():
        raise fail(f"path {resolved} does not exist")
    return resolved


def _resolve(kind: ConfigSource, entry: dict[str, Any], fail: Fail) -> tuple[str, Factory]:
    """``kind.factory_for(entry)``; a result that is not ``(location, factory)`` is the source plugin's bug."""
    owner = f"the source {kind.name!r} of plugin {kind.plugin!r}"
    try:
        result = kind.factory_for(entry)
    except SpecError as err:
        raise fail(str(err)) from None
    except Exception as err:  # the source plugin's bug: say whose
        raise fail(f"{owner} raised {type(err).__name__}: {err}") from err
    if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], (str, os.PathLike))):
        raise fail(f"{owner} returned {result!r}, not (location, factory)")
    location, factory = result
    if not callable(factory):
        raise fail(f"{owner} returned a factory that is not callable: {factory!r}")
    return str(location), factory


def _preprocessing(value: Any, fail: Fail) -> Preprocessing:
    if isinstance(value, str):
        if value not in PRESETS:
            raise fail(f"preprocessing must be one of {sorted(PRESETS)} or a table, got {value!r}")
        return PRESETS[value]()  # type: ignore[operator]
    if not isinstance(value, dict):
        raise fail(f"needs preprocessing: one of {sorted(PRESETS)} or a table of zoo.Preprocessing fields")
    fields = {f.name for f in dataclasses.fields(Preprocessing)}
    unknown = set(value) - fields
    if unknown:
        raise fail(f"preprocessing has unknown fields {sorted(unknown)}; known: {sorted(fields)}")
    return Preprocessing(**{k: tuple(v) if isinstance(v, list) else v for k, v in value.items()})  # type: ignore[arg-type]
