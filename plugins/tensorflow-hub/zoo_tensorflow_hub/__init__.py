"""backbone-zoo plugin: TF Hub image feature vectors and local TF2 SavedModels as backbones.

Every catalogue name ends in ``_tfhub`` (``resnet50_v2_tfhub``), so it never clashes with the
Keras builds of the same architecture. The networks pool themselves: ``feature_shape`` is
``(feature_dim,)``. ``weights="default"`` fetches the TF Hub handle (``tensorflow_hub`` is imported
only then); ``weights=Path(...)`` is a local SavedModel directory; ``weights=None`` is refused, since
a SavedModel has no random initialisation. Nothing here imports TensorFlow until a backbone is built.

It also registers the ``backbones.toml`` sources ``savedmodel`` and ``hub``
(:mod:`zoo_tensorflow_hub.sources`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import zoo
from zoo import BackboneSpec, ConfigSource, Preprocessing, TextPreprocessing, WeightsError, WeightsVariant, hookimpl

# TF Hub's image models take RGB in [0, 1]: the zoo scales raw [0, 255] pixels by 1/255.
UNIT = Preprocessing(mode="unit", scale=1 / 255)

USE = "https://tfhub.dev/google/universal-sentence-encoder/4"
# (zoo name, TF Hub handle, input size, feature_dim, reference)
CATALOGUE: list[tuple[str, str, int, int, str]] = [
    (
        "efficientnet_v2_b0_tfhub",
        "https://tfhub.dev/google/imagenet/efficientnet_v2_imagenet1k_b0/feature_vector/2",
        224,
        1280,
        "https://arxiv.org/abs/2104.00298",
    ),
    (
        "resnet50_v2_tfhub",
        "https://tfhub.dev/google/imagenet/resnet_v2_50/feature_vector/5",
        224,
        2048,
        "https://arxiv.org/abs/1603.05027",
    ),
    (
        "mobilenet_v2_tfhub",
        "https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/feature_vector/5",
        224,
        1280,
        "https://arxiv.org/abs/1801.04381",
    ),
    (
        "mobilenet_v3_small_tfhub",
        "https://tfhub.dev/google/imagenet/mobilenet_v3_small_100_224/feature_vector/5",
        224,
        1024,
        "https://arxiv.org/abs/1905.02244",
    ),
    (
        "inception_v3_tfhub",
        "https://tfhub.dev/google/imagenet/inception_v3/feature_vector/5",
        299,
        2048,
        "https://arxiv.org/abs/1512.00567",
    ),
]


def resolve(handle: str) -> Path:
    """The local SavedModel directory of a TF Hub handle (downloaded once into ``$TFHUB_CACHE_DIR``).

    >>> resolve("https://tfhub.dev/google/imagenet/resnet_v2_50/feature_vector/5")  # doctest: +SKIP
    PosixPath('/tmp/tfhub_modules/...')
    """
    try:
        import tensorflow_hub
    except ImportError as err:  # 0.16 imports pkg_resources, gone from setuptools >= 81
        raise ImportError(f"tensorflow_hub cannot be imported ({err}); pip install 'setuptools<81'") from err
    try:
        return Path(tensorflow_hub.resolve(handle))
    except Exception as err:  # urllib, HTTP and archive errors alike
        raise WeightsError(
            f"Could not fetch the TF Hub handle {handle} ({type(err).__name__}: {err}): the first use needs internet "
            "(then it is cached in $TFHUB_CACHE_DIR); offline, pass a local SavedModel directory "
            "as weights=Path('/path/to/saved_model')."
        ) from err


def saved_model_network(
    path: str | os.PathLike,
    input_shape: tuple[int, ...],
    *,
    feature_dim: int | None = None,
    signature: str | None = None,
    output_key: str | None = None,
) -> Any:
    """A ``keras.Model`` from the preprocessed input to the SavedModel's (pooled) features.

    >>> saved_model_network("/models/my_saved_model", (224, 224, 3)).output_shape  # doctest: +SKIP
    (None, 1280)
    """
    import keras

    from zoo_tensorflow_hub.layer import SavedModelLayer

    inputs = keras.Input(input_shape) if input_shape else keras.Input(shape=(), dtype="string")  # () is text
    layer = SavedModelLayer(str(path), signature=signature, output_key=output_key, name="saved_model")
    outputs = layer(inputs)
    if len(outputs.shape) != 2 or (feature_dim is not None and outputs.shape[-1] != feature_dim):
        raise WeightsError(
            f"The SavedModel {path} gives features of shape {tuple(outputs.shape)}, expected (None, {feature_dim}): "
            "use a pooled feature-vector model"
        )
    return keras.Model(inputs, outputs)


def no_random_weights(name: str, default: str) -> WeightsError:
    """The error for ``weights=None`` (``--weights none``): a SavedModel has no random initialisation.

    >>> print(no_random_weights("m", "its handle"))  # doctest: +ELLIPSIS
    m is a SavedModel, which has no random initialisation: use its default weights (its handle; --weights default, ...
    """
    return WeightsError(
        f"{name} is a SavedModel, which has no random initialisation: use its default weights ({default}; "
        "--weights default, weights='default') or a local SavedModel directory (--weights DIR, weights=Path(DIR))"
    )


def build(spec: BackboneSpec, *, weights: str | Path | None, input_shape: tuple[int, ...]) -> Any:
    """The factory of every catalogue entry: ``weights`` is the ``tfhub`` tag or a local SavedModel directory."""
    handle = spec.weights[0].url
    if weights is None:
        raise no_random_weights(spec.name, f"the TF Hub handle {handle}")
    path = weights if isinstance(weights, Path) else resolve(handle)
    if spec.modality == "text":  # a text SavedModel takes the strings themselves, and pools them
        return zoo.TextNetwork(tokenizer=None, encoder=saved_model_network(path, (), feature_dim=spec.feature_dim))
    return saved_model_network(path, input_shape, feature_dim=spec.feature_dim)


@hookimpl
def register_config_sources() -> list[ConfigSource]:
    """``savedmodel`` (a local SavedModel directory) and ``hub`` (a TF Hub handle) in ``backbones.toml``."""
    from zoo_tensorflow_hub.sources import SOURCES

    return SOURCES


@hookimpl
def register_backbones() -> list[BackboneSpec]:
    return [
        BackboneSpec(
            name=name,
            family="tfhub",
            input_shape=(size, size, 3),
            feature_dim=dim,
            feature_shape=(dim,),
            preprocessing=UNIT,
            weights=(WeightsVariant(tag="tfhub", source="tfhub.dev", license="Apache-2.0", url=handle),),
            description=f"TF Hub feature vector {handle} (pooled, RGB in [0, 1])",
            reference=reference,
            factory=build,
        )
        for name, handle, size, dim, reference in CATALOGUE
    ] + [
        BackboneSpec(
            name="universal_sentence_encoder_tfhub",
            family="tfhub",
            modality="text",
            input_shape=(),
            feature_dim=512,
            feature_shape=(512,),
            preprocessing=TextPreprocessing(
                tokenizer="inside the SavedModel", sequence_length=512, lowercase=False, pooling="none"
            ),
            weights=(WeightsVariant(tag="tfhub", source="tfhub.dev", license="Apache-2.0", url=USE),),
            description=f"Universal Sentence Encoder {USE}: strings in, 512-d sentence vectors out",
            reference="https://arxiv.org/abs/1803.11175",
            factory=build,
        )
    ]


@hookimpl
def register_keras_objects(trusted: Sequence[str]) -> list[type]:
    """:class:`SavedModelLayer`, so that a saved model holding one loads in a new process (TensorFlow backend).

    ``trusted`` are the SavedModels the zoo's trust record vouches for (their SHA-256 checked just now):
    they load under safe mode; any other SavedModel is still refused.
    """
    import keras

    if keras.config.backend() != "tensorflow":  # the layer is TensorFlow's; never import it into another backend
        return []
    from zoo_tensorflow_hub import layer

    for path in trusted:
        layer.trust(path)
    return [layer.SavedModelLayer]


@hookimpl
def external_files(layer: Any) -> list[str] | None:
    """The SavedModel directory a :class:`SavedModelLayer` loads (and whose graph runs) when the model is loaded."""
    module = sys.modules.get("zoo_tensorflow_hub.layer")  # not imported: no SavedModelLayer exists
    return [layer.filepath] if module is not None and isinstance(layer, module.SavedModelLayer) else None


def __getattr__(name: str) -> Any:
    """``SavedModelLayer`` and ``trust`` come from :mod:`zoo_tensorflow_hub.layer`, which imports TensorFlow."""
    if name in ("SavedModelLayer", "trust"):
        from zoo_tensorflow_hub import layer

        return getattr(layer, name)
    raise AttributeError(f"module 'zoo_tensorflow_hub' has no attribute {name!r}")
