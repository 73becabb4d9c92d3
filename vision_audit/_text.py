"""Control characters in one-line and multi-line text: found, refused, shown escaped."""

from __future__ import annotations

import unicodedata
from typing import Final

__all__ = ["MULTI_LINE", "counted", "first_control", "printable", "show_char"]

_BIDI_CONTROLS: Final = frozenset(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_UNPRINTABLE_CATEGORIES: Final = frozenset({"Cc", "Zl", "Zp"})
MULTI_LINE: Final = frozenset("\n\t")
"""What text that may span lines (a rationale) may hold of the control characters."""


def _unprintable(char: str) -> bool:
    """Whether *char* can move the cursor, recolour or reorder terminal output."""
    return unicodedata.category(char) in _UNPRINTABLE_CATEGORIES or (
        char in _BIDI_CONTROLS
    )


def show_char(char: str) -> str:
    r"""The Python escape of one character: ``\x1b``, ``\n``, ``\u202e``."""
    return ascii(char)[1:-1]


def printable(text: str, *, keep: frozenset[str] = frozenset()) -> str:
    r"""
    *text* with control characters shown as escapes (``\x1b``, ``\n``).

    Anything a terminal would act on (colour codes, a new line that forges an output
    line, bidirectional overrides) is escaped, except the characters in *keep*.
    """
    return "".join(
        show_char(char) if _unprintable(char) and char not in keep else char
        for char in text
    )


def first_control(text: str, allowed: frozenset[str] = frozenset()) -> str | None:
    """The first control character of *text* not in *allowed*, or None."""
    return next(
        (char for char in text if _unprintable(char) and char not in allowed), None
    )


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """
    *count*, thousands separated, and the noun that agrees: ``1 tag``, ``8 tags``.

    Args:
        count: How many.
        singular: The noun for one.
        plural: The noun for any other count; *singular* + ``s`` by default.

    .. versionadded:: 0.1.0
    """
    noun = singular if count == 1 else (plural or f"{singular}s")
    return f"{count:,} {noun}"
