"""InMemoryAuditStore: the audit store contract in this process's memory, for tests."""

from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vision_audit import attributes as attrs
from vision_audit.store._aggregate_memory import aggregate_events
from vision_audit.store._base import (
    DEFAULT_CHECKPOINT_EVERY,
    DEFAULT_CHECKPOINT_INTERVAL,
    BaseAuditStore,
    ContentRow,
    Durability,
    EventRow,
)
from vision_audit.store._canonical import format_time, parse_json
from vision_audit.store._chain import ChainHead, ContentRecord, StoredContent
from vision_audit.store._checkpoints import Checkpoint, Cosignature, assemble
from vision_audit.store._keys import generate_pseudonym_key
from vision_audit.store._reads import scan_rows
from vision_audit.store._reviews import CONSENT_TYPES, ReviewQuery, ReviewRow, track

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from vision_audit.store._aggregates import PeriodAggregates

__all__ = ["InMemoryAuditStore"]


class DuplicateEventError(ValueError):
    """An event id that the store already holds."""


@dataclass(slots=True)
class _Transaction:
    rows: list[EventRow] = field(default_factory=list)
    contents: list[ContentRow] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    cosignatures: list[Cosignature] = field(default_factory=list)
    timestamps: list[tuple[int, bytes]] = field(default_factory=list)
    removals: list[tuple[int, int]] = field(default_factory=list)


class InMemoryAuditStore(BaseAuditStore):
    """
    An audit store that lives and dies with the process; same contract as the others.

    For tests and demos: ``open_store("memory://")``. It chains, signs, purges and
    verifies exactly as the durable stores do; ``durability`` is accepted for
    symmetry and means nothing here.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        *,
        durability: Durability = "process",
        signing_key: Ed25519PrivateKey | None = None,
        pseudonym_key: bytes | None = None,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
        checkpoint_interval: float = DEFAULT_CHECKPOINT_INTERVAL,
        read_only: bool = False,
        origin: str | None = None,
    ) -> None:
        """
        Create an empty store.

        Args:
            durability: Accepted for symmetry with the durable stores.
            signing_key: Signs checkpoints; defaults to the key configured in the
                environment, if any.
            pseudonym_key: The secret of subject pseudonyms; defaults to the
                environment's, else a random one.
            checkpoint_every: Sign the head after this many events.
            checkpoint_interval: Sign an unsigned head after this many seconds.
            read_only: Accepted for symmetry; a memory store is always writable.
            origin: The log's name in its checkpoints (default: random).
        """
        super().__init__(
            name="memory://",
            durability=durability,
            signing_key=signing_key,
            pseudonym_key=pseudonym_key,
            checkpoint_every=checkpoint_every,
            checkpoint_interval=checkpoint_interval,
            origin=origin,
        )
        del read_only
        self.origin, _ = self._choose_origin(None)
        self._lock = threading.Lock()
        self._events: list[EventRow] = []
        self._fields: list[dict[str, Any]] = []
        self._ids: set[str] = set()
        self._by_analysis: dict[str, list[int]] = {}
        self._consents: list[int] = []
        self._reviews: dict[str, list[Any]] = {}
        self._content: dict[int, list[list[Any]]] = {}
        self._checkpoints: list[Checkpoint] = []
        self._cosignatures: list[Cosignature] = []
        self._timestamps: list[tuple[int, bytes]] = []
        self._keys: dict[str, str] = {}
        self._txn: _Transaction | None = None
        self._set_pseudonym_key(
            self._configured_pseudonym_key or generate_pseudonym_key()
        )
        self._start()

    # -- writing (writer thread) -------------------------------------------------------

    def _begin(self) -> ChainHead | None:
        self._txn = _Transaction()
        return self._read_head()

    def _insert(self, events: list[EventRow], contents: list[ContentRow]) -> None:
        assert self._txn is not None  # noqa: S101 - inside _begin/_commit
        ids = set()
        for _, _, envelope, _ in events:
            event_id = json.loads(envelope)["event_id"]
            if event_id in self._ids or event_id in ids:
                msg = f"event id {event_id} is already recorded"
                raise DuplicateEventError(msg)
            ids.add(event_id)
        self._txn.rows.extend(events)
        self._txn.contents.extend(contents)

    def _insert_checkpoint(self, checkpoint: Checkpoint) -> None:
        assert self._txn is not None  # noqa: S101 - inside _begin/_commit
        self._txn.checkpoints.append(checkpoint)

    def _insert_cosignature(self, cosignature: Cosignature) -> bool:
        assert self._txn is not None  # noqa: S101 - inside _begin/_commit
        with self._lock:
            known = any(
                (c.sequence, c.name, c.body)
                == (cosignature.sequence, cosignature.name, cosignature.body)
                for c in (*self._cosignatures, *self._txn.cosignatures)
            )
        if not known:
            self._txn.cosignatures.append(cosignature)
        return not known

    def _insert_timestamp(self, sequence: int, token: bytes) -> None:
        assert self._txn is not None  # noqa: S101 - inside _begin/_commit
        self._txn.timestamps.append((sequence, token))

    def _find_events(self, identifier: str) -> list[tuple[int, str, bytes]]:
        with self._lock:
            return [
                (row[0], row[1], row[2].encode("utf-8"))
                for row, fields in zip(self._events, self._fields, strict=True)
                if identifier in {fields["event_id"], fields["analysis_id"]}
            ]

    def _read_content(self, sequences: list[int]) -> list[StoredContent]:
        with self._lock:
            return [
                (seq, kind, name, digest, salt, value)
                for seq in sequences
                for kind, name, digest, salt, value in sorted(
                    self._content.get(seq, []), key=lambda r: (r[0], r[1])
                )
            ]

    def _read_tree(
        self,
        sequences: Iterable[int],
        *,
        writing: bool,  # noqa: ARG002 - one copy of the rows
    ) -> dict[int, tuple[str, str | None]]:
        with self._lock:
            count = len(self._events)
            return {
                sequence: (self._events[sequence - 1][1], self._events[sequence - 1][3])
                for sequence in sequences
                if 1 <= sequence <= count
            }

    def _commit(self) -> None:
        txn, self._txn = self._txn, None
        if txn is None:  # pragma: no cover - always inside _begin
            return
        with self._lock:
            for row in txn.rows:
                self._events.append(row)
                fields = json.loads(row[2])
                self._fields.append(fields)
                self._ids.add(fields["event_id"])
                if fields.get("analysis_id"):
                    self._by_analysis.setdefault(fields["analysis_id"], []).append(
                        row[0]
                    )
                track(self._reviews, fields, row[0])
                if fields.get("type") in CONSENT_TYPES:
                    self._consents.append(row[0])
            for sequence, kind, name, digest, salt, value in txn.contents:
                self._content.setdefault(sequence, []).append(
                    [kind, name, digest, salt, value]
                )
            for sequence, index in txn.removals:
                record = self._content[sequence][index]
                record[3] = None
                record[4] = None
            self._checkpoints.extend(txn.checkpoints)
            self._cosignatures.extend(txn.cosignatures)
            self._timestamps.extend(txn.timestamps)

    def _rollback(self) -> None:
        self._txn = None

    def _remove_content(
        self, *, before: str | None, data_class: str | None, subject: str | None
    ) -> tuple[int, int]:
        assert self._txn is not None  # noqa: S101 - inside _begin/_commit
        events = 0
        with self._lock:
            for fields in self._fields:
                if before is not None and not fields["time"] < before:
                    continue
                if subject is not None and fields["subject_ref"] != subject:
                    continue
                touched = False
                for index, record in enumerate(
                    self._content.get(fields["sequence"], [])
                ):
                    if record[4] is None:
                        continue
                    if data_class is not None and record[1] != data_class:
                        continue
                    self._txn.removals.append((fields["sequence"], index))
                    touched = True
                events += touched
        return events, len(self._txn.removals)

    def _register_key(self, key_id: str, pem: str) -> None:
        with self._lock:
            self._keys.setdefault(key_id, pem)

    def _close_storage(self) -> None:
        """Nothing to release."""

    def _is_conflict(self, error: BaseException) -> bool:
        return isinstance(error, DuplicateEventError)

    # -- reading -----------------------------------------------------------------------

    def _read_head(self) -> ChainHead | None:
        with self._lock:
            if not self._events:
                return None
            sequence, hash_, _, _ = self._events[-1]
            return ChainHead(sequence, hash_)

    def _read_signed_sequence(self) -> int:
        with self._lock:
            return max((c.sequence for c in self._checkpoints), default=0)

    def _aggregate_period(
        self,
        bounds: dict[str, Any],
        *,
        cap: int,
        step: Callable[[str], None],
    ) -> PeriodAggregates:
        with self._lock:  # the events that hold the period, as they are now
            first, last = bounds["first"], bounds["last"]
            events = list(
                zip(range(first, last + 1), self._fields[first - 1 : last], strict=True)
            )
            activations = [
                fields
                for fields in self._fields
                if fields.get("type") == attrs.EVENT_POLICY_ACTIVATED
            ]
        return aggregate_events(
            events, bounds, activations=activations, cap=cap, step=step
        )

    def _read_events(
        self, since: str | None, until: str | None
    ) -> Iterator[tuple[int, str, str, dict[str, Any] | None]]:
        with self._lock:
            rows = list(zip(self._events, self._fields, strict=True))
            content = {
                seq: [list(r) for r in recs] for seq, recs in self._content.items()
            }
        for (sequence, hash_, envelope, _), fields in rows:
            if since is not None and fields["time"] < since:
                continue
            if until is not None and fields["time"] >= until:
                continue
            remaining = {
                name: parse_json(value)
                for kind, name, _, _, value in content.get(sequence, [])
                if kind == "content" and value is not None
            }
            yield sequence, hash_, envelope, remaining or None

    def _read_events_at(
        self, sequences: list[int]
    ) -> Iterator[tuple[int, str, str, dict[str, Any] | None]]:
        with self._lock:
            count = len(self._events)
            rows = [self._events[s - 1] for s in sequences if 1 <= s <= count]
            content = {
                seq: [list(r) for r in self._content.get(seq, [])] for seq, *_ in rows
            }
        for sequence, hash_, envelope, _ in rows:
            remaining = {
                name: parse_json(value)
                for kind, name, _, _, value in content[sequence]
                if kind == "content" and value is not None
            }
            yield sequence, hash_, envelope, remaining or None

    def _consent_sequences(self, after: int) -> list[int] | None:
        with self._lock:
            return [sequence for sequence in self._consents if sequence > after]

    def _analysis_sequences(self, analysis_id: str) -> list[int]:
        with self._lock:
            return list(self._by_analysis.get(analysis_id, ()))

    def _review_rows(self, query: ReviewQuery) -> list[ReviewRow] | None:
        with self._lock:
            return scan_rows(self._reviews, query)

    def _count_reviews(self, query: ReviewQuery) -> int | None:
        with self._lock:
            return sum(1 for entry in self._reviews.values() if query.admits(entry))

    def _sequence_range(
        self, since: str | None, until: str | None
    ) -> tuple[int, int] | None:
        with self._lock:
            fields = list(self._fields)
        after = [f["sequence"] for f in fields if since is None or f["time"] >= since]
        before = [f["sequence"] for f in fields if until is None or f["time"] < until]
        if not after or not before:
            return None
        return min(after), max(before)

    @contextlib.contextmanager
    def _read_snapshot(
        self,
        *,
        first: int | None = None,
        last: int | None = None,
        contents: bool = True,
    ) -> Iterator[
        tuple[
            Iterable[tuple[int, str, bytes]],
            Iterable[StoredContent],
            list[Checkpoint],
            dict[str, str],
            list[tuple[int, str, bytes]],
        ]
    ]:
        low = first if first is not None else 0
        high = last if last is not None else float("inf")
        with self._lock:
            links = [
                (seq, hash_, env.encode("utf-8"))
                for seq, hash_, env, _ in self._events
                if low <= seq <= high
            ]
            records = [
                ContentRecord(seq, kind, name, digest, salt, value)
                for seq in sorted(self._content)
                for kind, name, digest, salt, value in sorted(
                    self._content[seq], key=lambda r: (r[0], r[1])
                )
                if contents
            ]
            checkpoints = assemble(
                [
                    (c.sequence, c.key_id, c.hash, c.root, format_time(c.time), c.note)
                    for c in self._checkpoints
                ],
                [
                    (c.sequence, c.name, c.body, c.line, format_time(c.time))
                    for c in self._cosignatures
                ],
                self._timestamps,
            )
            keys = dict(self._keys)
            # verify_chain() reads their types itself: a loose test is enough.
            maintenance = [
                (seq, hash_, env.encode("utf-8"))
                for seq, hash_, env, _ in self._events
                if contents
                and (
                    f'"type":"{attrs.EVENT_CONTENT_PURGED}"' in env
                    or f'"type":"{attrs.EVENT_SUBJECT_ERASED}"' in env
                )
            ]
        yield links, records, checkpoints, keys, maintenance
