"""
Read-only aggregation of the audit store over a period, the chain verified first.

Every number is computed by the database (``GROUP BY``, ``json_extract`` over the
generated columns of ``va_events``); Python receives small result sets only: counts by
type, purpose, actor and day, top dropped tags, review durations, and a capped list of
exceptions. The store is opened read-only and verified through its own API before any
figure is read, and the verification travels with the figures.
"""

# ruff: noqa: S608 - statements are built from module constants; values are bound

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from vision_audit import attributes as attrs
from vision_audit.exceptions import ReportRenderError, StoreError
from vision_audit.store._canonical import format_time
from vision_audit.store._open import open_store, redact_url

if TYPE_CHECKING:
    from collections.abc import Callable

    from vision_audit.store._base import BaseAuditStore
    from vision_audit.store._chain import Checkpoint, Verification

__all__ = [
    "DEFAULT_EXCEPTION_CAP",
    "CheckpointFacts",
    "ExceptionRow",
    "IntegrityFacts",
    "Period",
    "StoreFacts",
    "parse_period",
    "query_store",
]

DEFAULT_EXCEPTION_CAP: Final = 200
"""How many exceptions the appendix lists before it only counts the rest."""

TOP_TAGS: Final = 15
"""How many dropped tags the tag filtering section names."""

EVENT_PURGED: Final = "content.purged"
EVENT_ERASED: Final = "subject.erased"
EVENT_CONSENT_GRANTED: Final = "consent.granted"
EVENT_CONSENT_REVOKED: Final = "consent.revoked"


@dataclass(frozen=True, slots=True)
class Period:
    """
    The report's period, ``since <= time < until``, both UTC.

    .. versionadded:: 0.1.0
    """

    since: datetime
    until: datetime


def _parse_moment(value: str | date | datetime, *, end: bool) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time.min)
        if end:
            moment += timedelta(days=1)
    else:
        text = value.strip()
        try:
            if len(text) == len("2026-01-31"):
                return _parse_moment(date.fromisoformat(text), end=end)
            moment = datetime.fromisoformat(text)
        except ValueError as err:
            msg = (
                f"{text!r} is not a date (YYYY-MM-DD) or an ISO-8601 time "
                "(YYYY-MM-DDTHH:MM[:SS][+00:00])"
            )
            raise ReportRenderError(msg) from err
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_period(since: str | date | datetime, until: str | date | datetime) -> Period:
    """
    The period from *since* (inclusive) to *until* (exclusive).

    A bare date as *until* means the end of that day, so ``2026-11-01`` to
    ``2026-11-30`` covers November. Times without a zone are UTC.

    Raises:
        ReportRenderError: A bound is not a date or time, or *until* is not after
            *since*.

    .. versionadded:: 0.1.0
    """
    start = _parse_moment(since, end=False)
    stop = _parse_moment(until, end=True)
    if stop <= start:
        msg = (
            f"the period is empty: until ({stop.isoformat()}) is not after since "
            f"({start.isoformat()})"
        )
        raise ReportRenderError(msg)
    return Period(start, stop)


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointFacts:
    """The last signed checkpoint, as the report states it."""

    sequence: int
    hash: str
    time: datetime
    key_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrityFacts:
    """
    What verifying the whole store found, before any figure was read.

    Args:
        ok: Every link, content digest and signature verified.
        events: Events checked.
        checkpoints: Signed checkpoints verified.
        head_sequence: Sequence of the store's last event, or None when empty.
        head_hash: Its hash.
        head_time: Its time.
        bad_sequence: First bad sequence, when not ok.
        kind: What is wrong, when not ok.
        message: The verifier's sentence.
        warnings: Limits of the verification.
        last_checkpoint: The last signed checkpoint, if any.
        key_fingerprints: ``key_id`` and SHA-256 of each raw public key.
    """

    ok: bool
    events: int
    checkpoints: int
    head_sequence: int | None
    head_hash: str | None
    head_time: datetime | None
    bad_sequence: int | None
    kind: str | None
    message: str
    warnings: tuple[str, ...]
    last_checkpoint: CheckpointFacts | None
    key_fingerprints: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ExceptionRow:
    """One event the appendix lists: a denial, a failure, a policy exception."""

    sequence: int
    event_id: str
    time: str
    type: str
    trace_id: str | None
    analysis_id: str | None
    purpose: str | None
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreFacts:
    """
    Everything the store says about a period, as small aggregated rows.

    Rows are tuples straight from SQL, ordered deterministically; ``aggregate``
    turns them into the report's numbers.
    """

    store: str
    period: Period
    integrity: IntegrityFacts
    sequence_range: tuple[int, int] | None
    rollup: tuple[tuple[str, str, str | None, str | None, int], ...]
    """(day, type, purpose, actor, count) for every event in the period."""
    features: tuple[tuple[str, int], ...]
    consent_calls: tuple[tuple[str, int, int], ...]
    """(purpose, calls sent, calls sent with a consent reference)."""
    denials: tuple[tuple[str, str, int], ...]
    """(mode, reason, count) of ``analysis.denied``."""
    audit_mode: tuple[tuple[str, int], ...]
    """(reason, count) of calls let through in audit mode despite a violation."""
    dropped_tags: tuple[tuple[str, str, int], ...]
    """(tag, rule, count), the most frequent first, capped."""
    dropped_rules: tuple[tuple[str, int], ...]
    tags_dropped_total: int
    objects_dropped_total: int
    filtered_analyses: int
    flags: tuple[tuple[str, int], ...]
    people_detected: int
    health_categories: tuple[tuple[str, int], ...]
    review_required: int
    review_outcomes: tuple[tuple[str, int], ...]
    """(latest decision, analyses) for analyses flagged in the period."""
    review_durations: tuple[float, ...]
    """Seconds from flag to first final decision, sorted."""
    review_decided_late: int
    review_overdue_pending: int
    review_superseded: int
    review_decisions: int
    gate_counts: tuple[tuple[str, int], ...]
    errors: tuple[tuple[int | None, str | None, str | None, int], ...]
    latency: tuple[float | None, float | None]
    """(mean, max) duration of completed calls, in milliseconds."""
    model_versions: tuple[tuple[str, int], ...]
    retention: tuple[tuple[int, str, str, str, str | None, str | None, int, int], ...]
    """(sequence, event_id, time, type, actor, data_class, events, records)."""
    policies: tuple[tuple[str, str, str, int], ...]
    """(policy_id, first seen, last seen, events)."""
    exceptions: tuple[ExceptionRow, ...]
    exceptions_total: int
    exception_cap: int = field(default=DEFAULT_EXCEPTION_CAP)


def _fingerprint(store: BaseAuditStore) -> tuple[tuple[str, str], ...]:
    found = []
    for kid, key in sorted(store.list_public_keys().items()):
        raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        found.append((kid, "SHA256:" + hashlib.sha256(raw).hexdigest()))
    return tuple(found)


def _integrity(
    store: BaseAuditStore,
    verification: Verification,
    checkpoints: list[Checkpoint],
    head_time: datetime | None,
) -> IntegrityFacts:
    head = store.get_head()
    last = checkpoints[-1] if checkpoints else None
    return IntegrityFacts(
        ok=verification.ok,
        events=verification.events,
        checkpoints=verification.checkpoints,
        head_sequence=head.sequence if head else None,
        head_hash=head.hash if head else None,
        head_time=head_time,
        bad_sequence=verification.sequence,
        kind=verification.kind,
        message=verification.message,
        warnings=tuple(verification.warnings),
        last_checkpoint=None
        if last is None
        else CheckpointFacts(
            sequence=last.sequence, hash=last.hash, time=last.time, key_id=last.key_id
        ),
        key_fingerprints=_fingerprint(store),
    )


def _sqlite_path(url: str) -> Path | None:
    scheme, _, rest = url.partition("://")
    if scheme.lower() != "sqlite" or not rest.startswith("/"):
        return None
    return Path(unquote(rest[1:].partition("?")[0]))


# Each statement filters on the indexed ``time`` column first; ``type`` and the data
# fields are generated columns and json_extract over the envelope, computed per row
# inside SQLite, so only aggregates cross into Python.
_IN_PERIOD: Final = "time >= :lo AND time < :hi"

_SQL: Final[dict[str, str]] = {
    "rollup": f"""
        SELECT substr(time, 1, 10), type, purpose, actor, count(*)
        FROM va_events WHERE {_IN_PERIOD}
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4""",
    "features": f"""
        SELECT f.value, count(*) FROM va_events AS e,
            json_each(e.data, '$.features') AS f
        WHERE {_IN_PERIOD} AND e.type IN ('{attrs.EVENT_REQUESTED}',
            '{attrs.EVENT_DENIED}')
        GROUP BY 1 ORDER BY 2 DESC, 1""",
    "consent": f"""
        SELECT coalesce(purpose, ''), count(*), count(consent_ref) FROM va_events
        WHERE {_IN_PERIOD} AND type = '{attrs.EVENT_REQUESTED}'
        GROUP BY 1 ORDER BY 1""",
    "denials": f"""
        SELECT coalesce(json_extract(data, '$.mode'), 'enforce'),
            coalesce(json_extract(data, '$.reason'), 'unknown'), count(*)
        FROM va_events WHERE {_IN_PERIOD} AND type = '{attrs.EVENT_DENIED}'
        GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2""",
    "audit_mode": f"""
        SELECT coalesce(json_extract(data, '$.policy.reason'), 'unknown'), count(*)
        FROM va_events WHERE {_IN_PERIOD} AND type = '{attrs.EVENT_REQUESTED}'
            AND json_extract(data, '$.policy.mode') = 'audit'
        GROUP BY 1 ORDER BY 2 DESC, 1""",
    "dropped_tags": f"""
        SELECT json_extract(t.value, '$.name'),
            coalesce(json_extract(t.value, '$.rule'), 'unknown'), count(*)
        FROM va_events AS e, json_each(e.data, '$.tags.dropped') AS t
        WHERE {_IN_PERIOD} AND e.type = '{attrs.EVENT_TAGS_FILTERED}'
        GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT {TOP_TAGS}""",
    "dropped_rules": f"""
        SELECT coalesce(json_extract(t.value, '$.rule'), 'unknown'), count(*)
        FROM va_events AS e, json_each(e.data, '$.tags.dropped') AS t
        WHERE {_IN_PERIOD} AND e.type = '{attrs.EVENT_TAGS_FILTERED}'
        GROUP BY 1 ORDER BY 2 DESC, 1""",
    "filtered": f"""
        SELECT count(*),
            coalesce(sum(json_array_length(data, '$.tags.dropped')), 0),
            coalesce(sum(json_array_length(data, '$.objects.dropped')), 0)
        FROM va_events WHERE {_IN_PERIOD} AND type = '{attrs.EVENT_TAGS_FILTERED}'""",
    "flags": f"""
        SELECT f.value, count(*) FROM va_events AS e,
            json_each(e.data, '$.flags') AS f
        WHERE {_IN_PERIOD} AND e.type = '{attrs.EVENT_COMPLETED}'
        GROUP BY 1 ORDER BY 2 DESC, 1""",
    "completed": f"""
        SELECT coalesce(sum(json_extract(data, '$.results.people.count')), 0),
            avg(json_extract(data, '$.duration_ms')),
            max(json_extract(data, '$.duration_ms'))
        FROM va_events WHERE {_IN_PERIOD} AND type = '{attrs.EVENT_COMPLETED}'""",
    "models": f"""
        SELECT coalesce(json_extract(data, '$.model_version'), 'unknown'), count(*)
        FROM va_events WHERE {_IN_PERIOD} AND type = '{attrs.EVENT_COMPLETED}'
        GROUP BY 1 ORDER BY 2 DESC, 1""",
    "health": f"""
        SELECT h.value, count(*) FROM va_events AS e,
            json_each(e.data, '$.health_categories') AS h
        WHERE {_IN_PERIOD} AND e.type = '{attrs.EVENT_REVIEW_REQUIRED}'
        GROUP BY 1 ORDER BY 2 DESC, 1""",
    "errors": f"""
        SELECT json_extract(data, '$.status_code'), json_extract(data, '$.error_code'),
            json_extract(data, '$.inner_error_code'), count(*)
        FROM va_events WHERE {_IN_PERIOD} AND type = '{attrs.EVENT_FAILED}'
        GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1, 2, 3""",
    "gates": f"""
        SELECT type, count(*) FROM va_events WHERE {_IN_PERIOD}
            AND type IN ('{attrs.EVENT_REVIEW_GATE_RELEASED}',
                '{attrs.EVENT_REVIEW_GATE_TIMED_OUT}')
        GROUP BY 1 ORDER BY 1""",
    "retention": f"""
        SELECT sequence, event_id, time, type, actor,
            json_extract(data, '$.data_class'),
            coalesce(json_extract(data, '$.events'), 0),
            coalesce(json_extract(data, '$.records'), 0)
        FROM va_events WHERE {_IN_PERIOD}
            AND type IN ('{EVENT_PURGED}', '{EVENT_ERASED}')
        ORDER BY sequence""",
    "policies": f"""
        SELECT policy_id, min(time), max(time), count(*) FROM va_events
        WHERE {_IN_PERIOD} AND policy_id IS NOT NULL
        GROUP BY 1 ORDER BY 2, 1""",
}

# Reviews: the analyses flagged in the period, their decisions up to the period's end.
_REVIEWS: Final = f"""
    WITH req AS (
        SELECT analysis_id, min(time) AS t,
            max(json_extract(data, '$.review.deadline_seconds')) AS deadline
        FROM va_events
        WHERE {_IN_PERIOD} AND type = '{attrs.EVENT_REVIEW_REQUIRED}'
            AND analysis_id IS NOT NULL
        GROUP BY analysis_id),
    dec AS (
        SELECT e.analysis_id, e.sequence, e.time,
            json_extract(e.data, '$.decision') AS decision,
            json_extract(e.data, '$.supersedes') AS supersedes,
            coalesce(json_extract(e.data, '$.overdue'), 0) AS overdue
        FROM va_events AS e JOIN req ON req.analysis_id = e.analysis_id
        WHERE e.time >= :lo AND e.time < :hi
            AND e.type = '{attrs.EVENT_REVIEW_DECIDED}'),
    latest AS (
        SELECT analysis_id, decision FROM dec AS d
        WHERE sequence = (SELECT max(sequence) FROM dec AS x
            WHERE x.analysis_id = d.analysis_id)),
    first_final AS (
        SELECT analysis_id, min(time) AS t, max(overdue) AS overdue FROM dec
        WHERE decision IN ('approve', 'reject', 'override')
        GROUP BY analysis_id)
"""

_REVIEW_SQL: Final[dict[str, str]] = {
    "required": _REVIEWS + "SELECT count(*) FROM req",
    "outcomes": _REVIEWS
    + """SELECT coalesce(latest.decision, 'pending'), count(*) FROM req
        LEFT JOIN latest USING (analysis_id) GROUP BY 1 ORDER BY 2 DESC, 1""",
    "durations": _REVIEWS
    + """SELECT (julianday(first_final.t) - julianday(req.t)) * 86400.0
        FROM req JOIN first_final USING (analysis_id) ORDER BY 1""",
    "late": _REVIEWS
    + """SELECT count(*) FROM req JOIN first_final USING (analysis_id)
        WHERE first_final.overdue
            OR (req.deadline IS NOT NULL AND (julianday(first_final.t)
                - julianday(req.t)) * 86400.0 > req.deadline)""",
    "overdue_pending": _REVIEWS
    + """SELECT count(*) FROM req LEFT JOIN first_final USING (analysis_id)
        WHERE first_final.analysis_id IS NULL AND req.deadline IS NOT NULL
            AND (julianday(:hi_plain) - julianday(req.t)) * 86400.0
                > req.deadline""",
    "decisions": _REVIEWS + "SELECT count(*), count(supersedes) FROM dec",
}

_EXCEPTIONS_WHERE: Final = f"""
    FROM va_events WHERE {_IN_PERIOD} AND (
        type IN ('{attrs.EVENT_DENIED}', '{attrs.EVENT_FAILED}',
            '{attrs.EVENT_REVIEW_GATE_TIMED_OUT}')
        OR (type = '{attrs.EVENT_REQUESTED}'
            AND json_extract(data, '$.policy.mode') = 'audit'))"""

_EXCEPTIONS: Final = f"""
    SELECT sequence, event_id, time, type, trace_id, analysis_id, purpose,
        json_extract(data, '$.reason'), json_extract(data, '$.policy.reason'),
        json_extract(data, '$.status_code'), json_extract(data, '$.error_code'),
        json_extract(data, '$.inner_error_code')
    {_EXCEPTIONS_WHERE} ORDER BY sequence LIMIT :cap"""


def _detail(row: tuple[Any, ...]) -> str:
    kind, reason, audit_reason, status, code, inner = (
        row[3],
        row[7],
        row[8],
        row[9],
        row[10],
        row[11],
    )
    if kind == attrs.EVENT_DENIED:
        return f"denied: {reason or 'unknown'}"
    if kind == attrs.EVENT_FAILED:
        codes = "/".join(str(c) for c in (code, inner) if c)
        return f"service error {status if status is not None else '-'} {codes}".strip()
    if kind == attrs.EVENT_REQUESTED:
        return f"let through in audit mode: {audit_reason or 'unknown'}"
    return "review gate timed out"


class _Reader:
    """Runs the aggregate statements on a read-only SQLite connection."""

    def __init__(self, path: Path, period: Period) -> None:
        uri = f"{path.absolute().as_uri()}?mode=ro"
        try:
            self._conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        except sqlite3.Error as err:  # pragma: no cover - the store opened it first
            msg = f"cannot open {path} read-only: {err}"
            raise StoreError(msg) from err
        self._conn.execute("PRAGMA query_only = ON")
        self._params: dict[str, Any] = {
            "lo": format_time(period.since),
            "hi": format_time(period.until),
            "hi_plain": period.until.strftime("%Y-%m-%d %H:%M:%S.%f"),
        }

    def all(self, sql: str, **extra: Any) -> list[tuple[Any, ...]]:  # noqa: ANN401
        return list(self._conn.execute(sql, {**self._params, **extra}))

    def one(self, sql: str, **extra: Any) -> tuple[Any, ...]:  # noqa: ANN401
        row = self._conn.execute(sql, {**self._params, **extra}).fetchone()
        return tuple(row) if row is not None else ()

    def close(self) -> None:
        self._conn.close()


def _aggregate(
    reader: _Reader, *, cap: int, step: Callable[[str], None]
) -> dict[str, Any]:
    sql = _SQL
    step("volumes")
    found: dict[str, Any] = {
        "rollup": tuple(reader.all(sql["rollup"])),
        "features": tuple(reader.all(sql["features"])),
    }
    step("consent and denials")
    found["consent_calls"] = tuple(reader.all(sql["consent"]))
    found["denials"] = tuple(reader.all(sql["denials"]))
    found["audit_mode"] = tuple(reader.all(sql["audit_mode"]))
    step("tag filtering and sensitive content")
    found["dropped_tags"] = tuple(reader.all(sql["dropped_tags"]))
    found["dropped_rules"] = tuple(reader.all(sql["dropped_rules"]))
    filtered, tags_dropped, objects_dropped = reader.one(sql["filtered"])
    found.update(
        filtered_analyses=filtered,
        tags_dropped_total=tags_dropped,
        objects_dropped_total=objects_dropped,
    )
    found["flags"] = tuple(reader.all(sql["flags"]))
    people, mean, peak = reader.one(sql["completed"])
    found["people_detected"] = int(people or 0)
    found["latency"] = (mean, peak)
    found["model_versions"] = tuple(reader.all(sql["models"]))
    found["health_categories"] = tuple(reader.all(sql["health"]))
    step("human review")
    found["review_required"] = reader.one(_REVIEW_SQL["required"])[0]
    found["review_outcomes"] = tuple(reader.all(_REVIEW_SQL["outcomes"]))
    found["review_durations"] = tuple(
        float(row[0]) for row in reader.all(_REVIEW_SQL["durations"])
    )
    found["review_decided_late"] = reader.one(_REVIEW_SQL["late"])[0]
    found["review_overdue_pending"] = reader.one(_REVIEW_SQL["overdue_pending"])[0]
    decisions, superseded = reader.one(_REVIEW_SQL["decisions"])
    found["review_decisions"] = decisions
    found["review_superseded"] = superseded
    found["gate_counts"] = tuple(reader.all(sql["gates"]))
    step("errors, retention, policies and exceptions")
    found["errors"] = tuple(reader.all(sql["errors"]))
    found["retention"] = tuple(reader.all(sql["retention"]))
    found["policies"] = tuple(reader.all(sql["policies"]))
    found["exceptions"] = tuple(
        ExceptionRow(
            sequence=row[0],
            event_id=row[1],
            time=row[2],
            type=row[3],
            trace_id=row[4],
            analysis_id=row[5],
            purpose=row[6],
            detail=_detail(row),
        )
        for row in reader.all(_EXCEPTIONS, cap=cap)
    )
    found["exceptions_total"] = reader.one("SELECT count(*) " + _EXCEPTIONS_WHERE)[0]
    return found


def query_store(
    store_url: str,
    period: Period,
    *,
    exception_cap: int = DEFAULT_EXCEPTION_CAP,
    progress: Callable[[str], None] | None = None,
) -> StoreFacts:
    """
    Verify the store, then aggregate its events in *period* with SQL.

    Args:
        store_url: ``sqlite:///...`` (PostgreSQL is not supported yet).
        period: The report's period.
        exception_cap: How many exceptions to list; the rest are counted.
        progress: Called with a short message as each stage starts.

    Returns:
        The aggregated facts and the verification result.

    Raises:
        ReportRenderError: The URL names no SQLite store file, or the file is
            missing.
        StoreError: The store cannot be read.

    .. versionadded:: 0.1.0
    """
    step = progress if progress is not None else (lambda _message: None)
    path = _sqlite_path(store_url)
    if path is None:
        msg = (
            f"reports read SQLite stores (sqlite:///path.db) for now, not "
            f"{redact_url(store_url)}"
        )
        raise ReportRenderError(msg)
    if not path.is_file():
        msg = f"no store at {path}"
        raise ReportRenderError(msg)
    store: BaseAuditStore = open_store(store_url, read_only=True)  # type: ignore[assignment] # every store open_store gives is a BaseAuditStore
    try:
        step("verifying the hash chain")
        verification = store.verify(progress=lambda n: step(f"verified {n:,} events"))
        checkpoints = store.list_checkpoints()
        span = store.get_sequence_range(since=period.since, until=period.until)
        facts = _integrity(store, verification, checkpoints, None)
    finally:
        store.close()
    reader = _Reader(path, period)
    try:
        head_time = None
        if facts.head_sequence is not None:
            row = reader.one(
                "SELECT time FROM va_events WHERE sequence = :s",
                s=facts.head_sequence,
            )
            head_time = _time(row[0]) if row else None
        found = _aggregate(reader, cap=exception_cap, step=step)
    except sqlite3.Error as err:
        msg = f"cannot aggregate {redact_url(store_url)}: {err}"
        raise StoreError(msg) from err
    finally:
        reader.close()
    integrity = replace(facts, head_time=head_time)
    return StoreFacts(
        store=redact_url(store_url),
        period=period,
        integrity=integrity,
        sequence_range=span,
        exception_cap=exception_cap,
        **found,
    )


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)
