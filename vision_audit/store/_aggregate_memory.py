"""
The period's figures of a memory store, computed in Python.

The same figures as the SQL of :mod:`._aggregate_sqlite`, by the same rules: a value
read from an event's data is taken as SQLite's ``json_extract`` gives it (JSON
``true`` is 1, an object is its JSON text, ``null`` is absent), groups are ordered as
SQLite orders them (absent values first, then numbers, then text by code point), and
an outcome counts for the period of its request. A test holds the three backends to
identical figures for the same events.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from vision_audit import attributes as attrs
from vision_audit.store._aggregates import (
    FINAL_DECISIONS,
    RETENTION_TYPES,
    TOP_TAGS,
    ExceptionRow,
    PeriodAggregates,
    bind_policy_name,
    exception_detail,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = ["aggregate_events"]

_OUTCOMES = (attrs.EVENT_COMPLETED, attrs.EVENT_FAILED)
_GATES = (attrs.EVENT_REVIEW_GATE_RELEASED, attrs.EVENT_REVIEW_GATE_TIMED_OUT)
_LISTED = (attrs.EVENT_DENIED, attrs.EVENT_FAILED, attrs.EVENT_REVIEW_GATE_TIMED_OUT)
_MISSING = object()


def _value(found: object) -> Any:  # noqa: ANN401 - a JSON value as SQL sees it
    """A JSON value as ``json_extract`` returns it."""
    if isinstance(found, bool):
        return int(found)
    if isinstance(found, dict | list):
        return json.dumps(found, separators=(",", ":"), ensure_ascii=False)
    return found


def _at(data: object, path: str) -> object:
    """The JSON value at the dotted *path* of *data*, or :data:`_MISSING`."""
    for key in path.split("."):
        if not isinstance(data, dict) or key not in data:
            return _MISSING
        data = data[key]
    return data


def _sql(data: object, path: str) -> Any:  # noqa: ANN401 - a JSON value as SQL sees it
    found = _at(data, path)
    return None if found is _MISSING else _value(found)


def _array(data: object, path: str) -> list[Any]:
    """The elements of the array at *path*, as ``json_each`` gives them; else none."""
    found = _at(data, path)
    return [_value(item) for item in found] if isinstance(found, list) else []


def _number(value: object) -> float | None:
    return value if isinstance(value, int | float) else None


def _order(value: object) -> tuple[int, Any]:
    """SQLite's order of values: NULL, then numbers, then text."""
    if value is None:
        return (0, 0)
    if isinstance(value, int | float):
        return (1, value)
    return (2, str(value))


def _by_count(counts: Counter[Any]) -> list[tuple[Any, ...]]:
    """``GROUP BY``'s rows, the largest count first, then by the grouped values."""
    rows = [
        (*key, n) if isinstance(key, tuple) else (key, n) for key, n in counts.items()
    ]
    return sorted(rows, key=lambda row: (-row[-1], *map(_order, row[:-1])))


def _by_key(counts: Counter[Any]) -> list[tuple[Any, ...]]:
    """``GROUP BY``'s rows, ordered by the grouped values."""
    rows = [
        (*key, n) if isinstance(key, tuple) else (key, n) for key, n in counts.items()
    ]
    return sorted(rows, key=lambda row: tuple(map(_order, row[:-1])))


def _moment(stored: str) -> datetime:
    return datetime.fromisoformat(stored)


def _seconds(later: str, earlier: str) -> float:
    """Exact to the microsecond, as both databases compute it."""
    delta = _moment(later) - _moment(earlier)
    micro = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return micro / 1_000_000


def aggregate_events(
    events: Iterable[tuple[int, dict[str, Any]]],
    bounds: dict[str, Any],
    *,
    activations: Iterable[dict[str, Any]],
    cap: int,
    step: Callable[[str], None],
) -> PeriodAggregates:
    """
    The figures of the *events* (sequence and parsed envelope) inside *bounds*.

    *bounds* holds ``lo`` and ``hi``, the period as stored times; events outside it
    are skipped, so the caller may give more. *activations* are the log's
    ``policy.activated`` events, in order, wherever they are.
    """
    step("aggregating in memory")
    period = [
        (sequence, fields)
        for sequence, fields in events
        if bounds["lo"] <= fields.get("time", "") < bounds["hi"]
    ]
    requested = {
        fields.get("analysis_id")
        for _, fields in period
        if fields.get("type") == attrs.EVENT_REQUESTED
    } - {None}
    names: dict[Any, tuple[Any, ...]] = {}
    for fields in activations:  # the last before the period's end wins
        if (
            fields.get("time", "") < bounds["hi"]
            and fields.get("policy_id") is not None
        ):
            data = fields.get("data")
            names[fields["policy_id"]] = bind_policy_name(
                (
                    fields["policy_id"],
                    *(_sql(data, key) for key in ("name", "version", "mode")),
                    fields["time"],
                    _sql(data, "document"),
                )
            )
    figures = _Figures(period, requested, bounds["hi"], cap).build()
    return replace(figures, policy_names=tuple(names[key] for key in sorted(names)))


class _Figures:
    """One pass over the period's events, then every figure from its counters."""

    def __init__(
        self,
        period: list[tuple[int, dict[str, Any]]],
        requested: set[Any],
        hi: str,
        cap: int,
    ) -> None:
        self._period = period
        self._requested = requested
        self._hi = hi
        self._cap = cap

    def _of_the_period(self, fields: dict[str, Any]) -> bool:
        return fields.get("analysis_id") in self._requested

    def build(self) -> PeriodAggregates:
        volumes = self._volumes()
        filtering = self._filtering()
        outcomes = self._outcomes()
        reviews = self._reviews()
        exceptions = [
            (sequence, fields)
            for sequence, fields in self._period
            if fields.get("type") in _LISTED
            or (
                fields.get("type") == attrs.EVENT_REQUESTED
                and _sql(fields.get("data"), "policy.mode") == "audit"
            )
        ]
        return PeriodAggregates(
            **volumes,
            **filtering,
            **outcomes,
            **reviews,
            exceptions=tuple(
                _exception(sequence, fields)
                for sequence, fields in exceptions[: self._cap]
            ),
            exceptions_total=len(exceptions),
            policy_names=(),
        )

    def _volumes(self) -> dict[str, Any]:
        rollup: Counter[tuple[Any, ...]] = Counter()
        features: Counter[Any] = Counter()
        consent: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
        denials: Counter[tuple[Any, ...]] = Counter()
        audit: Counter[Any] = Counter()
        gates: Counter[tuple[Any, ...]] = Counter()
        policies: dict[Any, list[Any]] = {}
        retention = []
        for sequence, fields in self._period:
            kind, data = fields.get("type") or "", fields.get("data")
            if kind not in _OUTCOMES or self._of_the_period(fields):
                day = fields["time"][:10]
                rollup[day, kind, fields.get("purpose"), fields.get("actor")] += 1
            if kind in {attrs.EVENT_REQUESTED, attrs.EVENT_DENIED}:
                features.update(_array(data, "features"))
            if kind == attrs.EVENT_REQUESTED:
                row = consent[fields.get("purpose") or ""]
                row[0] += 1
                row[1] += fields.get("consent_ref") is not None
                if _sql(data, "policy.mode") == "audit":
                    audit[_or(_sql(data, "policy.reason"), "unknown")] += 1
            elif kind == attrs.EVENT_DENIED:
                mode, reason = _sql(data, "mode"), _sql(data, "reason")
                denials[_or(mode, "enforce"), _or(reason, "unknown")] += 1
            elif kind in _GATES:
                gates[kind, _or(_sql(data, "action"), "")] += 1
            elif kind in RETENTION_TYPES:
                retention.append(_retention(sequence, fields))
            if fields.get("policy_id") is not None:
                seen = policies.setdefault(
                    fields["policy_id"], [fields["time"]] * 2 + [0]
                )
                seen[0], seen[1] = (
                    min(seen[0], fields["time"]),
                    max(seen[1], fields["time"]),
                )
                seen[2] += 1
        return {
            "rollup": tuple(_by_key(rollup)),
            "features": tuple(_by_count(features)),
            "consent_calls": tuple(
                (purpose, *consent[purpose]) for purpose in sorted(consent, key=_order)
            ),
            "denials": tuple(_by_count(denials)),
            "audit_mode": tuple(_by_count(audit)),
            "gate_counts": tuple(_by_key(gates)),
            "retention": tuple(retention),
            "policies": tuple(
                sorted(
                    ((policy, *seen) for policy, seen in policies.items()),
                    key=lambda row: (row[1], _order(row[0])),
                )
            ),
        }

    def _filtering(self) -> dict[str, Any]:
        tags: Counter[tuple[Any, ...]] = Counter()
        rules: Counter[Any] = Counter()
        filtered = tags_total = objects_total = 0
        health: Counter[Any] = Counter()
        for _, fields in self._period:
            kind, data = fields.get("type"), fields.get("data")
            if kind == attrs.EVENT_TAGS_FILTERED:
                filtered += 1
                dropped = _at(data, "tags.dropped")
                items = dropped if isinstance(dropped, list) else []
                tags_total += len(items)
                objects = _at(data, "objects.dropped")
                objects_total += len(objects) if isinstance(objects, list) else 0
                for item in items:
                    rule = _or(_sql(item, "rule"), "unknown")
                    tags[_sql(item, "name"), rule] += 1
                    rules[rule] += 1
            elif kind == attrs.EVENT_REVIEW_REQUIRED:
                health.update(_array(data, "health_categories"))
        return {
            "dropped_tags": tuple(_by_count(tags)[:TOP_TAGS]),
            "dropped_rules": tuple(_by_count(rules)),
            "filtered_analyses": filtered,
            "tags_dropped_total": tags_total,
            "objects_dropped_total": objects_total,
            "health_categories": tuple(_by_count(health)),
        }

    def _outcomes(self) -> dict[str, Any]:
        flags: Counter[Any] = Counter()
        models: Counter[Any] = Counter()
        errors: Counter[tuple[Any, ...]] = Counter()
        people: float = 0
        durations: list[float] = []
        withheld = 0
        for _, fields in self._period:
            kind, data = fields.get("type"), fields.get("data")
            if kind not in _OUTCOMES or not self._of_the_period(fields):
                continue
            if kind == attrs.EVENT_FAILED:
                codes = ("status_code", "error_code", "inner_error_code")
                errors[tuple(_sql(data, code) for code in codes)] += 1
                continue
            flags.update(_array(data, "flags"))
            people += _number(_sql(data, "results.people.count")) or 0
            duration = _number(_sql(data, "duration_ms"))
            if duration is not None:
                durations.append(duration)
            withheld += _sql(data, "withheld") is not None
            models[_or(_sql(data, "model_version"), "unknown")] += 1
        return {
            "flags": tuple(_by_count(flags)),
            "people_detected": int(people),
            "latency": (
                (sum(durations) / len(durations), float(max(durations)))
                if durations
                else (None, None)
            ),
            "withheld_results": withheld,
            "model_versions": tuple(_by_count(models)),
            "errors": tuple(_by_count(errors)),
        }

    def _reviews(self) -> dict[str, Any]:
        required: dict[Any, list[Any]] = {}  # analysis: [first flagged, deadline]
        for _, fields in self._period:
            analysis = fields.get("analysis_id")
            if fields.get("type") != attrs.EVENT_REVIEW_REQUIRED or analysis is None:
                continue
            deadline = _number(_sql(fields.get("data"), "review.deadline_seconds"))
            flagged = required.setdefault(analysis, [fields["time"], deadline])
            flagged[0] = min(flagged[0], fields["time"])
            if deadline is not None:
                flagged[1] = (
                    deadline if flagged[1] is None else max(flagged[1], deadline)
                )
        decisions = [
            (fields["analysis_id"], fields["time"], fields.get("data"))
            for _, fields in self._period
            if fields.get("type") == attrs.EVENT_REVIEW_DECIDED
            and fields.get("analysis_id") in required
        ]
        latest: dict[Any, Any] = {}
        final: dict[Any, list[Any]] = {}  # analysis: [first final decision, overdue]
        for analysis, moment, data in decisions:  # in the order of the log
            decision = _sql(data, "decision")
            latest[analysis] = decision
            if decision in FINAL_DECISIONS:
                overdue = _number(_sql(data, "overdue")) or 0
                seen = final.setdefault(analysis, [moment, overdue])
                seen[0], seen[1] = min(seen[0], moment), max(seen[1], overdue)
        durations = {
            analysis: _seconds(final[analysis][0], flagged[0])
            for analysis, flagged in required.items()
            if analysis in final
        }
        return {
            "review_required": len(required),
            "review_outcomes": tuple(
                _by_count(Counter(_or(latest.get(a), "pending") for a in required))
            ),
            "review_durations": tuple(sorted(durations.values())),
            "review_decided_late": sum(
                1
                for analysis, took in durations.items()
                if final[analysis][1] or _over(took, required[analysis][1])
            ),
            "review_overdue_pending": sum(
                1
                for analysis, (flagged, deadline) in required.items()
                if analysis not in final
                and _over(_seconds(self._hi, flagged), deadline)
            ),
            "review_decisions": len(decisions),
            "review_superseded": sum(
                _sql(data, "supersedes") is not None for _, _, data in decisions
            ),
        }


def _or(value: object, default: object) -> Any:  # noqa: ANN401 - SQL's coalesce
    return default if value is None else value


def _over(took: float, deadline: float | None) -> bool:
    return deadline is not None and took > deadline


def _retention(sequence: int, fields: dict[str, Any]) -> tuple[Any, ...]:
    data = fields.get("data")
    return (
        sequence,
        fields.get("event_id"),
        fields["time"],
        fields.get("type"),
        fields.get("actor"),
        _sql(data, "data_class"),
        _or(_sql(data, "events"), 0),
        _or(_sql(data, "records"), 0),
    )


def _exception(sequence: int, fields: dict[str, Any]) -> ExceptionRow:
    data = fields.get("data")
    paths = ("reason", "policy.reason", "status_code", "error_code", "inner_error_code")
    return ExceptionRow(
        sequence=sequence,
        event_id=fields["event_id"],
        time=fields["time"],
        type=fields["type"],
        trace_id=fields.get("trace_id"),
        analysis_id=fields.get("analysis_id"),
        purpose=fields.get("purpose"),
        detail=exception_detail(fields["type"], tuple(_sql(data, p) for p in paths)),
        actor=fields.get("actor"),
    )
