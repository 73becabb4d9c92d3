"""
What every store holds: its settings, the hooks its storage supplies, its lifecycle.

:class:`StoreCore` is the first layer of ``BaseAuditStore``; the others add the
writer (``_writer``), maintenance (``_maintenance``), reads (``_reading``,
``_reads``) and verification (``_verifying``), each a module short enough to read
in one sitting. Fork handling is registered when the first store opens, not at
import.
"""

from __future__ import annotations

import atexit
import contextlib
import re
import secrets
import threading
import time
import weakref
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, Self

from vision_audit._threads import at_fork_once
from vision_audit.exceptions import StoreError
from vision_audit.store._keys import (
    Pseudonymizer,
    key_id,
    pseudonym_key_from_environment,
    public_key_pem,
    signing_key_from_environment,
)
from vision_audit.store._reads import IndexedReads

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from types import TracebackType

    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
    )

    from vision_audit.models import AuditEvent
    from vision_audit.store._chain import (
        ChainHead,
        StoredContent,
    )
    from vision_audit.store._checkpoints import (
        Checkpoint,
        Cosignature,
    )
    from vision_audit.store._envelope import Prepared


__all__ = [
    "DEFAULT_CHECKPOINT_EVERY",
    "DEFAULT_CHECKPOINT_INTERVAL",
    "Durability",
    "EventRow",
    "PseudonymKeyMissingError",
    "StoreCore",
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


_open_stores: weakref.WeakSet[StoreCore] = weakref.WeakSet()
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


class StoreCore(IndexedReads, ABC):
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

    def _pseudonym_function(self) -> Pseudonymizer:
        if self._pseudonymize is None:
            msg = f"{self.name}: opened read-only; the pseudonym key is not loaded"
            raise StoreError(msg)
        return self._pseudonymize

    def list_checkpoints(self) -> list[Checkpoint]:
        """
        Every signed checkpoint, in sequence order.

        .. versionadded:: 0.1.0
        """
        with self._read_snapshot(first=0, last=0, contents=False) as snapshot:
            # Cosignatures left without their checkpoint (deleted) count in
            # verify(); they are no checkpoint of the writer's.
            return [checkpoint for checkpoint in snapshot[2] if checkpoint.note]

    @abstractmethod
    def _submit(self, item: _Item, *, closing: bool = False) -> tuple[int, str, str]:
        """Queue *item* and write it: the writer's (:mod:`._writer`)."""

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
