"""Helpers for testing a backbone-zoo plugin or an application: a registry fixture, a one-line
conformance check, and tiny backbones that build and train in a fraction of a second.

Use the fixture with ``pytest_plugins = ["zoo.testing"]`` in your root ``conftest.py`` (or
``from zoo.testing import zoo_plugin`` there), and call :func:`check_backbone` in a test::

    import my_plugin
    from zoo.testing import check_backbone

    def test_my_backbone(zoo_plugin):
        zoo_plugin(my_plugin)
        check_backbone("my_net")

Tests whose logic does not depend on an architecture (a trainer, a CLI, a data pipeline) can
run on the tiny backbones this module registers, ``tiny_image`` and ``tiny_image_caffe``: a few
thousand parameters, 32x32 input, BatchNormalization inside and fine-tuning blocks. They are
test fixtures, registered only where a test asks for them, never by installing ``backbone-zoo``::

    import zoo.testing

    def test_my_training_loop(zoo_plugin):
        zoo_plugin(zoo.testing, keep_installed=True)   # this module is itself a plugin
        run = zoo.train("tiny_image", (x, y), weights=None, epochs=12, learning_rate=0.1)

Their 16 features train a head more slowly than the 2048 of a ResNet50 at the default learning
rate: where a test needs a good accuracy, pass ``learning_rate=0.1`` (or more epochs).

A test of the text path (reading text files, the tokenizer inside the model, a text export) can run on
``tiny_text``: keras-hub's BERT at one layer of 16 features, with a WordPiece vocabulary of a few common
words, letters and digits (:data:`TINY_TEXT_VOCABULARY`), through the same tokenizer layers and pooling
as the real encoders. It needs keras-hub, so it is a plugin of its own, :data:`tiny_text_plugin`::

    def test_my_text_loop(zoo_plugin):
        zoo_plugin(zoo.testing.tiny_text_plugin, keep_installed=True)
        run = zoo.train("tiny_text", (["rain by noon", "a late goal"], ["weather", "sport"]), weights=None)

A ``zoo`` command run in a subprocess finds them through an entry point as any plugin:
:func:`write_tiny_plugin` (and :func:`write_tiny_text_plugin`) writes a distribution record into a folder
to put on ``PYTHONPATH``.

``import zoo`` never imports this module, and it imports pytest only to define the fixture.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

import zoo
from zoo.errors import ConfigError
from zoo.hookspecs import ENTRY_POINT_GROUP, hookimpl
from zoo.plugins import ENV_ALLOW, Registry, _plugin_key, load_registry, reset
from zoo.spec import BackboneSpec, Preprocessing, TextNetwork, TextPreprocessing

try:
    import pytest
except ImportError:  # check_backbone works without pytest; the fixture needs it
    pytest = None  # type: ignore[assignment]

TINY_IMAGE = "tiny_image"
TINY_IMAGE_CAFFE = "tiny_image_caffe"
TINY_BACKBONES = (TINY_IMAGE, TINY_IMAGE_CAFFE)
TINY_BLOCK_PATTERN = r"^(block\d+)_"
TINY_PYRAMID = {"P2": "block1_relu", "P3": "block3_relu"}  # strides 4 and 8
TINY_PLUGIN = "backbone-zoo-testing"  # the distribution name write_tiny_plugin gives them
TINY_TEXT = "tiny_text"
TINY_TEXT_PLUGIN = "backbone-zoo-testing-text"  # the distribution name write_tiny_text_plugin gives it
_TINY_TEXT_LENGTH = 128  # tokens tiny_text reads at most
_LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789"
TINY_TEXT_VOCABULARY = (
    *("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *".,;:!?'\"()-/"),
    *"the an and or but not of to in on at by for with from it is was be this that all then way home".split(),
    *"cat dog sat ran mat rain snow wind sun day night goal match team new old red two one good bad".split(),
    *_LETTERS,
    *(f"##{c}" for c in _LETTERS),
)  # whole words, and letters and digits that spell any other lower-case ASCII word: only other scripts are [UNK]
_TINY_STAGES = (("stem", 8, 2), ("block1", 16, 2), ("block2", 16, 2), ("block3", 16, 1))  # name, width, stride


def build_tiny_image(spec: BackboneSpec | None, *, weights: str | Path | None, input_shape: tuple[int, ...]) -> Any:
    """The factory of the tiny backbones: preprocessed pixels -> the ``(H/8, W/8, 16)`` feature map.

    A stem and three blocks, each ``Conv2D`` 3x3, ``BatchNormalization`` and ``ReLU``, named
    ``stem_*`` and ``block1_*`` to ``block3_*`` (``TINY_BLOCK_PATTERN`` finds the three blocks; the
    stem belongs to none). The stem and the first two blocks halve the size; the last keeps it, so
    ``block1_relu`` (stride 4) and ``block3_relu`` (stride 8) are the feature pyramid's ``P2`` and ``P3``.
    ``weights`` is ``None`` (random init) or a local ``.weights.h5`` file saved from the same network.

    >>> network = build_tiny_image(None, weights=None, input_shape=(32, 32, 3))
    >>> network.output_shape, network.count_params()
    ((None, 4, 4, 16), 6256)
    """
    import keras

    inputs = keras.Input(tuple(input_shape))
    x = inputs
    for name, width, stride in _TINY_STAGES:
        # He initialisation; the stem's also divides by the spread of its input, so that both
        # preprocessings (tf: [-1, 1]; caffe: about [-124, 152]) give features of one magnitude.
        gain = 2.0 / (_input_std(spec) ** 2 if name == "stem" else 1.0)
        init = keras.initializers.VarianceScaling(gain, "fan_in", "truncated_normal")
        conv = keras.layers.Conv2D(
            width, 3, strides=stride, padding="same", kernel_initializer=init, name=f"{name}_conv"
        )
        x = keras.layers.BatchNormalization(name=f"{name}_bn")(conv(x))
        x = keras.layers.ReLU(name=f"{name}_relu")(x)
    network = keras.Model(inputs, x, name=spec.name if spec is not None else TINY_IMAGE)
    if weights is not None:
        network.load_weights(str(weights))
    return network


def _input_std(spec: BackboneSpec | None) -> float:
    """About the standard deviation of the network's input: uniform pixels through the spec's preprocessing."""
    pre = spec.preprocessing if spec is not None else Preprocessing.tf()
    spread = 255 * abs(pre.scale) / float(np.mean(pre.std or 1.0))  # type: ignore[union-attr]
    return spread / 12**0.5


def tiny_specs() -> list[BackboneSpec]:
    """The specs of the tiny test backbones: the same network with ``tf`` and with ``caffe`` preprocessing.

    ``tiny_image`` scales pixels to [-1, 1]; ``tiny_image_caffe`` flips RGB to BGR and subtracts
    the ImageNet mean, as ResNet v1 and VGG do, so a test of a preprocessing path can pick either.
    Neither declares pretrained weights: build them with ``weights=None`` or a local file.

    >>> [(s.name, s.preprocessing.mode, s.feature_shape) for s in tiny_specs()]
    [('tiny_image', 'tf', (4, 4, 16)), ('tiny_image_caffe', 'caffe', (4, 4, 16))]
    """
    common = dict(
        family="tiny",
        input_shape=(32, 32, 3),
        feature_dim=16,
        feature_shape=(4, 4, 16),
        params=6256,
        block_pattern=TINY_BLOCK_PATTERN,
        pyramid=TINY_PYRAMID,
        description="a tiny convnet for tests (zoo.testing): stem + 3 conv/BatchNorm/ReLU blocks",
        factory=build_tiny_image,
    )
    return [
        BackboneSpec(name=TINY_IMAGE, preprocessing=Preprocessing.tf(), **common),  # type: ignore[arg-type]
        BackboneSpec(name=TINY_IMAGE_CAFFE, preprocessing=Preprocessing.caffe(), **common),  # type: ignore[arg-type]
    ]


@hookimpl
def register_backbones() -> list[BackboneSpec]:
    """The hook that makes this module a plugin: ``zoo_plugin(zoo.testing)`` registers the tiny backbones."""
    return tiny_specs()


def build_tiny_text(spec: BackboneSpec, *, weights: str | Path | None, input_shape: tuple[int, ...]) -> TextNetwork:
    """The factory of ``tiny_text``: keras-hub's ``BertBackbone`` at one layer of 16 features (2 heads) and
    its WordPiece tokenizer (accents stripped) on :data:`TINY_TEXT_VOCABULARY`, as ``zoo_keras_hub`` builds
    the real BERT encoders. ``weights`` is ``None`` (random init) or a local ``.weights.h5`` file saved from
    the same encoder.
    """
    import keras
    import keras_hub

    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(TINY_TEXT_VOCABULARY), num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32,
        max_sequence_length=_TINY_TEXT_LENGTH,
    )  # fmt: skip
    encoder = keras.Model(backbone.input, backbone.output["sequence_output"], name=spec.name)
    if weights is not None:
        encoder.load_weights(str(weights))
    tokenizer = keras_hub.models.BertTokenizer(
        vocabulary=list(TINY_TEXT_VOCABULARY), lowercase=False, strip_accents=True
    )
    length = spec.preprocessing.sequence_length  # type: ignore[union-attr]  # the window a training fitted, or 128
    return TextNetwork(keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=length), encoder)


def tiny_text_spec() -> BackboneSpec:
    """The spec of ``tiny_text``: strings -> 16 features, the mean of its token vectors over at most 128 tokens.

    It declares no pretrained weights. Like the real encoders it lower-cases in front of its tokenizer
    (the zoo's ``Lowercase`` layer) and reads each text to the length a training fits to its texts.

    >>> spec = tiny_text_spec()
    >>> spec.modality, spec.feature_shape, spec.preprocessing.describe()
    ('text', (16,), 'wordpiece (lowercase, accents stripped), 128 tokens, mean pooling over the padding mask')
    """
    return BackboneSpec(
        name=TINY_TEXT,
        family="tiny",
        modality="text",
        input_shape=(),
        preprocessing=TextPreprocessing(
            sequence_length=_TINY_TEXT_LENGTH,
            strip_accents=True,
            vocabulary=f"tiny, {len(TINY_TEXT_VOCABULARY)} tokens",
        ),
        feature_dim=16,
        feature_shape=(16,),
        params=16 * (len(TINY_TEXT_VOCABULARY) + _TINY_TEXT_LENGTH + 2) + 2256,  # embeddings, their norm, the layer
        block_pattern=r"^(transformer_layer_\d+)",
        description="a tiny text encoder for tests (zoo.testing): keras-hub BERT, one layer of 16 features",
        factory=build_tiny_text,
    )


class TinyTextPlugin:
    """The plugin of ``tiny_text``, apart from the module's: keras-hub, which it needs, is no dependency of the zoo."""

    @hookimpl
    def register_backbones(self) -> list[BackboneSpec]:
        return [tiny_text_spec()]


tiny_text_plugin = TinyTextPlugin()  # ``zoo_plugin(zoo.testing.tiny_text_plugin)``; its entry point names it


def write_tiny_plugin(site: str | os.PathLike[str]) -> Path:
    """Make the tiny backbones an installed plugin for every Python that has ``site`` on its path.

    Writes a ``backbone-zoo-testing`` distribution record (``.dist-info`` with a ``backbone_zoo``
    entry point to this module) into ``site`` and returns ``site``. Put the folder on ``sys.path``
    for this process or on ``PYTHONPATH`` for a ``zoo`` subprocess: the zoo then finds the tiny
    backbones exactly as it finds a pip-installed plugin. Remove the folder from the path to undo.

    >>> import tempfile
    >>> site = write_tiny_plugin(tempfile.mkdtemp())
    >>> print(next(site.glob("*.dist-info/entry_points.txt")).read_text())
    [backbone_zoo]
    backbone-zoo-testing = zoo.testing
    <BLANKLINE>
    """
    return _write_distribution(site, TINY_PLUGIN, __name__, "the tiny test backbones of zoo.testing")


def write_tiny_text_plugin(site: str | os.PathLike[str]) -> Path:
    """Make ``tiny_text`` an installed plugin, as :func:`write_tiny_plugin` the image ones: a
    ``backbone-zoo-testing-text`` distribution record whose entry point is :data:`tiny_text_plugin`.

    >>> import tempfile
    >>> site = write_tiny_text_plugin(tempfile.mkdtemp())
    >>> print(next(site.glob("*.dist-info/entry_points.txt")).read_text())
    [backbone_zoo]
    backbone-zoo-testing-text = zoo.testing:tiny_text_plugin
    <BLANKLINE>
    """
    return _write_distribution(site, TINY_TEXT_PLUGIN, f"{__name__}:tiny_text_plugin", "the tiny text backbone")


def _write_distribution(site: str | os.PathLike[str], name: str, entry_point: str, summary: str) -> Path:
    """A ``.dist-info`` record of distribution ``name`` in ``site``, with one ``backbone_zoo`` entry point."""
    site = Path(site)
    info = site / f"{name.replace('-', '_')}-{zoo.__version__}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {zoo.__version__}\nSummary: {summary}\n"
    )
    (info / "entry_points.txt").write_text(f"[backbone_zoo]\n{name} = {entry_point}\n")
    return site


def register_plugin(*plugins: object, keep_installed: bool = False, name: str | None = None) -> Registry:
    """Make the process registry hold only ``plugins`` (modules or objects), plus the installed ones if asked.

    Strict: a broken plugin raises instead of being skipped. Undo with ``zoo.plugins.reset()``. With
    ``keep_installed=True``, a module that an installed entry point loads anyway (this one, after
    :func:`write_tiny_plugin`) is registered once, so ``zoo_plugin(zoo.testing, keep_installed=True)``
    works whether or not the tiny backbones are installed.

    A plugin is named as its entry point names it: a module an installed entry point loads gets its
    distribution's name (``zoo_keras_hub`` is ``backbone-zoo-keras-hub``, in ``spec.plugin`` too), any
    other module its module name, an object ``name`` or its class name.

    >>> import zoo.testing
    >>> reg = register_plugin(zoo.testing)
    >>> sorted(reg.specs)
    ['tiny_image', 'tiny_image_caffe']
    >>> reset()
    """
    if name is not None and len(plugins) != 1:
        raise ConfigError("name= names one plugin; register several without it")
    if keep_installed:  # a module the registry loads through its entry point anyway is not registered twice
        plugins = tuple(p for p in plugins if not _installed(p))
    extra = {name or _plugin_name(p): p for p in plugins}
    registry = load_registry(allow=None if keep_installed else [], strict=True, extra_plugins=extra)
    registry.check()
    reset(registry)
    return registry


def _installed(plugin: object) -> bool:
    """Whether ``plugin`` is a module that an enabled ``backbone_zoo`` entry point names (so it loads by itself)."""
    allow = os.environ.get(ENV_ALLOW)
    allowed = None if allow is None else {_plugin_key(a) for a in allow.split(",") if a.strip()}
    for entry in _entry_points(plugin):
        names = {_plugin_key(entry.name), _plugin_key(entry.dist.name if entry.dist else entry.name)}
        if allowed is None or names & allowed:
            return True
    return False


def _plugin_name(plugin: object) -> str:
    """The name the registry gives ``plugin``: as an installed entry point names it (the distribution's name),
    else the module's or the class's name.

    >>> import zoo.userconfig
    >>> _plugin_name(zoo.userconfig), _plugin_name(object())
    ('zoo.userconfig', 'object')
    """
    for entry in _entry_points(plugin):
        return entry.dist.name if entry.dist else entry.name
    return getattr(plugin, "__name__", None) or type(plugin).__name__


def _entry_points(plugin: object) -> list[metadata.EntryPoint]:
    """The installed ``backbone_zoo`` entry points that load ``plugin`` (a module)."""
    module = getattr(plugin, "__name__", None)
    return [entry for entry in metadata.entry_points(group=ENTRY_POINT_GROUP) if entry.value == module]


def check_backbone(name: str, input_shape: int | tuple[int, ...] | None = None, batch: int = 2) -> Any:
    """Build ``name`` with random weights, run raw random pixels through it and check the features.

    Asserts the output is ``(batch, spec.feature_dim)`` and finite; returns the model. Where the spec
    declares a feature pyramid, its model is built too (which checks each declared layer exists and
    has its level's stride) and its maps must be finite.

    >>> model = check_backbone("mobilenet_v3_small", input_shape=32)
    >>> model.output_shape
    (None, 576)
    """
    spec = zoo.get_spec(name)
    model = zoo.backbone(name, weights=None, input_shape=input_shape)
    if spec.modality == "text":
        inputs = np.array([f"plugin test sentence number {i}" for i in range(batch)], dtype=object)
    else:
        shape = tuple(model.input_shape[1:])
        inputs = np.random.default_rng(0).uniform(0, 255, (batch, *shape)).astype("float32")
    features = np.asarray(model.predict(inputs, verbose=0))
    expected = (batch, spec.feature_dim)
    assert features.shape == expected, (
        f"backbone {name!r} (plugin {spec.plugin!r}) gives features of shape {features.shape}, but its spec "
        f"declares feature_dim={spec.feature_dim}, so {expected} was expected: fix feature_shape/feature_dim "
        "or the factory's last layer"
    )
    assert np.isfinite(features).all(), (
        f"backbone {name!r} (plugin {spec.plugin!r}) gives NaN or infinite features on random input"
    )
    if spec.pyramid:
        pyramid = zoo.backbone(name, weights=None, input_shape=input_shape, features="pyramid")
        maps = pyramid.predict(inputs, verbose=0)
        broken = sorted(level for level, values in maps.items() if not np.isfinite(values).all())
        assert not broken, f"backbone {name!r} (plugin {spec.plugin!r}) gives NaN or infinite maps at {broken}"
    return model


if pytest is not None:

    @pytest.fixture
    def zoo_plugin() -> Iterator[Callable[..., Registry]]:
        """Register plugins in-process for one test: ``zoo_plugin(my_module, keep_installed=False)``.

        The registry then holds only the given plugins (and the installed ones with
        ``keep_installed=True``); afterwards the zoo reloads the installed plugins as usual.
        """
        reset()
        try:
            yield register_plugin
        finally:
            reset()
