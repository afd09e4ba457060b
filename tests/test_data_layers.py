"""zoo/data/ imports in one direction: decoding, then the record, labels and duplicates, then the readers;
the pipelines take a Dataset and import no reader. Read from the code with ast."""

from __future__ import annotations

import ast
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "zoo" / "data"
# What each module of zoo/data/ may import from zoo/data/ (the package's __init__ aside).
ALLOWED = {
    "listing": set(),
    "decode": set(),
    "dataset": set(),
    "labels": {"dataset", "decode", "listing"},
    "split": {"dataset", "decode", "listing"},
    "sources": {"dataset", "decode", "labels", "listing", "split"},
    "pipelines": {"dataset", "decode"},
    "text": {"dataset", "pipelines"},
}


def _imports(path: Path) -> tuple[set[str], list[str]]:
    """The zoo.data modules ``path`` imports, and those it imports inside a function (``name line N``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found, nested = set(), []
    top = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("zoo.data."):
            name = node.module.split(".")[2]
            found.add(name)
            if id(node) not in top:  # in a function, or under TYPE_CHECKING: a cycle dodged
                nested.append(f"{name} line {node.lineno}")
    return found, nested


def test_every_module_of_zoo_data_is_placed():
    assert {p.stem for p in DATA.glob("*.py")} - {"__init__"} == set(ALLOWED)


def test_zoo_data_imports_in_one_direction_and_at_module_level():
    for name, allowed in ALLOWED.items():
        found, nested = _imports(DATA / f"{name}.py")
        assert found <= allowed, f"zoo/data/{name}.py imports {sorted(found - allowed)}"
        assert not nested, f"zoo/data/{name}.py imports inside a function: {nested}"
