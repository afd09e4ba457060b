"""``SavedModelLayer``: a TF2 SavedModel inside a Keras 3 model, frozen or fine-tuned.

``keras.layers.TFSMLayer`` cannot be fine-tuned with Adam (its variable names keep the ``:0``
suffix, which optimizer slot names refuse) and ``tensorflow_hub.KerasLayer`` is a Keras 2 layer.
This layer wraps each of the SavedModel's ``tf.Variable`` objects in a ``keras.Variable`` that
shares its storage (no copy), so the optimizer updates the very variables the SavedModel's
function reads. Trainable variables follow the layer's ``trainable``; the rest (BatchNorm
statistics) never train. TensorFlow backend only.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf
from keras.src.saving import serialization_lib  # in_safe_mode() has no public name

_TRUSTED: set[str] = set()


def trust(path: str | os.PathLike) -> None:
    """Allow ``path`` to be reloaded by a saved model under ``safe_mode=True`` (as ``zoo.load_model`` does).

    Loading a SavedModel runs its graph, so, like ``keras.layers.TFSMLayer``, a saved model that
    points at one is refused in safe mode, except for directories this process built from or trusts.
    This lasts one process; what lasts is the zoo's trust record: ``zoo.save_model`` records the
    SHA-256 of the SavedModel (through the plugin's ``external_files`` hook) and ``zoo.load_model``,
    in any process, trusts it again while the files on disk still match.

    >>> trust("/models/my_saved_model")
    """
    _TRUSTED.add(str(Path(path).expanduser().resolve()))


@keras.saving.register_keras_serializable(package="zoo_tensorflow_hub")
class SavedModelLayer(keras.layers.Layer):
    """Call a TF2 SavedModel (its ``__call__``, or the signature ``signature``) on one float or string tensor.

    ``output_key`` picks one output when the function returns a dict (needed only when it has several).

    >>> layer = SavedModelLayer("/models/my_saved_model", trainable=True)  # doctest: +SKIP
    >>> layer(tf.zeros((1, 224, 224, 3))).shape  # doctest: +SKIP
    TensorShape([1, 1280])
    """

    def __init__(
        self, filepath: str, signature: str | None = None, output_key: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.filepath = str(filepath)
        self.signature = signature
        self.output_key = output_key
        self._loaded = tf.saved_model.load(self.filepath)
        self._function = _endpoint(self._loaded, self.filepath, signature)
        trainable = {id(v) for v in _variables(self._loaded, trainable_only=True)}
        with keras.name_scope(self.name):  # variable paths like "saved_model/conv_kernel"
            for variable in _variables(self._loaded):
                wrapped = keras.Variable(variable, trainable=id(variable) in trainable, name=_clean(variable.name))
                self._track_variable(wrapped)
        trust(self.filepath)
        self.built = True

    def call(self, inputs: Any) -> Any:
        outputs = self._function(inputs if inputs.dtype == tf.string else tf.cast(inputs, "float32"))
        if isinstance(outputs, dict):
            if self.output_key is None and len(outputs) != 1:
                raise ValueError(
                    f"The SavedModel {self.filepath} returns {sorted(outputs)}: pick one with output_key=..."
                )
            outputs = outputs[self.output_key or next(iter(outputs))]
        return outputs

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filepath": self.filepath,
            "signature": self.signature,
            "output_key": self.output_key,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SavedModelLayer:
        path = str(Path(config["filepath"]).expanduser().resolve())
        if serialization_lib.in_safe_mode() and path not in _TRUSTED:
            raise ValueError(
                f"This model calls the SavedModel {path}, whose graph would run on load, so safe mode refuses it. "
                "Load it with zoo.load_model (which trusts the SavedModel it was saved with, while unchanged), "
                "or, if you trust it, call zoo_tensorflow_hub.trust(path) first."
            )
        return cls(**config)


def _endpoint(loaded: Any, path: str, signature: str | None) -> Any:
    """The function to call: ``signature`` (one tensor input, keyword-called), else ``__call__``."""
    signatures = dict(getattr(loaded, "signatures", {}))
    if signature is None and callable(loaded):
        return loaded.__call__
    name = signature or ("serving_default" if len(signatures) == 1 and "serving_default" in signatures else None)
    if name not in signatures:
        raise ValueError(
            f"The SavedModel {path} has no usable function: "
            + (f"no signature {signature!r}" if signature else "it has no __call__")
            + f" (its signatures: {sorted(signatures) or 'none'}). Save it with a @tf.function __call__ "
            "or a signature, or pass signature=<name>."
        )
    function = signatures[name]
    _, keywords = function.structured_input_signature
    if len(keywords) != 1:
        raise ValueError(f"The signature {name!r} of {path} takes {sorted(keywords)}; only one input is supported")
    (key,) = keywords
    return lambda x: function(**{key: x})


def _variables(loaded: Any, trainable_only: bool = False) -> list[Any]:
    """The SavedModel's variables, in a stable order: TF Hub's ``variables`` attributes, else every tracked one."""
    attribute = "trainable_variables" if trainable_only else "variables"
    if hasattr(loaded, attribute):
        return list(getattr(loaded, attribute))
    found = [v for v in tf.train.TrackableView(loaded).descendants() if isinstance(v, tf.Variable)]
    unique = list({id(v): v for v in found}.values())
    return [v for v in unique if v.trainable] if trainable_only else unique


def _clean(name: str) -> str:
    """A Keras variable name: ``dense/kernel:0`` -> ``dense_kernel`` (optimizer slots derive names from it)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name.split(":")[0]) or "variable"
