"""
Time and peak memory of ``vision-audit report`` over stores of N synthetic events.

Usage: ``python benchmarks/bench_report.py [--events 10000 100000] [--keep DIR]
[--postgres URL]``. With ``--postgres``, the stores are schemas ``bench_report_N`` of
that database (kept, and reused when they hold events). Each store holds analyses of
four events (requested, tags.filtered, completed, review.required) spread over 30
days; the report runs in a child process so that its peak RSS is its own. Two
baselines are measured in the same run, on the same store: reading every envelope
once (``SELECT sum(length(envelope))``) and verifying the chain alone; the report's
time is printed against both, so that figures from different machines compare. The
store's ``aggregate_period`` alone (the figures, without verification or rendering)
is timed too, against the scan: the issue's target is 5 s at 1,000,000 events. The
report is then made again signed (``--sign-key``, an RSA 3072 key of ``keygen
--report-signing``), and its time printed beside; ``--no-sign`` skips it.
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vision_audit.models import AuditEvent
from vision_audit.store import open_store

T0 = datetime(2026, 3, 1, tzinfo=UTC)
# The child's own peak RSS, in kB on Linux, printed on its last line.
_CHILD = """
import resource, sys
from vision_audit.__main__ import main
code = main(sys.argv[1:])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def fill(url: str, events: int) -> None:
    """Append *events* realistic events, about four per analysis."""
    store = open_store(url, durability="process")
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
        store.append(
            AuditEvent(
                type="analysis.requested",
                data={"features": ["tags", "caption"]},
                consent_ref="c-1",
                **common,
            )
        )
        store.append(
            AuditEvent(
                type="tags.filtered",
                data={
                    "tags": {
                        "kept": [],
                        "dropped": [{"name": f"tag-{n % 40}", "rule": "block-list"}],
                    }
                },
                **common,
            )
        )
        store.append(
            AuditEvent(
                type="analysis.completed",
                data={"duration_ms": 10.0, "flags": ["people"], "model_version": "m"},
                **common,
            )
        )
        store.append(
            AuditEvent(
                type="review.required",
                data={"review": {"deadline_seconds": 3600}},
                **common,
            )
        )
    store.close()


_SCAN = "SELECT count(*), sum(length(envelope)) FROM va_events"


def scan_seconds(url: str) -> float:
    """Seconds to read every envelope once, the floor of any pass over the events."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
        try:
            started = time.perf_counter()
            conn.execute(_SCAN).fetchone()
            return time.perf_counter() - started
        finally:
            conn.close()
    import psycopg  # noqa: PLC0415 - only for --postgres
    from vision_audit.store.postgres import split_url  # noqa: PLC0415

    conninfo, own = split_url(url)
    with psycopg.connect(conninfo, options=f"-c search_path={own['schema']}") as pg:
        started = time.perf_counter()
        pg.execute(_SCAN).fetchone()
        return time.perf_counter() - started


def has_events(url: str) -> bool:
    """The store at *url* exists and holds events."""
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists():
        return False
    store = open_store(url)
    try:
        return store.get_head() is not None
    finally:
        store.close()


def verify_seconds(url: str) -> float:
    """Seconds to verify the chain alone, as the report does first."""
    store = open_store(url, read_only=True)
    try:
        started = time.perf_counter()
        result = store.verify()
        took = time.perf_counter() - started
    finally:
        store.close()
    if not result.ok:
        msg = f"the benchmark store does not verify: {result.message}"
        raise SystemExit(msg)
    return took


def aggregate_seconds(url: str) -> float:
    """Seconds the store takes to aggregate the 30 days, the figures alone."""
    store = open_store(url, read_only=True)
    try:
        started = time.perf_counter()
        store.aggregate_period(T0, T0 + timedelta(days=30))
        return time.perf_counter() - started
    finally:
        store.close()


def report(url: str, out: Path, *options: str) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of ``vision-audit report`` in a child process."""
    started = time.perf_counter()
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            _CHILD,
            "report",
            "--quiet",
            "--store",
            url,
            "--since",
            "2026-03-01",
            "--until",
            "2026-03-31",
            "--out",
            str(out),
            *options,
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    took = time.perf_counter() - started
    peak_kb = int(child.stderr.strip().splitlines()[-1])
    return took, peak_kb / 1024


def main() -> None:
    """Fill a store per size (or reuse a kept one) and time one report over it."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        metavar="DIR",
        help="keep the stores in DIR, and reuse those already there",
    )
    parser.add_argument(
        "--postgres",
        default=None,
        metavar="URL",
        help="use stores in this PostgreSQL database instead of SQLite files",
    )
    parser.add_argument(
        "--no-sign", action="store_true", help="do not time a signed report"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep if args.keep is not None else Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        signing = [] if args.no_sign else _signing_options(Path(scratch))
        for events in args.events:
            if args.postgres:
                url = f"{args.postgres}?schema=bench_report_{events}"
            else:
                url = f"sqlite:///{folder / f'report-{events}.db'}"
            filled = "reused"
            if not has_events(url):
                started = time.perf_counter()
                fill(url, events)
                filled = f"filled in {time.perf_counter() - started:.1f} s"
            scan = scan_seconds(url)
            verify = verify_seconds(url)
            figures = aggregate_seconds(url)
            took, peak = report(url, Path(scratch) / "r.pdf")
            signed = ""
            if signing:
                seconds, mb = report(url, Path(scratch) / "s.pdf", *signing)
                signed = f"signed {seconds:6.1f} s, peak RSS {mb:5.0f} MB; "
            print(
                f"{events:>9,} events: report {took:6.1f} s, peak RSS {peak:5.0f} MB; "
                f"of which aggregation {figures:5.2f} s (aggregation/scan "
                f"{figures / scan:5.1f}x); {signed}baselines: scan {scan:5.2f} s, "
                f"verify {verify:5.1f} s; report/scan {took / scan:6.1f}x, "
                f"report/verify {took / verify:4.1f}x (store {filled})",
                flush=True,
            )


def _signing_options(folder: Path) -> list[str]:
    """A report signing key and certificate in *folder*, as report options."""
    from vision_audit.report.signing import (  # noqa: PLC0415
        make_signing_certificate,
        write_signing_files,
    )

    key, certificate = make_signing_certificate("bench_report")
    key_file, certificate_file = folder / "signing.pem", folder / "signing.crt"
    write_signing_files(
        key, certificate, key_file=key_file, certificate_file=certificate_file
    )
    return ["--sign-key", str(key_file), "--sign-cert", str(certificate_file)]


if __name__ == "__main__":
    main()
