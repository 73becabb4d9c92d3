"""
The evidence machinery's costs: the Merkle tree on appends, proofs, verification.

1. Appends: the SQLite store (``durability="power"``, 8 threads) with its Merkle tree,
   against the same store with the tree's upkeep switched off (no leaf or node
   hashes, nothing stored for the tree): the baseline is measured in the same run,
   rounds interleaved. Target: at least 0.9x.
2. Proofs: inclusion proofs of random events to the last checkpoint of a store of
   ``--proof-events`` events (1,000,000 by default; building it takes minutes), and
   their size as ``vision-audit prove`` writes them (hex). Targets: under 10 ms to
   produce, under 2 KB. Beside them, one event's export slice up to the next
   checkpoint (what proving one event cost before the tree).
3. Verification: ``verify --store`` with links and signatures (no content) and
   ``verify --file`` of its export, events/s, beside the floor measured in the same
   run (reading every envelope and hashing it once, nothing else). Targets: 400,000
   and 200,000 events/s.

Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_evidence.py [--events N]
[--rounds R] [--proof-events P] [--verify-events V]``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench_store import fill, run_threads
from vision_audit.store import SQLiteAuditStore
from vision_audit.store._bundle import make_bundle
from vision_audit.store._export import export_jsonl, read_lines, verify_export
from vision_audit.store._keys import generate_signing_key

THREADS = 8


class _WithoutTree(SQLiteAuditStore):
    """The store with the Merkle tree's upkeep switched off: the baseline."""

    _keeps_tree = False


def measure_appends(folder: Path, events: int, rounds: int) -> None:
    """Print appends/s with and without the tree, interleaved rounds."""
    with_tree: list[float] = []
    without: list[float] = []
    for number in range(rounds):
        for kind, rates in ((SQLiteAuditStore, with_tree), (_WithoutTree, without)):
            path = folder / f"appends-{kind.__name__}-{number}.db"
            store = kind(path, durability="power")
            try:
                rates.append(run_threads(store.append, THREADS, events))
            finally:
                store.close()
    ours, base = statistics.median(with_tree), statistics.median(without)
    print(
        f"appends, {THREADS} threads, durability=power, events/s (median of {rounds})"
    )
    print(f"  with the Merkle tree:     {ours:>10,.0f}")
    print(f"  without it (baseline):    {base:>10,.0f}")
    verdict = "met" if ours / base >= 0.9 else "NOT met"  # noqa: PLR2004 - the target
    print(f"  ratio {ours / base:.2f}x (target >= 0.90x: {verdict})")


def measure_proofs(folder: Path, count: int, samples: int) -> None:
    """Print the time and size of inclusion proofs from a store of *count* events."""
    key = generate_signing_key()
    path = folder / "proofs.db"
    store = SQLiteAuditStore(path, signing_key=key, checkpoint_every=1000)
    started = time.perf_counter()
    try:
        fill(store, count)
        store.sign_checkpoint()
    finally:
        store.close()
    built = time.perf_counter() - started
    store = SQLiteAuditStore(path, read_only=True)
    rng = random.Random(13)
    try:
        size = store.get_head().sequence  # type: ignore[union-attr]
        times, lengths = [], []
        for _ in range(samples):
            sequence = rng.randint(1, size)
            began = time.perf_counter()
            proof = store.get_inclusion_proof(sequence, size)
            times.append(time.perf_counter() - began)
            lengths.append(sum(len(node.hex()) + 3 for node in proof))
        event_id = next(iter(store.iter_events())).event.event_id
        began = time.perf_counter()
        bundle = make_bundle(store, event_id)
        bundle_ms = (time.perf_counter() - began) * 1e3
    finally:
        store.close()
    median_ms = statistics.median(times) * 1e3
    proof_bytes = statistics.median(lengths)
    whole = len(repr(bundle).encode())
    print(f"\ninclusion proofs in a store of {count:,} events (built in {built:.0f} s)")
    print(
        f"  produce: median {median_ms:.3f} ms, max {max(times) * 1e3:.3f} ms "
        f"({samples} random events; target < 10 ms: "
        f"{'met' if median_ms < 10 else 'NOT met'})"  # noqa: PLR2004 - the target
    )
    print(
        f"  size: {proof_bytes:,.0f} bytes as hex in a bundle "
        f"({len(proof)} hashes; target < 2 KB: "
        f"{'met' if proof_bytes < 2048 else 'NOT met'}); the whole bundle of one "  # noqa: PLR2004
        f"event {whole:,} bytes, made in {bundle_ms:.1f} ms (the event's lookup "
        "included)"
    )
    print(
        "  before the tree: one event's export slice to the next checkpoint, "
        "about 500 envelopes (700 KB) of other people's data"
    )


def measure_verify(folder: Path, count: int, rounds: int) -> None:
    """Print verify --store and verify --file events/s, and the floor."""
    key = generate_signing_key()
    path = folder / "verify.db"
    store = SQLiteAuditStore(path, signing_key=key, checkpoint_every=1000)
    try:
        fill(store, count)
        store.sign_checkpoint()
        buffer = io.StringIO()
        export_jsonl(store, buffer, exported_at=datetime.now(UTC))
    finally:
        store.close()
    export = folder / "export.jsonl"
    export.write_text(buffer.getvalue(), encoding="utf-8")
    store = SQLiteAuditStore(path, read_only=True)
    by_store, by_file, floor = [], [], []
    try:
        for _ in range(rounds):
            began = time.perf_counter()
            result = store.verify(public_keys=[key.public_key()], content=False)
            by_store.append(result.events / (time.perf_counter() - began))
            if not result.ok:
                raise AssertionError(result.message)
            began = time.perf_counter()
            with export.open("rb") as stream:
                checked = verify_export(
                    read_lines(stream), public_keys=[key.public_key()]
                )
            by_file.append(checked.events / (time.perf_counter() - began))
            if not checked.ok:
                raise AssertionError(checked.message)
            with store._read_snapshot(contents=False) as snapshot:  # noqa: SLF001
                began = time.perf_counter()
                hashed = sum(1 for _, _, data in snapshot[0] if hashlib.sha256(data))
                floor.append(hashed / (time.perf_counter() - began))
    finally:
        store.close()
    bare = statistics.median(floor)
    ours, theirs = statistics.median(by_store), statistics.median(by_file)
    print(f"\nverify {count:,} events, events/s (median of {rounds})")
    print(
        f"  --store, links + signatures + tree: {ours:>10,.0f}  (target 400,000: "
        f"{'met' if ours >= 400_000 else 'NOT met'}; {ours / bare:.0%} of the floor)"  # noqa: PLR2004
    )
    print(
        f"  --file, strict parse + the same:    {theirs:>10,.0f}  (target 200,000: "
        f"{'met' if theirs >= 200_000 else 'NOT met'}; {theirs / bare:.0%} of the "  # noqa: PLR2004
        "floor)"
    )
    print(f"  floor (read + SHA-256 only):        {bare:>10,.0f}")


def main() -> None:
    """Measure and print medians, ratios and the targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--events", type=int, default=3200, help="appends per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--proof-events", type=int, default=1_000_000)
    parser.add_argument("--proof-samples", type=int, default=500)
    parser.add_argument("--verify-events", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        measure_appends(folder, args.events, args.rounds)
        measure_verify(folder, args.verify_events, args.rounds)
        measure_proofs(folder, args.proof_events, args.proof_samples)
    sys.stdout.flush()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
