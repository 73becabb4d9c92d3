"""aggregate_period: the same figures from SQL (SQLite) and from Python (memory)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vision_audit import attributes as attrs
from vision_audit.exceptions import ReportRenderError
from vision_audit.models import AuditEvent
from vision_audit.report import build_report
from vision_audit.store import InMemoryAuditStore, open_store

T0 = datetime(2026, 3, 1, tzinfo=UTC)
SINCE, UNTIL = T0, T0 + timedelta(days=2)

_small = st.sampled_from(["a", "b", "Z", "é", "tag 1", ""])
_maybe = st.none() | _small
_numbers = st.integers(0, 4000).map(lambda n: n / 4)  # exact in binary
_KINDS = [
    attrs.EVENT_REQUESTED,
    attrs.EVENT_DENIED,
    attrs.EVENT_COMPLETED,
    attrs.EVENT_FAILED,
    attrs.EVENT_TAGS_FILTERED,
    attrs.EVENT_REVIEW_REQUIRED,
    attrs.EVENT_REVIEW_DECIDED,
    attrs.EVENT_REVIEW_GATE_RELEASED,
    attrs.EVENT_REVIEW_GATE_TIMED_OUT,
    attrs.EVENT_CONTENT_PURGED,
    attrs.EVENT_SUBJECT_ERASED,
    attrs.EVENT_CONSENT_GRANTED,
    attrs.EVENT_POLICY_ACTIVATED,
    "something.else",
]
_DATA = {
    "features": st.lists(_small, max_size=3) | _small,
    "mode": _maybe,
    "name": _maybe,
    "version": _maybe,
    "reason": _maybe | _numbers,
    "policy": st.fixed_dictionaries(
        {"mode": st.sampled_from(["audit", "enforce"]), "reason": _maybe}
    ),
    "tags": st.fixed_dictionaries(
        {
            "dropped": st.lists(
                st.fixed_dictionaries({"name": _small, "rule": _maybe}), max_size=3
            )
        }
    ),
    "objects": st.fixed_dictionaries({"dropped": st.lists(_small, max_size=2)}),
    "flags": st.lists(st.sampled_from(["people", "text", "health"]), max_size=3),
    "results": st.fixed_dictionaries(
        {"people": st.fixed_dictionaries({"count": _numbers})}
    ),
    "duration_ms": _numbers | st.none(),
    "model_version": _maybe,
    "withheld": st.booleans() | st.none(),
    "health_categories": st.lists(_small, max_size=2),
    "review": st.fixed_dictionaries({"deadline_seconds": st.none() | _numbers}),
    "status_code": st.none() | st.sampled_from([400, 429, 500]),
    "error_code": _maybe,
    "inner_error_code": _maybe,
    "decision": st.none()
    | st.sampled_from(["approve", "reject", "override", "escalate"]),
    "supersedes": _maybe,
    "overdue": st.booleans() | st.none(),
    "action": st.none() | st.sampled_from(["release", "withhold", "abandoned"]),
    "data_class": _maybe,
    "events": st.integers(0, 9),
    "records": st.integers(0, 9),
}


@st.composite
def _events(draw: st.DrawFn) -> AuditEvent:
    keys = draw(st.lists(st.sampled_from(sorted(_DATA)), max_size=8, unique=True))
    offset = draw(st.integers(-86_400_000_000, 3 * 86_400_000_000))
    return AuditEvent(
        type=draw(st.sampled_from(_KINDS)),
        time=T0 + timedelta(microseconds=offset),
        analysis_id=draw(st.none() | st.sampled_from(["a1", "a2", "a3", "a4"])),
        actor=draw(_maybe),
        purpose=draw(_maybe),
        consent_ref=draw(_maybe),
        policy_id=draw(st.none() | st.sampled_from(["sha256:aa", "sha256:bb"])),
        data={key: draw(_DATA[key]) for key in keys},
    )


class TestSameFigures:
    """Python's figures of a memory store are SQL's of an SQLite store."""

    @settings(
        max_examples=80,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(events=st.lists(_events(), max_size=30), cap=st.integers(0, 5))
    def test_any_events(self, tmp_path: Path, events: list[AuditEvent], cap: int):
        """Every figure equal, for events in, before and after the period."""
        path = tmp_path / f"{len(list(tmp_path.iterdir()))}.db"
        lite = open_store(f"sqlite:///{path}")
        memory = InMemoryAuditStore()
        for event in events:
            lite.append(event)
            memory.append(event)

        try:
            expected = lite.aggregate_period(SINCE, UNTIL, exception_cap=cap)
            assert expected == memory.aggregate_period(SINCE, UNTIL, exception_cap=cap)
        finally:
            lite.close()
            memory.close()

    def test_ties_order_by_code_point(self, tmp_path: Path):
        """Groups of equal counts order alike: absent first, then by code point."""
        values = ["a", "Z", "é", "b", None, "", "tag 1"]
        events = [
            AuditEvent(
                type=kind,
                time=T0 + timedelta(hours=n),
                analysis_id=f"a{n % 3}",
                purpose=value,
                actor=value,
                data={
                    "features": [value],
                    "mode": value,
                    "reason": value,
                    "model_version": value,
                    "health_categories": [value],
                    "error_code": value,
                    "action": value,
                    "tags": {"dropped": [{"name": value, "rule": value}]},
                    "decision": value,
                },
            )
            for n, value in enumerate(values)
            for kind in _KINDS
        ]
        lite = open_store(f"sqlite:///{tmp_path / 'ties.db'}")
        memory = InMemoryAuditStore()
        for event in events:
            lite.append(event)
            memory.append(event)

        expected = lite.aggregate_period(SINCE, UNTIL)
        lite.close()

        assert expected == memory.aggregate_period(SINCE, UNTIL)
        assert [row[2] for row in expected.rollup[:7]] == [
            None,
            "",
            "Z",
            "a",
            "b",
            "tag 1",
            "é",
        ]


class TestArguments:
    """Bad arguments are named."""

    def test_naive_time(self):
        """A time without a zone is refused: which day it means is unknown."""
        store = InMemoryAuditStore()

        with pytest.raises(ValueError, match="since must be timezone-aware"):
            store.aggregate_period(datetime(2026, 3, 1), UNTIL)  # noqa: DTZ001

    @pytest.mark.parametrize("cap", [-1, 1.5, True, None])
    def test_bad_cap(self, cap):
        """The exception cap is a whole number of 0 or more."""
        store = InMemoryAuditStore()

        with pytest.raises(ValueError, match="exception_cap must be a whole number"):
            store.aggregate_period(SINCE, UNTIL, exception_cap=cap)

    def test_memory_url(self):
        """A memory:// URL would report on a new, empty store: refused, with the way."""
        with pytest.raises(ReportRenderError, match="InMemoryAuditStore itself"):
            build_report("memory://", since="2026-03-01", until="2026-03-02")


def test_report_knows_no_table():
    """The report reads through the store's interface only: no table is named in it."""
    report = Path(__file__).parents[2] / "vision_audit" / "report"

    named = {
        f"{source.name}: {match}"
        for source in report.glob("*.py")
        for match in re.findall(r"\bva_[a-z_]+", source.read_text(encoding="utf-8"))
    }

    assert not named
