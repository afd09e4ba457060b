"""The typed factory contract: the core resolves weights, checks what a factory returns, and reports
each failure as what it is (weights that will not load or download, or a bug in the plugin)."""

import urllib.error
from pathlib import Path

import keras
import numpy as np
import pytest

import zoo
import zoo.testing


def _plugin(factory, modality="image", weights=(), locate=None, feature_map=False):
    """A plugin module-like object registering one backbone ``probe`` built by ``factory``."""

    class Plugin:
        @zoo.hookimpl
        def register_backbones(self):
            if modality == "text":
                extra = dict(input_shape=(), feature_dim=4, feature_shape=(4,),
                             preprocessing=zoo.TextPreprocessing(lowercase=False, pooling="none"))  # fmt: skip
            else:
                extra = dict(input_shape=(32, 32, 3), feature_dim=4, feature_shape=(30, 30, 4) if feature_map else (4,),
                             preprocessing=zoo.Preprocessing.tf())  # fmt: skip
            return [zoo.BackboneSpec(name="probe", family="probe", modality=modality, weights=weights,
                                     factory=factory, **extra)]  # fmt: skip

        if locate is not None:

            @zoo.hookimpl
            def locate_weights(self, spec, tag):
                return locate if spec.name == "probe" else None

    zoo.testing.register_plugin(Plugin(), name="probe-plugin")


TAG = (zoo.WeightsVariant(tag="pretrained", source="somewhere"),)


def _vector_model(input_shape=(32, 32, 3)):
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs)))


def test_a_factory_bug_is_reported_as_a_plugin_bug_not_a_download_problem():
    def factory(spec, *, weights, input_shape):
        raise TypeError("unexpected keyword 'inputshape'")

    _plugin(factory, weights=TAG)
    with pytest.raises(zoo.PluginError, match="bug in the plugin") as caught:
        zoo.backbone("probe")
    assert "probe-plugin" in str(caught.value) and "TypeError" in str(caught.value)
    assert "internet" not in str(caught.value)


def test_a_failed_download_is_a_weights_error_that_says_what_to_do():
    def factory(spec, *, weights, input_shape):
        try:
            raise urllib.error.URLError("Name or service not known")
        except urllib.error.URLError as err:
            raise Exception("URL fetch failure on https://example.org/w.h5") from err  # as keras.utils.get_file

    _plugin(factory, weights=TAG)
    with pytest.raises(zoo.WeightsError, match="Could not download the 'pretrained' weights") as caught:
        zoo.backbone("probe")
    assert "weights=None" in zoo.errors.first_line(caught.value)  # the advice survives a one-line report's cut
    assert str(caught.value).endswith("(the download: URL fetch failure on https://example.org/w.h5)")


def test_a_damaged_local_file_is_a_weights_error_naming_the_file(tmp_path):
    def factory(spec, *, weights, input_shape):
        model = _vector_model(input_shape)
        model.load_weights(weights)
        return model

    damaged = tmp_path / "w.weights.h5"
    damaged.write_bytes(b"not hdf5")
    _plugin(factory)
    with pytest.raises(zoo.WeightsError, match=f"Could not load weights from {damaged}"):
        zoo.backbone("probe", weights=damaged)


def test_a_weights_error_raised_by_the_factory_reaches_the_user_unchanged():
    def factory(spec, *, weights, input_shape):
        raise zoo.WeightsError("probe has no random initialisation: pass weights='pretrained'")

    _plugin(factory, weights=TAG)
    with pytest.raises(zoo.WeightsError, match="^probe has no random initialisation"):
        zoo.backbone("probe", weights=None)


def test_a_located_tag_reaches_the_factory_as_a_local_path(tmp_path):
    received = []

    def factory(spec, *, weights, input_shape):
        received.append(weights)
        return _vector_model(input_shape)

    _plugin(factory, weights=TAG, locate=str(tmp_path))
    zoo.backbone("probe")
    zoo.backbone("probe", weights=None)
    assert received == [Path(tmp_path), None]


def test_a_factory_returning_the_wrong_type_is_named():
    _plugin(lambda spec, *, weights, input_shape: "a string")
    with pytest.raises(zoo.PluginError, match="returned str; a image factory must return a keras.Model"):
        zoo.backbone("probe", weights=None)


def test_a_text_factory_returns_a_text_network():
    def factory(spec, *, weights, input_shape):
        import tensorflow as tf

        text = keras.Input(shape=(), dtype="string")
        lengths = keras.layers.Lambda(lambda t: tf.cast(tf.strings.length(t), "float32")[:, None], output_shape=(1,))(
            text
        )
        return zoo.TextNetwork(tokenizer=None, encoder=keras.Model(text, keras.layers.Dense(4)(lengths)))

    _plugin(factory, modality="text")
    model = zoo.backbone("probe", weights=None)
    assert model.predict(np.array(["a", "abc"], dtype=object), verbose=0).shape == (2, 4)
    _plugin(lambda spec, *, weights, input_shape: keras.Sequential(), modality="text")
    with pytest.raises(zoo.PluginError, match="must return a zoo.TextNetwork"):
        zoo.backbone("probe", weights=None)


def test_a_network_named_like_a_zoo_layer_still_builds_and_keeps_its_parts_apart():
    def factory(spec, *, weights, input_shape):
        inputs = keras.Input(input_shape)
        return keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs), name="head")

    _plugin(factory, feature_map=True)
    model = zoo.build("probe", num_classes=2, weights=None)
    parts = model.zoo_config.parts
    assert parts.network == "probe_network" and parts.head == "head"
    assert model.predict(np.zeros((1, 32, 32, 3)), verbose=0).shape == (1, 2)
