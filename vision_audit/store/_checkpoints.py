"""
Checkpoints of the audit log, and what they can be trusted for.

A checkpoint is a C2SP tlog-checkpoint signed note: the log's origin, a tree size and
the RFC 9162 Merkle root of the first that many events (see
:mod:`vision_audit.store._merkle`), signed with Ed25519 by the writer. The writer's
signature alone proves nothing against the writer (the operator of the service);
trust comes from witnesses, parties the operator does not control, whose
cosignatures (C2SP tlog-cosignature) say that they saw this checkpoint and that it
extends every checkpoint of the log they cosigned before.

:func:`check_checkpoints` reads the checkpoints and cosignatures of a log against the
keys a verifier trusts, and turns what verifies into *claims*: tree sizes with the
root that a trusted party vouches for. :func:`~vision_audit.store._chain.verify_chain`
then recomputes the tree from the events and holds it to every claim.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from vision_audit.store._canonical import format_time
from vision_audit.store._note import (
    CheckpointBody,
    Cosigner,
    NoteError,
    NoteSigner,
    NoteVerifier,
    open_note,
    parse_checkpoint,
    parse_note,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

__all__ = [
    "Checkpoint",
    "Claim",
    "Cosignature",
    "Trust",
    "check_checkpoints",
    "cosign_checkpoint",
    "sign_checkpoint",
]

SIGNATURE_LINE: Final = "\u2014 "
"""How a signature line of a signed note starts: an em dash and a space."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Cosignature:
    """
    A witness's cosignature of one checkpoint, with the body it cosigned.

    The body is kept beside the signature line, so that a cosignature still says
    what the witness saw after the log (and its checkpoints) were rewritten.

    Args:
        sequence: The tree size of the checkpoint.
        name: The witness's key name.
        body: The checkpoint body (origin, size, root) that was cosigned.
        line: The cosignature line, ``— name base64`` and a new line.
        time: The cosignature's timestamp.

    .. versionadded:: 0.2.0
    """

    sequence: int
    name: str
    body: str
    line: str
    time: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    """
    A signed checkpoint of the log: tree size, Merkle root, the writer's note.

    Args:
        sequence: The tree size: the checkpoint covers events 1 to ``sequence``.
        hash: The chain hash of event ``sequence``.
        root: The RFC 9162 Merkle root of events 1 to ``sequence``, hex.
        time: When the writer signed it (the writer's clock: recorded, not signed;
            cosignatures and time-stamp tokens carry times others vouch for).
        key_id: First 16 hex digits of the SHA-256 of the writer's public key.
        note: The signed note as the writer wrote it: the C2SP checkpoint body, a
            blank line and the writer's signature line.
        cosignatures: Witnesses' cosignatures of this tree size.
        timestamps: RFC 3161 time-stamp tokens over the note's body (DER).

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0 A C2SP signed note over a Merkle root.
    """

    sequence: int
    hash: str
    root: str
    time: datetime
    key_id: str
    note: str
    cosignatures: tuple[Cosignature, ...] = ()
    timestamps: tuple[bytes, ...] = ()

    @property
    def body(self) -> str:
        """The checkpoint body: the note up to the blank line, with its new line."""
        return self.note.split("\n\n", 1)[0] + "\n"

    @property
    def origin(self) -> str:
        """The origin line of the body: the log's name."""
        return self.note.split("\n", 1)[0]

    def signed_note(self) -> str:
        """The note with the cosignatures of this very body added: what to publish."""
        lines = [c.line for c in self.cosignatures if c.body == self.body]
        return self.note + "".join(lines)


def sign_checkpoint(
    *,
    origin: str,
    sequence: int,
    root: bytes,
    chain_hash: str,
    key: Ed25519PrivateKey,
    key_id: str,
    time: datetime,
) -> Checkpoint:
    """
    The writer's checkpoint of the tree of *sequence* events with Merkle *root*.

    The note's key name is the origin, as C2SP tlog-checkpoint recommends.
    """
    body = CheckpointBody(origin=origin, size=sequence, root_hash=root).text()
    line = NoteSigner(origin, key).sign(body)
    return Checkpoint(
        sequence=sequence,
        hash=chain_hash,
        root=root.hex(),
        time=time,
        key_id=key_id,
        note=f"{body}\n{line}",
    )


def cosign_checkpoint(
    body: str, *, name: str, key: Ed25519PrivateKey, time: datetime
) -> Cosignature:
    """A witness's cosignature of checkpoint *body* at *time* (whole seconds)."""
    parsed = parse_checkpoint(body)
    line = Cosigner(name, key).cosign(body, int(time.timestamp()))
    return Cosignature(
        sequence=parsed.size,
        name=name,
        body=body,
        line=line,
        time=datetime.fromtimestamp(int(time.timestamp()), UTC),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Claim:
    """
    A tree size and the Merkle root a trusted party vouches for.

    Args:
        sequence: The tree size.
        root: The root, 32 bytes.
        hash: The chain hash of event ``sequence``, when the claim states it.
        source: Who vouches, for a person: "the checkpoint signed by the writer
            at ...", "witness W's cosignature of ...".
        witnesses: The names of the witnesses who cosigned this root.
        signed: Whether a trusted writer key signed this root.
    """

    sequence: int
    root: bytes
    hash: str | None
    source: str
    witnesses: frozenset[str] = frozenset()
    signed: bool = False
    pinned: bool = False


@dataclass(slots=True, kw_only=True)
class Trust:
    """What the checkpoints of a log verified to, before the events are read."""

    claims: dict[int, list[Claim]] = field(default_factory=dict)
    """Claims by tree size."""
    bad: list[tuple[int, str]] = field(default_factory=list)
    """Sequences whose checkpoint or cosignature failed, and why; sorted."""
    signed: list[int] = field(default_factory=list)
    """Tree sizes signed by a trusted writer key."""
    witnessed: list[int] = field(default_factory=list)
    """Tree sizes cosigned by the quorum of trusted witnesses."""
    witnesses_seen: set[str] = field(default_factory=set)
    """Names of the trusted witnesses whose cosignatures verified."""


def _root_of(body: CheckpointBody) -> bytes:
    return body.root_hash


def _describe_time(moment: datetime) -> str:
    return format_time(moment).replace(".000000Z", "Z")


def check_checkpoints(
    checkpoints: Iterable[Checkpoint],
    *,
    writer_keys: Mapping[str, Ed25519PublicKey] | None,
    witnesses: Sequence[NoteVerifier] = (),
    min_witnesses: int = 1,
    origin: str | None = None,
) -> Trust:
    """
    Verify the signatures of *checkpoints* and their cosignatures; gather claims.

    Args:
        checkpoints: The log's checkpoints, with their cosignatures.
        writer_keys: Trusted writer keys by key id. A checkpoint signed by another
            key, or whose signature does not verify, is a failure. None: no
            writer key is trusted, and writer signatures are not checked.
        witnesses: Trusted witnesses' verifier keys (cosignature/v1).
        min_witnesses: How many distinct trusted witnesses must cosign one root
            for it to count as witnessed.
        origin: The log's origin, when known: a checkpoint of another log fails.

    Returns:
        The claims and failures found; failures name the sequence and the cause.
    """
    trust = Trust()
    by_key = {(w.name, w.key_hash): w for w in witnesses}
    for checkpoint in checkpoints:
        seq = checkpoint.sequence
        if not checkpoint.note:
            _check_cosignatures(trust, checkpoint, by_key, min_witnesses, origin)
            continue
        try:
            note = parse_note(checkpoint.note)
            body = parse_checkpoint(note.body)
        except NoteError as err:
            trust.bad.append(
                (seq, f"the checkpoint at sequence {seq} is unreadable: {err}")
            )
            continue
        if body.size != seq or body.root_hash.hex() != checkpoint.root:
            trust.bad.append(
                (
                    seq,
                    (
                        f"the checkpoint at sequence {seq} was changed: its note says "
                        f"tree size {body.size}"
                    ),
                )
            )
            continue
        if origin is not None and body.origin != origin:
            trust.bad.append(
                (
                    seq,
                    (
                        f"the checkpoint at sequence {seq} belongs to the log "
                        f"{body.origin!r}, not {origin!r}"
                    ),
                )
            )
            continue
        signed = False
        if writer_keys is not None:
            key = writer_keys.get(checkpoint.key_id)
            if key is None:
                trust.bad.append(
                    (
                        seq,
                        (
                            f"the checkpoint at sequence {seq} is signed by key "
                            f"{checkpoint.key_id}, which is not trusted"
                        ),
                    )
                )
                continue
            try:
                verified = open_note(note, [NoteVerifier.for_key(body.origin, key)])
            except NoteError:
                verified = []
            if not verified:
                trust.bad.append(
                    (
                        seq,
                        (
                            f"the signature of the checkpoint at sequence {seq} does "
                            "not verify"
                        ),
                    )
                )
                continue
            signed = True
            trust.signed.append(seq)
        trust.claims.setdefault(seq, []).append(
            Claim(
                sequence=seq,
                root=_root_of(body),
                hash=checkpoint.hash,
                source=(
                    f"the checkpoint signed by the writer at "
                    f"{_describe_time(checkpoint.time)}"
                ),
                signed=signed,
            )
        )
        _check_cosignatures(trust, checkpoint, by_key, min_witnesses, origin)
    trust.bad.sort()
    trust.signed.sort()
    trust.witnessed.sort()
    return trust


def _check_cosignatures(
    trust: Trust,
    checkpoint: Checkpoint,
    by_key: Mapping[tuple[str, bytes], NoteVerifier],
    min_witnesses: int,
    origin: str | None,
) -> None:
    """Verify the cosignatures of one tree size; add their claims to *trust*."""
    seq = checkpoint.sequence
    # Cosignatures, grouped by the body they cosigned.
    cosigned: dict[str, dict[str, datetime]] = {}
    for cosignature in checkpoint.cosignatures:
        try:
            cosigned_note = parse_note(cosignature.body + "\n" + cosignature.line)
            cosigned_body = parse_checkpoint(cosigned_note.body)
        except NoteError as err:
            trust.bad.append(
                (
                    seq,
                    (
                        f"the cosignature by {cosignature.name} of sequence {seq} "
                        f"is unreadable: {err}"
                    ),
                )
            )
            continue
        known = [
            by_key[(s.name, s.key_hash)]
            for s in cosigned_note.signatures
            if (s.name, s.key_hash) in by_key
        ]
        if not known:
            continue  # not a witness this verifier trusts
        try:
            opened = open_note(cosigned_note, known)
        except NoteError:
            opened = []
        if (
            not opened
            or cosigned_body.size != seq
            or (origin is not None and cosigned_body.origin != origin)
        ):
            trust.bad.append(
                (
                    seq,
                    (
                        f"the cosignature by witness {cosignature.name} of "
                        f"sequence {seq} does not verify"
                    ),
                )
            )
            continue
        names = cosigned.setdefault(cosignature.body, {})
        for verified_sig in opened:
            names.setdefault(verified_sig.verifier.name, cosignature.time)
    for cosigned_text, names in cosigned.items():
        cosigned_body = parse_checkpoint(cosigned_text)
        trust.witnesses_seen.update(names)
        when = max(names.values())
        quorum = len(names) >= min_witnesses
        if quorum and seq not in trust.witnessed:
            trust.witnessed.append(seq)
        who = ", ".join(sorted(names))
        trust.claims.setdefault(seq, []).append(
            Claim(
                sequence=seq,
                root=cosigned_body.root_hash,
                hash=None,
                source=(
                    f"the checkpoint cosigned by "
                    f"{'witness' if len(names) == 1 else 'witnesses'} {who} at "
                    f"{_describe_time(when)}"
                ),
                witnesses=frozenset(names) if quorum else frozenset(),
            )
        )


def assemble(
    checkpoints: Iterable[tuple[int, str, str, str, str, str]],
    cosignatures: Iterable[tuple[int, str, str, str, str]],
    timestamps: Iterable[tuple[int, bytes]],
) -> list[Checkpoint]:
    """
    Checkpoints as stored rows give them, with their cosignatures and time stamps.

    Args:
        checkpoints: ``(sequence, key_id, hash, root, time, note)`` rows.
        cosignatures: ``(sequence, name, body, line, time)`` rows.
        timestamps: ``(sequence, token)`` rows.
    """
    from vision_audit.store._chain import checkpoint_time  # noqa: PLC0415

    by_size: dict[int, list[Cosignature]] = {}
    for sequence, *columns in cosignatures:
        # A column that is not text is damage: kept as text that cannot verify.
        name, body, line, moment = (
            text if isinstance(text, str) else repr(text) for text in columns
        )
        by_size.setdefault(sequence, []).append(
            Cosignature(
                sequence=sequence,
                name=name,
                body=body,
                line=line,
                time=checkpoint_time(moment),
            )
        )
    tokens: dict[int, list[bytes]] = {}
    for sequence, token in timestamps:
        tokens.setdefault(sequence, []).append(bytes(token))
    found = [
        Checkpoint(
            sequence=sequence,
            hash=hash_,
            root=root,
            time=checkpoint_time(moment),
            key_id=key_id,
            note=note,
            cosignatures=tuple(by_size.pop(sequence, ())),
            timestamps=tuple(tokens.get(sequence, ())),
        )
        for sequence, key_id, hash_, root, moment, note in checkpoints
    ]
    # Cosignatures whose checkpoint is gone (deleted, or never kept) still say what
    # their witnesses saw: they are kept, under a checkpoint without a note.
    found += [
        Checkpoint(
            sequence=sequence,
            hash="",
            root="",
            time=cosignatures[0].time,
            key_id="",
            note="",
            cosignatures=tuple(cosignatures),
        )
        for sequence, cosignatures in by_size.items()
    ]
    found.sort(key=lambda c: (c.sequence, c.key_id))
    return found
