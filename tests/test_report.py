"""Run reports: metrics agree with scikit-learn, files are complete, plots are real PNGs."""

import csv
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image
from sklearn import metrics as skm

import zoo
from zoo.card import write_model_card
from zoo.history import write_history_csv
from zoo.metrics import compute_metrics, summary_rows
from zoo.plots import plot_confusion_matrix, plot_learning_curves

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def random_classification(n, c, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, c, n), softmax(rng.normal(size=(n, c)) * 2)


def assert_json_ready(value):
    """Only plain Python types, all the way down."""
    if isinstance(value, dict):
        assert all(isinstance(k, str) for k in value)
        for v in value.values():
            assert_json_ready(v)
    elif isinstance(value, list):
        for v in value:
            assert_json_ready(v)
    else:
        assert type(value) in (int, float, str), f"{value!r} is a {type(value)}"
    json.dumps(value, allow_nan=False)


def assert_per_class_matches(per_class, y_true, y_pred, labels):
    precision, recall, f1, support = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    ours = np.array([[c["precision"], c["recall"], c["f1"]] for c in per_class.values()])
    np.testing.assert_allclose(ours, np.stack([precision, recall, f1], axis=1), rtol=0, atol=1e-9)
    assert [c["support"] for c in per_class.values()] == support.tolist()


# --- classification ------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "c", "seed"), [(50, 2, 0), (200, 3, 1), (300, 7, 2), (500, 12, 3), (64, 30, 4)])
def test_classification_metrics_match_scikit_learn(n, c, seed):
    y, probs = random_classification(n, c, seed)
    labels = list(range(c))
    pred = probs.argmax(axis=1)
    m = compute_metrics("classification", y, probs)

    assert m["n"] == n
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-9)
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro", zero_division=0), abs=1e-9)
    assert m["confusion_matrix"] == skm.confusion_matrix(y, pred, labels=labels).tolist()
    assert m["loss"] == pytest.approx(skm.log_loss(y, probs, labels=labels), abs=1e-9)
    assert_per_class_matches(m["per_class"], y, pred, labels)
    assert list(m["per_class"]) == [str(i) for i in labels]
    if c > 5:
        assert m["top5_accuracy"] == pytest.approx(skm.top_k_accuracy_score(y, probs, k=5, labels=labels), abs=1e-9)
    else:
        assert "top5_accuracy" not in m
    assert_json_ready(m)


def test_the_loss_of_confidently_wrong_outputs_is_their_cross_entropy_not_a_clipped_one():
    """A float32 softmax gives probabilities far below Keras' 1e-7 clip: the loss is the cross-entropy of the logits
    (what Keras prints each epoch), not one capped at -ln(1e-7) = 16.1 an example."""
    logits = np.array([[0.0, 30.0, 0.0], [5.0, 0.0, 0.0], [0.0, 0.0, 12.0]])
    y = np.array([0, 0, 2])  # the first: wrong, and sure of it
    z = logits - logits.max(axis=1, keepdims=True)
    log_softmax = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    probs = np.exp(log_softmax).astype(np.float32)
    cross_entropy = -log_softmax[np.arange(3), y].mean()
    assert compute_metrics("classification", y, probs)["loss"] == pytest.approx(cross_entropy, rel=1e-5)


def test_classification_uses_class_names_and_accepts_float32_and_column_labels():
    y, probs = random_classification(40, 3, 5)
    labels, probs32 = y.reshape(-1, 1).astype(np.float32), probs.astype(np.float32)
    m = compute_metrics("classification", labels, probs32, ["a", "b", "c"])
    assert list(m["per_class"]) == ["a", "b", "c"]
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, probs.argmax(axis=1)), abs=1e-9)
    assert_json_ready(m)


def test_a_class_never_predicted_scores_zero():
    y, probs = random_classification(120, 4, 6)
    probs[:, 2] = 0.0  # class 2 is never the argmax
    probs /= probs.sum(axis=1, keepdims=True)
    pred = probs.argmax(axis=1)
    m = compute_metrics("classification", y, probs, ["w", "x", "y", "z"])
    assert m["per_class"]["y"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": int((y == 2).sum())}
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro", zero_division=0), abs=1e-9)
    assert_per_class_matches(m["per_class"], y, pred, [0, 1, 2, 3])
    assert m["loss"] > 0 and np.isfinite(m["loss"])  # p = 0 for the true class is clipped, not -log(0)


def test_a_class_absent_from_labels_and_predictions_is_left_out_of_macro_f1_like_scikit_learn():
    y, probs = random_classification(90, 5, 7)
    y[y == 4] = 0
    probs[:, 4] = 0.0
    pred = probs.argmax(axis=1)
    m = compute_metrics("classification", y, probs)
    assert m["per_class"]["4"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro", zero_division=0), abs=1e-9)


def test_perfect_classifier():
    y = np.array([0, 1, 2, 3, 4, 5, 6, 0, 1, 2])
    m = compute_metrics("classification", y, np.eye(7)[y])
    assert m["accuracy"] == m["macro_f1"] == m["top5_accuracy"] == 1.0
    assert m["confusion_matrix"] == np.diag(np.bincount(y, minlength=7)).tolist()
    assert all(c["precision"] == c["recall"] == c["f1"] == 1.0 for c in m["per_class"].values())
    assert m["loss"] == 0.0  # probability 1 on each true class: its cross-entropy, not a clipped one


def test_two_classes():
    y = np.array([0, 0, 1, 1, 1])
    probs = np.array([[0.8, 0.2], [0.4, 0.6], [0.3, 0.7], [0.1, 0.9], [0.6, 0.4]])
    m = compute_metrics("classification", y, probs, ["neg", "pos"])
    assert m["accuracy"] == pytest.approx(0.6)
    assert m["confusion_matrix"] == [[1, 1], [1, 2]]
    pos = m["per_class"]["pos"]
    assert pos["precision"] == pos["recall"] == pos["f1"] == pytest.approx(2 / 3) and pos["support"] == 3
    assert m["loss"] == pytest.approx(skm.log_loss(y, probs), abs=1e-9)
    assert "top5_accuracy" not in m


# --- multilabel ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "c", "seed"), [(60, 3, 0), (300, 8, 1)])
def test_multilabel_metrics_match_scikit_learn(n, c, seed):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, c)) < 0.4).astype(int)
    probs = 1 / (1 + np.exp(-(rng.normal(size=(n, c)) + (y - 0.5) * 2)))
    y[:, -1] = 0  # a label never true ...
    probs[:, -1] = 0.1  # ... and never predicted: F1 0.0 as with zero_division=0
    pred = (probs > 0.5).astype(int)
    m = compute_metrics("multilabel", y, probs)

    assert m["n"] == n
    assert m["subset_accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-9)
    assert m["micro_f1"] == pytest.approx(skm.f1_score(y, pred, average="micro", zero_division=0), abs=1e-9)
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro", zero_division=0), abs=1e-9)
    assert_per_class_matches(m["per_class"], y, pred, None)
    assert m["per_class"][str(c - 1)] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert_json_ready(m)


def test_multilabel_threshold_and_empty_predictions():
    y = np.array([[1, 0], [0, 1]])
    probs = np.array([[0.7, 0.2], [0.3, 0.6]])
    assert compute_metrics("multilabel", y, probs)["subset_accuracy"] == 1.0
    m = compute_metrics("multilabel", y, probs, threshold=0.8)
    assert m["subset_accuracy"] == m["micro_f1"] == m["macro_f1"] == 0.0


# --- regression ----------------------------------------------------------------------------------


@pytest.mark.parametrize("output_shape", ["flat", "column"])
def test_regression_single_output_matches_scikit_learn(output_shape):
    rng = np.random.default_rng(8)
    y = rng.normal(size=100) * 3 + 1
    out = y + rng.normal(size=100)
    m = compute_metrics("regression", y, out if output_shape == "flat" else out[:, None])
    assert m["n"] == 100
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y, out), abs=1e-9)
    assert m["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, out)), abs=1e-9)
    assert m["r2"] == pytest.approx(skm.r2_score(y, out), abs=1e-9)
    assert_json_ready(m)


def test_regression_several_outputs_are_averaged_like_scikit_learn():
    rng = np.random.default_rng(9)
    y = rng.normal(size=(80, 3)) * [1, 10, 100]
    out = y + rng.normal(size=(80, 3)) * [0.5, 2, 30]
    m = compute_metrics("regression", y, out)
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y, out), abs=1e-9)
    assert m["rmse"] == pytest.approx(skm.root_mean_squared_error(y, out), abs=1e-9)
    assert m["r2"] == pytest.approx(skm.r2_score(y, out), abs=1e-9)


def test_regression_constant_target_gives_a_finite_r2_like_scikit_learn():
    y = np.full(5, 2.0)
    assert compute_metrics("regression", y, y)["r2"] == skm.r2_score(y, y) == 1.0
    assert compute_metrics("regression", y, y + 1)["r2"] == skm.r2_score(y, y + 1) == 0.0


# --- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "y_true", "outputs", "names", "message"),
    [
        ("classification", np.zeros(4, int), np.full((3, 2), 0.5), (), r"shape \(3,\)"),
        ("classification", np.zeros((4, 2), int), np.full((4, 2), 0.5), (), "class indices of shape"),
        ("classification", np.zeros(4, int), np.full(4, 0.5), (), r"shape \(N, C\)"),
        ("classification", np.array([0, 1, 2, 1]), np.full((4, 2), 0.5), (), r"in \[0, 2\)"),
        ("classification", np.array([0.0, 0.5, 1, 1]), np.full((4, 2), 0.5), (), "integers"),
        ("classification", np.zeros(4, int), np.full((4, 2), 0.5), ("a", "b", "c"), "3 class names for 2"),
        ("classification", np.zeros(4, int), np.full((4, 2), 0.5), ("a", "a"), "unique"),
        ("classification", np.zeros(2, int), np.array([[3.0, -1.0], [0.2, 0.1]]), (), "logits"),
        ("classification", np.zeros(2, int), np.array([[np.nan, 0.5], [0.5, 0.5]]), (), "NaN"),
        ("classification", np.zeros(0, int), np.zeros((0, 3)), (), "zero examples"),
        ("classification", np.zeros(2, int), np.ones((2, 1)), (), "at least 2 classes"),
        ("multilabel", np.zeros((4, 3), int), np.full((4, 2), 0.5), (), r"shape of outputs \(4, 2\)"),
        ("multilabel", np.full((2, 2), 2), np.full((2, 2), 0.5), (), "multi-hot"),
        ("regression", np.zeros(4), np.zeros(5), (), r"y_true \(4,\), outputs \(5,\)"),
        ("regression", np.zeros((4, 2)), np.zeros((4, 3)), (), "one shape"),
        ("regression", np.zeros(4), np.zeros((4, 2)), (), "one shape"),
        ("regression", np.zeros(0), np.zeros(0), (), "zero examples"),
        ("regression", np.zeros(2), np.array([1.0, np.inf]), (), "finite"),
        ("segmentation", np.zeros(2), np.zeros(2), (), "task must be one of"),
    ],
)
def test_bad_inputs_raise_a_clear_value_error(task, y_true, outputs, names, message):
    with pytest.raises(ValueError, match=message):
        compute_metrics(task, y_true, outputs, names)


# --- summary -------------------------------------------------------------------------------------


def test_summary_rows_are_formatted_headlines():
    y, probs = random_classification(100, 8, 10)
    m = compute_metrics("classification", y, probs)
    rows = dict(summary_rows("classification", m))
    assert list(rows) == ["accuracy", "macro F1", "top-5 accuracy", "loss"]
    assert rows["accuracy"] == f"{m['accuracy']:.4f}"
    assert "top-5 accuracy" not in dict(summary_rows("classification", {"accuracy": 1.0, "macro_f1": 1.0}))
    assert summary_rows("multilabel", {"subset_accuracy": 0.5, "micro_f1": 0.25, "macro_f1": 0.125}) == [
        ("subset accuracy", "0.5000"),
        ("micro F1", "0.2500"),
        ("macro F1", "0.1250"),
    ]
    assert summary_rows("regression", {"mae": 1234.5678, "rmse": 0.001234567, "r2": 0.5}) == [
        ("MAE", "1234.57"),
        ("RMSE", "0.00123457"),
        ("R2", "0.5000"),
    ]
    with pytest.raises(ValueError, match="task"):
        summary_rows("detection", {})


# --- history -------------------------------------------------------------------------------------

HISTORY = [
    {"phase": 1, "epoch": 1, "loss": 1.25, "accuracy": 0.5, "val_loss": 1.5, "val_accuracy": 0.4, "learning_rate": 0.1},
    {"phase": 1, "epoch": 2, "loss": 0.75, "accuracy": 0.7, "val_loss": 1.0, "val_accuracy": 0.6, "learning_rate": 0.1},
    {"phase": 2, "epoch": 3, "loss": np.float32(0.5), "accuracy": 0.8, "val_accuracy": 0.7, "learning_rate": 1e-5},
    {"phase": 2, "epoch": 4, "loss": 0.25, "accuracy": 0.9, "val_loss": 0.5, "val_accuracy": 0.75, "note": "best"},
]


def test_history_csv_round_trips(tmp_path):
    path = write_history_csv(HISTORY, tmp_path / "sub" / "history.csv")
    assert path == tmp_path / "sub" / "history.csv"
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames == [*HISTORY[0], "note"]  # the union of keys, in first-seen order
    assert len(rows) == len(HISTORY)
    for row, original in zip(rows, HISTORY, strict=True):
        for key, value in row.items():
            if key not in original:
                assert value == ""
            elif isinstance(original[key], str):
                assert value == original[key]
            else:
                assert float(value) == float(original[key])
    assert [p.name for p in path.parent.iterdir()] == ["history.csv"]  # no temporary file left behind


def test_empty_history_csv(tmp_path):
    assert write_history_csv([], tmp_path / "h.csv").read_text() == ""


# --- plots ---------------------------------------------------------------------------------------


def assert_png(path, min_size=200):
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        assert image.format == "PNG"
        width, height = image.size
    assert min_size <= width <= 5000 and min_size <= height <= 5000
    return width, height


@pytest.mark.parametrize(
    "history",
    [
        HISTORY,
        [{"loss": 1.0, "val_loss": 1.1, "mae": 3.0, "val_mae": 3.5}, {"loss": 0.5, "val_loss": 0.9, "mae": 2.0}],
        [{"loss": 1.0}],
        [],
    ],
    ids=["two-phases", "regression", "loss-only", "empty"],
)
def test_learning_curves_are_png(tmp_path, history):
    width, _ = assert_png(plot_learning_curves(history, tmp_path / "curves.png"))
    has_metric = any(k in row for row in history for k in ("accuracy", "mae"))
    assert width >= (800 if has_metric else 400)  # one panel per plotted quantity


def test_confusion_matrix_png(tmp_path):
    y, probs = random_classification(200, 4, 11)
    matrix = compute_metrics("classification", y, probs)["confusion_matrix"]
    names = ["cat", "dog", "a rather long class name that is rotated", "bird"]
    assert_png(plot_confusion_matrix(matrix, names, tmp_path / "cm.png"))
    assert_png(plot_confusion_matrix(matrix, names, tmp_path / "counts.png", normalize=False))


def test_confusion_matrix_of_many_classes_skips_annotations(tmp_path):
    matrix = np.random.default_rng(12).integers(0, 5, (60, 60))
    matrix[3] = 0  # a class with no examples: its normalised row stays zero
    width, height = assert_png(plot_confusion_matrix(matrix, [f"class_{i}" for i in range(60)], tmp_path / "cm.png"))
    assert width > 1000 and height > 1000


def test_confusion_matrix_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="square"):
        plot_confusion_matrix([[1, 2, 3], [4, 5, 6]], ["a", "b"], tmp_path / "cm.png")
    with pytest.raises(ValueError, match="3 class names for 2"):
        plot_confusion_matrix([[1, 2], [3, 4]], ["a", "b", "c"], tmp_path / "cm.png")
    assert not list(tmp_path.iterdir())


def test_plots_can_be_drawn_from_several_threads(tmp_path):
    matrix = [[5, 1, 0], [2, 7, 1], [0, 0, 9]]
    paths = [tmp_path / f"cm{i}.png" for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        done = list(pool.map(lambda p: plot_confusion_matrix(matrix, ["a", "b", "c"], p), paths))
    assert done == paths
    for path in paths:
        assert_png(path)


def test_report_imports_neither_keras_nor_pyplot(tmp_path):
    code = f"""
import sys
import zoo.card, zoo.history, zoo.metrics, zoo.plots
assert not any(m.split('.')[0] in ('keras', 'tensorflow', 'matplotlib') for m in sys.modules), 'heavy import'
zoo.plots.plot_confusion_matrix([[1, 0], [0, 1]], ['a', 'b'], {str(tmp_path / "cm.png")!r})
assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'
"""
    subprocess.run([sys.executable, "-c", code], check=True)


# --- model card ----------------------------------------------------------------------------------

SPEC = zoo.BackboneSpec(
    name="resnet50",
    family="resnet",
    plugin="keras-applications",
    input_shape=(224, 224, 3),
    feature_dim=2048,
    feature_shape=(7, 7, 2048),
    preprocessing=zoo.Preprocessing.caffe(),
).to_dict()
CONFIG = {"epochs": 10, "batch_size": 32, "learning_rate": 0.001, "fine_tune": 2, "augment": ["flip"], "seed": 0}
TEXT_SPEC = zoo.BackboneSpec(
    name="minilm",
    family="bert",
    plugin="backbone-zoo-keras-hub",
    input_shape=(),
    feature_dim=384,
    feature_shape=(384,),
    modality="text",
    preprocessing=zoo.TextPreprocessing(sequence_length=256, vocabulary="BERT uncased", normalize=True),
).to_dict()
IMAGE_WORDS = ("RGB", "pixels", "image.jpg", "cameras", "resolutions")


def card_text(tmp_path, spec, config, history=(), summary=None, task="classification", names=("cat", "dog"), cut=None):
    y, probs = random_classification(40, len(names), 5)
    metrics = compute_metrics(task, y, probs, names)
    card = write_model_card(tmp_path / "run" / "README.md", name="card", spec=spec, config=config, metrics=metrics,
                            class_names=names, task=task, data_summary=summary, texts_cut=cut,
                            history=history)  # fmt: skip
    return card.read_text()


def test_model_card_has_metrics_labels_and_usage(tmp_path):
    names = ["cat", "dog", "bird|feather"]
    y, probs = random_classification(60, 3, 13)
    metrics = compute_metrics("classification", y, probs, names)
    card = write_model_card(
        tmp_path / "run" / "README.md",
        name="pets",
        spec=SPEC,
        config=CONFIG,
        metrics=metrics,
        class_names=names,
        task="classification",
        data_summary={"train_examples": 240, "val_examples": 60, "skipped_files": ["a.jpg", "b.png"]},
    )
    text = card.read_text()
    assert text.startswith("# pets\n")
    run = (tmp_path / "run").as_posix()
    expected = [
        *("`resnet50` (resnet family)", "`keras-applications`", zoo.Preprocessing.caffe().describe()),
        "- input: RGB images of 224 x 224 x 3, raw pixels in [0, 255], resized bilinear to this size",
        "| 1 | the head (backbone frozen) | at most 10 | 0.001, cosine decay to 0, Adam |",
        "| 2 | the head and the top 2 backbone blocks, BatchNorm frozen | at most 10 | 0.0001, cosine decay to 0, ",
        *(
            "| batch_size | 32 |",
            "| augment | flip |",
            "| seed | 0 |",
            "| class_weight | none (every class weighs 1) |",
        ),
        *("| train_examples | 240 |", "| val_examples | 60 |", '| skipped_files | ["a.jpg", "b.png"] |'),
        f"| accuracy | {metrics['accuracy']:.4f} |",
        f"| macro F1 | {metrics['macro_f1']:.4f} |",
        f"| `cat` | {metrics['per_class']['cat']['precision']:.4f} |",
        *("- 0: `cat`", "- 1: `dog`", "`bird\\|feather`", "60 validation examples"),
        *("import zoo", f'zoo.load_model("{run}/model.keras")', f"zoo predict {run} image.jpg"),
        "other cameras",
    ]
    for snippet in expected:
        assert snippet in text, snippet
    assert "None" not in text


LOAD_LINES = {
    ("keras",): "To load `model.keras`, install `keras`: plain `keras.saving.load_model` loads it (no zoo needed).",
    ("keras", "keras-cv"): "To load `model.keras`, install `keras` and `keras-cv`: plain `keras.saving.load_model` "
    "loads it (no zoo needed).",
    ("backbone-zoo", "keras", "keras-hub"): "To load `model.keras`, install `backbone-zoo`, `keras` and `keras-hub`: "
    "use `zoo.load_model` (its layers are not Keras' own, so plain `keras.saving.load_model` does not know them).",
}


def load_line(text):
    """The card's one line on loading ``model.keras`` (the first line of its Usage section)."""
    lines = text.splitlines()
    usage = lines.index("## Usage")
    assert lines[usage + 1] == "" and lines[usage + 3] == ""
    return lines[usage + 2]


@pytest.mark.parametrize("requirements", list(LOAD_LINES), ids=["keras", "keras-cv", "zoo"])
def test_the_card_says_in_one_line_what_loading_the_model_needs(requirements, tmp_path):
    card = write_model_card(tmp_path, name="r", spec=SPEC, config=CONFIG, metrics={}, class_names=["a", "b"],
                            task="classification", load_requirements=list(requirements))  # fmt: skip
    assert load_line(card.read_text()) == LOAD_LINES[requirements]
    plain = write_model_card(tmp_path / "plain.md", name="r", spec=SPEC, config=CONFIG, metrics={},
                             class_names=["a", "b"], task="classification")  # fmt: skip
    assert "To load" not in plain.read_text()  # not known: not said


def test_a_text_model_card_describes_text_input_usage_and_limits(tmp_path):
    spec = {**TEXT_SPEC, "input_shape": [64]}  # the length the model reads, as Run.finish passes it
    history = [{"phase": 1, "epoch": e} for e in (1, 2, 3)] + [{"phase": 2, "epoch": e} for e in (1, 2)]
    config = {**CONFIG, "fine_tune_epochs": 4, "fine_tune_learning_rate": 3e-5, "augment": None, "class_weight": None,
              "patience": None, "weights": None, "train": "/data/texts.csv", "val": None,
              "unfrozen": ["l5", "l4"]}  # fmt: skip
    text = card_text(tmp_path, spec, config, history, {"train examples": 80, "x": None}, cut=3)
    run = (tmp_path / "run").as_posix()
    expected = [
        "A text classification model",
        "- input: one raw string per example (the model tokenizes it)",
        "- tokenizer (inside the model): wordpiece (lower-cased); vocabulary: BERT uncased",
        "- sequence length: 64 tokens (the backbone reads up to 256); longer texts are cut to their first 64",
        "- pooling: mean of the token vectors over the padding mask, L2-normalised",
        "- head: standardised features, then Dense 2 (softmax)",
        "| 1 | the head (backbone frozen) | 3 of 10 (early stopping) | 0.001, cosine decay to 0, Adam |",
        "| 2 | the head and the top 2 backbone blocks (l5, l4), BatchNorm frozen | 2 of 4 (early stopping) | 3e-05, ",
        *("| weights | none (random initialisation) |", "| patience | none (never stops early) |"),
        *("| val_fraction | 0.2 of the training data held out for validation |", "| train | /data/texts.csv |"),
        'outputs = model.predict(np.array(["some text", "another text"], dtype=object))',
        f'zoo predict {run} "some text" "another text"',
        f"zoo predict {run} < texts.txt",
        "other languages, domains",
        "- Only the first 64 tokens of a text are read: the rest is ignored (3 of the training and validation texts",
    ]
    for snippet in expected:
        assert snippet in text, snippet
    assert not [word for word in IMAGE_WORDS if word in text]
    assert "None" not in text and "| x |" not in text


def test_a_card_without_fine_tuning_says_so_and_prints_no_none(tmp_path):
    text = card_text(tmp_path, SPEC, {"epochs": 4, "fine_tune": None, "augment": True, "val": "/v"}, history=[{}] * 0)
    assert "| 2 | not used (no fine-tuning) | - | - |" in text
    assert "| augment | all |" in text and "| val | /v |" in text and "val_fraction" not in text
    assert "None" not in text


def test_model_card_in_a_directory_for_regression(tmp_path):
    metrics = compute_metrics("regression", np.arange(5.0), np.arange(5.0) + 0.5)
    card = write_model_card(
        tmp_path, name="age", spec={"name": "tiny"}, config={}, metrics=metrics, class_names=[], task="regression"
    )
    assert card == tmp_path / "README.md"
    text = card.read_text()
    assert "| MAE | 0.5 |" in text and "| R2 |" in text and "5 validation examples" in text
    assert "## Labels" not in text and "## Data" not in text
    assert "then Dense (linear)" in text and "class_weight" not in text and "None" not in text


def test_model_card_skips_per_class_table_for_many_classes(tmp_path):
    y, probs = random_classification(300, 60, 14)
    names = [f"species_{i}" for i in range(60)]
    metrics = compute_metrics("classification", y, probs, names)
    card = write_model_card(
        tmp_path / "README.md",
        name="birds",
        spec=SPEC,
        config={},
        metrics=metrics,
        class_names=names,
        task="classification",
    )
    text = card.read_text()
    assert "| `species_0` |" not in text  # no per-class table above 50 classes
    assert "- 59: `species_59`" in text and "top-5 accuracy" in text


# --- the card of real runs -----------------------------------------------------------------------


def card_lines(run):
    return (run.path / "README.md").read_text()


def phase_rows(text):
    return [line for line in text.splitlines() if line.startswith(("| 1 |", "| 2 |"))]


@pytest.mark.slow
def test_the_card_of_a_tiny_image_run_gives_the_values_each_phase_used(tmp_path):
    from zoo.demo import write_scenes

    data = write_scenes(tmp_path / "data", per_class=6, size=32, seed=0)
    run = zoo.train("tiny_image", data, weights=None, epochs=2, fine_tune=2, fine_tune_epochs=1, learning_rate=0.05,
                    batch_size=16, out=tmp_path / "run", cache_dir=tmp_path / "cache", verbose=0)  # fmt: skip
    text = card_lines(run)
    config, history = run.train_config, run.history
    epochs = [sum(row["phase"] == phase for row in history) for phase in (1, 2)]
    assert phase_rows(text) == [
        f"| 1 | the head (backbone frozen) | {epochs[0]} of 2 | 0.05, cosine decay to 0, Adam |",
        f"| 2 | the head and the top 2 backbone blocks (block3, block2), BatchNorm frozen | {epochs[1]} of 1 | "
        f"{config.phase2_learning_rate:g}, cosine decay to 0, Adam |",
    ]
    assert config.phase2_learning_rate == pytest.approx(0.005)  # a tenth of the phase-1 rate: not a default
    assert "- input: RGB images of 32 x 32 x 3, raw pixels in [0, 255], resized bilinear" in text
    assert text.splitlines()[2].startswith("An image classification model trained with backbone-zoo on the `")
    assert f"zoo predict {run.path.as_posix()} image.jpg" in text and "other cameras" in text
    assert "| batch_size | 16 |" in text and "| weights | none (random initialisation) |" in text
    assert "None" not in text
    assert run.load_requirements == ["keras"] and load_line(text) == LOAD_LINES[("keras",)]  # built-in layers only


@pytest.mark.slow
def test_the_card_of_a_tiny_text_run_describes_texts_not_images(tmp_path):
    from tests.test_text import write_hf_bert

    write_hf_bert(tmp_path / "bert")
    texts = [f"the {a} {v} on {w}" for a in ("cat", "dog") for v in ("sat", "ran", "sat .") for w in ("a mat", "the")]
    labels = ["cat"] * 6 + ["dog"] * 6
    run = zoo.train("bert_tiny_en_uncased", (texts, labels), weights=tmp_path / "bert", epochs=2,
                    learning_rate=0.01, batch_size=4, out=tmp_path / "run", cache_dir=tmp_path / "cache",
                    verbose=0)  # fmt: skip
    text = card_lines(run)
    length = run.model_config.input_shape[0]
    assert length == run.train_config.input_shape < 128  # fitted to these short texts
    for snippet in [
        "A text classification model",
        "- input: one raw string per example (the model tokenizes it)",
        "- tokenizer (inside the model): wordpiece (lower-cased, accents stripped)",
        f"- sequence length: {length} tokens (the backbone reads up to 128); longer texts are cut to their first",
        f'zoo predict {run.path.as_posix()} "some text"',
        f"- Only the first {length} tokens of a text are read",
        f"| 1 | the head (backbone frozen) | {len(run.history)} of 2 | 0.01, cosine decay to 0, Adam |",
        "| 2 | not used (no fine-tuning) | - | - |",
    ]:
        assert snippet in text, snippet
    assert not [word for word in IMAGE_WORDS if word in text]
    assert "None" not in text
    assert run.load_requirements == ["backbone-zoo", "keras", "keras-hub"]  # the zoo's text layers, keras-hub's BERT
    assert load_line(text) == LOAD_LINES[("backbone-zoo", "keras", "keras-hub")]
