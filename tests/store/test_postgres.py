"""PostgresAuditStore beyond the contract: a fleet of writers, bad servers, URLs."""

from __future__ import annotations

import secrets
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from tests.store.conftest import PostgresTamper, environment_without_keys
from vision_audit.exceptions import AuditWriteError, StoreError
from vision_audit.models import AuditEvent
from vision_audit.store import open_store
from vision_audit.store._keys import generate_signing_key, public_key_pem
from vision_audit.store.postgres import PostgresAuditStore, split_url


@pytest.fixture(name="schema")
def _schema(postgres_url):
    """A fresh schema, dropped afterwards."""
    name = f"va_test_{secrets.token_hex(6)}"
    yield name
    PostgresTamper(postgres_url, name).drop()


def _event(number: int) -> AuditEvent:
    return AuditEvent(type="t", event_id=f"e{number}", data={"n": number})


class TestFleet:
    """Writers on separate connections (as on separate machines) share one chain."""

    def test_many_writers(self, postgres_url, schema, signing_key):
        """Four stores, two threads each, one gapless verified chain."""
        stores = [
            PostgresAuditStore(
                postgres_url,
                schema=schema,
                signing_key=signing_key,
                checkpoint_every=10,
            )
            for _ in range(4)
        ]

        def write(store, worker: int) -> None:
            for n in range(30):
                store.append(_event(worker * 1000 + n))

        threads = [
            threading.Thread(target=write, args=(store, index * 2 + half))
            for index, store in enumerate(stores)
            for half in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for store in stores:
            store.close()
        reader = PostgresAuditStore(postgres_url, schema=schema, read_only=True)

        result = reader.verify(public_keys=[signing_key.public_key()])

        assert result.ok, result.message
        assert 240 == result.events
        assert result.checkpoints >= 24


class TestOpening:
    """Servers and tables that cannot serve are refused by name."""

    def test_unreachable(self):
        """No server: 'cannot connect', and no password in the message."""
        with pytest.raises(StoreError, match="cannot connect") as info:
            PostgresAuditStore(
                "postgresql://ada:s3cret@127.0.0.1:1/audit", connect_timeout=2
            )

        assert "s3cret" not in str(info.value)

    def test_newer_schema(self, postgres_url, schema):
        """Tables of a newer vision-audit: refused, upgrade advised."""
        PostgresAuditStore(postgres_url, schema=schema).close()
        PostgresTamper(postgres_url, schema)._run(  # noqa: SLF001
            "UPDATE va_meta SET value = '3' WHERE key = 'schema_version'"
        )

        with pytest.raises(StoreError, match="newer vision-audit"):
            PostgresAuditStore(postgres_url, schema=schema)

    def test_older_read_indexes_upgraded(self, postgres_url, schema):
        """A store of the previous index version gains the policy index, and names."""
        PostgresAuditStore(postgres_url, schema=schema).close()
        tamper = PostgresTamper(postgres_url, schema)
        tamper._run("DROP INDEX va_events_policy")  # noqa: SLF001
        tamper._run(  # noqa: SLF001
            "UPDATE va_meta SET value = '2' WHERE key = 'review_index'"
        )

        store = PostgresAuditStore(postgres_url, schema=schema)
        store.append(
            AuditEvent(
                type="policy.activated",
                policy_id="sha256:aa",
                data={"name": "claims", "version": "7", "mode": "enforce"},
            )
        )
        names = store.aggregate_period(
            datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(days=1)
        ).policy_names
        store.close()

        with psycopg.connect(postgres_url) as conn:
            indexes = {
                row[0]
                for row in conn.execute(
                    "SELECT indexname FROM pg_indexes WHERE schemaname = %s", (schema,)
                )
            }
            version = conn.execute(
                f"SELECT value FROM {schema}.va_meta WHERE key = 'review_index'"  # noqa: S608
            ).fetchone()
        assert "va_events_policy" in indexes
        assert ("3",) == version
        assert [("sha256:aa", "claims", "7", "enforce")] == [n[:4] for n in names]

    def test_foreign_table(self, postgres_url, schema):
        """A va_events table of something else: not a vision-audit store."""
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
            conn.execute(f"CREATE TABLE {schema}.va_events (x int)")

        with pytest.raises(StoreError, match="not a vision-audit store"):
            PostgresAuditStore(postgres_url, schema=schema)

    def test_read_only_empty(self, postgres_url, schema):
        """Reading where no store was created: said so, nothing created."""
        with pytest.raises(StoreError, match="holds no vision-audit store"):
            PostgresAuditStore(postgres_url, schema=schema, read_only=True)

    def test_schema_name(self, postgres_url):
        """A schema name that is not a plain name is refused."""
        with pytest.raises(ValueError, match="plain lowercase"):
            PostgresAuditStore(postgres_url, schema='x"; DROP TABLE y; --')


class TestUrl:
    """vision-audit's options ride in the URL's query, apart from libpq's."""

    def test_split(self):
        """Own options are taken out; libpq's stay."""
        url, own = split_url(
            "postgresql://u@h:5/db?sslmode=disable&schema=s&durability=process"
        )

        assert "postgresql://u@h:5/db?sslmode=disable" == url
        assert {"schema": "s", "durability": "process"} == own

    def test_open_store(self, postgres_url, schema):
        """open_store() reads schema and durability from the URL."""
        with open_store(f"{postgres_url}?schema={schema}&durability=process") as store:
            store.append(_event(1))

            assert "process" == store.durability
            assert 1 == store.get_head().sequence

    def test_power_is_the_default(self, postgres_url, schema):
        """A PostgreSQL store acknowledges after the server's WAL flush by default."""
        with PostgresAuditStore(postgres_url, schema=schema) as store:
            assert "power" == store.durability


class TestCommands:
    """The CLI works on a PostgreSQL store as on a file."""

    def test_verify_and_export(self, postgres_url, schema, tmp_path):
        """verify, export and verify --file, through a postgresql:// URL."""
        url = f"{postgres_url}?schema={schema}"
        key = generate_signing_key()
        public = tmp_path / "log.pub"
        public.write_bytes(public_key_pem(key.public_key()))
        with PostgresAuditStore(url, signing_key=key) as store:
            for n in range(5):
                store.append(_event(n))

        def run(*args):
            return subprocess.run(
                [sys.executable, "-m", "vision_audit", *args],
                capture_output=True,
                text=True,
                timeout=60,
                env=environment_without_keys(),
                check=False,
            )

        verified = run("verify", "--store", url, "--public-key", str(public))
        exported = run("export", "--store", url, "--output", str(tmp_path / "e.jsonl"))
        checked = run(
            "verify", "--file", str(tmp_path / "e.jsonl"), "--public-key", str(public)
        )

        assert 0 == verified.returncode, verified.stderr
        assert 0 == exported.returncode, exported.stderr
        assert 0 == checked.returncode, checked.stdout
        assert "5 events verified" in checked.stdout


class TestVacuum:
    """A purge or erasure vacuums the old row versions that held the content."""

    def _last_vacuum(self, postgres_url, schema):
        with psycopg.connect(postgres_url) as conn:
            row = conn.execute(
                "SELECT last_vacuum FROM pg_stat_user_tables "
                "WHERE schemaname = %s AND relname = 'va_content'",
                (schema,),
            ).fetchone()
        return row[0]

    @pytest.mark.parametrize("remove", ["purge", "erase"])
    def test_vacuumed_after_commit(self, postgres_url, schema, remove):
        """va_content is vacuumed once the removal is committed; nothing pending."""
        with PostgresAuditStore(postgres_url, schema=schema) as store:
            store.append(
                AuditEvent(type="t", subject_ref="ada", content={"caption": "secret"})
            )
            before = self._last_vacuum(postgres_url, schema)
            if remove == "purge":
                store.purge_content(older_than=timedelta(0))
            else:
                store.erase_subject("ada")
            pending = store.wipe_pending

        assert before is None
        assert self._last_vacuum(postgres_url, schema) is not None
        assert not pending

    def test_vacuum_not_permitted(self, postgres_url, schema, caplog):
        """A role that may not vacuum still purges; a warning says what lingers."""
        role = f"va_writer_{secrets.token_hex(4)}"
        store = PostgresAuditStore(postgres_url, schema=schema)
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {role}")
            conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
            conn.execute(
                f"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA {schema} "
                f"TO {role}"
            )
        try:
            store.append(AuditEvent(type="t", content={"caption": "secret"}))
            store._writer_conn.execute(f"SET ROLE {role}")  # noqa: SLF001 - a writer that does not own the tables

            purged = store.purge_content(older_than=timedelta(0))
            pending = store.wipe_pending
            store.close()
        finally:
            with psycopg.connect(postgres_url, autocommit=True) as conn:
                conn.execute(f"DROP OWNED BY {role}")
                conn.execute(f"DROP ROLE {role}")

        assert 1 == purged.event.data["records"]
        assert pending
        assert "VACUUM va_content failed" in caplog.text


@pytest.fixture(name="own_server")
def _own_server():
    """A PostgreSQL server of this test's own, to restart: (URL, its folder)."""
    from tests.conftest import SETUP_POSTGRES, _in_ci

    folder = tempfile.mkdtemp(prefix="vision-audit-pg-restart-")
    completed = subprocess.run(
        ["/bin/sh", str(SETUP_POSTGRES), "--dir", folder],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if completed.returncode != 0:
        message = f"no PostgreSQL server of its own: {completed.stderr.strip()}"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield completed.stdout.strip().splitlines()[-1], folder
    finally:
        subprocess.run(
            ["/bin/sh", str(SETUP_POSTGRES), "--stop", folder],
            capture_output=True,
            timeout=120,
            check=False,
        )


class TestServerRestart:
    """The server restarts under 8 appending threads: fail closed, then carry on."""

    def test_writers_reconnect(self, own_server, signing_key):
        """Appends fail during the outage, resume by themselves; nothing is lost."""
        from tests.conftest import SETUP_POSTGRES

        url, folder = own_server
        store = PostgresAuditStore(url, signing_key=signing_key, checkpoint_every=50)
        acknowledged: list[tuple[float, str]] = []
        refused: list[tuple[float, str]] = []
        stop = threading.Event()
        lock = threading.Lock()

        def write(worker: int) -> None:
            number = 0
            while not stop.is_set():
                number += 1
                try:
                    recorded = store.append(_event(worker * 1_000_000 + number))
                except AuditWriteError as err:
                    with lock:
                        refused.append((time.monotonic(), str(err)))
                    time.sleep(0.05)
                else:
                    with lock:
                        acknowledged.append((time.monotonic(), recorded.event.event_id))

        threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        subprocess.run(
            ["/bin/sh", str(SETUP_POSTGRES), "--restart", folder],
            check=True,
            capture_output=True,
            timeout=120,
        )
        restarted = time.monotonic()
        deadline = restarted + 30
        while time.monotonic() < deadline:
            time.sleep(0.2)
            with lock:
                resumed = sum(1 for when, _ in acknowledged if when > restarted + 0.5)
            if resumed >= 100:
                break
        stop.set()
        for thread in threads:
            thread.join()
        store.close()

        with PostgresAuditStore(url, read_only=True) as reader:
            result = reader.verify(public_keys=[signing_key.public_key()])
            recorded_ids = {r.event.event_id for r in reader.iter_events()}
        assert refused, "no append failed: the restart was not seen"
        assert resumed >= 100, f"writers did not resume: {refused[-1][1]}"
        assert result.ok, result.message
        assert {event_id for _, event_id in acknowledged} <= recorded_ids


class TestWriterRole:
    """A fleet's writer role appends to a store it does not own."""

    def test_role_with_table_privileges_only(self, postgres_url, schema, signing_key):
        """The owner sets the store up; a role that may only write then appends."""
        owner = PostgresAuditStore(postgres_url, schema=schema, signing_key=signing_key)
        owner.append(_event(1))
        owner.close()
        role = f"va_writer_{secrets.token_hex(4)}"
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {role} LOGIN")
            conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
            conn.execute(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "
                f"{schema} TO {role}"
            )
        scheme, rest = postgres_url.split("://", 1)
        as_writer = f"{scheme}://{role}@{rest.split('@', 1)[-1]}"
        try:
            writer = PostgresAuditStore(
                as_writer, schema=schema, signing_key=signing_key
            )
            recorded = writer.append(
                AuditEvent(
                    type="review.required",
                    analysis_id="a-1",
                    data={"review": {"deadline_seconds": 60}},
                )
            )
            queue = writer.list_reviews()
            writer.close()
        finally:
            with psycopg.connect(postgres_url, autocommit=True) as conn:
                conn.execute(f"DROP OWNED BY {role}")
                conn.execute(f"DROP ROLE {role}")

        assert 2 == recorded.sequence
        assert ["a-1"] == [entry.analysis_id for entry in queue]
