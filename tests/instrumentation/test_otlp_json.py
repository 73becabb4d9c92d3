"""The demo's trace file: OTLP/JSON that the protocol's own schema accepts."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from vision_audit.demo._otlp_json import OTLPJSONFileExporter

if TYPE_CHECKING:
    from pathlib import Path

_ID_FIELDS = {"traceId", "spanId", "parentSpanId"}


def _as_protobuf_json(value: Any) -> Any:
    """OTLP/JSON's hex ids as protobuf's JSON mapping wants them (base64)."""
    if isinstance(value, dict):
        return {
            k: base64.b64encode(bytes.fromhex(v)).decode()
            if k in _ID_FIELDS
            else _as_protobuf_json(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_as_protobuf_json(v) for v in value]
    return value


def _write(path: Path) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "svc"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPJSONFileExporter(path)))
    tracer = provider.get_tracer("vision_audit", "9.9")
    with tracer.start_as_current_span("demo call") as parent:
        with tracer.start_as_current_span(
            "image_analysis latest",
            kind=SpanKind.CLIENT,
            attributes={
                "s": "é ✓",
                "i": 2**40,
                "f": 0.93,
                "b": True,
                "names": ["shelf", "man"],
                "confidences": [0.9, 0.8],
            },
        ) as child:
            child.add_event("analysis.requested", {"vision_audit.audit.sequence": 7})
            child.set_status(Status(StatusCode.ERROR, "HttpResponseError"))
        tracer.start_span(
            "vision_audit.review.decide", links=[Link(parent.get_span_context())]
        ).end()
    provider.shutdown()


class TestOTLPJSONFile:
    """Every field survives the OTLP schema, strictly parsed."""

    def test_schema_and_values(self, tmp_path) -> None:
        """Ids in hex, ints as strings, kinds and status as OTLP numbers them."""
        path = tmp_path / "traces.json"
        _write(path)
        document = json.loads(path.read_text(encoding="utf-8"))

        request = json_format.ParseDict(
            _as_protobuf_json(document), ExportTraceServiceRequest()
        )

        (resource,) = request.resource_spans
        (scope,) = resource.scope_spans
        assert ("vision_audit", "9.9") == (scope.scope.name, scope.scope.version)
        spans = {span.name: span for span in scope.spans}
        child, parent = spans["image_analysis latest"], spans["demo call"]
        decide = spans["vision_audit.review.decide"]
        assert child.parent_span_id == parent.span_id
        assert child.trace_id == parent.trace_id
        assert 3 == child.kind  # SPAN_KIND_CLIENT
        assert (2, "HttpResponseError") == (child.status.code, child.status.message)
        values = {a.key: a.value for a in child.attributes}
        assert "é ✓" == values["s"].string_value
        assert 2**40 == values["i"].int_value
        assert ["shelf", "man"] == [
            v.string_value for v in values["names"].array_value.values
        ]
        assert values["b"].bool_value is True
        assert "analysis.requested" == child.events[0].name
        assert [parent.span_id] == [link.span_id for link in decide.links]
        assert any(a.key == "service.name" for a in resource.resource.attributes)
        raw = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
        assert all(len(s["traceId"]) == 32 and len(s["spanId"]) == 16 for s in raw)
