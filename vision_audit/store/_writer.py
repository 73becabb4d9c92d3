"""The writer: group commit, the chain, the tree and checkpoints, in one transaction."""

from __future__ import annotations

import contextlib
import hashlib
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar

from vision_audit.exceptions import AuditWriteError, StoreError
from vision_audit.store import _merkle, _tree
from vision_audit.store._canonical import CanonicalizationError
from vision_audit.store._chain import (
    GENESIS_HASH,
    ChainHead,
)
from vision_audit.store._checkpoints import (
    Checkpoint,
    sign_checkpoint,
)
from vision_audit.store._envelope import Prepared, prepare, seal

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from vision_audit.models import AuditEvent, RecordedEvent
from vision_audit.store._core import (
    _LEAD_BUDGET,
    _UNKNOWN,
    ContentRow,
    EventRow,
    StoreCore,
    TreeRows,
    _Item,
    _no_event,
    _Unknown,
)


class StoreWriter(StoreCore):
    """Group commit: the chain, the tree and checkpoints, in one transaction."""

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
            # A conflict, or one event the storage refuses: each event alone, so
            # that the callers of the others are not refused for it.
            if len(items) > 1 and isinstance(err, Exception):
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

    def _run_write(self, make: Callable[[], None]) -> None:
        """Run *make* in a write transaction of its own, recording no event."""
        if self.read_only:
            msg = f"{self.name}: opened read-only; nothing can be changed"
            raise StoreError(msg)
        try:
            self._submit(_Item(make=make))
        except AuditWriteError as err:
            raise StoreError(str(err)) from err
