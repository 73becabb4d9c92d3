"""A parsed policy, as frozen values: purposes, tag filters, review rules, retention."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Literal

from vision_audit._policy_id import canonical_text, policy_id_of
from vision_audit.policy.sensitive import (
    BUILTIN_HEALTH_TAGS,
    FLAG_HEALTH,
    FLAG_LOW_CONFIDENCE,
    FLAG_PEOPLE,
    FLAG_TEXT,
)
from vision_audit.policy.tags import TagFilter

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "FEATURES",
    "POLICY_FORMAT",
    "REVIEW_TRIGGERS",
    "TRIGGER_BLOCKED",
    "Mode",
    "Policy",
    "Purpose",
    "Retention",
    "ReviewRule",
    "Sensitive",
    "normalize_feature",
]

POLICY_FORMAT: Final = 1
"""Version of the parsed form that the policy id hashes."""

FEATURES: Final = (
    "tags",
    "caption",
    "denseCaptions",
    "objects",
    "read",
    "smartCrops",
    "people",
)
"""The visual features of Image Analysis 4.0, as the service spells them."""

_FEATURE_KEYS: Final = {name.casefold(): name for name in FEATURES}

TRIGGER_BLOCKED: Final = "blocked"
"""
Review trigger: a block-listed tag came back, or a caption or dense caption names a
term the lists refuse (block-listed, or a tag they dropped from the same result).
"""
REVIEW_TRIGGERS: Final = frozenset(
    {FLAG_PEOPLE, FLAG_TEXT, FLAG_HEALTH, FLAG_LOW_CONFIDENCE, TRIGGER_BLOCKED}
)
"""What ``review.on`` accepts: the sensitive-content flags, and ``blocked``."""

Mode = Literal["enforce", "audit"]
"""``enforce`` denies violating calls; ``audit`` records violations, lets calls go."""


def normalize_feature(name: object) -> str | None:
    """
    The service's spelling of a visual feature, or None when it is not one.

    Accepts the service's names (``denseCaptions``), the SDK's ``VisualFeatures``
    members and their names (``DENSE_CAPTIONS``), and snake case, in any case.

    .. versionadded:: 0.1.0
    """
    value = getattr(name, "value", name)
    if not isinstance(value, str):
        return None
    return _FEATURE_KEYS.get(value.replace("_", "").casefold())


def _seconds(value: timedelta | None) -> int | None:
    return None if value is None else int(value.total_seconds())


@dataclass(frozen=True, slots=True, kw_only=True)
class Retention:
    """
    How long each class of data is kept; None means until removed by hand.

    Images are never stored by vision-audit, so they have no retention: only their
    SHA-256, size, format and dimensions are recorded, as metadata.

    Args:
        content: Personal content: captions, dense captions, read text, raw subject
            references. ``vision-audit purge`` deletes it after this long.
        metadata: The chained events (features, tag names, counts, digests).
        decisions: Human review decisions and consent records.

    .. versionadded:: 0.1.0
    """

    content: timedelta | None = None
    metadata: timedelta | None = None
    decisions: timedelta | None = None

    def as_dict(self) -> dict[str, int | None]:
        """Seconds per data class, JSON-ready."""
        return {
            "content": _seconds(self.content),
            "decisions": _seconds(self.decisions),
            "metadata": _seconds(self.metadata),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Sensitive:
    """
    What makes a result sensitive.

    Args:
        people_threshold: A person detected with at least this confidence raises the
            ``people`` flag.
        health_tags: Normalised health-related tags in force (the built-in list, or
            the policy's own, with its additions and removals).

    .. versionadded:: 0.1.0
    """

    people_threshold: float = 0.5
    health_tags: frozenset[str] = BUILTIN_HEALTH_TAGS

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "health_tags": sorted(self.health_tags),
            "people_threshold": self.people_threshold,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewRule:
    """
    When results of a purpose go to a human, and how.

    Args:
        on: Flags that route a result to review (see :data:`REVIEW_TRIGGERS`).
        low_confidence_below: Confidence under which a kept tag, object or the
            caption raises ``low_confidence``.
        all: Every result of the purpose goes to review.
        deadline: How soon a decision is due, or None.
        four_eyes: Maker and checker: the analysis' own actor may not decide it,
            however the name is spelt; a second person decides.
        gate: The result is held back from the application until decided.
        gate_timeout: How long a gated call waits for a decision.
        gate_default: What a gated call does when the wait ends undecided:
            ``withhold`` (the default) or ``release``.

    .. versionadded:: 0.1.0
    """

    on: frozenset[str] = frozenset()
    low_confidence_below: float = 0.5
    all: bool = False
    deadline: timedelta | None = None
    four_eyes: bool = False
    gate: bool = False
    gate_timeout: timedelta = timedelta(minutes=5)
    gate_default: Literal["release", "withhold"] = "withhold"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (durations in seconds)."""
        return {
            "all": self.all,
            "deadline": _seconds(self.deadline),
            "four_eyes": self.four_eyes,
            "gate": self.gate,
            "gate_default": self.gate_default,
            "gate_timeout": _seconds(self.gate_timeout),
            "low_confidence_below": self.low_confidence_below,
            "on": sorted(self.on),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Purpose:
    """
    One stated purpose: what it may ask of the service, and what it may see.

    Args:
        name: As the audit context states it (``audit_context(purpose=...)``).
        description: For people: what the purpose is.
        require_consent: Calls need a valid consent reference for this purpose.
        features: The visual features it may request.
        tags: The filter applied to tags and object tags of its results.
        review: When its results go to a human.
        capture_content: Whether content (captions, read text) may be captured at
            all; the instrumentation still captures only when content capture is on.

    .. versionadded:: 0.1.0
    """

    name: str
    description: str = ""
    require_consent: bool = True
    features: frozenset[str]
    tags: TagFilter = field(default_factory=TagFilter)
    review: ReviewRule = field(default_factory=ReviewRule)
    capture_content: bool = True

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        tags: dict[str, Any] = {"min_confidence": self.tags.min_confidence}
        if self.tags.allow is not None:
            tags["allow"] = sorted(self.tags.allow)
        if self.tags.block is not None:
            tags["block"] = sorted(self.tags.block)
        if self.tags.on_blocked != "drop":  # absent by default: older ids hold
            tags["on_blocked"] = self.tags.on_blocked
        return {
            "capture_content": self.capture_content,
            "description": self.description,
            "features": sorted(self.features),
            "require_consent": self.require_consent,
            "review": self.review.as_dict(),
            "tags": tags,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """
    A whole policy, as :func:`~vision_audit.policy.load_policy` parsed it.

    Args:
        name: The policy's name.
        version: Its version, as its author numbers it.
        mode: ``enforce`` or ``audit``.
        description: For people.
        retention: How long each class of data is kept.
        sensitive: What makes a result sensitive.
        purposes: Every purpose, by name.
        source: The file it was read from, if any (not part of the policy id).

    Attributes:
        policy_id: ``sha256:`` and the hex SHA-256 of the canonical JSON of
            :meth:`as_dict`: the same rules give the same id whatever the file's
            layout, comments or key order; any change of rule changes it. A change
            of the built-in health list (a new vision-audit version) changes it too,
            since the rules in force changed.

    .. versionadded:: 0.1.0
    """

    name: str
    version: str
    mode: Mode = "enforce"
    description: str = ""
    retention: Retention = field(default_factory=Retention)
    sensitive: Sensitive = field(default_factory=Sensitive)
    purposes: Mapping[str, Purpose]
    source: str | None = field(default=None, compare=False)
    policy_id: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        """Freeze the purposes and compute the id."""
        object.__setattr__(self, "purposes", MappingProxyType(dict(self.purposes)))
        identity = policy_id_of(self.as_dict())
        if identity is None:  # pragma: no cover - a parsed policy is plain JSON
            msg = f"policy {self.name!r} has no canonical JSON form"
            raise ValueError(msg)
        object.__setattr__(self, "policy_id", identity)

    def as_dict(self) -> dict[str, Any]:
        """
        The parsed policy as JSON-ready data: what the policy id hashes.

        .. versionadded:: 0.1.0
        """
        return {
            "format": POLICY_FORMAT,
            "policy": {
                "description": self.description,
                "mode": self.mode,
                "name": self.name,
                "version": self.version,
            },
            "purposes": {
                name: purpose.as_dict() for name, purpose in self.purposes.items()
            },
            "retention": self.retention.as_dict(),
            "sensitive": self.sensitive.as_dict(),
        }

    def canonical_json(self) -> str:
        """
        :meth:`as_dict` as canonical JSON: sorted keys, no spaces, UTF-8 text.

        .. versionadded:: 0.1.0
        """
        return canonical_text(self.as_dict())

    def get_purpose(self, name: str | None) -> Purpose | None:
        """
        The purpose called *name*, or None when the policy has none by that name.

        .. versionadded:: 0.1.0
        """
        if name is None:
            return None
        return self.purposes.get(name)
