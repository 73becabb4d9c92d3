"""
The store's indexed reads: one analysis' events, and the review queue.

Each backend answers from its indexes (``va_events_analysis`` and ``va_reviews`` in
SQLite and PostgreSQL, dictionaries in memory), so that a reviewer's case or a page
of the queue costs the same in a log of a thousand events or of a million. A store
opened read-only from a file made before the review index existed is read by a scan,
with the same answers.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from vision_audit.store._aggregates import DEFAULT_EXCEPTION_CAP, PeriodAggregates
from vision_audit.store._canonical import format_time, parse_json
from vision_audit.store._envelope import parse_envelope
from vision_audit.store._reviews import (
    CONSENT_TYPES,
    ReviewEntry,
    ReviewQuery,
    ReviewRow,
    ReviewState,
    track,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from datetime import datetime

    from vision_audit.models import RecordedEvent

__all__ = ["IndexedReads", "decoded_content", "scan_rows"]


_STATES: dict[str, ReviewState] = {
    "pending": "pending",
    "escalated": "escalated",
    "decided": "decided",
}


def _epoch(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        msg = f"due_before must be timezone-aware, got {moment!r}"
        raise ValueError(msg)
    return moment.timestamp()


def _check_limit(limit: int | None, name: str = "limit") -> int | None:
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int) or limit < 0
    ):
        msg = f"{name} must be a whole number of 0 or more, not {limit!r}"
        raise ValueError(msg)
    return limit


class IndexedReads(ABC):
    """Reads through the indexes a store keeps beside its log."""

    @abstractmethod
    def _read_events_at(
        self, sequences: list[int]
    ) -> Iterator[tuple[int, str, str, dict[str, Any] | None]]:
        """``(sequence, hash, envelope, content)`` of these events, in order."""

    @abstractmethod
    def _analysis_sequences(self, analysis_id: str) -> list[int]:
        """The sequences of the events of one analysis, in order."""

    _MARK = "?"
    """The SQL placeholder of the backend's driver."""

    @abstractmethod
    def _consent_sequences(self, after: int) -> list[int] | None:
        """Sequences of the consent events after *after*; None without the index."""

    def get_consent_events(self, *, after: int = 0) -> list[RecordedEvent]:
        """
        The ``consent.granted`` and ``consent.revoked`` events after *after*, in order.

        Read through their own index, so that a service's consent table is built
        without reading the whole log; a store without the index is scanned.

        .. versionadded:: 0.3.0
        """
        sequences = self._consent_sequences(after)
        if sequences is None:
            return [
                recorded
                for recorded in self.iter_events()
                if recorded.sequence > after and recorded.event.type in CONSENT_TYPES
            ]
        return self.read_events(sequences)

    def _select_reviews(
        self, sql: str, params: list[object]
    ) -> list[tuple[Any, ...]] | None:
        """Run *sql* over ``va_reviews``; None when the store has no such index."""
        raise NotImplementedError

    def _review_rows(self, query: ReviewQuery) -> list[ReviewRow] | None:
        """The index's rows for *query*; None when the store has no index."""
        where, params = query.sql(self._MARK)
        limit = "" if query.limit is None else f" LIMIT {int(query.limit)}"
        rows = self._select_reviews(
            "SELECT analysis_id, required, latest, state FROM va_reviews "  # noqa: S608 - built from constants
            f"{where} ORDER BY required{limit}",
            params,
        )
        if rows is None:
            return None
        return [
            (
                str(analysis),
                int(required),
                None if latest is None else int(latest),
                state,
            )
            for analysis, required, latest, state in rows
        ]

    def _count_reviews(self, query: ReviewQuery) -> int | None:
        """How many rows *query* would read without its limit; None without index."""
        where, params = query.sql(self._MARK)
        rows = self._select_reviews(
            f"SELECT count(*) FROM va_reviews {where}",  # noqa: S608 - constants
            params,
        )
        return None if rows is None else int(rows[0][0])

    @abstractmethod
    def iter_events(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[RecordedEvent]:
        """Every event, in order (what a store without an index is read by)."""

    def read_events(self, sequences: list[int]) -> list[RecordedEvent]:
        """
        The events at these sequence numbers, in order (unknown ones left out).

        .. versionadded:: 0.3.0
        """
        wanted = sorted({int(s) for s in sequences})
        if not wanted:
            return []
        return [
            parse_envelope(envelope, hash_, content)
            for _, hash_, envelope, content in self._read_events_at(wanted)
        ]

    def get_analysis_events(self, analysis_id: str) -> list[RecordedEvent]:
        """
        Every event of one analysis, decisions included, in sequence order.

        Read through the index of analysis ids: the cost does not grow with the log.

        .. versionadded:: 0.3.0
        """
        return self.read_events(self._analysis_sequences(analysis_id))

    def list_reviews(
        self,
        *,
        open_only: bool = True,
        purpose: str | None = None,
        due_before: datetime | None = None,
        after: int | None = None,
        limit: int | None = None,
    ) -> list[ReviewEntry]:
        """
        Flagged analyses from the review index, oldest flag first.

        Args:
            open_only: Only those still in the queue (pending or escalated).
            purpose: Only those of this purpose.
            due_before: Only those whose deadline is before this time (aware).
            after: Only those flagged after this sequence number: pass the last
                entry's ``required.sequence`` to read the next page.
            limit: At most this many.

        Raises:
            ValueError: *due_before* is naive, or *limit* is negative.

        .. versionadded:: 0.3.0
        """
        query = ReviewQuery(
            open_only=open_only,
            purpose=purpose,
            due_before=_epoch(due_before),
            after=after,
            limit=_check_limit(limit),
        )
        rows = self._review_rows(query)
        if rows is None:
            rows = self._scanned_rows(query)
        wanted = [r[1] for r in rows] + [r[2] for r in rows if r[2] is not None]
        events = {recorded.sequence: recorded for recorded in self.read_events(wanted)}
        return [
            ReviewEntry(
                analysis_id=analysis_id,
                state=_STATES[state],
                required=events[required],
                latest=None if latest is None else events[latest],
            )
            for analysis_id, required, latest, state in rows
        ]

    def count_reviews(
        self,
        *,
        open_only: bool = True,
        purpose: str | None = None,
        due_before: datetime | None = None,
    ) -> int:
        """
        How many flagged analyses :meth:`list_reviews` would give without a limit.

        .. versionadded:: 0.3.0
        """
        query = ReviewQuery(
            open_only=open_only, purpose=purpose, due_before=_epoch(due_before)
        )
        count = self._count_reviews(query)
        return len(self._scanned_rows(query)) if count is None else count

    def _scanned_rows(self, query: ReviewQuery) -> list[ReviewRow]:
        """The index's answer, computed from every event (stores without one)."""
        reviews: dict[str, list[Any]] = {}
        for recorded in self.iter_events():
            event = recorded.event
            track(
                reviews,
                {
                    "analysis_id": event.analysis_id,
                    "type": event.type,
                    "purpose": event.purpose,
                    "time": event.time.isoformat(),
                    "data": event.data,
                },
                recorded.sequence,
            )
        return scan_rows(reviews, query)

    @abstractmethod
    def _aggregate_period(
        self,
        bounds: dict[str, Any],
        *,
        cap: int,
        step: Callable[[str], None],
    ) -> PeriodAggregates:
        """
        The figures of the events in *bounds*, computed where the data is.

        *bounds* holds ``lo`` and ``hi`` (the period as stored times) and ``first``
        and ``last`` (the sequences that hold its events).
        """

    def aggregate_period(
        self,
        since: datetime,
        until: datetime,
        *,
        exception_cap: int = DEFAULT_EXCEPTION_CAP,
        progress: Callable[[str], None] | None = None,
    ) -> PeriodAggregates:
        """
        The figures of the events with ``since <= time < until``, for the report.

        Computed by the database (SQL ``GROUP BY`` in SQLite and PostgreSQL, in one
        read-only snapshot) or, in memory, by Python; only aggregated rows come back,
        so memory is bounded by the period's distinct values, not its events. The
        store is not verified here: the report verifies it first.

        Args:
            since: Start of the period (inclusive), timezone-aware.
            until: End of the period (exclusive), timezone-aware.
            exception_cap: How many exceptions to list; the rest are counted.
            progress: Called with a short message as each stage starts.

        Raises:
            ValueError: A bound is naive, or *exception_cap* is not a whole number
                of 0 or more.
            StoreError: The store cannot be read.

        .. versionadded:: 0.1.0
        """
        for name, moment in (("since", since), ("until", until)):
            if moment.tzinfo is None:
                msg = f"{name} must be timezone-aware, got {moment!r}"
                raise ValueError(msg)
        cap = _check_limit(exception_cap, "exception_cap")
        if cap is None:
            msg = "exception_cap must be a whole number of 0 or more, not None"
            raise ValueError(msg)
        span = self.get_sequence_range(since=since, until=until)  # type: ignore[attr-defined] # every store reads its range
        bounds = {
            "lo": format_time(since),
            "hi": format_time(until),
            "first": span[0] if span is not None else 1,
            "last": span[1] if span is not None else 0,
        }
        step = progress if progress is not None else (lambda _message: None)
        return self._aggregate_period(bounds, cap=cap, step=step)


def scan_rows(reviews: dict[str, list[Any]], query: ReviewQuery) -> list[ReviewRow]:
    """The rows of an index held in memory that *query* reads, oldest flag first."""
    chosen = sorted(
        (entry[0], analysis_id, entry)
        for analysis_id, entry in reviews.items()
        if query.admits(entry)
    )
    if query.limit is not None:
        chosen = chosen[: query.limit]
    return [(analysis_id, e[0], e[1], e[2]) for _, analysis_id, e in chosen]


def decoded_content(content: object) -> dict[str, Any] | None:
    """A row's remaining content (a JSON object of canonical texts), decoded."""
    values = json.loads(content) if isinstance(content, str | bytes) else content
    if not isinstance(values, dict) or not values:
        return None
    return {name: parse_json(text) for name, text in values.items()}
