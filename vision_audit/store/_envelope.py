"""
From an AuditEvent to its envelope and personal content records, and back.

:func:`prepare` does everything that does not need the chain's head (checks,
pseudonymisation, canonical JSON, salting and hashing of personal content) on the
caller's thread, so that the single writer only splices in the sequence number and
the previous hash, then hashes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from vision_audit.models import SCHEMA_VERSION, AuditEvent, RecordedEvent
from vision_audit.store._canonical import (
    CanonicalizationError,
    canonical_bytes,
    canonical_json,
    encode_utf8,
    format_time,
    parse_json,
    parse_time,
)
from vision_audit.store._chain import combine_digests, digest_value

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "MAX_CONTENT_BYTES",
    "MAX_ENVELOPE_BYTES",
    "SUBJECT_CLASS",
    "Prepared",
    "parse_envelope",
    "prepare",
    "seal",
]

MAX_ENVELOPE_BYTES: Final = 1 << 20
"""Largest envelope (chained metadata) of one event, in bytes of canonical JSON."""
MAX_CONTENT_BYTES: Final = 16 << 20
"""Largest personal content of one event, in bytes of canonical JSON."""
SUBJECT_CLASS: Final = "subject_ref"
"""The data class of the raw subject reference kept as personal content."""

_SALT_BYTES: Final = 16
_PREV_MARK: Final = ',"prev_hash":""'
_SEQ_MARK: Final = ',"sequence":0,'
_OPTIONAL_TEXT: Final = (
    "analysis_id",
    "trace_id",
    "span_id",
    "actor",
    "purpose",
    "consent_ref",
    "subject_ref",
    "policy_id",
)

ContentRow = tuple[str, str, str, bytes, bytes]
"""Personal content before it has a sequence: kind, name, digest, salt, value."""


@dataclasses.dataclass(slots=True)
class Prepared:
    """An event ready to be chained: the envelope around two holes, and its content."""

    event: AuditEvent
    head: str
    middle: str
    tail: str
    pseudonym: str | None
    content_hash: str | None
    records: list[ContentRow]

    def recorded(self, sequence: int, prev_hash: str, hash_: str) -> RecordedEvent:
        """The RecordedEvent that the store returns once this event is chained."""
        event = self.event
        if event.subject_ref != self.pseudonym or (
            event.content is not None and not event.content
        ):
            event = AuditEvent(
                type=event.type,
                event_id=event.event_id,
                time=event.time,
                analysis_id=event.analysis_id,
                trace_id=event.trace_id,
                span_id=event.span_id,
                actor=event.actor,
                purpose=event.purpose,
                consent_ref=event.consent_ref,
                subject_ref=self.pseudonym,
                policy_id=event.policy_id,
                data=event.data,
                content=event.content or None,
                schema=event.schema,
            )
        return RecordedEvent(
            sequence=sequence,
            event=event,
            content_hash=self.content_hash,
            prev_hash=prev_hash,
            hash=hash_,
        )


def _holds_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def _refuse_nul(text: str, where: str) -> None:
    """
    Refuse U+0000 anywhere in canonical JSON *text*.

    PostgreSQL cannot hold it in text, and SQLite's JSON functions cut strings at it;
    so no store accepts it. Canonical JSON writes it as a six-character escape, which
    an escaped backslash followed by the same letters also contains: a match is
    confirmed by parsing.
    """
    if "\\u0000" in text and _holds_nul(json.loads(text)):
        msg = f"{where} holds U+0000 (NUL), which audit events may not contain"
        raise ValueError(msg)


def _check_fields(event: AuditEvent) -> None:
    if type(event) is not AuditEvent and not isinstance(event, AuditEvent):
        msg = f"expected an AuditEvent, got {type(event).__name__}"
        raise TypeError(msg)
    if event.schema != SCHEMA_VERSION:
        msg = (
            f"event schema {event.schema!r} is not {SCHEMA_VERSION}, the version this "
            "store writes"
        )
        raise ValueError(msg)
    if not isinstance(event.type, str) or not event.type:
        msg = "the event type must be a non-empty string"
        raise ValueError(msg)
    if not isinstance(event.event_id, str) or not event.event_id:
        msg = "the event id must be a non-empty string"
        raise ValueError(msg)
    for name in _OPTIONAL_TEXT:
        value = getattr(event, name)
        if value is not None and type(value) is not str and not isinstance(value, str):
            msg = f"{name} must be a string or None, not {type(value).__name__}"
            raise TypeError(msg)
    if not isinstance(event.data, Mapping):
        msg = f"data must be a mapping, not {type(event.data).__name__}"
        raise TypeError(msg)
    if event.content is not None and not isinstance(event.content, Mapping):
        msg = f"content must be a mapping or None, not {type(event.content).__name__}"
        raise TypeError(msg)


def _content_records(
    event: AuditEvent,
) -> tuple[list[ContentRow], str | None]:
    records: list[ContentRow] = []
    names: dict[str, str] = {}
    subject_digest: str | None = None
    size = 0
    content = event.content or {}
    count = len(content) + (event.subject_ref is not None)
    if not count:
        return records, None
    salts = os.urandom(_SALT_BYTES * count)  # one system call for every salt
    for index, (name, value) in enumerate(content.items()):
        if not isinstance(name, str):
            msg = f"content names must be strings, not {type(name).__name__}"
            raise TypeError(msg)
        if "\x00" in name:
            msg = "a content name holds U+0000 (NUL), which events may not contain"
            raise ValueError(msg)
        data = canonical_bytes(value)
        _refuse_nul(data.decode("utf-8"), f"content {name!r}")
        size += len(data)
        salt = salts[index * _SALT_BYTES : (index + 1) * _SALT_BYTES]
        digest = digest_value(salt, data)
        names[name] = digest
        records.append(("content", name, digest, salt, data))
    if event.subject_ref is not None:
        if "\x00" in event.subject_ref:
            msg = "subject_ref holds U+0000 (NUL), which audit events may not contain"
            raise ValueError(msg)
        data = canonical_bytes(event.subject_ref)
        salt = salts[-_SALT_BYTES:]
        subject_digest = digest_value(salt, data)
        records.append(("subject", SUBJECT_CLASS, subject_digest, salt, data))
    if size > MAX_CONTENT_BYTES:
        msg = f"personal content of {size} bytes exceeds {MAX_CONTENT_BYTES}"
        raise ValueError(msg)
    if not records:
        return records, None
    return records, combine_digests(names, subject_digest)


def prepare(
    event: AuditEvent,
    pseudonymize: Callable[[str], str],
    *,
    pseudonym: str | None = None,
) -> Prepared:
    """
    Check *event* and build everything of its envelope but the sequence and link.

    Args:
        event: The event as its producer made it.
        pseudonymize: Keyed hash for the subject reference.
        pseudonym: For the store's own events: a pseudonym to record as it is,
            with no raw reference kept.

    Raises:
        TypeError: A field has the wrong type.
        ValueError: A field has no canonical form, or the event is too large.
    """
    _check_fields(event)
    if pseudonym is None:
        records, content_hash = _content_records(event)
        if event.subject_ref is not None:
            pseudonym = pseudonymize(event.subject_ref)
    else:
        records, content_hash = [], None
    envelope = {
        "actor": event.actor,
        "analysis_id": event.analysis_id,
        "consent_ref": event.consent_ref,
        "content_hash": content_hash,
        "data": event.data,
        "event_id": event.event_id,
        "policy_id": event.policy_id,
        "prev_hash": "",
        "purpose": event.purpose,
        "schema": event.schema,
        "sequence": 0,
        "span_id": event.span_id,
        "subject_ref": pseudonym,
        "time": format_time(event.time),
        "trace_id": event.trace_id,
        "type": event.type,
    }
    text = canonical_json(envelope)
    _refuse_nul(text, "the event")
    size = len(encode_utf8(text))
    if size > MAX_ENVELOPE_BYTES:
        msg = f"envelope of {size} bytes exceeds {MAX_ENVELOPE_BYTES}"
        raise ValueError(msg)
    at_prev = text.rfind(_PREV_MARK)
    at_seq = text.rfind(_SEQ_MARK)
    return Prepared(
        event=event,
        head=text[:at_prev],
        middle=text[at_prev + len(_PREV_MARK) : at_seq],
        tail=text[at_seq + len(_SEQ_MARK) :],
        pseudonym=pseudonym,
        content_hash=content_hash,
        records=records,
    )


def seal(prepared: Prepared, sequence: int, prev_hash: str) -> tuple[str, str]:
    """The envelope text at *sequence* after *prev_hash*, and its hash."""
    text = (
        f'{prepared.head},"prev_hash":"{prev_hash}"{prepared.middle}'
        f',"sequence":{sequence},{prepared.tail}'
    )
    return text, hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse_envelope(
    envelope: str | bytes,
    hash_: str,
    content: Mapping[str, Any] | None = None,
) -> RecordedEvent:
    """
    The RecordedEvent held in a stored envelope, with its remaining content.

    Raises:
        ValueError: *envelope* is not an envelope.
    """
    try:
        fields = parse_json(envelope)
        event = AuditEvent(
            type=fields["type"],
            event_id=fields["event_id"],
            time=parse_time(fields["time"]),
            analysis_id=fields["analysis_id"],
            trace_id=fields["trace_id"],
            span_id=fields["span_id"],
            actor=fields["actor"],
            purpose=fields["purpose"],
            consent_ref=fields["consent_ref"],
            subject_ref=fields["subject_ref"],
            policy_id=fields["policy_id"],
            data=fields["data"],
            content=dict(content) if content else None,
            schema=fields["schema"],
        )
        return RecordedEvent(
            sequence=fields["sequence"],
            event=event,
            content_hash=fields["content_hash"],
            prev_hash=fields["prev_hash"],
            hash=hash_,
        )
    except (KeyError, TypeError, ValueError) as err:
        msg = f"not an audit envelope: {err}"
        raise ValueError(msg) from err


def is_canonical_envelope(envelope: bytes) -> bool:
    """True when *envelope* is exactly the canonical JSON of what it holds."""
    try:
        return canonical_bytes(json.loads(envelope)) == envelope
    except (ValueError, CanonicalizationError):
        return False
