"""The compliance report: figures from SQL, rendered to a PDF/A that legal can file."""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING

import pypdf
import pytest
from tests.report.conftest import HOSTILE_TAG, POLICY, sample_events
from vision_audit.__main__ import main
from vision_audit.report import build_report, generate_report
from vision_audit.report.pdf import TemplateOnlyFetcher, URLRefusedError
from vision_audit.report.render import find_templates
from vision_audit.store import open_store

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(name="store_url")
def _store_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    store = open_store(url)
    for event in sample_events():
        store.append(event)
    store.close()
    return url


def _pdf(store_url: str, out: Path, **options) -> pypdf.PdfReader:
    generate_report(
        store_url,
        since="2026-03-01",
        until="2026-03-31",
        out=out,
        organization="Contoso Claims",
        **options,
    )
    return pypdf.PdfReader(out)


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

    def test_without_content_digests(self, store_url: str) -> None:
        """Links and signatures only: still verified, and the cover says what not."""
        data = build_report(
            store_url, since="2026-03-01", until="2026-03-31", verify_content=False
        )

        assert data.integrity.verified
        assert (
            "VERIFIED: every link and signature matches; personal content digests "
            "were not checked"
        ) == data.integrity.status

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
        assert "VERIFIED" in reader.pages[0].extract_text()
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
        """PDF/A-3b: XMP conformance and the attachment's relationship."""
        _pdf(store_url, tmp_path / "r.pdf", pdf_options={"uncompressed_pdf": True})

        raw = (tmp_path / "r.pdf").read_bytes()
        assert b"pdfaid:part" in raw or b"<pdfaid:part>3" in raw
        assert b"/AFRelationship /Data" in raw


class TestSafety:
    """Values from the store are text; resources come from the templates only."""

    def test_hostile_tags_are_text(self, store_url: str, tmp_path: Path) -> None:
        """A tag carrying HTML or CSS renders as plain text, in HTML and PDF."""
        generate_report(
            store_url,
            since="2026-03-01",
            until="2026-03-31",
            out=tmp_path / "r.html",
            format="html",
        )
        reader = _pdf(store_url, tmp_path / "r.pdf")

        html = (tmp_path / "r.html").read_text()
        assert HOSTILE_TAG not in html
        assert "&lt;img src=file:///etc/passwd&gt;" in html
        assert "<style>*" not in html
        assert HOSTILE_TAG in "".join(_text(reader).split("\n"))

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


class TestCommand:
    """vision-audit report."""

    def test_writes(self, store_url: str, tmp_path: Path, capsys) -> None:
        """Exit 0, the path on stdout, progress on stderr."""
        out = tmp_path / "r.pdf"

        code = main(
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
            ]
        )

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
