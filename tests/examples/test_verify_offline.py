"""
docs/evidence-format.md and examples/verify-offline: the written format holds.

The test vectors of the document are regenerated here with the product's own code
(fixed keys, events, salts and times; Ed25519 is deterministic), so the document
cannot drift from what the product writes. Then the offline verifier, written from
the document alone, is run on honest and tampered exports and bundles made by the
product, and must agree with ``vision-audit verify`` on every one.

Run this file as a script to print the test vectors' blocks:
``.venv/bin/python tests/examples/test_verify_offline.py``.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import io
import json
import re
import subprocess
import sys
import tempfile
import types
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from vision_audit.__main__ import main
from vision_audit.models import AuditEvent
from vision_audit.store import (
    InMemoryAuditStore,
    SQLiteAuditStore,
    _envelope,
    _merkle,
    canonical_json,
)
from vision_audit.store._bundle import dump_bundle, make_bundle
from vision_audit.store._export import export_jsonl
from vision_audit.store._keys import Pseudonymizer, key_id, public_key_pem
from vision_audit.store._note import (
    COSIGNATURE_V1,
    Cosigner,
    NoteSigner,
    NoteVerifier,
)
from vision_audit.witness import Witness

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

ROOT = Path(__file__).parents[2]
DOCUMENT = ROOT / "docs" / "evidence-format.md"
VERIFIER = ROOT / "examples" / "verify-offline" / "main.py"

# -- the test vectors ---------------------------------------------------------------

ORIGIN = "example.com/vision-audit/vectors"
WITNESS = "witness.example.com/compliance"
WRITER_SEED = bytes(range(32))
WITNESS_SEED = bytes(range(32, 64))
PSEUDONYM_KEY = bytes(range(64, 96))
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
COSIGNED_3 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
COSIGNED_5 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TRACE = {
    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "span_id": "00f067aa0ba902b7",
    "actor": "svc:intake",
    "consent_ref": "consent-7781",
    "subject_ref": "patient-42",
}
VECTOR_EVENTS = (
    AuditEvent(
        type="analysis.requested",
        event_id="evt-0001",
        time=T0,
        analysis_id="ana-0001",
        purpose="claims-triage",
        policy_id="policy-3f2a9c",
        data={
            "features": ["tags", "caption"],
            "image": {
                "bytes": 48213,
                "format": "jpeg",
                "height": 480,
                "sha256": hashlib.sha256(b"example image").hexdigest(),
                "width": 640,
            },
        },
        **TRACE,
    ),
    AuditEvent(
        type="analysis.completed",
        event_id="evt-0002",
        time=T0 + timedelta(seconds=1, microseconds=250_000),
        analysis_id="ana-0001",
        purpose="claims-triage",
        policy_id="policy-3f2a9c",
        data={
            "latency_ms": 182.5,
            "tags": [
                {"confidence": 0.9871, "name": "car"},
                {"confidence": 1.0, "name": "vehicle"},
                {"confidence": 1e-7, "name": "boat"},
            ],
        },
        content={
            "caption": "a grey car parked on a street",
            "read_text": "AB-123 Zürich\nline 2",
        },
        **TRACE,
    ),
    AuditEvent(
        type="tags.filtered",
        event_id="evt-0003",
        time=T0 + timedelta(seconds=2),
        analysis_id="ana-0001",
        purpose="claims-triage",
        policy_id="policy-3f2a9c",
        data={
            "blocked": ["person"],
            # RFC 8785 sorts keys by UTF-16 code units: U+1F600 (D83D DE00) before
            # U+FB01, although its code point is larger.
            "keys": {"z": 1, "é": 2, "\ufb01": 3, "\U0001f600": 4},
            "text": 'tab\there \u001f "quoted" \\',
        },
    ),
    AuditEvent(
        type="review.decided",
        event_id="evt-0004",
        time=T0 + timedelta(minutes=5),
        analysis_id="ana-0001",
        actor="reviewer:ana",
        purpose="claims-triage",
        data={"decision": "approve", "review_of": "evt-0002"},
    ),
    AuditEvent(
        type="analysis.completed",
        event_id="evt-0005",
        time=T0 + timedelta(minutes=6),
        analysis_id="ana-0002",
        purpose="claims-triage",
        data={"big": 1e21, "max_int": 2**53 - 1, "ratio": 0.5, "zero": -0.0},
        content={"caption": "a bicycle"},
    ),
)


class _Salts:
    """Stands in for os.urandom while the vectors are made: salts 00 01 02 ..."""

    def __init__(self) -> None:
        self.next = 0

    def urandom(self, size: int) -> bytes:
        data = bytes((self.next + i) % 256 for i in range(size))
        self.next += size
        return data


@contextlib.contextmanager
def vector_log(folder: Path) -> Iterator[tuple[InMemoryAuditStore, Witness]]:
    """
    The log of the test vectors, as the product writes it.

    Five events, a checkpoint at 3 and one at 5, each cosigned by the witness.
    """
    writer = Ed25519PrivateKey.from_private_bytes(WRITER_SEED)
    salts = _Salts()
    fixed = types.SimpleNamespace(urandom=salts.urandom)
    with mock.patch.object(_envelope, "os", fixed):
        store = InMemoryAuditStore(
            signing_key=writer,
            pseudonym_key=PSEUDONYM_KEY,
            origin=ORIGIN,
            checkpoint_every=1000,
            checkpoint_interval=3600,
        )
        witness = Witness(
            name=WITNESS,
            key=Ed25519PrivateKey.from_private_bytes(WITNESS_SEED),
            state=folder / "witness.json",
            logs=[NoteVerifier.for_key(ORIGIN, writer.public_key())],
        )
        try:
            for event in VECTOR_EVENTS[:3]:
                store.append(event)
            store.sign_checkpoint()
            note = store.list_checkpoints()[-1].note
            store.record_cosignature(
                witness.add_checkpoint(note, old_size=0, proof=[], now=COSIGNED_3)
            )
            for event in VECTOR_EVENTS[3:]:
                store.append(event)
            store.sign_checkpoint()
            note = store.list_checkpoints()[-1].note
            proof = store.get_consistency_proof(3, 5)
            store.record_cosignature(
                witness.add_checkpoint(note, old_size=3, proof=proof, now=COSIGNED_5)
            )
            yield store, witness
        finally:
            store.close()


def _lines(hashes: list[bytes]) -> str:
    return "\n".join(node.hex() for node in hashes)


def make_vectors(folder: Path) -> dict[str, str]:
    """Every test vector of the document, by name, as the product makes it."""
    writer = Ed25519PrivateKey.from_private_bytes(WRITER_SEED)
    public = writer.public_key()
    raw = public.public_bytes_raw()
    witness_public = Ed25519PrivateKey.from_private_bytes(WITNESS_SEED).public_key()
    vectors = {
        "writer-seed": WRITER_SEED.hex(),
        "writer-public-key": raw.hex(),
        "writer-public-key-pem": public_key_pem(public).decode("ascii"),
        "writer-key-id": key_id(public),
        "writer-vkey": NoteVerifier.for_key(ORIGIN, public).vkey(),
        "witness-seed": WITNESS_SEED.hex(),
        "witness-public-key": witness_public.public_bytes_raw().hex(),
        "witness-vkey": NoteVerifier.for_key(
            WITNESS, witness_public, COSIGNATURE_V1
        ).vkey(),
        "pseudonym-key": PSEUDONYM_KEY.hex(),
        "subject-pseudonym": Pseudonymizer(PSEUDONYM_KEY)("patient-42"),
    }
    with vector_log(folder) as (store, _):
        records = store.get_content_records(range(1, 6))
        leaves = []
        for sequence in range(1, 6):
            (_, hash_, envelope), *_ = store.find_events(f"evt-{sequence:04d}")
            name = f"event-{sequence}"
            vectors[f"{name}-envelope"] = envelope.decode("utf-8")
            vectors[f"{name}-hash"] = hash_
            leaf = _merkle.leaf_hash(bytes.fromhex(hash_))
            leaves.append(leaf)
            vectors[f"{name}-leaf"] = leaf.hex()
            if sequence in records:
                pieces = records[sequence]
                vectors[f"{name}-content"] = "\n".join(
                    canonical_json(
                        {
                            "digest": r.digest,
                            "kind": r.kind,
                            "name": r.name,
                            "salt": r.salt.hex() if r.salt else None,
                            "value": r.value.decode("utf-8") if r.value else None,
                        }
                    )
                    for r in pieces
                )
                combined = canonical_json(
                    {
                        "content": {
                            r.name: r.digest for r in pieces if r.kind == "content"
                        },
                        "subject_ref": next(
                            (r.digest for r in pieces if r.kind == "subject"), None
                        ),
                    }
                )
                vectors[f"{name}-content-object"] = combined
                vectors[f"{name}-content-hash"] = json.loads(envelope)["content_hash"]
        for size in range(1, 6):
            root = store.get_root(size)
            assert root == _merkle.root_of(leaves[:size])
            vectors[f"root-{size}"] = root.hex()
        vectors["inclusion-3-in-5"] = _lines(store.get_inclusion_proof(3, 5))
        vectors["consistency-2-to-5"] = _lines(store.get_consistency_proof(2, 5))
        vectors["consistency-3-to-5"] = _lines(store.get_consistency_proof(3, 5))
        checkpoints = {c.sequence: c for c in store.list_checkpoints()}
        vectors["checkpoint-3-note"] = checkpoints[3].signed_note()
        five = checkpoints[5]
        vectors["checkpoint-5-body"] = five.body
        timestamp = int(COSIGNED_5.timestamp())
        vectors["cosignature-5-message"] = (
            f"cosignature/v1\ntime {timestamp}\n{five.body}"
        )
        vectors["checkpoint-5-note"] = five.signed_note()
        vectors["bundle-evt-0003"] = dump_bundle(make_bundle(store, "evt-0003"))
    return {name: value.removesuffix("\n") for name, value in vectors.items()}


_JSON = ("-envelope", "-content", "-content-object")
_BLOCK = re.compile(
    r"^```(\w+) vector=([a-z0-9-]+)\n(.*?)\n```$", re.MULTILINE | re.DOTALL
)


def render(vectors: dict[str, str]) -> str:
    """The vectors as the document's fenced blocks."""
    blocks = []
    for name, value in vectors.items():
        json_ = name.endswith(_JSON) or name.startswith("bundle-")
        blocks.append(f"```{'json' if json_ else 'text'} vector={name}\n{value}\n```\n")
    return "\n".join(blocks)


def document_vectors() -> dict[str, str]:
    """The vectors the document states, by name."""
    found: dict[str, str] = {}
    for match in _BLOCK.finditer(DOCUMENT.read_text(encoding="utf-8")):
        name = match.group(2)
        assert name not in found, f"vector {name} appears twice"
        found[name] = match.group(3)
    return found


class TestVectors:
    """The document's test vectors are what the product writes, and hold together."""

    def test_document_states_what_the_product_writes(self, tmp_path):
        """Regenerated with the product's code, every vector equals the document's."""
        made = make_vectors(tmp_path)

        stated = document_vectors()

        assert made.keys() == stated.keys()
        for name, value in made.items():
            assert value == stated[name], f"vector {name} drifted"

    def test_signatures_as_the_document_describes_them(self):
        """The note's lines decode and verify as sections 8 to 10 say, by hand."""
        vectors = document_vectors()
        body = vectors["checkpoint-5-body"] + "\n"
        note = vectors["checkpoint-5-note"] + "\n"
        writer_line, witness_line = note.split("\n\n")[1].splitlines()
        writer = base64.b64decode(writer_line.split(" ")[2])
        witness = base64.b64decode(witness_line.split(" ")[2])
        writer_key = Ed25519PrivateKey.from_private_bytes(
            bytes.fromhex(vectors["writer-seed"])
        ).public_key()
        witness_key = Ed25519PrivateKey.from_private_bytes(
            bytes.fromhex(vectors["witness-seed"])
        ).public_key()
        writer_id = hashlib.sha256(
            ORIGIN.encode() + b"\n\x01" + writer_key.public_bytes_raw()
        ).digest()[:4]
        message = vectors["cosignature-5-message"] + "\n"

        writer_key.verify(writer[4:], body.encode())
        witness_key.verify(witness[12:], message.encode())

        assert (68, 76) == (len(writer), len(witness))
        assert (
            writer_id.hex() == vectors["writer-vkey"].split("+")[1] == writer[:4].hex()
        )
        assert witness[:4].hex() == vectors["witness-vkey"].split("+")[1]
        assert int.from_bytes(witness[4:12], "big") == int(COSIGNED_5.timestamp())
        assert note.startswith(body + "\n")

    def test_tree_as_the_document_describes_it(self):
        """Chain hashes, leaves, roots and both proofs check with RFC 9162 alone."""
        vectors = document_vectors()
        hashes = [bytes.fromhex(vectors[f"event-{n}-hash"]) for n in range(1, 6)]
        leaves = [hashlib.sha256(b"\x00" + h).digest() for h in hashes]
        root = {n: bytes.fromhex(vectors[f"root-{n}"]) for n in range(1, 6)}

        def proof(name):
            return [bytes.fromhex(line) for line in vectors[name].splitlines()]

        for n, h in enumerate(hashes, start=1):
            envelope = vectors[f"event-{n}-envelope"].encode()
            assert h == hashlib.sha256(envelope).digest()
            assert (
                vectors[f"event-{n - 1}-hash"] if n > 1 else "0" * 64
            ) == json.loads(envelope)["prev_hash"]
        assert [root[n] for n in range(1, 6)] == [
            _merkle.root_of(leaves[:n]) for n in range(1, 6)
        ]
        assert _merkle.verify_inclusion(
            leaves[2], 2, 5, proof("inclusion-3-in-5"), root[5]
        )
        assert _merkle.verify_consistency(
            2, 5, root[2], root[5], proof("consistency-2-to-5")
        )
        assert _merkle.verify_consistency(
            3, 5, root[3], root[5], proof("consistency-3-to-5")
        )

    def test_content_as_the_document_describes_it(self):
        """Salted digests and their combination give each event's content_hash."""
        vectors = document_vectors()

        for n in (1, 2, 5):
            records = [
                json.loads(line) for line in vectors[f"event-{n}-content"].splitlines()
            ]
            combined = vectors[f"event-{n}-content-object"]
            envelope = json.loads(vectors[f"event-{n}-envelope"])

            for record in records:
                salted = bytes.fromhex(record["salt"]) + record["value"].encode()
                assert record["digest"] == hashlib.sha256(salted).hexdigest()
            assert json.loads(combined) == {
                "content": {
                    r["name"]: r["digest"] for r in records if r["kind"] == "content"
                },
                "subject_ref": next(
                    (r["digest"] for r in records if r["kind"] == "subject"), None
                ),
            }
            digest = hashlib.sha256(combined.encode()).hexdigest()
            assert digest == vectors[f"event-{n}-content-hash"]
            assert digest == envelope["content_hash"]

    def test_offline_verifier_checks_the_vectors(self, tmp_path):
        """The bundle vector, and an export of the vector log, verify offline."""
        vectors = document_vectors()
        (tmp_path / "writer.vkey").write_text(vectors["writer-vkey"])
        (tmp_path / "witness.vkey").write_text(vectors["witness-vkey"])
        bundle = tmp_path / "bundle.json"
        bundle.write_text(vectors["bundle-evt-0003"] + "\n", encoding="utf-8")
        export = tmp_path / "export.jsonl"
        with vector_log(tmp_path) as (store, _):
            with export.open("w", encoding="utf-8", newline="\n") as out:
                export_jsonl(store, out, exported_at=T0)
        keys = [
            "--public-key",
            str(tmp_path / "writer.vkey"),
            "--witness-key",
            str(tmp_path / "witness.vkey"),
        ]

        completed = [
            offline(kind, path, *keys)
            for kind, path in [("bundle", bundle), ("export", export)]
        ]

        assert [0, 0] == [c.returncode for c in completed], completed


# -- the offline verifier against vision-audit verify --------------------------------

LOG = "example.com/claims-audit"
W1 = "w1.compliance.example.com/witness"
W2 = "w2.dpo.example.org/witness"
T1 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
COSIGN_4 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
COSIGN_8 = datetime(2026, 3, 2, 16, 30, tzinfo=UTC)


def _events(changed: int | None = None) -> list[AuditEvent]:
    """Ten events of four analyses; *changed*: that one with another consent."""
    events = []
    for n in range(1, 11):
        analysis = f"ana-{(n - 1) // 3 + 1}"
        kind = ("analysis.requested", "analysis.completed", "review.decided")[
            (n - 1) % 3
        ]
        events.append(
            AuditEvent(
                type=kind,
                event_id=f"evt-{n:02d}",
                time=T1 + timedelta(hours=n - 1),
                analysis_id=analysis,
                purpose="claims-triage",
                consent_ref="consent-forged" if n == changed else f"consent-{n}",
                subject_ref=f"subject-{n % 4}",
                data={"number": n, "tags": [{"confidence": 0.97, "name": "car"}]},
                content=(
                    {"caption": f"caption {n}", "read_text": f"AB-{n}"}
                    if kind == "analysis.completed"
                    else None
                ),
            )
        )
    return events


@dataclasses.dataclass
class Evidence:
    """Keys, exports and bundles the product made, honest and rewritten."""

    folder: Path
    writer: Ed25519PrivateKey
    other: Ed25519PrivateKey
    impostor: Ed25519PrivateKey
    w1: Cosigner
    files: dict[str, Path]

    def key(self, name: str) -> list[str]:
        """``--public-key`` or ``--witness-key`` with the named key file."""
        option = "--witness-key" if name.startswith(("w1", "w2")) else "--public-key"
        return [option, str(self.folder / name)]


def _write_keys(folder: Path, writer, w1: Cosigner, w2: Cosigner) -> None:
    (folder / "writer.pem").write_bytes(public_key_pem(writer.public_key()))
    (folder / "writer.vkey").write_text(
        NoteVerifier.for_key(LOG, writer.public_key()).vkey()
    )
    (folder / "w1.vkey").write_text(w1.verifier.vkey())
    (folder / "w2.vkey").write_text(w2.verifier.vkey())


def _fill(path: Path, writer, events, witnesses) -> SQLiteAuditStore:
    """A store of *events*, checkpoints at 4, 8 and 10, cosigned as *witnesses* do."""
    salts = _Salts()  # the same salts in every store: only what changed differs
    with mock.patch.object(
        _envelope, "os", types.SimpleNamespace(urandom=salts.urandom)
    ):
        store = SQLiteAuditStore(
            path,
            signing_key=writer,
            origin=LOG,
            pseudonym_key=PSEUDONYM_KEY,
            checkpoint_every=10_000,
            checkpoint_interval=3600,
        )
        for number, event in enumerate(events, start=1):
            store.append(event)
            if number in {4, 8, 10}:
                store.sign_checkpoint()
                for witness, moment in witnesses.get(number, []):
                    held, _ = witness.held(LOG)
                    proof = store.get_consistency_proof(held, number) if held else []
                    note = store.list_checkpoints()[-1].note
                    store.record_cosignature(
                        witness.add_checkpoint(
                            note, old_size=held, proof=proof, now=moment
                        )
                    )
    return store


@contextlib.contextmanager
def _clean_environment() -> Iterator[None]:
    """No VISION_AUDIT_* variable of the developer's reaches the commands."""
    import os

    kept = {k: v for k, v in os.environ.items() if not k.startswith("VISION_AUDIT_")}
    with mock.patch.dict(os.environ, kept, clear=True):
        yield


def product(*args: str) -> tuple[int, str]:
    """Run ``vision-audit`` in this process: exit status and output."""
    out = io.StringIO()
    with (
        _clean_environment(),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(out),
    ):
        try:
            code = main(list(args))
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    return code, out.getvalue()


def offline(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the offline verifier as a user would, with this Python."""
    return subprocess.run(  # noqa: PLW1510 - callers assert on returncode
        [sys.executable, str(VERIFIER), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(name="evidence", scope="module")
def _evidence(tmp_path_factory) -> Evidence:
    """
    Exports and bundles of a log, honest and rewritten by its operator.

    Ten events, signed at 4, 8 and 10, cosigned at 4 (w1) and 8 (w1, w2). The
    operator's rewrites, re-signed with the writer key: of event 3, keeping every
    cosignature; of event 6, keeping only the cosignature of 4 (the one that still
    holds), which only the witness's own checkpoint, pinned, can catch.
    """
    folder = tmp_path_factory.mktemp("evidence")
    writer = Ed25519PrivateKey.from_private_bytes(WRITER_SEED)
    w1 = Cosigner(W1, Ed25519PrivateKey.from_private_bytes(WITNESS_SEED))
    w2 = Cosigner(W2, Ed25519PrivateKey.from_private_bytes(bytes(range(100, 132))))
    _write_keys(folder, writer, w1, w2)
    log = [NoteVerifier.for_key(LOG, writer.public_key())]
    witnesses = {
        name: Witness(
            name=c.name, key=c.private_key, state=folder / f"{name}.json", logs=log
        )
        for name, c in (("w1", w1), ("w2", w2))
    }
    schedule = {
        4: [(witnesses["w1"], COSIGN_4)],
        8: [(witnesses["w1"], COSIGN_8), (witnesses["w2"], COSIGN_8)],
    }
    files = {}
    with _clean_environment():
        honest = _fill(folder / "audit.db", writer, _events(), schedule)
        forged = _fill(folder / "forged.db", writer, _events(changed=3), {})
        late = _fill(folder / "late.db", writer, _events(changed=6), {})
        for checkpoint in honest.list_checkpoints():
            for cosignature in checkpoint.cosignatures:
                forged.record_cosignature(cosignature)
                if checkpoint.sequence == 4:
                    late.record_cosignature(cosignature)
        for store in (honest, forged, late):
            store.close()
    held = json.loads((folder / "w1.json").read_text(encoding="utf-8"))
    (folder / "w1-held.note").write_text(held["logs"][LOG]["note"], encoding="utf-8")
    for name, db, extra in [
        ("export.jsonl", "audit.db", []),
        ("slice.jsonl", "audit.db", ["--since", "2026-03-02T12:30:00+00:00"]),
        ("slice-late.jsonl", "audit.db", ["--since", "2026-03-02T16:30:00+00:00"]),
        ("forged.jsonl", "forged.db", []),
        ("late.jsonl", "late.db", []),
    ]:
        files[name] = folder / name
        code, said = product(
            "export",
            "--store",
            f"sqlite:///{folder / db}",
            "--output",
            str(files[name]),
            *extra,
        )
        assert 0 == code, said
    for name, db, extra in [
        ("bundle.json", "audit.db", []),
        ("content.json", "audit.db", ["--with-content"]),
        ("forged.json", "forged.db", []),
    ]:
        files[name] = folder / name
        code, said = product(
            "prove",
            "ana-1",
            "--store",
            f"sqlite:///{folder / db}",
            "--output",
            str(files[name]),
            *extra,
        )
        assert 0 == code, said
    return Evidence(
        folder=folder,
        writer=writer,
        other=Ed25519PrivateKey.from_private_bytes(bytes(range(200, 232))),
        impostor=Ed25519PrivateKey.from_private_bytes(bytes(range(150, 182))),
        w1=w1,
        files=files,
    )


# Tampering, as someone who can write the file would do it: each function takes the
# parsed lines (or bundle) and changes them in place, keeping the JSON canonical.


def _rechain(lines: list[dict[str, Any]], start: int) -> None:
    """Recompute the chain hashes and links from sequence *start* on."""
    prev = None
    for line in lines:
        if line["type"] != "event" or line["sequence"] < start:
            if line["type"] == "event":
                prev = line["hash"]
            continue
        line["envelope"]["prev_hash"] = prev
        line["hash"] = hashlib.sha256(
            canonical_json(line["envelope"]).encode()
        ).hexdigest()
        prev = line["hash"]


def _event(lines, sequence):
    return next(
        line
        for line in lines
        if line["type"] == "event" and line["sequence"] == sequence
    )


def _checkpoint(lines, sequence):
    return next(
        line
        for line in lines
        if line["type"] == "checkpoint" and line["sequence"] == sequence
    )


def change_envelope(lines, _evidence):
    """Event 6's data changed, with every chain hash after it recomputed."""
    _event(lines, 6)["envelope"]["data"]["number"] = 60
    _rechain(lines, 6)


def drop_event(lines, _evidence):
    """Event 5's line removed."""
    lines.remove(_event(lines, 5))


def reorder_events(lines, _evidence):
    """Events 5 and 6 swapped."""
    five, six = lines.index(_event(lines, 5)), lines.index(_event(lines, 6))
    lines[five], lines[six] = lines[six], lines[five]


def cut_clean(lines, _evidence):
    """Events 9 and 10 removed, with the end line and the header made to agree."""
    for sequence in (9, 10):
        lines.remove(_event(lines, sequence))
    lines[-1]["events"] = 8
    lines[0]["last"] = 8


def forge_root(lines, _evidence):
    """The root of checkpoint 8 replaced, in its line and in its note."""
    line = _checkpoint(lines, 8)
    forged = hashlib.sha256(b"forged").digest()
    old = base64.b64encode(bytes.fromhex(line["root"])).decode()
    line["note"] = line["note"].replace(old, base64.b64encode(forged).decode())
    line["root"] = forged.hex()


def sign_with_another_key(lines, evidence):
    """Checkpoint 8 signed again by another key, which the header now lists."""
    line = _checkpoint(lines, 8)
    body = line["note"].split("\n\n")[0] + "\n"
    other = NoteSigner(LOG, evidence.other).sign(body)
    line["note"] = body + "\n" + other
    line["key_id"] = key_id(evidence.other.public_key())
    lines[0]["public_keys"][line["key_id"]] = public_key_pem(
        evidence.other.public_key()
    ).decode()


def cosign_by_another_witness(lines, evidence):
    """Every cosignature of w1 replaced by one of another key under w1's name."""
    impostor = Cosigner(W1, evidence.impostor)
    for line in lines:
        for cosignature in line.get("cosignatures", []):
            if cosignature["line"].startswith(f"— {W1} "):
                cosignature["line"] = impostor.cosign(
                    cosignature["body"], int(COSIGN_4.timestamp())
                )


def forge_cosignature(lines, evidence):
    """w1's cosignature of 4 made by another key, under w1's name and key ID."""
    cosignature = _checkpoint(lines, 4)["cosignatures"][0]
    timestamp = int(COSIGN_4.timestamp()).to_bytes(8, "big")
    message = f"cosignature/v1\ntime {int(COSIGN_4.timestamp())}\n{cosignature['body']}"
    blob = (
        evidence.w1.verifier.key_hash
        + timestamp
        + evidence.impostor.sign(message.encode())
    )
    cosignature["line"] = f"— {W1} {base64.b64encode(blob).decode()}\n"


def drop_w2(lines, _evidence):
    """The cosignature of w2 removed."""
    for line in lines:
        if line["type"] == "checkpoint":
            line["cosignatures"] = [
                c for c in line["cosignatures"] if not c["line"].startswith(f"— {W2} ")
            ]


def bundle_change_envelope(bundle, _evidence):
    """The first event's data changed, its hash recomputed."""
    event = bundle["events"][0]
    event["envelope"]["data"]["number"] = 100
    event["hash"] = hashlib.sha256(
        canonical_json(event["envelope"]).encode()
    ).hexdigest()


def bundle_change_proof(bundle, _evidence):
    """One hash of the second event's inclusion proof replaced."""
    bundle["events"][1]["proof"][0] = hashlib.sha256(b"other").hexdigest()


def bundle_change_content(bundle, _evidence):
    """A disclosed caption changed."""
    for record in bundle["events"][1]["content"]:
        if record["name"] == "caption":
            record["value"] = json.dumps("a different caption")


def bundle_sign_with_another_key(bundle, evidence):
    """The checkpoint signed by another key instead of the writer's."""
    note = bundle["checkpoint"]["note"]
    body, lines = note.split("\n\n")
    kept = [line for line in lines.splitlines() if not line.startswith(f"— {LOG} ")]
    other = NoteSigner(LOG, evidence.other).sign(body + "\n")
    bundle["checkpoint"]["note"] = (
        body + "\n\n" + other + "".join(line + "\n" for line in kept)
    )


def _duplicate_header(text: str) -> str:
    return text.replace('{"anchor":null,', '{"anchor":null,"anchor":null,', 1)


def _duplicate_actor(text: str) -> str:
    lines = text.splitlines(keepends=True)
    at = next(
        n for n, line in enumerate(lines) if '"sequence":5,"type":"event"' in line
    )
    lines[at] = lines[at].replace(
        '{"envelope":{"actor":null,', '{"envelope":{"actor":null,"actor":null,', 1
    )
    return "".join(lines)


def _duplicate_type(text: str) -> str:
    kind = '"type":"vision-audit.proof"'
    return text.replace(kind, f"{kind},{kind}", 1)


def _cut(text: str) -> str:
    return "".join(text.splitlines(keepends=True)[:-3])


@dataclasses.dataclass(frozen=True)
class Case:
    """One file given to both verifiers, with the keys, and the status expected."""

    kind: str
    source: str
    keys: tuple[str, ...]
    expected: int
    change: Callable[..., None] | None = None
    text: Callable[[str], str] | None = None
    options: tuple[str, ...] = ()


W1_KEY = ("w1.vkey",)
PEM = ("writer.pem",)
CASES = {
    "export, writer PEM key": Case("export", "export.jsonl", PEM, 0),
    "export, writer vkey": Case("export", "export.jsonl", ("writer.vkey",), 0),
    "export, witness key": Case("export", "export.jsonl", W1_KEY, 0),
    "export, writer and witness": Case("export", "export.jsonl", (*PEM, *W1_KEY), 0),
    "export, quorum of 2": Case(
        "export",
        "export.jsonl",
        ("w1.vkey", "w2.vkey"),
        0,
        options=("--min-witnesses", "2"),
    ),
    "export, no key": Case("export", "export.jsonl", (), 1),
    "slice, writer key": Case("export", "slice.jsonl", PEM, 0),
    "slice, witness key": Case("export", "slice.jsonl", W1_KEY, 0),
    "changed envelope, chain recomputed": Case(
        "export", "export.jsonl", PEM, 1, change=change_envelope
    ),
    "changed envelope, witness key": Case(
        "export", "export.jsonl", W1_KEY, 1, change=change_envelope
    ),
    "dropped line": Case("export", "export.jsonl", PEM, 1, change=drop_event),
    "reordered lines": Case("export", "export.jsonl", PEM, 1, change=reorder_events),
    "truncated file": Case("export", "export.jsonl", PEM, 1, text=_cut),
    "truncated before a checkpoint": Case(
        "export", "export.jsonl", PEM, 1, change=cut_clean
    ),
    "forged checkpoint root": Case("export", "export.jsonl", PEM, 1, change=forge_root),
    "checkpoint signed by another key": Case(
        "export", "export.jsonl", PEM, 1, change=sign_with_another_key
    ),
    "cosignatures of another witness": Case(
        "export", "export.jsonl", W1_KEY, 1, change=cosign_by_another_witness
    ),
    "cosignature forged under the witness's key ID": Case(
        "export", "export.jsonl", W1_KEY, 1, change=forge_cosignature
    ),
    "quorum of 2 not met": Case(
        "export",
        "export.jsonl",
        ("w1.vkey", "w2.vkey"),
        1,
        change=drop_w2,
        options=("--min-witnesses", "2"),
    ),
    "duplicate member in an envelope": Case(
        "export", "export.jsonl", PEM, 1, text=_duplicate_actor
    ),
    "duplicate member in the header": Case(
        "export", "export.jsonl", PEM, 1, text=_duplicate_header
    ),
    "operator rewrite, writer key": Case("export", "forged.jsonl", PEM, 0),
    "operator rewrite, witness key": Case("export", "forged.jsonl", W1_KEY, 1),
    "operator rewrite, both": Case("export", "forged.jsonl", (*PEM, *W1_KEY), 1),
    # The limit of witnesses seen only through the operator's export: a rewrite after
    # the last cosignature the operator kept passes (events 5 to 10 are reported as
    # not yet witnessed); the witness's own last checkpoint, pinned, catches it.
    "rewrite after the cosignatures kept, witness key": Case(
        "export", "late.jsonl", W1_KEY, 0
    ),
    "rewrite after the cosignatures kept, witness's checkpoint pinned": Case(
        "export",
        "late.jsonl",
        W1_KEY,
        1,
        options=("--trusted-checkpoint", "{folder}/w1-held.note"),
    ),
    "slice, pinned checkpoint in it": Case(
        "export",
        "slice.jsonl",
        W1_KEY,
        0,
        options=("--trusted-checkpoint", "{folder}/w1-held.note"),
    ),
    "slice starting after the pinned checkpoint": Case(
        "export",
        "slice-late.jsonl",
        (),
        1,
        options=("--trusted-checkpoint", "{folder}/w1-held.note"),
    ),
    "export, pinned checkpoint only": Case(
        "export",
        "export.jsonl",
        (),
        0,
        options=("--trusted-checkpoint", "{folder}/w1-held.note"),
    ),
    "bundle, writer key": Case("bundle", "bundle.json", PEM, 0),
    "bundle, writer vkey": Case("bundle", "bundle.json", ("writer.vkey",), 0),
    "bundle, witness key": Case("bundle", "bundle.json", W1_KEY, 0),
    "bundle, quorum of 2": Case(
        "bundle",
        "bundle.json",
        ("w1.vkey", "w2.vkey"),
        0,
        options=("--min-witnesses", "2"),
    ),
    "bundle, no key": Case("bundle", "bundle.json", (), 1),
    "bundle with content": Case("bundle", "content.json", W1_KEY, 0),
    "bundle, changed envelope": Case(
        "bundle", "bundle.json", W1_KEY, 1, change=bundle_change_envelope
    ),
    "bundle, changed proof": Case(
        "bundle", "bundle.json", W1_KEY, 1, change=bundle_change_proof
    ),
    "bundle, changed content": Case(
        "bundle", "content.json", W1_KEY, 1, change=bundle_change_content
    ),
    "bundle, signed by another key": Case(
        "bundle", "bundle.json", PEM, 1, change=bundle_sign_with_another_key
    ),
    "bundle, duplicate member": Case(
        "bundle", "bundle.json", PEM, 1, text=_duplicate_type
    ),
    "bundle, operator rewrite, writer key": Case("bundle", "forged.json", PEM, 0),
    "bundle, operator rewrite, witness key": Case("bundle", "forged.json", W1_KEY, 1),
    "bad usage, quorum without witnesses": Case(
        "export", "export.jsonl", PEM, 2, options=("--min-witnesses", "1")
    ),
}


def _prepare(case: Case, evidence: Evidence, folder: Path) -> Path:
    """The file of *case*: the product's, changed as the case says."""
    text = evidence.files[case.source].read_text(encoding="utf-8")
    if case.change is not None:
        if case.kind == "export":
            lines = [json.loads(line) for line in text.splitlines()]
            case.change(lines, evidence)
            text = "".join(canonical_json(line) + "\n" for line in lines)
        else:
            bundle = json.loads(text)
            case.change(bundle, evidence)
            text = canonical_json(bundle) + "\n"
    if case.text is not None:
        text = case.text(text)
    path = folder / evidence.files[case.source].name
    path.write_text(text, encoding="utf-8", newline="")
    return path


class TestOfflineVerifier:
    """examples/verify-offline and vision-audit verify agree, on every file."""

    def test_uses_nothing_of_vision_audit(self):
        """The verifier is written from the document: no import of vision_audit."""
        source = VERIFIER.read_text(encoding="utf-8")

        assert not re.search(r"^\s*(from|import) vision_audit", source, re.MULTILINE)

    @pytest.mark.parametrize("name", list(CASES))
    def test_agrees_with_vision_audit_verify(self, name, evidence, tmp_path):
        """Same exit status as the product's verify, and the one expected."""
        case = CASES[name]
        path = _prepare(case, evidence, tmp_path)
        keys = [arg for key in case.keys for arg in evidence.key(key)]
        keys += [option.format(folder=evidence.folder) for option in case.options]
        option = "--file" if case.kind == "export" else "--bundle"

        ours, said = product("verify", option, str(path), *keys)
        theirs = offline(case.kind, path, *keys)

        assert (case.expected, case.expected) == (ours, theirs.returncode), (
            f"vision-audit: {said}\noffline: {theirs.stdout}{theirs.stderr}"
        )


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        sys.stdout.write(render(make_vectors(Path(folder))))
