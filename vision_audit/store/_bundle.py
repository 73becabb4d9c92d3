"""
Evidence bundles: one analysis's events, each with its inclusion proof to a checkpoint.

A bundle proves that events are in the log, as recorded, without disclosing any
other event: for each, its envelope, its RFC 9162 audit path (about log2(n) hashes)
and the signed checkpoint (with its witnesses' cosignatures) whose root the path
leads to. Personal content is added only when asked for, and only what is left of
it; its salted digests let the recipient check it against the envelope.

The bundle is one canonical JSON object (``docs/evidence-format.md``)::

    {"checkpoint": {"note": ..., "root": hex, "sequence": n,
                    "timestamps": [base64 DER]},
     "events": [{"content": null | [{"digest", "kind", "name", "salt", "value"}],
                 "envelope": {...}, "hash": hex, "proof": [hex, ...],
                 "sequence": n}],
     "origin": ..., "type": "vision-audit.proof", "version": 1}
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from vision_audit._text import counted
from vision_audit.store import _merkle
from vision_audit.store._canonical import (
    CanonicalizationError,
    canonical_bytes,
    canonical_json,
)
from vision_audit.store._chain import (
    SUBJECT_NAME,
    combine_digests,
    envelope_shape,
)
from vision_audit.store._envelope import MAX_ENVELOPE_BYTES
from vision_audit.store._note import (
    NoteError,
    NoteVerifier,
    open_note,
    parse_checkpoint,
    parse_note,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from vision_audit.store._base import BaseAuditStore

__all__ = [
    "BUNDLE_TYPE",
    "BundleError",
    "BundleVerification",
    "make_bundle",
    "verify_bundle",
]

BUNDLE_TYPE: Final = "vision-audit.proof"
BUNDLE_VERSION: Final = 1
MAX_BUNDLE_BYTES: Final = 64 << 20
_MAX_EVENTS: Final = 10_000
_MEMBERS: Final = frozenset({"checkpoint", "events", "origin", "type", "version"})
_CHECKPOINT: Final = frozenset({"note", "root", "sequence", "timestamps"})
_EVENT: Final = frozenset({"content", "envelope", "hash", "proof", "sequence"})
_RECORD: Final = frozenset({"digest", "kind", "name", "salt", "value"})


class BundleError(ValueError):
    """A file is not a readable evidence bundle (the message says what is wrong)."""


def make_bundle(
    store: BaseAuditStore, identifier: str, *, content: bool = False
) -> dict[str, Any]:
    """
    The evidence bundle of the event or analysis *identifier*.

    Args:
        store: The store to read.
        identifier: An event id, or an analysis id (every event of the analysis).
        content: Add the personal content that remains (never erased content).

    Raises:
        LookupError: No event has that id, or no checkpoint covers the events yet
            (the message says when one will).
        StoreError: The store cannot be read, or its tree is damaged.

    .. versionadded:: 0.2.0
    """
    found = store.find_events(identifier)
    if not found:
        msg = f"no event or analysis {identifier!r} in {store.name}"
        raise LookupError(msg)
    last = max(sequence for sequence, _, _ in found)
    checkpoint = store.get_checkpoint(covering=last)
    if checkpoint is None:
        msg = (
            f"event {last} is not yet covered by a checkpoint; the writer signs one "
            "every few events and minutes and on close, or run `vision-audit "
            "checkpoint`"
        )
        raise LookupError(msg)
    records = store.get_content_records([s for s, _, _ in found]) if content else {}
    events = []
    for sequence, hash_, envelope in found:
        proof = store.get_inclusion_proof(sequence, checkpoint.sequence)
        events.append(
            {
                "content": (
                    [
                        {
                            "digest": record.digest,
                            "kind": record.kind,
                            "name": record.name,
                            "salt": record.salt.hex() if record.salt else None,
                            "value": (
                                record.value.decode("utf-8") if record.value else None
                            ),
                        }
                        for record in records.get(sequence, [])
                    ]
                    if content
                    else None
                ),
                "envelope": json.loads(envelope),
                "hash": hash_,
                "proof": [node.hex() for node in proof],
                "sequence": sequence,
            }
        )
    return {
        "checkpoint": {
            "note": checkpoint.signed_note(),
            "root": checkpoint.root,
            "sequence": checkpoint.sequence,
            "timestamps": [
                base64.b64encode(token).decode("ascii")
                for token in checkpoint.timestamps
            ],
        },
        "events": events,
        "origin": store.origin,
        "type": BUNDLE_TYPE,
        "version": BUNDLE_VERSION,
    }


def dump_bundle(bundle: dict[str, Any]) -> str:
    """The bundle as its file holds it: canonical JSON and a new line."""
    return canonical_json(bundle) + "\n"


@dataclass(frozen=True, slots=True, kw_only=True)
class BundleVerification:
    """
    What checking a bundle found.

    Args:
        ok: True when every event is proven in the checkpoint and the checkpoint
            is trusted as asked.
        message: One paragraph for a person.
        origin: The log.
        size: The checkpoint's tree size.
        events: ``(sequence, type, time, event id)`` of each proven event.
        signed: Whether a trusted writer key signed the checkpoint.
        witnesses: The trusted witnesses whose cosignatures verified.
        authenticated: Whether any trusted key vouched for the checkpoint.

    .. versionadded:: 0.2.0
    """

    ok: bool
    message: str
    origin: str = ""
    size: int = 0
    events: tuple[tuple[int, str, str, str], ...] = ()
    signed: bool = False
    witnesses: tuple[str, ...] = ()
    authenticated: bool = False


def _fail(message: str) -> BundleVerification:
    return BundleVerification(ok=False, message=message)


def _parse(data: bytes) -> dict[str, Any]:  # noqa: C901 - one check per rule
    if len(data) > MAX_BUNDLE_BYTES:
        msg = f"larger than {MAX_BUNDLE_BYTES} bytes, which no bundle is"
        raise BundleError(msg)

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        value = dict(items)
        if len(value) != len(items):
            msg = "a member appears twice in one object"
            raise BundleError(msg)
        return value

    try:
        value = json.loads(data, object_pairs_hook=pairs)
    except BundleError:
        raise
    except (ValueError, RecursionError) as err:
        msg = f"not JSON ({err})"
        raise BundleError(msg) from err
    if not isinstance(value, dict) or value.get("type") != BUNDLE_TYPE:
        msg = "not a vision-audit evidence bundle"
        raise BundleError(msg)
    if type(value.get("version")) is not int or value["version"] != BUNDLE_VERSION:
        msg = f"bundle version {value.get('version')!r} is not supported"
        raise BundleError(msg)
    try:
        if canonical_bytes(value) != data.rstrip(b"\n"):
            msg = "not written in canonical JSON (RFC 8785)"
            raise BundleError(msg)
    except CanonicalizationError as err:
        raise BundleError(str(err)) from err
    _members(value, _MEMBERS, "the bundle")
    _members(value["checkpoint"], _CHECKPOINT, "the checkpoint")
    stamps = value["checkpoint"]["timestamps"]
    if not isinstance(stamps, list) or not all(isinstance(t, str) for t in stamps):
        msg = "the checkpoint's time stamps must be a list of base64 strings"
        raise BundleError(msg)
    try:
        for stamp in stamps:
            base64.b64decode(stamp, validate=True)
    except (binascii.Error, ValueError) as err:
        msg = "a time stamp of the checkpoint is not base64"
        raise BundleError(msg) from err
    events = value["events"]
    if not isinstance(events, list) or not events or len(events) > _MAX_EVENTS:
        msg = "the bundle must hold 1 to 10,000 events"
        raise BundleError(msg)
    for number, event in enumerate(events, start=1):
        _members(event, _EVENT, f"event {number}")
    return value


def _members(value: object, members: frozenset[str], what: str) -> None:
    if not isinstance(value, dict) or set(value) != members:
        have = set(value) if isinstance(value, dict) else set()
        wrong = sorted(have ^ members)
        detail = f" ({wrong[0]!r})" if wrong else ""
        msg = f"{what} does not have exactly the members of its format{detail}"
        raise BundleError(msg)


def _check_content(  # noqa: C901, PLR0911, PLR0912 - one return per problem
    event: dict[str, Any], fields: dict[str, Any]
) -> str | None:
    """Why the event's content does not match its envelope, or None."""
    records = event["content"]
    if records is None:
        return None
    if not isinstance(records, list):
        return "its content must be a list of records"
    digests: dict[str, str] = {}
    subject: str | None = None
    seen: set[tuple[object, object]] = set()
    for record in records:
        if not isinstance(record, dict) or set(record) != _RECORD:
            return "a content record does not have the members of its format"
        kind, name, digest = record["kind"], record["name"], record["digest"]
        if (
            not isinstance(name, str)
            or (kind, name) in seen
            or (kind == "subject" and name != SUBJECT_NAME)
        ):
            return f"the content record {name!r} is not one its envelope has"
        seen.add((kind, name))
        salt, value = record["salt"], record["value"]
        if (
            kind not in ("content", "subject")
            or not isinstance(name, str)
            or not isinstance(digest, str)
            or not isinstance(salt, str | None)
            or not isinstance(value, str | None)
        ):
            return f"the content record {name!r} is malformed"
        if (salt is None) != (value is None):
            return f"the content record {name!r} has a salt or a value alone"
        if salt is not None and value is not None:
            try:
                computed = hashlib.sha256(
                    bytes.fromhex(salt) + value.encode("utf-8")
                ).hexdigest()
            except (ValueError, UnicodeError):
                return f"the content record {name!r} is malformed"
            if computed != digest:
                return f"the content {name!r} does not match its digest"
        if kind == "subject":
            subject = digest
        else:
            digests[str(name)] = digest
    expected = fields["content_hash"]
    if expected is None:
        return "it has content but its envelope has none" if records else None
    if combine_digests(digests, subject) != expected:
        return "its content records do not match the envelope's content_hash"
    return None


def verify_bundle(  # noqa: C901, PLR0911, PLR0912, PLR0915 - one check after another
    data: bytes,
    *,
    public_keys: Sequence[Ed25519PublicKey] = (),
    witnesses: Sequence[NoteVerifier] = (),
    min_witnesses: int = 1,
) -> BundleVerification:
    """
    Check an evidence bundle offline.

    Every event's envelope must hash to its hash, and its audit path must lead to
    the checkpoint's root; the checkpoint must be signed by one of *public_keys*
    (the log's key name is its origin) when given, and cosigned by *min_witnesses*
    of *witnesses* when given.

    Raises:
        BundleError: *data* is not a readable bundle.

    .. versionadded:: 0.2.0
    """
    bundle = _parse(data)
    origin = bundle["origin"]
    head = bundle["checkpoint"]
    if not isinstance(origin, str) or not isinstance(head["note"], str):
        return _fail("the bundle's origin and checkpoint note must be strings")
    try:
        note = parse_note(head["note"])
        body = parse_checkpoint(note.body)
    except (NoteError, TypeError) as err:
        return _fail(f"the checkpoint is unreadable: {err}")
    if body.origin != origin or body.size != head["sequence"]:
        return _fail("the checkpoint is not the one the bundle names")
    if body.root_hash.hex() != head["root"]:
        return _fail("the checkpoint's root is not the one the bundle names")
    signed = False
    if public_keys:
        verifiers = [NoteVerifier.for_key(origin, key) for key in public_keys]
        try:
            signed = bool(open_note(note, verifiers))
        except NoteError:
            return _fail("the checkpoint's signature by the log's key does not verify")
        if not signed:
            return _fail("the checkpoint is not signed by the given public key")
    named: set[str] = set()
    if witnesses:
        known = {(v.name, v.key_hash) for v in witnesses}
        if not any((s.name, s.key_hash) in known for s in note.signatures):
            return _fail("the checkpoint is not cosigned by any of the given witnesses")
        try:
            opened = open_note(note, witnesses)
        except NoteError as err:
            return _fail(f"a witness's cosignature does not verify: {err}")
        named = {v.verifier.name for v in opened}
        if len(named) < min_witnesses:
            return _fail(
                f"the checkpoint carries cosignatures of {len(named)} of the given "
                f"witnesses, not the {min_witnesses} required"
            )
    proven = []
    for event in bundle["events"]:
        sequence = event["sequence"]
        envelope = event["envelope"]
        if type(sequence) is not int or not isinstance(event["hash"], str):
            return _fail("an event's sequence must be an integer, its hash a string")
        if not isinstance(event["proof"], list) or not all(
            isinstance(node, str) for node in event["proof"]
        ):
            return _fail(f"the proof of event {sequence} must be a list of hashes")
        shape = envelope_shape(envelope)
        if shape is not None:
            return _fail(f"the envelope of event {sequence} {shape}")
        try:
            text = canonical_bytes(envelope)
        except CanonicalizationError as err:
            return _fail(f"the envelope of event {sequence}: {err}")
        if len(text) > MAX_ENVELOPE_BYTES:
            return _fail(f"the envelope of event {sequence} is too large")
        hash_ = hashlib.sha256(text).hexdigest()
        if hash_ != event["hash"] or envelope["sequence"] != sequence:
            return _fail(f"event {sequence} was changed: its envelope has another hash")
        try:
            proof = [bytes.fromhex(node) for node in event["proof"]]
        except (TypeError, ValueError, binascii.Error):
            return _fail(f"the proof of event {sequence} is malformed")
        if not isinstance(sequence, int) or not _merkle.verify_inclusion(
            _merkle.leaf_hash(bytes.fromhex(hash_)),
            sequence - 1,
            body.size,
            proof,
            body.root_hash,
        ):
            return _fail(
                f"event {sequence} is not in the log at tree size {body.size}: its "
                "inclusion proof does not lead to the checkpoint's root"
            )
        problem = _check_content(event, envelope)
        if problem is not None:
            return _fail(f"event {sequence}: {problem}")
        proven.append(
            (
                sequence,
                str(envelope["type"]),
                str(envelope["time"]),
                str(envelope["event_id"]),
            )
        )
    authenticated = signed or bool(named)
    trust = []
    if signed:
        trust.append("signed by the given log key")
    if named:
        trust.append(f"cosigned by {', '.join(sorted(named))}")
    listed = ", ".join(f"{seq} ({kind} at {moment})" for seq, kind, moment, _ in proven)
    message = (
        f"{counted(len(proven), 'event')} proven in the log {origin} at tree size "
        f"{body.size}: {listed}; the checkpoint is "
        + (" and ".join(trust) if trust else "NOT AUTHENTICATED (no key given)")
    )
    return BundleVerification(
        ok=True,
        message=message,
        origin=origin,
        size=body.size,
        events=tuple(proven),
        signed=signed,
        witnesses=tuple(sorted(named)),
        authenticated=authenticated,
    )
