"""The SavedModel writer: raw-input serving signatures (``serving_default``: images of any size, resized inside,
or strings; ``features``: the pooled backbone features), checked against Keras."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.data.text import counting_cut_texts
from zoo.exports.formats import FEATURES, SERVING
from zoo.exports.parity import keras_outputs, max_diff, parity

if TYPE_CHECKING:
    from zoo.exports.job import Job


def write_savedmodel(job: Job, folder: Path) -> dict[str, Any]:
    """Write the SavedModel of ``job`` into ``folder``; its details for metadata.json (signatures, parity)."""
    import keras
    import tensorflow as tf

    model, config, src = job.model, job.src.config, job.src
    features_model = keras.Model(model.inputs, model.get_layer(config.parts.features).output, name="features")
    names = tf.constant(list(src.labels) or [""], dtype=tf.string)
    prepare = _resize_inside(job)
    truncated = _truncated(job)

    def serve(inputs: Any) -> dict[str, Any]:
        outputs = model(prepare(inputs), training=False)
        if config.task == "regression":
            result = {"values": outputs}
        else:
            result = {"probabilities": outputs, "classes": tf.tile(names[None], [tf.shape(outputs)[0], 1])}
        if config.task == "classification":
            result["label"] = tf.gather(names, tf.argmax(outputs, axis=-1))
        if truncated is not None:
            result["truncated"] = truncated(inputs)
        return result

    def features(inputs: Any) -> dict[str, Any]:
        result = {"features": features_model(prepare(inputs), training=False)}
        if truncated is not None:
            result["truncated"] = truncated(inputs)
        return result

    archive = keras.export.ExportArchive()  # no track(): it would save every variable twice (Keras 3.15)
    archive.add_endpoint(SERVING, serve, input_signature=[job.input_spec(any_size=True)])
    archive.add_endpoint(FEATURES, features, input_signature=[job.input_spec(any_size=True)])
    archive.write_out(str(folder), verbose=False)
    details: dict[str, Any] = {"signatures": _signatures(job, features_model.output_shape[-1])}
    if job.check:
        loaded = tf.saved_model.load(str(folder))
        key = job.input_spec(True).name

        def run(fn: Any, x: np.ndarray, output: str) -> np.ndarray:
            batches = [fn(**{key: tf.constant(x[i : i + 32])})[output].numpy() for i in range(0, len(x), 32)]
            return np.concatenate(batches)

        details["parity"] = parity(job, lambda x: run(loaded.signatures[SERVING], x, src.output_name))
        if details["parity"].get("examples"):
            x = job.examples.for_check()[0]
            got = run(loaded.signatures[FEATURES], x, "features")
            details["parity"]["features_max_abs_diff"] = max_diff(got, keras_outputs(features_model, x))
    return details


def _resize_inside(job: Job) -> Callable[[Any], Any]:
    """Strings pass through; images of any size become float32 at the training size, as ``zoo predict`` does."""
    if job.src.text:
        return lambda texts: texts
    from zoo.data.pipelines import resize_images

    return lambda images: resize_images(images, job.src.image_size, job.src.interpolation)


def _truncated(job: Job) -> Callable[[Any], Any] | None:
    """For a text model that tokenizes in its own layers: strings -> whether each is longer than the token
    window, so was cut, counted as the trainer and ``zoo predict`` count it (:func:`counting_cut_texts`).
    None for an image model, or a text network that tokenizes inside one layer (a SavedModel): there are
    no tokens to count."""
    steps = job.src.text_steps
    if not steps:
        return None
    import tensorflow as tf

    def truncated(texts: Any) -> Any:
        tokens = texts
        with counting_cut_texts(steps) as cut_from:  # traced: the graph keeps the longer window
            for layer in steps:
                tokens = layer(tokens)
        return tf.reduce_sum(tf.cast(tokens["padding_mask"], tf.int32), axis=1) >= cut_from

    return truncated


def _signatures(job: Job, feature_dim: int) -> dict[str, Any]:
    """What each signature returns, for metadata.json."""
    task, labels = job.src.config.task, len(job.src.labels)
    outputs: dict[str, Any] = {}
    if task == "regression":
        outputs["values"] = {"dtype": "float32", "shape": [None, job.src.config.num_outputs]}
    else:
        kind = "softmax" if task == "classification" else "sigmoid, one per class"
        outputs["probabilities"] = {"dtype": "float32", "shape": [None, labels], "meaning": kind}
        outputs["classes"] = {"dtype": "string", "shape": [None, labels], "meaning": "the class names, in order"}
        if task == "classification":
            outputs["label"] = {"dtype": "string", "shape": [None], "meaning": "the most probable class"}
    features = {"features": {"dtype": "float32", "shape": [None, feature_dim], "meaning": "pooled features"}}
    if job.src.text_steps:
        length = job.src.sequence_length
        meaning = (f"the text is longer than the {length} tokens the model reads (the length fitted to the "
                   "run's training texts): it was cut there")  # fmt: skip
        flag = {"dtype": "bool", "shape": [None], "meaning": meaning}
        outputs["truncated"] = features["truncated"] = flag  # type: ignore[assignment]
    return {SERVING: outputs, FEATURES: features}
