"""
Time and peak memory of ``vision-audit report`` over stores of N synthetic events.

Usage: ``python benchmarks/bench_report.py [--events 10000 100000] [--keep DIR]``.
Each store holds analyses of four events (requested, tags.filtered, completed,
review.required) spread over 30 days; the report runs in a child process so that its
peak RSS is its own.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vision_audit.models import AuditEvent
from vision_audit.store import open_store

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def fill(path: Path, events: int) -> None:
    """Append *events* realistic events, about four per analysis."""
    store = open_store(f"sqlite:///{path}", durability="process")
    step = timedelta(days=30) / max(1, events // 4)
    for n in range(events // 4):
        common = {
            "analysis_id": f"{n:032x}",
            "purpose": ("claims", "retail", "intake")[n % 3],
            "actor": f"svc-{n % 7}",
            "policy_id": "sha256:" + "ab" * 32,
            "trace_id": f"{n:032x}",
            "time": T0 + step * n,
        }
        store.append(AuditEvent(type="analysis.requested", data={
            "features": ["tags", "caption"]}, consent_ref="c-1", **common))
        store.append(AuditEvent(type="tags.filtered", data={"tags": {"kept": [],
            "dropped": [{"name": f"tag-{n % 40}", "rule": "block-list"}]}}, **common))
        store.append(AuditEvent(type="analysis.completed", data={
            "duration_ms": 10.0, "flags": ["people"], "model_version": "m"}, **common))
        store.append(AuditEvent(type="review.required", data={
            "review": {"deadline_seconds": 3600}}, **common))
    store.close()


def main() -> None:
    """Fill a store per size and time one report over it."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for events in args.events:
            path = Path(folder) / f"s{events}.db"
            started = time.perf_counter()
            fill(path, events)
            filled = time.perf_counter() - started
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "vision_audit", "report", "--quiet",
                 "--store", f"sqlite:///{path}", "--since", "2026-03-01",
                 "--until", "2026-03-31", "--out", str(Path(folder) / "r.pdf")],
                check=True, stdout=subprocess.DEVNULL,
            )
            took = time.perf_counter() - started
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            print(f"{events:>9,} events: report {took:6.1f} s, peak RSS "
                  f"{peak:6.0f} MB (children so far); store filled in {filled:.1f} s")


if __name__ == "__main__":
    main()
