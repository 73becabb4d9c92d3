"""
Spans written to a file as one OTLP/JSON ``ExportTraceServiceRequest``.

The file is what an OTLP/HTTP client would POST with ``Content-Type:
application/json``, so a viewer can import it: post it to MLflow's or a Collector's
``/v1/traces``, or open it in Jaeger's UI (Search, Upload). The encoding follows the
OTLP specification's JSON mapping: lowerCamelCase field names, trace and span ids as
hex strings, enums as integers, 64-bit integers as decimal strings.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

if TYPE_CHECKING:
    from pathlib import Path

    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.trace import Link
    from opentelemetry.util.types import Attributes, AttributeValue

# SpanKind and StatusCode as OTLP numbers them (the SDK's enums start elsewhere).
_KIND = {"INTERNAL": 1, "SERVER": 2, "CLIENT": 3, "PRODUCER": 4, "CONSUMER": 5}
_STATUS = {"UNSET": 0, "OK": 1, "ERROR": 2}


def _any_value(value: AttributeValue | Sequence[AttributeValue]) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, Sequence):
        return {"arrayValue": {"values": [_any_value(v) for v in value]}}
    msg = f"not an attribute value: {type(value).__name__}"
    raise TypeError(msg)


def _attributes(attributes: Attributes) -> list[dict[str, Any]]:
    return [{"key": k, "value": _any_value(v)} for k, v in (attributes or {}).items()]


def _event(event: Event) -> dict[str, Any]:
    return {
        "timeUnixNano": str(event.timestamp),
        "name": event.name,
        "attributes": _attributes(event.attributes),
    }


def _link(link: Link) -> dict[str, Any]:
    return {
        "traceId": format(link.context.trace_id, "032x"),
        "spanId": format(link.context.span_id, "016x"),
        "attributes": _attributes(link.attributes),
    }


def _span(span: ReadableSpan) -> dict[str, Any]:
    context = span.get_span_context()
    assert context is not None  # noqa: S101 - the SDK's spans always have one
    encoded: dict[str, Any] = {
        "traceId": format(context.trace_id, "032x"),
        "spanId": format(context.span_id, "016x"),
        "name": span.name,
        "kind": _KIND[span.kind.name],
        "startTimeUnixNano": str(span.start_time),
        "endTimeUnixNano": str(span.end_time),
        "attributes": _attributes(span.attributes),
        "events": [_event(e) for e in span.events],
        "links": [_link(link) for link in span.links],
        "status": {"code": _STATUS[span.status.status_code.name]},
    }
    if span.parent is not None:
        encoded["parentSpanId"] = format(span.parent.span_id, "016x")
    if span.status.description:
        encoded["status"]["message"] = span.status.description
    return encoded


def encode_spans(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """One ``ExportTraceServiceRequest``: spans grouped by resource, then by scope."""
    resources: dict[int, tuple[ReadableSpan, dict[tuple[str, str], list[Any]]]] = {}
    for span in spans:
        _, scopes = resources.setdefault(id(span.resource), (span, {}))
        scope = span.instrumentation_scope
        key = (scope.name, scope.version or "") if scope is not None else ("", "")
        scopes.setdefault(key, []).append(_span(span))
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": _attributes(first.resource.attributes)},
                "scopeSpans": [
                    {"scope": {"name": name, "version": version}, "spans": encoded}
                    for (name, version), encoded in scopes.items()
                ],
            }
            for first, scopes in resources.values()
        ]
    }


class OTLPJSONFileExporter(SpanExporter):
    """Keeps the spans it is given and writes them to *path* at shutdown."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Keep *spans* for the file."""
        self._spans.extend(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Write the file: one JSON document, every span."""
        text = json.dumps(encode_spans(self._spans), ensure_ascii=False, indent=1)
        self._path.write_text(text + "\n", encoding="utf-8")
