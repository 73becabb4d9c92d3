"""
The period against the one before it: the key figures and how they moved.

The previous period is the one of the same length that ends where this one starts,
aggregated by the same store in the same read (its figures only; the store was
verified once, whole). A reader sees the trend of each figure (denials up,
overrides down) without a second report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from vision_audit import attributes as attrs
from vision_audit.report._figures import purposes_needing_no_consent

if TYPE_CHECKING:
    from vision_audit.store._aggregates import PeriodAggregates

__all__ = ["Change", "compare"]

Direction = Literal["up", "down", "same"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """
    One key figure in this period and in the previous one.

    .. versionadded:: 0.3.0
    """

    label: str
    current: float | None
    previous: float | None
    change: str
    """The change in words: ``+12 (+40.0 %)``, ``-3 (-20.0 %)``, ``no change``."""
    direction: Direction | None
    """Which way it moved; None when either period has no value."""
    percent: bool = False
    """The figure is a percentage: its change is in points."""


_FIGURES: Final = (
    ("Calls", "calls"),
    ("Denied by policy", "denied"),
    ("Failed at the service", "failed"),
    ("Let through in audit mode", "audit_mode"),
    ("Tags removed", "tags_removed"),
    ("Results withheld", "withheld"),
    ("Reviews required", "reviews"),
    ("Decisions overriding the model", "overrides"),
    ("Reviews decided after their deadline", "late"),
    ("Reviews pending past their deadline", "overdue"),
    ("Consent coverage (%)", "coverage"),
)


def _key_figures(figures: PeriodAggregates) -> dict[str, float | None]:
    by_type: dict[str, int] = {}
    for _, kind, _, _, n in figures.rollup:
        by_type[kind] = by_type.get(kind, 0) + n
    # Coverage of the calls that needed consent, as the report's summary counts it.
    free = purposes_needing_no_consent(figures)
    needed = [row for row in figures.consent_calls if row[0] not in free]
    sent = sum(row[1] for row in needed)
    with_consent = sum(row[2] for row in needed)
    return {
        "calls": by_type.get(attrs.EVENT_REQUESTED, 0)
        + by_type.get(attrs.EVENT_DENIED, 0),
        "denied": by_type.get(attrs.EVENT_DENIED, 0),
        "failed": by_type.get(attrs.EVENT_FAILED, 0),
        "audit_mode": sum(n for _, n in figures.audit_mode),
        "tags_removed": figures.tags_dropped_total,
        "withheld": figures.withheld_results,
        "reviews": figures.review_required,
        "overrides": sum(n for d, n in figures.review_outcomes if d == "override"),
        "late": figures.review_decided_late,
        "overdue": figures.review_overdue_pending,
        "coverage": round(100.0 * with_consent / sent, 1) if sent else None,
    }


def _change(
    label: str, now: float | None, before: float | None, *, percent: bool
) -> Change:
    if now is None or before is None:
        return Change(
            label=label,
            current=now,
            previous=before,
            change="n/a",
            direction=None,
            percent=percent,
        )
    delta = now - before
    direction: Direction = "up" if delta > 0 else "down" if delta < 0 else "same"
    if delta == 0:
        text = "no change"
    elif percent:
        text = f"{delta:+.1f} points"
    elif before == 0:
        text = f"{delta:+,.0f} (none before)"
    else:
        text = f"{delta:+,.0f} ({100.0 * delta / before:+.1f} %)"
    return Change(
        label=label,
        current=now,
        previous=before,
        change=text,
        direction=direction,
        percent=percent,
    )


def compare(
    current: PeriodAggregates, previous: PeriodAggregates
) -> tuple[Change, ...]:
    """The key figures of *current* beside those of *previous*, with the change."""
    now, before = _key_figures(current), _key_figures(previous)
    return tuple(
        _change(label, now[key], before[key], percent=key == "coverage")
        for label, key in _FIGURES
    )
