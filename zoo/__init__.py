"""backbone-zoo: pretrained backbones as plugins, one head builder and one trainer for all of them.

>>> import zoo
>>> [spec.name for spec in zoo.list_backbones("resnet5*")]
['resnet50', 'resnet50_v2']

Importing ``zoo`` and listing backbones imports neither TensorFlow nor Keras.
"""

from typing import Any

from zoo.backbones import backbone
from zoo.config_sources import ConfigSource
from zoo.errors import (
    DataError,
    DataWarning,
    DuplicateBackboneError,
    InputShapeError,
    PluginError,
    PluginWarning,
    SpecError,
    UnknownBackboneError,
    WeightsError,
    ZooError,
)
from zoo.heads import build
from zoo.hookspecs import hookimpl
from zoo.plugins import get_spec, list_backbones
from zoo.spec import BackboneSpec, Preprocessing, TextPreprocessing, WeightsVariant

__version__ = "0.1.0"

# Imported on first use: they need Keras, and `import zoo` must stay light.
_LAZY = {
    "train": "zoo.trainer",
    "resume": "zoo.trainer",
    "load_model": "zoo.trainer",
    "Run": "zoo.trainer",
    "evaluate": "zoo.inference",
    "predict": "zoo.inference",
    "extract": "zoo.features",
    "rank": "zoo.ranking",
    "logme": "zoo.scoring",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")


__all__ = [
    "BackboneSpec",
    "ConfigSource",
    "DataError",
    "DataWarning",
    "DuplicateBackboneError",
    "InputShapeError",
    "PluginError",
    "PluginWarning",
    "Preprocessing",
    "Run",
    "SpecError",
    "TextPreprocessing",
    "UnknownBackboneError",
    "WeightsError",
    "WeightsVariant",
    "ZooError",
    "backbone",
    "build",
    "evaluate",
    "extract",
    "get_spec",
    "hookimpl",
    "list_backbones",
    "load_model",
    "logme",
    "predict",
    "rank",
    "resume",
    "train",
]
