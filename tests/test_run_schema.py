"""The run directory has one owner: the package zoo/run/ alone names its files, its state.json keys and its summary
fields.

The rest of zoo/ asks a Run (``run.checkpoints.save_epoch``, ``run.read_state``, ``run.data_summary``,
``Run.model_file``...). The scan reads the string literals of every other module (docstrings and comments aside:
prose may name a file) and the names they import from zoo.run and its modules.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from pathlib import Path

import pytest

import zoo.run
from zoo.run import DataSummary, Run, RunState, StopState, describe_source, layout

OWNER = Path(zoo.run.__file__).parent
ZOO = OWNER.parent

# The run's file and folder names, as zoo/run/layout.py defines them.
FILE_NAMES = {
    getattr(layout, name)
    for name in ("MODEL", "CONFIG", "SPEC", "LABELS", "STATE", "METRICS", "SKIPPED", "HISTORY", "CURVES",
                 "CONFUSION", "CARD", "CHECKPOINTS", "EXPORTS", "START", "TRAINING_LOCK", "CONFIG_MEMBER",
                 "TRUST_MEMBER")
}  # fmt: skip
CHECKPOINT = re.compile(r"^phase(\d|\{\})|(^|[\d}])-best\b|-optimizer\b|\.npz$")  # checkpoint names and their patterns
SENTINELS = {layout.ARRAYS, layout.DATASET}
# state.json's keys; "phase", "epoch", "data", "labels" and "history" are also the words of other records
# (a history row's phase and epoch, config.json's data record), so only the keys no other record uses are scanned.
SHARED_WORDS = {"phase", "epoch", "data", "labels", "history", "summary", "complete", "best"}
STATE_KEYS = {f.name for cls in (RunState, StopState) for f in dataclasses.fields(cls)} - SHARED_WORDS
SUMMARY_LABELS = ("train examples", "validation examples", "skipped files", "texts cut", "unfrozen blocks")

# A literal outside zoo/run/ that names a run file for another purpose, with the reason.
ALLOWED = {
    ("distribute.py", "model.keras"),  # local_copy's scratch file in a temporary folder, not a run's
    ("card.py", "README.md"),  # write_model_card's own default name for a card written into a folder
}

# A constant of zoo/run/ that another module may import, with the reason.
ALLOWED_IMPORTS = {
    ("cli/parser.py", "zoo.run.listing.STATUSES"),  # what `zoo runs --status` filters by: the listing's words
}


def _strings(tree: ast.AST) -> list[str]:
    """Every string literal of ``tree`` (f-strings' literal parts included), docstrings aside."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def _modules() -> list[Path]:
    return sorted(p for p in ZOO.rglob("*.py") if OWNER not in p.parents)


def _findings(path: Path, root: Path = ZOO) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    name = path.relative_to(root).as_posix()
    found = []
    for text in _strings(tree):
        if (name, text) in ALLOWED:
            continue
        if text in FILE_NAMES or text in SENTINELS or text in STATE_KEYS or CHECKPOINT.search(text):
            found.append(f"{name}: {text!r}")
        elif any(text.startswith(label) for label in SUMMARY_LABELS):
            found.append(f"{name}: {text!r} (a summary row matched by its label)")
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and _in_run_package(node.module or ""):
            found += [f"{name}: imports {node.module}.{a.name}" for a in node.names
                      if a.name.isupper() and (name, f"{node.module}.{a.name}") not in ALLOWED_IMPORTS]  # fmt: skip
            found += [f"{name}: imports {node.module}.layout" for a in node.names if a.name == "layout"]
        if isinstance(node, ast.Import):
            found += [f"{name}: imports {a.name}" for a in node.names if a.name == "zoo.run.layout"]
        if isinstance(node, ast.Attribute) and node.attr.isupper():
            owner = ast.unparse(node.value)
            if owner in ("run", "layout") or _in_run_package(owner):
                found.append(f"{name}: {ast.unparse(node)}")
    return found


def _in_run_package(module: str) -> bool:
    return module == "zoo.run" or module.startswith("zoo.run.")


def test_only_the_run_package_names_the_run_files_state_keys_and_summary_fields():
    modules = _modules()
    assert ZOO / "trainer.py" in modules and OWNER / "layout.py" not in modules
    found = [finding for path in modules for finding in _findings(path)]
    assert not found, "ask zoo.Run instead:\n" + "\n".join(found)


def test_the_scan_finds_what_it_looks_for(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text(
        '"""state.json in a docstring is prose."""\n'
        "from zoo.run import MODEL\n"
        "from zoo.run.layout import STATE\n"
        "from zoo.run import layout\n"
        "lock = zoo.run.layout.TRAINING_LOCK\n"
        'path = folder / "state.json"\n'
        'name = f"phase{phase}-best"\n'
        'cut = [v for k, v in rows.items() if k.startswith("texts cut at")]\n'
        'done = state["phase1_done"]\n'
        'source = "<arrays>"\n'
    )
    found = _findings(planted, root=tmp_path)
    assert len(found) == 9, found


def test_state_reads_what_an_older_zoo_wrote_and_writes_the_same_keys(tmp_path):
    old = {"data": "d", "labels": None, "phase": 2, "epoch": 1, "history": [{"phase": 1, "epoch": 1}],
           "stopped": False, "early_stopping": {"best": 0.5, "best_epoch": 0, "wait": 1}, "phase1_done": True,
           "complete": True, "summary": {"train examples": 24, "validation examples": 8, "skipped files": 1,
                                         "texts cut at 16 tokens": 2}}  # fmt: skip
    state = RunState.from_dict(old)
    assert state.early_stopping == StopState(0.5, 0, 1) and state.phase1_done and not state.phase2_done
    assert state.summary == DataSummary(24, 8, 1, texts_cut=2, token_limit=16)
    again = state.to_dict()
    assert {k: again[k] for k in old} == old
    assert json.loads(json.dumps(again)) == again  # JSON as it is


def test_a_state_that_is_not_a_record_is_a_run_error():
    with pytest.raises(zoo.RunError, match="not a run's state"):
        RunState.from_dict([1, 2])
    with pytest.raises(zoo.RunError, match="damaged state"):
        RunState.from_dict({"early_stopping": 3})


def test_the_summary_rows_and_notes():
    image = DataSummary(24, 8, 0)
    assert image.rows() == {"train examples": 24, "validation examples": 8, "skipped files": 0}
    assert image.notes() == [] and DataSummary.from_rows(image.rows()) == image
    text = DataSummary(30, 10, 0, texts_cut=0, token_limit=16)
    assert text.rows()["texts cut at 16 tokens"] == 0 and text.notes() == []  # none cut: nothing to note
    assert DataSummary.from_rows(text.rows()) == text


def test_in_memory_sources_are_recorded_and_recognised(tmp_path):
    assert describe_source(([0], [1])) == "<arrays>" and describe_source(None) is None
    assert describe_source(tmp_path) == str(tmp_path.resolve())
    assert Run.model_file(tmp_path) == tmp_path / "model.keras"
