"""`zoo export` and `zoo.export`: SavedModel, TFLite and ONNX artefacts that match the Keras model, load
where neither backbone-zoo nor Keras is installed, and carry their metadata; and the one-line errors."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

import zoo
from zoo.config import ModelConfig, ModelParts, TrainConfig
from zoo.run import Run

# What the export promises, written here rather than read from zoo/exports/parity.py: a float artefact gives the Keras
# model's probabilities to 1e-4; a bfloat16 one to 0.1; a quantised one the same top-1 class on 98% of inputs.
FLOAT, BFLOAT16, AGREEMENT = 1e-4, 0.1, 0.98
COLOURS = {"blue": (40, 40, 200), "green": (40, 200, 40), "red": (200, 40, 40)}

# Runs in a fresh interpreter where backbone-zoo and Keras cannot be imported (tf_keras and keras_hub
# neither): loads every artefact it is given with its own runtime and saves what each returns.
LOAD_WITHOUT_ZOO = textwrap.dedent(
    """
    import importlib.abc, importlib.machinery, importlib.util, json, pathlib, sys

    class Blocked(importlib.abc.Loader):
        def create_module(self, spec):
            raise ModuleNotFoundError(f"No module named {spec.name!r} (not installed here)", name=spec.name)

        def exec_module(self, module):
            pass

    class NoZooNoKeras(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("zoo", "keras", "keras_hub", "keras_cv", "tf_keras") or name.startswith("zoo_"):
                return importlib.machinery.ModuleSpec(name, Blocked())  # no origin: TensorFlow's probes skip it
            return None

    sys.meta_path.insert(0, NoZooNoKeras())
    import numpy as np

    jobs, results = json.loads(sys.argv[1]), {}
    for key, (kind, path, inputs) in jobs.items():
        x = np.load(inputs, allow_pickle=True)
        if kind == "savedmodel" or kind == "savedmodel-text":
            import tensorflow as tf

            if kind == "savedmodel-text":  # the tokenizer's ops, registered without importing tensorflow_text
                spec = importlib.util.find_spec("tensorflow_text")
                for lib in sorted(pathlib.Path(spec.submodule_search_locations[0], "python", "ops").glob("_*.so")):
                    tf.load_op_library(str(lib))
            model = tf.saved_model.load(path)
            name = "text" if kind == "savedmodel-text" else "images"
            out = model.signatures["serving_default"](**{name: tf.constant(x)})
            for output, value in out.items():
                results[f"{key}.{output}"] = value.numpy()
            if kind == "savedmodel":
                results[f"{key}.features"] = model.signatures["features"](images=tf.constant(x))["features"].numpy()
        elif kind == "tflite":
            from ai_edge_litert.interpreter import Interpreter

            runner = Interpreter(model_path=path).get_signature_runner("serving_default")
            results[key] = runner(images=x)["probabilities"]
        elif kind == "onnx":
            import onnxruntime

            session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
            results[key] = session.run(["probabilities"], {"images": x})[0]
    np.savez(sys.argv[2], **results)
    print(sorted(n for n in sys.modules if n.split(".")[0] in ("zoo", "keras", "keras_hub", "tf_keras")))
    """
)

# The CLI in a fresh interpreter; reports whether TensorFlow or Keras got imported. argv[1] names modules
# that fail to import there, as if they were not installed.
RUN_CLI = textwrap.dedent(
    """
    import importlib.abc, sys

    class Missing(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in sys.argv[1].split(","):
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None

    sys.meta_path.insert(0, Missing())
    from zoo.cli import main

    code = main(sys.argv[2:])
    print("heavy:", sorted(m for m in ("tensorflow", "keras") if m in sys.modules))
    sys.exit(code)
    """
)


def _images(n, seed, sizes=(24, 48)):
    """``n`` noisy images per colour class, each of a random size in ``sizes``: (images, labels)."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label, colour in COLOURS.items():
        for _ in range(n):
            height, width = rng.integers(*sizes, 2) if sizes[0] != sizes[1] else sizes
            noise = rng.normal(0, 50, (height, width, 3))
            images.append(np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8))
            labels.append(label)
    return images, labels


def _image_folder(root, per_colour, seed):
    """``root/data``: a class folder of PNG files per colour."""
    for i, (pixels, label) in enumerate(zip(*_images(per_colour, seed=seed), strict=True)):
        (root / "data" / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(root / "data" / label / f"{i}.png")
    return root / "data"


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    """A run of tiny_image trained on a folder of PNG files, with a head big enough for int8 to shrink it."""
    root = tmp_path_factory.mktemp("export")
    _image_folder(root, 20, seed=0)
    return zoo.train("tiny_image", root / "data", weights=None, head="flatten", hidden=(256,), epochs=6,
                     learning_rate=3e-3, batch_size=8, out=root / "run", cache=False, verbose=0)  # fmt: skip


@pytest.fixture(scope="module")
def held_out():
    """Held-out images at the training size, as uint8."""
    images, _ = _images(40, seed=1, sizes=(32, 32))
    return np.stack(images)


def _zoo(*args, missing="", tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "ZOO_CACHE_DIR": str(tmp_path / "cache")}
    command = [sys.executable, "-c", RUN_CLI, missing, "export", *map(str, args)]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    return result.returncode, result.stdout, result.stderr


def _assert_user_error(code, out, err, match):
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("zoo: error:") and match in lines[0], err
    assert "heavy: []" in out  # refused before TensorFlow loaded


def _without_zoo(jobs, tmp_path):
    """Run ``{key: (kind, artefact, inputs)}`` in a fresh process without the zoo or Keras; returns the outputs."""
    specs = {}
    for key, (kind, path, inputs) in jobs.items():
        np.save(tmp_path / f"{key}.npy", inputs)
        specs[key] = (kind, str(path), str(tmp_path / f"{key}.npy"))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-c", LOAD_WITHOUT_ZOO, json.dumps(specs), str(tmp_path / "out.npz")]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"  # neither the zoo nor Keras was imported
    with np.load(tmp_path / "out.npz", allow_pickle=True) as data:
        return {key: data[key] for key in data.files}


# -- mistakes: one line, exit 2, before TensorFlow loads ----------------------------------------------------
@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--format", "coreml"], "unknown export format 'coreml'; choose one of savedmodel, tflite, onnx"),
        (["--format", "savedmodel", "--quantize", "int8"], "quantize applies to the tflite format only"),
        (["--format", "onnx", "--quantize", "dynamic"], "quantize applies to the tflite format only, not onnx"),
        (["--format", "tflite", "--quantize", "int4"], "unknown quantization 'int4'; choose one of dynamic, int8"),
    ],
    ids=["format", "savedmodel-quantize", "onnx-quantize", "int4"],
)
def test_bad_options_are_one_line_before_tensorflow_loads(args, match, tmp_path):
    code, out, err = _zoo(tmp_path / "no-run", *args, tmp_path=tmp_path)
    _assert_user_error(code, out, err, match)


def test_an_unfinished_run_is_refused(tmp_path):
    parts = ModelParts(network="tiny_image", features="pool", head="head")
    model = ModelConfig("tiny_image", "classification", 2, "avg", (), 0.0, None, (32, 32, 3), parts)
    Run.create(tmp_path / "run", train=TrainConfig(), model=model, spec=zoo.get_spec("tiny_image").to_dict(),
               data={"train": str(tmp_path), "val": None}, data_id="x")  # fmt: skip
    code, out, err = _zoo(tmp_path / "run", "--format", "tflite", tmp_path=tmp_path)
    _assert_user_error(code, out, err, "is not finished")
    with pytest.raises(zoo.RunError, match="is not finished"):
        zoo.export(tmp_path / "run", "tflite")
    assert not (tmp_path / "run" / "exports").exists()


@pytest.mark.slow
def test_an_out_folder_holding_other_files_is_refused(image_run, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    code, out, err = _zoo(image_run.path, "--out", tmp_path / "mine", tmp_path=tmp_path)
    _assert_user_error(code, out, err, "holds other files (no earlier export); choose another --out")
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(zoo.ExportError, match="exists and is not a folder"):
        zoo.export(image_run, out=tmp_path / "file")


def test_a_missing_extra_names_it_in_one_line(image_run, tmp_path):
    code, out, err = _zoo(image_run.path, "--format", "onnx", missing="tf2onnx", tmp_path=tmp_path)
    _assert_user_error(code, out, err, "onnx export needs the export extra (tf2onnx missing): "
                                       "pip install 'backbone-zoo[export]'")  # fmt: skip
    assert not (image_run.path / "exports" / "onnx").exists()


def test_a_model_object_needs_an_out_folder_and_int8_needs_calibration(image_run, tmp_path):
    with pytest.raises(zoo.ExportError, match="pass out=<folder> when exporting a model object"):
        zoo.export(image_run.model, "savedmodel")
    with pytest.raises(zoo.ExportError, match="int8 quantization calibrates on example inputs"):
        zoo.export(image_run.model, "tflite", quantize="int8", out=tmp_path / "x")
    with pytest.raises(zoo.ExportError, match="neither a run directory nor a model made by zoo.build"):
        zoo.export(object(), "savedmodel", out=tmp_path / "x")


# -- the Keras model itself: raw uint8 at the training size ----------------------------------------------------
def test_the_keras_model_takes_raw_uint8_at_its_training_size(image_run, held_out):
    import keras

    expected = image_run.model.predict(held_out.astype("float32"), verbose=0)
    np.testing.assert_array_equal(zoo.load_model(image_run.path).predict(held_out, verbose=0), expected)
    plain = keras.saving.load_model(image_run.path / "model.keras")
    np.testing.assert_array_equal(plain.predict(held_out, verbose=0), expected)


# -- parity: each format against Keras ------------------------------------------------------------------------
@pytest.mark.slow
def test_savedmodel_and_tflite_float_match_keras(image_run, held_out, tmp_path):
    expected = image_run.model.predict(held_out, verbose=0)
    saved = zoo.export(image_run, "savedmodel")
    assert saved.path == image_run.path / "exports" / "savedmodel" and (saved.path / "saved_model.pb").exists()
    assert saved.metadata["parity"]["ok"] and saved.metadata["parity"]["max_abs_diff"] <= FLOAT
    assert saved.metadata["parity"]["data"] == "the run's validation data"
    lite = zoo.export(image_run, "tflite")
    assert lite.artefact == image_run.path / "exports" / "tflite" / "model.tflite"
    assert lite.metadata["parity"]["max_abs_diff"] <= FLOAT

    import tensorflow as tf

    from zoo.exports.runtimes import run_tflite

    served = tf.saved_model.load(str(saved.path)).signatures["serving_default"](images=tf.constant(held_out))
    np.testing.assert_allclose(served["probabilities"].numpy(), expected, atol=FLOAT, rtol=0)
    names = np.array(image_run.class_names, dtype=object)
    assert [s.decode() for s in served["label"].numpy()] == list(names[expected.argmax(-1)])
    assert served["classes"].numpy().shape == expected.shape
    assert [s.decode() for s in served["classes"].numpy()[0]] == list(image_run.class_names)
    got = run_tflite(lite.artefact, held_out, "probabilities")
    assert np.abs(got - expected).max() <= FLOAT
    metadata = json.loads((lite.path / "metadata.json").read_text())
    assert metadata["input"] == {"name": "images", "dtype": "uint8", "shape": [None, 32, 32, 3],
                                 "value_range": [0, 255], "channels": "RGB", "size": [32, 32],
                                 "resize": "before feeding, to 32x32 with bilinear interpolation"}  # fmt: skip
    assert metadata["labels"] == list(image_run.class_names) and metadata["preprocessing"]["inside"] is True
    assert metadata["preprocessing"]["description"] == "tf: x*0.00784314-1"
    assert metadata["backbone"]["name"] == "tiny_image" and metadata["backbone"]["weights"].startswith("none")
    assert "weights_license" in metadata["backbone"] and metadata["source_run"] == str(image_run.path.resolve())
    assert metadata["source_model_requires"] == ["keras"]  # the run's model.keras: plain Keras loads it
    again = zoo.export(image_run, "tflite")  # an earlier export is replaced, nothing else left beside it
    assert sorted(p.name for p in again.path.iterdir()) == ["metadata.json", "model.tflite"]
    assert sorted(p.name for p in again.path.parent.iterdir()) == ["savedmodel", "tflite"]


@pytest.mark.slow
def test_every_format_loads_without_the_zoo_or_keras_and_resizes_like_zoo_predict(image_run, held_out, tmp_path):
    saved = zoo.export(image_run, "savedmodel", out=tmp_path / "savedmodel")
    lite = zoo.export(image_run, "tflite", out=tmp_path / "tflite")
    onnx = zoo.export(image_run, "onnx", out=tmp_path / "onnx")
    assert onnx.metadata["parity"]["max_abs_diff"] <= FLOAT
    # Images of another size go through the serving signature as they go through `zoo predict`.
    others, _ = _images(2, seed=2, sizes=(50, 50))
    for i, pixels in enumerate(others):
        Image.fromarray(pixels).save(tmp_path / f"other{i}.png")
    predicted = zoo.predict(image_run, [tmp_path / f"other{i}.png" for i in range(len(others))], top_k=3)
    outputs = _without_zoo(
        {
            "same": ("savedmodel", saved.path, held_out),
            "other": ("savedmodel", saved.path, np.stack(others)),
            "lite": ("tflite", lite.artefact, held_out),
            "onnx": ("onnx", onnx.artefact, held_out),
        },
        tmp_path,
    )
    expected = image_run.model.predict(held_out, verbose=0)
    for key in ("same.probabilities", "lite", "onnx"):
        assert np.abs(outputs[key] - expected).max() <= FLOAT, key
    features = _features(image_run).predict(held_out, verbose=0)
    assert np.abs(outputs["same.features"] - features).max() <= FLOAT
    for row, result in zip(outputs["other.probabilities"], predicted, strict=True):
        scores = {p["label"]: p["score"] for p in result["predictions"]}
        np.testing.assert_allclose(row, [scores[c] for c in image_run.class_names], atol=FLOAT)
    assert [s.decode() for s in outputs["other.label"]] == [r["predictions"][0]["label"] for r in predicted]


def _features(run):
    import keras

    model = run.model
    return keras.Model(model.inputs, model.get_layer(model.zoo_config.parts.features).output)


@pytest.mark.parametrize("quantize", ["dynamic", "int8"])
@pytest.mark.slow
def test_quantized_tflite_agrees_with_keras_on_top1_and_is_smaller(quantize, image_run, held_out):
    from zoo.exports.runtimes import run_tflite

    exported = zoo.export(image_run, "tflite", quantize=quantize)
    assert exported.path.name == f"tflite-{quantize}"
    expected = image_run.model.predict(held_out, verbose=0).argmax(-1)
    got = run_tflite(exported.artefact, held_out, "probabilities").argmax(-1)
    agreement = float(np.mean(got == expected))
    assert agreement >= AGREEMENT, agreement
    metadata = exported.metadata
    assert metadata["parity"]["ok"] and metadata["parity"]["top1_agreement"] >= AGREEMENT
    assert metadata["size_ratio"] == pytest.approx(metadata["float32_bytes"] / exported.size, abs=0.01)
    # what the file itself says it is (LiteRT's conversion metadata, which tools such as the model analyzer read)
    assert _optimization_modes(exported.artefact) == [{"dynamic": 1002, "int8": 1003}[quantize]]  # PTQ_...
    if quantize == "int8":
        assert metadata["size_ratio"] >= 3.0, metadata["size_ratio"]
        print(f"int8: top-1 agreement {agreement:.1%} on {len(held_out)} held-out images, "
              f"{metadata['size_ratio']}x smaller than float32")  # fmt: skip


def _optimization_modes(path):
    """The optimisation modes a TFLite file's conversion metadata lists: 1002 dynamic range, 1003 full integer."""
    from tensorflow.lite.python import conversion_metadata_schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    (entry,) = [entry for entry in model.metadata if entry.name == b"CONVERSION_METADATA"]
    metadata = schema.ConversionMetadataT.InitFromPackedBuf(bytes(model.buffers[entry.buffer].data))
    return list(metadata.options.modelOptimizationModes)


def test_int8_calibrates_on_given_pixels_for_a_model_object(image_run, held_out, tmp_path):
    exported = zoo.export(image_run.model, "tflite", quantize="int8", out=tmp_path / "q", calibration=held_out)
    assert exported.metadata["source_run"] is None and exported.metadata["parity"]["data"] == "the calibration data"
    assert exported.metadata["parity"]["top1_agreement"] >= AGREEMENT


@pytest.mark.slow
def test_the_cli_prints_only_its_own_lines(image_run, tmp_path):
    code, out, err = _zoo(image_run.path, "--format", "tflite", "--quantize", "int8", "--out", tmp_path / "q",
                          tmp_path=tmp_path)  # fmt: skip
    assert code == 0, err
    assert err == ""
    lines = out.strip().splitlines()
    assert lines[0].startswith(f"tflite (int8): {tmp_path / 'q' / 'model.tflite'} (") and "x smaller" in lines[0]
    assert lines[1].startswith("parity: top-1 agreement with Keras") and lines[1].endswith(": ok")
    assert lines[2] == f"metadata: {tmp_path / 'q' / 'metadata.json'}" and lines[3].startswith("heavy:")


@pytest.mark.slow
@pytest.mark.parametrize("task", ["regression", "multilabel"])
def test_regression_and_multilabel_runs_export_their_own_outputs(task, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (24, 32, 32, 3), dtype=np.uint8)
    y = x.mean(axis=(1, 2)) / 255 if task == "regression" else np.array([[1, 0], [0, 1], [1, 1]] * 8)
    run = zoo.train("tiny_image", (x, y), task=task, weights=None, epochs=2, batch_size=8, out=tmp_path / "run",
                    cache=False, verbose=0)  # fmt: skip
    saved = zoo.export(run, "savedmodel")
    lite = zoo.export(run, "tflite")
    assert saved.metadata["parity"]["data"].startswith("random pixels")  # in-memory data: nothing to read again
    assert saved.metadata["parity"]["ok"] and lite.metadata["parity"]["ok"]
    outputs = set(saved.metadata["signatures"]["serving_default"])
    assert outputs == ({"values"} if task == "regression" else {"probabilities", "classes"})
    assert lite.metadata["output"]["name"] == ("values" if task == "regression" else "probabilities")
    with pytest.raises(zoo.ExportError, match="cannot be read again .* pass calibration="):
        zoo.export(run, "tflite", quantize="int8")


# -- mixed precision -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory):
    """A run of tiny_image trained with --mixed-precision (mixed_bfloat16 on this CPU) on a folder of PNG files."""
    root = tmp_path_factory.mktemp("mixed")
    _image_folder(root, 12, seed=3)
    return zoo.train("tiny_image", root / "data", weights=None, head="flatten", hidden=(64,), epochs=4,
                     learning_rate=3e-3, batch_size=8, out=root / "run", cache=False, verbose=0,
                     mixed_precision=True)  # fmt: skip


@pytest.mark.slow
def test_a_mixed_precision_run_exports_to_tflite_and_onnx_as_float32(mixed_run, held_out, tmp_path):
    import keras

    model = mixed_run.model
    assert model.dtype_policy.name == "mixed_bfloat16"
    lite, onnx = zoo.export(mixed_run, "tflite"), zoo.export(mixed_run, "onnx")
    for exported in (lite, onnx):
        parity, metadata = exported.metadata["parity"], exported.metadata
        assert parity["ok"] and parity["data"] == "the run's validation data", parity
        assert parity["max_abs_diff"] <= parity["tolerance"] == BFLOAT16  # probabilities: scale 1
        assert parity["float32_copy_max_abs_diff"] <= FLOAT  # the converter changed nothing
        assert metadata["mixed_precision"]["keras_compute_dtype"] == "bfloat16"
        assert metadata["mixed_precision"]["artefact_computes_in"].startswith("float32")
    assert keras.config.dtype_policy().name == "float32" and model.dtype_policy.name == "mixed_bfloat16"
    outputs = _without_zoo({"lite": ("tflite", lite.artefact, held_out), "onnx": ("onnx", onnx.artefact, held_out)},
                           tmp_path)  # fmt: skip
    expected = np.asarray(model.predict(held_out, verbose=0), dtype=np.float32)
    for key in ("lite", "onnx"):
        assert np.abs(outputs[key] - expected).max() <= BFLOAT16, key
        assert np.mean(outputs[key].argmax(-1) == expected.argmax(-1)) >= 0.95, key
    assert np.abs(outputs["lite"] - outputs["onnx"]).max() <= 2 * FLOAT  # the same float32 model twice
    saved = zoo.export(mixed_run, "savedmodel", out=tmp_path / "saved")  # kept in mixed precision, as before
    assert saved.metadata["parity"]["max_abs_diff"] <= FLOAT
    assert saved.metadata["mixed_precision"]["artefact_computes_in"] == "mixed bfloat16, as the Keras model"


# -- memory ----------------------------------------------------------------------------------------------------
# Builds a tiny_image model with one large Dense layer (16 MB of weights, a graph of a dozen nodes) and exports
# it to ONNX, reporting how much the process's peak memory grew over the export.
ONNX_MEMORY = textwrap.dedent(
    """
    import dataclasses, json, resource, sys
    import numpy as np
    import zoo

    model = zoo.build("tiny_image", num_classes=3, head="flatten", hidden=(16384,), weights=None)
    model.zoo_config = dataclasses.replace(model.zoo_config, class_names=("a", "b", "c"))
    model.predict(np.zeros((1, 32, 32, 3), np.uint8), verbose=0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    zoo.export(model, "onnx", out=sys.argv[1], check=False)
    growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
    print(json.dumps({"weights_mb": sum(w.nbytes for w in model.get_weights()) / 2**20, "growth_mb": growth}))
    """
)


@pytest.mark.slow
def test_onnx_export_memory_grows_with_the_weights_not_with_the_converter_passes(tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", ONNX_MEMORY, str(tmp_path / "onnx")], capture_output=True,
                            text=True, env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    # tf2onnx's default path (Keras' model.export) grew by 65x the weights here (1,041 MB for 16 MB: a copy of
    # every weight per optimizer pass); the zoo's by 13x (205 MB), most of it a fixed cost. ResNet50: 7.6 GB -> 1.7 GB.
    assert measured["growth_mb"] <= 25 * measured["weights_mb"], measured


# -- text ------------------------------------------------------------------------------------------------------
READ = ["the cat", "a dog sat down", "Dogs and CATS, again!"]
CUT = ["the cat", "a dog sat on the mat and then it ran all the way home", "a cat sat on the mat"]  # fits, cut, fits


@pytest.fixture(scope="module")
def text_run(tiny_text, tmp_path_factory):
    texts = ["the cat sat on the mat", "a cat sat", "the cat ran", "a cat on a mat"] * 3
    texts += ["the dog ran", "a dog ran on the mat", "the dog sat", "a dog ."] * 3
    labels = ["cat"] * 12 + ["dog"] * 12
    out = tmp_path_factory.mktemp("text") / "run"
    return zoo.train(tiny_text, (texts, labels), weights=None, epochs=2, batch_size=8, out=out, cache=False,
                     verbose=0)  # fmt: skip


@pytest.fixture(scope="module")
def text_savedmodel(text_run, tmp_path_factory):
    """The text run exported as a SavedModel (an export costs ~10 s: made once), and what it gives in a fresh
    process without the zoo or Keras: for ``READ`` (``text.*``) and for ``CUT`` (``cut.*``)."""
    exported = zoo.export(text_run, "savedmodel")
    inputs = {"text": READ, "cut": CUT}
    jobs = {key: ("savedmodel-text", exported.path, np.array(texts, dtype=object)) for key, texts in inputs.items()}
    return exported, _without_zoo(jobs, tmp_path_factory.mktemp("text-savedmodel"))


@pytest.mark.slow
def test_a_text_model_exports_as_a_savedmodel_that_takes_strings(text_run, text_savedmodel):
    exported, outputs = text_savedmodel
    assert exported.metadata["input"]["dtype"] == "string" and exported.metadata["parity"]["ok"]
    assert exported.metadata["parity"]["data"] == "three example sentences"  # in-memory data: not readable again
    expected = text_run.model.predict(np.array(READ, dtype=object), verbose=0)
    assert np.abs(outputs["text.probabilities"] - expected).max() <= FLOAT
    assert [s.decode() for s in outputs["text.label"]] == [text_run.class_names[i] for i in expected.argmax(-1)]
    for format in ("tflite", "onnx"):
        with pytest.raises(zoo.ExportError, match="is a text model: it tokenizes strings inside with TensorFlow Text"):
            zoo.export(text_run, format)


@pytest.mark.slow
def test_a_text_savedmodel_reads_the_fitted_length_and_says_which_texts_it_cut(text_run, text_savedmodel, tiny_text):
    length = text_run.input_shape[0]  # fitted to the training texts, far below the backbone's declared 128
    assert length < zoo.get_spec(tiny_text).preprocessing.sequence_length
    exported, outputs = text_savedmodel
    metadata = json.loads((exported.path / "metadata.json").read_text())
    assert metadata["preprocessing"]["sequence_length"] == length
    assert metadata["input"]["sequence_length"] == length
    assert f"the first {length} tokens" in metadata["input"]["truncation"]
    for signature in ("serving_default", "features"):
        flag = metadata["signatures"][signature]["truncated"]
        assert flag["dtype"] == "bool" and f"longer than the {length} tokens" in flag["meaning"]
    predicted = zoo.predict(text_run, CUT)
    assert outputs["cut.truncated"].tolist() == [r["truncated"] for r in predicted] == [False, True, False]
    expected = text_run.model.predict(np.array(CUT, dtype=object), verbose=0)
    assert np.abs(outputs["cut.probabilities"] - expected).max() <= FLOAT
