"""
Pure functions from the store's aggregated facts to the report's numbers.

:func:`build_report_data` turns :class:`~vision_audit.report.query.StoreFacts` into a
:class:`ReportData`: every figure, share, percentile and sentence the templates show,
so that templates hold layout only. Nothing here reads a store or a clock: the same
facts and options give the same report, down to its id.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from vision_audit import attributes as attrs
from vision_audit._text import counted
from vision_audit.report._compare import Change, compare
from vision_audit.report._figures import (
    SECTIONS,
    named_figures,
    purposes_needing_no_consent,
)
from vision_audit.report.mappings import STATUSES, load_mappings
from vision_audit.report.query import EVENT_CONSENT_GRANTED, EVENT_CONSENT_REVOKED

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from vision_audit.report.mappings import Framework, MappingItem
    from vision_audit.report.query import StoreFacts

__all__ = [
    "REPORT_SCHEMA",
    "Count",
    "DayVolume",
    "DroppedTag",
    "ExceptionEntry",
    "Finding",
    "FrameworkMap",
    "Integrity",
    "MapRow",
    "PolicyVersion",
    "PurposeVolume",
    "ReportData",
    "RetentionAction",
    "ServiceError",
    "build_report_data",
    "counted",
    "for_display",
]

REPORT_SCHEMA: Final = "vision-audit.report/2"
"""Version of the report's JSON, embedded in the PDF."""

DEFAULT_TITLE: Final = "Image analysis compliance report"


@dataclass(frozen=True, slots=True, kw_only=True)
class Count:
    """A label, how many, and its share of the whole in percent."""

    label: str
    count: int
    share: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DayVolume:
    """Calls of one UTC day."""

    day: str
    calls: int
    completed: int
    failed: int
    denied: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PurposeVolume:
    """Calls made for one purpose (or by one actor), and how they ended."""

    name: str
    calls: int
    completed: int
    failed: int
    denied: int
    review_required: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsentRow:
    """Consent coverage of the calls sent for one purpose."""

    purpose: str
    sent: int
    with_consent: int
    coverage: float | None
    needs_consent: bool = True
    """False when the policy in force let the purpose's calls through without one."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DroppedTag:
    """A tag the filter removed, the rule that removed it, and how often."""

    name: str
    rule: str
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceError:
    """Failed calls with one status and error code."""

    status: str
    code: str
    inner_code: str
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RetentionAction:
    """A purge or an erasure recorded in the period."""

    sequence: int
    event_id: str
    time: str
    action: str
    actor: str
    scope: str
    events: int
    records: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyVersion:
    """
    A policy in force during the period: its id, name, first and last use.

    The name, version and mode are those of the policy's last ``policy.activated``
    event before the period's end; None when the log holds none (a writer older
    than that event, or events recorded by hand).
    """

    policy_id: str
    first_seen: str
    last_seen: str
    events: int
    name: str | None = None
    version: str | None = None
    mode: str | None = None
    activated: str = ""
    """When it was (last) put in force, as the log says; empty when unknown."""
    mismatch: bool = False
    """The log names it, but the document recorded with the name is another policy."""

    @property
    def label(self) -> str:
        """``name version (mode)``, or what the log does not say."""
        if self.mismatch:
            return (
                "not named: the policy document recorded under this id "
                "digests to another id"
            )
        if self.name is None:
            return "not named in the log"
        version = f" {self.version}" if self.version else ""
        mode = f" ({self.mode})" if self.mode else ""
        return f"{self.name}{version}{mode}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ExceptionEntry:
    """An event the appendix lists, with ids to look up in the trace viewer."""

    sequence: int
    event_id: str
    time: str
    type: str
    trace_id: str
    analysis_id: str
    purpose: str
    detail: str
    actor: str = ""
    """Who made the call; empty when the store's figures do not say."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One sentence of the executive summary; ``attention`` marks a concern."""

    text: str
    attention: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class MapRow:
    """One item of a guidance or regulation map, assessed for the period."""

    item: str
    title: str
    requirement: str
    evidence: str
    """The item's evidence sentence, filled with the period's figures."""
    note: str
    status: str
    """``evidenced``, ``partly``, ``no evidence`` or ``not applicable``."""
    rule: str
    """The rule that decided the status; empty when none held."""
    sections: tuple[tuple[str, str], ...]
    """(anchor, title) of each section where the evidence is."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FrameworkMap:
    """A framework's map (guidance or regulation), each item with its status."""

    id: str
    anchor: str
    title: str
    publisher: str
    version: str
    url: str
    scope: str
    source: str
    items: tuple[MapRow, ...]
    statuses: tuple[Count, ...]
    """How many items have each status, in the order of the statuses."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Integrity:
    """The verification of the store, stated for the record."""

    verified: bool
    status: str
    message: str
    warnings: tuple[str, ...]
    events_verified: int
    checkpoints_verified: int
    head_sequence: str
    head_hash: str
    head_time: str
    bad_sequence: str
    damage: str
    checkpoint_sequence: str
    checkpoint_hash: str
    checkpoint_time: str
    checkpoint_key_id: str
    key_fingerprints: tuple[tuple[str, str], ...]
    period_sequences: str
    origin: str = ""
    root: str = "n/a"
    checkpoint_root: str = "n/a"
    checkpoint_note: str = ""
    witnesses: tuple[tuple[str, str], ...] = ()
    authenticated: bool = False
    """The signatures verified under a key given to the report."""
    content_checked: bool = True
    """Personal content digests were checked."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Review:
    """Human review of the analyses flagged in the period."""

    required: int
    decided: int
    pending: int
    escalated: int
    overdue_pending: int
    decided_late: int
    outcomes: tuple[Count, ...]
    override_rate: float | None
    median_decision: str
    p95_decision: str
    median_seconds: float | None
    p95_seconds: float | None
    decisions: int
    superseded: int
    gate_released: int
    """Gated results a reviewer's decision released (approved or overridden)."""
    gate_rejected: int
    """Gated results a reviewer's rejection withheld."""
    gate_timed_out: int
    """Gated calls that got no decision in time (or were abandoned waiting)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportData:
    """
    Every number and sentence of a compliance report, computed before rendering.

    ``as_dict()`` is the JSON embedded in the PDF.

    .. versionadded:: 0.1.0
    """

    schema: str
    report_id: str
    title: str
    organization: str
    store: str
    since: str
    until: str
    until_iso: str
    period_label: str
    as_of: str
    generated_at: str
    """When the report was made, for people: ``08 Dec 2026 01:15:07 UTC``."""
    generated_iso: str
    """The same, ISO 8601: the PDF's creation date."""
    open_period: bool
    """The period had not ended when the report was made."""
    empty: bool
    verified: bool
    # Volumes.
    events: int
    calls: int
    completed: int
    failed: int
    denied: int
    success_rate: float | None
    events_by_type: tuple[Count, ...]
    by_day: tuple[DayVolume, ...]
    by_purpose: tuple[PurposeVolume, ...]
    by_feature: tuple[Count, ...]
    by_actor: tuple[PurposeVolume, ...]
    mean_latency_ms: float | None
    max_latency_ms: float | None
    model_versions: tuple[Count, ...]
    # Consent.
    consent: tuple[ConsentRow, ...]
    consent_sent: int
    consent_with: int
    consent_needed: int
    """Calls sent for purposes that need consent (see ``ConsentRow``)."""
    consent_coverage: float | None
    """Share of ``consent_needed`` that carried a consent reference."""
    consents_granted: int
    consents_revoked: int
    denials_by_reason: tuple[Count, ...]
    audit_mode_calls: int
    audit_mode_by_reason: tuple[Count, ...]
    # Tags and sensitive content.
    filtered_analyses: int
    withheld_results: int
    tags_dropped: int
    objects_dropped: int
    allow_list_misses: int
    top_dropped_tags: tuple[DroppedTag, ...]
    rules: tuple[Count, ...]
    flags: tuple[Count, ...]
    people_detected: int
    health_categories: tuple[Count, ...]
    # Review, errors, retention, policy, integrity.
    review: Review
    errors: tuple[ServiceError, ...]
    retention: tuple[RetentionAction, ...]
    content_purged_events: int
    subjects_erased: int
    policies: tuple[PolicyVersion, ...]
    integrity: Integrity
    exceptions: tuple[ExceptionEntry, ...]
    exceptions_total: int
    exceptions_more: int
    findings: tuple[Finding, ...]
    maps: tuple[FrameworkMap, ...]
    events_before_period: int = 0
    """Events the store keeps from before the period."""
    log_kept_days: int | None = None
    """Whole days from the store's oldest event to the period's end."""
    sections: tuple[tuple[str, str], ...] = tuple(SECTIONS.items())
    """(anchor, title) of each section, in order: the contents page."""
    not_recorded: tuple[str, ...] = field(default=())
    previous_period: str = ""
    """The period compared with: the same length, just before; empty when none."""
    comparison: tuple[Change, ...] = field(default=())
    """The key figures beside the previous period's."""

    @property
    def table_rows(self) -> int:
        """Rows a table of the PDF shows; the rest are in the attached JSON."""
        return TABLE_ROWS

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: the machine-readable evidence of the report."""
        return asdict(self)

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, UTF-8), the report's attachment."""
        return json.dumps(self.as_dict(), sort_keys=True, ensure_ascii=False, indent=1)


_NOT_RECORDED: Final = (
    "Image bytes: only a SHA-256 digest, byte size, format, width and height.",
    (
        "API keys, tokens, and the query string or user-info of image URLs (where "
        "SAS tokens live)."
    ),
    "The service's error messages, which may echo input; only status and codes.",
    (
        "Captions and read text are kept apart from the hash chain as erasable "
        "content and never appear in this report."
    ),
    "Data subjects appear only as keyed pseudonyms; this report names none.",
)

TABLE_ROWS: Final = 50
"""Rows a table of the report shows (purposes, actors, counts); JSON has all."""
MAX_TEXT: Final = 200
"""Longest text a report shows of a recorded value (tag, purpose, actor...)."""


def _clip(text: str) -> str:
    # Values come from the store, where anyone who names a purpose or a tag can
    # put a 100,000-character word: the layout of such a cell takes minutes.
    return text if len(text) <= MAX_TEXT else f"{text[: MAX_TEXT - 1]}\u2026"


def _clipped(value: Any) -> Any:  # noqa: ANN401 - any of the report's values
    """*value* with every long text in it, or in the rows it holds, clipped."""
    if isinstance(value, str):
        return _clip(value)
    if isinstance(value, tuple):
        return tuple(_clipped(item) for item in value)
    if is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: _clip(text)
            for f in fields(value)
            if isinstance(text := getattr(value, f.name), str) and len(text) > MAX_TEXT
        }
        return replace(value, **changes) if changes else value
    return value


_OWN_TEXT: Final = frozenset(
    {"findings", "maps", "not_recorded", "integrity", "sections"}
)
"""ReportData fields written by vision-audit itself, shown whole."""


def for_display(data: ReportData) -> ReportData:
    """
    *data* with the recorded values of its tables clipped, for the PDF's layout.

    The attached JSON is made from the whole *data*; only what is laid out in a
    table cell is clipped (see :data:`MAX_TEXT`).

    .. versionadded:: 0.1.0
    """
    changes = {
        f.name: _clipped(value)
        for f in fields(data)
        if f.name not in _OWN_TEXT
        and isinstance(value := getattr(data, f.name), tuple | str)
    }
    return replace(data, **changes)


def _share(part: int, whole: int) -> float | None:
    """*part* as a percentage of *whole*; None (shown as n/a) when *whole* is 0."""
    return round(100.0 * part / whole, 1) if whole else None


def _counts(rows: Iterable[tuple[Any, int]]) -> tuple[Count, ...]:
    items = [(str(label) if label is not None else "(none)", n) for label, n in rows]
    whole = sum(n for _, n in items)
    return tuple(Count(label=k, count=n, share=_share(n, whole)) for k, n in items)


def _percentile(values: tuple[float, ...], fraction: float) -> float | None:
    """Nearest-rank percentile of sorted *values*."""
    if not values:
        return None
    rank = max(1, math.ceil(fraction * len(values)))
    return values[rank - 1]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds < 60:  # noqa: PLR2004
        return f"{seconds:.0f} s"
    if seconds < 3600:  # noqa: PLR2004
        return f"{seconds / 60:.1f} min"
    if seconds < 172800:  # noqa: PLR2004
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _stamp(moment: datetime | None) -> str:
    if moment is None:
        return "n/a"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _short_time(value: str) -> str:
    return value.replace("T", " ")[:19] + " UTC" if value else "n/a"


_MAX_DAYS_SHOWN: Final = 400
"""Periods up to this many days show every day, those without calls as zero."""


def _every_day(
    facts: StoreFacts, by_day: dict[str, dict[str, int]]
) -> list[tuple[str, dict[str, int]]]:
    """
    Each day of the period with its counts, days without calls included as zero.

    A day without calls is a fact of the period too; leaving it out lets one day's
    bar fill a week's chart. Longer periods than ``_MAX_DAYS_SHOWN`` list the days
    that have calls only.
    """
    first = facts.period.since.date()
    last = (facts.period.until - timedelta(microseconds=1)).date()
    days = (last - first).days + 1
    if days > _MAX_DAYS_SHOWN:
        return sorted(by_day.items())
    every = [(first + timedelta(days=n)).isoformat() for n in range(days)]
    outside = sorted(day for day in by_day if day not in set(every))
    return [(day, by_day.get(day, {})) for day in sorted({*every, *outside})]


def _volumes(
    facts: StoreFacts,
) -> tuple[
    dict[str, int],
    dict[str, dict[str, int]],
    dict[str, dict[str, int]],
    dict[str, dict[str, int]],
]:
    by_type: dict[str, int] = defaultdict(int)
    by_day: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_purpose: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_actor: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for day, kind, purpose, actor, n in facts.rollup:
        by_type[kind] += n
        by_day[day][kind] += n
        if purpose is not None or kind.startswith("analysis."):
            by_purpose[purpose or "(none)"][kind] += n
        if kind.startswith(("analysis.", "review.")):
            by_actor[actor or "(none)"][kind] += n
    return by_type, by_day, by_purpose, by_actor


def _calls(kinds: dict[str, int]) -> int:
    return kinds.get(attrs.EVENT_REQUESTED, 0) + kinds.get(attrs.EVENT_DENIED, 0)


def _volume_rows(table: dict[str, dict[str, int]]) -> tuple[PurposeVolume, ...]:
    rows = [
        PurposeVolume(
            name=name,
            calls=_calls(kinds),
            completed=kinds.get(attrs.EVENT_COMPLETED, 0),
            failed=kinds.get(attrs.EVENT_FAILED, 0),
            denied=kinds.get(attrs.EVENT_DENIED, 0),
            review_required=kinds.get(attrs.EVENT_REVIEW_REQUIRED, 0),
        )
        for name, kinds in table.items()
    ]
    rows = [row for row in rows if row.calls or row.review_required]
    return tuple(sorted(rows, key=lambda r: (-r.calls, r.name)))


def _consent_rows(facts: StoreFacts) -> tuple[ConsentRow, ...]:
    """Consent coverage by purpose, saying which purposes needed no consent."""
    free = purposes_needing_no_consent(facts)
    return tuple(
        ConsentRow(
            purpose=purpose or "(none)",
            sent=sent,
            with_consent=with_consent,
            coverage=_share(with_consent, sent),
            needs_consent=purpose not in free,
        )
        for purpose, sent, with_consent in facts.consent_calls
    )


_FIGURE: Final = re.compile(r"\{([a-z0-9_.]+)\}")


def _fill(text: str, figures: Mapping[str, float | None]) -> str:
    """*text* with each ``{figure}`` replaced by the figure, as the report prints it."""

    def value(match: re.Match[str]) -> str:
        number = figures[match.group(1)]
        if number is None:
            return "n/a"
        if float(number).is_integer():
            return f"{int(number):,}"
        return f"{number:,.1f}"

    return _FIGURE.sub(value, text).replace("n/a%", "n/a")


def _assess(item: MappingItem, figures: Mapping[str, float | None]) -> MapRow:
    status, rule = "no evidence", ""
    for candidate, when in (
        ("not applicable", item.not_applicable_when),
        ("evidenced", item.evidenced_when),
        ("partly", item.partly_when),
    ):
        if when is not None and when.holds(figures):
            status, rule = candidate, when.text
            break
    return MapRow(
        item=item.id,
        title=item.title,
        requirement=item.requirement,
        evidence=_fill(item.evidence, figures),
        note=item.note,
        status=status,
        rule=rule,
        sections=tuple((anchor, SECTIONS[anchor]) for anchor in item.sections),
    )


def _maps(
    data: dict[str, Any], frameworks: Sequence[Framework] | None
) -> tuple[FrameworkMap, ...]:
    """Each framework's items, their evidence filled in and their status decided."""
    if frameworks is None:
        frameworks = load_mappings()
    figures = named_figures(data)
    maps = []
    for framework in frameworks:
        rows = tuple(_assess(item, figures) for item in framework.items)
        maps.append(
            FrameworkMap(
                id=framework.id,
                anchor=f"map-{framework.id}",
                title=framework.title,
                publisher=framework.publisher,
                version=framework.version,
                url=framework.url,
                scope=framework.scope,
                source=framework.source,
                items=rows,
                statuses=_counts(
                    (status, sum(1 for row in rows if row.status == status))
                    for status in STATUSES
                ),
            )
        )
    return tuple(maps)


def _review(facts: StoreFacts) -> Review:
    outcomes = dict(facts.review_outcomes)
    pending = outcomes.get("pending", 0)
    escalated = outcomes.get("escalate", 0)
    decided = sum(outcomes.get(k, 0) for k in ("approve", "reject", "override"))
    median = _percentile(facts.review_durations, 0.5)
    p95 = _percentile(facts.review_durations, 0.95)
    opened = attrs.EVENT_REVIEW_GATE_RELEASED
    gates = facts.gate_counts
    return Review(
        required=facts.review_required,
        decided=decided,
        pending=pending,
        escalated=escalated,
        overdue_pending=facts.review_overdue_pending,
        decided_late=facts.review_decided_late,
        outcomes=_counts(facts.review_outcomes),
        override_rate=_share(outcomes.get("override", 0), decided),
        median_decision=_duration(median),
        p95_decision=_duration(p95),
        median_seconds=median,
        p95_seconds=p95,
        decisions=facts.review_decisions,
        superseded=facts.review_superseded,
        gate_released=sum(n for t, a, n in gates if t == opened and a != "withhold"),
        gate_rejected=sum(n for t, a, n in gates if t == opened and a == "withhold"),
        gate_timed_out=sum(n for t, _, n in gates if t != opened),
    )


def _integrity(facts: StoreFacts) -> Integrity:
    found = facts.integrity
    last = found.last_checkpoint
    span = facts.sequence_range
    checked = (
        "every link and personal content digest"
        if found.content_checked
        else "every link (personal content digests were not checked)"
    )
    if found.head_sequence is None:
        status = "EMPTY STORE: nothing to verify"
    elif found.ok and last is None:
        status = (
            f"NOT AUTHENTICATED: {checked} matches, but no checkpoint is signed: "
            "nothing shows who wrote the log"
        )
    elif found.ok and found.keys_given and last is not None:
        status = (
            f"VERIFIED against the key given to the report: {checked} matches, and "
            f"every signature; signed through event {last.sequence} of "
            f"{found.head_sequence}"
        )
    elif found.ok:
        status = (
            f"NOT AUTHENTICATED: {checked} matches, and every signature, but only "
            "against keys kept in the store itself, which whoever runs the store "
            "could replace; give the report the writer's public key (--public-key)"
        )
    else:
        status = (
            f"NOT VERIFIED: {found.kind or 'damage'} at sequence "
            f"{found.bad_sequence if found.bad_sequence is not None else '?'}"
        )
    return Integrity(
        verified=found.ok,
        status=status,
        message=found.message,
        warnings=found.warnings,
        events_verified=found.events,
        checkpoints_verified=found.checkpoints,
        head_sequence=str(found.head_sequence)
        if found.head_sequence is not None
        else "n/a",
        head_hash=found.head_hash or "n/a (empty store)",
        head_time=_stamp(found.head_time),
        bad_sequence=str(found.bad_sequence)
        if found.bad_sequence is not None
        else "n/a",
        damage=found.kind or "none",
        checkpoint_sequence=str(last.sequence) if last else "none signed",
        checkpoint_hash=last.hash if last else "n/a",
        checkpoint_time=_stamp(last.time) if last else "n/a",
        checkpoint_key_id=last.key_id if last else "n/a",
        key_fingerprints=found.key_fingerprints,
        period_sequences=f"{span[0]} to {span[1]}" if span else "none",
        origin=found.origin,
        root=found.root or "n/a",
        checkpoint_root=last.root if last and last.root else "n/a",
        checkpoint_note=last.note if last else "",
        witnesses=tuple((name, _stamp(moment)) for name, moment in last.witnesses)
        if last
        else (),
        authenticated=found.ok and found.keys_given and last is not None,
        content_checked=found.content_checked,
    )


def _findings(
    data: dict[str, Any], review: Review, integrity: Integrity
) -> list[Finding]:
    found: list[Finding] = []
    if not integrity.verified:
        found.append(
            Finding(
                text=f"The audit store did NOT verify ({integrity.status}). The "
                "figures below are read from a store whose integrity cannot be "
                "confirmed.",
                attention=True,
            )
        )
    if data["calls"] == 0:
        found.append(
            Finding(
                text="No image analysis call was recorded in this period.",
                attention=False,
            )
        )
        return found
    found.append(
        Finding(
            text=f"{counted(data['calls'], 'call')} "
            f"{'was' if data['calls'] == 1 else 'were'} made: {data['completed']:,} "
            f"completed, {data['failed']:,} failed at the service and "
            f"{data['denied']:,} {'was' if data['denied'] == 1 else 'were'} refused "
            "by the policy before any image left the process"
            + (
                f"; {counted(open_calls, 'call')} had no answer recorded by the "
                "period's end."
                if (
                    open_calls := data["calls"]
                    - data["completed"]
                    - data["failed"]
                    - data["denied"]
                )
                > 0
                else "."
            ),
            attention=False,
        )
    )
    found.append(_consent_finding(data))
    if data["audit_mode_calls"]:
        found.append(
            Finding(
                text=f"{counted(data['audit_mode_calls'], 'call')} broke the "
                f"policy but {'was' if data['audit_mode_calls'] == 1 else 'were'} "
                "let through because it ran in audit mode.",
                attention=True,
            )
        )
    if data["tags_dropped"]:
        found.append(
            Finding(
                text="The tag filter removed "
                f"{counted(data['tags_dropped'], 'tag')} and "
                f"{counted(data['objects_dropped'], 'object')} from "
                f"{counted(data['filtered_analyses'], 'result')} before the "
                "application saw them.",
                attention=False,
            )
        )
    if data["withheld_results"]:
        found.append(
            Finding(
                text="Results withheld whole because a block-listed tag came back: "
                f"{data['withheld_results']:,}.",
                attention=False,
            )
        )
    if review.required:
        found.append(
            Finding(
                text=f"{counted(review.required, 'analysis', 'analyses')} needed "
                "human review: "
                f"{review.decided:,} decided, {review.pending:,} pending "
                f"({review.overdue_pending:,} past their deadline), "
                f"{review.escalated:,} escalated.",
                attention=review.overdue_pending > 0,
            )
        )
    if data["subjects_erased"] or data["content_purged_events"]:
        found.append(
            Finding(
                text=f"{counted(data['subjects_erased'], 'subject erasure')} and "
                f"{counted(data['content_purged_events'], 'retention purge')} were "
                "recorded.",
                attention=False,
            )
        )
    if data["maps"]:
        found.append(_maps_finding(data["maps"]))
    found.extend(_policy_findings(data["policies"]))
    return found


def _policy_findings(policies: tuple[PolicyVersion, ...]) -> list[Finding]:
    """A change of policy inside the period, and names the log cannot back."""
    found = [_policy_change(policies)] if len(policies) > 1 else []
    if forged := [p for p in policies if p.mismatch]:
        found.append(
            Finding(
                text=f"{counted(len(forged), 'policy', 'policies')} of this period "
                "cannot be named: the policy document recorded under its id is "
                "another policy. See Policy versions.",
                attention=True,
            )
        )
    return found


def _text(value: object) -> str | None:
    """A name read from the log as text; None when absent."""
    return None if value is None else str(value)


def _policies(facts: StoreFacts) -> tuple[PolicyVersion, ...]:
    """The policies the period's events name, each with its recorded name."""
    names = {row[0]: row for row in facts.policy_names}
    found = []
    for policy_id, first, last, n in facts.policies:
        _, name, version, mode, activated, bound = names.get(
            policy_id, (policy_id, None, None, None, "", True)
        )
        if not bound:
            name = version = mode = None
        found.append(
            PolicyVersion(
                policy_id=policy_id,
                first_seen=_short_time(first),
                last_seen=_short_time(last),
                events=n,
                name=_text(name),
                version=_text(version),
                mode=_text(mode),
                activated=_short_time(activated) if activated else "",
                mismatch=not bound,
            )
        )
    return tuple(found)


def _policy_change(policies: tuple[PolicyVersion, ...]) -> Finding:
    """The summary's line when more than one policy was in force."""
    steps = "; then ".join(
        # A name is a recorded value: clipped here, as findings are shown whole.
        f"{_clip(p.label)} from {p.first_seen} to {p.last_seen}"
        for p in policies
    )
    return Finding(
        text=f"The policy changed during the period: {len(policies)} policies "
        f"were in force, {steps}. See Policy versions.",
        attention=True,
    )


def _period_label(since: datetime, until: datetime) -> str:
    return f"{since:%d %b %Y %H:%M} to {until:%d %b %Y %H:%M} UTC (end excluded)"


def _consent_finding(data: dict[str, Any]) -> Finding:
    coverage, needed, sent = (
        data["consent_coverage"],
        data["consent_needed"],
        data["consent_sent"],
    )
    exempt = sent - needed
    free = (
        f" {counted(exempt, 'call')} for purposes whose policy needs no consent "
        f"{'was' if exempt == 1 else 'were'} sent without one."
        if exempt
        else ""
    )
    if not sent:
        text = "No call was sent to the service, so none needed a consent reference."
    elif coverage is None:
        text = f"No call sent to the service needed a consent reference.{free}"
    else:
        text = (
            f"{coverage:.1f}% of the calls that needed consent carried a consent "
            f"reference ({data['consent_with']:,} of {needed:,}).{free}"
        )
    return Finding(text=text, attention=data["consent_with"] < needed)


def _maps_finding(maps: Sequence[FrameworkMap]) -> Finding:
    totals = dict.fromkeys(STATUSES, 0)
    for framework in maps:
        for row in framework.items:
            totals[row.status] += 1
    items = sum(totals.values())
    parts = ", ".join(f"{n:,} {status}" for status, n in totals.items() if n)
    return Finding(
        text=f"The guidance and regulation maps assess {counted(items, 'item')} "
        f"of {counted(len(maps), 'framework')} against this period's evidence: "
        f"{parts}.",
        attention=False,
    )


def _report_id(data: dict[str, Any]) -> str:
    digest = hashlib.sha256(
        json.dumps(data, sort_keys=True, default=str).encode("utf-8")
    ).hexdigest()
    return f"VAR-{digest[:12].upper()}"


def generation_time(generated_at: datetime | None = None) -> datetime:
    """
    When a report is made: *generated_at*, else ``SOURCE_DATE_EPOCH``, else now.

    ``SOURCE_DATE_EPOCH`` (seconds since the epoch) is the reproducible-builds
    convention: set, the same store state gives the same bytes.
    """
    if generated_at is not None:
        if generated_at.tzinfo is None:
            msg = f"generated_at must be timezone-aware, got {generated_at!r}"
            raise ValueError(msg)
        return generated_at.astimezone(UTC)
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), tz=UTC)
    return datetime.now(UTC).replace(microsecond=0)


def build_report_data(
    facts: StoreFacts,
    *,
    title: str | None = None,
    organization: str | None = None,
    generated_at: datetime | None = None,
    frameworks: Sequence[Framework] | None = None,
) -> ReportData:
    """
    Compute every figure of the report from the store's aggregated facts.

    The report id is a digest of the figures and options, so the same store state and
    options give the same id.

    Args:
        facts: What :func:`~vision_audit.report.query.query_store` found.
        title: The report's title; a default when None.
        organization: Who the report is for; ``(organization not stated)`` when None.
        generated_at: When the report is made; ``SOURCE_DATE_EPOCH`` when set,
            else now. Not part of the report id.
        frameworks: The guidance and regulation maps to assess; the shipped
            ones when None (see :func:`~vision_audit.report.mappings.load_mappings`).

    Returns:
        The report's data.

    .. versionadded:: 0.1.0
    """
    by_type, by_day, by_purpose, by_actor = _volumes(facts)
    completed = by_type.get(attrs.EVENT_COMPLETED, 0)
    failed = by_type.get(attrs.EVENT_FAILED, 0)
    denied = by_type.get(attrs.EVENT_DENIED, 0)
    calls = _calls(by_type)
    consent_rows = _consent_rows(facts)
    sent = sum(r.sent for r in consent_rows)
    with_consent = sum(r.with_consent for r in consent_rows)
    needed = sum(r.sent for r in consent_rows if r.needs_consent)
    review = _review(facts)
    integrity = _integrity(facts)
    rules = _counts(facts.dropped_rules)
    retention = tuple(
        RetentionAction(
            sequence=seq,
            event_id=event_id,
            time=_short_time(moment),
            action="retention purge"
            if kind == attrs.EVENT_CONTENT_PURGED
            else "subject erasure",
            actor=actor or "(not stated)",
            scope=data_class
            or ("all content" if kind == attrs.EVENT_CONTENT_PURGED else "one subject"),
            events=int(events),
            records=int(records),
        )
        for seq, event_id, moment, kind, actor, data_class, events, records in (
            facts.retention
        )
    )
    data: dict[str, Any] = {
        "schema": REPORT_SCHEMA,
        "title": title or DEFAULT_TITLE,
        "organization": organization or "(organization not stated)",
        "store": facts.store,
        "since": _stamp(facts.period.since),
        "until": _stamp(facts.period.until),
        "until_iso": facts.period.until.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "period_label": _period_label(facts.period.since, facts.period.until),
        "as_of": integrity.head_time,
        "empty": sum(by_type.values()) == 0,
        "verified": integrity.verified,
        "events": sum(by_type.values()),
        "calls": calls,
        "completed": completed,
        "failed": failed,
        "denied": denied,
        "success_rate": _share(completed, calls),
        "events_by_type": _counts(sorted(by_type.items())),
        "by_day": tuple(
            DayVolume(
                day=day,
                calls=_calls(kinds),
                completed=kinds.get(attrs.EVENT_COMPLETED, 0),
                failed=kinds.get(attrs.EVENT_FAILED, 0),
                denied=kinds.get(attrs.EVENT_DENIED, 0),
            )
            for day, kinds in _every_day(facts, by_day)
        ),
        "by_purpose": _volume_rows(by_purpose),
        "by_feature": _counts(facts.features),
        "by_actor": _volume_rows(by_actor),
        "mean_latency_ms": round(facts.latency[0], 1)
        if facts.latency[0] is not None
        else None,
        "max_latency_ms": round(facts.latency[1], 1)
        if facts.latency[1] is not None
        else None,
        "model_versions": _counts(facts.model_versions),
        "consent": consent_rows,
        "consent_sent": sent,
        "consent_with": with_consent,
        "consent_needed": needed,
        "consent_coverage": _share(with_consent, needed),
        "consents_granted": by_type.get(EVENT_CONSENT_GRANTED, 0),
        "consents_revoked": by_type.get(EVENT_CONSENT_REVOKED, 0),
        "denials_by_reason": _counts(
            (f"{reason} ({mode})" if mode != "enforce" else reason, n)
            for mode, reason, n in facts.denials
        ),
        "audit_mode_calls": sum(n for _, n in facts.audit_mode),
        "audit_mode_by_reason": _counts(facts.audit_mode),
        "filtered_analyses": facts.filtered_analyses,
        "withheld_results": facts.withheld_results,
        "tags_dropped": facts.tags_dropped_total,
        "objects_dropped": facts.objects_dropped_total,
        "allow_list_misses": dict(facts.dropped_rules).get("not-in-allow-list", 0),
        "top_dropped_tags": tuple(
            DroppedTag(name=str(name), rule=rule, count=n)
            for name, rule, n in facts.dropped_tags
        ),
        "rules": rules,
        "flags": _counts(facts.flags),
        "people_detected": facts.people_detected,
        "health_categories": _counts(facts.health_categories),
        "review": review,
        "errors": tuple(
            ServiceError(
                status=str(status) if status is not None else "-",
                code=code or "-",
                inner_code=inner or "-",
                count=n,
            )
            for status, code, inner, n in facts.errors
        ),
        "retention": retention,
        "content_purged_events": sum(
            1 for r in retention if r.action == "retention purge"
        ),
        "subjects_erased": sum(1 for r in retention if r.action == "subject erasure"),
        "policies": _policies(facts),
        "integrity": integrity,
        "exceptions": tuple(
            ExceptionEntry(
                sequence=row.sequence,
                event_id=row.event_id,
                time=_short_time(row.time),
                type=row.type,
                trace_id=row.trace_id or "-",
                analysis_id=row.analysis_id or "-",
                purpose=row.purpose or "-",
                detail=row.detail,
                actor=row.actor or "",
            )
            for row in facts.exceptions
        ),
        "exceptions_total": facts.exceptions_total,
        "exceptions_more": max(0, facts.exceptions_total - len(facts.exceptions)),
        "not_recorded": _NOT_RECORDED,
        "events_before_period": facts.sequence_range[0] - 1
        if facts.sequence_range
        else 0,
        "log_kept_days": None
        if facts.integrity.first_time is None
        else max(0, (facts.period.until - facts.integrity.first_time).days),
    }
    data["maps"] = _maps(data, frameworks)
    data["findings"] = tuple(_findings(data, review, integrity))
    if facts.previous is not None:
        length = facts.period.until - facts.period.since
        data["previous_period"] = _period_label(
            facts.period.since - length, facts.period.since
        )
        data["comparison"] = compare(facts, facts.previous)
    identity = {
        key: asdict(value) if hasattr(value, "__dataclass_fields__") else value
        for key, value in data.items()
    }
    # The id names the figures, not the moment: the same state, the same id.
    made = generation_time(generated_at)
    data["generated_at"] = f"{made:%d %b %Y %H:%M:%S} UTC"
    data["generated_iso"] = made.strftime("%Y-%m-%dT%H:%M:%SZ")
    data["open_period"] = facts.period.until > made
    return ReportData(report_id=_report_id(identity), **data)
