"""Reading the review queue from the audit store: pending items, cases, decisions."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Final

from vision_audit import attributes as attrs
from vision_audit.exceptions import ReviewError
from vision_audit.models import RecordedEvent, utc_now
from vision_audit.review._model import (
    PendingReview,
    ReviewCase,
    ReviewDecision,
    _deadline,
    _review_flag,
    _strings,
)
from vision_audit.store._reads import IndexedReads

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from vision_audit.models import AuditEvent
    from vision_audit.typing import AuditStore

__all__ = [
    "CLOCK_SLACK",
    "DEFAULT_POLL_INTERVAL",
    "analysis_events",
    "decision_history",
    "get_review",
    "latest_decisions",
    "list_pending_reviews",
    "wait_for_decision",
    "wait_for_decision_async",
]

DEFAULT_POLL_INTERVAL: Final = 0.5
"""Seconds between two looks at the store while waiting for a decision."""

CLOCK_SLACK: Final = timedelta(minutes=10)
"""
How far before an analysis' first event a wait still looks for its decisions.

A store without an index of analyses is read by event time; decisions are recorded
after the analysis, but possibly by a host whose clock is a little behind.
"""


def _check_now(now: datetime | None) -> datetime:
    if now is None:
        return utc_now()
    if now.tzinfo is None:
        msg = f"now must be timezone-aware, got {now!r}"
        raise ValueError(msg)
    return now


def _check_analysis_id(analysis_id: str) -> str:
    if not isinstance(analysis_id, str) or not analysis_id.strip():
        msg = "give the id of the analysis to review (it is empty)"
        raise ReviewError(msg, code="unknown-analysis")
    return analysis_id.strip()


def _unknown(analysis_id: str) -> ReviewError:
    msg = (
        f"no analysis {analysis_id!r} in the audit store: take the id from "
        "`vision-audit review list`, a log line's analysis_id or the span attribute "
        f"{attrs.ANALYSIS_ID}"
    )
    return ReviewError(msg, code="unknown-analysis", analysis_id=analysis_id)


def _decisions(
    events: Iterable[RecordedEvent | AuditEvent],
) -> Iterable[ReviewDecision]:
    for item in events:
        if isinstance(item, RecordedEvent):
            event, sequence = item.event, item.sequence
        else:
            event, sequence = item, None
        if event.type == attrs.EVENT_REVIEW_DECIDED and event.analysis_id:
            yield ReviewDecision.from_event(event, sequence=sequence)


def decision_history(
    events: Iterable[RecordedEvent | AuditEvent],
) -> dict[str, tuple[ReviewDecision, ...]]:
    """
    Every decision of each analysis, oldest first: corrections and what they corrected.

    Args:
        events: Events in sequence order, e.g. ``store.iter_events(...)``.

    Returns:
        The decisions by analysis id.

    .. versionadded:: 0.1.0
    """
    history: dict[str, list[ReviewDecision]] = {}
    for decision in _decisions(events):
        history.setdefault(decision.analysis_id, []).append(decision)
    return {key: tuple(value) for key, value in history.items()}


def latest_decisions(
    events: Iterable[RecordedEvent | AuditEvent],
) -> dict[str, ReviewDecision]:
    """
    The decision in force for each analysis: the latest one recorded.

    Reports count each analysis once, with this decision; a correction supersedes
    what it corrects, so the latest is the one that stands.

    Args:
        events: Events in sequence order, e.g. ``store.iter_events(...)``.

    Returns:
        The latest decision by analysis id.

    .. versionadded:: 0.1.0
    """
    return {decision.analysis_id: decision for decision in _decisions(events)}


def _pending(
    recorded: RecordedEvent, decision: ReviewDecision | None, now: datetime
) -> PendingReview:
    """The queue's item for a ``review.required`` event and its latest decision."""
    event = recorded.event
    deadline = _deadline(event.data)
    due = None if deadline is None else event.time + deadline
    review = event.data.get("review")
    return PendingReview(
        analysis_id=str(event.analysis_id),
        event_id=event.event_id,
        sequence=recorded.sequence,
        required_at=event.time,
        due_at=due,
        overdue=due is not None and due < now,
        escalated=decision is not None,
        purpose=event.purpose,
        actor=event.actor,
        consent_ref=event.consent_ref,
        policy_id=event.policy_id,
        reasons=_strings(review.get("reasons")) if isinstance(review, dict) else (),
        flags=_strings(event.data.get("flags")),
        four_eyes=_review_flag(event.data, "four_eyes"),
        gate=_review_flag(event.data, "gate"),
        latest_decision=decision,
    )


def list_pending_reviews(
    store: AuditStore,
    *,
    overdue_only: bool = False,
    now: datetime | None = None,
    purpose: str | None = None,
    limit: int | None = None,
    after: int | None = None,
) -> list[PendingReview]:
    """
    The review queue: flagged analyses without a final decision, oldest first.

    An analysis enters with its ``review.required`` event and leaves with its first
    approve, reject or override; an escalation keeps it in, marked escalated. A
    correction that escalates a decided analysis puts it back.

    The stores of :func:`~vision_audit.store.open_store` answer from their review
    index, in time that does not grow with the log; another :class:`AuditStore` is
    read whole.

    Args:
        store: The audit store.
        overdue_only: Only items whose deadline has passed.
        now: The time to judge deadlines by (timezone-aware); now by default.
        purpose: Only items of this purpose.
        limit: At most this many items.
        after: Only items flagged after this sequence number: the last item's
            ``sequence``, to read the next page.

    Returns:
        The pending items, in the order they were flagged.

    Raises:
        ValueError: *now* is naive, or *limit* is negative.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.3.0 *purpose*, *limit* and *after*; read from the index.
    """
    now = _check_now(now)
    if isinstance(store, IndexedReads):
        return [
            _pending(
                entry.required,
                None
                if entry.latest is None
                else ReviewDecision.from_event(
                    entry.latest.event, sequence=entry.latest.sequence
                ),
                now,
            )
            for entry in store.list_reviews(
                purpose=purpose,
                due_before=now if overdue_only else None,
                after=after,
                limit=limit,
            )
        ]
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int) or limit < 0
    ):
        msg = f"limit must be a whole number of 0 or more, not {limit!r}"
        raise ValueError(msg)
    required: dict[str, RecordedEvent] = {}
    latest: dict[str, ReviewDecision] = {}
    for recorded in store.iter_events():
        event = recorded.event
        if not event.analysis_id:
            continue
        if event.type == attrs.EVENT_REVIEW_REQUIRED:
            required.setdefault(event.analysis_id, recorded)
        elif event.type == attrs.EVENT_REVIEW_DECIDED:
            latest[event.analysis_id] = ReviewDecision.from_event(
                event, sequence=recorded.sequence
            )
    pending: list[PendingReview] = []
    for analysis_id, recorded in required.items():
        decision = latest.get(analysis_id)
        if decision is not None and decision.final:
            continue
        item = _pending(recorded, decision, now)
        if (
            (overdue_only and not item.overdue)
            or (purpose is not None and item.purpose != purpose)
            or (after is not None and item.sequence <= after)
        ):
            continue
        pending.append(item)
    return pending if limit is None else pending[:limit]


def analysis_events(store: AuditStore, analysis_id: str) -> list[RecordedEvent]:
    """Every event of one analysis: from the index when the store keeps one."""
    if isinstance(store, IndexedReads):
        return store.get_analysis_events(analysis_id)
    return [r for r in store.iter_events() if r.event.analysis_id == analysis_id]


def get_review(store: AuditStore, analysis_id: str) -> ReviewCase:
    """
    The case of one analysis: its facts, flags, tags, content and decision history.

    Read through the store's index of analyses when it keeps one.

    Args:
        store: The audit store.
        analysis_id: The analysis (``get_audit_id(result)``, or from the queue).

    Returns:
        The case, whether or not the analysis was flagged for review.

    Raises:
        ReviewError: The store holds no event of that analysis
            (``code="unknown-analysis"``).

    .. versionadded:: 0.1.0
    """
    analysis_id = _check_analysis_id(analysis_id)
    events: list[RecordedEvent] = []
    decisions: list[ReviewDecision] = []
    for recorded in analysis_events(store, analysis_id):
        event = recorded.event
        if event.type == attrs.EVENT_REVIEW_DECIDED:
            decisions.append(
                ReviewDecision.from_event(event, sequence=recorded.sequence)
            )
        else:
            events.append(recorded)
    if not events and not decisions:
        raise _unknown(analysis_id)
    return ReviewCase(
        analysis_id=analysis_id, events=tuple(events), decisions=tuple(decisions)
    )


class _Watch:
    """One wait for a final decision: remembers how far back the store must be read."""

    def __init__(
        self, store: AuditStore, analysis_id: str, since: datetime | None
    ) -> None:
        """Watch *analysis_id* in *store*, reading from *since* when it is known."""
        self.store = store
        self.analysis_id = analysis_id
        self.since = since
        self.known = since is not None

    def look(self) -> ReviewDecision | None:
        """The decision in force, if it is final; learns where the analysis starts."""
        latest: ReviewDecision | None = None
        indexed = isinstance(self.store, IndexedReads)
        found = (
            analysis_events(self.store, self.analysis_id)
            if indexed
            else self.store.iter_events(since=self.since)
        )
        for recorded in found:
            event = recorded.event
            if event.analysis_id != self.analysis_id:
                continue
            if not self.known:
                self.known = True
                self.since = event.time - CLOCK_SLACK
            if event.type == attrs.EVENT_REVIEW_DECIDED:
                latest = ReviewDecision.from_event(event, sequence=recorded.sequence)
        if not self.known:
            raise _unknown(self.analysis_id)
        return latest if latest is not None and latest.final else None


def _check_wait(timeout: float, poll_interval: float) -> None:
    if timeout < 0:
        msg = f"timeout must be 0 or more seconds, got {timeout!r}"
        raise ValueError(msg)
    if poll_interval <= 0:
        msg = f"poll_interval must be more than 0 seconds, got {poll_interval!r}"
        raise ValueError(msg)


def wait_for_decision(
    store: AuditStore,
    analysis_id: str,
    *,
    timeout: float,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    since: datetime | None = None,
) -> ReviewDecision | None:
    """
    Wait until the analysis has a final decision, or *timeout* seconds pass.

    Returns at once when it is already decided. An escalation does not end the
    wait: someone else is to decide. Decisions recorded by other threads, processes
    or hosts sharing the store count alike.

    Args:
        store: The audit store.
        analysis_id: The analysis awaited.
        timeout: Seconds to wait at most; 0 looks once.
        poll_interval: Seconds between two looks at the store.
        since: Read the store from this time on (the analysis' first event, or a
            little before); found on the first look when not given.

    Returns:
        The decision in force (approve, reject or override), or None on timeout.

    Raises:
        ReviewError: The store holds no event of that analysis
            (``code="unknown-analysis"``).
        ValueError: *timeout* is negative or *poll_interval* not positive.

    .. versionadded:: 0.1.0
    """
    _check_wait(timeout, poll_interval)
    watch = _Watch(store, _check_analysis_id(analysis_id), since)
    ends = time.monotonic() + timeout
    while True:
        decision = watch.look()
        remaining = ends - time.monotonic()
        if decision is not None or remaining <= 0:
            return decision
        time.sleep(min(poll_interval, remaining))


async def wait_for_decision_async(
    store: AuditStore,
    analysis_id: str,
    *,
    timeout: float,  # noqa: ASYNC109 - the same arguments as its sync twin
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    since: datetime | None = None,
) -> ReviewDecision | None:
    """
    The asyncio twin of :func:`wait_for_decision`: sleeps without blocking the loop.

    Each look at the store is a short read; the waiting in between is
    ``asyncio.sleep``.

    .. versionadded:: 0.1.0
    """
    _check_wait(timeout, poll_interval)
    watch = _Watch(store, _check_analysis_id(analysis_id), since)
    ends = time.monotonic() + timeout
    while True:
        decision = watch.look()
        remaining = ends - time.monotonic()
        if decision is not None or remaining <= 0:
            return decision
        await asyncio.sleep(min(poll_interval, remaining))
