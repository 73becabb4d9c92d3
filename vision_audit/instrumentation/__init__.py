"""
Drop-in auditing of Azure AI Vision Image Analysis calls.

Every call to ``ImageAnalysisClient.analyze`` or ``analyze_from_url``, sync or
``aio``, becomes evidence: an ``analysis.requested`` event recorded in the audit store
*before* any byte is sent, then ``analysis.completed`` (before the application sees the
result) or ``analysis.failed``; an ``image_analysis {model}`` span (the GenAI
name; the parent of azure-core's own spans); and a structured log record per audit
event. The application's calls and the SDK's return types do not change.

Usage
-----

One line in the service::

    from vision_audit import VisionAuditInstrumentor, audit_context

    VisionAuditInstrumentor().instrument(store="sqlite:///audit.db")

    with audit_context(purpose="claims", consent_ref="c-1042",
                       subject_ref="claimant-1042", actor="adjuster-7"):
        result = client.analyze(image_data=data, visual_features=["tags"])
    vision_audit.get_audit_id(result)   # the analysis id, for store and traces

Or none, with the zero-code agent, configured from the environment::

    VISION_AUDIT_STORE=sqlite:///audit.db opentelemetry-instrument python app.py

A service that refuses process-wide patching audits one client::

    client = vision_audit.instrument_client(
        ImageAnalysisClient(endpoint, credential), store="sqlite:///audit.db"
    )

Configuration
-------------

Keyword arguments of ``instrument()`` win over the environment, which wins over the
defaults. Everything is resolved once, at ``instrument()`` time.

====================  ================================  ============================
keyword               environment variable              default
====================  ================================  ============================
``store``             ``VISION_AUDIT_STORE``            ``sqlite:///vision-audit.db``
``audit_failure``     ``VISION_AUDIT_AUDIT_FAILURE``    ``raise`` (fail closed)
``capture_content``   ``VISION_AUDIT_CAPTURE_CONTENT``  ``false``
``people_threshold``  (none)                            the policy's, else ``0.5``
``baggage``           ``VISION_AUDIT_BAGGAGE``          ``true``: facts from baggage
``tracer_provider``   (none)                            the global provider
``logger_provider``   (none)                            none: no OTel log records
``meter_provider``    (none)                            the global provider
====================  ================================  ============================

``audit_failure="raise"``: if the audit store cannot record ``analysis.requested``, the
request is not sent and ``AuditWriteError`` is raised; if it cannot record
``analysis.completed``, the result is withheld and ``AuditWriteError`` raised.
``"log"``: the failure is logged on ``vision_audit.audit`` and marked on the span
(``vision_audit.audit_write_failed``), and the call goes on.

With a policy, its ``[sensitive] people_threshold`` decides which detected people
count, both in the recorded facts and for the ``people`` flag; a ``people_threshold``
keyword that disagrees with it is refused at start-up.

Content (caption, dense captions, read text) is recorded only with
``capture_content=True``. Image bytes, keys, tokens and URL query strings are never
recorded: images are fingerprinted (SHA-256, size, format, width, height) and URLs
reduced to scheme, host and path.

The audit context comes from ``audit_context()`` blocks and from OpenTelemetry baggage
(``vision_audit.actor``, ``vision_audit.purpose``, ``vision_audit.consent_ref``,
``vision_audit.subject_ref``, ``vision_audit.label.<name>``); blocks win. Baggage
comes with requests: a service facing clients it does not trust sets
``baggage=False`` (``VISION_AUDIT_BAGGAGE=false``) to take facts from blocks only.

API
---

``VisionAuditInstrumentor().instrument(**options)`` / ``.uninstrument()``;
``instrument_client(client, **options)``; ``get_audit_id(result)``. Span attribute
names are in :mod:`vision_audit.attributes` and ``docs/attributes.md``.

OpenTelemetry's ``suppress_instrumentation()`` (used by exporters for their own calls)
silences the span and the OTel log records of a call made under it, never its policy
check or its audit events: no call leaves unaudited.

Options are checked strictly: ``instrument(polcy=...)`` raises ``TypeError`` naming
``policy``, and a ``VISION_AUDIT_*`` variable that vision-audit does not read (a
misspelt ``VISION_AUDIT_POLCY``) raises ``ValueError`` naming the closest one, so a
typo never leaves the policy or the store silently at a default. Under the agent the
SDK then refuses every call until the configuration is fixed.

Raises (into application code):
    AuditWriteError: an audit event could not be recorded, in fail-closed mode.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any, Final, TypeVar

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.instrumentation.utils import unwrap
from wrapt import wrap_function_wrapper

from vision_audit._settings import check_environment, check_options, resolve_settings
from vision_audit.exceptions import AuditWriteError
from vision_audit.instrumentation._wrappers import (
    CLIENT_MARK,
    CallTracer,
    get_audit_id,
    make_async_wrapper,
    make_sync_wrapper,
)
from vision_audit.package import _instruments

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from vision_audit._settings import Settings

__all__ = ["VisionAuditInstrumentor", "get_audit_id", "instrument_client"]

_SYNC_MODULE: Final = "azure.ai.vision.imageanalysis._patch"
_AIO_MODULE: Final = "azure.ai.vision.imageanalysis.aio._patch"
_OPERATIONS: Final = ("analyze", "analyze_from_url")

_LOADER_OPTIONS: Final = frozenset({"skip_dep_check", "raise_exception_on_conflict"})
"""What ``opentelemetry-instrument`` passes to ``instrument()``: not our options."""

_Client = TypeVar("_Client")
_log = logging.getLogger("vision_audit")


def _settings(kwargs: dict[str, Any], *, where: str) -> tuple[Settings, bool]:
    check_options(kwargs, where=where)
    check_environment()
    store = kwargs.get("store")
    settings = resolve_settings(
        store=store,
        audit_failure=kwargs.get("audit_failure"),
        capture_content=kwargs.get("capture_content"),
        people_threshold=kwargs.get("people_threshold"),
        tracer_provider=kwargs.get("tracer_provider"),
        logger_provider=kwargs.get("logger_provider"),
        meter_provider=kwargs.get("meter_provider"),
        policy=kwargs.get("policy"),
        consent=kwargs.get("consent"),
        baggage=kwargs.get("baggage"),
    )
    # A store we opened from a URL is ours to close.
    return settings, store is None or isinstance(store, str)


class VisionAuditInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """
    An OpenTelemetry instrumentor for ``azure-ai-vision-imageanalysis``.

    See the module documentation for options. Instrumenting twice is harmless: a
    second ``instrument()`` with no options, or the same ones, is ignored (as for
    every ``BaseInstrumentor``); one with other options replaces the configuration
    in force, so that an application's own ``instrument(policy=...)`` wins over the
    agent's environment-only one. ``uninstrument()`` restores the SDK's methods
    exactly.

    A configuration that cannot be resolved (a bad ``VISION_AUDIT_*`` value, a
    missing policy file, a store that cannot be opened) raises, and leaves the SDK
    refusing every call with :class:`~vision_audit.exceptions.AuditWriteError`
    until ``instrument()`` succeeds or ``uninstrument()`` is called: under
    ``opentelemetry-instrument``, which logs such an error and starts the
    application anyway, no call then leaves the process unaudited.

    .. versionadded:: 0.1.0
    """

    _tracer: CallTracer | None = None
    _owns_store: bool = False
    _options: dict[str, Any] | None = None
    _refusing: bool = False

    def instrumentation_dependencies(self) -> Collection[str]:
        """The SDK versions this instruments."""
        return _instruments

    def instrument(self, **kwargs: Any) -> Any:
        """
        Instrument the SDK; see the class documentation for a second call.

        Raises:
            TypeError: An unknown option (the message names the closest one).
            ValueError: An option or ``VISION_AUDIT_*`` value is not accepted, or a
                ``VISION_AUDIT_*`` variable is not one vision-audit reads.
            PolicyError: The policy or consent file is missing or invalid.
            StoreError: The store cannot be opened.
        """
        options = {k: v for k, v in kwargs.items() if k not in _LOADER_OPTIONS}
        if (
            self.is_instrumented_by_opentelemetry
            and options
            and options != self._options
        ):
            # Resolved first: if the new options fail, the ones in force stay. The
            # old store stays open for the calls still on their way (it closes at
            # exit); only an explicit uninstrument() closes it.
            settings, owns_store = _settings(options, where="instrument()")
            _log.info("vision-audit: instrumented again with other options; replacing")
            self._unwrap_all()
            self._install(settings, owns_store=owns_store, options=options)
            return None
        return super().instrument(**kwargs)

    def uninstrument(self, **kwargs: Any) -> Any:
        """Restore the SDK's methods, also after a configuration that failed."""
        if self._refusing:
            self._unwrap_all()
            self._refusing = False
            if not self.is_instrumented_by_opentelemetry:
                return None
        return super().uninstrument(**kwargs)

    def _instrument(self, **kwargs: Any) -> None:
        if self._refusing:  # an earlier configuration failed: this one replaces it
            self._unwrap_all()
            self._refusing = False
        options = {k: v for k, v in kwargs.items() if k not in _LOADER_OPTIONS}
        try:
            settings, owns_store = _settings(options, where="instrument()")
        except Exception as err:
            self._refuse(err)
            raise
        self._install(settings, owns_store=owns_store, options=options)

    def _install(
        self, settings: Settings, *, owns_store: bool, options: dict[str, Any]
    ) -> None:
        tracer = CallTracer(settings)
        self._wrap_all(
            lambda operation: make_sync_wrapper(tracer, operation),
            lambda operation: make_async_wrapper(tracer, operation),
        )
        self._tracer = tracer
        self._owns_store = owns_store
        self._options = options

    def _refuse(self, error: Exception) -> None:
        """Leave the SDK refusing every call, since none could be audited."""
        msg = (
            "vision-audit could not be configured, so no call is sent: "
            f"{type(error).__name__}: {error}"
        )
        _log.error("%s", msg)

        def refuse(*_: Any) -> Any:
            raise AuditWriteError(msg) from error

        async def refuse_async(*_: Any) -> Any:
            raise AuditWriteError(msg) from error

        self._wrap_all(lambda _: refuse, lambda _: refuse_async)
        self._refusing = True

    @staticmethod
    def _wrap_all(
        sync: Callable[[str], Callable[..., Any]],
        aio: Callable[[str], Callable[..., Any]],
    ) -> None:
        for operation in _OPERATIONS:
            wrap_function_wrapper(
                _SYNC_MODULE, f"ImageAnalysisClient.{operation}", sync(operation)
            )
            wrap_function_wrapper(
                _AIO_MODULE, f"ImageAnalysisClient.{operation}", aio(operation)
            )

    @staticmethod
    def _unwrap_all() -> None:
        from azure.ai.vision.imageanalysis import _patch as sync_patch  # noqa: PLC0415
        from azure.ai.vision.imageanalysis.aio import _patch as aio_patch  # noqa: PLC0415

        for operation in _OPERATIONS:
            unwrap(sync_patch.ImageAnalysisClient, operation)
            unwrap(aio_patch.ImageAnalysisClient, operation)

    def _uninstrument(self, **_: Any) -> None:
        self._unwrap_all()
        tracer, self._tracer = self._tracer, None
        self._options = None
        if tracer is not None and self._owns_store:
            tracer.settings.store.close()


def _sdk_method(client: object, operation: str) -> Any:
    """
    The SDK's own method of *client*, under any process-wide wrapper of ours.

    A client audited on its own calls the SDK directly: neither the process-wide
    wrappers nor the refusal of a configuration that failed apply to it.
    """
    function = getattr(type(client), operation)
    # wrapt's function wrappers (ours) carry their wrapper; azure-core's tracing
    # decorator, below them, is the SDK's own and stays.
    while hasattr(function, "_self_wrapper"):
        function = function.__wrapped__
    return function.__get__(client, type(client))


def instrument_client(client: _Client, **options: Any) -> _Client:
    """
    Audit the calls of this one client, without patching anything process-wide.

    Takes the same keyword options as ``instrument()``. The client keeps its type;
    its ``analyze`` and ``analyze_from_url`` are wrapped on the instance only. If the
    process is also instrumented, this client is audited once, by its own settings.

    Returns:
        *client*, for chaining.

    .. versionadded:: 0.1.0
    """
    settings, _ = _settings(options, where="instrument_client()")
    tracer = CallTracer(settings)
    is_async = type(client).__module__.startswith("azure.ai.vision.imageanalysis.aio")
    factory = make_async_wrapper if is_async else make_sync_wrapper
    for operation in _OPERATIONS:
        bound = _sdk_method(client, operation)
        traced = factory(tracer, operation)

        def method(
            *args: Any, _bound: Any = bound, _traced: Any = traced, **kwargs: Any
        ) -> Any:
            return _traced(_bound, client, args, kwargs)

        setattr(client, operation, functools.wraps(bound)(method))
    setattr(client, CLIENT_MARK, tracer)
    return client
