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
- checkpoints are signed in the same transaction as the events they cover, every
  ``checkpoint_every`` events, ``checkpoint_interval`` seconds after the first
  unsigned event (a small timer thread), and on close;
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
import os
import threading
import time
import weakref
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Literal, Self

from vision_audit.exceptions import AuditWriteError, StoreError
from vision_audit.models import AuditEvent, RecordedEvent
from vision_audit.store._canonical import CanonicalizationError, format_time
from vision_audit.store._chain import (
    GENESIS_HASH,
    SIGNATURE,
    ChainHead,
    Checkpoint,
    StoredContent,
    Verification,
    verify_chain,
)
from vision_audit.store._envelope import Prepared, parse_envelope, prepare, seal
from vision_audit.store._keys import (
    Pseudonymizer,
    key_id,
    pseudonym_key_from_environment,
    public_key_pem,
    signing_key_from_environment,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from types import TracebackType

    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

__all__ = [
    "DEFAULT_CHECKPOINT_EVERY",
    "DEFAULT_CHECKPOINT_INTERVAL",
    "BaseAuditStore",
    "Durability",
    "EventRow",
    "keep_inherited",
]

Durability = Literal["process", "power"]
"""When ``append()`` returns: once the event survives the death of the writing
process (``process``), or once it survives a power loss (``power``)."""

EventRow = tuple[int, str, str]
"""A chained event as stored: sequence, hash, envelope text."""

ContentRow = tuple[int, str, str, str, bytes, bytes]
"""A personal content record as stored: sequence, kind, name, digest, salt, value."""

DEFAULT_CHECKPOINT_EVERY: Final = 1000
DEFAULT_CHECKPOINT_INTERVAL: Final = 60.0
_MAX_BATCH: Final = 2048
_LEAD_BUDGET: Final = 0.002
"""Seconds a caller keeps writing others' events once its own is written."""
_DURABILITIES: Final = ("process", "power")


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


if hasattr(os, "register_at_fork"):  # pragma: no branch - absent on Windows only
    os.register_at_fork(after_in_child=_after_fork_in_child)


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


class BaseAuditStore(ABC):
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
    ) -> None:
        """Check and keep the options common to every store."""
        if durability not in _DURABILITIES:
            msg = f"durability must be 'process' or 'power', not {durability!r}"
            raise ValueError(msg)
        if checkpoint_every < 1:
            msg = f"checkpoint_every must be at least 1, not {checkpoint_every!r}"
            raise ValueError(msg)
        if checkpoint_interval <= 0:
            msg = f"checkpoint_interval must be positive, not {checkpoint_interval!r}"
            raise ValueError(msg)
        self.name = name
        self.durability: Durability = durability
        self.read_only = read_only
        if signing_key is None and not read_only:
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

    def _look_for_subject(self, pseudonym: str) -> None:  # noqa: B027 - optional
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

    def _abandon_connections(self) -> None:  # noqa: B027 - a hook, empty for memory
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
        pseudonymize = self._pseudonym_function()
        ready: list[_Item] = []
        for item in items:
            if item.event is not None and item.prepared is None:
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

    @staticmethod
    def _seal(
        items: list[_Item], head: ChainHead | None
    ) -> tuple[list[EventRow], list[ContentRow], ChainHead | None]:
        """Chain the prepared *items* after *head*; rows, content rows, new head."""
        sequence, prev = (head.sequence, head.hash) if head else (0, GENESIS_HASH)
        rows: list[EventRow] = []
        contents: list[ContentRow] = []
        for item in items:
            prepared = item.prepared
            if prepared is None:
                item.result = (sequence, prev, prev)
                continue
            sequence += 1
            text, hash_ = seal(prepared, sequence, prev)
            rows.append((sequence, hash_, text))
            contents.extend(
                (sequence, kind, name, digest, salt, value)
                for kind, name, digest, salt, value in prepared.records
            )
            item.result = (sequence, prev, hash_)
            prev = hash_
        return rows, contents, ChainHead(sequence, prev) if sequence else None

    def _transaction(self, items: list[_Item]) -> None:
        head = self._head
        if (
            not isinstance(head, _Unknown)
            and all(item.make is None for item in items)
            and not self._checkpoint_due(
                (head.sequence if head else 0) + len(items), force=False
            )
        ):
            rows, contents, new_head = self._seal(items, head)
            if self._insert_alone(rows, contents):
                self._head = new_head
                self._unsigned = True
                return
            self._head = _UNKNOWN
        head = self._begin()
        for item in items:
            if item.make is not None:
                item.prepared = item.make()
        rows, contents, new_head = self._seal(items, head)
        if rows:
            self._insert(rows, contents)
        checkpoint = None
        if new_head is not None and self._checkpoint_due(
            new_head.sequence, force=any(item.make is _no_event for item in items)
        ):
            checkpoint = self._sign(new_head)
            self._insert_checkpoint(checkpoint)
        self._commit()
        self._head = new_head
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

    def _sign(self, head: ChainHead) -> Checkpoint:
        key = self._signing_key
        if key is None or self._key_id is None:  # pragma: no cover - checked before
            msg = f"{self.name}: no signing key"
            raise StoreError(msg)
        signed_at = datetime.now(UTC)
        unsigned = Checkpoint(
            sequence=head.sequence,
            hash=head.hash,
            time=signed_at,
            key_id=self._key_id,
            signature="",
        )
        return Checkpoint(
            sequence=head.sequence,
            hash=head.hash,
            time=signed_at,
            key_id=self._key_id,
            signature=key.sign(unsigned.payload()).hex(),
        )

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
                type="content.purged",
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
                type="subject.erased",
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
            return list(snapshot[2])

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
    ) -> Verification:
        """
        Check every link, content digest and checkpoint signature of the store.

        Args:
            public_keys: The keys to trust: the chain then fails as ``unsigned``
                unless a checkpoint signed by one of them holds it. When None, the
                keys the store records are used, and a warning says that this
                proves consistency, not origin.
            progress: Called now and then with the number of events checked.
            content: Also check each event's personal content against the salted
                digests its envelope holds (about three times slower).

        Returns:
            The verification; ``ok`` is False with the first bad sequence and the
            kind of damage when anything does not match.

        Raises:
            StoreError: The store cannot be read at all (e.g. a corrupt file).

        .. versionadded:: 0.1.0
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
            if public_keys is None:
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
            )
        if unreadable:
            kid, problem = min(unreadable)
            at = min(
                (c.sequence for c in checkpoints if c.key_id == kid),
                default=(result.head.sequence if result.head else 0) + 1,
            )
            if result.ok or (result.sequence or 0) >= at:
                return Verification(
                    ok=False,
                    events=result.events,
                    checkpoints=result.checkpoints,
                    head=result.head,
                    sequence=at,
                    kind=SIGNATURE,
                    message=(
                        f"the public key {kid} recorded in the store was changed: "
                        f"{problem}"
                    ),
                )
        if warnings and result.ok:
            return Verification(
                ok=result.ok,
                events=result.events,
                checkpoints=result.checkpoints,
                head=result.head,
                message=result.message,
                warnings=(*result.warnings, *warnings),
            )
        return result

    def __repr__(self) -> str:
        """Names the store, never its keys."""
        return f"{type(self).__name__}({self.name!r}, durability={self.durability!r})"
