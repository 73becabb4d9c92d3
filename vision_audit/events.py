"""Turns an analysis call, its context and its outcome into audit events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vision_audit import attributes as attrs
from vision_audit.models import AnalysisCall, AuditEvent

if TYPE_CHECKING:
    from collections.abc import Mapping

    from vision_audit.context import AuditContext

__all__ = ["completed_event", "failed_event", "requested_event"]


def _envelope(
    call: AnalysisCall,
    context: AuditContext,
    *,
    trace_id: str | None,
    span_id: str | None,
) -> dict[str, Any]:
    return {
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
    return AuditEvent(
        type=attrs.EVENT_REQUESTED,
        data=data,
        **_envelope(call, context, trace_id=trace_id, span_id=span_id),
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
) -> AuditEvent:
    """``analysis.completed``: what came back, per feature, and how long it took."""
    return AuditEvent(
        type=attrs.EVENT_COMPLETED,
        data={
            "duration_ms": round(duration_ms, 3),
            "model_version": model_version,
            "results": dict(results),
        },
        content=dict(content) if content else None,
        **_envelope(call, context, trace_id=trace_id, span_id=span_id),
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
        **_envelope(call, context, trace_id=trace_id, span_id=span_id),
    )
