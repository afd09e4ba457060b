"""Issue 12, items 5, 13 and 14: plugins that lie in their spec, that exit the process, or that declare a
name another plugin has; the rest of the zoo keeps working and the user is told which plugin is at fault."""

import os
import subprocess
import sys

import keras
import pytest

import zoo
import zoo.testing
from zoo.cli import main
from zoo.plugins import load_registry, reset

FIRST_PARTY = "backbone-zoo-keras-applications"
EXITS_ON_IMPORT = "raise SystemExit(0)\n"
EXITS_IN_HOOK = "import zoo\n@zoo.hookimpl\ndef register_backbones():\n    raise SystemExit(0)\n"


# Item 5: the built network is checked against its spec.


def _register(factory, name="liar", modality="image", **spec):
    """Register one backbone ``name`` built by ``factory`` from plugin ``liar-plugin``."""
    if modality == "text":
        fields = dict(input_shape=(), preprocessing=zoo.TextPreprocessing(lowercase=False, pooling="none"))
    else:
        fields = dict(input_shape=(32, 32, 3), preprocessing=zoo.Preprocessing.tf())
    fields.update(spec)

    class Plugin:
        @zoo.hookimpl
        def register_backbones(self):
            return [zoo.BackboneSpec(name=name, family="x", modality=modality, factory=factory, **fields)]

    zoo.testing.register_plugin(Plugin(), name="liar-plugin")


def _conv(width, strides=1, input_shape=(32, 32, 3), pool=False):
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(width, 3, strides=strides, padding="same")(inputs)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x) if pool else x)


def test_a_spec_claiming_another_feature_dim_is_refused_naming_the_plugin_and_both_numbers():
    _register(lambda spec, *, weights, input_shape: _conv(64, input_shape=input_shape, pool=True),
              feature_dim=999, feature_shape=(999,))  # fmt: skip
    with pytest.raises(zoo.PluginError) as caught:
        zoo.backbone("liar", weights=None)
    message = str(caught.value)
    assert "'liar'" in message and "liar-plugin" in message and "999" in message and "(64,)" in message
    assert "\n" not in message


def test_a_feature_map_of_another_size_is_refused_at_the_declared_input_and_channels_at_any():
    def factory(spec, *, weights, input_shape):
        return _conv(16, strides=8, input_shape=input_shape)  # (4, 4, 16) at 32x32

    _register(factory, feature_dim=16, feature_shape=(8, 8, 16))
    with pytest.raises(zoo.PluginError, match=r"\(4, 4, 16\).*feature_shape=\(8, 8, 16\)"):
        zoo.backbone("liar", weights=None)
    _register(factory, feature_dim=16, feature_shape=(4, 4, 16))
    assert zoo.backbone("liar", weights=None, input_shape=64).output_shape == (None, 16)  # (8, 8, 16) there
    _register(factory, feature_dim=32, feature_shape=(4, 4, 32))
    with pytest.raises(zoo.PluginError, match="feature_dim=32"):
        zoo.backbone("liar", weights=None, input_shape=64)


def test_a_network_that_ignores_the_input_shape_it_is_given_is_refused():
    _register(lambda spec, *, weights, input_shape: _conv(4, pool=True), feature_dim=4, feature_shape=(4,))
    assert zoo.backbone("liar", weights=None).output_shape == (None, 4)
    with pytest.raises(zoo.PluginError, match=r"takes inputs of shape \(32, 32, 3\).*\(64, 64, 3\)"):
        zoo.backbone("liar", weights=None, input_shape=64)


def test_a_text_encoder_of_another_width_is_refused():
    def factory(spec, *, weights, input_shape):
        import tensorflow as tf

        text = keras.Input(shape=(), dtype="string")
        length = keras.layers.Lambda(lambda t: tf.cast(tf.strings.length(t), "float32")[:, None], output_shape=(1,))
        return zoo.TextNetwork(None, keras.Model(text, keras.layers.Dense(4)(length(text))))

    _register(factory, modality="text", feature_dim=8, feature_shape=(8,))
    with pytest.raises(zoo.PluginError, match=r"liar-plugin.*\(4,\).*feature_dim=8"):
        zoo.backbone("liar", weights=None)


# Item 13: a plugin's SystemExit is a plugin failure, never the end of the command.


def _site_env(install_plugin):
    """The environment of a `zoo` subprocess that finds the plugins ``install_plugin`` wrote (and the tiny ones)."""
    site = next(p for p in sys.path if p.endswith(os.sep + "site"))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, (site, os.environ.get("PYTHONPATH")))))
    env.pop(zoo.plugins.ENV_STRICT, None)
    return env


def test_plugins_that_exit_are_skipped_and_zoo_list_lists_the_others(install_plugin):
    install_plugin("exits-on-import", EXITS_ON_IMPORT)
    install_plugin("exits-in-hook", EXITS_IN_HOOK)
    env = _site_env(install_plugin)
    result = subprocess.run([sys.executable, "-m", "zoo", "list"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert "tiny_image" in result.stdout and "resnet50" in result.stdout
    warned = result.stderr.splitlines()  # one line per plugin, and nothing else
    assert len(warned) == 2 and all("PluginWarning" in line for line in warned), result.stderr
    for line, plugin in zip(sorted(warned), ("exits-in-hook", "exits-on-import"), strict=True):
        assert f"plugin {plugin!r} failed" in line and "SystemExit(0)" in line

    strict = dict(env, ZOO_STRICT_PLUGINS="1")
    result = subprocess.run([sys.executable, "-m", "zoo", "list"], capture_output=True, text=True, env=strict)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("zoo: error: backbone-zoo plugin 'exits-")


def test_a_plugin_that_parses_the_command_line_on_import_is_skipped(install_plugin, monkeypatch):
    install_plugin("argv-parser", "import argparse\nargparse.ArgumentParser().parse_args()\n")
    monkeypatch.setattr(sys, "argv", ["zoo", "list"])  # its parser rejects `list`: SystemExit(2)
    with pytest.warns(zoo.PluginWarning, match=r"'argv-parser' failed.*SystemExit\(2\)"):
        reg = load_registry()
    assert {p.name: p for p in reg.plugins}["argv-parser"].status == "failed"
    assert "resnet50" in reg.specs


def test_a_factory_or_locate_weights_that_exits_is_a_plugin_error():
    class Plugin:
        @zoo.hookimpl
        def register_backbones(self):
            weights = (zoo.WeightsVariant(tag="w", source="s"),)
            return [zoo.BackboneSpec(name="quitter", family="x", input_shape=(32, 32, 3), feature_dim=4,
                                     feature_shape=(4,), preprocessing=zoo.Preprocessing.tf(), weights=weights,
                                     factory=self.build)]  # fmt: skip

        @staticmethod
        def build(spec, *, weights, input_shape):
            sys.exit(0)

        @zoo.hookimpl
        def locate_weights(self, spec, tag):
            sys.exit(3)

    zoo.testing.register_plugin(Plugin(), name="quitter-plugin")
    with pytest.warns(zoo.PluginWarning, match=r"locate_weights failed for quitter: SystemExit\(3\)"):
        with pytest.raises(zoo.PluginError, match="quitter-plugin.*SystemExit"):
            zoo.backbone("quitter")


# Item 14: a name declared twice is left out; the rest of the zoo works.


def test_a_plugin_declaring_resnet50_again_leaves_the_rest_working(install_plugin, tiny_plugin_source, capsys):
    install_plugin("zoo-resnet-thief", tiny_plugin_source("resnet50"))
    with pytest.warns(zoo.PluginWarning, match="'resnet50' is declared twice"):
        reset(load_registry())
    with pytest.raises(zoo.DuplicateBackboneError) as caught:
        zoo.get_spec("ResNet50")
    assert "zoo-resnet-thief" in str(caught.value) and FIRST_PARTY in str(caught.value)
    assert zoo.get_spec("resnet101").plugin == FIRST_PARTY
    names = [s.name for s in zoo.list_backbones("resnet*")]
    assert "resnet101" in names and "resnet50" not in names

    assert main(["list", "resnet10*"]) == 0 and "resnet101" in capsys.readouterr().out
    assert main(["info", "resnet50"]) == 2
    assert "declared twice" in capsys.readouterr().err
    assert main(["plugins"]) == 0
    lines = capsys.readouterr().out.splitlines()
    notes = {line.split()[0]: lines[i + 1] for i, line in enumerate(lines[:-1])}  # the line under each plugin
    assert "conflicting: resnet50" in notes[FIRST_PARTY] and "conflicting: resnet50" in notes["zoo-resnet-thief"]
    assert "conflicting: resnet50" not in notes["backbone-zoo-keras-cv"]

    with pytest.raises(zoo.DuplicateBackboneError, match="zoo-resnet-thief"):
        load_registry(strict=True)


def test_a_user_config_entry_named_resnet50_is_a_conflict_not_a_broken_zoo(tmp_path, monkeypatch):
    config = tmp_path / "backbones.toml"
    config.write_text(
        f'[backbones.resnet50]\nsource = "savedmodel"\npath = "{tmp_path}"\n'
        "input_shape = [32, 32, 3]\nfeature_dim = 4\npreprocessing = \"tf\"\n"
    )  # fmt: skip
    monkeypatch.setenv("ZOO_CONFIG", str(config))
    with pytest.warns(zoo.PluginWarning, match="declared twice"):
        reg = load_registry()
    with pytest.raises(zoo.DuplicateBackboneError) as caught:
        reg.get("resnet50")
    assert "'user-config'" in str(caught.value) and FIRST_PARTY in str(caught.value)
    assert reg.get("mobilenet_v2").name == "mobilenet_v2"
    conflicting = {p.name: p.conflicts for p in reg.plugins if p.conflicts}
    assert conflicting == {FIRST_PARTY: ("resnet50",), "user-config": ("resnet50",)}
    monkeypatch.setenv("ZOO_STRICT_PLUGINS", "1")
    with pytest.raises(zoo.DuplicateBackboneError, match="user-config"):
        load_registry()
