"""The review queue's values: a decision, a pending item, the case a reviewer sees."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Literal

from vision_audit import attributes as attrs
from vision_audit.store._reviews import FINAL_DECISIONS as _FINAL

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from vision_audit.models import AuditEvent, RecordedEvent

__all__ = [
    "ANALYSIS_EVENT_TYPES",
    "DECISIONS",
    "FINAL_DECISIONS",
    "Decision",
    "PendingReview",
    "ReviewCase",
    "ReviewDecision",
    "effective_tags",
]

Decision = Literal["approve", "reject", "override", "escalate"]
"""What a reviewer can decide."""

DECISIONS: Final[tuple[Decision, ...]] = ("approve", "reject", "override", "escalate")
"""
Every decision, in the order the CLI lists them.

``approve``: the result stands as delivered. ``reject``: it must not be used.
``override``: it stands with the tags the reviewer adds and removes. ``escalate``:
someone else must decide; the analysis stays in the queue, marked escalated.
"""

FINAL_DECISIONS: Final = frozenset(_FINAL)
"""Decisions that take an analysis out of the queue (all but ``escalate``)."""

ANALYSIS_EVENT_TYPES: Final = frozenset(
    {
        attrs.EVENT_REQUESTED,
        attrs.EVENT_COMPLETED,
        attrs.EVENT_FAILED,
        attrs.EVENT_DENIED,
        attrs.EVENT_TAGS_FILTERED,
        attrs.EVENT_REVIEW_REQUIRED,
        attrs.EVENT_REVIEW_GATE_RELEASED,
        attrs.EVENT_REVIEW_GATE_TIMED_OUT,
    }
)
"""Events recorded inside the analysis span: their trace and span ids are its ids."""

_STATUS: Final = {
    "approve": "approved",
    "reject": "rejected",
    "override": "overridden",
    "escalate": "escalated",
}


def _strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        return ()
    return tuple(str(item) for item in value)


def _names(verdicts: object) -> tuple[str, ...]:
    if not isinstance(verdicts, list | tuple):
        return ()
    return tuple(
        str(verdict["name"])
        for verdict in verdicts
        if isinstance(verdict, dict) and "name" in verdict
    )


def _deadline(required: Mapping[str, Any] | None) -> timedelta | None:
    review = (required or {}).get("review")
    seconds = review.get("deadline_seconds") if isinstance(review, dict) else None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return None  # as the review index reads it: a number, or no deadline
    return timedelta(seconds=seconds)


def _review_flag(required: Mapping[str, Any] | None, name: str) -> bool:
    review = (required or {}).get("review")
    return bool(review.get(name)) if isinstance(review, dict) else False


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewDecision:
    """
    One human decision on an analysis, as a ``review.decided`` event records it.

    Decisions are never changed: a correction is a new decision whose
    ``supersedes`` names the event it corrects. The latest decision wins.

    Args:
        event_id: Id of the ``review.decided`` event.
        sequence: Its sequence number in the audit store, when read from one.
        analysis_id: The analysis decided.
        decision: ``approve``, ``reject``, ``override`` or ``escalate``.
        reviewer: Who decided.
        rationale: Why, in the reviewer's words.
        time: When it was recorded (UTC).
        add_tags: Tags an override adds.
        remove_tags: Tags an override removes.
        supersedes: Event id of the decision this one corrects, if any.
        policy_id: The policy in force for the decision.
        trace_id: Trace of the decision's own span (``vision_audit.review.decide``).
        span_id: That span's id.
        overdue: Whether it came after the review deadline.

    .. versionadded:: 0.1.0
    """

    event_id: str
    sequence: int | None = None
    analysis_id: str
    decision: str
    reviewer: str
    rationale: str
    time: datetime
    add_tags: tuple[str, ...] = ()
    remove_tags: tuple[str, ...] = ()
    supersedes: str | None = None
    policy_id: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    overdue: bool = False

    @property
    def final(self) -> bool:
        """True unless the decision is ``escalate``: it takes the analysis out."""
        return self.decision in FINAL_DECISIONS

    @classmethod
    def from_event(
        cls, event: AuditEvent, *, sequence: int | None = None
    ) -> ReviewDecision:
        """
        Read a ``review.decided`` event.

        .. versionadded:: 0.1.0
        """
        data = event.data
        supersedes = data.get("supersedes")
        return cls(
            event_id=event.event_id,
            sequence=sequence,
            analysis_id=event.analysis_id or "",
            decision=str(data.get("decision", "")),
            reviewer=str(data.get("reviewer") or event.actor or ""),
            rationale=str(data.get("rationale", "")),
            time=event.time,
            add_tags=_strings(data.get("add_tags")),
            remove_tags=_strings(data.get("remove_tags")),
            supersedes=supersedes if isinstance(supersedes, str) else None,
            policy_id=event.policy_id,
            trace_id=event.trace_id,
            span_id=event.span_id,
            overdue=bool(data.get("overdue", False)),
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "event_id": self.event_id,
            "sequence": self.sequence,
            "analysis_id": self.analysis_id,
            "decision": self.decision,
            "reviewer": self.reviewer,
            "rationale": self.rationale,
            "time": _time(self.time),
            "add_tags": list(self.add_tags),
            "remove_tags": list(self.remove_tags),
            "supersedes": self.supersedes,
            "policy_id": self.policy_id,
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "overdue": self.overdue,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingReview:
    """
    An analysis waiting for a human: flagged by ``review.required``, not yet decided.

    Args:
        analysis_id: The analysis to review.
        event_id: Id of its ``review.required`` event.
        sequence: That event's sequence number.
        required_at: When it was flagged.
        due_at: When a decision is due, if the policy sets a deadline.
        overdue: Whether ``due_at`` has passed.
        escalated: Whether its latest decision is ``escalate``.
        purpose: The analysis' purpose.
        actor: Who made the call.
        consent_ref: The consent it relied on.
        policy_id: The policy that flagged it.
        reasons: Why it was flagged (``purpose``, ``health``, ``people``...).
        flags: Its sensitive-content flags.
        four_eyes: Whether its own actor is barred from deciding it.
        gate: Whether the call held its result for the decision.
        latest_decision: Its latest decision (an escalation), if any.

    .. versionadded:: 0.1.0
    """

    analysis_id: str
    event_id: str
    sequence: int
    required_at: datetime
    due_at: datetime | None = None
    overdue: bool = False
    escalated: bool = False
    purpose: str | None = None
    actor: str | None = None
    consent_ref: str | None = None
    policy_id: str | None = None
    reasons: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    four_eyes: bool = False
    gate: bool = False
    latest_decision: ReviewDecision | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "analysis_id": self.analysis_id,
            "event_id": self.event_id,
            "sequence": self.sequence,
            "required_at": _time(self.required_at),
            "due_at": _time(self.due_at),
            "overdue": self.overdue,
            "escalated": self.escalated,
            "purpose": self.purpose,
            "actor": self.actor,
            "consent_ref": self.consent_ref,
            "policy_id": self.policy_id,
            "reasons": list(self.reasons),
            "flags": list(self.flags),
            "four_eyes": self.four_eyes,
            "gate": self.gate,
            "latest_decision": None
            if self.latest_decision is None
            else self.latest_decision.as_dict(),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewCase:
    """
    Everything the audit store holds about one analysis, for the reviewer who judges it.

    Built from its events (``analysis.requested``, ``tags.filtered``,
    ``review.required``, ``analysis.completed``, gate events) and its decisions, in
    sequence order. Personal content is there only if it was captured and not purged
    since; the subject reference is the store's pseudonym.

    Args:
        analysis_id: The analysis.
        events: Its events, decisions excluded, in sequence order.
        decisions: Its decisions, oldest first: the whole history.

    .. versionadded:: 0.1.0
    """

    analysis_id: str
    events: tuple[RecordedEvent, ...]
    decisions: tuple[ReviewDecision, ...] = ()

    # -- the analysis ------------------------------------------------------------------

    def _first(self, kind: str) -> AuditEvent | None:
        for recorded in self.events:
            if recorded.event.type == kind:
                return recorded.event
        return None

    def _data(self, kind: str) -> Mapping[str, Any] | None:
        event = self._first(kind)
        return None if event is None else event.data

    @property
    def _origin(self) -> AuditEvent | None:
        return self.events[0].event if self.events else None

    @property
    def purpose(self) -> str | None:
        """The purpose the call stated."""
        return None if self._origin is None else self._origin.purpose

    @property
    def actor(self) -> str | None:
        """Who made the call."""
        return None if self._origin is None else self._origin.actor

    @property
    def consent_ref(self) -> str | None:
        """The consent the call relied on."""
        return None if self._origin is None else self._origin.consent_ref

    @property
    def subject_ref(self) -> str | None:
        """The data subject's pseudonym, as the store recorded it."""
        return None if self._origin is None else self._origin.subject_ref

    @property
    def policy_id(self) -> str | None:
        """The policy in force for the call."""
        return None if self._origin is None else self._origin.policy_id

    @property
    def trace_id(self) -> str | None:
        """Trace of the analysis span."""
        return next((r.event.trace_id for r in self.events if r.event.trace_id), None)

    @property
    def span_id(self) -> str | None:
        """Id of the analysis span (``image_analysis {model}``)."""
        return next((r.event.span_id for r in self.events if r.event.span_id), None)

    @property
    def requested(self) -> Mapping[str, Any] | None:
        """Data of ``analysis.requested``: features, options, image fingerprint."""
        return self._data(attrs.EVENT_REQUESTED)

    @property
    def completed(self) -> Mapping[str, Any] | None:
        """Data of ``analysis.completed``: facts per feature, flags, duration."""
        return self._data(attrs.EVENT_COMPLETED)

    @property
    def filtered(self) -> Mapping[str, Any] | None:
        """Data of ``tags.filtered``, when the policy dropped tags."""
        return self._data(attrs.EVENT_TAGS_FILTERED)

    @property
    def required(self) -> Mapping[str, Any] | None:
        """Data of ``review.required``, when the policy flagged the result."""
        return self._data(attrs.EVENT_REVIEW_REQUIRED)

    @property
    def outcome(self) -> str | None:
        """How the call ended: the type of its completed, failed or denied event."""
        ends = (attrs.EVENT_COMPLETED, attrs.EVENT_FAILED, attrs.EVENT_DENIED)
        return next((r.event.type for r in self.events if r.event.type in ends), None)

    @property
    def content(self) -> Mapping[str, Any] | None:
        """Captured content (caption, read text...), if captured and not purged."""
        event = self._first(attrs.EVENT_COMPLETED)
        return None if event is None else event.content

    @property
    def gate_events(self) -> tuple[AuditEvent, ...]:
        """``review.gate_released`` and ``review.gate_timed_out`` events."""
        kinds = (attrs.EVENT_REVIEW_GATE_RELEASED, attrs.EVENT_REVIEW_GATE_TIMED_OUT)
        return tuple(r.event for r in self.events if r.event.type in kinds)

    # -- the review --------------------------------------------------------------------

    @property
    def review_required(self) -> bool:
        """True when the policy routed the analysis to review."""
        return self.required is not None

    @property
    def required_at(self) -> datetime | None:
        """When the analysis was flagged."""
        event = self._first(attrs.EVENT_REVIEW_REQUIRED)
        return None if event is None else event.time

    @property
    def due_at(self) -> datetime | None:
        """When a decision is due, if the policy sets a deadline."""
        deadline = _deadline(self.required)
        at = self.required_at
        return None if deadline is None or at is None else at + deadline

    @property
    def four_eyes(self) -> bool:
        """True when the policy bars the analysis' own actor from deciding it."""
        return _review_flag(self.required, "four_eyes")

    @property
    def gate(self) -> bool:
        """True when the call held its result for the decision."""
        return _review_flag(self.required, "gate")

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why the analysis was flagged."""
        review = (self.required or {}).get("review")
        return _strings(review.get("reasons")) if isinstance(review, dict) else ()

    @property
    def flags(self) -> tuple[str, ...]:
        """Sensitive-content flags raised (``people``, ``text``, ``health``...)."""
        source = self.required or self.completed or {}
        return _strings(source.get("flags"))

    @property
    def health_categories(self) -> tuple[str, ...]:
        """Health-related tags found."""
        return _strings((self.required or {}).get("health_categories"))

    @property
    def caption_flags(self) -> tuple[str, ...]:
        """Terms the lists refuse, found in captions."""
        source = self.required or self.filtered or {}
        return _strings(source.get("caption_flags"))

    def _tags(self, section: str, which: str) -> tuple[str, ...]:
        source = self.required or self.filtered or {}
        tags = source.get(section)
        return _names(tags.get(which)) if isinstance(tags, dict) else ()

    @property
    def tags_kept(self) -> tuple[str, ...]:
        """Tags the application received."""
        return self._tags("tags", "kept")

    @property
    def tags_dropped(self) -> tuple[str, ...]:
        """Tags the policy removed before the application saw the result."""
        return self._tags("tags", "dropped")

    @property
    def objects_kept(self) -> tuple[str, ...]:
        """Object tags the application received."""
        return self._tags("objects", "kept")

    @property
    def objects_dropped(self) -> tuple[str, ...]:
        """Object tags the policy removed."""
        return self._tags("objects", "dropped")

    @property
    def latest_decision(self) -> ReviewDecision | None:
        """The decision in force: the latest one recorded."""
        return self.decisions[-1] if self.decisions else None

    @property
    def status(self) -> str:
        """
        ``pending``, ``escalated``, ``approved``, ``rejected``, ``overridden``.

        ``not-required`` for an analysis never flagged nor decided.
        """
        latest = self.latest_decision
        if latest is not None:
            return _STATUS.get(latest.decision, latest.decision)
        return "pending" if self.review_required else "not-required"

    @property
    def pending(self) -> bool:
        """True while the analysis waits for a final decision."""
        return self.status in {"pending", "escalated"}

    @property
    def effective_tags(self) -> tuple[str, ...]:
        """The tags as the latest override leaves them (as delivered, otherwise)."""
        return effective_tags(self.tags_kept, self.latest_decision)

    def is_overdue(self, now: datetime) -> bool:
        """True when it is still pending and its deadline is before *now*."""
        due = self.due_at
        return self.pending and due is not None and due < now

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, as ``vision-audit review show --json`` prints it."""
        return {
            "analysis_id": self.analysis_id,
            "status": self.status,
            "purpose": self.purpose,
            "actor": self.actor,
            "consent_ref": self.consent_ref,
            "subject_ref": self.subject_ref,
            "policy_id": self.policy_id,
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "outcome": self.outcome,
            "required_at": _time(self.required_at),
            "due_at": _time(self.due_at),
            "reasons": list(self.reasons),
            "four_eyes": self.four_eyes,
            "gate": self.gate,
            "flags": list(self.flags),
            "health_categories": list(self.health_categories),
            "tags": {"kept": list(self.tags_kept), "dropped": list(self.tags_dropped)},
            "objects": {
                "kept": list(self.objects_kept),
                "dropped": list(self.objects_dropped),
            },
            "caption_flags": list(self.caption_flags),
            "effective_tags": list(self.effective_tags),
            "requested": None if self.requested is None else dict(self.requested),
            "completed": None if self.completed is None else dict(self.completed),
            "content": None if self.content is None else dict(self.content),
            "gate_events": [
                {"type": e.type, "time": _time(e.time), **e.data}
                for e in self.gate_events
            ],
            "decisions": [decision.as_dict() for decision in self.decisions],
        }


def effective_tags(
    delivered: Iterable[str], decision: ReviewDecision | None
) -> tuple[str, ...]:
    """
    *delivered* as an override leaves them: removed tags out, added tags in, at the end.

    Names compare case-insensitively. Any other decision leaves them as they are.

    .. versionadded:: 0.1.0
    """
    tags = list(delivered)
    if decision is None or decision.decision != "override":
        return tuple(tags)
    removed = {name.casefold() for name in decision.remove_tags}
    kept = [name for name in tags if name.casefold() not in removed]
    present = {name.casefold() for name in kept}
    for name in decision.add_tags:
        if name.casefold() not in present:
            kept.append(name)
            present.add(name.casefold())
    return tuple(kept)
