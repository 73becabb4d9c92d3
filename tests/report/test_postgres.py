"""The report over a PostgreSQL store: the figures of SQLite, to the last digit."""

from __future__ import annotations

import secrets
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import psycopg
import pypdf
import pytest
from tests.report.conftest import HOSTILE_TAG, POLICY, T0, sample_events
from vision_audit.models import AuditEvent
from vision_audit.report import build_report, generate_report
from vision_audit.report.query import parse_period, query_store
from vision_audit.store import open_store

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

PERIOD = {"since": "2026-03-01", "until": "2026-03-31"}
MADE = datetime(2026, 4, 1, tzinfo=UTC)
"""When the compared reports are made: the same moment, not two readings of now."""
# What legitimately differs between two stores holding the same events: their URL,
# the verification of their own chain, the report id that digests both, and the
# moment each report was made (a second apart, now and then).
STORE_DETAILS = {"store", "report_id", "integrity", "generated_at", "generated_iso"}


def _more_events() -> list[AuditEvent]:
    """Events the sample lacks: audit mode, gates, purges, odd values, NULL sorting."""
    when = T0 + timedelta(days=3)
    common: dict[str, Any] = {"policy_id": POLICY, "time": when}
    return [
        # Put in force before the period (named by its last activation before the
        # period's end), and a second policy activated after it (not named).
        *(
            AuditEvent(
                type="policy.activated",
                policy_id=policy,
                time=T0 + timedelta(days=offset),
                data={"name": name, "version": version, "mode": "enforce"},
            )
            for policy, name, version, offset in (
                (POLICY, "claims", "1", -20),
                (POLICY, "claims", "1.1", -10),
                ("sha256:" + "cd" * 32, "later", "2", 40),
            )
        ),
        AuditEvent(
            type="analysis.requested",
            purpose=None,
            analysis_id="a" * 32,
            data={
                "features": ["Read", "people", "caption"],
                "policy": {"mode": "audit", "reason": "consent-missing"},
            },
            **common,
        ),
        AuditEvent(
            type="analysis.failed",
            analysis_id="a" * 32,
            data={"status_code": None, "error_code": "Timeout"},
            **common,
        ),
        AuditEvent(
            type="analysis.failed",
            analysis_id="b" * 32,
            data={"status_code": 429, "error_code": "throttled"},
            **common,
        ),
        AuditEvent(
            type="tags.filtered",
            analysis_id="a" * 32,
            actor="Zed",
            data={
                "tags": {
                    "dropped": [
                        {"name": "Apple", "rule": "block-list"},
                        {"name": "apple", "rule": "block-list"},
                        {"name": "_x", "rule": None},
                        {"name": HOSTILE_TAG, "rule": "block-list"},
                    ]
                },
                "objects": {"dropped": [{"name": "Apple"}]},
            },
            **common,
        ),
        AuditEvent(
            type="analysis.completed",
            analysis_id="a" * 32,
            data={"duration_ms": 7, "flags": [], "results": {"people": {"count": 1}}},
            **common,
        ),
        AuditEvent(type="review.gate_timed_out", analysis_id="a" * 32, **common),
        AuditEvent(type="review.gate_released", analysis_id="b" * 32, **common),
        AuditEvent(
            type="review.required",
            analysis_id="a" * 32,
            data={"review": {"deadline_seconds": 60}, "health_categories": []},
            **common,
        ),
        AuditEvent(
            type="review.decided",
            analysis_id="a" * 32,
            time=when + timedelta(seconds=90, microseconds=123457),
            data={"decision": "approve", "overdue": True},
        ),
        AuditEvent(
            type="review.decided",
            analysis_id="a" * 32,
            time=when + timedelta(seconds=95, microseconds=1),
            data={"decision": "reject", "supersedes": "e" * 32},
        ),
        AuditEvent(
            type="content.purged",
            actor="retention",
            time=when + timedelta(hours=1),
            data={"data_class": "caption", "events": 3, "records": 2},
        ),
    ]


@pytest.fixture(name="stores")
def _stores(tmp_path: Path, postgres_url: str) -> Iterator[tuple[str, str]]:
    """The same events in an SQLite store and in a PostgreSQL store of its own."""
    schema = f"va_report_{secrets.token_hex(6)}"
    urls = (f"sqlite:///{tmp_path / 'audit.db'}", f"{postgres_url}?schema={schema}")
    events = [*sample_events(), *_more_events()]
    for url in urls:
        store = open_store(url)
        try:
            for event in events:
                store.append(event)
        finally:
            store.close()
    try:
        yield urls
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _figures(url: str) -> dict[str, Any]:
    """The report's figures over the period, without the store's own details."""
    data = asdict(
        build_report(url, **PERIOD, organization="Contoso", generated_at=MADE)
    )
    return {k: v for k, v in data.items() if k not in STORE_DETAILS}


class TestPostgres:
    """A PostgreSQL store gives the report SQLite gives for the same events."""

    def test_same_facts(self, stores: tuple[str, str]) -> None:
        """Every aggregated row is equal, value types and order included."""
        sqlite_url, postgres_url = stores
        period = parse_period(**PERIOD)

        facts = [query_store(url, period) for url in stores]
        lite, pg = (replace(f, store="", integrity=None) for f in facts)  # type: ignore[arg-type]

        assert lite == pg
        assert [(POLICY, "claims", "1.1", "enforce")] == [
            row[:4] for row in facts[0].policy_names
        ]
        assert [facts[0].integrity.ok, facts[1].integrity.ok] == [True, True]
        assert facts[0].integrity.events == facts[1].integrity.events
        assert facts[1].integrity.head_time == facts[0].integrity.head_time
        assert sqlite_url != postgres_url

    def test_same_figures(self, stores: tuple[str, str]) -> None:
        """Every figure of the report is equal, bar the store's own details."""
        sqlite_url, postgres_url = stores

        lite = _figures(sqlite_url)

        assert lite == _figures(postgres_url)
        # The failure of analysis b, never requested in the period, is not one
        # of the period's calls.
        assert (5, 2, 8, 6) == (
            lite["calls"],
            lite["failed"],
            lite["tags_dropped"],
            lite["exceptions_total"],
        )

    def test_pdf(self, stores: tuple[str, str], tmp_path: Path) -> None:
        """The PDF of a PostgreSQL store verifies its chain and shows its figures."""
        _, postgres_url = stores
        out = tmp_path / "pg.pdf"

        generate_report(postgres_url, **PERIOD, out=out, organization="Contoso")
        reader = pypdf.PdfReader(out)
        text = "\n".join(page.extract_text() for page in reader.pages)

        assert "Contoso" in text
        assert (
            "NOT AUTHENTICATED: every link and personal content digest matches, but "
            "no checkpoint is signed"
        ) in " ".join(text.split())
        assert HOSTILE_TAG in text
        assert "throttled" in text
        assert len(reader.pages) > 3
