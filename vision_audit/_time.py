"""
Durations and moments as people type them, read one way everywhere.

The policy, the command line and the report all read them here. A duration is
``30d``, ``12h``, ``7y`` or ``1d12h`` (a policy's retention, ``purge --older-than``);
a moment is a date (``2026-01-31``, midnight UTC) or an ISO-8601 time (UTC unless it
says), and a bare date as an exclusive end means the end of that day.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Final

__all__ = ["DURATION_HELP", "MOMENT_HELP", "parse_duration", "parse_moment"]

_DURATION: Final = re.compile(r"(?:\d{1,9}\s*[ywdhms]\s*)+")
_DURATION_PART: Final = re.compile(r"(\d{1,9})\s*([ywdhms])")
_UNIT_SECONDS: Final = {
    "y": 365 * 86400,
    "w": 7 * 86400,
    "d": 86400,
    "h": 3600,
    "m": 60,
    "s": 1,
}
_MAX_DURATION: Final = timedelta(days=1000 * 365)
DURATION_HELP: Final = (
    'a duration such as "30d", "12h", "7y" or "1d12h" '
    "(units y=365 days, w, d, h, m=minutes, s)"
)
MOMENT_HELP: Final = "a date (2026-01-31) or an ISO-8601 time (2026-01-31T09:30Z)"


def _show(value: object, limit: int = 60) -> str:
    text = repr(value)
    return f"{text[:limit]}..." if len(text) > limit else text


def parse_duration(text: str) -> timedelta:
    """
    A duration written as ``30d``, ``12h``, ``7y``, ``90m`` or ``1d12h``.

    Units: ``y`` (365 days), ``w`` (weeks), ``d`` (days), ``h`` (hours), ``m``
    (minutes), ``s`` (seconds). The result is positive and at most 1000 years.

    Raises:
        ValueError: *text* is not such a duration; the message says what is.

    .. versionadded:: 0.1.0
    """
    stripped = text.strip()
    if not _DURATION.fullmatch(stripped):
        msg = f"{_show(text)} is not {DURATION_HELP}"
        raise ValueError(msg)
    seconds = sum(
        int(number) * _UNIT_SECONDS[unit]
        for number, unit in _DURATION_PART.findall(stripped)
    )
    if seconds <= 0:
        msg = f"{_show(text)} is not a positive duration"
        raise ValueError(msg)
    if seconds > _MAX_DURATION.total_seconds():
        msg = f"{_show(text)} is longer than 1000 years"
        raise ValueError(msg)
    return timedelta(seconds=seconds)


def parse_moment(text: str, *, end: bool = False) -> datetime:
    """
    A date (midnight UTC) or an ISO-8601 time (UTC unless it says), in UTC.

    With *end*, a bare date means the end of that day (midnight after it), as an
    exclusive upper bound does.

    Raises:
        ValueError: *text* is neither, or is out of the range of UTC times.
    """
    stripped = text.strip()
    try:
        if len(stripped) == len("2026-01-31"):
            day = date.fromisoformat(stripped)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment + timedelta(days=1) if end else moment
        moment = datetime.fromisoformat(stripped)
    except ValueError as err:
        msg = f"{_show(text)} is not {MOMENT_HELP}"
        raise ValueError(msg) from err
    except OverflowError as err:
        msg = f"{_show(text)} is past the last day of the year 9999"
        raise ValueError(msg) from err
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError as err:
        msg = f"{_show(text)} is out of the range of UTC times (years 1 to 9999)"
        raise ValueError(msg) from err
