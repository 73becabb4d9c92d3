"""Documented type aliases and Protocols of vision-audit's extension points."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from datetime import datetime, timedelta

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from vision_audit.models import AuditEvent, RecordedEvent
    from vision_audit.store import ChainHead, Checkpoint, Verification

__all__ = ["AuditStore", "ManagedAuditStore"]


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


@runtime_checkable
class ManagedAuditStore(AuditStore, Protocol):
    """
    An AuditStore that can also be verified, signed, purged and erased.

    What ``vision_audit.store.open_store()`` returns, and what the CLI and reports
    rely on. Writers (the instrumentation) need only :class:`AuditStore`.

    .. versionadded:: 0.1.0
    """

    def get_head(self) -> ChainHead | None:
        """The sequence and hash of the last recorded event, or None when empty."""
        ...

    def list_checkpoints(self) -> list[Checkpoint]:
        """Every signed checkpoint, in sequence order."""
        ...

    def pseudonymize(self, subject_ref: str) -> str:
        """The keyed pseudonym the store records for *subject_ref*."""
        ...

    def sign_checkpoint(self) -> Checkpoint | None:
        """Sign the head now, when a signing key is configured and it is unsigned."""
        ...

    def verify(
        self,
        *,
        public_keys: Iterable[Ed25519PublicKey] | None = None,
        progress: Callable[[int], None] | None = None,
        content: bool = True,
    ) -> Verification:
        """Check every link and checkpoint signature (and content digests)."""
        ...

    def purge_content(
        self,
        *,
        older_than: datetime | timedelta,
        data_class: str | None = None,
        actor: str | None = None,
    ) -> RecordedEvent:
        """Delete personal content older than a cutoff; record ``content.purged``."""
        ...

    def erase_subject(
        self, subject_ref: str, *, actor: str | None = None
    ) -> RecordedEvent:
        """Delete a data subject's personal content; record ``subject.erased``."""
        ...
