"""
PostgresAuditStore: the audit store in PostgreSQL, shared by a fleet of writers.

Layout (schema version 1), in the connection's schema (``search_path``, or the
``schema`` option): ``va_meta``, ``va_lock`` (one row that serialises writers),
``va_events`` (sequence, hash, envelope text; expression indexes on the event id,
time and subject pseudonym), ``va_content``, ``va_checkpoints``, ``va_keys``, and the
view ``va_event_fields`` that exposes the envelope's fields as columns for reports.
Triggers refuse updates and deletes of events and checkpoints, and any change to a
content record but the removal of its value and salt.

Every writer of every machine takes ``va_lock`` in its transaction before reading the
head, so the chain stays linear however many processes append; within a process,
events are grouped into one transaction (group commit) as with SQLite.

Durability: ``power`` (the default here) commits with ``synchronous_commit = on``: an
acknowledged event is in the server's flushed WAL. ``process`` sets
``synchronous_commit = off``: an acknowledged event survives the death of the
writing process, but a crash of the server can lose the last fraction of a second.
Needs ``psycopg`` 3 (``pip install vision-audit[postgres]``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from vision_audit import attributes as attrs
from vision_audit.exceptions import StoreError
from vision_audit.store._aggregate_postgres import POSTGRES_STATEMENTS, PostgresReader
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
from vision_audit.store._canonical import format_time
from vision_audit.store._chain import (
    ChainHead,
    ContentRecord,
    StoredContent,
    stored_content,
)
from vision_audit.store._checkpoints import Checkpoint, Cosignature, assemble
from vision_audit.store._keys import Pseudonymizer, generate_pseudonym_key
from vision_audit.store._open import redact_url
from vision_audit.store._reads import decoded_content
from vision_audit.store._reviews import (
    POSTGRES_CONSENT_DDL,
    POSTGRES_CONSENT_SELECT,
    POSTGRES_DDL,
    POSTGRES_POLICY_DDL,
    POSTGRES_REBUILD,
    REVIEW_INDEX_VERSION,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    import psycopg
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from vision_audit.store._aggregates import PeriodAggregates

__all__ = ["SCHEMA_VERSION", "PostgresAuditStore"]

_internal = logging.getLogger("vision_audit")

SCHEMA_VERSION: Final = 2
"""The version of the tables this code writes; a store with another one is refused."""
FORMAT: Final = "vision-audit"

_SCHEMA_NAME: Final = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_OWN_OPTIONS: Final = {
    "durability",
    "checkpoint_every",
    "checkpoint_interval",
    "schema",
}
_FIELDS: Final = (
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

_DDL: Final = (
    "CREATE TABLE IF NOT EXISTS va_meta (key text PRIMARY KEY, value text NOT NULL)",
    "CREATE TABLE IF NOT EXISTS va_lock (id integer PRIMARY KEY CHECK (id = 1))",
    "INSERT INTO va_lock (id) VALUES (1) ON CONFLICT DO NOTHING",
    """CREATE TABLE IF NOT EXISTS va_events (
        sequence bigint PRIMARY KEY,
        hash text NOT NULL,
        nodes text,
        envelope text NOT NULL
    )""",
    """CREATE UNIQUE INDEX IF NOT EXISTS va_events_event_id
        ON va_events ((envelope::json ->> 'event_id'))""",
    """CREATE INDEX IF NOT EXISTS va_events_time
        ON va_events ((envelope::json ->> 'time'))""",
    """CREATE INDEX IF NOT EXISTS va_events_subject
        ON va_events ((envelope::json ->> 'subject_ref'))""",
    """CREATE TABLE IF NOT EXISTS va_content (
        sequence bigint NOT NULL,
        kind text NOT NULL,
        name text NOT NULL,
        digest text NOT NULL,
        salt text,
        value text,
        removed text,
        PRIMARY KEY (sequence, kind, name)
    )""",
    """CREATE TABLE IF NOT EXISTS va_checkpoints (
        sequence bigint NOT NULL,
        key_id text NOT NULL,
        hash text NOT NULL,
        root text NOT NULL,
        time text NOT NULL,
        note text NOT NULL,
        PRIMARY KEY (sequence, key_id)
    )""",
    """CREATE TABLE IF NOT EXISTS va_cosignatures (
        sequence bigint NOT NULL,
        name text NOT NULL,
        body text NOT NULL,
        line text NOT NULL,
        time text NOT NULL,
        PRIMARY KEY (sequence, name, body)
    )""",
    """CREATE TABLE IF NOT EXISTS va_timestamps (
        sequence bigint NOT NULL,
        token bytea NOT NULL,
        PRIMARY KEY (sequence, token)
    )""",
    """CREATE TABLE IF NOT EXISTS va_keys (
        key_id text PRIMARY KEY,
        public_key text NOT NULL
    )""",
    "CREATE OR REPLACE VIEW va_event_fields AS SELECT sequence, hash, "  # noqa: S608 - constants
    + ", ".join(f"envelope::json ->> '{field}' AS {field}" for field in _FIELDS)
    + ", envelope::json -> 'data' AS data FROM va_events",
    """CREATE OR REPLACE FUNCTION va_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'vision-audit: % can only be appended to', TG_TABLE_NAME;
        END $$""",
    """CREATE OR REPLACE TRIGGER va_events_append_only
        BEFORE UPDATE OR DELETE ON va_events
        FOR EACH ROW EXECUTE FUNCTION va_refuse()""",
    """CREATE OR REPLACE TRIGGER va_checkpoints_append_only
        BEFORE UPDATE OR DELETE ON va_checkpoints
        FOR EACH ROW EXECUTE FUNCTION va_refuse()""",
    """CREATE OR REPLACE TRIGGER va_cosignatures_append_only
        BEFORE UPDATE OR DELETE ON va_cosignatures
        FOR EACH ROW EXECUTE FUNCTION va_refuse()""",
    """CREATE OR REPLACE TRIGGER va_timestamps_append_only
        BEFORE UPDATE OR DELETE ON va_timestamps
        FOR EACH ROW EXECUTE FUNCTION va_refuse()""",
    """CREATE OR REPLACE TRIGGER va_content_remove_only
        BEFORE UPDATE OF sequence, kind, name, digest OR DELETE ON va_content
        FOR EACH ROW EXECUTE FUNCTION va_refuse()""",
)

_HEAD: Final = "SELECT sequence, hash FROM va_events ORDER BY sequence DESC LIMIT 1"
_INSERT_EVENT: Final = (
    "INSERT INTO va_events (sequence, hash, envelope, nodes) VALUES (%s, %s, %s, %s)"
)
_INSERT_CONTENT: Final = (
    "INSERT INTO va_content (sequence, kind, name, digest, salt, value) "
    "VALUES (%s, %s, %s, %s, %s, %s)"
)
# One statement for a whole group, committed on its own, chained after the head this
# writer last wrote. It takes va_lock like every writer; if another writer appended
# meanwhile, the insert fails on va_events_pkey and the group goes through the
# transaction that reads the head.
_INSERT_ALONE: Final = """
WITH locked AS (
    SELECT id FROM va_lock WHERE id = 1 FOR UPDATE
), events AS (
    INSERT INTO va_events (sequence, hash, envelope, nodes)
    SELECT sequence, hash, envelope, nodes
    FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[])
        AS e (sequence, hash, envelope, nodes)
    WHERE EXISTS (SELECT 1 FROM locked)
), records AS (
    INSERT INTO va_content (sequence, kind, name, digest, salt, value)
    SELECT sequence, kind, name, digest, salt, value
    FROM unnest(
        %s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[]
    ) AS c (sequence, kind, name, digest, salt, value)
    WHERE EXISTS (SELECT 1 FROM locked)
)
SELECT 1
"""
_HEAD_MOVED: Final = ("va_events_pkey", "va_content_pkey")
_TIME: Final = "(envelope::json ->> 'time')"
_SUBJECT: Final = "(envelope::json ->> 'subject_ref')"


def _has_review_index(conn: psycopg.Connection[Any]) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname = 'va_events_track_review' "
            "AND c.relnamespace = current_schema()::regnamespace"
        ).fetchone()
        is not None
    )


def _schema_exists(conn: psycopg.Connection[Any], name: str) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM pg_namespace WHERE nspname = %s", (name,)
        ).fetchone()
        is not None
    )


def _keep_review_index(conn: psycopg.Connection[Any]) -> None:
    """
    Create the read indexes and the review trigger when missing; fill them once.

    Only what is missing or older than this version is (re)made: a writer role that
    may append but does not own the tables opens a store its owner set up. When the
    store's trigger is older and this role may not replace it, a warning says so
    and the store opens with the trigger it has.
    """
    if not _has_review_index(conn):
        for statement in (
            POSTGRES_CONSENT_DDL,
            POSTGRES_POLICY_DDL,
            *POSTGRES_DDL,
            *POSTGRES_REBUILD,
        ):
            conn.execute(statement)
        _set_review_version(conn)
        return
    recorded = conn.execute(
        "SELECT value FROM va_meta WHERE key = 'review_index'"
    ).fetchone()
    if recorded is not None and recorded[0] == REVIEW_INDEX_VERSION:
        return
    upgrade = [POSTGRES_CONSENT_DDL, POSTGRES_POLICY_DDL] + [
        statement
        for statement in POSTGRES_DDL
        if statement.startswith(
            ("CREATE OR REPLACE FUNCTION", "CREATE OR REPLACE TRIGGER")
        )
    ]
    import psycopg  # noqa: PLC0415 - present: conn is one of its connections

    try:
        with conn.transaction():
            for statement in upgrade:
                conn.execute(statement)
            _set_review_version(conn)
    except psycopg.errors.InsufficientPrivilege:
        _internal.warning(
            "the store's review trigger is older than this vision-audit's; open it "
            "once as the tables' owner to update it"
        )


def _set_review_version(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        "INSERT INTO va_meta (key, value) VALUES ('review_index', %s) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (REVIEW_INDEX_VERSION,),
    )


def _import_psycopg() -> Any:  # noqa: ANN401 - the module, typed where it is used
    try:
        import psycopg  # noqa: PLC0415
    except ImportError as err:  # pragma: no cover - a dependency of the tests
        msg = (
            "postgresql:// stores need psycopg 3: pip install 'vision-audit[postgres]'"
        )
        raise StoreError(msg) from err
    return psycopg


def split_url(url: str) -> tuple[str, dict[str, str]]:
    """*url* without vision-audit's own query options, and those options."""
    parts = urlsplit(url)
    kept: list[tuple[str, str]] = []
    own: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in _OWN_OPTIONS:
            own[name] = value
        else:
            kept.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(kept))), own


class PostgresAuditStore(BaseAuditStore):
    """
    The audit store in PostgreSQL: ``postgresql://user@host:port/database``.

    See the module docstring for the layout and what each durability survives.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        url: str,
        *,
        durability: Durability | None = None,
        signing_key: Ed25519PrivateKey | None = None,
        pseudonym_key: bytes | None = None,
        checkpoint_every: int | None = None,
        checkpoint_interval: float | None = None,
        read_only: bool = False,
        schema: str | None = None,
        connect_timeout: float = 10.0,
        origin: str | None = None,
        cosign_only: bool = False,
    ) -> None:
        """
        Connect to the store at *url*, creating its tables when they are missing.

        Args:
            url: A libpq URL; ``durability``, ``checkpoint_every``,
                ``checkpoint_interval`` and ``schema`` may be given in its query.
            durability: ``power`` (default) or ``process``; see the module docstring.
            signing_key: Signs checkpoints; defaults to the key configured in the
                environment, if any.
            pseudonym_key: The secret of subject pseudonyms; defaults to the
                environment's, else the one kept in the store (made on creation).
            checkpoint_every: Sign the head after this many events.
            checkpoint_interval: Sign an unsigned head after this many seconds.
            read_only: Open for reading and verifying only; nothing is written.
            schema: The PostgreSQL schema of the tables (created when missing).
            connect_timeout: Seconds to wait for the server.
            origin: The log's name in its checkpoints, set when the store is
                created; an existing store with another origin is refused.
            cosign_only: Open to keep witnesses' cosignatures only: without the
                pseudonym key or the signing key, recording no event.

        Raises:
            StoreError: The server cannot be reached, the tables belong to a newer
                vision-audit or to something else, or they cannot be created.
        """
        conninfo, own = split_url(url)
        schema = schema if schema is not None else own.get("schema")
        if schema is not None and not _SCHEMA_NAME.match(schema):
            msg = f"schema {schema!r} is not a plain lowercase PostgreSQL name"
            raise ValueError(msg)
        super().__init__(
            name=redact_url(url.split("?", 1)[0])
            + (f" (schema {schema})" if schema else ""),
            durability=durability or own.get("durability", "power"),  # type: ignore[arg-type]
            signing_key=signing_key,
            pseudonym_key=pseudonym_key,
            checkpoint_every=checkpoint_every
            or int(own.get("checkpoint_every", DEFAULT_CHECKPOINT_EVERY)),
            checkpoint_interval=checkpoint_interval
            or float(own.get("checkpoint_interval", DEFAULT_CHECKPOINT_INTERVAL)),
            read_only=read_only,
            origin=origin,
            cosign_only=cosign_only,
        )
        self._psycopg = _import_psycopg()
        self._conninfo = conninfo
        self._schema = schema
        self._connect_timeout = connect_timeout
        self._conn: psycopg.Connection[Any] | None = None
        self._vacuum = False
        self._reader_lock = threading.Lock()
        self._reader: psycopg.Connection[Any] | None = None
        conn = self._connect(autocommit=True)
        try:
            self._prepare(conn)
        except BaseException:
            conn.close()
            raise
        if read_only:
            conn.close()
            return
        self._conn = conn
        self._start()

    # -- connecting --------------------------------------------------------------------

    def _fail(self, problem: str, error: BaseException | None = None) -> StoreError:
        detail = f" ({str(error).strip()})" if error is not None else ""
        return StoreError(f"{self.name}: {problem}{detail}")

    def _connect(self, *, autocommit: bool) -> psycopg.Connection[Any]:
        options = {}
        if self._schema is not None:
            options["options"] = f"-c search_path={self._schema}"
        try:
            conn: psycopg.Connection[Any] = self._psycopg.connect(
                self._conninfo,
                autocommit=autocommit,
                connect_timeout=max(1, round(self._connect_timeout)),
                application_name="vision-audit",
                **options,
            )
        except self._psycopg.Error as err:
            msg = "cannot connect"
            raise self._fail(msg, err) from err
        if self.durability == "process":
            conn.execute("SET synchronous_commit = off")
            if not autocommit:
                conn.commit()
        return conn

    def _prepare(self, conn: psycopg.Connection[Any]) -> None:  # noqa: C901 - its steps
        """Check (and create, when writable) the tables; load the pseudonym key."""
        errors = self._psycopg.errors
        try:
            with conn.transaction():
                if (
                    self._schema is not None
                    and not self.read_only
                    and not _schema_exists(conn, self._schema)
                ):
                    # Only when missing: a writer role may lack CREATE on the
                    # database, and PostgreSQL checks it even with IF NOT EXISTS.
                    conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"')
                # One creator at a time, across every process and machine.
                conn.execute("SELECT pg_advisory_xact_lock(8150429718020339)")
                new = self._check_tables(conn)
                if new:
                    if self.read_only:
                        msg = "holds no vision-audit store"
                        raise self._fail(msg)
                    for statement in _DDL:
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO va_meta (key, value) VALUES (%s, %s), (%s, %s) "
                        "ON CONFLICT DO NOTHING",
                        ("format", FORMAT, "schema_version", str(SCHEMA_VERSION)),
                    )
                if not self.read_only:
                    recorded = conn.execute(
                        "SELECT value FROM va_meta WHERE key = 'origin'"
                    ).fetchone()
                    origin, new_origin = self._choose_origin(
                        recorded[0] if recorded else None
                    )
                    if new_origin:
                        conn.execute(
                            "INSERT INTO va_meta (key, value) VALUES ('origin', %s)",
                            (origin,),
                        )
                    self.origin = origin
                if not self.read_only:
                    _keep_review_index(conn)
                    try:
                        self._set_pseudonym_key(self._load_pseudonym_key(conn))
                    except PseudonymKeyMissingError:
                        if not self.cosign_only:
                            raise
        except (errors.InsufficientPrivilege, errors.ReadOnlySqlTransaction) as err:
            msg = "is not writable: cannot create or use the store's tables"
            raise self._fail(msg, err) from err
        except self._psycopg.Error as err:
            msg = "cannot be opened: " + self._describe(err)
            raise self._fail(msg) from err

    def _check_tables(self, conn: psycopg.Connection[Any]) -> bool:
        """True when the store is new; raise when the tables are not ours."""
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT c.relname FROM pg_class c "
                "WHERE c.relnamespace = current_schema()::regnamespace "
                "AND c.relname IN ('va_meta', 'va_events') AND c.relkind = 'r'"
            )
        }
        if not tables:
            return True
        if "va_meta" not in tables:
            msg = "holds a va_events table that is not a vision-audit store's"
            raise self._fail(msg)
        meta = dict(conn.execute("SELECT key, value FROM va_meta").fetchall())
        if meta.get("format") != FORMAT:
            msg = "holds a va_meta table that is not a vision-audit store's"
            raise self._fail(msg)
        try:
            version = int(meta.get("schema_version", ""))
        except ValueError as err:
            msg = "has no readable schema version"
            raise self._fail(msg) from err
        if version > SCHEMA_VERSION:
            msg = (
                f"was written by a newer vision-audit (schema version {version}; this "
                f"one reads up to {SCHEMA_VERSION}); upgrade vision-audit"
            )
            raise self._fail(msg)
        if version < SCHEMA_VERSION:
            raise self._fail(old_schema_message(version))
        self.origin = meta.get("origin", "")
        return False

    def _load_pseudonym_key(self, conn: psycopg.Connection[Any]) -> bytes:
        meta = dict(
            conn.execute(
                "SELECT key, value FROM va_meta "
                "WHERE key IN ('pseudonym_key', 'pseudonym_key_id')"
            ).fetchall()
        )
        configured = self._configured_pseudonym_key
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
            conn.execute(
                "INSERT INTO va_meta (key, value) VALUES ('pseudonym_key', %s)",
                (key.hex(),),
            )
        key_id = Pseudonymizer(key).key_id
        recorded = meta.get("pseudonym_key_id")
        if recorded is None:
            conn.execute(
                "INSERT INTO va_meta (key, value) VALUES ('pseudonym_key_id', %s)",
                (key_id,),
            )
        elif recorded != key_id:
            msg = (
                f"uses another pseudonym key than the one configured (key id "
                f"{recorded}, configured {key_id}); subjects could not be found for "
                "erasure"
            )
            raise self._fail(msg)
        return key

    # -- writing (one writer thread at a time) -----------------------------------------

    @property
    def _writer_conn(self) -> psycopg.Connection[Any]:
        if self._conn is not None and (self._conn.closed or self._conn.broken):
            # The server went away (a restart, a failover, a network cut): the
            # failed transaction was rolled back with it; the next one reconnects.
            with contextlib.suppress(self._psycopg.Error):
                self._conn.close()
            self._conn = None
        if self._conn is None:
            if self.read_only:  # pragma: no cover - read-only stores never write
                msg = "is open read-only"
                raise self._fail(msg)
            self._conn = self._connect(autocommit=True)  # a forked child's own
        return self._conn

    def _abandon_connections(self) -> None:
        # The parent's sessions run over sockets this process shares. Closing them
        # here, or letting them be collected, would end the parent's sessions (libpq
        # says goodbye on the socket); so each socket is pointed at /dev/null in this
        # process, and the connection kept, unused, for as long as the process lives.
        for conn in (self._conn, self._reader):
            if conn is None or conn.closed:
                continue
            with contextlib.suppress(OSError, self._psycopg.Error):
                socket = conn.pgconn.socket
                null = os.open(os.devnull, os.O_RDWR)
                try:
                    os.dup2(null, socket)
                finally:
                    os.close(null)
            keep_inherited(conn)
        self._conn = None
        self._reader = None
        self._reader_lock = threading.Lock()

    def _begin(self) -> ChainHead | None:
        conn = self._writer_conn
        conn.execute("BEGIN")
        conn.execute("SELECT id FROM va_lock WHERE id = 1 FOR UPDATE")
        row = conn.execute(_HEAD).fetchone()
        return ChainHead(row[0], row[1]) if row else None

    def _insert(self, events: list[EventRow], contents: list[ContentRow]) -> None:
        conn = self._writer_conn
        with conn.cursor() as cursor:
            cursor.executemany(_INSERT_EVENT, events)
            if contents:
                cursor.executemany(
                    _INSERT_CONTENT,
                    [
                        (seq, kind, name, digest, salt.hex(), value.decode("utf-8"))
                        for seq, kind, name, digest, salt, value in contents
                    ],
                )

    def _insert_checkpoint(self, checkpoint: Checkpoint) -> None:
        self._writer_conn.execute(
            "INSERT INTO va_checkpoints (sequence, key_id, hash, root, time, note) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
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
        cursor = self._writer_conn.execute(
            "INSERT INTO va_cosignatures (sequence, name, body, line, time) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
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
            "INSERT INTO va_timestamps (sequence, token) VALUES (%s, %s) "
            "ON CONFLICT DO NOTHING",
            (sequence, token),
        )

    def _find_events(self, identifier: str) -> list[tuple[int, str, bytes]]:
        select = "SELECT sequence, hash, convert_to(envelope, 'UTF8') FROM va_events "
        with self._quick() as conn:
            # An event id is found through its index; an analysis id by a scan.
            rows = conn.execute(
                select + "WHERE envelope::json ->> 'event_id' = %s", (identifier,)
            ).fetchall()
            if not rows:
                rows = conn.execute(
                    select + "WHERE envelope::json ->> 'analysis_id' = %s "
                    "ORDER BY sequence",
                    (identifier,),
                ).fetchall()
        return [
            (sequence, hash_, bytes(envelope)) for sequence, hash_, envelope in rows
        ]

    def _read_content(self, sequences: list[int]) -> list[StoredContent]:
        with self._quick() as conn:
            rows = conn.execute(
                "SELECT sequence, kind, name, digest, salt, "
                "convert_to(value, 'UTF8') FROM va_content WHERE sequence = ANY(%s) "
                'ORDER BY sequence, kind COLLATE "C", name COLLATE "C"',
                (sequences,),
            ).fetchall()
        return list(stored_content(rows))

    def _read_tree(
        self, sequences: Iterable[int], *, writing: bool
    ) -> dict[int, tuple[str, str | None]]:
        query = "SELECT sequence, hash, nodes FROM va_events WHERE sequence = ANY(%s)"
        wanted = sorted(set(sequences))
        if writing:
            rows = self._writer_conn.execute(query, (wanted,)).fetchall()
        else:
            with self._quick() as conn:
                rows = conn.execute(query, (wanted,)).fetchall()
        return {sequence: (hash_, nodes) for sequence, hash_, nodes in rows}

    def _insert_alone(self, events: list[EventRow], contents: list[ContentRow]) -> bool:
        errors = self._psycopg.errors
        try:
            self._writer_conn.execute(
                _INSERT_ALONE,
                (
                    [row[0] for row in events],
                    [row[1] for row in events],
                    [row[2] for row in events],
                    [row[3] for row in events],
                    [row[0] for row in contents],
                    [row[1] for row in contents],
                    [row[2] for row in contents],
                    [row[3] for row in contents],
                    [row[4].hex() for row in contents],
                    [row[5].decode("utf-8") for row in contents],
                ),
            )
        except errors.UniqueViolation as err:
            if any(name in str(err) for name in _HEAD_MOVED):
                return False
            raise
        return True

    def _commit(self) -> None:
        self._writer_conn.execute("COMMIT")
        if self._vacuum:
            self._vacuum = False
            self._vacuum_content()

    def _vacuum_content(self) -> None:
        """
        Remove the dead row versions that still hold purged or erased content.

        An ``UPDATE`` leaves the old version of each row in the table's files until a
        ``VACUUM``; run outside the transaction (the connection is in autocommit).
        A role that may not vacuum the table gets a warning from the server, not an
        error: the purge stands, and the warning is logged.
        """
        conn = self._writer_conn
        refused: list[str] = []

        def note(diagnostic: psycopg.errors.Diagnostic) -> None:
            if diagnostic.severity_nonlocalized == "WARNING":
                refused.append(diagnostic.message_primary or "")

        conn.add_notice_handler(note)
        try:
            conn.execute("VACUUM va_content")
            problem = refused[0] if refused else None
        except self._psycopg.Error as err:
            problem = self._describe(err)
        finally:
            conn.remove_notice_handler(note)
        self._wipe_pending = problem is not None
        if problem is not None:
            _internal.warning(
                "%s: removed content lingers in dead row versions of va_content until "
                "it is vacuumed: VACUUM va_content failed (%s); autovacuum will "
                "remove them, or run it as the table's owner",
                self.name,
                problem,
            )

    def _rollback(self) -> None:
        self._vacuum = False
        conn = self._conn
        if conn is None or conn.closed:
            return
        idle = self._psycopg.pq.TransactionStatus.IDLE
        if conn.info.transaction_status != idle:
            conn.execute("ROLLBACK")

    def _remove_content(
        self, *, before: str | None, data_class: str | None, subject: str | None
    ) -> tuple[int, int]:
        conn = self._writer_conn
        if subject is not None:
            selection = f"SELECT sequence FROM va_events WHERE {_SUBJECT} = %s"  # noqa: S608 - constants
            params: list[Any] = [subject]
            reason = "erased"
        else:
            selection = f"SELECT sequence FROM va_events WHERE {_TIME} < %s"  # noqa: S608 - constants
            params = [before]
            reason = "purged"
        where = f"value IS NOT NULL AND sequence IN ({selection})"
        if data_class is not None:
            where += " AND name = %s"
            params.append(data_class)
        row = conn.execute(
            f"SELECT count(DISTINCT sequence) FROM va_content WHERE {where}",  # noqa: S608 - constants
            params,
        ).fetchone()
        update = "UPDATE va_content SET salt = NULL, value = NULL, removed = %s"
        cursor = conn.execute(f"{update} WHERE {where}", [reason, *params])
        if cursor.rowcount:
            self._vacuum = True
        return int(row[0] if row else 0), cursor.rowcount

    def _register_key(self, key_id: str, pem: str) -> None:
        conn = self._writer_conn
        try:
            conn.execute(
                "INSERT INTO va_keys (key_id, public_key) VALUES (%s, %s) "
                "ON CONFLICT DO NOTHING",
                (key_id, pem),
            )
        except self._psycopg.Error as err:
            msg = "cannot be written: " + self._describe(err)
            raise self._fail(msg) from err

    def _is_conflict(self, error: BaseException) -> bool:
        return isinstance(error, self._psycopg.errors.UniqueViolation)

    def _describe(self, error: BaseException) -> str:
        errors = self._psycopg.errors
        text = str(error).strip().splitlines()[0] if str(error).strip() else ""
        if isinstance(error, errors.UniqueViolation) and "event_id" in str(error):
            return f"this event id is already recorded ({text})"
        if isinstance(error, errors.DiskFull):
            return f"the server's disk is full ({text})"
        if isinstance(
            error, errors.InsufficientPrivilege | errors.ReadOnlySqlTransaction
        ):
            return f"the store is not writable ({text})"
        if isinstance(error, self._psycopg.OperationalError):
            return f"the connection to the server failed ({text})"
        return text or type(error).__name__

    def _close_storage(self) -> None:
        for conn in (self._conn, self._reader):
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
        self._conn = None
        self._reader = None

    # -- reading -----------------------------------------------------------------------

    def _aggregate_period(
        self,
        bounds: dict[str, Any],
        *,
        cap: int,
        step: Callable[[str], None],
    ) -> PeriodAggregates:
        reader = PostgresReader(_import_psycopg(), self._conninfo, self._schema, bounds)
        return run_statements(
            reader, POSTGRES_STATEMENTS, cap=cap, step=step, store=self.name
        )

    @contextlib.contextmanager
    def _quick(self) -> Iterator[psycopg.Connection[Any]]:
        """The shared reading connection, for short queries."""
        with self._reader_lock:
            if self._reader is None or self._reader.closed or self._reader.broken:
                self._reader = self._connect(autocommit=True)
            try:
                yield self._reader
            except self._psycopg.Error as err:
                msg = "cannot be read: " + self._describe(err)
                raise self._fail(msg) from err

    @contextlib.contextmanager
    def _reading(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection of its own in a read-only snapshot, for long reads."""
        conn = self._connect(autocommit=False)
        try:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield conn
            conn.rollback()
        except self._psycopg.Error as err:
            msg = "cannot be read: " + self._describe(err)
            raise self._fail(msg) from err
        finally:
            conn.close()

    def _read_head(self) -> ChainHead | None:
        with self._quick() as conn:
            row = conn.execute(_HEAD).fetchone()
        return ChainHead(row[0], row[1]) if row else None

    def _read_signed_sequence(self) -> int:
        with self._quick() as conn:
            row = conn.execute(
                "SELECT coalesce(max(sequence), 0) FROM va_checkpoints"
            ).fetchone()
        return int(row[0]) if row else 0

    def _sequence_range(
        self, since: str | None, until: str | None
    ) -> tuple[int, int] | None:
        with self._quick() as conn:
            low = (
                conn.execute("SELECT min(sequence) FROM va_events").fetchone()
                if since is None
                else conn.execute(
                    f"SELECT min(sequence) FROM va_events WHERE {_TIME} >= %s",  # noqa: S608 - constants
                    (since,),
                ).fetchone()
            )
            high = (
                conn.execute("SELECT max(sequence) FROM va_events").fetchone()
                if until is None
                else conn.execute(
                    f"SELECT max(sequence) FROM va_events WHERE {_TIME} < %s",  # noqa: S608 - constants
                    (until,),
                ).fetchone()
            )
        if not low or not high or low[0] is None or high[0] is None:
            return None
        return int(low[0]), int(high[0])

    def _read_events(
        self, since: str | None, until: str | None
    ) -> Iterator[tuple[int, str, str, dict[str, Any] | None]]:
        conditions = []
        params: list[str] = []
        if since is not None:
            conditions.append(f"{_TIME} >= %s")
            params.append(since)
        if until is not None:
            conditions.append(f"{_TIME} < %s")
            params.append(until)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        query = (
            "SELECT e.sequence, e.hash, e.envelope, "  # noqa: S608 - constants
            "(SELECT json_object_agg(c.name, c.value) FROM va_content c "
            "WHERE c.sequence = e.sequence AND c.kind = 'content' "
            "AND c.value IS NOT NULL) "
            f"FROM va_events e {where} ORDER BY e.sequence"
        )
        with self._reading() as conn, conn.cursor(name="va_events") as cursor:
            cursor.itersize = 2000
            cursor.execute(query, params)
            for sequence, hash_, envelope, content in cursor:
                yield sequence, hash_, envelope, decoded_content(content)

    def _read_events_at(
        self, sequences: list[int]
    ) -> Iterator[tuple[int, str, str, dict[str, Any] | None]]:
        query = (
            "SELECT e.sequence, e.hash, e.envelope, "
            "(SELECT json_object_agg(c.name, c.value) FROM va_content c "
            "WHERE c.sequence = e.sequence AND c.kind = 'content' "
            "AND c.value IS NOT NULL) "
            "FROM va_events e WHERE e.sequence = ANY(%s) ORDER BY e.sequence"
        )
        with self._quick() as conn:
            rows = conn.execute(query, (sequences,)).fetchall()
        for sequence, hash_, envelope, content in rows:
            yield sequence, hash_, envelope, decoded_content(content)

    def _analysis_sequences(self, analysis_id: str) -> list[int]:
        with self._quick() as conn:
            rows = conn.execute(
                "SELECT sequence FROM va_events "
                "WHERE (envelope::json ->> 'analysis_id') = %s ORDER BY sequence",
                (analysis_id,),
            ).fetchall()
        return [int(row[0]) for row in rows]

    _MARK = "%s"

    def _consent_sequences(self, after: int) -> list[int] | None:
        with self._quick() as conn:
            if not _has_review_index(conn):  # made with the consent index
                return None
            rows = conn.execute(POSTGRES_CONSENT_SELECT, (after,)).fetchall()
        return [int(row[0]) for row in rows]

    def _select_reviews(
        self, sql: str, params: list[object]
    ) -> list[tuple[Any, ...]] | None:
        with self._quick() as conn:
            if not _has_review_index(conn):
                return None
            return conn.execute(sql, params).fetchall()

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
            checkpoints = assemble(
                conn.execute(
                    "SELECT sequence, key_id, hash, root, time, note "
                    "FROM va_checkpoints"
                ).fetchall(),
                conn.execute(
                    "SELECT sequence, name, body, line, time FROM va_cosignatures"
                ).fetchall(),
                conn.execute("SELECT sequence, token FROM va_timestamps").fetchall(),
            )
            keys = dict(
                conn.execute("SELECT key_id, public_key FROM va_keys").fetchall()
            )
            cursors = contextlib.ExitStack()
            links_cursor = cursors.enter_context(conn.cursor(name="va_links"))
            links_cursor.itersize = 5000
            links_cursor.execute(
                "SELECT sequence, hash, convert_to(envelope, 'UTF8') FROM va_events "
                "WHERE sequence BETWEEN %s AND %s ORDER BY sequence",
                (
                    first if first is not None else -(2**63),
                    last if last is not None else 2**63 - 1,
                ),
            )
            records: Iterable[StoredContent] = ()
            maintenance: list[tuple[int, str, bytes]] = []
            if contents:
                # verify_chain() reads their types itself: a loose test is enough.
                maintenance = [
                    (sequence, hash_, bytes(envelope))
                    for sequence, hash_, envelope in conn.execute(
                        "SELECT sequence, hash, convert_to(envelope, 'UTF8') "
                        "FROM va_events WHERE strpos(envelope, %s) > 0 "
                        "OR strpos(envelope, %s) > 0 ORDER BY sequence",
                        (
                            f'"type":"{attrs.EVENT_CONTENT_PURGED}"',
                            f'"type":"{attrs.EVENT_SUBJECT_ERASED}"',
                        ),
                    ).fetchall()
                ]
                content_cursor = cursors.enter_context(conn.cursor(name="va_records"))
                content_cursor.itersize = 5000
                content_cursor.execute(
                    "SELECT sequence, kind, name, digest, salt, "
                    "convert_to(value, 'UTF8') FROM va_content "
                    'ORDER BY sequence, kind COLLATE "C", name COLLATE "C"'
                )
                records = (
                    ContentRecord(*record) for record in stored_content(content_cursor)
                )
            links = (
                (sequence, hash_, bytes(envelope))
                for sequence, hash_, envelope in links_cursor
            )
            with cursors:
                yield links, records, checkpoints, keys, maintenance
