"""Documented type aliases and Protocols of vision-audit's extension points."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from datetime import datetime, timedelta

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from vision_audit.models import AuditEvent, RecordedEvent
    from vision_audit.store import ChainHead, Checkpoint, Verification
    from vision_audit.store._checkpoints import Claim, Cosignature
    from vision_audit.store._note import NoteVerifier
    from vision_audit.store._reviews import ReviewEntry

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

    origin: str
    """The log's name, the first line of its checkpoints (C2SP origin)."""

    def get_head(self) -> ChainHead | None:
        """The sequence and hash of the last recorded event, or None when empty."""
        ...

    def get_analysis_events(self, analysis_id: str) -> list[RecordedEvent]:
        """Every event of one analysis, in sequence order, through an index."""
        ...

    def list_reviews(
        self,
        *,
        open_only: bool = True,
        purpose: str | None = None,
        due_before: datetime | None = None,
        after: int | None = None,
        limit: int | None = None,
    ) -> list[ReviewEntry]:
        """Flagged analyses from the review index, oldest flag first."""
        ...

    def count_reviews(
        self,
        *,
        open_only: bool = True,
        purpose: str | None = None,
        due_before: datetime | None = None,
    ) -> int:
        """How many flagged analyses :meth:`list_reviews` would give, all pages."""
        ...

    def get_consistency_proof(self, old: int, new: int) -> list[bytes]:
        """The RFC 9162 proof that the tree of *new* events extends that of *old*."""
        ...

    def get_inclusion_proof(self, sequence: int, size: int) -> list[bytes]:
        """The RFC 9162 audit path of event *sequence* in the tree of *size*."""
        ...

    def record_cosignature(self, cosignature: Cosignature) -> bool:
        """Keep a witness's cosignature with the checkpoint it cosigned."""
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
        witnesses: Sequence[NoteVerifier] = (),
        min_witnesses: int = 1,
        pinned: Sequence[Claim] = (),
    ) -> Verification:
        """Check every link, checkpoint, cosignature (and content digests)."""
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
