"""
A reviewer's everyday reads in a large log, through the indexes and without them.

The SQLite store is filled with ``--events`` events (1,000,000 by default; building
it takes some minutes): analyses of four events each (requested, completed,
``review.required``, a consent check), so a quarter of the events flag an analysis
and every flagged analysis is pending (250,000 at a million events).

1. The consent table a service builds on its first call (``StoreConsentProvider``),
   ``review show`` (``get_review``), ``review decide`` (``record_review_decision``,
   four-eyes and supersedes checks included) and ``review list --limit 50``
   (``list_pending_reviews`` and ``count_reviews``), each the median of
   ``--rounds`` runs on random analyses, store opened as the command opens it.
   Targets: show and decide under 20 ms, list under 100 ms.
2. The baseline, measured on the same store in the same run: the same reads from a
   full scan of the log, as every read was made before the indexes (one run each;
   they take seconds).
3. Appends with the indexes against the same store without them (triggers and
   index dropped), 1 and 8 threads, events of the instrumentation's shape with
   time-ordered analysis ids; rounds interleaved. Target: at least 0.95x.

Run: ``.venv/bin/python benchmarks/bench_review.py [--events N] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench_store import run_threads
from vision_audit.models import AuditEvent
from vision_audit.policy.consent import (
    ConsentRecord,
    StoreConsentProvider,
    grant_consent,
)
from vision_audit.review import get_review, list_pending_reviews, record_review_decision
from vision_audit.review._queue import _Watch
from vision_audit.store import SQLiteAuditStore
from vision_audit.store._base import _Item
from vision_audit.store._reads import IndexedReads

T0 = datetime(2026, 11, 1, tzinfo=UTC)
APPENDS = 4_000


def _analysis_events(number: int) -> list[AuditEvent]:
    analysis = uuid.UUID(int=(number << 64) | 0x5EED).hex  # time-ordered, as uuid7
    when = T0 + timedelta(seconds=number)
    common = {
        "analysis_id": analysis,
        "actor": "svc-shelf-scanner",
        "purpose": "retail-shelf-analytics" if number % 3 else "patient-intake",
        "time": when,
    }
    return [
        AuditEvent(type="analysis.requested", data={"features": ["tags"]}, **common),
        AuditEvent(
            type="analysis.completed",
            data={"results": {"tags": {"count": 2}}, "flags": ["people"]},
            **common,
        ),
        AuditEvent(
            type="review.required",
            data={
                "review": {"reasons": ["people"], "deadline_seconds": 86_400},
                "flags": ["people"],
            },
            **common,
        ),
        AuditEvent(type="consent.checked", data={"ok": True}, **common),
    ]


def build(path: Path, events: int) -> list[str]:
    """A store of *events* events; the ids of the flagged analyses."""
    store = SQLiteAuditStore(path, checkpoint_every=100_000)
    ids: list[str] = []
    try:
        started = time.perf_counter()
        for start in range(0, events // 4, 250):
            items = []
            for number in range(start, min(start + 250, events // 4)):
                batch = _analysis_events(number)
                ids.append(str(batch[0].analysis_id))
                for event in batch:
                    item = _Item(event=event)
                    item.lock.acquire()
                    items.append(item)
            store._write(items)  # noqa: SLF001 - building a large store quickly
        grant_consent(
            store,
            ConsentRecord(
                ref="consent-0",
                subject_ref="subject-0",
                purposes=frozenset({"patient-intake"}),
                granted_at=T0,
            ),
            actor="privacy-office",
        )
        print(
            f"built {events:,} events ({len(ids):,} flagged analyses) in "
            f"{time.perf_counter() - started:.0f} s",
            file=sys.stderr,
        )
    finally:
        store.close()
    return ids


def _median_ms(run: object, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        run()  # type: ignore[operator]
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure_reads(path: Path, ids: list[str], rounds: int) -> None:
    """The three commands' reads, indexed and by scan."""
    url = path
    picks = random.Random(7).sample(ids, rounds * 2)
    shown = iter(picks[:rounds])
    decided = iter(picks[rounds:])

    def show() -> None:
        with SQLiteAuditStore(url, read_only=True) as store:
            get_review(store, next(shown))

    def decide() -> None:
        with SQLiteAuditStore(url) as store:
            record_review_decision(
                store,
                next(decided),
                decision="approve",
                reviewer="bench-reviewer",
                rationale="benchmark",
            )

    def page() -> None:
        with SQLiteAuditStore(url, read_only=True) as store:
            list_pending_reviews(store, limit=50)
            store.count_reviews()

    def consent() -> None:
        with SQLiteAuditStore(url, read_only=True) as store:
            StoreConsentProvider(store).get_consent("consent-0")

    rows = [
        ("consent table, first look", _median_ms(consent, rounds), 20.0),
        ("review show", _median_ms(show, rounds), 20.0),
        ("review decide", _median_ms(decide, rounds), 20.0),
        ("review list --limit 50", _median_ms(page, rounds), 100.0),
    ]
    baseline = _scan_baseline(url, ids[len(ids) // 2])
    print(f"\n{'':26} {'indexed ms':>11} {'scan ms':>9} {'speed-up':>9} target")
    for (label, indexed, target), scanned in zip(rows, baseline, strict=True):
        met = "met" if indexed < target else "NOT met"
        print(
            f"{label:26} {indexed:11.1f} {scanned:9.0f} {scanned / indexed:8.0f}x "
            f"< {target:.0f} ms: {met}"
        )


def _scan_baseline(path: Path, analysis_id: str) -> list[float]:
    """The same reads from the whole log, as before the indexes (one run each)."""
    store = SQLiteAuditStore(path, read_only=True)
    try:
        started = time.perf_counter()
        # What the consent provider did before the index: read every event.
        sum(1 for r in store.iter_events() if r.event.type.startswith("consent."))
        consent = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        case = [r for r in store.iter_events() if r.event.analysis_id == analysis_id]
        show = (time.perf_counter() - started) * 1000
        # A decision's check read the case, then the events since it was read.
        started = time.perf_counter()
        watch = _Watch(store, analysis_id, None)
        watch.look()
        decide = show + (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        rows = IndexedReads._scanned_rows  # noqa: SLF001 - the index's own fallback
        from vision_audit.store._reviews import ReviewQuery  # noqa: PLC0415

        rows(store, ReviewQuery(limit=50))
        listing = (time.perf_counter() - started) * 1000
        assert case
    finally:
        store.close()
    return [consent, show, decide, listing]


def measure_appends(folder: Path, rounds: int) -> None:
    """Appends per second with the indexes against without, 1 and 8 threads."""
    with_path, without_path = folder / "with.db", folder / "without.db"
    SQLiteAuditStore(with_path).close()
    shutil.copy(with_path, without_path)
    conn = sqlite3.connect(without_path)
    for name in ("va_reviews_required", "va_reviews_decided"):
        conn.execute(f"DROP TRIGGER {name}")
    conn.execute("DROP INDEX va_events_analysis")
    conn.execute("DROP INDEX va_events_consent")
    conn.close()
    counter = iter(range(10**9))

    def event(base: AuditEvent) -> AuditEvent:
        number = next(counter)
        return dataclasses.replace(
            base, analysis_id=uuid.UUID(int=(number << 64) | 0xBE7C).hex
        )

    print(f"\nappends/s, {APPENDS:,} events per round (median of {rounds})")
    for threads in (1, 8):
        results: dict[str, list[float]] = {"with": [], "without": []}
        for _ in range(rounds):
            for label, path in (("with", with_path), ("without", without_path)):
                # The store reopened as a writer that finds the index absent would
                # rebuild it: keep the copy's writer from doing so.
                store = SQLiteAuditStore(path)
                if label == "without":
                    _drop_again(path)
                try:
                    results[label].append(
                        run_threads(
                            lambda e, s=store: s.append(event(e)), threads, APPENDS
                        )
                    )
                finally:
                    store.close()
        with_rate = statistics.median(results["with"])
        without_rate = statistics.median(results["without"])
        ratio = with_rate / without_rate
        met = "met" if ratio >= 0.95 else "NOT met"  # noqa: PLR2004
        print(
            f"{threads} thread(s): with indexes {with_rate:,.0f}, without "
            f"{without_rate:,.0f}: {ratio:.2f}x (target >= 0.95x: {met})"
        )


def _drop_again(path: Path) -> None:
    conn = sqlite3.connect(path, timeout=30)
    try:
        for name in ("va_reviews_required", "va_reviews_decided"):
            conn.execute(f"DROP TRIGGER IF EXISTS {name}")
        conn.execute("DROP INDEX IF EXISTS va_events_analysis")
        conn.execute("DROP INDEX IF EXISTS va_events_consent")
        conn.commit()
    finally:
        conn.close()


def main() -> None:
    """Build the store, then measure reads and appends."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "audit.db"
        ids = build(path, args.events)
        print(f"store: {args.events:,} events, {len(ids):,} pending reviews")
        measure_reads(path, ids, args.rounds)
        measure_appends(Path(folder), max(3, args.rounds // 5))


if __name__ == "__main__":
    main()
