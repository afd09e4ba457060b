"""zoo.train: two phases, cached features, run directory, resume after SIGKILL, evaluate and predict."""

import hashlib
import json

import keras
import numpy as np
import pytest
from PIL import Image

import zoo
from zoo.backbones import network_of
from zoo.cache import FeatureCache
from zoo.demo import SCENES, write_scenes
from zoo.errors import DataError, DataWarning
from zoo.inference import evaluate, predict
from zoo.testing import TINY_IMAGE_CAFFE
from zoo.trainer import RunError, unfreeze_top

# The tiny test backbone from random weights separates the generated scenes: no hub needed. Its
# preprocessing is ResNet's (caffe: RGB->BGR, minus the ImageNet mean), so the saved models carry the
# flip; its 16 features train at a larger learning rate than a 2048-wide ResNet's.
NET = TINY_IMAGE_CAFFE
TRAIN = dict(batch_size=16, learning_rate=0.1, verbose=0)
FAST = dict(weights=None, input_shape=32, **TRAIN)  # building from the name: random weights, 32x32


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    root = tmp_path_factory.mktemp("scenes")
    return write_scenes(root / "train", per_class=12, size=32, seed=0), write_scenes(root / "test", 5, 32, seed=1)


@pytest.fixture(scope="module")
def finished_run(scenes, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "run"
    cache = tmp_path_factory.mktemp("cache")
    return zoo.train(NET, scenes[0], epochs=12, out=out, cache_dir=cache, **FAST)


@pytest.mark.slow
def test_training_on_generated_scenes_reaches_high_accuracy(finished_run):
    assert finished_run.metrics["accuracy"] >= 0.9
    assert finished_run.class_names == SCENES


def test_run_directory_holds_everything(finished_run):
    path = finished_run.path
    names = {p.name for p in path.iterdir()}
    expected = {"model.keras", "config.json", "spec.json", "labels.json", "metrics.json", "history.csv"}
    assert expected | {"learning_curves.png", "confusion_matrix.png", "README.md", "state.json"} <= names
    assert not [p for p in path.iterdir() if p.name.startswith(".")]  # no temporary leftovers
    metrics = json.loads((path / "metrics.json").read_text())
    assert {"accuracy", "macro_f1", "per_class", "confusion_matrix"} <= metrics.keys()
    assert set(metrics["per_class"]) == set(SCENES) and {"precision", "recall"} <= metrics["per_class"]["beach"].keys()
    assert json.loads((path / "labels.json").read_text()) == list(SCENES)
    assert json.loads((path / "spec.json").read_text())["name"] == NET
    lines = (path / "history.csv").read_text().splitlines()
    assert lines[0].startswith("phase,epoch") and 2 <= len(lines) <= 13
    assert "accuracy" in (path / "README.md").read_text()
    assert json.loads((path / "state.json").read_text())["complete"] is True


def test_saved_model_round_trips_through_evaluate_and_predict(finished_run, scenes):
    loaded = zoo.load_model(finished_run.path)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), finished_run.model.predict(x, verbose=0), atol=1e-5)

    metrics = evaluate(finished_run.path, scenes[1])
    assert metrics["n"] == 20 and metrics["accuracy"] >= 0.8
    beach = sorted((scenes[1] / "beach").iterdir())[0]
    broken = scenes[1].parent / "broken.png"
    broken.write_bytes(b"not an image")
    results = predict(finished_run.path, [beach, broken], top_k=2)
    assert results[0]["predictions"][0]["label"] == "beach"
    assert len(results[0]["predictions"]) == 2 and "error" in results[1]


def test_evaluation_data_with_unknown_labels_is_refused(finished_run, tmp_path):
    write_scenes(tmp_path, per_class=2, size=32)
    (tmp_path / "beach").rename(tmp_path / "desert")
    with pytest.raises(DataError, match="desert"):
        evaluate(finished_run.path, tmp_path)


@pytest.mark.slow
def test_cached_and_uncached_phase1_give_the_same_head(scenes, tmp_path):
    heads = []
    for cache in (True, False):
        run = zoo.train(
            NET, scenes[0], epochs=3, shuffle=False, cache=cache, out=tmp_path / str(cache),
            cache_dir=tmp_path / "cache", **FAST,
        )  # fmt: skip
        heads.append(run.model.get_layer("head").get_weights())
    for cached, uncached in zip(*heads, strict=True):
        np.testing.assert_allclose(cached, uncached, atol=2e-4)


@pytest.mark.slow
def test_fine_tuning_unfreezes_top_blocks_and_keeps_batchnorm_frozen(scenes, tmp_path):
    model = zoo.build(NET, num_classes=4, weights=None, input_shape=32)
    network = network_of(model)
    before = {layer.name: [w.copy() for w in layer.get_weights()] for layer in network.layers}
    run = zoo.train(model, scenes[0], epochs=1, fine_tune=1, fine_tune_epochs=1, out=tmp_path / "ft", **TRAIN)
    assert [row["phase"] for row in run.history] == [1, 2]
    changed = {
        layer.name
        for layer in network.layers
        if any(not np.array_equal(a, b) for a, b in zip(before[layer.name], layer.get_weights(), strict=True))
    }
    assert changed and all(name.startswith("block3_") for name in changed)
    assert not any(name.endswith("_bn") for name in changed)  # BatchNorm in inference mode: no stats update


def test_unfreeze_top_counts_blocks_from_the_top():
    network = network_of(zoo.backbone("resnet50", weights=None, input_shape=32, pooling=None))
    assert unfreeze_top(network, 2, zoo.get_spec("resnet50").block_pattern) == ["conv5_block3", "conv5_block2"]
    trainable = {layer.name for layer in network.layers if layer.trainable and layer.weights}
    assert "conv5_block2_1_conv" in trainable and "conv5_block1_1_conv" not in trainable
    assert not any(isinstance(network.get_layer(n), keras.layers.BatchNormalization) for n in trainable)
    assert unfreeze_top(network, 3, None) == ["conv5_block3_3_bn", "conv5_block3_3_conv", "conv5_block3_2_bn"]
    with pytest.raises(ValueError, match="fine_tune must be between 1 and 16"):
        unfreeze_top(network, 17, zoo.get_spec("resnet50").block_pattern)


@pytest.mark.slow
def test_class_weights_mixed_precision_and_multilabel_run(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (24, 32, 32, 3)).astype("uint8")
    labels = np.array([0] * 18 + [1] * 6)
    run = zoo.train(NET, (x, labels), epochs=2, class_weight="balanced", mixed_precision=True,
                    out=tmp_path / "a", **FAST)  # fmt: skip
    computing = {layer.dtype_policy.name for layer in network_of(run.model).layers if layer.weights}
    assert computing == {"mixed_bfloat16"}  # the saved model's layers, as loaded back
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    more = zoo.train(zoo.load_model(run.path), (x, labels), epochs=1, out=tmp_path / "more", **TRAIN)
    assert "| mixed_precision | yes (mixed_bfloat16) |" in (more.path / "README.md").read_text()  # as it computes
    multi = np.stack([labels, 1 - labels, labels], axis=1)
    options = {**FAST, "epochs": 1, "patience": None}  # one epoch: its validation row measured the saved model
    run = zoo.train(NET, (x[6:], multi[6:]), (x[:6], multi[:6]), task="multilabel", out=tmp_path / "b", **options)
    assert {"micro_f1", "subset_accuracy"} <= run.metrics.keys()
    # each epoch's accuracy is per (example, label) at 0.5, named so: not Keras' categorical "accuracy"
    (row,) = run.history
    assert "val_accuracy" not in row
    right = (run.model.predict(x[:6], verbose=0) >= 0.5) == multi[:6]
    assert row["val_binary_accuracy"] == pytest.approx(right.mean(), abs=1e-6)


def test_a_run_directory_is_never_overwritten(finished_run, scenes):
    with pytest.raises(RunError, match="already holds a finished run; pick another --out"):  # not "resume it"
        zoo.train(NET, scenes[0], epochs=1, out=finished_run.path, **FAST)
    with pytest.raises(RunError, match="does not exist"):
        zoo.resume(finished_run.path.parent / "nothing-here")


@pytest.mark.slow
def test_feature_cache_is_rebuilt_after_a_changed_image(scenes, tmp_path):
    data = tmp_path / "data"
    write_scenes(data, per_class=6, size=32)
    cache = tmp_path / "cache"
    zoo.train(NET, data, epochs=1, out=tmp_path / "r1", cache_dir=cache, **FAST)
    entries = set(cache.glob("*.npy"))
    zoo.train(NET, data, epochs=1, out=tmp_path / "r2", cache_dir=cache, **FAST)
    assert set(cache.glob("*.npy")) == entries  # same images, same weights: reused
    image = next((data / "night").iterdir())
    Image.fromarray(np.full((32, 32, 3), 200, np.uint8)).save(image)
    zoo.train(NET, data, epochs=1, out=tmp_path / "r3", cache_dir=cache, **FAST)
    assert len(set(cache.glob("*.npy")) - entries) >= 1


@pytest.mark.slow  # two runs
def test_a_rewritten_cache_entry_with_a_matching_record_does_not_reach_metrics_json(scenes, tmp_path):
    """The final metrics are the saved model's on the validation images, whatever the cache holds."""
    train, val = scenes
    cache = tmp_path / "cache"
    zoo.train(NET, train, val=val, epochs=2, out=tmp_path / "first", cache_dir=cache, **FAST)
    for entry in cache.glob("*.npy"):  # rows reversed: each class given another's features; the record to match
        np.save(entry, np.load(entry)[::-1])
        record = json.loads(entry.with_suffix(".json").read_text())
        record["sha256"] = hashlib.sha256(entry.read_bytes()).hexdigest()
        entry.with_suffix(".json").write_text(json.dumps(record))
    with pytest.warns(DataWarning, match="cached features of the validation split disagree") as said:
        run = zoo.train(NET, train, val=val, epochs=2, out=tmp_path / "second", cache_dir=cache, **FAST)
    assert [str(cache) in str(w.message) for w in said if w.category is DataWarning] == [True]
    assert run.metrics["accuracy"] == evaluate(run.path, val)["accuracy"]


@pytest.mark.parametrize("damage", ["flip", "truncate", "drop_record"])
def test_feature_cache_recomputes_a_damaged_entry(tmp_path, damage):
    cache, calls = FeatureCache(tmp_path), []

    def compute(out):
        calls.append(1)
        out[:] = np.arange(out.size, dtype=out.dtype).reshape(out.shape)

    first = np.array(cache.get_or_compute("key", (4, 3), compute))
    path = tmp_path / "key.npy"
    if damage == "flip":
        data = bytearray(path.read_bytes())
        data[-1] ^= 0xFF
        path.write_bytes(bytes(data))
    elif damage == "truncate":
        path.write_bytes(path.read_bytes()[:-5])
    else:
        (tmp_path / "key.json").unlink()
    again = cache.get_or_compute("key", (4, 3), compute)
    assert len(calls) == 2
    np.testing.assert_array_equal(again, first)
    cache.get_or_compute("key", (4, 3), compute)
    assert len(calls) == 2  # intact now: read, not recomputed


def test_resuming_a_finished_run_changes_nothing(finished_run):
    before = (finished_run.path / "model.keras").stat().st_mtime_ns
    again = zoo.resume(finished_run.path, verbose=0)
    assert again.metrics == finished_run.metrics
    assert (finished_run.path / "model.keras").stat().st_mtime_ns == before


def test_options_that_do_not_apply_are_refused(scenes, tmp_path):
    model = zoo.build(NET, num_classes=4, weights=None, input_shape=32)
    with pytest.raises(ValueError, match="mixed_precision"):
        zoo.train(model, scenes[0], mixed_precision=True, out=tmp_path / "a", **TRAIN)
    x, y = (np.arange(8 * 32 * 32 * 3).reshape(8, 32, 32, 3) % 251).astype("uint8"), np.linspace(0, 1, 8)
    with pytest.raises(ValueError, match="classification only"):
        zoo.train(NET, (x, y), task="regression", class_weight="balanced", out=tmp_path / "b", **FAST)
    with pytest.raises(ValueError, match="4 outputs but the data has 2"):
        zoo.train(model, (x, np.array([0, 1] * 4)), out=tmp_path / "c", **TRAIN)


def test_train_puts_back_the_callers_python_and_numpy_random_states(tmp_path):
    import random

    x = np.random.default_rng(0).integers(0, 256, (12, 32, 32, 3)).astype("uint8")
    random.seed(7), np.random.seed(7)
    expected = (random.random(), np.random.rand())
    random.seed(7), np.random.seed(7)
    zoo.train(NET, (x, np.array(["a", "b"] * 6)), epochs=1, out=tmp_path / "run", seed=3, **FAST)
    assert (random.random(), np.random.rand()) == expected  # as if train had drawn nothing


def test_options_that_would_change_nothing_are_refused_not_recorded(scenes, tmp_path):
    with pytest.raises(zoo.ConfigError, match="fine_tune_epochs and fine_tune_learning_rate apply when fine-tuning"):
        zoo.train(NET, scenes[0], fine_tune_epochs=3, fine_tune_learning_rate=0.1, out=tmp_path / "a", **FAST)
    with pytest.raises(zoo.ConfigError, match="val_fraction applies when the validation set is split"):
        zoo.train(NET, scenes[0], scenes[1], val_fraction=0.3, out=tmp_path / "b", **FAST)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_built_model_is_recorded_with_the_options_it_was_built_with(scenes, tmp_path):
    model = zoo.build(NET, num_classes=4, head="max", hidden=(16,), dropout=0.3, weights=None, input_shape=32)
    run = zoo.train(model, scenes[0], out=tmp_path / "run", **TRAIN)
    recorded = json.loads((run.path / "config.json").read_text())["train"]
    built = {"head": "max", "hidden": [16], "dropout": 0.3, "weights": None}
    assert {name: recorded[name] for name in built} == built  # what zoo runs, the report and MLflow show
    again = zoo.resume(run.path, verbose=0)  # a finished run: the record goes with it
    assert again.train_config == run.train_config
