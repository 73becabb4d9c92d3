# ruff: noqa: S608 - the SQL below is built from constants only, never from input
"""
The review index: where each flagged analysis stands, kept beside the log.

A derived table, never evidence: ``verify`` does not read it, and it can be rebuilt
from the events at any time. Each ``review.required`` event adds its analysis
(the first one counts); each ``review.decided`` event records itself as the
analysis' latest decision, whose kind decides the state:

- ``pending``: flagged, not decided;
- ``escalated``: the latest decision is an escalation (still in the queue);
- ``decided``: the latest decision is approve, reject or override.

The stores keep it in the transaction of the append: SQLite and PostgreSQL with
triggers on ``va_events`` (so that every writer keeps it, whatever its version), the
memory store in Python with :func:`track`. ``due`` is the deadline in seconds since
the epoch (the flag's time plus ``data.review.deadline_seconds``), or None.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final, Literal

from vision_audit import attributes as attrs

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from vision_audit.models import RecordedEvent

__all__ = [
    "FINAL_DECISIONS",
    "OPEN_STATES",
    "ReviewEntry",
    "ReviewQuery",
    "ReviewRow",
    "ReviewState",
    "track",
]

ReviewState = Literal["pending", "escalated", "decided"]
OPEN_STATES: Final = ("pending", "escalated")
FINAL_DECISIONS: Final = ("approve", "reject", "override")
"""Decisions that take an analysis out of the queue (all but ``escalate``)."""

ReviewRow = tuple[str, int, int | None, str]
"""``(analysis_id, required sequence, latest decision's sequence, state)``."""

_EPOCH_JULIAN: Final = 2440587.5


@dataclass(frozen=True, slots=True)
class ReviewEntry:
    """One flagged analysis in the review index, with the events it rests on."""

    analysis_id: str
    state: ReviewState
    required: RecordedEvent
    """The ``review.required`` event that put the analysis in the queue."""
    latest: RecordedEvent | None
    """The latest ``review.decided`` event, if any."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewQuery:
    """Which entries of the review index to read, oldest flag first."""

    open_only: bool = True
    """Only analyses still in the queue (pending or escalated)."""
    purpose: str | None = None
    due_before: float | None = None
    """Only entries with a deadline before this (seconds since the epoch)."""
    after: int | None = None
    """Only entries flagged after this sequence: the cursor of the next page."""
    limit: int | None = None

    def sql(self, mark: str = "?") -> tuple[str, list[object]]:
        """A WHERE clause over ``va_reviews`` and its parameters."""
        conditions: list[str] = []
        params: list[object] = []
        if self.open_only:
            conditions.append("open = 1")
        if self.purpose is not None:
            conditions.append(f"purpose = {mark}")
            params.append(self.purpose)
        if self.due_before is not None:
            conditions.append(f"due < {mark}")
            params.append(self.due_before)
        if self.after is not None:
            conditions.append(f"required > {mark}")
            params.append(self.after)
        return (f"WHERE {' AND '.join(conditions)}" if conditions else ""), params

    def admits(self, entry: list[Any]) -> bool:
        """Whether this query reads a memory entry: see :func:`track`."""
        required, _, state, purpose, due = entry
        return (
            required is not None
            and (not self.open_only or state in OPEN_STATES)
            and (self.purpose is None or purpose == self.purpose)
            and (self.due_before is None or (due is not None and due < self.due_before))
            and (self.after is None or required > self.after)
        )


def state_of(decision: object) -> ReviewState:
    """The state a latest decision of this kind leaves an analysis in."""
    return "decided" if decision in FINAL_DECISIONS else "escalated"


def due_of(fields: Mapping[str, Any]) -> float | None:
    """The deadline of a ``review.required`` event, in seconds since the epoch."""
    data = fields.get("data")
    review = data.get("review") if isinstance(data, dict) else None
    seconds = review.get("deadline_seconds") if isinstance(review, dict) else None
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return None
    flagged = datetime.fromisoformat(str(fields["time"]))
    return flagged.timestamp() + seconds


def track(
    reviews: dict[str, list[Any]], fields: Mapping[str, Any], sequence: int
) -> None:
    """
    Apply one event to *reviews* (the memory store's index), as the triggers do.

    Each value is ``[required, latest, state, purpose, due]``; ``required`` is None
    for an analysis decided but not (yet) flagged, which is not in the queue.
    """
    analysis_id = fields.get("analysis_id")
    if not analysis_id:
        return
    kind = fields.get("type")
    entry = reviews.get(analysis_id)
    if kind == attrs.EVENT_REVIEW_REQUIRED:
        if entry is None:
            reviews[analysis_id] = [sequence, None, "pending", None, None]
            entry = reviews[analysis_id]
        elif entry[0] is not None:
            return  # the first flag counts
        entry[0], entry[3], entry[4] = sequence, fields.get("purpose"), due_of(fields)
    elif kind == attrs.EVENT_REVIEW_DECIDED:
        data = fields.get("data")
        decision = data.get("decision") if isinstance(data, dict) else None
        if entry is None:
            reviews[analysis_id] = entry = [None, None, "pending", None, None]
        entry[1], entry[2] = sequence, state_of(decision)


_FINAL_SQL: Final = ", ".join(f"'{d}'" for d in FINAL_DECISIONS)
_STATE_SQL: Final = (
    "CASE WHEN json_extract({envelope}, '$.data.decision') IN ("
    + _FINAL_SQL
    + ") THEN 'decided' ELSE 'escalated' END"
)

_CONSENT_TYPES: Final = (
    f"('{attrs.EVENT_CONSENT_GRANTED}', '{attrs.EVENT_CONSENT_REVOKED}')"
)
CONSENT_TYPES: Final = (attrs.EVENT_CONSENT_GRANTED, attrs.EVENT_CONSENT_REVOKED)
"""The events the consent table is made of, found through their own index."""

# A byte search first (instr), so that the JSON of most events is never parsed for
# these indexes: the envelope is canonical JSON, so a consent event holds this text;
# the few others that might (in their data) are left out by the type itself.
_CONSENT_MARK: Final = 'instr(envelope, \'"type":"consent.\') > 0'
SQLITE_CONSENT_DDL: Final = (
    "CREATE INDEX IF NOT EXISTS va_events_consent ON va_events (sequence) "
    f"WHERE {_CONSENT_MARK}"
)
SQLITE_CONSENT_SELECT: Final = (
    f"SELECT sequence FROM va_events WHERE {_CONSENT_MARK} "
    f"AND type IN {_CONSENT_TYPES} AND sequence > ? ORDER BY sequence"
)
_PG_CONSENT_MARK: Final = 'position(\'"type":"consent.\' IN envelope) > 0'
POSTGRES_CONSENT_DDL: Final = (
    "CREATE INDEX IF NOT EXISTS va_events_consent ON va_events (sequence) "
    f"WHERE {_PG_CONSENT_MARK}"
)
POSTGRES_CONSENT_SELECT: Final = (
    f"SELECT sequence FROM va_events WHERE {_PG_CONSENT_MARK} "
    f"AND (envelope::json ->> 'type') IN {_CONSENT_TYPES} "
    "AND sequence > %s ORDER BY sequence"
)

# The events that put a policy in force (``policy.activated``): few, read by the
# report to name the policy behind each policy id, found without a scan.
_POLICY_MARK: Final = 'instr(envelope, \'"type":"policy.\') > 0'
SQLITE_POLICY_DDL: Final = (
    "CREATE INDEX IF NOT EXISTS va_events_policy ON va_events (sequence) "
    f"WHERE {_POLICY_MARK}"
)
SQLITE_POLICY_EVENTS: Final = f"SELECT sequence FROM va_events WHERE {_POLICY_MARK}"
"""The sequences of the policy events, through their index (when the store has it)."""
_PG_POLICY_MARK: Final = 'position(\'"type":"policy.\' IN envelope) > 0'
POSTGRES_POLICY_DDL: Final = (
    "CREATE INDEX IF NOT EXISTS va_events_policy ON va_events (sequence) "
    f"WHERE {_PG_POLICY_MARK}"
)
POSTGRES_POLICY_EVENTS: Final = (
    f"SELECT sequence, envelope::jsonb AS e FROM va_events WHERE {_PG_POLICY_MARK}"
)

_SQLITE_DUE: Final = (
    "CASE WHEN json_type({envelope}, '$.data.review.deadline_seconds') "
    "IN ('integer', 'real') THEN (julianday({time}) - "
    + str(_EPOCH_JULIAN)
    + ") * 86400.0 + json_extract({envelope}, '$.data.review.deadline_seconds') END"
)
"""The deadline in seconds since the epoch; None unless the deadline is a number."""

SQLITE_DDL: Final = (
    # Every event of one analysis, in sequence order.
    (
        "CREATE INDEX IF NOT EXISTS va_events_analysis ON va_events (analysis_id) "
        "WHERE analysis_id IS NOT NULL"
    ),
    """CREATE TABLE IF NOT EXISTS va_reviews (
        analysis_id TEXT PRIMARY KEY NOT NULL,
        required INTEGER NOT NULL,
        latest INTEGER,
        state TEXT NOT NULL,
        open INTEGER NOT NULL,
        purpose TEXT,
        due REAL
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS va_reviews_queue ON va_reviews (open, required)",
    (
        "CREATE INDEX IF NOT EXISTS va_reviews_purpose "
        "ON va_reviews (open, purpose, required)"
    ),
    # A decision recorded before its flag (two hosts) is found when the flag comes.
    f"""CREATE TRIGGER IF NOT EXISTS va_reviews_required AFTER INSERT ON va_events
        WHEN instr(NEW.envelope, '"type":"{attrs.EVENT_REVIEW_REQUIRED}"')
            AND NEW.type = '{attrs.EVENT_REVIEW_REQUIRED}'
            AND NEW.analysis_id <> ''
        BEGIN
            INSERT OR IGNORE INTO va_reviews
                (analysis_id, required, latest, state, open, purpose, due)
            VALUES (
                NEW.analysis_id, NEW.sequence, NULL, 'pending', 1, NEW.purpose,
                {_SQLITE_DUE.format(envelope="NEW.envelope", time="NEW.time")}
            );
            UPDATE va_reviews SET
                latest = d.sequence,
                state = d.state,
                open = d.state != 'decided'
            FROM (
                SELECT sequence, {_STATE_SQL.format(envelope="envelope")} AS state
                FROM va_events
                WHERE analysis_id = NEW.analysis_id
                    AND type = '{attrs.EVENT_REVIEW_DECIDED}'
                ORDER BY sequence DESC LIMIT 1
            ) AS d
            WHERE va_reviews.analysis_id = NEW.analysis_id
                AND va_reviews.required = NEW.sequence;
        END""",
    f"""CREATE TRIGGER IF NOT EXISTS va_reviews_decided AFTER INSERT ON va_events
        WHEN instr(NEW.envelope, '"type":"{attrs.EVENT_REVIEW_DECIDED}"')
            AND NEW.type = '{attrs.EVENT_REVIEW_DECIDED}'
            AND NEW.analysis_id <> ''
        BEGIN
            UPDATE va_reviews SET
                latest = NEW.sequence,
                state = {_STATE_SQL.format(envelope="NEW.envelope")},
                open = {_STATE_SQL.format(envelope="NEW.envelope")} != 'decided'
            WHERE analysis_id = NEW.analysis_id;
        END""",
)
"""The review index of a SQLite store, and the triggers that keep it."""

SQLITE_REBUILD: Final = (
    "DELETE FROM va_reviews",
    f"""INSERT OR IGNORE INTO va_reviews
        (analysis_id, required, latest, state, open, purpose, due)
        SELECT analysis_id, sequence, NULL, 'pending', 1, purpose,
            {_SQLITE_DUE.format(envelope="envelope", time="time")}
        FROM va_events
        WHERE type = '{attrs.EVENT_REVIEW_REQUIRED}' AND analysis_id <> ''
        ORDER BY sequence""",
    f"""UPDATE va_reviews SET latest = d.sequence, state = d.state,
            open = d.state != 'decided'
        FROM (
            SELECT analysis_id, max(sequence) AS sequence,
                {_STATE_SQL.format(envelope="envelope")} AS state
            FROM va_events
            WHERE type = '{attrs.EVENT_REVIEW_DECIDED}' AND analysis_id <> ''
            GROUP BY analysis_id
        ) AS d
        WHERE va_reviews.analysis_id = d.analysis_id""",
)
"""Rebuild the index from the events (SQLite's bare max() picks that row's state)."""

_PG_STATE: Final = (
    "CASE WHEN ({envelope}::json -> 'data' ->> 'decision') IN ("
    + _FINAL_SQL
    + ") THEN 'decided' ELSE 'escalated' END"
)
_PG_DUE: Final = (
    "CASE WHEN json_typeof({envelope}::json -> 'data' -> 'review' "
    "-> 'deadline_seconds') = 'number' THEN "
    "extract(epoch FROM ({envelope}::json ->> 'time')::timestamptz) + "
    "(({envelope}::json -> 'data' -> 'review' ->> 'deadline_seconds'))::float8 END"
)

REVIEW_INDEX_VERSION: Final = "3"
"""The version of the PostgreSQL trigger and its function; va_meta holds the store's."""

POSTGRES_DDL: Final = (
    (
        "CREATE INDEX IF NOT EXISTS va_events_analysis "
        "ON va_events ((envelope::json ->> 'analysis_id'))"
    ),
    """CREATE TABLE IF NOT EXISTS va_reviews (
        analysis_id text PRIMARY KEY,
        required bigint NOT NULL,
        latest bigint,
        state text NOT NULL,
        open integer NOT NULL,
        purpose text,
        due double precision
    )""",
    "CREATE INDEX IF NOT EXISTS va_reviews_queue ON va_reviews (open, required)",
    (
        "CREATE INDEX IF NOT EXISTS va_reviews_purpose "
        "ON va_reviews (open, purpose, required)"
    ),
    f"""CREATE OR REPLACE FUNCTION va_track_review() RETURNS trigger
        LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
        DECLARE
            kind text := NEW.envelope::json ->> 'type';
            analysis text := NEW.envelope::json ->> 'analysis_id';
            last record;
        BEGIN
            IF analysis IS NULL OR analysis = '' THEN
                RETURN NULL;
            END IF;
            IF kind = '{attrs.EVENT_REVIEW_REQUIRED}' THEN
                INSERT INTO va_reviews
                    (analysis_id, required, latest, state, open, purpose, due)
                VALUES (
                    analysis, NEW.sequence, NULL, 'pending', 1,
                    NEW.envelope::json ->> 'purpose',
                    {_PG_DUE.format(envelope="NEW.envelope")}
                )
                ON CONFLICT (analysis_id) DO NOTHING;
                IF FOUND THEN
                    -- OFFSET 0 keeps the lookup on the index of analyses: flattened,
                    -- the planner walks the whole log backwards by sequence instead.
                    SELECT d.sequence, d.state INTO last FROM (
                        SELECT sequence,
                            {_PG_STATE.format(envelope="envelope")} AS state
                        FROM va_events
                        WHERE envelope::json ->> 'analysis_id' = analysis
                            AND envelope::json ->> 'type'
                                = '{attrs.EVENT_REVIEW_DECIDED}'
                        OFFSET 0
                    ) AS d
                    ORDER BY d.sequence DESC LIMIT 1;
                    IF FOUND THEN
                        UPDATE va_reviews SET latest = last.sequence,
                            state = last.state, open = (last.state <> 'decided')::int
                        WHERE analysis_id = analysis;
                    END IF;
                END IF;
            ELSIF kind = '{attrs.EVENT_REVIEW_DECIDED}' THEN
                UPDATE va_reviews SET
                    latest = NEW.sequence,
                    state = {_PG_STATE.format(envelope="NEW.envelope")},
                    open = (
                        {_PG_STATE.format(envelope="NEW.envelope")} <> 'decided'
                    )::int
                WHERE analysis_id = analysis
                    AND (latest IS NULL OR latest < NEW.sequence);
            END IF;
            RETURN NULL;
        END $$""",
    # Only events whose text names a review type reach the function (which parses).
    """CREATE OR REPLACE TRIGGER va_events_track_review
        AFTER INSERT ON va_events
        FOR EACH ROW
        WHEN (position('"type":"review.' IN NEW.envelope) > 0)
        EXECUTE FUNCTION va_track_review()""",
)
"""The review index of a PostgreSQL store, and the trigger that keeps it."""

POSTGRES_REBUILD: Final = (
    "DELETE FROM va_reviews",
    f"""INSERT INTO va_reviews
        (analysis_id, required, latest, state, open, purpose, due)
        SELECT DISTINCT ON (envelope::json ->> 'analysis_id')
            envelope::json ->> 'analysis_id', sequence, NULL, 'pending', 1,
            envelope::json ->> 'purpose', {_PG_DUE.format(envelope="envelope")}
        FROM va_events
        WHERE envelope::json ->> 'type' = '{attrs.EVENT_REVIEW_REQUIRED}'
            AND envelope::json ->> 'analysis_id' <> ''
        ORDER BY envelope::json ->> 'analysis_id', sequence""",
    f"""UPDATE va_reviews SET latest = d.sequence, state = d.state,
            open = (d.state <> 'decided')::int
        FROM (
            SELECT DISTINCT ON (envelope::json ->> 'analysis_id')
                envelope::json ->> 'analysis_id' AS analysis_id, sequence,
                {_PG_STATE.format(envelope="envelope")} AS state
            FROM va_events
            WHERE envelope::json ->> 'type' = '{attrs.EVENT_REVIEW_DECIDED}'
                AND envelope::json ->> 'analysis_id' <> ''
            ORDER BY envelope::json ->> 'analysis_id', sequence DESC
        ) AS d
        WHERE va_reviews.analysis_id = d.analysis_id""",
)
"""Rebuild the index from the events."""
