"""
The tiny language of a mapping's status rules: comparisons of named figures.

A rule is comparisons joined by ``and`` and ``or``, grouped by parentheses::

    review.decided > 0 and review.overdue == 0
    (consent.coverage >= 99.5 or consent.needed == 0) and audit_mode.calls == 0

Each side of a comparison is a figure's name or a number; the operators are ``==``,
``!=``, ``<``, ``<=``, ``>`` and ``>=``; ``and`` binds tighter than ``or``. Nothing
else is accepted: no function, no attribute, no arithmetic, and no Python is ever
evaluated. A comparison with a figure the report has no value for (a rate of
nothing) does not hold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, NoReturn

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = ["MAX_RULE_LENGTH", "Rule", "RuleSyntaxError", "parse_rule"]

MAX_RULE_LENGTH: Final = 500
"""Longest rule accepted, in characters."""
_MAX_DEPTH: Final = 8
"""Deepest nesting of parentheses accepted."""

_TOKEN: Final = re.compile(
    r"\s*(?:(?P<number>\d{1,15}(?:\.\d{1,15})?)"
    r"|(?P<name>[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*)"
    r"|(?P<op>==|!=|<=|>=|<|>)"
    r"|(?P<paren>[()]))"
)
_COMPARE: Final[dict[str, Callable[[float, float], bool]]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
_KEYWORDS: Final = frozenset({"and", "or"})

Operand = str | float
"""A figure's name, or a number."""


class RuleSyntaxError(ValueError):
    """A rule that is not comparisons joined by and/or; says where and what."""


@dataclass(frozen=True, slots=True)
class _Compare:
    left: Operand
    op: str
    right: Operand


@dataclass(frozen=True, slots=True)
class _Join:
    kind: Literal["and", "or"]
    parts: tuple[Node, ...]


Node = _Compare | _Join


@dataclass(frozen=True, slots=True)
class Rule:
    """
    A parsed rule: its text, the figures it names, and its test.

    .. versionadded:: 0.1.0
    """

    text: str
    names: frozenset[str]
    tree: Node

    def holds(self, figures: Mapping[str, float | None]) -> bool:
        """Whether the rule holds for *figures* (every name it uses must be there)."""
        return _holds(self.tree, figures)


def _value(operand: Operand, figures: Mapping[str, float | None]) -> float | None:
    return figures[operand] if isinstance(operand, str) else operand


def _holds(node: Node, figures: Mapping[str, float | None]) -> bool:
    if isinstance(node, _Compare):
        left, right = _value(node.left, figures), _value(node.right, figures)
        if left is None or right is None:
            return False
        return _COMPARE[node.op](left, right)
    if node.kind == "and":
        return all(_holds(part, figures) for part in node.parts)
    return any(_holds(part, figures) for part in node.parts)


class _Parser:
    """Recursive descent over the tokens of one rule."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = self._tokens(text)
        self.at = 0
        self.names: set[str] = set()

    def _tokens(self, text: str) -> list[tuple[str, str, int]]:
        found: list[tuple[str, str, int]] = []
        position = 0
        while position < len(text):
            if text[position:].strip() == "":
                break
            match = _TOKEN.match(text, position)
            if match is None or match.lastgroup is None:
                start = len(text) - len(text[position:].lstrip())
                self._fail(start, f"{text[start : start + 12]!r} is not understood")
            group = match.lastgroup
            value = match.group(group)
            kind = value if group == "name" and value in _KEYWORDS else group
            found.append((kind, value, match.start(group)))
            position = match.end()
        return found

    def _fail(self, position: int, problem: str) -> NoReturn:
        msg = (
            f"at character {position + 1}: {problem}; a rule is comparisons "
            "(name > 0) joined by and/or"
        )
        raise RuleSyntaxError(msg)

    def _peek(self) -> tuple[str, str, int]:
        if self.at < len(self.tokens):
            return self.tokens[self.at]
        return ("end", "", len(self.text))

    def _take(self, kinds: tuple[str, ...], wanted: str) -> tuple[str, str, int]:
        token = self._peek()
        if token[0] not in kinds:
            shown = "the end" if token[0] == "end" else repr(token[1])
            self._fail(token[2], f"expected {wanted}, found {shown}")
        self.at += 1
        return token

    def parse(self) -> Node:
        node = self._join("or", 0)
        self._take(("end",), "'and', 'or' or the end")
        return node

    def _join(self, kind: Literal["and", "or"], depth: int) -> Node:
        def part() -> Node:
            return self._join("and", depth) if kind == "or" else self._atom(depth)

        parts = [part()]
        while self._peek()[0] == kind:
            self.at += 1
            parts.append(part())
        return parts[0] if len(parts) == 1 else _Join(kind, tuple(parts))

    def _atom(self, depth: int) -> Node:
        token = self._peek()
        if token[1] == "(":
            if depth >= _MAX_DEPTH:
                self._fail(token[2], f"parentheses nested deeper than {_MAX_DEPTH}")
            self.at += 1
            node = self._join("or", depth + 1)
            close = self._peek()
            if close[1] != ")":
                self._take((), "')'")
            self.at += 1
            return node
        left = self._operand()
        op = self._take(("op",), "a comparison (==, !=, <, <=, >, >=)")[1]
        return _Compare(left, op, self._operand())

    def _operand(self) -> Operand:
        kind, value, _ = self._take(("name", "number"), "a figure's name or a number")
        if kind == "number":
            return float(value)
        self.names.add(value)
        return value


def parse_rule(text: str, *, known: frozenset[str] | None = None) -> Rule:
    """
    Parse *text* as a rule, checking its names against *known* when given.

    Raises:
        RuleSyntaxError: Not a rule, too long or too deep, or a name not in
            *known*; the message says where.

    .. versionadded:: 0.1.0
    """
    if len(text) > MAX_RULE_LENGTH:
        msg = f"{len(text)} characters long; at most {MAX_RULE_LENGTH} accepted"
        raise RuleSyntaxError(msg)
    if not text.strip():
        msg = "empty; a rule is comparisons (name > 0) joined by and/or"
        raise RuleSyntaxError(msg)
    parser = _Parser(text)
    tree = parser.parse()
    unknown = sorted(parser.names - known) if known is not None else []
    if unknown:
        msg = (
            f"unknown figure {unknown[0]!r}; the figures are listed in the report "
            "docs (docs/report.md, 'Figures a rule may use')"
        )
        raise RuleSyntaxError(msg)
    return Rule(text=" ".join(text.split()), names=frozenset(parser.names), tree=tree)
