"""Issue 20 (items 7, 8, 17 and 18): hostile plugins and hostile model files. A plugin that sleeps, prints,
replaces ``sys.stdout`` or calls ``os._exit`` while it loads is skipped and named; stdout carries the results
alone. A ``model.keras`` whose config names code outside Keras, whose ``zoo.json`` is damaged or whose
``block_pattern`` backtracks is refused in one line, and so is a ``KERAS_BACKEND`` Keras cannot start."""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

import zoo
from tests.corpus import image_folder
from tests.corpus.plugins import HOSTILE_CONFIGS, MARKER, backtracking, rewrite_model
from zoo.cli import main
from zoo.plugins import ENV_TIMEOUT, block_pattern_refusal, load_registry

SLEEPS = 15  # seconds a sleeping plugin sleeps: far above the limit the tests set, so a hang shows as one


def _site_env(**extra: str) -> dict[str, str]:
    """The environment of a `zoo` subprocess that finds the plugins ``install_plugin`` wrote (and the tiny ones)."""
    site = next(p for p in sys.path if p.endswith(os.sep + "site"))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, (site, os.environ.get("PYTHONPATH")))), **extra)
    env.pop(zoo.plugins.ENV_STRICT, None)
    return env


# Item 8: a plugin that sleeps while it loads is skipped after a time limit that names it.

SLEEPS_ON_IMPORT = f"import time\ntime.sleep({SLEEPS})\n"
SLEEPS_IN_HOOK = f"""
import time, zoo

@zoo.hookimpl
def register_backbones():
    time.sleep({SLEEPS})
    return []
"""


def test_a_plugin_that_sleeps_on_import_or_in_register_backbones_is_skipped_after_the_limit(
    install_plugin, monkeypatch
):
    install_plugin("sleeps-on-import", SLEEPS_ON_IMPORT)
    install_plugin("sleeps-in-hook", SLEEPS_IN_HOOK)
    monkeypatch.setenv(ENV_TIMEOUT, "1")
    start = time.monotonic()
    with pytest.warns(zoo.PluginWarning) as warned:
        reg = load_registry()
    assert time.monotonic() - start < 8
    said = sorted(str(w.message) for w in warned if "sleeps-" in str(w.message))
    assert len(said) == 2, said
    limit = r"within 1 s \(ZOO_PLUGIN_TIMEOUT sets the limit\)"
    assert re.search(rf"'sleeps-in-hook' failed: register_backbones did not return {limit}", said[0])
    assert re.search(rf"'sleeps-on-import' failed: its import did not finish {limit}", said[1])
    statuses = {p.name: p.status for p in reg.plugins}
    assert statuses["sleeps-on-import"] == statuses["sleeps-in-hook"] == "failed"
    assert "tiny_image" in reg.specs and "resnet50" in reg.specs

    monkeypatch.setenv(ENV_TIMEOUT, "soon")
    with pytest.raises(zoo.ConfigError, match="ZOO_PLUGIN_TIMEOUT must be a positive number of seconds, got 'soon'"):
        load_registry()


SLOW_FACTORY = """
import time, zoo

def build(spec, *, weights, input_shape):
    time.sleep(2.5)
    import keras
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, keras.layers.Conv2D(8, 3, strides=4)(inputs))

@zoo.hookimpl
def register_backbones():
    return [zoo.BackboneSpec(name="slow_net", family="slow", input_shape=(32, 32, 3), feature_dim=8,
                             feature_shape=(8, 8, 8), preprocessing=zoo.Preprocessing.tf(), factory=build)]
"""


def test_a_slow_factory_is_named_on_stderr_while_the_zoo_waits_for_it(install_plugin, monkeypatch, capsys):
    install_plugin("slow-factory", SLOW_FACTORY)
    monkeypatch.setenv(ENV_TIMEOUT, "1")
    assert zoo.backbone("slow_net", weights=None).output_shape == (None, 8)
    notes = [line for line in capsys.readouterr().err.splitlines() if "slow_net" in line]
    assert len(notes) == 1, notes
    assert "the factory of backbone 'slow_net' (plugin 'slow-factory') has not returned after 1 s" in notes[0]


# Item 17: stdout carries the results alone, whatever plugins print, replace or exit while they load.

PRINTS = """
import os, sys, zoo
print("printed on import")
sys.stdout.write("written on import\\n")
sys.stdout.flush()
os.write(1, b"written to descriptor 1\\n")

@zoo.hookimpl
def register_backbones():
    print("printed in register_backbones")
    return []
"""
REPLACES_STDOUT = "import io, sys\nsys.stdout = io.StringIO()\n"
CLOSES_STDOUT = "import sys\nsys.stdout.close()\n"
EXITS_ON_IMPORT = "import os\nos._exit(0)\n"
EXITS_IN_HOOK = "import os, zoo\n@zoo.hookimpl\ndef register_backbones():\n    os._exit(3)\n"
EXITS_IN_LOCATE_WEIGHTS = """
import os, zoo

@zoo.hookimpl
def register_backbones():
    return [zoo.BackboneSpec(name="quitter_net", family="x", input_shape=(32, 32, 3), feature_dim=8,
                             feature_shape=(8,), preprocessing=zoo.Preprocessing.tf(), factory=print,
                             weights=(zoo.WeightsVariant(tag="w", source="s"),))]

@zoo.hookimpl
def locate_weights(spec, tag):
    os._exit(0)
"""


def test_zoo_list_json_stays_json_whatever_plugins_print_replace_exit_or_sleep(install_plugin, tiny_plugin_source):
    install_plugin("prints", PRINTS)
    install_plugin("replaces-stdout", REPLACES_STDOUT)
    install_plugin("closes-stdout", CLOSES_STDOUT)
    install_plugin("exits-on-import", EXITS_ON_IMPORT)
    install_plugin("exits-in-hook", EXITS_IN_HOOK)
    install_plugin("sleeps-in-hook", SLEEPS_IN_HOOK)
    install_plugin("fine", tiny_plugin_source("fine_net"))
    command = [sys.executable, "-m", "zoo", "list", "--json"]
    start = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, env=_site_env(**{ENV_TIMEOUT: "2"}), timeout=60)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - start < SLEEPS
    names = [spec["name"] for spec in json.loads(result.stdout)]  # nothing else on stdout
    assert {"fine_net", "tiny_image", "resnet50"} <= set(names)
    said = result.stderr
    for text in ("printed on import", "written on import", "written to descriptor 1", "printed in register_backbones"):
        assert text in said
    warned = sorted(line for line in said.splitlines() if line.startswith("PluginWarning"))
    assert len(warned) == 3, said
    ended = "the plugin tried to end the process"
    assert f"'exits-in-hook' failed: register_backbones raised os._exit(3): {ended}" in warned[0]
    assert f"'exits-on-import' failed: could not be loaded: os._exit(0): {ended}" in warned[1]
    assert "'sleeps-in-hook' failed: register_backbones did not return within 2 s" in warned[2]

    install_plugin("exits-in-locate-weights", EXITS_IN_LOCATE_WEIGHTS)  # a hook the zoo calls after loading
    command = [sys.executable, "-m", "zoo", "info", "quitter_net"]
    only = _site_env(**{zoo.plugins.ENV_ALLOW: "exits-in-locate-weights"})
    result = subprocess.run(command, capture_output=True, text=True, env=only, timeout=60)
    assert result.returncode == 0 and "quitter_net" in result.stdout, result.stderr
    assert f"locate_weights failed for quitter_net: os._exit(0): {ended}" in result.stderr


def test_prints_while_plugins_load_go_to_stderr_and_stdout_is_put_back(install_plugin, monkeypatch, capsys):
    install_plugin("prints", PRINTS)
    install_plugin("replaces-stdout", REPLACES_STDOUT)
    stdout = sys.stdout
    monkeypatch.setattr(sys, "stdout", stdout)  # put back after the test whatever happens
    reg = load_registry()
    assert sys.stdout is stdout
    assert {p.name: p.status for p in reg.plugins if p.name in ("prints", "replaces-stdout")} == dict.fromkeys(
        ("prints", "replaces-stdout"), "loaded"
    )
    out, err = capsys.readouterr()
    assert out == "" and "printed on import" in err and "printed in register_backbones" in err


# Item 18: a model.keras whose config names code outside Keras is refused by safe mode, in one line.


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """One finished run of the tiny backbone (one epoch), and its data."""
    root = tmp_path_factory.mktemp("hostile-run")
    data = image_folder(root / "data")
    zoo.train("tiny_image", str(data), weights=None, epochs=1, out=root / "run", cache_dir=root / "cache", verbose=0)
    return root / "run", data


@pytest.fixture
def copy_of(finished_run, tmp_path, monkeypatch):
    """A copy of the finished run to edit, in a working directory where a command that ran would leave MARKER."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(finished_run[0], tmp_path / "run")
    return tmp_path / "run"


@pytest.mark.parametrize("name", HOSTILE_CONFIGS)
def test_a_model_whose_config_names_code_outside_keras_is_refused_by_safe_mode_in_one_line(name, copy_of):
    edit, reason = HOSTILE_CONFIGS[name]
    rewrite_model(copy_of / "model.keras", config=edit)
    with pytest.raises(zoo.RunError) as refused:
        zoo.load_model(copy_of)
    message = str(refused.value)
    assert "\n" not in message and f"refused by Keras' safe mode ({reason}" in message, message
    assert not os.path.exists(MARKER)


def test_zoo_predict_and_evaluate_refuse_a_hostile_model_in_one_line(copy_of, finished_run, capsys):
    rewrite_model(copy_of / "model.keras", config=HOSTILE_CONFIGS["os-system-class"][0])
    data = finished_run[1]
    for argv in (["predict", str(copy_of), str(data / "a" / "0.png")], ["evaluate", str(copy_of), "--data", str(data)]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("zoo: error: ") and "refused by Keras' safe mode" in err and "\n" not in err, err
    assert not os.path.exists(MARKER)


@pytest.mark.parametrize(
    "content, error",
    [
        (b"{not json", "JSONDecodeError"),
        (b"[1]", "TypeError"),
        (json.dumps({"backbone": "tiny_image"}).encode(), "KeyError"),
        (json.dumps({"parts": 3}).encode(), "TypeError"),
    ],
)
def test_a_damaged_zoo_json_is_named_as_damaged(content, error, copy_of):
    rewrite_model(copy_of / "model.keras", zoo_json=content)
    with pytest.raises(zoo.RunError, match=rf"model\.keras: its zoo\.json is damaged \({error}"):
        zoo.load_model(copy_of)


# Item 7: a block_pattern from a model file is matched only in a bounded language.


def test_a_block_pattern_that_backtracks_is_refused_when_the_model_loads(copy_of):
    rewrite_model(copy_of / "model.keras", zoo_json=backtracking)
    with pytest.raises(zoo.RunError) as refused:
        zoo.load_model(copy_of)
    message = str(refused.value)
    assert "block_pattern '(a+)+$'" in message and "repeats a group" in message and "\n" not in message
    # its backbone's own pattern, as the plugin declares it, loads (and fine-tunes) as before
    rewrite_model(copy_of / "model.keras", zoo_json=lambda config: config.update(block_pattern=r"^(block\d+)_"))
    assert zoo.load_model(copy_of).zoo_config.block_pattern == r"^(block\d+)_"


@pytest.mark.parametrize(
    "pattern, reason",
    [
        ("(a+)+$", "repeats a group"),
        ("(a|aa)*$", "repeats a group"),
        ("(a?){30}a{30}", "repeats a group"),
        (r"^(a*a*)b", "can end its repeat"),
        (r"^(\d+\d+)_", "can end its repeat"),
        (r"^(a?a?a)", "more than one optional part"),
        (r"^(?:(a)|a)", "alternatives that start alike"),
        (r"(\d+)x", "start it with ^"),
        (r"^(a)\1", "backreferences"),
        (r"^(?=a)(a)", "lookarounds"),
        (r"(?i)^(a)", "lookarounds"),
        (r"^a+", "no group"),
        ("^(" + "a" * 300 + ")", "longer than 200 characters"),
        ("^(a", "not a regular expression"),
    ],
)
def test_the_bounded_language_refuses_what_could_backtrack(pattern, reason):
    assert reason in (block_pattern_refusal(pattern) or "accepted")


def test_every_installed_block_pattern_is_in_the_bounded_language_and_matches_in_linear_time():
    patterns = {spec.block_pattern for spec in zoo.list_backbones() if spec.block_pattern}
    assert len(patterns) > 10
    refused = {pattern: block_pattern_refusal(pattern) for pattern in patterns if block_pattern_refusal(pattern)}
    assert not refused
    names = ["1" * 200_000, "_" * 200_000, "block" + "1" * 200_000, "_stage_" + "1" * 200_000 + "_block_1"]
    for pattern in patterns:
        start = time.monotonic()
        for name in names:
            re.search(pattern, name)
        assert time.monotonic() - start < 2, pattern


# Item 18: a KERAS_BACKEND that Keras cannot start is one line, before Keras is imported.

BACKENDS = [("nonsense", "is not a Keras backend: set tensorflow, jax, torch, numpy or openvino")]
if importlib.util.find_spec("torch") is None:
    BACKENDS.append(("torch", "needs torch, which is not installed: install it (pip install torch)"))


def test_a_keras_backend_keras_cannot_start_is_one_line_in_a_fresh_process(tmp_path):
    for name, why in BACKENDS:
        command = [sys.executable, "-m", "zoo", "predict", str(tmp_path), "x.png"]
        result = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, KERAS_BACKEND=name))
        assert result.returncode == 2 and result.stdout == "", result.stderr
        assert result.stderr.startswith(f"zoo: error: KERAS_BACKEND={name} {why}") and result.stderr.count("\n") == 1


class _NaNPlugin:
    """A backbone whose features are NaN: a broken weights file, or preprocessing that divides by zero."""

    @zoo.hookimpl
    def register_backbones(self):
        import dataclasses

        from zoo.testing import build_tiny_image, tiny_specs

        def factory(spec, *, weights, input_shape):
            import keras

            network = build_tiny_image(spec, weights=weights, input_shape=input_shape)
            return keras.Model(network.input, keras.layers.Rescaling(float("nan"))(network.output), name=spec.name)

        return [dataclasses.replace(tiny_specs()[0], name="tiny_nan", factory=factory)]


def test_a_backbone_giving_nan_features_stops_at_the_first_batch_and_names_it(tmp_path):
    zoo.testing.register_plugin(_NaNPlugin(), name="nan")
    data = image_folder(tmp_path / "data")
    not_finite = r"extracting features: tiny_nan, train split .*: the features are not finite \(NaN or infinity\)"
    with pytest.raises(zoo.DataError, match=not_finite):
        zoo.train("tiny_nan", data, weights=None, epochs=3, out=tmp_path / "run", cache_dir=tmp_path / "cache",
                  verbose=0)  # fmt: skip
    assert not (tmp_path / "run").exists() and not list((tmp_path / "cache").glob("*.npy"))  # nothing to resume
    with pytest.raises(zoo.DataError, match=r"not finite .* for 2 of the inputs 0-1 \('.*a/0.png' first\)"):
        zoo.extract("tiny_nan", zoo.data.load_dataset(data), weights=None, batch_size=2, verbose=0)
