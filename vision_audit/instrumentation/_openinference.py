"""
OpenInference attributes of the analyze span, so that Phoenix and MLflow show the call.

Both viewers read the span kind and an input and output preview from these names.
The input is the request as the span already describes it (no image bytes, no URL
query); the output is what the application got, after the policy. Content (caption,
dense captions, read text) joins the output only when it is captured, and then the
span says so in ``vision_audit.content.captured`` so that a collector can drop it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

from vision_audit import attributes as attrs

if TYPE_CHECKING:
    from collections.abc import Mapping

    from vision_audit.context import AuditContext
    from vision_audit.models import AnalysisCall
    from vision_audit.policy import PostOutcome


# One encoder for every call: json.dumps() with options builds a new one each time.
_ENCODER: Final = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), default=str
)


def _json(value: Mapping[str, Any]) -> str:
    return _ENCODER.encode(value)


def input_attributes(
    call: AnalysisCall, context: AuditContext, model: str
) -> dict[str, Any]:
    """Span kind, model and the request as JSON, known before the call."""
    request: dict[str, Any] = {
        "operation": call.operation,
        "features": list(call.features),
        "model_version": model,
    }
    if call.image is not None:
        request["image"] = dict(call.image)
    if call.url is not None:
        request["image_url"] = call.url
    for name in ("language", "gender_neutral_caption", "smart_crops_aspect_ratios"):
        if name in call.options:
            request[name] = call.options[name]
    if context.purpose is not None:
        request["purpose"] = context.purpose
    return {
        attrs.OPENINFERENCE_SPAN_KIND: attrs.SPAN_KIND_VALUE,
        attrs.LLM_PROVIDER: attrs.LLM_PROVIDER_VALUE,
        attrs.LLM_MODEL_NAME: model,
        attrs.INPUT_JSON: _json(request),
        attrs.INPUT_MIME_TYPE: attrs.JSON_MIME_TYPE,
    }


def output_attributes(
    *,
    model_version: str | None,
    results: Mapping[str, Any],
    content: Mapping[str, Any],
    outcome: PostOutcome | None,
) -> dict[str, Any]:
    """The result the application got as JSON, and the model that answered."""
    output: dict[str, Any] = {"results": dict(results)}
    if outcome is not None:
        output["flags"] = sorted(outcome.flags)
        output["review_required"] = outcome.review_required
        if outcome.withheld:
            output["withheld"] = attrs.WITHHELD_TAG_BLOCKED
    if content:
        output["content"] = dict(content)
    attributes: dict[str, Any] = {
        attrs.OUTPUT_JSON: _json(output),
        attrs.OUTPUT_MIME_TYPE: attrs.JSON_MIME_TYPE,
    }
    if content:
        attributes[attrs.CONTENT_CAPTURED] = True
    if model_version:
        attributes[attrs.LLM_MODEL_NAME] = model_version
    return attributes
