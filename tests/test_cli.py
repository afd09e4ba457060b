"""The `zoo` command: listing, info, plugins, registry.json and the demo."""

import json

import pytest

import zoo
from zoo import catalogue
from zoo.cli import main
from zoo.demo import write_scenes
from zoo.testing import TINY_IMAGE_CAFFE


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_list_table_and_json(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # every column (tests/test_tables.py: narrower terminals)
    status, out, _ = run(capsys, "list", "resnet*")
    assert status == 0
    assert out.splitlines()[0].split()[:3] == ["NAME", "FAMILY", "MODALITY"]
    assert "resnet50  " in out and f"{len(zoo.list_backbones('resnet*'))} backbones" in out
    status, out, _ = run(capsys, "list", "--json", "--modality", "image")
    specs = json.loads(out)
    assert status == 0 and len(specs) >= 40
    assert {"name", "preprocessing", "feature_dim", "weights", "plugin"} <= specs[0].keys()


def test_info_shows_preprocessing_and_weights(capsys):
    status, out, _ = run(capsys, "info", "DenseNet121")
    assert status == 0
    assert "torch: x*0.00392157" in out and "imagenet (default)" in out and "BSD-3-Clause" in out
    status, out, _ = run(capsys, "info", "vgg16", "--json")
    assert json.loads(out)["preprocessing"]["channel_order"] == "bgr"


def test_unknown_name_exits_2_with_suggestions(capsys):
    status, out, err = run(capsys, "info", "resnet5O")
    assert status == 2 and out == ""
    assert "Unknown backbone 'resnet5O'" in err and "resnet50" in err


def test_plugins_lists_versions_status_and_errors(capsys, install_plugin):
    install_plugin("broken-one", "raise ImportError('needs torch')")
    with pytest.warns(UserWarning, match="broken-one"):
        zoo.plugins.registry()
    status, out, _ = run(capsys, "plugins")
    assert status == 0
    lines = out.splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith("broken-one"))
    assert "failed" in lines[row] and "ImportError: needs torch" in lines[row + 1]  # the error under its plugin
    status, out, _ = run(capsys, "plugins", "--json")
    plugins = {p["name"]: p for p in json.loads(out)["plugins"]}
    assert plugins["backbone-zoo-keras-applications"]["status"] == "loaded"
    assert plugins["broken-one"]["version"] == "1.0"


def test_committed_registry_json_is_in_sync(capsys, repo_root):
    status, _, err = run(capsys, "registry", "--check", "--file", str(repo_root / "registry.json"))
    assert status == 0, err


def test_registry_check_fails_when_stale_and_write_fixes_it(capsys, tmp_path):
    path = tmp_path / "registry.json"
    assert run(capsys, "registry", "--check", "--file", str(path))[0] == 1  # missing
    assert run(capsys, "registry", "--write", "--file", str(path))[0] == 0
    assert run(capsys, "registry", "--check", "--file", str(path))[0] == 0
    data = json.loads(path.read_text())
    data["backbones"][0]["params"] += 1
    path.write_text(json.dumps(data))
    status, _, err = run(capsys, "registry", "--check", "--file", str(path))
    assert status == 1 and data["backbones"][0]["name"] in err and "zoo registry --write" in err
    first_party = [s for s in zoo.list_backbones() if s.plugin in catalogue.FIRST_PARTY_PLUGINS]
    assert json.loads(catalogue.render())["count"] == len(first_party) >= 47


def test_registry_ignores_third_party_plugins(install_plugin, tiny_plugin_source):
    install_plugin("zoo-tiny", tiny_plugin_source())
    assert "tiny_net" not in catalogue.render()


@pytest.mark.slow
def test_train_evaluate_and_predict_through_the_command_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    train = write_scenes(tmp_path / "data" / "train", per_class=12, size=32, seed=0)
    test = write_scenes(tmp_path / "data" / "test", per_class=5, size=32, seed=1)
    options = ["--weights", "none", "--epochs", "12", "--lr", "0.1", "--batch-size", "16"]
    status, out, _ = run(capsys, "train", "--backbone", TINY_IMAGE_CAFFE, "--data", str(train), *options,
                         "--out", str(tmp_path / "run"))  # fmt: skip
    assert status == 0 and "run directory" in out
    for name in ("model.keras", "metrics.json", "history.csv", "learning_curves.png", "confusion_matrix.png"):
        assert (tmp_path / "run" / name).exists(), name
    status, out, _ = run(capsys, "evaluate", str(tmp_path / "run"), "--data", str(test), "--json")
    metrics = json.loads(out)
    assert status == 0 and metrics["n"] == 20 and metrics["accuracy"] >= 0.8
    image = sorted((test / "night").iterdir())[0]
    status, out, _ = run(capsys, "predict", str(tmp_path / "run"), str(image), "--top-k", "2", "--json")
    predictions = json.loads(out)[0]["predictions"]
    assert status == 0 and len(predictions) == 2 and predictions[0]["label"] == "night"
    status, out, _ = run(capsys, "predict", str(tmp_path / "run"), str(tmp_path / "missing.png"))
    assert status == 2 and "missing.png: error" in out  # every input failed


@pytest.mark.slow
def test_demo_trains_and_evaluates_end_to_end(capsys, tmp_path):
    """The real thing: ResNet50 on generated scenes, then the real all-MiniLM-L6-v2 checkpoint on the shipped topics
    (the only test that trains on it: test_text.py checks its features against sentence-transformers')."""
    status, out, _ = run(capsys, "demo", "--out", str(tmp_path))
    assert status == 0
    assert f"{len(zoo.list_backbones())} backbones" in out and "held-out test set: accuracy" in out
    accuracy = float(out.split("held-out test set: accuracy ")[1].split(",")[0])
    assert accuracy >= 0.9
    # the real all-MiniLM-L6-v2 checkpoint (installed by make test) on the shipped topics: four classes, chance 0.25
    assert "(fitted to the texts); validation accuracy " in out, f"the demo's text part did not train:\n{out}"
    text_accuracy = float(out.split("(fitted to the texts); validation accuracy ")[1].split()[0])
    assert text_accuracy >= 0.85
    assert "predict 'The striker scored twice in the last ten minutes.': sports" in out
    assert "predict 'Whisk the eggs, then fold in the flour.': cooking" in out
    for name in ("model.keras", "metrics.json", "history.csv", "learning_curves.png", "confusion_matrix.png"):
        assert (tmp_path / "run" / name).exists(), name
    # evaluate and predict from the saved run, through the command line
    status, out, _ = run(capsys, "evaluate", str(tmp_path / "run"), "--data", str(tmp_path / "data" / "test"), "--json")
    assert status == 0 and json.loads(out)["n"] == 40
    image = sorted((tmp_path / "data" / "test" / "night").iterdir())[0]
    status, out, _ = run(capsys, "predict", str(tmp_path / "run"), str(image), "--top-k", "2", "--json")
    predictions = json.loads(out)[0]["predictions"]
    assert status == 0 and len(predictions) == 2 and predictions[0]["label"] == "night"
    status, out, _ = run(capsys, "predict", str(tmp_path / "run"), str(tmp_path / "missing.png"))
    assert status == 2 and "missing.png: error" in out  # every input failed


def test_train_without_data_or_resume_is_a_usage_error(capsys):
    status, _, err = run(capsys, "train", "--backbone", "resnet50")
    assert status == 2 and "--data" in err


def test_version_and_the_public_api_are_discoverable(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out == f"zoo (backbone-zoo) {zoo.__version__}\n"
    assert {"train", "load_model", "predict", "rank", "extract", "export", "Run"} <= set(dir(zoo))


LEAN_START = """
import sys
from zoo import console

console.load_framework(lean=True)  # as every zoo command loads it
unseen = [name for name in console.UNUSED_OPTIONAL_IMPORTS if name not in sys.modules]
import jax, keras, sklearn  # still installed for whoever imports them next (a plugin, say)
print(unseen, keras.backend.backend(), jax.__name__, sklearn.__name__)
"""


@pytest.mark.slow  # TensorFlow in a new process
def test_a_command_starts_keras_without_scikit_learn_and_jax_which_stay_importable(tmp_path):
    import os
    import subprocess
    import sys

    env = {**{k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}, "KERAS_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", LEAN_START], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["['sklearn',", "'jax']", "tensorflow", "jax", "sklearn"]


def test_the_backend_keras_will_start_is_read_before_it_does(tmp_path, monkeypatch):
    from zoo.console import keras_backend

    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert keras_backend() == "tensorflow"  # no keras.json
    (tmp_path / "keras.json").write_text('{"backend": "jax", "floatx": "float32"}')
    assert keras_backend() == "jax"  # then a lean start keeps jax: Keras needs it
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    assert keras_backend() == "tensorflow"
    (tmp_path / "keras.json").write_text("{broken")
    monkeypatch.delenv("KERAS_BACKEND")
    assert keras_backend() == "tensorflow"
