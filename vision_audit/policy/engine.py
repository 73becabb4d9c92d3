"""
The policy engine: checks a call before it is sent and judges its result after.

:meth:`PolicyEngine.check_request` runs the pre-call checks in order, like a
processor chain, and collects every violation: a stated purpose the policy knows;
features the purpose allows; then, where the purpose requires consent, a consent
reference that resolves, is in force, covers the purpose, the subject and the
features. In ``enforce`` mode any violation denies the call; in ``audit`` mode the
call goes on and the violations are recorded.

:meth:`PolicyEngine.evaluate_result` filters tags and object tags through the
purpose's allow or block list and minimum confidence, searches captions for what
the lists refuse, raises the sensitive-content flags, and routes the result to human
review by the purpose's rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vision_audit.models import utc_now
from vision_audit.policy._model import FEATURES, TRIGGER_BLOCKED, normalize_feature
from vision_audit.policy._verdicts import (
    CONSENT_MISSING,
    CONSENT_UNAVAILABLE,
    CONSENT_UNKNOWN,
    FEATURE_NOT_ALLOWED,
    PURPOSE_MISSING,
    UNKNOWN_FEATURE,
    UNKNOWN_PURPOSE,
    PostOutcome,
    PreCheck,
    Violation,
)
from vision_audit.policy.consent import ConsentProvider, check_consent
from vision_audit.policy.sensitive import (
    FLAG_HEALTH,
    FLAG_LOW_CONFIDENCE,
    FLAG_PEOPLE,
    FLAG_TEXT,
)
from vision_audit.policy.tags import (
    RULE_BELOW_MIN_CONFIDENCE,
    RULE_BLOCK_LIST,
    WITHHOLD,
    TagFilter,
    TagVerdict,
    TermMatcher,
    clamp_confidence,
    term_forms,
)

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Iterable, Sequence

    from vision_audit.policy._model import Policy, Purpose

__all__ = ["PolicyEngine"]

REASON_PURPOSE = "purpose"
"""Review reason: the purpose reviews every result (``review.all``)."""
REASON_UNKNOWN_PURPOSE = "unknown-purpose"
"""Review reason: the policy knows no such purpose (a call let through by audit)."""

_NO_FILTER = TagFilter()
_NO_TERMS = TermMatcher(())


def _refused_terms(verdicts: Iterable[TagVerdict]) -> TermMatcher:
    """Names this result lost to a list: a caption naming them is flagged."""
    return TermMatcher(
        verdict.name
        for verdict in verdicts
        if not verdict.kept and verdict.rule != RULE_BELOW_MIN_CONFIDENCE
    )


def _review_reasons(
    purpose: Purpose | None,
    flags: set[str],
    caption_flags: set[str],
    verdicts: Iterable[TagVerdict],
) -> list[str]:
    """Why a result goes to review, in a stable order; empty when it does not."""
    if purpose is None:
        return [REASON_UNKNOWN_PURPOSE]
    review = purpose.review
    reasons = [REASON_PURPOSE] if review.all else []
    # Allow lists drop tags routinely; only a block-listed tag coming back, or a
    # caption naming what a list refused, is worth a human's look.
    blocked = bool(caption_flags) or any(
        verdict.rule == RULE_BLOCK_LIST for verdict in verdicts
    )
    if TRIGGER_BLOCKED in review.on and blocked:
        reasons.append(TRIGGER_BLOCKED)
    reasons.extend(sorted(flags & review.on))
    return reasons


def _blocked_names(
    tag_filter: TagFilter,
    verdicts: Iterable[TagVerdict],
    captions: Iterable[tuple[str, float]],
    blocks: TermMatcher,
) -> tuple[str, ...]:
    """
    Block-list terms that came back with at least the purpose's minimum confidence.

    A block-listed tag or object under ``min_confidence`` is noise the filter drops
    anyway; it withholds nothing. Captions are searched for the listed terms.
    """
    floor = tag_filter.min_confidence
    names = {
        form
        for verdict in verdicts
        if verdict.rule == RULE_BLOCK_LIST and verdict.confidence >= floor
        for form in term_forms(verdict.name)
        if tag_filter.block is not None and form in tag_filter.block
    }
    for text, confidence in captions:
        if clamp_confidence(confidence) >= floor:
            names |= blocks.find(text)
    return tuple(sorted(names))


def _feature_names(features: Iterable[object]) -> tuple[list[str], list[str]]:
    known: list[str] = []
    unknown: list[str] = []
    for item in features:
        name = normalize_feature(item)
        if name is None:
            unknown.append(repr(getattr(item, "value", item))[:60])
        elif name not in known:
            known.append(name)
    return known, unknown


class PolicyEngine:
    """
    Applies a policy to calls, before (:meth:`check_request`) and after them.

    Thread-safe and without state of its own beyond what it is given.

    Args:
        policy: The policy in force.
        consent: Resolves consent references; None when no consent source is set
            (then a purpose requiring consent denies every call, ``consent-unknown``).
        clock: Returns the current time, timezone-aware; UTC now by default.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        policy: Policy,
        *,
        consent: ConsentProvider | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        """Keep the policy and its collaborators; build the per-purpose matchers."""
        self.policy = policy
        self.consent = consent
        self._clock = clock
        self._health = TermMatcher(policy.sensitive.health_tags)
        self._blocks = {
            name: TermMatcher(purpose.tags.block or ())
            for name, purpose in policy.purposes.items()
        }

    @property
    def policy_id(self) -> str:
        """The id of the policy in force."""
        return self.policy.policy_id

    def __repr__(self) -> str:
        """The policy's name, version and id."""
        policy = self.policy
        return f"PolicyEngine({policy.name!r} {policy.version!r} {policy.policy_id})"

    # -- before the call ------------------------------------------------------------

    def check_request(
        self,
        *,
        purpose: str | None,
        consent_ref: str | None = None,
        subject_ref: str | None = None,
        features: Iterable[object] = (),
    ) -> PreCheck:
        """
        Whether a call may be sent, and every way it breaks the policy.

        Args:
            purpose: The stated purpose (``audit_context(purpose=...)``).
            consent_ref: The consent the call relies on.
            subject_ref: The data subject, as the application refers to them.
            features: The visual features requested: service names
                (``denseCaptions``) or ``VisualFeatures`` members.

        Returns:
            ``allowed`` (always True in ``audit`` mode) and the violations.

        .. versionadded:: 0.1.0
        """
        violations = self._violations(
            purpose=purpose,
            consent_ref=consent_ref,
            subject_ref=subject_ref,
            features=features,
        )
        mode = self.policy.mode
        return PreCheck(
            allowed=mode == "audit" or not violations,
            violations=violations,
            mode=mode,
            purpose=purpose,
            policy_id=self.policy.policy_id,
        )

    def _violations(
        self,
        *,
        purpose: str | None,
        consent_ref: str | None,
        subject_ref: str | None,
        features: Iterable[object],
    ) -> tuple[Violation, ...]:
        known, unknown = _feature_names(features)
        found: list[Violation] = []
        if unknown:
            found.append(
                Violation(
                    UNKNOWN_FEATURE,
                    f"not visual features: {', '.join(unknown)}; known: "
                    f"{', '.join(FEATURES)}",
                )
            )
        if not purpose:
            found.append(
                Violation(
                    PURPOSE_MISSING,
                    "the call states no purpose; set audit_context(purpose=...) to "
                    f"one of: {', '.join(sorted(self.policy.purposes))}",
                )
            )
            return tuple(found)
        stated = self.policy.get_purpose(purpose)
        if stated is None:
            found.append(
                Violation(
                    UNKNOWN_PURPOSE,
                    f"the policy has no purpose {purpose[:100]!r}; it has: "
                    f"{', '.join(sorted(self.policy.purposes))}",
                )
            )
            return tuple(found)
        refused = [name for name in known if name not in stated.features]
        if refused:
            found.append(
                Violation(
                    FEATURE_NOT_ALLOWED,
                    f"the purpose {purpose!r} does not allow {', '.join(refused)}; "
                    f"it allows {', '.join(sorted(stated.features))}",
                )
            )
        if stated.require_consent:
            found.extend(
                self._consent_violations(stated, consent_ref, subject_ref, known)
            )
        return tuple(found)

    def _consent_violations(
        self,
        purpose: Purpose,
        consent_ref: str | None,
        subject_ref: str | None,
        features: Sequence[str],
    ) -> list[Violation]:
        if not consent_ref:
            return [
                Violation(
                    CONSENT_MISSING,
                    f"the purpose {purpose.name!r} requires consent and the call "
                    "gives no consent reference",
                )
            ]
        if self.consent is None:
            return [
                Violation(
                    CONSENT_UNKNOWN,
                    f"consent {consent_ref[:100]!r} cannot be looked up: no consent "
                    "provider is configured",
                )
            ]
        try:
            record = self.consent.get_consent(consent_ref)
        except Exception as err:  # noqa: BLE001 - any failure means: not verifiable
            return [
                Violation(
                    CONSENT_UNAVAILABLE,
                    f"consent {consent_ref[:100]!r} could not be checked: the consent "
                    f"provider failed ({type(err).__name__})",
                )
            ]
        if record is None:
            return [
                Violation(CONSENT_UNKNOWN, f"no consent {consent_ref[:100]!r} is known")
            ]
        return list(
            check_consent(
                record,
                purpose=purpose.name,
                subject_ref=subject_ref,
                features=features,
                now=self._clock(),
            )
        )

    # -- after the call -------------------------------------------------------------

    def evaluate_result(
        self,
        *,
        purpose: str | None,
        tags: Iterable[tuple[str, float]] = (),
        objects: Iterable[tuple[str, float]] = (),
        people_confidences: Iterable[float] = (),
        text_lines: int = 0,
        caption: tuple[str, float] | None = None,
        dense_captions: Iterable[tuple[str, float]] = (),
    ) -> PostOutcome:
        """
        What the application may see of a result, what it reveals, who must look.

        Args:
            purpose: The call's purpose.
            tags: ``(name, confidence)`` of each tag, as the service returned them.
            objects: ``(name, confidence)`` of each detected object's tag.
            people_confidences: The confidence of each person detected.
            text_lines: How many lines of text were read.
            caption: ``(text, confidence)`` of the caption, if one was asked for.
            dense_captions: ``(text, confidence)`` of each dense caption.

        Returns:
            The verdict per tag and object, caption flags, sensitive-content flags
            and health categories, and the review routing. For a purpose the policy
            does not know (a call let through in ``audit`` mode) nothing is dropped,
            content is not captured, and the result goes to review.

        .. versionadded:: 0.1.0
        """
        stated = self.policy.get_purpose(purpose)
        tag_filter = _NO_FILTER if stated is None else stated.tags
        tag_verdicts = tag_filter(tags)
        object_verdicts = tag_filter(objects)
        texts = [] if caption is None else [caption[0]]
        texts.extend(text for text, _ in dense_captions)

        verdicts = (*tag_verdicts, *object_verdicts)
        refused = _refused_terms(verdicts)
        blocks = self._blocks.get(purpose or "", _NO_TERMS)
        caption_flags: set[str] = set()
        health: set[str] = set()
        for text in texts:
            caption_flags |= refused.find(text)
            caption_flags |= blocks.find(text)
            health |= self._health.find(text)
        captions = [] if caption is None else [caption]
        captions.extend(dense_captions)
        blocked = _blocked_names(tag_filter, verdicts, captions, blocks)
        withhold = bool(blocked) and tag_filter.on_blocked == WITHHOLD
        enforced = self.policy.mode == "enforce"
        health_tags = self.policy.sensitive.health_tags
        health.update(
            form
            for verdict in verdicts
            for form in term_forms(verdict.name)
            if form in health_tags
        )

        review = None if stated is None else stated.review
        threshold = 0.5 if review is None else review.low_confidence_below
        flags = set()
        people = self.policy.sensitive.people_threshold
        if any(clamp_confidence(c) >= people for c in people_confidences):
            flags.add(FLAG_PEOPLE)
        if text_lines > 0:
            flags.add(FLAG_TEXT)
        if health:
            flags.add(FLAG_HEALTH)
        kept = [verdict.confidence for verdict in verdicts if verdict.kept]
        if caption is not None:
            kept.append(clamp_confidence(caption[1]))
        if any(confidence < threshold for confidence in kept):
            flags.add(FLAG_LOW_CONFIDENCE)

        # A withheld result was never delivered: there is nothing to approve or
        # correct, so it goes to no review (its records say why it was withheld).
        reasons = (
            []
            if withhold and enforced
            else _review_reasons(stated, flags, caption_flags, verdicts)
        )
        required = bool(reasons)
        return PostOutcome(
            purpose=purpose,
            tag_verdicts=tag_verdicts,
            object_verdicts=object_verdicts,
            caption_flags=tuple(sorted(caption_flags)),
            flags=frozenset(flags),
            health_categories=tuple(sorted(health)),
            review_required=required,
            review_reasons=tuple(reasons),
            review_deadline=review.deadline if required and review else None,
            review=review,
            capture_content=stated is not None
            and stated.capture_content
            and FLAG_HEALTH not in flags,
            policy_id=self.policy.policy_id,
            blocked=blocked,
            withheld=withhold and enforced,
            would_withhold=withhold and not enforced,
        )
