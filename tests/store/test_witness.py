"""Witnesses: cosigning only consistent extensions, and verify held to their quorum."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from vision_audit.models import AuditEvent
from vision_audit.store import InMemoryAuditStore, SQLiteAuditStore
from vision_audit.store._keys import generate_signing_key
from vision_audit.store._note import NoteVerifier
from vision_audit.witness import (
    Witness,
    WitnessConflictError,
    WitnessRefusedError,
    cosign_latest,
)

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
ORIGIN = "example.com/claims-audit"


def _event(number: int, **fields) -> AuditEvent:
    values = {
        "type": "analysis.completed",
        "event_id": f"event-{number:04d}",
        "time": T0 + timedelta(minutes=number),
        "analysis_id": f"analysis-{number // 3}",
        "purpose": "claims",
        "consent_ref": f"consent-{number}",
        "data": {"tags": [{"name": "car", "confidence": 0.98}], "number": number},
    }
    values.update(fields)
    return AuditEvent(**values)


@pytest.fixture(name="writer_key")
def _writer_key():
    return generate_signing_key()


@pytest.fixture(name="witness")
def _witness(writer_key, tmp_path):
    return Witness(
        name="compliance.example.com/w1",
        key=generate_signing_key(),
        state=tmp_path / "w1.json",
        logs=[NoteVerifier.for_key(ORIGIN, writer_key.public_key())],
    )


def _fill(store, numbers, **fields):
    for number in numbers:
        store.append(_event(number, **fields.get(number, {})))
    store.sign_checkpoint()


def _cosign(store, witness):
    return cosign_latest(store, witness)


def _rewrite(path, writer_key, original, changed_number):
    """The operator's attack: replay the log with one event changed, re-signed."""
    forged = SQLiteAuditStore(
        path, signing_key=writer_key, origin=ORIGIN, checkpoint_every=10_000
    )
    sizes = [c.sequence for c in original.list_checkpoints()]
    for recorded in original.iter_events():
        event = recorded.event
        if recorded.sequence == changed_number:
            event = AuditEvent(
                type=event.type,
                event_id=event.event_id,
                time=event.time,
                analysis_id=event.analysis_id,
                purpose=event.purpose,
                consent_ref="consent-forged",
                data=event.data,
            )
        forged.append(event)
        if recorded.sequence in sizes:
            forged.sign_checkpoint()
    # The cosignatures the witness made for the original are kept: the operator
    # would like the forged log to look witnessed.
    for checkpoint in original.list_checkpoints():
        for cosignature in checkpoint.cosignatures:
            forged.record_cosignature(cosignature)
    return forged


class TestWitness:
    """What a witness cosigns, refuses and remembers."""

    def test_cosigns_consistent_extensions(self, writer_key, witness):
        """Each new checkpoint that extends the last is cosigned; state follows."""
        store = InMemoryAuditStore(signing_key=writer_key, origin=ORIGIN)
        _fill(store, range(5))
        _cosign(store, witness)
        _fill(store, range(5, 12))

        _cosign(store, witness)

        assert (12, True) == (
            witness.held(ORIGIN)[0],
            witness.held(ORIGIN)[1].startswith(f"{ORIGIN}\n12\n"),
        )

    def test_refuses_a_rewritten_log(self, writer_key, witness, tmp_path):
        """After a rewrite under its cosignature, the next checkpoint is refused."""
        original = SQLiteAuditStore(
            tmp_path / "a.db", signing_key=writer_key, origin=ORIGIN
        )
        _fill(original, range(8))
        _cosign(original, witness)
        forged = _rewrite(tmp_path / "forged.db", writer_key, original, 3)
        _fill(forged, range(8, 12))

        with pytest.raises(WitnessRefusedError, match="does not extend") as info:
            _cosign(forged, witness)

        state = json.loads((tmp_path / "w1.json").read_text())
        assert 422 == info.value.status
        assert 8 == state["logs"][ORIGIN]["size"]
        assert "the consistency proof fails" in state["refusals"][-1]["reason"]

    def test_refuses_another_root_at_the_same_size(self, writer_key, witness, tmp_path):
        """The same tree size with another root is a fork: refused."""
        original = SQLiteAuditStore(
            tmp_path / "a.db", signing_key=writer_key, origin=ORIGIN
        )
        _fill(original, range(6))
        _cosign(original, witness)
        forged = _rewrite(tmp_path / "forged.db", writer_key, original, 2)

        with pytest.raises(WitnessRefusedError, match="same size with another root"):
            witness.add_checkpoint(
                forged.list_checkpoints()[-1].note, old_size=6, proof=[]
            )

    def test_refuses_another_log_key(self, witness):
        """A checkpoint signed by a key the witness does not hold: 403."""
        store = InMemoryAuditStore(signing_key=generate_signing_key(), origin=ORIGIN)
        _fill(store, range(3))

        with pytest.raises(WitnessRefusedError, match="not signed") as info:
            _cosign(store, witness)

        assert 403 == info.value.status

    def test_refuses_an_unknown_log(self, witness):
        """A log the witness does not follow: 404."""
        store = InMemoryAuditStore(
            signing_key=generate_signing_key(), origin="elsewhere.example/log"
        )
        _fill(store, range(3))

        with pytest.raises(WitnessRefusedError, match="does not follow") as info:
            _cosign(store, witness)

        assert 404 == info.value.status

    def test_conflict_names_the_size_held(self, writer_key, witness):
        """A log wrong about the witness's size gets a conflict with the size."""
        store = InMemoryAuditStore(signing_key=writer_key, origin=ORIGIN)
        _fill(store, range(4))
        _cosign(store, witness)
        _fill(store, range(4, 9))

        with pytest.raises(WitnessConflictError) as info:
            witness.add_checkpoint(
                store.list_checkpoints()[-1].note, old_size=0, proof=[]
            )

        assert (409, 4) == (info.value.status, info.value.size)

    def test_refuses_an_older_checkpoint(self, writer_key, witness):
        """A checkpoint smaller than what was cosigned is refused."""
        store = InMemoryAuditStore(signing_key=writer_key, origin=ORIGIN)
        _fill(store, range(4))
        first = store.list_checkpoints()[-1].note
        _fill(store, range(4, 9))
        _cosign(store, witness)

        with pytest.raises(WitnessRefusedError, match="older"):
            witness.add_checkpoint(first, old_size=9, proof=[])

    def test_state_of_another_witness_refused(self, writer_key, witness, tmp_path):
        """A state file written by another witness is not taken over."""
        store = InMemoryAuditStore(signing_key=writer_key, origin=ORIGIN)
        _fill(store, range(3))
        _cosign(store, witness)
        other = Witness(
            name="someone.else/w",
            key=generate_signing_key(),
            state=tmp_path / "w1.json",
            logs=[NoteVerifier.for_key(ORIGIN, writer_key.public_key())],
        )

        with pytest.raises(Exception, match="is the state of witness"):
            other.held(ORIGIN)


class TestVerifyWithWitnesses:
    """verify(witnesses=...) holds the log to what independent parties saw."""

    def test_operator_rewrite_caught_by_quorum_missed_without(
        self, writer_key, witness, tmp_path
    ):
        """
        An operator's rewrite, re-signed, is caught by the witness, not the writer key.

        The attack of the issue: event 3 changed, chain, tree and checkpoints redone
        with the writer's key. The writer's key alone cannot tell; the witness can,
        naming the range that no longer matches what it cosigned.
        """
        original = SQLiteAuditStore(
            tmp_path / "a.db", signing_key=writer_key, origin=ORIGIN
        )
        _fill(original, range(6))
        _cosign(original, witness)
        _fill(original, range(6, 10))
        _cosign(original, witness)
        forged = _rewrite(tmp_path / "forged.db", writer_key, original, 3)

        by_writer_key = forged.verify(public_keys=[writer_key.public_key()])
        by_witness = forged.verify(witnesses=[witness.verifier])

        assert by_writer_key.ok
        assert (False, 1, "changed") == (
            by_witness.ok,
            by_witness.sequence,
            by_witness.kind,
        )
        assert "the log from sequence 1 to 6 was rewritten" in by_witness.message
        assert "compliance.example.com/w1" in by_witness.message

    def test_honest_log_witnessed(self, writer_key, witness):
        """An honest, cosigned log verifies, saying how far it is witnessed."""
        store = InMemoryAuditStore(signing_key=writer_key, origin=ORIGIN)
        _fill(store, range(5))
        _cosign(store, witness)
        store.append(_event(5))

        result = store.verify(
            witnesses=[witness.verifier], public_keys=[writer_key.public_key()]
        )

        assert (True, 5, ("compliance.example.com/w1",)) == (
            result.ok,
            result.witnessed_through,
            result.witnesses,
        )
        assert "event 6 is not yet covered by a witnessed checkpoint" in result.message

    def test_no_cosignature_is_not_witnessed(self, writer_key, witness):
        """Checkpoints that no trusted witness cosigned: not-witnessed."""
        store = InMemoryAuditStore(signing_key=writer_key, origin=ORIGIN)
        _fill(store, range(5))

        result = store.verify(witnesses=[witness.verifier])

        assert (False, "not-witnessed") == (result.ok, result.kind)

    def test_quorum_of_two(self, writer_key, witness, tmp_path):
        """With --min-witnesses 2, one cosignature is not enough; two are."""
        store = InMemoryAuditStore(signing_key=writer_key, origin=ORIGIN)
        _fill(store, range(5))
        second = Witness(
            name="auditor.example.org/w2",
            key=generate_signing_key(),
            state=tmp_path / "w2.json",
            logs=[NoteVerifier.for_key(ORIGIN, writer_key.public_key())],
        )
        _cosign(store, witness)
        both = [witness.verifier, second.verifier]

        one = store.verify(witnesses=both, min_witnesses=2)
        _cosign(store, second)
        two = store.verify(witnesses=both, min_witnesses=2)

        assert (False, "not-witnessed") == (one.ok, one.kind)
        assert two.ok

    def test_cosignatures_deleted(self, writer_key, witness, tmp_path):
        """An operator who deletes the cosignatures leaves a log not witnessed."""
        store = SQLiteAuditStore(
            tmp_path / "a.db", signing_key=writer_key, origin=ORIGIN
        )
        _fill(store, range(5))
        _cosign(store, witness)
        from tests.store.conftest import SQLiteTamper

        SQLiteTamper(tmp_path / "a.db")._run("DELETE FROM va_cosignatures")  # noqa: SLF001

        result = store.verify(witnesses=[witness.verifier])

        assert (False, "not-witnessed") == (result.ok, result.kind)

    def test_log_cut_before_a_witnessed_checkpoint(self, writer_key, witness, tmp_path):
        """Events removed from the end, under a cosigned checkpoint: truncated."""
        store = SQLiteAuditStore(
            tmp_path / "a.db", signing_key=writer_key, origin=ORIGIN
        )
        _fill(store, range(7))
        _cosign(store, witness)
        from tests.store.conftest import SQLiteTamper

        tamper = SQLiteTamper(tmp_path / "a.db")
        tamper._run("DELETE FROM va_events WHERE sequence > 5")  # noqa: SLF001
        tamper._run("DELETE FROM va_checkpoints")  # noqa: SLF001

        result = store.verify(witnesses=[witness.verifier])

        assert (False, 6, "truncated") == (result.ok, result.sequence, result.kind)
