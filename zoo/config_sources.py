"""Config sources: the kinds of ``backbones.toml`` entry (``source = "..."``) that plugins register.

The core reads the keys every entry shares (:data:`CONFIG_KEYS`) and dispatches on ``source`` to
the :class:`ConfigSource` a plugin registered through ``register_config_sources``; the plugin turns
the rest of the entry into the weights location and the lazy factory of a spec. Nothing here
imports TensorFlow or Keras.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from typing import Any

from zoo.errors import SpecError
from zoo.spec import NAME_PATTERN

# The keys of a [backbones.<name>] table that the core reads itself, whatever the source.
CONFIG_KEYS = ("source", "input_shape", "feature_dim", "feature_shape", "preprocessing", "description")

Factory = Callable[..., Any]
FactoryFor = Callable[[Mapping[str, Any]], tuple[str | os.PathLike[str], Factory]]


@dataclasses.dataclass(frozen=True)
class ConfigSource:
    """One kind of ``backbones.toml`` entry: ``source = "<name>"`` and the extra ``keys`` it reads.

    ``factory_for(entry)`` gets the entry's extra keys (those of ``keys`` it sets; a ``path`` is
    already an existing ``pathlib.Path``, resolved relative to the config file) and returns
    ``(location, factory)``: where the weights are (a string or path, shown by ``zoo info``) and
    the spec's lazy ``factory(spec, *, weights, input_shape)``. The factory gets ``weights`` as the
    source's ``name`` (the entry's own weights, at ``location``), a ``pathlib.Path`` the user
    passed, or ``None``, and raises :class:`zoo.WeightsError` for a weights problem. A missing or
    malformed key is a :class:`zoo.SpecError` from ``factory_for``: the zoo adds file and entry.

    ``feature_stride`` says what the network gives: ``None`` a pooled vector (``feature_shape``
    defaults to ``[feature_dim]``), a number a feature map at that stride (``[ceil(height /
    stride), ceil(width / stride), feature_dim]``). ``plugin`` is filled in by the zoo.

    >>> import functools
    >>> def build_onnx(path, spec, *, weights, input_shape): ...  # imports onnx and keras only when called
    >>> def onnx(entry):
    ...     if "path" not in entry:
    ...         raise SpecError("needs path = '/path/to/model.onnx'")
    ...     return str(entry["path"]), functools.partial(build_onnx, entry["path"])
    >>> ConfigSource(name="onnx", keys=("path",), factory_for=onnx).keys
    ('path',)
    """

    name: str
    keys: tuple[str, ...]
    factory_for: FactoryFor = dataclasses.field(compare=False, repr=False)
    feature_stride: int | None = None
    plugin: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.keys, str):
            raise SpecError(f"config source {self.name!r}: keys must be a tuple of key names, not one string")
        object.__setattr__(self, "keys", tuple(self.keys))
        if not isinstance(self.name, str) or not NAME_PATTERN.match(self.name):
            raise SpecError(f"a config source's name must be lowercase snake case like 'savedmodel', got {self.name!r}")
        for key in self.keys:
            if not isinstance(key, str) or not NAME_PATTERN.match(key):
                raise SpecError(f"config source {self.name!r}: keys must be snake-case strings, got {key!r}")
            if key in CONFIG_KEYS:
                raise SpecError(f"config source {self.name!r}: the zoo reads {key!r} itself; list only extra keys")
        if not callable(self.factory_for):
            raise SpecError(f"config source {self.name!r}: factory_for must be callable")
        stride = self.feature_stride
        if stride is not None and (type(stride) is not int or stride < 1):
            raise SpecError(f"config source {self.name!r}: feature_stride must be a positive integer or None")
