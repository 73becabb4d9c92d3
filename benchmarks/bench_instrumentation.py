"""
What auditing adds to an Image Analysis call: instrumented vs bare, 200 KB image.

Both clients talk to one emulator process; calls are interleaved (bare, instrumented,
bare, ...) so that machine noise hits both alike. The instrumented client records two
events per call in a SQLite audit store, exports its span through the OpenTelemetry
SDK (batch processor) and logs JSON at INFO to a file handler. Run twice: with the
default durability ("process": survives a kill of the process, not a power loss) and
with "power" (fsync before each acknowledgement).

Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_instrumentation.py``.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import statistics
import tempfile
import time
from pathlib import Path

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
from vision_audit.store import open_store

FEATURES = ["tags", "caption", "objects", "people"]
WARMUP = 20


class _Discard(SpanExporter):
    def export(self, spans: object) -> SpanExportResult:  # noqa: ARG002
        return SpanExportResult.SUCCESS


def _measure(
    endpoint: str, key: str, image: bytes, *, durability: str, rounds: int, folder: Path
) -> tuple[list[float], list[float]]:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(_Discard()))
    path = folder / f"audit-{durability}.db"
    store = open_store(f"sqlite:///{path}", durability=durability)
    bare = ImageAnalysisClient(endpoint, AzureKeyCredential(key))
    audited = instrument_client(
        ImageAnalysisClient(endpoint, AzureKeyCredential(key)),
        store=store,
        tracer_provider=provider,
    )
    bare_ms: list[float] = []
    audited_ms: list[float] = []
    with audit_context(purpose="benchmark", actor="bench", subject_ref="subject-1"):
        for index in range(rounds + WARMUP):
            started = time.perf_counter()
            bare.analyze(image_data=image, visual_features=FEATURES)
            middle = time.perf_counter()
            audited.analyze(image_data=image, visual_features=FEATURES)
            ended = time.perf_counter()
            if index >= WARMUP:
                bare_ms.append((middle - started) * 1000)
                audited_ms.append((ended - middle) * 1000)
    bare.close()
    audited.close()
    store.close()
    provider.shutdown()
    return bare_ms, audited_ms


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
            added = (audited_p50 - bare_p50) / bare_p50
            print(
                f"{'instrumented, durability=' + durability:34} {audited_p50:8.2f} "
                f"{percentile(audited, 0.95):8.2f} {added:+10.1%}"
            )


if __name__ == "__main__":
    main()
