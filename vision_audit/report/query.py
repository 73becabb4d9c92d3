"""
Read-only aggregation of the audit store over a period, the chain verified first.

Every number is computed by the database; Python receives small result sets only:
counts by type, purpose, actor and day, top dropped tags, review durations, and a
capped list of exceptions. In SQLite, one pass over the period (through the ``time``
index) parses each envelope once and keeps the fields the report reads in a temporary
table of the connection's own, which every aggregate then reads. In PostgreSQL, the
same aggregates run over ``jsonb`` in one read-only snapshot
(:mod:`vision_audit.report._postgres`), and give the same figures. The store is opened
read-only and verified through its own API before any figure is read, and the
verification travels with the figures.
"""

# ruff: noqa: S608 - statements are built from module constants; values are bound

from __future__ import annotations

import hashlib
import sqlite3
import tempfile
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol
from urllib.parse import unquote

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from vision_audit import attributes as attrs
from vision_audit._time import parse_moment
from vision_audit.exceptions import ReportRenderError, StoreError
from vision_audit.store._canonical import format_time
from vision_audit.store._open import open_store, redact_url

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from vision_audit.store._base import BaseAuditStore
    from vision_audit.store._chain import Checkpoint, Verification
    from vision_audit.store.memory import InMemoryAuditStore

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

EVENT_PURGED: Final = attrs.EVENT_CONTENT_PURGED
EVENT_ERASED: Final = attrs.EVENT_SUBJECT_ERASED
EVENT_CONSENT_GRANTED: Final = attrs.EVENT_CONSENT_GRANTED
EVENT_CONSENT_REVOKED: Final = attrs.EVENT_CONSENT_REVOKED


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
        try:
            return parse_moment(value, end=end)
        except ValueError as err:
            raise ReportRenderError(str(err)) from err
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
        # Name the bounds as given: a bare until date stands for the end of that
        # day, a moment the user never typed.
        msg = (
            f"the period is empty: until {_as_given(until)} is not after since "
            f"{_as_given(since)}"
        )
        raise ReportRenderError(msg)
    return Period(start, stop)


def _as_given(value: str | date | datetime) -> str:
    return value.strip() if isinstance(value, str) else value.isoformat()


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointFacts:
    """The last signed checkpoint, as the report states it."""

    sequence: int
    hash: str
    time: datetime
    key_id: str
    root: str = ""
    note: str = ""
    """The signed note with the cosignatures of its body: what legal can keep."""
    witnesses: tuple[tuple[str, datetime], ...] = ()
    """The witnesses whose cosignatures of this very checkpoint the store keeps."""


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrityFacts:
    """
    What verifying the whole store found, before any figure was read.

    Args:
        ok: Every link and signature verified, and every content digest when
            *content_checked*.
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
        content_checked: Personal content was checked against its digests too.
        origin: The log's name, the first line of its checkpoints.
        root: The Merkle root of every event of the store, hex.
        keys_given: The signatures were checked against keys given to the report
            (``--public-key``), obtained apart from the store; False when only the
            keys the store itself records were used, which proves consistency,
            not who signed.
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
    content_checked: bool = True
    origin: str = ""
    root: str | None = None
    keys_given: bool = False


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
    withheld_results: int
    """Completed calls whose result was withheld (a block-listed tag came back)."""
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
    gate_counts: tuple[tuple[str, str, int], ...]
    """(event type, action: ``release``, ``withhold`` or ``abandoned``, count)."""
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
    try:
        keys = store.list_public_keys()
    except ValueError as err:  # a key that does not parse: verify fails on it too
        return (("?", f"unreadable: {err}"),)
    found = []
    for kid, key in sorted(keys.items()):
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
            sequence=last.sequence,
            hash=last.hash,
            time=last.time,
            key_id=last.key_id,
            root=last.root,
            note=last.signed_note(),
            witnesses=tuple(
                sorted(
                    (c.name, c.time) for c in last.cosignatures if c.body == last.body
                )
            ),
        ),
        key_fingerprints=_fingerprint(store),
        origin=store.origin,
        root=verification.root,
    )


def _sqlite_path(url: str) -> Path | None:
    scheme, _, rest = url.partition("://")
    if scheme.lower() != "sqlite" or not rest.startswith("/"):
        return None
    return Path(unquote(rest[1:].partition("?")[0]))


# One pass over the period (the indexed ``time`` column) parses each envelope once
# and keeps the fields the report reads in a temporary table, clustered by type;
# every aggregate then reads that table instead of parsing the envelopes again.
# json_extract shares one parse per row within a statement.
_FIELD: Final[dict[str, tuple[tuple[str, ...], str]]] = {
    # column: (types it is read for, path in the envelope's data)
    "features": ((attrs.EVENT_REQUESTED, attrs.EVENT_DENIED), "[features]"),
    "mode": ((attrs.EVENT_DENIED,), "mode"),
    "reason": ((attrs.EVENT_DENIED,), "reason"),
    "policy_mode": ((attrs.EVENT_REQUESTED,), "policy.mode"),
    "policy_reason": ((attrs.EVENT_REQUESTED,), "policy.reason"),
    "tags_dropped": ((attrs.EVENT_TAGS_FILTERED,), "[tags.dropped]"),
    "objects_dropped": ((attrs.EVENT_TAGS_FILTERED,), "#objects.dropped"),
    "flags": ((attrs.EVENT_COMPLETED,), "[flags]"),
    "people": ((attrs.EVENT_COMPLETED,), "results.people.count"),
    "duration": ((attrs.EVENT_COMPLETED,), "duration_ms"),
    "model": ((attrs.EVENT_COMPLETED,), "model_version"),
    "withheld": ((attrs.EVENT_COMPLETED,), "withheld"),
    "health": ((attrs.EVENT_REVIEW_REQUIRED,), "[health_categories]"),
    "deadline": ((attrs.EVENT_REVIEW_REQUIRED,), "review.deadline_seconds"),
    "status": ((attrs.EVENT_FAILED,), "status_code"),
    "error_code": ((attrs.EVENT_FAILED,), "error_code"),
    "inner_code": ((attrs.EVENT_FAILED,), "inner_error_code"),
    "decision": ((attrs.EVENT_REVIEW_DECIDED,), "decision"),
    "supersedes": ((attrs.EVENT_REVIEW_DECIDED,), "supersedes"),
    "overdue": ((attrs.EVENT_REVIEW_DECIDED,), "overdue"),
    "gate_action": (
        (attrs.EVENT_REVIEW_GATE_RELEASED, attrs.EVENT_REVIEW_GATE_TIMED_OUT),
        "action",
    ),
    "data_class": ((EVENT_PURGED, EVENT_ERASED), "data_class"),
    "n_events": ((EVENT_PURGED, EVENT_ERASED), "events"),
    "n_records": ((EVENT_PURGED, EVENT_ERASED), "records"),
}
_COLUMNS: Final = (
    "sequence",
    "event_id",
    "time",
    "analysis_id",
    "trace_id",
    "actor",
    "purpose",
    "consent_ref",
    "policy_id",
)


def _extract(types: tuple[str, ...], path: str) -> str:
    kinds = ", ".join(f"'{kind}'" for kind in types)
    if path.startswith("["):  # an array, as JSON text; anything else is ignored
        where = f"$.data.{path[1:-1]}"
        value = (
            f"CASE WHEN json_type(envelope, '{where}') = 'array' "
            f"THEN json_extract(envelope, '{where}') END"
        )
    elif path.startswith("#"):  # the length of an array
        value = f"json_array_length(envelope, '$.data.{path[1:]}')"
    else:
        value = f"json_extract(envelope, '$.data.{path}')"
    return f"CASE WHEN type IN ({kinds}) THEN {value} END"


_EXTRACT: Final = (
    "CREATE TEMP TABLE va_period (type TEXT NOT NULL, "
    + ", ".join((*_COLUMNS, *_FIELD))
    + ", PRIMARY KEY (type, sequence)) WITHOUT ROWID",
    "INSERT INTO temp.va_period SELECT coalesce(type, ''), "
    + ", ".join(
        (*_COLUMNS, *(_extract(types, path) for types, path in _FIELD.values()))
    )
    # OFFSET 0 keeps SQLite from flattening the subquery, so that each row's type
    # (a virtual column, i.e. a json_extract) is computed once, not once per CASE.
    + " FROM (SELECT type, envelope, "
    + ", ".join(_COLUMNS)
    + " FROM main.va_events WHERE time >= :lo AND time < :hi LIMIT -1 OFFSET 0)",
)

_P: Final = "temp.va_period"
# An outcome counts for the period of its request: a call requested before the
# period and answered in it is not one of the period's calls.
_OF_THE_PERIOD: Final = (
    f"analysis_id IN (SELECT analysis_id FROM {_P} "
    f"WHERE type = '{attrs.EVENT_REQUESTED}')"
)

_SQL: Final[dict[str, str]] = {
    "rollup": f"""
        SELECT substr(time, 1, 10), type, purpose, actor, count(*)
        FROM {_P}
        WHERE type NOT IN ('{attrs.EVENT_COMPLETED}', '{attrs.EVENT_FAILED}')
            OR {_OF_THE_PERIOD}
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4""",
    "features": f"""
        SELECT f.value, count(*) FROM {_P} AS e, json_each(e.features) AS f
        WHERE e.type IN ('{attrs.EVENT_REQUESTED}', '{attrs.EVENT_DENIED}')
        GROUP BY 1 ORDER BY 2 DESC, 1""",
    "consent": f"""
        SELECT coalesce(purpose, ''), count(*), count(consent_ref) FROM {_P}
        WHERE type = '{attrs.EVENT_REQUESTED}'
        GROUP BY 1 ORDER BY 1""",
    "denials": f"""
        SELECT coalesce(mode, 'enforce'), coalesce(reason, 'unknown'), count(*)
        FROM {_P} WHERE type = '{attrs.EVENT_DENIED}'
        GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2""",
    "audit_mode": f"""
        SELECT coalesce(policy_reason, 'unknown'), count(*)
        FROM {_P} WHERE type = '{attrs.EVENT_REQUESTED}' AND policy_mode = 'audit'
        GROUP BY 1 ORDER BY 2 DESC, 1""",
    "dropped_tags": f"""
        SELECT json_extract(t.value, '$.name'),
            coalesce(json_extract(t.value, '$.rule'), 'unknown'), count(*)
        FROM {_P} AS e, json_each(e.tags_dropped) AS t
        WHERE e.type = '{attrs.EVENT_TAGS_FILTERED}'
        GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT {TOP_TAGS}""",
    "dropped_rules": f"""
        SELECT coalesce(json_extract(t.value, '$.rule'), 'unknown'), count(*)
        FROM {_P} AS e, json_each(e.tags_dropped) AS t
        WHERE e.type = '{attrs.EVENT_TAGS_FILTERED}'
        GROUP BY 1 ORDER BY 2 DESC, 1""",
    "filtered": f"""
        SELECT count(*), coalesce(sum(json_array_length(tags_dropped)), 0),
            coalesce(sum(objects_dropped), 0)
        FROM {_P} WHERE type = '{attrs.EVENT_TAGS_FILTERED}'""",
    "flags": f"""
        SELECT f.value, count(*) FROM {_P} AS e, json_each(e.flags) AS f
        WHERE e.type = '{attrs.EVENT_COMPLETED}' AND e.{_OF_THE_PERIOD}
        GROUP BY 1 ORDER BY 2 DESC, 1""",
    "completed": f"""
        SELECT coalesce(sum(people), 0), avg(duration), max(duration),
            count(withheld)
        FROM {_P} WHERE type = '{attrs.EVENT_COMPLETED}' AND {_OF_THE_PERIOD}""",
    "models": f"""
        SELECT coalesce(model, 'unknown'), count(*)
        FROM {_P} WHERE type = '{attrs.EVENT_COMPLETED}' AND {_OF_THE_PERIOD}
        GROUP BY 1 ORDER BY 2 DESC, 1""",
    "health": f"""
        SELECT h.value, count(*) FROM {_P} AS e, json_each(e.health) AS h
        WHERE e.type = '{attrs.EVENT_REVIEW_REQUIRED}'
        GROUP BY 1 ORDER BY 2 DESC, 1""",
    "errors": f"""
        SELECT status, error_code, inner_code, count(*)
        FROM {_P} WHERE type = '{attrs.EVENT_FAILED}' AND {_OF_THE_PERIOD}
        GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1, 2, 3""",
    "gates": f"""
        SELECT type, coalesce(gate_action, ''), count(*) FROM {_P}
        WHERE type IN ('{attrs.EVENT_REVIEW_GATE_RELEASED}',
                '{attrs.EVENT_REVIEW_GATE_TIMED_OUT}')
        GROUP BY 1, 2 ORDER BY 1, 2""",
    "retention": f"""
        SELECT sequence, event_id, time, type, actor, data_class,
            coalesce(n_events, 0), coalesce(n_records, 0)
        FROM {_P} WHERE type IN ('{EVENT_PURGED}', '{EVENT_ERASED}')
        ORDER BY sequence""",
    "policies": f"""
        SELECT policy_id, min(time), max(time), count(*) FROM {_P}
        WHERE policy_id IS NOT NULL
        GROUP BY 1 ORDER BY 2, 1""",
}


def _seconds(later: str, earlier: str) -> str:
    # Exact to the microsecond, as PostgreSQL computes it: julianday() keeps
    # milliseconds only, and its float days do not give back whole seconds.
    return (
        f"((unixepoch(substr({later}, 1, 19)) - unixepoch(substr({earlier}, 1, 19)))"
        f" * 1000000 + (substr({later}, 21, 6) - substr({earlier}, 21, 6)))"
        " / 1000000.0"
    )


# Reviews: the analyses flagged in the period, their decisions up to the period's end.
_REVIEWS: Final = f"""
    WITH req AS (
        SELECT analysis_id, min(time) AS t, max(deadline) AS deadline
        FROM {_P}
        WHERE type = '{attrs.EVENT_REVIEW_REQUIRED}' AND analysis_id IS NOT NULL
        GROUP BY analysis_id),
    dec AS (
        SELECT e.analysis_id, e.sequence, e.time, e.decision, e.supersedes,
            coalesce(e.overdue, 0) AS overdue
        FROM {_P} AS e JOIN req ON req.analysis_id = e.analysis_id
        WHERE e.type = '{attrs.EVENT_REVIEW_DECIDED}'),
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
    + f"""SELECT {_seconds("first_final.t", "req.t")}
        FROM req JOIN first_final USING (analysis_id) ORDER BY 1""",
    "late": _REVIEWS
    + f"""SELECT count(*) FROM req JOIN first_final USING (analysis_id)
        WHERE first_final.overdue
            OR (req.deadline IS NOT NULL
                AND {_seconds("first_final.t", "req.t")} > req.deadline)""",
    "overdue_pending": _REVIEWS
    + f"""SELECT count(*) FROM req LEFT JOIN first_final USING (analysis_id)
        WHERE first_final.analysis_id IS NULL AND req.deadline IS NOT NULL
            AND {_seconds(":hi", "req.t")} > req.deadline""",
    "decisions": _REVIEWS + "SELECT count(*), count(supersedes) FROM dec",
}

_EXCEPTIONS_WHERE: Final = f"""
    FROM {_P} WHERE
        type IN ('{attrs.EVENT_DENIED}', '{attrs.EVENT_FAILED}',
            '{attrs.EVENT_REVIEW_GATE_TIMED_OUT}')
        OR (type = '{attrs.EVENT_REQUESTED}' AND policy_mode = 'audit')"""

_EXCEPTIONS: Final = f"""
    SELECT sequence, event_id, time, type, trace_id, analysis_id, purpose,
        reason, policy_reason, status, error_code, inner_code
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


_SQLITE_STATEMENTS: Final[dict[str, str]] = {
    **_SQL,
    **{f"review_{name}": sql for name, sql in _REVIEW_SQL.items()},
    "exceptions": _EXCEPTIONS,
    "exceptions_total": "SELECT count(*) " + _EXCEPTIONS_WHERE,
    "head_time": "SELECT time FROM main.va_events WHERE sequence = :s",
}


class _Reader(Protocol):
    """Runs the report's statements, by name, in one read-only snapshot."""

    error: type[Exception]

    def all(self, sql: str, **extra: Any) -> list[tuple[Any, ...]]: ...  # noqa: ANN401

    def one(self, sql: str, **extra: Any) -> tuple[Any, ...]: ...  # noqa: ANN401

    def prefetch(self, statements: dict[str, str], **extra: Any) -> None: ...  # noqa: ANN401

    def close(self) -> None: ...


class _SQLiteReader:
    """Runs the aggregate statements on a read-only SQLite connection."""

    error: type[Exception] = sqlite3.Error

    def __init__(self, path: Path, params: dict[str, Any]) -> None:
        uri = f"{path.absolute().as_uri()}?mode=ro"
        try:
            self._conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        except sqlite3.Error as err:  # pragma: no cover - the store opened it first
            msg = f"cannot open {path} read-only: {err}"
            raise StoreError(msg) from err
        self._params = params
        # One read transaction: every statement sees the same snapshot. The period's
        # fields go to a temporary table first (the store file is opened read-only,
        # the temporary database is this connection's own); then nothing is written.
        try:
            self._conn.execute("BEGIN")
            for statement in _EXTRACT:
                self._conn.execute(statement, params)
            self._conn.execute("PRAGMA query_only = ON")
        except sqlite3.Error as err:
            self._conn.close()
            msg = f"cannot read {path}: {err}"
            raise StoreError(msg) from err

    def all(self, sql: str, **extra: Any) -> list[tuple[Any, ...]]:  # noqa: ANN401
        return list(self._conn.execute(sql, {**self._params, **extra}))

    def one(self, sql: str, **extra: Any) -> tuple[Any, ...]:  # noqa: ANN401
        row = self._conn.execute(sql, {**self._params, **extra}).fetchone()
        return tuple(row) if row is not None else ()

    def prefetch(self, statements: dict[str, str], **extra: Any) -> None:  # noqa: ANN401
        """Nothing to do: the temporary table already holds the period's fields."""

    def close(self) -> None:
        self._conn.rollback()
        self._conn.close()


def _aggregate(
    reader: _Reader,
    sql: dict[str, str],
    *,
    cap: int,
    step: Callable[[str], None],
) -> dict[str, Any]:
    step("aggregating in the database")
    reader.prefetch(sql, cap=cap)
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
    people, mean, peak, withheld = reader.one(sql["completed"])
    found["people_detected"] = int(people or 0)
    found["withheld_results"] = int(withheld or 0)
    # Floats whatever the JSON held, as avg() gives in either database.
    found["latency"] = tuple(None if v is None else float(v) for v in (mean, peak))
    found["model_versions"] = tuple(reader.all(sql["models"]))
    found["health_categories"] = tuple(reader.all(sql["health"]))
    step("human review")
    found["review_required"] = reader.one(sql["review_required"])[0]
    found["review_outcomes"] = tuple(reader.all(sql["review_outcomes"]))
    found["review_durations"] = tuple(
        float(row[0]) for row in reader.all(sql["review_durations"])
    )
    found["review_decided_late"] = reader.one(sql["review_late"])[0]
    found["review_overdue_pending"] = reader.one(sql["review_overdue_pending"])[0]
    decisions, superseded = reader.one(sql["review_decisions"])
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
        for row in reader.all(sql["exceptions"], cap=cap)
    )
    found["exceptions_total"] = reader.one(sql["exceptions_total"])[0]
    return found


def _open_reader(
    store_url: str, period: Period, span: tuple[int, int] | None
) -> tuple[_Reader, dict[str, str]]:
    params: dict[str, Any] = {
        "lo": format_time(period.since),
        "hi": format_time(period.until),
        # The sequences that hold the period's events, as the store found them.
        "first": span[0] if span is not None else 1,
        "last": span[1] if span is not None else 0,
    }
    if _is_postgres(store_url):
        from vision_audit.report._postgres import (  # noqa: PLC0415 - psycopg is optional
            POSTGRES_STATEMENTS,
            PostgresReader,
        )

        return PostgresReader(store_url, params), POSTGRES_STATEMENTS
    path = _sqlite_path(store_url)
    if path is None:  # pragma: no cover - query_store checked the URL
        msg = f"no SQLite store file in {redact_url(store_url)}"
        raise ReportRenderError(msg)
    return _SQLiteReader(path, params), _SQLITE_STATEMENTS


def _is_postgres(url: str) -> bool:
    return url.partition("://")[0].lower() in {"postgresql", "postgres"}


def query_store(
    store_url: str | InMemoryAuditStore,
    period: Period,
    *,
    exception_cap: int = DEFAULT_EXCEPTION_CAP,
    progress: Callable[[str], None] | None = None,
    verify_content: bool = True,
    public_keys: Iterable[Ed25519PublicKey] | None = None,
) -> StoreFacts:
    """
    Verify the store, then aggregate its events in *period* with SQL.

    Args:
        store_url: ``sqlite:///...`` or ``postgresql://...``, or an
            :class:`~vision_audit.store.InMemoryAuditStore` itself (a ``memory://``
            URL would open a new, empty one): verified and aggregated from an
            exact copy of its log in a temporary SQLite file.
        period: The report's period.
        exception_cap: How many exceptions to list; the rest are counted.
        progress: Called with a short message as each stage starts.
        verify_content: Also check personal content against the salted digests the
            envelopes hold; without it, links and signatures are still verified
            (about three times faster on stores with content), and the report's
            cover says the digests were not checked.
        public_keys: The checkpoint signing keys to trust, obtained other than
            from the store; when None, the keys the store records are used and the
            verification warns that this proves consistency, not who signed.

    Returns:
        The aggregated facts and the verification result.

    Raises:
        ReportRenderError: The URL names neither an SQLite store file nor a
            PostgreSQL store, or the SQLite file is missing.
        StoreError: The store cannot be read.

    .. versionadded:: 0.1.0
    """
    step = progress if progress is not None else (lambda _message: None)
    if not isinstance(store_url, str):
        return _query_memory(
            store_url,
            period,
            exception_cap=exception_cap,
            progress=step,
            verify_content=verify_content,
            public_keys=public_keys,
        )
    if not _is_postgres(store_url):
        path = _sqlite_path(store_url)
        if path is None:
            msg = (
                "reports read SQLite (sqlite:///path.db) and PostgreSQL "
                f"(postgresql://...) stores, not {redact_url(store_url)}"
            )
            raise ReportRenderError(msg)
        if not path.is_file():
            msg = f"no store at {path}"
            raise ReportRenderError(msg)
    store: BaseAuditStore = open_store(store_url, read_only=True)  # type: ignore[assignment] # every store open_store gives is a BaseAuditStore
    try:
        step("verifying the hash chain")
        verification = store.verify(
            public_keys=public_keys,
            progress=lambda n: step(f"verified {n:,} events"),
            content=verify_content,
        )
        checkpoints = store.list_checkpoints()
        span = store.get_sequence_range(since=period.since, until=period.until)
        facts = replace(
            _integrity(store, verification, checkpoints, None),
            content_checked=verify_content,
            keys_given=public_keys is not None,
        )
    finally:
        store.close()
    step("reading the period's events")
    reader, statements = _open_reader(store_url, period, span)
    try:
        head_time = None
        if facts.head_sequence is not None:
            row = reader.one(statements["head_time"], s=facts.head_sequence)
            head_time = _time(row[0]) if row else None
        found = _aggregate(reader, statements, cap=exception_cap, step=step)
    except reader.error as err:
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


def _query_memory(
    store: InMemoryAuditStore,
    period: Period,
    *,
    exception_cap: int,
    progress: Callable[[str], None],
    verify_content: bool,
    public_keys: Iterable[Ed25519PublicKey] | None,
) -> StoreFacts:
    """The report's facts of a memory store, from an exact copy in SQLite."""
    with tempfile.TemporaryDirectory(prefix="vision-audit-report-") as folder:
        path = Path(folder) / "copy.db"
        store.copy_to_sqlite(path)
        facts = query_store(
            f"sqlite:///{path}",
            period,
            exception_cap=exception_cap,
            progress=progress,
            verify_content=verify_content,
            public_keys=public_keys,
        )
    return replace(facts, store=store.name)


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)
