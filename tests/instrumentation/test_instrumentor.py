"""VisionAuditInstrumentor against the real SDK and the emulator."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import threading
import time
import warnings
from pathlib import Path

import pytest
from azure.ai.vision.imageanalysis import ImageAnalysisClient
from azure.ai.vision.imageanalysis.aio import ImageAnalysisClient as AsyncClient
from azure.ai.vision.imageanalysis.models import ImageAnalysisResult, VisualFeatures
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import HttpResponseError
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import StatusCode
from vision_audit import (
    AuditWriteError,
    ConsentRequiredError,
    VisionAuditInstrumentor,
    audit_context,
    get_audit_id,
    instrument_client,
)
from vision_audit.sinks.log import JSONFormatter
from vision_audit.store import open_store
from vision_audit.testing import make_test_image

TAGS = [VisualFeatures.TAGS]
POLICIES = Path(__file__).parents[2] / "examples" / "policies"


class _StampHandler(logging.Handler):
    """Notes when each audit event's log line arrives, and the lines themselves."""

    def __init__(self, seen: dict[str, float]) -> None:
        super().__init__(logging.INFO)
        self.seen = seen
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = json.loads(JSONFormatter().format(record))
        self.seen[line["event"]] = time.perf_counter()
        self.lines.append(line)


def _only_span(span_exporter):
    spans = [
        s
        for s in span_exporter.get_finished_spans()
        if s.name == "image_analysis latest"
    ]
    assert 1 == len(spans)
    return spans[0]


class TestSpan:
    """One span per call, with the documented attributes."""

    def test_analyze_attributes(
        self, instrumented, client, emulator, span_exporter
    ) -> None:
        """Request, image, context and outcome, with exact names and types."""
        image = make_test_image(width=320, height=240, seed=3)
        emulator.script(
            image,
            {
                "tags": {"person": 0.97, "wheelchair": 0.9},
                "people": 1,
                "text": ["EXIT"],
            },
        )

        with audit_context(
            purpose="intake",
            consent_ref="c-1",
            subject_ref="p-9",
            actor="nurse",
            ward="B",
        ):
            client.analyze(
                image_data=image,
                visual_features=[
                    VisualFeatures.TAGS,
                    VisualFeatures.PEOPLE,
                    VisualFeatures.READ,
                ],
                language="en",
            )

        span = _only_span(span_exporter)
        a = span.attributes
        assert trace.SpanKind.CLIENT == span.kind
        assert "image_analysis" == a["gen_ai.operation.name"]
        assert "azure.ai.vision" == a["gen_ai.provider.name"]
        assert "127.0.0.1" == a["server.address"]
        assert isinstance(a["server.port"], int)
        assert "2023-10-01" == a["vision_audit.request.api_version"]
        assert ("tags", "people", "read") == a["vision_audit.request.features"]
        assert "en" == a["vision_audit.request.language"]
        assert "analyze" == a["vision_audit.operation"]
        assert 64 == len(a["vision_audit.image.sha256"])
        assert len(image) == a["vision_audit.image.size"]
        assert "JPEG" == a["vision_audit.image.format"]
        assert (320, 240) == (
            a["vision_audit.image.width"],
            a["vision_audit.image.height"],
        )
        assert "intake" == a["vision_audit.context.purpose"]
        assert "c-1" == a["vision_audit.context.consent_ref"]
        assert "nurse" == a["vision_audit.context.actor"]
        assert "B" == a["vision_audit.context.label.ward"]
        assert "p-9" != a["vision_audit.context.subject_ref"]
        assert ("person", "wheelchair") == a["vision_audit.result.tags.names"]
        assert (0.97, 0.9) == a["vision_audit.result.tags.confidences"]
        assert 2 == a["vision_audit.result.tags.count"]
        assert 1 == a["vision_audit.result.people.count"]
        assert a["vision_audit.result.read.text_found"] is True
        assert 1 == a["vision_audit.result.read.lines"]
        assert "2023-10-01" == a["gen_ai.response.model"]
        assert isinstance(a["vision_audit.duration_ms"], float)
        assert not any(k.startswith("vision_audit.content.") for k in a)
        assert ["analysis.requested", "analysis.completed"] == [
            e.name for e in span.events
        ]

    def test_url_redacted(self, instrumented, client, span_exporter, store) -> None:
        """A SAS URL is recorded as scheme, host and path only."""
        client.analyze_from_url(
            image_url="https://u:pw@contoso.blob.core.windows.net/claims/car.png?sv=1&sig=SECRET#x",
            visual_features=TAGS,
        )

        span = _only_span(span_exporter)
        expected = "https://contoso.blob.core.windows.net/claims/car.png"
        assert expected == span.attributes["vision_audit.image.url"]
        assert "analyze_from_url" == span.attributes["vision_audit.operation"]
        assert expected == store.of_type("analysis.requested")[0].data["url"]

    def test_parent_of_sdk_spans(
        self, instrument, client, global_span_exporter
    ) -> None:
        """The caller's span is the parent; azure-core's own spans are children."""
        from azure.core.settings import settings

        instrument(tracer_provider=None)  # azure-core traces to the global provider
        global_span_exporter.clear()
        settings.tracing_enabled = True
        try:
            with trace.get_tracer("app").start_as_current_span("handler") as parent:
                client.analyze(image_data=make_test_image(), visual_features=TAGS)
        finally:
            settings.tracing_enabled = None

        spans = global_span_exporter.get_finished_spans()
        ours = _only_span(global_span_exporter)
        children = [
            s.name
            for s in spans
            if s.parent is not None and s.parent.span_id == ours.context.span_id
        ]
        assert parent.get_span_context().span_id == ours.parent.span_id
        assert ["ImageAnalysisClient.analyze"] == children


class TestViewerConventions:
    """The GenAI span name and the OpenInference preview Phoenix and MLflow read."""

    def test_name_follows_the_model_asked_for(
        self, instrumented, client, span_exporter
    ) -> None:
        """``image_analysis latest``, or the pinned model version."""
        client.analyze(image_data=make_test_image(), visual_features=TAGS)
        client.analyze(
            image_data=make_test_image(seed=2),
            visual_features=TAGS,
            model_version="2023-10-01",
        )

        names = [s.name for s in span_exporter.get_finished_spans()]
        assert ["image_analysis latest", "image_analysis 2023-10-01"] == names

    def test_input_and_output_preview(
        self, instrument, client, emulator, span_exporter
    ) -> None:
        """Input: the request's facts. Output: what the app got, after the policy."""
        instrument(policy=str(POLICIES / "retail-shelf-analytics.toml"))
        image = make_test_image(seed=41)
        emulator.script(
            image, {"tags": {"shelf": 0.93, "man": 0.9}, "caption": "a man"}
        )

        with audit_context(purpose="retail-shelf-analytics"):
            client.analyze(
                image_data=image,
                visual_features=[VisualFeatures.TAGS, VisualFeatures.CAPTION],
            )

        a = _only_span(span_exporter).attributes
        request = json.loads(a["input.value"])
        output = json.loads(a["output.value"])
        assert ("LLM", "azure", "2023-10-01") == (
            a["openinference.span.kind"],
            a["llm.provider"],
            a["llm.model_name"],
        )
        assert ("application/json", "application/json") == (
            a["input.mime_type"],
            a["output.mime_type"],
        )
        assert hashlib.sha256(image).hexdigest() == request["image"]["sha256"]
        assert (["tags", "caption"], "retail-shelf-analytics") == (
            request["features"],
            request["purpose"],
        )
        assert [{"name": "shelf", "confidence": 0.93}] == output["results"]["tags"][
            "tags"
        ]
        assert "content" not in output
        assert "a man" not in a["output.value"]
        assert "vision_audit.content.captured" not in a


class TestEvents:
    """analysis.requested / completed / failed reach the store, logs and OTel logs."""

    def test_requested_then_completed(
        self, instrumented, client, store, span_exporter
    ) -> None:
        """Two events, one analysis id, the span's trace id, a pseudonymous subject."""
        with audit_context(purpose="claims", subject_ref="claimant-1042"):
            result = client.analyze(image_data=make_test_image(), visual_features=TAGS)

        span = _only_span(span_exporter)
        requested, completed = (r.event for r in store.records)
        assert ["analysis.requested", "analysis.completed"] == [
            requested.type,
            completed.type,
        ]
        assert requested.analysis_id == completed.analysis_id == get_audit_id(result)
        assert format(span.context.trace_id, "032x") == requested.trace_id
        assert "claimant-1042" != requested.subject_ref
        assert requested.data["image"]["format"] == "JPEG"
        assert completed.data["results"]["tags"]["count"] == len(result.tags.list)
        assert completed.content is None

    def test_failed(self, instrumented, client, store, span_exporter) -> None:
        """The SDK's exception is re-raised unchanged; codes are recorded."""
        with pytest.raises(HttpResponseError) as info:
            client.analyze(image_data=b"not an image", visual_features=TAGS)

        failed = store.of_type("analysis.failed")[0]
        span = _only_span(span_exporter)
        assert type(info.value) is HttpResponseError
        assert {
            "status_code": 400,
            "error_code": "InvalidRequest",
            "inner_error_code": "InvalidImageFormat",
            "error_type": "azure.core.exceptions.HttpResponseError",
        } == {
            k: failed.data[k]
            for k in ("status_code", "error_code", "inner_error_code", "error_type")
        }
        assert StatusCode.ERROR == span.status.status_code
        assert "InvalidImageFormat" == span.attributes["vision_audit.error.inner_code"]
        assert "unknown" == span.attributes["vision_audit.image.format"]

    def test_structlog_json(self, instrumented, client, caplog, span_exporter) -> None:
        """Each event is one structured record on vision_audit.audit, with trace ids."""
        with caplog.at_level(logging.INFO, logger="vision_audit.audit"):
            client.analyze(image_data=make_test_image(), visual_features=TAGS)

        audit = [r for r in caplog.records if r.name == "vision_audit.audit"]
        records = [json.loads(JSONFormatter().format(r)) for r in audit]
        assert ["analysis.requested", "analysis.completed"] == [
            r.getMessage() for r in audit
        ]
        assert all(isinstance(r.__dict__["data"], dict) for r in audit)
        span = _only_span(span_exporter)
        assert ["analysis.requested", "analysis.completed"] == [
            r["event"] for r in records
        ]
        assert {format(span.context.trace_id, "032x")} == {
            r["trace_id"] for r in records
        }
        assert all(
            r["level"] == "info" and r["timestamp"].endswith("Z") for r in records
        )

    def test_requested_logged_while_the_request_is_out(
        self, instrumented, client, emulator, span_exporter
    ) -> None:
        """The request's log line does not wait for the answer, and keeps its ids."""
        image = make_test_image(width=211, height=97)
        emulator.script(image, {"latencyMs": 300})
        seen: dict[str, float] = {}
        handler = _StampHandler(seen)
        audit_log = logging.getLogger("vision_audit.audit")
        audit_log.addHandler(handler)
        audit_log.setLevel(logging.INFO)
        try:
            with audit_context(purpose="claims", actor="adjuster-7"):
                client.analyze(image_data=image, visual_features=TAGS)
            returned = time.perf_counter()
        finally:
            audit_log.removeHandler(handler)
            audit_log.setLevel(logging.NOTSET)

        span = _only_span(span_exporter)
        assert returned - seen["analysis.requested"] > 0.2  # logged during the wait
        assert seen["analysis.requested"] < seen["analysis.completed"]
        assert [handler.lines[0]["trace_id"], handler.lines[0]["actor"]] == [
            format(span.context.trace_id, "032x"),
            "adjuster-7",
        ]
        assert ["analysis.requested", "analysis.completed"] == [
            e.name for e in span.events
        ]

    def test_fast_failure_keeps_the_order(
        self, instrumented, fresh_client, caplog, span_exporter, log_exporter
    ) -> None:
        """A call that fails at once still logs requested before failed, everywhere."""
        with (
            caplog.at_level(logging.INFO, logger="vision_audit.audit"),
            pytest.raises(HttpResponseError),
        ):
            fresh_client.analyze(image_data=b"not an image", visual_features=TAGS)

        logged = [
            r.getMessage() for r in caplog.records if r.name == "vision_audit.audit"
        ]
        span = _only_span(span_exporter)
        expected = ["analysis.requested", "analysis.failed"]
        assert expected == logged
        assert expected == [e.name for e in span.events]
        assert expected == [
            ld.log_record.event_name for ld in log_exporter.get_finished_logs()
        ]

    def test_host_logging_controls_the_logger(
        self, instrumented, client, caplog
    ) -> None:
        """Raising the level of vision_audit.audit silences it."""
        with caplog.at_level(logging.WARNING, logger="vision_audit.audit"):
            client.analyze(image_data=make_test_image(), visual_features=TAGS)

        assert [] == [r for r in caplog.records if r.name == "vision_audit.audit"]

    def test_otel_log_records(self, instrumented, client, log_exporter) -> None:
        """OTel log records carry the event name and the analysis id."""
        result = client.analyze(image_data=make_test_image(), visual_features=TAGS)

        logs = [ld.log_record for ld in log_exporter.get_finished_logs()]
        assert ["analysis.requested", "analysis.completed"] == [
            r.event_name for r in logs
        ]
        assert {get_audit_id(result)} == {
            r.attributes["vision_audit.analysis.id"] for r in logs
        }

    def test_content_opt_in(
        self, instrument, client, emulator, store, span_exporter
    ) -> None:
        """With capture_content, captions and read text are recorded; not without."""
        instrument(capture_content=True)
        image = make_test_image(seed=77)
        emulator.script(image, {"caption": "a man at a desk", "text": ["INVOICE 7"]})

        client.analyze(
            image_data=image,
            visual_features=[VisualFeatures.CAPTION, VisualFeatures.READ],
        )

        span = _only_span(span_exporter)
        assert "a man at a desk" == span.attributes["vision_audit.content.caption"]
        assert ("INVOICE 7",) == span.attributes["vision_audit.content.read_text"]
        assert {"caption": "a man at a desk", "read_text": ["INVOICE 7"]} == dict(
            store.of_type("analysis.completed")[0].content
        )

    @pytest.mark.parametrize("capture_content", [False, True])
    def test_content_never_in_a_log_body(
        self, instrument, client, emulator, capture_content
    ) -> None:
        """
        Through OpenTelemetry's logging bridge, the caption is never in a body.

        The stdlib record's message is the event's type; the caption is the
        ``content`` attribute, and only with capture on.
        """
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import (
            InMemoryLogRecordExporter,
            SimpleLogRecordProcessor,
        )

        try:  # the bridge moved to opentelemetry-instrumentation-logging
            from opentelemetry.instrumentation.logging.handler import LoggingHandler
        except ImportError:
            from opentelemetry.sdk._logs import LoggingHandler

        exporter = InMemoryLogRecordExporter()
        provider = LoggerProvider()
        provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
        with warnings.catch_warnings():  # the SDK's own bridge is deprecated
            warnings.simplefilter("ignore", DeprecationWarning)
            bridge = LoggingHandler(logger_provider=provider)
        audit_log = logging.getLogger("vision_audit.audit")
        audit_log.addHandler(bridge)
        audit_log.setLevel(logging.INFO)
        instrument(capture_content=capture_content)
        image = make_test_image(seed=78)
        emulator.script(image, {"caption": "a woman in a red coat"})
        try:
            client.analyze(image_data=image, visual_features=[VisualFeatures.CAPTION])
        finally:
            audit_log.removeHandler(bridge)
            audit_log.setLevel(logging.NOTSET)

        logs = [ld.log_record for ld in exporter.get_finished_logs()]
        bodies = [str(record.body) for record in logs]
        contents = [dict(record.attributes or {}).get("content") for record in logs]
        assert ["analysis.requested", "analysis.completed"] == bodies
        assert not any("red coat" in body for body in bodies)
        expected = {"caption": "a woman in a red coat"} if capture_content else None
        assert expected == contents[-1]

    def test_processor_formatter_renders_once(self, instrumented, client) -> None:
        """A host's structlog ProcessorFormatter renders the fields once, not twice."""
        import structlog

        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                processors=[
                    structlog.stdlib.ExtraAdder(),
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.JSONRenderer(),
                ],
            )
        )
        audit_log = logging.getLogger("vision_audit.audit")
        audit_log.addHandler(handler)
        audit_log.setLevel(logging.INFO)
        try:
            client.analyze(image_data=make_test_image(), visual_features=TAGS)
        finally:
            audit_log.removeHandler(handler)
            audit_log.setLevel(logging.NOTSET)

        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert ["analysis.requested", "analysis.completed"] == [
            line["event"] for line in lines
        ]
        assert isinstance(lines[-1]["data"], dict)


class TestAuditId:
    """The audit id of a result, the result's type untouched."""

    def test_type_unchanged(self, instrumented, client) -> None:
        """Still the SDK's ImageAnalysisResult; the id is 32 hex digits."""
        result = client.analyze(image_data=make_test_image(), visual_features=TAGS)

        assert type(result) is ImageAnalysisResult
        assert 32 == len(get_audit_id(result))

    def test_unaudited(self) -> None:
        """Anything else has no audit id."""
        assert get_audit_id(object()) is None


class TestArguments:
    """What the SDK accepts, the wrapper accepts; what is sent is what is audited."""

    def test_features_as_iterator(self, instrumented, client, store) -> None:
        """A generator of features is read once, and the SDK still gets them."""
        result = client.analyze(
            image_data=make_test_image(), visual_features=(f for f in TAGS)
        )

        assert result.tags is not None
        assert ["tags"] == store.records[0].event.data["features"]

    def test_image_as_stream(self, instrumented, client, store, span_exporter) -> None:
        """An image given as a binary stream is fingerprinted, then sent as read."""
        image = make_test_image(seed=77)

        result = client.analyze(image_data=io.BytesIO(image), visual_features=TAGS)

        digest = hashlib.sha256(image).hexdigest()
        assert result.tags is not None
        assert digest == store.records[0].event.data["image"]["sha256"]
        assert (
            digest == _only_span(span_exporter).attributes["vision_audit.image.sha256"]
        )

    def test_aio_image_as_async_stream(
        self, instrumented, emulator, emulator_key, store
    ) -> None:
        """An object whose read() is a coroutine is awaited, then sent as read."""
        image = make_test_image(seed=78)

        class AsyncStream:
            async def read(self) -> bytes:
                return image

        async def run() -> object:
            async with AsyncClient(
                emulator.endpoint, AzureKeyCredential(emulator_key)
            ) as client:
                return await client.analyze(
                    image_data=AsyncStream(), visual_features=TAGS
                )

        result = asyncio.run(run())

        assert result.tags is not None
        digest = hashlib.sha256(image).hexdigest()
        assert digest == store.records[0].event.data["image"]["sha256"]

    def test_aio_features_as_iterator(
        self, instrumented, emulator, emulator_key, store
    ) -> None:
        """The aio twin reads them once too."""

        async def run() -> None:
            async with AsyncClient(
                emulator.endpoint, AzureKeyCredential(emulator_key)
            ) as client:
                await client.analyze(
                    image_data=io.BytesIO(make_test_image()),
                    visual_features=iter(TAGS),
                )

        asyncio.run(run())

        assert ["tags"] == store.records[0].event.data["features"]
        assert "completed" in store.records[-1].event.type


class TestFailClosed:
    """No unaudited call leaves the process."""

    def test_suppressed_telemetry_still_audited(
        self, instrument, client, store, span_exporter, log_exporter
    ) -> None:
        """suppress_instrumentation(): no span or OTel log record, but the audit."""
        instrument()

        with suppress_instrumentation():
            result = client.analyze(image_data=make_test_image(), visual_features=TAGS)

        kinds = [r.event.type for r in store.records]
        assert ["analysis.requested", "analysis.completed"] == kinds
        assert store.records[0].event.analysis_id == get_audit_id(result)
        assert [] == [
            s
            for s in span_exporter.get_finished_spans()
            if s.instrumentation_scope.name == "vision_audit"
        ]
        assert () == tuple(log_exporter.get_finished_logs())

    def test_suppressed_call_still_checked(
        self, instrument, fresh_client, fresh_emulator, store
    ) -> None:
        """A call the policy refuses is refused under suppression too."""
        instrument(policy=str(POLICIES / "retail-shelf-analytics.toml"))

        with (
            suppress_instrumentation(),
            audit_context(purpose="retail-shelf-analytics"),
        ):
            with pytest.raises(ConsentRequiredError):
                fresh_client.analyze(
                    image_data=make_test_image(),
                    visual_features=[VisualFeatures.TAGS, VisualFeatures.PEOPLE],
                )

        assert 0 == fresh_emulator.requests_received
        assert ["policy.activated", "analysis.denied"] == [
            r.event.type for r in store.records
        ]

    def test_requested_not_recorded(
        self, instrument, fresh_client, fresh_emulator, store, span_exporter
    ) -> None:
        """The store fails: AuditWriteError, and the service receives nothing."""
        instrument()
        store.fail_after = 0

        with pytest.raises(AuditWriteError):
            fresh_client.analyze(image_data=make_test_image(), visual_features=TAGS)

        assert 0 == fresh_emulator.requests_received
        span = _only_span(span_exporter)
        assert StatusCode.ERROR == span.status.status_code
        assert "vision_audit.audit_write_failed" in [e.name for e in span.events]

    def test_completed_not_recorded(self, instrument, client, store) -> None:
        """The result is withheld when its completion cannot be recorded."""
        instrument()
        store.fail_after = 1

        with pytest.raises(AuditWriteError):
            client.analyze(image_data=make_test_image(), visual_features=TAGS)

        assert ["analysis.requested"] == [r.event.type for r in store.records]

    def test_best_effort(
        self, instrument, fresh_client, fresh_emulator, store, span_exporter, caplog
    ) -> None:
        """audit_failure="log": the call goes on, the loss is logged and marked."""
        instrument(audit_failure="log")
        store.fail_after = 0

        with caplog.at_level(logging.ERROR, logger="vision_audit.audit"):
            result = fresh_client.analyze(
                image_data=make_test_image(), visual_features=TAGS
            )

        assert result.tags is not None
        assert 1 == fresh_emulator.requests_received
        assert 2 == sum("audit_write_failed" in r.getMessage() for r in caplog.records)
        assert "vision_audit.audit_write_failed" in [
            e.name for e in _only_span(span_exporter).events
        ]

    def test_bad_option(self, instrument) -> None:
        """A wrong option value is refused, naming what is accepted."""
        with pytest.raises(ValueError, match="'raise' or 'log'"):
            instrument(audit_failure="ignore")

    @pytest.mark.parametrize(
        ("typo", "meant"),
        [
            ("polcy", "policy"),
            ("stor", "store"),
            ("capture_contents", "capture_content"),
        ],
    )
    def test_misspelt_option_refused(
        self, instrument, fresh_client, fresh_emulator, typo, meant
    ) -> None:
        """instrument(polcy=...) raises naming 'policy'; no call goes unchecked."""
        with pytest.raises(TypeError, match=f"did you mean '{meant}'"):
            instrument(**{typo: "x"})

        with pytest.raises(AuditWriteError, match="could not be configured"):
            fresh_client.analyze(image_data=make_test_image(), visual_features=TAGS)

        assert 0 == fresh_emulator.requests_received

    def test_misspelt_variable_refused(self, instrument, monkeypatch) -> None:
        """VISION_AUDIT_POLCY in the environment: refused, naming the right one."""
        monkeypatch.setenv("VISION_AUDIT_POLCY", "policy.toml")

        with pytest.raises(ValueError, match="did you mean 'VISION_AUDIT_POLICY'"):
            instrument()

    def test_client_option_misspelt(self, client, store) -> None:
        """instrument_client() takes the same options, as strictly."""
        with pytest.raises(TypeError, match="instrument_client\\(\\) got the unknown"):
            instrument_client(client, stor=store)


class TestLifecycle:
    """instrument, uninstrument, twice, per client."""

    def test_uninstrument_restores(self, tracer_provider, store) -> None:
        """The SDK's own functions are back, exactly."""
        from azure.ai.vision.imageanalysis import _patch
        from azure.ai.vision.imageanalysis.aio import _patch as aio_patch

        originals = [
            _patch.ImageAnalysisClient.analyze,
            _patch.ImageAnalysisClient.analyze_from_url,
            aio_patch.ImageAnalysisClient.analyze,
            aio_patch.ImageAnalysisClient.analyze_from_url,
        ]
        instrumentor = VisionAuditInstrumentor()
        instrumentor.instrument(tracer_provider=tracer_provider, store=store)
        wrapped = _patch.ImageAnalysisClient.analyze
        instrumentor.uninstrument()

        assert wrapped is not originals[0]
        assert originals == [
            _patch.ImageAnalysisClient.analyze,
            _patch.ImageAnalysisClient.analyze_from_url,
            aio_patch.ImageAnalysisClient.analyze,
            aio_patch.ImageAnalysisClient.analyze_from_url,
        ]

    def test_twice_is_harmless(self, instrument, client, store) -> None:
        """A second instrument() does not double the events."""
        instrument()
        instrument()

        client.analyze(image_data=make_test_image(), visual_features=TAGS)

        assert 2 == len(store.records)

    def test_bad_configuration_refuses_every_call(
        self, instrument, fresh_client, fresh_emulator, store
    ) -> None:
        """Configuration failed: no call leaves unaudited until it is fixed."""
        with pytest.raises(ValueError, match="audit_failure"):
            instrument(audit_failure="rasie")

        with pytest.raises(AuditWriteError, match="could not be configured") as info:
            fresh_client.analyze(image_data=make_test_image(), visual_features=TAGS)

        assert "audit_failure must be 'raise' or 'log'" in str(info.value)
        assert 0 == fresh_emulator.requests_received
        instrument(audit_failure="raise")  # fixed: calls go, audited
        fresh_client.analyze(image_data=make_test_image(), visual_features=TAGS)
        assert 1 == fresh_emulator.requests_received
        assert 2 == len(store.records)

    def test_client_of_its_own_is_not_refused(
        self, tracer_provider, fresh_client, fresh_emulator, make_store
    ) -> None:
        """A client audited on its own works while the process-wide setup refuses."""
        instrumentor = VisionAuditInstrumentor()
        with pytest.raises(ValueError, match="audit_failure"):
            instrumentor.instrument(store=make_store(), audit_failure="rasie")
        own = make_store()
        try:
            instrument_client(fresh_client, store=own, tracer_provider=tracer_provider)
            fresh_client.analyze(image_data=make_test_image(), visual_features=TAGS)
        finally:
            instrumentor.uninstrument()
        fresh_client.analyze(image_data=make_test_image(), visual_features=TAGS)

        assert 2 == fresh_emulator.requests_received
        assert 4 == len(own.records)

    def test_uninstrument_after_failed_configuration(
        self, tracer_provider, fresh_client, fresh_emulator, store
    ) -> None:
        """uninstrument() lifts the refusal: the SDK is the SDK again."""
        instrumentor = VisionAuditInstrumentor()
        with pytest.raises(ValueError, match="capture_content"):
            instrumentor.instrument(store=store, capture_content="flase")

        instrumentor.uninstrument()
        fresh_client.analyze(image_data=make_test_image(), visual_features=TAGS)

        assert 1 == fresh_emulator.requests_received
        assert [] == store.records

    def test_other_options_replace(self, instrument, client, make_store) -> None:
        """An explicit instrument() with other options wins over the one in force."""
        first, second = make_store(), make_store()
        instrument(store=first)
        instrument(store=second)

        client.analyze(image_data=make_test_image(), visual_features=TAGS)

        assert (0, 2) == (len(first.records), len(second.records))

    def test_failed_replacement_keeps_the_configuration(
        self, instrument, client, store
    ) -> None:
        """Other options that fail leave the configuration in force working."""
        instrument()

        with pytest.raises(ValueError, match="audit_failure"):
            instrument(audit_failure="rasie")
        client.analyze(image_data=make_test_image(), visual_features=TAGS)

        assert 2 == len(store.records)

    def test_replacement_lets_calls_in_flight_finish(
        self, instrument, client, emulator, tmp_path
    ) -> None:
        """A call on the wire while the options are replaced is recorded whole."""
        first = f"sqlite:///{tmp_path / 'first.db'}"
        image = make_test_image(seed=88)
        emulator.script(image, {"tags": {"car": 0.9}, "latencyMs": 600})
        instrument(store=first)
        errors: list[BaseException] = []

        def call() -> None:
            try:
                client.analyze(image_data=image, visual_features=TAGS)
            except BaseException as err:  # noqa: BLE001 - reported below
                errors.append(err)

        thread = threading.Thread(target=call)
        thread.start()
        time.sleep(0.2)
        instrument(store=f"sqlite:///{tmp_path / 'second.db'}")
        thread.join(10)

        assert [] == errors
        with open_store(first) as store:
            kinds = [r.event.type for r in store.iter_events()]
        assert ["analysis.requested", "analysis.completed"] == kinds

    def test_instrument_client(
        self, tracer_provider, emulator, emulator_key, store
    ) -> None:
        """Only the opted-in client is audited, and once."""
        audited = instrument_client(
            ImageAnalysisClient(emulator.endpoint, AzureKeyCredential(emulator_key)),
            store=store,
            tracer_provider=tracer_provider,
        )
        plain = ImageAnalysisClient(emulator.endpoint, AzureKeyCredential(emulator_key))

        result = audited.analyze(image_data=make_test_image(), visual_features=TAGS)
        plain.analyze(image_data=make_test_image(), visual_features=TAGS)

        assert type(audited) is ImageAnalysisClient
        assert 2 == len(store.records)
        assert get_audit_id(result) == store.records[0].event.analysis_id

    def test_instrument_client_and_global(
        self, instrument, emulator, emulator_key, store, make_store, tracer_provider
    ) -> None:
        """A client instrumented on its own is audited once, by its own settings."""
        instrument()
        own_store = make_store()
        audited = instrument_client(
            ImageAnalysisClient(emulator.endpoint, AzureKeyCredential(emulator_key)),
            store=own_store,
            tracer_provider=tracer_provider,
        )

        audited.analyze(image_data=make_test_image(), visual_features=TAGS)

        assert 2 == len(own_store.records)
        assert [] == store.records


class TestAio:
    """The aio client, wrapped by the async twin."""

    def test_aio_analyze_and_url(
        self, instrumented, emulator, emulator_key, store, span_exporter
    ) -> None:
        """Both aio operations are audited; failures too."""

        async def run():
            async with AsyncClient(
                emulator.endpoint, AzureKeyCredential(emulator_key)
            ) as client:
                ok = await client.analyze(
                    image_data=make_test_image(), visual_features=TAGS
                )
                url = await client.analyze_from_url(
                    image_url="https://contoso.blob.core.windows.net/claims/car.png?sig=s",
                    visual_features=TAGS,
                )
                with pytest.raises(HttpResponseError):
                    await client.analyze(image_data=b"garbage", visual_features=TAGS)
                return ok, url

        ok, url = asyncio.run(run())

        kinds = [r.event.type for r in store.records]
        assert kinds.count("analysis.requested") == 3
        assert kinds.count("analysis.completed") == 2
        assert kinds.count("analysis.failed") == 1
        assert get_audit_id(ok) != get_audit_id(url)
        assert 3 == len(
            [
                s
                for s in span_exporter.get_finished_spans()
                if s.name == "image_analysis latest"
            ]
        )

    def test_store_writes_do_not_block_the_loop(
        self, instrument, emulator, emulator_key, make_store
    ) -> None:
        """While a slow store records a call's events, the loop serves other tasks."""
        store = make_store()
        writes = store.append

        def slow_append(event):
            time.sleep(0.3)  # a disk that takes its time to sync
            return writes(event)

        store.append = slow_append
        instrument(store=store)

        async def run() -> int:
            ticks = 0

            async def tick() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            ticker = asyncio.create_task(tick())
            async with AsyncClient(
                emulator.endpoint, AzureKeyCredential(emulator_key)
            ) as client:
                await client.analyze(image_data=make_test_image(), visual_features=TAGS)
            ticker.cancel()
            return ticks

        ticks = asyncio.run(run())

        assert ["analysis.requested", "analysis.completed"] == [
            r.event.type for r in store.records
        ]
        assert ticks >= 30  # 0.6 s of writes: about 60 ticks when the loop is free

    @pytest.mark.parametrize("slow", ["analysis.requested", "analysis.completed"])
    def test_cancelled_while_recording(
        self,
        slow,
        instrument,
        emulator,
        emulator_key,
        make_store,
        span_exporter,
    ) -> None:
        """A task cancelled while its event is written lets it finish, span and all."""
        store = make_store()
        writes = store.append

        def slow_append(event):
            if event.type == slow:
                time.sleep(0.3)
            return writes(event)

        store.append = slow_append
        instrument(store=store)

        async def run() -> None:
            async with AsyncClient(
                emulator.endpoint, AzureKeyCredential(emulator_key)
            ) as client:
                call = asyncio.create_task(
                    client.analyze(image_data=make_test_image(), visual_features=TAGS)
                )
                await asyncio.sleep(0.15 if slow == "analysis.requested" else 0.2)
                call.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await call

        asyncio.run(run())

        expected = {
            "analysis.requested": ["analysis.requested", "analysis.failed"],
            "analysis.completed": ["analysis.requested", "analysis.completed"],
        }[slow]
        span = _only_span(span_exporter)
        assert expected == [r.event.type for r in store.records]
        assert expected == [e.name for e in span.events]

    def test_cancelled_call_recorded(
        self, instrumented, emulator, emulator_key, store
    ) -> None:
        """A call cancelled while on the wire ends as analysis.failed, not silence."""
        image = make_test_image(width=233, height=71)
        emulator.script(image, {"latencyMs": 2000})

        async def run() -> None:
            async with AsyncClient(
                emulator.endpoint, AzureKeyCredential(emulator_key)
            ) as client:
                call = asyncio.create_task(
                    client.analyze(image_data=image, visual_features=TAGS)
                )
                await asyncio.sleep(0.3)
                call.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await call

        asyncio.run(run())

        requested, failed = (r.event for r in store.records)
        assert ["analysis.requested", "analysis.failed"] == [
            requested.type,
            failed.type,
        ]
        assert requested.analysis_id == failed.analysis_id
        assert "asyncio.exceptions.CancelledError" == failed.data["error_type"]

    def test_instrument_aio_client(
        self, emulator, emulator_key, make_store, tracer_provider
    ) -> None:
        """instrument_client works for an aio client."""
        own_store = make_store()

        async def run():
            client = instrument_client(
                AsyncClient(emulator.endpoint, AzureKeyCredential(emulator_key)),
                store=own_store,
                tracer_provider=tracer_provider,
            )
            async with client:
                return await client.analyze(
                    image_data=make_test_image(), visual_features=TAGS
                )

        result = asyncio.run(run())

        assert get_audit_id(result) == own_store.records[0].event.analysis_id
