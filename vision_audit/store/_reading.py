"""Reads of the log and its evidence: events, checkpoints, proofs, cosignatures."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vision_audit._text import counted
from vision_audit.store import _tree
from vision_audit.store._canonical import format_time
from vision_audit.store._chain import (
    ChainHead,
    ContentRecord,
)
from vision_audit.store._envelope import parse_envelope

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from datetime import datetime

    from vision_audit.models import RecordedEvent
    from vision_audit.store._checkpoints import (
        Checkpoint,
        Cosignature,
    )
from vision_audit.store._maintenance import StoreMaintenance


class StoreReading(StoreMaintenance):
    """Reads of the log and its evidence: events, checkpoints, proofs, cosignatures."""

    # -- reading -----------------------------------------------------------------------

    def get_head(self) -> ChainHead | None:
        """
        The sequence and hash of the last recorded event, or None when empty.

        .. versionadded:: 0.1.0
        """
        return self._read_head()

    def iter_events(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[RecordedEvent]:
        """
        Yield recorded events in sequence order, optionally ``since <= time < until``.

        Content is what remains after purges; ``subject_ref`` is the pseudonym.

        .. versionadded:: 0.1.0
        """
        low = format_time(since) if since is not None else None
        high = format_time(until) if until is not None else None
        for _, hash_, envelope, content in self._read_events(low, high):
            yield parse_envelope(envelope, hash_, content)

    def get_sequence_range(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> tuple[int, int] | None:
        """
        First and last sequence of the events between *since* and *until*.

        The run starts at the first event at or after *since* and ends at the last
        event before *until*; events in between are in it whatever their time.

        None when no event falls in between.

        .. versionadded:: 0.1.0
        """
        low = format_time(since) if since is not None else None
        high = format_time(until) if until is not None else None
        found = self._sequence_range(low, high)
        if found is None or found[0] > found[1]:
            return None
        return found

    def pseudonymize(self, subject_ref: str) -> str:
        """
        The pseudonym this store records for *subject_ref* (keyed HMAC-SHA256, hex).

        Raises:
            StoreError: The store was opened read-only, without its pseudonym key.

        .. versionadded:: 0.1.0
        """
        return self._pseudonym_function()(subject_ref)

    def get_checkpoint(self, *, covering: int = 1) -> Checkpoint | None:
        """
        The checkpoint to prove events up to *covering* with, or None.

        The latest checkpoint with the most cosignatures of its own body, among
        those whose tree holds event *covering*.

        .. versionadded:: 0.2.0
        """
        candidates = [c for c in self.list_checkpoints() if c.sequence >= covering]
        if not candidates:
            return None
        return max(
            candidates,
            key=lambda c: (
                len({x.name for x in c.cosignatures if x.body == c.body}),
                c.sequence,
            ),
        )

    def find_events(self, identifier: str) -> list[tuple[int, str, bytes]]:
        """
        ``(sequence, hash, envelope)`` of the event *identifier*, or of the analysis.

        .. versionadded:: 0.2.0
        """
        return self._find_events(identifier)

    def get_content_records(
        self, sequences: Iterable[int]
    ) -> dict[int, list[ContentRecord]]:
        """
        The personal content records (values gone once purged) of some events.

        .. versionadded:: 0.2.0
        """
        found: dict[int, list[ContentRecord]] = {}
        for record in self._read_content(sorted(set(sequences))):
            found.setdefault(record[0], []).append(ContentRecord(*record))
        return found

    def get_root(self, size: int) -> bytes:
        """
        The Merkle root of the first *size* events, from the stored tree.

        Raises:
            ValueError: The log holds fewer than *size* events.
            StoreError: The stored tree is damaged.

        .. versionadded:: 0.2.0
        """
        self._check_size(size)
        return _tree.root_at(size, self._tree_reader())

    def get_inclusion_proof(self, sequence: int, size: int) -> list[bytes]:
        """
        The RFC 9162 audit path of event *sequence* in the tree of *size* events.

        Reads O(log size) rows; reveals nothing of other events but hashes.

        Raises:
            ValueError: *sequence* is not between 1 and *size*, or the log holds
                fewer than *size* events.
            StoreError: The stored tree is damaged.

        .. versionadded:: 0.2.0
        """
        if not 1 <= sequence <= size:
            msg = f"event {sequence} is not in a tree of {size} events"
            raise ValueError(msg)
        self._check_size(size)
        return _tree.inclusion_proof(sequence, size, self._tree_reader())

    def get_consistency_proof(self, old: int, new: int) -> list[bytes]:
        """
        The RFC 9162 proof that the tree of *new* events extends that of *old*.

        Raises:
            ValueError: Not ``1 <= old <= new``, or the log holds fewer than *new*.
            StoreError: The stored tree is damaged.

        .. versionadded:: 0.2.0
        """
        if not 1 <= old <= new:
            msg = f"no consistency proof from tree size {old} to {new}"
            raise ValueError(msg)
        self._check_size(new)
        return _tree.consistency_proof(old, new, self._tree_reader())

    def _check_size(self, size: int) -> None:
        head = self._read_head()
        if size < 1 or head is None or head.sequence < size:
            held = head.sequence if head is not None else 0
            msg = f"the log holds {counted(held, 'event')}, not {size}"
            raise ValueError(msg)

    def record_cosignature(self, cosignature: Cosignature) -> bool:
        """
        Keep a witness's cosignature with the checkpoint it cosigned.

        The store does not judge it (``verify`` does, against the witness keys a
        verifier trusts); it keeps the cosigned body beside the signature, so that
        the cosignature still says what the witness saw if the log is rewritten.

        Returns:
            False when this witness's cosignature of that tree size is already kept.

        Raises:
            StoreError: Opened read-only, or the write failed.

        .. versionadded:: 0.2.0
        """
        recorded: list[bool] = []
        self._run_write(lambda: recorded.append(self._insert_cosignature(cosignature)))
        return bool(recorded and recorded[0])

    def record_timestamp(self, sequence: int, token: bytes) -> None:
        """
        Keep an RFC 3161 time-stamp token over the body of the checkpoint *sequence*.

        Raises:
            StoreError: Opened read-only, or the write failed.

        .. versionadded:: 0.2.0
        """
        self._run_write(lambda: self._insert_timestamp(sequence, token))
