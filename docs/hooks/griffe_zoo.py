"""Griffe extension for the API reference: ``zoo``'s lazy names, and doctest examples as code blocks.

Griffe reads the source without importing it, so it cannot see the names ``zoo.__getattr__`` imports
on first use (``zoo.train``, ``zoo.predict``, ...). This reads the ``_LAZY`` table of ``zoo/__init__.py``
and adds each name as an alias of its real home: ``::: zoo.train`` then documents ``zoo.trainer.train``,
and a table entry whose target does not exist fails the strict build.

The docstrings are reStructuredText-flavoured plain text. Doctest examples (``>>> ...``), which
Markdown would read as nested quotes, become ``pycon`` code blocks. Sphinx roles become code, and a
link where they name a ``zoo.`` object in full (``:class:`zoo.Run```): a reference that no page
documents then fails the strict build, so a renamed object cannot leave a stale reference behind.

The fields of ``zoo.TrainConfig`` are declared with ``_option(default, help, ...)``, the help text
that ``zoo train --help`` prints; that text becomes each field's docstring.
"""

from __future__ import annotations

import ast
import re
import textwrap

import griffe

PROMPT = re.compile(r"^\s*>>> ")
DIRECTIVE = re.compile(r"\s*# doctest:.*$")
LITERAL = re.compile(r"(?m)(^|\S)::$")  # reST's literal-block marker; the block after it is indented already
ROLE = re.compile(r":(?:class|func|meth|attr|data|mod|exc):`~?([\w.]+)`")


def doctest_blocks(text: str) -> str:
    """``text`` with each doctest example (prompts, continuation lines, output) fenced as ``pycon``.

    >>> doctest_blocks("Squares:\\n>>> 2 ** 2  # doctest: +SKIP\\n4\\n\\nDone.").splitlines()
    ['Squares:', '', '```pycon', '>>> 2 ** 2', '4', '```', '', 'Done.']
    """
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if not PROMPT.match(lines[i]):
            out.append(lines[i])
            i += 1
            continue
        block = []
        while i < len(lines) and lines[i].strip():  # an example runs to the next blank line
            block.append(DIRECTIVE.sub("", lines[i]))
            i += 1
        if out and out[-1].strip():
            out.append("")
        out += ["```pycon", *textwrap.dedent("\n".join(block)).splitlines(), "```"]
    return "\n".join(out)


def roles(text: str) -> str:
    """Sphinx roles as Markdown: a link for a full ``zoo.`` path, code for the rest; ``text::`` as ``text:``.

    >>> roles("Returns a :class:`zoo.Run`; see :func:`split` and ``x``. In a test::")
    'Returns a [`zoo.Run`][zoo.Run]; see `split` and ``x``. In a test:'
    """

    def markdown(match: re.Match) -> str:
        target = match.group(1)
        return f"[`{target}`][{target}]" if target.startswith("zoo.") else f"`{target}`"

    return LITERAL.sub(lambda match: match.group(1) and match.group(1) + ":", ROLE.sub(markdown, text))


def option_help(value: str, constants: dict[str, object] | None = None) -> tuple[str, str] | None:
    """The default and the docstring of a field declared as ``_option(default, help, ...)``, else ``None``.

    ``constants`` are the module's literal constants, which an f-string help or ``choices=`` may name.

    >>> option_help('_option("avg", f"pooling: {HOW}", choices=HEADS)', {"HOW": "avg", "HEADS": ("avg", "max")})
    ("'avg'", 'pooling: avg (one of `avg`, `max`).')
    """
    try:
        call = ast.parse(value, mode="eval").body
    except SyntaxError:
        return None
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "_option"):
        return None

    def evaluate(node: ast.expr) -> object:
        try:  # the source's own expressions, on literal constants only, without builtins
            return eval(compile(ast.Expression(node), "<option>", "eval"), {"__builtins__": {}}, constants or {})
        except Exception:
            return ast.unparse(node)

    default, text = call.args[:2]
    choices = [evaluate(keyword.value) for keyword in call.keywords if keyword.arg == "choices"]
    more = " (one of " + ", ".join(f"`{choice}`" for choice in choices[0]) + ")" if choices else ""
    return ast.unparse(default), f"{evaluate(text)}{more}."


def literal_constants(module: griffe.Module) -> dict[str, object]:
    """The module's attributes whose values are literals (``TASKS = ("classification", ...)``)."""
    constants = {}
    for name, member in module.members.items():
        if not member.is_alias and member.is_attribute and member.value is not None:
            try:
                constants[name] = ast.literal_eval(str(member.value))
            except (ValueError, SyntaxError):
                continue
    return constants


class ZooDocs(griffe.Extension):
    """Lazy aliases on the ``zoo`` package, and fenced doctest examples in every docstring."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: object) -> None:
        if pkg.name != "zoo" or "_LAZY" not in pkg.members:
            return
        table = ast.literal_eval(str(pkg.members["_LAZY"].value))
        for name, module in table.items():
            pkg.set_member(name, griffe.Alias(name, f"{module}.{name}", parent=pkg))

    def on_object(self, *, obj: griffe.Object, **kwargs: object) -> None:
        if obj.is_attribute and obj.docstring is None and obj.value is not None:
            option = option_help(str(obj.value), literal_constants(obj.module))
            if option:
                obj.value, text = option
                obj.docstring = griffe.Docstring(text, parent=obj)
        if obj.docstring is not None:
            obj.docstring.value = roles(doctest_blocks(obj.docstring.value))
