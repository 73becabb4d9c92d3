"""
The hash chain: envelope hashing, content digests, checkpoint payloads, verify_chain().

Every recorded event is one *envelope*: the canonical JSON (see
:mod:`vision_audit.store._canonical`) of an object with exactly these members::

    actor  analysis_id  consent_ref  content_hash  data  event_id  policy_id
    prev_hash  purpose  schema  sequence  span_id  subject_ref  time  trace_id  type

Its hash is the lowercase hex SHA-256 of those UTF-8 bytes. ``prev_hash`` is the hash of
the envelope before it (64 zeros for sequence 1), so changing, inserting, deleting or
moving any envelope breaks a link. ``subject_ref`` is the keyed pseudonym, never the
reference the application gave.

Personal content stays outside the chain. Each piece (a member of
``AuditEvent.content``, and the raw subject reference) is stored with its own random
salt and digest ``SHA-256(salt || canonical JSON of the value)``; ``content_hash`` is
the SHA-256 of the canonical JSON ``{"content": {name: digest, ...}, "subject_ref":
digest or null}``. Purging a piece deletes its value and salt and keeps the digest, so
the chain and the remaining content still verify, and the digest alone reveals nothing.

The events are also the leaves of an RFC 9162 Merkle tree: the leaf of sequence *n*
is its envelope hash (32 bytes), hashed as ``SHA-256(0x00 || hash)``. Checkpoints
(:mod:`vision_audit.store._checkpoints`) sign the tree's root at a size; witnesses
cosign it. The chain stays beside the tree: every event names the one before it, so
that damage is located at its exact sequence in one streaming pass, while the tree
gives short proofs and what checkpoints sign.

:func:`verify_chain` is pure: it reads links (and optionally content records and
checkpoints), recomputes the tree, holds it to every checkpoint a trusted party
vouches for, and returns a :class:`Verification` naming the first bad sequence number
and the kind of damage.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import TYPE_CHECKING, Final, NamedTuple

from vision_audit import attributes as attrs
from vision_audit._text import counted
from vision_audit.exceptions import ChainIntegrityError
from vision_audit.store._canonical import canonical_bytes, parse_time
from vision_audit.store._checkpoints import Checkpoint, Claim, Trust, check_checkpoints

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from vision_audit.store._note import NoteVerifier

__all__ = [
    "CHANGED",
    "DELETED",
    "GENESIS_HASH",
    "INSERTED",
    "REORDERED",
    "SIGNATURE",
    "TRUNCATED",
    "UNSIGNED",
    "UNWITNESSED",
    "ChainHead",
    "Checkpoint",
    "ContentRecord",
    "Verification",
    "checkpoint_time",
    "combine_digests",
    "digest_value",
    "hash_envelope",
    "verify_chain",
]

GENESIS_HASH: Final = "0" * 64
"""The ``prev_hash`` of sequence 1."""

CHANGED: Final = "changed"
"""An envelope, its stored hash or its personal content no longer matches the chain."""
INSERTED: Final = "inserted"
"""An event that the chain does not account for sits between recorded events."""
DELETED: Final = "deleted"
"""An event that the chain links to is missing."""
REORDERED: Final = "reordered"
"""Recorded events are present but out of their chained order."""
TRUNCATED: Final = "truncated"
"""The chain ends before the last signed checkpoint."""
SIGNATURE: Final = "bad-signature"
"""A checkpoint's signature does not verify with a trusted key."""
UNSIGNED: Final = "unsigned"
"""Trusted keys were given, but no checkpoint signed by one of them holds the chain."""
UNWITNESSED: Final = "not-witnessed"
"""Witness keys were given, but no checkpoint cosigned by the quorum holds the chain."""

UNREADABLE_TIME: Final = datetime.min.replace(tzinfo=UTC)
"""The time of a checkpoint whose stored time is unreadable: it cannot verify."""

_WINDOW: Final = 256
_PREV: Final = b',"prev_hash":"'
_SEQ: Final = b',"sequence":'
_CONTENT: Final = b'"content_hash":'
_PROGRESS_EVERY: Final = 65_536
_PLAIN_NAME: Final = re.compile(r"[A-Za-z0-9_.\-]*")
_KINDS: Final = frozenset({"content", "subject"})
SUBJECT_NAME: Final = "subject_ref"
"""The one name of the record of kind ``subject``: the raw subject reference."""
PURGED: Final = attrs.EVENT_CONTENT_PURGED
ERASED: Final = attrs.EVENT_SUBJECT_ERASED


@dataclass(frozen=True, slots=True)
class ChainHead:
    """
    The last link of a chain: its sequence number and hash.

    .. versionadded:: 0.1.0
    """

    sequence: int
    hash: str


StoredContent = tuple[int, str, str, str, bytes | None, bytes | None]
"""A content record as read: sequence, kind, name, digest, salt, value."""


class ContentRecord(NamedTuple):
    """
    One stored piece of personal content: a salted digest and, until purged, the value.

    Args:
        sequence: The event it belongs to.
        kind: ``content`` for a member of ``AuditEvent.content``, ``subject`` for the
            raw subject reference.
        name: The member's name (``subject_ref`` for the subject reference).
        digest: SHA-256 of salt and canonical value, hex; kept after a purge.
        salt: The random salt, or None once purged.
        value: The canonical JSON of the value, or None once purged.

    .. versionadded:: 0.1.0
    """

    sequence: int
    kind: str
    name: str
    digest: str
    salt: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Verification:
    """
    What verifying a chain found.

    Args:
        ok: True when every link, content digest and signature verified.
        events: How many events were checked before stopping.
        checkpoints: How many signed checkpoints were verified.
        head: The last event read, or None for an empty chain.
        sequence: The first bad sequence number, when not ok.
        kind: What is wrong (``changed``, ``inserted``, ``deleted``, ``reordered``,
            ``truncated``, ``bad-signature``, ``unsigned``), when not ok.
        message: One sentence for a person.
        warnings: Limits of this verification (e.g. no trusted key given).
        signed_through: The largest tree size that a checkpoint signed by a
            trusted writer key holds, 0 for none.
        witnessed_through: The largest tree size that a checkpoint cosigned by the
            quorum of trusted witnesses holds, 0 for none.
        witnesses: The trusted witnesses whose cosignatures verified.
        root: The Merkle root of the events read, hex, when they start at 1.
        origin: The log verified (its checkpoints' first line), when known.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0 ``signed_through``, ``witnessed_through``,
       ``witnesses`` and ``root``.
    """

    ok: bool
    events: int
    checkpoints: int
    head: ChainHead | None
    sequence: int | None = None
    kind: str | None = None
    message: str = ""
    warnings: tuple[str, ...] = ()
    signed_through: int = 0
    witnessed_through: int = 0
    witnesses: tuple[str, ...] = ()
    root: str | None = None
    origin: str | None = None

    def raise_for_failure(self) -> None:
        """
        Raise when the chain did not verify.

        Raises:
            ChainIntegrityError: With the first bad sequence and the kind.
        """
        if not self.ok:
            raise ChainIntegrityError(
                self.message, sequence=self.sequence, kind=self.kind or ""
            )


def read_salt(text: str | None) -> bytes | None:
    """
    A stored salt (hex) as bytes; one that is not hex reads as bytes no digest matches.

    So a damaged salt is found by the digest check, naming the content and the
    sequence, rather than failing the whole read.
    """
    if text is None:
        return None
    try:
        return bytes.fromhex(text)
    except (ValueError, TypeError):
        return b"\xffdamaged:" + str(text).encode("utf-8", "replace")


def stored_content(
    rows: Iterable[tuple[int, str, str, str, str | None, bytes | None]],
) -> Iterator[StoredContent]:
    """Content records as a database gives them (salt in hex) as verify reads them."""
    for sequence, kind, name, digest, salt, value in rows:
        yield (
            sequence,
            kind,
            name,
            digest,
            read_salt(salt),
            bytes(value) if value is not None else None,
        )


def hash_envelope(envelope: bytes) -> str:
    """The hex SHA-256 of an envelope's canonical bytes."""
    return hashlib.sha256(envelope).hexdigest()


def digest_value(salt: bytes, value: bytes) -> str:
    """The salted digest of one piece of personal content (canonical JSON bytes)."""
    return hashlib.sha256(salt + value).hexdigest()


def combine_digests(content: Mapping[str, str], subject: str | None) -> str:
    """The ``content_hash`` of an event from the digests of its personal content."""
    if all(_PLAIN_NAME.fullmatch(name) for name in content):
        # The canonical JSON, written directly: plain names need no escaping.
        members = ",".join(f'"{name}":"{content[name]}"' for name in sorted(content))
        tail = f'"{subject}"' if subject is not None else "null"
        text = f'{{"content":{{{members}}},"subject_ref":{tail}}}'
        return hashlib.sha256(text.encode("ascii")).hexdigest()
    return hashlib.sha256(
        canonical_bytes({"content": dict(content), "subject_ref": subject})
    ).hexdigest()


def checkpoint_time(text: str) -> datetime:
    """A stored checkpoint time, or ``UNREADABLE_TIME``: verify then names it."""
    try:
        return parse_time(text)
    except (ValueError, TypeError, OverflowError):
        return UNREADABLE_TIME


def _embedded_prev(envelope: bytes) -> bytes | None:
    # The last ',"prev_hash":"' is the top-level member: every member sorted after
    # it holds a scalar, and a string never holds an unescaped '"'.
    at = envelope.rfind(_PREV)
    if at < 0 or envelope[at + 78 : at + 79] != b'"':
        return None
    return envelope[at + 14 : at + 78]


def _embedded_sequence(envelope: bytes) -> int | None:
    at = envelope.rfind(_SEQ)
    if at < 0:
        return None
    end = envelope.find(b",", at + 12)
    digits = envelope[at + 12 : end]
    return int(digits) if digits.isdigit() and len(digits) < 20 else None  # noqa: PLR2004 - int64


def _embedded_content_hash(envelope: bytes) -> bytes | None:
    # The first '"content_hash":' is the top-level member: only string members
    # (actor, analysis_id, consent_ref) sort before it.
    at = envelope.find(_CONTENT)
    if at < 0:
        return b"?"
    start = at + len(_CONTENT)
    if envelope[start : start + 4] == b"null":
        return None
    if (
        envelope[start : start + 1] == b'"'
        and envelope[start + 65 : start + 66] == b'"'
    ):
        return envelope[start + 1 : start + 65]
    return b"?"


class _Removals:
    """
    What the chain's purges and erasures removed, to account for removed content.

    Built from the ``content.purged`` and ``subject.erased`` events (read before the
    walk, so that a removal is checked where its record is met); each of those
    events must then be met in the chain itself, with the same hash.
    """

    def __init__(self, maintenance: Iterable[tuple[int, str, bytes]]) -> None:
        self.hashes: dict[int, str] = {}
        self._erased: dict[str, int] = {}
        purges: dict[str | None, list[tuple[int, str]]] = {}
        for sequence, hash_, envelope in maintenance:
            try:
                fields = json.loads(envelope)
            except ValueError:
                continue
            if not isinstance(fields, dict):
                continue
            data = fields.get("data")
            if fields.get("type") == PURGED and isinstance(data, dict):
                cutoff, data_class = data.get("older_than"), data.get("data_class")
                if isinstance(cutoff, str) and isinstance(data_class, str | None):
                    purges.setdefault(data_class, []).append((sequence, cutoff))
                    self.hashes[sequence] = hash_
            elif fields.get("type") == ERASED:
                subject = fields.get("subject_ref")
                if isinstance(subject, str):
                    self._erased[subject] = max(
                        sequence, self._erased.get(subject, sequence)
                    )
                    self.hashes[sequence] = hash_
        # Per data class: the purges' sequences, and from each one on, the latest
        # cutoff of a purge at or after it.
        self._purges: dict[str | None, tuple[list[int], list[str]]] = {}
        for data_class, found in purges.items():
            found.sort()
            latest: list[str] = []
            for _, cutoff in reversed(found):
                latest.append(max(cutoff, latest[-1]) if latest else cutoff)
            latest.reverse()
            self._purges[data_class] = ([seq for seq, _ in found], latest)

    def account(self, sequence: int, envelope: bytes, names: list[str]) -> str | None:
        """The first of *names*, removed from *sequence*, that no removal explains."""
        try:
            fields = json.loads(envelope)
            moment, subject = fields["time"], fields["subject_ref"]
        except (ValueError, TypeError, KeyError):
            return names[0]
        if subject is not None and self._erased.get(subject, 0) > sequence:
            return None
        for name in names:
            if not any(
                self._purged_after(sequence, data_class, moment)
                for data_class in (None, name)
            ):
                return name
        return None

    def _purged_after(self, sequence: int, data_class: str | None, moment: str) -> bool:
        found = self._purges.get(data_class)
        if found is None:
            return False
        sequences, latest = found
        at = bisect.bisect_right(sequences, sequence)
        return at < len(sequences) and isinstance(moment, str) and moment < latest[at]


@dataclass(slots=True)
class _Walk:
    """The state of one verification, advanced link by link."""

    expected: int
    prev: str
    start: int = 0
    events: int = 0
    checkpoints: int = 0
    last_good_checkpoint: int = 0
    head: ChainHead | None = None


def _classify(  # noqa: C901, PLR0911, PLR0917 - one return per kind of damage
    seq: int,
    stored_hash: str,
    envelope: bytes,
    walk: _Walk,
    recent: deque[tuple[int, str]],
    ahead: list[tuple[int, str, bytes]],
) -> tuple[int, str, str]:
    """Name the first bad sequence and the kind, from the links around a break."""
    expected = walk.expected
    seen = {h: s for s, h in recent}
    later_seqs = {s for s, _, _ in ahead}
    later_hashes = {h for _, h, _ in ahead}
    if seq < expected:
        if seq in {s for s, _ in recent}:
            return seq, INSERTED, f"sequence {seq} appears twice"
        return seq, REORDERED, f"sequence {seq} appears after sequence {expected - 1}"
    if seq > expected:
        if expected in later_seqs:
            return (
                expected,
                REORDERED,
                f"sequence {expected} appears after sequence {seq}",
            )
        missing = f"{expected}" if seq == expected + 1 else f"{expected} to {seq - 1}"
        return expected, DELETED, f"sequence {missing} is missing"
    prev_raw = _embedded_prev(envelope)
    prev = prev_raw.decode("ascii", "replace") if prev_raw is not None else ""
    embedded = _embedded_sequence(envelope)
    self_ok = hash_envelope(envelope) == stored_hash
    if prev in later_hashes:
        return (
            expected,
            REORDERED,
            f"sequence {expected} holds an event chained after a later one",
        )
    if prev in seen and seen[prev] < expected - 1:
        first = seen[prev] + 1
        return (
            first,
            INSERTED,
            (
                f"sequences {first} to {expected - 1} were inserted: sequence "
                f"{expected} was chained to sequence {seen[prev]}"
            ),
        )
    if prev == walk.prev:
        if embedded != seq:
            return (
                expected,
                CHANGED,
                f"the sequence number of sequence {expected} was changed",
            )
        return expected, CHANGED, f"sequence {expected} was changed"
    if embedded is not None and embedded > expected and embedded != seq:
        return (
            expected,
            DELETED,
            f"events from sequence {expected} were deleted and the rest renumbered",
        )
    if self_ok and embedded == seq and expected - 1 > walk.start:
        return (
            expected - 1,
            CHANGED,
            (
                f"sequence {expected - 1} was changed: its hash no longer matches "
                f"the link that sequence {expected} recorded"
            ),
        )
    return expected, CHANGED, f"sequence {expected} was changed"


def _content_failure(  # noqa: C901, PLR0911, PLR0912 - one return per kind of damage
    seq: int, envelope: bytes, records: list[StoredContent], removals: _Removals
) -> tuple[str, str] | None:
    """The kind and why the personal content of *seq* does not match, or None."""
    expected = _embedded_content_hash(envelope)
    if expected == b"?":
        return CHANGED, f"the envelope of sequence {seq} has no readable content_hash"
    if expected is None:
        if records:
            return (
                CHANGED,
                f"sequence {seq} has personal content that its envelope never had",
            )
        return None
    if not records:
        return CHANGED, f"the personal content records of sequence {seq} are missing"
    content: dict[str, str] = {}
    subject: str | None = None
    removed: list[str] = []
    seen: set[tuple[str, str]] = set()
    for _, kind, name, digest, salt, value in records:
        if (kind, name) in seen or (kind == "subject" and name != SUBJECT_NAME):
            return (
                CHANGED,
                (
                    f"sequence {seq} has a personal content record {name!r} that its "
                    "envelope never had"
                ),
            )
        seen.add((kind, name))
        if kind not in _KINDS:
            return (
                CHANGED,
                (
                    f"the personal content record {name!r} of sequence {seq} has the "
                    f"unknown kind {kind!r} (content or subject expected)"
                ),
            )
        if kind == "subject":
            subject = digest
        else:
            content[name] = digest
        if salt is None or value is None:
            if salt is not None or value is not None:
                return (
                    CHANGED,
                    f"the personal content {name!r} of sequence {seq} was changed",
                )
            removed.append(name)
        elif hashlib.sha256(salt + value).hexdigest() != digest:
            return (
                CHANGED,
                f"the personal content {name!r} of sequence {seq} was changed",
            )
    if combine_digests(content, subject).encode("ascii") != expected:
        return CHANGED, f"the personal content records of sequence {seq} were changed"
    if removed:
        unexplained = removals.account(seq, envelope, removed)
        if unexplained is not None:
            return (
                DELETED,
                (
                    f"the personal content {unexplained!r} of sequence {seq} was "
                    f"removed, but no later {PURGED} or {ERASED} event of the chain "
                    "accounts for it"
                ),
            )
    return None


def _fold(stack: Sequence[bytes]) -> bytes:
    """The Merkle root from the frontier's subtree hashes, left to right."""
    if not stack:
        return hashlib.sha256(b"").digest()
    root = stack[-1]
    for node in reversed(stack[:-1]):
        root = hashlib.sha256(b"\x01" + node + root).digest()
    return root


ENVELOPE_MEMBERS: Final = frozenset(
    {
        "actor",
        "analysis_id",
        "consent_ref",
        "content_hash",
        "data",
        "event_id",
        "policy_id",
        "prev_hash",
        "purpose",
        "schema",
        "sequence",
        "span_id",
        "subject_ref",
        "time",
        "trace_id",
        "type",
    }
)
"""The members of every envelope, exactly."""


def _envelope_problem(envelope: bytes, seq: int) -> str | None:
    """
    Why *envelope* is not one canonical envelope of *seq*, or None.

    A writer writes nothing else; an envelope that reads two ways (a member twice,
    which parsers resolve differently) or lacks a member is damage, even when its
    hash and link hold.
    """
    try:
        # Decoded first: json.loads would guess the encoding of bytes each time.
        fields = json.loads(envelope.decode("utf-8"))
        canonical = canonical_bytes(fields) == envelope
    except (ValueError, RecursionError):
        return f"the envelope of sequence {seq} is not JSON"
    shape = envelope_shape(fields)
    if shape is not None:
        return f"the envelope of sequence {seq} {shape}"
    if not canonical:
        return (
            f"the envelope of sequence {seq} is not canonical JSON (RFC 8785): a "
            "member twice, or another spelling of a value"
        )
    if fields["sequence"] != seq:
        return f"the envelope of sequence {seq} names another sequence"
    return None


_TEXT_OR_NULL: Final = (
    "actor",
    "analysis_id",
    "consent_ref",
    "content_hash",
    "policy_id",
    "purpose",
    "span_id",
    "subject_ref",
    "trace_id",
)


def envelope_shape(fields: object) -> str | None:
    """
    What is wrong with a parsed envelope's members and their types, or None.

    Every member but ``data`` is a scalar: so the last ``,"prev_hash":"`` of the
    canonical text is the top-level member, which is what the chain's fast check
    reads.
    """
    if not isinstance(fields, dict) or fields.keys() != ENVELOPE_MEMBERS:
        return "lacks or adds a member"
    if not isinstance(fields["data"], dict):
        return "has data that is not an object"
    for name in ("event_id", "prev_hash", "time", "type"):
        if not isinstance(fields[name], str):
            return f"has a {name} that is not a string"
    for name in ("schema", "sequence"):
        if type(fields[name]) is not int:
            return f"has a {name} that is not an integer"
    for name in _TEXT_OR_NULL:
        if fields[name] is not None and not isinstance(fields[name], str):
            return f"has a {name} that is neither a string nor null"
    return None


def _before_the_slice(
    claims: Mapping[int, Sequence[Claim]],
    start: int,
    frontier: Sequence[bytes] | None,
) -> tuple[int, str, str] | None:
    """
    A slice's failure against the claims at or before where it starts, or None.

    A claim at the anchor is held to the root of the slice's frontier; a pinned
    checkpoint before the anchor cannot be checked from the slice, and must not
    pass unnoticed.
    """
    for size in sorted(size for size in claims if size <= start):
        for claim in claims[size]:
            if size == start and frontier is not None:
                if _fold(frontier) != claim.root:
                    return (
                        start,
                        CHANGED,
                        (
                            f"the slice starts after a tree of "
                            f"{counted(start, 'event')} whose root is not the one of "
                            f"{claim.source}: the events before it were rewritten"
                        ),
                    )
            elif claim.pinned:
                return (
                    start + 1,
                    TRUNCATED,
                    (
                        f"{claim.source} holds sequence {size}, which this file does "
                        f"not reach back to (it starts at sequence {start + 1}): it "
                        "cannot be checked; verify a file that starts at or before it"
                    ),
                )
    return None


def _trust_of(
    checkpoints: Iterable[Checkpoint],
    *,
    public_keys: Mapping[str, Ed25519PublicKey] | None,
    witnesses: Sequence[NoteVerifier],
    min_witnesses: int,
    origin: str | None,
    pinned: Sequence[Claim],
) -> Trust:
    # Without witnesses, a checkpoint must be signed by a trusted writer key (none
    # given: none is trusted); with witnesses, the writer's key need not be known.
    writer_keys = public_keys if public_keys is not None or witnesses else {}
    trust = check_checkpoints(
        checkpoints,
        writer_keys=writer_keys,
        witnesses=witnesses,
        min_witnesses=min_witnesses,
        origin=origin,
    )
    for claim in pinned:
        trust.claims.setdefault(claim.sequence, []).append(claim)
    return trust


def verify_chain(  # noqa: C901, PLR0911, PLR0912, PLR0915 - one flat loop, for speed
    links: Iterable[tuple[int, str, bytes]],
    *,
    checkpoints: Iterable[Checkpoint] = (),
    public_keys: Mapping[str, Ed25519PublicKey] | None = None,
    contents: Iterable[StoredContent] | None = None,
    anchor: ChainHead | None = None,
    frontier: Sequence[bytes] | None = None,
    progress: Callable[[int], None] | None = None,
    require_signature: bool = False,
    maintenance: Iterable[tuple[int, str, bytes]] = (),
    witnesses: Sequence[NoteVerifier] = (),
    min_witnesses: int = 1,
    origin: str | None = None,
    pinned: Sequence[Claim] = (),
) -> Verification:
    """
    Check every link, content digest and checkpoint of a log.

    Pure: reads what it is given, in the order given, and changes nothing. The
    Merkle tree is recomputed from the links and held to every checkpoint whose
    signatures verify: a rewrite that a trusted party saw before fails here, naming
    the range between the last root that still matches and the first that does not.

    Args:
        links: ``(sequence, hash, envelope bytes)`` in stored order.
        checkpoints: Signed checkpoints (with their cosignatures) to hold the log to.
        public_keys: Trusted writer keys by key id; a checkpoint signed by any other
            key is a ``bad-signature``. With *witnesses* and no writer key, the
            writer's signatures are not checked.
        contents: Personal content records ordered by sequence, to check against
            each envelope's ``content_hash``; None to skip that check.
        anchor: Where *links* start when they are a slice of a longer log: the
            sequence and hash of the event just before the first link.
        frontier: With *anchor*: the Merkle tree's perfect subtree hashes at the
            anchor (left to right), so that roots can be recomputed; without it,
            checkpoints of a slice are held by their chain hash only.
        progress: Called now and then with the number of events checked so far.
        maintenance: ``(sequence, hash, envelope bytes)`` of at least every
            ``content.purged`` and ``subject.erased`` event among *links*, in any
            order: removed personal content must be accounted for by one of them,
            recorded after it.
        require_signature: Fail as ``unsigned`` unless a checkpoint signed by one of
            *public_keys* holds the log.
        witnesses: Trusted witnesses' keys: the log then fails as ``not-witnessed``
            unless a checkpoint cosigned by *min_witnesses* of them holds it.
        min_witnesses: The quorum of distinct witnesses for one checkpoint.
        origin: The log's origin: checkpoints of another log fail.
        pinned: Roots the verifier holds from elsewhere (a checkpoint kept from an
            earlier verification), already checked.

    Returns:
        The verification, naming the first bad sequence and the kind when not ok.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0 Merkle roots, witnesses and pinned checkpoints.
    """
    trust = _trust_of(
        checkpoints,
        public_keys=public_keys,
        witnesses=witnesses,
        min_witnesses=min_witnesses,
        origin=origin,
        pinned=pinned,
    )
    claims = trust.claims
    bad = trust.bad
    start = anchor.sequence if anchor is not None else 0
    merkle = anchor is None or frontier is not None
    stack: list[bytes] = list(frontier or ())
    walk = _Walk(
        expected=start + 1,
        prev=anchor.hash if anchor is not None else GENESIS_HASH,
        start=start,
        last_good_checkpoint=start,
    )
    first_bad_signature = bad[0][0] if bad else None
    recent: deque[tuple[int, str]] = deque(maxlen=_WINDOW)
    iterator: Iterator[tuple[int, str, bytes]] = iter(links)
    content_iter = iter(contents) if contents is not None else None
    pending: StoredContent | None = (
        next(content_iter, None) if content_iter is not None else None
    )
    content_failure: tuple[int, str, str] | None = None
    removals = _Removals(maintenance if contents is not None else ())
    unmet = dict(removals.hashes)
    signed_through = witnessed_through = 0
    signed_count = witnessed_count = 0
    seen_witnesses: set[str] = set()
    unchecked: list[int] = []

    def fail(sequence: int, kind: str, message: str) -> Verification:
        last = walk.expected - 1
        return Verification(
            ok=False,
            events=walk.events,
            checkpoints=walk.checkpoints,
            head=ChainHead(last, walk.prev) if last > start else None,
            sequence=sequence,
            kind=kind,
            message=message,
            signed_through=signed_through,
            witnessed_through=witnessed_through,
            witnesses=tuple(sorted(trust.witnesses_seen)),
        )

    before = _before_the_slice(claims, start, stack if merkle and start else None)
    if before is not None:
        return fail(*before)
    sha256 = hashlib.sha256
    fromhex = bytes.fromhex
    next_record = content_iter.__next__ if content_iter is not None else None
    expected = walk.expected
    prev = walk.prev
    prev_bytes = prev.encode("ascii")
    events = 0
    for seq, stored_hash, envelope in iterator:
        at = envelope.rfind(_PREV)
        at_seq = envelope.rfind(_SEQ)
        if (
            seq != expected
            or at < 0
            or sha256(envelope).hexdigest() != stored_hash
            or at_seq < 0
            or envelope[at + 14 : at + 79] != prev_bytes + b'"'
            or envelope[at_seq + 12 : at_seq + 13 + len(str(seq))] != b"%d," % seq
        ):
            walk.expected, walk.prev, walk.events = expected, prev, events
            ahead = list(islice(iterator, _WINDOW))
            found = _classify(seq, stored_hash, envelope, walk, recent, ahead)
            if content_failure is not None and content_failure[0] < found[0]:
                return fail(*content_failure)
            return fail(*found)
        if merkle:
            # The leaf is the envelope's hash; appending leaf `seq` completes one
            # subtree per trailing zero bit of `seq` (RFC 9162, section 2.1.1).
            node = sha256(b"\x00" + fromhex(stored_hash)).digest()
            count = seq
            while not count & 1:
                node = sha256(b"\x01" + stack.pop() + node).digest()
                count >>= 1
            stack.append(node)
        if unmet and unmet.pop(seq, stored_hash) != stored_hash:
            content_failure = content_failure or (
                seq,
                CHANGED,
                f"sequence {seq} changed while it was read",
            )
        if content_failure is not None or (
            first_bad_signature is not None and seq >= first_bad_signature
        ):
            walk.expected, walk.prev, walk.events = expected, prev, events
            if content_failure is not None:
                return fail(*content_failure)
            return fail(first_bad_signature, SIGNATURE, bad[0][1])  # type: ignore[arg-type]
        if next_record is not None:
            shape = _envelope_problem(envelope, seq)
            if shape is not None:
                content_failure = content_failure or (seq, CHANGED, shape)
            records: list[StoredContent] = []
            while pending is not None and pending[0] <= seq:
                if pending[0] < seq:
                    content_failure = content_failure or (
                        pending[0],
                        DELETED,
                        (
                            f"personal content records of sequence "
                            f"{pending[0]} remain, but the event is missing"
                        ),
                    )
                else:
                    records.append(pending)
                try:
                    pending = next_record()
                except StopIteration:
                    pending = None
            if records or _embedded_content_hash(envelope) is not None:
                problem = _content_failure(seq, envelope, records, removals)
                if problem is not None:
                    content_failure = content_failure or (seq, *problem)
        held = claims.get(seq)
        if held is not None:
            walk.expected, walk.prev, walk.events = expected, prev, events
            root = _fold(stack) if merkle else None
            for claim in held:
                if claim.hash is not None and claim.hash != stored_hash:
                    ahead = list(islice(iterator, _WINDOW))
                    if any(hash_ == claim.hash for _, hash_, _ in ahead):
                        return fail(
                            seq,
                            INSERTED,
                            f"an event was inserted at sequence {seq}: the event "
                            f"{seq} of {claim.source} comes after it",
                        )
                if root is None:
                    if claim.hash is None:
                        unchecked.append(seq)
                        continue
                    matches = claim.hash == stored_hash
                else:
                    matches = claim.root == root and claim.hash in {None, stored_hash}
                if not matches:
                    first = walk.last_good_checkpoint + 1
                    return fail(
                        first,
                        CHANGED,
                        f"the log from sequence {first} to {seq} was rewritten: the "
                        f"first {counted(seq, 'event')} no longer match "
                        f"{claim.source}",
                    )
            if any(claim.signed for claim in held):
                signed_through = seq
                signed_count += 1
            if any(claim.witnesses for claim in held):
                witnessed_through = seq
                witnessed_count += 1
                for claim in held:
                    seen_witnesses.update(claim.witnesses)
            walk.checkpoints += 1
            walk.last_good_checkpoint = seq
        prev = stored_hash
        prev_bytes = prev.encode("ascii")
        expected = seq + 1
        events += 1
        recent.append((seq, stored_hash))
        if progress is not None and not events % _PROGRESS_EVERY:
            progress(events)
    walk.expected, walk.prev, walk.events = expected, prev, events
    last = walk.expected - 1
    walk.head = ChainHead(last, walk.prev) if last > start else None
    if content_failure is not None:
        return fail(*content_failure)
    if bad:
        return fail(bad[0][0], SIGNATURE, bad[0][1])
    beyond = [seq for seq in claims if seq > last]
    if beyond:
        sources = claims[max(beyond)]
        return fail(
            last + 1,
            TRUNCATED,
            f"the log ends at sequence {last} but {sources[0].source} holds "
            f"sequence {max(beyond)}: events from {last + 1} were removed",
        )
    if unmet:
        missing = min(unmet)
        return fail(
            missing,
            CHANGED,
            f"the removal recorded at sequence {missing} is not in the chain read",
        )
    if pending is not None:
        return fail(
            last + 1,
            TRUNCATED,
            f"the chain ends at sequence {last} but personal content records of "
            f"sequence {pending[0]} remain: events from {last + 1} were removed",
        )
    span = f"events {start + 1} to {last}" if last > start else "the empty log"
    if witnesses and not witnessed_through:
        quorum = (
            f"{min_witnesses} of the {len(witnesses)} given witnesses"
            if len(witnesses) > 1
            else "the given witness"
        )
        return fail(
            start + 1,
            UNWITNESSED,
            f"no checkpoint cosigned by {quorum} holds {span}: nothing shows that "
            "a party other than the log's operator saw them. Run `vision-audit "
            "witness` for this log",
        )
    if require_signature and not signed_through and not witnesses:
        return fail(
            start + 1,
            UNSIGNED,
            f"no checkpoint signed by a trusted key holds {span}: nothing proves who "
            "wrote them, nor that no event was removed from the end. Give the "
            "writers the signing key, so that they sign checkpoints",
        )
    if progress is not None:
        progress(walk.events)
    warnings: list[str] = []
    if not claims:
        warnings.append(
            "no signed checkpoint: events removed from the end of the log "
            "cannot be detected"
        )
    if unchecked:
        warnings.append(
            f"{counted(len(set(unchecked)), 'cosigned checkpoint')} of this slice "
            "could not be checked: the slice does not carry the Merkle tree's "
            "frontier"
        )
    reach = witnessed_through if witnesses else walk.last_good_checkpoint
    what = "witnessed checkpoint" if witnesses else "signed checkpoint"
    text = f"{counted(walk.events, 'event')} verified"
    if signed_count:
        text += (
            f", {counted(signed_count, 'signed checkpoint')} verified, the last at "
            f"sequence {signed_through}"
        )
    elif walk.checkpoints:
        text += (
            f", {counted(walk.checkpoints, 'checkpoint')} consistent, the last at "
            f"sequence {walk.last_good_checkpoint}"
        )
    if witnessed_count:
        text += (
            f"; {counted(witnessed_count, 'witnessed checkpoint')}, the last at "
            f"sequence {witnessed_through}, cosigned by "
            f"{', '.join(sorted(seen_witnesses))}"
        )
    if last > reach + 1:
        text += f"; events {reach + 1} to {last} are not yet covered by a {what}"
    elif last == reach + 1:
        text += f"; event {last} is not yet covered by a {what}"
    return Verification(
        ok=True,
        events=walk.events,
        checkpoints=walk.checkpoints,
        head=walk.head,
        message=text,
        warnings=tuple(warnings),
        signed_through=signed_through,
        witnessed_through=witnessed_through,
        witnesses=tuple(sorted(trust.witnesses_seen)),
        root=_fold(stack).hex() if merkle and anchor is None else None,
    )
