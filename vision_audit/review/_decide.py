"""Recording a review decision: checks, a span linked to the analysis, the event."""

from __future__ import annotations

import os
import unicodedata
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import (
    Link,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)

from vision_audit import attributes as attrs
from vision_audit._settings import Settings
from vision_audit._text import MULTI_LINE, first_control, show_char
from vision_audit.exceptions import AuditWriteError, ReviewError
from vision_audit.models import AuditEvent, utc_now
from vision_audit.review._model import DECISIONS, ReviewCase
from vision_audit.review._queue import CLOCK_SLACK, analysis_events, get_review
from vision_audit.sinks import Recorder
from vision_audit.store._base import BaseAuditStore
from vision_audit.store._reads import IndexedReads
from vision_audit.version import __version__

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from datetime import datetime

    from opentelemetry.trace import Span, TracerProvider

    from vision_audit.models import RecordedEvent
    from vision_audit.policy import Policy
    from vision_audit.typing import AuditStore

__all__ = ["analysis_link", "record_review_decision"]


def analysis_link(
    analysis_id: str, trace_id: str | None, span_id: str | None
) -> Link | None:
    """
    A span link to the analysis span whose ids the audit store recorded.

    None when the analysis was not traced (no recording span) or the ids are bad.

    .. versionadded:: 0.1.0
    """
    if not trace_id or not span_id:
        return None
    try:
        context = SpanContext(
            trace_id=int(trace_id, 16),
            span_id=int(span_id, 16),
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
    except ValueError:
        return None
    if not context.is_valid:
        return None
    return Link(context, {attrs.ANALYSIS_ID: analysis_id})


def _tags(values: Iterable[str], name: str, analysis_id: str) -> tuple[str, ...]:
    if isinstance(values, str):
        values = (values,)
    tags: list[str] = []
    seen: set[str] = set()
    for value in values:
        if not isinstance(value, str) or not value.strip():
            msg = f"{name} holds an empty or non-text tag: {value!r}"
            raise ReviewError(msg, code="bad-tag", analysis_id=analysis_id)
        _refuse_controls(value, name=name, analysis_id=analysis_id)
        tag = " ".join(value.split())
        if tag.casefold() not in seen:
            seen.add(tag.casefold())
            tags.append(tag)
    return tuple(tags)


def _refuse_controls(
    value: str,
    *,
    name: str,
    analysis_id: str,
    allowed: frozenset[str] = frozenset(),
) -> None:
    """
    Refuse control characters, which could forge or recolour what a reviewer reads.

    Raises:
        ReviewError: Code ``control-characters``, naming the field and character.
    """
    found = first_control(value, allowed)
    if found is not None:
        where = "new lines and tabs only" if allowed else "none"
        msg = (
            f"{name} of the decision on analysis {analysis_id} holds the control "
            f"character {show_char(found)}; {where} accepted"
        )
        raise ReviewError(msg, code="control-characters", analysis_id=analysis_id)


def _unchanged(
    store: AuditStore,
    case: ReviewCase,
    read_at: datetime,
    *,
    reviewer: str,
    decision: str,
    supersedes: str | None,
    four_eyes: bool,
) -> Callable[[], None]:
    """
    A check that no decision on the case was recorded since it was read.

    Run inside the store's write transaction, so that two reviewers deciding one
    case at once cannot both record a final decision that supersedes nothing: the
    second is checked against the first, and refused as ``already-decided``.
    """
    known = {decision.event_id for decision in case.decisions}

    def check() -> None:
        found = (
            analysis_events(store, case.analysis_id)
            if isinstance(store, IndexedReads)
            else store.iter_events(since=read_at - CLOCK_SLACK)
        )
        for recorded in found:
            event = recorded.event
            if (
                event.type == attrs.EVENT_REVIEW_DECIDED
                and event.analysis_id == case.analysis_id
                and event.event_id not in known
            ):
                fresh = get_review(store, case.analysis_id)
                _check_four_eyes(fresh, reviewer, decision, required=four_eyes)
                _check_supersedes(fresh, supersedes)
                return

    return check


def _record(
    store: AuditStore,
    recorder: Recorder,
    event: AuditEvent,
    span: Span,
    *,
    check: Callable[[], None],
) -> RecordedEvent | None:
    """Record *event* if *check* passes in the write transaction, then log it."""
    if not isinstance(store, BaseAuditStore):  # another store: no such transaction
        check()
        return recorder.record(event, span)
    try:
        recorded = store.append_checked(event, check)
    except ReviewError:
        raise
    except Exception as err:  # as Recorder.store: any failure is a lost event
        if isinstance(err, AuditWriteError):
            raise
        msg = f"audit event {event.type} ({event.event_id}) was not recorded: {err}"
        raise AuditWriteError(msg) from err
    recorder.telemetry(event, recorded, span)
    return recorded


def _check_arguments(
    analysis_id: str,
    *,
    decision: str,
    reviewer: str,
    rationale: str,
    add_tags: tuple[str, ...],
    remove_tags: tuple[str, ...],
) -> None:
    if decision not in DECISIONS:
        msg = (
            f"unknown decision {decision!r} for analysis {analysis_id}: use one of "
            f"{', '.join(DECISIONS)}"
        )
        raise ReviewError(msg, code="unknown-decision", analysis_id=analysis_id)
    if not isinstance(reviewer, str) or not reviewer.strip():
        msg = f"a decision on analysis {analysis_id} needs the reviewer's identity"
        raise ReviewError(msg, code="reviewer-missing", analysis_id=analysis_id)
    if not isinstance(rationale, str) or not rationale.strip():
        msg = (
            f"a decision on analysis {analysis_id} needs a rationale: say why you "
            f"{decision}"
        )
        raise ReviewError(msg, code="rationale-missing", analysis_id=analysis_id)
    _refuse_controls(reviewer, name="reviewer", analysis_id=analysis_id)
    _refuse_controls(
        rationale, name="rationale", analysis_id=analysis_id, allowed=MULTI_LINE
    )
    changes = bool(add_tags or remove_tags)
    if decision == "override" and not changes:
        msg = (
            f"an override of analysis {analysis_id} must add or remove at least one "
            "tag (add_tags, remove_tags)"
        )
        raise ReviewError(msg, code="tags-missing", analysis_id=analysis_id)
    if decision != "override" and changes:
        msg = (
            f"only an override changes tags; {decision} of analysis {analysis_id} "
            "was given add_tags or remove_tags"
        )
        raise ReviewError(msg, code="tags-not-allowed", analysis_id=analysis_id)


def _four_eyes(case: ReviewCase, policy: Policy | None) -> bool:
    if case.four_eyes:
        return True
    if policy is None:
        return False
    purpose = policy.get_purpose(case.purpose)
    return purpose is not None and purpose.review.four_eyes


def same_person(one: str, other: str) -> bool:
    """
    Whether two names name one person, as far as their spelling can tell.

    Compared after NFKC normalisation and case folding, with invisible characters
    and white space removed and every kind of dash made ``-``: the full-width
    letters of ``nurse-7``, its non-breaking hyphen, or a zero-width space in it
    make no other name.
    """

    def fold(name: str) -> str:
        folded = unicodedata.normalize("NFKC", name).casefold()
        return "".join(
            "-" if category == "Pd" else char
            for char in folded
            if (category := unicodedata.category(char)) not in {"Cf", "Zs", "Cc"}
        )

    return fold(one) == fold(other)


def _check_four_eyes(
    case: ReviewCase, reviewer: str, decision: str, *, required: bool
) -> None:
    actor = case.actor
    if required and actor is not None and same_person(actor, reviewer):
        msg = (
            f"four eyes: {reviewer!r} made analysis {case.analysis_id} (its actor) "
            f"and may not decide it; the policy for purpose {case.purpose!r} asks "
            "for another reviewer"
        )
        raise ReviewError(msg, code="four-eyes", analysis_id=case.analysis_id)
    latest = case.latest_decision
    if (
        decision != "escalate"
        and latest is not None
        and latest.decision == "escalate"
        and same_person(latest.reviewer, reviewer)
    ):
        msg = (
            f"{reviewer!r} escalated analysis {case.analysis_id} for someone else "
            "to decide, and may not decide it now; another reviewer must"
        )
        raise ReviewError(msg, code="escalated-by-you", analysis_id=case.analysis_id)


def _check_under_review(case: ReviewCase) -> None:
    if case.required is None:
        msg = (
            f"analysis {case.analysis_id} was never sent to review (no "
            "review.required event): there is nothing to decide"
        )
        raise ReviewError(msg, code="not-under-review", analysis_id=case.analysis_id)


def _check_added_tags(
    case: ReviewCase, added: tuple[str, ...], policy: Policy | None
) -> None:
    """An override may not add what the purpose's tag lists refuse."""
    purpose = policy.get_purpose(case.purpose) if policy is not None else None
    if purpose is None or not added:
        return
    for tag in added:
        verdict = purpose.tags.judge(tag, 1.0)
        if not verdict.kept:
            msg = (
                f"an override of analysis {case.analysis_id} may not add {tag!r}: "
                f"the tag lists of purpose {case.purpose!r} refuse it ({verdict.rule})"
            )
            raise ReviewError(msg, code="tag-not-allowed", analysis_id=case.analysis_id)


def _check_supersedes(case: ReviewCase, supersedes: str | None) -> None:
    latest = case.latest_decision
    if supersedes is None:
        if latest is not None and latest.final:
            msg = (
                f"analysis {case.analysis_id} was already decided: {latest.decision} "
                f"by {latest.reviewer} at {latest.time.isoformat()} (event "
                f"{latest.event_id}); to correct it, record a new decision that "
                f"supersedes {latest.event_id}"
            )
            raise ReviewError(msg, code="already-decided", analysis_id=case.analysis_id)
        return
    ids = {decision.event_id: decision for decision in case.decisions}
    if supersedes not in ids:
        msg = (
            f"supersedes names {supersedes!r}, which is no decision of analysis "
            f"{case.analysis_id}; its decisions are: "
            f"{', '.join(ids) or 'none yet'}"
        )
        raise ReviewError(
            msg, code="unknown-decision-event", analysis_id=case.analysis_id
        )
    if latest is not None and supersedes != latest.event_id:
        msg = (
            f"supersedes names {supersedes}, but the decision in force on analysis "
            f"{case.analysis_id} is {latest.event_id} ({latest.decision} by "
            f"{latest.reviewer}): a correction supersedes the latest decision"
        )
        raise ReviewError(msg, code="not-latest-decision", analysis_id=case.analysis_id)


def _resolve_policy(policy: Policy | str | os.PathLike[str] | None) -> Policy | None:
    if policy is None or not isinstance(policy, str | os.PathLike):
        return policy
    from vision_audit.policy import load_policy  # noqa: PLC0415 - only when asked

    return load_policy(policy)


def _decision_attributes(
    case: ReviewCase, data: dict[str, Any], reviewer: str
) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        attrs.OPENINFERENCE_SPAN_KIND: attrs.REVIEW_SPAN_KIND_VALUE,
        attrs.ANALYSIS_ID: case.analysis_id,
        attrs.REVIEW_DECISION: data["decision"],
        attrs.REVIEW_REVIEWER: reviewer,
        attrs.REVIEW_FOUR_EYES: data["four_eyes"],
        attrs.REVIEW_OVERDUE: data["overdue"],
    }
    if data["supersedes"] is not None:
        attributes[attrs.REVIEW_SUPERSEDES] = data["supersedes"]
    if data["add_tags"]:
        attributes[attrs.REVIEW_TAGS_ADDED] = list(data["add_tags"])
    if data["remove_tags"]:
        attributes[attrs.REVIEW_TAGS_REMOVED] = list(data["remove_tags"])
    if case.purpose is not None:
        attributes[attrs.PURPOSE] = case.purpose
    if case.policy_id is not None:
        attributes[attrs.POLICY_ID] = case.policy_id
    return attributes


def record_review_decision(
    store: AuditStore,
    analysis_id: str,
    *,
    decision: str,
    reviewer: str,
    rationale: str,
    add_tags: Iterable[str] = (),
    remove_tags: Iterable[str] = (),
    supersedes: str | None = None,
    policy: Policy | str | os.PathLike[str] | None = None,
    tracer_provider: TracerProvider | None = None,
) -> RecordedEvent:
    """
    Record a human decision on an analysis, as an append-only ``review.decided`` event.

    The decision runs in a span of its own, ``vision_audit.review.decide``, with a
    span link to the analysis span (from the trace and span ids in the store), so a
    trace viewer shows them together; the event is also logged as a structured
    record on the ``vision_audit.audit`` logger. A decision is never changed: to
    correct one, record a new decision whose *supersedes* names it; the latest
    decision wins and the history stays.

    Args:
        store: The audit store that holds the analysis.
        analysis_id: The analysis decided.
        decision: ``approve``, ``reject``, ``override`` (with tag changes) or
            ``escalate`` (someone else is to decide; it stays in the queue).
        reviewer: Who decides (required, not empty).
        rationale: Why (required, not empty).
        add_tags: Tags an override adds to the result.
        remove_tags: Tags an override removes from it.
        supersedes: Event id of the decision this one corrects; required when the
            analysis already has a final decision, and it must be the latest.
        policy: The policy in force (or its file): its review rule for the
            analysis' purpose may ask for four eyes too. The rule recorded with
            ``review.required`` always applies.
        tracer_provider: For the decision's span; the global provider by default.

    Returns:
        The ``review.decided`` event as the store recorded it.

    Raises:
        ReviewError: The decision is refused, nothing recorded; ``code`` says why
            (``unknown-analysis``, ``four-eyes``, ``rationale-missing``...).
        PolicyError: *policy* names a file that is missing or invalid.
        AuditWriteError: The store could not record it.

    .. versionadded:: 0.1.0
    """
    analysis_id = analysis_id.strip() if isinstance(analysis_id, str) else ""
    added = _tags(add_tags, "add_tags", analysis_id)
    removed = _tags(remove_tags, "remove_tags", analysis_id)
    _check_arguments(
        analysis_id,
        decision=decision,
        reviewer=reviewer,
        rationale=rationale,
        add_tags=added,
        remove_tags=removed,
    )
    reviewer = reviewer.strip()
    resolved = _resolve_policy(policy)
    read_at = utc_now()
    case = get_review(store, analysis_id)
    _check_under_review(case)
    four_eyes = _four_eyes(case, resolved)
    _check_four_eyes(case, reviewer, decision, required=four_eyes)
    _check_supersedes(case, supersedes)
    _check_added_tags(case, added, resolved)

    now = utc_now()
    due = case.due_at
    required_at = case.required_at
    data: dict[str, Any] = {
        "decision": decision,
        "reviewer": reviewer,
        "rationale": rationale.strip(),
        "add_tags": list(added),
        "remove_tags": list(removed),
        "supersedes": supersedes,
        "four_eyes": four_eyes,
        "overdue": due is not None and now > due,
        "decided_after_seconds": None
        if required_at is None
        else round((now - required_at).total_seconds(), 3),
        "analysis_span": {"trace_id": case.trace_id, "span_id": case.span_id},
    }
    tracer = trace.get_tracer(
        attrs.INSTRUMENTATION_SCOPE, __version__, tracer_provider=tracer_provider
    )
    link = analysis_link(analysis_id, case.trace_id, case.span_id)
    recorder = Recorder(
        Settings(
            store=store,
            audit_failure="raise",
            capture_content=False,
            people_threshold=0.5,
            tracer_provider=tracer_provider,
            logger_provider=None,
        )
    )
    with tracer.start_as_current_span(
        attrs.SPAN_NAME_REVIEW_DECIDE,
        kind=SpanKind.INTERNAL,
        links=[link] if link is not None else None,
        attributes=_decision_attributes(case, data, reviewer),
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        context = span.get_span_context()
        event = AuditEvent(
            type=attrs.EVENT_REVIEW_DECIDED,
            time=now,
            analysis_id=analysis_id,
            trace_id=format(context.trace_id, "032x") if context.is_valid else None,
            span_id=format(context.span_id, "016x") if context.is_valid else None,
            actor=reviewer,
            purpose=case.purpose,
            consent_ref=case.consent_ref,
            policy_id=resolved.policy_id if resolved is not None else case.policy_id,
            data=data,
        )
        try:
            recorded = _record(
                store,
                recorder,
                event,
                span,
                check=_unchanged(
                    store,
                    case,
                    read_at,
                    reviewer=reviewer,
                    decision=decision,
                    supersedes=supersedes,
                    four_eyes=four_eyes,
                ),
            )
        except AuditWriteError as err:
            if span.is_recording():
                span.set_status(Status(StatusCode.ERROR, type(err).__name__))
                span.set_attribute(attrs.ERROR_TYPE, type(err).__qualname__)
            raise
    if recorded is None:  # pragma: no cover - raise mode never returns None
        msg = f"the decision on analysis {analysis_id} was not recorded"
        raise AuditWriteError(msg)
    return recorded
