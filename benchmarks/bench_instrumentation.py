"""
What auditing adds to an Image Analysis call: instrumented vs bare, 200 KB image.

Both clients talk to one emulator process; calls are interleaved (bare, instrumented,
bare, ...) so that machine noise hits both alike. The instrumented client records two
events per call in a SQLite audit store, exports its span through the OpenTelemetry
SDK (batch processor) and logs JSON at INFO to a file handler. Run twice: with the
default durability ("process": survives a kill of the process, not a power loss) and
with "power" (fsync before each acknowledgement).

Then a floor: bare calls against calls wrapped in only what auditing of this design
cannot do without (the image's SHA-256, two chained records committed to SQLite with
the default durability, one span; no policy, context, log line or span event). It
bounds from below what any wrapper can reach on this machine, measured in the same
run; the target line compares what the instrumented call adds with what the floor
adds (at most 1.5 times).

Then, where the added time goes: a further run (default durability), interleaved with
bare calls again, with timers around parts of the wrapper on the caller's thread only
(the request's log line and span event are sent from a pool thread while the request
is out, so they are not on it): the SDK call inside the wrapper against the bare
calls, the image fingerprint, the two durable appends, the log line and span event of
``analysis.completed``, and the rest (span, context, reading the result, building the
events) by difference.

Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_instrumentation.py``.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import logging
import os
import secrets
import sqlite3
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _common import emulator_process, percentile, photo_200kb
from azure.ai.vision.imageanalysis import ImageAnalysisClient
from azure.core.credentials import AzureKeyCredential
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from vision_audit import audit_context, instrument_client
from vision_audit.instrumentation import _wrappers
from vision_audit.sinks import Recorder
from vision_audit.store import open_store
from vision_audit.store._base import BaseAuditStore

if TYPE_CHECKING:
    from collections.abc import Callable

FEATURES = ["tags", "caption", "objects", "people"]
WARMUP = 20
TARGET = 1.5
"""Added p50 per call at most this many times the floor's, measured in the same run."""


class _Discard(SpanExporter):
    def export(self, spans: object) -> SpanExportResult:  # noqa: ARG002
        return SpanExportResult.SUCCESS


def _measure(
    endpoint: str,
    key: str,
    image: bytes,
    *,
    durability: str,
    rounds: int,
    folder: Path,
    phases: _Phases | None = None,
) -> tuple[list[float], list[float]]:
    """Bare and instrumented milliseconds per call, interleaved; *phases* per call."""
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(_Discard()))
    name = "breakdown" if phases is not None else durability
    store = open_store(
        f"sqlite:///{folder / f'audit-{name}.db'}", durability=durability
    )
    bare = ImageAnalysisClient(endpoint, AzureKeyCredential(key))
    audited = instrument_client(
        ImageAnalysisClient(endpoint, AzureKeyCredential(key)),
        store=store,
        tracer_provider=provider,
    )
    try:
        with audit_context(purpose="benchmark", actor="bench", subject_ref="subject-1"):
            return _interleave(
                lambda: bare.analyze(image_data=image, visual_features=FEATURES),
                lambda: audited.analyze(image_data=image, visual_features=FEATURES),
                rounds=rounds,
                phases=phases,
            )
    finally:
        bare.close()
        audited.close()
        store.close()
        provider.shutdown()


def _interleave(
    bare: Callable[[], object],
    audited: Callable[[], object],
    *,
    rounds: int,
    phases: _Phases | None = None,
) -> tuple[list[float], list[float]]:
    """Milliseconds of *bare* and *audited* calls, alternated, after a warm-up."""
    bare_ms: list[float] = []
    audited_ms: list[float] = []
    for index in range(rounds + WARMUP):
        started = time.perf_counter()
        bare()
        middle = time.perf_counter()
        if phases is not None:
            phases.now.clear()
        audited()
        ended = time.perf_counter()
        if index >= WARMUP:
            bare_ms.append((middle - started) * 1000)
            audited_ms.append((ended - middle) * 1000)
            if phases is not None:
                phases.calls.append(dict(phases.now))
    return bare_ms, audited_ms


def _floor(
    endpoint: str, key: str, image: bytes, *, rounds: int, folder: Path
) -> tuple[list[float], list[float]]:
    """
    Bare calls against calls wrapped in only what auditing cannot do without.

    Per call: the image's SHA-256; before the request, a JSON record of it, hashed
    with the previous record's hash, inserted into SQLite (WAL, ``synchronous=
    NORMAL``: the "process" durability) and committed; a span around the SDK call;
    after it, the same for a record of the tags that came back. No policy, audit
    context, content, log line, span event or signature: a lower bound for any
    auditing wrapper of this design on this machine.
    """
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(_Discard()))
    tracer = provider.get_tracer("floor")
    connection = sqlite3.connect(folder / "floor.db", isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(
        "CREATE TABLE events (sequence INTEGER PRIMARY KEY, hash TEXT, record TEXT)"
    )
    head = ["0" * 64, 0]
    bare = ImageAnalysisClient(endpoint, AzureKeyCredential(key))
    wrapped = ImageAnalysisClient(endpoint, AzureKeyCredential(key))

    def record(fields: dict[str, Any]) -> None:
        text = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(f"{head[0]}{text}".encode()).hexdigest()
        head[:] = [digest, int(head[1]) + 1]
        connection.execute(
            "INSERT INTO events VALUES (?, ?, ?)", (head[1], digest, text)
        )

    def audited() -> object:
        image_sha256 = hashlib.sha256(image).hexdigest()
        record({"type": "requested", "sha256": image_sha256, "size": len(image)})
        with tracer.start_as_current_span(
            "analyze", attributes={"image.sha256": image_sha256}
        ):
            result = wrapped.analyze(image_data=image, visual_features=FEATURES)
        tags = [tag.name for tag in result.tags.list] if result.tags else []
        record({"type": "completed", "sha256": image_sha256, "tags": tags})
        return result

    try:
        return _interleave(
            lambda: bare.analyze(image_data=image, visual_features=FEATURES),
            audited,
            rounds=rounds,
        )
    finally:
        bare.close()
        wrapped.close()
        connection.close()
        provider.shutdown()


class _Phases:
    """Wall time of named parts of the wrapper, per call, on the caller's thread."""

    def __init__(self) -> None:
        self.now: dict[str, float] = defaultdict(float)
        self.calls: list[dict[str, float]] = []
        self.undo: list[tuple[Any, str, Any]] = []

    def time(self, owner: Any, name: str, label: str) -> None:  # noqa: ANN401
        """Time every call of ``owner.name`` made on the main thread as *label*."""
        original = getattr(owner, name)
        main = threading.main_thread()

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
            if threading.current_thread() is not main:
                return original(*args, **kwargs)
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.now[label] += (time.perf_counter() - started) * 1000

        setattr(owner, name, timed)
        self.undo.append((owner, name, original))

    def restore(self) -> None:
        """Put every timed function back."""
        for owner, name, original in reversed(self.undo):
            setattr(owner, name, original)

    def median(self, label: str) -> float:
        """Median milliseconds per call spent in *label*."""
        return statistics.median(call.get(label, 0.0) for call in self.calls)


def _breakdown(
    endpoint: str, key: str, image: bytes, *, rounds: int, folder: Path
) -> None:
    phases = _Phases()
    # Bare calls are timed too; their time is cleared before each audited call.
    phases.time(ImageAnalysisClient, "analyze", "sdk")
    phases.time(_wrappers, "fingerprint_image", "fingerprint")
    phases.time(BaseAuditStore, "append", "appends")
    phases.time(Recorder, "telemetry", "telemetry")
    try:
        bares, totals = _measure(
            endpoint,
            key,
            image,
            durability="process",
            rounds=rounds,
            folder=folder,
            phases=phases,
        )
    finally:
        phases.restore()
    total, bare_p50 = statistics.median(totals), statistics.median(bares)
    rows = [
        ("SDK call, inside the wrapper, minus bare", phases.median("sdk") - bare_p50),
        ("image fingerprint (SHA-256 + header)", phases.median("fingerprint")),
        ("two durable appends", phases.median("appends")),
        ("completed: log line + span event", phases.median("telemetry")),
    ]
    rest = total - bare_p50 - sum(value for _, value in rows)
    print(
        f"\nwhere the added {total - bare_p50:.2f} ms go (medians of {rounds} calls):"
    )
    for label, value in [*rows, ("the rest (by difference)", rest)]:
        print(f"  {label:42} {value:6.3f} ms")


def main() -> None:
    """Measure both durabilities and print medians, p95s and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    audit_log = logging.getLogger("vision_audit.audit")
    audit_log.setLevel(logging.INFO)
    audit_log.addHandler(logging.FileHandler(os.devnull))
    audit_log.propagate = False
    image = photo_200kb()
    key = secrets.token_urlsafe(16)
    print(f"image: {len(image) / 1024:.0f} KB JPEG; {args.rounds} interleaved rounds")
    print(f"{'':34} {'p50 ms':>8} {'p95 ms':>8} {'added p50':>10}")
    with emulator_process(key) as endpoint, tempfile.TemporaryDirectory() as folder:
        added_by: dict[str, float] = {}
        added_ms: dict[str, float] = {}
        for durability in ("process", "power"):
            bare, audited = _measure(
                endpoint,
                key,
                image,
                durability=durability,
                rounds=args.rounds,
                folder=Path(folder),
            )
            bare_p50, audited_p50 = statistics.median(bare), statistics.median(audited)
            print(f"{'bare SDK call':34} {bare_p50:8.2f} {percentile(bare, 0.95):8.2f}")
            added = added_by[durability] = (audited_p50 - bare_p50) / bare_p50
            added_ms[durability] = audited_p50 - bare_p50
            print(
                f"{'instrumented, durability=' + durability:34} {audited_p50:8.2f} "
                f"{percentile(audited, 0.95):8.2f} {added:+10.1%}"
            )
        bare, floor = _floor(
            endpoint, key, image, rounds=args.rounds, folder=Path(folder)
        )
        bare_p50, floor_p50 = statistics.median(bare), statistics.median(floor)
        print(f"{'bare SDK call':34} {bare_p50:8.2f} {percentile(bare, 0.95):8.2f}")
        print(
            f"{'floor (see below)':34} {floor_p50:8.2f} "
            f"{percentile(floor, 0.95):8.2f} {(floor_p50 - bare_p50) / bare_p50:+10.1%}"
        )
        print(
            "floor: only what auditing cannot do without (SHA-256 of the image, two\n"
            "chained records committed to SQLite with the default durability, one span)"
        )
        ratio = added_ms["process"] / (floor_p50 - bare_p50)
        met = "met" if ratio <= TARGET else "not met"
        print(
            f"target: added p50 (durability=process) <= {TARGET}x the floor's added "
            f"p50: {met} ({added_ms['process']:.2f} ms against "
            f"{floor_p50 - bare_p50:.2f} ms: {ratio:.1f}x)"
        )
        _breakdown(endpoint, key, image, rounds=args.rounds, folder=Path(folder))


if __name__ == "__main__":
    main()
