"""
Human in the loop: the review queue, recorded decisions, and the real-time gate.

A policy routes results to review (``[purposes.<name>.review]``); each routed
analysis gets a ``review.required`` event in the audit store and joins the queue.
A reviewer reads the case, decides, and the decision is recorded for good as a
``review.decided`` event bound to the analysis, in a span of its own linked to the
analysis span::

    from vision_audit.review import (
        get_review, list_pending_reviews, record_review_decision, wait_for_decision,
    )

    for item in list_pending_reviews(store, overdue_only=False):
        case = get_review(store, item.analysis_id)
        case.flags, case.tags_kept, case.tags_dropped, case.content, case.decisions

    recorded = record_review_decision(
        store, item.analysis_id,
        decision="override", reviewer="dr-okafor",
        rationale="the wristband is a visitor badge",
        remove_tags=["wristband"],
    )

    # a correction: a new decision superseding the one in force
    record_review_decision(
        store, item.analysis_id, decision="approve", reviewer="dr-okafor",
        rationale="re-read the form: the tags were right",
        supersedes=recorded.event.event_id,
    )

    decision = wait_for_decision(store, analysis_id, timeout=60)   # None on timeout

From the command line: ``vision-audit review list [--overdue]``,
``vision-audit review show ID`` and ``vision-audit review decide ID --decision ...
--reviewer WHO --rationale TEXT``.

Decisions
---------

``approve`` (the result stands), ``reject`` (it must not be used), ``override`` (it
stands with the tags the reviewer adds and removes; at least one change), and
``escalate`` (someone else must decide: the analysis stays in the queue, marked
escalated). A reviewer identity and a rationale are required. Decisions are
append-only: once an analysis has a final decision, a new one must name it in
``supersedes``; the latest decision wins (:func:`latest_decisions`) and the history
stays (:func:`decision_history`, :attr:`ReviewCase.decisions`).

When the review rule asks for four eyes (``four_eyes = true``, recorded with
``review.required``, or in the *policy* given to :func:`record_review_decision`),
the analysis' own actor (``audit_context(actor=...)``) may not decide it, whatever
the spelling (case, full-width letters, dashes, invisible characters). Who escalated
a case may not then decide it. Only analyses sent to review (``review.required``) can
be decided. With the *policy* given, an override may not add a tag the purpose's
lists refuse. A ``deadline`` makes items overdue once it has passed
(``overdue_only=True``).

The gate
--------

With ``gate = true`` in a purpose's review rule, an instrumented ``analyze`` call
whose result is routed to review holds the result (after recording
``analysis.completed``) until a final decision arrives, or ``gate_timeout`` passes:

- approve: the result is returned; override: it is returned corrected (removed
  tags and the objects they name are cut, added tags join with confidence 1.0);
  reject: :class:`~vision_audit.ReviewWithheldError` is raised;
- no decision in time: ``gate_default = "release"`` returns the result,
  ``"withhold"`` (the default) raises :class:`~vision_audit.ReviewWithheldError`.

A ``review.gate_released`` or ``review.gate_timed_out`` event records which, with
how long the call waited. The aio client waits with ``asyncio.sleep``, never
blocking the event loop. The decision may come from any thread, process or host
that shares the audit store.

Reading the store
-----------------

The stores of :func:`~vision_audit.store.open_store` keep two indexes beside the log,
in the transaction of each append: the events of each analysis, and the review
queue (where each flagged analysis stands). A case, a page of the queue, a wait or a
decision's check then costs the same in a log of a thousand events or of a million.
Another :class:`~vision_audit.typing.AuditStore` is read with ``iter_events()``: whole
for the queue and a case, since the analysis (less :data:`CLOCK_SLACK`) while waiting.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from vision_audit.exceptions import ReviewError, ReviewWithheldError
from vision_audit.review._decide import record_review_decision
from vision_audit.review._model import (
    DECISIONS,
    FINAL_DECISIONS,
    Decision,
    PendingReview,
    ReviewCase,
    ReviewDecision,
    effective_tags,
)
from vision_audit.review._queue import (
    CLOCK_SLACK,
    DEFAULT_POLL_INTERVAL,
    decision_history,
    get_review,
    latest_decisions,
    list_pending_reviews,
    wait_for_decision,
    wait_for_decision_async,
)

__all__ = [
    "CLOCK_SLACK",
    "DECISIONS",
    "DEFAULT_POLL_INTERVAL",
    "FINAL_DECISIONS",
    "Decision",
    "PendingReview",
    "ReviewCase",
    "ReviewDecision",
    "ReviewError",
    "ReviewWithheldError",
    "decision_history",
    "effective_tags",
    "get_review",
    "latest_decisions",
    "list_pending_reviews",
    "record_review_decision",
    "wait_for_decision",
    "wait_for_decision_async",
]
