"""The capability matrix: every journey with every kind of backbone, end to end, with tiny stand-ins.

Rows are the kinds of backbone a user can have, each a small stand-in that takes that kind's plugin and
code path; columns are the journeys a user makes on the first day. A cell either works (checked: shapes,
metrics, predictions equal to the model's own, artefacts loaded in a new process and compared with Keras)
or refuses before any work in one line naming the reason; a traceback or a wrong number fails its test.

docs/capabilities.md is generated from the outcomes and checked against them, as registry.json is against
the specs: after a change of behaviour, `ZOO_WRITE_CAPABILITIES=1 .venv/bin/pytest -n 0 tests/test_capabilities.py`
rewrites it.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import subprocess
import sys
import textwrap
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from test_report import load_line
from test_tensorflow_hub import make_saved_model
from test_text import write_hf_bert

import zoo
from zoo.cli import main
from zoo.data import topics_path
from zoo.demo import write_scenes
from zoo.errors import first_line

PAGE = Path(__file__).resolve().parent.parent / "docs" / "capabilities.md"
WRITE = os.environ.get("ZOO_WRITE_CAPABILITIES") == "1"
ONLY = os.environ.get("ZOO_CAPABILITY_KINDS", "")  # while working on one row: a part of its backbone's name
SIZE = 32  # every image stand-in is built at 32x32
PARITY = 1e-4  # float artefacts against the Keras model: float32 arithmetic in another order


@dataclasses.dataclass
class Kind:
    """A row: a kind of backbone and its stand-in (``weights`` filled in by the fixture when it is a file)."""

    label: str
    backbone: str
    modality: str
    weights: Any = None
    input_size: int | None = SIZE

    @property
    def options(self) -> dict[str, Any]:
        return {"weights": self.weights, **({"input_shape": self.input_size} if self.input_size else {})}

    @property
    def flags(self) -> list[str]:
        weights = ["--weights", str(self.weights) if self.weights else "none"]
        return weights + (["--input-size", str(self.input_size)] if self.input_size else [])


KINDS = [
    # the fewest layers of each image plugin (building and tracing cost grows with layers, not parameters)
    Kind("keras-applications image", "vgg16", "image"),
    Kind("keras-hub image", "vgg_11_imagenet", "image"),
    Kind("keras-cv image", "resnet18_kerascv", "image"),
    Kind("TF Hub SavedModel image", "mobilenet_v3_small_tfhub", "image", weights="<savedmodel>"),
    Kind("keras-hub text (BERT)", "bert_tiny_en_uncased", "text", weights="<bert>", input_size=None),
    Kind("MiniLM text encoder", "all_minilm_l6_v2", "text", weights="<minilm>", input_size=None),
    Kind("third-party plugin", "tiny_convnet", "image"),
]
JOURNEYS = [
    "info", "extract by name", "extract by model", "rank", "train", "fine-tune", "mixed precision",
    "distribute mirrored", "continue a loaded model", "evaluate", "predict (CLI)", "predict (Python)",
    "reload in a new process", "plain Keras load", "export SavedModel", "export TFLite", "export TFLite dynamic",
    "export TFLite int8", "export ONNX", "lr-find", "tune", "report", "track in MLflow", "serve",
]  # fmt: skip
EXPORTS = {  # journey: (format, quantize)
    "export SavedModel": ("savedmodel", None),
    "export TFLite": ("tflite", None),
    "export TFLite dynamic": ("tflite", "dynamic"),
    "export TFLite int8": ("tflite", "int8"),
    "export ONNX": ("onnx", None),
}
WORKS = "works"
SECONDS: dict[tuple[str, str], float] = {}  # each cell's time in this process, shown by the page test


def outcome(step: Callable[[], Any], run: Path) -> str:
    """``works``, ``refuses: <the one line>`` for a zoo error (the run's path said ``RUN``, so the page is the
    same wherever the tests run), or ``FAILS: ...`` with the traceback's end."""
    try:
        step()
    except zoo.ZooError as err:
        return f"refuses: {first_line(ValueError(str(err).replace(str(run), 'RUN')))}"
    except Exception as err:  # every other failure is the cell's defect, shown in its test
        return f"FAILS: {type(err).__name__}: {first_line(err)}\n{traceback.format_exc()[-1500:]}"
    return WORKS


# -- the data and the stand-ins ---------------------------------------------------------------------------
def image_data(root: Path) -> tuple[Path, np.ndarray]:
    data = write_scenes(root / "scenes", per_class=8, size=SIZE, seed=0)
    more = sorted(write_scenes(root / "more", 2, SIZE, seed=1).rglob("*.png"))
    return data, np.stack([np.asarray(_png(p)) for p in more])


def _png(path: Path) -> Any:
    from PIL import Image

    return Image.open(path).convert("RGB")


def text_data(root: Path) -> tuple[Path, np.ndarray]:
    root.mkdir(parents=True, exist_ok=True)
    rows = list(csv.DictReader(topics_path().open()))
    chosen = {label: [r for r in rows if r["label"] == label][:10] for label in sorted({r["label"] for r in rows})}
    path = root / "texts.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows((r["text"], label) for label, members in chosen.items() for r in members)
    return path, np.array([r["text"] for r in rows[-6:]], dtype=object)


def stand_in(kind: Kind, root: Path) -> Kind:
    """The kind with its weights file made, where its stand-in is one (a SavedModel, a BERT checkpoint)."""
    if kind.weights == "<savedmodel>":
        return dataclasses.replace(kind, weights=make_saved_model(root / "savedmodel"))
    if kind.weights == "<bert>":
        write_hf_bert(root / "bert")
        return dataclasses.replace(kind, weights=root / "bert")
    if kind.weights == "<minilm>":  # its shape, one layer (test_text.py checks the real checkpoint)
        write_hf_bert(root / "minilm", hidden=384, layers=1, heads=12)
        return dataclasses.replace(kind, weights=root / "minilm")
    return kind


# -- the journeys -----------------------------------------------------------------------------------------
class Walk:
    """Every journey with one kind of backbone, sharing what earlier journeys made (the run, the exports)."""

    def __init__(self, kind: Kind, root: Path) -> None:
        self.kind, self.root = kind, root
        self.data, self.held_out = (image_data if kind.modality == "image" else text_data)(root)
        self.run: Any = None
        self.checks: list[dict[str, Any]] = []  # done in a new process: (journey, how, path, inputs, expected)

    def train(self, name: str, **options: Any) -> Any:
        options = {**self.kind.options, "epochs": 2, "batch_size": 8, "verbose": 0, **options}
        return zoo.train(self.kind.backbone, self.data, out=self.root / name, cache_dir=self.root / "cache", **options)

    def steps(self) -> dict[str, Callable[[], Any]]:
        kind, root = self.kind, self.root
        inputs = self.held_out

        def info() -> None:
            assert main(["info", kind.backbone, "--json"]) == 0

        def extract_by_name() -> None:
            keras.utils.set_random_seed(0)  # weights=None: the same random network as by model below
            features = zoo.extract(kind.backbone, inputs, verbose=0, **kind.options)
            spec = zoo.get_spec(kind.backbone)
            assert features.shape == (len(inputs), spec.feature_dim) and np.isfinite(features).all()
            self.features = features

        def extract_by_model() -> None:
            keras.utils.set_random_seed(0)
            model = zoo.backbone(kind.backbone, **kind.options)
            np.testing.assert_allclose(zoo.extract(model, inputs, verbose=0), self.features, rtol=1e-4, atol=1e-4)

        def rank() -> None:
            (row,) = zoo.rank(self.data, kind.backbone, folds=2, verbose=0, cache_dir=root / "cache", **kind.options)
            assert row.error is None and np.isfinite(row.logme), row.error

        mlflow_uri = f"sqlite:///{root / 'mlflow.db'}"  # absolute: MLflow caches a store by URI

        def train() -> None:  # tracked in MLflow (MLflow's default store: a SQLite file, ./mlruns for artefacts)
            here = os.getcwd()
            os.chdir(root)
            try:
                self.run = self.train("run", mlflow=mlflow_uri)
            finally:
                os.chdir(here)
            assert self.run.complete and 0 <= self.run.metrics["accuracy"] <= 1

        tuned = []

        def fine_tune() -> None:  # in mixed precision: the combination holds each of them
            tuned.append(self.train("fine-tuned", epochs=1, fine_tune=1, mixed_precision=True))
            with warnings.catch_warnings():  # the phase-2 optimizer state is left out of model.keras, not skipped
                warnings.filterwarnings("error", message=".*Skipping variable loading")
                zoo.load_model(tuned[0].path)
            expected = root / "tuned-expected.npy"  # and a new process predicts what this one does
            np.save(expected, tuned[0].model.predict(inputs, verbose=0))
            self.checks.append({"journey": "fine-tune", "how": "zoo", "path": str(tuned[0].path),
                                "expected": str(expected)})  # fmt: skip

        def mixed() -> None:  # the fine-tuned run, trained in mixed precision through both phases
            (run,) = tuned
            assert run.complete and run.train_config.mixed_precision

        def mirrored() -> None:  # the devices here (one CPU); test_distribute.py forces two
            assert self.train("mirrored", epochs=1, distribution="mirrored").complete

        def continued() -> None:
            model = zoo.load_model(self.run.path)
            more = zoo.train(model, self.data, out=root / "continued", epochs=1, batch_size=8, verbose=0,
                             cache_dir=root / "cache")  # fmt: skip
            assert more.complete

        def evaluate() -> None:
            metrics = zoo.evaluate(self.run, self.data)
            assert 0 <= metrics["accuracy"] <= 1

        def first_input() -> str:
            if kind.modality == "text":
                return str(inputs[0])
            path = root / "one.png"
            from PIL import Image

            Image.fromarray(inputs[0]).save(path)
            return str(path)

        def predict_cli() -> None:
            assert main(["predict", str(self.run.path), first_input(), "--json"]) == 0

        def predict_python() -> None:
            (result,) = zoo.predict(self.run.path, first_input(), top_k=1)
            expected = self.run.model.predict(inputs[:1], verbose=0)[0]
            label = self.run.class_names[int(np.argmax(expected))]
            assert result["predictions"][0]["label"] == label

        expected = {}

        def reload() -> None:
            expected["keras"] = self.run.model.predict(inputs, verbose=0)
            self.checks.append({"journey": "reload in a new process", "how": "zoo", "path": str(self.run.path)})

        def plain_keras() -> None:  # what the run says (and its card): plain Keras, or zoo.load_model
            needs = self.run.load_requirements
            said = load_line((self.run.path / "README.md").read_text())
            assert said.startswith("To load `model.keras`, install ") and all(f"`{n}`" in said for n in needs), said
            if "backbone-zoo" in needs:
                assert said.endswith("use `zoo.load_model` (its layers are not Keras' own, so plain "
                                     "`keras.saving.load_model` does not know them)."), said  # fmt: skip
                raise zoo.ConfigError(f"the model needs {', '.join(needs)} to load: use zoo.load_model")
            assert said.endswith("plain `keras.saving.load_model` loads it (no zoo needed)."), said
            path = str(self.run.path / "model.keras")
            self.checks.append({"journey": "plain Keras load", "how": "keras", "path": path})

        def export(journey: str) -> Callable[[], None]:
            format, quantize = EXPORTS[journey]

            def step() -> None:
                done = zoo.export(self.run, format, quantize=quantize, out=root / "exports" / journey.replace(" ", "-"))
                if isinstance(kind.weights, Path):  # a weights file of the user's: no license the zoo can name
                    assert done.metadata["backbone"]["weights_license"] == "unknown (a local weights file)"
                how = f"{format}-{quantize}" if quantize else format
                self.checks.append({"journey": journey, "how": how, "path": str(done.artefact)})

            return step

        def lr_find() -> None:
            found = zoo.lr_find(kind.backbone, self.data, steps=20, cache_dir=root / "cache", verbose=0,
                                **kind.options)  # fmt: skip
            assert len(found.rates) == len(found.losses) > 1 and np.isfinite(found.losses).all()
            assert found.rates[0] <= found.suggestion <= found.rates[-1]

        def tune() -> None:
            found = zoo.tune(self.data, kind.backbone, trials=2, epochs=2, cache_dir=root / "cache", verbose=0,
                             **kind.options)  # fmt: skip
            assert len(found.trials) == 2 and found.command.startswith(f"zoo train --backbone {kind.backbone} ")
            assert ("head" in found.best["params"]) == zoo.get_spec(kind.backbone).reduces  # no reduction of vectors

        def report() -> None:
            page = zoo.report([self.run], root / "report.html", top_losses=3).read_text()
            assert f'<td class="n">{self.run.metrics["accuracy"]:.4f}</td>' in page
            assert page.count('<figure class="example">') == 3  # thumbnails or texts of the top losses

        def mlflow() -> None:  # the run trained above, logged as it trained; its model loads in a new process
            from mlflow import MlflowClient

            client = MlflowClient(tracking_uri=mlflow_uri)
            (found,) = client.search_runs(["0"], filter_string=f"tags.`zoo.path` = '{self.run.path.resolve()}'")
            logged = client.get_metric_history(found.info.run_id, "loss")
            assert found.info.status == "FINISHED" and len(logged) == len(self.run.history)
            model = f"runs:/{found.info.run_id}/model"
            self.checks.append({"journey": "track in MLflow", "how": "mlflow", "path": model, "uri": mlflow_uri,
                                "classes": list(self.run.class_names)})  # fmt: skip

        def serve() -> None:  # a real server on 127.0.0.1 (uvicorn in a thread), asked in TF Serving's format
            import base64
            import threading
            import urllib.request

            import uvicorn

            from zoo.serving import make_app

            server = uvicorn.Server(uvicorn.Config(make_app(self.run, name="run", max_batch=4), host="127.0.0.1",
                                                  port=0, log_level="warning"))  # fmt: skip
            thread = threading.Thread(target=server.run)
            thread.start()
            try:
                while not server.started:
                    assert thread.is_alive(), "the server stopped"
                    time.sleep(0.05)
                port = server.servers[0].sockets[0].getsockname()[1]
                item = first_input()
                instance = (
                    item if kind.modality == "text" else {"b64": base64.b64encode(Path(item).read_bytes()).decode()}
                )
                request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/models/run:predict",
                                                 data=json.dumps({"instances": [instance]}).encode())  # fmt: skip
                with urllib.request.urlopen(request, timeout=60) as answer:
                    (row,) = json.loads(answer.read())["predictions"]
            finally:
                server.should_exit = True
                thread.join(60)
            np.testing.assert_allclose(row, self.run.model.predict(inputs[:1], verbose=0)[0], atol=PARITY)

        return {
            "info": info, "extract by name": extract_by_name, "extract by model": extract_by_model, "rank": rank,
            "train": train, "fine-tune": fine_tune, "mixed precision": mixed, "distribute mirrored": mirrored,
            "continue a loaded model": continued, "evaluate": evaluate, "predict (CLI)": predict_cli,
            "predict (Python)": predict_python, "reload in a new process": reload, "plain Keras load": plain_keras,
            **{journey: export(journey) for journey in EXPORTS}, "lr-find": lr_find, "tune": tune, "report": report,
            "track in MLflow": mlflow, "serve": serve,
        }  # fmt: skip


# Loads each artefact in a fresh process and compares it with what the Keras model gave in the process that
# trained it. Plain Keras and the exports load first, where no backbone-zoo module can be imported (as if not
# installed); zoo.load_model last.
CHECK = textwrap.dedent(
    """
    import importlib.abc, json, sys, traceback
    import numpy as np

    class NoZoo(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "zoo" or name.startswith(("zoo.", "zoo_")):
                raise ModuleNotFoundError(f"No module named {name!r} (backbone-zoo is not installed here)")

    jobs, results = json.loads(sys.argv[1]), {}
    jobs.sort(key=lambda job: job["how"] in ("zoo", "mlflow"))  # plain Keras and the exports first: no zoo needed
    sys.meta_path.insert(0, NoZoo())
    for job in jobs:
        if job["how"] in ("zoo", "mlflow") and NoZoo in map(type, sys.meta_path):
            sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, NoZoo)]
        x, expected = np.load(job["inputs"], allow_pickle=True), np.load(job["expected"])
        try:
            how = job["how"]
            if how == "keras":
                import keras
                out = keras.saving.load_model(job["path"], safe_mode=True).predict(x, verbose=0)
            elif how == "zoo":
                import zoo
                out = zoo.load_model(job["path"]).predict(x, verbose=0)
            elif how == "mlflow":  # the logged pyfunc model, through zoo.predict with the run's preprocessing
                import mlflow
                mlflow.set_tracking_uri(job["uri"])
                frame = mlflow.pyfunc.load_model(job["path"]).predict(list(x) if x.dtype == object else x)
                out = frame[job["classes"]].to_numpy()
            elif how == "savedmodel":
                import tensorflow as tf
                if x.dtype == object:
                    import tensorflow_text  # noqa: F401  (the tokenizer's ops)
                name = "text" if x.dtype == object else "images"
                out = tf.saved_model.load(job["path"]).signatures["serving_default"](**{name: tf.constant(x)})
                out = out["probabilities"].numpy()
            elif how.startswith("tflite"):
                from ai_edge_litert.interpreter import Interpreter
                out = Interpreter(model_path=job["path"]).get_signature_runner("serving_default")(images=x)
                out = out["probabilities"]
            else:
                import onnxruntime
                session = onnxruntime.InferenceSession(job["path"], providers=["CPUExecutionProvider"])
                out = session.run(["probabilities"], {"images": x})[0]
            out = np.asarray(out, dtype="float32")
            if out.shape != expected.shape or not np.isfinite(out).all():
                finite = np.isfinite(out).all()
                results[job["id"]] = f"FAILS: output {out.shape} (finite: {finite}), {expected.shape} expected"
            elif how in ("tflite-dynamic", "tflite-int8"):  # quantised: its own parity check ran at export
                results[job["id"]] = "works"
            else:
                diff = float(np.abs(out - expected).max())
                results[job["id"]] = "works" if diff <= job["tolerance"] else f"FAILS: max abs diff {diff:.3g}"
        except Exception as err:
            results[job["id"]] = f"FAILS: {type(err).__name__}: {err}"[:300] + "\\n" + traceback.format_exc()[-1500:]
    print(json.dumps(results))
    """
)


def walk(kind: Kind, root: Path) -> dict[str, str]:
    """``{journey: outcome}`` for one row: in this process, then the new-process checks at once."""
    walker = Walk(stand_in(kind, root), root)
    outcomes = {}
    for journey, step in walker.steps().items():
        needs_run = journey not in ("info", "extract by name", "extract by model", "rank", "train")
        if needs_run and walker.run is None:
            outcomes[journey] = "FAILS: no run to use (train failed)"
            continue
        start = time.perf_counter()
        outcomes[journey] = outcome(step, walker.root / "run")
        SECONDS[kind.label, journey] = time.perf_counter() - start
    if not walker.checks:
        return outcomes
    inputs, expected = root / "held-out.npy", root / "expected.npy"
    np.save(inputs, walker.held_out if kind.modality == "text" else walker.held_out.astype("uint8"))
    np.save(expected, walker.run.model.predict(walker.held_out, verbose=0))
    for check in walker.checks:
        check.setdefault("expected", str(expected))  # the run's own, unless the journey trained another
        check.update(id=check["journey"], inputs=str(inputs), tolerance=PARITY)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", CHECK, json.dumps(walker.checks)], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outcomes.update(json.loads(result.stdout.strip().splitlines()[-1]))
    return outcomes


@pytest.fixture(scope="session")
def row(tmp_path_factory) -> Callable[[str], dict[str, str]]:
    """``row(label)``: that row's outcomes, walked on first use in this process."""
    walked: dict[str, dict[str, str]] = {}

    def outcomes(label: str) -> dict[str, str]:
        if ONLY and ONLY not in BY_LABEL[label].backbone:
            pytest.skip(f"ZOO_CAPABILITY_KINDS={ONLY} leaves this row out")
        if label not in walked:
            walked[label] = walk(BY_LABEL[label], tmp_path_factory.mktemp(label.replace(" ", "-")))
        return walked[label]

    return outcomes


def page(outcomes: dict[tuple[str, str], str]) -> str:
    """docs/capabilities.md: one row per kind, one column per journey; refusals listed under the table."""
    lines = [
        "# Capabilities",
        "",
        "<!-- Generated by tests/test_capabilities.py from what each cell did; do not edit by hand. After a change",
        "     of behaviour: ZOO_WRITE_CAPABILITIES=1 .venv/bin/pytest -n 0 tests/test_capabilities.py -->",
        "",
        "Every journey with every kind of backbone, walked end to end by `tests/test_capabilities.py` with a tiny",
        "stand-in of each kind (its plugin and code path, small shapes). **yes**: it works, checked (shapes,",
        "metrics, predictions equal to the model's own; saved models and exports loaded in a new process and",
        "compared with Keras). **no (n)**: it refuses before any work, in one line: note n says why and what to do.",
        "",
    ]
    kinds = list(dict.fromkeys(kind for kind, _ in outcomes))
    notes: list[str] = []
    header = "| journey | " + " | ".join(kinds) + " |"
    lines += [header, "| --- |" + " --- |" * len(kinds)]
    for journey in JOURNEYS:
        cells = []
        for kind in kinds:
            result = outcomes.get((kind, journey), "not walked")
            if result == WORKS:
                cells.append("yes")
                continue
            text = result.split("\n")[0]
            if text not in notes:
                notes.append(text)
            cells.append(f"no ({notes.index(text) + 1})")
        lines.append(f"| {journey} | " + " | ".join(cells) + " |")
    lines += ["", "Stand-ins: " + "; ".join(f"{k.label}: `{k.backbone}`" for k in KINDS) + ".", ""]
    lines += [f"{i}. {note}" for i, note in enumerate(notes, 1)]
    return "\n".join(lines).rstrip() + "\n"


def read_page() -> dict[tuple[str, str], str]:
    """The outcomes docs/capabilities.md shows: ``works``, or ``refuses: ...`` with its note's text."""
    lines = PAGE.read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| journey |"))
    kinds = [cell.strip() for cell in lines[header].strip("|").split("|")][1:]
    notes = dict(line.split(". ", 1) for line in lines if line[:1].isdigit())
    shown = {}
    for line in lines[header + 2 : header + 2 + len(JOURNEYS)]:
        journey, *cells = (cell.strip() for cell in line.strip("|").split("|"))
        for kind, cell in zip(kinds, cells, strict=True):
            shown[kind, journey] = WORKS if cell == "yes" else notes[cell.removeprefix("no (").removesuffix(")")]
    return shown


BY_LABEL = {kind.label: kind for kind in KINDS}


@pytest.mark.slow  # a run and five exports per kind of backbone
@pytest.mark.parametrize("kind", list(BY_LABEL))
def test_every_cell_of_a_row_works_or_refuses_in_one_line_as_the_page_shows(row, kind):
    """One test a row (a kind of backbone), so that one xdist worker walks it once."""
    outcomes = row(kind)
    slowest = sorted(((s, j) for (k, j), s in SECONDS.items() if k == kind), reverse=True)[:5]
    print("\n".join(f"{seconds:6.1f} s  {kind}: {journey}" for seconds, journey in slowest))
    assert list(outcomes) == JOURNEYS
    broken = {j: r for j, r in outcomes.items() if r != WORKS and not (r.startswith("refuses: ") and "\n" not in r)}
    assert not broken, "\n\n".join(f"{kind}: {journey}: {result}" for journey, result in broken.items())
    shown = read_page()
    differ = [j for j, r in outcomes.items() if shown[kind, j] != (WORKS if r == WORKS else r.split("\n")[0])]
    assert not differ, (
        f"docs/capabilities.md disagrees with what {kind} did for {', '.join(differ)}: "
        "ZOO_WRITE_CAPABILITIES=1 .venv/bin/pytest -n 0 tests/test_capabilities.py rewrites it"
    )


def test_the_page_is_the_generated_table_of_every_kind_and_journey():
    """Generated from what the page shows, the page comes out the same: its layout and notes are the generator's."""
    shown = read_page()
    assert {kind for kind, _ in shown} == set(BY_LABEL) and {journey for _, journey in shown} == set(JOURNEYS)
    assert page(shown) == PAGE.read_text()


@pytest.mark.skipif(not WRITE, reason="ZOO_WRITE_CAPABILITIES=1 rewrites docs/capabilities.md")
def test_write_the_page(row):
    PAGE.write_text(page({(kind.label, j): r for kind in KINDS for j, r in row(kind.label).items()}))
