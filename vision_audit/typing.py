"""Documented type aliases and Protocols of vision-audit's extension points."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import datetime

    from vision_audit.models import AuditEvent, RecordedEvent

__all__ = ["AuditStore"]


@runtime_checkable
class AuditStore(Protocol):
    """
    The system of record: an append-only, hash-chained log of audit events.

    Implementations: ``SQLiteAuditStore`` (``sqlite:///path``), ``InMemoryAuditStore``
    and ``PostgresAuditStore`` (``postgresql://...``). All pass one contract suite.

    .. versionadded:: 0.1.0
    """

    def append(self, event: AuditEvent) -> RecordedEvent:
        """
        Record *event* durably (per the store's durability setting) and chain it.

        Returns only once the event is acknowledged; thread-safe.

        Raises:
            AuditWriteError: The event was not recorded.
        """
        ...

    def iter_events(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[RecordedEvent]:
        """Yield recorded events in sequence order, optionally within [since, until)."""
        ...

    def close(self) -> None:
        """Flush, sign a final checkpoint where keys allow, and release resources."""
        ...
