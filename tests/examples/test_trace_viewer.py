"""
End to end: audited calls exported over OTLP and read back from real trace viewers.

Two viewers, each installed from PyPI into its own virtual environment under
``.venv-viewer/`` (made on first use, then reused) and started on loopback with its
telemetry off:

- MLflow's tracing server, over OTLP/HTTP; it keeps span links, so the review span's
  link to the analysis span is checked;
- Arize Phoenix, over OTLP/gRPC; it drops span links, so the review span is found by
  the analysis id it carries.

The workload runs in this process with the OpenTelemetry SDK's own exporters; the
spans are read back through each viewer's API.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from azure.ai.vision.imageanalysis import ImageAnalysisClient
from azure.core.credentials import AzureKeyCredential
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from tests.examples.conftest import RETAIL, RETAIL_POLICY, read_events
from vision_audit import (
    ConsentRequiredError,
    VisionAuditInstrumentor,
    audit_context,
    get_audit_id,
)
from vision_audit.demo import run_demo
from vision_audit.review import record_review_decision
from vision_audit.store import open_store
from vision_audit.testing import make_test_image

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from opentelemetry.sdk.trace.export import SpanExporter
    from vision_audit.emulator import Emulator
    from vision_audit.models import AuditEvent

VIEWERS = Path(__file__).parents[2] / ".venv-viewer"
INSTALL_TIMEOUT = 900
START_TIMEOUT = 90
READ_TIMEOUT = 30
PROJECT = "vision-audit-e2e"
SHOPPER = {
    "tags": {"shelf": 0.93, "person": 0.96, "man": 0.9},
    "caption": "a man next to a shelf",
    "people": 1,
}
MLFLOW_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
}
MLFLOW_READ_SPANS = """
import json, sys
import mlflow
mlflow.set_tracking_uri(sys.argv[1])
traces = mlflow.search_traces(
    locations=[sys.argv[2]], filter_string=sys.argv[3], return_type="list"
)
print(json.dumps([s.to_dict() for t in traces for s in t.data.spans], default=str))
"""
PHOENIX_QUERY = """
import json, sys
from phoenix.client import Client
from phoenix.client.types.spans import SpanQuery
frame = Client(base_url=sys.argv[1]).spans.get_spans_dataframe(
    query=SpanQuery().where(sys.argv[3]), project_identifier=sys.argv[2]
)
print(json.dumps(sorted(frame["name"]) if len(frame) else []))
"""
OBSERVABILITY = Path(__file__).parents[2] / "docs" / "observability.md"
ID = "<analysis id>"
# The queries docs/observability.md gives, and the spans each finds in the workload.
PHOENIX_QUERIES = {
    f"vision_audit.analysis.id == '{ID}'": [
        "image_analysis latest",
        "vision_audit.review.decide",
    ],
    "vision_audit.review.required == True": ["image_analysis latest"],
    "vision_audit.policy.decision == 'denied'": ["image_analysis latest"],
    "span_kind == 'GUARDRAIL'": ["vision_audit.review.decide"],
}
MLFLOW_QUERIES = {
    f"span.attributes.`vision_audit.analysis.id` LIKE '%{ID}%'": [
        "image_analysis latest",
        "vision_audit.review.decide",
    ],
    "span.attributes.`vision_audit.policy.decision` LIKE '%denied%'": [
        "image_analysis latest"
    ],
    "span.name = 'vision_audit.review.decide'": ["vision_audit.review.decide"],
}


@dataclass(frozen=True, kw_only=True)
class Span:
    """A span as a viewer gives it back, in one shape for every viewer."""

    name: str
    trace_id: str
    span_id: str
    attributes: dict[str, Any]
    events: list[str]
    links: list[tuple[str, str, dict[str, Any]]] | None  # None: the viewer drops them
    kind: str  # the span type the viewer shows
    preview: tuple[Any, Any]  # the input and output the viewer shows, decoded


@dataclass(frozen=True, kw_only=True)
class Workload:
    """What the workload did, as the audit store recorded it."""

    analysis_id: str
    requested: AuditEvent


def viewer_venv(name: str, requirement: str) -> Path:
    """The bin folder of the viewer's own venv, made and filled on first use."""
    venv = VIEWERS / name
    stamp = venv / ".installed"
    if not stamp.exists():
        try:
            subprocess.run(
                [sys.executable, "-m", "venv", "--clear", str(venv)],
                check=True,
                capture_output=True,
                timeout=120,
            )
            subprocess.run(
                [str(venv / "bin" / "python"), "-m", "pip", "install", requirement],
                check=True,
                capture_output=True,
                timeout=INSTALL_TIMEOUT,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as err:
            output = (getattr(err, "stderr", b"") or b"").decode(errors="replace")
            pytest.skip(f"could not install {requirement} from PyPI: {output[-500:]}")
        stamp.write_text(requirement)
    return venv / "bin"


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running(
    command: list[str], env: dict[str, str], health: str, log: Path
) -> Iterator[None]:
    """Run a server in its own process group until the block ends."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                try:
                    with urllib.request.urlopen(health, timeout=2):  # noqa: S310
                        break
                except (urllib.error.URLError, OSError):
                    if process.poll() is not None or time.monotonic() > deadline:
                        text = log.read_text(errors="replace")
                        pytest.fail(f"{command[0]} did not start:\n{text[-2000:]}")
                    time.sleep(0.5)
            yield
        finally:
            # The server and every worker it started: its own process group.
            os.killpg(process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=15)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


def run_workload(
    exporter: SpanExporter, emulator: Emulator, key: str, store_url: str
) -> Workload:
    """An allowed call routed to review, a denied call, a reviewer's override."""
    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": PROJECT, "openinference.project.name": PROJECT}
        )
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    store = open_store(store_url)
    instrumentor = VisionAuditInstrumentor()
    instrumentor.instrument(
        tracer_provider=provider, store=store, policy=str(RETAIL_POLICY)
    )
    try:
        with (
            ImageAnalysisClient(
                emulator.endpoint, AzureKeyCredential(key), retry_total=0
            ) as client,
            audit_context(purpose=RETAIL, actor="shelf-camera-7"),
        ):
            result = client.analyze(
                image_data=make_test_image(seed=21, script=SHOPPER),
                visual_features=["tags", "caption"],
            )
            with pytest.raises(ConsentRequiredError):
                client.analyze(
                    image_data=make_test_image(seed=22),
                    visual_features=["tags", "people"],
                )
        analysis_id = get_audit_id(result)
        assert analysis_id is not None
        record_review_decision(
            store,
            analysis_id,
            decision="override",
            reviewer="dr-okafor",
            rationale="the shelf holds juice",
            add_tags=["beverage"],
            tracer_provider=provider,
        )
    finally:
        instrumentor.uninstrument()
        store.close()
        provider.shutdown()
    requested = next(
        e
        for e in (r.event for r in read_events(store_url))
        if e.type == "analysis.requested" and e.analysis_id == analysis_id
    )
    return Workload(analysis_id=analysis_id, requested=requested)


def wait_for_spans(read: Callable[[], list[Span]], count: int) -> list[Span]:
    """Read until *count* spans are there (ingestion may lag), or time out."""
    deadline = time.monotonic() + READ_TIMEOUT
    while len(spans := read()) < count and time.monotonic() < deadline:
        time.sleep(0.5)
    return list(spans)


def check_spans(spans: list[Span], workload: Workload) -> Span:
    """What an SRE must see; returns the decision span for viewer-specific checks."""
    by_name: dict[str, list[Span]] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    analyzed = {
        s.attributes["vision_audit.policy.decision"]: s
        for s in by_name["image_analysis latest"]
    }
    allowed, denied = analyzed["allowed"], analyzed["denied"]
    attributes = allowed.attributes
    assert workload.analysis_id == attributes["vision_audit.analysis.id"]
    assert RETAIL == attributes["vision_audit.context.purpose"]
    assert ["shelf"] == attributes["vision_audit.result.tags.names"]
    assert ["person", "man"] == attributes["vision_audit.result.tags.dropped"]
    assert attributes["vision_audit.review.required"] is True
    assert 640 == attributes["vision_audit.image.width"]
    assert not [k for k in attributes if k.startswith("vision_audit.content.")]
    assert [
        "analysis.requested",
        "tags.filtered",
        "review.required",
        "analysis.completed",
    ] == allowed.events
    assert (workload.requested.trace_id, workload.requested.span_id) == (
        allowed.trace_id,
        allowed.span_id,
    )
    assert ("LLM", "LLM") == (allowed.kind, denied.kind)
    shown_input, shown_output = allowed.preview
    assert (["tags", "caption"], RETAIL) == (
        shown_input["features"],
        shown_input["purpose"],
    )
    assert [{"name": "shelf", "confidence": 0.93}] == shown_output["results"]["tags"][
        "tags"
    ]
    assert shown_output["review_required"] is True
    assert "content" not in shown_output
    assert ["feature-not-allowed"] == denied.attributes[
        "vision_audit.policy.violations"
    ]
    assert ["analysis.denied"] == denied.events
    (decided,) = by_name["vision_audit.review.decide"]
    assert ("override", "dr-okafor", ["beverage"], workload.analysis_id) == (
        decided.attributes["vision_audit.review.decision"],
        decided.attributes["vision_audit.review.reviewer"],
        decided.attributes["vision_audit.review.tags.added"],
        decided.attributes["vision_audit.analysis.id"],
    )
    assert ["review.decided"] == decided.events
    assert "GUARDRAIL" == decided.kind
    return decided


def documented(queries: dict[str, list[str]]) -> dict[str, list[str]]:
    """*queries*, each checked to be written in docs/observability.md as it is."""
    text = OBSERVABILITY.read_text()
    for query in queries:
        assert query in text, f"docs/observability.md does not give {query!r}"
    return queries


@pytest.fixture(name="mlflow", scope="module")
def _mlflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The server's URL."""
    bin_dir = viewer_venv("mlflow", "mlflow>=3.4,<4")
    folder = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        str(bin_dir / "mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{folder / 'mlflow.db'}",
        "--default-artifact-root",
        str(folder / "artifacts"),
    ]
    with running(command, MLFLOW_ENV, f"{url}/health", folder / "server.log"):
        yield url


def run_in_viewer(name: str, script: str, *args: str) -> Any:
    """Run *script* with the viewer's own Python; its last line of output, decoded."""
    completed = subprocess.run(
        [str(VIEWERS / name / "bin" / "python"), "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **MLFLOW_ENV},
        check=False,
    )
    assert 0 == completed.returncode, completed.stderr[-2000:]
    return json.loads(completed.stdout.splitlines()[-1])


def read_mlflow(url: str, experiment: str, query: str = "") -> list[Span]:
    """The experiment's spans, through MLflow's client in the viewer's venv."""
    spans = run_in_viewer("mlflow", MLFLOW_READ_SPANS, url, experiment, query)
    # MLflow keeps ids in base64, and each attribute value JSON-encoded.
    return [
        Span(
            name=s["name"],
            trace_id=base64.b64decode(s["trace_id"]).hex(),
            span_id=base64.b64decode(s["span_id"]).hex(),
            attributes=(attributes := _decoded(s["attributes"])),
            kind=attributes.get("mlflow.spanType"),
            preview=(
                attributes.get("mlflow.spanInputs"),
                attributes.get("mlflow.spanOutputs"),
            ),
            events=[e["name"] for e in s["events"]],
            links=[
                (
                    link["trace_id"].removeprefix("tr-"),
                    link["span_id"],
                    link["attributes"],
                )
                for link in s["links"]
            ],
        )
        for s in spans
    ]


def _decoded(attributes: dict[str, str]) -> dict[str, Any]:
    return {k: json.loads(v) for k, v in attributes.items()}


def create_experiment(url: str, name: str) -> str:
    """A new MLflow experiment's id."""
    request = urllib.request.Request(  # noqa: S310 - the fixture's http:// URL
        f"{url}/api/2.0/mlflow/experiments/create",
        data=json.dumps({"name": name}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return str(json.loads(response.read())["experiment_id"])


class TestMLflow:
    """MLflow's tracing server, over OTLP/HTTP: span links are kept."""

    def test_demo_traces_import(self, mlflow: str, tmp_path: Path) -> None:
        """The demo's traces.json, posted as OTLP/JSON, shows every call."""
        run_demo(tmp_path, out=io.StringIO())
        experiment = create_experiment(mlflow, "demo-import")
        request = urllib.request.Request(  # noqa: S310 - the fixture's http:// URL
            f"{mlflow}/v1/traces",
            data=(tmp_path / "traces.json").read_bytes(),
            headers={
                "Content-Type": "application/json",
                "x-mlflow-experiment-id": experiment,
            },
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            assert HTTPStatus.OK == response.status

        spans = wait_for_spans(lambda: read_mlflow(mlflow, experiment), 15 + 15 + 4)

        analyses = [s for s in spans if s.name == "image_analysis latest"]
        assert 15 == len(analyses)
        assert {"LLM"} == {s.kind for s in analyses}
        assert 15 == sum(1 for s in spans if s.name.startswith("demo "))
        assert 4 == sum(1 for s in spans if s.name == "vision_audit.review.decide")

    def test_otlp_http(
        self, mlflow: str, emulator: Emulator, emulator_key: str, store_url: str
    ) -> None:
        """Attributes, span events and the review span's link all arrive."""
        experiment = create_experiment(mlflow, PROJECT)
        exporter = HttpSpanExporter(
            endpoint=f"{mlflow}/v1/traces",
            headers={"x-mlflow-experiment-id": experiment},
            timeout=30,
        )
        workload = run_workload(exporter, emulator, emulator_key, store_url)

        spans = wait_for_spans(lambda: read_mlflow(mlflow, experiment), 3)

        decided = check_spans(spans, workload)
        requested = workload.requested
        assert [
            (
                requested.trace_id,
                requested.span_id,
                {"vision_audit.analysis.id": workload.analysis_id},
            )
        ] == decided.links
        for query, names in documented(MLFLOW_QUERIES).items():
            found = read_mlflow(
                mlflow, experiment, query.replace(ID, workload.analysis_id)
            )
            assert names == sorted(s.name for s in found), query


@pytest.fixture(name="phoenix", scope="module")
def _phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The server's URL and its OTLP/gRPC endpoint."""
    bin_dir = viewer_venv("phoenix", "arize-phoenix>=12,<21")
    folder = tmp_path_factory.mktemp("phoenix")
    port = grpc_port = free_port()
    while grpc_port == port:
        grpc_port = free_port()
    env = {
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(grpc_port),
        "PHOENIX_WORKING_DIR": str(folder),
        "PHOENIX_TELEMETRY_ENABLED": "false",
        "DO_NOT_TRACK": "true",
    }
    url = f"http://127.0.0.1:{port}"
    command = [str(bin_dir / "phoenix"), "serve"]
    with running(command, env, f"{url}/healthz", folder / "server.log"):
        yield url, f"127.0.0.1:{grpc_port}"


def read_phoenix(url: str) -> list[Span]:
    """The project's spans, through Phoenix's REST API."""
    try:
        with urllib.request.urlopen(  # noqa: S310 - the fixture's http:// URL
            f"{url}/v1/projects/{PROJECT}/spans?limit=100", timeout=30
        ) as response:
            data = json.loads(response.read())["data"]
    except urllib.error.HTTPError as err:
        # The project appears with its first span.
        if err.code == HTTPStatus.NOT_FOUND:
            return []
        raise
    return [
        Span(
            name=s["name"],
            trace_id=s["context"]["trace_id"],
            span_id=s["context"]["span_id"],
            attributes=s["attributes"],
            events=[e["name"] for e in s["events"]],
            links=None,
            kind=s["span_kind"],
            preview=tuple(
                json.loads(s["attributes"][key]) if key in s["attributes"] else None
                for key in ("input.value", "output.value")
            ),
        )
        for s in data
    ]


def query_phoenix(url: str, condition: str) -> list[str]:
    """Names of the spans a filter condition (as typed in Phoenix's UI) finds."""
    return list(run_in_viewer("phoenix", PHOENIX_QUERY, url, PROJECT, condition))


class TestPhoenix:
    """Arize Phoenix, over OTLP/gRPC: everything but the span link."""

    def test_otlp_grpc(
        self,
        phoenix: tuple[str, str],
        emulator: Emulator,
        emulator_key: str,
        store_url: str,
    ) -> None:
        """Attributes and span events arrive; the decision names its analysis."""
        url, grpc_endpoint = phoenix
        exporter = GrpcSpanExporter(endpoint=grpc_endpoint, insecure=True, timeout=30)
        workload = run_workload(exporter, emulator, emulator_key, store_url)

        spans = wait_for_spans(lambda: read_phoenix(url), 3)

        decided = check_spans(spans, workload)
        assert decided.links is None
        for query, names in documented(PHOENIX_QUERIES).items():
            found = query_phoenix(url, query.replace(ID, workload.analysis_id))
            assert names == found, query
