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

from vision_audit.store._core import (
    DEFAULT_CHECKPOINT_EVERY,
    DEFAULT_CHECKPOINT_INTERVAL,
    ContentRow,
    Durability,
    EventRow,
    PseudonymKeyMissingError,
    TreeRows,
    _Item,
    check_origin,
    keep_inherited,
    old_schema_message,
)
from vision_audit.store._verifying import StoreVerifying

__all__ = [
    "DEFAULT_CHECKPOINT_EVERY",
    "DEFAULT_CHECKPOINT_INTERVAL",
    "BaseAuditStore",
    "ContentRow",
    "Durability",
    "EventRow",
    "PseudonymKeyMissingError",
    "TreeRows",
    "_Item",
    "check_origin",
    "keep_inherited",
    "old_schema_message",
]


class BaseAuditStore(StoreVerifying):
    """
    The machinery shared by the audit stores; see the module docstring.

    Subclasses call :meth:`_start` at the end of their ``__init__``, once the storage
    is open and the pseudonym key known.
    """

    def __repr__(self) -> str:
        """Names the store, never its keys."""
        return f"{type(self).__name__}({self.name!r}, durability={self.durability!r})"
