"""Turns an analysis call, its context and its outcome into audit events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vision_audit import attributes as attrs
from vision_audit.models import AnalysisCall, AuditEvent

if TYPE_CHECKING:
    from collections.abc import Mapping

    from vision_audit.context import AuditContext
    from vision_audit.policy import Policy

__all__ = [
    "completed_event",
    "denied_event",
    "failed_event",
    "filtered_event",
    "policy_activated_event",
    "requested_event",
    "review_required_event",
]


def _envelope(
    call: AnalysisCall,
    context: AuditContext,
    *,
    trace_id: str | None,
    span_id: str | None,
    policy_id: str | None = None,
) -> dict[str, Any]:
    return {
        "policy_id": policy_id,
        "analysis_id": call.analysis_id,
        "trace_id": trace_id,
        "span_id": span_id,
        "actor": context.actor,
        "purpose": context.purpose,
        "consent_ref": context.consent_ref,
        "subject_ref": context.subject_ref,
    }


def requested_event(
    call: AnalysisCall,
    context: AuditContext,
    *,
    trace_id: str | None,
    span_id: str | None,
    policy_id: str | None = None,
    policy: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """
    ``analysis.requested``: what is about to be sent, and on whose behalf.

    Its data holds the endpoint, api-version, features and options, the image's
    fingerprint or redacted URL, and the context's labels; never the image itself.
    """
    data: dict[str, Any] = {
        "operation": call.operation,
        "endpoint": {"host": call.endpoint_host, "port": call.endpoint_port},
        "api_version": call.api_version,
        "features": list(call.features),
        "options": dict(call.options),
        "labels": dict(context.labels),
    }
    if call.image is not None:
        data["image"] = dict(call.image)
    if call.url is not None:
        data["url"] = call.url
    if policy is not None:
        data["policy"] = dict(policy)
    return AuditEvent(
        type=attrs.EVENT_REQUESTED,
        data=data,
        **_envelope(
            call, context, trace_id=trace_id, span_id=span_id, policy_id=policy_id
        ),
    )


def completed_event(
    call: AnalysisCall,
    context: AuditContext,
    *,
    trace_id: str | None,
    span_id: str | None,
    duration_ms: float,
    model_version: str | None,
    results: Mapping[str, Any],
    content: Mapping[str, Any] | None,
    policy_id: str | None = None,
    flags: tuple[str, ...] = (),
    review_required: bool = False,
    withheld: str | None = None,
    blocked: tuple[str, ...] = (),
    would_withhold: str | None = None,
) -> AuditEvent:
    """
    ``analysis.completed``: what came back, per feature, and how long it took.

    *withheld*: why the application did not get the result at all
    (:data:`~vision_audit.attributes.WITHHELD_TAG_BLOCKED`), with the *blocked*
    names that withheld it; both absent when it got the result. Under a policy in
    audit mode, *would_withhold* instead: the result was returned.
    """
    data: dict[str, Any] = {
        "duration_ms": round(duration_ms, 3),
        "model_version": model_version,
        "results": dict(results),
        "flags": list(flags),
        "review_required": review_required,
    }
    if withheld is not None:
        data["withheld"] = withheld
        data["blocked"] = list(blocked)
    elif would_withhold is not None:
        data["would_withhold"] = would_withhold
        data["blocked"] = list(blocked)
    return AuditEvent(
        type=attrs.EVENT_COMPLETED,
        data=data,
        content=dict(content) if content else None,
        **_envelope(
            call, context, trace_id=trace_id, span_id=span_id, policy_id=policy_id
        ),
    )


def failed_event(
    call: AnalysisCall,
    context: AuditContext,
    *,
    trace_id: str | None,
    span_id: str | None,
    duration_ms: float,
    error_type: str,
    status_code: int | None,
    error_code: str | None,
    inner_error_code: str | None,
    policy_id: str | None = None,
) -> AuditEvent:
    """
    ``analysis.failed``: the error type and the service's codes.

    The service's message is not recorded: codes say what happened, and messages
    may echo input.
    """
    return AuditEvent(
        type=attrs.EVENT_FAILED,
        data={
            "duration_ms": round(duration_ms, 3),
            "error_type": error_type,
            "status_code": status_code,
            "error_code": error_code,
            "inner_error_code": inner_error_code,
        },
        **_envelope(
            call, context, trace_id=trace_id, span_id=span_id, policy_id=policy_id
        ),
    )


def denied_event(
    call: AnalysisCall,
    context: AuditContext,
    *,
    trace_id: str | None,
    span_id: str | None,
    policy_id: str | None,
    verdict: Mapping[str, Any],
) -> AuditEvent:
    """``analysis.denied``: the policy refused the call; nothing was sent."""
    data: dict[str, Any] = {
        "operation": call.operation,
        "features": list(call.features),
        "labels": dict(context.labels),
        **verdict,
    }
    if call.image is not None:
        data["image"] = dict(call.image)
    if call.url is not None:
        data["url"] = call.url
    return AuditEvent(
        type=attrs.EVENT_DENIED,
        data=data,
        **_envelope(
            call, context, trace_id=trace_id, span_id=span_id, policy_id=policy_id
        ),
    )


def filtered_event(
    call: AnalysisCall,
    context: AuditContext,
    *,
    trace_id: str | None,
    span_id: str | None,
    policy_id: str | None,
    outcome: Mapping[str, Any],
) -> AuditEvent:
    """
    ``tags.filtered``: what was kept and dropped, with confidences and rules.

    With ``withheld`` and ``blocked`` when the block list withheld the whole result
    (``would_withhold`` in audit mode, where it was returned).
    """
    data = {
        "purpose": outcome.get("purpose"),
        "tags": outcome.get("tags"),
        "objects": outcome.get("objects"),
        "caption_flags": outcome.get("caption_flags"),
    }
    for key in ("withheld", "would_withhold"):
        if outcome.get(key):
            data[key] = True
            data["blocked"] = outcome.get("blocked")
    return AuditEvent(
        type=attrs.EVENT_TAGS_FILTERED,
        data=data,
        **_envelope(
            call, context, trace_id=trace_id, span_id=span_id, policy_id=policy_id
        ),
    )


def review_required_event(
    call: AnalysisCall,
    context: AuditContext,
    *,
    trace_id: str | None,
    span_id: str | None,
    policy_id: str | None,
    outcome: Mapping[str, Any],
) -> AuditEvent:
    """
    ``review.required``: a human must look at this analysis, and why.

    Holds the flags, health categories, tags as delivered and dropped, the review
    routing (reasons, deadline, four eyes, gate); never content.
    """
    return AuditEvent(
        type=attrs.EVENT_REVIEW_REQUIRED,
        data={
            "purpose": outcome.get("purpose"),
            "flags": outcome.get("flags"),
            "health_categories": outcome.get("health_categories"),
            "tags": outcome.get("tags"),
            "objects": outcome.get("objects"),
            "caption_flags": outcome.get("caption_flags"),
            "review": outcome.get("review"),
        },
        **_envelope(
            call, context, trace_id=trace_id, span_id=span_id, policy_id=policy_id
        ),
    )


def policy_activated_event(policy: Policy) -> AuditEvent:
    """
    ``policy.activated``: *policy* is in force from now on, for this writer.

    Holds the policy's name, version and mode, and its whole document (what its id
    digests), so that a reader of the log can name the policy behind any event's
    ``policy_id`` and check that the id is the document's.
    """
    return AuditEvent(
        type=attrs.EVENT_POLICY_ACTIVATED,
        policy_id=policy.policy_id,
        data={
            "name": policy.name,
            "version": policy.version,
            "mode": policy.mode,
            "document": policy.as_dict(),
        },
    )
