"""Guidance and regulation maps: data files, their schema, their rules, their pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pypdf
import pytest
from tests.report.conftest import MADE, sample_events, sample_store
from vision_audit.__main__ import main
from vision_audit.exceptions import MappingError, ReportRenderError
from vision_audit.models import AuditEvent
from vision_audit.report import build_report, generate_report
from vision_audit.report._figures import FIGURES, SECTIONS, named_figures
from vision_audit.report._rules import RuleSyntaxError, parse_rule
from vision_audit.report.mappings import (
    MAX_MAPPING_BYTES,
    STATUSES,
    load_mapping,
    load_mappings,
)
from vision_audit.report.render import find_templates, render_html
from vision_audit.store import InMemoryAuditStore

ISO = """\
[framework]
id = "iso-42001"
title = "ISO/IEC 42001:2023 Annex A (selection)"
publisher = "Contoso compliance office"
version = "2023"
order = 40

[[item]]
id = "A.6.2.8"
title = "AI system recording of event logs"
requirement = "Event logs are recorded over the system's use."
sections = ["integrity", "appendix"]
evidence = "{integrity.events} events verified; {exceptions} exceptions listed."
evidenced_when = "integrity.intact == 1 and integrity.authenticated == 1"
partly_when = "integrity.intact == 1"

[[item]]
id = "A.9.2"
title = "Processes for responsible use"
requirement = "Uses outside the stated purposes are refused."
sections = ["consent"]
evidence = "{denied} calls refused before sending."
evidenced_when = "denied > 0"
not_applicable_when = "calls == 0"
"""


@pytest.fixture(name="store_url")
def _store_url(tmp_path: Path) -> str:
    return sample_store(tmp_path)


def _write(folder: Path, text: str, name: str = "own.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _report(store_url: str, out: Path, maps: Path) -> int:
    """Run ``vision-audit report`` over March 2026 with ``--mappings maps``."""
    period = ["--since", "2026-03-01", "--until", "2026-03-31"]
    files = ["--out", str(out), "--mappings", str(maps)]
    return main(["report", "--store", store_url, *period, *files, "--quiet"])


class TestShipped:
    """The maps shipped with the package: Microsoft's guidance, AI Act, GDPR."""

    def test_frameworks(self) -> None:
        """Three files, in order, Microsoft's guidance cited by title and date."""
        frameworks = load_mappings()

        assert ["microsoft-image-analysis", "eu-ai-act", "gdpr"] == [
            f.id for f in frameworks
        ]
        guidance = frameworks[0]
        assert (
            "Guidance for integration and responsible use with Image Analysis"
            == guidance.title
        )
        assert "15 October 2025" in guidance.version
        assert [f"G{n}" for n in range(1, 10)] == [i.id for i in guidance.items]
        assert ["Art. 12", "Art. 14", "Art. 19", "Art. 26(5)", "Art. 26(6)"] == [
            i.id for i in frameworks[1].items
        ]
        assert [
            "Art. 5(1)(c)",
            "Art. 5(1)(e)",
            "Art. 6",
            "Art. 9",
            "Art. 17",
            "Art. 30",
            "Art. 32",
        ] == [i.id for i in frameworks[2].items]

    def test_statuses_of_the_sample(self, store_url: str) -> None:
        """Each status follows from the stated rule over the report's figures."""
        data = build_report(store_url, since="2026-03-01", until="2026-03-31")

        status = {
            (m.id, row.item): (row.status, row.rule)
            for m in data.maps
            for row in m.items
        }
        # 2 flagged, 1 decided, 1 overdue: oversight only partly evidenced.
        assert ("partly", "review.decided > 0") == status[
            ("microsoft-image-analysis", "G4")
        ]
        # Health tags found and routed to review.
        assert "evidenced" == status[("gdpr", "Art. 9")][0]
        # No purge, no erasure.
        assert ("no evidence", "") == status[("gdpr", "Art. 5(1)(e)")]
        # Signatures not checked against a key given to the report.
        assert "partly" == status[("gdpr", "Art. 32")][0]
        row = data.maps[0].items[3]
        assert row.evidence.startswith("2 analyses flagged for review: 1 decided")

    def test_six_months_of_logs(self) -> None:
        """AI Act log keeping: evidenced once the verified log reaches 183 days back."""
        statuses = []
        for age in (200, 100):
            store = InMemoryAuditStore()
            store.append(
                AuditEvent(
                    type="analysis.requested",
                    purpose="claims",
                    time=datetime(2026, 4, 1, tzinfo=UTC) - timedelta(days=age),
                )
            )
            for event in sample_events():
                store.append(event)
            data = build_report(store, since="2026-03-01", until="2026-03-31")
            rows = {(m.id, row.item): row for m in data.maps for row in m.items}
            statuses.append(
                (
                    data.log_kept_days,
                    rows[("eu-ai-act", "Art. 19")].status,
                    rows[("eu-ai-act", "Art. 26(6)")].status,
                )
            )

        assert [(200, "evidenced", "evidenced"), (100, "partly", "partly")] == statuses

    def test_every_figure_is_computed(self, store_url: str) -> None:
        """The figures rules may name are exactly those the report computes."""
        data = build_report(store_url, since="2026-03-01", until="2026-03-31")

        figures = named_figures(
            {f: getattr(data, f) for f in data.__dataclass_fields__}
        )

        assert set(FIGURES) == set(figures)
        assert 4 == figures["calls"]
        assert figures["consent.not_needed_purposes"] == 1

    def test_page_of_the_evidence(self, store_url: str, tmp_path: Path) -> None:
        """Where the evidence is: a section and the page it starts on."""
        out = tmp_path / "r.pdf"
        generate_report(
            store_url,
            since="2026-03-01",
            until="2026-03-31",
            out=out,
            generated_at=MADE,
        )

        pages = [page.extract_text() for page in pypdf.PdfReader(out).pages]
        text = " ".join(" ".join(pages).split())
        number = int(re.search(r"Human review, p\. (\d+)", text).group(1))
        assert "\nHuman review\n" in pages[number - 1]
        assert "Analyses flagged for review" in pages[number - 1]
        assert "Analyses flagged for review" not in pages[number - 2]


class TestRules:
    """The rule language: comparisons joined by and/or, nothing evaluated."""

    @pytest.mark.parametrize(
        ("rule", "figures", "holds"),
        [
            ("calls > 0", {"calls": 3}, True),
            ("calls > 0 and denied == 0", {"calls": 3, "denied": 1}, False),
            ("calls == 0 or denied >= 1", {"calls": 3, "denied": 1}, True),
            ("(a < 1 or b < 1) and c != 2", {"a": 5, "b": 0, "c": 3}, True),
            ("a <= b", {"a": 2, "b": 2}, True),
            ("rate >= 99.5", {"rate": None}, False),
            ("rate < 99.5", {"rate": None}, False),
            ("a > 1 or b > 1 and c > 1", {"a": 2, "b": 0, "c": 0}, True),
        ],
    )
    def test_holds(self, rule: str, figures: dict, holds: bool) -> None:
        """And binds tighter than or; a figure without a value holds no comparison."""
        assert holds == parse_rule(rule).holds(figures)

    @pytest.mark.parametrize(
        ("rule", "message"),
        [
            ("__import__('os').system('id')", "at character 1"),
            ("calls.__class__ > 0", "at character 6"),
            ("calls > 0 and", "found the end"),
            ("calls 0", "expected a comparison"),
            ("calls > 0 denied > 0", "expected 'and', 'or' or the end"),
            ("(calls > 0", "expected ')'"),
            ("calls + 1 > 0", "'+ 1 > 0' is not understood"),
            ("calls > -1", "is not understood"),
            ("(" * 9 + "calls > 0" + ")" * 9, "nested deeper than 8"),
            ("calls > 0 or " * 60 + "calls > 0", "at most 500"),
            ("   ", "empty"),
            ("lambda > 0", "unknown figure 'lambda'"),
        ],
    )
    def test_refused(self, rule: str, message: str) -> None:
        """Anything but comparisons of known figures is refused, saying where."""
        with pytest.raises(RuleSyntaxError, match=re.escape(message)):
            parse_rule(rule, known=frozenset(FIGURES))


class TestOwnFramework:
    """An organisation adds its own map without code."""

    def test_library(self, store_url: str, tmp_path: Path) -> None:
        """A folder of TOML files given to build_report adds its framework last."""
        _write(tmp_path / "maps", ISO)

        data = build_report(
            store_url,
            since="2026-03-01",
            until="2026-03-31",
            mappings=[tmp_path / "maps"],
        )

        iso = data.maps[-1]
        assert ("iso-42001", "map-iso-42001", "own.toml") == (
            iso.id,
            iso.anchor,
            iso.source,
        )
        assert [("A.6.2.8", "partly"), ("A.9.2", "evidenced")] == [
            (row.item, row.status) for row in iso.items
        ]
        assert iso.items[1].evidence == "1 calls refused before sending."

    def test_hostile_text_is_text(self, store_url: str, tmp_path: Path) -> None:
        """HTML, CSS url() and Jinja syntax in a map's text render as text."""
        hostile = ISO.replace(
            'title = "AI system recording of event logs"',
            "title = \"<img src='file:///etc/passwd'> {{ 7 * 7 }}\"",
        ).replace(
            'publisher = "Contoso compliance office"',
            'publisher = "x</td><style>*{background:url(http://127.0.0.1:1/)}</style>"',
        )
        _write(tmp_path / "maps", hostile)
        data = build_report(
            store_url,
            since="2026-03-01",
            until="2026-03-31",
            mappings=[tmp_path / "maps"],
        )

        html = render_html(data, templates=find_templates())

        assert "&lt;img src=&#39;file:///etc/passwd&#39;&gt; {{ 7 * 7 }}" in html
        assert "<style>*" not in html
        assert "<img src='file" not in html

    def test_replaces_a_shipped_one(self, tmp_path: Path) -> None:
        """A file whose framework id is shipped replaces the shipped map."""
        _write(tmp_path, ISO.replace('id = "iso-42001"', 'id = "gdpr"'))

        frameworks = load_mappings([tmp_path])

        gdpr = next(f for f in frameworks if f.id == "gdpr")
        assert "own.toml" == gdpr.source
        assert 3 == len(frameworks)

    def test_command(self, store_url: str, tmp_path: Path, capsys) -> None:
        """vision-audit report --mappings DIR: the framework, its items, their pages."""
        _write(tmp_path / "maps", ISO)
        out = tmp_path / "r.pdf"

        code = _report(store_url, out, tmp_path / "maps")

        assert 0 == code, capsys.readouterr().err
        text = " ".join(
            " ".join(p.extract_text() for p in pypdf.PdfReader(out).pages).split()
        )
        assert "ISO/IEC 42001:2023 Annex A (selection)" in text
        assert re.search(r"Consent and purpose, p\. \d+", text)


def _field(name: str, value: str) -> str:
    """ISO with one field of its second item set to *value* (TOML)."""
    lines = ISO.splitlines()
    second = max(i for i, line in enumerate(lines) if line == "[[item]]")
    head, tail = lines[:second], lines[second:]
    tail = [line for line in tail if not line.startswith(f"{name} =")]
    return "\n".join([*head, *tail, f"{name} = {value}", ""])


class TestBadFiles:
    """A broken or hostile mapping file is refused, naming file, item and field."""

    @pytest.mark.parametrize(
        ("text", "where", "problem"),
        [
            ("[framework\n", "(file)", "not TOML"),
            ("x = 1\n", "(top level)", "unknown field 'x'"),
            ("[framework]\n", "(top level).item", "missing"),
            (
                ISO.replace('publisher = "Contoso compliance office"\n', ""),
                "framework.publisher",
                "missing",
            ),
            (
                ISO.replace('id = "iso-42001"', 'id = "ISO 42001!"'),
                "framework.id",
                "does not match",
            ),
            (
                ISO.replace("order = 40", "order = true"),
                "framework.order",
                "not a whole number",
            ),
            (
                _field("evidenced_when", '"denied > O"'),
                "item[1] 'A.9.2'.evidenced_when",
                "not understood",
            ),
            (
                _field("evidenced_when", '"os.system > 0"'),
                "item[1] 'A.9.2'.evidenced_when",
                "unknown figure 'os.system'",
            ),
            (
                _field("sections", '["nowhere"]'),
                "item[1] 'A.9.2'.sections[0]",
                "not a section of the report",
            ),
            (
                _field("sections", '"consent"'),
                "item[1] 'A.9.2'.sections",
                "non-empty array",
            ),
            (
                _field("evidence", '"{__class__} {calls}"'),
                "item[1] 'A.9.2'.evidence",
                "names no figure",
            ),
            (
                _field("evidence", '"{calls"'),
                "item[1] 'A.9.2'.evidence",
                "brace",
            ),
            (
                _field("title", "42"),
                "item[1] 'A.9.2'.title",
                "expected a string, got int",
            ),
            (
                _field("title", '"a\\u001b[2Jb"'),
                "item[1] 'A.9.2'.title",
                "control character \\x1b",
            ),
            (
                _field("title", '"' + "x" * 10_000 + '"'),
                "item[1] 'A.9.2'.title",
                "10000 characters long",
            ),
            (
                _field("colour", '"red"'),
                "item[1] 'A.9.2'",
                "unknown field 'colour'",
            ),
            (
                ISO.replace('id = "A.9.2"', 'id = "A.6.2.8"'),
                "item[1].id",
                "used by an earlier item",
            ),
            (
                ISO.replace('evidenced_when = "denied > 0"\n', ""),
                "item[1] 'A.9.2'",
                "neither evidenced_when nor partly_when",
            ),
            ("x = " + "[" * 5000 + "]" * 5000 + "\n", "(file)", "nested"),
            ("\xff\xfe", "(file)", "not TOML"),
        ],
    )
    def test_refused(self, tmp_path: Path, text: str, where: str, problem: str) -> None:
        """The message names the file, the item and field, and the problem."""
        path = _write(tmp_path, text, name="bad.toml")

        with pytest.raises(MappingError) as caught:
            load_mapping(path)

        assert (caught.value.path, caught.value.where) == ("bad.toml", where)
        assert str(caught.value).startswith(f"bad.toml: {where}: ")
        assert problem in str(caught.value)
        assert isinstance(caught.value, ReportRenderError)

    def test_not_utf8(self, tmp_path: Path) -> None:
        """Bytes that are not UTF-8 are named as such."""
        path = tmp_path / "bad.toml"
        path.write_bytes(b'[framework]\nid = "\xff"\n')

        with pytest.raises(MappingError, match="not UTF-8"):
            load_mapping(path)

    def test_too_large(self, tmp_path: Path) -> None:
        """A file over the size limit is refused before it is parsed."""
        path = _write(tmp_path, "# " + "x" * MAX_MAPPING_BYTES + "\n", "big.toml")

        with pytest.raises(MappingError, match=r"big\.toml: \(file\): .* bytes"):
            load_mapping(path)

    def test_not_a_folder(self, tmp_path: Path) -> None:
        """--mappings names a folder; a file or nothing there is refused."""
        with pytest.raises(MappingError, match="not a folder"):
            load_mappings([tmp_path / "missing"])

    def test_same_id_twice_in_a_folder(self, tmp_path: Path) -> None:
        """Two files of one folder mapping the same framework are refused."""
        _write(tmp_path, ISO, "a.toml")
        _write(tmp_path, ISO, "b.toml")

        with pytest.raises(MappingError, match=r"also the id of a\.toml"):
            load_mappings([tmp_path])

    def test_command_exits_2_before_reading_the_store(
        self, store_url: str, tmp_path: Path, capsys
    ) -> None:
        """A bad map is bad usage: exit 2, the file and field named, no PDF."""
        _write(tmp_path / "maps", _field("partly_when", '"calls >> 1"'), "bad.toml")
        out = tmp_path / "r.pdf"

        code = _report(store_url, out, tmp_path / "maps")

        err = capsys.readouterr().err
        assert 2 == code
        assert "bad.toml: item[1] 'A.9.2'.partly_when: at character 8" in err
        assert not out.exists()


def test_example_loads() -> None:
    """The ISO/IEC 42001 example of examples/report/mappings/ is a valid map."""
    folder = Path(__file__).parents[2] / "examples" / "report" / "mappings"

    frameworks = load_mappings([folder], shipped=False)

    assert ["iso-42001"] == [f.id for f in frameworks]
    assert ["A.6.2.6", "A.6.2.8", "A.9.4"] == [i.id for i in frameworks[0].items]


def test_documented() -> None:
    """Every figure and section a map may name is listed in docs/report.md."""
    docs = (Path(__file__).parents[2] / "docs" / "report.md").read_text()

    assert ("evidenced", "partly", "no evidence", "not applicable") == STATUSES
    assert [] == [
        name for name in FIGURES if f"| `{name}` | {FIGURES[name]} |" not in docs
    ]
    assert [] == [
        name for name in SECTIONS if f"| `{name}` | {SECTIONS[name]} |" not in docs
    ]
