"""Fixtures of the store tests: a factory per backend, and a way to tamper with each."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import secrets
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from vision_audit import environment_variables as env
from vision_audit.__main__ import main
from vision_audit.models import AuditEvent
from vision_audit.store import InMemoryAuditStore, SQLiteAuditStore
from vision_audit.store._keys import generate_signing_key, load_private_key
from vision_audit.store.postgres import PostgresAuditStore

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

BACKENDS = ["memory", "sqlite", "postgresql"]

_KEY_VARIABLES = (
    env.VISION_AUDIT_SIGNING_KEY,
    env.VISION_AUDIT_SIGNING_KEY_FILE,
    env.VISION_AUDIT_PSEUDONYM_KEY,
    env.VISION_AUDIT_PSEUDONYM_KEY_FILE,
    env.VISION_AUDIT_STORE,
)


@pytest.fixture(autouse=True)
def _no_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start without keys configured; those that need one set it."""
    for name in _KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(name="signing_key")
def _signing_key() -> Ed25519PrivateKey:
    return generate_signing_key()


class Tamper:
    """What an attacker with write access to the storage can do, per backend."""

    def rows(self) -> list[tuple[int, str, str]]:
        """Every (sequence, hash, envelope), in sequence order."""
        raise NotImplementedError

    def set_envelope(
        self, sequence: int, envelope: str, hash_: str | None = None
    ) -> None:
        """Replace an envelope (and its stored hash, when given)."""
        raise NotImplementedError

    def delete(self, sequence: int) -> None:
        """Remove one event."""
        raise NotImplementedError

    def renumber(self, old: int, new: int) -> None:
        """Move an event to another sequence number."""
        raise NotImplementedError

    def insert(self, sequence: int, hash_: str, envelope: str) -> None:
        """Add an event row."""
        raise NotImplementedError

    def set_content(self, sequence: int, name: str, value: str) -> None:
        """Replace a personal content value (canonical JSON text)."""
        raise NotImplementedError

    def delete_checkpoints(self) -> None:
        """Remove every signed checkpoint."""
        raise NotImplementedError

    def remove_content(self, sequence: int, name: str) -> None:
        """Set a content record's value and salt to null, as a purge would."""
        raise NotImplementedError

    def set_kind(self, sequence: int, name: str, kind: str) -> None:
        """Change the kind of a content record."""
        raise NotImplementedError

    def swap(self, first: int, second: int) -> None:
        """Exchange the places of two events."""
        self.renumber(first, -1)
        self.renumber(second, first)
        self.renumber(-1, second)

    def truncate(self, after: int) -> None:
        """Remove every event after *after*."""
        for sequence, _, _ in self.rows():
            if sequence > after:
                self.delete(sequence)


class MemoryTamper(Tamper):
    """Tampering with an InMemoryAuditStore's lists."""

    def __init__(self, store: InMemoryAuditStore) -> None:
        self.store = store

    def rows(self) -> list[tuple[int, str, str]]:
        return [row[:3] for row in sorted(self.store._events)]  # noqa: SLF001

    def _index(self, sequence: int) -> int:
        for index, row in enumerate(self.store._events):  # noqa: SLF001
            if row[0] == sequence:
                return index
        raise KeyError(sequence)

    def set_envelope(
        self, sequence: int, envelope: str, hash_: str | None = None
    ) -> None:
        index = self._index(sequence)
        old = self.store._events[index]  # noqa: SLF001
        self.store._events[index] = (sequence, hash_ or old[1], envelope, old[3])  # noqa: SLF001

    def delete(self, sequence: int) -> None:
        index = self._index(sequence)
        del self.store._events[index]  # noqa: SLF001
        del self.store._fields[index]

    def renumber(self, old: int, new: int) -> None:
        index = self._index(old)
        _, hash_, envelope, nodes = self.store._events[index]  # noqa: SLF001
        self.store._events[index] = (new, hash_, envelope, nodes)  # noqa: SLF001
        self.store._events.sort()  # noqa: SLF001

    def insert(self, sequence: int, hash_: str, envelope: str) -> None:
        self.store._events.append((sequence, hash_, envelope, None))  # noqa: SLF001
        self.store._events.sort()  # noqa: SLF001

    def set_content(self, sequence: int, name: str, value: str) -> None:
        for record in self.store._content[sequence]:  # noqa: SLF001
            if record[1] == name:
                record[4] = value.encode()

    def delete_checkpoints(self) -> None:
        self.store._checkpoints.clear()  # noqa: SLF001

    def remove_content(self, sequence: int, name: str) -> None:
        for record in self.store._content[sequence]:  # noqa: SLF001
            if record[1] == name:
                record[3] = record[4] = None

    def set_kind(self, sequence: int, name: str, kind: str) -> None:
        for record in self.store._content[sequence]:  # noqa: SLF001
            if record[1] == name:
                record[0] = kind


class SQLiteTamper(Tamper):
    """Tampering with an SQLite store file, triggers dropped first."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            for name in (
                "va_events_no_update",
                "va_events_no_delete",
                "va_content_remove_only",
                "va_content_no_delete",
                "va_checkpoints_no_update",
                "va_checkpoints_no_delete",
                "va_cosignatures_no_change",
                "va_cosignatures_no_delete",
                "va_timestamps_no_change",
                "va_timestamps_no_delete",
            ):
                conn.execute(f"DROP TRIGGER IF EXISTS {name}")
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def rows(self) -> list[tuple[int, str, str]]:
        return self._run(
            "SELECT sequence, hash, envelope FROM va_events ORDER BY sequence"
        )

    def set_envelope(
        self, sequence: int, envelope: str, hash_: str | None = None
    ) -> None:
        if hash_ is None:
            self._run(
                "UPDATE va_events SET envelope = ? WHERE sequence = ?",
                (envelope, sequence),
            )
        else:
            self._run(
                "UPDATE va_events SET envelope = ?, hash = ? WHERE sequence = ?",
                (envelope, hash_, sequence),
            )

    def delete(self, sequence: int) -> None:
        self._run("DELETE FROM va_events WHERE sequence = ?", (sequence,))

    def renumber(self, old: int, new: int) -> None:
        self._run("UPDATE va_events SET sequence = ? WHERE sequence = ?", (new, old))

    def insert(self, sequence: int, hash_: str, envelope: str) -> None:
        self._run(
            "INSERT INTO va_events (sequence, hash, envelope) VALUES (?, ?, ?)",
            (sequence, hash_, envelope),
        )

    def set_content(self, sequence: int, name: str, value: str) -> None:
        self._run(
            "UPDATE va_content SET value = ? WHERE sequence = ? AND name = ?",
            (value, sequence, name),
        )

    def delete_checkpoints(self) -> None:
        self._run("DELETE FROM va_checkpoints")

    def remove_content(self, sequence: int, name: str) -> None:
        self._run(
            "UPDATE va_content SET value = NULL, salt = NULL "
            "WHERE sequence = ? AND name = ?",
            (sequence, name),
        )

    def set_kind(self, sequence: int, name: str, kind: str) -> None:
        self._run(
            "UPDATE va_content SET kind = ? WHERE sequence = ? AND name = ?",
            (kind, sequence, name),
        )


class PostgresTamper(Tamper):
    """Tampering with a PostgreSQL store's tables, triggers disabled first."""

    def __init__(self, url: str, schema: str) -> None:
        self.url = url
        self.schema = schema

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        import psycopg

        with psycopg.connect(
            self.url, autocommit=True, options=f"-c search_path={self.schema}"
        ) as conn:
            for table in ("va_events", "va_content", "va_checkpoints"):
                conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def rows(self) -> list[tuple[int, str, str]]:
        return self._run(
            "SELECT sequence, hash, envelope FROM va_events ORDER BY sequence"
        )

    def set_envelope(
        self, sequence: int, envelope: str, hash_: str | None = None
    ) -> None:
        if hash_ is None:
            self._run(
                "UPDATE va_events SET envelope = %s WHERE sequence = %s",
                (envelope, sequence),
            )
        else:
            self._run(
                "UPDATE va_events SET envelope = %s, hash = %s WHERE sequence = %s",
                (envelope, hash_, sequence),
            )

    def delete(self, sequence: int) -> None:
        self._run("DELETE FROM va_events WHERE sequence = %s", (sequence,))

    def renumber(self, old: int, new: int) -> None:
        self._run("UPDATE va_events SET sequence = %s WHERE sequence = %s", (new, old))

    def insert(self, sequence: int, hash_: str, envelope: str) -> None:
        self._run(
            "INSERT INTO va_events (sequence, hash, envelope) VALUES (%s, %s, %s)",
            (sequence, hash_, envelope),
        )

    def set_content(self, sequence: int, name: str, value: str) -> None:
        self._run(
            "UPDATE va_content SET value = %s WHERE sequence = %s AND name = %s",
            (value, sequence, name),
        )

    def delete_checkpoints(self) -> None:
        self._run("DELETE FROM va_checkpoints")

    def remove_content(self, sequence: int, name: str) -> None:
        self._run(
            "UPDATE va_content SET value = NULL, salt = NULL "
            "WHERE sequence = %s AND name = %s",
            (sequence, name),
        )

    def set_kind(self, sequence: int, name: str, kind: str) -> None:
        self._run(
            "UPDATE va_content SET kind = %s WHERE sequence = %s AND name = %s",
            (kind, sequence, name),
        )

    def drop(self) -> None:
        """Remove the test's schema."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")


class Backend:
    """Opens stores of one kind on one storage, and tampers with it."""

    def __init__(
        self,
        name: str,
        opener: Callable[..., Any],
        tamper: Callable[[Any], Tamper],
        url: str,
    ) -> None:
        self.name = name
        self._opener = opener
        self._tamper = tamper
        self.url = url
        self.opened: list[Any] = []
        self.first: Any = None

    def open(self, **options: Any) -> Any:
        """A store on this backend's storage (the same one each time, but memory)."""
        store = self._opener(**options)
        self.opened.append(store)
        if self.first is None:
            self.first = store
        return store

    def tamper(self, store: Any) -> Tamper:
        """Tampering with the storage under *store*."""
        return self._tamper(store)

    def close(self) -> None:
        """Close every store opened."""
        for store in self.opened:
            store.close()


@pytest.fixture(name="backend", params=BACKENDS)
def _backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Every store contract test runs once per backend."""
    if request.param == "memory":
        backend = Backend(
            "memory",
            InMemoryAuditStore,
            MemoryTamper,
            "memory://",
        )
    elif request.param == "sqlite":
        path = tmp_path / "audit.db"
        backend = Backend(
            "sqlite",
            lambda **options: SQLiteAuditStore(path, **options),
            lambda _store: SQLiteTamper(path),
            f"sqlite:///{path}",
        )
    else:
        url = request.getfixturevalue("postgres_url")
        schema = f"va_test_{secrets.token_hex(6)}"
        backend = Backend(
            "postgresql",
            lambda **options: PostgresAuditStore(url, schema=schema, **options),
            lambda _store: PostgresTamper(url, schema),
            f"{url}?schema={schema}",
        )
    try:
        yield backend
    finally:
        backend.close()
        if backend.name == "postgresql":
            PostgresTamper(url, schema).drop()


def envelope_of(tamper: Tamper, sequence: int) -> dict[str, Any]:
    """The parsed envelope stored at *sequence*."""
    for seq, _, envelope in tamper.rows():
        if seq == sequence:
            return json.loads(envelope)
    raise KeyError(sequence)


def environment_without_keys() -> dict[str, str]:
    """The environment of this process, without any vision-audit key."""
    return {k: v for k, v in os.environ.items() if k not in _KEY_VARIABLES}


T0_CLI = datetime(2026, 3, 1, tzinfo=UTC)


@dataclasses.dataclass
class Completed:
    """What a command run left: exit code and output."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture(name="run")
def _run_fixture(capsys, monkeypatch):
    """Run ``vision-audit`` in this process, as its entry point does."""

    def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None):
        capsys.readouterr()
        with monkeypatch.context() as patch:
            for name, value in (env or {}).items():
                patch.setenv(name, value)
            if stdin is not None:
                patch.setattr(sys, "stdin", io.StringIO(stdin))
            try:
                code = main(list(args))
            except SystemExit as exit_:
                code = int(exit_.code or 0)
        out, err = capsys.readouterr()
        return Completed(code, out, err)

    return run


@pytest.fixture(name="keys")
def _keys(tmp_path, run):
    """A key pair made by keygen: (private path, public path)."""
    completed = run("keygen", "--output", str(tmp_path / "signing.pem"))
    assert 0 == completed.returncode, completed.stderr
    return tmp_path / "signing.pem", tmp_path / "signing.pem.pub"


@pytest.fixture(name="store_url")
def _store_url(tmp_path, keys):
    """An SQLite store of 12 events over 12 days, checkpoints every 5."""
    private, _ = keys
    path = tmp_path / "audit.db"
    key = load_private_key(private.read_bytes(), source="test")
    with SQLiteAuditStore(path, signing_key=key, checkpoint_every=5) as store:
        for n in range(12):
            store.append(
                AuditEvent(
                    type="analysis.completed",
                    event_id=f"e{n}",
                    time=T0_CLI + timedelta(days=n),
                    subject_ref="alice" if n % 2 else "bob",
                    content={"caption": f"caption {n}"},
                )
            )
    return f"sqlite:///{path}"
