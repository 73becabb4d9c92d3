"""The AuditStore contract, run against every backend (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from tests.forking import Child
from tests.store.conftest import envelope_of
from tests.strategies import audit_events
from vision_audit.exceptions import AuditWriteError, StoreError
from vision_audit.models import AuditEvent
from vision_audit.store import GENESIS_HASH, canonical_bytes
from vision_audit.store._keys import Pseudonymizer, generate_signing_key
from vision_audit.typing import AuditStore, ManagedAuditStore

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _event(number: int = 0, **fields) -> AuditEvent:
    defaults = {
        "type": "analysis.completed",
        "event_id": f"event-{number:04d}",
        "time": T0 + timedelta(minutes=number),
        "analysis_id": f"analysis-{number}",
        "purpose": "claims",
        "data": {"tags": [{"name": "car", "confidence": 0.98}], "number": number},
    }
    defaults.update(fields)
    return AuditEvent(**defaults)


class TestAppend:
    """append() chains, numbers, pseudonymises and acknowledges."""

    def test_is_an_audit_store(self, backend):
        """Every backend satisfies both Protocols."""
        store = backend.open()

        assert isinstance(store, AuditStore)
        assert isinstance(store, ManagedAuditStore)

    def test_first_event(self, backend):
        """The first event is sequence 1, chained to 64 zeros."""
        store = backend.open()

        recorded = store.append(_event())

        assert 1 == recorded.sequence
        assert GENESIS_HASH == recorded.prev_hash
        assert "event-0000" == recorded.event.event_id

    def test_chain_links(self, backend):
        """Each event's prev_hash is the hash of the one before."""
        store = backend.open()

        records = [store.append(_event(n)) for n in range(5)]

        assert [1, 2, 3, 4, 5] == [r.sequence for r in records]
        assert [r.hash for r in records[:-1]] == [r.prev_hash for r in records[1:]]

    def test_hash_is_sha256_of_the_canonical_envelope(self, backend):
        """The stored hash is the SHA-256 of the canonical envelope bytes."""
        store = backend.open()
        recorded = store.append(_event())

        envelope = envelope_of(backend.tamper(store), 1)

        assert recorded.hash == hashlib.sha256(canonical_bytes(envelope)).hexdigest()
        assert {
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
        } == set(envelope)
        assert "2026-01-05T09:00:00.000000Z" == envelope["time"]

    def test_subject_is_pseudonymised(self, backend):
        """The chain holds a keyed pseudonym, the same for every event of a subject."""
        store = backend.open(pseudonym_key=b"k" * 32)

        first = store.append(_event(1, subject_ref="patient-42"))
        second = store.append(_event(2, subject_ref="patient-42"))

        expected = Pseudonymizer(b"k" * 32)("patient-42")
        assert expected == first.event.subject_ref == second.event.subject_ref
        assert expected == envelope_of(backend.tamper(store), 1)["subject_ref"]
        assert "patient-42" not in json.dumps(envelope_of(backend.tamper(store), 1))

    def test_content_stays_out_of_the_chain(self, backend):
        """Personal content is returned, hashed in the chain, never in the envelope."""
        store = backend.open()

        recorded = store.append(_event(content={"caption": "a man in a red coat"}))

        envelope = envelope_of(backend.tamper(store), 1)
        assert {"caption": "a man in a red coat"} == recorded.event.content
        assert recorded.content_hash == envelope["content_hash"]
        assert "red coat" not in json.dumps(envelope)

    def test_duplicate_event_id(self, backend):
        """A second event with a recorded id is refused; the store goes on."""
        store = backend.open()
        store.append(_event(1))

        with pytest.raises(AuditWriteError, match="already recorded"):
            store.append(_event(1))
        recorded = store.append(_event(2))

        assert 2 == recorded.sequence
        assert store.verify().ok

    @pytest.mark.parametrize(
        ("fields", "problem"),
        [
            ({"data": {"x": float("nan")}}, "canonical"),
            ({"data": {"x": {1, 2}}}, "canonical"),
            ({"time": datetime(2026, 1, 1)}, "timezone"),  # noqa: DTZ001 - the point
            ({"content": {"x": "\ud800"}}, "surrogate"),
            ({"actor": 42}, "actor"),
            ({"type": ""}, "type"),
            ({"schema": 99}, "schema"),
            ({"data": {"x": "y" * (1 << 20)}}, "exceeds"),
        ],
    )
    def test_refuses_what_has_no_canonical_form(self, backend, fields, problem):
        """Events that cannot be hashed reproducibly are refused, nothing recorded."""
        store = backend.open()

        with pytest.raises(AuditWriteError, match=problem):
            store.append(_event(**fields))

        assert store.get_head() is None

    def test_closed(self, backend):
        """Appending to a closed store raises AuditWriteError."""
        store = backend.open()
        store.close()

        with pytest.raises(AuditWriteError, match="closed"):
            store.append(_event())

    def test_threads_keep_one_linear_chain(self, backend):
        """Many threads appending at once get distinct, gapless sequence numbers."""
        store = backend.open()
        results: list[int] = []

        def write(worker: int) -> None:
            results.extend(
                store.append(_event(worker * 100 + n)).sequence for n in range(25)
            )

        threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert list(range(1, 201)) == sorted(results)
        assert 200 == store.verify().events


class TestAppendChecked:
    """append_checked() records only when its check passes, and fails alone."""

    def test_refused_check_fails_only_its_own_event(self, backend):
        """Events queued beside a refused check are recorded all the same."""
        store = backend.open()
        store.append(_event(0))
        go = threading.Event()
        results: dict[str, object] = {}

        def hold() -> None:  # keeps the writer's role while the others queue up
            results["hold"] = store.append_checked(
                AuditEvent(type="x.hold"), lambda: go.wait(5) and None
            )

        def refused() -> None:
            def check() -> None:
                msg = "already decided"
                raise LookupError(msg)

            try:
                store.append_checked(AuditEvent(type="x.refused"), check)
            except LookupError as err:
                results["refused"] = str(err)

        def bystander() -> None:
            try:
                results["bystander"] = store.append(_event(1)).sequence
            except AuditWriteError as err:
                results["bystander"] = f"lost: {err}"

        threads = [threading.Thread(target=f) for f in (hold, refused, bystander)]
        for thread in threads:
            thread.start()
            time.sleep(0.2)
        go.set()
        for thread in threads:
            thread.join(10)

        assert "already decided" == results["refused"]
        assert isinstance(results["bystander"], int), results["bystander"]
        kinds = [r.event.type for r in store.iter_events()]
        assert "x.refused" not in kinds
        assert "x.hold" in kinds

    def test_check_passes(self, backend):
        """A check that passes records the event, chained as append() would."""
        store = backend.open()
        first = store.append(_event(0))

        recorded = store.append_checked(_event(1), lambda: None)

        assert (2, first.hash) == (recorded.sequence, recorded.prev_hash)
        assert store.verify().ok


class TestRead:
    """iter_events() and get_head() give back what was recorded."""

    def test_round_trip(self, backend):
        """An event reads back equal to what append() returned."""
        store = backend.open()
        recorded = store.append(
            _event(subject_ref="s-1", content={"caption": "x", "text": ["A", "B"]})
        )

        (read,) = store.iter_events()

        assert recorded == read

    def test_since_until(self, backend):
        """Since is inclusive, until exclusive, in sequence order."""
        store = backend.open()
        for n in range(6):
            store.append(_event(n))

        events = store.iter_events(
            since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=4)
        )

        assert [3, 4] == [e.sequence for e in events]

    def test_head(self, backend):
        """get_head() is None when empty, then the last event."""
        store = backend.open()
        empty = store.get_head()
        recorded = [store.append(_event(n)) for n in range(3)]

        head = store.get_head()

        assert empty is None
        assert (3, recorded[-1].hash) == (head.sequence, head.hash)


class TestCheckpoints:
    """Signed checkpoints every N events and on close."""

    def test_every_n_events(self, backend, signing_key):
        """With checkpoint_every=3, events 3 and 6 are signed."""
        store = backend.open(signing_key=signing_key, checkpoint_every=3)
        for n in range(7):
            store.append(_event(n))

        checkpoints = store.list_checkpoints()

        assert [3, 6] == [c.sequence for c in checkpoints]

    def test_on_close(self, backend, signing_key):
        """close() signs the head."""
        store = backend.open(signing_key=signing_key)
        store.append(_event())
        store.close()

        checkpoints = (
            store.list_checkpoints()
            if backend.name == "memory"
            else backend.open().list_checkpoints()
        )

        assert [1] == [c.sequence for c in checkpoints]

    def test_sign_checkpoint_now(self, backend, signing_key):
        """sign_checkpoint() signs an unsigned head, and nothing twice."""
        store = backend.open(signing_key=signing_key)
        store.append(_event())

        first = store.sign_checkpoint()
        second = store.sign_checkpoint()

        assert 1 == first.sequence
        assert second is None

    def test_verify_with_the_right_key(self, backend, signing_key):
        """Verifying against the signer's public key proves the checkpoints."""
        store = backend.open(signing_key=signing_key, checkpoint_every=2)
        for n in range(5):
            store.append(_event(n))

        result = store.verify(public_keys=[signing_key.public_key()])

        assert result.ok
        assert 2 == result.checkpoints
        assert () == result.warnings

    def test_wrong_key(self, backend, signing_key):
        """A checkpoint that another key must vouch for is a bad signature."""
        store = backend.open(signing_key=signing_key, checkpoint_every=2)
        for n in range(3):
            store.append(_event(n))

        result = store.verify(public_keys=[generate_signing_key().public_key()])

        assert (False, 2, "bad-signature") == (result.ok, result.sequence, result.kind)

    def test_trusted_key_without_checkpoint(self, backend, signing_key):
        """With a trusted key given, a chain no checkpoint holds is 'unsigned'."""
        store = backend.open()
        for n in range(3):
            store.append(_event(n))

        result = store.verify(public_keys=[signing_key.public_key()])

        assert (False, 1, "unsigned") == (result.ok, result.sequence, result.kind)
        assert "no checkpoint signed by a trusted key" in result.message

    def test_checkpoints_deleted(self, backend, signing_key):
        """Every checkpoint deleted, with a trusted key given: 'unsigned'."""
        store = backend.open(signing_key=signing_key, checkpoint_every=2)
        for n in range(5):
            store.append(_event(n))
        backend.tamper(store).delete_checkpoints()

        result = store.verify(public_keys=[signing_key.public_key()])

        assert (False, 1, "unsigned") == (result.ok, result.sequence, result.kind)

    def test_events_past_the_last_checkpoint_named(self, backend, signing_key):
        """The events after the last signed checkpoint are named as not covered."""
        store = backend.open(signing_key=signing_key, checkpoint_every=3)
        for n in range(4):
            store.append(_event(n))

        one = store.verify(public_keys=[signing_key.public_key()])
        store.append(_event(4))
        two = store.verify(public_keys=[signing_key.public_key()])

        assert one.ok
        assert "event 4 is not yet covered by a signed checkpoint" in one.message
        assert two.ok
        assert "events 4 to 5 are not yet covered by a signed checkpoint" in (
            two.message
        )

    def test_no_key_warns(self, backend):
        """Without any checkpoint, verify says what it cannot detect."""
        store = backend.open()
        store.append(_event())

        result = store.verify()

        assert result.ok
        assert "cannot be detected" in result.warnings[0]


class TestTampering:
    """verify() names the first bad sequence and the kind of damage."""

    @pytest.fixture(name="chain")
    def _chain(self, backend, signing_key):
        store = backend.open(signing_key=signing_key, checkpoint_every=4)
        for n in range(10):
            store.append(
                _event(n, subject_ref=f"s{n % 3}", content={"caption": f"c{n}"})
            )
        return store, backend.tamper(store)

    def _verify(self, store, signing_key):
        result = store.verify(public_keys=[signing_key.public_key()])
        return result.sequence, result.kind

    def test_intact(self, chain, signing_key):
        """An untouched chain verifies."""
        store, _ = chain

        assert (None, None) == self._verify(store, signing_key)

    def test_changed(self, chain, signing_key):
        """An edited envelope is 'changed' at its sequence."""
        store, tamper = chain
        envelope = envelope_of(tamper, 5)
        envelope["purpose"] = "marketing"
        tamper.set_envelope(5, canonical_bytes(envelope).decode())

        assert (5, "changed") == self._verify(store, signing_key)

    def test_changed_and_rehashed(self, chain, signing_key):
        """An edit with a recomputed hash still breaks the next link."""
        store, tamper = chain
        envelope = envelope_of(tamper, 5)
        envelope["purpose"] = "marketing"
        data = canonical_bytes(envelope)
        tamper.set_envelope(5, data.decode(), hashlib.sha256(data).hexdigest())

        assert (5, "changed") == self._verify(store, signing_key)

    def test_deleted(self, chain, signing_key):
        """A missing event is 'deleted' at its sequence."""
        store, tamper = chain
        tamper.delete(6)

        assert (6, "deleted") == self._verify(store, signing_key)

    def test_deleted_and_renumbered(self, chain, signing_key):
        """Closing the gap by renumbering is still 'deleted'."""
        store, tamper = chain
        tamper.delete(6)
        for sequence in range(7, 11):
            tamper.renumber(sequence, sequence - 1)

        assert (6, "deleted") == self._verify(store, signing_key)

    def test_inserted(self, chain, signing_key):
        """A forged event slipped in (and the rest renumbered) is 'inserted'."""
        store, tamper = chain
        rows = tamper.rows()
        for sequence in range(10, 6, -1):
            tamper.renumber(sequence, sequence + 1)
        forged = envelope_of(tamper, 6)
        forged["event_id"] = "forged"
        forged["sequence"] = 7
        forged["prev_hash"] = rows[5][1]
        data = canonical_bytes(forged)
        tamper.insert(7, hashlib.sha256(data).hexdigest(), data.decode())

        assert (7, "inserted") == self._verify(store, signing_key)

    def test_reordered(self, chain, signing_key):
        """Two events exchanged are 'reordered' at the first."""
        store, tamper = chain
        tamper.swap(3, 4)

        assert (3, "reordered") == self._verify(store, signing_key)

    def test_truncated(self, chain, signing_key):
        """Events removed from the end, under a checkpoint, are 'truncated'."""
        store, tamper = chain
        tamper.truncate(after=6)

        assert (7, "truncated") == self._verify(store, signing_key)

    def test_content_changed(self, chain, signing_key):
        """Edited personal content is 'changed' at its event."""
        store, tamper = chain
        tamper.set_content(4, "caption", '"forged"')

        assert (4, "changed") == self._verify(store, signing_key)

    @pytest.mark.parametrize("name", ["caption", "subject_ref"])
    def test_content_removed_silently(self, chain, signing_key, name):
        """Content nulled with no purge or erasure recorded is 'deleted'."""
        store, tamper = chain
        tamper.remove_content(4, name)

        assert (4, "deleted") == self._verify(store, signing_key)

    def test_content_kind_changed(self, chain, signing_key):
        """A content record given another kind, hiding it, is 'changed'."""
        store, tamper = chain
        tamper.set_kind(4, "caption", "hidden")

        result = store.verify(public_keys=[signing_key.public_key()])

        assert (4, "changed") == (result.sequence, result.kind)
        assert "unknown kind 'hidden'" in result.message

    def test_removed_beyond_what_the_purge_covers(self, chain, signing_key):
        """A purge of old captions does not account for a newer or other record."""
        store, tamper = chain
        store.purge_content(older_than=T0 + timedelta(minutes=5), data_class="caption")
        store.sign_checkpoint()

        intact = self._verify(store, signing_key)
        tamper.remove_content(7, "caption")
        newer = self._verify(store, signing_key)
        tamper.remove_content(2, "subject_ref")
        other = self._verify(store, signing_key)

        assert (None, None) == intact
        assert (7, "deleted") == newer
        assert (2, "deleted") == other

    def test_removed_by_an_erasure(self, chain, signing_key):
        """An erasure accounts for its subject's removed content, and only that."""
        store, tamper = chain
        store.erase_subject("s1")
        store.sign_checkpoint()

        intact = self._verify(store, signing_key)
        tamper.remove_content(3, "caption")
        other = self._verify(store, signing_key)

        assert (None, None) == intact
        assert (3, "deleted") == other


class TestPurge:
    """purge_content() deletes old content; the chain still verifies."""

    def _fill(self, store):
        for n in range(6):
            store.append(
                _event(
                    n, subject_ref=f"s{n}", content={"caption": f"c{n}", "text": "t"}
                )
            )

    def test_older_than(self, backend):
        """Content of events before the cutoff goes; later content stays."""
        store = backend.open()
        self._fill(store)

        purged = store.purge_content(older_than=T0 + timedelta(minutes=3))

        events = list(store.iter_events())
        assert "content.purged" == purged.event.type
        assert {"events": 3, "records": 9} == {
            k: purged.event.data[k] for k in ("events", "records")
        }
        assert [None, None, None] == [e.event.content for e in events[:3]]
        assert {"caption": "c3", "text": "t"} == events[3].event.content
        assert store.verify().ok

    def test_by_age(self, backend):
        """A timedelta counts back from now."""
        store = backend.open()
        self._fill(store)

        purged = store.purge_content(older_than=timedelta(days=1))

        assert 6 == purged.event.data["events"]

    def test_data_class(self, backend):
        """Only the named member goes."""
        store = backend.open()
        self._fill(store)

        purged = store.purge_content(
            older_than=T0 + timedelta(hours=1), data_class="caption"
        )

        events = list(store.iter_events())
        assert 6 == purged.event.data["records"]
        assert {"text": "t"} == events[0].event.content
        assert store.verify().ok

    def test_events_queued_before_the_purge(self, backend):
        """Old events queued in the purge's batch, before it, are purged too."""
        store = backend.open()
        calls = [
            lambda n=n: store.append(_event(n, content={"caption": f"c{n}"}))
            for n in range(3)
        ]
        calls.append(lambda: store.purge_content(older_than=T0 + timedelta(hours=1)))

        *_, purged = _queued_in_one_batch(store, calls)

        assert 4 == purged.sequence
        assert 3 == purged.event.data["events"]
        assert [None, None, None] == [e.event.content for e in store.iter_events()][:3]

    def test_twice(self, backend):
        """Purging what is already purged counts nothing."""
        store = backend.open()
        self._fill(store)
        store.purge_content(older_than=T0 + timedelta(hours=1))

        again = store.purge_content(older_than=T0 + timedelta(hours=1))

        assert (0, 0) == (again.event.data["events"], again.event.data["records"])


def _queued_in_one_batch(store, calls):
    """
    Run *calls* on threads, queued in this order while the writer's role is held.

    Then the first of them takes the role and writes the whole queue as one batch,
    as happens when appends arrive while another caller writes. Returns their
    results (or the exceptions they raised), in order.
    """
    with store._state_lock:  # noqa: SLF001 - hold the writer's role
        store._leading = True  # noqa: SLF001
    results: list[object] = [None] * len(calls)

    def run(index, call):
        try:
            results[index] = call()
        except Exception as err:  # noqa: BLE001 - reported by the caller
            results[index] = err

    threads = []
    for index, call in enumerate(calls):
        thread = threading.Thread(target=run, args=(index, call))
        thread.start()
        threads.append(thread)
        deadline = time.monotonic() + 10
        while len(store._pending) <= index:  # noqa: SLF001
            assert time.monotonic() < deadline, "the call was not queued"
            time.sleep(0.001)
    with store._state_lock:  # noqa: SLF001
        store._hand_over()  # noqa: SLF001 - the first caller writes them all
    for thread in threads:
        thread.join(10)
    assert not any(thread.is_alive() for thread in threads)
    return results


class TestErase:
    """erase_subject() deletes one subject's content; the chain still verifies."""

    def test_erase(self, backend):
        """The subject's content and raw reference go; others stay; an event says so."""
        store = backend.open()
        store.append(_event(1, subject_ref="alice", content={"caption": "alice"}))
        store.append(_event(2, subject_ref="bob", content={"caption": "bob"}))
        store.append(_event(3, subject_ref="alice"))

        erased = store.erase_subject("alice", actor="dpo@example.com")

        events = list(store.iter_events())
        assert "subject.erased" == erased.event.type
        assert {"events": 2, "records": 3} == dict(erased.event.data)
        assert erased.event.subject_ref == events[0].event.subject_ref
        assert "dpo@example.com" == erased.event.actor
        assert [None, {"caption": "bob"}, None] == [e.event.content for e in events[:3]]
        assert store.verify().ok

    def test_events_queued_before_the_erasure(self, backend):
        """Events queued in the erasure's batch, before it, are erased too."""
        store = backend.open()
        store.append(_event(0, subject_ref="alice", content={"caption": "a0"}))
        calls = [
            lambda n=n: store.append(
                _event(n, subject_ref="alice", content={"caption": f"a{n}"})
            )
            for n in range(1, 4)
        ]
        calls.append(lambda: store.erase_subject("alice"))
        calls.append(
            lambda: store.append(
                _event(9, subject_ref="alice", content={"caption": "later"})
            )
        )

        *appended, erased, later = _queued_in_one_batch(store, calls)

        pseudonym = store.pseudonymize("alice")
        left = [
            e.sequence
            for e in store.iter_events()
            if e.event.subject_ref == pseudonym
            and e.sequence < erased.sequence
            and e.event.content
        ]
        assert [] == left
        assert [2, 3, 4, 5, 6] == [r.sequence for r in [*appended, erased, later]]
        assert {"events": 4, "records": 8} == dict(erased.event.data)
        assert {"caption": "later"} == later.event.content
        assert store.verify().ok

    def test_unknown_subject(self, backend):
        """Erasing a subject without events records zero counts."""
        store = backend.open()

        erased = store.erase_subject("nobody")

        assert {"events": 0, "records": 0} == dict(erased.event.data)


class TestPseudonymKey:
    """The pseudonym key: configured, or kept by the store for every writer."""

    def test_from_environment(self, backend, monkeypatch):
        """VISION_AUDIT_PSEUDONYM_KEY is used when set."""
        monkeypatch.setenv("VISION_AUDIT_PSEUDONYM_KEY", "ab" * 16)
        store = backend.open()

        recorded = store.append(_event(subject_ref="s"))

        assert (
            Pseudonymizer(bytes.fromhex("ab" * 16))("s") == recorded.event.subject_ref
        )

    def test_kept_by_the_store(self, backend):
        """Two writers of one store give a subject the same pseudonym."""
        if backend.name == "memory":
            pytest.skip("a memory store has one writer")
        first = backend.open().append(_event(1, subject_ref="s"))

        second = backend.open().append(_event(2, subject_ref="s"))

        assert first.event.subject_ref == second.event.subject_ref

    def test_other_key_refused(self, backend):
        """A key other than the store's is refused, naming the problem."""
        if backend.name == "memory":
            pytest.skip("a memory store has one writer")
        backend.open().append(_event(1, subject_ref="s"))

        with pytest.raises(StoreError, match="another pseudonym key"):
            backend.open(pseudonym_key=b"x" * 32)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
class TestFork:
    """A pre-forking server: the parent opened the store, its workers write to it."""

    def test_forked_workers_write_one_chain(self, backend):
        """Workers forked after the parent wrote keep one chain with the parent."""
        if backend.name == "memory":
            pytest.skip("a memory store lives in one process")
        key = generate_signing_key()
        store = backend.open(signing_key=key, checkpoint_every=7)
        for number in range(5):
            store.append(_event(number))

        def write(worker: int) -> str:
            for number in range(20):
                store.append(_event(100 * (worker + 1) + number))
            store.close()
            return "ok"

        workers = [Child(functools.partial(write, worker)) for worker in range(3)]
        for number in range(20):  # the parent goes on writing meanwhile
            store.append(_event(500 + number))
        codes = [child.answer(timeout=60) for child in workers]
        result = store.verify(public_keys=[key.public_key()])
        recorded = {r.event.event_id for r in store.iter_events()}

        assert ["ok", "ok", "ok"] == codes
        assert result.ok, result.message
        expected = [*range(5), *range(100, 120), *range(200, 220), *range(300, 320)]
        assert {f"event-{n:04d}" for n in [*expected, *range(500, 520)]} <= recorded


class TestHostileContent:
    """Awkward but valid values are recorded and read back exactly, everywhere."""

    @pytest.mark.parametrize(
        "value",
        [
            'quotes " and \\ backslashes, and ,"prev_hash":" lookalikes',
            "emoji 🧾 and RTL \u202e text",
            "",
            2**53 - 1,
            -(2**53 - 1),
            -0.0,
            1e-300,
            [[[[[]]]]],
        ],
    )
    def test_round_trip(self, backend, value):
        """Data and content holding such values verify and read back equal."""
        store = backend.open()
        recorded = store.append(
            _event(
                data={"value": value, "nested": {"value": value}}, content={"v": value}
            )
        )

        (read,) = store.iter_events()

        assert recorded == read
        assert store.verify().ok

    @pytest.mark.parametrize("value", [2**53 + 1, -(2**70), 10**30 + 1])
    def test_integers_beyond_json_refused(self, backend, value):
        """An integer RFC 8785 cannot write exactly is refused; nothing recorded."""
        store = backend.open()

        with pytest.raises(AuditWriteError, match="RFC 8785") as info:
            store.append(_event(data={"bytes": value}))

        assert "event-0000 not recorded" in str(info.value)
        assert [] == list(store.iter_events())

    def test_sql_lookalikes(self, backend):
        """References that look like SQL are just text."""
        store = backend.open()
        ref = "x'); DROP TABLE va_events; --"
        store.append(_event(1, subject_ref=ref, content={"c": ref}))

        erased = store.erase_subject(ref)

        assert 1 == erased.event.data["events"]
        assert store.verify().ok


class TestTimedCheckpoint:
    """An unsigned head is signed checkpoint_interval seconds on, with no new event."""

    def test_interval(self, backend, signing_key):
        """With a short interval, the head gets signed without any further append."""
        store = backend.open(signing_key=signing_key, checkpoint_interval=0.05)
        store.append(_event(1))
        deadline = time.monotonic() + 30

        while not store.list_checkpoints() and time.monotonic() < deadline:
            time.sleep(0.02)

        assert [1] == [c.sequence for c in store.list_checkpoints()]


class TestRoundTripProperty:
    """Hypothesis: any event is read back as append() returned it."""

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(event=audit_events())
    def test_any_event(self, backend, event):
        """Append, read back by sequence: equal, and the chain verifies."""
        store = backend.first or backend.open()
        event = dataclasses.replace(event, event_id=uuid.uuid4().hex)

        recorded = store.append(event)

        (read,) = (e for e in store.iter_events() if e.sequence == recorded.sequence)
        assert recorded == read


class TestNul:
    """U+0000 is refused everywhere, the same on every backend."""

    @pytest.mark.parametrize(
        "fields",
        [
            {"data": {"x": "a\x00b"}},
            {"data": {"a\x00": 1}},
            {"actor": "a\x00"},
            {"event_id": "e\x00"},
            {"subject_ref": "s\x00"},
            {"content": {"c": ["a\x00"]}},
            {"content": {"c\x00": 1}},
        ],
    )
    def test_refused(self, backend, fields):
        """An event holding NUL is not recorded, saying why."""
        store = backend.open()

        with pytest.raises(AuditWriteError, match=r"U\+0000"):
            store.append(_event(**fields))

    def test_escaped_lookalike(self, backend):
        """A backslash followed by u0000 is just text."""
        store = backend.open()

        recorded = store.append(_event(data={"x": "\\u0000"}))

        assert "\\u0000" == recorded.event.data["x"]


class TestProofs:
    """Every backend keeps the Merkle tree and proves from it (RFC 9162)."""

    def test_inclusion_and_consistency(self, backend):
        """Each event's audit path leads to the root; each tree extends the last."""
        from vision_audit.store import _merkle

        store = backend.open(signing_key=generate_signing_key(), checkpoint_every=7)
        records = [store.append(_event(n)) for n in range(23)]
        leaves = [_merkle.leaf_hash(bytes.fromhex(r.hash)) for r in records]

        for size in (1, 8, 13, 23):
            root = store.get_root(size)
            assert _merkle.root_of(leaves[:size]) == root
            for sequence in range(1, size + 1):
                proof = store.get_inclusion_proof(sequence, size)
                assert _merkle.verify_inclusion(
                    leaves[sequence - 1], sequence - 1, size, proof, root
                )
        for old in range(1, 23):
            proof = store.get_consistency_proof(old, 23)
            assert _merkle.verify_consistency(
                old, 23, store.get_root(old), store.get_root(23), proof
            )

    def test_checkpoints_sign_the_root(self, backend):
        """A checkpoint's note names the tree size and root the store holds."""
        store = backend.open(signing_key=generate_signing_key(), checkpoint_every=5)
        for n in range(12):
            store.append(_event(n))
        store.sign_checkpoint()

        checkpoints = store.list_checkpoints()

        assert [5, 10, 12] == [c.sequence for c in checkpoints]
        for checkpoint in checkpoints:
            assert store.get_root(checkpoint.sequence).hex() == checkpoint.root
            assert checkpoint.note.startswith(
                f"{store.origin}\n{checkpoint.sequence}\n"
            )

    def test_find_events(self, backend):
        """By event id, that event; by analysis id, all of the analysis's events."""
        store = backend.open()
        for n in range(6):
            store.append(_event(n, analysis_id=f"analysis-{n % 2}"))

        by_event = store.find_events("event-0003")
        by_analysis = store.find_events("analysis-1")

        assert [4] == [sequence for sequence, _, _ in by_event]
        assert [2, 4, 6] == [sequence for sequence, _, _ in by_analysis]
        assert [] == store.find_events("nothing")

    def test_proof_beyond_the_log(self, backend):
        """A size the log has not reached: ValueError, naming what it holds."""
        store = backend.open()
        store.append(_event())

        with pytest.raises(ValueError, match="holds 1 event"):
            store.get_inclusion_proof(1, 2)


def _flag(number: int, analysis: str, *, purpose: str = "claims", deadline=None):
    review = {"reasons": ["people"]}
    if deadline is not None:
        review["deadline_seconds"] = deadline
    return _event(
        number,
        type="review.required",
        analysis_id=analysis,
        purpose=purpose,
        data={"review": review},
    )


def _decide(number: int, analysis: str, decision: str):
    return _event(
        number,
        type="review.decided",
        analysis_id=analysis,
        data={"decision": decision, "reviewer": "r", "rationale": "seen"},
    )


class TestReviewIndex:
    """One analysis' events and the review queue, read through the indexes."""

    def test_events_of_one_analysis(self, backend):
        """Its events in order, decisions included, no other analysis' events."""
        store = backend.open()
        store.append(_event(1, analysis_id="a"))
        store.append(_event(2, analysis_id="b"))
        store.append(_flag(3, "a"))
        store.append(_decide(4, "a", "approve"))

        found = store.get_analysis_events("a")

        assert [1, 3, 4] == [r.sequence for r in found]
        assert ["analysis.completed", "review.required", "review.decided"] == [
            r.event.type for r in found
        ]
        assert [] == store.get_analysis_events("nobody")

    def test_queue_states_filters_and_pages(self, backend):
        """Pending and escalated stay, decided leave; purpose, deadline, paging."""
        store = backend.open()
        store.append(_flag(1, "a", deadline=3600))  # due T0 + 1 min + 1 h
        store.append(_flag(2, "b"))
        store.append(_flag(3, "c", purpose="retail", deadline=60))
        store.append(_flag(4, "d"))
        store.append(_flag(5, "a", deadline=1))  # a second flag: the first counts
        store.append(_decide(6, "b", "escalate"))
        store.append(_decide(7, "d", "reject"))
        store.append(_decide(8, "d", "escalate"))  # a correction puts it back

        entries = store.list_reviews()

        assert [
            ("a", "pending"),
            ("b", "escalated"),
            ("c", "pending"),
            ("d", "escalated"),
        ] == [(e.analysis_id, e.state) for e in entries]
        assert entries[0].required.sequence == 1
        assert entries[0].latest is None
        assert entries[3].latest.event.data["decision"] == "escalate"
        first = store.list_reviews(limit=2)
        rest = store.list_reviews(after=first[-1].required.sequence, limit=2)
        assert ["a", "b", "c", "d"] == [e.analysis_id for e in first + rest]
        assert ["c"] == [e.analysis_id for e in store.list_reviews(purpose="retail")]
        due = store.list_reviews(due_before=T0 + timedelta(minutes=30))
        assert ["c"] == [e.analysis_id for e in due]
        assert 4 == store.count_reviews()
        assert 1 == store.count_reviews(purpose="retail")
        store.append(_decide(9, "a", "override"))
        assert 3 == store.count_reviews()
        everything = store.list_reviews(open_only=False)
        assert {"a": "decided"} == {
            e.analysis_id: e.state for e in everything if e.state == "decided"
        }

    def test_decision_recorded_before_its_flag(self, backend):
        """A decision that reached the log first still takes the flag out."""
        store = backend.open()
        store.append(_decide(1, "x", "approve"))
        store.append(_flag(2, "x"))

        assert [] == store.list_reviews()
        (entry,) = store.list_reviews(open_only=False)
        assert ("decided", 1) == (entry.state, entry.latest.sequence)

    def test_bad_arguments(self, backend):
        """A naive deadline or a negative limit is refused, naming it."""
        store = backend.open()
        with pytest.raises(ValueError, match="timezone-aware"):
            store.list_reviews(due_before=datetime(2026, 1, 1))  # noqa: DTZ001
        with pytest.raises(ValueError, match="limit"):
            store.list_reviews(limit=-1)


class TestConsentIndex:
    """The consent events, read through their own index, in order, from a point."""

    def test_only_consent_events_after(self, backend):
        """Grants and revocations alone; *after* skips those already read."""
        store = backend.open()
        store.append(_event(1))
        store.append(_event(2, type="consent.granted", data={"ref": "c-1"}))
        store.append(_event(3))
        store.append(_event(4, type="consent.revoked", data={"ref": "c-1"}))
        store.append(_event(5, type="consent.granted", data={"ref": "c-2"}))

        every = store.get_consent_events()
        later = store.get_consent_events(after=every[0].sequence)

        assert [2, 4, 5] == [r.sequence for r in every]
        assert [4, 5] == [r.sequence for r in later]
        assert [] == store.get_consent_events(after=5)

    def test_provider_follows_the_log(self, backend):
        """A consent provider over the store sees a revocation recorded after it."""
        from vision_audit.policy.consent import (
            ConsentRecord,
            StoreConsentProvider,
            grant_consent,
            revoke_consent,
        )

        store = backend.open()
        provider = StoreConsentProvider(store)
        grant_consent(
            store,
            ConsentRecord(
                ref="c-9",
                subject_ref="alice",
                purposes=frozenset({"claims"}),
                granted_at=T0,
            ),
            actor="privacy",
        )
        first = provider.get_consent("c-9")
        for number in range(10):
            store.append(_event(100 + number))
        revoke_consent(store, "c-9", actor="privacy")

        assert first is not None
        assert first.revoked_at is None
        assert provider.get_consent("c-9").revoked_at is not None


class TestReviewIndexOddValues:
    """Values the envelope allows but the index cannot use: same answer everywhere."""

    def test_deadline_not_a_number(self, backend):
        """A deadline of text or true is no deadline; every append goes through."""
        store = backend.open()
        for number, deadline in enumerate(("soon", True, "1h", None, 60)):
            review = {"reasons": ["people"]}
            if deadline is not None:
                review["deadline_seconds"] = deadline
            store.append(
                _event(
                    number,
                    type="review.required",
                    analysis_id=f"odd-{number}",
                    data={"review": review},
                )
            )

        overdue = store.list_reviews(due_before=T0 + timedelta(days=365))

        assert 5 == store.count_reviews()
        assert ["odd-4"] == [e.analysis_id for e in overdue]

    def test_empty_analysis_id_is_no_analysis(self, backend):
        """A flag with an empty analysis id is not a case in the queue."""
        store = backend.open()
        store.append(_flag(1, ""))
        store.append(_flag(2, "a"))

        assert ["a"] == [e.analysis_id for e in store.list_reviews()]
        assert 1 == store.count_reviews()
