"""Fixtures for instrumentation tests: in-memory OTel, a store, an instrumented SDK."""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Iterator  # noqa: TC003 - fixtures are introspected
from dataclasses import replace

import pytest
from azure.ai.vision.imageanalysis import ImageAnalysisClient
from azure.core.credentials import AzureKeyCredential
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from vision_audit import VisionAuditInstrumentor
from vision_audit.emulator import Emulator
from vision_audit.exceptions import AuditWriteError
from vision_audit.models import AuditEvent, RecordedEvent


class ListStore:
    """A store that keeps events in a list; ``fail_after`` makes it fail on purpose."""

    def __init__(self) -> None:
        self.records: list[RecordedEvent] = []
        self.fail_after: int | None = None
        self._lock = threading.Lock()

    def append(self, event: AuditEvent) -> RecordedEvent:
        with self._lock:
            if self.fail_after is not None and len(self.records) >= self.fail_after:
                msg = "disk full (simulated)"
                raise AuditWriteError(msg)
            subject = event.subject_ref
            if subject is not None:
                subject = hmac.new(b"k", subject.encode(), hashlib.sha256).hexdigest()[
                    :32
                ]
            record = RecordedEvent(
                sequence=len(self.records) + 1,
                event=replace(event, subject_ref=subject),
                content_hash=None,
                prev_hash="0" * 64,
                hash="0" * 64,
            )
            self.records.append(record)
            return record

    def iter_events(self, *, since=None, until=None):
        return iter(list(self.records))

    def close(self) -> None:
        pass

    def of_type(self, kind: str) -> list[AuditEvent]:
        return [r.event for r in self.records if r.event.type == kind]


@pytest.fixture(name="store")
def _store() -> ListStore:
    return ListStore()


@pytest.fixture(name="make_store")
def _make_store():
    return ListStore


@pytest.fixture(name="span_exporter")
def _span_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture(name="global_span_exporter", scope="session")
def _global_span_exporter() -> InMemorySpanExporter:
    """The process's global tracer provider, set once, exporting to memory."""
    from opentelemetry import trace

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


@pytest.fixture(name="tracer_provider")
def _tracer_provider(span_exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    return provider


@pytest.fixture(name="log_exporter")
def _log_exporter() -> InMemoryLogRecordExporter:
    return InMemoryLogRecordExporter()


@pytest.fixture(name="logger_provider")
def _logger_provider(log_exporter: InMemoryLogRecordExporter) -> LoggerProvider:
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    return provider


@pytest.fixture(name="instrument")
def _instrument(tracer_provider, logger_provider, store) -> Iterator:
    """Instrument with in-memory OTel and the list store; uninstrument after."""
    instrumentor = VisionAuditInstrumentor()

    def instrument(**options):
        options.setdefault("tracer_provider", tracer_provider)
        options.setdefault("logger_provider", logger_provider)
        options.setdefault("store", store)
        instrumentor.instrument(**options)
        return instrumentor

    yield instrument
    instrumentor.uninstrument()


@pytest.fixture(name="instrumented")
def _instrumented(instrument) -> VisionAuditInstrumentor:
    return instrument()


@pytest.fixture(name="fresh_emulator")
def _fresh_emulator(emulator_key: str) -> Iterator[Emulator]:
    """An emulator of the test's own, whose request count starts at zero."""
    with Emulator(key=emulator_key) as emulator:
        yield emulator


@pytest.fixture(name="fresh_client")
def _fresh_client(
    fresh_emulator: Emulator, emulator_key: str
) -> Iterator[ImageAnalysisClient]:
    with ImageAnalysisClient(
        fresh_emulator.endpoint, AzureKeyCredential(emulator_key), retry_total=0
    ) as client:
        yield client
