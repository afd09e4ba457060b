"""The public surface: what ``zoo.__all__`` and the docs name resolves, ``import zoo`` stays light, and mypy passes."""

from __future__ import annotations

import dataclasses
import importlib
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import zoo

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
# For contributors, and the page that says what is public: they name the zoo's own modules on purpose. What
# they name must still exist.
INTERNAL_DOCS = {"architecture.md", "contributing.md", "zoo.md"}
# `zoo.X` in the docs that names no Python object: file names.
NOT_NAMES = {"zoo.json", "zoo.md"}
# The docs cite these to explain how the zoo works, not for a user to call them.
CITED = {"zoo.plugins.block_pattern_refusal": "reliability.md names the check that bounds block_pattern"}
MENTION = re.compile(r"(?<![\w.])zoo(?:\.[A-Za-z_]\w*)+")
FROM_IMPORT = re.compile(r"from (zoo(?:\.\w+)*) import ([\w, ]+)")


def mentions() -> dict[str, set[str]]:
    """Every ``zoo.a.b`` the README and docs/ write (``from zoo.x import y`` as ``zoo.x.y``), with the pages."""
    found: dict[str, set[str]] = {}
    for page in DOCS:
        text = page.read_text(encoding="utf-8")
        names = set(MENTION.findall(text))
        names |= {
            f"{module}.{name.strip()}" for module, names_ in FROM_IMPORT.findall(text) for name in names_.split(",")
        }
        for name in names - NOT_NAMES:
            found.setdefault(name, set()).add(page.name)
    return found


def resolve(dotted: str) -> object:
    """The object ``dotted`` names, reached by attribute access from ``zoo`` as a user's code reaches it."""
    obj: object = zoo
    for part in dotted.split(".")[1:]:
        obj = getattr(obj, part)
    return obj


def documented() -> set[str]:
    """What the API reference documents: each ``::: zoo....`` of docs/reference/."""
    return {
        line.split()[1]
        for page in (ROOT / "docs" / "reference").glob("*.md")
        for line in page.read_text(encoding="utf-8").splitlines()
        if line.startswith("::: zoo")
    }


def test_every_name_in_all_resolves() -> None:
    assert len(set(zoo.__all__)) == len(zoo.__all__)
    missing = [name for name in zoo.__all__ if not hasattr(zoo, name)]
    assert not missing
    assert set(zoo.__all__) <= set(dir(zoo))


def test_every_name_in_all_is_in_the_reference() -> None:
    """Each name of ``zoo.__all__`` has its entry in docs/reference/, under its own name or its module's."""
    reference = documented()
    objects = [resolve(entry) for entry in reference]
    missing = [name for name in zoo.__all__ if not any(getattr(zoo, name) is obj for obj in objects)]
    assert not missing


def test_what_the_docs_name_resolves() -> None:
    unresolved = []
    for name, pages in sorted(mentions().items()):
        try:
            resolve(name)
        except AttributeError:
            unresolved.append(f"{name} ({', '.join(sorted(pages))})")
    assert not unresolved, "the docs name what zoo does not have"


def public(name: str, reference: set[str]) -> bool:
    """Whether ``name`` is public: exported from ``zoo``, or documented in docs/reference/ (itself or its module)."""
    parts = name.split(".")
    obj = resolve(name)
    exported = [getattr(zoo, export) for export in zoo.__all__]
    if parts[-1].startswith("_") or name in reference or any(obj is export for export in exported):
        return True  # a private name is cited as an implementation detail, never offered
    if isinstance(obj, type(zoo)):  # a submodule: public where the reference documents some of it
        return any(entry.startswith(name + ".") for entry in reference) or any(
            getattr(export, "__module__", None) == name for export in exported
        )
    parent_name = ".".join(parts[:-1])
    parent = resolve(parent_name)
    if isinstance(parent, type):
        return public(parent_name, reference)  # zoo.Preprocessing.tf: a member of a public class
    if parent_name in reference:
        return True  # a module the reference documents whole (zoo.testing)
    in_reference = any(entry.startswith(parent_name + ".") for entry in reference)
    return (in_reference and parts[-1] in getattr(parent, "__all__", ())) or name in CITED


def test_what_the_docs_tell_users_to_use_is_public() -> None:
    reference = documented()
    private = [
        f"{name} ({', '.join(sorted(pages - INTERNAL_DOCS))})"
        for name, pages in sorted(mentions().items())
        if pages - INTERNAL_DOCS and not public(name, reference)
    ]
    assert not private, "export these from zoo, or document them in docs/reference/"


def test_the_issues_names_are_exported() -> None:
    """The names docs sent users to before they were public (issue 21), each now reachable as docs write it."""
    for name in ["network_of", "set_level", "WorkerView", "DiskFullError", "Ranking", "Exported", "load_dataset"]:
        assert name in zoo.__all__
    assert resolve("zoo.backbones.network_of") is zoo.network_of
    assert resolve("zoo.errors.DiskFullError") is zoo.DiskFullError
    assert callable(resolve("zoo.plugins.reset"))


def test_train_options_are_train_configs_fields() -> None:
    from zoo.trainer import TrainOptions

    assert set(TrainOptions.__annotations__) == {field.name for field in dataclasses.fields(zoo.TrainConfig)}


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_import_zoo_imports_no_framework() -> None:
    """``import zoo``, ``dir(zoo)`` and the names that need no Keras import neither TensorFlow nor Keras."""
    code = (
        "import sys, zoo\n"
        "dir(zoo); zoo.list_backbones(); zoo.network_of; zoo.set_level; zoo.DiskFullError; zoo.errors\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'tensorflow', 'keras', 'jax', 'torch'})\n"
        "print(heavy)\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_public_submodules_are_reached_from_a_bare_import() -> None:
    """``import zoo`` then ``zoo.distribute.resolve``: a public submodule loads on first use, as the docs write it."""
    code = (
        "import zoo\n"
        "zoo.distribute.resolve, zoo.data.decode_image, zoo.testing.check_backbone, zoo.plugins.reset\n"
        "import sys; print('keras' in sys.modules)\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_lazy_names_are_typed() -> None:
    """Each lazily imported name is imported under TYPE_CHECKING too, from the module ``_LAZY`` names."""
    source = (ROOT / "zoo" / "__init__.py").read_text(encoding="utf-8")
    block = source.split("if TYPE_CHECKING:", 1)[1].split("\n\n", 1)[0]
    typed = {
        name.strip(): module
        for module, names in re.findall(r"from (\S+) import (.+)", block)
        for name in names.split(",")
    }
    assert typed == zoo._LAZY
    for name, module in zoo._LAZY.items():
        assert hasattr(importlib.import_module(module), name) if module not in zoo._NEEDS_KERAS else True


def _arrays():
    return np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8), np.arange(8) % 2


@pytest.mark.parametrize(
    ("call", "said"),
    [
        (lambda tmp: zoo.Run(123), "a run must be a path (a str or os.PathLike), got int"),
        (lambda tmp: zoo.load_model(None), "the model must be a path (a str or os.PathLike), got NoneType"),
        (lambda tmp: zoo.report([tmp], 123), "out must be a path (a str or os.PathLike), got int"),
        (lambda tmp: zoo.find_runs(tmp / "nowhere"), "nowhere is not a folder: give the folder that holds your runs"),
        (lambda tmp: zoo.tune(_arrays(), 5, weights=None), "backbones are named by a string or a list of strings"),
        (lambda tmp: zoo.tune(_arrays(), "tiny_image", storage=5, weights=None),
         "storage must be an Optuna storage URL such as 'sqlite:///study.db', got 5"),
        (lambda tmp: zoo.lr_find("tiny_image", _arrays(), start="a"), "the sweep needs 0 < start < end"),
        (lambda tmp: zoo.lr_find("tiny_image", _arrays(), steps=12.5), "the sweep needs 0 < start < end"),
    ],
    ids=["Run", "load_model", "report-out", "find_runs", "tune-backbones", "tune-storage", "lr_find-start",
         "lr_find-steps"],
)  # fmt: skip
def test_a_wrong_type_is_a_zoo_error_naming_the_argument_not_a_python_error_from_inside(call, said, tmp_path):
    """Each raised TypeError, AttributeError or pathlib's error; find_runs returned [] where `zoo runs` refuses."""
    with pytest.raises(zoo.ConfigError, match=re.escape(said)):
        call(tmp_path)


@pytest.mark.parametrize("name", ["model.onnx", "model.tflite", "savedmodel"])
def test_loading_an_export_as_a_keras_model_says_what_loads_it_not_that_it_is_damaged(name, tmp_path):
    path = tmp_path / name
    if name == "savedmodel":
        path.mkdir()
        (path / "saved_model.pb").write_bytes(b"")
    else:
        path.write_bytes(b"an export")
    what = {"model.onnx": "an ONNX file", "model.tflite": "a TFLite file", "savedmodel": "a SavedModel"}[name]
    with pytest.raises(zoo.RunError, match=re.escape(f"{path} is {what}, not a Keras model (model.keras): load it")):
        zoo.load_model(path)
