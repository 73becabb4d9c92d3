"""
SQLiteAuditStore: the embedded audit store, one file shared by threads and processes.

Layout (schema version 2): ``va_meta`` (format, schema version, the log's origin,
pseudonym key), ``va_events`` (sequence, hash, the Merkle subtrees the event
completes, envelope; queryable columns are generated from the envelope, so they
cannot disagree with what is hashed), ``va_content`` (salted personal content),
``va_checkpoints`` (signed notes), ``va_cosignatures`` (witnesses' cosignatures with
the body each cosigned), ``va_timestamps`` (RFC 3161 tokens) and ``va_keys``.
Triggers refuse updates and deletes of recorded events, checkpoints, cosignatures
and time stamps, and any change to a content record but the removal of its value
and salt.

Durability. The file is in WAL mode. One writer thread per store commits each group
of events in one ``BEGIN IMMEDIATE`` transaction, reading the head inside it, so
several processes appending to one file keep one linear chain.

- ``durability="process"`` (default): ``synchronous=NORMAL``. An acknowledged event
  survives the death of the process (``kill -9``, a crash): it is in the WAL, in the
  operating system's cache. A power loss or kernel crash can lose the last
  acknowledged events, never corrupt the file or the chain.
- ``durability="power"``: ``synchronous=FULL`` (and ``fullfsync`` on macOS): each
  group's commit ``fdatasync``-s the WAL before it returns, so before any of its
  events is acknowledged; one sync serves every writer waiting in the group. The
  WAL's directory entry is synced once, after the first commit. An acknowledged
  event survives a power loss (given a disk that honours flushes).

  Measured against syncing the WAL from Python after a commit without sync (one
  sync in flight serving every group committed before it started, overlapping the
  next commit): committing and syncing in one call into SQLite is faster, because
  each return from SQLite costs the writer a wait for Python's GIL behind every
  caller preparing an event.

Forking. SQLite's state is per process (its mutexes, and what each connection of
the process locks in the file), and a connection must not cross a fork. So a fork
(``os.fork()``, ``multiprocessing`` with the fork method, a pre-forking server) waits
until no thread is inside SQLite through any store (a transaction, an open read or
``iter_events()`` loop) and holds new ones back until it is done. In the child each
store closes the connection it inherited, without touching the parent's WAL or
locks, and opens one of its own on its first write. The wait is bounded: when a
thread is still inside SQLite after 5 seconds, or when the forking thread itself is
(forking inside an ``iter_events()`` loop), the child may have copied SQLite's state
half-changed, so it fails closed rather than risk a hang or a corrupted file: every
SQLite store in it (inherited or opened there) raises ``StoreError`` on use (appends
``AuditWriteError``), naming the cause. Such a store must be opened in a child
forked while it is at rest, or one started with the spawn method.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from vision_audit import attributes as attrs
from vision_audit._threads import at_fork_once
from vision_audit.exceptions import StoreError
from vision_audit.store._aggregate_sqlite import SQLITE_STATEMENTS, SQLiteReader
from vision_audit.store._aggregates import run_statements
from vision_audit.store._base import (
    DEFAULT_CHECKPOINT_EVERY,
    DEFAULT_CHECKPOINT_INTERVAL,
    BaseAuditStore,
    ContentRow,
    Durability,
    EventRow,
    PseudonymKeyMissingError,
    keep_inherited,
    old_schema_message,
)
from vision_audit.store._chain import ChainHead, StoredContent, stored_content
from vision_audit.store._checkpoints import Checkpoint, Cosignature, assemble
from vision_audit.store._keys import Pseudonymizer, generate_pseudonym_key
from vision_audit.store._reads import decoded_content
from vision_audit.store._reviews import (
    SQLITE_CONSENT_DDL,
    SQLITE_CONSENT_SELECT,
    SQLITE_DDL,
    SQLITE_POLICY_DDL,
    SQLITE_REBUILD,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from vision_audit.store._aggregates import PeriodAggregates
    from vision_audit.store._base import _Item

__all__ = ["SCHEMA_VERSION", "SQLiteAuditStore"]

SCHEMA_VERSION: Final = 2
"""The version of the tables this code writes; a store with another one is refused."""

FORMAT: Final = "vision-audit"

_GENERATED: Final = (
    "event_id",
    "type",
    "time",
    "analysis_id",
    "trace_id",
    "span_id",
    "actor",
    "purpose",
    "consent_ref",
    "subject_ref",
    "policy_id",
    "content_hash",
)

_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS va_meta (
        key TEXT PRIMARY KEY NOT NULL,
        value TEXT NOT NULL
    ) WITHOUT ROWID""",
    "CREATE TABLE IF NOT EXISTS va_events (\n"
    "    sequence INTEGER PRIMARY KEY,\n"
    "    hash TEXT NOT NULL,\n"
    "    nodes TEXT,\n"
    "    envelope TEXT NOT NULL,\n"
    + "".join(
        f"    {column} TEXT GENERATED ALWAYS AS "
        f"(json_extract(envelope, '$.{column}')) VIRTUAL,\n"
        for column in _GENERATED
    )
    + "    data TEXT GENERATED ALWAYS AS (json_extract(envelope, '$.data')) VIRTUAL\n"
    ")",
    "CREATE UNIQUE INDEX IF NOT EXISTS va_events_event_id ON va_events (event_id)",
    "CREATE INDEX IF NOT EXISTS va_events_time ON va_events (time)",
    # No index of subject_ref: pseudonyms are random, so each event would write a
    # random page of it, for the sake of erase_subject(), which scans instead.
    # Stores made before keep theirs (va_events_subject); SQLite maintains it.
    """CREATE TABLE IF NOT EXISTS va_content (
        sequence INTEGER NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        digest TEXT NOT NULL,
        salt TEXT,
        value TEXT,
        removed TEXT,
        PRIMARY KEY (sequence, kind, name)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS va_checkpoints (
        sequence INTEGER NOT NULL,
        key_id TEXT NOT NULL,
        hash TEXT NOT NULL,
        root TEXT NOT NULL,
        time TEXT NOT NULL,
        note TEXT NOT NULL,
        PRIMARY KEY (sequence, key_id)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS va_cosignatures (
        sequence INTEGER NOT NULL,
        name TEXT NOT NULL,
        body TEXT NOT NULL,
        line TEXT NOT NULL,
        time TEXT NOT NULL,
        PRIMARY KEY (sequence, name, body)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS va_timestamps (
        sequence INTEGER NOT NULL,
        token BLOB NOT NULL,
        PRIMARY KEY (sequence, token)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS va_keys (
        key_id TEXT PRIMARY KEY NOT NULL,
        public_key TEXT NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TRIGGER IF NOT EXISTS va_events_no_update BEFORE UPDATE ON va_events
        BEGIN SELECT RAISE(ABORT, 'vision-audit: events are append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS va_events_no_delete BEFORE DELETE ON va_events
        BEGIN SELECT RAISE(ABORT, 'vision-audit: events are append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS va_checkpoints_no_update
        BEFORE UPDATE ON va_checkpoints
        BEGIN SELECT RAISE(ABORT, 'vision-audit: checkpoints are append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS va_checkpoints_no_delete
        BEFORE DELETE ON va_checkpoints
        BEGIN SELECT RAISE(ABORT, 'vision-audit: checkpoints are append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS va_cosignatures_no_change
        BEFORE UPDATE ON va_cosignatures
        BEGIN SELECT RAISE(ABORT, 'vision-audit: cosignatures are append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS va_cosignatures_no_delete
        BEFORE DELETE ON va_cosignatures
        BEGIN SELECT RAISE(ABORT, 'vision-audit: cosignatures are append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS va_timestamps_no_change
        BEFORE UPDATE ON va_timestamps
        BEGIN SELECT RAISE(ABORT, 'vision-audit: time stamps are append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS va_timestamps_no_delete
        BEFORE DELETE ON va_timestamps
        BEGIN SELECT RAISE(ABORT, 'vision-audit: time stamps are append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS va_content_remove_only
        BEFORE UPDATE OF sequence, kind, name, digest ON va_content
        BEGIN SELECT RAISE(ABORT, 'vision-audit: content can only be removed'); END""",
    """CREATE TRIGGER IF NOT EXISTS va_content_no_delete BEFORE DELETE ON va_content
        BEGIN SELECT RAISE(ABORT, 'vision-audit: content can only be removed'); END""",
)

# Per connection: one INSERT into this view writes a batch of events with their
# content records, so that a batch costs one call into SQLite (each call gives up
# Python's GIL, and getting it back under contention costs a thread wake-up).
_INGEST: Final = (
    """CREATE TEMP VIEW IF NOT EXISTS va_ingest
        (sequence, hash, nodes, envelope, contents)
        AS SELECT NULL, NULL, NULL, NULL, NULL""",
    """CREATE TEMP TRIGGER IF NOT EXISTS va_ingest_insert
        INSTEAD OF INSERT ON va_ingest
        BEGIN
            INSERT INTO va_events (sequence, hash, nodes, envelope)
                VALUES (NEW.sequence, NEW.hash, NEW.nodes, NEW.envelope);
            INSERT INTO va_content (sequence, kind, name, digest, salt, value)
                SELECT NEW.sequence, json_extract(j.value, '$[0]'),
                    json_extract(j.value, '$[1]'), json_extract(j.value, '$[2]'),
                    json_extract(j.value, '$[3]'), json_extract(j.value, '$[4]')
                FROM json_each(NEW.contents) AS j
                WHERE NEW.contents IS NOT NULL;
        END""",
)
_HEAD: Final = "SELECT sequence, hash FROM va_events ORDER BY sequence DESC LIMIT 1"
# There is no index of pseudonyms: a scan, where instr() skips without parsing the
# envelopes that cannot hold the pseudonym, and subject_ref (read from the JSON)
# decides for the rest.
_FIND_SUBJECT: Final = (
    "SELECT sequence FROM va_events "
    "WHERE sequence > ? AND instr(envelope, ?) AND subject_ref = ?"
)
_HEAD_MOVED: Final = "UNIQUE constraint failed: va_events.sequence"
_CONTENT_RECORDS: Final = (
    "SELECT sequence, kind, name, digest, salt, CAST(value AS BLOB) "
    "FROM va_content ORDER BY sequence, kind, name"
)
# The purges and erasures, for verify_chain() to account for removed content; it
# reads their types itself, so that a loose test here (no JSON parsed) is enough.
_REMOVALS: Final = (
    "SELECT sequence, hash, CAST(envelope AS BLOB) FROM va_events "  # noqa: S608 - constants
    f'WHERE instr(envelope, \'"type":"{attrs.EVENT_CONTENT_PURGED}"\') '
    f'OR instr(envelope, \'"type":"{attrs.EVENT_SUBJECT_ERASED}"\') ORDER BY sequence'
)
_CONTENT_OF: Final = (
    "(SELECT json_group_object(c.name, c.value) FROM va_content c "
    "WHERE c.sequence = e.sequence AND c.kind = 'content' AND c.value IS NOT NULL)"
)
_MESSAGES: Final = (
    (
        "database or disk is full",
        "the disk is full (or the store reached its size limit)",
    ),
    ("readonly database", "the store is not writable"),
    ("unable to open database file", "the store cannot be opened for writing"),
    ("database is locked", "another connection held the store locked too long"),
    ("disk image is malformed", "the store file is corrupted"),
    ("file is not a database", "the store file is corrupted or not an SQLite file"),
    ("disk I/O error", "a disk I/O error occurred"),
    (
        "UNIQUE constraint failed: va_events.event_id",
        "this event id is already recorded",
    ),
)


_internal = logging.getLogger("vision_audit")

_WIPE_WAIT: Final = 0.05
"""Seconds a write waits for readers of older snapshots to let the WAL be wiped."""
_WIPE_RETRY: Final = 1.0
"""Seconds between attempts to wipe the WAL while such a reader holds it."""
_WIPE_WAIT_AT_CLOSE: Final = 1.0
"""Seconds close() waits for those readers, for a last attempt."""

_FORK_WAIT: Final = 5.0
"""Seconds a fork waits for the threads inside SQLite to come out."""


class _Gate:
    """
    Counts the threads inside SQLite, through any store; a fork waits until none is.

    SQLite keeps process-wide state (mutexes, what each file's connections lock); a
    child forked while a thread is changing it inherits it half-changed. Before a
    fork, new entries wait and the fork waits (up to ``_FORK_WAIT``, and not at all
    when the forking thread is itself inside) for the threads inside to leave; the
    child records whether it was forked with SQLite at rest.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._inside = 0
        self._forking = False
        self._local = threading.local()
        self.quiet_at_fork = True
        """Whether no thread was inside SQLite at the last fork (set before it)."""
        self.at_rest = True
        """False in a process forked (or forked from one forked) mid-use."""

    def _depth(self) -> list[int]:
        """The calling thread's count of entries not yet left."""
        try:
            depth: list[int] = self._local.depth
        except AttributeError:
            depth = self._local.depth = [0]
        return depth

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """
        Count the calling thread inside SQLite, for the ``with`` block.

        Every entry counts, so that a reading generator may be finished on another
        thread than the one that started it; a thread already inside never waits.
        """
        depth = self._depth()
        with self._changed:
            while self._forking and not depth[0]:
                self._changed.wait()
            self._inside += 1
        depth[0] += 1
        try:
            yield
        finally:
            depth[0] -= 1
            with self._changed:
                self._inside -= 1
                if self._inside <= 0:
                    self._changed.notify_all()

    def before_fork(self) -> None:
        """Let nobody in, wait for those inside; the lock is held through the fork."""
        own = self._depth()[0] > 0
        self._lock.acquire()
        self._forking = True
        deadline = time.monotonic() + _FORK_WAIT
        while self._inside > 0 and not own:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._changed.wait(remaining)
        self.quiet_at_fork = self._inside <= 0

    def after_fork_in_parent(self) -> None:
        """Let the waiting threads in."""
        self._forking = False
        self._changed.notify_all()
        self._lock.release()

    def after_fork_in_child(self) -> None:
        """Only the forking thread lives on: count its own entries alone."""
        self.at_rest = self.at_rest and self.quiet_at_fork
        self._inside = self._depth()[0]
        self._forking = False
        self._changed = threading.Condition(self._lock)
        self._lock.release()


_GATE: Final = _Gate()


def _hook_gate() -> None:
    """Hold forks at the gate, from the first SQLite store this process opens."""
    at_fork_once(
        "vision-audit sqlite gate",
        before=_GATE.before_fork,
        after_in_parent=_GATE.after_fork_in_parent,
        after_in_child=_GATE.after_fork_in_child,
    )


_ROWS_PER_INSERT: Final = 256
_ENCODE: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@functools.lru_cache(maxsize=_ROWS_PER_INSERT)
def _insert_statement(rows: int) -> str:
    rows_sql = ", ".join(["(?, ?, ?, ?, ?)"] * rows)
    return f"INSERT INTO temp.va_ingest VALUES {rows_sql}"  # noqa: S608 - placeholders


def _has_index(conn: sqlite3.Connection, name: str) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (name,)
        ).fetchone()
        is not None
    )


def _has_consent_index(conn: sqlite3.Connection) -> bool:
    return _has_index(conn, "va_events_consent")


def _has_review_index(conn: sqlite3.Connection) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'trigger' "
            "AND name = 'va_reviews_decided'"
        ).fetchone()
        is not None
    )


def _describe_sqlite(error: BaseException) -> str:
    text = str(error)
    for needle, meaning in _MESSAGES:
        if needle in text:
            return f"{meaning} ({text})"
    return text or type(error).__name__


class SQLiteAuditStore(BaseAuditStore):
    """
    The audit store in one SQLite file: ``sqlite:///path/audit.db``.

    See the module docstring for the layout and what each durability survives.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        durability: Durability = "process",
        signing_key: Ed25519PrivateKey | None = None,
        pseudonym_key: bytes | None = None,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
        checkpoint_interval: float = DEFAULT_CHECKPOINT_INTERVAL,
        read_only: bool = False,
        create: bool = True,
        busy_timeout: float = 30.0,
        origin: str | None = None,
        cosign_only: bool = False,
    ) -> None:
        """
        Open (or create) the store at *path*.

        Args:
            path: The database file.
            durability: ``process`` (default) or ``power``; see the module docstring.
            signing_key: Signs checkpoints; defaults to the key configured in the
                environment, if any.
            pseudonym_key: The secret of subject pseudonyms; defaults to the
                environment's, else the one kept in the store (made on creation).
            checkpoint_every: Sign the head after this many events.
            checkpoint_interval: Sign an unsigned head after this many seconds.
            read_only: Open for reading and verifying only; nothing is written.
            create: Create the file when it does not exist.
            busy_timeout: Seconds to wait for another process's write transaction.
            origin: The log's name in its checkpoints, set when the store is
                created (default: ``vision-audit/`` and 16 random hex digits);
                an existing store with another origin is refused.
            cosign_only: Open to keep witnesses' cosignatures only: without the
                pseudonym key or the signing key, recording no event.

        Raises:
            StoreError: The file cannot be opened or created, is not an SQLite file,
                is another application's database, was written by a newer
                vision-audit, or is corrupted. Nothing in it is changed.
        """
        self.path = Path(path)
        self._absolute = self.path.absolute()
        super().__init__(
            name=f"sqlite:///{path}",
            durability=durability,
            signing_key=signing_key,
            pseudonym_key=pseudonym_key,
            checkpoint_every=checkpoint_every,
            checkpoint_interval=checkpoint_interval,
            read_only=read_only,
            origin=origin,
            cosign_only=cosign_only,
        )
        self._busy_timeout = busy_timeout
        self._directory_synced = durability != "power"
        self._subject_scans: dict[str, tuple[list[int], int]] = {}
        self._wipe_wal = False
        self._wipe_tried = 0.0
        self._conn: sqlite3.Connection | None = None
        _hook_gate()
        self._check_file(create=create and not read_only)
        if read_only:
            with _GATE.entered(), contextlib.closing(self._connect_reader()) as reader:
                self._check_tables(reader, allow_empty=False)
            return
        self._conn = self._open_writer()
        self._start()

    # -- opening -----------------------------------------------------------------------

    def _fail(self, problem: str, error: BaseException | None = None) -> StoreError:
        detail = f" ({error})" if error is not None else ""
        return StoreError(f"{self.name}: {problem}{detail}")

    def _check_file(self, *, create: bool) -> None:
        path = self.path
        if path.is_dir():
            msg = "is a folder, not a store file"
            raise self._fail(msg)
        if not path.exists():
            if not create:
                msg = "no store exists at this path"
                raise self._fail(msg)
            if not path.parent.is_dir():
                msg = f"the folder {path.parent} does not exist"
                raise self._fail(msg)
            return
        # SQLite reads the header, never Python: closing any descriptor of the file
        # would drop every POSIX lock this process holds on it, those of a store
        # already open on it included, and let another process delete its live WAL.
        # SQLite keeps its descriptors open while its other connections hold locks.
        # https://www.sqlite.org/howtocorrupt.html#_posix_advisory_locks_canceled_by_a_separate_thread_doing_close_
        try:
            with _GATE.entered(), contextlib.closing(self._connect_reader()) as conn:
                conn.execute("PRAGMA schema_version").fetchone()
        except sqlite3.DatabaseError as err:
            if "file is not a database" not in str(err):
                msg = "cannot be read: " + _describe_sqlite(err)
                raise self._fail(msg) from err
            msg = (
                "is not an SQLite database, so not a vision-audit store; left untouched"
            )
            raise self._fail(msg) from err

    def _check_at_rest(self) -> None:
        """Refuse SQLite in a process forked while a thread was inside it."""
        if not _GATE.at_rest:
            msg = (
                "cannot be used in this process: it was forked while a thread "
                "was inside SQLite, whose state it copied half-changed. Open the "
                "store in the child instead, from a parent that does not use it when "
                "forking (or start workers with the spawn method)"
            )
            raise self._fail(msg)

    def _connect_reader(self) -> sqlite3.Connection:
        self._check_at_rest()
        uri = f"file:{quote(str(self._absolute))}?mode=ro"
        try:
            conn = sqlite3.connect(
                uri,
                uri=True,
                isolation_level=None,
                check_same_thread=False,
                timeout=self._busy_timeout,
            )
        except sqlite3.Error as err:
            msg = "cannot be opened for reading"
            raise self._fail(msg, err) from err
        return conn

    def _check_tables(self, conn: sqlite3.Connection, *, allow_empty: bool) -> bool:
        """True when the store is new (no tables); raise when it is not ours."""
        try:
            tables = {
                name
                for (name,) in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'"
                )
            }
            if not tables:
                if not allow_empty:
                    msg = "is empty: no vision-audit store was created here"
                    raise self._fail(msg)
                return True
            if "va_meta" not in tables:
                names = ", ".join(sorted(tables)[:5])
                msg = (
                    f"is not a vision-audit store (it holds tables: {names}); "
                    "left untouched"
                )
                raise self._fail(msg)
            meta = dict(conn.execute("SELECT key, value FROM va_meta"))
        except sqlite3.DatabaseError as err:
            msg = "is corrupted or not an SQLite database; left untouched"
            raise self._fail(msg, err) from err
        if meta.get("format") != FORMAT:
            msg = "is not a vision-audit store; left untouched"
            raise self._fail(msg)
        try:
            version = int(meta.get("schema_version", ""))
        except ValueError as err:
            msg = "has no readable schema version; left untouched"
            raise self._fail(msg) from err
        if version > SCHEMA_VERSION:
            msg = (
                f"was written by a newer vision-audit (schema version {version}; this "
                f"one reads up to {SCHEMA_VERSION}); upgrade vision-audit. Left "
                "untouched"
            )
            raise self._fail(msg)
        if version < SCHEMA_VERSION:
            raise self._fail(old_schema_message(version))
        self.origin = meta.get("origin", "")
        return False

    def _open_writer(self) -> sqlite3.Connection:
        self._check_at_rest()
        with _GATE.entered():
            return self._open_writer_at_rest()

    def _open_writer_at_rest(self) -> sqlite3.Connection:  # noqa: C901 - its steps
        try:
            conn = sqlite3.connect(
                self._absolute,
                isolation_level=None,
                check_same_thread=False,
                timeout=self._busy_timeout,
            )
        except sqlite3.Error as err:
            msg = "cannot be opened or created: " + _describe_sqlite(err)
            raise self._fail(msg) from err
        try:
            new = self._check_tables(conn, allow_empty=True)
            if new or conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                mode = self._switch_to_wal(conn)
                if mode != "wal":
                    msg = f"cannot use WAL journaling (got {mode!r})"
                    raise self._fail(msg)
            if self.durability == "power":
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute("PRAGMA fullfsync=ON")  # macOS: fsync() does not flush
            else:
                conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA secure_delete=ON")
            if new:
                self._create_schema(conn)
            try:
                key: bytes | None = self._load_pseudonym_key(conn)
            except PseudonymKeyMissingError:
                if not self.cosign_only:
                    raise
                key = None  # a witness keeps cosignatures without the secret
            for statement in _INGEST:
                conn.execute(statement)
            self._keep_review_index(conn)
        except (StoreError, ValueError):
            conn.close()
            raise
        except sqlite3.Error as err:
            conn.close()
            msg = "cannot be opened for writing: " + _describe_sqlite(err)
            raise self._fail(msg) from err
        if key is not None:
            self._set_pseudonym_key(key)
        return conn

    def _switch_to_wal(self, conn: sqlite3.Connection) -> str:
        """
        Put a new file in WAL mode, waiting for another process doing the same.

        Changing the journal mode answers "database is locked" at once, without
        SQLite's busy wait, while another connection holds the file (two writers
        creating one store together): retried until ``busy_timeout``.
        """
        deadline = time.monotonic() + self._busy_timeout
        pause = 0.005
        while True:
            try:
                return str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0])
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) or time.monotonic() >= deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.1)

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.executemany(
                "INSERT OR IGNORE INTO va_meta (key, value) VALUES (?, ?)",
                [("format", FORMAT), ("schema_version", str(SCHEMA_VERSION))],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @staticmethod
    def _keep_review_index(conn: sqlite3.Connection) -> None:
        """
        Create the read indexes (analyses, reviews, consents, policies), the triggers.

        The review index is filled once, from the events; SQLite fills the others.
        """
        if (
            _has_review_index(conn)
            and _has_consent_index(conn)
            and _has_index(conn, "va_events_policy")
        ):
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            if not _has_review_index(conn):  # another writer may have made it
                for statement in SQLITE_DDL + SQLITE_REBUILD:
                    conn.execute(statement)
            conn.execute(SQLITE_CONSENT_DDL)
            conn.execute(SQLITE_POLICY_DDL)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _load_pseudonym_key(self, conn: sqlite3.Connection) -> bytes:
        """The configured key (checked against the store's), or the store's own."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            meta = dict(
                conn.execute(
                    "SELECT key, value FROM va_meta "
                    "WHERE key IN ('pseudonym_key', 'pseudonym_key_id', 'origin')"
                )
            )
            origin, new_origin = self._choose_origin(meta.get("origin"))
            if new_origin:
                conn.execute(
                    "INSERT INTO va_meta (key, value) VALUES ('origin', ?)", (origin,)
                )
            self.origin = origin
            key, generated = self._choose_pseudonym_key(meta)
            if generated:
                conn.execute(
                    "INSERT INTO va_meta (key, value) VALUES ('pseudonym_key', ?)",
                    (key.hex(),),
                )
            if "pseudonym_key_id" not in meta:
                conn.execute(
                    "INSERT INTO va_meta (key, value) VALUES ('pseudonym_key_id', ?)",
                    (Pseudonymizer(key).key_id,),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return key

    def _choose_pseudonym_key(self, meta: dict[str, str]) -> tuple[bytes, bool]:
        """The key to use, and whether it is new; refuse one the store never used."""
        configured = self._configured_pseudonym_key
        generated = False
        if configured is not None:
            key = configured
        elif "pseudonym_key" in meta:
            key = bytes.fromhex(meta["pseudonym_key"])
        elif "pseudonym_key_id" in meta:
            msg = (
                f"{self.name}: was created with a pseudonym key from the "
                "environment; set VISION_AUDIT_PSEUDONYM_KEY or "
                "VISION_AUDIT_PSEUDONYM_KEY_FILE"
            )
            raise PseudonymKeyMissingError(msg)
        else:
            key = generate_pseudonym_key()
            generated = True
        recorded = meta.get("pseudonym_key_id")
        key_id = Pseudonymizer(key).key_id
        if recorded is not None and recorded != key_id:
            msg = (
                f"uses another pseudonym key than the one configured (key id "
                f"{recorded}, configured {key_id}); subjects could not be found for "
                "erasure"
            )
            raise self._fail(msg)
        return key, generated

    # -- writing (writer thread) -------------------------------------------------------

    def _write(self, items: list[_Item]) -> None:
        with _GATE.entered():
            super()._write(items)

    @property
    def _writer_conn(self) -> sqlite3.Connection:
        if self._conn is None:
            if self.read_only:  # pragma: no cover - read-only stores never write
                msg = "is open read-only"
                raise self._fail(msg)
            self._conn = self._open_writer()  # in a forked child: one of its own
        return self._conn

    def _begin(self) -> ChainHead | None:
        conn = self._writer_conn
        conn.execute("BEGIN IMMEDIATE")
        row = conn.execute(_HEAD).fetchone()
        return ChainHead(row[0], row[1]) if row else None

    def _insert(self, events: list[EventRow], contents: list[ContentRow]) -> None:
        by_sequence: dict[int, list[list[str]]] = {}
        for sequence, kind, name, digest, salt, value in contents:
            by_sequence.setdefault(sequence, []).append(
                [kind, name, digest, salt.hex(), value.decode("utf-8")]
            )
        params: list[object] = []
        for sequence, hash_, envelope, nodes in events:
            records = by_sequence.get(sequence)
            params += (
                sequence,
                hash_,
                nodes,
                envelope,
                _ENCODE(records) if records else None,
            )
        for start in range(0, len(events), _ROWS_PER_INSERT):
            count = min(_ROWS_PER_INSERT, len(events) - start)
            self._writer_conn.execute(
                _insert_statement(count), params[start * 5 : (start + count) * 5]
            )

    def _insert_alone(self, events: list[EventRow], contents: list[ContentRow]) -> bool:
        if len(events) > _ROWS_PER_INSERT:
            return False
        try:
            self._insert(events, contents)
        except sqlite3.IntegrityError as err:
            if _HEAD_MOVED in str(err):
                return False
            raise
        except sqlite3.OperationalError as err:
            if "locked" in str(err) or "busy" in str(err):
                return False
            raise
        self._sync_directory_once()
        self._retry_wipe()
        return True

    def _insert_checkpoint(self, checkpoint: Checkpoint) -> None:
        from vision_audit.store._canonical import format_time  # noqa: PLC0415

        self._writer_conn.execute(
            "INSERT OR IGNORE INTO va_checkpoints "
            "(sequence, key_id, hash, root, time, note) VALUES (?, ?, ?, ?, ?, ?)",
            (
                checkpoint.sequence,
                checkpoint.key_id,
                checkpoint.hash,
                checkpoint.root,
                format_time(checkpoint.time),
                checkpoint.note,
            ),
        )

    def _insert_cosignature(self, cosignature: Cosignature) -> bool:
        from vision_audit.store._canonical import format_time  # noqa: PLC0415

        cursor = self._writer_conn.execute(
            "INSERT OR IGNORE INTO va_cosignatures (sequence, name, body, line, time) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                cosignature.sequence,
                cosignature.name,
                cosignature.body,
                cosignature.line,
                format_time(cosignature.time),
            ),
        )
        return cursor.rowcount > 0

    def _insert_timestamp(self, sequence: int, token: bytes) -> None:
        self._writer_conn.execute(
            "INSERT OR IGNORE INTO va_timestamps (sequence, token) VALUES (?, ?)",
            (sequence, token),
        )

    def _find_events(self, identifier: str) -> list[tuple[int, str, bytes]]:
        select = "SELECT sequence, hash, CAST(envelope AS BLOB) FROM va_events "
        with self._reading() as conn:
            # An event id is found through its index; an analysis id by a scan
            # (no index of analyses yet), only when no event has that id.
            rows = conn.execute(select + "WHERE event_id = ?", (identifier,)).fetchall()
            if not rows:
                rows = conn.execute(
                    select + "WHERE analysis_id = ? ORDER BY sequence", (identifier,)
                ).fetchall()
        return [
            (sequence, hash_, bytes(envelope)) for sequence, hash_, envelope in rows
        ]

    def _read_content(self, sequences: list[int]) -> list[StoredContent]:
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT sequence, kind, name, digest, salt, CAST(value AS BLOB) "
                "FROM va_content WHERE sequence IN (SELECT value FROM json_each(?)) "
                "ORDER BY sequence, kind, name",
                (_ENCODE(sequences),),
            ).fetchall()
        return list(stored_content(rows))

    def _read_tree(
        self, sequences: Iterable[int], *, writing: bool
    ) -> dict[int, tuple[str, str | None]]:
        wanted = _ENCODE(sorted(set(sequences)))
        query = (
            "SELECT sequence, hash, nodes FROM va_events "
            "WHERE sequence IN (SELECT value FROM json_each(?))"
        )
        if writing:
            rows = self._writer_conn.execute(query, (wanted,)).fetchall()
        else:
            with self._reading() as conn:
                rows = conn.execute(query, (wanted,)).fetchall()
        return {sequence: (hash_, nodes) for sequence, hash_, nodes in rows}

    def _commit(self) -> None:
        conn = self._writer_conn
        conn.execute("COMMIT")
        self._sync_directory_once()
        if self._wipe_wal:
            self._wipe_wal = False
            self._wipe_pending = True
            self._wipe_tried = 0.0
        self._retry_wipe()

    def _retry_wipe(self) -> None:
        """Wipe the WAL when a removal asks for it, at most every _WIPE_RETRY."""
        if (
            self._wipe_pending
            and time.monotonic() - self._wipe_tried >= _WIPE_RETRY
            and self._conn is not None
        ):
            self._wipe(self._conn, _WIPE_WAIT)

    def _wipe(self, conn: sqlite3.Connection, wait: float) -> None:
        """
        Fold the WAL into the database (where secure_delete zeroed removed content).

        Removed content lingers in older page images in the WAL until it is emptied,
        which needs every reader (of any process) on the latest snapshot: the wait
        for them is short, since it holds back every writer of the file, and a
        failed wipe stays pending, retried on later writes and on close.
        """
        self._wipe_tried = time.monotonic()
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
            try:
                (busy, _, _) = conn.execute(
                    "PRAGMA wal_checkpoint(TRUNCATE)"
                ).fetchone()
            finally:
                conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
            problem = "a reader holds an older snapshot of the store" if busy else None
        except sqlite3.Error as err:
            problem = _describe_sqlite(err)
        if problem is None:
            if self._wipe_warned:
                _internal.info("%s: removed content wiped from the WAL file", self.name)
            self._wipe_pending = self._wipe_warned = False
        elif not self._wipe_warned:
            self._wipe_warned = True
            _internal.warning(
                "%s: removed content still lingers in older page images in %s-wal "
                "(%s); the wipe is retried on later writes and on close",
                self.name,
                self.path,
                problem,
            )

    def _rollback(self) -> None:
        conn = self._writer_conn
        self._wipe_wal = False
        if conn.in_transaction:
            conn.execute("ROLLBACK")

    def _remove_content(
        self, *, before: str | None, data_class: str | None, subject: str | None
    ) -> tuple[int, int]:
        conn = self._writer_conn
        if subject is not None:
            # The events up to a sequence were found before this transaction (see
            # _look_for_subject); scan only those after it.
            found, last = self._subject_scans.pop(subject, ([], 0))
            found += (
                sequence
                for (sequence,) in conn.execute(_FIND_SUBJECT, (last, subject, subject))
            )
            selection = "SELECT j.value FROM json_each(?) AS j"
            params: list[Any] = [_ENCODE(found)]
            reason = "erased"
        else:
            selection = "SELECT sequence FROM va_events WHERE time < ?"
            params = [before]
            reason = "purged"
        where = f"value IS NOT NULL AND sequence IN ({selection})"
        if data_class is not None:
            where += " AND name = ?"
            params.append(data_class)
        (events,) = conn.execute(
            f"SELECT count(DISTINCT sequence) FROM va_content WHERE {where}",  # noqa: S608
            params,
        ).fetchone()
        update = "UPDATE va_content SET salt = NULL, value = NULL, removed = ?"
        cursor = conn.execute(f"{update} WHERE {where}", [reason, *params])
        if cursor.rowcount:
            self._wipe_wal = True
        return int(events), cursor.rowcount

    def _look_for_subject(self, pseudonym: str) -> None:
        with self._reading() as conn:
            conn.execute("BEGIN")
            (last,) = conn.execute(
                "SELECT coalesce(max(sequence), 0) FROM va_events"
            ).fetchone()
            found = [
                sequence
                for (sequence,) in conn.execute(
                    _FIND_SUBJECT, (0, pseudonym, pseudonym)
                )
            ]
            conn.execute("COMMIT")
        self._subject_scans[pseudonym] = (found, int(last))

    def _register_key(self, key_id: str, pem: str) -> None:
        try:
            with _GATE.entered():
                self._writer_conn.execute(
                    "INSERT OR IGNORE INTO va_keys (key_id, public_key) VALUES (?, ?)",
                    (key_id, pem),
                )
        except sqlite3.Error as err:
            msg = "cannot be written: " + _describe_sqlite(err)
            raise self._fail(msg) from err

    def _sync_directory_once(self) -> None:
        """Make the WAL's directory entry durable, once (SQLite syncs its content)."""
        if self._directory_synced:
            return
        try:
            directory = os.open(self._absolute.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError as err:
            msg = f"committed, but the sync of the store's folder failed: {err}"
            raise StoreError(msg) from err
        self._directory_synced = True

    def _is_conflict(self, error: BaseException) -> bool:
        return isinstance(error, sqlite3.IntegrityError)

    def _describe(self, error: BaseException) -> str:
        return _describe_sqlite(error)

    def _abandon_connections(self) -> None:
        # A connection must not cross a fork: kept open, it would leave this process
        # sharing the parent's bookkeeping of the file's locks, and holding none of
        # its own. Forked with SQLite at rest, it is closed: the parent's locks keep
        # this close from checkpointing or removing the WAL. Forked mid-use, closing
        # could hang on a mutex held by a thread that does not exist here; it is
        # kept, unused, and the store refuses to work (_check_at_rest).
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if _GATE.at_rest and _GATE.quiet_at_fork and not conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        else:
            keep_inherited(conn)

    def _close_storage(self) -> None:
        if self._conn is not None:
            with _GATE.entered():
                if self._wipe_pending:
                    self._wipe(self._conn, _WIPE_WAIT_AT_CLOSE)
                    if self._wipe_pending:
                        _internal.warning(
                            "%s: closed while removed content lingers in older page "
                            "images in %s-wal; SQLite overwrites them when it next "
                            "checkpoints the WAL, once no reader holds it",
                            self.name,
                            self.path,
                        )
                self._conn.close()
            self._conn = None

    # -- reading -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """A read connection; SQLite errors become StoreErrors naming the problem."""
        with _GATE.entered():
            conn = self._connect_reader()
            try:
                yield conn
            except sqlite3.Error as err:
                msg = "cannot be read: " + _describe_sqlite(err)
                raise self._fail(msg) from err
            finally:
                conn.close()

    def _aggregate_period(
        self,
        bounds: dict[str, Any],
        *,
        cap: int,
        step: Callable[[str], None],
    ) -> PeriodAggregates:
        with _GATE.entered():
            reader = SQLiteReader(self._absolute, bounds)
            return run_statements(
                reader, SQLITE_STATEMENTS, cap=cap, step=step, store=str(self.path)
            )

    def _read_head(self) -> ChainHead | None:
        with self._reading() as conn:
            row = conn.execute(_HEAD).fetchone()
        return ChainHead(row[0], row[1]) if row else None

    def _read_signed_sequence(self) -> int:
        with self._reading() as conn:
            (value,) = conn.execute(
                "SELECT coalesce(max(sequence), 0) FROM va_checkpoints"
            ).fetchone()
        return int(value)

    def _read_events(
        self, since: str | None, until: str | None
    ) -> Iterator[tuple[int, str, str, dict[str, Any] | None]]:
        conditions = []
        params = []
        if since is not None:
            conditions.append("e.time >= ?")
            params.append(since)
        if until is not None:
            conditions.append("e.time < ?")
            params.append(until)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        query = (
            f"SELECT e.sequence, e.hash, e.envelope, {_CONTENT_OF} "  # noqa: S608 - constants
            f"FROM va_events e {where} ORDER BY e.sequence"
        )
        with self._reading() as conn:
            conn.execute("BEGIN")
            for sequence, hash_, envelope, content in conn.execute(query, params):
                yield sequence, hash_, envelope, decoded_content(content)
            conn.execute("COMMIT")

    def _read_events_at(
        self, sequences: list[int]
    ) -> Iterator[tuple[int, str, str, dict[str, Any] | None]]:
        query = (
            f"SELECT e.sequence, e.hash, e.envelope, {_CONTENT_OF} "  # noqa: S608 - constants
            "FROM va_events e WHERE e.sequence IN (SELECT value FROM json_each(?)) "
            "ORDER BY e.sequence"
        )
        with self._reading() as conn:
            rows = conn.execute(query, (_ENCODE(sequences),)).fetchall()
        for sequence, hash_, envelope, content in rows:
            yield sequence, hash_, envelope, decoded_content(content)

    def _analysis_sequences(self, analysis_id: str) -> list[int]:
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT sequence FROM va_events WHERE analysis_id = ? "
                "ORDER BY sequence",
                (analysis_id,),
            ).fetchall()
        return [row[0] for row in rows]

    def _consent_sequences(self, after: int) -> list[int] | None:
        with self._reading() as conn:
            if not _has_consent_index(conn):
                return None
            return [row[0] for row in conn.execute(SQLITE_CONSENT_SELECT, (after,))]

    def _select_reviews(
        self, sql: str, params: list[object]
    ) -> list[tuple[Any, ...]] | None:
        with self._reading() as conn:
            if not _has_review_index(conn):
                return None
            return conn.execute(sql, params).fetchall()

    def _sequence_range(
        self, since: str | None, until: str | None
    ) -> tuple[int, int] | None:
        with self._reading() as conn:
            if since is None:
                low = conn.execute("SELECT min(sequence) FROM va_events").fetchone()
            else:
                low = conn.execute(
                    "SELECT min(sequence) FROM va_events WHERE time >= ?", (since,)
                ).fetchone()
            if until is None:
                high = conn.execute("SELECT max(sequence) FROM va_events").fetchone()
            else:
                high = conn.execute(
                    "SELECT max(sequence) FROM va_events WHERE time < ?", (until,)
                ).fetchone()
        if low[0] is None or high[0] is None:
            return None
        return int(low[0]), int(high[0])

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
        with self._reading() as conn:
            conn.execute("BEGIN")
            checkpoints = assemble(
                conn.execute(
                    "SELECT sequence, key_id, hash, root, time, note "
                    "FROM va_checkpoints"
                ),
                conn.execute(
                    "SELECT sequence, name, body, line, time FROM va_cosignatures"
                ),
                conn.execute("SELECT sequence, token FROM va_timestamps"),
            )
            keys = dict(conn.execute("SELECT key_id, public_key FROM va_keys"))
            links = conn.execute(
                "SELECT sequence, hash, CAST(envelope AS BLOB) FROM va_events "
                "WHERE sequence BETWEEN ? AND ? ORDER BY sequence",
                (
                    first if first is not None else -(2**63),
                    last if last is not None else 2**63 - 1,
                ),
            )
            records: Iterable[StoredContent] = ()
            maintenance: list[tuple[int, str, bytes]] = []
            if contents:
                maintenance = conn.execute(_REMOVALS).fetchall()
                rows = conn.cursor().execute(_CONTENT_RECORDS)
                records = stored_content(rows)
            yield links, records, checkpoints, keys, maintenance
            conn.execute("COMMIT")
