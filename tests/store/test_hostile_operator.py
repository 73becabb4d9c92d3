"""What an operator who holds the writer key and the database can try, and fails at."""

from __future__ import annotations

import base64
import json
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from tests.store.conftest import SQLiteTamper
from vision_audit.models import AuditEvent
from vision_audit.store import SQLiteAuditStore, canonical_json
from vision_audit.store._keys import generate_signing_key, public_key_pem
from vision_audit.store._note import NoteVerifier
from vision_audit.witness import Witness, cosign_latest

ORIGIN = "example.com/claims-audit"
T0 = datetime(2026, 4, 1, tzinfo=UTC)


@pytest.fixture(name="setting")
def _setting(tmp_path):
    """A store of 30 events (checkpoints every 10), its keys, a witness round."""
    key = generate_signing_key()
    (tmp_path / "log.pub").write_bytes(public_key_pem(key.public_key()))
    store = SQLiteAuditStore(
        tmp_path / "audit.db", signing_key=key, origin=ORIGIN, checkpoint_every=10
    )
    for number in range(30):
        store.append(
            AuditEvent(
                type="analysis.completed",
                event_id=f"e{number}",
                time=T0 + timedelta(minutes=number),
            )
        )
    witness = Witness(
        name="compliance.example.com/w1",
        key=generate_signing_key(),
        state=tmp_path / "w1.json",
        logs=[NoteVerifier.for_key(ORIGIN, key.public_key())],
    )
    cosign_latest(store, witness)
    (tmp_path / "w1.vkey").write_text(witness.verifier.vkey() + "\n")
    yield {"store": store, "key": key, "witness": witness, "path": tmp_path}
    store.close()


def _url(setting):
    return f"sqlite:///{setting['path'] / 'audit.db'}"


class TestPinnedCheckpoints:
    """A pin the file does not reach back to never passes unnoticed."""

    def test_slice_after_the_pin(self, run, setting, tmp_path):
        """A slice that starts after the pinned size fails: the pin cannot be held."""
        note = tmp_path / "pin.note"
        note.write_text(setting["witness"].held(ORIGIN)[1])
        for day in (2, 3):
            setting["store"].append(
                AuditEvent(type="later", time=T0 + timedelta(days=day))
            )
        setting["store"].sign_checkpoint()
        out = tmp_path / "slice.jsonl"
        run(
            "export", "--store", _url(setting), "--since", "2026-04-04",
            "--output", str(out),
        )  # fmt: skip

        checked = run("verify", "--file", str(out), "--trusted-checkpoint", str(note))

        assert 1 == checked.returncode
        assert "sequence 32: truncated" in checked.stdout
        assert "does not reach back to" in checked.stdout

    def test_slice_from_the_pin_with_a_forged_frontier(self, run, setting, tmp_path):
        """A slice whose anchor frontier is not the pinned tree fails at the anchor."""
        note = tmp_path / "pin.note"
        note.write_text(setting["witness"].held(ORIGIN)[1])
        setting["store"].append(AuditEvent(type="later", time=T0 + timedelta(days=2)))
        setting["store"].sign_checkpoint()
        out = tmp_path / "slice.jsonl"
        run(
            "export", "--store", _url(setting), "--since", "2026-04-02",
            "--output", str(out),
        )  # fmt: skip
        lines = out.read_text().splitlines()
        header = json.loads(lines[0])
        header["anchor"]["frontier"][0] = "00" * 32
        lines[0] = canonical_json(header)
        out.write_text("\n".join(lines) + "\n")

        checked = run("verify", "--file", str(out), "--trusted-checkpoint", str(note))

        assert 1 == checked.returncode
        assert "sequence 30: changed" in checked.stdout


class TestWitnessInputs:
    """What the operator sends the witness cannot poison what it keeps."""

    def test_state_note_keeps_only_verified_lines(self, setting):
        """A bogus line in the name of the witness is not copied into its state."""
        store, witness = setting["store"], setting["witness"]
        store.append(AuditEvent(type="x"))
        store.sign_checkpoint()
        tamper = SQLiteTamper(setting["path"] / "audit.db")
        bogus = base64.b64encode(witness.verifier.key_hash + bytes(72)).decode()
        tamper._run(  # noqa: SLF001 - raw SQL
            "UPDATE va_checkpoints SET note = note || ? WHERE sequence = 31",
            (f"\u2014 {witness.name} {bogus}\n",),
        )

        cosign_latest(store, witness)
        note = witness.held(ORIGIN)[1]

        assert note.count("\u2014 ") == 2
        assert bogus not in note

    def test_refusals_of_strangers_not_recorded(self, setting):
        """Garbage from anyone is refused without growing the witness's state."""
        from vision_audit.witness import WitnessRefusedError

        witness = setting["witness"]
        before = (setting["path"] / "w1.json").read_bytes()

        with pytest.raises(WitnessRefusedError):
            witness.add_checkpoint("x" * 100_000, old_size=0, proof=[])

        assert before == (setting["path"] / "w1.json").read_bytes()

    def test_two_pem_log_keys_each_with_its_origin(self, run, setting, tmp_path):
        """--log-key A --origin A --log-key B --origin B binds each key to its log."""
        other = tmp_path / "other.pub"
        other.write_bytes(public_key_pem(generate_signing_key().public_key()))
        (tmp_path / "w2.pem").write_bytes(b"")
        run(
            "witness",
            "keygen",
            "--name",
            "w.example/w2",
            "--output",
            str(tmp_path / "k"),
        )

        completed = run(
            "witness", "cosign", "--store", _url(setting), "--key", str(tmp_path / "k"),
            "--name", "w.example/w2", "--state", str(tmp_path / "s.json"),
            "--log-key", str(tmp_path / "log.pub"), "--origin", ORIGIN,
            "--log-key", str(other), "--origin", "example.com/other",
        )  # fmt: skip
        missing = run(
            "witness", "cosign", "--store", _url(setting), "--key", str(tmp_path / "k"),
            "--name", "w.example/w2", "--state", str(tmp_path / "s.json"),
            "--log-key", str(tmp_path / "log.pub"), "--log-key", str(other),
            "--origin", ORIGIN,
        )  # fmt: skip

        assert 0 == completed.returncode, completed.stderr
        assert 2 == missing.returncode
        assert "one --origin for each PEM --log-key" in missing.stderr


class TestAnotherLog:
    """verify names the log it verified, and --origin refuses any other."""

    def test_origin_named_and_required(self, run, setting):
        """The OK line names the log; --origin of another log fails."""
        vkey = str(setting["path"] / "w1.vkey")

        named = run("verify", "--store", _url(setting), "--witness-key", vkey)
        other = run(
            "verify", "--store", _url(setting), "--witness-key", vkey,
            "--origin", "example.com/staging",
        )  # fmt: skip

        assert f"(log {ORIGIN})" in named.stdout
        assert 1 == other.returncode
        assert "another-log" in other.stdout


class TestAmbiguousEnvelopes:
    """An envelope that reads two ways fails the store's verify too."""

    def test_duplicate_member_in_the_store(self, setting):
        """A duplicate "type" (SQLite and Python read different ones) is damage."""
        import hashlib

        store = setting["store"]
        tamper = SQLiteTamper(setting["path"] / "audit.db")
        (_, last_hash, envelope) = tamper.rows()[29]
        fields = json.loads(envelope)
        fields.update(prev_hash=last_hash, sequence=31, event_id="planted")
        forged = canonical_json(fields).replace(
            '"type":"analysis.completed"}',
            '"type":"analysis.completed","type":"analysis.denied"}',
        )
        tamper.insert(31, hashlib.sha256(forged.encode()).hexdigest(), forged)

        result = store.verify(public_keys=[setting["key"].public_key()])

        assert (False, 31) == (result.ok, result.sequence)
        assert "not canonical JSON" in result.message


class TestExportLimits:
    """Exports hold what the log holds, within their format's limits."""

    def test_checkpoint_with_many_time_stamps(self, run, setting, tmp_path):
        """A checkpoint line over 1 MiB (many TSA responses) still exports and reads."""
        for _ in range(200):
            setting["store"].record_timestamp(30, bytes(range(256)) * 24)
        out = tmp_path / "e.jsonl"
        run("export", "--store", _url(setting), "--output", str(out))

        checked = run(
            "verify", "--file", str(out), "--public-key", str(tmp_path / "log.pub")
        )

        assert 0 == checked.returncode, checked.stdout

    def test_duplicated_checkpoint_lines_refused(self, run, setting, tmp_path):
        """A checkpoint line repeated (to make a verifier work) is refused."""
        out = tmp_path / "e.jsonl"
        run("export", "--store", _url(setting), "--output", str(out))
        lines = out.read_text().splitlines()
        lines.insert(2, lines[1])
        out.write_text("\n".join(lines) + "\n")

        checked = run(
            "verify", "--file", str(out), "--public-key", str(tmp_path / "log.pub")
        )

        assert 1 == checked.returncode
        assert "by increasing sequence" in checked.stdout

    def test_cosignatures_without_their_checkpoint(self, run, setting, tmp_path):
        """With its checkpoint row deleted, the store still holds the cosignature."""
        SQLiteTamper(setting["path"] / "audit.db")._run(  # noqa: SLF001 - raw SQL
            "DELETE FROM va_checkpoints WHERE sequence = 30"
        )
        vkey = str(setting["path"] / "w1.vkey")
        tamper = SQLiteTamper(setting["path"] / "audit.db")
        tamper._run("DELETE FROM va_events WHERE sequence > 25")  # noqa: SLF001

        verified = run("verify", "--store", _url(setting), "--witness-key", vkey)

        assert 1 == verified.returncode
        assert "sequence 26: truncated" in verified.stdout


class TestDamagedInputs:
    """Damage never ends in a traceback or a usage error."""

    def test_cosignature_stored_as_blob(self, run, setting):
        """A cosignature line that is not text fails verify, exit 1."""
        conn = sqlite3.connect(setting["path"] / "audit.db")
        conn.execute("DROP TRIGGER va_cosignatures_no_change")
        conn.execute("UPDATE va_cosignatures SET line = CAST(line AS BLOB)")
        conn.commit()
        conn.close()

        completed = run(
            "verify", "--store", _url(setting), "--witness-key",
            str(setting["path"] / "w1.vkey"),
        )  # fmt: skip

        assert 1 == completed.returncode
        assert "Traceback" not in completed.stderr

    @pytest.mark.parametrize(
        ("edit", "problem"),
        [
            (lambda b: b.update(version=True), "version"),
            (lambda b: b["checkpoint"].update(timestamps=[5]), "time stamps"),
            (lambda b: b["checkpoint"].update(timestamps=["A"]), "not base64"),
        ],
    )
    def test_malformed_bundles(self, run, setting, tmp_path, edit, problem):
        """Bundles of the wrong shape: not valid, exit 1, saying what."""
        bundle = tmp_path / "b.json"
        run("prove", "e3", "--store", _url(setting), "--output", str(bundle))
        data = json.loads(bundle.read_text())
        edit(data)
        bundle.write_text(canonical_json(data) + "\n")

        checked = run(
            "verify", "--bundle", str(bundle), "--public-key", str(tmp_path / "log.pub")
        )

        assert 1 == checked.returncode
        assert "not a valid evidence bundle" in checked.stdout
        assert problem in checked.stdout

    def test_pin_with_a_bundle_is_bad_usage(self, run, setting, tmp_path):
        """--trusted-checkpoint cannot hold a bundle: exit 2, saying why."""
        bundle = tmp_path / "b.json"
        note = tmp_path / "pin.note"
        note.write_text(setting["witness"].held(ORIGIN)[1])
        run("prove", "e3", "--store", _url(setting), "--output", str(bundle))

        completed = run(
            "verify", "--bundle", str(bundle), "--trusted-checkpoint", str(note)
        )

        assert 2 == completed.returncode
        assert "not a bundle" in completed.stderr


class TestWitnessWithoutSecrets:
    """The witness needs none of the service's secrets to do its round."""

    def test_cosign_without_the_pseudonym_key(self, run, tmp_path):
        """A store keyed from the environment is cosigned by a witness without it."""
        import os

        secret = os.urandom(32).hex()
        key = generate_signing_key()
        (tmp_path / "log.pub").write_bytes(public_key_pem(key.public_key()))
        store = SQLiteAuditStore(
            tmp_path / "a.db",
            signing_key=key,
            origin=ORIGIN,
            pseudonym_key=bytes.fromhex(secret),
        )
        store.append(AuditEvent(type="analysis.completed", subject_ref="alice"))
        store.close()
        run(
            "witness",
            "keygen",
            "--name",
            "w.example/w",
            "--output",
            str(tmp_path / "w"),
        )

        completed = run(
            "witness", "cosign", "--store", f"sqlite:///{tmp_path / 'a.db'}",
            "--key", str(tmp_path / "w"), "--name", "w.example/w",
            "--state", str(tmp_path / "s.json"),
            "--log-key", str(tmp_path / "log.pub"), "--origin", ORIGIN,
        )  # fmt: skip
        verified = run(
            "verify", "--store", f"sqlite:///{tmp_path / 'a.db'}",
            "--witness-key", str(tmp_path / "w.vkey"),
        )  # fmt: skip

        assert 0 == completed.returncode, completed.stderr
        assert 0 == verified.returncode, verified.stdout

    def test_cosign_only_store_records_no_event(self, tmp_path):
        """A store opened to keep cosignatures refuses events, saying why."""
        from vision_audit.exceptions import AuditWriteError

        SQLiteAuditStore(tmp_path / "a.db", pseudonym_key=bytes(32)).close()
        store = SQLiteAuditStore(tmp_path / "a.db", cosign_only=True)
        try:
            with pytest.raises(AuditWriteError):
                store.append(AuditEvent(type="x"))
        finally:
            store.close()


class TestSecondReview:
    """Found by a second red-team run: each now fails as it should."""

    def test_extra_content_record_in_a_bundle(self, run, setting, tmp_path):
        """A record added beside the real one (forged subject) fails the bundle."""
        import hashlib

        store = setting["store"]
        store.append(
            AuditEvent(type="analysis.completed", event_id="p", subject_ref="alice")
        )
        store.sign_checkpoint()
        bundle = tmp_path / "b.json"
        run("prove", "p", "--store", _url(setting), "--output", str(bundle),
            "--with-content")  # fmt: skip
        data = json.loads(bundle.read_text())
        salt, value = "00" * 16, '"mallory-9999"'
        digest = hashlib.sha256(bytes.fromhex(salt) + value.encode()).hexdigest()
        data["events"][0]["content"].insert(
            0,
            {
                "digest": digest,
                "kind": "subject",
                "name": "subject_ref",
                "salt": salt,
                "value": value,
            },
        )
        bundle.write_text(canonical_json(data) + "\n")

        checked = run("verify", "--bundle", str(bundle), "--public-key",
                      str(tmp_path / "log.pub"))  # fmt: skip
        offline = _offline("bundle", bundle, "--public-key", str(tmp_path / "log.pub"))

        assert 1 == checked.returncode
        assert "not one its envelope has" in checked.stdout
        assert 1 == offline.returncode

    def test_extra_content_record_in_the_store(self, setting):
        """A record inserted beside an event's own fails the store's verify."""
        import hashlib

        store = setting["store"]
        store.append(AuditEvent(type="x", event_id="p", subject_ref="alice"))
        salt, value = "00" * 16, '"mallory-9999"'
        digest = hashlib.sha256(bytes.fromhex(salt) + value.encode()).hexdigest()
        SQLiteTamper(setting["path"] / "audit.db")._run(  # noqa: SLF001 - raw SQL
            "INSERT INTO va_content VALUES (31, 'subject', 'a_subject', ?, ?, ?, NULL)",
            (digest, salt, value),
        )

        result = store.verify(public_keys=[setting["key"].public_key()])

        assert (False, 31) == (result.ok, result.sequence)

    def test_prev_hash_nested_in_a_later_member(self, run, setting, tmp_path):
        """An export whose "type" is an object holding a prev_hash is refused."""
        out = tmp_path / "e.jsonl"
        run("export", "--store", _url(setting), "--output", str(out))
        lines = out.read_text().splitlines()
        event = json.loads(lines[-2])
        event["envelope"]["type"] = {"k": "v", "prev_hash": "0" * 64}
        lines[-2] = canonical_json(event)
        out.write_text("\n".join(lines) + "\n")

        checked = run("verify", "--file", str(out), "--public-key",
                      str(tmp_path / "log.pub"))  # fmt: skip

        assert 1 == checked.returncode
        assert "type that is not a string" in checked.stdout

    def test_witness_refuses_a_log_cut_under_its_checkpoint(self, run, setting):
        """Events deleted under a cosigned size: the round is refused (exit 1)."""
        store, witness = setting["store"], setting["witness"]
        store.append(AuditEvent(type="x"))
        store.sign_checkpoint()
        SQLiteTamper(setting["path"] / "audit.db")._run(  # noqa: SLF001 - raw SQL
            "DELETE FROM va_events WHERE sequence > 28"
        )
        from vision_audit.witness import WitnessRefusedError

        with pytest.raises(WitnessRefusedError) as info:
            cosign_latest(store, witness)
        state = json.loads((setting["path"] / "w1.json").read_text())

        assert 422 == info.value.status
        assert "does not extend" in state["refusals"][-1]["reason"]

    def test_origin_does_not_hide_the_damage(self, run, setting, tmp_path):
        """--origin on a damaged export names the damage, not another log."""
        out = tmp_path / "e.jsonl"
        run("export", "--store", _url(setting), "--output", str(out))
        lines = out.read_text().splitlines()
        del lines[5]
        out.write_text("\n".join(lines) + "\n")

        checked = run(
            "verify", "--file", str(out), "--public-key", str(tmp_path / "log.pub"),
            "--origin", ORIGIN,
        )  # fmt: skip

        assert 1 == checked.returncode
        assert "another-log" not in checked.stdout

    def test_non_ascii_digits_over_http(self, setting):
        """The old size "²" is a 400 from the witness server, not a dropped link."""
        import urllib.error
        import urllib.request

        from vision_audit.witness._http import WitnessServer

        server = WitnessServer(setting["witness"])
        server.start()
        try:
            request = urllib.request.Request(  # noqa: S310 - loopback
                server.url + "/add-checkpoint",
                data="old \u00b2\n\nx".encode(),
                method="POST",
            )
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(request, timeout=5)  # noqa: S310 - loopback
            info.value.close()
        finally:
            server.stop()

        assert 400 == info.value.code


def _offline(kind, path, *options):
    import subprocess
    import sys
    from pathlib import Path

    verifier = Path(__file__).resolve().parents[2] / "examples/verify-offline/main.py"
    return subprocess.run(
        [sys.executable, str(verifier), kind, str(path), *options],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
