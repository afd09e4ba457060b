"""The image data layer: read a folder, a CSV manifest or arrays into a checked :class:`Dataset`, then stream it.

>>> import numpy as np
>>> from zoo.data import load_dataset, split
>>> train, val = split(load_dataset((np.zeros((10, 8, 8, 3)), [0, 1] * 5)), val_fraction=0.2)
>>> len(train), len(val)
(8, 2)

:mod:`zoo.data.sources` imports neither TensorFlow nor Keras; :func:`image_pipeline` imports them when called.
"""

from zoo.data.images import AUGMENTATIONS, augmentation_layers, decode_image, image_pipeline, scan_files
from zoo.data.sources import IMAGE_EXTENSIONS, TASKS, Dataset, Task, load_dataset, split

__all__ = [
    "AUGMENTATIONS",
    "IMAGE_EXTENSIONS",
    "TASKS",
    "Dataset",
    "Task",
    "augmentation_layers",
    "decode_image",
    "image_pipeline",
    "load_dataset",
    "scan_files",
    "split",
]
