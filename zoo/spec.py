"""Backbone specs: the declarative record every plugin registers.

A spec is data. It imports neither TensorFlow nor Keras, it is frozen, and everything but its
lazy ``factory`` round-trips through JSON (``to_dict`` / ``from_dict``). Listing, ``zoo info``,
``registry.json`` and the docs are all made from specs.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal, NamedTuple

from zoo.errors import SpecError

Modality = Literal["image", "text"]
MODALITIES = ("image", "text")
INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5")
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")  # a backbone's name, a config source's and its keys
PYRAMID_LEVEL = re.compile(r"^P([1-6])$")


def level_stride(level: str) -> int:
    """The stride of pyramid level ``Pn``: ``2**n`` input pixels per map cell.

    >>> level_stride("P3")
    8
    """
    return 2 ** int(level[1:])


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """How raw RGB pixels in [0, 255] become the network's input, applied in this order:

    1. ``channel_order="bgr"`` reverses the channels (caffe-style networks);
    2. ``x * scale + offset``;
    3. ``(x - mean) / std`` per channel (``mean``/``std`` in the order after step 1).

    ``internal`` describes what the network itself does to its input (for example EfficientNet
    rescales inside the model), so a reader knows why nothing happens here. ``interpolation`` is the
    resize method the data pipeline uses to reach the declared input size.

    >>> Preprocessing.tf().scale
    0.00784313725490196
    """

    mode: str = "none"
    channel_order: Literal["rgb", "bgr"] = "rgb"
    scale: float = 1.0
    offset: float = 0.0
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    interpolation: str = "bilinear"
    internal: str | None = None

    @classmethod
    def caffe(cls, **kw: Any) -> Preprocessing:
        """RGB to BGR, then subtract the ImageNet mean in BGR order (ResNet v1, VGG)."""
        return cls(mode="caffe", channel_order="bgr", mean=(103.939, 116.779, 123.68), **kw)

    @classmethod
    def tf(cls, **kw: Any) -> Preprocessing:
        """Scale pixels to [-1, 1] (MobileNet v1/v2, Inception, Xception, ResNet v2, NASNet)."""
        return cls(mode="tf", scale=1 / 127.5, offset=-1.0, **kw)

    @classmethod
    def torch(cls, **kw: Any) -> Preprocessing:
        """Scale to [0, 1], then normalise with the ImageNet mean and std (DenseNet)."""
        return cls(
            mode="torch",
            scale=1 / 255,
            mean=(0.485, 0.456, 0.406),
            std=(0.229, 0.224, 0.225),
            **kw,
        )

    @classmethod
    def raw(cls, internal: str, **kw: Any) -> Preprocessing:
        """Feed raw [0, 255] pixels: the network rescales internally (say how in ``internal``)."""
        return cls(mode="none", internal=internal, **kw)

    def describe(self) -> str:
        """One line for humans, e.g. ``caffe: RGB->BGR, -mean (103.939, ...)``."""
        steps = []
        if self.channel_order == "bgr":
            steps.append("RGB->BGR")
        if self.scale != 1.0 or self.offset != 0.0:
            steps.append(f"x*{self.scale:.6g}{self.offset:+.6g}")
        if self.mean is not None:
            steps.append(f"-mean {tuple(round(m, 4) for m in self.mean)}")
        if self.std is not None:
            steps.append(f"/std {tuple(round(s, 4) for s in self.std)}")
        if self.internal:
            steps.append(f"inside the network: {self.internal}")
        return f"{self.mode}: " + (", ".join(steps) or "identity")

    def validate(self, channels: int) -> None:
        if self.channel_order not in ("rgb", "bgr"):
            raise SpecError(f"preprocessing.channel_order must be 'rgb' or 'bgr', got {self.channel_order!r}")
        if self.interpolation not in INTERPOLATIONS:
            raise SpecError(f"preprocessing.interpolation must be one of {INTERPOLATIONS}, got {self.interpolation!r}")
        for field in ("scale", "offset"):
            if not _finite(getattr(self, field)):
                raise SpecError(f"preprocessing.{field} must be a finite number, got {getattr(self, field)!r}")
        for field in ("mean", "std"):
            values = getattr(self, field)
            if values is not None and (len(values) != channels or not all(map(_finite, values))):
                raise SpecError(f"preprocessing.{field} needs {channels} numbers (one per channel), got {values!r}")
        if self.std is not None and any(s == 0 for s in self.std):
            raise SpecError("preprocessing.std must not contain zeros")


TEXT_POOLINGS = ("mean", "max", "cls", "none")


@dataclasses.dataclass(frozen=True)
class TextPreprocessing:
    """How raw strings become token ids, and token vectors one feature vector.

    The tokenizer runs inside the model (its vocabulary comes with the weights); ``pooling`` reduces
    the encoder's ``sequence_output`` over the padding mask (``mean``, ``max``) or takes the first
    token (``cls``); ``normalize`` L2-normalises the result (sentence-transformers style). ``none``
    is for an encoder that tokenizes and pools by itself (a SavedModel from strings to vectors).

    >>> TextPreprocessing(sequence_length=256, pooling="mean", normalize=True).describe()
    'wordpiece (lowercase), 256 tokens, mean pooling over the padding mask, L2-normalised'
    """

    tokenizer: str = "wordpiece"
    sequence_length: int = 128
    lowercase: bool = True
    strip_accents: bool = False
    vocabulary: str | None = None
    pooling: str = "mean"
    normalize: bool = False

    def describe(self) -> str:
        """One line for humans."""
        case = ", ".join(
            x for x in ("lowercase" if self.lowercase else "", "accents stripped" if self.strip_accents else "") if x
        )
        pooled = {"cls": "first token", "none": "pooled by the encoder"}.get(
            self.pooling, f"{self.pooling} pooling over the padding mask"
        )
        text = f"{self.tokenizer}{f' ({case})' if case else ''}, {self.sequence_length} tokens, {pooled}"
        return text + (", L2-normalised" if self.normalize else "")

    def describe_tokenizer(self) -> str:
        """The tokenizer in words: what it does to case and accents, and its vocabulary (the model card's line).

        >>> TextPreprocessing(strip_accents=True, vocabulary="BERT uncased").describe_tokenizer()
        'wordpiece (lower-cased, accents stripped); vocabulary: BERT uncased'
        """
        case = [word for word, on in (("lower-cased", self.lowercase), ("accents stripped", self.strip_accents)) if on]
        cased = f" ({', '.join(case)})" if case else ""
        vocabulary = f"; vocabulary: {self.vocabulary}" if self.vocabulary else ""
        return f"{self.tokenizer}{cased}{vocabulary}"

    def describe_length(self, reads: int | None = None) -> str:
        """How many tokens of a text a model reads: ``reads`` (the length it was built for, ``zoo.build``'s
        ``input_shape``), by default the declared ``sequence_length``, the most the backbone reads.

        >>> TextPreprocessing(sequence_length=256).describe_length(64)
        '64 tokens (the backbone reads up to 256); longer texts are cut to their first 64'
        """
        length = reads or self.sequence_length
        most = f" (the backbone reads up to {self.sequence_length})" if length != self.sequence_length else ""
        return f"{length} tokens{most}; longer texts are cut to their first {length}"

    def describe_pooling(self) -> str:
        """How the token vectors become one feature vector, in words (the model card's line).

        >>> TextPreprocessing(pooling="cls", normalize=True).describe_pooling()
        "the first token's vector, L2-normalised"
        """
        pooled = {"cls": "the first token's vector", "none": "pooled by the encoder itself"}.get(
            self.pooling, f"{self.pooling} of the token vectors over the padding mask"
        )
        return pooled + (", L2-normalised" if self.normalize else "")

    def validate(self) -> None:
        if not isinstance(self.sequence_length, int) or self.sequence_length < 2:
            raise SpecError(f"preprocessing.sequence_length must be an integer >= 2, got {self.sequence_length!r}")
        if self.pooling not in TEXT_POOLINGS:
            raise SpecError(f"preprocessing.pooling must be one of {TEXT_POOLINGS}, got {self.pooling!r}")


@dataclasses.dataclass(frozen=True)
class WeightsVariant:
    """One set of pretrained weights a backbone can load: ``tag`` is what users pass as ``weights``.

    >>> WeightsVariant(tag="imagenet", source="keras.applications", license="Apache-2.0").tag
    'imagenet'
    """

    tag: str
    source: str
    license: str | None = None
    sha256: str | None = None
    url: str | None = None
    description: str | None = None


class TextNetwork(NamedTuple):
    """What a text backbone's factory returns: the zoo adds lower-casing in front and pooling behind.

    ``tokenizer`` is a layer from strings to a dict with ``token_ids`` and ``padding_mask`` (and
    whatever else the encoder takes); ``encoder`` a ``keras.Model`` from that dict to
    ``sequence_output`` ``(batch, tokens, feature_dim)``. An encoder that tokenizes and pools by
    itself (``TextPreprocessing(pooling="none")``) comes with ``tokenizer=None`` and maps strings
    to vectors ``(batch, feature_dim)``.

    >>> TextNetwork(tokenizer=None, encoder="a strings -> vectors model").tokenizer is None
    True
    """

    tokenizer: Any
    encoder: Any


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    """Everything the zoo knows about a backbone before building it.

    ``factory(spec, weights=..., input_shape=...)`` builds the network lazily. For an image
    backbone it returns a ``keras.Model`` from the *preprocessed* input to the last feature map
    (``feature_shape``); the zoo adds the declared preprocessing in front and the pooling behind.
    For a text backbone it returns a :class:`TextNetwork`; the zoo pools as declared. The core
    resolves ``weights`` before the call: the factory receives ``None`` (random init), a tag of
    ``self.weights`` (to download), or a ``pathlib.Path`` that exists (given by the user, or found
    on this machine by a plugin's ``locate_weights``). A factory raises :class:`zoo.WeightsError`
    for weights it cannot use; any other exception is reported as a bug in the plugin.

    ``block_pattern`` is a regular expression whose first group names the block a network layer
    belongs to (``r"^(conv\\d_block\\d+)_"`` for ResNet); layers that do not match belong to the
    block before them. Fine-tuning unfreezes whole blocks from the top; without a pattern, layers.

    ``pyramid`` maps pyramid levels to the layers of the factory's network whose outputs are the
    feature maps at that stride: ``"P2"`` (stride 4) to ``"P5"`` (stride 32), ``Pn`` at stride
    ``2**n``. Empty when the network has no multi-scale maps (a ViT, a text encoder).

    >>> spec = BackboneSpec(name="tiny", family="demo", input_shape=(32, 32, 3), feature_dim=8,
    ...                     feature_shape=(4, 4, 8), preprocessing=Preprocessing.tf())
    >>> BackboneSpec.from_dict(spec.to_dict()) == spec
    True
    """

    name: str
    family: str
    input_shape: tuple[int, ...]
    feature_dim: int
    feature_shape: tuple[int, ...]
    preprocessing: Preprocessing | TextPreprocessing
    modality: Modality = "image"
    aliases: tuple[str, ...] = ()
    plugin: str | None = None
    weights: tuple[WeightsVariant, ...] = ()
    params: int | None = None
    min_input_size: int = 32
    block_pattern: str | None = None
    description: str = ""
    reference: str | None = None
    pyramid: Mapping[str, str] = dataclasses.field(default_factory=dict)
    factory: Callable[..., Any] | None = dataclasses.field(default=None, compare=False, repr=False)

    __hash__ = None  # type: ignore[assignment]  # ``pyramid`` is a dict; specs are compared, never hashed

    def __post_init__(self) -> None:
        # Accept lists (as JSON gives them) and freeze them into tuples.
        for field in ("input_shape", "feature_shape", "aliases", "weights"):
            object.__setattr__(self, field, tuple(getattr(self, field)))
        if isinstance(self.pyramid, Mapping):  # levels in stride order, whatever order they came in
            object.__setattr__(self, "pyramid", dict(sorted(self.pyramid.items())))
        self.validate()

    def validate(self) -> None:
        """Raise :class:`SpecError` naming the first malformed field."""
        if not isinstance(self.name, str) or not NAME_PATTERN.match(self.name):
            raise SpecError(f"name must be lowercase snake case like 'resnet50', got {self.name!r}")
        for alias in self.aliases:
            if not isinstance(alias, str) or not alias:
                raise SpecError(f"{self.name}: aliases must be non-empty strings, got {alias!r}")
        if self.modality not in MODALITIES:
            raise SpecError(f"{self.name}: modality must be one of {MODALITIES}, got {self.modality!r}")
        if not isinstance(self.family, str) or not self.family:
            raise SpecError(f"{self.name}: family must be a non-empty string")
        expected = Preprocessing if self.modality == "image" else TextPreprocessing
        if not isinstance(self.preprocessing, expected):
            raise SpecError(
                f"{self.name}: the preprocessing of a {self.modality} backbone must be a zoo.{expected.__name__}"
            )
        if not all(isinstance(w, WeightsVariant) for w in self.weights):
            raise SpecError(f"{self.name}: weights must be zoo.WeightsVariant records")
        if not _positive_ints(self.feature_shape) or not _positive_int(self.feature_dim):
            raise SpecError(f"{self.name}: feature_shape and feature_dim must be positive integers")
        if self.feature_shape[-1] != self.feature_dim:
            raise SpecError(
                f"{self.name}: feature_dim {self.feature_dim} differs from the channels of "
                f"feature_shape {self.feature_shape}"
            )
        if self.params is not None and not _positive_int(self.params):
            raise SpecError(f"{self.name}: params must be a positive integer or None")
        if self.block_pattern is not None:
            try:
                groups = re.compile(self.block_pattern).groups
            except re.error as err:
                raise SpecError(f"{self.name}: block_pattern is not a regular expression: {err}") from None
            if groups < 1:
                raise SpecError(f"{self.name}: block_pattern needs a group that captures the block's name")
        if not isinstance(self.pyramid, Mapping) or not all(
            isinstance(level, str) and PYRAMID_LEVEL.match(level) and isinstance(layer, str) and layer
            for level, layer in self.pyramid.items()
        ):
            raise SpecError(f"{self.name}: pyramid maps levels 'P1'..'P6' to layer names, got {self.pyramid!r}")
        if self.pyramid and self.modality != "image":
            raise SpecError(f"{self.name}: only an image backbone has a feature pyramid")
        if self.factory is not None and not callable(self.factory):
            raise SpecError(f"{self.name}: factory must be callable")
        if self.modality == "image":
            if len(self.input_shape) != 3 or not _positive_ints(self.input_shape):
                raise SpecError(
                    f"{self.name}: an image input_shape is [height, width, channels], got {list(self.input_shape)}"
                )
            if not _positive_int(self.min_input_size) or min(self.input_shape[:2]) < self.min_input_size:
                raise SpecError(
                    f"{self.name}: input_shape {list(self.input_shape)} is below min_input_size {self.min_input_size}"
                )
            self.preprocessing.validate(self.input_shape[-1])  # type: ignore[call-arg]
        elif self.input_shape != () or len(self.feature_shape) != 1:
            raise SpecError(f"{self.name}: a text backbone takes one string (input_shape []) and gives (feature_dim,)")
        else:
            self.preprocessing.validate()  # type: ignore[call-arg]

    @property
    def reduces(self) -> bool:
        """Whether the head's reduction (``avg``, ``max``, ``flatten``) applies: the network gives a feature map (an
        image network's; a text encoder's vectors, and an image network that pools itself, are used as they are).

        >>> BackboneSpec(name="t", family="t", input_shape=(32, 32, 3), feature_dim=8, feature_shape=(4, 4, 8),
        ...              preprocessing=Preprocessing.tf()).reduces
        True
        """
        return self.modality == "image" and len(self.feature_shape) > 1

    @property
    def interpolation(self) -> str | None:
        """How images are resized to the backbone's input (its preprocessing's method); ``None`` for text.

        >>> BackboneSpec(name="t", family="t", input_shape=(), feature_dim=4, feature_shape=(4,),
        ...              preprocessing=TextPreprocessing(), modality="text").interpolation is None
        True
        """
        return getattr(self.preprocessing, "interpolation", None)

    @property
    def default_weights(self) -> str | None:
        """The tag ``weights="default"`` means, or ``None`` when the backbone has no pretrained weights."""
        return self.weights[0].tag if self.weights else None

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form (lists, not tuples), without the factory."""
        data = dataclasses.asdict(self)
        data.pop("factory")
        return as_lists(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], factory: Callable[..., Any] | None = None) -> BackboneSpec:
        """Rebuild a spec from :meth:`to_dict` output (or a plugin's plain dict)."""
        known = {f.name for f in dataclasses.fields(cls)} - {"factory"}
        unknown = set(data) - known
        if unknown:
            raise SpecError(f"unknown spec fields {sorted(unknown)}; known fields: {sorted(known)}")
        data = dict(data)
        try:
            pre = data.get("preprocessing")
            if isinstance(pre, Mapping):
                kind = TextPreprocessing if data.get("modality") == "text" else Preprocessing
                data["preprocessing"] = kind(**_tuples(pre))
            data["weights"] = tuple(
                WeightsVariant(**w) if isinstance(w, Mapping) else w for w in data.get("weights", ())
            )
            return cls(**data, factory=factory)
        except TypeError as err:
            raise SpecError(f"malformed spec {data.get('name')!r}: {err}") from None


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _positive_ints(values: tuple[Any, ...]) -> bool:
    return len(values) > 0 and all(_positive_int(v) for v in values)


def as_lists(value: Any) -> Any:
    """``value`` with every tuple turned into a list, recursively: what JSON gives back.

    >>> as_lists({"shape": (7, 7), "weights": [("a", 1)]})
    {'shape': [7, 7], 'weights': [['a', 1]]}
    """
    if isinstance(value, dict):
        return {k: as_lists(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_lists(v) for v in value]
    return value


def _tuples(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}


def _finite(value: Any) -> bool:
    """Whether ``value`` is a real, finite number (not a bool, a string or NaN).

    >>> _finite(0.5), _finite("abc"), _finite(float("nan")), _finite(True)
    (True, False, False, False)
    """
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
