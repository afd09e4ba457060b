"""The register_config_sources hook: a plugin's own backbones.toml source kinds, and broken ones isolated."""

import json

import numpy as np
import pytest

import zoo
from zoo import userconfig
from zoo.cli import main
from zoo.plugins import load_registry, reset

# A third-party plugin with a config source of its own: a 1x1 convolution at stride 4 whose kernel is a .npy file.
KERNEL_PLUGIN = """
import functools
from pathlib import Path

import zoo


def build(location, spec, *, weights, input_shape):
    import keras
    import numpy as np

    layer = keras.layers.Conv2D(spec.feature_dim, 1, strides=4, use_bias=False)
    inputs = keras.Input(input_shape)
    model = keras.Model(inputs, layer(inputs))
    if weights is not None:
        file = weights if isinstance(weights, Path) else location
        try:
            layer.set_weights([np.load(file)])
        except ValueError as err:
            raise zoo.WeightsError(f"{file} is not a kernel for {spec.name}: {err}") from err
    return model


def kernel_entry(entry):
    if "path" not in entry:
        raise zoo.SpecError("needs path = 'kernel.npy'")
    return entry["path"], functools.partial(build, entry["path"])


@zoo.hookimpl
def register_config_sources():
    return [zoo.ConfigSource(name="npy_kernel", keys=("path",), factory_for=kernel_entry, feature_stride=4)]
"""

ENTRY = """
[backbones.my_kernel]
source = "npy_kernel"
path = "kernel.npy"
input_shape = [32, 32, 3]
feature_dim = 4
preprocessing = { mode = "unit", scale = 0.00392156862745098 }
"""


@pytest.fixture
def kernel_config(tmp_path, monkeypatch, install_plugin):
    """The kernel plugin installed, and a backbones.toml (next to its kernel of 0.5s) that uses its source."""
    install_plugin("zoo-npy-kernel", KERNEL_PLUGIN)
    np.save(tmp_path / "kernel.npy", np.full((1, 1, 3, 4), 0.5, dtype="float32"))
    config = tmp_path / "backbones.toml"
    config.write_text(ENTRY)
    monkeypatch.setenv(userconfig.ENV_CONFIG, str(config))
    return config


def test_a_third_party_source_builds_a_config_backbone_end_to_end(kernel_config):
    spec = zoo.get_spec("my_kernel")
    assert (spec.plugin, spec.weights[0].tag) == ("user-config", "npy_kernel")
    assert spec.weights[0].source == str(kernel_config.parent / "kernel.npy")
    assert spec.feature_shape == (8, 8, 4)  # the default for a feature map at the source's stride of 4
    model = zoo.backbone("my_kernel")
    features = model.predict(np.full((2, 32, 32, 3), 255.0, dtype="float32"), verbose=0)
    np.testing.assert_allclose(features, np.full((2, 4), 1.5), rtol=1e-6)  # 3 channels of 1.0 x 0.5
    assert zoo.backbone("my_kernel", weights=None).output_shape == (None, 4)


def test_zoo_plugins_shows_the_source_and_its_plugin(kernel_config, capsys):
    assert main(["plugins", "--json"]) == 0
    plugins = {p["name"]: p for p in json.loads(capsys.readouterr().out)["plugins"]}
    assert plugins["zoo-npy-kernel"]["config_sources"] == ["npy_kernel"]
    assert (plugins["user-config"]["status"], plugins["user-config"]["backbones"]) == ("loaded", ["my_kernel"])


def test_a_source_whose_plugin_is_disabled_fails_only_the_user_config(kernel_config, monkeypatch):
    monkeypatch.setenv("ZOO_PLUGINS", "user-config,backbone-zoo-keras-applications")
    message = r"\[backbones.my_kernel\] source 'npy_kernel' is not provided by any loaded plugin \(loaded sources: none"
    with pytest.warns(zoo.PluginWarning, match=message):
        registry = load_registry()
    assert {p.name: p.status for p in registry.plugins}["zoo-npy-kernel"] == "disabled"
    assert {p.name: p.status for p in registry.plugins}["user-config"] == "failed"
    assert "resnet50" in registry.specs


def test_the_user_config_plugin_is_allowed_and_disabled_by_its_name(kernel_config, monkeypatch):
    monkeypatch.setenv("ZOO_PLUGINS", "zoo-npy-kernel")
    registry = load_registry()
    assert {p.name: p.status for p in registry.plugins}["user-config"] == "disabled"
    assert "npy_kernel" in registry.config_sources and "my_kernel" not in registry.specs


BROKEN_SOURCES = {
    "raises": ("raise KeyError('oops')", "register_config_sources raised KeyError"),
    "not-a-list": ("return 'npy'", "must return a list of zoo.ConfigSource, got str"),
    "not-a-source": ("return [{'name': 'npy'}]", "returned dict, expected zoo.ConfigSource"),
    "shared-key": (
        "return [zoo.ConfigSource(name='npy', keys=('input_shape',), factory_for=print)]",
        "the zoo reads 'input_shape' itself",
    ),
    "taken-name": (
        "return [zoo.ConfigSource(name='npy_kernel', keys=(), factory_for=print)]",
        "config source 'npy_kernel' is already registered by plugin 'zoo-npy-kernel'",
    ),
}


@pytest.mark.parametrize("dist", sorted(BROKEN_SOURCES))
def test_a_broken_register_config_sources_is_isolated(dist, kernel_config, install_plugin, tiny_plugin_source):
    body, message = BROKEN_SOURCES[dist]
    source = tiny_plugin_source(f"net_{dist.replace('-', '_')}")
    install_plugin(f"zz-{dist}", source + f"\n@zoo.hookimpl\ndef register_config_sources():\n    {body}\n")
    with pytest.warns(zoo.PluginWarning, match=f"zz-{dist}"):
        registry = load_registry()
    broken = {p.name: p for p in registry.plugins}[f"zz-{dist}"]
    assert broken.status == "failed" and message in broken.error
    assert f"net_{dist.replace('-', '_')}" not in registry.specs  # nothing of a failed plugin is used
    assert {"my_kernel", "resnet50"} <= set(registry.specs)  # the rest, config backbones included, works


def test_the_sources_of_a_plugin_whose_backbones_fail_are_not_offered(kernel_config, install_plugin):
    install_plugin(
        "aa-half-broken",
        "import zoo\n"
        "@zoo.hookimpl\ndef register_config_sources():\n"
        "    return [zoo.ConfigSource(name='half', keys=(), factory_for=print)]\n"
        "@zoo.hookimpl\ndef register_backbones():\n    raise RuntimeError('boom')\n",
    )
    with pytest.warns(zoo.PluginWarning, match="aa-half-broken.*register_backbones raised RuntimeError"):
        registry = load_registry()
    assert "half" not in registry.config_sources and "npy_kernel" in registry.config_sources
    assert {p.name: p for p in registry.plugins}["aa-half-broken"].config_sources == ()


def test_a_source_that_returns_garbage_names_its_plugin_and_the_entry(kernel_config, install_plugin, monkeypatch):
    install_plugin(
        "zoo-garbage",
        "import zoo\n"
        "@zoo.hookimpl\ndef register_config_sources():\n"
        "    return [zoo.ConfigSource(name='garbage', keys=(), factory_for=lambda entry: None)]\n",
    )
    kernel_config.write_text(ENTRY.replace('"npy_kernel"', '"garbage"').replace('path = "kernel.npy"\n', ""))
    message = r"\[backbones.my_kernel\] the source 'garbage' of plugin 'zoo-garbage' returned None"
    with pytest.raises(zoo.SpecError, match=message):
        userconfig.read_config(kernel_config, load_registry(allow=["zoo-garbage"]).config_sources)


def test_existing_plugins_without_config_sources_still_register(install_plugin, tiny_plugin_source):
    install_plugin("zoo-tiny", tiny_plugin_source())  # def register_backbones(): with no argument
    reset(load_registry(allow=["zoo-tiny"]))
    assert zoo.get_spec("tiny_net").plugin == "zoo-tiny"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "Npy"}, "lowercase snake case"),
        ({"keys": "path"}, "a tuple of key names, not one string"),
        ({"keys": ("path", "Bad-Key")}, "keys must be snake-case strings"),
        ({"factory_for": "build"}, "factory_for must be callable"),
        ({"feature_stride": 0}, "feature_stride must be a positive integer or None"),
    ],
)
def test_a_malformed_config_source_is_a_spec_error(fields, message):
    with pytest.raises(zoo.SpecError, match=message):
        zoo.ConfigSource(**{"name": "npy", "keys": ("path",), "factory_for": print, **fields})
