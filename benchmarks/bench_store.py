"""
Throughput of the audit store: durable appends from 1, 8 and 32 threads, and verify.

Baseline: a naive chained writer that commits each event in its own transaction with
an fsync (SQLite in WAL mode with ``synchronous=FULL``; PostgreSQL with
``synchronous_commit=on``), doing the same envelope work on the same events from the
same threads, serialised by a lock as such a writer is. Both are measured in this run,
one after the other, and every figure is the median of the rounds. The store runs
with ``durability="power"`` (acknowledged once synced) unless a row says otherwise.

Ceiling (SQLite rows): the same threads through a bare leader/follower group commit
whose only work is one ``fdatasync`` per group: the most any store written in Python
can acknowledge on this machine, where each acknowledgment costs a thread wake-up and
a turn of the GIL. ``+ envelope``: the same, each caller first doing the envelope work
that every append does on its own thread (``prepare()``: checks, canonical JSON,
salted content digests, subject pseudonym), so the most this store could reach with
its writes free. ``envelope only``: that work alone on the same threads, nothing
queued, written or synced. Neither bound writes to SQLite.

Verify: a store of ``--verify-events`` realistic events (a signed checkpoint every
1,000) is verified with links and signatures, then with personal content digests too;
the floor beside them is reading every envelope and hashing it, nothing else. Then
one subject is erased from it: ``erase_subject()`` finds the subject's events by a
scan of the envelopes (SQLite keeps no index of pseudonyms), removes their content
and records the erasure, all timed.

PostgreSQL: the server in ``VISION_AUDIT_TEST_POSTGRES_URL``, else a throwaway one
started with ``scripts/setup-postgres`` (``--no-postgres`` to skip it).

Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_store.py [--events N]
[--rounds R] [--verify-events V] [--no-postgres]``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import secrets
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import psycopg
from _common import percentile
from vision_audit.models import AuditEvent
from vision_audit.store import SQLiteAuditStore
from vision_audit.store._base import BaseAuditStore, _Item
from vision_audit.store._chain import GENESIS_HASH
from vision_audit.store._envelope import prepare, seal
from vision_audit.store._keys import Pseudonymizer, generate_signing_key
from vision_audit.store.postgres import PostgresAuditStore

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from vision_audit.store._base import Durability

ROOT = Path(__file__).resolve().parents[1]
THREADS = (1, 8, 32)
PSEUDONYMIZE = Pseudonymizer(b"bench-pseudonym-key-0123456789")
TAGS = ("car", "vehicle", "outdoor", "wheel", "road", "dent", "door", "sky")


def make_event(number: int) -> AuditEvent:
    """An ``analysis.completed`` event as the instrumentation records it."""
    return AuditEvent(
        type="analysis.completed",
        analysis_id=secrets.token_hex(16),
        trace_id=secrets.token_hex(16),
        span_id=secrets.token_hex(8),
        actor="svc-claims",
        purpose="insurance-claims",
        consent_ref=f"consent-{number % 997}",
        subject_ref=f"policyholder-{number % 4999}",
        policy_id="5" * 64,
        data={
            "endpoint": "https://contoso.cognitiveservices.azure.com",
            "features": ["tags", "caption", "objects", "people"],
            "image": {
                "sha256": hashlib.sha256(str(number).encode()).hexdigest(),
                "size": 204_800 + number % 1000,
                "format": "JPEG",
                "width": 1024,
                "height": 768,
            },
            "model_version": "2023-10-01",
            "latency_ms": 87.5,
            "tags": [
                {"name": name, "confidence": round(0.99 - i * 0.07, 4)}
                for i, name in enumerate(TAGS)
            ],
            "blocked_tags": [],
            "people": 0,
        },
        content={"caption": f"a silver car with a dented door, photo {number}"},
    )


# -- writers ----------------------------------------------------------------------


class Writer(Protocol):
    """Something that appends events, thread-safely, until closed."""

    def append(self, event: AuditEvent) -> object:
        """Record *event*; return once acknowledged."""

    def close(self) -> None:
        """Release what it holds."""


class NaiveSQLite:
    """Commit per event, fsync per commit: what a naive chained writer does."""

    def __init__(self, path: Path) -> None:
        """Create the naive writer's two tables."""
        self.lock = threading.Lock()
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute(
            "CREATE TABLE events (sequence INTEGER PRIMARY KEY, hash, envelope)"
        )
        self.conn.execute("CREATE TABLE content (sequence, name, digest, salt, value)")

    def append(self, event: AuditEvent) -> None:
        """Chain and commit one event, with its fsync."""
        prepared = prepare(event, PSEUDONYMIZE)
        with self.lock:
            conn = self.conn
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute(
                "SELECT sequence, hash FROM events ORDER BY sequence DESC LIMIT 1"
            ).fetchone()
            sequence, prev = row or (0, GENESIS_HASH)
            text, hash_ = seal(prepared, sequence + 1, prev)
            conn.execute(
                "INSERT INTO events VALUES (?, ?, ?)", (sequence + 1, hash_, text)
            )
            for _, name, digest, salt, value in prepared.records:
                conn.execute(
                    "INSERT INTO content VALUES (?, ?, ?, ?, ?)",
                    (sequence + 1, name, digest, salt, value.decode()),
                )
            conn.execute("COMMIT")

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


class NaivePostgres:
    """Commit per event with synchronous_commit=on: a naive chained writer."""

    def __init__(self, url: str, schema: str) -> None:
        """Create the naive writer's two tables in *schema*."""
        self.lock = threading.Lock()
        self.conn = psycopg.connect(url, options=f"-c search_path={schema}")
        self.conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        self.conn.execute(
            "CREATE TABLE events "
            "(sequence bigint PRIMARY KEY, hash text, envelope text)"
        )
        self.conn.execute(
            "CREATE TABLE content (sequence bigint, name text, digest text, "
            "salt bytea, value text)"
        )
        self.conn.commit()

    def append(self, event: AuditEvent) -> None:
        """Chain and commit one event."""
        prepared = prepare(event, PSEUDONYMIZE)
        with self.lock:
            conn = self.conn
            conn.execute("LOCK TABLE events IN EXCLUSIVE MODE")
            row = conn.execute(
                "SELECT sequence, hash FROM events ORDER BY sequence DESC LIMIT 1"
            ).fetchone()
            sequence, prev = row or (0, GENESIS_HASH)
            text, hash_ = seal(prepared, sequence + 1, prev)
            conn.execute(
                "INSERT INTO events VALUES (%s, %s, %s)", (sequence + 1, hash_, text)
            )
            for _, name, digest, salt, value in prepared.records:
                conn.execute(
                    "INSERT INTO content VALUES (%s, %s, %s, %s, %s)",
                    (sequence + 1, name, digest, salt, value.decode()),
                )
            conn.commit()

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


class _Waiter:
    """A caller waiting in the ceiling's queue."""

    __slots__ = ("lead", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lock.acquire()
        self.lead = False


class Ceiling:
    """A leader/follower group commit whose only work is one fdatasync per group."""

    def __init__(self, path: Path, *, envelope: bool = False) -> None:
        """Preallocate the file it syncs; with *envelope*, prepare each event first."""
        self.envelope = envelope
        self.pseudonymize = Pseudonymizer(os.urandom(32))  # a cold cache, as a store's
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.write(self.fd, b"\0" * 65536)
        os.fsync(self.fd)
        self.lock = threading.Lock()
        self.pending: list[_Waiter] = []
        self.leading = False

    def append(self, event: AuditEvent) -> None:
        """Queue; lead a group when no one does; hand over, sync, wake the group."""
        if self.envelope:
            prepare(event, self.pseudonymize)
        me = _Waiter()
        with self.lock:
            self.pending.append(me)
            lead = not self.leading
            self.leading = True
        if not lead:
            me.lock.acquire()
            if not me.lead:
                return
        with self.lock:
            group, self.pending = self.pending, []
        os.pwrite(self.fd, b"x" * 4096, 0)
        with self.lock:
            if self.pending:
                self.pending[0].lead = True
                self.pending[0].lock.release()
            else:
                self.leading = False
        os.fdatasync(self.fd)
        for waiter in group:
            if waiter is not me:
                waiter.lock.release()

    def close(self) -> None:
        """Close the file."""
        os.close(self.fd)


class EnvelopeOnly:
    """The envelope work of an append, and nothing else."""

    def __init__(self) -> None:
        """Use a new pseudonym key, with a cold cache, as a new store does."""
        self.pseudonymize = Pseudonymizer(os.urandom(32))

    def append(self, event: AuditEvent) -> None:
        """Prepare *event* as a store's append does, on the caller's thread."""
        prepare(event, self.pseudonymize)

    def close(self) -> None:
        """Nothing to release."""


def run_threads(
    append: Callable[[AuditEvent], object], threads: int, events: int
) -> float:
    """Events per second of *threads* threads appending *events* events in all."""
    per_thread = events // threads
    batches = [
        [make_event(t * per_thread + n) for n in range(per_thread)]
        for t in range(threads)
    ]
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def work(mine: list[AuditEvent]) -> None:
        barrier.wait()
        try:
            for event in mine:
                append(event)
        except BaseException as err:  # noqa: BLE001 - raised in the main thread
            errors.append(err)

    workers = [threading.Thread(target=work, args=(batch,)) for batch in batches]
    for worker in workers:
        worker.start()
    barrier.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return per_thread * threads / elapsed


# -- backends ---------------------------------------------------------------------


class Backend(Protocol):
    """Where stores and naive writers are made, fresh each time."""

    name: str

    def store(
        self,
        *,
        durability: Durability | None = None,
        signing_key: Ed25519PrivateKey | None = None,
        checkpoint_every: int = 1000,
    ) -> BaseAuditStore:
        """A new, empty store."""

    def naive(self) -> Writer:
        """A new naive writer."""

    def ceiling(self, *, envelope: bool = False) -> Writer | None:
        """The bare group commit where it means something (*envelope*: prepare too)."""


class SQLiteBackend:
    """Fresh SQLite files in a temporary folder."""

    name = "SQLite"

    def __init__(self, folder: Path) -> None:
        """Make files in *folder*."""
        self.folder = folder
        self.count = 0

    def _path(self) -> Path:
        self.count += 1
        return self.folder / f"bench-{self.count}.db"

    def store(
        self,
        *,
        durability: Durability | None = None,
        signing_key: Ed25519PrivateKey | None = None,
        checkpoint_every: int = 1000,
    ) -> BaseAuditStore:
        """A new store file."""
        return SQLiteAuditStore(
            self._path(),
            durability=durability or "process",
            signing_key=signing_key,
            checkpoint_every=checkpoint_every,
        )

    def naive(self) -> Writer:
        """A naive writer on a new file."""
        return NaiveSQLite(self._path())

    def ceiling(self, *, envelope: bool = False) -> Writer | None:
        """The bare group commit on a file of the same disk."""
        return Ceiling(self._path(), envelope=envelope)


class PostgresBackend:
    """Fresh schemas on one PostgreSQL server."""

    name = "PostgreSQL"

    def __init__(self, url: str) -> None:
        """Use the server at *url*."""
        self.url = url
        self.schemas: list[str] = []

    def _schema(self) -> str:
        name = f"va_bench_{secrets.token_hex(4)}"
        self.schemas.append(name)
        return name

    def store(
        self,
        *,
        durability: Durability | None = None,
        signing_key: Ed25519PrivateKey | None = None,
        checkpoint_every: int = 1000,
    ) -> BaseAuditStore:
        """A store in a new schema."""
        return PostgresAuditStore(
            self.url,
            schema=self._schema(),
            durability=durability,
            signing_key=signing_key,
            checkpoint_every=checkpoint_every,
        )

    def naive(self) -> Writer:
        """A naive writer in a new schema."""
        return NaivePostgres(self.url, self._schema())

    def ceiling(self, *, envelope: bool = False) -> Writer | None:  # noqa: ARG002
        """Not measured: the server's own commit path is the bound."""
        return None

    def drop(self) -> None:
        """Remove every schema made."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            for schema in self.schemas:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@contextlib.contextmanager
def postgres_server() -> Iterator[str | None]:
    """A PostgreSQL URL: the configured one, or a throwaway server."""
    url = os.environ.get("VISION_AUDIT_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    folder = tempfile.mkdtemp(prefix="vision-audit-pg-bench-")
    script = ROOT / "scripts" / "setup-postgres"
    completed = subprocess.run(
        ["/bin/sh", str(script), "--dir", folder],
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        print(f"\nPostgreSQL: not measured ({completed.stderr.strip()})")
        yield None
        return
    try:
        yield completed.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(
            ["/bin/sh", str(script), "--stop", folder], capture_output=True, check=False
        )


# -- measurements -------------------------------------------------------------------


def _made(make: Callable[[], Writer | None]) -> Callable[[], Writer]:
    def made() -> Writer:
        writer = make()
        if writer is None:  # pragma: no cover - checked by the caller
            raise AssertionError
        return writer

    return made


def _median_rate(
    make: Callable[[], Writer], threads: int, events: int, rounds: int
) -> float:
    rates = []
    for _ in range(rounds):
        writer = make()
        try:
            rates.append(run_threads(writer.append, threads, events))
        finally:
            writer.close()
    return statistics.median(rates)


def measure_appends(backend: Backend, events: int, rounds: int) -> None:
    """Print store vs naive throughput for each thread count."""
    print(f"\n{backend.name}: durable appends, events/s (median of {rounds} rounds)")
    print(
        f"  {'threads':>7}  {'store (power)':>13}  {'events/commit':>13}  "
        f"{'naive (fsync/event)':>19}  {'ratio':>6}  {'ceiling':>8}  "
        f"{'+ envelope':>10}  {'envelope only':>13}"
    )
    for threads in THREADS:
        ours: list[float] = []
        per_commit: list[float] = []
        for _ in range(rounds):
            store = backend.store(durability="power")
            try:
                ours.append(run_threads(store.append, threads, events))
                per_commit.append(events / max(store._batches, 1))  # noqa: SLF001
            finally:
                store.close()
        naive = _median_rate(backend.naive, threads, events // 2, rounds)
        ceiling = ""
        probe = backend.ceiling()
        if probe is not None:
            probe.close()
            bound = _median_rate(_made(backend.ceiling), threads, events, rounds)
            with_envelope = _median_rate(
                _made(lambda: backend.ceiling(envelope=True)), threads, events, rounds
            )
            alone = _median_rate(EnvelopeOnly, threads, events, rounds)
            ceiling = f"{bound:>8,.0f}  {with_envelope:>10,.0f}  {alone:>13,.0f}"
        mine = statistics.median(ours)
        print(
            f"  {threads:>7}  {mine:>13,.0f}  {statistics.median(per_commit):>13.1f}  "
            f"{naive:>19,.0f}  {mine / naive:>5.1f}x  {ceiling}"
        )
    for threads in (1, 8):
        rate = _median_rate(
            lambda: backend.store(durability="process"), threads, events, rounds
        )
        print(
            f"  {threads:>7}  {rate:>13,.0f}  durability=process: survives the death "
            "of the writing process, not a crash of the machine"
        )


def measure_latency(backend: Backend, samples: int) -> None:
    """Print the latency of a single uncontended append, default durability."""
    store = backend.store()
    events = [make_event(n) for n in range(samples + 200)]
    times: list[float] = []
    try:
        for event in events[:200]:
            store.append(event)
        for event in events[200:]:
            started = time.perf_counter()
            store.append(event)
            times.append(time.perf_counter() - started)
    finally:
        store.close()
    median = statistics.median(times) * 1e3
    p95 = percentile(times, 0.95) * 1e3
    print(
        f"  uncontended append, default durability ({store.durability}): median "
        f"{median:.3f} ms, p95 {p95:.3f} ms ({samples} appends)"
    )


def fill(store: BaseAuditStore, count: int) -> None:
    """Append *count* events in groups of 1,000, through the store's own writer."""
    for start in range(0, count, 1000):
        items = []
        for number in range(start, min(start + 1000, count)):
            item = _Item(event=make_event(number))
            item.lock.acquire()
            items.append(item)
        store._write(items)  # noqa: SLF001 - building a large store quickly


def measure_verify(backend: Backend, count: int, rounds: int) -> None:
    """Print verification throughput, with and without content, and the floor."""
    key = generate_signing_key()
    store = backend.store(signing_key=key, checkpoint_every=1000)
    links: list[float] = []
    full: list[float] = []
    floor: list[float] = []
    try:
        fill(store, count)
        store.sign_checkpoint()
        for _ in range(rounds):
            started = time.perf_counter()
            result = store.verify(public_keys=[key.public_key()], content=False)
            links.append(result.events / (time.perf_counter() - started))
            if not result.ok:
                raise AssertionError(result.message)
            started = time.perf_counter()
            result = store.verify(public_keys=[key.public_key()])
            full.append(result.events / (time.perf_counter() - started))
            with store._read_snapshot(contents=False) as snapshot:  # noqa: SLF001
                started = time.perf_counter()
                hashed = sum(1 for _, _, data in snapshot[0] if hashlib.sha256(data))
                floor.append(hashed / (time.perf_counter() - started))
        started = time.perf_counter()
        erased = store.erase_subject("policyholder-1")
        erase_ms = (time.perf_counter() - started) * 1e3
    finally:
        store.close()
    bare = statistics.median(floor)
    print(f"\n{backend.name}: verify {count:,} events, events/s (median of {rounds})")
    print(f"  links + signatures:            {statistics.median(links):>10,.0f}")
    print(f"  links + signatures + content:  {statistics.median(full):>10,.0f}")
    print(
        f"  floor (read + SHA-256 only):   {bare:>10,.0f}  (links + signatures at "
        f"{statistics.median(links) / bare:.0%} of it)"
    )
    print(
        f"  erase_subject, one subject:    {erase_ms:>10,.1f} ms  (found by "
        f"{'a scan' if isinstance(store, SQLiteAuditStore) else 'an index'}; "
        f"{erased.event.data['events']} events, "
        f"{erased.event.data['records']} records)"
    )


def main() -> None:
    """Measure and print medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--events", type=int, default=3200, help="per configuration")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--verify-events", type=int, default=100_000)
    parser.add_argument("--latency-samples", type=int, default=2000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    print(
        f"vision-audit store benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    )
    with tempfile.TemporaryDirectory(dir=ROOT) as folder:
        sqlite = SQLiteBackend(Path(folder))
        measure_appends(sqlite, args.events, args.rounds)
        measure_latency(sqlite, args.latency_samples)
        measure_verify(sqlite, args.verify_events, args.rounds)
    if args.no_postgres:
        return
    with postgres_server() as url:
        if url is None:
            return
        postgres = PostgresBackend(url)
        try:
            measure_appends(postgres, args.events, args.rounds)
            measure_latency(postgres, args.latency_samples // 2)
            measure_verify(postgres, args.verify_events // 2, args.rounds)
        finally:
            postgres.drop()


if __name__ == "__main__":
    main()
