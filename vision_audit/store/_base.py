"""
What every audit store shares: group commit, shared syncs, signed checkpoints.

A store subclass supplies the storage (a transaction that reads the head, inserts
rows, commits) and the reads; this base class supplies the rest, the same for
SQLite, PostgreSQL and memory:

- ``append()`` prepares the envelope on the caller's thread and queues it;
- group commit, leader/follower style: the first caller to find no write in progress
  becomes the writer. It drains the queue, reads the head inside an exclusive
  transaction, chains and inserts the whole batch, commits once, and wakes every
  waiter of the batch; it writes the batches queued meanwhile for ``_LEAD_BUDGET``
  more, then hands the writer's role to one of their callers. Exactly one thread
  writes at a time, as with a dedicated writer thread, but an uncontended append
  costs no thread switch;
- with ``durability="power"``, the store's commit itself waits for the disk (SQLite:
  ``synchronous=FULL``; PostgreSQL: ``synchronous_commit = on``), so one sync
  serves the whole group and no waiter is woken before it;
- every event is also a leaf of the log's RFC 9162 Merkle tree: the writer keeps
  the tree's frontier (one hash per set bit of the size) and stores, with each
  event, the perfect subtrees that event completes, so that an append costs one
  node hash on average and any proof reads O(log n) rows;
- checkpoints (C2SP signed notes over the tree's root) are signed in the same
  transaction as the events they cover, every ``checkpoint_every`` events,
  ``checkpoint_interval`` seconds after the first unsigned event (a small timer
  thread), and on close; witnesses' cosignatures and time-stamp tokens are added
  to them later;
- ``purge_content()`` and ``erase_subject()`` remove content and record the event
  that says so in one transaction, after the events queued before them are
  committed (so that none sequenced before that event escapes it);
- a process forked from one that holds the store (a pre-forking web server that
  opened it before forking its workers) gets fresh locks and, on its first write, a
  connection of its own: the parent's stays the parent's.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import hashlib
import re
import secrets
import threading
import time
import weakref
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal, Self

from vision_audit import attributes as attrs
from vision_audit._text import counted
from vision_audit._threads import at_fork_once
from vision_audit.exceptions import AuditWriteError, StoreError
from vision_audit.models import AuditEvent, RecordedEvent
from vision_audit.store import _merkle, _tree
from vision_audit.store._canonical import CanonicalizationError, format_time
from vision_audit.store._chain import (
    GENESIS_HASH,
    SIGNATURE,
    ChainHead,
    ContentRecord,
    StoredContent,
    Verification,
    verify_chain,
)
from vision_audit.store._checkpoints import (
    Checkpoint,
    Claim,
    Cosignature,
    sign_checkpoint,
)
from vision_audit.store._envelope import Prepared, parse_envelope, prepare, seal
from vision_audit.store._keys import (
    Pseudonymizer,
    key_id,
    pseudonym_key_from_environment,
    public_key_pem,
    signing_key_from_environment,
)
from vision_audit.store._reads import IndexedReads

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from types import TracebackType

    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    from vision_audit.store._note import NoteVerifier

__all__ = [
    "DEFAULT_CHECKPOINT_EVERY",
    "DEFAULT_CHECKPOINT_INTERVAL",
    "BaseAuditStore",
    "Durability",
    "EventRow",
    "PseudonymKeyMissingError",
    "keep_inherited",
]

Durability = Literal["process", "power"]
"""When ``append()`` returns: once the event survives the death of the writing
process (``process``), or once it survives a power loss (``power``)."""

EventRow = tuple[int, str, str, str | None]
"""A chained event as stored: sequence, hash, envelope text, and the Merkle tree's
perfect subtrees that the event completes (levels 1 and up, hex, joined by commas;
None when it completes none)."""

TreeRows = dict[int, tuple[str, str | None]]
"""Rows read for the Merkle tree: sequence to (hash, subtrees completed)."""

ContentRow = tuple[int, str, str, str, bytes, bytes]
"""A personal content record as stored: sequence, kind, name, digest, salt, value."""

DEFAULT_CHECKPOINT_EVERY: Final = 1000
DEFAULT_CHECKPOINT_INTERVAL: Final = 60.0
_MAX_BATCH: Final = 2048
_LEAD_BUDGET: Final = 0.002
"""Seconds a caller keeps writing others' events once its own is written."""
_DURABILITIES: Final = ("process", "power")
_MAX_INTERVAL: Final = 365 * 86400.0
_ORIGIN: Final = re.compile(r"[\x21-\x2a\x2c-\x7e]{1,255}")


class PseudonymKeyMissingError(StoreError):
    """The store's pseudonym key is configured elsewhere and was not given."""


def old_schema_message(version: int) -> str:
    """Why a store of an earlier schema is refused, and what to do."""
    return (
        f"was written by an earlier vision-audit (schema version {version}: a hash "
        "chain with checkpoints of its own format, before the Merkle log, C2SP "
        "checkpoints and RFC 8785 canonical JSON). Nothing of that format was "
        "released, so it is not converted: verify and export it with the "
        "vision-audit that wrote it, and start a new store. Left untouched"
    )


def check_origin(origin: str) -> None:
    """
    Refuse an origin that cannot be a C2SP checkpoint's first line and key name.

    Raises:
        ValueError: *origin* is empty, too long, or holds spaces, control
            characters, a ``+`` or anything beyond ASCII.
    """
    if not isinstance(origin, str) or not _ORIGIN.fullmatch(origin):
        msg = (
            f"the log origin {origin!r} must be 1 to 255 printable ASCII characters "
            "without spaces or '+', such as 'example.com/claims-audit'"
        )
        raise ValueError(msg)


_open_stores: weakref.WeakSet[BaseAuditStore] = weakref.WeakSet()
_inherited: list[object] = []


def keep_inherited(connection: object) -> None:
    """
    Keep a connection a forked child took over from its parent, unused, for good.

    Closing it in the child, or letting it be collected, could end the parent's
    session or touch the parent's files; so it stays referenced until the process ends.
    """
    _inherited.append(connection)


def _after_fork_in_child() -> None:
    for store in list(_open_stores):
        store._forked()  # noqa: SLF001 - the store's own hook


class _Unknown:
    """The head this store wrote last is not known: read it inside a transaction."""


_UNKNOWN: Final = _Unknown()


def _no_event() -> None:
    """An item that records nothing: a transaction for a checkpoint only."""


@dataclass(slots=True, eq=False)
class _Item:
    """
    One request for the writer, and where its answer goes.

    ``lock`` is held from submission; whoever answers (or hands over the writer's
    role) releases it, which wakes the waiting caller.
    """

    event: AuditEvent | None = None
    prepared: Prepared | None = None
    make: Callable[[], Prepared | None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    result: tuple[int, str, str] | None = None
    error: BaseException | None = None
    invalid: bool = False
    batch: int = 0
    lead: bool = False


class BaseAuditStore(IndexedReads, ABC):
    """
    The machinery shared by the audit stores; see the module docstring.

    Subclasses call :meth:`_start` at the end of their ``__init__``, once the storage
    is open and the pseudonym key known.
    """

    def __init__(
        self,
        *,
        name: str,
        durability: Durability = "process",
        signing_key: Ed25519PrivateKey | None = None,
        pseudonym_key: bytes | None = None,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
        checkpoint_interval: float = DEFAULT_CHECKPOINT_INTERVAL,
        read_only: bool = False,
        origin: str | None = None,
        cosign_only: bool = False,
    ) -> None:
        """Check and keep the options common to every store."""
        self.cosign_only = cosign_only
        if origin is not None:
            check_origin(origin)
        self._configured_origin = origin
        if durability not in _DURABILITIES:
            msg = f"durability must be 'process' or 'power', not {durability!r}"
            raise ValueError(msg)
        if checkpoint_every < 1:
            msg = f"checkpoint_every must be at least 1, not {checkpoint_every!r}"
            raise ValueError(msg)
        if not 0 < checkpoint_interval <= _MAX_INTERVAL:
            msg = (
                f"checkpoint_interval must be a number of seconds above 0 and at most "
                f"{_MAX_INTERVAL:.0f} (a year), not {checkpoint_interval!r}"
            )
            raise ValueError(msg)
        self.name = name
        self.durability: Durability = durability
        self.read_only = read_only
        if signing_key is None and not read_only and not cosign_only:
            signing_key = signing_key_from_environment()
        if pseudonym_key is None:
            pseudonym_key = pseudonym_key_from_environment()
        self._signing_key = signing_key
        self._configured_pseudonym_key = pseudonym_key
        self._pseudonymize: Pseudonymizer | None = None
        self._checkpoint_every = checkpoint_every
        self._checkpoint_interval = checkpoint_interval
        self._state_lock = threading.Lock()
        self._idle = threading.Condition(self._state_lock)
        self._pending: list[_Item] = []
        self._leading = False
        self._writers = 0
        self._closed = False
        self._started = False
        self._timer: threading.Thread | None = None
        self._timer_wake = threading.Event()
        self._batches = 0
        self._head: ChainHead | _Unknown | None = _UNKNOWN
        self._frontier: list[bytes] = []
        self.origin = ""
        """The log's name, the first line of its checkpoints (C2SP origin)."""
        self._signed_sequence = 0
        self._signed_at = time.monotonic()
        self._unsigned = False
        self._key_id = (
            key_id(signing_key.public_key()) if signing_key is not None else None
        )
        self._at_exit: Callable[[], None] | None = None
        self._wipe_pending = False
        self._wipe_warned = False

    # -- hooks for subclasses ---------------------------------------------------------

    @abstractmethod
    def _begin(self) -> ChainHead | None:
        """Open the exclusive write transaction; return the head read inside it."""

    @abstractmethod
    def _insert(self, events: list[EventRow], contents: list[ContentRow]) -> None:
        """Insert chained events and their content records, in the transaction."""

    @abstractmethod
    def _insert_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Insert a signed checkpoint, in the transaction."""

    @abstractmethod
    def _read_tree(self, sequences: Iterable[int], *, writing: bool) -> TreeRows:
        """
        The hash and completed subtrees of the events at *sequences* that exist.

        With *writing*, read inside the write transaction (after :meth:`_begin`).
        """

    @abstractmethod
    def _find_events(self, identifier: str) -> list[tuple[int, str, bytes]]:
        """The links of the event with id *identifier*, or of the analysis."""

    @abstractmethod
    def _read_content(self, sequences: list[int]) -> list[StoredContent]:
        """The personal content records of the events at *sequences*."""

    @abstractmethod
    def _insert_cosignature(self, cosignature: Cosignature) -> bool:
        """Record a cosignature; False when the same witness already cosigned."""

    @abstractmethod
    def _insert_timestamp(self, sequence: int, token: bytes) -> None:
        """Record a time-stamp token over the checkpoint of *sequence*."""

    @abstractmethod
    def _commit(self) -> None:
        """Commit the write transaction."""

    @abstractmethod
    def _rollback(self) -> None:
        """Roll back the write transaction, if one is open."""

    @abstractmethod
    def _remove_content(
        self, *, before: str | None, data_class: str | None, subject: str | None
    ) -> tuple[int, int]:
        """
        Delete values and salts of content records, in the transaction.

        Selects the records of events older than *before* (an ISO time), of
        *data_class* (a content name) when given, or of events whose subject
        pseudonym is *subject*. Returns (events touched, records emptied).
        """

    def _look_for_subject(self, pseudonym: str) -> None:
        """
        Find a subject's events before the write transaction, when that is slow.

        Called by ``erase_subject()`` outside the writer's transaction, so that a
        store that scans for pseudonyms does most of the scan without blocking
        appends; :meth:`_remove_content` then looks only at what came after.
        """

    @abstractmethod
    def _register_key(self, key_id: str, pem: str) -> None:
        """Record a public key the store's checkpoints are signed with."""

    @abstractmethod
    def _close_storage(self) -> None:
        """Release the writer's connection (called on the writer thread)."""

    @abstractmethod
    def _read_head(self) -> ChainHead | None:
        """The last recorded event's sequence and hash."""

    @abstractmethod
    def _read_signed_sequence(self) -> int:
        """The highest sequence a checkpoint signs, 0 when there is none."""

    @abstractmethod
    def _read_events(
        self, since: str | None, until: str | None
    ) -> Iterator[tuple[int, str, str, dict[str, Any] | None]]:
        """Sequence, hash, envelope and remaining content, in sequence order."""

    @abstractmethod
    def _sequence_range(
        self, since: str | None, until: str | None
    ) -> tuple[int, int] | None:
        """The first sequence at or after *since*, the last before *until*."""

    @abstractmethod
    def _read_snapshot(
        self,
        *,
        first: int | None = None,
        last: int | None = None,
        contents: bool = True,
    ) -> contextlib.AbstractContextManager[
        tuple[
            Iterable[tuple[int, str, bytes]],
            Iterable[StoredContent],
            list[Checkpoint],
            dict[str, str],
            list[tuple[int, str, bytes]],
        ]
    ]:
        """
        Links, content records, checkpoints, public keys and removals, one snapshot.

        Links are limited to sequences *first* to *last* when given; content records
        are empty unless *contents*. Removals are the links of at least every
        ``content.purged`` and ``subject.erased`` event, when *contents*, else
        empty.
        """

    def _insert_alone(
        self,
        events: list[EventRow],  # noqa: ARG002 - a hook
        contents: list[ContentRow],  # noqa: ARG002
    ) -> bool:
        """
        Insert chained events in one self-committing statement, when the store can.

        The events were chained after the head this store last wrote. Returns False,
        having written nothing, when the store cannot, or when the head has moved
        (another process appended); the batch then goes through :meth:`_begin`.
        """
        return False

    def _is_conflict(self, error: BaseException) -> bool:  # noqa: ARG002 - a hook
        """True when *error* concerns one event (e.g. a duplicate id), not the batch."""
        return False

    def _describe(self, error: BaseException) -> str:
        """A sentence about a storage error, naming the problem."""
        return str(error) or type(error).__name__

    # -- lifecycle ---------------------------------------------------------------------

    def _choose_origin(self, recorded: str | None) -> tuple[str, bool]:
        """
        The log's origin, and whether it is new (to be recorded).

        Raises:
            StoreError: The configured origin is not the one the log was made with.
        """
        configured = self._configured_origin
        if recorded is not None:
            if configured is not None and configured != recorded:
                msg = (
                    f"{self.name}: this log is {recorded!r}, not {configured!r}; a "
                    "log keeps the origin it was created with"
                )
                raise StoreError(msg)
            return recorded, False
        return configured or f"vision-audit/{secrets.token_hex(8)}", True

    def _set_pseudonym_key(self, key: bytes) -> None:
        self._pseudonymize = Pseudonymizer(key)

    def _start(self) -> None:
        """Get ready to write, once the storage is open."""
        if self.read_only:
            return
        self._signed_sequence = self._read_signed_sequence()
        head = self._read_head()
        self._unsigned = head is not None and head.sequence > self._signed_sequence
        if self._signing_key is not None and self._key_id is not None:
            pem = public_key_pem(self._signing_key.public_key()).decode("ascii")
            self._register_key(self._key_id, pem)
            self._start_timer()
        self._started = True
        at_fork_once("vision-audit stores", after_in_child=_after_fork_in_child)
        _open_stores.add(self)
        reference = weakref.ref(self)

        def close_at_exit() -> None:
            store = reference()
            if store is not None:
                store.close()

        self._at_exit = close_at_exit
        atexit.register(close_at_exit)

    def _start_timer(self) -> None:
        self._timer_wake = threading.Event()
        self._timer = threading.Thread(
            target=self._sign_in_time,
            name=f"vision-audit checkpoints {self.name}",
            daemon=True,
        )
        self._timer.start()

    def _forked(self) -> None:
        """
        In a child process just forked: forget the parent's threads and connections.

        The locks may have been held by threads that do not exist here; the queue
        held their events, which are the parent's to write; the head may move before
        this process writes. The storage opens a connection of its own on the first
        write (:meth:`_abandon_connections`).
        """
        self._state_lock = threading.Lock()
        self._idle = threading.Condition(self._state_lock)
        self._pending = []
        self._leading = False
        self._writers = 0
        self._head = _UNKNOWN
        if self._closed:
            return
        self._abandon_connections()
        if self._timer is not None:
            self._start_timer()

    def _abandon_connections(self) -> None:
        """Leave the parent's connections to it; open new ones when next needed."""

    def _sign_in_time(self) -> None:
        """The timer thread: sign an unsigned head after ``checkpoint_interval``."""
        while not self._timer_wake.wait(self._checkpoint_interval / 4):
            if not self._unsigned:
                continue
            if time.monotonic() - self._signed_at < self._checkpoint_interval:
                continue
            with contextlib.suppress(Exception):
                self._submit(_Item(make=_no_event))

    def close(self) -> None:
        """
        Finish the writes under way, sign a last checkpoint if a key allows, release.

        Idempotent. Appends after ``close()`` raise ``AuditWriteError``.
        """
        with self._state_lock:
            if self._closed:
                return
            self._closed = True
        if self._at_exit is not None:
            atexit.unregister(self._at_exit)
            self._at_exit = None
        if self._timer is not None:
            self._timer_wake.set()
            self._timer.join()
        if self._started and self._signing_key is not None:
            with contextlib.suppress(Exception):
                self._submit(_Item(make=_no_event), closing=True)
        with self._state_lock:
            while self._writers:
                self._idle.wait()
        with contextlib.suppress(Exception):
            self._close_storage()

    def __enter__(self) -> Self:
        """The store itself; closed on exit."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the store."""
        self.close()

    # -- writing -----------------------------------------------------------------------

    def append(self, event: AuditEvent) -> RecordedEvent:
        """
        Record *event*, chained after the current head, and return it as recorded.

        Returns once the event is acknowledged: committed (``durability="process"``)
        or synced to disk (``durability="power"``). Thread-safe; many threads' events
        share one transaction.

        Raises:
            AuditWriteError: The event was not recorded: it has no canonical form, its
                id is taken, the store is closed or cannot be written (the message
                says which).

        .. versionadded:: 0.1.0
        """
        if self._pseudonymize is None:
            msg = f"{self.name}: opened read-only; no event can be recorded"
            raise AuditWriteError(msg)
        try:
            prepared = prepare(event, self._pseudonymize)
        except (CanonicalizationError, TypeError, ValueError) as err:
            event_id = getattr(event, "event_id", "?")
            msg = f"{self.name}: event {event_id} not recorded: {err}"
            raise AuditWriteError(msg) from err
        item = _Item(event=event, prepared=prepared)
        sequence, prev_hash, hash_ = self._submit(item)
        if item.prepared is None:  # pragma: no cover - answered items are prepared
            msg = f"{self.name}: the writer gave no answer"
            raise AuditWriteError(msg)
        return item.prepared.recorded(sequence, prev_hash, hash_)

    def _submit(self, item: _Item, *, closing: bool = False) -> tuple[int, str, str]:
        """Queue *item*, write it (as the writer or through it), return its place."""
        item.lock.acquire()
        with self._state_lock:
            if self._closed and not closing:
                msg = f"{self.name}: the store is closed; the event was not recorded"
                raise AuditWriteError(msg)
            self._pending.append(item)
            lead = not self._leading
            if lead:
                self._leading = True
                self._writers += 1
        if not lead:
            item.lock.acquire()  # released once answered, or to hand over the role
            lead = item.lead
        if lead:
            self._lead(item)
        if item.error is not None:
            if item.invalid:
                event_id = getattr(item.event, "event_id", "?")
                msg = f"{self.name}: event {event_id} not recorded: {item.error}"
            else:
                what = self._describe(item.error)
                msg = f"{self.name}: the event was not recorded: {what}"
            raise AuditWriteError(msg) from item.error
        if item.result is None:  # pragma: no cover - answered items have a result
            msg = f"{self.name}: the writer gave no answer"
            raise AuditWriteError(msg)
        return item.result

    def _lead(self, own: _Item) -> None:
        """
        Write queued batches, *own* among them, while more keep coming; then step down.

        Waiters are woken right after their batch commits (with power durability,
        the commit has synced the log). Once *own* is written, the role passes on
        after ``_LEAD_BUDGET`` seconds, so that no caller serves the others for long.
        """
        deadline: float | None = None
        try:
            while True:
                with self._state_lock:
                    batch, self._pending = self._pending, []
                    if not batch:
                        self._leading = False
                        return
                    if deadline is not None and time.monotonic() > deadline:
                        self._pending = batch
                        self._hand_over()
                        return
                try:
                    self._write(batch)
                finally:
                    for item in batch:
                        if item is not own:
                            item.lock.release()
                deadline = time.monotonic() + _LEAD_BUDGET
        except BaseException:
            with self._state_lock:
                if self._leading:
                    self._hand_over()
            raise
        finally:
            with self._state_lock:
                self._writers -= 1
                if not self._writers:
                    self._idle.notify_all()

    def _hand_over(self) -> None:
        """Pass the writer's role to the first waiting caller, or give it up."""
        if self._pending:
            successor = self._pending[0]
            successor.lead = True
            self._writers += 1
            successor.lock.release()
        else:
            self._leading = False

    def _write(self, items: list[_Item]) -> None:
        """
        Prepare *items*, then chain and commit them in one transaction.

        A purge or an erasure starts a new transaction, after the items before it.
        """
        pseudonymize = self._pseudonymize
        ready: list[_Item] = []
        for item in items:
            if item.event is not None and item.prepared is None:
                if pseudonymize is None:
                    item.error = StoreError(
                        f"{self.name}: opened to keep cosignatures only; no event "
                        "can be recorded"
                    )
                    continue
                try:
                    item.prepared = prepare(item.event, pseudonymize)
                except (CanonicalizationError, TypeError, ValueError) as err:
                    item.error = err
                    item.invalid = True
                    continue
            ready.append(item)
        # A maintenance item removes content from what is recorded when its make()
        # runs: the events queued before it are committed first, so that every event
        # sequenced before its own is among what it removes from. It has its own
        # transaction: a make() that fails (a refused append_checked) fails alone,
        # not the events queued after it. Checkpoint-only items share the batch.
        start = 0
        for index, item in enumerate(ready):
            if item.make is not None and item.make is not _no_event:
                if index > start:
                    self._try(ready[start:index])
                self._try([item])
                start = index + 1
        if ready[start:]:
            self._try(ready[start:])

    def _try(self, items: list[_Item]) -> None:
        try:
            self._transaction(items)
        except BaseException as err:
            self._head = _UNKNOWN
            with contextlib.suppress(Exception):
                self._rollback()
            if len(items) > 1 and self._is_conflict(err):
                for item in items:
                    self._try([item])
                return
            for item in items:
                item.error = err
                item.result = None
            if not isinstance(err, Exception):
                raise
            return
        self._batches += 1
        for item in items:
            item.batch = self._batches

    _keeps_tree: ClassVar[bool] = True
    """Whether appends keep the Merkle tree: off only to measure what it costs."""

    @staticmethod
    def _seal(
        items: list[_Item],
        head: ChainHead | None,
        frontier: list[bytes],
        *,
        tree: bool = True,
    ) -> tuple[list[EventRow], list[ContentRow], ChainHead | None, list[bytes]]:
        """
        Chain the prepared *items* after *head* and add them to the Merkle tree.

        Returns the rows, the content rows, the new head and the new frontier;
        *frontier* (the tree's at *head*) is left as it was.
        """
        sequence, prev = (head.sequence, head.hash) if head else (0, GENESIS_HASH)
        rows: list[EventRow] = []
        contents: list[ContentRow] = []
        stack = list(frontier)
        sha256 = hashlib.sha256
        for item in items:
            prepared = item.prepared
            if prepared is None:
                item.result = (sequence, prev, prev)
                continue
            sequence += 1
            text, hash_ = seal(prepared, sequence, prev)
            completed: list[str] = []
            if tree:
                # Leaf `sequence` completes one perfect subtree per trailing zero
                # bit of `sequence`; each is stored with the event completing it.
                node = sha256(b"\x00" + bytes.fromhex(hash_)).digest()
                count = sequence
                while not count & 1:
                    node = sha256(b"\x01" + stack.pop() + node).digest()
                    completed.append(node.hex())
                    count >>= 1
                stack.append(node)
            rows.append((sequence, hash_, text, ",".join(completed) or None))
            contents.extend(
                (sequence, kind, name, digest, salt, value)
                for kind, name, digest, salt, value in prepared.records
            )
            item.result = (sequence, prev, hash_)
            prev = hash_
        new_head = ChainHead(sequence, prev) if sequence else None
        return rows, contents, new_head, stack

    def _transaction(self, items: list[_Item]) -> None:  # noqa: C901 - its steps
        head = self._head
        if (
            not isinstance(head, _Unknown)
            and all(item.make is None for item in items)
            and not self._checkpoint_due(
                (head.sequence if head else 0) + len(items), force=False
            )
        ):
            rows, contents, new_head, frontier = self._seal(
                items, head, self._frontier, tree=self._keeps_tree
            )
            if self._insert_alone(rows, contents):
                self._head = new_head
                self._frontier = frontier
                self._unsigned = True
                return
            self._head = _UNKNOWN
        head = self._begin()
        for item in items:
            if item.make is not None:
                item.prepared = item.make()
        if head is None:
            known: list[bytes] = []
        elif isinstance(self._head, ChainHead) and self._head == head:
            known = self._frontier
        else:
            known = self._read_frontier(head.sequence, writing=True)
        rows, contents, new_head, frontier = self._seal(
            items, head, known, tree=self._keeps_tree
        )
        if rows:
            self._insert(rows, contents)
        checkpoint = None
        if new_head is not None and self._checkpoint_due(
            new_head.sequence, force=any(item.make is _no_event for item in items)
        ):
            checkpoint = self._sign(new_head, frontier)
            self._insert_checkpoint(checkpoint)
        self._commit()
        self._head = new_head
        self._frontier = frontier
        if rows:
            self._unsigned = True
        if checkpoint is not None:
            self._signed_sequence = checkpoint.sequence
            self._signed_at = time.monotonic()
            self._unsigned = False

    def _checkpoint_due(self, sequence: int, *, force: bool) -> bool:
        if self._signing_key is None or sequence <= self._signed_sequence:
            return False
        return (
            force
            or sequence - self._signed_sequence >= self._checkpoint_every
            or time.monotonic() - self._signed_at >= self._checkpoint_interval
        )

    def _sign(self, head: ChainHead, frontier: list[bytes]) -> Checkpoint:
        key = self._signing_key
        if key is None or self._key_id is None:  # pragma: no cover - checked before
            msg = f"{self.name}: no signing key"
            raise StoreError(msg)
        return sign_checkpoint(
            origin=self.origin,
            sequence=head.sequence,
            root=_merkle.root_from_frontier(frontier),
            chain_hash=head.hash,
            key=key,
            key_id=self._key_id,
            time=datetime.now(UTC),
        )

    def _read_frontier(self, size: int, *, writing: bool) -> list[bytes]:
        """The Merkle tree's frontier at *size*, read from the stored subtrees."""
        return _tree.frontier_of(size, self._tree_reader(writing=writing))

    def _tree_reader(self, *, writing: bool = False) -> _tree.TreeReader:
        def read(sequences: Iterable[int]) -> TreeRows:
            return self._read_tree(sequences, writing=writing)

        return read

    def append_checked(
        self, event: AuditEvent, check: Callable[[], None]
    ) -> RecordedEvent:
        """
        Record *event* only if *check* passes, inside the write transaction.

        *check* runs once every event queued before this one is committed, while no
        other writer (of this process or another) can commit: what it reads of the
        store stays true until *event* is recorded. For decisions that must not
        race, such as two reviewers deciding one case. It should read little (a
        time-bounded ``iter_events``): every writer waits meanwhile.

        Raises:
            Exception: Whatever *check* raised; nothing is recorded.
            AuditWriteError: The event was not recorded, as for :meth:`append`.

        .. versionadded:: 0.1.0
        """
        pseudonymize = self._pseudonym_function()
        refused: list[BaseException] = []

        def make() -> Prepared:
            try:
                check()
            except Exception as err:
                refused.append(err)
                raise
            return prepare(event, pseudonymize)

        try:
            return self._run_maintenance(make)
        except AuditWriteError:
            if refused:
                raise refused[0] from None
            raise

    def _run_maintenance(self, make: Callable[[], Prepared | None]) -> RecordedEvent:
        if self._pseudonymize is None:
            msg = f"{self.name}: opened read-only; nothing can be changed"
            raise StoreError(msg)
        item = _Item(make=make)
        sequence, prev_hash, hash_ = self._submit(item)
        if item.prepared is None:  # pragma: no cover - make() always gives an event
            msg = f"{self.name}: no event was recorded"
            raise AuditWriteError(msg)
        return item.prepared.recorded(sequence, prev_hash, hash_)

    def sign_checkpoint(self) -> Checkpoint | None:
        """
        Sign the current head now, when a signing key is configured and it is unsigned.

        Returns:
            The new checkpoint, or None when there was nothing to sign.

        .. versionadded:: 0.1.0
        """
        if self._signing_key is None or self._pseudonymize is None:
            return None
        before = self._signed_sequence
        self._submit(_Item(make=_no_event))
        if self._signed_sequence == before:
            return None
        checkpoints = self.list_checkpoints()
        return checkpoints[-1] if checkpoints else None

    def purge_content(
        self,
        *,
        older_than: datetime | timedelta,
        data_class: str | None = None,
        actor: str | None = None,
    ) -> RecordedEvent:
        """
        Delete personal content of events older than a cutoff; the chain still verifies.

        Values and salts go; the salted digests stay, so the chain and any remaining
        content still verify. Records a ``content.purged`` event with the counts, in
        the same transaction.

        Args:
            older_than: A time, or an age counted back from now.
            data_class: Only this content member (e.g. ``caption``, ``text``, or
                ``subject_ref`` for raw subject references); all when None.
            actor: Who asked, recorded in the event.

        Returns:
            The ``content.purged`` event, whose ``data`` holds ``events`` and
            ``records``, the counts of events and content records purged.

        Raises:
            AuditWriteError: Nothing was purged and no event recorded.

        .. versionadded:: 0.1.0
        """
        cutoff = (
            datetime.now(UTC) - older_than
            if isinstance(older_than, timedelta)
            else older_than
        )
        before = format_time(cutoff)

        def make() -> Prepared:
            events, records = self._remove_content(
                before=before, data_class=data_class, subject=None
            )
            event = AuditEvent(
                type=attrs.EVENT_CONTENT_PURGED,
                actor=actor,
                data={
                    "older_than": before,
                    "data_class": data_class,
                    "events": events,
                    "records": records,
                },
            )
            return prepare(event, self._pseudonym_function())

        return self._run_maintenance(make)

    def erase_subject(
        self, subject_ref: str, *, actor: str | None = None
    ) -> RecordedEvent:
        """
        Delete every piece of one data subject's personal content; the chain verifies.

        Finds the subject's events by pseudonym, deletes their content values and
        salts (the raw reference included), and records a ``subject.erased`` event
        carrying the pseudonym and the counts, never the reference or the content.

        Args:
            subject_ref: The reference as the application gave it.
            actor: Who asked, recorded in the event.

        Returns:
            The ``subject.erased`` event; ``data`` holds ``events`` and ``records``.

        Raises:
            AuditWriteError: Nothing was erased and no event recorded.

        .. versionadded:: 0.1.0
        """
        if not isinstance(subject_ref, str) or not subject_ref:
            msg = "subject_ref must be a non-empty string"
            raise ValueError(msg)
        pseudonym = self._pseudonym_function()(subject_ref)
        self._look_for_subject(pseudonym)

        def make() -> Prepared:
            events, records = self._remove_content(
                before=None, data_class=None, subject=pseudonym
            )
            event = AuditEvent(
                type=attrs.EVENT_SUBJECT_ERASED,
                actor=actor,
                data={"events": events, "records": records},
            )
            return prepare(event, self._pseudonym_function(), pseudonym=pseudonym)

        return self._run_maintenance(make)

    def _pseudonym_function(self) -> Pseudonymizer:
        if self._pseudonymize is None:
            msg = f"{self.name}: opened read-only; the pseudonym key is not loaded"
            raise StoreError(msg)
        return self._pseudonymize

    @property
    def wipe_pending(self) -> bool:
        """
        Whether content removed by a purge or erasure may linger in the storage.

        Removal overwrites the values in place, but the storage may keep older copies
        (SQLite: page images in the WAL file, while a reader holds an older snapshot;
        PostgreSQL: dead row versions, when ``VACUUM`` is not permitted) until they
        can be wiped. The store retries on later writes and on close, and logs a
        warning on the ``vision_audit`` logger while they linger.

        .. versionadded:: 0.1.0
        """
        return self._wipe_pending

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

    def list_checkpoints(self) -> list[Checkpoint]:
        """
        Every signed checkpoint, in sequence order.

        .. versionadded:: 0.1.0
        """
        with self._read_snapshot(first=0, last=0, contents=False) as snapshot:
            # Cosignatures left without their checkpoint (deleted) count in
            # verify(); they are no checkpoint of the writer's.
            return [checkpoint for checkpoint in snapshot[2] if checkpoint.note]

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

    def _run_write(self, make: Callable[[], None]) -> None:
        """Run *make* in a write transaction of its own, recording no event."""
        if self.read_only:
            msg = f"{self.name}: opened read-only; nothing can be changed"
            raise StoreError(msg)
        try:
            self._submit(_Item(make=make))
        except AuditWriteError as err:
            raise StoreError(str(err)) from err

    def _recorded_data_classes(self) -> set[str]:
        """The names of the personal content records kept (purged or not)."""
        with self._read_snapshot(first=0, last=0) as (_, records, _, _, _):
            return {name for _, _, name, _, _, _ in records}

    def list_public_keys(self) -> dict[str, Ed25519PublicKey]:
        """
        The public keys this store's checkpoints were signed with, by key id.

        These come from the store itself; an auditor should hold the chain to a key
        obtained another way (``verify(public_keys=...)``).

        .. versionadded:: 0.1.0
        """
        from vision_audit.store._keys import load_public_key  # noqa: PLC0415

        with self._read_snapshot(first=0, last=0, contents=False) as snapshot:
            keys = snapshot[3]
            return {
                kid: load_public_key(pem.encode("ascii"), source=f"key {kid}")
                for kid, pem in keys.items()
            }

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
        """
        Check every link, content digest, checkpoint and cosignature of the store.

        Args:
            public_keys: The writer keys to trust: the log then fails as
                ``unsigned`` unless a checkpoint signed by one of them holds it.
                When None (and no witnesses), the keys the store records are used,
                and a warning says that this proves consistency, not origin.
            progress: Called now and then with the number of events checked.
            content: Also check each event's personal content against the salted
                digests its envelope holds (about three times slower).
            witnesses: Trusted witnesses' keys: the log then fails as
                ``not-witnessed`` unless a checkpoint cosigned by *min_witnesses*
                of them holds it, and a rewrite of what they saw fails.
            min_witnesses: The quorum of distinct witnesses.
            pinned: Roots the verifier holds from elsewhere (checked already).

        Returns:
            The verification; ``ok`` is False with the first bad sequence and the
            kind of damage when anything does not match.

        Raises:
            StoreError: The store cannot be read at all (e.g. a corrupt file).

        .. versionadded:: 0.1.0
        .. versionchanged:: 0.2.0 ``witnesses``, ``min_witnesses`` and ``pinned``.
        """
        from vision_audit.store._keys import load_public_key  # noqa: PLC0415

        with self._read_snapshot(contents=content) as (
            links,
            contents,
            checkpoints,
            keys,
            maintenance,
        ):
            warnings: list[str] = []
            unreadable: list[tuple[str, str]] = []
            trusted: dict[str, Ed25519PublicKey] | None
            if public_keys is None and not witnesses:
                trusted = {}
                for kid, pem in keys.items():
                    try:
                        trusted[kid] = load_public_key(
                            pem.encode("ascii"), source=f"key {kid}"
                        )
                    except (ValueError, UnicodeError) as err:
                        unreadable.append((kid, str(err)))
                if checkpoints:
                    warnings.append(
                        "checkpoint signatures were checked against the public keys "
                        "stored in the store itself; pass a public key obtained "
                        "another way to prove who signed them"
                    )
            elif public_keys is None:
                trusted = None
            else:
                trusted = {key_id(key): key for key in public_keys}
            result = verify_chain(
                links,
                checkpoints=checkpoints,
                public_keys=trusted,
                contents=contents if content else None,
                progress=progress,
                require_signature=public_keys is not None,
                maintenance=maintenance,
                witnesses=witnesses,
                min_witnesses=min_witnesses,
                origin=self.origin or None,
                pinned=pinned,
            )
        if unreadable:
            kid, problem = min(unreadable)
            at = min(
                (c.sequence for c in checkpoints if c.key_id == kid),
                default=(result.head.sequence if result.head else 0) + 1,
            )
            if result.ok or (result.sequence or 0) >= at:
                return dataclasses.replace(
                    result,
                    ok=False,
                    sequence=at,
                    kind=SIGNATURE,
                    message=(
                        f"the public key {kid} recorded in the store was changed: "
                        f"{problem}"
                    ),
                    warnings=(),
                )
        if warnings and result.ok:
            result = dataclasses.replace(result, warnings=(*result.warnings, *warnings))
        return dataclasses.replace(result, origin=self.origin or None)

    def __repr__(self) -> str:
        """Names the store, never its keys."""
        return f"{type(self).__name__}({self.name!r}, durability={self.durability!r})"
