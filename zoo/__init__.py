"""backbone-zoo: pretrained backbones as plugins, one head builder and one trainer for all of them.

>>> import zoo
>>> [spec.name for spec in zoo.list_backbones("resnet5*") if spec.family.startswith("resnet")]
['resnet50', 'resnet50_v2']

Importing ``zoo`` and listing backbones imports neither TensorFlow nor Keras.
"""

from typing import Any

from zoo.backbones import backbone
from zoo.config import ModelConfig, ModelParts, TrainConfig
from zoo.config_sources import ConfigSource
from zoo.errors import (
    BusyError,
    ConfigError,
    DataError,
    DataWarning,
    DuplicateBackboneError,
    ExportError,
    InputShapeError,
    Interrupted,
    PluginError,
    PluginWarning,
    RunError,
    SpecError,
    TrainingWarning,
    UnknownBackboneError,
    WeightsError,
    ZooError,
)
from zoo.heads import build, fit_standardization  # Keras is imported when they are called
from zoo.hookspecs import hookimpl
from zoo.plugins import get_spec, list_backbones
from zoo.spec import BackboneSpec, Preprocessing, TextNetwork, TextPreprocessing, WeightsVariant

__version__ = "0.1.0"

# Imported on first use: they need Keras, and `import zoo` must stay light.
_LAZY = {
    "train": "zoo.trainer",
    "resume": "zoo.trainer",
    "load_model": "zoo.run",
    "save_model": "zoo.run",
    "Run": "zoo.run",
    "evaluate": "zoo.inference",
    "predict": "zoo.inference",
    "extract": "zoo.features",
    "rank": "zoo.ranking",
    "logme": "zoo.scoring",
    "export": "zoo.exports",
}
_NEEDS_KERAS = {"zoo.trainer", "zoo.inference", "zoo.features", "zoo.ranking"}  # they import Keras when imported


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        if _LAZY[name] in _NEEDS_KERAS:
            from zoo.console import load_framework

            load_framework()  # TensorFlow starts without its C++ start-up lines (zoo.console)
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public API, the lazily imported functions included: ``dir(zoo)`` shows ``train``, ``predict``, ...

    >>> import zoo
    >>> {"train", "load_model", "predict", "rank", "extract", "export"} <= set(dir(zoo))
    True
    """
    return sorted({*globals(), *_LAZY})


__all__ = [
    "BackboneSpec",
    "BusyError",
    "ConfigError",
    "ConfigSource",
    "DataError",
    "DataWarning",
    "DuplicateBackboneError",
    "ExportError",
    "InputShapeError",
    "Interrupted",
    "ModelConfig",
    "ModelParts",
    "PluginError",
    "PluginWarning",
    "Preprocessing",
    "Run",
    "RunError",
    "SpecError",
    "TextNetwork",
    "TextPreprocessing",
    "TrainConfig",
    "TrainingWarning",
    "UnknownBackboneError",
    "WeightsError",
    "WeightsVariant",
    "ZooError",
    "backbone",
    "build",
    "evaluate",
    "export",
    "extract",
    "fit_standardization",
    "get_spec",
    "hookimpl",
    "list_backbones",
    "load_model",
    "logme",
    "predict",
    "rank",
    "resume",
    "save_model",
    "train",
]
