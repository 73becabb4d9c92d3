"""
PostgreSQL as the store of a fleet: 4 processes append while the commands read.

Four processes of 4 threads append to one log while the report and the review
commands read it.

1. Reads alone (the baseline, same run): ``review list --limit 50``, ``review show``
   of a random case and the report's figures for the last 30 days (``build_report``:
   verify, then aggregate in the database), each the median of ``--rounds`` runs.
2. Writers alone: 4 processes (as 4 hosts), each with its own store object and 4
   threads, append for ``--seconds`` seconds, events of the instrumentation's shape
   (every fourth flags an analysis for review).
3. Both at once: the same writers, with the reads of 1 in a loop beside them.
4. The log afterwards: one gapless chain holding every acknowledged event, verified
   with the writers' key.

The log starts with ``--events`` events (default 100,000) so that the reads have
something to read. PostgreSQL: ``VISION_AUDIT_TEST_POSTGRES_URL``, else a throwaway
server started with ``scripts/setup-postgres``.

Run: ``.venv/bin/python benchmarks/bench_fleet.py [--events N] [--seconds S]
[--rounds R]``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import statistics
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from bench_store import postgres_server
from vision_audit.models import AuditEvent
from vision_audit.report import build_report
from vision_audit.review import get_review, list_pending_reviews
from vision_audit.store._base import _Item
from vision_audit.store._keys import (
    generate_signing_key,
    load_private_key,
    private_key_pem,
)
from vision_audit.store.postgres import PostgresAuditStore

PROCESSES = 4
THREADS = 4


def _events(number: int, *, when: datetime | None = None) -> list[AuditEvent]:
    analysis = uuid.UUID(int=(number << 64) | 0xF1EE7).hex
    common: dict[str, Any] = {
        "analysis_id": analysis,
        "actor": f"svc-{number % 7}",
        "purpose": "retail-shelf-analytics" if number % 3 else "patient-intake",
        "subject_ref": f"subject-{number % 4999}",
    }
    if when is not None:
        common["time"] = when
    events = [
        AuditEvent(type="analysis.requested", data={"features": ["tags"]}, **common),
        AuditEvent(
            type="analysis.completed",
            data={"results": {"tags": {"count": 2}}, "flags": ["people"]},
            content={"caption": f"shelf {number}"},
            **common,
        ),
    ]
    if number % 2 == 0:
        events.append(
            AuditEvent(
                type="review.required",
                data={"review": {"reasons": ["people"], "deadline_seconds": 86_400}},
                **common,
            )
        )
    return events


def fill(url: str, key_pem: bytes, count: int) -> list[str]:
    """The log's first *count* events, over the last 20 days; the flagged ids."""
    store = PostgresAuditStore(
        url,
        signing_key=load_private_key(key_pem, source="the benchmark"),
        checkpoint_every=10_000,
    )
    flagged = []
    start = datetime.now(UTC) - timedelta(days=20)
    try:
        number = 0
        written = 0
        while written < count:
            items = []
            for _ in range(200):
                batch = _events(number, when=start + timedelta(seconds=number * 5))
                if len(batch) == 3:  # noqa: PLR2004 - flagged
                    flagged.append(str(batch[0].analysis_id))
                for event in batch:
                    item = _Item(event=event)
                    item.lock.acquire()
                    items.append(item)
                number += 1
            store._write(items)  # noqa: SLF001 - building a large log quickly
            written += len(items)
        store.sign_checkpoint()
    finally:
        store.close()
    return flagged


def writer(url: str, key_pem: bytes, index: int, seconds: float, queue: Any) -> None:  # noqa: ANN401
    """One host: its own store object, THREADS threads appending for *seconds*."""
    store = PostgresAuditStore(
        url,
        signing_key=load_private_key(key_pem, source="the benchmark"),
        checkpoint_every=1000,
    )
    acknowledged: list[str] = []
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def work(thread: int) -> None:
        number = (index * THREADS + thread + 1) * 10_000_000
        while time.monotonic() < stop:
            for event in _events(number):
                started = time.perf_counter()
                recorded = store.append(event)
                with lock:
                    latencies.append(time.perf_counter() - started)
                    acknowledged.append(recorded.event.event_id)
            number += 1

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.close()
    queue.put((acknowledged, latencies))


def run_writers(
    url: str, key_pem: bytes, seconds: float
) -> tuple[list[str], list[float]]:
    """Start the fleet, wait for it; every acknowledged id and append latency."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    processes = [
        context.Process(target=writer, args=(url, key_pem, index, seconds, queue))
        for index in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    acknowledged: list[str] = []
    latencies: list[float] = []
    for _ in processes:
        ids, times = queue.get()
        acknowledged += ids
        latencies += times
    for process in processes:
        process.join()
    return acknowledged, latencies


def reads(url: str, flagged: list[str], rng: random.Random) -> dict[str, float]:
    """One round of the three reads, milliseconds each."""
    timings = {}
    started = time.perf_counter()
    with PostgresAuditStore(url, read_only=True) as store:
        list_pending_reviews(store, limit=50)
        store.count_reviews()
    timings["review list --limit 50"] = time.perf_counter() - started
    started = time.perf_counter()
    with PostgresAuditStore(url, read_only=True) as store:
        get_review(store, rng.choice(flagged))
    timings["review show"] = time.perf_counter() - started
    today = datetime.now(UTC).date()
    started = time.perf_counter()
    build_report(
        url, since=today - timedelta(days=30), until=today, verify_content=False
    )
    timings["report (verify + aggregate)"] = time.perf_counter() - started
    return {name: seconds * 1000 for name, seconds in timings.items()}


def _medians(rounds: list[dict[str, float]]) -> dict[str, float]:
    return {name: statistics.median(r[name] for r in rounds) for name in rounds[0]}


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    """Fill the log, then measure reads alone, writers alone, and both at once."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    key = generate_signing_key()
    key_pem = private_key_pem(key)
    rng = random.Random(3)
    with postgres_server() as url:
        if url is None:
            sys.exit("no PostgreSQL server")
        started = time.perf_counter()
        flagged = fill(url, key_pem, args.events)
        print(
            f"log: {args.events:,} events ({len(flagged):,} flagged) written in "
            f"{time.perf_counter() - started:.0f} s"
        )
        idle = _medians([reads(url, flagged, rng) for _ in range(args.rounds)])

        alone_ids, alone_latencies = run_writers(url, key_pem, args.seconds)

        loaded_rounds: list[dict[str, float]] = []
        done = threading.Event()

        def read_loop() -> None:
            while not done.is_set():
                loaded_rounds.append(reads(url, flagged, rng))

        reader = threading.Thread(target=read_loop)
        reader.start()
        both_ids, both_latencies = run_writers(url, key_pem, args.seconds)
        done.set()
        reader.join()
        loaded = _medians(loaded_rounds)

        with PostgresAuditStore(url, read_only=True) as store:
            result = store.verify(public_keys=[key.public_key()], content=False)
            head = store.get_head()
            recorded = {r.event.event_id for r in store.iter_events()}

    print(
        f"\nreads, median ms: alone ({args.rounds} rounds) vs beside the writers "
        f"({len(loaded_rounds)} rounds)"
    )
    for name in idle:
        print(
            f"  {name:30} {idle[name]:8.1f} {loaded[name]:8.1f} "
            f"({loaded[name] / idle[name]:.1f}x)"
        )
    alone_rate = len(alone_ids) / args.seconds
    both_rate = len(both_ids) / args.seconds
    print(f"\nappends, {PROCESSES} processes x {THREADS} threads, {args.seconds:.0f} s")
    for label, rate, latencies in (
        ("writers alone", alone_rate, alone_latencies),
        ("beside the reads", both_rate, both_latencies),
    ):
        print(
            f"  {label:18} {rate:8,.0f} events/s; append p50 "
            f"{statistics.median(latencies) * 1000:.1f} ms, p95 "
            f"{_percentile(latencies, 0.95) * 1000:.1f} ms"
        )
    missing = set(alone_ids + both_ids) - recorded
    print(
        f"\nlog: {head.sequence if head else 0:,} events, one chain, verify "
        f"{'OK' if result.ok else 'FAILED: ' + result.message}; acknowledged "
        f"and missing: {len(missing)}"
    )
    if not result.ok or missing:
        sys.exit(1)


if __name__ == "__main__":
    main()
