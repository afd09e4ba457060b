"""Build a registered backbone as a Keras model that takes raw input and does its own preprocessing."""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from zoo.config import ModelParts
from zoo.console import load_framework
from zoo.errors import ConfigError, InputShapeError, PluginError, WeightsError, ZooError, first_line
from zoo.plugins import PLUGIN_FAULTS, get_spec, registry
from zoo.spec import BackboneSpec, Preprocessing, TextNetwork, level_stride

if TYPE_CHECKING:
    import keras

Weights = str | os.PathLike[str] | None
POOLINGS = ("avg", "max", "flatten", None)
FEATURES = ("final", "pyramid")
_WARNED: dict[Any, Any] = {}


def backbone(
    name: str,
    weights: Weights = "default",
    input_shape: int | tuple[int, ...] | None = None,
    trainable: bool = False,
    pooling: Literal["avg", "max", "flatten"] | None = "avg",
    features: Literal["final", "pyramid"] = "final",
) -> keras.Model:
    """The backbone ``name`` as a ``keras.Model`` from RAW RGB pixels in [0, 255] to features.

    The spec's preprocessing is inside the model, so feed it pixels as decoded from the file.
    ``weights``: ``"default"`` (the plugin's pretrained weights; downloaded once and cached where
    there is internet), ``None`` (random init), a weights tag the spec lists, or a local path.
    ``input_shape`` overrides the declared size (an int means a square RGB image). ``pooling``
    ``"avg"`` or ``"max"`` gives ``(N, feature_dim)``; ``None`` gives the last feature map.

    ``features="pyramid"`` gives instead a dict of feature maps, one per level the spec declares
    (``"P2"`` at stride 4 to ``"P5"`` at stride 32; see :func:`pyramid_graph`), for dense tasks such
    as segmentation or detection; ``pooling`` does not apply.

    >>> model = backbone("mobilenet_v3_small", weights=None, input_shape=64)
    >>> model.output_shape
    (None, 576)
    >>> maps = backbone("mobilenet_v3_small", weights=None, input_shape=64, features="pyramid").output
    >>> {level: tuple(x.shape[1:]) for level, x in maps.items()}
    {'P2': (16, 16, 16), 'P3': (8, 8, 24), 'P4': (4, 4, 48), 'P5': (2, 2, 96)}
    """
    load_framework()  # TensorFlow starts without its start-up lines, as for every command
    import keras

    spec = get_spec(name)
    if features not in FEATURES:
        raise ConfigError(f"features must be one of {FEATURES}, got {features!r}")
    if features == "pyramid":
        inputs, outputs = pyramid_graph(spec, weights, input_shape, trainable)
    else:
        inputs, outputs, _ = feature_graph(spec, weights, input_shape, trainable, pooling)
    return keras.Model(inputs, outputs, name=spec.name)


def pyramid_graph(
    spec: BackboneSpec, weights: Weights, input_shape: int | tuple[int, ...] | None, trainable: bool
) -> tuple[Any, dict[str, Any]]:
    """Raw pixels -> preprocessing -> the network's maps at the levels its spec declares: ``(pixels, maps)``.

    ``maps`` maps each level of ``spec.pyramid`` (``"Pn"``, stride ``2**n``) to the output of the
    layer it names, of spatial size ``input / 2**n`` (rounded up or down as the network pads). The
    network is the plugin's, built once at ``input_shape``; its layers (and weights) are shared by
    every level, and it sits in the model as one nested model under its own name (see :func:`network_of`).

    >>> from zoo.plugins import get_spec
    >>> pixels, maps = pyramid_graph(get_spec("resnet50"), None, 64, False)
    >>> {level: tuple(x.shape) for level, x in maps.items()}["P5"]
    (None, 2, 2, 2048)
    """
    load_framework()
    import keras

    if not spec.pyramid:
        having = [s for s in registry().specs.values() if s.pyramid]  # its own family's first
        having = [s.name for s in sorted(having, key=lambda s: (s.family != spec.family, s.name))]  # type: ignore[misc]
        shown = ", ".join(having[:8]) + (f", ... ({len(having)} in all)" if len(having) > 8 else "")  # type: ignore[arg-type]
        raise ConfigError(f"{spec.name} declares no feature pyramid; backbones that do: {shown or 'none installed'}")
    shape = resolve_input_shape(spec, input_shape)
    network = _unclashed(build_network(spec, weights, shape), spec)
    network.trainable = trainable
    levels = keras.Model(network.inputs, _pyramid_outputs(spec, network, shape), name=network.name)
    pixels = keras.Input(shape=shape, name="pixels")
    return pixels, levels(preprocessing_graph(pixels, spec.preprocessing))  # type: ignore[arg-type]


def pyramid_sizes(spec: BackboneSpec, input_shape: int | tuple[int, ...] | None = None) -> dict[str, tuple[int, int]]:
    """The spatial size ``(height, width)`` of each declared pyramid level: the input divided by ``2**n``, rounded up.

    Computed from the spec alone (no Keras): what ``zoo info`` shows. Networks that pad as
    ``padding="same"`` give exactly these sizes; others may round down instead.

    >>> from zoo.plugins import get_spec
    >>> pyramid_sizes(get_spec("resnet50"))
    {'P2': (56, 56), 'P3': (28, 28), 'P4': (14, 14), 'P5': (7, 7)}
    """
    if not spec.pyramid:  # also a text backbone, whose input_shape is a token count
        return {}
    height, width = resolve_input_shape(spec, input_shape)[:2]
    return {level: (-(-height // level_stride(level)), -(-width // level_stride(level))) for level in spec.pyramid}


def _pyramid_outputs(spec: BackboneSpec, network: Any, shape: tuple[int, ...]) -> dict[str, Any]:
    """The outputs of the layers ``spec.pyramid`` names, checked against the strides their levels mean."""
    names = {layer.name for layer in network.layers}
    outputs, problems = {}, []
    for level, layer in spec.pyramid.items():
        if layer not in names:
            problems.append(f"has no layer {layer!r} (declared as pyramid level {level})")
            continue
        outputs[level] = output = network.get_layer(layer).output
        found, stride = tuple(output.shape[1:]), level_stride(level)
        sizes = [{size // stride, -(-size // stride)} for size in shape[:2]]
        if len(found) != 3 or not all(f is None or f in ok for f, ok in zip(found[:2], sizes, strict=True)):
            expected = "x".join("/".join(map(str, sorted(ok))) for ok in sizes)
            problems.append(
                f"gives pyramid level {level} (stride {stride}) from layer {layer!r} with shape {found}, "
                f"not a {expected} map at input {shape[0]}x{shape[1]}"
            )
    if problems:
        raise PluginError(
            f"The network of backbone {spec.name!r} (plugin {spec.plugin!r}) {'; it '.join(problems)}. A spec "
            "must describe the network its factory builds: fix the spec's pyramid or the factory (see docs/plugins.md)."
        )
    return outputs


def feature_graph(
    spec: BackboneSpec,
    weights: Weights,
    input_shape: int | tuple[int, ...] | None,
    trainable: bool,
    pooling: str | None,
) -> tuple[Any, Any, ModelParts]:
    """The functional graph every zoo model starts with: ``(raw input, features, parts)``.

    ``parts`` names the layers the trainer needs (the network, the layer giving the features, the
    text steps); the head's name is filled in by :func:`zoo.build`. An image graph is built-in
    Keras layers around the plugin's network. A text backbone always pools as its spec declares
    (``pooling`` does not apply): strings in, vectors out.

    >>> from zoo.plugins import get_spec
    >>> pixels, features, parts = feature_graph(get_spec("mobilenet_v2"), None, 32, False, "flatten")
    >>> tuple(features.shape), parts.features
    ((None, 1280), 'pool')
    """
    load_framework()
    import keras

    import zoo.layers  # noqa: F401  (registers the text layers before any zoo model exists)

    if pooling not in POOLINGS:
        raise ConfigError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    shape = resolve_input_shape(spec, input_shape)
    if spec.modality == "text":
        return _text_graph(spec, weights, shape, trainable)
    network = _unclashed(build_network(spec, weights, shape), spec)
    network.trainable = trainable
    pixels = keras.Input(shape=shape, name="pixels")
    x = network(preprocessing_graph(pixels, spec.preprocessing))  # type: ignore[arg-type]
    last = network
    if pooling is not None:  # a network that pools itself gets an identity, so the features have one name
        last = (_reducers()[pooling] if spec.reduces else keras.layers.Identity)(name="pool")
        x = last(x)
    return pixels, x, ModelParts(network=network.name, features=last.name, head="")


# The names of the layers the zoo puts around a network; a network of that name is renamed to fit in.
ZOO_LAYER_NAMES = frozenset({"pixels", "preprocessing", "pool", "head", "text", "lowercase", "tokenize"})


def _unclashed(network: Any, spec: BackboneSpec) -> Any:
    if network.name in ZOO_LAYER_NAMES:
        network.name = f"{spec.name}_network"
    return network


def network_of(model: keras.Model) -> keras.Model:
    """The plugin's network inside a zoo model (from ``zoo.build``, ``zoo.backbone`` or ``zoo.load_model``).

    >>> model = backbone("mobilenet_v2", weights=None, input_shape=32)
    >>> network_of(model).name
    'mobilenetv2_1.00_32'
    """
    import keras

    config = getattr(model, "zoo_config", None)
    if config is not None:
        return model.get_layer(config.parts.network)
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    if len(nested) != 1:
        raise ConfigError(f"{model.name} is not a zoo model: it holds {len(nested)} networks, expected one")
    return nested[0]


def preprocessing_graph(pixels: Any, preprocessing: Preprocessing) -> Any:
    """Apply ``preprocessing`` to raw pixels with built-in Keras operations only.

    Every mode is an affine map per pixel: an optional RGB->BGR flip (``keras.ops.flip``), then one
    ``Rescaling`` layer named ``preprocessing`` whose per-channel ``scale`` and ``offset`` fold
    ``x * scale + offset``, ``- mean`` and ``/ std`` together. Keras deserialises both by itself.

    >>> import keras, numpy as np
    >>> from zoo.spec import Preprocessing
    >>> pixels = keras.Input((1, 1, 3))
    >>> model = keras.Model(pixels, preprocessing_graph(pixels, Preprocessing.caffe()))
    >>> model.predict(np.array([[[[10.0, 20.0, 30.0]]]]), verbose=0).astype("float64").round(3).tolist()
    [[[[-73.939, -96.779, -113.68]]]]
    """
    import keras

    channels = pixels.shape[-1]
    mean = preprocessing.mean or (0.0,) * channels
    std = preprocessing.std or (1.0,) * channels
    scale = [preprocessing.scale / s for s in std]
    offset = [(preprocessing.offset - m) / s for m, s in zip(mean, std, strict=True)]
    x = keras.ops.flip(pixels, axis=-1) if preprocessing.channel_order == "bgr" else pixels
    return keras.layers.Rescaling(scale=scale, offset=offset, name="preprocessing")(x)


def _text_graph(spec: BackboneSpec, weights: Weights, shape: tuple[int, ...], trainable: bool) -> tuple[Any, ...]:
    """Strings -> lower-casing (if declared) -> tokenizer -> encoder -> pooling, as the spec declares."""
    import keras

    from zoo.layers import Lowercase, TextPooling, Tokenize

    pre = dataclasses.replace(spec.preprocessing, sequence_length=shape[0])  # type: ignore[arg-type]
    built = build_network(dataclasses.replace(spec, preprocessing=pre), weights, shape)
    text = keras.Input(shape=(), dtype="string", name="text")
    steps = [Lowercase(name="lowercase")] if pre.lowercase else []  # type: ignore[union-attr]
    lowered = steps[0](text) if steps else text
    _unclashed(built.encoder, spec).trainable = trainable
    if built.tokenizer is None:  # strings -> vectors in one network (e.g. a SavedModel): no tokens to reach
        features = keras.layers.Identity(name="pool")(built.encoder(lowered))
        steps = []
    else:
        steps.append(Tokenize.around(built.tokenizer, pre.sequence_length, name="tokenize"))  # type: ignore[union-attr]
        tokens = steps[-1](lowered)
        features = TextPooling(pre.pooling, pre.normalize, name="pool")(built.encoder(tokens), tokens["padding_mask"])  # type: ignore[union-attr]
    parts = ModelParts(built.encoder.name, "pool", "", tuple(step.name for step in steps))
    return text, features, parts


def build_network(spec: BackboneSpec, weights: Weights, input_shape: tuple[int, ...]) -> Any:
    """Call the spec's factory with the resolved weights and check what it returns.

    An image factory returns a ``keras.Model`` from preprocessed pixels to the feature map; a text
    factory a :class:`zoo.TextNetwork`. Failures are reported by cause: weights that cannot be
    downloaded or loaded raise :class:`WeightsError`, anything else from the factory is a bug of its
    plugin and raises :class:`PluginError`.

    >>> from zoo.plugins import get_spec
    >>> build_network(get_spec("resnet50"), None, (32, 32, 3)).output_shape
    (None, 1, 1, 2048)
    """
    resolved = resolve_weights(spec, weights)
    with warnings.catch_warnings(record=True) as caught:
        warnings.filterwarnings("always", message=".*freshly-initialized")
        try:
            built = spec.factory(spec, weights=resolved, input_shape=input_shape)  # type: ignore[misc]
        except ZooError:
            raise
        except PLUGIN_FAULTS as err:  # the loaders raise many types (a sys.exit too); keep the cause chained
            raise _factory_error(spec, resolved, err) from err
    skipped = [w for w in caught if "freshly-initialized" in str(w.message)]
    if skipped and resolved is not None:  # Keras loaded the file only in part: never run on random layers
        raise _load_error(spec, resolved, RuntimeError(f"{len(skipped)} parts were left unloaded"))
    for w in caught:  # pass the rest on, once per place as usual
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, registry=_WARNED)
    return _checked_shapes(spec, _checked(spec, built), input_shape)


def _checked_shapes(spec: BackboneSpec, built: Any, input_shape: tuple[int, ...]) -> Any:
    """Refuse a network whose shapes contradict its spec: what ``zoo info`` shows must be what it builds.

    An image network must take ``input_shape`` (where it fixes its input) and give ``feature_shape``
    at the declared input size (at another size, the same rank and ``feature_dim`` channels); a text
    encoder's last axis must be ``feature_dim``. Axes a network leaves unknown (``None``) pass.
    """
    problems = []
    if spec.modality == "text":
        found, expected = _shape(built.encoder.output_shape), (spec.feature_dim,)
        found = found and found[-1:]
        claim = f"feature_dim={spec.feature_dim}"
    else:
        found_in = _shape(built.input_shape)
        if found_in is not None and not _fits(found_in, tuple(input_shape)):
            problems.append(f"takes inputs of shape {found_in}, not the input_shape {tuple(input_shape)} it was given")
        found, expected = _shape(built.output_shape), tuple(spec.feature_shape)  # type: ignore[assignment]
        if tuple(input_shape) != tuple(spec.input_shape):  # another size: only the channels are declared
            expected = (None,) * (len(expected) - 1) + expected[-1:]  # type: ignore[assignment]
        claim = f"feature_shape={spec.feature_shape} (feature_dim={spec.feature_dim})"
    if found is not None and not _fits(found, expected):
        problems.append(f"outputs features of shape {found}, but its spec declares {claim}")
    if problems:
        raise PluginError(
            f"The network of backbone {spec.name!r} (plugin {spec.plugin!r}) {'; it '.join(problems)}. A spec "
            "must describe the network its factory builds: fix the spec or the factory (see docs/plugins.md)."
        )
    return built


def _shape(shape: Any) -> tuple[Any, ...] | None:
    """A shape without its batch axis, or ``None`` when it is not one shape (several outputs: not checked)."""
    if isinstance(shape, tuple) and all(d is None or isinstance(d, int) for d in shape) and shape:
        return shape[1:]
    return None


def _fits(found: tuple[Any, ...], expected: tuple[Any, ...]) -> bool:
    if len(found) != len(expected):
        return False
    return all(f is None or e is None or f == e for f, e in zip(found, expected, strict=True))


def _checked(spec: BackboneSpec, built: Any) -> Any:
    import keras

    if spec.modality == "text":
        if isinstance(built, tuple) and len(built) == 2 and not isinstance(built, TextNetwork):
            built = TextNetwork(*built)  # a plain (tokenizer, encoder) pair, as plugins returned before
        ok = isinstance(built, TextNetwork) and isinstance(built.encoder, keras.Model)
        expected = "a zoo.TextNetwork(tokenizer, encoder) with a keras.Model encoder"
    else:
        ok = isinstance(built, keras.Model)
        expected = "a keras.Model from preprocessed pixels to the feature map"
    if not ok:
        raise PluginError(
            f"The factory of backbone {spec.name!r} (plugin {spec.plugin!r}) returned {type(built).__name__}; "
            f"a {spec.modality} factory must return {expected} (see docs/plugins.md)"
        )
    return built


def _factory_error(spec: BackboneSpec, resolved: str | Path | None, err: BaseException) -> ZooError:
    """One error per cause: a file that will not load, a download that failed, or a bug in the plugin."""
    if isinstance(resolved, Path) and isinstance(err, (OSError, ValueError, KeyError)):
        return _load_error(spec, resolved, err)
    if isinstance(resolved, str) and _is_download_failure(err):
        return WeightsError(  # what to do first: a report cut at its line's end (zoo rank's notes) keeps it
            f"Could not download the {resolved!r} weights of {spec.name!r}: they are downloaded once and cached, "
            "which needs internet; offline, pass a local path (weights='path/to/weights'), or weights=None for "
            f"random initialisation where the backbone has one (the download: {first_line(err, 120)})"
        )
    return PluginError(
        f"The factory of backbone {spec.name!r} (plugin {spec.plugin!r}) failed with weights={resolved!r}: "
        f"{type(err).__name__}: {first_line(err)}. This is a bug in the plugin, not a weights problem: "
        "report it to the plugin's authors."
    )


def _is_download_failure(err: BaseException | None) -> bool:
    """Whether ``err`` or an error that caused it is a network failure (Keras raises a bare ``Exception``)."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, (OSError, ConnectionError)) or "URL fetch failure" in str(err):
            return True
        err = err.__cause__ or err.__context__
    return False


def _load_error(spec: BackboneSpec, resolved: str | Path, err: BaseException) -> WeightsError:
    return WeightsError(
        f"Could not load weights from {resolved} into backbone {spec.name!r}: {type(err).__name__}: "
        f"{first_line(err)}. Check that the file is not damaged and was saved from {spec.name} without "
        "its classification top (e.g. keras.applications with include_top=False)."
    )


def resolve_weights(spec: BackboneSpec, weights: Weights) -> str | Path | None:
    """Map the user's ``weights`` to what the factory receives: ``None``, a declared tag, or an existing path.

    This is the one place where weights are resolved: a tag that a plugin finds on this machine
    (the ``locate_weights`` hook) reaches the factory as that local path.

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
        weights = spec.default_weights
    if isinstance(weights, str) and weights in tags:
        found = registry().locate_weights(spec, weights)
        return Path(found) if found and Path(found).exists() else weights
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
        declared = spec.preprocessing.sequence_length  # type: ignore[union-attr]
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
    one_image, memory = 4 * shape[0] * shape[1] * shape[2], _memory_bytes()  # float32, as the network reads it
    if memory and one_image > memory:
        raise InputShapeError(
            f"an input of {shape[0]}x{shape[1]} takes {one_image / 1e9:,.0f} GB for each image, more than this "
            f"machine's {memory / 1e9:,.0f} GB of memory; use a smaller input_shape (declared: "
            f"{list(spec.input_shape)})."
        )
    return shape


def _memory_bytes() -> int | None:
    """The machine's physical memory in bytes, where the system says (``None`` where it does not)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _reducers() -> dict[str, Any]:
    import keras

    return {
        "avg": keras.layers.GlobalAveragePooling2D,
        "max": keras.layers.GlobalMaxPooling2D,
        "flatten": keras.layers.Flatten,
    }
