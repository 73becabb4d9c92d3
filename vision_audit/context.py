"""
``audit_context()``: who calls, for what purpose, about whom, under which consent.

The context travels with the code that runs inside it, across threads only when the
caller copies it (``contextvars.copy_context``) and across asyncio tasks by itself. An
upstream service can send the same values as OpenTelemetry baggage under the
``vision_audit.*`` keys; values set with ``audit_context`` win over baggage.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field, replace
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Final

from opentelemetry import baggage

from vision_audit import attributes as attrs

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["AuditContext", "audit_context", "get_audit_context"]

_EMPTY_LABELS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class AuditContext:
    """
    The audit facts in force for a call.

    .. versionadded:: 0.1.0
    """

    consent_ref: str | None = None
    purpose: str | None = None
    subject_ref: str | None = None
    actor: str | None = None
    labels: Mapping[str, str] = field(default_factory=lambda: _EMPTY_LABELS)

    def merged(self, inner: AuditContext) -> AuditContext:
        """*inner*'s values where it has them, this context's otherwise."""
        return replace(
            self,
            consent_ref=inner.consent_ref
            if inner.consent_ref is not None
            else self.consent_ref,
            purpose=inner.purpose if inner.purpose is not None else self.purpose,
            subject_ref=inner.subject_ref
            if inner.subject_ref is not None
            else self.subject_ref,
            actor=inner.actor if inner.actor is not None else self.actor,
            labels=MappingProxyType({**self.labels, **inner.labels}),
        )


_NO_CONTEXT: Final = AuditContext()
"""No audit facts: what a call outside any block and without baggage runs in."""

_current: contextvars.ContextVar[AuditContext | None] = contextvars.ContextVar(
    "vision_audit_context", default=None
)
# The blocks entered in this context, innermost last, with the token that undoes
# each: kept per context, not per block object, so that one audit_context object
# may be entered by several threads or tasks at once.
_Entered = tuple[tuple["audit_context", contextvars.Token[AuditContext | None]], ...]
_entered: contextvars.ContextVar[_Entered] = contextvars.ContextVar(
    "vision_audit_context_entered", default=()
)


BAGGAGE_MAX_VALUE: Final = 256
"""Longest baggage value taken as an audit fact; a longer one is ignored, not cut."""
BAGGAGE_MAX_LABELS: Final = 16
"""Most labels taken from baggage (the first by name); the rest are ignored."""
BAGGAGE_MAX_LABEL_NAME: Final = 64


def _usable(value: object, limit: int = BAGGAGE_MAX_VALUE) -> str | None:
    """*value* as text if it is short and printable; None otherwise."""
    text = str(value)
    if len(text) > limit or not text.isprintable():
        return None
    return text


def _from_baggage() -> AuditContext:
    # Baggage arrives with requests, possibly from outside: only short, printable
    # values are taken, and a bounded number of labels.
    values = baggage.get_all()
    if not values:
        return _NO_CONTEXT
    labels: dict[str, str] = {}
    for key in sorted(values):
        if len(labels) == BAGGAGE_MAX_LABELS:
            break
        if not key.startswith(attrs.BAGGAGE_LABEL_PREFIX):
            continue
        name = _usable(key[len(attrs.BAGGAGE_LABEL_PREFIX) :], BAGGAGE_MAX_LABEL_NAME)
        value = _usable(values[key])
        if name and value is not None:
            labels[name] = value

    def text(key: str) -> str | None:
        value = values.get(key)
        return None if value is None else _usable(value)

    return AuditContext(
        consent_ref=text(attrs.BAGGAGE_CONSENT_REF),
        purpose=text(attrs.BAGGAGE_PURPOSE),
        subject_ref=text(attrs.BAGGAGE_SUBJECT_REF),
        actor=text(attrs.BAGGAGE_ACTOR),
        labels=MappingProxyType(labels),
    )


def get_audit_context(*, baggage: bool = True) -> AuditContext:
    """
    The audit context in force here: baggage, overlaid by ``audit_context`` blocks.

    Args:
        baggage: False to ignore OpenTelemetry baggage (blocks only).

    .. versionadded:: 0.1.0
    """
    local = _current.get()
    if not baggage:
        return _NO_CONTEXT if local is None else local
    upstream = _from_baggage()
    if local is None:
        return upstream
    # Without baggage there is nothing to merge: the block's context is the answer.
    return local if upstream is _NO_CONTEXT else upstream.merged(local)


class audit_context:  # noqa: N801 - used like a function, as contextlib's are
    """
    Set the audit facts for the calls made inside a ``with`` or ``async with`` block.

    Nested blocks inherit what they do not set. Safe across threads and asyncio
    tasks: each sees only its own blocks.

    Args:
        consent_ref: Reference of the consent the calls rely on.
        purpose: The purpose of the calls, as the policy names it.
        subject_ref: The data subject's reference; recorded only as a keyed
            pseudonym.
        actor: The service or person making the calls.
        **labels: Free-form string labels recorded with each call.

    Example::

        with audit_context(purpose="claims", consent_ref="c-17", subject_ref="p-9"):
            client.analyze(image_data=data, visual_features=[VisualFeatures.TAGS])

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        *,
        consent_ref: str | None = None,
        purpose: str | None = None,
        subject_ref: str | None = None,
        actor: str | None = None,
        **labels: str,
    ) -> None:
        """
        Keep the values; nothing happens until the block is entered.

        Raises:
            TypeError: A fact or label is not a string (or None, for the facts).
        """
        for name, value in (
            ("consent_ref", consent_ref),
            ("purpose", purpose),
            ("subject_ref", subject_ref),
            ("actor", actor),
        ):
            if value is not None and not isinstance(value, str):
                kind = type(value).__name__
                msg = f"audit_context {name} must be a string or None, got {kind}"
                raise TypeError(msg)
        for name, value in labels.items():
            if not isinstance(value, str):
                kind = type(value).__name__
                msg = f"audit_context label {name!r} must be a string, got {kind}"
                raise TypeError(msg)
        self._context = AuditContext(
            consent_ref=consent_ref,
            purpose=purpose,
            subject_ref=subject_ref,
            actor=actor,
            labels=MappingProxyType(dict(labels)),
        )

    def __enter__(self) -> AuditContext:
        """Enter the block; returns the merged context now in force."""
        outer = _current.get()
        merged = self._context if outer is None else outer.merged(self._context)
        _entered.set((*_entered.get(), (self, _current.set(merged))))
        return merged

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """
        Restore the context of the enclosing block.

        Raises:
            RuntimeError: This block was not the innermost one entered here.
        """
        entered = _entered.get()
        if not entered or entered[-1][0] is not self:
            msg = "audit_context exited where it was not the innermost block entered"
            raise RuntimeError(msg)
        _entered.set(entered[:-1])
        _current.reset(entered[-1][1])

    async def __aenter__(self) -> AuditContext:
        """Enter the block in async code."""
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Leave the block in async code."""
        self.__exit__(exc_type, exc, tb)
