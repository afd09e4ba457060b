"""Backbones from a TOML config file (the default plugin user-config), without writing a plugin."""

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo import userconfig
from zoo.plugins import load_registry, reset

TF_HUB = "backbone-zoo-tensorflow-hub"  # provides the sources savedmodel and hub
ALLOW = ["user-config", TF_HUB]


class Pooled(tf.Module):
    """(None, 32, 32, 3) -> (None, 4): a 1x1 conv and a global average pool."""

    def __init__(self) -> None:
        super().__init__()
        self.kernel = tf.Variable(tf.ones((1, 1, 3, 4)) * 0.5)

    @tf.function(input_signature=[tf.TensorSpec((None, 32, 32, 3), tf.float32)], autograph=False)
    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        return tf.reduce_mean(tf.nn.conv2d(x, self.kernel, 1, "SAME"), axis=[1, 2])


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("usermodel") / "pooled"
    tf.saved_model.save(Pooled(), str(path))
    return path


ENTRY = """
[backbones.my_net]
source = "savedmodel"
path = "{path}"
input_shape = [32, 32, 3]
feature_dim = 4
preprocessing = {{ mode = "unit", scale = 0.00392156862745098 }}
description = "a tiny test network"
"""


def write_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    config = tmp_path / "backbones.toml"
    config.write_text(text)
    monkeypatch.setenv(userconfig.ENV_CONFIG, str(config))
    return config


@pytest.fixture(scope="module")
def sources() -> dict[str, zoo.ConfigSource]:
    """The config sources of the first-party plugins (loaded without user-config)."""
    return load_registry(allow=[TF_HUB, "backbone-zoo-keras-hub"]).config_sources


def test_no_config_file_means_no_backbones(tmp_path, monkeypatch):
    monkeypatch.delenv(userconfig.ENV_CONFIG, raising=False)  # the default place, which may well be empty
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (info,) = [p for p in load_registry(allow=["user-config"]).plugins if p.name == "user-config"]
    assert (info.status, info.module, info.backbones) == ("loaded", "zoo.userconfig", ())


def test_the_file_is_found_under_xdg_config_home(tmp_path, monkeypatch):
    monkeypatch.delenv(userconfig.ENV_CONFIG, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert userconfig.config_path() == tmp_path / "backbone-zoo" / "backbones.toml"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert userconfig.config_path() == Path.home() / ".config" / "backbone-zoo" / "backbones.toml"


def test_a_savedmodel_entry_registers_and_builds(saved_model, tmp_path, monkeypatch):
    config = write_config(tmp_path, monkeypatch, ENTRY.format(path=saved_model))
    reset(load_registry(allow=ALLOW))
    spec = zoo.get_spec("my_net")
    assert (spec.family, spec.plugin, spec.feature_shape) == ("user", "user-config", (4,))
    assert (spec.weights[0].tag, spec.weights[0].source) == ("savedmodel", str(saved_model))
    assert f"from {config}" in spec.description
    model = zoo.backbone("my_net")
    assert model.output_shape == (None, 4)
    assert float(model.predict(tf.fill((1, 32, 32, 3), 255.0), verbose=0)[0, 0]) == pytest.approx(1.5)
    assert zoo.backbone("my_net", weights=saved_model).output_shape == (None, 4)  # a local path replaces it
    with pytest.raises(zoo.WeightsError, match="no random initialisation"):
        zoo.backbone("my_net", weights=None)


def test_a_relative_path_is_relative_to_the_config_file(saved_model, monkeypatch, sources):
    config = write_config(saved_model.parent, monkeypatch, ENTRY.format(path="pooled").replace('"unit"', '"none"'))
    (spec,) = userconfig.read_config(config, sources)
    assert spec.weights[0].source == str(saved_model.resolve())


def test_a_hub_entry_without_internet_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "hub"))
    text = ENTRY.replace('source = "savedmodel"', 'source = "hub"').replace('path = "{path}"', 'handle = "{path}"')
    write_config(tmp_path, monkeypatch, text.format(path="https://127.0.0.1:9/m"))
    reset(load_registry(allow=ALLOW))
    with pytest.raises(zoo.WeightsError, match="needs internet"):
        zoo.backbone("my_net")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('path = "{path}"\n', "", r"\[backbones.my_net\] needs path"),
        ('path = "{path}"', 'path = "/no/such/dir"', r"\[backbones.my_net\] path /no/such/dir does not exist"),
        ('source = "savedmodel"', 'source = "onnx"', "source 'onnx' is not provided by any loaded plugin"),
        ('source = "savedmodel"\n', "", "needs source = '<kind>' \\(loaded sources: hub, keras_hub_preset, savedmodel"),
        ('path = "{path}"', 'handle = "x"', r"unknown keys \['handle'\]; known for source 'savedmodel'"),
        ('description = "a tiny test network"', "signature = 3", "signature must be a non-empty string"),
        ("[32, 32, 3]", "[32, 32]", r"input_shape must be \[height, width, 3\]"),
        ("[32, 32, 3]", "[32, 32, 1]", "3 \\(RGB\\) channels"),
        ("[32, 32, 3]", "[16, 16, 3]", "at least 32"),
        ("feature_dim = 4", "feature_dim = 0", "feature_dim must be a positive integer"),
        ("scale = 0.00392156862745098", "scael = 0.1", r"preprocessing has unknown fields \['scael'\]"),
        ("scale = 0.00392156862745098", 'scale = "abc"', "preprocessing.scale must be a finite number, got 'abc'"),
        ("scale = 0.00392156862745098", "scale = 1, mean = [1, 2, nan]", "preprocessing.mean needs 3 numbers"),
        ('{{ mode = "unit", scale = 0.00392156862745098 }}', "'inception'", "preprocessing must be one of"),
        ('description = "a tiny test network"', "colour = 1", r"unknown keys \['colour'\]"),
        ("[backbones.my_net]", "[backbones.MyNet]", "lowercase snake case"),
        ("feature_dim = 4", "feature_dim = 4\nfeature_dim = 5", "not valid TOML.*line 7"),
    ],
)
def test_each_invalid_entry_is_a_spec_error_naming_the_entry_and_field(
    saved_model, tmp_path, monkeypatch, sources, old, new, message
):
    assert old in ENTRY
    config = write_config(tmp_path, monkeypatch, ENTRY.replace(old, new).format(path=saved_model))
    with pytest.raises(zoo.SpecError, match=message) as err:
        userconfig.read_config(config, sources)
    assert str(err.value).startswith(str(config))


def test_an_invalid_file_fails_only_the_user_config_plugin(tmp_path, monkeypatch):
    write_config(tmp_path, monkeypatch, ENTRY.format(path="/no/such/dir"))
    with pytest.warns(zoo.PluginWarning, match="'user-config' failed.*does not exist"):
        registry = load_registry()  # the file is found through ZOO_CONFIG
    assert registry.get("resnet50").name == "resnet50"
    assert [p.status for p in registry.plugins if p.name == "user-config"] == ["failed"]


@pytest.mark.parametrize("where", ["missing.toml", "."])
def test_a_zoo_config_that_is_not_a_file_is_said_not_ignored(tmp_path, monkeypatch, where):
    monkeypatch.setenv("ZOO_CONFIG", str(tmp_path / where))
    what = "does not exist" if where != "." else "is a folder"
    with pytest.warns(zoo.PluginWarning, match=f"'user-config' failed: ZOO_CONFIG=.* {what}: point it at"):
        registry = load_registry()
    assert registry.get("resnet50").name == "resnet50"  # everything else still works


def test_a_source_of_a_plugin_left_out_by_zoo_plugins_names_the_plugin(saved_model, tmp_path, monkeypatch):
    write_config(tmp_path, monkeypatch, ENTRY.format(path=saved_model))
    monkeypatch.setenv("ZOO_PLUGINS", "user-config,backbone-zoo-keras-hub")
    message = (
        r"\[backbones.my_net\] source 'savedmodel' is provided by the plugin backbone-zoo-tensorflow-hub, "
        r"which is installed but not loaded.*ZOO_PLUGINS.*\(loaded sources: keras_hub_preset\)"
    )
    with pytest.warns(zoo.PluginWarning, match=message):
        reset(load_registry())
    with pytest.raises(zoo.UnknownBackboneError):
        zoo.backbone("my_net")


def test_a_source_of_a_plugin_not_installed_says_what_to_install(tmp_path, monkeypatch, sources):
    monkeypatch.setitem(userconfig.PROVIDERS, "onnx", "backbone-zoo-onnx")  # a first-party plugin to come
    config = write_config(tmp_path, monkeypatch, ENTRY.replace('"savedmodel"', '"onnx"').format(path="model.onnx"))
    message = "source 'onnx' is provided by the plugin backbone-zoo-onnx: pip install backbone-zoo-onnx"
    with pytest.raises(zoo.SpecError, match=message):
        userconfig.read_config(config, sources)


def test_zoo_list_shows_config_backbones_under_their_source(saved_model, tmp_path, monkeypatch, capsys):
    from zoo.cli import main

    write_config(tmp_path, monkeypatch, ENTRY.format(path=saved_model))
    assert main(["list", "my_net"]) == 0
    assert "user-config" in capsys.readouterr().out
    assert main(["plugins"]) == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("user-config")]
    assert line.split()[1:] == ["-", "loaded", "1:", "my_net"]
    assert main(["plugins", "--json"]) == 0
    plugins = {p["name"]: p for p in json.loads(capsys.readouterr().out)["plugins"]}
    assert plugins["user-config"]["module"] == "zoo.userconfig"
    assert plugins["user-config"]["backbones"] == ["my_net"]
    assert plugins[TF_HUB]["config_sources"] == ["savedmodel", "hub"]


def test_a_keras_hub_preset_entry_builds_with_the_preset_weights(tmp_path, monkeypatch):
    import keras
    import keras_hub

    backbone = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=[64, 16],
        stackwise_num_blocks=[1, 1], stackwise_num_strides=[1, 2], block_type="basic_block",
    )  # fmt: skip
    backbone.save_to_preset(tmp_path / "preset")
    write_config(
        tmp_path,
        monkeypatch,
        """
[backbones.my_resnet]
source = "keras_hub_preset"
path = "preset"
input_shape = [64, 64, 3]
feature_dim = 16
feature_shape = [8, 8, 16]  # stem /4, then strides 1 and 2
preprocessing = "torch"
""",
    )
    reset(load_registry(allow=["user-config", "backbone-zoo-keras-hub"]))
    model = zoo.backbone("my_resnet", pooling=None)
    assert model.output_shape == (None, 8, 8, 16)
    (network,) = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    kernel = network.weights[0]
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(kernel), keras.ops.convert_to_numpy(backbone.weights[0]))
    assert zoo.backbone("my_resnet", weights=None, pooling=None).output_shape == (None, 8, 8, 16)  # random init
