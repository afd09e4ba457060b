"""The zoo's own Keras layers, for text models only: strings to tokens, and tokens to one vector.

Image models need none: their preprocessing is built-in Keras layers (see
:func:`zoo.backbones.preprocessing_graph`), so their ``model.keras`` loads without the zoo. These
layers register when this module is imported, which the zoo does when it builds or loads a model
(``zoo.backbone``, ``zoo.build``, ``zoo.load_model``); a bare ``import zoo`` stays light.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class TextPooling(keras.layers.Layer):
    """Reduce token vectors ``(batch, tokens, dim)`` to one vector per text, as a spec declares.

    ``mode``: ``mean`` or ``max`` over the tokens the padding mask keeps, or ``cls`` (first token);
    ``normalize`` then divides by the L2 norm.

    >>> vectors = ops.convert_to_tensor([[[1.0, 2.0], [3.0, 4.0], [9.0, 9.0]]])
    >>> mask = ops.convert_to_tensor([[True, True, False]])
    >>> ops.convert_to_numpy(TextPooling("mean")(vectors, mask)).tolist()
    [[2.0, 3.0]]
    """

    def __init__(self, mode: str = "mean", normalize: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mode = mode
        self.normalize = bool(normalize)

    def call(self, vectors: Any, padding_mask: Any) -> Any:
        vectors = ops.cast(vectors, "float32")
        mask = ops.expand_dims(ops.cast(padding_mask, "float32"), -1)
        if self.mode == "cls":
            pooled = vectors[:, 0, :]
        elif self.mode == "max":
            pooled = ops.max(vectors * mask - (1.0 - mask) * 1e9, axis=1)
        else:
            pooled = ops.sum(vectors * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1e-9)
        if self.normalize:
            pooled = pooled / ops.maximum(ops.sqrt(ops.sum(ops.square(pooled), axis=-1, keepdims=True)), 1e-12)
        return pooled

    def compute_output_shape(
        self, vectors_shape: tuple[Any, ...], padding_mask_shape: tuple[Any, ...]
    ) -> tuple[Any, ...]:
        return (vectors_shape[0], vectors_shape[-1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode, "normalize": self.normalize}


@keras.saving.register_keras_serializable(package="zoo")
class Lowercase(keras.layers.Layer):
    """Unicode lower-casing of strings as Python's ``str.lower`` does it ("Straße" stays "straße").

    Tokenizers' own case folding turns "ß" into "ss", which BERT-style vocabularies were not trained
    on; text specs with ``lowercase=True`` get this layer in front of their tokenizer instead.
    Strings are a TensorFlow-only type, so this layer needs the TensorFlow backend.
    """

    def call(self, text: Any) -> Any:
        import tensorflow as tf

        return tf.strings.lower(text, encoding="utf-8")

    def compute_output_spec(self, text: Any) -> Any:
        return keras.KerasTensor(text.shape, dtype="string")


@keras.saving.register_keras_serializable(package="zoo")
class Tokenize(keras.layers.Layer):
    """Wrap a plugin's tokenizer layer (strings -> dict of ``(batch, sequence_length)`` tensors).

    It declares its output instead of tracing the tokenizer, so a saved model rebuilds before the
    tokenizer's vocabulary (a saved asset) is loaded back: ``zoo.load_model`` works on text models.
    """

    def __init__(self, tokenizer: Any, sequence_length: int, outputs: dict[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(tokenizer, dict):
            tokenizer = keras.saving.deserialize_keras_object(tokenizer)
        self.tokenizer = tokenizer
        self.sequence_length = int(sequence_length)
        self.outputs = dict(outputs)

    @classmethod
    def around(cls, tokenizer: Any, sequence_length: int, **kwargs: Any) -> Tokenize:
        """Wrap ``tokenizer``, finding its output names and dtypes by running it once."""
        sample = tokenizer(keras.ops.convert_to_tensor([""], dtype="string"))
        outputs = {key: keras.backend.standardize_dtype(value.dtype) for key, value in sample.items()}
        return cls(tokenizer, sequence_length, outputs, **kwargs)

    @contextlib.contextmanager
    def reading_one_more(self) -> Iterator[int]:
        """Within it the tokenizer reads one token past its window, where its ``sequence_length`` can be set (as
        keras-hub's preprocessors' can); it yields the count from which a text was cut: the window + 1, or
        the window itself where the tokenizer cannot read further (a text that ends exactly there then counts).
        """
        length = getattr(self.tokenizer, "sequence_length", None)
        if not isinstance(length, int):
            yield self.sequence_length
            return
        self.tokenizer.sequence_length = length + 1
        try:
            yield length + 1
        finally:
            self.tokenizer.sequence_length = length

    def build(self, input_shape: Any = None) -> None:
        self.built = True  # a tokenizer has a vocabulary, not weights

    def call(self, text: Any) -> Any:
        return self.tokenizer(text)

    def compute_output_spec(self, text: Any) -> Any:
        shape = (text.shape[0], self.sequence_length)
        return {key: keras.KerasTensor(shape, dtype=dtype) for key, dtype in self.outputs.items()}

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "tokenizer": keras.saving.serialize_keras_object(self.tokenizer),
            "sequence_length": self.sequence_length,
            "outputs": self.outputs,
        }
