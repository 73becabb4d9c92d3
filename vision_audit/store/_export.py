"""
Export a chain to JSON Lines, and verify such an export without the database.

The file is UTF-8 JSON Lines, one object per line, in this order:

1. a header: ``{"type": "vision-audit.export", "version": 1, "store": ...,
   "exported_at": ..., "since": ..., "until": ..., "anchor": {"sequence": n,
   "hash": h} or null, "first": n, "last": m, "public_keys": {key_id: PEM}}``.
   ``anchor`` is the event just before the first exported one (null when the export
   starts at sequence 1); the export holds every event from ``first`` to ``last``;
2. every signed checkpoint within that range: ``{"type": "checkpoint", "sequence":
   ..., "hash": ..., "time": ..., "key_id": ..., "signature": ...}``;
3. every event: ``{"type": "event", "sequence": n, "hash": h, "envelope": {...}}``,
   where the hash is the SHA-256 of the canonical JSON of ``envelope`` (see
   :mod:`vision_audit.store._canonical`), so anyone can recompute it;
4. a trailer: ``{"type": "end", "events": count}``.

``since`` and ``until`` select a contiguous run of sequence numbers: from the first
event at or after ``since`` to the last event before ``until``, with everything in
between (even an event whose clock said otherwise), so that the slice still
verifies. Personal content is never exported; its salted hash is in each envelope.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

from vision_audit.store._canonical import (
    CanonicalizationError,
    canonical_bytes,
    format_time,
    parse_time,
)
from vision_audit.store._chain import (
    TRUNCATED,
    ChainHead,
    Checkpoint,
    Verification,
    verify_chain,
)
from vision_audit.store._keys import key_id, load_public_key

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from datetime import datetime
    from typing import TextIO

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from vision_audit.store._base import BaseAuditStore

__all__ = ["EXPORT_TYPE", "ExportError", "export_jsonl", "verify_export"]

EXPORT_TYPE: Final = "vision-audit.export"
EXPORT_VERSION: Final = 1


class ExportError(ValueError):
    """A file is not a readable vision-audit export (the message names the line)."""


def _line(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n"


def export_jsonl(
    store: BaseAuditStore,
    out: TextIO,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    exported_at: datetime,
) -> int:
    """
    Write the store's chain (or the slice between *since* and *until*) to *out*.

    Returns:
        The number of events written.
    """
    bounds = store.get_sequence_range(since=since, until=until)
    header: dict[str, Any] = {
        "type": EXPORT_TYPE,
        "version": EXPORT_VERSION,
        "store": store.name,
        "exported_at": format_time(exported_at),
        "since": format_time(since) if since is not None else None,
        "until": format_time(until) if until is not None else None,
        "anchor": None,
        "first": None,
        "last": None,
        "public_keys": {},
    }
    first, last = bounds if bounds is not None else (1, 0)
    count = 0
    snapshot = store._read_snapshot(  # noqa: SLF001 - this module is the store's
        first=max(first - 1, 1), last=last, contents=False
    )
    with snapshot as (links, _, checkpoints, keys, _):
        header["public_keys"] = dict(keys)
        iterator = iter(links) if bounds is not None else iter(())
        if bounds is not None:
            if first > 1:
                anchor = next(iterator, None)
                if anchor is not None:
                    header["anchor"] = {"sequence": anchor[0], "hash": anchor[1]}
            header["first"] = first
            header["last"] = last
        out.write(_line(header))
        for checkpoint in checkpoints:
            if first <= checkpoint.sequence <= last:
                out.write(
                    _line(
                        {
                            "type": "checkpoint",
                            "sequence": checkpoint.sequence,
                            "hash": checkpoint.hash,
                            "time": format_time(checkpoint.time),
                            "key_id": checkpoint.key_id,
                            "signature": checkpoint.signature,
                        }
                    )
                )
        for sequence, hash_, envelope in iterator:
            # The envelope is canonical JSON already: written as it is stored.
            text = envelope.decode("utf-8")
            out.write(
                f'{{"type":"event","sequence":{sequence},"hash":"{hash_}",'
                f'"envelope":{text}}}\n'
            )
            count += 1
    out.write(_line({"type": "end", "events": count}))
    return count


def _parse(number: int, text: str) -> dict[str, Any]:
    def refuse(constant: str) -> None:
        msg = f"line {number}: {constant} is not JSON"
        raise ExportError(msg)

    try:
        value = json.loads(text, parse_constant=refuse)
    except (ValueError, RecursionError) as err:
        if isinstance(err, ExportError):
            raise
        msg = f"line {number}: not JSON ({err})"
        raise ExportError(msg) from err
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        msg = f"line {number}: not an object with a type"
        raise ExportError(msg)
    return value


def _field(value: dict[str, Any], name: str, kind: type, number: int) -> Any:  # noqa: ANN401
    item = value.get(name)
    if not isinstance(item, kind) or isinstance(item, bool):
        msg = f"line {number}: {name!r} must be a {kind.__name__}"
        raise ExportError(msg)
    return item


class _Reader:
    """Reads an export's lines in one pass, as verify_chain() consumes them."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = enumerate(lines, start=1)
        self.header: dict[str, Any] = {}
        self.checkpoints: list[Checkpoint] = []
        self.pending: tuple[int, dict[str, Any]] | None = None
        self.end: dict[str, Any] | None = None
        self.count = 0

    def start(self) -> None:
        number, text = next(self._lines, (1, ""))
        header = _parse(number, text) if text.strip() else {}
        if header.get("type") != EXPORT_TYPE:
            msg = "line 1: not a vision-audit export (no export header)"
            raise ExportError(msg)
        if header.get("version") != EXPORT_VERSION:
            msg = f"line 1: export version {header.get('version')!r} is not supported"
            raise ExportError(msg)
        self.header = header
        for number, text in self._lines:
            if not text.strip():
                continue
            value = _parse(number, text)
            if value["type"] != "checkpoint":
                self.pending = (number, value)
                return
            try:
                self.checkpoints.append(
                    Checkpoint(
                        sequence=_field(value, "sequence", int, number),
                        hash=_field(value, "hash", str, number),
                        time=parse_time(_field(value, "time", str, number)),
                        key_id=_field(value, "key_id", str, number),
                        signature=_field(value, "signature", str, number),
                    )
                )
            except ValueError as err:
                if isinstance(err, ExportError):
                    raise
                msg = f"line {number}: {err}"
                raise ExportError(msg) from err

    def links(self) -> Iterator[tuple[int, str, bytes]]:
        item = self.pending
        while item is not None:
            number, value = item
            if value["type"] == "end":
                self.end = value
                return
            if value["type"] != "event":
                msg = f"line {number}: unexpected {value['type']!r} line"
                raise ExportError(msg)
            envelope = value.get("envelope")
            if not isinstance(envelope, dict):
                msg = f"line {number}: 'envelope' must be an object"
                raise ExportError(msg)
            try:
                data = canonical_bytes(envelope)
            except CanonicalizationError as err:
                msg = f"line {number}: {err}"
                raise ExportError(msg) from err
            self.count += 1
            yield (
                _field(value, "sequence", int, number),
                _field(value, "hash", str, number),
                data,
            )
            item = self._next()

    def _next(self) -> tuple[int, dict[str, Any]] | None:
        for number, text in self._lines:
            if text.strip():
                return number, _parse(number, text)
        return None


def verify_export(
    lines: Iterable[str],
    *,
    public_keys: Iterable[Ed25519PublicKey] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Verification:
    """
    Verify an export made by ``vision-audit export``, without the store.

    Args:
        lines: The file's lines.
        public_keys: The keys to trust: the export then fails as ``unsigned``
            unless a checkpoint signed by one of them holds it. When None, the keys
            listed in the export's header, with a warning that this proves
            consistency, not origin.
        progress: Called now and then with the number of events checked.

    Raises:
        ExportError: The file is not a readable export (the message names the line).

    .. versionadded:: 0.1.0
    """
    reader = _Reader(lines)
    reader.start()
    header = reader.header
    warnings: list[str] = []
    if public_keys is None:
        listed = header.get("public_keys") or {}
        if not isinstance(listed, dict):
            msg = "line 1: 'public_keys' must be an object"
            raise ExportError(msg)
        trusted = {
            kid: load_public_key(str(pem).encode("ascii"), source=f"key {kid}")
            for kid, pem in listed.items()
        }
        if reader.checkpoints:
            warnings.append(
                "checkpoint signatures were checked against the public keys listed "
                "in the export itself; pass a public key obtained another way to "
                "prove who signed them"
            )
    else:
        trusted = {key_id(key): key for key in public_keys}
    anchor_value = header.get("anchor")
    anchor = None
    if anchor_value is not None:
        if not isinstance(anchor_value, dict):
            msg = "line 1: 'anchor' must be an object or null"
            raise ExportError(msg)
        anchor = ChainHead(
            _field(anchor_value, "sequence", int, 1),
            _field(anchor_value, "hash", str, 1),
        )
    result = verify_chain(
        reader.links(),
        checkpoints=reader.checkpoints,
        public_keys=trusted,
        anchor=anchor,
        progress=progress,
        require_signature=public_keys is not None,
    )
    if result.ok:
        last = header.get("last")
        end = reader.end
        if (
            end is None
            or end.get("events") != reader.count
            or (
                isinstance(last, int)
                and (result.head is None or result.head.sequence != last)
            )
        ):
            ends_at = (
                result.head.sequence
                if result.head
                else (anchor.sequence if anchor else 0)
            )
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
        return Verification(
            ok=True,
            events=result.events,
            checkpoints=result.checkpoints,
            head=result.head,
            message=result.message,
            warnings=(*result.warnings, *warnings),
        )
    return result
