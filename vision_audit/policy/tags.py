"""
Allow lists, block lists and confidence thresholds for tags; pure functions.

Every comparison is made on a normalised form of the names, so that ``Person``,
``person`` and `` person `` are one tag, as are ``hospital  bed`` and ``Hospital Bed``:
Unicode compatibility normalisation (NFKC), case folding, stripping, and inner
whitespace collapsed to one space (:func:`normalize_term`). Verdicts keep the name
as the service spelled it.

Captions and dense captions cannot be cut cleanly, so they are searched rather than
filtered (:class:`TermMatcher`): a term matches a run of whole words, the last of
which may be in a plural form (``wheelchairs``, ``crutches``, ``injuries``, ``men``).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = [
    "DROP",
    "ON_BLOCKED",
    "RULE_BELOW_MIN_CONFIDENCE",
    "RULE_BLOCK_LIST",
    "RULE_NOT_IN_ALLOW_LIST",
    "WITHHOLD",
    "TagFilter",
    "TagVerdict",
    "TermMatcher",
    "clamp_confidence",
    "normalize_term",
    "term_forms",
]

RULE_BLOCK_LIST: Final = "block-list"
"""The tag is on the purpose's block list."""
RULE_NOT_IN_ALLOW_LIST: Final = "not-in-allow-list"
"""The purpose has an allow list and the tag is not on it."""
RULE_BELOW_MIN_CONFIDENCE: Final = "below-min-confidence"
"""The tag passed the lists but its confidence is under the purpose's minimum."""

DROP: Final = "drop"
"""``on_blocked``: a block-listed tag is removed; the rest of the result is returned."""
WITHHOLD: Final = "withhold"
"""``on_blocked``: a block-listed tag withholds the result (``TagBlockedError``)."""
ON_BLOCKED: Final = (DROP, WITHHOLD)
"""What ``on_blocked`` accepts."""

_WORD: Final = re.compile(r"\w+(?:['\-]\w+)*'?")
_POSSESSIVE: Final = re.compile(r"'s?$")
_IRREGULAR_PLURALS: Final = {
    "people": "person",
    "men": "man",
    "women": "woman",
    "children": "child",
    "feet": "foot",
    "teeth": "tooth",
    "mice": "mouse",
}


def normalize_term(text: str) -> str:
    """
    The form under which tag names, list entries and caption words are compared.

    NFKC, case-folded (then NFKC again, since folding can denormalise), stripped,
    with every run of whitespace made one space. Idempotent.

    Args:
        text: A tag name, a list entry or a caption.

    Returns:
        The normalised text; empty when *text* holds only whitespace.

    .. versionadded:: 0.1.0
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(unicodedata.normalize("NFKC", folded).split())


def clamp_confidence(value: float) -> float:
    """
    A confidence usable in comparisons and JSON: finite, within [0, 1].

    Not-a-number and infinities count as 0: a score that means nothing passes no
    minimum.

    .. versionadded:: 0.1.0
    """
    number = float(value)
    if not math.isfinite(number):
        return 0.0
    return min(1.0, max(0.0, number))


@dataclass(frozen=True, slots=True)
class TagVerdict:
    """
    What the policy did with one tag or object tag.

    Args:
        name: The name as the service spelled it.
        confidence: The service's confidence, made finite and kept within [0, 1].
        kept: True when the application receives it.
        rule: Why it was dropped: :data:`RULE_BLOCK_LIST`,
            :data:`RULE_NOT_IN_ALLOW_LIST` or :data:`RULE_BELOW_MIN_CONFIDENCE`;
            None when kept.

    .. versionadded:: 0.1.0
    """

    name: str
    confidence: float
    kept: bool
    rule: str | None = None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form, as the ``tags.filtered`` event records it."""
        data: dict[str, object] = {"name": self.name, "confidence": self.confidence}
        if self.rule is not None:
            data["rule"] = self.rule
        return data


@dataclass(frozen=True, slots=True)
class TagFilter:
    """
    Decides, tag by tag, what a purpose lets the application see.

    The allow list or the block list is applied first (a filter has at most one of
    them), then the minimum confidence. Entries are compared normalised
    (:func:`normalize_term`); build a filter with :meth:`create` to have them
    normalised for you.

    Args:
        allow: Normalised names that alone may pass, or None for no allow list.
        block: Normalised names that never pass, or None for no block list.
        min_confidence: Tags under this confidence are dropped (0 keeps all).
        on_blocked: What a block-listed tag that comes back does to the result:
            ``drop`` (the default) removes the tag and returns the rest;
            ``withhold`` returns nothing and raises
            :class:`~vision_audit.exceptions.TagBlockedError` into the caller.

    Raises:
        ValueError: Both lists were given, ``min_confidence`` is outside [0, 1], or
            ``on_blocked`` is unknown, or ``withhold`` without a block list.

    .. versionadded:: 0.1.0
    """

    allow: frozenset[str] | None = None
    block: frozenset[str] | None = None
    min_confidence: float = 0.0
    on_blocked: Literal["drop", "withhold"] = "drop"

    def __post_init__(self) -> None:
        """Refuse what cannot be a filter."""
        if self.allow is not None and self.block is not None:
            msg = "a tag filter has an allow list or a block list, not both"
            raise ValueError(msg)
        if not 0.0 <= self.min_confidence <= 1.0:
            msg = f"min_confidence must be between 0 and 1, got {self.min_confidence!r}"
            raise ValueError(msg)
        if self.on_blocked not in ON_BLOCKED:
            msg = (
                f"on_blocked must be one of {', '.join(ON_BLOCKED)}, "
                f"got {self.on_blocked!r}"
            )
            raise ValueError(msg)
        if self.on_blocked == WITHHOLD and self.block is None:
            msg = 'on_blocked = "withhold" needs a block list'
            raise ValueError(msg)

    @classmethod
    def create(
        cls,
        *,
        allow: Iterable[str] | None = None,
        block: Iterable[str] | None = None,
        min_confidence: float = 0.0,
        on_blocked: Literal["drop", "withhold"] = "drop",
    ) -> TagFilter:
        """
        A filter from lists as a person writes them; entries are normalised.

        Raises:
            ValueError: As the constructor does.

        .. versionadded:: 0.1.0
        """
        return cls(
            allow=None if allow is None else frozenset(map(normalize_term, allow)),
            block=None if block is None else frozenset(map(normalize_term, block)),
            min_confidence=min_confidence,
            on_blocked=on_blocked,
        )

    def judge(self, name: str, confidence: float) -> TagVerdict:
        """
        The verdict on one tag.

        Args:
            name: The tag's name as the service spelled it.
            confidence: The service's confidence for it.

        Returns:
            Kept, or dropped with the rule that dropped it.

        .. versionadded:: 0.1.0
        """
        score = clamp_confidence(confidence)
        # A block list also catches plurals (``men`` for ``man``): matching more
        # errs on the safe side there. An allow list takes the name as it is.
        if self.block is not None and not self.block.isdisjoint(term_forms(name)):
            return TagVerdict(name, score, kept=False, rule=RULE_BLOCK_LIST)
        if self.allow is not None and normalize_term(name) not in self.allow:
            return TagVerdict(name, score, kept=False, rule=RULE_NOT_IN_ALLOW_LIST)
        if score < self.min_confidence:
            return TagVerdict(name, score, kept=False, rule=RULE_BELOW_MIN_CONFIDENCE)
        return TagVerdict(name, score, kept=True)

    def __call__(self, tags: Iterable[tuple[str, float]]) -> tuple[TagVerdict, ...]:
        """
        The verdict on each of *tags*, in their order.

        Args:
            tags: ``(name, confidence)`` pairs, as the service returned them.

        .. versionadded:: 0.1.0
        """
        return tuple(self.judge(name, confidence) for name, confidence in tags)


def _words(text: str) -> list[str]:
    """The words of *text*, possessive endings dropped (``man's`` reads ``man``)."""
    normal = normalize_term(text).replace("\u2019", "'")
    return [_POSSESSIVE.sub("", word) for word in _WORD.findall(normal)]


def _readings(text: str) -> Iterator[list[str]]:
    """*text* as words, then with hyphenated words split (``wheelchair-bound``)."""
    words = _words(text)
    yield words
    if any("-" in word for word in words):
        yield [part for word in words for part in word.split("-") if part]


def term_forms(term: str) -> Iterator[str]:
    """
    *term* (normalised) and its forms with the last word read as a plural.

    ``men`` gives ``man``, ``human faces`` gives ``human face``: what a tag may be
    on a list as.

    .. versionadded:: 0.1.0
    """
    normal = normalize_term(term)
    head, _, last = normal.rpartition(" ")
    seen: set[str] = set()
    for form in _singulars(last):
        full = f"{head} {form}" if head else form
        if full not in seen:
            seen.add(full)
            yield full


def _singulars(word: str) -> Iterator[str]:
    """*word* and the singular forms it might be the plural of."""
    yield word
    irregular = _IRREGULAR_PLURALS.get(word)
    if irregular is not None:
        yield irregular
    if word.endswith("ies") and len(word) > 3:  # noqa: PLR2004 - len("ies")
        yield word[:-3] + "y"
    if word.endswith("es") and len(word) > 2:  # noqa: PLR2004 - len("es")
        yield word[:-2]
    if word.endswith("s") and len(word) > 1:
        yield word[:-1]


class TermMatcher:
    """
    Finds which of a set of terms occur, as whole words, in a piece of text.

    Used on captions and dense captions, which cannot be filtered like tags: a
    term such as ``hospital bed`` matches ``a patient in a hospital bed`` and
    ``two hospital beds``, but not ``hospitality``.

    Args:
        terms: The terms to find; each is normalised. Terms with no word in them
            (only punctuation or markup) can never match and are ignored.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_longest", "_terms")

    def __init__(self, terms: Iterable[str]) -> None:
        """Index the terms by their words."""
        self._terms: dict[tuple[str, ...], str] = {}
        for term in terms:
            normal = normalize_term(term)
            words = tuple(_WORD.findall(normal))
            if words:
                self._terms.setdefault(words, normal)
        self._longest = max((len(words) for words in self._terms), default=0)

    def __bool__(self) -> bool:
        """True when there is a term to look for."""
        return bool(self._terms)

    def find(self, text: str) -> frozenset[str]:
        """
        The terms found in *text*, in their normalised form.

        .. versionadded:: 0.1.0
        """
        if not self._terms:
            return frozenset()
        found: set[str] = set()
        for words in _readings(text):
            self._find_in(words, found)
        return frozenset(found)

    def _find_in(self, words: list[str], found: set[str]) -> None:
        for start in range(len(words)):
            for size in range(1, min(self._longest, len(words) - start) + 1):
                head = tuple(words[start : start + size - 1])
                for last in _singulars(words[start + size - 1]):
                    term = self._terms.get((*head, last))
                    if term is not None:
                        found.add(term)
