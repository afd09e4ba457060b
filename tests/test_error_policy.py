"""One error policy (docs/reference/errors.md): every exception a public function raises itself is a
``zoo.ZooError`` that is also the built-in it replaces, and every warning the zoo gives has a zoo category.

The scan reads ``zoo/`` with ``ast``: a new ``raise ValueError(...)`` or a ``warnings.warn`` without a zoo
category fails here, unless ALLOWED names it with the reason."""

import ast
import inspect
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import zoo
from zoo import cli, console, errors, metrics, scoring
from zoo.data import load_dataset, pipeline, split

ROOT = Path(__file__).resolve().parent.parent
BUILTINS = {"ValueError", "TypeError", "RuntimeError", "KeyError"}
ZOO_WARNINGS = {name for name, obj in vars(errors).items() if inspect.isclass(obj) and issubclass(obj, Warning)}
SUBCLASSES = [
    obj for obj in vars(errors).values() if inspect.isclass(obj) and issubclass(obj, errors.ZooError)
    and obj is not errors.ZooError
]  # fmt: skip

# (file, enclosing function, what is raised or the category's source): why it may stay.
ALLOWED = {
    # json.dumps's `default=` hook must raise TypeError for a value it cannot convert (the json module's
    # protocol). The zoo writes only records it built itself (options are checked by TrainConfig first), so
    # reaching it is a bug in the zoo, not bad input.
    ("zoo/files.py", "_jsonable", "TypeError"),
    # An internal assertion: the batches of one extraction did not fill the rows counted for them just before.
    # No input can cause it; it is a bug in the zoo's batching, reported with a traceback (exit 1).
    ("zoo/features.py", "_run", "RuntimeError"),
    # The factory's own warnings (Keras, a plugin), caught while it built the network, passed on unchanged
    # under their own category: they are not the zoo's warnings.
    ("zoo/backbones.py", "build_network", "w.category"),
}


def _violations() -> set[tuple[str, str, str]]:
    found = set()
    for path in sorted((ROOT / "zoo").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        relative = path.relative_to(ROOT).as_posix()

        def visit(node: ast.AST, function: str, relative: str = relative) -> None:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                function = node.name
            if isinstance(node, ast.Raise) and node.exc is not None:
                exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if isinstance(exc, ast.Name) and exc.id in BUILTINS:
                    found.add((relative, function, exc.id))
            if isinstance(node, ast.Call) and _is_warn(node.func):
                category = _category(node)
                if not (isinstance(category, ast.Name) and category.id in ZOO_WARNINGS):
                    found.add((relative, function, ast.unparse(category) if category else "no category"))
            for child in ast.iter_child_nodes(node):
                visit(child, function)

        visit(tree, "<module>")
    return found


def _is_warn(func: ast.expr) -> bool:
    """``warnings.warn(...)`` or ``warnings.warn_explicit(...)``, or either imported by name."""
    if isinstance(func, ast.Name):
        return func.id in ("warn", "warn_explicit")
    return (
        isinstance(func, ast.Attribute)
        and func.attr in ("warn", "warn_explicit")
        and isinstance(func.value, ast.Name)
        and func.value.id == "warnings"
    )


def _category(call: ast.Call) -> ast.expr | None:
    """The category argument: the second positional one of warn and warn_explicit, or ``category=``."""
    keyword = next((k.value for k in call.keywords if k.arg == "category"), None)
    return keyword or (call.args[1] if len(call.args) > 1 else None)


def test_zoo_raises_no_bare_builtin_error_and_warns_only_with_zoo_categories():
    found = _violations()
    assert found - ALLOWED == set(), "use a zoo.errors class (or allow-list it here, with the reason)"
    assert ALLOWED - found == set(), "an allow-list entry matches nothing any more: remove it"


def test_the_scan_sees_what_it_looks_for():
    code = "import warnings\ndef f():\n    raise ValueError('x')\n    warnings.warn('y')\n    warnings.warn('z', W)\n"
    tree = ast.parse(code)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and _is_warn(n.func)]
    assert [_category(c) and ast.unparse(_category(c)) for c in calls] == [None, "W"]
    assert any(isinstance(n, ast.Raise) and n.exc.func.id == "ValueError" for n in ast.walk(tree))


@pytest.mark.parametrize("cls", SUBCLASSES, ids=lambda c: c.__name__)
def test_each_zoo_error_is_also_the_builtin_it_replaces(cls):
    """So ``except ValueError`` (``KeyError``, ``OSError``...) in a user's code keeps catching it."""
    plain = (Exception, BaseException, object)
    assert any(base.__module__ == "builtins" and base not in plain for base in cls.__mro__), cls.__mro__


def test_every_zoo_warning_is_a_user_warning_that_the_cli_prints_as_one_line():
    classes = {getattr(errors, name) for name in ZOO_WARNINGS}
    assert all(issubclass(c, UserWarning) for c in classes)
    assert classes == set(cli.ZOO_WARNINGS)


# -- behaviour: the changed paths raise zoo errors, caught by `except zoo.ZooError` and by the old builtin --------
def _caught(call, *classes):
    """Call ``call``; the error it raises, checked to be each of ``classes`` (a ZooError first of all)."""
    try:
        call()
    except zoo.ZooError as err:
        assert all(isinstance(err, c) for c in classes), type(err).__mro__
        return err
    raise AssertionError("no ZooError raised")


def test_logme_with_bad_shapes_is_a_data_error_and_a_value_error():
    rng = np.random.default_rng(0)
    err = _caught(lambda: zoo.logme(rng.normal(size=(30,)), rng.integers(0, 2, 30)), zoo.DataError, ValueError)
    assert str(err) == "features must be a 2-D array (examples, dimensions), got shape (30,)"
    with pytest.raises(ValueError, match=r"classification labels must have shape \(30,\)"):
        zoo.logme(rng.normal(size=(30, 4)), np.zeros((30, 2)))
    _caught(lambda: scoring.linear_probe(rng.normal(size=(30, 4)), np.arange(30) % 2, folds=1), zoo.ConfigError)


def test_load_dataset_of_an_unreadable_type_is_a_data_error_and_a_type_error():
    err = _caught(lambda: load_dataset(42), errors.DataTypeError, zoo.DataError, TypeError)
    assert str(err).startswith("data must be a folder, a CSV, TSV or JSONL file") and str(err).endswith("got int")
    with pytest.raises(TypeError):
        load_dataset(object())


def test_options_the_zoo_cannot_use_are_config_errors():
    texts = load_dataset((["Goal!", "Rain."], ["sports", "weather"]))
    pixels = load_dataset((np.arange(4).reshape(4, 1, 1), [0, 1, 0, 1]))
    cases = {
        "augmentation applies to images only": lambda: pipeline(texts, augment=True),
        "image_size=(height, width) is required": lambda: pipeline(pixels),
        "val_fraction must be between 0 and 1": lambda: split(pixels, 1.5),
        "max_bad_fraction must be in [0, 1]": lambda: load_dataset((["a", "b"], [0, 1]), max_bad_fraction=2),
        "modality must be one of": lambda: zoo.list_backbones(modality="audio"),
        "level must be one of": lambda: console.set_level("loud"),
        "task must be one of": lambda: metrics.compute_metrics("ranking", [0], [[1.0, 0.0]]),
    }
    for message, call in cases.items():
        assert str(_caught(call, zoo.ConfigError, ValueError)).startswith(message)


def test_metrics_of_outputs_that_are_not_probabilities_are_a_data_error():
    err = _caught(lambda: metrics.compute_metrics("classification", [0, 1], [[3.0, -1.0], [0.2, 0.8]]), zoo.DataError)
    assert "(logits instead of probabilities?)" in str(err)


@pytest.mark.slow
def test_augmenting_a_text_run_is_one_line_and_exit_2_from_the_cli(tmp_path):
    """Was a traceback and exit 1 (a bare ValueError from the data pipeline, after the backbone was built)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "ZOO_CACHE_DIR": str(tmp_path / "cache")}
    topics = ROOT / "zoo" / "datasets" / "topics.csv"
    args = ["train", "--backbone", "bert_tiny_en_uncased", "--data", topics, "--weights", "none", "--augment", "flip",
            "--epochs", "1", "--out", tmp_path / "run"]  # fmt: skip
    result = subprocess.run([sys.executable, "-m", "zoo", *map(str, args)], capture_output=True, text=True, env=env)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors_said = [line for line in result.stderr.splitlines() if line.startswith("zoo: error:")]
    assert errors_said == [
        "zoo: error: augmentation applies to images only, got augment=('flip',) for a text dataset"
    ], result.stderr
