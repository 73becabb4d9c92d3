"""
Audit events as structured log records on the ``vision_audit.audit`` logger.

Each event is one standard-library record whose message is the event's type
(``analysis.completed``) and whose fields are the record's attributes (``event_id``,
``analysis_id``, ``trace_id``, ``data``, ...), as structlog's
``render_to_log_kwargs`` hands them over: the host's own formatter (structlog's
``ProcessorFormatter``, a JSON formatter such as :class:`JSONFormatter`, or
OpenTelemetry's logging bridge) renders them once, never a pre-rendered JSON string
inside another. Personal content (``content``: caption, read text) is an attribute
only with ``capture_content=True``, never in the message.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, Final

import structlog
from opentelemetry import trace

if TYPE_CHECKING:
    from structlog.typing import EventDict, WrappedLogger

    from vision_audit.models import AuditEvent, RecordedEvent

__all__ = ["AUDIT_LOGGER_NAME", "JSONFormatter", "LogSink", "add_trace_ids"]

AUDIT_LOGGER_NAME: Final = "vision_audit.audit"
"""
The standard-library logger the events go to; the host's logging configuration decides
its level and handlers. Records are INFO (``analysis.failed``: WARNING); the message
is the event's type, the fields are the record's attributes.
"""

_STANDARD: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()
    | {"message", "asctime", "taskName"}
)


class JSONFormatter(logging.Formatter):
    """
    One JSON object per record: ``event`` (the message) and the record's own fields.

    For a file of audit events (the demo's ``audit-log.jsonl``), or any handler of
    ``vision_audit.audit`` that should write JSON lines::

        handler.setFormatter(vision_audit.sinks.log.JSONFormatter())

    .. versionadded:: 0.2.0
    """

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON, keys sorted."""
        fields = {
            key: value
            for key, value in vars(record).items()
            if key not in _STANDARD and not key.startswith("_")
        }
        fields["event"] = record.getMessage()
        return json.dumps(fields, sort_keys=True, default=str, ensure_ascii=False)


def add_trace_ids(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """
    A structlog processor: stamp ``trace_id`` and ``span_id`` of the current span.

    Add it to your own chain so that your log lines join the audited calls' traces::

        structlog.configure(processors=[vision_audit.add_trace_ids, ...])

    .. versionadded:: 0.1.0
    """
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(context.span_id, "016x"))
    return event_dict


class LogSink:
    """Writes each recorded event as one structured log record."""

    def __init__(self, *, capture_content: bool) -> None:
        """Build a private processor chain; the global structlog config is untouched."""
        self._capture_content = capture_content
        self._stdlib = logging.getLogger(AUDIT_LOGGER_NAME)
        # A bound logger made once: wrap_logger()'s lazy proxy would bind a new one
        # on every call. Its processors are its own; its context stays empty.
        self._logger = structlog.stdlib.BoundLogger(
            self._stdlib,
            [
                structlog.stdlib.filter_by_level,
                structlog.stdlib.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.stdlib.render_to_log_kwargs,
            ],
            {},
        )

    def emit(self, event: AuditEvent, recorded: RecordedEvent | None) -> None:
        """Log *event*; *recorded* supplies the sequence and the subject's pseudonym."""
        failed = event.type.endswith(".failed")
        # What filter_by_level would decide, before the fields are built for nothing.
        if not self._stdlib.isEnabledFor(logging.WARNING if failed else logging.INFO):
            return
        fields: dict[str, Any] = {
            "event_id": event.event_id,
            "analysis_id": event.analysis_id,
            "trace_id": event.trace_id,
            "span_id": event.span_id,
            "actor": event.actor,
            "purpose": event.purpose,
            "consent_ref": event.consent_ref,
            "policy_id": event.policy_id,
            "data": dict(event.data),
        }
        if recorded is not None:
            fields["sequence"] = recorded.sequence
            fields["subject_ref"] = recorded.event.subject_ref
        if self._capture_content and event.content:
            fields["content"] = dict(event.content)
        if failed:
            self._logger.warning(event.type, **fields)
        else:
            self._logger.info(event.type, **fields)

    def audit_write_failed(self, event: AuditEvent, error: BaseException) -> None:
        """Say loudly that *event* is not in the audit store."""
        self._logger.error(
            "audit_write_failed",
            event_type=event.type,
            event_id=event.event_id,
            analysis_id=event.analysis_id,
            trace_id=event.trace_id,
            error_type=type(error).__name__,
            error=str(error),
        )
