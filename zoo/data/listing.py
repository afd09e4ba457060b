"""How messages name what they list: the first few items, then how many there are in all; a word with its article."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SHOW = 5  # how many paths an error or warning lists


def first_items(items: Sequence[Any]) -> str:
    """The first few items for a message, then how many there are in all.

    >>> first_items(["a.png", "b.png"])
    'a.png, b.png'
    """
    return _listing(items, SHOW, quote=False)


def _listing(items: Sequence[Any], limit: int = 20, quote: bool = True) -> str:
    """``'a', 'b', ... (30 in all)``: the first ``limit`` items, quoted or not."""
    shown = ", ".join(repr(i) if quote else str(i) for i in items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")


def with_article(word: str) -> str:
    """``word`` after "a" or "an", by its first letter.

    >>> with_article("image classification"), with_article("text")
    ('an image classification', 'a text')
    """
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"
