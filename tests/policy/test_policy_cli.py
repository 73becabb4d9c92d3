"""``vision-audit policy check|show`` and ``vision-audit consent grant|revoke|list``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from vision_audit import environment_variables as env
from vision_audit.__main__ import main
from vision_audit.policy import load_policy
from vision_audit.policy._cli import format_duration

EXAMPLES = Path(__file__).parents[2] / "examples" / "policies"
CLAIMS = EXAMPLES / "insurance-claims.toml"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(env.VISION_AUDIT_POLICY, raising=False)
    monkeypatch.delenv(env.VISION_AUDIT_STORE, raising=False)


@pytest.fixture(name="store_url")
def _store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'audit.db'}"


@pytest.fixture(name="run")
def _run(capsys: pytest.CaptureFixture[str]):
    """Run the command; return exit code, stdout and stderr."""

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def _grant(run, store_url: str, *extra: str) -> tuple[int, str, str]:
    return run(
        "consent",
        "grant",
        "--store",
        store_url,
        "--ref",
        "consent-claim-1042",
        "--subject",
        "claimant-1042",
        "--purpose",
        "insurance-claim-assessment",
        "--actor",
        "claims-desk",
        *extra,
    )


class TestHelp:
    """Every new command explains itself."""

    @pytest.mark.parametrize(
        "command",
        [
            ["policy"],
            ["policy", "check"],
            ["policy", "show"],
            ["consent"],
            ["consent", "grant"],
            ["consent", "revoke"],
            ["consent", "list"],
        ],
    )
    def test_help(self, command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
        """``--help`` exits 0 and shows the usage."""
        with pytest.raises(SystemExit) as caught:
            main([*command, "--help"])

        assert 0 == caught.value.code
        assert f"usage: vision-audit {' '.join(command)}" in capsys.readouterr().out

    def test_subcommand_required(self, capsys: pytest.CaptureFixture[str]) -> None:
        """``vision-audit policy`` alone is bad usage: exit 2."""
        with pytest.raises(SystemExit) as caught:
            main(["policy"])

        assert 2 == caught.value.code


class TestPolicyCheck:
    """``vision-audit policy check FILE``."""

    @pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=str)
    def test_examples(self, run, path: Path) -> None:
        """A valid file: exit 0, its name and its policy id."""
        code, out, err = run("policy", "check", str(path))

        assert (0, "") == (code, err)
        assert f"{path}: ok" in out
        assert load_policy(path).policy_id in out

    def test_invalid(self, run, write_policy) -> None:
        """An invalid file: exit 1, the file, the key and what is accepted."""
        path = write_policy(
            '[policy]\nname = "n"\nversion = "1"\n'
            '[purposes.p]\nfeatures = ["tags", "faces"]\n'
        )

        code, out, err = run("policy", "check", str(path))

        assert (1, "") == (code, out)
        assert (
            f"vision-audit policy check: error: {path}: purposes.p.features[1]" in err
        )
        assert "accepted: tags, caption" in err

    def test_missing(self, run, tmp_path: Path) -> None:
        """A missing file: exit 1 naming it."""
        code, _, err = run("policy", "check", str(tmp_path / "none.toml"))

        assert 1 == code
        assert "none.toml: cannot read the policy file" in err


class TestPolicyShow:
    """``vision-audit policy show [FILE]``."""

    def test_text(self, run) -> None:
        """The rules in force, for people."""
        code, out, _ = run("policy", "show", str(CLAIMS))

        assert 0 == code
        assert "policy insurance-claims version 2026-11-01, mode enforce" in out
        assert "retention: content 30d, metadata 400d, decisions 7y" in out
        assert "images are never stored" in out
        assert "purpose insurance-claim-assessment (consent required)" in out
        assert "deadline 2d; four eyes" in out

    @pytest.mark.parametrize(("stated", "shown"), [("drop", False), ("withhold", True)])
    def test_on_blocked(self, run, write_policy, stated: str, *, shown: bool) -> None:
        """A purpose that withholds results on a block-listed tag says so."""
        path = write_policy(
            '[policy]\nname = "n"\nversion = "1"\n[purposes.p]\nfeatures = ["tags"]\n'
            f'[purposes.p.tags]\nblock = ["knife"]\non_blocked = "{stated}"\n'
        )

        code, out, _ = run("policy", "show", str(path))

        assert 0 == code
        assert "tags: block knife; minimum confidence 0" in out
        assert shown is ("a block-listed tag withholds the whole result" in out)

    def test_json(self, run) -> None:
        """``--json``: the parsed policy and its id."""
        code, out, _ = run("policy", "show", "--json", str(CLAIMS))

        shown = json.loads(out)
        policy = load_policy(CLAIMS)
        assert 0 == code
        assert {"policy_id": policy.policy_id, **policy.as_dict()} == shown

    def test_from_environment(self, run, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without FILE, ``VISION_AUDIT_POLICY`` names it."""
        monkeypatch.setenv(env.VISION_AUDIT_POLICY, str(CLAIMS))

        code, out, _ = run("policy", "show")

        assert 0 == code
        assert "insurance-claims" in out

    def test_no_file(self, run) -> None:
        """Neither FILE nor the variable: bad usage, exit 2, saying what to do."""
        code, _, err = run("policy", "show")

        assert 2 == code
        assert env.VISION_AUDIT_POLICY in err

    def test_invalid(self, run, write_policy) -> None:
        """An invalid file: exit 1."""
        code, _, err = run("policy", "show", str(write_policy("[policy]\n")))

        assert 1 == code
        assert "policy.toml" in err


class TestConsentCommands:
    """``vision-audit consent grant|revoke|list`` on a SQLite audit store."""

    def test_grant_list_revoke(self, run, store_url: str) -> None:
        """Each step is an event; list shows the status; the subject never appears."""
        granted = _grant(run, store_url, "--feature", "tags", "--expires", "2099-01-01")
        listed = run("consent", "list", "--store", store_url)
        revoked = run(
            "consent",
            "revoke",
            "--store",
            store_url,
            "--ref",
            "consent-claim-1042",
            "--actor",
            "dpo",
            "--reason",
            "withdrawn",
        )
        after = run("consent", "list", "--store", store_url, "--json")

        assert 0 == granted[0]
        assert "granted consent 'consent-claim-1042'" in granted[1]
        assert 0 == listed[0]
        assert "consent-claim-1042  active" in listed[1]
        assert "features: tags" in listed[1]
        assert (0, "") == (revoked[0], revoked[2])
        (record,) = [json.loads(line) for line in after[1].splitlines()]
        assert "revoked" == record["status"]
        assert "2099-01-01T00:00:00+00:00" == record["expires_at"]
        for output in (granted, listed, revoked, after):
            assert "claimant-1042" not in output[1] + output[2]

    def test_events_in_store(self, run, store_url: str) -> None:
        """The grant and the revocation are chained events of the store."""
        from vision_audit.store import open_store

        _grant(run, store_url)
        run(
            "consent", "revoke", "--store", store_url, "--ref", "consent-claim-1042",
            "--actor", "dpo",
        )  # fmt: skip

        store = open_store(store_url)
        try:
            kinds = [(r.event.type, r.event.actor) for r in store.iter_events()]
            verified = store.verify()
        finally:
            store.close()
        assert [("consent.granted", "claims-desk"), ("consent.revoked", "dpo")] == kinds
        assert verified.ok

    def test_store_from_environment(
        self, run, store_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without ``--store``, ``VISION_AUDIT_STORE`` names the store."""
        monkeypatch.setenv(env.VISION_AUDIT_STORE, store_url)
        _grant(run, store_url)

        code, out, _ = run("consent", "list")

        assert 0 == code
        assert "consent-claim-1042" in out

    def test_empty_list(self, run, store_url: str) -> None:
        """An empty table says so."""
        from vision_audit.store import open_store

        open_store(store_url).close()

        code, out, _ = run("consent", "list", "--store", store_url)

        assert (0, "no consent recorded\n") == (code, out)

    @pytest.mark.parametrize(
        "command", [["list"], ["revoke", "--ref", "c", "--actor", "dpo"]]
    )
    def test_missing_store_is_not_created(
        self, run, tmp_path: Path, command: list[str]
    ) -> None:
        """A store that does not exist is refused like ``review list``, not created."""
        typo = tmp_path / "typo.db"

        code, _, err = run("consent", *command, "--store", f"sqlite:///{typo}")

        assert 2 == code
        assert f"no store at {typo}" in err
        assert not typo.exists()

    def test_default_store_is_not_created(
        self, run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without --store, list does not leave ./vision-audit.db behind."""
        monkeypatch.chdir(tmp_path)

        code, _, err = run("consent", "list")

        assert 2 == code
        assert "no store at vision-audit.db" in err
        assert [] == list(tmp_path.iterdir())

    @pytest.mark.parametrize(
        ("extra", "message"),
        [
            (["--expires", "soon"], "not an ISO 8601"),
            (["--expires", "2001-01-01"], "not in the future"),
            (["--feature", "faces"], "not a visual feature"),
            (["--purpose", "bad purpose"], "not a purpose name"),
        ],
    )
    def test_grant_bad_usage(
        self, run, store_url: str, extra: list[str], message: str
    ) -> None:
        """Bad arguments: exit 2, nothing recorded."""
        code, _, err = _grant(run, store_url, *extra)

        assert 2 == code
        assert message in err
        assert not Path(store_url.removeprefix("sqlite:///")).exists()

    def test_grant_checked_against_policy(self, run, store_url: str) -> None:
        """With ``--policy``, purposes and features must be the policy's."""
        unknown = _grant(
            run, store_url, "--purpose", "marketing", "--policy", str(CLAIMS)
        )
        feature = _grant(run, store_url, "--feature", "people", "--policy", str(CLAIMS))
        good = _grant(run, store_url, "--feature", "tags", "--policy", str(CLAIMS))

        assert 2 == unknown[0]
        assert "has no purpose 'marketing'" in unknown[2]
        assert 2 == feature[0]
        assert "does not allow people" in feature[2]
        assert 0 == good[0]

    @pytest.mark.parametrize("option", ["--ref", "--subject", "--actor"])
    def test_grant_refuses_control_characters(
        self, run, store_url: str, capsys: pytest.CaptureFixture[str], option: str
    ) -> None:
        """A control character in a one-line value is bad usage naming the option."""
        with pytest.raises(SystemExit) as info:
            _grant(run, store_url, option, "evil\x1b[31mRED\nfake line")

        err = capsys.readouterr().err
        assert 2 == info.value.code
        assert f"argument {option}: contains the control character \\x1b" in err
        assert "\x1b" not in err
        assert not Path(store_url.removeprefix("sqlite:///")).exists()

    def test_regrant_is_refused(self, run, store_url: str) -> None:
        """Granting a reference in use is refused, naming the old terms."""
        _grant(run, store_url, "--expires", "2099-01-01")

        code, _, err = _grant(run, store_url, "--expires", "2098-06-01")

        assert 1 == code
        assert "consent 'consent-claim-1042' already exists" in err
        assert "expires 2099-01-01T00:00:00+00:00" in err
        assert "--replace" in err
        listed = run("consent", "list", "--store", store_url, "--json")[1]
        assert "2099-01-01T00:00:00+00:00" == json.loads(listed)["expires_at"]

    def test_regrant_with_replace(self, run, store_url: str) -> None:
        """--replace replaces the consent and warns with the old terms."""
        _grant(run, store_url, "--expires", "2099-01-01")

        code, _, err = _grant(run, store_url, "--expires", "2098-06-01", "--replace")

        assert 0 == code
        assert "warning: replaced consent 'consent-claim-1042'" in err
        assert "expires 2099-01-01T00:00:00+00:00" in err
        listed = run("consent", "list", "--store", store_url, "--json")[1]
        assert "2098-06-01T00:00:00+00:00" == json.loads(listed)["expires_at"]

    def test_revoke_unknown(self, run, store_url: str) -> None:
        """Revoking a consent never granted fails: exit 1."""
        _grant(run, store_url)

        code, _, err = run(
            "consent", "revoke", "--store", store_url, "--ref", "nope", "--actor", "dpo"
        )

        assert 1 == code
        assert "no consent 'nope' was granted" in err

    def test_bad_store_url(self, run) -> None:
        """A store URL that is not one: exit 2 with the reason."""
        code, _, err = run("consent", "list", "--store", "ftp://x")

        assert 2 == code
        assert "vision-audit consent list: error:" in err


class TestFormatDuration:
    """Durations printed in the policy's own format."""

    @pytest.mark.parametrize(
        ("seconds", "expected"),
        [
            (7 * 365 * 86400, "7y"),
            (400 * 86400, "400d"),
            (36 * 3600, "36h"),
            (90, "90s"),
        ],
    )
    def test_largest_exact_unit(self, seconds: int, expected: str) -> None:
        """The largest unit that divides the duration exactly."""
        import datetime as dt

        assert expected == format_duration(dt.timedelta(seconds=seconds))

    def test_forever(self) -> None:
        """No limit reads ``forever``."""
        assert "forever" == format_duration(None)
