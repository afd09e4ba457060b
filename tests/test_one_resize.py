"""One resize for every consumer of a run: the cached training features, the fine-tuning pipeline,
evaluate and predict all resize with the spec's declared interpolation, and the cache key knows it."""

import dataclasses

import numpy as np
import pytest
from PIL import Image

import zoo
from zoo.cache import FeatureCache
from zoo.data import load_dataset, pipeline
from zoo.features import cached_extract
from zoo.testing import register_plugin, tiny_specs

NEAREST = "tiny_nearest"


class _NearestPlugin:
    @zoo.hookimpl
    def register_backbones(self):
        spec = tiny_specs()[0]
        preprocessing = dataclasses.replace(spec.preprocessing, interpolation="nearest")
        return [dataclasses.replace(spec, name=NEAREST, preprocessing=preprocessing)]


@pytest.fixture(autouse=True)
def nearest():
    register_plugin(_NearestPlugin(), name="nearest")


def _folder(root, size=45, seed=0):
    rng = np.random.default_rng(seed)
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(6):
            pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8) // (2 if label == "a" else 1)
            Image.fromarray(pixels.astype(np.uint8)).save(root / label / f"{i}.png")
    return root


def test_cached_features_use_the_interpolation_they_are_keyed_by(tmp_path):
    dataset = load_dataset(_folder(tmp_path / "data"))
    model = zoo.backbone(NEAREST, weights=None)
    cache = FeatureCache(tmp_path / "cache")
    nearest = np.array(cached_extract(model, dataset, cache, interpolation="nearest", verbose=0))
    bilinear = np.array(cached_extract(model, dataset, cache, interpolation="bilinear", verbose=0))
    assert not np.allclose(nearest, bilinear)  # two entries, not one answer for both
    batches = pipeline(dataset, image_size=(32, 32), interpolation="nearest", batch_size=4, with_targets=False)
    np.testing.assert_allclose(nearest, model.predict(batches, verbose=0), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_a_run_reports_what_evaluate_and_predict_compute(tmp_path):
    data = _folder(tmp_path / "data")
    val = _folder(tmp_path / "val", seed=1)  # other images: validation shares none with training
    run = zoo.train(NEAREST, data, val, weights=None, epochs=3, out=tmp_path / "run", verbose=0)  # cached features
    again = zoo.evaluate(run, val)
    for key in ("accuracy", "macro_f1"):
        assert again[key] == run.metrics[key]
    files = sorted(str(p) for p in val.rglob("*.png"))
    predicted = zoo.predict(run, files, top_k=2)
    batches = pipeline(load_dataset(val), image_size=(32, 32), interpolation="nearest", with_targets=False)
    expected = run.model.predict(batches, verbose=0)
    order = sorted(range(len(files)), key=lambda i: files[i])
    for row, probabilities in zip(predicted, expected[order], strict=True):
        best = row["predictions"][0]
        assert best["score"] == pytest.approx(float(probabilities.max()), rel=1e-5)


def test_a_file_changed_after_the_scan_is_refused_not_cached_under_its_old_key(tmp_path):
    dataset = load_dataset(_folder(tmp_path / "data"))  # the scan hashes every file: the cache keys
    changed = tmp_path / "data" / "a" / "0.png"
    Image.fromarray(np.full((45, 45, 3), 7, np.uint8)).save(changed)  # other pixels, same name
    with pytest.raises(zoo.DataError, match=r"a/0.png changed since the data was checked; run the command again"):
        zoo.extract(NEAREST, dataset, weights=None, verbose=0)
    with pytest.raises(zoo.DataError, match="changed since the data was checked"):
        zoo.train(NEAREST, dataset, weights=None, epochs=1, out=tmp_path / "run", cache_dir=tmp_path / "c", verbose=0)
    assert not list((tmp_path / "c").glob("*.npy")) and not (tmp_path / "run").exists()  # nothing kept
