"""Plugin discovery, allowlist, strict mode, broken-plugin isolation and name clashes."""

import subprocess
import sys

import numpy as np
import pytest

import zoo
import zoo.testing
from zoo.plugins import load_registry

FIRST_PARTY = "backbone-zoo-keras-applications"


def test_first_party_plugin_is_discovered_through_its_entry_point():
    reg = load_registry()
    plugin = next(p for p in reg.plugins if p.name == FIRST_PARTY)
    assert plugin.status == "loaded"
    assert plugin.module == "zoo_keras_applications"
    assert len(plugin.backbones) == 40
    assert all(reg.specs[name].plugin == FIRST_PARTY for name in plugin.backbones)


def test_plugins_load_after_something_imported_the_importlib_metadata_backport():
    # importlib_metadata (brought by MLflow, OpenTelemetry and many more) puts its finder on sys.meta_path, and the
    # standard library's discovery then returns the backport's EntryPoint class: every plugin, first-party ones too,
    # failed to load and `zoo list` was empty once MLflow had been imported.
    script = (
        "import importlib_metadata, importlib.metadata, zoo, zoo.plugins;"
        "found = importlib.metadata.entry_points(group='backbone_zoo');"
        "assert type(next(iter(found))).__module__ == 'importlib_metadata';"  # else this proves nothing
        "plugins = zoo.plugins.registry().plugins;"
        "print(sorted(p.name for p in plugins if p.status != 'loaded'), len(zoo.list_backbones()))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "[]" and int(out[1]) == len(zoo.list_backbones())


def test_list_backbones_is_sorted_and_matches_patterns_and_aliases():
    names = [s.name for s in zoo.list_backbones()]
    assert names == sorted(names) and len(names) >= 40
    assert [s.name for s in zoo.list_backbones("efficientnet_b?")] == [f"efficientnet_b{i}" for i in range(8)]
    assert [s.name for s in zoo.list_backbones("MobileNetV3*")] == ["mobilenet_v3_large", "mobilenet_v3_small"]
    assert {s.modality for s in zoo.list_backbones(modality="text")} == {"text"}
    assert len([s for s in zoo.list_backbones(modality="image") if s.plugin == FIRST_PARTY]) == 40
    with pytest.raises(ValueError, match="modality"):
        zoo.list_backbones(modality="audio")


def test_get_spec_by_alias_and_unknown_name_suggests_close_names():
    assert zoo.get_spec("ResNet50V2").name == "resnet50_v2"
    assert zoo.get_spec("resnet50-v2").name == "resnet50_v2"
    with pytest.raises(zoo.UnknownBackboneError) as err:
        zoo.get_spec("efficentnet_b0")
    assert "Did you mean: efficientnet_b0" in str(err.value)
    assert "zoo list" in str(err.value)


def test_allowlist_env_var(monkeypatch, install_plugin, tiny_plugin_source):
    install_plugin("zoo-tiny", tiny_plugin_source())
    monkeypatch.setenv("ZOO_PLUGINS", "")
    reg = load_registry()
    assert reg.specs == {}
    assert {p.status for p in reg.plugins} == {"disabled"}

    monkeypatch.setenv("ZOO_PLUGINS", "zoo-tiny")
    reg = load_registry()
    assert list(reg.specs) == ["tiny_net"]
    assert {p.name: p.status for p in reg.plugins}[FIRST_PARTY] == "disabled"

    monkeypatch.setenv("ZOO_PLUGINS", " Zoo_Tiny , ")  # a distribution name in any of its spellings (PEP 503)
    assert list(load_registry().specs) == ["tiny_net"]

    monkeypatch.delenv("ZOO_PLUGINS")
    assert {"tiny_net", "resnet50"} <= set(load_registry().specs)


def test_third_party_plugin_backbone_builds(install_plugin, tiny_plugin_source):
    install_plugin("zoo-tiny", tiny_plugin_source())
    model = zoo.backbone("tiny_net", weights=None)
    assert model.output_shape == (None, 8)
    info = {p.name: p for p in load_registry().plugins}["zoo-tiny"]
    assert (info.version, info.status, info.backbones) == ("1.0", "loaded", ("tiny_net",))


BROKEN_PLUGINS = {
    "raises-on-import": ("raise RuntimeError('boom at import')", "could not be loaded: RuntimeError: boom at import"),
    "returns-not-a-list": (
        "import zoo\n@zoo.hookimpl\ndef register_backbones():\n    return 'resnet'\n",
        "must return a list",
    ),
    "malformed-spec": (
        "import zoo\n@zoo.hookimpl\ndef register_backbones():\n"
        "    return [{'name': 'Bad Name', 'family': 'x', 'input_shape': [32, 32, 3], 'feature_dim': 4,"
        " 'feature_shape': [1, 1, 4], 'preprocessing': {}}]\n",
        "lowercase snake case",
    ),
    "hook-raises": (
        "import zoo\n@zoo.hookimpl\ndef register_backbones():\n    raise KeyError('oops')\n",
        "register_backbones raised KeyError",
    ),
    "misspelt-hook": (
        "import zoo\n@zoo.hookimpl\ndef register_backbone():\n    return []\n",
        "unknown hook",
    ),
}


@pytest.mark.parametrize("dist", sorted(BROKEN_PLUGINS))
def test_broken_plugin_is_reported_and_skipped(dist, install_plugin, tiny_plugin_source):
    source, message = BROKEN_PLUGINS[dist]
    install_plugin(dist, source)
    install_plugin("zoo-tiny", tiny_plugin_source())
    with pytest.warns(zoo.PluginWarning, match=dist):
        reg = load_registry()
    broken = {p.name: p for p in reg.plugins}[dist]
    assert broken.status == "failed"
    assert message.lower() in broken.error.lower()
    assert {"tiny_net", "resnet50"} <= set(reg.specs)  # the rest of the zoo keeps working


def test_strict_mode_raises_for_a_broken_plugin(monkeypatch, install_plugin):
    install_plugin("raises-on-import", "raise RuntimeError('boom at import')")
    monkeypatch.setenv("ZOO_STRICT_PLUGINS", "1")
    with pytest.raises(zoo.PluginError, match="raises-on-import.*boom at import"):
        load_registry()


def test_spec_without_factory_is_rejected(install_plugin):
    install_plugin(
        "no-factory",
        "import zoo\n@zoo.hookimpl\ndef register_backbones():\n"
        "    return [zoo.BackboneSpec(name='x1', family='x', input_shape=(32, 32, 3), feature_dim=4,"
        " feature_shape=(1, 1, 4), preprocessing=zoo.Preprocessing.tf())]\n",
    )
    with pytest.warns(zoo.PluginWarning, match="no factory"):
        load_registry()


def test_duplicate_names_across_plugins_are_an_error_naming_both(install_plugin, tiny_plugin_source):
    install_plugin("zoo-tiny-a", tiny_plugin_source("clash"))
    install_plugin("zoo-tiny-b", tiny_plugin_source("clash"))
    with pytest.warns(zoo.PluginWarning, match="'clash' is declared twice"):
        reg = load_registry()
    assert "resnet50" in {s.name for s in reg.list()} and "clash" not in {s.name for s in reg.list()}
    with pytest.raises(zoo.DuplicateBackboneError) as err:
        reg.get("clash")
    assert "zoo-tiny-a" in str(err.value) and "zoo-tiny-b" in str(err.value)
    with pytest.raises(zoo.DuplicateBackboneError):
        load_registry(strict=True)


def test_alias_clashing_with_another_plugins_name_is_an_error(install_plugin):
    install_plugin(
        "alias-thief",
        "import zoo\n"
        "@zoo.hookimpl\ndef register_backbones():\n"
        "    return [zoo.BackboneSpec(name='my_resnet', aliases=('ResNet50',), family='x',"
        " input_shape=(32, 32, 3), feature_dim=4, feature_shape=(1, 1, 4),"
        " preprocessing=zoo.Preprocessing.tf(), factory=print)]\n",
    )
    with pytest.warns(zoo.PluginWarning, match="'resnet50' is declared twice"):
        reg = load_registry()
    assert reg.get("my_resnet").name == "my_resnet"
    with pytest.raises(zoo.DuplicateBackboneError) as err:
        reg.get("resnet50")
    assert "'resnet50'" in str(err.value) and "alias-thief" in str(err.value) and FIRST_PARTY in str(err.value)


def test_listing_imports_neither_tensorflow_nor_keras():
    code = (
        "import sys, zoo\n"
        "zoo.list_backbones(); zoo.get_spec('resnet50')\n"
        "from zoo.cli import main; main(['list', '--json'])\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'jax', 'torch') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_a_plugin_for_another_core_version_is_skipped_with_the_reason(install_plugin, tiny_plugin_source):
    install_plugin("zoo-future", tiny_plugin_source("future_net"), requires=("backbone-zoo>=9.0", "numpy"))
    install_plugin("zoo-current", tiny_plugin_source("current_net"), requires=("backbone-zoo>=0.1,<1",))
    with pytest.warns(zoo.PluginWarning, match="zoo-future"):
        reg = load_registry()
    future = {p.name: p for p in reg.plugins}["zoo-future"]
    assert future.status == "incompatible" and "requires backbone-zoo>=9.0, but this is 0.1.0" in future.error
    assert "current_net" in reg.specs and "future_net" not in reg.specs


def _probe_spec(name):
    return zoo.BackboneSpec(name=name, family="probe", input_shape=(32, 32, 3), feature_dim=4, feature_shape=(4,),
                            preprocessing=zoo.Preprocessing.tf(), factory=print)  # fmt: skip


class _Locator:
    """A plugin with one backbone whose locate_weights records every spec it is asked about."""

    def __init__(self, name):
        self.name, self.seen = name, []

    @zoo.hookimpl
    def register_backbones(self):
        return [_probe_spec(self.name)]

    @zoo.hookimpl
    def locate_weights(self, spec, tag):
        self.seen.append((spec.name, spec.plugin))
        return f"/weights/{spec.name}"  # no filtering: it answers for whatever it is given


def test_locate_weights_receives_only_its_own_plugins_specs():
    first, second = _Locator("first_net"), _Locator("second_net")
    reg = load_registry(allow=[], strict=True, extra_plugins={"first-plugin": first, "second-plugin": second})
    assert reg.locate_weights(reg.get("first_net"), "t") == "/weights/first_net"
    assert reg.locate_weights(reg.get("second_net"), "t") == "/weights/second_net"
    assert first.seen == [("first_net", "first-plugin")] and second.seen == [("second_net", "second-plugin")]


def test_a_plugins_layers_load_through_its_hook_and_external_files_by_digest(tmp_path):
    import keras

    class Offset(keras.layers.Layer):  # not registered with Keras: only the plugin's hook makes it loadable
        def __init__(self, filepath, **kwargs):
            super().__init__(**kwargs)
            self.filepath = filepath

        def call(self, x):
            return x + 1.0

        def get_config(self):
            return {**super().get_config(), "filepath": self.filepath}

    class Plugin:
        trusted = None

        @zoo.hookimpl
        def register_backbones(self):
            return []

        @zoo.hookimpl
        def register_keras_objects(self, trusted):
            Plugin.trusted = list(trusted)
            return [Offset]

        @zoo.hookimpl
        def external_files(self, layer):
            return [layer.filepath] if isinstance(layer, Offset) else None

    (tmp_path / "table").mkdir()
    (tmp_path / "table" / "values.txt").write_text("1")
    inputs = keras.Input((2,))
    model = keras.Model(inputs, Offset(str(tmp_path / "table"))(inputs))
    zoo.save_model(model, tmp_path / "m.keras")  # no plugin knows Offset: nothing recorded, and it cannot load
    with pytest.raises(zoo.RunError, match=r"refused by Keras' safe mode \(Could not locate class 'Offset'"):
        zoo.load_model(tmp_path / "m.keras")

    zoo.testing.register_plugin(Plugin(), name="offset-plugin")
    zoo.save_model(model, tmp_path / "m.keras")
    assert zoo.load_model(tmp_path / "m.keras").predict(np.zeros((1, 2)), verbose=0).tolist() == [[1.0, 1.0]]
    assert Plugin.trusted == [str((tmp_path / "table").resolve())]
    (tmp_path / "table" / "values.txt").write_text("2")
    with pytest.raises(zoo.RunError, match=r"m.keras reads .*table, which changed since the model was saved"):
        zoo.load_model(tmp_path / "m.keras")
