"""Small, deterministic, grayscale-readable SVG charts drawn with matplotlib."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any, Final

from vision_audit.exceptions import ReportRenderError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from vision_audit.report.aggregate import ReportData

__all__ = ["describe_charts", "draw_charts"]

# Grays and hatches, so that every series reads on a black-and-white printer.
_SERIES: Final = (
    ("completed", "#404040", ""),
    ("failed", "#a0a0a0", "///"),
    ("denied", "#ffffff", "xx"),
)
_RC: Final[dict[str, Any]] = {
    "svg.hashsalt": "vision-audit-report",
    "svg.fonttype": "path",
    "text.parse_math": False,
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "hatch.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_MAX_LABEL: Final = 28


def _svg(figure: object) -> str:
    buffer = io.StringIO()
    figure.savefig(  # type: ignore[attr-defined]
        buffer, format="svg", metadata={"Date": None, "Creator": None}
    )
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _label(text: str) -> str:
    return text if len(text) <= _MAX_LABEL else text[: _MAX_LABEL - 1] + "…"


def _stacked(
    labels: Sequence[str], series: Sequence[Sequence[int]], *, horizontal: bool
) -> str:
    try:
        import matplotlib as mpl  # noqa: PLC0415
    except ImportError as err:
        msg = "the report's charts need matplotlib: pip install 'vision-audit[report]'"
        raise ReportRenderError(msg) from err

    mpl.use("svg", force=False)
    from matplotlib.figure import Figure  # noqa: PLC0415

    with mpl.rc_context(_RC):  # type: ignore[arg-type] # keys are checked at run time
        height = 0.4 + 0.28 * len(labels) if horizontal else 2.4
        figure = Figure(figsize=(6.2, max(1.4, min(height, 6.0))))
        axes = figure.add_subplot()
        positions = list(range(len(labels)))
        base = [0] * len(labels)
        for (name, color, hatch), values in zip(_SERIES, series, strict=False):
            if horizontal:
                axes.barh(
                    positions,
                    values,
                    left=base,
                    color=color,
                    hatch=hatch,
                    edgecolor="black",
                    linewidth=0.5,
                    label=name,
                    height=0.6,
                )
            else:
                axes.bar(
                    positions,
                    values,
                    bottom=base,
                    color=color,
                    hatch=hatch,
                    edgecolor="black",
                    linewidth=0.5,
                    label=name,
                    width=0.7,
                )
            base = [b + v for b, v in zip(base, values, strict=True)]
        short = [_label(text) for text in labels]
        if horizontal:
            axes.set_yticks(positions, short)
            axes.invert_yaxis()
            axes.set_xlabel("calls")
            for y, total in enumerate(base):
                axes.annotate(
                    f"{total:,}",
                    (total, y),
                    xytext=(3, 0),
                    textcoords="offset points",
                    va="center",
                )
        else:
            step = max(1, len(labels) // 12)
            axes.set_xticks(positions[::step], short[::step], rotation=30, ha="right")
            axes.set_ylabel("calls")
        axes.legend(frameon=False, ncols=3, loc="lower right", bbox_to_anchor=(1, 1))
        figure.tight_layout()
        return _svg(figure)


def draw_charts(data: ReportData) -> dict[str, str]:
    """
    The report's charts as SVG documents, by name; none when there is nothing to draw.

    Args:
        data: The report's figures.

    Returns:
        ``by_day`` and ``by_purpose`` stacked bar charts (completed, failed,
        denied), each an ``<svg>`` string.
    """
    charts: dict[str, str] = {}
    if data.by_day and data.calls:
        charts["by_day"] = _stacked(
            [d.day for d in data.by_day],
            [
                [d.completed for d in data.by_day],
                [d.failed for d in data.by_day],
                [d.denied for d in data.by_day],
            ],
            horizontal=False,
        )
    if data.by_purpose and data.calls:
        rows = data.by_purpose[:12]
        charts["by_purpose"] = _stacked(
            [p.name for p in rows],
            [
                [p.completed for p in rows],
                [p.failed for p in rows],
                [p.denied for p in rows],
            ],
            horizontal=True,
        )
    return charts


_LISTED: Final = 10
"""Most days or purposes an alternative text names one by one."""


def _outcomes(calls: int, completed: int, failed: int, denied: int) -> str:
    return f"{calls:,} ({completed:,} completed, {failed:,} failed, {denied:,} denied)"


def describe_charts(data: ReportData) -> dict[str, str]:
    """
    The alternative text of each chart of :func:`draw_charts`, by name.

    A reader who cannot see the chart gets its figures: the period's days and
    totals, the busiest days (or every day with calls, when few), the purposes with
    their calls. The tables beside the charts hold every figure too.
    """
    texts: dict[str, str] = {}
    if data.by_day and data.calls:
        days = data.by_day
        busy = [d for d in days if d.calls]
        shown = sorted(busy, key=lambda d: (-d.calls, d.day))[:_LISTED]
        listed = "; ".join(
            f"{d.day}: {_outcomes(d.calls, d.completed, d.failed, d.denied)}"
            for d in sorted(shown, key=lambda d: d.day)
        )
        which = (
            "Calls on each day with calls"
            if len(shown) == len(busy)
            else f"The {len(shown)} busiest days"
        )
        texts["by_day"] = (
            f"Stacked bar chart of calls per UTC day, {days[0].day} to "
            f"{days[-1].day} ({len(days):,} days): "
            f"{_outcomes(data.calls, data.completed, data.failed, data.denied)} "
            f"in all; {len(days) - len(busy):,} days without calls. {which}: "
            f"{listed}."
        )
    if data.by_purpose and data.calls:
        rows = data.by_purpose[:12]
        listed = "; ".join(
            f"{_label(p.name)}: {_outcomes(p.calls, p.completed, p.failed, p.denied)}"
            for p in rows
        )
        more = (
            f" {len(data.by_purpose) - len(rows):,} more purposes are in the table."
            if len(data.by_purpose) > len(rows)
            else ""
        )
        texts["by_purpose"] = (
            f"Horizontal stacked bar chart of calls per purpose, the busiest first. "
            f"{listed}.{more}"
        )
    return texts
