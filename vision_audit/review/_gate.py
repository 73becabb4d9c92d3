"""The review gate: an instrumented call holds its result until a human has decided."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, Final

from opentelemetry.trace import Status, StatusCode

from vision_audit import attributes as attrs
from vision_audit._threads import off_loop
from vision_audit.exceptions import ReviewWithheldError
from vision_audit.models import AuditEvent, utc_now
from vision_audit.policy.tags import normalize_term
from vision_audit.review._queue import CLOCK_SLACK, _Watch

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from vision_audit.context import AuditContext
    from vision_audit.models import AnalysisCall
    from vision_audit.policy import PostOutcome, ReviewRule, TagFilter
    from vision_audit.review._model import ReviewDecision
    from vision_audit.sinks import Recorder
    from vision_audit.typing import AuditStore

__all__ = ["GATE_POLL_INTERVAL", "ReviewGate", "open_review_gate"]

GATE_POLL_INTERVAL: Final = 0.25
"""Seconds between two looks at the store while a gated call waits."""

RELEASE: Final = "release"
WITHHOLD: Final = "withhold"
ABANDONED: Final = "abandoned"
"""The caller stopped waiting (cancelled, interrupted): nothing was given it."""

_internal = logging.getLogger("vision_audit")


def _fold(name: object) -> str:
    return normalize_term(str(name))


def _values(result: MutableMapping[str, Any], key: str) -> list[Any] | None:
    # The SDK's result hands out live lists: changing them is what the app sees.
    section = result.get(key)
    values = section.get("values") if isinstance(section, Mapping) else None
    return values if isinstance(values, list) else None


def _sdk_models() -> tuple[Any, Any] | None:
    # Results are the SDK's models: what is added must be one too, to read back.
    try:
        from azure.ai.vision.imageanalysis.models import (  # noqa: PLC0415
            DetectedTag,
            TagsResult,
        )
    except ImportError:  # pragma: no cover - instrumented calls have the SDK
        return None
    return DetectedTag, TagsResult


def _new_tag(name: str) -> Any:  # noqa: ANN401 - the SDK's model, or a dict
    models = _sdk_models()
    if models is None:  # pragma: no cover - instrumented calls have the SDK
        return {"name": name, "confidence": 1.0}
    return models[0](name=name, confidence=1.0)


def _new_tags_section() -> Any:  # noqa: ANN401 - the SDK's model, or a dict
    models = _sdk_models()
    if models is None:  # pragma: no cover - instrumented calls have the SDK
        return {"values": []}
    return models[1](list=[])


def apply_override(
    result: object,
    decision: ReviewDecision,
    tag_filter: TagFilter | None = None,
) -> dict[str, list[str]]:
    """
    Correct *result* in place as an override says; the application sees the change.

    Removed tags leave the tags and the detected objects named by them; added tags
    join the tags with confidence 1.0, a human's word, unless *tag_filter* (the
    purpose's lists) refuses them: a decision cannot hand the application a tag
    the policy blocks. The result keeps its type.

    Returns:
        What was removed, added and refused, for the gate's event.
    """
    changed: dict[str, list[str]] = {"removed": [], "added": [], "refused": []}
    if not isinstance(result, MutableMapping):
        return changed
    removed = {_fold(name) for name in decision.remove_tags}
    tags = _values(result, "tagsResult")
    if tags is not None and removed:
        changed["removed"] = [
            t["name"] for t in tags if _fold(t.get("name")) in removed
        ]
        tags[:] = [t for t in tags if _fold(t.get("name")) not in removed]
    objects = _values(result, "objectsResult")
    if objects is not None and removed:
        objects[:] = [
            o
            for o in objects
            if not any(_fold(t.get("name")) in removed for t in o.get("tags", ()))
        ]
    if decision.add_tags:
        if tags is None:
            result["tagsResult"] = _new_tags_section()
            tags = _values(result, "tagsResult")
            if tags is None:  # pragma: no cover - the section was just made
                return changed
        present = {_fold(t.get("name")) for t in tags}
        for name in decision.add_tags:
            if tag_filter is not None and not tag_filter.judge(name, 1.0).kept:
                changed["refused"].append(name)
                continue
            if _fold(name) not in present:
                tags.append(_new_tag(name))
                present.add(_fold(name))
                changed["added"].append(name)
    return changed


class ReviewGate:
    """
    One gated result: waits for a final decision or the timeout, then acts and records.

    A decision to approve releases the result; to override releases it corrected; to
    reject withholds it; an escalation keeps the gate waiting. Without a decision
    in time the rule's ``gate_default`` applies. Either way a ``review.gate_released``
    or ``review.gate_timed_out`` event says what was done.
    """

    def __init__(
        self,
        *,
        recorder: Recorder,
        store: AuditStore,
        span: Span,
        envelope: Mapping[str, Any],
        rule: ReviewRule,
        poll_interval: float = GATE_POLL_INTERVAL,
        tag_filter: TagFilter | None = None,
    ) -> None:
        """Start the clock; decisions are looked for from now (less the clock slack)."""
        self._tag_filter = tag_filter
        self._recorder = recorder
        self._span = span
        self._envelope = dict(envelope)
        self._rule = rule
        self._poll_interval = poll_interval
        self.analysis_id = str(envelope["analysis_id"])
        self.timeout = rule.gate_timeout.total_seconds()
        self._watch = _Watch(store, self.analysis_id, utc_now() - CLOCK_SLACK)
        self._started = time.monotonic()

    def _look(self) -> ReviewDecision | None:
        try:
            return self._watch.look()
        except Exception:  # noqa: BLE001 - an unreadable store is no decision yet
            _internal.exception(
                "vision-audit review gate could not read the store for %s",
                self.analysis_id,
            )
            return None

    def hold(self, result: object) -> None:
        """
        Wait (blocking) for the decision, then release or withhold *result*.

        Raises:
            ReviewWithheldError: The result is withheld (rejected, or timed out
                with ``gate_default = "withhold"``).
            AuditWriteError: What was done could not be recorded, in fail-closed
                mode; the result is not returned.
        """
        ends = self._started + self.timeout
        try:
            while True:
                decision = self._look()
                remaining = ends - time.monotonic()
                if decision is not None or remaining <= 0:
                    break
                time.sleep(min(self._poll_interval, remaining))
        except BaseException as err:  # interrupted while waiting: say so, go on
            self._abandon(err)
            raise
        self._settle(result, decision)

    async def hold_async(self, result: object) -> None:
        """
        The asyncio twin of :meth:`hold`: waits with ``asyncio.sleep``.

        Raises:
            ReviewWithheldError: As :meth:`hold`.
            AuditWriteError: As :meth:`hold`.
        """
        ends = self._started + self.timeout
        try:
            while True:
                decision = await off_loop(
                    self._look
                )  # store reads and writes: off the loop
                remaining = ends - time.monotonic()
                if decision is not None or remaining <= 0:
                    break
                await asyncio.sleep(min(self._poll_interval, remaining))
        except BaseException as err:  # cancelled while waiting: say so, go on
            self._abandon(err)
            raise
        await off_loop(self._settle, result, decision)

    def _abandon(self, error: BaseException) -> None:
        """
        Record that the wait ended without a decision and the result was not given.

        A cancelled task or an interrupted thread leaves the gate early; the
        ``review.gate_timed_out`` event (action ``abandoned``) keeps the trail
        whole. Its failure is logged: the interruption goes on either way.
        """
        waited = time.monotonic() - self._started
        data: dict[str, Any] = {
            "timeout_seconds": self.timeout,
            "waited_seconds": round(waited, 3),
            "gate_default": self._rule.gate_default,
            "action": ABANDONED,
            "error_type": type(error).__qualname__,
        }
        try:
            if self._span.is_recording():
                self._span.set_attributes(
                    {
                        attrs.REVIEW_GATE_ACTION: ABANDONED,
                        attrs.REVIEW_GATE_TIMED_OUT: False,
                        attrs.REVIEW_GATE_WAITED_MS: waited * 1000,
                    }
                )
            self._recorder.record(
                AuditEvent(
                    type=attrs.EVENT_REVIEW_GATE_TIMED_OUT,
                    data=data,
                    **self._envelope,
                ),
                self._span,
            )
        except Exception:  # noqa: BLE001 - the interruption must go on
            _internal.exception(
                "vision-audit could not record the abandoned gate of %s",
                self.analysis_id,
            )

    def _settle(self, result: object, decision: ReviewDecision | None) -> None:
        waited = time.monotonic() - self._started
        data: dict[str, Any] = {
            "timeout_seconds": self.timeout,
            "waited_seconds": round(waited, 3),
            "gate_default": self._rule.gate_default,
        }
        if decision is None:
            kind = attrs.EVENT_REVIEW_GATE_TIMED_OUT
            action = self._rule.gate_default
        else:
            kind = attrs.EVENT_REVIEW_GATE_RELEASED
            action = WITHHOLD if decision.decision == "reject" else RELEASE
            data.update(
                decision=decision.decision,
                decision_event_id=decision.event_id,
                reviewer=decision.reviewer,
            )
            if decision.decision == "override":
                data["applied"] = apply_override(result, decision, self._tag_filter)
        data["action"] = action
        span = self._span
        if span.is_recording():
            span.set_attributes(
                {
                    attrs.REVIEW_GATE_ACTION: action,
                    attrs.REVIEW_GATE_TIMED_OUT: decision is None,
                    attrs.REVIEW_GATE_WAITED_MS: waited * 1000,
                }
            )
            if decision is not None:
                span.set_attribute(attrs.REVIEW_DECISION, decision.decision)
        self._recorder.record(
            AuditEvent(type=kind, data=data, **self._envelope), self._span
        )
        if action == RELEASE:
            return
        if decision is None:
            msg = (
                f"the result of analysis {self.analysis_id} is withheld: no review "
                f"decision within {self.timeout:g}s, and the policy's gate_default "
                "is withhold"
            )
            reason = "timeout"
        else:
            msg = (
                f"the result of analysis {self.analysis_id} is withheld: "
                f"{decision.reviewer} rejected it (event {decision.event_id})"
            )
            reason = "rejected"
        if span.is_recording():
            span.set_status(Status(StatusCode.ERROR, ReviewWithheldError.__name__))
        raise ReviewWithheldError(
            msg,
            analysis_id=self.analysis_id,
            reason=reason,
            decision_event_id=None if decision is None else decision.event_id,
        )


def open_review_gate(
    call: AnalysisCall,
    context: AuditContext,
    span: Span,
    outcome: PostOutcome | None,
    *,
    recorder: Recorder,
    store: AuditStore,
    policy_id: str | None,
    tag_filter: TagFilter | None = None,
) -> ReviewGate | None:
    """
    The gate a result must pass, or None when its purpose does not gate results.

    A result is gated when it was routed to review and the purpose's review rule
    says ``gate = true``.
    """
    if outcome is None or not outcome.review_required:
        return None
    rule = outcome.review
    if rule is None or not rule.gate:
        return None
    ids = span.get_span_context()
    envelope = {
        "analysis_id": call.analysis_id,
        "trace_id": format(ids.trace_id, "032x") if ids.is_valid else None,
        "span_id": format(ids.span_id, "016x") if ids.is_valid else None,
        "actor": context.actor,
        "purpose": context.purpose,
        "consent_ref": context.consent_ref,
        "subject_ref": context.subject_ref,
        "policy_id": policy_id,
    }
    return ReviewGate(
        recorder=recorder,
        store=store,
        span=span,
        envelope=envelope,
        rule=rule,
        tag_filter=tag_filter,
    )
