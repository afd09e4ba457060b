"""Text from the data (labels, file and run names) shown in another medium: escaped for it, here and only here.

A label is data, never markup or a command. :func:`terminal` for what the commands print, :func:`markdown`
and :func:`markdown_code` for the model card, :func:`shell` and :func:`python` for the snippets it shows.
"""

from __future__ import annotations

import html
import json
import re
import shlex
from typing import Any

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")  # C0, DEL, C1, the Unicode line separators


def terminal(text: Any) -> str:
    """``text`` with its control characters (escape sequences, newlines, NUL) written as escapes, never acted on.

    >>> terminal("cat\\x1b[2J\\nfake line")
    'cat\\\\x1b[2J\\\\nfake line'
    """
    return _CONTROL.sub(lambda found: repr(found.group())[1:-1], str(text))


def html_text(text: Any) -> str:
    """``text`` as text in HTML, in an element or an attribute: markup escaped, control characters as escapes.

    >>> html_text('<img src=x onerror="alert(1)">\\x1b')
    '&lt;img src=x onerror=&quot;alert(1)&quot;&gt;\\\\x1b'
    """
    return html.escape(terminal(text), quote=True)


def markdown(text: Any) -> str:
    """``text`` as plain text in Markdown, also in a table cell: no HTML, no table split, one line.

    >>> markdown("<img src=x onerror=alert(1)> | a")
    '&lt;img src=x onerror=alert(1)&gt; \\\\| a'
    """
    return html.escape(terminal(text).replace("\\", "\\\\"), quote=False).replace("|", "\\|")


def markdown_code(text: Any) -> str:
    """``text`` as a Markdown code span: shown as it is, nothing in it rendered (a label, a run's name).

    >>> markdown_code("<script>"), markdown_code("a`b")
    ('`<script>`', '``a`b``')
    """
    shown = terminal(text).replace("|", "\\|")
    fence = "`" * (max((len(ticks) for ticks in re.findall("`+", shown)), default=0) + 1)
    pad = " " if shown[:1] == "`" or shown[-1:] == "`" else ""
    return f"{fence}{pad}{shown}{pad}{fence}"


def shell(text: Any) -> str:
    """``text`` as one word of a POSIX shell command, whatever it holds.

    >>> shell("my run; rm -rf ~")
    "'my run; rm -rf ~'"
    """
    return shlex.quote(str(text))


def python(text: Any) -> str:
    """``text`` as a Python string literal in double quotes, every control character escaped.

    >>> print(python('my "run"\u2028'))
    "my \\"run\\"\\u2028"
    """
    literal = json.dumps(str(text), ensure_ascii=False)  # a JSON string is a Python literal
    return _CONTROL.sub(lambda found: f"\\u{ord(found.group()):04x}", literal)
