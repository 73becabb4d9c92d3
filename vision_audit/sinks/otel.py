"""Audit events on OpenTelemetry: span events and, when asked for, log records."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opentelemetry._logs import SeverityNumber
from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from vision_audit import attributes as attrs
from vision_audit.version import __version__

if TYPE_CHECKING:
    from opentelemetry._logs import LoggerProvider
    from opentelemetry.trace import Span

    from vision_audit.models import AuditEvent, RecordedEvent

__all__ = ["OTelSink"]


class OTelSink:
    """Adds a span event per audit event, and emits an OTel log record if configured."""

    def __init__(self, *, logger_provider: LoggerProvider | None) -> None:
        """Use *logger_provider* for log records; none are emitted without one."""
        self._logger = (
            None
            if logger_provider is None
            else logger_provider.get_logger(attrs.INSTRUMENTATION_SCOPE, __version__)
        )

    def emit(
        self, event: AuditEvent, recorded: RecordedEvent | None, span: Span
    ) -> None:
        """Record *event* on *span* and as a log record."""
        attributes: dict[str, Any] = {
            attrs.ANALYSIS_ID: event.analysis_id or "",
            attrs.AUDIT_EVENT_ID: event.event_id,
        }
        if recorded is not None:
            attributes[attrs.AUDIT_SEQUENCE] = recorded.sequence
        if span.is_recording():
            span.add_event(event.type, attributes)
        # Under suppress_instrumentation() (an exporter's own calls, say) no OTel
        # telemetry is made; the audit store and the log line still have the event.
        if self._logger is not None and is_instrumentation_enabled():
            failed = event.type.endswith(".failed")
            self._logger.emit(
                event_name=event.type,
                body=event.type,
                severity_number=SeverityNumber.WARN if failed else SeverityNumber.INFO,
                severity_text="WARN" if failed else "INFO",
                attributes=attributes,
            )
