"""The report over a memory store: the figures of SQLite for the same events."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from tests.report.conftest import sample_events
from tests.report.test_postgres import MADE, PERIOD, STORE_DETAILS, _more_events
from vision_audit.report import build_report
from vision_audit.store import InMemoryAuditStore, open_store

if TYPE_CHECKING:
    from pathlib import Path


def _figures(store: Any) -> dict[str, Any]:
    data = asdict(
        build_report(store, **PERIOD, organization="Contoso", generated_at=MADE)
    )
    return {k: v for k, v in data.items() if k not in STORE_DETAILS}


class TestMemory:
    """An InMemoryAuditStore gives the report an SQLite store gives."""

    def test_same_figures(self, tmp_path: Path) -> None:
        """Every figure equal; the memory store verified, named as memory://."""
        events = [*sample_events(), *_more_events()]
        url = f"sqlite:///{tmp_path / 'audit.db'}"
        lite = open_store(url)
        memory = InMemoryAuditStore()
        for event in events:
            lite.append(event)
            memory.append(event)
        lite.close()

        report = build_report(memory, **PERIOD, organization="Contoso")

        assert _figures(url) == _figures(memory)
        assert report.integrity.verified
        assert "memory://" in report.store
        memory.close()
