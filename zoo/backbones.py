"""Build a registered backbone as a Keras model that takes raw input and does its own preprocessing."""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from zoo.errors import InputShapeError, WeightsError
from zoo.plugins import get_spec
from zoo.spec import BackboneSpec

if TYPE_CHECKING:
    import keras

Weights = str | os.PathLike | None
POOLINGS = ("avg", "max", "flatten", None)
_WARNED: dict = {}


def backbone(
    name: str,
    weights: Weights = "default",
    input_shape: int | tuple[int, ...] | None = None,
    trainable: bool = False,
    pooling: Literal["avg", "max", "flatten"] | None = "avg",
) -> keras.Model:
    """The backbone ``name`` as a ``keras.Model`` from RAW RGB pixels in [0, 255] to features.

    The spec's preprocessing is inside the model, so feed it pixels as decoded from the file.
    ``weights``: ``"default"`` (the plugin's pretrained weights; downloaded once and cached where
    there is internet), ``None`` (random init), a weights tag the spec lists, or a local path.
    ``input_shape`` overrides the declared size (an int means a square RGB image). ``pooling``
    ``"avg"`` or ``"max"`` gives ``(N, feature_dim)``; ``None`` gives the last feature map.

    >>> model = backbone("mobilenet_v3_small", weights=None, input_shape=64)
    >>> model.output_shape
    (None, 576)
    """
    import keras

    spec = get_spec(name)
    pixels, features = feature_graph(spec, weights, input_shape, trainable, pooling)
    return keras.Model(pixels, features, name=spec.name)


def feature_graph(
    spec: BackboneSpec,
    weights: Weights,
    input_shape: int | tuple[int, ...] | None,
    trainable: bool,
    pooling: str | None,
) -> tuple[Any, Any]:
    """The functional graph every zoo model starts with: ``(raw input, features)`` Keras tensors.

    Layers are named ``preprocessing``, ``backbone`` (the network), and ``pool`` (the reducer:
    ``avg``, ``max``, ``flatten``, or none), so the trainer can cut a model at its features. A text
    backbone always pools as its spec declares (``pooling`` does not apply): strings in, vectors out.

    >>> from zoo.plugins import get_spec
    >>> pixels, features = feature_graph(get_spec("mobilenet_v2"), None, 32, False, "flatten")
    >>> tuple(features.shape)
    (None, 1280)
    """
    import keras

    from zoo.layers import ImagePreprocessing, Lowercase, TextPooling, Tokenize

    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    shape = resolve_input_shape(spec, input_shape)
    if spec.modality == "text":
        pre = dataclasses.replace(spec.preprocessing, sequence_length=shape[0])
        spec = dataclasses.replace(spec, preprocessing=pre)
        built = build_network(spec, weights, shape)
        text = keras.Input(shape=(), dtype="string", name="text")
        lowered = Lowercase(name="lowercase")(text) if pre.lowercase else text
        if pre.pooling == "none":  # strings -> vectors in one network (e.g. a SavedModel)
            built.name, built.trainable = "backbone", trainable
            return text, keras.layers.Identity(name="pool")(built(lowered))
        tokenizer, encoder = built
        encoder.name = "backbone"
        encoder.trainable = trainable
        tokens = Tokenize.around(tokenizer, pre.sequence_length, name="preprocessing")(lowered)
        features = TextPooling(pre.pooling, pre.normalize, name="pool")(encoder(tokens), tokens["padding_mask"])
        return text, features
    network = build_network(spec, weights, shape)
    network.name = "backbone"  # one name for every family: the trainer finds the network by it
    network.trainable = trainable

    pixels = keras.Input(shape=shape, name="pixels")
    x = ImagePreprocessing.from_spec(spec.preprocessing, name="preprocessing")(pixels)
    x = network(x)
    if pooling is not None:  # a network that pools itself gets an identity, so "pool" always exists
        reducer = _reducers()[pooling] if len(spec.feature_shape) > 1 else keras.layers.Identity
        x = reducer(name="pool")(x)
    return pixels, x


def build_network(spec: BackboneSpec, weights: Weights, input_shape: tuple[int, ...]) -> keras.Model:
    """Call the spec's factory (preprocessed input -> feature map), turning load failures into :class:`WeightsError`.

    >>> from zoo.plugins import get_spec
    >>> build_network(get_spec("resnet50"), None, (32, 32, 3)).output_shape
    (None, 1, 1, 2048)
    """
    resolved = resolve_weights(spec, weights)
    with warnings.catch_warnings(record=True) as caught:
        warnings.filterwarnings("always", message=".*freshly-initialized")
        try:
            network = spec.factory(spec, weights=resolved, input_shape=input_shape)
        except Exception as err:  # the factory's loader raises many types; keep the cause chained
            if resolved is None:
                raise
            raise _weights_error(spec, resolved, err) from err
    skipped = [w for w in caught if "freshly-initialized" in str(w.message)]
    if skipped and resolved is not None:  # Keras loaded the file only in part: never run on random layers
        raise _weights_error(spec, resolved, RuntimeError(f"{len(skipped)} parts were left unloaded"))
    for w in caught:  # pass the rest on, once per place as usual
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, registry=_WARNED)
    return network


def _weights_error(spec: BackboneSpec, resolved: str | Path, err: BaseException) -> WeightsError:
    if isinstance(resolved, Path):
        return WeightsError(
            f"Could not load weights from {resolved} into backbone {spec.name!r}: {type(err).__name__}: "
            f"{_first_line(err)}. Check that the file is not damaged and was saved from {spec.name} without "
            "its classification top (e.g. keras.applications with include_top=False)."
        )
    return WeightsError(
        f"Could not get the {resolved!r} weights of {spec.name!r} ({type(err).__name__}: {_first_line(err)}). "
        "They are downloaded once and cached, which needs internet; offline, pass a local path "
        "(weights='path/to/weights'), or weights=None for random initialisation where the backbone has one."
    )


def resolve_weights(spec: BackboneSpec, weights: Weights) -> str | Path | None:
    """Map the user's ``weights`` to what the factory receives: ``None``, a declared tag, or an existing path.

    >>> from zoo.plugins import get_spec
    >>> resolve_weights(get_spec("resnet50"), "default")
    'imagenet'
    """
    if weights is None:
        return None
    tags = [w.tag for w in spec.weights]
    if weights == "default":
        if spec.default_weights is None:
            raise WeightsError(
                f"Backbone {spec.name!r} declares no pretrained weights; pass weights=None or a local path."
            )
        return spec.default_weights
    if isinstance(weights, str) and weights in tags:
        return weights
    if not isinstance(weights, (str, os.PathLike)):
        raise WeightsError(f"weights must be 'default', None, a tag or a path, got {type(weights).__name__}")
    path = Path(weights).expanduser()
    if path.exists():
        return path.resolve()
    if isinstance(weights, str) and os.sep not in weights and "." not in weights:
        raise WeightsError(
            f"Unknown weights {weights!r} for {spec.name!r}: use 'default', None, one of {tags} "
            "or the path of a local weights file."
        )
    raise WeightsError(f"Weights file not found: {path}. Pass an existing path, 'default' or None.")


def resolve_input_shape(spec: BackboneSpec, input_shape: int | tuple[int, ...] | None) -> tuple[int, ...]:
    """The declared input shape, or the user's override after checking the architecture can take it.

    >>> from zoo.plugins import get_spec
    >>> resolve_input_shape(get_spec("resnet50"), 64)
    (64, 64, 3)

    A text backbone's input shape is the number of tokens it reads of each string (``(256,)``).
    """
    if spec.modality == "text":  # (tokens,): how many tokens of each string the model reads
        declared = spec.preprocessing.sequence_length
        length = declared if input_shape in (None, ()) else input_shape
        length = length[0] if isinstance(length, tuple) and len(length) == 1 else length
        if not isinstance(length, int) or length < 2:
            raise InputShapeError(f"{spec.name} reads strings: its input_shape is a token count (default {declared})")
        return (length,)
    if input_shape is None:
        return tuple(spec.input_shape)
    channels = spec.input_shape[-1]
    shape = (input_shape, input_shape, channels) if isinstance(input_shape, int) else tuple(input_shape)
    if len(shape) == 2:
        shape = (*shape, channels)
    if len(shape) != 3 or not all(isinstance(d, int) and d > 0 for d in shape):
        raise InputShapeError(f"input_shape must be (height, width, {channels}) or an int, got {input_shape!r}")
    if shape[-1] != channels:
        raise InputShapeError(
            f"{spec.name} takes {channels}-channel RGB images, got input_shape {shape}; convert grayscale or "
            f"RGBA images to RGB (the zoo's data readers do), and pass (height, width, {channels})."
        )
    if min(shape[:2]) < spec.min_input_size:
        raise InputShapeError(
            f"{spec.name} needs images of at least {spec.min_input_size}x{spec.min_input_size}, "
            f"got {shape[0]}x{shape[1]}; use a larger input_shape (declared: {list(spec.input_shape)})."
        )
    return shape


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [""])[0][:300]


def _reducers() -> dict[str, Any]:
    import keras

    return {
        "avg": keras.layers.GlobalAveragePooling2D,
        "max": keras.layers.GlobalMaxPooling2D,
        "flatten": keras.layers.Flatten,
    }
