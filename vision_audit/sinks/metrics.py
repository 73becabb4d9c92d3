"""Audit events as OpenTelemetry metrics: call durations and the product's counters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from opentelemetry import metrics

from vision_audit import attributes as attrs
from vision_audit.version import __version__

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider

    from vision_audit.models import AuditEvent

__all__ = ["METRICS", "MetricsSink"]

METRICS: Final = (
    attrs.METRIC_DURATION,
    attrs.METRIC_CALLS,
    attrs.METRIC_DENIALS,
    attrs.METRIC_TAGS_REMOVED,
    attrs.METRIC_REVIEWS_REQUIRED,
    attrs.METRIC_WRITE_FAILURES,
)
"""Every instrument this sink records, by name (``docs/attributes.md`` has them)."""

_OUTCOMES: Final = {
    attrs.EVENT_COMPLETED: "completed",
    attrs.EVENT_FAILED: "failed",
    attrs.EVENT_DENIED: "denied",
}
# GenAI semantic conventions: the operation and the provider of a client call.
_CALL: Final = {
    attrs.GEN_AI_OPERATION_NAME: attrs.OPERATION_NAME_VALUE,
    attrs.GEN_AI_PROVIDER_NAME: attrs.PROVIDER_NAME_VALUE,
}


def _text(value: object) -> str:
    return value if isinstance(value, str) and value else "none"


class MetricsSink:
    """
    Counts what the audit events say, on a meter of the given (or global) provider.

    Attributes are low-cardinality only: purpose, outcome, rule, reason, error type;
    never ids, tags' names or content.
    """

    def __init__(self, *, meter_provider: MeterProvider | None) -> None:
        """Create the instruments on the meter of *meter_provider*."""
        meter = metrics.get_meter(
            "vision_audit", __version__, meter_provider=meter_provider
        )
        self._duration = meter.create_histogram(
            attrs.METRIC_DURATION,
            unit="s",
            description="Duration of Image Analysis calls, as the client saw them",
        )
        self._calls = meter.create_counter(
            attrs.METRIC_CALLS,
            unit="{call}",
            description="Image Analysis calls by outcome",
        )
        self._denials = meter.create_counter(
            attrs.METRIC_DENIALS,
            unit="{call}",
            description="Calls the policy refused, by reason",
        )
        self._removed = meter.create_counter(
            attrs.METRIC_TAGS_REMOVED,
            unit="{tag}",
            description="Tags and objects removed from results, by rule",
        )
        self._reviews = meter.create_counter(
            attrs.METRIC_REVIEWS_REQUIRED,
            unit="{analysis}",
            description="Results routed to human review",
        )
        self._failures = meter.create_counter(
            attrs.METRIC_WRITE_FAILURES,
            unit="{event}",
            description="Audit events the store did not record",
        )

    def emit(self, event: AuditEvent) -> None:
        """Count *event*."""
        data = event.data
        purpose = {attrs.PURPOSE: _text(event.purpose)}
        outcome = _OUTCOMES.get(event.type)
        if outcome is not None:
            self._calls.add(1, {**purpose, attrs.METRIC_OUTCOME: outcome})
        if event.type in {attrs.EVENT_COMPLETED, attrs.EVENT_FAILED}:
            duration = data.get("duration_ms")
            if isinstance(duration, int | float):
                labels = {**_CALL, **purpose}
                if event.type == attrs.EVENT_FAILED:
                    labels[attrs.ERROR_TYPE] = _text(data.get("error_type"))
                self._duration.record(duration / 1000.0, labels)
        elif event.type == attrs.EVENT_DENIED:
            self._denials.add(
                1, {**purpose, attrs.METRIC_DENIAL_REASON: _text(data.get("reason"))}
            )
        elif event.type == attrs.EVENT_TAGS_FILTERED:
            for kind in ("tags", "objects"):
                found = data.get(kind)
                dropped = found.get("dropped", []) if isinstance(found, dict) else []
                for item in dropped if isinstance(dropped, list) else []:
                    rule = item.get("rule") if isinstance(item, dict) else None
                    self._removed.add(1, {**purpose, attrs.METRIC_RULE: _text(rule)})
        elif event.type == attrs.EVENT_REVIEW_REQUIRED:
            self._reviews.add(1, purpose)

    def write_failed(self, event: AuditEvent, error: BaseException) -> None:
        """Count an event the store did not record."""
        self._failures.add(
            1,
            {
                attrs.METRIC_EVENT_TYPE: event.type,
                attrs.ERROR_TYPE: type(error).__qualname__,
            },
        )
