"""The compliance report: figures from SQL, rendered to a PDF/A that legal can file."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pypdf
import pytest
from tests.report.conftest import (
    HOSTILE_TAG,
    MADE,
    POLICY,
    sample_events,
    sample_store,
)
from vision_audit.__main__ import main
from vision_audit._policy_id import canonical_text, policy_id_of
from vision_audit.events import policy_activated_event
from vision_audit.models import AuditEvent
from vision_audit.policy import parse_policy
from vision_audit.report import build_report, generate_report
from vision_audit.report.pdf import TemplateOnlyFetcher, URLRefusedError
from vision_audit.report.render import find_templates
from vision_audit.store import InMemoryAuditStore, open_store

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(name="store_url")
def _store_url(tmp_path: Path) -> str:
    return sample_store(tmp_path)


def _pdf(store_url: str, out: Path, **options) -> pypdf.PdfReader:
    options.setdefault("generated_at", MADE)
    generate_report(
        store_url,
        since="2026-03-01",
        until="2026-03-31",
        out=out,
        organization="Contoso Claims",
        **options,
    )
    return pypdf.PdfReader(out)


def _html(store_url: str, out: Path) -> str:
    generate_report(
        store_url, since="2026-03-01", until="2026-03-31", out=out, format="html"
    )
    return out.read_text()


def _text(reader: pypdf.PdfReader) -> str:
    return "\n".join(page.extract_text() for page in reader.pages)


class TestFigures:
    """The figures match the events the store holds."""

    def test_numbers(self, store_url: str) -> None:
        """Calls, outcomes, denials, tags, review figures, computed in SQL."""
        data = build_report(store_url, since="2026-03-01", until="2026-03-31")

        assert (4, 2, 1, 1) == (data.calls, data.completed, data.failed, data.denied)
        assert [("claims", 2, 2), ("retail", 1, 0)] == [
            (c.purpose, c.sent, c.with_consent) for c in data.consent
        ]
        assert [("consent-missing", 1)] == [
            (d.label, d.count) for d in data.denials_by_reason
        ]
        assert 4 == data.tags_dropped
        assert 2 == data.allow_list_misses
        assert 1 == data.withheld_results
        assert (2, 1, 1, 0) == (
            data.review.required,
            data.review.decided,
            data.review.pending,
            data.review.escalated,
        )
        assert 100.0 == data.review.override_rate
        assert 30 * 60 - 1 == pytest.approx(data.review.median_seconds)
        assert 1 == data.review.overdue_pending
        assert 4 == data.people_detected
        assert [("500", "InternalServerError", 1)] == [
            (e.status, e.code, e.count) for e in data.errors
        ]
        assert [POLICY] == [p.policy_id for p in data.policies]
        assert 2 == data.exceptions_total
        assert data.integrity.verified

    def test_policies_by_name(self, tmp_path: Path) -> None:
        """Each policy named as put in force; a change inside the period called out."""
        store = InMemoryAuditStore()
        older, newer = (
            parse_policy(
                f'[policy]\nname = "claims"\nversion = "{version}"\nmode = "{mode}"\n'
                '[purposes.claims]\nrequire_consent = false\nfeatures = ["tags"]\n'
            )
            for version, mode in (("3", "enforce"), ("4", "audit"))
        )
        for event in [
            replace(
                policy_activated_event(older), time=datetime(2026, 2, 20, tzinfo=UTC)
            ),
            *(replace(e, policy_id=older.policy_id) for e in sample_events()),
            replace(
                policy_activated_event(newer), time=datetime(2026, 3, 20, tzinfo=UTC)
            ),
            AuditEvent(
                type="analysis.requested",
                policy_id=newer.policy_id,
                purpose="claims",
                time=datetime(2026, 3, 21, tzinfo=UTC),
            ),
        ]:
            store.append(event)
        out = tmp_path / "policies.pdf"

        data = build_report(store, since="2026-03-01", until="2026-03-31")
        generate_report(store, since="2026-03-01", until="2026-03-31", out=out)
        text = " ".join(_text(pypdf.PdfReader(out)).split())

        assert ["claims 3 (enforce)", "claims 4 (audit)"] == [
            p.label for p in data.policies
        ]
        assert ["2026-02-20 00:00:00 UTC", "2026-03-20 00:00:00 UTC"] == [
            p.activated for p in data.policies
        ]
        assert any(
            f.attention and f.text.startswith("The policy changed during the period")
            for f in data.findings
        )
        assert "claims 4 (audit)" in text
        assert "The policy changed during the period" in text

    def test_policy_name_not_bound(self) -> None:
        """A name whose recorded document is another policy is not believed."""
        store = InMemoryAuditStore()
        real = parse_policy(
            '[policy]\nname = "claims"\nversion = "1"\n'
            '[purposes.claims]\nrequire_consent = false\nfeatures = ["tags"]\n'
        )
        forged = policy_activated_event(real)
        forged = replace(
            forged,
            policy_id=POLICY,
            time=datetime(2026, 3, 1, tzinfo=UTC),
            data={**forged.data, "name": "strict-claims"},
        )
        for event in (forged, *sample_events()):
            store.append(event)

        data = build_report(store, since="2026-03-01", until="2026-03-31")

        assert [True] == [p.mismatch for p in data.policies]
        assert "strict-claims" not in data.policies[0].label
        assert any(f.attention and "cannot be named" in f.text for f in data.findings)

    def test_compared_with_the_previous_period(self, tmp_path: Path) -> None:
        """Key figures beside those of the 30 days before, with the change."""
        store = InMemoryAuditStore()
        february = datetime(2026, 2, 10, tzinfo=UTC)
        for n in range(5):
            store.append(
                AuditEvent(
                    type="analysis.denied" if n < 4 else "analysis.requested",
                    purpose="claims",
                    analysis_id=f"feb-{n}",
                    time=february,
                    data={"reason": "consent-missing"},
                )
            )
        for event in sample_events():
            store.append(event)
        out = tmp_path / "trend.pdf"

        data = build_report(store, since="2026-03-01", until="2026-03-30")
        generate_report(store, since="2026-03-01", until="2026-03-30", out=out)
        alone = build_report(
            store, since="2026-03-01", until="2026-03-30", compare=False
        )
        rows = {c.label: c for c in data.comparison}
        text = " ".join(_text(pypdf.PdfReader(out)).split())

        assert data.previous_period.startswith("30 Jan 2026 00:00 to 01 Mar 2026")
        assert (4, 5, "-1 (-20.0 %)", "down") == (
            rows["Calls"].current,
            rows["Calls"].previous,
            rows["Calls"].change,
            rows["Calls"].direction,
        )
        assert (1, 4, "-3 (-75.0 %)") == (
            rows["Denied by policy"].current,
            rows["Denied by policy"].previous,
            rows["Denied by policy"].change,
        )
        assert "+1 (none before)" == rows["Failed at the service"].change
        assert "no change" == rows["Let through in audit mode"].change
        # March: claims 2 of 2; retail's call needed none (sent without one under
        # an enforcing policy). February: no policy recorded, so its call needed one.
        assert "+100.0 points" == rows["Consent coverage (%)"].change
        assert "Compared with the previous period" in text
        assert "-75.0 %" in text
        assert () == alone.comparison
        assert "" == alone.previous_period

    def test_policy_not_named(self, store_url: str) -> None:
        """Events under a policy the log never named: said, not guessed."""
        data = build_report(store_url, since="2026-03-01", until="2026-03-31")

        assert ["not named in the log"] == [p.label for p in data.policies]
        assert "" == data.policies[0].activated

    def test_without_content_digests(self, store_url: str) -> None:
        """Links and signatures only: still verified, and the cover says what not."""
        data = build_report(
            store_url, since="2026-03-01", until="2026-03-31", verify_content=False
        )

        assert data.integrity.verified
        assert (
            "NOT AUTHENTICATED: every link (personal content digests were not "
            "checked) matches, but no checkpoint is signed: nothing shows who wrote "
            "the log"
        ) == data.integrity.status

    def test_every_day_of_the_period(self, store_url: str) -> None:
        """Days without calls are in the daily figures, as zero."""
        data = build_report(store_url, since="2026-03-01", until="2026-03-31")

        days = [d.day for d in data.by_day]
        assert days[0] == "2026-03-01"
        assert days[-1] == "2026-03-31"
        assert 31 == len(days)
        assert sum(d.calls for d in data.by_day) == data.calls
        assert any(d.calls == 0 for d in data.by_day)

    def test_generation_time(self, store_url: str, monkeypatch) -> None:
        """Made when made: injected, else SOURCE_DATE_EPOCH; the id does not move."""
        made = build_report(
            store_url, since="2026-03-01", until="2026-03-31", generated_at=MADE
        )
        monkeypatch.setenv("SOURCE_DATE_EPOCH", "1775001600")  # 2026-04-01 00:00
        epoch = build_report(store_url, since="2026-03-01", until="2026-03-31")

        assert "2026-04-01T00:00:00Z" == made.generated_iso == epoch.generated_iso
        assert made.report_id == epoch.report_id
        assert made.open_period is False

    def test_open_period(self, store_url: str, tmp_path: Path) -> None:
        """A report made before its period ends says so on its cover."""
        early = datetime(2026, 3, 15, 12, tzinfo=UTC)

        reader = _pdf(store_url, tmp_path / "open.pdf", generated_at=early)

        cover = " ".join(reader.pages[0].extract_text().split())
        assert "Open period: it had not ended when this report was made" in cover
        assert "15 Mar 2026 12:00:00 UTC" in cover
        assert "D:20260315120000Z" == reader.metadata["/CreationDate"]

    def test_period_bounds(self, store_url: str) -> None:
        """The start is included, until excluded; a bare until date covers that day."""
        data = build_report(store_url, since="2026-03-03", until="2026-03-03")

        assert 1 == data.calls


class TestPDF:
    """The PDF: text, pages, metadata, attachment, determinism."""

    def test_document(self, store_url: str, tmp_path: Path) -> None:
        """Cover, footers, metadata and the JSON attachment say the same figures."""
        reader = _pdf(store_url, tmp_path / "r.pdf")

        text = _text(reader)
        attached = json.loads(reader.attachments["report.json"][0])
        assert len(reader.pages) >= 8
        assert f"Page 1 of {len(reader.pages)}" in text
        assert attached["report_id"] in reader.pages[1].extract_text()
        cover = " ".join(reader.pages[0].extract_text().split())
        assert "NOT AUTHENTICATED" in cover
        assert "no checkpoint is signed" in cover
        assert "4 calls were made: 2 completed, 1 failed" in " ".join(text.split())
        assert "because a block-listed tag came back: 1." in " ".join(text.split())
        assert 4 == attached["calls"]
        assert "Contoso Claims" == reader.metadata["/Author"]
        assert reader.metadata["/Title"].startswith("Image analysis compliance report")
        assert attached["report_id"] in reader.metadata["/Keywords"]
        assert "D:20260401000000Z" == reader.metadata["/CreationDate"]
        assert [o.title for o in reader.outline if hasattr(o, "title")][:2] == [
            "Cover",
            "Executive summary",
        ]

    def test_byte_identical(self, store_url: str, tmp_path: Path) -> None:
        """The same store state and options give the same bytes."""
        _pdf(store_url, tmp_path / "a.pdf")
        _pdf(store_url, tmp_path / "b.pdf")

        assert (tmp_path / "a.pdf").read_bytes() == (tmp_path / "b.pdf").read_bytes()

    def test_pdfa(self, store_url: str, tmp_path: Path) -> None:
        """PDF/A-3a: XMP part and conformance, the attachment's relationship."""
        _pdf(store_url, tmp_path / "r.pdf", pdf_options={"uncompressed_pdf": True})

        raw = (tmp_path / "r.pdf").read_bytes()
        assert b'pdfaid:part="3"' in raw
        assert b'pdfaid:conformance="A"' in raw
        assert b"/AFRelationship /Data" in raw
        assert b"/StructTreeRoot" in raw


class TestAppendix:
    """The exceptions, each with who made the call and its ids."""

    def test_actor_column(self, store_url: str, tmp_path: Path) -> None:
        """The actor the audit context named is in the data and in the table."""
        data = build_report(store_url, since="2026-03-01", until="2026-03-31")
        html = _html(store_url, tmp_path / "r.html")

        assert {"svc-claims", "svc-retail"} >= {x.actor for x in data.exceptions}
        assert all(x.actor for x in data.exceptions)
        assert '<th scope="col">Actor</th>' in html


class TestSafety:
    """Values from the store are text; resources come from the templates only."""

    def test_hostile_tags_are_text(self, store_url: str, tmp_path: Path) -> None:
        """A tag carrying HTML or CSS renders as plain text, in HTML and PDF."""
        html = _html(store_url, tmp_path / "r.html")
        reader = _pdf(store_url, tmp_path / "r.pdf")

        assert HOSTILE_TAG not in html
        assert "&lt;img src=file:///etc/passwd&gt;" in html
        assert "<style>*" not in html
        assert HOSTILE_TAG in "".join(_text(reader).split("\n"))

    @pytest.mark.parametrize(
        "hostile",
        [
            '<img src="http://127.0.0.1:1/x.png"><script>alert(1)</script>',
            "x{background:url(http://127.0.0.1:1/y.png)}",
            "{{ 7 * 191 }}{% raw %}",
            "W" * 10_000,
            "\u202eabc\u0301\u0301\u0301 \u05e9\u05dc\u05d5\u05dd",
        ],
        ids=["html", "css-url", "jinja", "10000-chars", "rtl-combining"],
    )
    def test_every_recorded_value_is_text(self, hostile: str, tmp_path: Path) -> None:
        """Purposes, actors, tags, policy names, codes: text, nothing fetched."""
        store = InMemoryAuditStore()
        when = datetime(2026, 3, 3, tzinfo=UTC)
        common = {"purpose": hostile, "actor": hostile, "time": when}
        for event in (
            AuditEvent(
                type="policy.activated",
                policy_id=policy_id_of({"policy": {"name": hostile}}),
                time=when,
                data={
                    "name": hostile,
                    "version": hostile,
                    "mode": hostile,
                    "document": canonical_text({"policy": {"name": hostile}}),
                },
            ),
            AuditEvent(
                type="analysis.requested",
                analysis_id="h1",
                policy_id=POLICY,
                data={
                    "features": [hostile],
                    "policy": {"mode": "audit", "reason": hostile},
                },
                **common,
            ),
            AuditEvent(
                type="tags.filtered",
                analysis_id="h1",
                data={"tags": {"dropped": [{"name": hostile, "rule": hostile}]}},
                **common,
            ),
            AuditEvent(
                type="analysis.failed",
                analysis_id="h1",
                data={"status_code": 500, "error_code": hostile},
                **common,
            ),
            AuditEvent(type="analysis.denied", data={"reason": hostile}, **common),
        ):
            store.append(event)
        out = tmp_path / "hostile.pdf"

        generate_report(
            store, since="2026-03-01", until="2026-03-31", out=out, generated_at=MADE
        )
        generate_report(
            store,
            since="2026-03-01",
            until="2026-03-31",
            out=tmp_path / "hostile.html",
            format="html",
            generated_at=MADE,
        )
        text = " ".join(_text(pypdf.PdfReader(out)).split())
        html = (tmp_path / "hostile.html").read_text()

        assert "1337" not in text
        assert "<script>" not in html
        assert "<img src=" not in html
        # Ordinary values give 13 or 14 pages (the maps take three); a value clipped to
        # 200 characters wraps over a few lines in each cell, no more.
        # Clipped to 200 characters, an unbreakable value still fills narrow cells
        # (purpose, actor, tag, reason...) line after line: a few pages, not dozens.
        assert len(pypdf.PdfReader(out).pages) <= 20
        assert "W" * 10_000 not in text
        assert ("{{ 7 * 191 }}" in text) == hostile.startswith("{{")

    @pytest.mark.parametrize(
        "url",
        [
            "http://127.0.0.1:1/x.css",
            "https://example.com/a.png",
            "file:///etc/passwd",
            "ftp://example.com/x",
        ],
    )
    def test_fetcher_refuses(self, url: str) -> None:
        """The network and files outside the templates folder are refused."""
        fetcher = TemplateOnlyFetcher(find_templates())

        with pytest.raises(URLRefusedError):
            fetcher.fetch(url)

        assert [url] == fetcher.refused

    def test_fetcher_serves_templates(self) -> None:
        """The stylesheet next to the templates is served."""
        folder = find_templates()

        response = TemplateOnlyFetcher(folder).fetch((folder / "report.css").as_uri())

        assert b"@page" in response.read()


class TestDegraded:
    """An empty period and a broken chain still give a report that says so."""

    def test_empty_period(self, store_url: str, tmp_path: Path) -> None:
        """No event in the period: the cover says so."""
        generate_report(
            store_url, since="2025-01-01", until="2025-01-31", out=tmp_path / "e.pdf"
        )

        cover = pypdf.PdfReader(tmp_path / "e.pdf").pages[0].extract_text()
        assert "No events were recorded in this period" in " ".join(cover.split())

    def test_broken_chain(self, store_url: str, tmp_path: Path) -> None:
        """A changed event: the report renders and its cover says NOT VERIFIED."""
        path = store_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as conn:
            conn.execute("DROP TRIGGER va_events_no_update")
            conn.execute(
                "UPDATE va_events SET envelope = replace(envelope, 'claims', 'claimz')"
                " WHERE sequence = 1"
            )
        conn.close()

        reader = _pdf(store_url, tmp_path / "b.pdf")

        cover = " ".join(reader.pages[0].extract_text().split())
        assert "NOT VERIFIED" in cover
        assert "sequence 1" in cover


def _html_text(data) -> str:
    """The rendered report's text, tags dropped and white space collapsed."""
    import re

    from vision_audit.report.render import render_html

    html = render_html(data, templates=find_templates())
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


class TestWording:
    """Sentences read right for 0, 1 and many, and shares of nothing are n/a."""

    def test_empty_period_has_no_zero_percent(self, store_url: str) -> None:
        """With 0 calls, rates show n/a and the consent sentence says why."""
        data = build_report(store_url, since="2025-01-01", until="2025-01-31")

        text = _html_text(data)

        assert (None, None, None) == (
            data.consent_coverage,
            data.success_rate,
            data.review.override_rate,
        )
        assert "0.0%" not in text
        assert "Consent coverage (calls that needed it) n/a" in text
        assert "Override rate n/a" in text
        assert "No call was sent to the service in this period" in text
        assert "0 of the 0 calls" not in text

    def test_singular(self, store_url: str) -> None:
        """One person, one purge, one exception: singular nouns and verbs."""
        import dataclasses

        data = build_report(store_url, since="2026-03-01", until="2026-03-31")
        one = dataclasses.replace(
            data,
            people_detected=1,
            content_purged_events=1,
            subjects_erased=1,
            exceptions_total=1,
        )

        text = _html_text(one)

        assert "1 person was detected above the confidence threshold" in text
        assert "1 retention purge and 1 subject erasure were recorded" in text
        assert "1 exception in total" in text

    def test_plural(self, store_url: str) -> None:
        """Many people, and none: plural nouns and verbs."""
        import dataclasses

        data = build_report(store_url, since="2026-03-01", until="2026-03-31")

        many = _html_text(dataclasses.replace(data, people_detected=3))
        none = _html_text(dataclasses.replace(data, people_detected=0))

        assert "3 people were detected" in many
        assert "0 people were detected" in none


class TestCommand:
    """vision-audit report."""

    def test_writes(self, store_url: str, tmp_path: Path, capsys) -> None:
        """Exit 0, the path on stdout, progress on stderr."""
        out = tmp_path / "r.pdf"

        code = _report(store_url, out, quiet=False)

        captured = capsys.readouterr()
        assert 0 == code
        assert str(out) in captured.out
        assert "verifying" in captured.err
        assert out.read_bytes().startswith(b"%PDF")

    @pytest.mark.parametrize(
        "argv",
        [
            ["--since", "2026-03-01", "--until", "2026-03-31"],
            [
                "--store",
                "sqlite:///nowhere.db",
                "--since",
                "2026-03-01",
                "--until",
                "2026-03-31",
            ],
            ["--store", "STORE", "--since", "yesterday", "--until", "2026-03-31"],
        ],
    )
    def test_bad_usage(self, store_url, tmp_path, monkeypatch, argv) -> None:
        """No store, a missing store, a bad date: exit 2."""
        monkeypatch.delenv("VISION_AUDIT_STORE", raising=False)
        argv = [store_url if a == "STORE" else a for a in argv]

        code = main(["report", *argv, "--out", str(tmp_path / "r.pdf")])

        assert 2 == code


def _report(store_url: str, out: Path, *extra: str, quiet: bool = True) -> int:
    return main(
        [
            "report",
            "--store",
            store_url,
            "--since",
            "2026-03-01",
            "--until",
            "2026-03-31",
            "--out",
            str(out),
            *(["--quiet"] if quiet else []),
            *extra,
        ]
    )


def _tamper(store_url: str) -> None:
    path = store_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TRIGGER va_events_no_update")
        conn.execute(
            "UPDATE va_events SET envelope = replace(envelope, 'claims', 'claimz')"
            " WHERE sequence = 1"
        )
    conn.close()


@pytest.fixture(name="signed_store")
def _signed_store(tmp_path: Path) -> tuple[str, Path, Path]:
    """A store whose checkpoints are signed: (URL, its public key, another key)."""
    from vision_audit.store import SQLiteAuditStore
    from vision_audit.store._keys import generate_signing_key, public_key_pem

    key, other = generate_signing_key(), generate_signing_key()
    public, stranger = tmp_path / "signing.pub", tmp_path / "stranger.pub"
    public.write_bytes(public_key_pem(key.public_key()))
    stranger.write_bytes(public_key_pem(other.public_key()))
    path = tmp_path / "signed.db"
    with SQLiteAuditStore(path, signing_key=key, checkpoint_every=3) as store:
        for event in sample_events():
            store.append(event)
    return f"sqlite:///{path}", public, stranger


class TestCommandExitCodes:
    """vision-audit report tells cron and systemd when something is wrong."""

    def test_not_verified_exits_1(self, store_url: str, tmp_path: Path, capsys) -> None:
        """A store that does not verify: the report is written, then exit 1 and why."""
        _tamper(store_url)
        out = tmp_path / "r.pdf"

        code = _report(store_url, out)

        captured = capsys.readouterr()
        assert 1 == code
        assert out.read_bytes().startswith(b"%PDF")
        assert str(out) in captured.out
        assert "error: the store did not verify at sequence 1" in captured.err
        assert "NOT VERIFIED" in captured.err

    def test_public_key_trusted(self, signed_store, tmp_path: Path, capsys) -> None:
        """--public-key checks checkpoints against it: no 'keys in the store' limit."""
        url, public, _ = signed_store
        out = tmp_path / "r.pdf"

        code = _report(url, out, "--public-key", str(public))
        without = _report(url, tmp_path / "w.pdf")

        assert (0, 0) == (code, without)
        trusted = " ".join(_text(pypdf.PdfReader(out)).split())
        stored = " ".join(_text(pypdf.PdfReader(tmp_path / "w.pdf")).split())
        assert "stored in the store itself" in stored
        assert "stored in the store itself" not in trusted
        assert "VERIFIED against the key given to the report" in trusted
        assert "signed through event" in trusted
        assert "NOT AUTHENTICATED" not in trusted
        assert "NOT AUTHENTICATED" in stored
        assert "keys kept in the store itself" in stored
        assert "VERIFIED against" not in stored

    def test_public_key_of_someone_else(
        self, signed_store, tmp_path: Path, capsys
    ) -> None:
        """A key that signed nothing: the checkpoints are not trusted, exit 1."""
        url, _, stranger = signed_store

        code = _report(url, tmp_path / "r.pdf", "--public-key", str(stranger))

        assert 1 == code
        assert "which is not trusted" in capsys.readouterr().err

    def test_public_key_unreadable(
        self, store_url: str, tmp_path: Path, capsys
    ) -> None:
        """A key file that is missing or not a key is bad usage naming it."""
        (tmp_path / "bad.pub").write_text("not a key")

        missing = _report(store_url, tmp_path / "r.pdf", "--public-key", "nope.pub")
        missing_err = capsys.readouterr().err
        bad = _report(
            store_url, tmp_path / "r.pdf", "--public-key", str(tmp_path / "bad.pub")
        )
        bad_err = capsys.readouterr().err

        assert (2, 2) == (missing, bad)
        assert "--public-key: cannot read the public key file nope.pub" in missing_err
        assert "bad.pub" in bad_err
        assert not (tmp_path / "r.pdf").exists()

    @pytest.mark.parametrize("suffix", ["", "/"])
    def test_out_folder(self, store_url: str, tmp_path: Path, capsys, suffix) -> None:
        """--out naming a folder is refused, naming a file in it instead."""
        folder = tmp_path / "reports"
        if not suffix:
            folder.mkdir()

        code = main(
            ["report", "--store", store_url, "--since", "2026-03-01", "--until",
             "2026-03-31", "--out", f"{folder}{suffix}"]
        )  # fmt: skip

        err = capsys.readouterr().err
        assert 2 == code
        assert (
            f"is a folder; give a file name in it, such as {folder / 'report.pdf'}"
            in err
        )
        assert not folder.is_file()

    def test_until_error_names_what_was_typed(
        self, store_url: str, tmp_path, capsys
    ) -> None:
        """An empty period names the dates as typed, not the end of the until day."""
        code = main(
            ["report", "--store", store_url, "--since", "2026-11-02", "--until",
             "2026-11-01", "--out", str(tmp_path / "r.pdf")]
        )  # fmt: skip

        err = capsys.readouterr().err
        assert 2 == code
        assert "until 2026-11-01 is not after since 2026-11-02" in err
        assert "2026-11-02T00:00" not in err


@pytest.mark.parametrize(
    ("count", "nouns", "expected"),
    [
        (0, ("tag",), "0 tags"),
        (1, ("object",), "1 object"),
        (2, ("result",), "2 results"),
        (1, ("analysis", "analyses"), "1 analysis"),
        (1234, ("analysis", "analyses"), "1,234 analyses"),
    ],
)
def test_counted(count: int, nouns: tuple[str, ...], expected: str) -> None:
    """Counts in the report's sentences agree with their nouns: no '1 objects'."""
    from vision_audit.report.aggregate import counted

    assert expected == counted(count, *nouns)


def test_unreadable_stored_key_is_named() -> None:
    """A public key in the store that does not parse is shown as such, not raised."""
    from vision_audit.report.query import _fingerprint

    class _Store:
        def list_public_keys(self):
            msg = "key k1 is not an Ed25519 public key"
            raise ValueError(msg)

    assert (("?", "unreadable: key k1 is not an Ed25519 public key"),) == _fingerprint(
        _Store()
    )


def test_huge_values_are_clipped(tmp_path: Path) -> None:
    """A 100,000-character tag is clipped in the PDF's tables, whole in its JSON."""
    from vision_audit.models import AuditEvent
    from vision_audit.report.aggregate import MAX_TEXT

    url = f"sqlite:///{tmp_path / 'audit.db'}"
    huge = "x" * 100_000
    store = open_store(url)
    for event in sample_events():
        store.append(event)
    store.append(
        AuditEvent(
            type="tags.filtered",
            time=sample_events()[0].time,
            analysis_id="e" * 32,
            purpose=huge,
            data={
                "tags": {"kept": [], "dropped": [{"name": huge, "rule": "block-list"}]},
                "objects": {"kept": [], "dropped": []},
            },
        )
    )
    store.close()

    reader = _pdf(url, tmp_path / "r.pdf")

    attached = json.loads(reader.attachments["report.json"][0])
    text = _text(reader).replace("\n", "")
    assert huge in [tag["name"] for tag in attached["top_dropped_tags"]]
    assert "x" * (MAX_TEXT - 1) + "\N{HORIZONTAL ELLIPSIS}" in text
    assert "x" * (MAX_TEXT + 1) not in text


def test_outcomes_count_for_the_period_of_their_request(tmp_path: Path) -> None:
    """A call asked before the period is not its call; one unanswered is said so."""
    import datetime as dt

    from vision_audit.models import AuditEvent

    url = f"sqlite:///{tmp_path / 'audit.db'}"
    since = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    until = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    minute = dt.timedelta(minutes=1)
    store = open_store(url)
    for analysis_id, kind, when in [
        ("a" * 32, "analysis.requested", since - minute),  # asked before
        ("a" * 32, "analysis.completed", since + minute),  # answered in the period
        ("b" * 32, "analysis.requested", since + minute),
        ("b" * 32, "analysis.completed", since + 2 * minute),
        ("c" * 32, "analysis.requested", until - minute),  # answered after
        ("d" * 32, "analysis.requested", since - minute),  # asked before
        ("d" * 32, "analysis.failed", since + minute),  # failed in the period
    ]:
        store.append(
            AuditEvent(
                type=kind,
                time=when,
                analysis_id=analysis_id,
                purpose="p",
                data={"status_code": 500} if kind == "analysis.failed" else {},
            )
        )
    store.close()

    data = build_report(url, since="2026-03-01", until="2026-03-31")

    assert (2, 1, 0) == (data.calls, data.completed, data.failed)
    assert () == data.errors  # the service-errors table agrees with the volumes
    assert data.success_rate is not None
    assert data.success_rate <= 100.0
    summary = " ".join(f.text for f in data.findings)
    assert "1 call had no answer recorded by the period's end" in summary


def test_long_tables_are_capped(tmp_path: Path) -> None:
    """120 purposes: the PDF's tables show 50 and say how many more; JSON has all."""
    from vision_audit.models import AuditEvent
    from vision_audit.report.aggregate import TABLE_ROWS

    url = f"sqlite:///{tmp_path / 'audit.db'}"
    store = open_store(url)
    when = sample_events()[0].time
    for n in range(120):
        store.append(
            AuditEvent(
                type="analysis.requested",
                time=when,
                analysis_id=f"{n:032x}",
                purpose=f"purpose-{n:03}",
                actor=f"svc-{n:03}",
            )
        )
    store.close()

    reader = _pdf(url, tmp_path / "r.pdf")

    text = " ".join(_text(reader).split())
    attached = json.loads(reader.attachments["report.json"][0])
    assert f"… and {120 - TABLE_ROWS} more, listed in the attached report.json" in text
    assert 120 == len(attached["by_purpose"])
    assert "purpose-119" not in text


class TestWitnessedCheckpoint:
    """The integrity page names the log, its root, its witnesses and the note."""

    def test_cosigned_checkpoint_stated(self, tmp_path: Path) -> None:
        """A cosigned checkpoint: the witness, the root and the note to keep."""
        from vision_audit.store import SQLiteAuditStore
        from vision_audit.store._keys import generate_signing_key
        from vision_audit.store._note import NoteVerifier
        from vision_audit.witness import Witness, cosign_latest

        key = generate_signing_key()
        path = tmp_path / "w.db"
        with SQLiteAuditStore(path, signing_key=key, origin="example.com/log") as store:
            for event in sample_events():
                store.append(event)
            store.sign_checkpoint()
            witness = Witness(
                name="compliance.example.com/w1",
                key=generate_signing_key(),
                state=tmp_path / "w1.json",
                logs=[NoteVerifier.for_key("example.com/log", key.public_key())],
            )
            cosign_latest(store, witness)
            root = store.list_checkpoints()[-1].root

        text = " ".join(_text(_pdf(f"sqlite:///{path}", tmp_path / "r.pdf")).split())

        assert "Log (origin) example.com/log" in text
        assert "Cosigned by witness compliance.example.com/w1" in text
        assert root in text.replace(" ", "")
        assert "The checkpoint to keep" in text

    def test_no_witness_said(self, store_url: str, tmp_path: Path) -> None:
        """Without a cosignature the page says nobody else saw the checkpoint."""
        text = " ".join(_text(_pdf(store_url, tmp_path / "r.pdf")).split())

        assert "none kept with this checkpoint" in text or "none signed" in text
