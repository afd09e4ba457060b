"""docs/architecture.md against the code: its module map names every module of zoo/ and says truly which import
Keras, TensorFlow or JAX; its layers hold (no module imports one of a higher layer); the core imports no plugin.

Imports are read with ``ast``: module level and inside functions alike, ``if TYPE_CHECKING:`` blocks aside, relative
imports resolved. Only the check that a module imports no framework when imported runs code: one fresh process.
"""

from __future__ import annotations

import ast
import functools
import json
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import zoo

ROOT = Path(__file__).resolve().parent.parent
ZOO = ROOT / "zoo"
PAGE = ROOT / "docs" / "architecture.md"
FRAMEWORKS = ("keras", "tensorflow", "jax")
ROOT_MODULE = "zoo"  # zoo/__init__.py, as the page names it; every other module by its path under zoo/, dotted


def _name(path: Path) -> str:
    """``zoo/data/decode.py`` -> ``data.decode``; a package's ``__init__.py`` is the package; the root is ``zoo``."""
    parts = list(path.relative_to(ZOO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts) or ROOT_MODULE


MODULES = {_name(path): path for path in sorted(ZOO.rglob("*.py"))}


def _section(title: str) -> list[str]:
    lines = PAGE.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"## {title}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    return lines[start:end]


def _table() -> list[tuple[list[str], str]]:
    """The module map's rows: ``(the paths the first cell names, the first word of the framework column)``."""
    rows = [line for line in _section("Modules and what they own") if line.startswith("|")]
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    column = next(i for i, cell in enumerate(header) if "Keras" in cell)
    table = []
    for row in rows[2:]:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        word = re.match(r"[a-z]*", cells[column].lower())[0]  # type: ignore[index]  # always matches
        table.append((re.findall(r"`([^`]+)`", cells[0]), word))
    return table


def _mapped() -> dict[str, str]:
    """Each module the map names (by its dotted name) -> what the map says of it: ``yes``, ``lazily`` or ``no``."""
    said = {}
    for paths, word in _table():
        for path in paths:
            if path.endswith(".py"):
                said[_name(ZOO / path)] = word
    return said


def _layers() -> list[list[str]]:
    """The names each numbered item of "Import rules" gives, lowest layer first."""
    items: list[str] = []
    for line in _section("Import rules"):
        if re.match(r"\d+\. ", line):
            items.append(line)
        elif items and line.startswith("   ") and line.strip():
            items[-1] += " " + line.strip()
        elif items:
            break
    return [re.findall(r"`([^`]+)`", item) for item in items]


def _members(name: str) -> list[str]:
    """The modules a layer's name stands for: ``exports.*`` is the package and every module under it."""
    if name.endswith(".*"):
        package = name[:-2]
        return [m for m in MODULES if m == package or m.startswith(package + ".")]
    return [name] if name in MODULES else []


def _layer_of() -> dict[str, int]:
    return {module: number for number, names in enumerate(_layers(), 1) for name in names for module in _members(name)}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(
    body: Iterable[ast.AST], in_function: bool = False, typing_too: bool = False
) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import in ``body``, nested ones included, with whether it runs inside a function; the bodies of
    ``if TYPE_CHECKING:`` skipped (their ``else`` kept) unless ``typing_too``."""
    for node in body:
        if isinstance(node, ast.If) and _is_type_checking(node.test) and not typing_too:
            yield from _imports(node.orelse, in_function, typing_too)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, in_function
        inner = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        yield from _imports(ast.iter_child_nodes(node), inner, typing_too)


@functools.cache
def _tree(module: str) -> ast.Module:
    return ast.parse(MODULES[module].read_text(encoding="utf-8"), filename=str(MODULES[module]))


def _zoo_module(dotted: str) -> str | None:
    """The zoo module ``zoo.a.b.c`` names: the longest of ``a.b.c``, ``a.b``, ``a`` that is one, else the root."""
    if dotted != "zoo" and not dotted.startswith("zoo."):
        return None
    parts = dotted.split(".")[1:]
    while parts and ".".join(parts) not in MODULES:
        parts.pop()
    return ".".join(parts) or ROOT_MODULE


def _zoo_imports(module: str) -> Iterator[tuple[str, int, bool]]:
    """``(zoo module imported, line, inside a function)`` for each import of ``module`` that names one.

    ``import zoo.x``, ``from zoo import x`` (x a module, else the root) and ``from zoo.x import y`` (y a module,
    else x) all count, and relative imports are resolved against ``module``'s package.
    """
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    package_parts = [] if package == ROOT_MODULE else [p for p in package.split(".") if p]
    for node, in_function in _imports(_tree(module).body):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                base = ["zoo", *package_parts[: len(package_parts) - node.level + 1]]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            targets = [f"{source}.{alias.name}" for alias in node.names]
        for target in targets:
            found = _zoo_module(target)
            if found is not None and found != module:
                yield found, node.lineno, in_function


def _absolute(node: ast.Import | ast.ImportFrom) -> list[str]:
    """The modules an import names absolutely (a relative import stays inside zoo/)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    return [node.module] if node.module and not node.level else []


def _framework_imports(module: str) -> Iterator[tuple[str, int, bool]]:
    """``(framework, line, inside a function)`` for each import of Keras, TensorFlow or JAX in ``module`` itself."""
    for node, in_function in _imports(_tree(module).body):
        for name in _absolute(node):
            if name.split(".")[0] in FRAMEWORKS:
                yield name.split(".")[0], node.lineno, in_function


def _loaded_on_import() -> set[str]:
    """The modules whose import imports a framework, read from the code: a module-level framework import, or a
    module-level import of such a module."""
    direct = {m for m in MODULES if any(not inside for _, _, inside in _framework_imports(m))}
    edges = {m: {target for target, _, inside in _zoo_imports(m) if not inside} for m in MODULES}
    for module in set(MODULES) - {ROOT_MODULE}:  # importing zoo.x.y runs zoo and zoo.x first
        parts = module.split(".")
        edges[module] |= {ROOT_MODULE, *(".".join(parts[:i]) for i in range(1, len(parts)))}
    heavy = set(direct)
    while True:
        more = {m for m in MODULES if m not in heavy and edges[m] & heavy}
        if not more:
            return heavy
        heavy |= more


def test_the_module_map_names_every_module_of_zoo_and_nothing_else():
    named = [path for paths, _ in _table() for path in paths]
    missing = sorted(m for m in MODULES if m not in _mapped())
    assert not missing, f"docs/architecture.md's module map does not name {missing}: add them to its table"
    absent = sorted(path for path in named if not (ZOO / path).exists())
    assert not absent, f"docs/architecture.md's module map names {absent}, which zoo/ does not have: fix the table"
    twice = sorted({path for path in named if named.count(path) > 1})
    assert not twice, f"docs/architecture.md's module map names {twice} in more than one row: keep one"


def test_the_module_map_says_truly_which_modules_import_keras_tensorflow_or_jax():
    said = {module: word for module, word in _mapped().items() if module in MODULES}  # others: the test above
    on_import = _loaded_on_import()
    unknown = sorted(m for m, word in said.items() if word not in ("yes", "lazily", "no"))
    assert not unknown, f"docs/architecture.md: the framework column of {unknown} must start with yes, lazily or no"
    wrong = []
    for module, word in sorted(said.items()):
        found = list(_framework_imports(module))
        at_import = [f"{name} at line {line}" for name, line, inside in found if not inside]
        if word == "yes" and module not in on_import:
            wrong.append(f"{module} is 'yes' but imports no framework when imported")
        elif word != "yes" and module in on_import:
            how = ", ".join(at_import) or "a framework through a module it imports at module level"
            wrong.append(f"{module} is '{word}' but imports {how} when imported")
        elif word == "no" and found:
            wrong.append(f"{module} is 'no' but imports {found[0][0]} at line {found[0][1]} (say 'lazily')")
        elif word == "lazily" and not found:
            wrong.append(f"{module} is 'lazily' but never imports Keras, TensorFlow or JAX itself (say 'no')")
    assert not wrong, "docs/architecture.md's module map or the code is wrong: " + "; ".join(wrong)


def test_the_modules_marked_no_or_lazily_import_no_framework_when_imported():
    """One fresh process imports them all by name (``__main__`` modules aside: they run the command)."""
    light = sorted(m for m, word in _mapped().items() if word != "yes" and not m.endswith("__main__"))
    names = [m if m == ROOT_MODULE else f"zoo.{m}" for m in light if m in MODULES]
    code = (
        "import importlib, json, sys\n"
        "first = {}\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        f"    for framework in {FRAMEWORKS!r}:\n"
        "        if framework in sys.modules:\n"
        "            first.setdefault(framework, name)\n"
        "print(json.dumps(first))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    first = json.loads(done.stdout.splitlines()[-1])
    assert not first, (
        "importing the modules docs/architecture.md marks 'no' or 'lazily' imports a framework ("
        + ", ".join(f"{framework} first with {name}" for framework, name in first.items())
        + "): import it inside the function that needs it, or mark the module 'yes' in the page"
    )


def test_the_import_layers_cover_every_module_once_and_name_only_modules():
    layers = _layers()
    assert len(layers) >= 2, "docs/architecture.md's 'Import rules' must open with its numbered list of layers"
    unknown = sorted(name for names in layers for name in names if not _members(name))
    assert not unknown, f"docs/architecture.md's layers name {unknown}, which are not modules of zoo/: fix the list"
    placed = [module for names in layers for name in names for module in _members(name)]
    twice = sorted({m for m in placed if placed.count(m) > 1})
    assert not twice, f"docs/architecture.md's layers place {twice} more than once: keep each in one layer"
    missing = sorted(set(MODULES) - set(placed))
    assert not missing, f"docs/architecture.md's layers leave out {missing}: add each to the layer it belongs to"


def test_no_module_imports_a_module_of_a_higher_layer():
    layer = _layer_of()
    upward = {
        f"zoo/{MODULES[module].relative_to(ZOO).as_posix()}:{line} ({'in a function' if inside else 'module level'}) "
        f"imports {target} (layer {layer[target]}) from layer {layer[module]}"
        for module in MODULES
        for target, line, inside in _zoo_imports(module)
        if target in layer and module in layer and layer[target] > layer[module]
    }
    assert not upward, (
        f"imports against the layers of docs/architecture.md: {'; '.join(sorted(upward))}. Move the code so that "
        "the lower module need not import the higher, or, where the layering itself was wrong, change it in the page"
    )


def test_the_core_imports_no_plugin():
    folders = [p for pattern in ("plugins/*/*/__init__.py", "examples/*/*/__init__.py") for p in ROOT.glob(pattern)]
    plugins = {init.parent.name for init in folders}
    assert {"zoo_keras_hub", "zoo_tensorflow_hub"} <= plugins, f"the first-party plugins' packages moved: {plugins}"
    found = []
    for module in MODULES:
        for node, _ in _imports(_tree(module).body, typing_too=True):
            found += [f"zoo/{MODULES[module].relative_to(ZOO)}:{node.lineno} imports {name}"
                      for name in _absolute(node) if name.split(".")[0] in plugins]  # fmt: skip
    assert not found, (
        f"the core imports a plugin ({'; '.join(found)}): what the core needs from a plugin goes through a hook "
        "(zoo/hookspecs.py), as docs/architecture.md's import rules say"
    )


def test_every_lazy_name_whose_module_imports_keras_starts_it_without_its_start_up_lines():
    """``zoo.tune`` imported zoo.tuning, which imports Keras, outside zoo.console.load_framework: TensorFlow's
    start-up lines reached a Python user's stderr. Such a module must be in zoo._NEEDS_KERAS."""
    heavy = {f"zoo.{m}" for m in _loaded_on_import() if m != ROOT_MODULE}
    lazy = set(zoo._LAZY.values()) | {f"zoo.{name}" for name in zoo._SUBMODULES}
    missing = sorted((lazy & heavy) - zoo._NEEDS_KERAS)
    assert not missing, f"zoo/__init__.py: add {missing} to _NEEDS_KERAS (they import Keras when imported)"
