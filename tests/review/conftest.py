"""Fixtures of the review tests: a real SQLite store, in-memory OTel, patient intake."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator  # noqa: TC003 - fixtures are introspected
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.ai.vision.imageanalysis.models import VisualFeatures
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from vision_audit import VisionAuditInstrumentor, audit_context, get_audit_id
from vision_audit import environment_variables as env
from vision_audit.policy import CallableConsentProvider, ConsentRecord
from vision_audit.review import list_pending_reviews
from vision_audit.store import open_store
from vision_audit.testing import make_test_image

POLICIES = Path(__file__).parents[2] / "examples" / "policies"
HEALTHCARE = POLICIES / "healthcare-intake.toml"
INTAKE = "patient-intake"
ACTOR = "nurse-7"
REVIEWER = "dr-okafor"

_ENVIRONMENT = (
    env.VISION_AUDIT_STORE,
    env.VISION_AUDIT_POLICY,
    env.VISION_AUDIT_CONSENT,
    env.VISION_AUDIT_SIGNING_KEY,
    env.VISION_AUDIT_SIGNING_KEY_FILE,
    env.VISION_AUDIT_PSEUDONYM_KEY,
    env.VISION_AUDIT_PSEUDONYM_KEY_FILE,
)


def clean_environment() -> dict[str, str]:
    """The environment of this process, without vision-audit's settings."""
    return {k: v for k, v in os.environ.items() if k not in _ENVIRONMENT}


@pytest.fixture(autouse=True)
def _no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


def _intake_consent(ref: str) -> ConsentRecord | None:
    if ref != "c-intake-7":
        return None
    return ConsentRecord(
        ref="c-intake-7",
        subject_ref="patient-7",
        purposes=frozenset({INTAKE}),
        granted_at=datetime.now(UTC) - timedelta(days=1),
    )


@pytest.fixture(name="consent")
def _consent() -> CallableConsentProvider:
    return CallableConsentProvider(_intake_consent)


@pytest.fixture(name="db_url")
def _db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/a.db"


@pytest.fixture(name="store")
def _store(db_url: str) -> Iterator:
    """The SQLite audit store the application writes and reviewers read."""
    store = open_store(db_url)
    yield store
    store.close()


@pytest.fixture(name="span_exporter")
def _span_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture(name="tracer_provider")
def _tracer_provider(span_exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    return provider


@pytest.fixture(name="gated_policy")
def _gated_policy(tmp_path: Path):
    """Write healthcare-intake with the gate on: ``gated_policy(timeout, default)``."""

    def write(timeout: str = "20s", default: str = "withhold") -> str:
        text = HEALTHCARE.read_text()
        for old, new in (
            ("gate = false", "gate = true"),
            ('gate_timeout = "2m"', f'gate_timeout = "{timeout}"'),
            ('gate_default = "withhold"', f'gate_default = "{default}"'),
        ):
            assert old in text
            text = text.replace(old, new)
        path = tmp_path / f"gated-{timeout}-{default}.toml"
        path.write_text(text)
        return str(path)

    return write


@pytest.fixture(name="instrument")
def _instrument(tracer_provider, store, consent) -> Iterator:
    """Instrument with the SQLite store and patient-intake consent; uninstrument."""
    instrumentor = VisionAuditInstrumentor()

    def instrument(policy: str = str(HEALTHCARE), **options):
        options.setdefault("tracer_provider", tracer_provider)
        options.setdefault("store", store)
        options.setdefault("consent", consent)
        instrumentor.instrument(policy=policy, **options)
        return instrumentor

    yield instrument
    instrumentor.uninstrument()


def at_the_intake_desk() -> audit_context:
    """The audit context of the nurse's calls at patient intake, with consent."""
    return audit_context(
        purpose=INTAKE, consent_ref="c-intake-7", subject_ref="patient-7", actor=ACTOR
    )


@pytest.fixture(name="analyze")
def _analyze(client):
    """Analyze a picture at the intake desk, as the nurse; returns the result."""

    def analyze(seed: int = 5):
        with at_the_intake_desk():
            return client.analyze(
                image_data=make_test_image(seed=seed),
                visual_features=[VisualFeatures.TAGS, VisualFeatures.PEOPLE],
            )

    return analyze


@pytest.fixture(name="flagged")
def _flagged(instrument, analyze) -> str:
    """One patient-intake analysis, flagged for review; its analysis id."""
    instrument()
    analysis_id = get_audit_id(analyze())
    assert analysis_id is not None
    return analysis_id


def wait_until_pending(store, timeout: float = 20.0) -> str:
    """The id of the first analysis that shows up in the queue."""
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        pending = list_pending_reviews(store)
        if pending:
            return pending[0].analysis_id
        time.sleep(0.05)
    msg = "no analysis showed up in the review queue"
    raise AssertionError(msg)


class Reviewer(threading.Thread):
    """A reviewer on another thread: waits for the queue, acts on its first item."""

    def __init__(self, store, act) -> None:
        super().__init__(daemon=True)
        self.store = store
        self.act = act
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.act(wait_until_pending(self.store))
        except BaseException as err:  # noqa: BLE001 - reported by the test
            self.error = err
