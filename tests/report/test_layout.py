"""What a reader sees on the page: consent wording, ids, retention, contents."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pypdf
import pytest
from tests.report.conftest import MADE, sample_store
from tests.report.test_postgres import _more_events
from vision_audit.report import build_report, write_report
from vision_audit.report._figures import SECTIONS
from vision_audit.report.render import find_templates, render_html
from vision_audit.store import open_store

if TYPE_CHECKING:
    from pathlib import Path

    from vision_audit.report import ReportData

PERIOD = {"since": "2026-03-01", "until": "2026-03-31"}


def _html_text(data: ReportData) -> str:
    html = render_html(data, templates=find_templates())
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.fixture(name="pages", scope="module")
def _pages(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder = tmp_path_factory.mktemp("layout")
    data = build_report(sample_store(folder), **PERIOD, generated_at=MADE)
    write_report(data, out=folder / "r.pdf")
    return [page.extract_text() for page in pypdf.PdfReader(folder / "r.pdf").pages]


class TestConsent:
    """A purpose that needs no consent reads 'not required', not '0.0%'."""

    def test_not_required(self, tmp_path: Path) -> None:
        """Under an enforcing policy, calls sent without consent needed none."""
        data = build_report(sample_store(tmp_path), **PERIOD)

        rows = {row.purpose: row for row in data.consent}
        text = _html_text(data)
        assert (True, False) == (
            rows["claims"].needs_consent,
            rows["retail"].needs_consent,
        )
        assert (2, 100.0) == (data.consent_needed, data.consent_coverage)
        assert "retail 1 0 not required" in text
        assert not re.search(r"\b0\.0%", text)
        assert (
            "1 call for purposes whose policy asks no consent was sent without one"
            in text
        )

    def test_audit_mode_keeps_the_share(self, tmp_path: Path) -> None:
        """With a call in audit mode, no purpose is assumed free of consent."""
        url = sample_store(tmp_path)
        store = open_store(url)
        for event in _more_events():
            store.append(event)
        store.close()

        data = build_report(url, **PERIOD)

        assert data.audit_mode_calls
        assert all(row.needs_consent for row in data.consent)


class TestPages:
    """The rendered PDF's pages."""

    def test_contents_page_holds_the_summary(self, pages: list[str]) -> None:
        """The contents are followed by the executive summary on the same page."""
        assert pages[1].startswith("Contents")
        assert "Executive summary\n" in pages[1]
        assert "4 calls were made" in " ".join(pages[1].split())

    def test_ids_whole_and_labelled(self, pages: list[str]) -> None:
        """Each id of the appendix is whole, after its label."""
        appendix = " ".join(pages[-1].split())

        assert f"analysis {3:032x}" in appendix
        assert f"trace {4:032x}" in appendix
        assert re.search(r"event [0-9a-f]{32}\b", appendix)

    def test_retention_said_once(self, pages: list[str]) -> None:
        """An empty retention section says so in one sentence."""
        text = " ".join(" ".join(pages).split())
        section = text.split("Retention and erasure Images")[1].split(
            "Policy versions"
        )[0]

        assert 1 == text.count("No retention purge and no subject erasure")
        assert "0 retention purges" not in section

    def test_running_header_names_the_section_at_the_top(
        self, pages: list[str]
    ) -> None:
        """The header names the section the page opens with, not the next one."""
        titles = set(SECTIONS.values())
        checked = 0
        current = [x for x in pages[1].splitlines() if x in titles][-1]
        for text in pages[2:]:
            lines = text.splitlines()
            header = lines[-2].removeprefix("Image analysis compliance report ")
            expected = lines[0] if lines[0] in titles else current

            assert expected == header
            checked += expected != next((x for x in lines if x in titles), expected)
            current = next((x for x in reversed(lines) if x in titles), current)
        assert checked, "no page where a section starts below its top"

    def test_maps_in_the_contents(self, pages: list[str]) -> None:
        """The contents list each map with its page."""
        contents = " ".join(pages[1].split())

        assert re.search(
            r"Guidance for integration and responsible use with Image Analysis \.+ "
            r"\d+",
            contents,
        )
