"""What the policy engine answers: violations before a call, outcomes after it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from vision_audit.exceptions import ConsentRequiredError

if TYPE_CHECKING:
    from datetime import timedelta

    from vision_audit.policy._model import ReviewRule
    from vision_audit.policy.tags import TagVerdict

__all__ = [
    "CONSENT_EXPIRED",
    "CONSENT_MISSING",
    "CONSENT_NOT_YET_VALID",
    "CONSENT_REVOKED",
    "CONSENT_UNAVAILABLE",
    "CONSENT_UNKNOWN",
    "FEATURE_NOT_ALLOWED",
    "FEATURE_NOT_CONSENTED",
    "PURPOSE_MISSING",
    "PURPOSE_NOT_CONSENTED",
    "SUBJECT_MISMATCH",
    "UNKNOWN_FEATURE",
    "UNKNOWN_PURPOSE",
    "VIOLATION_CODES",
    "PostOutcome",
    "PreCheck",
    "Violation",
]

PURPOSE_MISSING: Final = "purpose-missing"
"""The call states no purpose."""
UNKNOWN_PURPOSE: Final = "unknown-purpose"
"""The call's purpose is not one of the policy's."""
UNKNOWN_FEATURE: Final = "unknown-feature"
"""The call asks for something that is not a visual feature of Image Analysis."""
FEATURE_NOT_ALLOWED: Final = "feature-not-allowed"
"""The purpose does not allow a requested feature (e.g. ``people`` for shelves)."""
CONSENT_MISSING: Final = "consent-missing"
"""The purpose requires consent and the call gives no consent reference."""
CONSENT_UNKNOWN: Final = "consent-unknown"
"""No consent is known under the reference (or no consent provider is set)."""
CONSENT_UNAVAILABLE: Final = "consent-unavailable"
"""The consent provider failed, so consent could not be checked."""
CONSENT_REVOKED: Final = "consent-revoked"
CONSENT_EXPIRED: Final = "consent-expired"
CONSENT_NOT_YET_VALID: Final = "consent-not-yet-valid"
PURPOSE_NOT_CONSENTED: Final = "purpose-not-consented"
"""The consent does not cover the call's purpose."""
SUBJECT_MISMATCH: Final = "subject-mismatch"
"""The consent was given by another subject than the call's (or the call has none)."""
FEATURE_NOT_CONSENTED: Final = "feature-not-consented"
"""The consent names the features it covers, and a requested one is not among them."""

VIOLATION_CODES: Final = frozenset(
    {
        PURPOSE_MISSING,
        UNKNOWN_PURPOSE,
        UNKNOWN_FEATURE,
        FEATURE_NOT_ALLOWED,
        CONSENT_MISSING,
        CONSENT_UNKNOWN,
        CONSENT_UNAVAILABLE,
        CONSENT_REVOKED,
        CONSENT_EXPIRED,
        CONSENT_NOT_YET_VALID,
        PURPOSE_NOT_CONSENTED,
        SUBJECT_MISMATCH,
        FEATURE_NOT_CONSENTED,
    }
)
"""Every code a :class:`Violation` can carry."""


@dataclass(frozen=True, slots=True)
class Violation:
    """
    One way a call breaks the policy.

    Args:
        code: One of :data:`VIOLATION_CODES`, stable, for machines and reports.
        message: For people. Names the purpose, the consent reference and the
            features involved; never the subject reference.

    .. versionadded:: 0.1.0
    """

    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        """JSON-ready form."""
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True, kw_only=True)
class PreCheck:
    """
    The verdict on a call before it is sent.

    Args:
        allowed: Whether the call may go. Always True in ``audit`` mode.
        violations: Every violation found, in the order checked.
        mode: The policy's mode.
        purpose: The purpose checked.
        policy_id: The id of the policy that judged.

    .. versionadded:: 0.1.0
    """

    allowed: bool
    violations: tuple[Violation, ...] = ()
    mode: Literal["enforce", "audit"] = "enforce"
    purpose: str | None = None
    policy_id: str | None = None

    @property
    def reason(self) -> str | None:
        """The code of the first violation, or None when there is none."""
        return self.violations[0].code if self.violations else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, for the ``analysis.denied`` event's data."""
        return {
            "allowed": self.allowed,
            "mode": self.mode,
            "reason": self.reason,
            "violations": [violation.as_dict() for violation in self.violations],
        }

    def raise_for_denial(self) -> None:
        """
        Raise when the call is not allowed; do nothing otherwise.

        Raises:
            ConsentRequiredError: The call is denied; ``reason`` and ``codes`` say
                why.

        .. versionadded:: 0.1.0
        """
        if self.allowed:
            return
        codes = tuple(violation.code for violation in self.violations)
        details = "; ".join(violation.message for violation in self.violations)
        msg = f"the policy denies this call ({', '.join(codes)}): {details}"
        raise ConsentRequiredError(msg, reason=codes[0] if codes else "", codes=codes)


@dataclass(frozen=True, slots=True, kw_only=True)
class PostOutcome:
    """
    What the policy makes of a result: what the application sees, what is flagged.

    Args:
        purpose: The purpose of the call.
        tag_verdicts: One per tag, in the service's order.
        object_verdicts: One per detected object's tag, in the service's order.
        caption_flags: Normalised terms found in the caption or a dense caption
            that the purpose's lists refuse (block-listed terms, and names of tags
            or objects the lists dropped from this result). Text is flagged, not cut.
        flags: Sensitive-content flags raised: ``people``, ``text``, ``health``,
            ``low_confidence``.
        health_categories: The health-related tags found (normalised, sorted).
        review_required: Whether a human must review the result.
        review_reasons: Why: ``purpose`` (the purpose reviews everything),
            ``unknown-purpose``, ``blocked``, or a flag.
        review_deadline: How soon a decision is due, when review is required.
        review: The purpose's review rule (four eyes, gate...), when known.
        capture_content: Whether the policy permits capturing the result's content.
            False whenever ``health`` is flagged. The instrumentation still captures
            only when content capture is turned on.
        policy_id: The id of the policy that judged.
        blocked: The block-list terms (normalised, sorted, each once) that came
            back as a tag, an object or in a caption or dense caption, with at least
            the purpose's ``min_confidence``.
        withheld: The whole result is withheld: something is :attr:`blocked`, the
            purpose sets ``on_blocked = "withhold"`` and the policy enforces. Such
            a result goes to no review: nothing was delivered.
        would_withhold: The same, under a policy in ``audit`` mode: the result is
            returned (block-listed tags dropped as usual) and this is recorded.

    .. versionadded:: 0.1.0
    """

    purpose: str | None
    tag_verdicts: tuple[TagVerdict, ...] = ()
    object_verdicts: tuple[TagVerdict, ...] = ()
    caption_flags: tuple[str, ...] = ()
    flags: frozenset[str] = frozenset()
    health_categories: tuple[str, ...] = ()
    review_required: bool = False
    review_reasons: tuple[str, ...] = ()
    review_deadline: timedelta | None = None
    review: ReviewRule | None = None
    capture_content: bool = True
    policy_id: str | None = None
    blocked: tuple[str, ...] = ()
    withheld: bool = False
    would_withhold: bool = False

    @property
    def filtered(self) -> bool:
        """True when a tag or an object was dropped."""
        return any(
            not verdict.kept for verdict in (*self.tag_verdicts, *self.object_verdicts)
        )

    @property
    def kept_tags(self) -> tuple[str, ...]:
        """Names of the tags the application receives, as the service spelled them."""
        return tuple(v.name for v in self.tag_verdicts if v.kept)

    @property
    def kept_objects(self) -> tuple[str, ...]:
        """Names of the object tags the application receives."""
        return tuple(v.name for v in self.object_verdicts if v.kept)

    def as_dict(self) -> dict[str, Any]:
        """
        JSON-ready form, for the ``tags.filtered`` and ``review.required`` events.

        Holds tag names and confidences, the rule that dropped each, the flags and
        the review routing; never caption or read text.
        """

        def split(verdicts: tuple[TagVerdict, ...]) -> dict[str, Any]:
            return {
                "kept": [v.as_dict() for v in verdicts if v.kept],
                "dropped": [v.as_dict() for v in verdicts if not v.kept],
            }

        deadline = self.review_deadline
        return {
            "purpose": self.purpose,
            "tags": split(self.tag_verdicts),
            "objects": split(self.object_verdicts),
            "caption_flags": list(self.caption_flags),
            "flags": sorted(self.flags),
            "health_categories": list(self.health_categories),
            "review": {
                "required": self.review_required,
                "reasons": list(self.review_reasons),
                "deadline_seconds": None
                if deadline is None
                else int(deadline.total_seconds()),
                "four_eyes": bool(self.review and self.review.four_eyes),
                "gate": bool(self.review and self.review.gate),
            },
            "capture_content": self.capture_content,
        } | self._withholding()

    def _withholding(self) -> dict[str, Any]:
        if self.withheld:
            return {"withheld": True, "blocked": list(self.blocked)}
        if self.would_withhold:
            return {"would_withhold": True, "blocked": list(self.blocked)}
        return {}
