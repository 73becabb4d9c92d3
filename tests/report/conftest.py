"""Events the report tests write: the same ones into every store they compare."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from vision_audit.models import AuditEvent
from vision_audit.store import open_store

if TYPE_CHECKING:
    from pathlib import Path

HOSTILE_TAG = "<img src=file:///etc/passwd>"
CSS_TAG = "x</td><style>*{display:none}</style>"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POLICY = "sha256:" + "ab" * 32
MADE = datetime(2026, 4, 1, tzinfo=UTC)
"""When the tests' reports are made: after the period, for byte-identical PDFs."""


class _Recorder:
    """Collects what would be appended to a store, in order."""

    def __init__(self) -> None:
        """Start with no events."""
        self.events: list[AuditEvent] = []

    def append(self, event: AuditEvent) -> None:
        """Keep *event*."""
        self.events.append(event)


def _analysis(
    store: _Recorder,
    n: int,
    *,
    purpose: str,
    outcome: str,
    minutes: int,
    withheld: bool = False,
) -> str:
    analysis_id = f"{n:032x}"
    when = T0 + timedelta(minutes=minutes)
    common = {
        "analysis_id": analysis_id,
        "purpose": purpose,
        "actor": "svc-" + purpose,
        "policy_id": POLICY,
        "trace_id": f"{n:032x}",
        "span_id": f"{n:016x}",
    }
    if outcome == "denied":
        store.append(
            AuditEvent(
                type="analysis.denied",
                time=when,
                data={
                    "features": ["people"],
                    "reason": "consent-missing",
                    "mode": "enforce",
                },
                **common,
            )
        )
        return analysis_id
    store.append(
        AuditEvent(
            type="analysis.requested",
            time=when,
            consent_ref="consent-1" if purpose == "claims" else None,
            data={"features": ["tags", "caption"], "operation": "analyze"},
            **common,
        )
    )
    if outcome == "failed":
        store.append(
            AuditEvent(
                type="analysis.failed",
                time=when + timedelta(seconds=1),
                data={
                    "status_code": 500,
                    "error_code": "InternalServerError",
                    "inner_error_code": None,
                    "duration_ms": 5.0,
                },
                **common,
            )
        )
        return analysis_id
    store.append(
        AuditEvent(
            type="tags.filtered",
            time=when + timedelta(seconds=1),
            data={
                "tags": {
                    "kept": [],
                    "dropped": [
                        {"name": HOSTILE_TAG, "confidence": 0.9, "rule": "block-list"},
                        {
                            "name": CSS_TAG,
                            "confidence": 0.8,
                            "rule": "not-in-allow-list",
                        },
                    ],
                },
                "objects": {"kept": [], "dropped": []},
            },
            **common,
        )
    )
    store.append(
        AuditEvent(
            type="analysis.completed",
            time=when + timedelta(seconds=1),
            data={
                "duration_ms": 10.0,
                "flags": ["people"],
                "model_version": "m1",
                "results": {"people": {"count": 2}},
                "review_required": True,
            }
            | ({"withheld": "tag-blocked", "blocked": ["knife"]} if withheld else {}),
            **common,
        )
    )
    store.append(
        AuditEvent(
            type="review.required",
            time=when + timedelta(seconds=1),
            data={
                "health_categories": ["medicine"],
                "review": {"required": True, "deadline_seconds": 3600},
            },
            **common,
        )
    )
    return analysis_id


def sample_events() -> list[AuditEvent]:
    """
    Four analyses in March 2026 and one review decision.

    Two completed (tags dropped, people flagged, review required; the second
    withheld for a block-listed tag), one failed and one denied for missing
    consent; the first review is decided by an override.
    """
    store = _Recorder()
    decided = _analysis(store, 1, purpose="claims", outcome="ok", minutes=0)
    _analysis(store, 2, purpose="claims", outcome="ok", minutes=60 * 24, withheld=True)
    _analysis(store, 3, purpose="retail", outcome="failed", minutes=5)
    _analysis(store, 4, purpose="retail", outcome="denied", minutes=6)
    store.append(
        AuditEvent(
            type="review.decided",
            time=T0 + timedelta(minutes=30),
            analysis_id=decided,
            actor="reviewer-1",
            data={
                "decision": "override",
                "reviewer": "reviewer-1",
                "add_tags": [],
                "remove_tags": ["x"],
                "supersedes": None,
            },
        )
    )
    return store.events


def sample_store(folder: Path) -> str:
    """An SQLite store in *folder* holding :func:`sample_events`; its URL."""
    url = f"sqlite:///{folder / 'audit.db'}"
    store = open_store(url)
    for event in sample_events():
        store.append(event)
    store.close()
    return url
