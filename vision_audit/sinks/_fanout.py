"""Hands each event to the store first, then to the guarded telemetry sinks."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from vision_audit import attributes as attrs
from vision_audit.events import policy_activated_event
from vision_audit.exceptions import AuditWriteError
from vision_audit.sinks.log import LogSink
from vision_audit.sinks.metrics import MetricsSink
from vision_audit.sinks.otel import OTelSink

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from vision_audit._settings import Settings
    from vision_audit.models import AuditEvent, RecordedEvent
    from vision_audit.policy import Policy

__all__ = ["Recorder"]

_internal = logging.getLogger("vision_audit")


class Recorder:
    """
    Records an event everywhere it belongs, in the order that keeps the promise.

    The audit store comes first and its failure is the caller's business (raise
    mode) or logged and marked (log mode). Telemetry sinks come after and never
    break the caller: their failures are logged and swallowed.
    """

    def __init__(self, settings: Settings) -> None:
        """Build the sinks *settings* call for."""
        self._settings = settings
        self._log = LogSink(capture_content=settings.capture_content)
        self._otel = OTelSink(logger_provider=settings.logger_provider)
        self._metrics = MetricsSink(meter_provider=settings.meter_provider)
        self._announce_lock = threading.Lock()
        self._announced: str | None = None

    @property
    def fail_closed(self) -> bool:
        """True when a lost audit event must stop the call."""
        return self._settings.audit_failure == "raise"

    def record(self, event: AuditEvent, span: Span) -> RecordedEvent | None:
        """
        Record *event* in the store, then in the logs and on *span*.

        Returns:
            What the store recorded, or None when it failed in log mode.

        Raises:
            AuditWriteError: The store failed and the mode is ``raise``.
        """
        recorded = self.store(event, span)
        self.telemetry(event, recorded, span)
        return recorded

    def store(self, event: AuditEvent, span: Span) -> RecordedEvent | None:
        """
        Record *event* in the store only; :meth:`telemetry` must follow.

        Returns:
            What the store recorded, or None when it failed in log mode.

        Raises:
            AuditWriteError: The store failed and the mode is ``raise``.
        """
        engine = self._settings.policy
        if (
            engine is not None
            and event.policy_id == engine.policy_id
            and self._announced != engine.policy_id
        ):
            self._announce(engine.policy, span)
        return self._append(event, span)

    def _append(self, event: AuditEvent, span: Span) -> RecordedEvent | None:
        try:
            return self._settings.store.append(event)
        except Exception as err:  # any store failure is a lost event
            self._store_failed(event, err, span)
            if self.fail_closed:
                if isinstance(err, AuditWriteError):
                    raise
                msg = (
                    f"audit event {event.type} ({event.event_id}) was not recorded: "
                    f"{err}"
                )
                raise AuditWriteError(msg) from err
        return None

    def _announce(self, policy: Policy, span: Span) -> None:
        """
        Record ``policy.activated`` before this recorder's first event under *policy*.

        Once per recorder and policy: a log then names the policy behind every
        ``policy_id`` its writers recorded. A failed announcement is tried again
        with the next event (and stops the call, in fail-closed mode).
        """
        with self._announce_lock:
            if self._announced == policy.policy_id:
                return
            event = policy_activated_event(policy)
            recorded = self._append(event, span)
            if recorded is None:  # log mode: lost, and said so; tried again next time
                return
            self._announced = policy.policy_id
        try:
            self._log.emit(event, recorded)
        except Exception:  # noqa: BLE001
            _internal.exception("vision-audit log sink failed for %s", event.type)

    def _store_failed(self, event: AuditEvent, error: Exception, span: Span) -> None:
        try:
            if span.is_recording():
                span.add_event(
                    attrs.EVENT_AUDIT_WRITE_FAILED,
                    {
                        attrs.AUDIT_EVENT_ID: event.event_id,
                        attrs.ERROR_TYPE: type(error).__qualname__,
                    },
                )
            self._log.audit_write_failed(event, error)
            self._metrics.write_failed(event, error)
        except Exception:  # noqa: BLE001 - reporting must not mask the failure
            _internal.exception("vision-audit could not report a failed audit write")

    def telemetry(
        self, event: AuditEvent, recorded: RecordedEvent | None, span: Span
    ) -> None:
        """Log *event* and add it to *span*; never raises (the store has the event)."""
        try:
            self._log.emit(event, recorded)
        except Exception:  # noqa: BLE001
            _internal.exception("vision-audit log sink failed for %s", event.type)
        try:
            self._otel.emit(event, recorded, span)
        except Exception:  # noqa: BLE001
            _internal.exception("vision-audit OTel sink failed for %s", event.type)
        try:
            self._metrics.emit(event)
        except Exception:  # noqa: BLE001
            _internal.exception("vision-audit metrics sink failed for %s", event.type)
