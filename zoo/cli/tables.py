"""Text for the terminal: tables and wrapped lines that fit its width, and JSON.

The zoo lays out tables itself rather than through ``rich`` (installed with Keras): ``rich.table.Table`` cannot
give this layout's plain output byte for byte. It pads cells and boxes or spaces rows its own way, wraps an
over-long cell onto more lines where this layout cuts it to one line ending in "…", and shrinks columns in
proportion where this one drops the dispensable columns first (``drop``, ``drop_to_fit``), then cuts the
widest. ``zoo list`` in a pipe or a log, tests/test_tables.py and the docs show this exact text. Widths are
rich's, though: a cell is measured and cut in terminal columns (``rich.cells``), so a class or run named in
Chinese or with emoji, two columns a character, stays within the width and in line.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from typing import Any

from rich.cells import cell_len, chop_cells, set_cell_size

from zoo import escape


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def terminal_width() -> int:
    """The columns output may use: the terminal's width, else ``$COLUMNS``, else 80 (as ``ls`` and rich do)."""
    return shutil.get_terminal_size((80, 24)).columns


def print_table(
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    shrink: Mapping[str, int] | None = None,
    drop: Sequence[str] = (),
    drop_to_fit: Sequence[str] = (),
) -> None:
    """Print ``rows`` under ``header`` within the terminal's width (see :func:`table_lines`)."""
    for line in table_lines(header, rows, terminal_width(), shrink=shrink, drop=drop, drop_to_fit=drop_to_fit):
        print(line)


def table_lines(
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    width: int,
    *,
    shrink: Mapping[str, int] | None = None,
    drop: Sequence[str] = (),
    drop_to_fit: Sequence[str] = (),
) -> list[str]:
    """A table's lines, none wider than ``width``: a line for the header, then one per row.

    While it is too wide, the columns in ``drop`` (the dispensable ones) are left out, in that
    order; then those in ``drop_to_fit``, while it would not fit even with the ``shrink`` columns
    cut down to their given widths. Then columns are cut, widest first: the ``shrink`` ones to those
    widths, then any but the first (it names the row), then the first. A cut cell ends with "…".

    >>> table_lines(("NAME", "NOTE"), [("resnet50", "a long note")], 20, shrink={"NOTE": 4})
    ['NAME      NOTE', 'resnet50  a long no…']
    """
    cells = [list(map(str, header))] + [[escape.terminal(c) for c in row] for row in rows]  # data shown, not obeyed
    natural = [max(cell_len(row[i]) for row in cells) for i in range(len(header))]
    floor = [min(n, (shrink or {}).get(h, n)) for h, n in zip(header, natural, strict=True)]
    shown = list(range(len(header)))

    def total(widths: Sequence[int]) -> int:
        return sum(widths[i] for i in shown) + 2 * (len(shown) - 1)

    for name in drop:
        if total(natural) <= width:
            break
        shown.remove(header.index(name))
    for name in drop_to_fit:
        if total(floor) <= width:
            break
        shown.remove(header.index(name))
    widths = list(natural)
    for limits in (floor, [natural[0]] + [1] * (len(header) - 1), [1] * len(header)):  # widest first in each
        while total(widths) > width:
            wider = [i for i in shown if widths[i] > limits[i]]
            if not wider:
                break
            widths[max(wider, key=lambda i: (widths[i], i))] -= 1  # of equals, the rightmost
    return [set_cell_size("  ".join(_fit(row[i], widths[i]) for i in shown), width).rstrip() for row in cells]


def _fit(text: str, width: int) -> str:
    """``text`` in exactly ``width`` terminal columns: padded, or cut to end with "…"."""
    return set_cell_size(text, width) if cell_len(text) <= width else set_cell_size(text, width - 1) + "…"


def print_wrapped(head: str, text: str, width: int, indent: int | None = None) -> None:
    """``head`` then ``text``'s words wrapped to ``width`` terminal columns (a CJK character or an emoji takes two),
    its further lines indented by ``indent`` (default: the head's width).

    Long words (paths, URLs) are broken; nothing passes ``width``.

    >>> print_wrapped("name: ", "猫 cat 猫猫猫猫", 12)
    name: 猫 cat
          猫猫猫
          猫
    """
    indent = min(cell_len(head) if indent is None else indent, width // 2)
    lines, line, empty = [], head, True  # empty: no word on the line yet
    for word in text.split():
        while word:
            gap = "" if empty else " "
            room = width - cell_len(line + gap)
            if cell_len(word) <= room:
                line, word, empty = line + gap + word, "", False
            elif not empty:  # the word goes on the next line
                lines.append(line)
                line, empty = " " * indent, True
            else:  # longer than a whole line: broken where the line ends
                piece = chop_cells(word, max(room, 1))[0]
                lines.append(line + piece)
                line, word = " " * indent, word[len(piece) :]
    if not empty or not lines:  # the last line, unless only an indent
        lines.append(line)
    for shown in lines:
        print(set_cell_size(shown, width).rstrip())  # cut (a head wider than the terminal), never padded
