"""
The figures of a period, as the store computes them: the report's one way in.

Every backend answers :meth:`~vision_audit.store.IndexedReads.aggregate_period` with
the same :class:`PeriodAggregates`: SQLite and PostgreSQL by ``GROUP BY`` in the
database (:mod:`._aggregate_sqlite`, :mod:`._aggregate_postgres`), the memory store
in Python (:mod:`._aggregate_memory`). Python receives small result sets only: counts
by type, purpose, actor and day, the top dropped tags, review durations and a capped
list of exceptions, so memory is bounded by the period's distinct values, not its
events. The statements of both databases run by name through a :class:`Reader`, and
:func:`run_statements` turns their rows into the figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from vision_audit import attributes as attrs
from vision_audit._policy_id import policy_id_of
from vision_audit.exceptions import StoreError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = [
    "DEFAULT_EXCEPTION_CAP",
    "TOP_TAGS",
    "ExceptionRow",
    "PeriodAggregates",
    "Reader",
    "exception_detail",
    "run_statements",
]

DEFAULT_EXCEPTION_CAP: Final = 200
"""How many exceptions the appendix lists before it only counts the rest."""

TOP_TAGS: Final = 15
"""How many dropped tags the tag filtering section names."""

RETENTION_TYPES: Final = (attrs.EVENT_CONTENT_PURGED, attrs.EVENT_SUBJECT_ERASED)
"""The events that record a purge or an erasure."""

FINAL_DECISIONS: Final = ("approve", "reject", "override")
"""Decisions that end a review (escalation does not)."""


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
    actor: str | None = None
    """Who made the call (the service or user the audit context names)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PeriodAggregates:
    """
    Everything the store says about a period, as small aggregated rows.

    Rows are tuples ordered deterministically (text by code point, absent values
    first), the same on every backend for the same events. An outcome (completed,
    failed) counts for the period of its request: a call requested before the period
    and answered in it is not one of the period's calls.

    .. versionadded:: 0.1.0
    """

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
    """(tag, rule, count), the most frequent first, capped at :data:`TOP_TAGS`."""
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
    policy_names: tuple[tuple[str, Any, Any, Any, str, bool], ...]
    """
    (policy_id, name, version, mode, time, bound) of the last ``policy.activated``
    of each policy before the period's end, in or before the period, ordered by id;
    *bound* is True when the document it records digests to the policy id, so that
    the name is the one of the policy the events ran under.
    """
    exceptions: tuple[ExceptionRow, ...]
    exceptions_total: int


def exception_detail(kind: str, fields: tuple[object, ...]) -> str:
    """
    What the appendix says of one exception, from the fields its type records.

    *fields* are the denial's reason, the audit-mode reason, and the failure's
    status, error code and inner error code.
    """
    reason, audit_reason, status, code, inner = fields
    if kind == attrs.EVENT_DENIED:
        return f"denied: {reason or 'unknown'}"
    if kind == attrs.EVENT_FAILED:
        codes = "/".join(str(c) for c in (code, inner) if c)
        return f"service error {status if status is not None else '-'} {codes}".strip()
    if kind == attrs.EVENT_REQUESTED:
        return f"let through in audit mode: {audit_reason or 'unknown'}"
    return "review gate timed out"


def bind_policy_name(row: Sequence[Any]) -> tuple[str, Any, Any, Any, str, bool]:
    """
    A ``policy.activated`` row with its document replaced by whether it is bound.

    *row* is (policy_id, name, version, mode, time, document); the document, as a
    store gives it back (JSON text or a parsed object), must digest to the id.
    """
    policy_id, name, version, mode, moment, document = row
    return (policy_id, name, version, mode, moment, policy_id_of(document) == policy_id)


class Reader(Protocol):
    """Runs a backend's statements, by name, in one read-only snapshot."""

    error: type[Exception]

    def all(self, sql: str, **extra: Any) -> list[tuple[Any, ...]]: ...  # noqa: ANN401

    def one(self, sql: str, **extra: Any) -> tuple[Any, ...]: ...  # noqa: ANN401

    def prefetch(self, statements: dict[str, str], **extra: Any) -> None: ...  # noqa: ANN401

    def close(self) -> None: ...


def run_statements(
    reader: Reader,
    sql: dict[str, str],
    *,
    cap: int,
    step: Callable[[str], None],
    store: str,
) -> PeriodAggregates:
    """
    The figures, from the rows of a backend's statements *sql*, by name.

    *reader* is closed afterwards, whatever happens.

    Raises:
        StoreError: A statement failed (the store named as *store*).
    """
    try:
        return _figures(reader, sql, cap=cap, step=step)
    except reader.error as err:
        msg = f"cannot aggregate {store}: {err}"
        raise StoreError(msg) from err
    finally:
        reader.close()


def _figures(
    reader: Reader,
    sql: dict[str, str],
    *,
    cap: int,
    step: Callable[[str], None],
) -> PeriodAggregates:
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
    found["policy_names"] = tuple(
        bind_policy_name(row) for row in reader.all(sql["policy_names"])
    )
    found["exceptions"] = tuple(
        ExceptionRow(
            sequence=row[0],
            event_id=row[1],
            time=row[2],
            type=row[3],
            trace_id=row[4],
            analysis_id=row[5],
            purpose=row[6],
            detail=exception_detail(row[3], row[7:12]),
            actor=row[12],
        )
        for row in reader.all(sql["exceptions"], cap=cap)
    )
    found["exceptions_total"] = reader.one(sql["exceptions_total"])[0]
    return PeriodAggregates(**found)
