"""backbone-zoo: pretrained backbones as plugins, one head builder and one trainer for all of them.

>>> import zoo
>>> [spec.name for spec in zoo.list_backbones("resnet5*")]
['resnet50', 'resnet50_v2']

Importing ``zoo`` and listing backbones imports neither TensorFlow nor Keras.
"""

from zoo.backbones import backbone
from zoo.errors import (
    DuplicateBackboneError,
    InputShapeError,
    PluginError,
    PluginWarning,
    SpecError,
    UnknownBackboneError,
    WeightsError,
    ZooError,
)
from zoo.hookspecs import hookimpl
from zoo.plugins import get_spec, list_backbones
from zoo.spec import BackboneSpec, Preprocessing, WeightsVariant

__version__ = "0.1.0"

__all__ = [
    "BackboneSpec",
    "DuplicateBackboneError",
    "InputShapeError",
    "PluginError",
    "PluginWarning",
    "Preprocessing",
    "SpecError",
    "UnknownBackboneError",
    "WeightsError",
    "WeightsVariant",
    "ZooError",
    "backbone",
    "get_spec",
    "hookimpl",
    "list_backbones",
]
