"""Wrapper factories for ``analyze`` and ``analyze_from_url``, sync and aio twins."""

from __future__ import annotations

import contextlib
import enum
import functools
import inspect
import time
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, NoReturn
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import SpanKind, Status, StatusCode

from vision_audit import attributes as attrs
from vision_audit import events
from vision_audit._fingerprint import fingerprint_image, redact_url
from vision_audit._threads import Deferred, OffLoop, off_loop
from vision_audit.context import AuditContext, get_audit_context
from vision_audit.exceptions import TagBlockedError
from vision_audit.instrumentation._extractors import (
    EXTRACTORS,
    wire_lines,
    wire_values,
)
from vision_audit.instrumentation._openinference import (
    input_attributes,
    output_attributes,
)
from vision_audit.models import AnalysisCall, RecordedEvent
from vision_audit.review._gate import open_review_gate
from vision_audit.sinks import Recorder
from vision_audit.version import __version__

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from contextlib import AbstractContextManager

    from opentelemetry.trace import Span

    from vision_audit._settings import Settings
    from vision_audit.policy import PostOutcome, PreCheck, TagFilter
    from vision_audit.review._gate import ReviewGate

__all__ = ["CallTracer", "get_audit_id", "make_async_wrapper", "make_sync_wrapper"]

CLIENT_MARK: Final = "_vision_audit_client_tracer"
"""Attribute set on a client instrumented on its own; the global wrappers step aside."""

_audit_ids: dict[int, str] = {}


def get_audit_id(result: object) -> str | None:
    """
    The analysis id under which *result* was audited, or None if it was not.

    The result keeps its type: the id is held beside it, for as long as it lives.
    Look the id up in the audit store, the logs (``analysis_id``) or the trace
    viewer (``vision_audit.analysis.id``).

    .. versionadded:: 0.1.0
    """
    return _audit_ids.get(id(result))


def _remember(result: object, analysis_id: str) -> None:
    key = id(result)
    try:
        weakref.finalize(result, _audit_ids.pop, key, None)
    except TypeError:
        return  # not weak-referenceable: nothing can be held beside it safely
    _audit_ids[key] = analysis_id


def _keep(result: Mapping[str, Any], key: str, dropped: set[int]) -> None:
    if not dropped:
        return
    values = wire_values(result, key) or []
    values[:] = [value for value in values if id(value) not in dropped]


def _content_attributes(content: Mapping[str, Any]) -> dict[str, Any]:
    names = (
        (attrs.CONTENT_CAPTION, "caption"),
        (attrs.CONTENT_DENSE_CAPTIONS, "dense_captions"),
        (attrs.CONTENT_READ_TEXT, "read_text"),
    )
    return {key: content[name] for key, name in names if name in content}


def _outcome_attributes(outcome: PostOutcome) -> dict[str, Any]:
    dropped = (*outcome.tag_verdicts, *outcome.object_verdicts)
    return {
        attrs.TAGS_DROPPED: [v.name for v in dropped if not v.kept],
        attrs.RESULT_FLAGS: sorted(outcome.flags),
        attrs.REVIEW_REQUIRED: outcome.review_required,
    }


def _withhold(call: AnalysisCall, outcome: PostOutcome, *, recorded: bool) -> NoReturn:
    """Raise :class:`TagBlockedError` for a result the policy withholds."""
    # The names are block-list entries (normalised, bounded by the policy loader).
    named = ", ".join(repr(name[:100]) for name in outcome.blocked[:20])
    more = len(outcome.blocked) - 20
    where = (
        "the answer is recorded in the audit store"
        if recorded
        else "the answer could not be recorded in the audit store (see the log)"
    )
    msg = (
        f"the result of analysis {call.analysis_id} is withheld: the block list of "
        f"purpose {str(outcome.purpose)[:100]!r} names {named}"
        + (f" and {more} more" if more > 0 else "")
        + f' (on_blocked = "withhold"); {where}'
    )
    raise TagBlockedError(
        msg,
        analysis_id=call.analysis_id,
        purpose=outcome.purpose,
        tags=outcome.blocked,
    )


_OPTIONS: Final = (
    "language",
    "gender_neutral_caption",
    "smart_crops_aspect_ratios",
    "model_version",
)
"""The SDK's keyword options that the audit records, when given."""


@functools.lru_cache(maxsize=64)
def _host_and_port(endpoint: str) -> tuple[str, int | None]:
    """Host and port of a client's endpoint; parsed once per endpoint."""
    try:
        split = urlsplit(endpoint)
        host, port = split.hostname or "", split.port
    except ValueError:
        return "", None
    return host, port


def _model_version(result: object) -> str | None:
    """The model that answered, read from the wire data where the result has it."""
    # The SDK's model deserializes a property on each access; its dict is at hand.
    version: str | None = (
        result.get("modelVersion")
        if isinstance(result, Mapping)
        else getattr(result, "model_version", None)
    )
    return version


def _feature_name(feature: object) -> str:
    return str(feature.value) if isinstance(feature, enum.Enum) else str(feature)


def _argument(
    args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str
) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[index] if len(args) > index else None


def _read_once(
    operation: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """*args* and *kwargs* with iterators and streams replaced by what they held."""
    replaced = {}
    features = _argument(args, kwargs, 1, "visual_features")
    if features is not None and not isinstance(features, list | tuple | str):
        replaced[1, "visual_features"] = list(features)
    if operation == "analyze":
        data = _argument(args, kwargs, 0, "image_data")
        read = getattr(data, "read", None)
        if (
            not isinstance(data, bytes | bytearray | memoryview)
            and callable(read)
            and not inspect.iscoroutinefunction(read)  # the aio twin awaits those
        ):
            replaced[0, "image_data"] = read()
    if not replaced:
        return args, kwargs
    positional, named = list(args), dict(kwargs)
    for (index, name), value in replaced.items():
        if name in named:
            named[name] = value
        else:
            positional[index] = value
    return tuple(positional), named


async def _read_async_stream(
    args: tuple[Any, ...], kwargs: dict[str, Any], operation: str
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """An image given as an asynchronous stream, read on the loop and passed on."""
    data = _argument(args, kwargs, 0, "image_data") if operation == "analyze" else None
    read = getattr(data, "read", None)
    if data is None or not inspect.iscoroutinefunction(read):
        return args, kwargs
    content = await read()
    if "image_data" in kwargs:
        return args, {**kwargs, "image_data": content}
    return (content, *args[1:]), kwargs


def _error_codes(error: BaseException) -> tuple[int | None, str | None, str | None]:
    status = getattr(error, "status_code", None)
    odata = getattr(error, "error", None)
    code = getattr(odata, "code", None)
    inner = getattr(odata, "innererror", None)
    inner_code = inner.get("code") if isinstance(inner, dict) else None
    return (
        status if isinstance(status, int) else None,
        code if isinstance(code, str) else None,
        inner_code if isinstance(inner_code, str) else None,
    )


def _qualified_name(error: BaseException) -> str:
    kind = type(error)
    return f"{kind.__module__}.{kind.__qualname__}"


class CallTracer:
    """Everything one instrumentation needs per call: settings, tracer, recorder."""

    def __init__(self, settings: Settings) -> None:
        """Get the tracer and build the sinks from *settings*."""
        self.settings = settings
        self.tracer = trace.get_tracer(
            attrs.INSTRUMENTATION_SCOPE,
            __version__,
            tracer_provider=settings.tracer_provider,
        )
        self.recorder = Recorder(settings)

    # -- before the call --------------------------------------------------------------

    def prepare(
        self,
        operation: str,
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> tuple[AnalysisCall, AuditContext, tuple[Any, ...], dict[str, Any]]:
        """
        The call's facts, the audit context it runs in, and the arguments to send.

        What can be read only once is read here and passed on as read: features
        given as an iterator become a list, an image given as a stream its bytes;
        so the SDK sends what was audited.
        """
        args, kwargs = _read_once(operation, args, kwargs)
        config = getattr(instance, "_config", None)
        host, port = _host_and_port(str(getattr(config, "endpoint", "") or ""))
        features = tuple(
            _feature_name(f)
            for f in (_argument(args, kwargs, 1, "visual_features") or ())
        )
        options = {
            name: kwargs[name] for name in _OPTIONS if kwargs.get(name) is not None
        }
        image = url = None
        if operation == "analyze":
            data = _argument(args, kwargs, 0, "image_data")
            if isinstance(data, bytes | bytearray | memoryview):
                image = fingerprint_image(data).as_json()
        else:
            raw_url = _argument(args, kwargs, 0, "image_url")
            url = redact_url(raw_url) if isinstance(raw_url, str) else None
        call = AnalysisCall(
            operation=operation,
            endpoint_host=host,
            endpoint_port=port,
            api_version=str(getattr(config, "api_version", "") or ""),
            features=features,
            options=options,
            image=image,
            url=url,
        )
        return (
            call,
            get_audit_context(baggage=self.settings.read_baggage),
            args,
            kwargs,
        )

    def request_attributes(
        self, call: AnalysisCall, context: AuditContext, model: str
    ) -> dict[str, Any]:
        """The span's attributes known before the call; *model*: the one asked for."""
        attributes: dict[str, Any] = {
            attrs.GEN_AI_OPERATION_NAME: attrs.OPERATION_NAME_VALUE,
            attrs.GEN_AI_PROVIDER_NAME: attrs.PROVIDER_NAME_VALUE,
            attrs.AZ_NAMESPACE: attrs.AZ_NAMESPACE_VALUE,
            attrs.ANALYSIS_ID: call.analysis_id,
            attrs.OPERATION: call.operation,
            attrs.SERVER_ADDRESS: call.endpoint_host,
            attrs.API_VERSION: call.api_version,
            attrs.FEATURES: list(call.features),
            attrs.GEN_AI_REQUEST_MODEL: model,
        }
        if call.endpoint_port is not None:
            attributes[attrs.SERVER_PORT] = call.endpoint_port
        attributes.update(self._option_attributes(call))
        attributes.update(self._image_attributes(call))
        known = (
            (attrs.ACTOR, context.actor),
            (attrs.PURPOSE, context.purpose),
            (attrs.CONSENT_REF, context.consent_ref),
        )
        attributes.update({key: value for key, value in known if value is not None})
        attributes.update(
            {attrs.LABEL_PREFIX + name: value for name, value in context.labels.items()}
        )
        attributes.update(input_attributes(call, context, model))
        return attributes

    @staticmethod
    def _option_attributes(call: AnalysisCall) -> dict[str, Any]:
        attributes: dict[str, Any] = {}
        if "language" in call.options:
            attributes[attrs.LANGUAGE] = str(call.options["language"])
        if "gender_neutral_caption" in call.options:
            attributes[attrs.GENDER_NEUTRAL_CAPTION] = bool(
                call.options["gender_neutral_caption"]
            )
        if "smart_crops_aspect_ratios" in call.options:
            attributes[attrs.SMART_CROPS_ASPECT_RATIOS] = [
                float(r) for r in call.options["smart_crops_aspect_ratios"]
            ]
        return attributes

    @staticmethod
    def _image_attributes(call: AnalysisCall) -> dict[str, Any]:
        attributes: dict[str, Any] = {}
        if call.image is not None:
            attributes[attrs.IMAGE_SHA256] = call.image["sha256"]
            attributes[attrs.IMAGE_SIZE] = call.image["size"]
            attributes[attrs.IMAGE_FORMAT] = call.image["format"]
            if call.image["width"] is not None:
                attributes[attrs.IMAGE_WIDTH] = call.image["width"]
                attributes[attrs.IMAGE_HEIGHT] = call.image["height"]
        if call.url is not None:
            attributes[attrs.IMAGE_URL] = call.url
        return attributes

    # -- the three moments ------------------------------------------------------------

    @staticmethod
    def _ids(span: Span) -> tuple[str | None, str | None]:
        context = span.get_span_context()
        if not context.is_valid:
            return None, None
        return format(context.trace_id, "032x"), format(context.span_id, "016x")

    @property
    def policy_id(self) -> str | None:
        """The id of the policy in force, if any."""
        engine = self.settings.policy
        return None if engine is None else engine.policy_id

    def check_policy(
        self, call: AnalysisCall, context: AuditContext, span: Span
    ) -> PreCheck | None:
        """
        Judge the call before anything is sent; record and raise a denial.

        Returns:
            The verdict, or None without a policy.

        Raises:
            ConsentRequiredError: The policy denies the call (``analysis.denied``
                is recorded first; nothing is sent).
            AuditWriteError: The denial could not be recorded, in fail-closed mode.
        """
        engine = self.settings.policy
        if engine is None:
            return None
        verdict = engine.check_request(
            purpose=context.purpose,
            consent_ref=context.consent_ref,
            subject_ref=context.subject_ref,
            features=call.features,
        )
        if not verdict.allowed:
            decision = "denied"
        elif verdict.violations:
            decision = "allowed_with_violations"
        else:
            decision = "allowed"
        if span.is_recording():
            span.set_attributes(
                {
                    attrs.POLICY_ID: engine.policy_id,
                    attrs.POLICY_MODE: verdict.mode,
                    attrs.POLICY_DECISION: decision,
                    attrs.POLICY_VIOLATIONS: [v.code for v in verdict.violations],
                }
            )
        if verdict.allowed:
            return verdict
        trace_id, span_id = self._ids(span)
        event = events.denied_event(
            call,
            context,
            trace_id=trace_id,
            span_id=span_id,
            policy_id=engine.policy_id,
            verdict=verdict.as_dict(),
        )
        self.recorder.record(event, span)
        try:
            verdict.raise_for_denial()
        except Exception as err:
            self.mark_audit_failure(span, err)
            raise
        return verdict

    def requested(
        self,
        call: AnalysisCall,
        context: AuditContext,
        span: Span,
        verdict: PreCheck | None = None,
    ) -> Deferred:
        """
        Record ``analysis.requested`` before any byte is sent.

        Returns:
            Its log line and span event, to be sent while the request is on the
            wire (see :mod:`vision_audit._threads`): join them before recording
            anything else.

        Raises:
            AuditWriteError: Not recorded, in fail-closed mode.
        """
        trace_id, span_id = self._ids(span)
        violations = verdict is not None and bool(verdict.violations)
        event = events.requested_event(
            call,
            context,
            trace_id=trace_id,
            span_id=span_id,
            policy_id=self.policy_id,
            policy=verdict.as_dict() if verdict is not None and violations else None,
        )
        recorded = self.recorder.store(event, span)

        def telemetry() -> None:
            self.recorder.telemetry(event, recorded, span)
            self._mark_recorded(span, recorded)

        return Deferred(telemetry)

    def completed(
        self,
        call: AnalysisCall,
        context: AuditContext,
        span: Span,
        result: Any,
        elapsed_s: float,
        *,
        hold: bool = True,
        after: Deferred | None = None,
    ) -> ReviewGate | None:
        """
        Record ``analysis.completed`` with what came back, before the app sees it.

        When the purpose gates results for review, hold the result until a decision
        or the gate's timeout; with ``hold=False`` return the gate instead, for the
        aio twin to await. *after*: the request's telemetry, joined first.

        Raises:
            AuditWriteError: Not recorded, in fail-closed mode.
            ReviewWithheldError: The review gate withheld the result.
            TagBlockedError: A block-listed tag came back and the purpose withholds
                such results (recorded first, with ``withheld``).
        """
        if after is not None:
            after.join()
        outcome = self._apply_policy(result, context)
        capture = self.settings.capture_content and (
            outcome is None or outcome.capture_content
        )
        recording = span.is_recording()
        results, content, span_attributes = self._read_result(
            call, result, capture=capture, recording=recording
        )
        model_version = _model_version(result)
        duration_ms = elapsed_s * 1000
        if recording:
            span_attributes[attrs.DURATION_MS] = duration_ms
            if model_version:
                span_attributes[attrs.GEN_AI_RESPONSE_MODEL] = model_version
            span_attributes.update(_content_attributes(content))
            span_attributes.update(
                output_attributes(
                    model_version=model_version,
                    results=results,
                    content=content,
                    outcome=outcome,
                )
            )
            if outcome is not None:
                span_attributes.update(_outcome_attributes(outcome))
                if outcome.withheld:
                    span_attributes[attrs.RESULT_WITHHELD] = attrs.WITHHELD_TAG_BLOCKED
                    span_attributes[attrs.RESULT_BLOCKED] = list(outcome.blocked)
            span.set_attributes(span_attributes)
        trace_id, span_id = self._ids(span)
        if outcome is not None:
            self._record_outcome(call, context, span, outcome)
        event = events.completed_event(
            call,
            context,
            trace_id=trace_id,
            span_id=span_id,
            duration_ms=duration_ms,
            model_version=model_version,
            results=results,
            content=content or None,
            policy_id=self.policy_id,
            flags=tuple(sorted(outcome.flags)) if outcome is not None else (),
            review_required=outcome.review_required if outcome is not None else False,
            withheld=attrs.WITHHELD_TAG_BLOCKED
            if outcome is not None and outcome.withheld
            else None,
            blocked=outcome.blocked if outcome is not None else (),
            would_withhold=attrs.WITHHELD_TAG_BLOCKED
            if outcome is not None and outcome.would_withhold
            else None,
        )
        recorded = self.recorder.record(event, span)
        if outcome is not None and outcome.withheld:
            _withhold(call, outcome, recorded=recorded is not None)
        # -- review gate (issue 6): hold the result until a human decides --------------
        gate = open_review_gate(
            call,
            context,
            span,
            outcome,
            recorder=self.recorder,
            store=self.settings.store,
            policy_id=self.policy_id,
            tag_filter=self._tag_filter(context.purpose)
            if outcome is not None and outcome.review_required
            else None,  # only a gate needs it
        )
        if gate is not None and hold:
            gate.hold(result)
            gate = None
        # ------------------------------------------------------------------------------
        _remember(result, call.analysis_id)
        return gate

    def _tag_filter(self, purpose: str | None) -> TagFilter | None:
        """The tag lists of *purpose* under the policy in force, if any."""
        engine = self.settings.policy
        stated = None if engine is None else engine.policy.get_purpose(purpose)
        return None if stated is None else stated.tags

    def _read_result(
        self, call: AnalysisCall, result: Any, *, capture: bool, recording: bool
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """Facts, content (when captured) and span attributes (when recording)."""
        results: dict[str, Any] = {}
        content: dict[str, Any] = {}
        span_attributes: dict[str, Any] = {}
        for feature in call.features:
            extractor = EXTRACTORS.get(feature)
            facts = (
                None
                if extractor is None
                else extractor.facts(
                    result, people_threshold=self.settings.people_threshold
                )
            )
            if extractor is None or facts is None:
                continue
            results[feature] = facts
            if recording:
                span_attributes.update(extractor.span_attributes(facts))
            if capture:
                content.update(extractor.content(result))
        return results, content, span_attributes

    def _apply_policy(self, result: Any, context: AuditContext) -> PostOutcome | None:
        """Judge the result and remove what the policy drops, in place."""
        engine = self.settings.policy
        if engine is None or not isinstance(result, Mapping):
            return None
        tags = wire_values(result, "tagsResult") or []
        objects = [
            o for o in wire_values(result, "objectsResult") or [] if o.get("tags")
        ]
        caption = result.get("captionResult")
        outcome = engine.evaluate_result(
            purpose=context.purpose,
            tags=[(t["name"], t["confidence"]) for t in tags],
            objects=[
                (o["tags"][0]["name"], o["tags"][0]["confidence"]) for o in objects
            ],
            people_confidences=[
                p["confidence"] for p in wire_values(result, "peopleResult") or []
            ],
            text_lines=len(wire_lines(result) or ()),
            caption=(caption["text"], caption["confidence"])
            if isinstance(caption, Mapping)
            else None,
            dense_captions=[
                (d["text"], d["confidence"])
                for d in wire_values(result, "denseCaptionsResult") or []
            ],
        )
        if outcome.filtered:
            # The SDK's model reads its wire data on each access: cutting the lists
            # there is what the application then sees, with the type unchanged.
            dropped_tags = {
                id(t)
                for t, v in zip(tags, outcome.tag_verdicts, strict=False)
                if not v.kept
            }
            dropped_objects = {
                id(o)
                for o, v in zip(objects, outcome.object_verdicts, strict=False)
                if not v.kept
            }
            _keep(result, "tagsResult", dropped_tags)
            _keep(result, "objectsResult", dropped_objects)
        return outcome

    def _record_outcome(
        self,
        call: AnalysisCall,
        context: AuditContext,
        span: Span,
        outcome: PostOutcome,
    ) -> None:
        trace_id, span_id = self._ids(span)
        facts = outcome.as_dict()
        if outcome.filtered:
            self.recorder.record(
                events.filtered_event(
                    call,
                    context,
                    trace_id=trace_id,
                    span_id=span_id,
                    policy_id=self.policy_id,
                    outcome=facts,
                ),
                span,
            )
        if outcome.review_required:
            self.recorder.record(
                events.review_required_event(
                    call,
                    context,
                    trace_id=trace_id,
                    span_id=span_id,
                    policy_id=self.policy_id,
                    outcome=facts,
                ),
                span,
            )

    def failed(
        self,
        call: AnalysisCall,
        context: AuditContext,
        span: Span,
        error: BaseException,
        elapsed_s: float,
        *,
        after: Deferred | None = None,
    ) -> None:
        """
        Record ``analysis.failed``; never raises (the SDK's error goes on as it is).

        A cancelled or interrupted call is recorded too, with its error type. A
        failure to record it is logged and marked on the span: the request it
        describes was already recorded as requested. *after*: the request's
        telemetry, joined first so that the sinks see the events in order.
        """
        if after is not None:
            after.join()
        status, code, inner = _error_codes(error)
        error_type = _qualified_name(error)
        if span.is_recording():
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            span.set_attribute(attrs.ERROR_TYPE, error_type)
            span.set_attribute(attrs.DURATION_MS, elapsed_s * 1000)
            if status is not None:
                span.set_attribute(attrs.HTTP_RESPONSE_STATUS_CODE, status)
            if code is not None:
                span.set_attribute(attrs.SERVICE_ERROR_CODE, code)
            if inner is not None:
                span.set_attribute(attrs.SERVICE_INNER_ERROR_CODE, inner)
        trace_id, span_id = self._ids(span)
        event = events.failed_event(
            call,
            context,
            trace_id=trace_id,
            span_id=span_id,
            duration_ms=elapsed_s * 1000,
            error_type=error_type,
            status_code=status,
            error_code=code,
            inner_error_code=inner,
            policy_id=self.policy_id,
        )
        # A failure here was already reported by the recorder; the SDK's error wins.
        with contextlib.suppress(Exception):
            self.recorder.record(event, span)

    @staticmethod
    def _mark_recorded(span: Span, recorded: RecordedEvent | None) -> None:
        if recorded is None or not span.is_recording():
            return
        if recorded.event.subject_ref is not None:
            span.set_attribute(attrs.SUBJECT_REF, recorded.event.subject_ref)

    @staticmethod
    def mark_audit_failure(span: Span, error: BaseException) -> None:
        """Mark *span* as failed because its call could not be audited."""
        if span.is_recording():
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            span.set_attribute(attrs.ERROR_TYPE, _qualified_name(error))


def _requested_model(call: AnalysisCall) -> str:
    return str(call.options.get("model_version", "latest"))


def _bypass(instance: Any, tracer: CallTracer) -> bool:
    # A client instrumented on its own is audited by its own tracer, once.
    own = getattr(instance, CLIENT_MARK, None)
    return own is not None and own is not tracer


def _span(
    tracer: CallTracer, call: AnalysisCall, context: AuditContext
) -> AbstractContextManager[Span]:
    """
    The call's span, made current; a non-recording one under suppression.

    ``suppress_instrumentation()`` silences telemetry, never the policy or the audit
    store: a call made under it is checked and recorded like any other, without a
    span or OTel log records.
    """
    if not is_instrumentation_enabled():
        return trace.use_span(trace.INVALID_SPAN, end_on_exit=False)
    model = _requested_model(call)
    return tracer.tracer.start_as_current_span(
        attrs.analyze_span_name(model),
        kind=SpanKind.CLIENT,
        attributes=tracer.request_attributes(call, context, model),
        record_exception=False,
        set_status_on_exception=False,
    )


def make_sync_wrapper(
    tracer: CallTracer, operation: str
) -> Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]:
    """
    Build the wrapt wrapper of a sync ``analyze`` or ``analyze_from_url``.

    The wrapper records ``analysis.requested`` before the call, and
    ``analysis.completed`` or ``analysis.failed`` after it, in an
    ``image_analysis {model}`` span that is the parent of the SDK's own spans.
    """

    def traced(
        wrapped: Callable[..., Any],
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        if _bypass(instance, tracer):
            return wrapped(*args, **kwargs)
        call, context, args, kwargs = tracer.prepare(operation, instance, args, kwargs)
        with _span(tracer, call, context) as span:
            verdict = tracer.check_policy(call, context, span)
            try:
                telemetry = tracer.requested(call, context, span, verdict)
            except Exception as err:
                tracer.mark_audit_failure(span, err)
                raise
            started = time.perf_counter()
            try:
                result = wrapped(*args, **kwargs)
            except BaseException as err:
                elapsed = time.perf_counter() - started
                tracer.failed(call, context, span, err, elapsed, after=telemetry)
                raise
            elapsed = time.perf_counter() - started
            try:
                tracer.completed(call, context, span, result, elapsed, after=telemetry)
            except Exception as err:
                tracer.mark_audit_failure(span, err)
                raise
            return result

    return traced


async def _record_failure(
    tracer: CallTracer,
    call: AnalysisCall,
    context: AuditContext,
    span: Span,
    *,
    error: BaseException,
    elapsed: float,
    telemetry: Deferred,
) -> None:
    """
    ``analysis.failed`` for the aio twin, off the loop; a cancellation waits for it.

    Raises:
        asyncio.CancelledError: The task was cancelled while the failure was being
            recorded (raised once it is recorded, chained to *error*).
    """
    if isinstance(error, GeneratorExit):  # the coroutine is being closed: no await
        tracer.failed(call, context, span, error, elapsed, after=telemetry)
        return
    step = OffLoop(tracer.failed, call, context, span, error, elapsed, after=telemetry)
    await step.result()
    if step.cancelled is not None and step.cancelled is not error:
        raise step.cancelled from error


def make_async_wrapper(
    tracer: CallTracer, operation: str
) -> Callable[
    [Callable[..., Awaitable[Any]], Any, tuple[Any, ...], dict[str, Any]], Any
]:
    """
    The aio twin of :func:`make_sync_wrapper`.

    What writes to the store or digests the image runs on a pool thread
    (:mod:`vision_audit._threads`), so the event loop goes on serving other tasks
    meanwhile, and concurrent tasks' events share the store's group commits. A task
    cancelled meanwhile lets that work finish before the cancellation goes on;
    cancelled once its request is recorded, the call ends as ``analysis.failed``.
    """

    async def traced(
        wrapped: Callable[..., Awaitable[Any]],
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        if _bypass(instance, tracer):
            return await wrapped(*args, **kwargs)
        args, kwargs = await _read_async_stream(args, kwargs, operation)
        call, context, args, kwargs = await off_loop(
            tracer.prepare, operation, instance, args, kwargs
        )
        with _span(tracer, call, context) as span:
            verdict = await off_loop(tracer.check_policy, call, context, span)
            requested = OffLoop(tracer.requested, call, context, span, verdict)
            try:
                telemetry = await requested.result()
            except Exception as err:
                tracer.mark_audit_failure(span, err)
                if requested.cancelled is not None:
                    raise requested.cancelled from err
                raise
            if requested.cancelled is not None:  # recorded, then cancelled: not sent
                await _record_failure(
                    tracer,
                    call,
                    context,
                    span,
                    error=requested.cancelled,
                    elapsed=0.0,
                    telemetry=telemetry,
                )
                raise requested.cancelled
            started = time.perf_counter()
            try:
                result = await wrapped(*args, **kwargs)
            except BaseException as err:
                elapsed = time.perf_counter() - started
                await _record_failure(
                    tracer,
                    call,
                    context,
                    span,
                    error=err,
                    elapsed=elapsed,
                    telemetry=telemetry,
                )
                raise
            elapsed = time.perf_counter() - started
            try:
                gate = await off_loop(
                    tracer.completed,
                    call,
                    context,
                    span,
                    result,
                    elapsed,
                    hold=False,
                    after=telemetry,
                )
                if gate is not None:  # a review gate waits without blocking the loop
                    await gate.hold_async(result)
            except Exception as err:
                tracer.mark_audit_failure(span, err)
                raise
            return result

    return traced
