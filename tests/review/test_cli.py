"""vision-audit review list, show and decide, as a reviewer runs them."""

from __future__ import annotations

import json

import pytest
from tests.review.conftest import ACTOR, INTAKE, REVIEWER
from vision_audit.__main__ import main
from vision_audit.models import AuditEvent
from vision_audit.review import get_review


@pytest.fixture(name="run")
def _run(capsys, db_url):
    """Run ``vision-audit review ...`` against the test's store: (code, out, err)."""

    def run(*args: str, store: str | None = db_url):
        argv = ["review", *args]
        if store is not None:
            argv += ["--store", store]
        code = main(argv)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def _decide(run, analysis_id, *extra, reviewer=REVIEWER, rationale="form matches"):
    return run(
        "decide",
        analysis_id,
        "--reviewer",
        reviewer,
        "--rationale",
        rationale,
        *extra,
    )


class TestList:
    """The queue, as text and as JSON."""

    def test_text(self, run, flagged) -> None:
        """Each pending analysis is a row with its purpose, actor and status."""
        code, out, _ = run("list")

        assert 0 == code
        assert "1 analysis pending review (none overdue)" in out
        row = next(line for line in out.splitlines() if flagged in line)
        assert INTAKE in row
        assert ACTOR in row
        assert "pending" in row

    def test_json(self, run, flagged) -> None:
        """--json prints the items as objects."""
        code, out, _ = run("list", "--json")

        items = json.loads(out)
        assert 0 == code
        assert [flagged] == [item["analysis_id"] for item in items]
        assert items[0]["four_eyes"] is True

    def test_overdue(self, run, flagged) -> None:
        """Nothing is overdue a moment after the call."""
        code, out, _ = run("list", "--overdue")

        assert 0 == code
        assert "no analysis overdue for review" in out

    def test_store_from_the_environment(
        self, run, flagged, db_url, monkeypatch
    ) -> None:
        """Without --store, $VISION_AUDIT_STORE names the store."""
        monkeypatch.setenv("VISION_AUDIT_STORE", db_url)

        code, out, _ = run("list", "--json", store=None)

        assert 0 == code
        assert [flagged] == [item["analysis_id"] for item in json.loads(out)]

    def test_missing_store(self, run, tmp_path) -> None:
        """A store file that does not exist is bad usage, named."""
        code, _, err = run("list", store=f"sqlite:///{tmp_path}/none.db")

        assert 2 == code
        assert "none.db" in err


class TestListPages:
    """A long queue: a screenful at a time, by purpose, and the next page."""

    @pytest.fixture(name="queue")
    def _queue(self, store) -> list[str]:
        """Five flagged analyses, every other one for retail; their ids in order."""
        ids = []
        for number in range(5):
            purpose = "retail" if number % 2 else INTAKE
            recorded = store.append(
                AuditEvent(
                    type="review.required",
                    analysis_id=f"analysis-{number}",
                    purpose=purpose,
                    data={"review": {"reasons": ["people"], "deadline_seconds": 60}},
                )
            )
            ids.append(recorded.event.analysis_id)
        store.close()
        return ids

    def test_limit_and_next_page(self, run, queue) -> None:
        """--limit shows the oldest; the line it ends with reads the next page."""
        code, out, _ = run("list", "--limit", "2")

        assert 0 == code
        assert "2 of 5 analyses pending review" in out
        assert [q for q in queue if q in out] == queue[:2]
        after = out.strip().splitlines()[-1].removeprefix("next page: --after ")
        code, out, _ = run("list", "--limit", "2", "--after", after)
        assert [q for q in queue if q in out] == queue[2:4]

    def test_purpose_and_json_pages(self, run, queue) -> None:
        """--purpose filters; --json items carry the sequence to page from."""
        code, out, _ = run("list", "--purpose", "retail", "--json", "--limit", "1")

        (item,) = json.loads(out)
        assert (0, queue[1]) == (code, item["analysis_id"])
        code, out, _ = run(
            "list", "--purpose", "retail", "--json", "--after", str(item["sequence"])
        )
        assert [queue[3]] == [i["analysis_id"] for i in json.loads(out)]

    @pytest.mark.parametrize("bad", ["-1", "ten"])
    def test_bad_limit(self, run, capsys, bad) -> None:
        """A negative or non-numeric limit is bad usage, named."""
        with pytest.raises(SystemExit) as info:
            run("list", "--limit", bad)

        assert 2 == info.value.code
        assert "--limit" in capsys.readouterr().err


class TestShow:
    """One case, with everything a reviewer needs."""

    def test_text(self, run, flagged, store) -> None:
        """The case names purpose, consent, policy, flags, tags and status."""
        case = get_review(store, flagged)

        code, out, _ = run("show", flagged)

        assert 0 == code
        assert f"analysis {flagged}: pending" in out
        assert "consent: c-intake-7" in out
        assert case.policy_id in out
        assert "four eyes" in out
        assert f"tags kept: {', '.join(case.tags_kept)}" in out
        assert "decisions: none yet" in out

    def test_json(self, run, flagged) -> None:
        """--json prints the case as an object."""
        code, out, _ = run("show", flagged, "--json")

        case = json.loads(out)
        assert 0 == code
        assert "pending" == case["status"]
        assert ["tags", "people"] == case["requested"]["features"]

    def test_unknown(self, run, flagged) -> None:
        """An unknown id is bad usage, named."""
        code, _, err = run("show", "f" * 32)

        assert 2 == code
        assert "no analysis 'fff" in err


class TestDecide:
    """Decisions from the command line, with their refusals and exit codes."""

    def test_approve(self, run, flagged) -> None:
        """An approval is recorded and the queue empties."""
        code, out, _ = _decide(run, flagged, "--decision", "approve")

        assert 0 == code
        assert f"recorded approve of analysis {flagged} by {REVIEWER}" in out
        assert "no analysis pending review" in run("list")[1]

    def test_correction(self, run, flagged, store) -> None:
        """An override superseding the approval; show lists both, latest last."""
        _decide(run, flagged, "--decision", "approve")
        first = get_review(store, flagged).decisions[0].event_id
        tag = get_review(store, flagged).tags_kept[0]

        code, _, err = _decide(
            run,
            flagged,
            "--decision",
            "override",
            "--remove-tag",
            tag,
            "--add-tag",
            "wristband",
            "--supersedes",
            first,
        )
        _, out, _ = run("show", flagged)

        assert 0 == code, err
        assert f"analysis {flagged}: overridden" in out
        assert f"supersedes {first}" in out
        assert out.index(" approve by ") < out.index(" override [")
        assert "wristband" in out.split("tags after override:")[1]

    def test_four_eyes(self, run, flagged) -> None:
        """The analysis' own actor is refused: exit 1, naming four eyes."""
        code, _, err = _decide(run, flagged, "--decision", "approve", reviewer=ACTOR)

        assert 1 == code
        assert "four eyes" in err
        assert ACTOR in err

    def test_already_decided(self, run, flagged) -> None:
        """A second decision without --supersedes: exit 1, naming the first."""
        _decide(run, flagged, "--decision", "approve")

        code, _, err = _decide(run, flagged, "--decision", "reject")

        assert 1 == code
        assert "--supersedes" in err or "supersedes" in err

    def test_empty_rationale(self, run, flagged) -> None:
        """An empty rationale is bad usage, named."""
        code, _, err = _decide(run, flagged, "--decision", "approve", rationale=" ")

        assert 2 == code
        assert "rationale" in err

    def test_missing_rationale(self, run, flagged) -> None:
        """Without --rationale the command does not run."""
        with pytest.raises(SystemExit) as info:
            run("decide", flagged, "--decision", "approve", "--reviewer", REVIEWER)

        assert 2 == info.value.code

    def test_override_needs_tags(self, run, flagged) -> None:
        """An override that changes no tag is bad usage."""
        code, _, err = _decide(run, flagged, "--decision", "override")

        assert 2 == code
        assert "add or remove" in err

    def test_unknown_analysis(self, run, flagged) -> None:
        """An unknown analysis id is bad usage, named."""
        code, _, err = _decide(run, "e" * 32, "--decision", "approve")

        assert 2 == code
        assert "no analysis" in err

    def test_policy_file(self, run, flagged, tmp_path) -> None:
        """A broken --policy file is bad usage, named."""
        broken = tmp_path / "broken.toml"
        broken.write_text("[policy\n")

        code, _, err = _decide(
            run, flagged, "--decision", "approve", "--policy", str(broken)
        )

        assert 2 == code
        assert "broken.toml" in err


class TestControlCharacters:
    """Values a terminal would act on are refused on input and escaped on output."""

    @pytest.mark.parametrize(
        ("option", "value"),
        [
            ("--reviewer", "evil\x1b[31mRED"),
            ("--reviewer", "evil\nfake line"),
            ("--reviewer", "right\u202eleft"),
            ("--add-tag", "tag\rover"),
            ("--remove-tag", "tag\x00"),
            ("--supersedes", "e1\nforged"),
        ],
    )
    def test_one_line_values(self, run, flagged, capsys, option, value) -> None:
        """A control character in a one-line value is bad usage naming the option."""
        argv = ["decide", flagged, "--decision", "override", "--reviewer", REVIEWER]
        argv += ["--rationale", "form matches", option, value]

        with pytest.raises(SystemExit) as info:
            run(*argv)

        err = capsys.readouterr().err
        assert 2 == info.value.code
        assert f"argument {option}" in err
        assert "control character" in err
        assert "\x1b[" not in err
        assert "fake line" not in err.splitlines()

    def test_rationale_escape_sequence(self, run, flagged, capsys) -> None:
        """An escape sequence in the rationale is refused, naming --rationale."""
        with pytest.raises(SystemExit) as info:
            _decide(run, flagged, "--decision", "approve", rationale="ok\x1b[2J")

        err = capsys.readouterr().err
        assert 2 == info.value.code
        assert "argument --rationale" in err
        assert "\\x1b" in err
        assert "\x1b" not in err

    def test_rationale_lines(self, run, flagged) -> None:
        """A multi-line rationale is kept; show indents its further lines."""
        code, _, _ = _decide(
            run, flagged, "--decision", "approve", rationale="form matches\nchecked ID"
        )

        out = run("show", flagged)[1]
        assert 0 == code
        assert "      rationale: form matches" in out
        assert "        | checked ID" in out.splitlines()

    def test_show_escapes_stored_values(self, run, flagged, store, monkeypatch) -> None:
        """Control characters already in the store (older writers) are escaped."""
        from vision_audit.review import _decide, record_review_decision

        monkeypatch.setattr(_decide, "_refuse_controls", lambda *_, **__: None)

        record_review_decision(
            store,
            flagged,
            decision="approve",
            reviewer="evil\x1b[31mRED\nfake line",
            rationale="fine\x1b[0m",
        )

        code, out, _ = run("show", flagged)

        assert 0 == code
        assert "\x1b" not in out
        assert "by evil\\x1b[31mRED\\nfake line" in out
        assert not any(line.startswith("fake line") for line in out.splitlines())

    def test_json_escapes_c1_controls(self, run, flagged, store, monkeypatch) -> None:
        """--json escapes C1 and bidi controls too; the parsed value is unchanged."""
        from vision_audit.review import _decide, record_review_decision

        monkeypatch.setattr(_decide, "_refuse_controls", lambda *_, **__: None)

        reviewer = "evil\x9b31m\u202eRED"
        record_review_decision(
            store, flagged, decision="approve", reviewer=reviewer, rationale="fine"
        )

        code, out, _ = run("show", flagged, "--json")

        assert 0 == code
        assert "\x9b" not in out
        assert "\u202e" not in out
        assert reviewer == json.loads(out)["decisions"][0]["reviewer"]

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("reviewer", "evil\x1b[31mRED"),
            ("reviewer", "two\nlines"),
            ("rationale", "fine\x1b[0m"),
            ("rationale", "over\rwrite"),
        ],
    )
    def test_api_refuses_control_characters(
        self, flagged, store, field: str, value: str
    ) -> None:
        """The Python API refuses what the CLI refuses; nothing is recorded."""
        from vision_audit.exceptions import ReviewError
        from vision_audit.review import record_review_decision

        before = len(list(store.iter_events()))
        arguments = {"reviewer": "rita", "rationale": "fine", field: value}

        with pytest.raises(ReviewError) as caught:
            record_review_decision(store, flagged, decision="approve", **arguments)

        assert "control-characters" == caught.value.code
        assert field in str(caught.value)
        assert before == len(list(store.iter_events()))

    def test_api_rationale_may_span_lines(self, flagged, store) -> None:
        """New lines and tabs are fine in a rationale."""
        from vision_audit.review import record_review_decision

        record_review_decision(
            store,
            flagged,
            decision="approve",
            reviewer="rita",
            rationale="checked:\n\tthe form",
        )


class TestHelp:
    """Every review command explains itself."""

    @pytest.mark.parametrize("command", [[], ["list"], ["show"], ["decide"]])
    def test_help(self, command, capsys) -> None:
        """``--help`` exits 0 and describes the command."""
        with pytest.raises(SystemExit) as info:
            main(["review", *command, "--help"])

        assert 0 == info.value.code
        assert "usage: vision-audit review" in capsys.readouterr().out

    def test_no_command_is_bad_usage(self, capsys) -> None:
        """``vision-audit review`` alone: usage on stderr and exit 2."""
        with pytest.raises(SystemExit) as info:
            main(["review"])

        assert 2 == info.value.code
        assert "required: COMMAND" in capsys.readouterr().err


class TestLastPage:
    """A page that ends the queue offers no next page."""

    def test_no_next_page_at_the_end(self, run, store) -> None:
        """Exactly --limit items left: no `next page:` line."""
        for number in range(2):
            store.append(
                AuditEvent(
                    type="review.required",
                    analysis_id=f"last-{number}",
                    data={"review": {"reasons": ["people"]}},
                )
            )
        store.close()

        code, out, _ = run("list", "--limit", "2")

        assert 0 == code
        assert "next page" not in out
