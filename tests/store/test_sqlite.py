"""SQLiteAuditStore beyond the contract: crashes, processes, bad files, full disk."""

from __future__ import annotations

import os
import random
import re
import selectors
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from tests.forking import in_child
from tests.store.conftest import environment_without_keys
from vision_audit.exceptions import AuditWriteError, StoreError
from vision_audit.models import AuditEvent, new_id
from vision_audit.store import SQLiteAuditStore, open_store
from vision_audit.store import sqlite as sqlite_store
from vision_audit.store._keys import generate_signing_key, private_key_pem

CHILD = Path(__file__).with_name("writer_child.py")


def _event(number: int = 0, **fields) -> AuditEvent:
    return AuditEvent(type="t", event_id=f"e{number}", data={"n": number}, **fields)


def _start_writer(path: Path, prefix: str, durability: str, key_pem: bytes):
    # Its errors go to a file beside the store, shown if it never gets ready.
    errors_path = path.parent / f"{prefix}.stderr"
    with errors_path.open("wb") as errors:
        process = subprocess.Popen(
            [sys.executable, str(CHILD), str(path), prefix, durability, "2"],
            stdout=subprocess.PIPE,
            stderr=errors,
            env={
                **environment_without_keys(),
                "VISION_AUDIT_SIGNING_KEY": key_pem.decode("ascii"),
            },
        )
    process.errors_path = errors_path  # type: ignore[attr-defined]
    return process


def _read_until_killed(  # noqa: C901 - one polling loop
    processes, rng: random.Random, low: float = 0.0, high: float = 0.06
) -> list[str]:
    """Kill each process -9 at a random moment once ready; return the ids printed."""
    selector = selectors.DefaultSelector()
    buffers: dict[int, bytes] = {}
    deadlines: dict[int, float] = {}
    for process in processes:
        selector.register(process.stdout, selectors.EVENT_READ, process)
        buffers[process.pid] = b""
    acknowledged: list[str] = []
    alive = set(processes)
    started = time.monotonic()
    while alive:
        if time.monotonic() - started > 60:
            said = {
                p.args[3]: (p.poll(), p.errors_path.read_text()[-2000:]) for p in alive
            }
            pytest.fail(f"writer processes did not start in time: {said}")
        for key, _ in selector.select(timeout=0.005):
            process = key.data
            chunk = os.read(process.stdout.fileno(), 65536)
            buffers[process.pid] += chunk
            if b"ready" in buffers[process.pid] and process.pid not in deadlines:
                deadlines[process.pid] = time.monotonic() + rng.uniform(low, high)
        now = time.monotonic()
        for process in list(alive):
            if process.pid in deadlines and now >= deadlines[process.pid]:
                process.send_signal(signal.SIGKILL)
                process.wait()
                # What the pipe still holds was printed before the kill.
                while True:
                    chunk = os.read(process.stdout.fileno(), 65536)
                    if not chunk:
                        break
                    buffers[process.pid] += chunk
                selector.unregister(process.stdout)
                process.stdout.close()
                alive.discard(process)
    for data in buffers.values():
        lines = data.split(b"\n")
        # Only whole lines: the last one may have been cut by the kill.
        acknowledged += [
            line.decode() for line in lines[:-1] if not line.startswith(b"ready")
        ]
    return acknowledged


class TestDurability:
    """No acknowledged event is lost when writers are killed -9."""

    def test_kill_minus_nine(self, tmp_path):
        """Ten rounds of two writer processes killed at random moments lose nothing."""
        path = tmp_path / "audit.db"
        key = generate_signing_key()
        rng = random.Random(4)  # noqa: S311 - kill times, not secrets
        acknowledged: list[str] = []
        for round_ in range(10):
            processes = [
                _start_writer(
                    path,
                    f"r{round_}p{n}",
                    ("process", "power")[n],
                    private_key_pem(key),
                )
                for n in range(2)
            ]
            acknowledged += _read_until_killed(processes, rng)

        with SQLiteAuditStore(path, signing_key=key) as store:
            result = store.verify(public_keys=[key.public_key()])
            recorded = {event.event.event_id for event in store.iter_events()}

        assert result.ok, result.message
        assert len(acknowledged) > 20
        assert set() == set(acknowledged) - recorded


class TestProcesses:
    """Several processes appending to one file keep one linear chain."""

    def test_concurrent_processes(self, tmp_path):
        """Three processes with two threads each: one gapless, verified chain."""
        path = tmp_path / "audit.db"
        key = generate_signing_key()
        SQLiteAuditStore(path).close()
        processes = [
            _start_writer(path, f"p{n}", "process", private_key_pem(key))
            for n in range(3)
        ]
        acknowledged = _read_until_killed(
            processes,
            random.Random(7),  # noqa: S311 - kill times, not secrets
            0.3,
            0.4,
        )

        with SQLiteAuditStore(path) as store:
            result = store.verify(public_keys=[key.public_key()])
            sequences = [event.sequence for event in store.iter_events()]

        assert result.ok, result.message
        assert list(range(1, len(sequences) + 1)) == sequences
        assert {a.split("-")[0] for a in acknowledged} == {"p0", "p1", "p2"}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
class TestFork:
    """A child forked from a process whose threads use the store."""

    def test_while_threads_append(self, tmp_path):
        """Forks amid appends: no child hangs, and every acknowledged event is kept."""
        key = generate_signing_key()
        store = SQLiteAuditStore(
            tmp_path / "audit.db", signing_key=key, checkpoint_every=50
        )
        stop = threading.Event()
        acknowledged: list[str] = []

        def append(prefix: str) -> None:
            number = 0
            while not stop.is_set():
                recorded = store.append(
                    AuditEvent(type="t", event_id=f"{prefix}-{number}")
                )
                acknowledged.append(recorded.event.event_id)
                number += 1

        def work(worker: int) -> str:
            for number in range(3):
                store.append(AuditEvent(type="t", event_id=f"child{worker}-{number}"))
            store.close()
            return "ok"

        threads = [
            threading.Thread(target=append, args=(f"parent{n}",)) for n in range(2)
        ]
        for thread in threads:
            thread.start()
        try:
            answers = [in_child(lambda n=n: work(n)) for n in range(40)]
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        result = store.verify(public_keys=[key.public_key()])
        recorded = {event.event.event_id for event in store.iter_events()}
        store.close()

        assert ["ok"] * 40 == answers
        assert result.ok, result.message
        children = {f"child{n}-{k}" for n in range(40) for k in range(3)}
        assert set() == (children | set(acknowledged)) - recorded
        assert len(acknowledged) > 40

    @pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs /proc/locks")
    def test_connection_of_its_own(self, tmp_path):
        """
        The child closes what it inherited, leaving the parent's WAL, and locks anew.

        A connection carried across the fork would leave the child writing without
        a lock of its own on the shared memory, so that the parent, closing last,
        could remove the WAL under it.
        """
        path = tmp_path / "audit.db"
        store = SQLiteAuditStore(path)
        store.append(_event(0))
        wal = Path(f"{path}-wal")
        before = (wal.stat().st_ino, wal.stat().st_size)
        shm = f":{Path(f'{path}-shm').stat().st_ino} "

        def work() -> str:
            untouched = (wal.stat().st_ino, wal.stat().st_size) == before
            sequence = store.append(_event(1)).sequence
            locks = Path("/proc/locks").read_text().splitlines()
            own = [line for line in locks if f" {os.getpid()} " in line and shm in line]
            return f"{untouched} {sequence} {bool(own)}"

        answer = in_child(work)
        store.append(_event(2))

        assert "True 2 True" == answer
        assert wal.stat().st_ino == before[0]
        assert [0, 1, 2] == [e.event.data["n"] for e in store.iter_events()]
        assert store.verify().ok
        store.close()

    def test_reading_finished_on_another_thread(self, tmp_path, monkeypatch):
        """A read finished on another thread than its own: both still count."""
        monkeypatch.setattr(sqlite_store, "_FORK_WAIT", 0.2)
        path = tmp_path / "audit.db"
        store = SQLiteAuditStore(path)
        store.append(_event(0))
        first = store.iter_events()
        second = store.iter_events()
        handed = threading.Event()
        go_on = threading.Event()
        inside = threading.Event()
        leave = threading.Event()

        def read() -> None:
            next(first)
            handed.set()
            go_on.wait(10)
            next(second)
            inside.set()
            leave.wait(10)
            second.close()

        reader = threading.Thread(target=read)
        reader.start()
        handed.wait(10)
        first.close()  # finished here, started there
        go_on.set()
        inside.wait(10)
        try:
            answer = in_child(lambda: store.append(_event(1)).sequence)
        finally:
            leave.set()
            reader.join()

        assert answer.startswith("AuditWriteError"), answer
        assert 2 == store.append(_event(1)).sequence
        store.close()

    def _refused(self, store, path: Path) -> str:
        """In a child: what each use of an SQLite store raises."""
        problems = []
        for use in (
            lambda: store.append(_event(7)),
            store.get_head,
            lambda: store.erase_subject("alice"),
            lambda: SQLiteAuditStore(path),
        ):
            try:
                use()
            except (AuditWriteError, StoreError) as err:
                problems.append(
                    type(err).__name__
                    if "forked while a thread was inside SQLite" in str(err)
                    else str(err)
                )
            else:
                problems.append("used")
        store.close()
        return " ".join(problems)

    def test_forked_inside_sqlite(self, tmp_path):
        """Forked in an iter_events() loop: the child refuses SQLite, never hangs."""
        path = tmp_path / "audit.db"
        store = SQLiteAuditStore(path)
        store.append(_event(0))
        events = store.iter_events()
        next(events)

        answer = in_child(lambda: self._refused(store, path))
        events.close()

        assert "AuditWriteError StoreError StoreError StoreError" == answer
        assert 2 == store.append(_event(1)).sequence
        store.close()

    def test_forked_while_another_thread_stays_inside(self, tmp_path, monkeypatch):
        """A thread inside SQLite past the wait: the fork goes on, the child refuses."""
        monkeypatch.setattr(sqlite_store, "_FORK_WAIT", 0.2)
        path = tmp_path / "audit.db"
        store = SQLiteAuditStore(path)
        store.append(_event(0))
        inside = threading.Event()
        leave = threading.Event()

        def read() -> None:
            for _ in store.iter_events():
                inside.set()
                leave.wait(10)

        reader = threading.Thread(target=read)
        reader.start()
        inside.wait(10)
        try:
            started = time.monotonic()
            answer = in_child(lambda: self._refused(store, path))
            waited = time.monotonic() - started
        finally:
            leave.set()
            reader.join()

        assert "AuditWriteError StoreError StoreError StoreError" == answer
        assert waited >= 0.2
        assert 2 == store.append(_event(1)).sequence
        store.close()


class TestLocks:
    """Opening a store never drops the locks of another open on the same file."""

    @staticmethod
    def _append_in_another_process(path: Path, event_id: str) -> None:
        code = (
            "import sys\n"
            "from vision_audit.models import AuditEvent\n"
            "from vision_audit.store import SQLiteAuditStore\n"
            "with SQLiteAuditStore(sys.argv[1]) as store:\n"
            "    store.append(AuditEvent(type='t', event_id=sys.argv[2]))\n"
        )
        subprocess.run(
            [sys.executable, "-c", code, str(path), event_id],
            check=True,
            env=environment_without_keys(),
        )

    @pytest.mark.parametrize("read_only", [True, False])
    def test_second_store_in_one_process(self, tmp_path, read_only):
        """
        A second store opened and closed on the file keeps every acknowledged event.

        Had it opened and closed a descriptor of the file outside SQLite, the first
        store's POSIX locks would be gone, and another process, closing as the
        apparent last user, would checkpoint and delete the WAL under it.
        """
        path = tmp_path / "audit.db"
        acknowledged = []
        with SQLiteAuditStore(path) as store:
            acknowledged += [store.append(_event(n)).event.event_id for n in range(3)]
            SQLiteAuditStore(path, read_only=read_only).close()
            self._append_in_another_process(path, "other-1")
            acknowledged += [
                store.append(_event(n)).event.event_id for n in range(3, 6)
            ]
            self._append_in_another_process(path, "other-2")

        with SQLiteAuditStore(path, read_only=True) as store:
            result = store.verify()
            recorded = {event.event.event_id for event in store.iter_events()}

        assert result.ok, result.message
        assert set() == {*acknowledged, "other-1", "other-2"} - recorded


class TestHostileFiles:
    """Files that are not usable stores are refused by name, and left untouched."""

    def _assert_untouched(self, path: Path, before: bytes) -> None:
        assert before == path.read_bytes()
        assert not Path(f"{path}-wal").exists()

    def test_not_sqlite(self, tmp_path):
        """Any other file: not an SQLite database."""
        path = tmp_path / "notes.db"
        path.write_bytes(b"these are my notes, not a database" * 100)
        before = path.read_bytes()

        with pytest.raises(StoreError, match=r"notes\.db: is not an SQLite database"):
            SQLiteAuditStore(path)

        self._assert_untouched(path, before)

    def test_other_application(self, tmp_path):
        """Another application's SQLite database: not a vision-audit store."""
        path = tmp_path / "app.db"
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE customers (name TEXT)")
        conn.execute("INSERT INTO customers VALUES ('Ada')")
        conn.commit()
        conn.close()
        before = path.read_bytes()

        with pytest.raises(StoreError, match=r"not a vision-audit store \(it holds"):
            SQLiteAuditStore(path)

        self._assert_untouched(path, before)

    def test_newer_schema(self, tmp_path):
        """A store written by a newer version: refused, upgrade advised."""
        path = tmp_path / "audit.db"
        with SQLiteAuditStore(path) as store:
            store.append(_event())
        conn = sqlite3.connect(path)
        conn.execute("UPDATE va_meta SET value = '3' WHERE key = 'schema_version'")
        conn.commit()
        conn.close()
        before = path.read_bytes()

        with pytest.raises(StoreError, match=r"newer vision-audit \(schema version 3"):
            SQLiteAuditStore(path)

        assert before == path.read_bytes()

    def test_corrupted(self, tmp_path):
        """A store whose pages were overwritten: named as corrupted, not a crash."""
        path = tmp_path / "audit.db"
        with SQLiteAuditStore(path) as store:
            for n in range(300):
                store.append(_event(n, content={"caption": "x" * 100}))
        data = bytearray(path.read_bytes())
        data[8192:16384] = os.urandom(8192)
        path.write_bytes(bytes(data))

        with pytest.raises(StoreError, match=r"corrupt|malformed|not an SQLite"):
            SQLiteAuditStore(path, read_only=True).verify()

    def test_truncated_file(self, tmp_path):
        """A store file cut in half: named as corrupted."""
        path = tmp_path / "audit.db"
        with SQLiteAuditStore(path) as store:
            for n in range(300):
                store.append(_event(n, content={"caption": "x" * 100}))
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])

        with pytest.raises(StoreError, match=r"corrupt|malformed"):
            SQLiteAuditStore(path, read_only=True).verify()

    def test_folder(self, tmp_path):
        """A folder where the file should be."""
        with pytest.raises(StoreError, match="is a folder"):
            SQLiteAuditStore(tmp_path)

    def test_missing_folder(self, tmp_path):
        """A path in a folder that does not exist."""
        with pytest.raises(StoreError, match="does not exist"):
            SQLiteAuditStore(tmp_path / "no" / "such" / "audit.db")

    @pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only folders")
    def test_read_only_folder(self, tmp_path):
        """A folder the process may not write to: cannot be created."""
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o555)
        try:
            with pytest.raises(StoreError, match="cannot be opened"):
                SQLiteAuditStore(folder / "audit.db")
        finally:
            folder.chmod(0o755)

    def test_read_only_store(self, tmp_path):
        """A store opened read-only refuses to record, saying why."""
        path = tmp_path / "audit.db"
        SQLiteAuditStore(path).close()

        store = SQLiteAuditStore(path, read_only=True)

        with pytest.raises(AuditWriteError, match="read-only"):
            store.append(_event())
        with pytest.raises(StoreError, match="read-only"):
            store.erase_subject("x")

    def test_missing_store_read_only(self, tmp_path):
        """Reading a store that does not exist creates nothing."""
        with pytest.raises(StoreError, match="no store exists"):
            SQLiteAuditStore(tmp_path / "audit.db", read_only=True)

        assert [] == list(tmp_path.iterdir())


class TestWriteFailures:
    """A failing write is reported, and nothing stored is damaged."""

    def test_disk_full(self, tmp_path):
        """When the disk fills up: AuditWriteError naming it; earlier events intact."""
        store = SQLiteAuditStore(tmp_path / "audit.db")
        for n in range(5):
            store.append(_event(n))
        pages = store._conn.execute("PRAGMA page_count").fetchone()[0]  # noqa: SLF001
        store._conn.execute(f"PRAGMA max_page_count = {pages}")  # noqa: SLF001

        def fill() -> None:
            for n in range(5, 500):
                store.append(_event(n, content={"caption": "x" * 2000}))

        with pytest.raises(AuditWriteError, match="disk is full"):
            fill()
        store._conn.execute("PRAGMA max_page_count = 1073741823")  # noqa: SLF001
        after = store.append(_event(1000))

        assert store.verify().ok
        assert after.sequence == store.get_head().sequence
        store.close()

    def test_not_writable(self, tmp_path):
        """When the file turns read-only: AuditWriteError saying so."""
        store = SQLiteAuditStore(tmp_path / "audit.db")
        store.append(_event(1))
        store._conn.execute("PRAGMA query_only = ON")  # noqa: SLF001

        with pytest.raises(AuditWriteError, match="not writable"):
            store.append(_event(2))

        store._conn.execute("PRAGMA query_only = OFF")  # noqa: SLF001
        assert 2 == store.append(_event(3)).sequence
        store.close()


class TestDurabilityOption:
    """durability="power" syncs before acknowledging; bad values are refused."""

    def test_power(self, tmp_path):
        """Power durability appends and verifies like the default."""
        with SQLiteAuditStore(tmp_path / "audit.db", durability="power") as store:
            records = [store.append(_event(n)) for n in range(3)]

            assert [1, 2, 3] == [r.sequence for r in records]
            assert store.verify().ok

    def test_from_url(self, tmp_path):
        """The URL's query can ask for it."""
        store = open_store(f"sqlite:///{tmp_path / 'audit.db'}?durability=power")

        assert "power" == store.durability
        store.close()

    def test_refused(self, tmp_path):
        """Anything else is a ValueError naming the accepted values."""
        with pytest.raises(ValueError, match="'process' or 'power'"):
            SQLiteAuditStore(tmp_path / "audit.db", durability="eventually")

    @pytest.mark.parametrize(("durability", "level"), [("process", 1), ("power", 2)])
    def test_commit_syncs_for_power(self, tmp_path, durability, level):
        """Power durability commits with synchronous=FULL, process with NORMAL."""
        with SQLiteAuditStore(tmp_path / "audit.db", durability=durability) as store:
            store.append(_event())
            (found,) = store._conn.execute("PRAGMA synchronous").fetchone()  # noqa: SLF001

        assert level == found


def _indexes(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' "
                "AND tbl_name = 'va_events' AND name LIKE 'va_%'"
            )
        }


class TestWipe:
    """A purge under another process's read neither stalls writers nor wipes late."""

    @staticmethod
    def _hold_a_read(path: Path) -> subprocess.Popen[str]:
        code = (
            "import sqlite3, sys\n"
            "conn = sqlite3.connect(f'file:{sys.argv[1]}?mode=ro', uri=True)\n"
            "conn.execute('BEGIN')\n"
            "conn.execute('SELECT count(*) FROM va_events').fetchone()\n"
            "print('reading', flush=True)\n"
            "sys.stdin.readline()\n"
        )
        reader = subprocess.Popen(
            [sys.executable, "-c", code, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert "reading\n" == reader.stdout.readline()
        return reader

    def test_purge_during_a_read(self, tmp_path, monkeypatch, caplog):
        """
        The purge returns at once, says the wipe is pending, and a later write wipes.

        The WAL keeps older page images of the removed content while a reader holds
        an older snapshot; waiting for it would hold back every writer of the file.
        """
        monkeypatch.setattr(sqlite_store, "_WIPE_RETRY", 0.0)
        path = tmp_path / "audit.db"
        store = SQLiteAuditStore(path, busy_timeout=10)
        for n in range(3):
            store.append(_event(n, content={"text": "SECRET " * 500}))
        reader = self._hold_a_read(path)
        try:
            started = time.monotonic()
            store.purge_content(older_than=timedelta(0))
            took = time.monotonic() - started
            pending = store.wipe_pending
        finally:
            reader.communicate("done\n")
        store.append(_event(3))
        wiped = not store.wipe_pending
        store.close()

        assert took < 2
        assert pending
        assert wiped
        assert "still lingers in older page images" in caplog.text
        assert not Path(f"{path}-wal").exists()
        assert b"SECRET" not in path.read_bytes()

    def test_pending_at_close(self, tmp_path, monkeypatch, caplog):
        """A wipe still impossible at close is logged, not raised."""
        monkeypatch.setattr(sqlite_store, "_WIPE_WAIT_AT_CLOSE", 0.05)
        path = tmp_path / "audit.db"
        store = SQLiteAuditStore(path)
        store.append(_event(0, content={"text": "SECRET"}))
        reader = self._hold_a_read(path)
        try:
            store.purge_content(older_than=timedelta(0))
            store.close()
        finally:
            reader.communicate("done\n")

        assert store.wipe_pending
        assert "closed while removed content lingers" in caplog.text


class TestSubjectErasure:
    """No index of pseudonyms: erase_subject() scans, mostly before its transaction."""

    def test_no_subject_index(self, tmp_path):
        """A new store indexes event ids, times and analyses, not pseudonyms."""
        path = tmp_path / "audit.db"
        SQLiteAuditStore(path).close()

        expected = {
            "va_events_event_id",
            "va_events_time",
            "va_events_analysis",
            "va_events_consent",
            "va_events_policy",
        }
        assert expected == _indexes(path)

    def test_store_with_subject_index(self, tmp_path):
        """A store made with the index of pseudonyms still appends and erases."""
        path = tmp_path / "audit.db"
        with SQLiteAuditStore(path) as store:
            store.append(_event(0, subject_ref="alice", content={"caption": "a"}))
        with sqlite3.connect(path) as conn:
            conn.execute(
                "CREATE INDEX va_events_subject ON va_events (subject_ref) "
                "WHERE subject_ref IS NOT NULL"
            )

        with SQLiteAuditStore(path) as store:
            store.append(_event(1, subject_ref="alice", content={"caption": "b"}))
            store.append(_event(2, subject_ref="bob", content={"caption": "c"}))
            erased = store.erase_subject("alice")
            contents = [event.event.content for event in store.iter_events()]
            ok = store.verify().ok

        assert "va_events_subject" in _indexes(path)
        assert {"events": 2, "records": 4} == erased.event.data
        assert [None, None, {"caption": "c"}, None] == contents
        assert ok

    def test_events_after_the_first_scan(self, tmp_path, monkeypatch):
        """Events appended between the scan and the transaction are erased too."""
        store = SQLiteAuditStore(tmp_path / "audit.db")
        for number in range(3):
            store.append(_event(number, subject_ref=f"s{number % 2}", content={"c": 1}))
        look = store._look_for_subject  # noqa: SLF001

        def look_then_append(pseudonym: str) -> None:
            look(pseudonym)
            store.append(_event(9, subject_ref="s0", content={"c": 2}))

        monkeypatch.setattr(store, "_look_for_subject", look_then_append)
        erased = store.erase_subject("s0")
        left = {e.event.event_id: e.event.content for e in store.iter_events()}
        store.close()

        assert {"events": 3, "records": 6} == erased.event.data
        assert {"e0": None, "e1": {"c": 1}, "e2": None, "e9": None} == {
            key: value for key, value in left.items() if key.startswith("e")
        }

    def test_content_of_the_reference_already_purged(self, tmp_path):
        """Events whose raw reference was purged are still found by pseudonym."""
        with SQLiteAuditStore(tmp_path / "audit.db") as store:
            store.append(_event(0, subject_ref="alice", content={"caption": "a"}))
            store.purge_content(older_than=timedelta(0), data_class="subject_ref")
            erased = store.erase_subject("alice")

        assert {"events": 1, "records": 1} == erased.event.data


class TestEventIds:
    """Default event ids are in time order, so their unique index grows at its end."""

    def test_uuid7_layout(self):
        """32 lowercase hex digits with the UUIDv7 version and variant, all unique."""
        ids = [new_id() for _ in range(10_000)]

        assert len(set(ids)) == len(ids)
        assert all(re.fullmatch(r"[0-9a-f]{32}", value) for value in ids)
        assert {(7, uuid.RFC_4122)} == {
            (uuid.UUID(hex=value).version, uuid.UUID(hex=value).variant)
            for value in ids
        }

    def test_later_ids_sort_after(self):
        """An id made in a later millisecond sorts after; its first 12 digits are it."""
        before = new_id()
        time.sleep(0.002)
        after = new_id()

        assert before < after
        assert abs(int(after[:12], 16) - time.time_ns() // 1_000_000) < 60_000


class TestCreatedTogether:
    """Two processes that create one new store at the same moment both open it."""

    def test_two_creators(self, tmp_path):
        """The switch to WAL waits for the other creator instead of failing."""
        code = (
            "import sys\n"
            "from vision_audit.store import SQLiteAuditStore\n"
            "SQLiteAuditStore(sys.argv[1]).close()\n"
            "print('opened')\n"
        )
        failures = []
        for round_ in range(12):
            path = tmp_path / f"new-{round_}.db"
            processes = [
                subprocess.Popen(
                    [sys.executable, "-c", code, str(path)],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env=environment_without_keys(),
                )
                for _ in range(2)
            ]
            for process in processes:
                out, err = process.communicate(timeout=60)
                if b"opened" not in out:
                    failures.append(err.decode()[-300:])

        assert [] == failures


class TestReviewIndexOfOlderStores:
    """A store made before the review index: read by a scan, indexed when written."""

    @staticmethod
    def _without_index(path: Path) -> None:
        with sqlite3.connect(path) as conn:
            for name in ("va_reviews_required", "va_reviews_decided"):
                conn.execute(f"DROP TRIGGER {name}")
            conn.execute("DROP TABLE va_reviews")
            conn.execute("DROP INDEX va_events_analysis")

    def test_read_only_scans_then_writer_rebuilds(self, tmp_path):
        """Same queue read-only (by scan) and after a writer rebuilt the index."""
        path = tmp_path / "audit.db"
        with SQLiteAuditStore(path) as store:
            for number, kind in enumerate(("review.required", "review.required")):
                store.append(
                    AuditEvent(
                        type=kind,
                        analysis_id=f"a{number}",
                        data={"review": {"deadline_seconds": 60}},
                    )
                )
            store.append(
                AuditEvent(
                    type="review.decided",
                    analysis_id="a0",
                    data={"decision": "approve"},
                )
            )
            expected = [(e.analysis_id, e.state) for e in store.list_reviews()]
        self._without_index(path)

        with SQLiteAuditStore(path, read_only=True) as store:
            scanned = [(e.analysis_id, e.state) for e in store.list_reviews()]
            counted = store.count_reviews()
        with SQLiteAuditStore(path) as store:
            rebuilt = [(e.analysis_id, e.state) for e in store.list_reviews()]

        assert [("a1", "pending")] == expected == scanned == rebuilt
        assert 1 == counted
        assert "va_events_analysis" in _indexes(path)


MAINTENANCE_CHILD = Path(__file__).with_name("maintenance_child.py")


@pytest.fixture(name="filled", scope="module")
def _filled(tmp_path_factory):
    """A store of 12,000 events with content, five subjects; and its key."""
    path = tmp_path_factory.mktemp("maintenance") / "audit.db"
    key = generate_signing_key()
    with SQLiteAuditStore(path, signing_key=key, checkpoint_every=5000) as store:
        for number in range(12_000):
            store.append(
                AuditEvent(
                    type="analysis.completed",
                    subject_ref=f"subject-{number % 5}",
                    content={"caption": f"caption {number}"},
                    data={"number": number},
                )
            )
    return path, key


class TestMaintenanceKilled:
    """kill -9 during purge or erase: done whole, with its event, or not at all."""

    @pytest.mark.parametrize("operation", ["purge", "erase"])
    def test_all_or_nothing(self, filled, tmp_path, operation):
        """Killed at random moments: each store verifies, whole or untouched."""
        source, key = filled
        rng = random.Random(operation)  # noqa: S311 - kill times, not secrets
        for round_ in range(6):
            path = tmp_path / f"{operation}-{round_}.db"
            shutil.copy(source, path)
            process = subprocess.Popen(
                [sys.executable, str(MAINTENANCE_CHILD), str(path), operation],
                stdout=subprocess.PIPE,
                env={
                    **environment_without_keys(),
                    "VISION_AUDIT_SIGNING_KEY": private_key_pem(key).decode("ascii"),
                },
            )
            assert process.stdout.readline() == b"ready\n"
            time.sleep(rng.uniform(0.0, 0.25))
            process.send_signal(signal.SIGKILL)
            finished = b"done" in process.stdout.read()
            process.stdout.close()
            process.wait()

            with SQLiteAuditStore(path, signing_key=key) as store:
                result = store.verify(public_keys=[key.public_key()])
                events = list(store.iter_events())
            kind = "content.purged" if operation == "purge" else "subject.erased"
            recorded = [r for r in events if r.event.type == kind]
            targeted = [
                r
                for r in events
                if r.event.type == "analysis.completed"
                and (operation == "purge" or r.event.data["number"] % 5 == 1)
            ]
            with_content = [r for r in targeted if r.event.content]
            assert result.ok, result.message
            if recorded:
                assert [] == with_content
            else:
                assert not finished
                assert len(targeted) == len(with_content)


@pytest.fixture(name="small_disk")
def _small_disk(tmp_path):
    """A 1 MiB file system of its own (tmpfs), grown later with a remount."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mount = shutil.which("mount") or "/bin/mount"
    made = subprocess.run(
        [mount, "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {made.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(
            [shutil.which("umount") or "/bin/umount", "-l", str(folder)],
            capture_output=True,
            check=False,
        )


class TestFullDisk:
    """The disk under the store fills up: fail closed, lose nothing, go on after."""

    def test_fail_closed_then_recover(self, small_disk):
        """Appends fail with AuditWriteError; acknowledged events survive; verifies."""
        key = generate_signing_key()
        path = small_disk / "audit.db"
        store = SQLiteAuditStore(path, signing_key=key, checkpoint_every=25)
        acknowledged: list[str] = []
        refused: list[AuditWriteError] = []
        for number in range(20_000):
            try:
                recorded = store.append(
                    AuditEvent(
                        type="analysis.completed",
                        content={"caption": f"caption {number} " + "x" * 400},
                        data={"number": number, "padding": "y" * 400},
                    )
                )
            except AuditWriteError as err:
                refused.append(err)
                if len(refused) == 3:
                    break
            else:
                acknowledged.append(recorded.event.event_id)

        assert len(refused) == 3, "the small disk never filled"
        assert "disk is full" in str(refused[0])
        assert acknowledged
        subprocess.run(
            [
                shutil.which("mount") or "/bin/mount",
                "-o",
                "remount,size=64m",
                str(small_disk),
            ],
            check=True,
        )
        later = store.append(AuditEvent(type="analysis.completed", data={"n": -1}))
        store.close()

        with SQLiteAuditStore(path, signing_key=key) as reopened:
            result = reopened.verify(public_keys=[key.public_key()])
            recorded_ids = {r.event.event_id for r in reopened.iter_events()}
        assert result.ok, result.message
        assert set(acknowledged) <= recorded_ids
        assert later.event.event_id in recorded_ids


class TestForkHook:
    """The fork handler is registered by the first store opened, not by an import."""

    def test_registered_on_first_open(self, tmp_path):
        """Importing the package leaves os.register_at_fork alone."""
        script = (
            "import os, sys\n"
            "calls = []\n"
            "real = os.register_at_fork\n"
            "def ours():\n"
            "    return sum(\n"
            "        (f.__module__ or '').startswith('vision_audit')\n"
            "        for kw in calls for f in kw.values()\n"
            "    )\n"
            "os.register_at_fork = lambda **kw: (calls.append(kw), real(**kw))\n"
            "import vision_audit, vision_audit.store\n"
            "imported = ours()\n"
            "from vision_audit.store import SQLiteAuditStore\n"
            f"SQLiteAuditStore({str(tmp_path / 'a.db')!r}).close()\n"
            f"SQLiteAuditStore({str(tmp_path / 'b.db')!r}).close()\n"
            "print(imported, ours())\n"
        )
        completed = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
            env=environment_without_keys(),
            check=False,
        )

        assert 0 == completed.returncode, completed.stderr
        # The stores' handler, and the SQLite gate's before/after-in-parent/in-child.
        assert "0 4" == completed.stdout.strip()
