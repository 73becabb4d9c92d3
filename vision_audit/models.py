"""Frozen value objects: the audit event envelope and what a store returns for it."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "SCHEMA_VERSION",
    "AnalysisCall",
    "AuditEvent",
    "RecordedEvent",
    "new_id",
    "utc_now",
]

SCHEMA_VERSION: Final = 1
"""Version of the event envelope; stored with every event as ``schema``."""


def new_id() -> str:
    """
    A new unique identifier: 32 lowercase hex digits, in creation order to the ms.

    The UUIDv7 layout (RFC 9562): 48 bits of Unix time in milliseconds, then 74
    random bits around the version and variant. Ids made in a later millisecond sort
    after, so an index of them grows at its end instead of at a random page.
    """
    value = time.time_ns() // 1_000_000 << 80 | int.from_bytes(os.urandom(10))
    # Version 7 and variant 0b10 in their places.
    value = value & ~(0xF << 76 | 0x3 << 62) | 0x7 << 76 | 0x2 << 62
    return f"{value:032x}"


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEvent:
    """
    One fact for the audit trail, as its producer makes it, before the store chains it.

    Args:
        type: What happened, e.g. ``analysis.requested``, ``analysis.completed``,
            ``analysis.failed``, ``analysis.denied``, ``review.decided``.
        event_id: Unique id of this event.
        time: When it happened (UTC).
        analysis_id: Correlates the events of one analyze call.
        trace_id: OpenTelemetry trace id, 32 hex digits, when a span was recording.
        span_id: OpenTelemetry span id, 16 hex digits.
        actor: Who made the call (service or person), from the audit context.
        purpose: The stated purpose, from the audit context.
        consent_ref: Reference of the consent the call relies on.
        subject_ref: The data subject's reference as the application knows it. The
            store replaces it with a keyed pseudonym in the chained envelope and keeps
            the original only in erasable personal content.
        policy_id: Hash of the policy in force.
        data: Type-specific facts (JSON-ready): no personal content here.
        content: Personal content (captions, read text...), kept apart from the
            chain, which holds only its salted hash, so that it can be purged.

    .. versionadded:: 0.1.0
    """

    type: str
    event_id: str = field(default_factory=new_id)
    time: datetime = field(default_factory=utc_now)
    analysis_id: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    actor: str | None = None
    purpose: str | None = None
    consent_ref: str | None = None
    subject_ref: str | None = None
    policy_id: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    content: Mapping[str, Any] | None = None
    schema: int = SCHEMA_VERSION


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedEvent:
    """
    An event as the store holds it: numbered, pseudonymised and chained.

    Args:
        sequence: Position in the chain, from 1, without gaps.
        event: The event, with ``subject_ref`` replaced by its pseudonym and
            ``content`` as stored (None once purged or erased).
        content_hash: Salted SHA-256 of the personal content, or None.
        prev_hash: Hash of the previous event (64 zeros for the first).
        hash: SHA-256 over the canonical envelope and ``prev_hash``.

    .. versionadded:: 0.1.0
    """

    sequence: int
    event: AuditEvent
    content_hash: str | None
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AnalysisCall:
    """
    The facts of one analyze call, known before it is sent.

    Args:
        analysis_id: Correlates every event, span and log line of the call.
        operation: ``analyze`` (image bytes) or ``analyze_from_url``.
        endpoint_host: Host of the service endpoint.
        endpoint_port: Port of the endpoint, when it has one.
        api_version: The REST api-version the client speaks.
        features: Visual features requested, as the service names them.
        options: ``language``, ``gender_neutral_caption``,
            ``smart_crops_aspect_ratios`` and ``model_version`` as passed.
        image: Fingerprint of the image bytes (``sha256``, ``size``, ``format``,
            ``width``, ``height``), for ``analyze``.
        url: The image URL reduced to scheme, host and path, for
            ``analyze_from_url``.

    .. versionadded:: 0.1.0
    """

    analysis_id: str = field(default_factory=new_id)
    operation: str
    endpoint_host: str
    endpoint_port: int | None
    api_version: str
    features: tuple[str, ...]
    options: Mapping[str, Any] = field(default_factory=dict)
    image: Mapping[str, Any] | None = None
    url: str | None = None
