"""What the console's pages show, computed from the store: templates only lay it out."""

from __future__ import annotations

import logging
import string
import threading
import urllib.parse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from vision_audit.models import utc_now
from vision_audit.review._queue import list_pending_reviews

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from vision_audit.review._model import PendingReview, ReviewCase
    from vision_audit.store._base import BaseAuditStore

__all__ = [
    "DUE_CHOICES",
    "PAGE_SIZE",
    "Box",
    "Finding",
    "QueueCounts",
    "QueuePage",
    "QueueQuery",
    "QueueWatch",
    "boxes_of",
    "findings_of",
    "output_of",
    "queue_page",
    "trace_url",
]

_log = logging.getLogger("vision_audit.console")

PAGE_SIZE: Final = 25
"""Cases on one page of the queue."""

DUE_CHOICES: Final = {"": "any deadline", "overdue": "overdue only"}

REASON_BATCH: Final = 100
REASON_BATCHES: Final = 4
"""
Batches of open cases a reason filter reads at most for one page of the queue:
reasons are not in the review index, so a rare reason is looked for among the next
400 open cases, and the page offers to look further.
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueQuery:
    """The queue's filters and cursor, as read from the page's query string."""

    purpose: str | None = None
    reason: str | None = None
    due: str = ""
    after: int | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> QueueQuery:
        """Read the filters; unknown or malformed values are ignored."""
        after = params.get("after", "")
        due = params.get("due", "")
        return cls(
            purpose=params.get("purpose") or None,
            reason=params.get("reason") or None,
            due=due if due in DUE_CHOICES else "",
            after=int(after) if after.isdigit() and len(after) < 19 else None,  # noqa: PLR2004 - int64
        )

    def due_before(self, now: datetime) -> datetime | None:
        """The deadline the due filter asks for."""
        return now if self.due == "overdue" else None

    def link(self, **changes: object) -> str:
        """The query string of this query with *changes* (None removes a key)."""
        values: dict[str, object] = {
            "purpose": self.purpose,
            "reason": self.reason,
            "due": self.due or None,
            "after": self.after,
        }
        values.update(changes)
        kept = {k: str(v) for k, v in values.items() if v is not None}
        return "?" + urllib.parse.urlencode(kept) if kept else "?"


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuePage:
    """One page of the queue with its counts."""

    items: list[PendingReview]
    counts: QueueCounts | None
    """The whole queue's counts, as last counted (None before the first count)."""
    matching: int | None
    """How many open cases have the purpose asked for (None without one)."""
    next_after: int | None
    overdue_first: list[PendingReview] = field(default_factory=list)
    """On the first unfiltered page: the overdue cases, before the rest."""
    scanned: int = 0
    """How many open cases were read for this page (more than shown: a reason)."""


def _matches(item: PendingReview, reason: str | None) -> bool:
    return reason is None or reason in item.reasons or reason in item.flags


def queue_page(
    store: BaseAuditStore,
    query: QueueQuery,
    *,
    now: datetime,
    counts: QueueCounts | None = None,
    size: int | None = None,
) -> QueuePage:
    """
    One page of open cases, oldest flag first, from the store's review index.

    The overdue cases come first on the first page, unless *counts* (the queue's
    last count) says there are none: looking for them reads every open case when
    none is overdue. A reason filter is not in the index: stretches of the queue are
    read and filtered until the page is full, at most :data:`REASON_BATCHES`.
    """
    size = PAGE_SIZE if size is None else size
    due_before = query.due_before(now)
    items: list[PendingReview] = []
    after = query.after
    limit = REASON_BATCH if query.reason else size + 1
    exhausted = True
    scanned = 0
    rounds = REASON_BATCHES if query.reason else 1
    none_overdue = counts is not None and counts.overdue == 0
    for _ in range(0 if due_before is not None and none_overdue else rounds):
        batch = list_pending_reviews(
            store,
            now=now,
            purpose=query.purpose,
            limit=limit,
            after=after,
            overdue_only=due_before is not None,
        )
        scanned += len(batch)
        items.extend(item for item in batch if _matches(item, query.reason))
        exhausted = len(batch) < limit
        if batch:
            after = batch[-1].sequence
        if exhausted or len(items) > size:
            break
    if len(items) > size:
        items = items[:size]
        next_after: int | None = items[-1].sequence
    else:  # a reason not found in full: the next stretch starts after the last read
        next_after = None if exhausted else after
    overdue_first: list[PendingReview] = []
    if query.after is None and not query.due and not query.reason and not none_overdue:
        overdue_first = list_pending_reviews(
            store, now=now, purpose=query.purpose, overdue_only=True, limit=size
        )
    return QueuePage(
        items=items,
        counts=counts,
        matching=None
        if query.purpose is None
        else store.count_reviews(purpose=query.purpose),
        next_after=next_after,
        overdue_first=overdue_first,
        scanned=scanned,
    )


@dataclass(frozen=True, slots=True)
class QueueCounts:
    """How many cases are open and overdue in the whole queue, and when counted."""

    open: int
    overdue: int
    at: datetime


class QueueWatch:
    """
    Counts the queue in a thread of its own, so that no page waits for a count.

    Counting the overdue cases reads every open one (deadlines are not indexed):
    140 ms at 250,000 open cases. The count is refreshed every *every* seconds, and
    soon after a decision recorded through the console (:meth:`poke`).
    """

    def __init__(self, store: BaseAuditStore, *, every: float = 30.0) -> None:
        """Count *store*'s queue every *every* seconds once started."""
        self._store = store
        self._every = every
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.current: QueueCounts | None = None

    def refresh(self) -> QueueCounts:
        """Count now."""
        now = utc_now()
        self.current = QueueCounts(
            open=self._store.count_reviews(),
            overdue=self._store.count_reviews(due_before=now),
            at=now,
        )
        return self.current

    def poke(self) -> None:
        """Count again soon (a decision was recorded)."""
        self._wake.set()

    def start(self) -> None:
        """Count in the background until :meth:`stop`."""

        def run() -> None:
            while not self._stop.is_set():
                try:
                    self.refresh()
                except Exception:  # noqa: BLE001 - a count is not worth a crash
                    _log.exception("console: the queue could not be counted")
                self._wake.wait(self._every)
                self._wake.clear()

        threading.Thread(
            target=run, name="vision-audit-console-count", daemon=True
        ).start()

    def stop(self) -> None:
        """Stop counting."""
        self._stop.set()
        self._wake.set()


# -- one case ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """One line of the model's output: a name, a confidence, what the policy did."""

    kind: str
    name: str
    confidence: float | None = None
    dropped: str | None = None
    """The rule that dropped it before the application saw it, if any."""


@dataclass(frozen=True, slots=True)
class Box:
    """A box to draw over the picture, in its pixels."""

    label: str
    x: int
    y: int
    w: int
    h: int
    kind: str


def _verdicts(case: ReviewCase, section: str) -> list[Finding] | None:
    """What the policy kept and dropped, as its flag or filter event recorded it."""
    source = case.required or case.filtered or {}
    part = source.get(section)
    if not isinstance(part, dict):
        return None
    found: list[Finding] = []
    for which in ("kept", "dropped"):
        verdicts = part.get(which)
        found.extend(
            Finding(
                kind=section,
                name=str(verdict["name"]),
                confidence=_number(verdict.get("confidence")),
                dropped=None
                if which == "kept"
                else str(verdict.get("rule") or "policy"),
            )
            for verdict in (verdicts if isinstance(verdicts, list) else ())
            if isinstance(verdict, dict) and "name" in verdict
        )
    return sorted(found, key=lambda f: -(f.confidence or 0.0))


def _results(case: ReviewCase) -> Mapping[str, Any]:
    results = (case.completed or {}).get("results")
    return results if isinstance(results, dict) else {}


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def findings_of(case: ReviewCase) -> dict[str, list[Finding]]:
    """
    The model's tags and objects, with their confidences and the policy's verdict.

    Read from the policy's verdicts (``review.required`` or ``tags.filtered``),
    which hold what was dropped too; else from the facts ``analysis.completed``
    recorded, which hold what the application received.
    """
    results = _results(case)
    found: dict[str, list[Finding]] = {}
    for section in ("tags", "objects"):
        verdicts = _verdicts(case, section)
        if verdicts:
            found[section] = verdicts
            continue
        part = results.get(section)
        values = part.get(section) if isinstance(part, dict) else None
        found[section] = [
            Finding(
                kind=section,
                name=str(value["name"]),
                confidence=_number(value.get("confidence")),
            )
            for value in (values if isinstance(values, list) else ())
            if isinstance(value, dict) and "name" in value
        ]
    return found


def _box(value: object) -> tuple[int, int, int, int] | None:
    if not isinstance(value, list) or len(value) != 4:  # noqa: PLR2004 - x, y, w, h
        return None
    numbers = [_number(v) for v in value]
    if any(n is None or n < 0 for n in numbers):
        return None
    x, y, w, h = (int(n or 0) for n in numbers)
    return x, y, w, h


def boxes_of(case: ReviewCase) -> list[Box]:
    """The boxes the analysis recorded: its objects and the people it counted."""
    results = _results(case)
    boxes: list[Box] = []
    objects = results.get("objects")
    for value in objects.get("objects", ()) if isinstance(objects, dict) else ():
        box = _box(value.get("box")) if isinstance(value, dict) else None
        if box is not None:
            confidence = _number(value.get("confidence"))
            label = str(value.get("name", "object"))
            if confidence is not None:
                label += f" {confidence:.2f}"
            boxes.append(Box(label, *box, kind="object"))
    people = results.get("people")
    for value in people.get("boxes", ()) if isinstance(people, dict) else ():
        box = _box(value.get("box")) if isinstance(value, dict) else None
        if box is not None:
            confidence = _number(value.get("confidence"))
            label = "person" + ("" if confidence is None else f" {confidence:.2f}")
            boxes.append(Box(label, *box, kind="person"))
    return boxes


class _Fields(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def check_trace_template(template: str) -> str:
    """
    *template* if it is an http(s) URL whose fields are plain names.

    Raises:
        ValueError: Naming what is wrong.
    """
    scheme = urllib.parse.urlsplit(template.replace("{", "").replace("}", "")).scheme
    if scheme.lower() not in {"http", "https"}:
        msg = f"--trace-url-template must be an http(s) URL, not {scheme or 'none'}"
        raise ValueError(msg)
    for _, name, spec, conversion in string.Formatter().parse(template):
        if name is not None and (name not in {"trace_id", "span_id", "analysis_id"}
                                 or spec or conversion is not None):  # fmt: skip
            msg = (
                "--trace-url-template fields are {trace_id}, {span_id} and "
                f"{{analysis_id}}; not {{{name}}}"
            )
            raise ValueError(msg)
    return template


def trace_url(template: str | None, case: ReviewCase) -> str | None:
    """The trace viewer's URL for the case's analysis span, when there is a trace."""
    if template is None or not case.trace_id:
        return None
    return template.format_map(
        _Fields(
            trace_id=urllib.parse.quote(case.trace_id, safe=""),
            span_id=urllib.parse.quote(case.span_id or "", safe=""),
            analysis_id=urllib.parse.quote(case.analysis_id, safe=""),
        )
    )


def output_of(case: ReviewCase) -> dict[str, Any]:
    """The model's other output: caption, read text, people, dense captions."""
    results = _results(case)
    content = case.content or {}

    def part(name: str) -> Mapping[str, Any]:
        value = results.get(name)
        return value if isinstance(value, dict) else {}

    caption, read, people = part("caption"), part("read"), part("people")
    lines = content.get("read_text")
    dense = content.get("dense_captions")
    return {
        "caption": bool(caption),
        "caption_confidence": _number(caption.get("confidence")),
        "caption_text": content.get("caption")
        if isinstance(content.get("caption"), str)
        else None,
        "read": bool(read),
        "read_lines": _number(read.get("lines")),
        "read_words": _number(read.get("words")),
        "read_text": [str(line) for line in lines] if isinstance(lines, list) else None,
        "people": bool(people),
        "people_count": _number(people.get("count")),
        "people_detections": _number(people.get("detections")),
        "dense_count": _number(part("denseCaptions").get("count")),
        "dense_text": [str(d) for d in dense] if isinstance(dense, list) else None,
        "captured": bool(content),
    }
