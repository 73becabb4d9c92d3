"""verify_chain(): a pure check that locates and names any damage to a chain."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.strategies import audit_events, tamperings
from vision_audit.exceptions import ChainIntegrityError
from vision_audit.models import AuditEvent
from vision_audit.store import (
    ChainHead,
    Checkpoint,
    _merkle,
    canonical_bytes,
    verify_chain,
)
from vision_audit.store._chain import GENESIS_HASH
from vision_audit.store._checkpoints import sign_checkpoint
from vision_audit.store._envelope import parse_envelope, prepare, seal
from vision_audit.store._keys import Pseudonymizer, generate_signing_key, key_id

KEY = generate_signing_key()
KEY_ID = key_id(KEY.public_key())
TRUSTED = {KEY_ID: KEY.public_key()}
PSEUDONYMIZE = Pseudonymizer(b"p" * 32)


def _chain(length: int) -> list[tuple[int, str, bytes]]:
    links = []
    prev = GENESIS_HASH
    for n in range(1, length + 1):
        prepared = prepare(
            AuditEvent(
                type="t",
                event_id=f"e{n}",
                time=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=n),
            ),
            PSEUDONYMIZE,
        )
        text, hash_ = seal(prepared, n, prev)
        links.append((n, hash_, text.encode()))
        prev = hash_
    return links


def _sign(links: list[tuple[int, str, bytes]], sequence: int) -> Checkpoint:
    leaves = [_merkle.leaf_hash(bytes.fromhex(h)) for _, h, _ in links[:sequence]]
    return sign_checkpoint(
        origin="example.com/log",
        sequence=sequence,
        root=_merkle.root_of(leaves),
        chain_hash=links[sequence - 1][1],
        key=KEY,
        key_id=KEY_ID,
        time=datetime(2026, 2, 1, tzinfo=UTC),
    )


def _forge(link: tuple[int, str, bytes], **changes) -> tuple[int, str, bytes]:
    envelope = json.loads(link[2])
    envelope.update(changes)
    data = canonical_bytes(envelope)
    return envelope["sequence"], hashlib.sha256(data).hexdigest(), data


class TestVerifyChain:
    """The chain's checks, one kind of damage at a time."""

    def test_empty(self):
        """An empty chain verifies, with no head."""
        result = verify_chain([])

        assert (True, 0, None) == (result.ok, result.events, result.head)

    def test_intact(self):
        """A chain built by seal() verifies, ending at its head."""
        links = _chain(5)

        result = verify_chain(links, checkpoints=[_sign(links, 5)], public_keys=TRUSTED)

        assert result.ok
        assert ChainHead(5, links[-1][1]) == result.head
        assert 1 == result.checkpoints

    def test_raise_for_failure(self):
        """A failed verification raises ChainIntegrityError with where and what."""
        links = _chain(3)
        del links[1]

        with pytest.raises(ChainIntegrityError) as info:
            verify_chain(links).raise_for_failure()

        assert (2, "deleted") == (info.value.sequence, info.value.kind)

    def test_anchor(self):
        """A slice of a chain verifies from the link before it."""
        links = _chain(6)

        result = verify_chain(links[3:], anchor=ChainHead(3, links[2][1]))

        assert (True, 3) == (result.ok, result.events)

    def test_wrong_anchor(self):
        """A slice that does not follow its anchor fails at its first link."""
        links = _chain(6)

        result = verify_chain(links[3:], anchor=ChainHead(3, "f" * 64))

        assert (False, 4) == (result.ok, result.sequence)

    def test_stored_hash_changed(self):
        """A stored hash that does not match its envelope is 'changed'."""
        links = _chain(4)
        links[2] = (3, "0" * 64, links[2][2])

        result = verify_chain(links)

        assert (3, "changed") == (result.sequence, result.kind)

    def test_rewritten_under_a_checkpoint(self):
        """A consistently rewritten chain fails at its checkpoint."""
        links = _chain(6)
        checkpoints = [_sign(links, 2), _sign(links, 6)]
        forged = [*links[:3]]
        prev = links[2][1]
        for link in links[3:]:
            sequence, hash_, data = _forge(link, prev_hash=prev, purpose="forged")
            forged.append((sequence, hash_, data))
            prev = hash_

        result = verify_chain(forged, checkpoints=checkpoints, public_keys=TRUSTED)

        assert (3, "changed") == (result.sequence, result.kind)
        assert "rewritten" in result.message

    def test_unknown_key(self):
        """A checkpoint signed by an untrusted key is a bad signature."""
        links = _chain(3)

        result = verify_chain(links, checkpoints=[_sign(links, 3)])

        assert (3, "bad-signature") == (result.sequence, result.kind)

    def test_forged_signature(self):
        """A checkpoint whose signature does not match is a bad signature."""
        links = _chain(3)
        good = _sign(links, 2)
        other = _sign(links, 3)
        signature = other.note.split("\n\n")[1]
        forged = dataclasses.replace(
            good, note=good.note.split("\n\n")[0] + "\n\n" + signature
        )

        result = verify_chain(links, checkpoints=[forged], public_keys=TRUSTED)

        assert (2, "bad-signature") == (result.sequence, result.kind)

    def test_progress(self):
        """progress() hears the final count."""
        heard: list[int] = []

        verify_chain(_chain(3), progress=heard.append)

        assert [3] == heard

    @settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
    @given(st.data())
    def test_tamper_detection(self, data):
        """Any single change, deletion, insertion, swap or truncation is located."""
        length = data.draw(st.integers(min_value=3, max_value=12))
        links = _chain(length)
        checkpoints = [_sign(links, s) for s, _, _ in links]
        kind, i, j = data.draw(tamperings(length))
        if kind == "change":
            links[i] = (
                links[i][0],
                links[i][1],
                links[i][2].replace(b'"type":"t"', b'"type":"u"'),
            )
            expected = (i + 1, "changed")
        elif kind == "rehash":
            links[i] = _forge(links[i], actor="mallory")
            expected = (i + 1, "changed")
        elif kind == "delete":
            del links[i]
            expected = (i + 1, "deleted" if i < length - 1 else "truncated")
        elif kind == "swap":
            links[i], links[j] = links[j], links[i]
            expected = (min(i, j) + 1, "reordered")
        elif kind == "insert":
            if i == length - 1:
                i -= 1  # an event appended after the head is no damage
            links.insert(
                i + 1,
                _forge(links[i + 1], event_id="forged", prev_hash=links[i][1]),
            )
            expected = (i + 2, "inserted")
        else:
            if i == length - 1:
                i -= 1
            del links[i + 1 :]
            expected = (i + 2, "truncated")

        result = verify_chain(links, checkpoints=checkpoints, public_keys=TRUSTED)

        assert expected == (result.sequence, result.kind)


class TestEnvelope:
    """prepare(), seal() and parse_envelope() round-trip events."""

    @settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
    @given(audit_events())
    def test_round_trip(self, event):
        """Any event reads back from its envelope as recorded, pseudonym and all."""
        prepared = prepare(event, PSEUDONYMIZE)
        text, hash_ = seal(prepared, 7, GENESIS_HASH)

        parsed = parse_envelope(text, hash_, event.content)

        assert prepared.recorded(7, GENESIS_HASH, hash_) == parsed
        assert text.encode() == canonical_bytes(json.loads(text))

    @settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
    @given(audit_events())
    def test_sealed_chain_verifies(self, event):
        """Any event, chained, verifies; any one-byte change to it does not."""
        prepared = prepare(event, PSEUDONYMIZE)
        text, hash_ = seal(prepared, 1, GENESIS_HASH)
        data = text.encode()

        intact = verify_chain([(1, hash_, data)])
        flipped = bytearray(data)
        flipped[len(data) // 2] ^= 0x01
        damaged = verify_chain([(1, hash_, bytes(flipped))])

        assert intact.ok
        assert (1, "changed") == (damaged.sequence, damaged.kind)
