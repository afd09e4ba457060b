"""The data layer: read images or texts into a checked :class:`Dataset`, split it, then stream it.

>>> import numpy as np
>>> from zoo.data import load_dataset, split
>>> train, val = split(load_dataset((np.arange(10).reshape(10, 1, 1), [0, 1] * 5)), val_fraction=0.2)
>>> len(train), len(val)
(8, 2)

The modules import in one direction: :mod:`~zoo.data.decode` (files and arrays to pixels or strings) and
:mod:`~zoo.data.dataset` (the record), then :mod:`~zoo.data.labels` and :mod:`~zoo.data.split`, then
:mod:`~zoo.data.sources` (:func:`load_dataset`); :mod:`~zoo.data.pipelines` (tf.data) and
:mod:`~zoo.data.text` (text lengths) take a :class:`Dataset` and import no reader. Only the pipelines
import TensorFlow and Keras, when called.
"""

from __future__ import annotations

from zoo.config import AUGMENTATIONS, TASKS, Task
from zoo.data.dataset import Dataset
from zoo.data.decode import decode_image, read_image, scan_files
from zoo.data.pipelines import augmentation_layers, image_pipeline, pipeline, text_pipeline
from zoo.data.sources import IMAGE_EXTENSIONS, TEXT_EXTENSIONS, load_dataset, topics_path
from zoo.data.split import split
from zoo.spec import Modality

__all__ = [
    "AUGMENTATIONS",
    "IMAGE_EXTENSIONS",
    "TASKS",
    "TEXT_EXTENSIONS",
    "Dataset",
    "Modality",
    "Task",
    "augmentation_layers",
    "decode_image",
    "image_pipeline",
    "load_dataset",
    "pipeline",
    "read_image",
    "scan_files",
    "split",
    "text_pipeline",
    "topics_path",
]
