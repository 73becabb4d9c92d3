"""The PDF is tagged PDF/A-3a: its structure tree, read back with pikepdf."""

from __future__ import annotations

import itertools
import json
import re
from typing import TYPE_CHECKING, Any

import pikepdf
import pytest
from tests.report.conftest import MADE, sample_store
from vision_audit.report import build_report, write_report
from vision_audit.report.render import find_templates, render_html

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from vision_audit.report import ReportData


class Tagged:
    """A rendered report, its HTML and its structure elements in reading order."""

    def __init__(self, data: ReportData, path: Path) -> None:
        """Render *data* to *path* and read its structure tree."""
        write_report(data, out=path)
        self.data = data
        self.html = render_html(data, templates=find_templates())
        self.pdf = pikepdf.open(path)
        self.elements = list(_walk(self.pdf.Root.StructTreeRoot))

    def of_type(self, kind: str) -> list[pikepdf.Dictionary]:
        """The structure elements of one type (``/Table``), in reading order."""
        return [e for e in self.elements if e.S == kind]


def _walk(node: Any) -> Iterator[pikepdf.Dictionary]:
    kids = node.get("/K")
    if kids is None:
        return
    for kid in kids if isinstance(kids, pikepdf.Array) else [kids]:
        if isinstance(kid, pikepdf.Dictionary) and "/S" in kid:
            yield kid
            yield from _walk(kid)


def _descendants(element: pikepdf.Dictionary, kind: str) -> list[pikepdf.Dictionary]:
    return [e for e in _walk(element) if e.S == kind]


@pytest.fixture(name="tagged", scope="module")
def _tagged(tmp_path_factory: pytest.TempPathFactory) -> Tagged:
    folder = tmp_path_factory.mktemp("tagged")
    data = build_report(
        sample_store(folder),
        since="2026-03-01",
        until="2026-03-31",
        organization="Contoso Claims",
        generated_at=MADE,
    )
    return Tagged(data, folder / "r.pdf")


class TestTaggedPDF:
    """Headings, tables, figures, language and attachment, as a reader finds them."""

    def test_pdfa_3a(self, tagged: Tagged) -> None:
        """PDF/A-3, conformance A; marked, in English, and sound to qpdf."""
        with tagged.pdf.open_metadata() as xmp:
            identity = (xmp.get("pdfaid:part"), xmp.get("pdfaid:conformance"))

        assert ("3", "A") == identity
        assert "en" == str(tagged.pdf.Root.Lang)
        assert tagged.pdf.Root.MarkInfo.Marked is True
        assert "/StructTreeRoot" in tagged.pdf.Root
        assert [] == tagged.pdf.check_pdf_syntax()

    def test_headings_in_order(self, tagged: Tagged) -> None:
        """Every section has an H1, subsections H2, and no level is skipped."""
        levels = [
            int(str(e.S)[2:])
            for e in tagged.elements
            if re.fullmatch(r"/H[1-6]", str(e.S))
        ]

        assert 1 == levels[0]
        assert all(b <= a + 1 for a, b in itertools.pairwise(levels))
        assert len(tagged.data.sections) <= levels.count(1)
        assert levels.count(2) >= len(tagged.data.maps)

    def test_every_table_has_header_cells(self, tagged: Tagged) -> None:
        """Each table (each part of one split over pages) has TH cells."""
        tables = tagged.of_type("/Table")

        assert tables
        assert all(_descendants(table, "/TH") for table in tables)

    def test_every_data_cell_names_its_headers(self, tagged: Tagged) -> None:
        """Each TD points at its header cells (/Headers), each TH has an /ID."""
        cells = tagged.of_type("/TD")
        headers = tagged.of_type("/TH")

        assert all(len(cell.A.Headers) >= 1 for cell in cells)
        assert all("/ID" in header for header in headers)

    def test_every_table_has_a_caption(self, tagged: Tagged) -> None:
        """Each HTML table's caption is in the tagged table."""
        captions = [
            table
            for table in tagged.of_type("/Table")
            if _descendants(table, "/Caption")
        ]

        assert tagged.html.count("<table") == len(captions)

    def test_every_figure_has_alternative_text(self, tagged: Tagged) -> None:
        """Each chart's /Alt states its figures, not a word like 'chart'."""
        figures = tagged.of_type("/Figure")
        alts = [str(figure.get("/Alt", "")) for figure in figures]

        assert 2 == len(figures)
        assert alts[0].startswith("Stacked bar chart of calls per UTC day")
        assert "2026-03-02: 3 (1 completed, 1 failed, 1 denied)" in alts[0]
        assert "31 days" in alts[0]
        assert "claims: 2 (2 completed, 0 failed, 0 denied)" in alts[1]

    def test_attachment_kept(self, tagged: Tagged) -> None:
        """The report's JSON is still attached, as the PDF/A-3 associated file."""
        attached = tagged.pdf.attachments["report.json"]

        figures = json.loads(attached.get_file().read_bytes())
        assert tagged.data.report_id == figures["report_id"]
        assert "/Data" == str(attached.obj.AFRelationship)
        assert {"report.json"} == {str(spec.F) for spec in tagged.pdf.Root.AF}
