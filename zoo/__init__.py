"""backbone-zoo: pretrained backbones as plugins, one head builder and one trainer for all of them.

>>> import zoo
>>> [spec.name for spec in zoo.list_backbones("resnet5*") if spec.family.startswith("resnet")]
['resnet50', 'resnet50_v2']

Importing ``zoo`` and listing backbones imports neither TensorFlow nor Keras.
"""

from types import ModuleType
from typing import TYPE_CHECKING, Any

from zoo.backbones import backbone, network_of
from zoo.config import ModelConfig, ModelParts, TrainConfig
from zoo.config_sources import ConfigSource
from zoo.console import set_level
from zoo.errors import (
    BusyError,
    ConfigError,
    DataError,
    DataTypeError,
    DataWarning,
    DiskFullError,
    DuplicateBackboneError,
    ExportError,
    ExportWarning,
    InputShapeError,
    Interrupted,
    PluginError,
    PluginWarning,
    RunError,
    SpecError,
    TrackingWarning,
    TrainingWarning,
    UnknownBackboneError,
    WeightsError,
    ZooError,
)
from zoo.heads import build, fit_standardization  # Keras is imported when they are called
from zoo.hookspecs import hookimpl
from zoo.plugins import get_spec, list_backbones
from zoo.spec import BackboneSpec, Preprocessing, TextNetwork, TextPreprocessing, WeightsVariant
from zoo.version import __version__ as __version__  # re-exported

# Imported on first use: they need Keras (or Pillow, or the run directory's machinery), and `import zoo` must stay
# light. A type checker reads the same names from the TYPE_CHECKING block below: keep the two in step.
_LAZY = {
    "train": "zoo.trainer",
    "resume": "zoo.trainer",
    "load_model": "zoo.run",
    "save_model": "zoo.run",
    "Run": "zoo.run",
    "WorkerView": "zoo.run",
    "Dataset": "zoo.data",
    "load_dataset": "zoo.data",
    "evaluate": "zoo.inference",
    "predict": "zoo.inference",
    "extract": "zoo.features",
    "rank": "zoo.ranking",
    "Ranking": "zoo.ranking",
    "lr_find": "zoo.lr_finder",
    "LRFinding": "zoo.lr_finder",
    "find_runs": "zoo.run.listing",
    "tune": "zoo.tuning",
    "Tuning": "zoo.tuning",
    "report": "zoo.html_report",
    "RunSummary": "zoo.run.listing",
    "logme": "zoo.scoring",
    "export": "zoo.exports",
    "Exported": "zoo.exports",
}
# The submodules that are public API beside the names of `__all__` (docs/reference/zoo.md): `zoo.distribute.resolve`
# works after a bare `import zoo`, which imports only what it needs.
_SUBMODULES = ("backbones", "config", "console", "data", "distribute", "errors", "hookspecs", "layers", "plugins",
               "testing")  # fmt: skip
_NEEDS_KERAS = {
    "zoo.trainer",
    "zoo.inference",
    "zoo.features",
    "zoo.ranking",
    "zoo.layers",
    "zoo.lr_finder",
    "zoo.tuning",
    "zoo.html_report",
}  # import Keras on import

if TYPE_CHECKING:
    from zoo.data import Dataset, load_dataset
    from zoo.exports import Exported, export
    from zoo.features import extract
    from zoo.html_report import report
    from zoo.inference import evaluate, predict
    from zoo.lr_finder import LRFinding, lr_find
    from zoo.ranking import Ranking, rank
    from zoo.run import Run, WorkerView, load_model, save_model
    from zoo.run.listing import RunSummary, find_runs
    from zoo.scoring import logme
    from zoo.trainer import resume, train
    from zoo.tuning import Tuning, tune


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name) or (f"zoo.{name}" if name in _SUBMODULES else None)
    if module is None:
        raise AttributeError(f"module 'zoo' has no attribute {name!r}")
    import importlib

    if module in _NEEDS_KERAS:
        from zoo.console import load_framework

        load_framework()  # TensorFlow starts without its C++ start-up lines (zoo.console)
    imported: ModuleType = importlib.import_module(module)
    return imported if name in _SUBMODULES else getattr(imported, name)


def __dir__() -> list[str]:
    """The public API, the lazily imported functions included: ``dir(zoo)`` shows ``train``, ``predict``, ...

    >>> import zoo
    >>> {"train", "load_model", "predict", "rank", "extract", "export"} <= set(dir(zoo))
    True
    """
    return sorted({*globals(), *_LAZY, *_SUBMODULES})


__all__ = [
    "BackboneSpec",
    "BusyError",
    "ConfigError",
    "ConfigSource",
    "DataError",
    "DataTypeError",
    "DataWarning",
    "Dataset",
    "DiskFullError",
    "DuplicateBackboneError",
    "ExportError",
    "ExportWarning",
    "Exported",
    "InputShapeError",
    "Interrupted",
    "LRFinding",
    "ModelConfig",
    "ModelParts",
    "PluginError",
    "PluginWarning",
    "Preprocessing",
    "Ranking",
    "Run",
    "RunError",
    "RunSummary",
    "SpecError",
    "TextNetwork",
    "TextPreprocessing",
    "TrackingWarning",
    "TrainConfig",
    "TrainingWarning",
    "Tuning",
    "UnknownBackboneError",
    "WeightsError",
    "WeightsVariant",
    "WorkerView",
    "ZooError",
    "backbone",
    "build",
    "evaluate",
    "export",
    "extract",
    "find_runs",
    "fit_standardization",
    "get_spec",
    "hookimpl",
    "list_backbones",
    "load_dataset",
    "load_model",
    "logme",
    "lr_find",
    "network_of",
    "predict",
    "rank",
    "report",
    "resume",
    "save_model",
    "set_level",
    "train",
    "tune",
]
