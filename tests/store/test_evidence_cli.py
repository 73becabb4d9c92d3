"""The evidence commands as a person runs them: witness, prove, checkpoint, verify."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from tests.store.conftest import SQLiteTamper
from tests.tsa import TSA, run_tsa
from vision_audit.store import canonical_json

if TYPE_CHECKING:
    from collections.abc import Iterator

WITNESS = "compliance.example.com/w1"


@pytest.fixture(name="tsa", scope="module")
def _tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TSA]:
    with run_tsa(tmp_path_factory.mktemp("tsa")) as tsa:
        yield tsa


@pytest.fixture(name="origin")
def _origin(store_url):
    from vision_audit.store import open_store

    store = open_store(store_url, read_only=True)
    try:
        return store.origin
    finally:
        store.close()


@pytest.fixture(name="witness")
def _witness(run, tmp_path):
    """A witness's key, and one cosigning round over the store: its paths."""
    completed = run(
        "witness", "keygen", "--name", WITNESS, "--output", str(tmp_path / "w1.pem")
    )
    assert 0 == completed.returncode, completed.stderr
    return {
        "key": tmp_path / "w1.pem",
        "vkey": tmp_path / "w1.pem.vkey",
        "state": tmp_path / "w1-state.json",
    }


def _cosign(run, store_url, keys, witness, origin):
    return run(
        "witness",
        "cosign",
        "--store",
        store_url,
        "--key",
        str(witness["key"]),
        "--name",
        WITNESS,
        "--state",
        str(witness["state"]),
        "--log-key",
        str(keys[1]),
        "--origin",
        origin,
    )


class TestHelp:
    """The new commands explain themselves."""

    @pytest.mark.parametrize(
        "command",
        [
            ["prove"],
            ["checkpoint"],
            ["witness"],
            ["witness", "keygen"],
            ["witness", "cosign"],
            ["witness", "show"],
        ],
    )
    def test_help(self, run, command):
        """--help exits 0 and names the command."""
        completed = run(*command, "--help")

        assert 0 == completed.returncode
        assert f"usage: vision-audit {' '.join(command)}" in completed.stdout


class TestWitnessCommands:
    """keygen, cosign and show, as the compliance office runs them."""

    def test_keygen_prints_the_verifier_key(self, witness):
        """The .vkey holds the name+hash+key line; the private key is mode 600."""
        line = witness["vkey"].read_text().strip()

        assert line.startswith(f"{WITNESS}+")
        assert 0o600 == witness["key"].stat().st_mode & 0o777

    def test_cosign_then_verify(self, run, store_url, keys, witness, origin):
        """After one round, verify with the witness key passes, naming it."""
        cosigned = _cosign(run, store_url, keys, witness, origin)
        verified = run(
            "verify", "--store", store_url, "--witness-key", str(witness["vkey"])
        )

        assert 0 == cosigned.returncode, cosigned.stderr
        assert f"cosigned: {origin} at tree size 12" in cosigned.stdout
        assert 0 == verified.returncode, verified.stdout + verified.stderr
        assert f"cosigned by {WITNESS}" in verified.stdout

    def test_second_round_is_idempotent(self, run, store_url, keys, witness, origin):
        """A round with nothing new says so and exits 0."""
        _cosign(run, store_url, keys, witness, origin)

        again = _cosign(run, store_url, keys, witness, origin)

        assert 0 == again.returncode
        assert "already cosigned" in again.stdout

    def test_refuses_a_rewrite(self, run, store_url, keys, witness, origin, tmp_path):
        """An edited, re-chained log is refused at the next round: exit 1, why."""
        _cosign(run, store_url, keys, witness, origin)
        SQLiteTamper(tmp_path / "audit.db")._run(  # noqa: SLF001 - raw SQL
            "DELETE FROM va_events WHERE sequence = 12"
        )
        SQLiteTamper(tmp_path / "audit.db")._run(  # noqa: SLF001 - raw SQL
            "DELETE FROM va_checkpoints WHERE sequence = 12"
        )
        run(
            "checkpoint",
            "--store",
            store_url,
            env={"VISION_AUDIT_SIGNING_KEY_FILE": str(keys[0])},
        )

        refused = _cosign(run, store_url, keys, witness, origin)
        shown = run("witness", "show", "--state", str(witness["state"]))

        assert 1 == refused.returncode
        assert "REFUSED" in refused.stderr
        assert "older than the tree size 12" in refused.stderr
        assert "refused at" in shown.stdout

    def test_show_prints_the_note(self, run, store_url, keys, witness, origin):
        """Show --origin prints the note to keep, usable as a trusted checkpoint."""
        _cosign(run, store_url, keys, witness, origin)

        shown = run(
            "witness", "show", "--state", str(witness["state"]), "--origin", origin
        )

        assert shown.stdout.startswith(f"{origin}\n12\n")
        assert f"\u2014 {WITNESS} " in shown.stdout

    def test_bad_log_key(self, run, store_url, witness, tmp_path, origin):
        """A log key file that holds no key: exit 2, naming the file."""
        bad = tmp_path / "bad.pub"
        bad.write_text("not a key")

        completed = run(
            "witness", "cosign", "--store", store_url, "--key", str(witness["key"]),
            "--name", WITNESS, "--state", str(witness["state"]),
            "--log-key", str(bad), "--origin", origin,
        )  # fmt: skip

        assert 2 == completed.returncode
        assert str(bad) in completed.stderr


class TestTrustedCheckpoint:
    """verify --trusted-checkpoint holds a log to a note kept from before."""

    def test_extension_passes_rewrite_fails(
        self, run, store_url, keys, witness, origin, tmp_path
    ):
        """The kept note matches the log; after a rewrite under it, it does not."""
        _cosign(run, store_url, keys, witness, origin)
        note = tmp_path / "kept.note"
        note.write_text(
            run(
                "witness", "show", "--state", str(witness["state"]), "--origin", origin
            ).stdout
        )

        intact = run("verify", "--store", store_url, "--trusted-checkpoint", str(note))
        tamper = SQLiteTamper(tmp_path / "audit.db")
        tamper._run("DELETE FROM va_events WHERE sequence > 10")  # noqa: SLF001
        tamper._run("DELETE FROM va_checkpoints")  # noqa: SLF001
        tamper._run("DELETE FROM va_cosignatures")  # noqa: SLF001
        cut = run("verify", "--store", store_url, "--trusted-checkpoint", str(note))

        assert 0 == intact.returncode, intact.stdout + intact.stderr
        assert 1 == cut.returncode
        assert "sequence 11: truncated" in cut.stdout
        assert "kept.note" in cut.stdout


class TestProve:
    """prove writes a bundle; verify --bundle checks it offline."""

    def test_prove_and_verify(self, run, store_url, keys, witness, origin, tmp_path):
        """A bundle of one event verifies with the witness key, and is small."""
        _cosign(run, store_url, keys, witness, origin)
        bundle = tmp_path / "e3.json"

        proved = run("prove", "e3", "--store", store_url, "--output", str(bundle))
        checked = run(
            "verify", "--bundle", str(bundle), "--witness-key", str(witness["vkey"])
        )
        data = json.loads(bundle.read_text())

        assert 0 == proved.returncode, proved.stderr
        assert f"cosigned by {WITNESS}" in proved.stderr
        assert 0 == checked.returncode, checked.stdout
        assert "1 event proven" in checked.stdout
        assert [4] == [e["sequence"] for e in data["events"]]
        assert data["events"][0]["content"] is None

    def test_tampered_bundle(self, run, store_url, keys, witness, origin, tmp_path):
        """A bundle whose event was edited (hash recomputed) fails: not in the log."""
        _cosign(run, store_url, keys, witness, origin)
        bundle = tmp_path / "e3.json"
        run("prove", "e3", "--store", store_url, "--output", str(bundle))
        data = json.loads(bundle.read_text())
        data["events"][0]["envelope"]["actor"] = "mallory"
        import hashlib

        from vision_audit.store import canonical_bytes

        data["events"][0]["hash"] = hashlib.sha256(
            canonical_bytes(data["events"][0]["envelope"])
        ).hexdigest()
        bundle.write_text(canonical_json(data) + "\n")

        checked = run(
            "verify", "--bundle", str(bundle), "--witness-key", str(witness["vkey"])
        )

        assert 1 == checked.returncode
        assert "is not in the log at tree size 12" in checked.stdout

    def test_with_content(self, run, store_url, keys, tmp_path):
        """--with-content carries what remains, checked against the envelope."""
        bundle = tmp_path / "e5.json"

        run(
            "prove",
            "e5",
            "--store",
            store_url,
            "--output",
            str(bundle),
            "--with-content",
        )
        checked = run("verify", "--bundle", str(bundle), "--public-key", str(keys[1]))
        names = {
            r["name"] for r in json.loads(bundle.read_text())["events"][0]["content"]
        }

        assert 0 == checked.returncode, checked.stdout
        assert {"caption", "subject_ref"} == names

    def test_content_never_to_the_terminal(self, run, store_url):
        """--with-content needs --output: exit 2."""
        completed = run("prove", "e5", "--store", store_url, "--with-content")

        assert 2 == completed.returncode

    def test_unknown_id(self, run, store_url):
        """An id the log does not hold: exit 1, saying so."""
        completed = run("prove", "nope", "--store", store_url)

        assert 1 == completed.returncode
        assert "no event or analysis 'nope'" in completed.stderr

    def test_without_a_key(self, run, store_url, tmp_path):
        """A bundle checked without any key is not authenticated: exit 1."""
        bundle = tmp_path / "e1.json"
        run("prove", "e1", "--store", store_url, "--output", str(bundle))

        checked = run("verify", "--bundle", str(bundle))

        assert 1 == checked.returncode
        assert checked.stdout.startswith("NOT AUTHENTICATED")


class TestTimestamps:
    """checkpoint --tsa-url and verify --tsa-cert against a real loopback TSA."""

    def test_time_stamped_checkpoint(self, run, store_url, keys, tsa, tmp_path):
        """A time-stamped checkpoint verifies against the TSA's root, with its time."""
        ca = tmp_path / "tsa-ca.pem"
        ca.write_bytes(tsa.ca_pem)
        signer = {"VISION_AUDIT_SIGNING_KEY_FILE": str(keys[0])}

        stamped = run(
            "checkpoint", "--store", store_url, "--tsa-url", tsa.url, env=signer
        )
        checked = run(
            "verify", "--store", store_url, "--public-key", str(keys[1]),
            "--tsa-cert", str(ca),
        )  # fmt: skip

        assert 0 == stamped.returncode, stamped.stderr
        assert "time-stamped" in stamped.stderr
        assert 0 == checked.returncode, checked.stdout + checked.stderr
        assert "checkpoint 12 existed by" in checked.stdout

    def test_tsa_down(self, run, store_url, keys, tsa):
        """A TSA that is down: the checkpoint is signed, not stamped; exit 1."""
        signer = {"VISION_AUDIT_SIGNING_KEY_FILE": str(keys[0])}

        completed = run(
            "checkpoint", "--store", store_url, "--tsa-url", tsa.down_url, env=signer
        )

        assert 1 == completed.returncode
        assert "signed, but not time-stamped" in completed.stderr

    def test_tsa_garbage(self, run, store_url, keys, tsa):
        """A TSA answering garbage: nothing kept, exit 1."""
        signer = {"VISION_AUDIT_SIGNING_KEY_FILE": str(keys[0])}

        with tsa.answering("garbage"):
            completed = run(
                "checkpoint", "--store", store_url, "--tsa-url", tsa.url, env=signer
            )

        assert 1 == completed.returncode
        assert "not a DER RFC 3161" in completed.stderr

    def test_another_tsa_certificate(self, run, store_url, keys, tsa, tmp_path):
        """A stamp checked against another authority's root fails: exit 1."""
        from tests.tsa import make_ca

        other = make_ca(tmp_path / "other")
        ca = tmp_path / "other.pem"
        ca.write_bytes(other.pem)
        signer = {"VISION_AUDIT_SIGNING_KEY_FILE": str(keys[0])}
        run("checkpoint", "--store", store_url, "--tsa-url", tsa.url, env=signer)

        checked = run(
            "verify", "--store", store_url, "--public-key", str(keys[1]),
            "--tsa-cert", str(ca),
        )  # fmt: skip

        assert 1 == checked.returncode
        assert "bad-timestamp" in checked.stdout


class TestHostileFiles:
    """Files that are not what they claim: clear failures, bounded memory."""

    def test_endless_line(self, run, keys):
        """/dev/zero as an export: refused at its first line, not read into memory."""
        completed = run("verify", "--file", "/dev/zero", "--public-key", str(keys[1]))

        assert 1 == completed.returncode
        assert "line 1" in completed.stdout

    def test_export_of_a_tampered_store(self, run, store_url, tmp_path):
        """Export writes what is stored but exits 1 when the store does not verify."""
        SQLiteTamper(tmp_path / "audit.db")._run(  # noqa: SLF001 - raw SQL
            "UPDATE va_events SET envelope = replace(envelope, 'analysis', 'xnalysis') "
            "WHERE sequence = 4"
        )

        completed = run(
            "export", "--store", store_url, "--output", str(tmp_path / "e.jsonl")
        )

        assert 1 == completed.returncode
        assert "the store does NOT verify (sequence 4: changed" in completed.stderr

    def test_export_of_a_store_cut_short(self, run, store_url, keys, tmp_path):
        """A store cut before its last checkpoint exports as truncated, not whole."""
        SQLiteTamper(tmp_path / "audit.db")._run(  # noqa: SLF001 - raw SQL
            "DELETE FROM va_events WHERE sequence > 8"
        )
        out = tmp_path / "e.jsonl"
        run("export", "--store", store_url, "--output", str(out))

        checked = run("verify", "--file", str(out), "--public-key", str(keys[1]))

        assert 1 == checked.returncode
        assert "sequence 9: truncated" in checked.stdout

    @pytest.mark.parametrize(
        "flag", ["--public-key", "--witness-key", "--trusted-checkpoint", "--tsa-cert"]
    )
    def test_missing_key_file(self, run, store_url, flag, tmp_path):
        """A key or note file that does not exist: exit 2, naming it."""
        completed = run("verify", "--store", store_url, flag, str(tmp_path / "none"))

        assert 2 == completed.returncode
        assert "none" in completed.stderr


@pytest.fixture(name="served")
def _served(witness, keys, origin):
    """The witness served over HTTP on loopback (C2SP tlog-witness)."""
    from vision_audit.store._keys import load_private_key
    from vision_audit.store._note import NoteVerifier
    from vision_audit.witness import Witness
    from vision_audit.witness._http import WitnessServer

    public = load_private_key(keys[0].read_bytes(), source="test").public_key()
    server = WitnessServer(
        Witness(
            name=WITNESS,
            key=load_private_key(witness["key"].read_bytes(), source="test"),
            state=witness["state"],
            logs=[NoteVerifier.for_key(origin, public)],
        )
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


class TestWitnessOverHTTP:
    """checkpoint --witness-url against witness serve's protocol, on loopback."""

    def _append(self, store_url, keys, count):
        from vision_audit.models import AuditEvent
        from vision_audit.store import SQLiteAuditStore
        from vision_audit.store._keys import load_private_key

        key = load_private_key(keys[0].read_bytes(), source="test")
        path = store_url.removeprefix("sqlite:///")
        with SQLiteAuditStore(path, signing_key=key) as store:
            for _ in range(count):
                store.append(AuditEvent(type="analysis.completed"))

    def test_rounds(self, run, store_url, keys, witness, served):
        """Two rounds: the second follows the witness's 409 to a consistency proof."""
        signer = {"VISION_AUDIT_SIGNING_KEY_FILE": str(keys[0])}

        first = run(
            "checkpoint", "--store", store_url, "--witness-url", served.url, env=signer
        )
        self._append(store_url, keys, 3)
        second = run(
            "checkpoint", "--store", store_url, "--witness-url", served.url, env=signer
        )
        verified = run(
            "verify", "--store", store_url, "--witness-key", str(witness["vkey"])
        )

        assert 0 == first.returncode, first.stderr
        assert "cosigned by compliance.example.com/w1 at tree size 12" in first.stderr
        assert 0 == second.returncode, second.stderr
        assert "at tree size 15" in second.stderr
        assert 0 == verified.returncode, verified.stdout
        assert "the last at sequence 15, cosigned by" in verified.stdout

    def test_rewrite_refused_with_422(self, run, store_url, keys, served, tmp_path):
        """After a rewrite under a cosignature, the witness answers 422: exit 1."""
        signer = {"VISION_AUDIT_SIGNING_KEY_FILE": str(keys[0])}
        run("checkpoint", "--store", store_url, "--witness-url", served.url, env=signer)
        SQLiteTamper(tmp_path / "audit.db")._run(  # noqa: SLF001 - raw SQL
            "DELETE FROM va_events WHERE sequence = 12"
        )
        self._append(store_url, keys, 2)

        refused = run(
            "checkpoint", "--store", store_url, "--witness-url", served.url, env=signer
        )

        assert 1 == refused.returncode
        assert "HTTP 422" in refused.stderr
        assert "rewritten" in refused.stderr

    def test_witness_down(self, run, store_url, keys):
        """A witness that does not answer: the checkpoint is kept, exit 1 says so."""
        signer = {"VISION_AUDIT_SIGNING_KEY_FILE": str(keys[0])}

        completed = run(
            "checkpoint", "--store", store_url, "--witness-url", "http://127.0.0.1:9",
            env=signer,
        )  # fmt: skip

        assert 1 == completed.returncode
        assert "unreachable" in completed.stderr
        assert completed.stdout.startswith(completed.stdout.split("\n")[0])

    @pytest.mark.parametrize(
        ("body", "status"),
        [
            (b"nonsense", 400),
            (b"old 01\n\nx", 400),
            (b"old 0\nnot-base64!\n\nx", 400),
            (b"old 0\n\nelsewhere.example/x\n1\n%(root)s\n\n%(sig)s", 404),
            (b"old 0\n\n%(origin)s\n1\n%(root)s\n\n%(sig)s", 403),
        ],
    )
    def test_malformed_requests(self, served, origin, body, status):
        """Requests that are not add-checkpoint bodies get the protocol's statuses."""
        import urllib.error
        import urllib.request

        data = body % {
            b"origin": origin.encode(),
            b"root": b"A" * 43 + b"=",
            b"sig": "\u2014 someone AAAAAAAAAAA=\n".encode(),
        }
        request = urllib.request.Request(  # noqa: S310 - loopback http
            served.url + "/add-checkpoint", data=data, method="POST"
        )
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=5)  # noqa: S310 - loopback http
        info.value.close()

        assert status == info.value.code
