"""
Export a log to JSON Lines, and verify such an export without the database.

The file is UTF-8 JSON Lines, one canonical JSON object (RFC 8785) per line, in this
order (``docs/evidence-format.md`` is the normative description):

1. a header: ``{"anchor": ..., "exported_at": ..., "first": n, "last": m, "origin":
   ..., "public_keys": {key_id: PEM}, "since": ..., "store": ..., "type":
   "vision-audit.export", "until": ..., "version": 2}``. ``anchor`` is null when the
   export starts at sequence 1, else ``{"frontier": [hex, ...], "hash": h,
   "sequence": n}``: the event just before the first exported one, and the Merkle
   tree's perfect subtree hashes at that size, so that roots can be recomputed from
   the slice;
2. every checkpoint the export can be held to: ``{"cosignatures": [{"body", "line",
   "time"}], "hash", "key_id", "note", "root", "sequence", "time", "timestamps":
   [base64 DER], "type": "checkpoint"}``. An export of the whole log carries every
   checkpoint, those beyond its last event included, so that a log cut short
   before a checkpoint cannot be exported as whole;
3. every event: ``{"envelope": {...}, "hash": h, "sequence": n, "type": "event"}``,
   where the hash is the SHA-256 of the envelope's canonical JSON as it stands in
   the line, so anyone can recompute it;
4. a trailer: ``{"events": count, "type": "end"}``.

Reading is strict: a line that is not exactly the canonical JSON of an object with
the members above (a duplicate or unknown member, a missing one, a value of the
wrong type, a line longer than an event can be) is refused, naming the line.
Personal content is never exported; its salted hash is in each envelope.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import TYPE_CHECKING, Any, Final

from vision_audit.store._canonical import (
    CanonicalizationError,
    canonical_bytes,
    canonical_json,
    format_time,
    parse_time,
)
from vision_audit.store._chain import (
    ENVELOPE_MEMBERS,
    TRUNCATED,
    ChainHead,
    Verification,
    envelope_shape,
    verify_chain,
)
from vision_audit.store._checkpoints import Checkpoint, Cosignature
from vision_audit.store._envelope import MAX_ENVELOPE_BYTES
from vision_audit.store._keys import key_id, load_public_key

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from datetime import datetime
    from typing import BinaryIO, TextIO

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from vision_audit.store._base import BaseAuditStore
    from vision_audit.store._checkpoints import Claim
    from vision_audit.store._note import NoteVerifier

__all__ = [
    "EXPORT_TYPE",
    "EXPORT_VERSION",
    "ExportError",
    "export_jsonl",
    "read_lines",
    "verify_export",
]

EXPORT_TYPE: Final = "vision-audit.export"
EXPORT_VERSION: Final = 2
MAX_LINE_BYTES: Final = MAX_ENVELOPE_BYTES + 4096
"""The longest line an export can hold: an event line around the largest envelope."""
MAX_HEADER_BYTES: Final = 1 << 22
"""The longest header or checkpoint line (keys and cosignatures, not events)."""

_HEADER: Final = frozenset(
    {
        "anchor",
        "exported_at",
        "first",
        "last",
        "origin",
        "public_keys",
        "since",
        "store",
        "type",
        "until",
        "version",
    }
)
_CHECKPOINT: Final = frozenset(
    {
        "cosignatures",
        "hash",
        "key_id",
        "note",
        "root",
        "sequence",
        "time",
        "timestamps",
        "type",
    }
)
_COSIGNATURE: Final = frozenset({"body", "line", "time"})
_ANCHOR: Final = frozenset({"frontier", "hash", "sequence"})
_END: Final = frozenset({"events", "type"})
_EVENT_HEAD: Final = b'{"envelope":'
_EVENT_TAIL: Final = re.compile(
    rb',"hash":"([0-9a-f]{64})","sequence":([1-9][0-9]{0,18}),"type":"event"\}\n?\Z'
)
_HEX64: Final = re.compile(r"[0-9a-f]{64}")
_MAX_COSIGNATURES: Final = 100


class ExportError(ValueError):
    """A file is not a readable vision-audit export (the message names the line)."""


def _line(value: dict[str, Any]) -> str:
    return canonical_json(value) + "\n"


def _checkpoint_line(checkpoint: Checkpoint) -> str:
    return _line(
        {
            "cosignatures": [
                {"body": c.body, "line": c.line, "time": format_time(c.time)}
                for c in checkpoint.cosignatures
            ],
            "hash": checkpoint.hash,
            "key_id": checkpoint.key_id,
            "note": checkpoint.note,
            "root": checkpoint.root,
            "sequence": checkpoint.sequence,
            "time": format_time(checkpoint.time),
            "timestamps": [
                base64.b64encode(token).decode("ascii")
                for token in checkpoint.timestamps
            ],
            "type": "checkpoint",
        }
    )


def export_jsonl(
    store: BaseAuditStore,
    out: TextIO,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    exported_at: datetime,
) -> int:
    """
    Write the store's log (or the slice between *since* and *until*) to *out*.

    Returns:
        The number of events written.
    """
    bounds = store.get_sequence_range(since=since, until=until)
    whole = since is None and until is None
    first, last = bounds if bounds is not None else (1, 0)
    count = 0
    snapshot = store._read_snapshot(  # noqa: SLF001 - this module is the store's
        first=max(first - 1, 1), last=last, contents=False
    )
    with snapshot as (links, _, checkpoints, keys, _):
        header: dict[str, Any] = {
            "anchor": None,
            "exported_at": format_time(exported_at),
            "first": first if bounds is not None else None,
            "last": last if bounds is not None else None,
            "origin": store.origin,
            "public_keys": dict(keys),
            "since": format_time(since) if since is not None else None,
            "store": store.name,
            "type": EXPORT_TYPE,
            "until": format_time(until) if until is not None else None,
            "version": EXPORT_VERSION,
        }
        iterator = iter(links) if bounds is not None else iter(())
        if bounds is not None and first > 1:
            anchor = next(iterator, None)
            if anchor is not None:
                frontier = store._read_frontier(anchor[0], writing=False)  # noqa: SLF001
                header["anchor"] = {
                    "frontier": [node.hex() for node in frontier],
                    "hash": anchor[1],
                    "sequence": anchor[0],
                }
        out.write(_line(header))
        for checkpoint in checkpoints:
            # Cosignatures left without their checkpoint (its row deleted) have no
            # note to carry them: the export holds the writer's checkpoints only.
            if not checkpoint.note:
                continue
            if checkpoint.sequence >= first and (whole or checkpoint.sequence <= last):
                out.write(_checkpoint_line(checkpoint))
        for sequence, hash_, envelope in iterator:
            # The envelope is canonical JSON already, and so is the line: its
            # members sort as envelope, hash, sequence, type.
            text = envelope.decode("utf-8")
            out.write(
                f'{{"envelope":{text},"hash":"{hash_}","sequence":{sequence},'
                '"type":"event"}\n'
            )
            count += 1
    out.write(_line({"events": count, "type": "end"}))
    return count


def read_lines(stream: BinaryIO) -> Iterator[bytes]:
    """
    The lines of *stream*, each at most ``MAX_HEADER_BYTES`` long: memory stays bounded.

    Event lines are held to ``MAX_LINE_BYTES`` as they are read.

    Raises:
        ExportError: A line is longer than any export line can be.
    """
    number = 0
    while True:
        line = stream.readline(MAX_HEADER_BYTES + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_HEADER_BYTES:
            msg = (
                f"line {number}: longer than {MAX_HEADER_BYTES} bytes, which no line "
                "of an export can be"
            )
            raise ExportError(msg)
        yield line


def _refuse_duplicates(
    number: int,
) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        value = dict(pairs)
        if len(value) != len(pairs):
            seen: set[str] = set()
            twice = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
            msg = f"line {number}: the member {twice!r} appears twice"
            raise ExportError(msg)
        return value

    return build


def _parse(
    number: int, line: bytes, members: frozenset[str], what: str
) -> dict[str, Any]:
    """A strictly read line: canonical JSON of an object with exactly *members*."""

    def refuse(constant: str) -> None:
        msg = f"line {number}: {constant} is not JSON"
        raise ExportError(msg)

    text = line.rstrip(b"\n")
    try:
        value = json.loads(
            text, parse_constant=refuse, object_pairs_hook=_refuse_duplicates(number)
        )
    except ExportError:
        raise
    except (ValueError, RecursionError) as err:
        msg = f"line {number}: not JSON ({err})"
        raise ExportError(msg) from err
    if not isinstance(value, dict):
        msg = f"line {number}: not a JSON object"
        raise ExportError(msg)
    if set(value) != members:
        extra = sorted(set(value) - members)
        missing = sorted(members - set(value))
        problem = (
            f"unknown member {extra[0]!r}" if extra else f"no member {missing[0]!r}"
        )
        msg = f"line {number}: {what} line with {problem}"
        raise ExportError(msg)
    try:
        canonical = canonical_bytes(value)
    except CanonicalizationError as err:
        msg = f"line {number}: {err}"
        raise ExportError(msg) from err
    if canonical != text:
        msg = f"line {number}: not written in canonical JSON (RFC 8785)"
        raise ExportError(msg)
    return value


def _field(value: dict[str, Any], name: str, kind: type, number: int) -> Any:  # noqa: ANN401
    item = value.get(name)
    if not isinstance(item, kind) or isinstance(item, bool):
        msg = f"line {number}: {name!r} must be a {kind.__name__}"
        raise ExportError(msg)
    return item


def _optional(value: dict[str, Any], name: str, kind: type, number: int) -> Any:  # noqa: ANN401
    return None if value.get(name) is None else _field(value, name, kind, number)


def _type_of(number: int, line: bytes) -> str:
    if line.startswith(_EVENT_HEAD):
        return "event"
    for kind in ("checkpoint", "end"):
        if line.rstrip(b"\n").endswith(b'"type":"%s"}' % kind.encode()):
            return kind
    msg = f"line {number}: not an event, checkpoint or end line"
    raise ExportError(msg)


def _checkpoint_of(number: int, value: dict[str, Any]) -> Checkpoint:
    if not value.get("note") or not _HEX64.fullmatch(str(value.get("root"))):
        msg = f"line {number}: a checkpoint must carry its note and a hex root"
        raise ExportError(msg)
    try:
        cosignatures = []
        for item in _field(value, "cosignatures", list, number):
            if not isinstance(item, dict) or set(item) != _COSIGNATURE:
                msg = f"line {number}: a cosignature must have body, line and time"
                raise ExportError(msg)
            body = _field(item, "body", str, number)
            line = _field(item, "line", str, number)
            cosignatures.append(
                Cosignature(
                    sequence=_field(value, "sequence", int, number),
                    name=line[2:].split(" ", 1)[0],
                    body=body,
                    line=line,
                    time=parse_time(_field(item, "time", str, number)),
                )
            )
        timestamps = tuple(
            base64.b64decode(_field({"t": t}, "t", str, number), validate=True)
            for t in _field(value, "timestamps", list, number)
        )
        return Checkpoint(
            sequence=_field(value, "sequence", int, number),
            hash=_field(value, "hash", str, number),
            root=_field(value, "root", str, number),
            time=parse_time(_field(value, "time", str, number)),
            key_id=_field(value, "key_id", str, number),
            note=_field(value, "note", str, number),
            cosignatures=tuple(cosignatures),
            timestamps=timestamps,
        )
    except (ValueError, binascii.Error) as err:
        if isinstance(err, ExportError):
            raise
        msg = f"line {number}: {err}"
        raise ExportError(msg) from err


class _Reader:
    """Reads an export's lines in one pass, as verify_chain() consumes them."""

    def __init__(self, lines: Iterable[bytes | str]) -> None:
        self._lines = enumerate(
            (line.encode("utf-8") if isinstance(line, str) else line for line in lines),
            start=1,
        )
        self.header: dict[str, Any] = {}
        self.checkpoints: list[Checkpoint] = []
        self.pending: tuple[int, bytes] | None = None
        self.end: dict[str, Any] | None = None
        self.count = 0
        self.last_line = 0

    def start(self) -> None:
        number, line = next(self._lines, (1, b""))
        if len(line) > MAX_HEADER_BYTES:
            msg = "line 1: too long for an export header"
            raise ExportError(msg)
        if b'"type":"vision-audit.export"' not in line:
            msg = "line 1: not a vision-audit export (no export header)"
            raise ExportError(msg)
        if b'"version":2}' not in line:
            msg = (
                "line 1: not an export of version 2 (an export of an earlier "
                "vision-audit is read by that version)"
            )
            raise ExportError(msg)
        self.header = _parse(number, line, _HEADER, "a header")
        for number, line in self._lines:
            kind = _type_of(number, line)
            if kind != "checkpoint":
                self.pending = (number, line)
                return
            value = _parse(number, line, _CHECKPOINT, "a checkpoint")
            checkpoint = _checkpoint_of(number, value)
            if self.checkpoints and (checkpoint.sequence, checkpoint.key_id) <= (
                self.checkpoints[-1].sequence,
                self.checkpoints[-1].key_id,
            ):
                msg = (
                    f"line {number}: checkpoints must come once each, by increasing "
                    "sequence"
                )
                raise ExportError(msg)
            if len(checkpoint.cosignatures) > _MAX_COSIGNATURES:
                msg = f"line {number}: more than {_MAX_COSIGNATURES} cosignatures"
                raise ExportError(msg)
            self.checkpoints.append(checkpoint)
        self.last_line = number

    def links(self) -> Iterator[tuple[int, str, bytes]]:
        item = self.pending
        while item is not None:
            number, line = item
            self.last_line = number
            if not line.startswith(_EVENT_HEAD):
                if _type_of(number, line) == "end":
                    self.end = _parse(number, line, _END, "an end")
                    extra = next(self._lines, None)
                    if extra is not None:
                        msg = f"line {extra[0]}: a line after the end line"
                        raise ExportError(msg)
                    return
                msg = f"line {number}: a checkpoint line among the events"
                raise ExportError(msg)
            yield self._event(number, line)
            self.count += 1
            item = next(self._lines, None)

    @staticmethod
    def _event(number: int, line: bytes) -> tuple[int, str, bytes]:
        if len(line) > MAX_LINE_BYTES:
            msg = (
                f"line {number}: longer than {MAX_LINE_BYTES} bytes, which no event "
                "line can be"
            )
            raise ExportError(msg)
        tail = _EVENT_TAIL.search(line)
        if tail is None:
            msg = (
                f"line {number}: not an event line (envelope, hash, sequence and "
                "type, in canonical JSON)"
            )
            raise ExportError(msg)
        envelope = line[len(_EVENT_HEAD) : tail.start()]
        try:
            # Duplicate members are caught by the canonical form below (a parsed
            # object writes each member once), and named when it is not met.
            fields = json.loads(envelope)
        except (ValueError, RecursionError) as err:
            msg = f"line {number}: the envelope is not JSON ({err})"
            raise ExportError(msg) from err
        shape = envelope_shape(fields)
        if (
            shape is not None
            and isinstance(fields, dict)
            and set(fields) == (ENVELOPE_MEMBERS)
        ):
            msg = f"line {number}: the envelope {shape}"
            raise ExportError(msg)
        if not isinstance(fields, dict) or set(fields) != ENVELOPE_MEMBERS:
            members = set(fields) if isinstance(fields, dict) else set()
            extra = sorted(members - ENVELOPE_MEMBERS)
            problem = (
                f"the unknown member {extra[0]!r}"
                if extra
                else f"no member {min(ENVELOPE_MEMBERS - members)!r}"
            )
            msg = f"line {number}: the envelope has {problem}"
            raise ExportError(msg)
        sequence = int(tail.group(2))
        prev = fields["prev_hash"]
        if (
            fields["sequence"] != sequence
            or type(fields["sequence"]) is not int
            or not isinstance(prev, str)
            or not _HEX64.fullmatch(prev)
        ):
            msg = (
                f"line {number}: the envelope's sequence or prev_hash does not match "
                "the line"
            )
            raise ExportError(msg)
        try:
            canonical = canonical_bytes(fields)
        except CanonicalizationError as err:
            msg = f"line {number}: {err}"
            raise ExportError(msg) from err
        if canonical != envelope:
            json.loads(envelope, object_pairs_hook=_refuse_duplicates(number))
            msg = f"line {number}: the envelope is not in canonical JSON (RFC 8785)"
            raise ExportError(msg)
        return sequence, tail.group(1).decode("ascii"), envelope


def _anchor_of(header: dict[str, Any]) -> tuple[ChainHead | None, list[bytes] | None]:
    value = header.get("anchor")
    if value is None:
        return None, None
    if not isinstance(value, dict) or set(value) != _ANCHOR:
        msg = "line 1: 'anchor' must be null or an object of frontier, hash, sequence"
        raise ExportError(msg)
    frontier = _field(value, "frontier", list, 1)
    try:
        nodes = [bytes.fromhex(node) for node in frontier]
    except (TypeError, ValueError) as err:
        msg = "line 1: the anchor's frontier must list hex hashes"
        raise ExportError(msg) from err
    sequence = _field(value, "sequence", int, 1)
    if sequence < 1 or len(nodes) != sequence.bit_count():
        msg = (
            f"line 1: the anchor's frontier must hold one hash per set bit of "
            f"{sequence}"
        )
        raise ExportError(msg)
    return ChainHead(sequence, _field(value, "hash", str, 1)), nodes


def _listed_keys(header: dict[str, Any]) -> dict[str, Ed25519PublicKey]:
    listed = _field(header, "public_keys", dict, 1)
    keys = {}
    for kid, pem in listed.items():
        if not isinstance(pem, str):
            msg = f"line 1: the public key {kid!r} must be a PEM string"
            raise ExportError(msg)
        try:
            key = load_public_key(pem.encode("ascii"), source=f"key {kid}")
        except (ValueError, UnicodeError) as err:
            msg = f"line 1: {err}"
            raise ExportError(msg) from err
        if key_id(key) != kid:
            msg = (
                f"line 1: the public key listed as {kid!r} has the key id "
                f"{key_id(key)}: the header was changed"
            )
            raise ExportError(msg)
        keys[kid] = key
    return keys


def verify_export(
    lines: Iterable[bytes | str],
    *,
    public_keys: Iterable[Ed25519PublicKey] | None = None,
    witnesses: Sequence[NoteVerifier] = (),
    min_witnesses: int = 1,
    pinned: Sequence[Claim] = (),
    progress: Callable[[int], None] | None = None,
    checkpoints_out: list[Checkpoint] | None = None,
) -> Verification:
    """
    Verify an export made by ``vision-audit export``, without the store.

    Args:
        lines: The file's lines (see :func:`read_lines` to bound them).
        public_keys: The writer keys to trust: the export then fails as
            ``unsigned`` unless a checkpoint signed by one of them holds it. When
            None (and no witnesses), the keys listed in the export's header, with a
            warning that this proves consistency, not origin.
        witnesses: Trusted witnesses' keys; see
            :func:`~vision_audit.store.verify_chain`.
        min_witnesses: The quorum of distinct witnesses.
        pinned: Roots held from elsewhere (a checkpoint kept from before).
        progress: Called now and then with the number of events checked.
        checkpoints_out: A list that receives the export's checkpoints.

    Raises:
        ExportError: The file is not a readable export (the message names the line).

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0 Format version 2, strict reading, witnesses.
    """
    reader = _Reader(lines)
    reader.start()
    if checkpoints_out is not None:
        checkpoints_out.extend(reader.checkpoints)
    header = reader.header
    listed = _listed_keys(header)
    origin = _field(header, "origin", str, 1)
    warnings: list[str] = []
    trusted: dict[str, Ed25519PublicKey] | None
    if public_keys is None and not witnesses:
        trusted = listed
        if reader.checkpoints:
            warnings.append(
                "checkpoint signatures were checked against the public keys listed "
                "in the export itself; pass a public key or a witness key obtained "
                "another way to prove who signed them"
            )
    elif public_keys is None:
        trusted = None
    else:
        trusted = {key_id(key): key for key in public_keys}
    anchor, frontier = _anchor_of(header)
    first = _optional(header, "first", int, 1)
    last = _optional(header, "last", int, 1)
    if first is not None and first != (anchor.sequence + 1 if anchor else 1):
        msg = "line 1: 'first' does not follow the anchor"
        raise ExportError(msg)
    result = verify_chain(
        reader.links(),
        checkpoints=reader.checkpoints,
        public_keys=trusted,
        anchor=anchor,
        frontier=frontier,
        progress=progress,
        require_signature=public_keys is not None,
        witnesses=witnesses,
        min_witnesses=min_witnesses,
        origin=origin,
        pinned=pinned,
    )
    if not result.ok:
        return result
    end = reader.end
    ends_at = (
        result.head.sequence if result.head else (anchor.sequence if anchor else 0)
    )
    if (
        end is None
        or end.get("events") != reader.count
        or (last or 0) != (ends_at if reader.count else (last or 0))
    ):
        return Verification(
            ok=False,
            events=result.events,
            checkpoints=result.checkpoints,
            head=result.head,
            sequence=ends_at + 1,
            kind=TRUNCATED,
            message=(
                f"the export ends at sequence {ends_at}, before the end its header "
                "and trailer announce: the file was cut short"
            ),
        )
    if not reader.count:
        warnings.append("the export holds no event")
    return Verification(
        ok=True,
        events=result.events,
        checkpoints=result.checkpoints,
        head=result.head,
        message=result.message,
        warnings=(*result.warnings, *warnings),
        signed_through=result.signed_through,
        witnessed_through=result.witnessed_through,
        witnesses=result.witnesses,
        root=result.root,
        origin=origin,
    )
