"""zoo rank and zoo.extract: features once, LogME and a linear probe per backbone, failures reported."""

import json

import keras
import numpy as np
import pytest

import zoo
from zoo.cli import main
from zoo.demo import write_scenes
from zoo.ranking import candidates, rank
from zoo.testing import TINY_IMAGE, TINY_IMAGE_CAFFE


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    return write_scenes(tmp_path_factory.mktemp("rank") / "data", per_class=10, size=32)


@pytest.mark.slow
def test_rank_scores_and_sorts_several_backbones(scenes, tmp_path):
    names = [TINY_IMAGE, TINY_IMAGE_CAFFE, "mobilenet_v3_small"]
    results = rank(scenes, names, weights=None, input_shape=32, cache_dir=tmp_path, verbose=0)
    assert sorted(r.backbone for r in results) == sorted(names)
    logmes = [r.logme for r in results]
    assert all(np.isfinite(logmes)) and logmes == sorted(logmes, reverse=True), logmes
    assert all(0 <= r.probe <= 1 and r.probe_metric == "accuracy" and r.feature_seconds > 0 for r in results)
    assert [r.error for r in results] == [None] * 3
    assert {r.feature_dim for r in results} == {16, 576}


def test_a_failing_backbone_is_reported_not_fatal(scenes, tmp_path):
    names = ["inception_v3", "mobilenet_v2_tfhub", TINY_IMAGE]
    results = rank(scenes, names, weights=None, input_shape=32, cache_dir=tmp_path, verbose=0)
    assert [r.backbone for r in results] == [TINY_IMAGE, "inception_v3", "mobilenet_v2_tfhub"]
    assert results[1].logme is None and "at least 75x75" in results[1].error
    assert results[2].error.startswith("WeightsError: mobilenet_v2_tfhub is a SavedModel, which has no random ")
    assert results[2].error.endswith("(--weights DIR, weights=Path(DIR))")  # whole, however long (it was cut at 200)


def test_rank_command_prints_a_table_and_recommends(scenes, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path))
    args = ["rank", "--data", str(scenes), "--backbones", TINY_IMAGE, "tiny_image_caff?", "--weights", "none"]
    args += ["--input-size", "32"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert main([*args, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {row["backbone"] for row in rows} == {TINY_IMAGE, TINY_IMAGE_CAFFE}
    assert (
        out.splitlines()[0].split()[:2] == ["BACKBONE", "LOGME"] and f"recommended: {rows[0]['backbone']} (" in out
    )  # the best LogME


def test_sample_scores_a_stratified_subset(scenes, tmp_path, caplog):
    (result,) = rank(scenes, TINY_IMAGE, sample=20, weights=None, input_shape=32, cache_dir=tmp_path)
    assert result.error is None and np.isfinite(result.logme)
    assert "scoring a stratified sample of 20 of " in caplog.text


def test_a_sample_too_small_to_probe_names_the_sample(tmp_path):
    """Four classes of five: a sample of 5 keeps one of each (stratified), too few for five folds."""
    x = np.random.default_rng(0).integers(0, 255, (20, 32, 32, 3), dtype=np.uint8)
    with pytest.raises(zoo.DataError, match="^a sample of 5 gave 4 examples .* ask for a larger sample"):
        rank((x, [0, 1, 2, 3] * 5), TINY_IMAGE, sample=5, folds=5, weights=None, verbose=0)


def test_copies_count_once_so_random_labels_do_not_score_as_learned(tmp_path):
    """Each of 20 noise images three times under random labels: in two folds, a copy would make the probe perfect.
    The scores are those of the 20 images once each."""
    x = np.random.default_rng(1).integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)
    y = np.random.default_rng(2).permutation([0, 1] * 10)
    options = dict(folds=3, weights=None, input_shape=32, cache_dir=tmp_path, verbose=0)
    with pytest.warns(zoo.DataWarning, match="40 of 60 examples .* repeat the content"):
        (copied,) = rank((np.repeat(x, 3, axis=0), np.repeat(y, 3)), TINY_IMAGE, **options)
    (once,) = rank((x, y), TINY_IMAGE, **options)
    assert copied.probe < 0.9 and (copied.logme, copied.probe) == pytest.approx((once.logme, once.probe))


def test_rank_clears_keras_session_but_leaves_the_callers_keras_state(scenes, tmp_path):
    def number(layer_name):
        return int(layer_name.rpartition("_")[2]) if "_" in layer_name else 0

    before = keras.layers.Dense(1).name
    keras.config.disable_interactive_logging()
    try:
        rank(scenes, [TINY_IMAGE, TINY_IMAGE_CAFFE], weights=None, input_shape=32, cache_dir=tmp_path, verbose=0)
        assert not keras.config.is_interactive_logging_enabled()
    finally:
        keras.config.enable_interactive_logging()
    assert number(keras.layers.Dense(1).name) == number(before) + 1  # the candidates' layers are forgotten


def test_too_small_or_single_class_data_is_refused(tmp_path):
    x = np.random.default_rng(0).integers(0, 255, (4, 32, 32, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="too few to score"):
        rank((x, [0, 1, 0, 1]), TINY_IMAGE, weights=None, verbose=0)
    with pytest.raises(zoo.UnknownBackboneError, match="no image backbone matches 'nonet\\*'"):
        candidates("nonet*", "image")


def test_extract_feeds_uint8_and_matches_the_model(tmp_path):
    model = zoo.backbone(TINY_IMAGE, weights=None, input_shape=32, pooling="max")
    x = np.random.default_rng(0).integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)
    expected = keras.ops.convert_to_numpy(model(x.astype("float32")))
    np.testing.assert_allclose(zoo.extract(model, x, batch_size=4, verbose=0), expected, atol=1e-5)
    out = np.lib.format.open_memmap(tmp_path / "f.npy", mode="w+", dtype="float32", shape=(10, 16))
    assert zoo.extract(model, x, out=out, verbose=0) is out
    resized = zoo.extract(model, np.repeat(np.repeat(x, 2, axis=1), 2, axis=2), verbose=0)  # 64x64 in
    assert resized.shape == (10, 16)
    with pytest.raises(ValueError, match="out has 3 rows"):
        zoo.extract(model, x, out=np.zeros((3, 16), "float32"), verbose=0)
