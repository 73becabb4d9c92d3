"""
The period's figures in PostgreSQL, computed in one read-only snapshot.

They mirror the SQLite statements of :mod:`._aggregate_sqlite` one for one, so
that the same events give the same figures in either store: text sorts by code point
(``COLLATE "C"``), NULLs sort first, JSON ``null`` counts as SQL NULL, and values read
from the event's data come back as JSON values (numbers stay numbers), as SQLite's
``json_extract`` gives them. They run as one statement over the period's envelopes,
parsed once into a materialized CTE; each aggregate's rows come back as a JSON array
(``json_agg`` over its ordered rows).
"""

# ruff: noqa: S608 - statements are built from module constants; values are bound

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

from vision_audit import attributes as attrs
from vision_audit.exceptions import StoreError
from vision_audit.store._aggregates import RETENTION_TYPES, TOP_TAGS
from vision_audit.store._reviews import POSTGRES_POLICY_EVENTS

if TYPE_CHECKING:
    import psycopg

__all__ = ["POSTGRES_STATEMENTS", "PostgresReader"]

EVENT_PURGED, EVENT_ERASED = RETENTION_TYPES

# The period's events, each envelope parsed to jsonb once, kept for the length of
# the one statement that computes every aggregate (MATERIALIZED). The rows are found
# by the primary key, between the first and last sequence the store gives for the
# period, and the time is read from the parsed envelope: filtering on the store's
# time index (over ``envelope::json``) would parse each envelope twice when the
# period is most of the store. OFFSET 0 keeps the parsed envelope from being parsed
# again for every field read from it.
_PERIOD: Final = """WITH ev_period AS MATERIALIZED (SELECT sequence,
        e ->> 'event_id' AS event_id, e ->> 'type' AS type, e ->> 'time' AS time,
        e ->> 'analysis_id' AS analysis_id, e ->> 'trace_id' AS trace_id,
        e ->> 'actor' AS actor, e ->> 'purpose' AS purpose,
        e ->> 'consent_ref' AS consent_ref, e ->> 'policy_id' AS policy_id,
        e -> 'data' AS data
    FROM (SELECT sequence, envelope::jsonb AS e FROM va_events
        WHERE sequence BETWEEN %(first)s AND %(last)s OFFSET 0) AS parsed
    WHERE e ->> 'time' >= %(lo)s AND e ->> 'time' < %(hi)s)
"""
_EVENTS: Final = "ev_period"
# An outcome counts for the period of its request (as in the SQLite statements).
_OF_THE_PERIOD: Final = (
    f"analysis_id IN (SELECT analysis_id FROM {_EVENTS} "
    f"WHERE type = '{attrs.EVENT_REQUESTED}')"
)


def _path(*keys: str) -> str:
    return "'{" + ",".join(keys) + "}'"


def _value(*keys: str, alias: str = "") -> str:
    """The JSON value at *keys*, JSON null as SQL NULL (like ``json_extract``)."""
    return f"nullif({alias}data #> {_path(*keys)}, 'null'::jsonb)"


def _text(*keys: str, alias: str = "") -> str:
    return f'({alias}data #>> {_path(*keys)}) COLLATE "C"'


def _number(*keys: str) -> str:
    return (
        f"CASE WHEN jsonb_typeof(data #> {_path(*keys)}) = 'number' "
        f"THEN (data #>> {_path(*keys)})::float8 END"
    )


def _array(*keys: str, alias: str = "") -> str:
    return (
        f"CASE WHEN jsonb_typeof({alias}data #> {_path(*keys)}) = 'array' "
        f"THEN {alias}data #> {_path(*keys)} END"
    )


def _sort(column: str) -> str:
    """Order a JSON value as SQLite orders ``json_extract``'s: NULLs, then values."""
    return f"({column} #>> '{{}}') COLLATE \"C\" NULLS FIRST"


def _seconds(later: str, earlier: str) -> str:
    return (
        f"extract(epoch FROM ({later})::timestamptz - ({earlier})::timestamptz)::float8"
    )


_SQL: Final[dict[str, str]] = {
    "rollup": f"""
        SELECT substr(time, 1, 10) COLLATE "C", type COLLATE "C",
            purpose COLLATE "C", actor COLLATE "C", count(*)
        FROM {_EVENTS} AS ev
        WHERE type NOT IN ('{attrs.EVENT_COMPLETED}', '{attrs.EVENT_FAILED}')
            OR {_OF_THE_PERIOD}
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3 NULLS FIRST, 4 NULLS FIRST""",
    "features": f"""
        SELECT f.value COLLATE "C", count(*) FROM {_EVENTS} AS ev,
            jsonb_array_elements_text({_array("features", alias="ev.")}) AS f (value)
        WHERE ev.type IN ('{attrs.EVENT_REQUESTED}', '{attrs.EVENT_DENIED}')
        GROUP BY 1 ORDER BY 2 DESC, 1""",
    "consent": f"""
        SELECT coalesce(purpose, '') COLLATE "C", count(*), count(consent_ref)
        FROM {_EVENTS} AS ev WHERE type = '{attrs.EVENT_REQUESTED}'
        GROUP BY 1 ORDER BY 1""",
    "denials": f"""
        SELECT coalesce({_text("mode")}, 'enforce'),
            coalesce({_text("reason")}, 'unknown'), count(*)
        FROM {_EVENTS} AS ev WHERE type = '{attrs.EVENT_DENIED}'
        GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2""",
    "audit_mode": f"""
        SELECT coalesce({_text("policy", "reason")}, 'unknown'), count(*)
        FROM {_EVENTS} AS ev WHERE type = '{attrs.EVENT_REQUESTED}'
            AND data #>> {_path("policy", "mode")} = 'audit'
        GROUP BY 1 ORDER BY 2 DESC, 1""",
    "dropped_tags": f"""
        SELECT (t.value ->> 'name') COLLATE "C",
            coalesce(t.value ->> 'rule', 'unknown') COLLATE "C", count(*)
        FROM {_EVENTS} AS ev,
            jsonb_array_elements({_array("tags", "dropped", alias="ev.")}) AS t (value)
        WHERE ev.type = '{attrs.EVENT_TAGS_FILTERED}'
        GROUP BY 1, 2 ORDER BY 3 DESC, 1 NULLS FIRST, 2 LIMIT {TOP_TAGS}""",
    "dropped_rules": f"""
        SELECT coalesce(t.value ->> 'rule', 'unknown') COLLATE "C", count(*)
        FROM {_EVENTS} AS ev,
            jsonb_array_elements({_array("tags", "dropped", alias="ev.")}) AS t (value)
        WHERE ev.type = '{attrs.EVENT_TAGS_FILTERED}'
        GROUP BY 1 ORDER BY 2 DESC, 1""",
    "filtered": f"""
        SELECT count(*),
            coalesce(sum(jsonb_array_length({_array("tags", "dropped")})), 0)::bigint,
            coalesce(sum(jsonb_array_length({_array("objects", "dropped")})), 0)::bigint
        FROM {_EVENTS} AS ev WHERE type = '{attrs.EVENT_TAGS_FILTERED}'""",
    "flags": f"""
        SELECT f.value COLLATE "C", count(*) FROM {_EVENTS} AS ev,
            jsonb_array_elements_text({_array("flags", alias="ev.")}) AS f (value)
        WHERE ev.type = '{attrs.EVENT_COMPLETED}' AND ev.{_OF_THE_PERIOD}
        GROUP BY 1 ORDER BY 2 DESC, 1""",
    "completed": f"""
        SELECT coalesce(sum({_number("results", "people", "count")}), 0),
            avg({_number("duration_ms")}), max({_number("duration_ms")}),
            count({_text("withheld")})
        FROM {_EVENTS} AS ev
        WHERE type = '{attrs.EVENT_COMPLETED}' AND {_OF_THE_PERIOD}""",
    "models": f"""
        SELECT coalesce({_text("model_version")}, 'unknown'), count(*)
        FROM {_EVENTS} AS ev
        WHERE type = '{attrs.EVENT_COMPLETED}' AND {_OF_THE_PERIOD}
        GROUP BY 1 ORDER BY 2 DESC, 1""",
    "health": f"""
        SELECT h.value COLLATE "C", count(*) FROM {_EVENTS} AS ev,
            jsonb_array_elements_text({_array("health_categories", alias="ev.")})
                AS h (value)
        WHERE ev.type = '{attrs.EVENT_REVIEW_REQUIRED}'
        GROUP BY 1 ORDER BY 2 DESC, 1""",
    "errors": f"""
        SELECT status, code, inner_code, n FROM (
            SELECT {_value("status_code")} AS status, {_value("error_code")} AS code,
                {_value("inner_error_code")} AS inner_code, count(*) AS n
            FROM {_EVENTS} AS ev
            WHERE type = '{attrs.EVENT_FAILED}' AND {_OF_THE_PERIOD}
            GROUP BY 1, 2, 3) AS grouped
        ORDER BY n DESC, (jsonb_typeof(status) = 'number') DESC NULLS FIRST,
            CASE WHEN jsonb_typeof(status) = 'number'
                THEN (status #>> '{{}}')::numeric END, {_sort("status")},
            {_sort("code")}, {_sort("inner_code")}""",
    "gates": f"""
        SELECT type COLLATE "C", coalesce({_text("action")}, '') COLLATE "C",
            count(*) FROM {_EVENTS} AS ev
        WHERE type IN ('{attrs.EVENT_REVIEW_GATE_RELEASED}',
            '{attrs.EVENT_REVIEW_GATE_TIMED_OUT}')
        GROUP BY 1, 2 ORDER BY 1, 2""",
    "retention": f"""
        SELECT sequence, event_id, time, type, actor, data ->> 'data_class',
            coalesce({_value("events")}, '0'::jsonb),
            coalesce({_value("records")}, '0'::jsonb)
        FROM {_EVENTS} AS ev
        WHERE type IN ('{EVENT_PURGED}', '{EVENT_ERASED}')
        ORDER BY sequence""",
    "policy_names": f"""
        SELECT policy_id COLLATE "C", name, version, mode, time, document FROM (
            SELECT DISTINCT ON (e ->> 'policy_id') e ->> 'policy_id' AS policy_id,
                nullif(e #> '{{data,name}}', 'null'::jsonb) AS name,
                nullif(e #> '{{data,version}}', 'null'::jsonb) AS version,
                nullif(e #> '{{data,mode}}', 'null'::jsonb) AS mode,
                e ->> 'time' AS time, e #> '{{data,document}}' AS document
            FROM ({POSTGRES_POLICY_EVENTS}) AS p
            WHERE e ->> 'type' = '{attrs.EVENT_POLICY_ACTIVATED}'
                AND e ->> 'time' < %(hi)s AND e ->> 'policy_id' IS NOT NULL
            ORDER BY e ->> 'policy_id', sequence DESC) AS latest
        ORDER BY 1""",
    "policies": f"""
        SELECT policy_id COLLATE "C", min(time COLLATE "C"), max(time COLLATE "C"),
            count(*)
        FROM {_EVENTS} AS ev WHERE policy_id IS NOT NULL
        GROUP BY 1 ORDER BY 2, 1""",
}

_REVIEWS: Final = f"""
    WITH req AS (
        SELECT analysis_id, min(time COLLATE "C") AS t,
            max({_number("review", "deadline_seconds")}) AS deadline
        FROM {_EVENTS} AS ev
        WHERE type = '{attrs.EVENT_REVIEW_REQUIRED}' AND analysis_id IS NOT NULL
        GROUP BY analysis_id),
    dec AS (
        SELECT e.analysis_id, e.sequence, e.time,
            e.data ->> 'decision' AS decision, e.data ->> 'supersedes' AS supersedes,
            CASE jsonb_typeof(e.data -> 'overdue')
                WHEN 'boolean' THEN (e.data ->> 'overdue')::boolean
                WHEN 'number' THEN (e.data ->> 'overdue')::float8 <> 0
                ELSE false END AS overdue
        FROM {_EVENTS} AS e JOIN req ON req.analysis_id = e.analysis_id
        WHERE e.type = '{attrs.EVENT_REVIEW_DECIDED}'),
    latest AS (
        SELECT DISTINCT ON (analysis_id) analysis_id, decision COLLATE "C" AS decision
        FROM dec ORDER BY analysis_id, sequence DESC),
    first_final AS (
        SELECT analysis_id, min(time COLLATE "C") AS t, bool_or(overdue) AS overdue
        FROM dec WHERE decision IN ('approve', 'reject', 'override')
        GROUP BY analysis_id)
"""

_REVIEW_SQL: Final[dict[str, str]] = {
    "required": _REVIEWS + "SELECT count(*) FROM req",
    "outcomes": _REVIEWS
    + """SELECT coalesce(latest.decision, 'pending') COLLATE "C", count(*) FROM req
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
            AND {_seconds("%(hi)s", "req.t")} > req.deadline""",
    "decisions": _REVIEWS + "SELECT count(*), count(supersedes) FROM dec",
}

_EXCEPTIONS_WHERE: Final = f"""
    FROM {_EVENTS} AS ev WHERE
        type IN ('{attrs.EVENT_DENIED}', '{attrs.EVENT_FAILED}',
            '{attrs.EVENT_REVIEW_GATE_TIMED_OUT}')
        OR (type = '{attrs.EVENT_REQUESTED}'
            AND data #>> {_path("policy", "mode")} = 'audit')"""

POSTGRES_STATEMENTS: Final[dict[str, str]] = {
    **_SQL,
    **{f"review_{name}": sql for name, sql in _REVIEW_SQL.items()},
    "exceptions": f"""
        SELECT sequence, event_id, time, type, trace_id, analysis_id, purpose,
            {_value("reason")}, {_value("policy", "reason")}, {_value("status_code")},
            {_value("error_code")}, {_value("inner_error_code")}, actor
        {_EXCEPTIONS_WHERE} ORDER BY sequence LIMIT %(cap)s""",
    "exceptions_total": "SELECT count(*) " + _EXCEPTIONS_WHERE,
}
"""Every statement of the report, by name, with ``%(lo)s`` and ``%(hi)s`` bound."""


def _combined(statements: dict[str, str]) -> str:
    """One statement giving every statement's rows, each as a JSON array of rows."""
    columns = ",\n".join(
        f"(SELECT coalesce(json_agg(x), '[]'::json) FROM ({sql}) AS x) AS {name}"
        for name, sql in statements.items()
    )
    return f"{_PERIOD}SELECT {columns}"


class PostgresReader:
    """
    Runs the aggregate statements in one read-only, repeatable-read transaction.

    :meth:`prefetch` computes them all in one statement, which parses the period's
    envelopes once; :meth:`all` and :meth:`one` then answer from its rows.
    """

    def __init__(
        self,
        module: Any,  # noqa: ANN401 - psycopg, imported by the store
        conninfo: str,
        schema: str | None,
        params: dict[str, Any],
    ) -> None:
        self.error: type[Exception] = module.Error
        options = "-c default_transaction_read_only=on"
        if schema:
            options += f" -c search_path={schema}"
        try:
            self._conn: psycopg.Connection[Any] = module.connect(
                conninfo,
                autocommit=False,
                application_name="vision-audit aggregate",
                options=options,
            )
            self._conn.execute(
                "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"
            )
            # The planner cannot know how many rows the materialized period holds,
            # and joined an outcome to its request by a nested loop over it:
            # quadratic, 9 s per statement at 20,000 events. Every aggregate here
            # reads whole sets, which hash joins serve.
            self._conn.execute("SET LOCAL enable_nestloop = off")
            # Nor is JIT compilation worth it: it spent 4.6 s compiling a statement
            # that runs in 0.4 s (the disabled nested loops make its cost look huge).
            self._conn.execute("SET LOCAL jit = off")
        except module.Error as err:
            msg = f"cannot open the store read-only: {err}"
            raise StoreError(msg) from err
        # Rows come back as JSON objects; their values, in column order, are the row.
        module.types.json.set_json_loads(_rows_loads, self._conn)
        self._params = params
        self._found: dict[str, list[tuple[Any, ...]]] = {}

    def prefetch(self, statements: dict[str, str], **extra: Any) -> None:  # noqa: ANN401
        """Run *statements* in one go, over one parse."""
        row = self._conn.execute(
            _combined(statements), {**self._params, **extra}
        ).fetchone()
        if row is None:  # pragma: no cover - a SELECT without FROM gives one row
            return
        for sql, rows in zip(statements.values(), row, strict=True):
            self._found[sql] = [tuple(values) for values in rows]

    def all(self, sql: str, **extra: Any) -> list[tuple[Any, ...]]:  # noqa: ANN401
        """Every row of *sql*."""
        if sql in self._found:
            return list(self._found[sql])
        return list(self._conn.execute(sql, {**self._params, **extra}).fetchall())

    def one(self, sql: str, **extra: Any) -> tuple[Any, ...]:  # noqa: ANN401
        """The first row of *sql*, or an empty tuple."""
        rows = self.all(sql, **extra)
        return rows[0] if rows else ()

    def close(self) -> None:
        """End the transaction and the connection."""
        self._conn.rollback()
        self._conn.close()


def _rows_loads(text: str | bytes) -> Any:  # noqa: ANN401 - JSON
    return json.loads(text, object_pairs_hook=lambda pairs: [v for _, v in pairs])
