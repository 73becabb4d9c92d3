"""
Every span, event and log key that vision-audit writes, in one place.

Names follow OpenTelemetry's semantic conventions where one fits (``server.*``,
``error.type``, ``http.response.status_code``, the GenAI ``gen_ai.*`` names for the
operation, provider and model) and live under ``vision_audit.*`` otherwise. The
reference table in ``docs/attributes.md`` lists each with its type; a test keeps the two
in step.
"""

from __future__ import annotations

from typing import Final

# -- spans and events ----------------------------------------------------------


def analyze_span_name(model: str) -> str:
    """
    Name of the span around one analyze call: ``image_analysis {model}``.

    The GenAI pattern, ``{gen_ai.operation.name} {gen_ai.request.model}``: the model
    is the ``model-version`` asked for, ``latest`` unless pinned, so the names stay few.
    """
    return f"{OPERATION_NAME_VALUE} {model}"


SPAN_NAME_REVIEW_DECIDE: Final = "vision_audit.review.decide"
"""Name of the span around one recorded review decision, linked to the analysis span."""

INSTRUMENTATION_SCOPE: Final = "vision_audit"
"""Tracer, logger and meter name."""

EVENT_REQUESTED: Final = "analysis.requested"
EVENT_COMPLETED: Final = "analysis.completed"
EVENT_FAILED: Final = "analysis.failed"
EVENT_DENIED: Final = "analysis.denied"
EVENT_TAGS_FILTERED: Final = "tags.filtered"
EVENT_REVIEW_REQUIRED: Final = "review.required"
EVENT_REVIEW_DECIDED: Final = "review.decided"
"""A human decided a flagged analysis (approve, reject, override, escalate)."""
EVENT_REVIEW_GATE_RELEASED: Final = "review.gate_released"
"""A gated call got its decision in time: its result was released or withheld."""
EVENT_REVIEW_GATE_TIMED_OUT: Final = "review.gate_timed_out"
"""A gated call got no decision in time: the policy's ``gate_default`` applied."""
EVENT_CONSENT_GRANTED: Final = "consent.granted"
"""A data subject's consent to a purpose, recorded by the privacy office."""
EVENT_CONSENT_REVOKED: Final = "consent.revoked"
"""A consent withdrawn (or corrected); later calls under it are refused."""
EVENT_CONTENT_PURGED: Final = "content.purged"
"""Personal content older than the retention period removed (``purge``)."""
EVENT_SUBJECT_ERASED: Final = "subject.erased"
"""Every piece of one data subject's personal content removed (``erase-subject``)."""
EVENT_POLICY_ACTIVATED: Final = "policy.activated"
"""A policy put in force: its name, version, mode and whole document, under its id."""
EVENT_AUDIT_WRITE_FAILED: Final = "vision_audit.audit_write_failed"
"""Span event when an audit event could not be recorded."""

# -- OpenTelemetry semantic conventions reused ---------------------------------

GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
"""Always ``image_analysis``."""
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
"""Always ``azure.ai.vision``."""
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
"""The ``model-version`` asked for (``latest`` unless pinned)."""
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
"""The model version that answered (``modelVersion`` of the result)."""
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"
"""Fully qualified exception class, e.g. ``azure.core.exceptions.HttpResponseError``."""
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"
AZ_NAMESPACE: Final = "az.namespace"
"""Azure resource provider, ``Microsoft.CognitiveServices``, as azure-core sets it."""

# -- the request ---------------------------------------------------------------

ANALYSIS_ID: Final = "vision_audit.analysis.id"
"""Correlates the span, the log events and the audit store's events of one call."""
OPERATION: Final = "vision_audit.operation"
"""``analyze`` (image bytes) or ``analyze_from_url``."""
API_VERSION: Final = "vision_audit.request.api_version"
FEATURES: Final = "vision_audit.request.features"
"""Visual features requested, as the service names them (string array)."""
LANGUAGE: Final = "vision_audit.request.language"
GENDER_NEUTRAL_CAPTION: Final = "vision_audit.request.gender_neutral_caption"
SMART_CROPS_ASPECT_RATIOS: Final = "vision_audit.request.smart_crops_aspect_ratios"

IMAGE_SHA256: Final = "vision_audit.image.sha256"
IMAGE_SIZE: Final = "vision_audit.image.size"
"""Byte size of the image sent."""
IMAGE_FORMAT: Final = "vision_audit.image.format"
"""Format from the image header (``JPEG``, ``PNG``...); ``unknown`` if unreadable."""
IMAGE_WIDTH: Final = "vision_audit.image.width"
IMAGE_HEIGHT: Final = "vision_audit.image.height"
IMAGE_URL: Final = "vision_audit.image.url"
"""URL of an analyze_from_url call, reduced to scheme, host and path."""

# -- the audit context ---------------------------------------------------------

ACTOR: Final = "vision_audit.context.actor"
PURPOSE: Final = "vision_audit.context.purpose"
CONSENT_REF: Final = "vision_audit.context.consent_ref"
SUBJECT_REF: Final = "vision_audit.context.subject_ref"
"""The subject's pseudonym (keyed hash) from the audit store; never the raw ref."""
LABEL_PREFIX: Final = "vision_audit.context.label."
"""Prefix of free-form labels given to ``audit_context(**labels)``."""

# -- the outcome ---------------------------------------------------------------

DURATION_MS: Final = "vision_audit.duration_ms"
TAGS_COUNT: Final = "vision_audit.result.tags.count"
TAGS_NAMES: Final = "vision_audit.result.tags.names"
TAGS_CONFIDENCES: Final = "vision_audit.result.tags.confidences"
"""Parallel to ``tags.names``."""
OBJECTS_COUNT: Final = "vision_audit.result.objects.count"
OBJECTS_NAMES: Final = "vision_audit.result.objects.names"
PEOPLE_COUNT: Final = "vision_audit.result.people.count"
"""People detected with confidence at or above the threshold (0.5 by default)."""
PEOPLE_DETECTIONS: Final = "vision_audit.result.people.detections"
"""Every person detection, low-confidence ones included."""
TEXT_READ: Final = "vision_audit.result.read.text_found"
READ_LINES: Final = "vision_audit.result.read.lines"
CAPTION_PRESENT: Final = "vision_audit.result.caption.present"
CAPTION_CONFIDENCE: Final = "vision_audit.result.caption.confidence"
DENSE_CAPTIONS_COUNT: Final = "vision_audit.result.dense_captions.count"
SMART_CROPS_COUNT: Final = "vision_audit.result.smart_crops.count"
SERVICE_ERROR_CODE: Final = "vision_audit.error.code"
"""The service's error code (``InvalidRequest``, ``401``...)."""
SERVICE_INNER_ERROR_CODE: Final = "vision_audit.error.inner_code"
"""The service's inner error code (``InvalidImageFormat``...), when it gives one."""
POLICY_ID: Final = "vision_audit.policy.id"
"""Hash of the policy in force (``sha256:...``)."""
POLICY_MODE: Final = "vision_audit.policy.mode"
"""``enforce`` or ``audit``."""
POLICY_DECISION: Final = "vision_audit.policy.decision"
"""``allowed``, ``denied`` or ``allowed_with_violations`` (audit mode)."""
POLICY_VIOLATIONS: Final = "vision_audit.policy.violations"
"""Codes of the pre-call violations found (``consent-expired``...)."""
TAGS_DROPPED: Final = "vision_audit.result.tags.dropped"
"""Tag and object names removed from the result before the application saw it."""
RESULT_FLAGS: Final = "vision_audit.result.flags"
"""Sensitive-content flags: ``people``, ``text``, ``health``, ``low_confidence``."""
REVIEW_REQUIRED: Final = "vision_audit.review.required"
RESULT_WITHHELD: Final = "vision_audit.result.withheld"
"""Why the application got no result: ``tag-blocked``; absent when it got one."""
WITHHELD_TAG_BLOCKED: Final = "tag-blocked"
"""A block-listed tag came back and the purpose sets ``on_blocked = "withhold"``."""
RESULT_BLOCKED: Final = "vision_audit.result.blocked"
"""The block-listed names that withheld the result."""
REVIEW_GATE_ACTION: Final = "vision_audit.review.gate.action"
"""What a review gate did with the result: ``release`` or ``withhold``."""
REVIEW_GATE_TIMED_OUT: Final = "vision_audit.review.gate.timed_out"
"""True when no decision came within ``gate_timeout``."""
REVIEW_GATE_WAITED_MS: Final = "vision_audit.review.gate.waited_ms"
"""How long the gate held the result."""

# -- review decisions (the vision_audit.review.decide span) --------------------

REVIEW_DECISION: Final = "vision_audit.review.decision"
"""``approve``, ``reject``, ``override`` or ``escalate``."""
REVIEW_REVIEWER: Final = "vision_audit.review.reviewer"
"""Who decided, as the reviewer identifies themselves."""
REVIEW_SUPERSEDES: Final = "vision_audit.review.supersedes"
"""Event id of the earlier decision that this one corrects."""
REVIEW_TAGS_ADDED: Final = "vision_audit.review.tags.added"
"""Tags an override adds to the result."""
REVIEW_TAGS_REMOVED: Final = "vision_audit.review.tags.removed"
"""Tags an override removes from the result."""
REVIEW_FOUR_EYES: Final = "vision_audit.review.four_eyes"
"""True when the analysis' own actor was barred from deciding it."""
REVIEW_OVERDUE: Final = "vision_audit.review.overdue"
"""True when the decision came after the review deadline."""
AUDIT_SEQUENCE: Final = "vision_audit.audit.sequence"
"""Sequence number of the event in the audit store."""
AUDIT_EVENT_ID: Final = "vision_audit.audit.event_id"

# -- OpenInference, read by Arize Phoenix and MLflow -----------------------------

OPENINFERENCE_SPAN_KIND: Final = "openinference.span.kind"
"""
``LLM`` on the analysis span (a call to a hosted model, as OpenInference classes it);
``GUARDRAIL`` on a review decision (a check that keeps, changes or rejects a result).
"""
INPUT_JSON: Final = "input.value"
"""The request as JSON: operation, features, model, image fingerprint or URL."""
INPUT_MIME_TYPE: Final = "input.mime_type"
OUTPUT_JSON: Final = "output.value"
"""
What the application got, as JSON: the result's facts after the policy, its flags and
review; the caption and read text only when content is captured.
"""
OUTPUT_MIME_TYPE: Final = "output.mime_type"
LLM_MODEL_NAME: Final = "llm.model_name"
"""The model version that answered, else the one asked for."""
LLM_PROVIDER: Final = "llm.provider"
"""Always ``azure``."""

# -- content, captured only when opted in --------------------------------------

CONTENT_CAPTION: Final = "vision_audit.content.caption"
CONTENT_DENSE_CAPTIONS: Final = "vision_audit.content.dense_captions"
CONTENT_READ_TEXT: Final = "vision_audit.content.read_text"
CONTENT_CAPTURED: Final = "vision_audit.content.captured"
"""``true`` when ``output.value`` carries content: a collector can drop it by this."""

# -- baggage keys an upstream service may set ----------------------------------

BAGGAGE_ACTOR: Final = "vision_audit.actor"
BAGGAGE_PURPOSE: Final = "vision_audit.purpose"
BAGGAGE_CONSENT_REF: Final = "vision_audit.consent_ref"
BAGGAGE_SUBJECT_REF: Final = "vision_audit.subject_ref"
BAGGAGE_LABEL_PREFIX: Final = "vision_audit.label."

# -- constant values -----------------------------------------------------------

OPERATION_NAME_VALUE: Final = "image_analysis"
PROVIDER_NAME_VALUE: Final = "azure.ai.vision"
AZ_NAMESPACE_VALUE: Final = "Microsoft.CognitiveServices"
SPAN_KIND_VALUE: Final = "LLM"
REVIEW_SPAN_KIND_VALUE: Final = "GUARDRAIL"
LLM_PROVIDER_VALUE: Final = "azure"
JSON_MIME_TYPE: Final = "application/json"


# -- metrics (instrument names, and the attributes only they use) ----------------

METRIC_DURATION: Final = "gen_ai.client.operation.duration"
"""Histogram of call durations in seconds (GenAI semantic conventions)."""
METRIC_CALLS: Final = "vision_audit.calls"
METRIC_DENIALS: Final = "vision_audit.denials"
METRIC_TAGS_REMOVED: Final = "vision_audit.tags.removed"
METRIC_REVIEWS_REQUIRED: Final = "vision_audit.reviews.required"
METRIC_WRITE_FAILURES: Final = "vision_audit.audit.write_failures"
METRIC_OUTCOME: Final = "vision_audit.outcome"
"""``completed``, ``failed`` or ``denied``."""
METRIC_DENIAL_REASON: Final = "vision_audit.denial.reason"
METRIC_RULE: Final = "vision_audit.rule"
METRIC_EVENT_TYPE: Final = "vision_audit.event.type"
