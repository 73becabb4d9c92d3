"""
The period's figures in SQLite: one pass over the period, then ``GROUP BY``.

One pass over the period (through the indexed ``time`` column) parses each envelope
once and keeps the fields the figures need in a temporary table of the connection's
own, which every statement then reads, in one read transaction on a connection opened
read-only: the store file is never written.
"""

# ruff: noqa: S608 - statements are built from module constants; values are bound

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any, Final

from vision_audit import attributes as attrs
from vision_audit.exceptions import StoreError
from vision_audit.store._aggregates import RETENTION_TYPES, TOP_TAGS
from vision_audit.store._reviews import SQLITE_POLICY_EVENTS

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["SQLITE_STATEMENTS", "SQLiteReader"]

EVENT_PURGED, EVENT_ERASED = RETENTION_TYPES

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
    # The last activation of each policy before the period's end, wherever it is
    # in the log: a policy put in force before the period still names its events.
    "policy_names": f"""
        SELECT policy_id, json_extract(envelope, '$.data.name'),
            json_extract(envelope, '$.data.version'),
            json_extract(envelope, '$.data.mode'), time,
            json_extract(envelope, '$.data.document')
        FROM main.va_events WHERE sequence IN (
            SELECT max(sequence) FROM main.va_events
            WHERE sequence IN ({SQLITE_POLICY_EVENTS})
                AND type = '{attrs.EVENT_POLICY_ACTIVATED}'
                AND time < :hi AND policy_id IS NOT NULL
            GROUP BY policy_id)
        ORDER BY policy_id""",
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
        reason, policy_reason, status, error_code, inner_code, actor
    {_EXCEPTIONS_WHERE} ORDER BY sequence LIMIT :cap"""


SQLITE_STATEMENTS: Final[dict[str, str]] = {
    **_SQL,
    **{f"review_{name}": sql for name, sql in _REVIEW_SQL.items()},
    "exceptions": _EXCEPTIONS,
    "exceptions_total": "SELECT count(*) " + _EXCEPTIONS_WHERE,
}


class SQLiteReader:
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
