"""What `zoo.predict` and `zoo predict` take: one input, a list, a folder, a CSV manifest, pixel arrays; and
`--out preds.csv`. One string is one input, never its characters."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import zoo
from zoo.cli import main
from zoo.demo import write_scenes
from zoo.testing import TINY_IMAGE_CAFFE


@pytest.fixture(scope="module")
def scenes_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("scenes")
    data = write_scenes(root / "train", per_class=6, size=32, seed=0)
    run = zoo.train(TINY_IMAGE_CAFFE, data, epochs=2, weights=None, input_shape=32, batch_size=16, verbose=0,
                    out=root / "run", cache_dir=root / "cache")  # fmt: skip
    return run, data


@pytest.fixture
def folder(tmp_path):
    """Three images at any depth, and a note that is not an image."""
    rng = np.random.default_rng(1)
    (tmp_path / "pics" / "deeper").mkdir(parents=True)
    paths = [tmp_path / "pics" / "a.png", tmp_path / "pics" / "b.jpg", tmp_path / "pics" / "deeper" / "c.png"]
    for path in paths:
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(path)
    (tmp_path / "pics" / "notes.txt").write_text("not an image")
    return tmp_path / "pics", [str(p) for p in paths]


def scores(results):
    return {r["input"]: [(p["label"], round(p["score"], 5)) for p in r["predictions"]] for r in results}


def test_one_path_is_one_input_not_its_characters(scenes_run, folder):
    run, _ = scenes_run
    _, paths = folder
    results = zoo.predict(run.path, paths[0], top_k=2)
    assert [r["input"] for r in results] == [paths[0]] and len(results[0]["predictions"]) == 2


def test_a_folder_is_its_image_files_and_a_manifest_its_path_column(scenes_run, folder, tmp_path):
    run, _ = scenes_run
    root, paths = folder
    expected = scores(zoo.predict(run.path, paths))
    assert scores(zoo.predict(run.path, root)) == {p: expected[p] for p in sorted(paths)}
    manifest = tmp_path / "list.csv"
    manifest.write_text("path,label\npics/a.png,beach\npics/deeper/c.png,\n")
    assert scores(zoo.predict(run.path, str(manifest))) == {p: expected[p] for p in (paths[0], paths[2])}


def test_inputs_are_named_as_given_relative_or_absolute(scenes_run, folder, tmp_path, monkeypatch):
    run, _ = scenes_run
    (tmp_path / "list.csv").write_text("path,label\npics/a.png,beach\n./pics/deeper/c.png,\n")
    monkeypatch.chdir(tmp_path)
    named = [r["input"] for r in zoo.predict(run.path, ["pics", "pics/b.jpg", "list.csv", str(tmp_path / "pics")])]
    absolute = [str(tmp_path / "pics" / name) for name in ("a.png", "b.jpg", "deeper/c.png")]
    assert named == ["pics/a.png", "pics/b.jpg", "pics/deeper/c.png", "pics/b.jpg", "pics/a.png", "pics/deeper/c.png",
                     *absolute]  # fmt: skip


def test_pixel_arrays_predict_as_the_same_image_files(scenes_run, folder):
    run, _ = scenes_run
    _, paths = folder
    pixels = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])
    by_file = [r["predictions"] for r in zoo.predict(run.path, paths)]
    by_array = [r["predictions"] for r in zoo.predict(run.path, pixels)]
    assert [r["input"] for r in zoo.predict(run.path, pixels)] == ["array[0]", "array[1]", "array[2]"]
    for a, b in zip(by_array, by_file, strict=True):
        assert [p["label"] for p in a] == [p["label"] for p in b]
        np.testing.assert_allclose([p["score"] for p in a], [p["score"] for p in b], atol=1e-5)
    single = zoo.predict(run.path, pixels[1].astype("float32"))  # one (H, W, 3) image
    assert [p["label"] for p in single[0]["predictions"]] == [p["label"] for p in by_file[1]]
    with pytest.raises(zoo.DataError, match=r"\[0, 255\]"):
        zoo.predict(run.path, pixels.astype("float32") * 2)
    with pytest.raises(zoo.DataError, match="shape"):
        zoo.predict(run.path, np.zeros((2, 8, 8, 5)))


def test_the_command_predicts_a_folder_and_writes_a_csv(scenes_run, folder, tmp_path, capsys):
    run, _ = scenes_run
    root, paths = folder
    out = tmp_path / "preds.csv"
    assert main(["predict", str(run.path), str(root), "--top-k", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in printed] == sorted(paths)
    rows = list(csv.DictReader(out.open()))
    assert [row["input"] for row in rows] == sorted(paths)
    assert set(rows[0]) == {"input", "label_1", "score_1", "label_2", "score_2", "error"}
    assert all(row["label_1"] in run.class_names and 0 <= float(row["score_1"]) <= 1 for row in rows)
    assert main(["predict", str(run.path), str(root), "--out", str(tmp_path)]) == 2  # a folder is no CSV file
    assert "is a folder" in capsys.readouterr().err
    image, before = paths[0], Path(paths[0]).read_bytes()
    assert main(["predict", str(run.path), str(root), image, "--out", image]) == 2  # it would replace an input
    assert capsys.readouterr().err.strip().endswith(f"is one of the inputs ({image}): give another file to write")
    assert Path(image).read_bytes() == before
    metrics = run.path / "metrics.json"  # the predictions over the run's own record
    assert main(["predict", str(run.path), image, "--out", str(metrics)]) == 2
    assert capsys.readouterr().err.strip().endswith("writing it would damage the run; give another file")
    assert json.loads(metrics.read_text())["n"] > 0
    assert main(["predict", str(run.path), "hello world"]) == 2  # a text, to an image model
    assert capsys.readouterr().out.strip() == ("hello world: error: no such file or folder (an image model predicts "
                                               "image files, folders of them, CSV manifests or pixels)")  # fmt: skip
    with pytest.raises(zoo.ConfigError, match="top_k must be a whole number of at least 1, got 0"):
        zoo.predict(run.path, image, top_k=0)
    assert len(zoo.predict(run.path, image, top_k=np.int64(2))[0]["predictions"]) == 2


def test_a_model_instead_of_a_run_is_one_clear_error(scenes_run):
    run, data = scenes_run
    model = zoo.load_model(run.path)  # no labels, no reading of files: a run has them
    for call in (lambda: zoo.predict(model, data), lambda: zoo.evaluate(model, data)):
        with pytest.raises(
            zoo.ConfigError, match=r"expected a finished run \(its folder or a zoo.Run\), got a Functional"
        ):
            call()


def test_an_empty_folder_is_one_clear_error(scenes_run, tmp_path, capsys):
    run, _ = scenes_run
    (tmp_path / "empty").mkdir()
    assert main(["predict", str(run.path), str(tmp_path / "empty")]) == 2
    assert capsys.readouterr().err.strip().endswith("holds no image files to predict")


# Predicts 100 and then 300 files with a run that reads 224x224 images, and prints how much the peak memory grew:
# read and resized all at once, each file took about 2 MB more (when streamed, nothing measurable).
PEAK_GROWTH = """
import resource, sys
import zoo
run, files = sys.argv[1], sys.argv[2:]
zoo.predict(run, files[:100])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
results = zoo.predict(run, files)
assert len(results) == 300 and all("predictions" in r for r in results), results[:2]
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


@pytest.mark.slow  # a new process importing TensorFlow, 400 images
def test_predict_memory_stays_flat_however_many_files_it_is_given(tmp_path):
    data = write_scenes(tmp_path / "train", per_class=3, size=32, seed=0)
    run = zoo.train(TINY_IMAGE_CAFFE, data, epochs=1, weights=None, input_shape=224, verbose=0, out=tmp_path / "run")
    (tmp_path / "many").mkdir()
    source = next((data / "beach").iterdir())
    files = [str(tmp_path / "many" / f"{i}.png") for i in range(300)]
    for path in files:
        os.link(source, path)  # the same small PNG, resized to 224x224 for each
    result = subprocess.run([sys.executable, "-c", PEAK_GROWTH, str(run.path), *files], capture_output=True,
                            text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    growth_mb = int(result.stdout.split()[-1])
    assert growth_mb < 150, f"peak memory grew {growth_mb} MB from 100 to 300 files"
