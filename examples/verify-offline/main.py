"""
Verify a vision-audit export or evidence bundle offline, from docs/evidence-format.md.

Written from that document alone: the Python standard library and ``cryptography``,
nothing of vision-audit. Section numbers (§) are the document's.

    python main.py export audit.jsonl --public-key log.pub --witness-key w1.vkey
    python main.py bundle proof.json --witness-key w1.vkey

Exit status: 0 verified and authenticated, 1 a check failed or no key was given
(authenticity not checked), 2 bad usage.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import math
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

ED25519, COSIGNATURE = 0x01, 0x04
MAX_INT, INT63 = 2**53 - 1, 2**63
HEX64 = re.compile("[0-9a-f]{64}")
CONTROL = re.compile("[\x00-\x09\x0b-\x1f]")
DASH = "\u2014 "
MALFORMED = (LookupError, TypeError, ValueError, ArithmeticError, AttributeError)
"""What a value of the wrong type or shape raises here: the file fails."""
ENVELOPE = {
    *("actor", "analysis_id", "consent_ref", "content_hash", "data", "event_id"),
    *("policy_id", "prev_hash", "purpose", "schema", "sequence", "span_id"),
    *("subject_ref", "time", "trace_id", "type"),
}
HEADER = {"anchor", "exported_at", "first", "last", "origin", "public_keys"}
HEADER |= {"since", "store", "type", "until", "version"}
CHECKPOINT = {"cosignatures", "hash", "key_id", "note", "root", "sequence", "time"}
CHECKPOINT |= {"timestamps", "type"}
MEMBERS = {
    "vision-audit.export": HEADER,
    "checkpoint": CHECKPOINT,
    "event": {"envelope", "hash", "sequence", "type"},
    "end": {"events", "type"},
}


class CheckError(Exception):
    """A check failed: exit status 1."""


class UsageError(Exception):
    """Bad usage: exit status 2."""


class Key(NamedTuple):
    """A trusted key: key name (None: the log's origin), type, public key."""

    name: str | None
    alg: int
    public: Ed25519PublicKey


class Claim(NamedTuple):
    """A root (and chain hash) that a checkpoint states at a size (§12 step 7)."""

    root: bytes
    hash: str | None
    signed: bool
    witnesses: frozenset[str]  # the trusted witnesses, when they are a quorum


class Trust(NamedTuple):
    """What the verifier trusts: writer keys (None: none given), witnesses, pins."""

    writers: list[Key] | None
    witnesses: list[Key]
    quorum: int
    pinned: list[tuple[int, Claim]]


def check(condition: object, message: str) -> None:
    """Fail with *message* unless *condition* holds."""
    if not condition:
        raise CheckError(message)


def sha256(data: bytes) -> bytes:
    """SHA-256 of *data*."""
    return hashlib.sha256(data).digest()


# -- §3 canonical JSON (RFC 8785) ---------------------------------------------------


def number(value: float) -> str:
    """A JSON number as ECMAScript's Number.prototype.toString writes it."""
    if isinstance(value, int) and abs(value) <= MAX_INT:
        return str(value)
    value = float(value)
    check(math.isfinite(value), "a number is not finite")
    if value == 0:
        return "0"
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    n = len(whole) + int(exponent or 0) - (len(whole + fraction) - len(digits))
    digits = digits.rstrip("0")
    k, sign = len(digits), "-" if value < 0 else ""
    if k <= n <= 21:  # noqa: PLR2004 - the limits of ECMAScript's algorithm
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:  # noqa: PLR2004
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:  # noqa: PLR2004
        return sign + "0." + "0" * -n + digits
    e = f"{'+' if n > 0 else '-'}{abs(n - 1)}"
    return sign + digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + e


def jcs(value: Any) -> str:  # noqa: ANN401 - any JSON value
    """The RFC 8785 text of a parsed JSON value."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int | float):
        return number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(jcs(item) for item in value) + "]"
    items = sorted(value.items(), key=lambda item: item[0].encode("utf-16-be"))
    return "{" + ",".join(f"{jcs(k)}:{jcs(v)}" for k, v in items) + "}"


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    check(len({name for name, _ in pairs}) == len(pairs), "a member appears twice")
    return dict(pairs)


def _no_constant(name: str) -> None:
    msg = name + " is not JSON"
    raise CheckError(msg)


def canonical(data: bytes, what: str) -> Any:  # noqa: ANN401 - any JSON value
    """The value of *data*, which must be canonical JSON without duplicates (§3)."""
    try:
        text = data.decode("utf-8")
        value = json.loads(
            text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant
        )
        again = jcs(value).encode("utf-8")
    except CheckError as err:
        msg = f"{what}: {err}"
        raise CheckError(msg) from err
    except (ValueError, OverflowError, RecursionError) as err:  # and UnicodeError
        msg = f"{what}: not JSON ({err})"
        raise CheckError(msg) from err
    check(again == data, f"{what}: not canonical JSON (RFC 8785)")
    return value


def members(value: object, names: set[str], what: str) -> dict[str, Any]:
    """*value*, which must be an object with exactly the members *names*."""
    check(isinstance(value, dict) and set(value) == names, f"{what}: wrong members")
    return value  # type: ignore[return-value]


def integer(value: object) -> bool:
    """Whether *value* is a JSON integer (not a boolean)."""
    return isinstance(value, int) and not isinstance(value, bool)


# -- §7 Merkle tree (RFC 9162) ------------------------------------------------------


def node(left: bytes, right: bytes) -> bytes:
    """An interior node hash."""
    return sha256(b"\x01" + left + right)


def fold(frontier: list[bytes]) -> bytes:
    """The root of a tree from its frontier (§7)."""
    if not frontier:
        return sha256(b"")
    root = frontier[-1]
    for subtree in reversed(frontier[:-1]):
        root = node(subtree, root)
    return root


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: list[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2."""
    if index >= size or any(len(p) != len(root) for p in path):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


# -- §8 to §10 keys, signed notes, checkpoints, cosignatures ------------------------


def key_id(name: str, alg: int, public: Ed25519PublicKey) -> bytes:
    """The C2SP key ID (§8)."""
    raw = public.public_bytes_raw()
    return sha256(name.encode() + b"\n" + bytes((alg,)) + raw)[:4]


def b64(text: str, what: str) -> bytes:
    """Canonical standard base64 (§9)."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as err:
        msg = f"{what} is not base64"
        raise CheckError(msg) from err
    check(base64.b64encode(raw).decode() == text, f"{what} is not canonical base64")
    return raw


def check_name(name: str) -> None:
    """A key name: non-empty, no Unicode space, no '+', no control character (§8)."""
    check(name, "an empty key name")
    bad = [c for c in name if c.isspace() or c in "+\x85\xa0" or CONTROL.match(c)]
    check(not bad, f"key name {name!r} holds a space, a '+' or a control character")


Signature = tuple[str, bytes, bytes]
"""A signature line: key name, key ID, signature."""


def parse_note(text: str) -> tuple[str, list[Signature]]:
    """A signed note's body and its signatures (name, key ID, signature) (§9)."""
    check(not CONTROL.search(text), "the note holds a control character")
    check(text.endswith("\n") and "\n\n" in text, "not a signed note")
    check(not re.search("[\ud800-\udfff]", text), "the note is not valid UTF-8")
    split = text.rfind("\n\n")
    body, block = text[: split + 1], text[split + 2 :]
    check(block, "the note has no signature")
    signatures = []
    for line in block[:-1].split("\n"):
        check(line.startswith(DASH), f"{line!r} is not a signature line")
        fields = line[len(DASH) :].split(" ")
        check(len(fields) == 2, f"{line!r} is not a signature line")  # noqa: PLR2004
        check_name(fields[0])
        raw = b64(fields[1], "a signature")
        check(len(raw) > 4, "a signature is too short")  # noqa: PLR2004
        signatures.append((fields[0], raw[:4], raw[4:]))
    return body, signatures


def parse_checkpoint(body: str) -> tuple[str, int, bytes]:
    """A checkpoint body's origin, size and root (§9)."""
    lines = body[:-1].split("\n")
    check(len(lines) >= 3 and lines[0], "not a checkpoint")  # noqa: PLR2004
    check(re.fullmatch("0|[1-9][0-9]{0,18}", lines[1]), "bad tree size")
    check(int(lines[1]) < INT63, "bad tree size")
    root = b64(lines[2], "the root hash")
    check(len(root) == 32 and all(lines[3:]), "bad root hash or extension line")  # noqa: PLR2004
    return lines[0], int(lines[1]), root


def open_note(
    body: str, signatures: list[Signature], keys: list[Key], origin: str
) -> set[str]:
    """The names of the trusted keys whose signatures verify; any bad one fails (§9)."""
    names = set()
    for name, kid, blob in signatures:
        for key in keys:
            key_name = key.name or origin
            if (name, kid) != (key_name, key_id(key_name, key.alg, key.public)):
                continue
            message = body.encode()
            if key.alg == COSIGNATURE:
                check(len(blob) == 72, f"cosignature by {name} is not 72 bytes")  # noqa: PLR2004
                timestamp = int.from_bytes(blob[:8], "big")
                check(timestamp < INT63, f"cosignature by {name}: bad timestamp")
                parse_checkpoint(body)
                message = f"cosignature/v1\ntime {timestamp}\n{body}".encode()
                blob = blob[8:]  # noqa: PLW2901 - the signature after the timestamp
            check(len(blob) == 64, f"signature by {name} is not 64 bytes")  # noqa: PLR2004
            try:
                key.public.verify(blob, message)
            except InvalidSignature as err:
                msg = f"the signature by {name} does not verify"
                raise CheckError(msg) from err
            names.add(name)
    return names


def parse_vkey(text: str) -> Key:
    """A verifier key ``name+keyid+base64(type || key)`` (§8)."""
    name, kid, encoded = [*text.split("+", 2), "", ""][:3]
    check_name(name)
    raw = b64(encoded, "the vkey's key")
    check(len(raw) == 33 and raw[0] in {ED25519, COSIGNATURE}, "not an Ed25519 vkey")  # noqa: PLR2004
    key = Key(name, raw[0], Ed25519PublicKey.from_public_bytes(raw[1:]))
    check(key_id(name, raw[0], key.public).hex() == kid, "the vkey's key ID is wrong")
    return key


def writer_key_id(public: Ed25519PublicKey) -> str:
    """vision-audit's key id of a writer key (§8)."""
    return hashlib.sha256(public.public_bytes_raw()).hexdigest()[:16]


def load_pem(text: str) -> Ed25519PublicKey:
    """An Ed25519 public key in PEM."""
    key = load_pem_public_key(text.encode("ascii"))
    check(isinstance(key, Ed25519PublicKey), "not an Ed25519 public key")
    return key  # type: ignore[return-value]


# -- §12 export ---------------------------------------------------------------------


def _claims(
    lines: list[dict[str, Any]],
    header: dict[str, Any],
    writers: list[Key] | None,
    witnesses: list[Key],
    quorum: int,
) -> dict[int, list[Claim]]:
    """Step 7: the checkpoints' signatures, and what they claim."""
    origin, claims = header["origin"], dict[int, list[Claim]]()
    by_id = {writer_key_id(key.public): key for key in writers or []}
    for line in lines:
        size, where = line["sequence"], f"checkpoint {line['sequence']}"
        body, signatures = parse_note(line["note"])
        root = bytes.fromhex(line["root"])
        check(
            parse_checkpoint(body) == (origin, size, root),
            f"{where}: the note is not of this log, size and root",
        )
        signed = False
        if writers is not None:
            key = by_id.get(line["key_id"])
            if key is None:
                msg = f"{where}: signed by key {line['key_id']}, which is not trusted"
                raise CheckError(msg)
            signed = bool(open_note(body, signatures, [key], origin))
            check(signed, f"{where}: no valid signature by the log's key")
        claims.setdefault(size, []).append(
            Claim(root, line["hash"], signed, frozenset())
        )
        cosigned: dict[str, set[str]] = {}
        for cosignature in line["cosignatures"]:
            members(cosignature, {"body", "line", "time"}, where)
            text = cosignature["body"] + "\n" + cosignature["line"]
            cbody, csigs = parse_note(text)
            corigin, csize, _ = parse_checkpoint(cbody)
            names = open_note(cbody, csigs, witnesses, origin)
            check(
                not names or (corigin, csize) == (origin, size),
                f"{where}: a cosignature of another checkpoint",
            )
            if names:
                cosigned.setdefault(cbody, set()).update(names)
        for cbody, names in cosigned.items():
            root = parse_checkpoint(cbody)[2]
            quorate = frozenset(names) if len(names) >= quorum else frozenset()
            claims[size].append(Claim(root, None, False, quorate))  # noqa: FBT003
    return claims


def _types(line: dict[str, Any], number_: int) -> None:
    """Steps 3 and 4: the members' types."""
    where = f"line {number_}"
    if line["type"] == "checkpoint":
        check(integer(line["sequence"]) and HEX64.fullmatch(str(line["root"])), where)
        for name in ("hash", "key_id", "note", "time"):
            check(isinstance(line[name], str), f"{where}: {name} is not a string")
        check(isinstance(line["cosignatures"], list), f"{where}: bad cosignatures")
        times = [line["time"]] + [
            str(c.get("time")) for c in line["cosignatures"] if isinstance(c, dict)
        ]
        try:
            check(all(datetime.fromisoformat(t).tzinfo for t in times), where)
            check(isinstance(line["timestamps"], list), f"{where}: bad timestamps")
            for token in line["timestamps"]:
                base64.b64decode(token, validate=True)
        except (ValueError, TypeError) as err:
            msg = f"{where}: a bad time or time stamp"
            raise CheckError(msg) from err
    elif line["type"] == "event":
        envelope = members(line["envelope"], ENVELOPE, f"{where}: the envelope")
        check(integer(line["sequence"]) and line["sequence"] >= 1, where)
        check(
            envelope["sequence"] == line["sequence"] and integer(envelope["sequence"]),
            f"{where}: the envelope's sequence is not the line's",
        )
        check(HEX64.fullmatch(str(line["hash"])), f"{where}: bad hash")
        check(HEX64.fullmatch(str(envelope["prev_hash"])), f"{where}: bad prev_hash")


def _header(header: dict[str, Any]) -> tuple[int, str, list[bytes]]:
    """Step 2: the header; returns the anchor's sequence, hash and frontier."""
    check(header["version"] == 2 and isinstance(header["origin"], str), "line 1")  # noqa: PLR2004
    check(isinstance(header["public_keys"], dict), "line 1: bad public_keys")
    for kid, pem in header["public_keys"].items():
        try:
            check(writer_key_id(load_pem(pem)) == kid, f"line 1: key {kid} changed")
        except (ValueError, TypeError, AttributeError) as err:
            msg = f"line 1: key {kid} is not a PEM public key"
            raise CheckError(msg) from err
    for name in ("first", "last"):
        check(header[name] is None or integer(header[name]), f"line 1: bad {name}")
    anchor, start, prev, frontier = header["anchor"], 0, "0" * 64, []
    if anchor is not None:
        members(anchor, {"frontier", "hash", "sequence"}, "line 1: anchor")
        start, prev = anchor["sequence"], anchor["hash"]
        check(integer(start) and start >= 1 and HEX64.fullmatch(str(prev)), "anchor")
        nodes = anchor["frontier"]
        check(isinstance(nodes, list) and len(nodes) == start.bit_count(), "frontier")
        try:
            frontier = [bytes.fromhex(n) for n in nodes]
        except (TypeError, ValueError) as err:
            msg = "line 1: the anchor's frontier is not hex"
            raise CheckError(msg) from err
        check(all(len(n) == 32 for n in frontier), "line 1: bad frontier")  # noqa: PLR2004
    check(header["first"] in {None, start + 1}, "line 1: first does not follow anchor")
    return start, prev, frontier


def _lines(data: bytes) -> list[dict[str, Any]]:
    """Steps 1, 3 and 4: the lines, canonical, of known kinds, in order."""
    raw = data.split(b"\n")
    if raw[-1] == b"":
        raw.pop()
    check(raw, "the file is empty")
    lines = [canonical(line, f"line {n}") for n, line in enumerate(raw, start=1)]
    order = {"vision-audit.export": 0, "checkpoint": 1, "event": 2, "end": 3}
    kinds = [
        order.get(str(line.get("type")), -1) if isinstance(line, dict) else -1
        for line in lines
    ]
    check(kinds[0] == 0, "line 1 is not the header of a vision-audit export")
    check(kinds[-1] == 3, "the file was cut short: its last line is not the end line")  # noqa: PLR2004
    unknown = [n for n, kind in enumerate(kinds, start=1) if kind < 0]
    check(not unknown, f"line {unknown[:1]} is of no known kind")
    check(kinds == sorted(kinds) and kinds.count(0) == kinds.count(3) == 1, "order")
    for n, line in enumerate(lines, start=1):
        members(line, MEMBERS[line["type"]], f"line {n}")
        _types(line, n)
    return lines


def verify_export(data: bytes, trust: Trust) -> str:
    """§12: every check, in order; returns what was verified."""
    writers, witnesses, quorum, pinned = trust
    lines = _lines(data)
    header, end = lines[0], lines[-1]
    start, prev, stack = _header(header)
    given = writers is not None
    if writers is None and not witnesses:  # no key: the header's, proving nothing
        writers = [
            Key(None, ED25519, load_pem(p)) for p in header["public_keys"].values()
        ]
    checkpoints = [line for line in lines if line["type"] == "checkpoint"]
    claims = _claims(checkpoints, header, writers, witnesses, quorum)
    for size, claim in pinned:
        # A pin the file does not reach back to cannot be checked: it fails.
        check(size >= start, f"the pinned checkpoint at {size} is before this file")
        claims.setdefault(size, []).append(claim)
    for claim in claims.get(start, []) if start else []:
        check(claim.root == fold(stack), "the anchor's tree is not the one vouched for")
    events = [line for line in lines if line["type"] == "event"]
    signed = witnessed = 0
    names: set[str] = set()
    for expected, line in enumerate(events, start=start + 1):
        seq, envelope = line["sequence"], line["envelope"]
        check(seq == expected, f"sequence {expected}: missing, or out of order")
        digest = sha256(jcs(envelope).encode("utf-8"))
        check(digest.hex() == line["hash"], f"sequence {seq}: changed (hash)")
        check(envelope["prev_hash"] == prev, f"sequence {seq}: does not follow")
        stack.append(sha256(b"\x00" + digest))
        index = seq - 1
        while index & 1:
            right = stack.pop()
            stack.append(node(stack.pop(), right))
            index >>= 1
        for claim in claims.get(seq, []):
            check(
                claim.root == fold(stack) and claim.hash in {None, line["hash"]},
                f"sequence {seq}: the log up to here was rewritten",
            )
            signed = seq if claim.signed else signed
            witnessed = seq if claim.witnesses else witnessed
            names |= claim.witnesses
        prev = line["hash"]
    last = start + len(events)
    check(all(size <= last for size in claims), f"truncated after sequence {last}")
    check(end["events"] == len(events), "the file was cut short (end line)")
    check(not events or header["last"] == last, "the file was cut short (header)")
    if witnesses:
        check(witnessed, "not witnessed: no checkpoint cosigned by the quorum")
    elif given and signed == 0:
        msg = "unsigned: no checkpoint signed by the given key holds the log"
        raise CheckError(msg)
    text = f"events {start + 1} to {last} verified"
    text += f"; signed by the log's key through {signed}" if signed else ""
    if witnessed:
        text += f"; cosigned through {witnessed} by {', '.join(sorted(names))}"
    return text + (
        f"; events after {max(signed, witnessed)} are held by links only"
        if max(signed, witnessed) < last
        else ""
    )


# -- §13 evidence bundle ------------------------------------------------------------


def _content(records: object, envelope: dict[str, Any], where: str) -> None:
    """§5: disclosed personal content against the envelope's content_hash."""
    check(isinstance(records, list), f"{where}: content is not a list")
    digests, subject, seen = {}, None, set()
    for record in records:  # type: ignore[attr-defined]
        members(record, {"digest", "kind", "name", "salt", "value"}, where)
        kind, salt, value = record["kind"], record["salt"], record["value"]
        check(
            kind in {"content", "subject"} and isinstance(record["digest"], str), where
        )
        # One record per (kind, name); the subject's only as "subject_ref" (§5).
        name = record["name"]
        check(isinstance(name, str) and (kind, name) not in seen, f"{where}: twice")
        check(kind != "subject" or name == "subject_ref", f"{where}: not a subject")
        seen.add((kind, name))
        check((salt is None) == (value is None), f"{where}: a salt or a value alone")
        if salt is not None:
            try:
                digest = hashlib.sha256(
                    bytes.fromhex(salt) + value.encode()
                ).hexdigest()
            except (ValueError, TypeError, AttributeError) as err:
                msg = f"{where}: malformed content record"
                raise CheckError(msg) from err
            check(digest == record["digest"], f"{where}: content does not match")
        if kind == "subject":
            subject = record["digest"]
        else:
            digests[str(record["name"])] = record["digest"]
    if envelope["content_hash"] is None:
        check(not records, f"{where}: content, but the envelope has none")
        return
    combined = jcs({"content": digests, "subject_ref": subject}).encode()
    check(
        hashlib.sha256(combined).hexdigest() == envelope["content_hash"],
        f"{where}: content does not match content_hash",
    )


def verify_bundle(data: bytes, trust: Trust) -> str:
    """§13: every check, in order; returns what was verified."""
    writers, witnesses, quorum, _ = trust
    bundle = canonical(data.rstrip(b"\n"), "the bundle")
    check(
        isinstance(bundle, dict)
        and bundle.get("type") == "vision-audit.proof"
        and bundle.get("version") == 1,
        "not an evidence bundle of version 1",
    )
    members(bundle, {"checkpoint", "events", "origin", "type", "version"}, "bundle")
    head = members(bundle["checkpoint"], {"note", "root", "sequence", "timestamps"}, "")
    events, origin = bundle["events"], bundle["origin"]
    check(isinstance(events, list) and 1 <= len(events) <= 10_000, "1 to 10,000 events")  # noqa: PLR2004
    body, signatures = parse_note(head["note"])
    check(parse_checkpoint(body)[:2] == (origin, head["sequence"]), "another log")
    _, size, root = parse_checkpoint(body)
    check(root.hex() == head["root"], "the checkpoint's root is not the bundle's")
    if writers:
        check(open_note(body, signatures, writers, origin), "not signed by the key")
    names = open_note(body, signatures, witnesses, origin) if witnesses else set()
    check(not witnesses or len(names) >= quorum, "not cosigned by the quorum")
    for event in events:
        members(event, {"content", "envelope", "hash", "proof", "sequence"}, "event")
        seq, envelope = event["sequence"], event["envelope"]
        members(envelope, ENVELOPE, f"event {seq}: envelope")
        text = jcs(envelope).encode("utf-8")
        check(len(text) <= 1 << 20, f"event {seq}: the envelope is too large")
        check(sha256(text).hex() == event["hash"], f"event {seq}: changed (hash)")
        check(integer(seq) and seq >= 1 and envelope["sequence"] == seq, "sequence")
        try:
            proof = [bytes.fromhex(node) for node in event["proof"]]
        except (ValueError, TypeError) as err:
            msg = f"event {seq}: malformed proof"
            raise CheckError(msg) from err
        leaf = sha256(b"\x00" + sha256(text))
        check(
            verify_inclusion(leaf, seq - 1, size, proof, root),
            f"event {seq}: not in the log at size {size}",
        )
        if event["content"] is not None:
            _content(event["content"], envelope, f"event {seq}")
    return f"{len(events)} event(s) proven in {origin} at tree size {size}"


# -- command line -------------------------------------------------------------------


def _pinned(paths: list[str], trust: Trust) -> None:
    """Step 8: the pinned checkpoints, checked against the keys given."""
    for path in paths:
        body, signatures = parse_note(Path(path).read_text(encoding="utf-8"))
        origin, size, root = parse_checkpoint(body)
        signed = bool(
            trust.writers and open_note(body, signatures, trust.writers, origin)
        )
        check(signed or not trust.writers, f"{path} is not signed by the log key")
        names = open_note(body, signatures, trust.witnesses, origin)
        check(len(names) >= trust.quorum or not trust.witnesses, f"{path}: no quorum")
        trust.pinned.append((size, Claim(root, None, signed, frozenset(names))))


def _trust(args: argparse.Namespace) -> Trust:
    """The trusted keys and checkpoints of the command line."""
    try:
        writers = []
        for path in args.public_key or []:
            text = Path(path).read_text(encoding="utf-8").strip()
            key = (
                Key(None, ED25519, load_pem(text))
                if "-----BEGIN" in text
                else (parse_vkey(text))
            )
            check(key.alg == ED25519, f"{path} is a witness key, not a log key")
            writers.append(key)
        witnesses = [
            parse_vkey(Path(p).read_text(encoding="utf-8").strip())
            for p in args.witness_key or []
        ]
    except (CheckError, OSError, ValueError) as err:
        raise UsageError(str(err)) from err
    if any(w.alg != COSIGNATURE for w in witnesses):
        msg = "a --witness-key is not a cosignature (0x04) vkey"
        raise UsageError(msg)
    if args.min_witnesses is not None and not witnesses:
        msg = "--min-witnesses needs --witness-key"
        raise UsageError(msg)
    quorum = args.min_witnesses or 1
    if not 1 <= quorum <= max(len(witnesses), 1):
        msg = f"--min-witnesses {quorum}: from 1 to the witness keys given"
        raise UsageError(msg)
    trust = Trust(writers or None, witnesses, quorum, [])
    try:
        _pinned(args.trusted_checkpoint or [], trust)
    except (CheckError, OSError, ValueError) as err:
        raise UsageError(str(err)) from err
    return trust


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, verify, print OK or FAILED; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["export", "bundle"])
    parser.add_argument("file")
    parser.add_argument("--public-key", action="append", help="the log key: PEM, vkey")
    parser.add_argument("--witness-key", action="append", help="a witness's vkey")
    parser.add_argument("--min-witnesses", type=int, metavar="N")
    parser.add_argument(
        "--trusted-checkpoint", action="append", help="a checkpoint note kept before"
    )
    args = parser.parse_args(argv)
    try:
        trust = _trust(args)
        data = Path(args.file).read_bytes()
    except (UsageError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    verify = verify_export if args.what == "export" else verify_bundle
    try:
        message = verify(data, trust)
    except (CheckError, *MALFORMED) as err:
        print(f"FAILED: {args.file}: {err}")
        return 1
    pins = trust.pinned if args.what == "export" else []  # bundles take no pin
    if trust.writers is None and not trust.witnesses and not pins:
        print(f"NOT AUTHENTICATED: {args.file}: {message}; no key was given")
        return 1
    print(f"OK: {args.file}: {message}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
