"""The store's commands as an operator and an auditor run them."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from tests.store.conftest import Completed, SQLiteTamper, environment_without_keys
from vision_audit.models import AuditEvent
from vision_audit.store import SQLiteAuditStore, canonical_json

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _subprocess(*args: str) -> Completed:
    completed = subprocess.run(
        [sys.executable, "-m", "vision_audit", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment_without_keys(),
        check=False,
    )
    return Completed(completed.returncode, completed.stdout, completed.stderr)


class TestHelp:
    """Every store command explains itself."""

    @pytest.mark.parametrize(
        "command", ["verify", "export", "purge", "erase-subject", "keygen"]
    )
    def test_help(self, run, command):
        """--help exits 0 and describes the command."""
        completed = run(command, "--help")

        assert 0 == completed.returncode
        assert f"usage: vision-audit {command}" in completed.stdout

    def test_entry_point(self, tmp_path):
        """The installed command runs the store commands, with their exit codes."""
        completed = _subprocess("verify", "--store", f"sqlite:///{tmp_path}/none.db")

        assert 2 == completed.returncode
        assert "no store at" in completed.stderr


class TestKeygen:
    """keygen writes a key pair, never to the terminal, never over a key."""

    def test_files(self, run, keys):
        """The private key is readable by its owner only."""
        private, public = keys

        assert 0o600 == private.stat().st_mode & 0o777
        assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----")

    def test_never_overwrites(self, run, keys):
        """A second keygen to the same file refuses (exit 2)."""
        private, _ = keys
        before = private.read_bytes()

        completed = run("keygen", "--output", str(private))

        assert 2 == completed.returncode
        assert "never overwritten" in completed.stderr
        assert before == private.read_bytes()

    def test_not_to_the_terminal(self, run):
        """Without --output there is no private key on standard output."""
        completed = run("keygen")

        assert 2 == completed.returncode
        assert "" == completed.stdout

    def test_public_of_the_configured_key(self, run, keys):
        """--public prints the public key of the key in the environment."""
        private, public = keys

        completed = run(
            "keygen", "--public", env={"VISION_AUDIT_SIGNING_KEY_FILE": str(private)}
        )

        assert 0 == completed.returncode
        assert public.read_text() == completed.stdout

    def test_public_without_a_key(self, run):
        """--public without a configured key is bad usage."""
        completed = run("keygen", "--public")

        assert 2 == completed.returncode
        assert "VISION_AUDIT_SIGNING_KEY" in completed.stderr


class TestVerify:
    """verify exits 0 when intact, 1 naming the damage, 2 on bad usage."""

    def test_intact(self, run, store_url, keys):
        """An intact store verifies with the auditor's public key."""
        completed = run("verify", "--store", store_url, "--public-key", str(keys[1]))

        assert 0 == completed.returncode, completed.stdout + completed.stderr
        assert completed.stdout.startswith("OK: ")
        assert "12 events verified, 3 signed checkpoints" in completed.stdout

    def test_head_past_the_last_checkpoint(self, run, store_url, keys, tmp_path):
        """The OK line names the events no signed checkpoint covers yet."""
        with SQLiteAuditStore(tmp_path / "audit.db") as store:
            for n in range(2):
                store.append(AuditEvent(type="analysis.completed", event_id=f"u{n}"))

        completed = run("verify", "--store", store_url, "--public-key", str(keys[1]))

        assert 0 == completed.returncode, completed.stdout + completed.stderr
        assert (
            "the last at sequence 12; events 13 to 14 are not yet covered by a "
            "signed checkpoint; head 14 "
        ) in completed.stdout

    def test_unsigned_with_a_public_key(self, run, keys, tmp_path):
        """A store without any checkpoint fails when a public key is given."""
        path = tmp_path / "unsigned.db"
        with SQLiteAuditStore(path) as store:
            store.append(AuditEvent(type="analysis.completed"))

        completed = run(
            "verify", "--store", f"sqlite:///{path}", "--public-key", str(keys[1])
        )

        assert 1 == completed.returncode
        assert completed.stdout.startswith("FAILED: ")
        assert "sequence 1: unsigned: no checkpoint signed by a trusted key" in (
            completed.stdout
        )

    def test_checkpoints_deleted(self, run, store_url, keys, tmp_path):
        """Deleting every checkpoint does not pass with a public key given."""
        SQLiteTamper(tmp_path / "audit.db").delete_checkpoints()

        completed = run("verify", "--store", store_url, "--public-key", str(keys[1]))

        assert 1 == completed.returncode
        assert "sequence 1: unsigned" in completed.stdout

    def test_store_from_the_environment(self, run, store_url):
        """VISION_AUDIT_STORE names the store when --store is not given."""
        completed = run("verify", "--links-only", env={"VISION_AUDIT_STORE": store_url})

        assert 0 == completed.returncode, completed.stdout + completed.stderr
        assert completed.stdout.startswith(
            "OK (links only, authenticity not checked): "
        )

    def test_no_trusted_key_is_no_success(self, run, store_url):
        """Without a key, an intact store is NOT AUTHENTICATED: exit 1, saying why."""
        completed = run("verify", "--store", store_url)

        assert 1 == completed.returncode
        assert completed.stdout.startswith("NOT AUTHENTICATED: ")
        assert "authenticity was NOT checked" in completed.stderr
        assert "--links-only" in completed.stderr

    def test_links_only_with_a_key_is_bad_usage(self, run, store_url, keys):
        """--links-only with a key given contradicts itself: exit 2."""
        completed = run(
            "verify", "--store", store_url, "--links-only", "--public-key", str(keys[1])
        )

        assert 2 == completed.returncode
        assert "--links-only checks no key" in completed.stderr

    def test_tampered(self, run, store_url, keys, tmp_path):
        """An edited event: exit 1, naming the sequence and the kind."""
        tamper = SQLiteTamper(tmp_path / "audit.db")
        envelope = json.loads(tamper.rows()[6][2])
        envelope["purpose"] = "marketing"
        tamper.set_envelope(
            7, json.dumps(envelope, sort_keys=True, separators=(",", ":"))
        )

        completed = run("verify", "--store", store_url, "--public-key", str(keys[1]))

        assert 1 == completed.returncode
        assert "FAILED: " in completed.stdout
        assert "sequence 7: changed" in completed.stdout

    def test_truncated(self, run, store_url, keys, tmp_path):
        """Events removed after a checkpoint: exit 1, truncated."""
        SQLiteTamper(tmp_path / "audit.db").truncate(after=8)

        completed = run("verify", "--store", store_url, "--public-key", str(keys[1]))

        assert 1 == completed.returncode
        assert "sequence 9: truncated" in completed.stdout

    def test_other_key(self, run, store_url, tmp_path):
        """Checkpoints that the given key did not sign: bad-signature."""
        run("keygen", "--output", str(tmp_path / "other.pem"))

        completed = run(
            "verify",
            "--store",
            store_url,
            "--public-key",
            str(tmp_path / "other.pem.pub"),
        )

        assert 1 == completed.returncode
        assert "sequence 5: bad-signature" in completed.stdout

    @pytest.mark.parametrize(
        "args",
        [
            ["verify"],
            ["verify", "--store", "sqlite:///no/such/store.db"],
            ["verify", "--store", "ftp://example.com/x"],
            ["verify", "--file", "/no/such/export.jsonl"],
            ["verify", "--store", "memory://", "--public-key", "/no/such/key.pub"],
        ],
    )
    def test_bad_usage(self, run, args):
        """Missing or wrong arguments exit 2 with a message."""
        completed = run(*args)

        assert 2 == completed.returncode
        assert "error:" in completed.stderr

    def test_not_a_store(self, run, tmp_path):
        """A file that is not a store: exit 1, saying so."""
        (tmp_path / "notes.db").write_text("shopping list")

        completed = run("verify", "--store", f"sqlite:///{tmp_path / 'notes.db'}")

        assert 1 == completed.returncode
        assert "not an SQLite database" in completed.stderr

    def test_no_key_on_the_command_line(self, run):
        """No option takes a private key: keys come from files or the environment."""
        completed = run("verify", "--help")

        assert "--key" not in completed.stdout.replace("--public-key", "")


class TestExport:
    """export writes a file that verify --file checks without the database."""

    def test_round_trip(self, run, store_url, keys, tmp_path):
        """The export of an intact store verifies with the public key."""
        out = tmp_path / "export.jsonl"

        exported = run("export", "--store", store_url, "--output", str(out))
        completed = run("verify", "--file", str(out), "--public-key", str(keys[1]))

        assert 0 == exported.returncode, exported.stderr
        assert 0 == completed.returncode, completed.stdout
        assert "12 events verified" in completed.stdout

    def test_no_personal_content(self, run, store_url, tmp_path):
        """Captions and raw subject references are never exported."""
        completed = run("export", "--store", store_url)

        assert "caption 3" not in completed.stdout
        assert "alice" not in completed.stdout
        assert 14 + 3 == len(completed.stdout.splitlines())

    def test_slice(self, run, store_url, keys, tmp_path):
        """--since/--until export a contiguous slice (both days in) that verifies."""
        out = tmp_path / "march.jsonl"

        run(
            "export",
            "--store",
            store_url,
            "--since",
            "2026-03-03",
            "--until",
            "2026-03-09",
            "--output",
            str(out),
        )
        completed = run("verify", "--file", str(out), "--public-key", str(keys[1]))
        header = json.loads(out.read_text().splitlines()[0])

        assert 0 == completed.returncode, completed.stdout
        assert (3, 9) == (header["first"], header["last"])
        assert 2 == header["anchor"]["sequence"]
        assert "7 events verified, 1 signed checkpoint" in completed.stdout

    def test_edited_export(self, run, store_url, keys, tmp_path):
        """An export edited by hand fails, naming the sequence."""
        out = tmp_path / "export.jsonl"
        run("export", "--store", store_url, "--output", str(out))
        lines = out.read_text().splitlines()
        event = json.loads(lines[10])
        event["envelope"]["actor"] = "someone else"
        lines[10] = canonical_json(event)
        out.write_text("\n".join(lines) + "\n")

        completed = run("verify", "--file", str(out), "--public-key", str(keys[1]))

        assert 1 == completed.returncode
        assert f"sequence {event['sequence']}: changed" in completed.stdout

    @pytest.mark.parametrize(
        ("edit", "problem"),
        [
            (
                lambda line: line.replace('"actor":', '"actor":"mallory","actor":', 1),
                "appears twice",
            ),
            (lambda line: line.replace('{"envelope":', '{"envelope": ', 1), "not"),
            (
                lambda line: line.replace('"type":"event"}', '"type":"event","x":1}'),
                "not an event line",
            ),
        ],
    )
    def test_lax_lines_refused(self, run, store_url, keys, tmp_path, edit, problem):
        """Duplicate members, loose spacing and unknown members: refused by line."""
        out = tmp_path / "export.jsonl"
        run("export", "--store", store_url, "--output", str(out))
        lines = out.read_text().splitlines()
        lines[10] = edit(lines[10])
        out.write_text("\n".join(lines) + "\n")

        completed = run("verify", "--file", str(out), "--public-key", str(keys[1]))

        assert 1 == completed.returncode
        assert "not a valid vision-audit export: line 11: " in completed.stdout
        assert problem in completed.stdout

    def test_cut_short(self, run, store_url, keys, tmp_path):
        """An export missing its last lines is truncated."""
        out = tmp_path / "export.jsonl"
        run("export", "--store", store_url, "--output", str(out))
        lines = out.read_text().splitlines()
        out.write_text("\n".join(lines[:-3]) + "\n")

        completed = run("verify", "--file", str(out), "--public-key", str(keys[1]))

        assert 1 == completed.returncode
        assert "truncated" in completed.stdout

    @pytest.mark.parametrize(
        "content",
        [
            "",
            "not json\n",
            '{"type": "something else"}\n',
            '{"type":"vision-audit.export","version":1,"public_keys":{}}\n[1, 2]\n',
            (
                '{"type":"vision-audit.export","version":1,"public_keys":{}}\n'
                '{"type":"event","sequence":1,"hash":"x","envelope":{"n":NaN}}\n'
            ),
            (
                '{"type":"vision-audit.export","version":1,"public_keys":{}}\n'
                '{"type":"event","sequence":"1","hash":"x","envelope":{}}\n'
            ),
            '{"type":"vision-audit.export","version":9}\n',
            "\udcff\n",
        ],
    )
    def test_hostile_files(self, run, tmp_path, content):
        """Files that are not exports fail verification cleanly (exit 1)."""
        out = tmp_path / "hostile.jsonl"
        out.write_bytes(content.encode("utf-8", "surrogateescape"))

        completed = run("verify", "--file", str(out))

        assert 1 == completed.returncode
        assert completed.stdout.startswith("FAILED: ")
        assert "Traceback" not in completed.stderr


class TestPurgeAndErase:
    """purge and erase-subject remove content, record it, and keep the chain."""

    def test_purge(self, run, store_url, keys):
        """Content older than the age goes; the chain still verifies."""
        completed = run("purge", "--store", store_url, "--older-than", "1d")
        verified = run("verify", "--store", store_url, "--public-key", str(keys[1]))

        assert 0 == completed.returncode, completed.stderr
        assert "purged 24 content records of 12 events" in completed.stdout
        assert 0 == verified.returncode

    def test_purge_bad_age(self, run, store_url):
        """An age that is not one is bad usage."""
        completed = run("purge", "--store", store_url, "--older-than", "soon")

        assert 2 == completed.returncode
        assert "'soon' is not a duration" in completed.stderr

    def test_purge_everything(self, run, store_url):
        """--older-than 0d purges all content recorded until now."""
        completed = run("purge", "--store", store_url, "--older-than", "0d")

        assert 0 == completed.returncode, completed.stderr
        assert "purged" in completed.stdout

    def test_purge_compound_age(self, run, store_url):
        """A policy's retention (1d12h) is typed as it is written there."""
        completed = run("purge", "--store", store_url, "--older-than", "1d12h")

        assert 0 == completed.returncode, completed.stderr

    def test_erase_from_stdin(self, run, store_url, keys, tmp_path):
        """The reference can come from standard input, out of the shell history."""
        completed = run("erase-subject", "-", "--store", store_url, stdin="alice\n")
        verified = run("verify", "--store", store_url, "--public-key", str(keys[1]))

        assert 0 == completed.returncode, completed.stderr
        assert "erased 12 content records of 6 events" in completed.stdout
        assert "alice" not in completed.stdout
        assert 0 == verified.returncode

    def test_erase_records_no_reference(self, run, store_url, tmp_path):
        """After erasure, the raw reference is nowhere in the store's files."""
        run("erase-subject", "alice", "--store", store_url)

        files = list(tmp_path.glob("audit.db*"))

        assert tmp_path / "audit.db" in files
        assert [] == [path for path in files if b"alice" in path.read_bytes()]


class TestProgress:
    """Long verifications say how far they got, on stderr."""

    def test_progress_on_stderr(self, run, store_url, monkeypatch):
        """With the reporting period at zero, even a short run reports."""
        from vision_audit.store import _cli

        monkeypatch.setattr(_cli, "_PROGRESS_SECONDS", 0.0)

        completed = run("verify", "--store", store_url)

        assert "12 events checked" in completed.stderr
        assert "events checked" not in completed.stdout

    def test_quiet(self, run, store_url, monkeypatch):
        """--quiet silences progress."""
        from vision_audit.store import _cli

        monkeypatch.setattr(_cli, "_PROGRESS_SECONDS", 0.0)

        completed = run("verify", "--quiet", "--store", store_url)

        assert "events checked" not in completed.stderr


class TestRefusals:
    """Arguments out of range, or stores that are not stores, are refused by name."""

    @pytest.mark.parametrize(
        "args",
        [
            ["purge", "--older-than", "3000y"],
            ["purge", "--older-than", "99999999999999y"],
            ["export", "--since", "0001-01-01T00:00:00+01:00"],
            ["export", "--until", "9999-12-31"],
        ],
    )
    def test_out_of_range(self, run, store_url, args):
        """Times beyond what a date can hold: exit 2, no traceback."""
        completed = run(*args, "--store", store_url)

        assert 2 == completed.returncode
        assert "error:" in completed.stderr
        assert "Traceback" not in completed.stderr

    def test_unknown_data_class(self, run, store_url):
        """A data class the store never recorded: exit 2, naming those it knows."""
        completed = run(
            "purge", "--store", store_url, "--older-than", "1d", "--data-class", "bogus"
        )
        after = run("verify", "--store", store_url)

        assert 2 == completed.returncode
        assert "unknown data class 'bogus': give one of caption," in completed.stderr
        assert "content.purged" not in after.stdout + after.stderr
        assert "12 events verified" in after.stdout

    def test_known_data_class(self, run, store_url):
        """A data class the store holds is purged."""
        completed = run(
            "purge",
            "--store",
            store_url,
            "--older-than",
            "1d",
            "--data-class",
            "caption",
        )

        assert 0 == completed.returncode, completed.stderr
        assert "purged 12 content records" in completed.stdout

    def test_erase_nobody(self, run, store_url):
        """An erasure matching nothing is recorded, with a warning."""
        completed = run("erase-subject", "-", "--store", store_url, stdin="nobody\n")

        assert 0 == completed.returncode
        assert "erased 0 content records" in completed.stdout
        assert "warning: no personal content matched" in completed.stderr

    @pytest.mark.parametrize("content", [b"", b"shopping list"])
    @pytest.mark.parametrize(
        "args", [["purge", "--older-than", "1d"], ["erase-subject", "ada"]]
    )
    def test_not_a_store(self, run, tmp_path, content, args):
        """Neither purge nor erase-subject turns another file into a store."""
        path = tmp_path / "notes.db"
        path.write_bytes(content)

        completed = run(*args, "--store", f"sqlite:///{path}")

        assert 1 == completed.returncode
        assert "error:" in completed.stderr
        assert content == path.read_bytes()
        assert [path] == list(tmp_path.iterdir())

    def test_export_until_before_since(self, run, store_url):
        """An empty period: exit 2."""
        completed = run(
            "export",
            "--store",
            store_url,
            "--since",
            "2026-03-05",
            "--until",
            "2026-03-04",
        )

        assert 2 == completed.returncode
        assert "is not after --since" in completed.stderr

    def test_export_until_a_day(self, run, store_url, tmp_path):
        """A bare --until date includes that day, as report's period does."""
        output = tmp_path / "slice.jsonl"

        completed = run(
            "export",
            "--store",
            store_url,
            "--since",
            "2026-03-02",
            "--until",
            "2026-03-04",
            "--output",
            str(output),
        )

        assert 0 == completed.returncode, completed.stderr
        assert "3 events" in completed.stderr

    @pytest.mark.parametrize(
        ("sql", "message"),
        [
            (
                "UPDATE va_keys SET public_key = 'garbage'",
                "recorded in the store was changed",
            ),
            (
                (
                    "UPDATE va_checkpoints SET note = replace(note, '\u2014', '-') "
                    "WHERE sequence = 5"
                ),
                "the checkpoint at sequence 5 is unreadable",
            ),
        ],
    )
    def test_tampered_keys_and_times(self, run, store_url, tmp_path, sql, message):
        """A garbage key or checkpoint time in the store is tampering: exit 1."""
        SQLiteTamper(tmp_path / "audit.db")._run(sql)  # noqa: SLF001 - raw SQL

        completed = run("verify", "--store", store_url)

        assert 1 == completed.returncode
        assert "FAILED: " in completed.stdout
        assert "sequence 5: bad-signature" in completed.stdout
        assert message in completed.stdout
