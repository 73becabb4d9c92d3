"""The ``vision-audit review`` commands: list the queue, show a case, decide."""

from __future__ import annotations

import json
import os
import re
import sys
from typing import TYPE_CHECKING, Any, Final

from vision_audit import environment_variables as env
from vision_audit._commands import (
    EXIT_OK,
    STORE_HELP,
    guarded,
    open_existing_store,
    out,
    store_url,
)
from vision_audit._text import MULTI_LINE, first_control, printable, show_char
from vision_audit.console._cli import add_console_commands
from vision_audit.review._model import DECISIONS

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterable
    from datetime import datetime

    from vision_audit.review._model import PendingReview, ReviewCase

__all__ = [
    "add_review_commands",
    "multi_line_text",
    "one_line_text",
    "printable",
    "printable_json",
]


# Bidirectional overrides, embeddings and isolates reorder what a terminal shows.
def one_line_text(value: str) -> str:
    """
    An argparse type: a one-line value without control characters.

    Raises:
        argparse.ArgumentTypeError: Naming the first control character found.
    """
    import argparse  # noqa: PLC0415 - only its exception is needed

    found = first_control(value, frozenset())
    if found is not None:
        msg = (
            f"contains the control character {show_char(found)} in "
            f"{printable(value)[:80]!r}; give plain one-line text"
        )
        raise argparse.ArgumentTypeError(msg)
    return value


def multi_line_text(value: str) -> str:
    """
    An argparse type: text that may span lines (new lines and tabs allowed).

    Carriage returns, escape sequences and other control characters are refused:
    they could overwrite or recolour what a reviewer later reads.

    Raises:
        argparse.ArgumentTypeError: Naming the first control character found.
    """
    import argparse  # noqa: PLC0415 - only its exception is needed

    found = first_control(value, MULTI_LINE)
    if found is not None:
        msg = (
            f"contains the control character {show_char(found)}; only new lines and "
            "tabs are allowed"
        )
        raise argparse.ArgumentTypeError(msg)
    return value


_JSON_UNSAFE: Final = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable_json(text: str) -> str:
    r"""
    JSON text from :func:`json.dumps` with DEL, C1 and bidi controls escaped too.

    ``json.dumps`` escapes only C0 controls when ``ensure_ascii`` is off; the
    ``\uXXXX`` escapes added here keep the JSON valid and the same once parsed.
    """
    return _JSON_UNSAFE.sub(lambda match: f"\\u{ord(match[0]):04x}", text)


def _json(value: object) -> None:
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    sys.stdout.write(f"{printable_json(text)}\n")


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def _join(values: Iterable[str]) -> str:
    return ", ".join(values) or "-"


# -- list ------------------------------------------------------------------------------


DEFAULT_LIMIT: Final = 50
"""Items `review list` shows unless told otherwise: a screenful, not the queue."""


def _count(text: str) -> int:
    import argparse  # noqa: PLC0415 - only its exception is needed

    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        msg = f"expected a whole number of 0 or more, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _status(item: PendingReview) -> str:
    status = "escalated" if item.escalated else "pending"
    return f"{status}, OVERDUE" if item.overdue else status


def _list(args: argparse.Namespace) -> int:
    from vision_audit.models import utc_now  # noqa: PLC0415
    from vision_audit.review._queue import list_pending_reviews  # noqa: PLC0415

    limit = None if args.limit == 0 else args.limit
    now = utc_now()
    store = open_existing_store(store_url(args), read_only=True)
    try:
        # One more than shown: whether a next page exists.
        items = list_pending_reviews(
            store,
            overdue_only=args.overdue,
            now=now,
            purpose=args.purpose,
            limit=None if limit is None else limit + 1,
            after=args.after,
        )
        more = limit is not None and len(items) > limit
        items = items[:limit] if limit is not None else items
        total = store.count_reviews(
            purpose=args.purpose, due_before=now if args.overdue else None
        )
    finally:
        store.close()
    if args.json:
        _json([item.as_dict() for item in items])
        return EXIT_OK
    what = "overdue for review" if args.overdue else "pending review"
    if args.purpose is not None:
        what += f" for {one_line_text(args.purpose)}"
    if not items:
        out(f"no analysis {what}" + (" after that one" if args.after else ""))
        return EXIT_OK
    overdue = sum(item.overdue for item in items)
    plural = "analysis" if total == 1 else "analyses"
    shown = (
        f"{total:,} {plural}"
        if len(items) == total
        else f"{len(items):,} of {total:,} {plural}"
    )
    of_these = "" if len(items) == total else " of these"
    late = f"{overdue}{of_these} overdue" if overdue else f"none{of_these} overdue"
    out(f"{shown} {what} ({late}); times in UTC")
    rows = [
        (
            item.analysis_id,
            item.purpose or "-",
            item.actor or "-",
            _when(item.required_at),
            _when(item.due_at),
            _status(item),
            _join(item.reasons),
        )
        for item in items
    ]
    header = ("ANALYSIS", "PURPOSE", "ACTOR", "FLAGGED", "DUE", "STATUS", "REASONS")
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        out(
            "  ".join(
                cell.ljust(width) for cell, width in zip(row, widths, strict=True)
            ).rstrip()
        )
    if more:
        out(f"next page: --after {items[-1].sequence}")
    return EXIT_OK


# -- show ------------------------------------------------------------------------------


def _call_lines(case: ReviewCase) -> list[str]:
    requested = case.requested or {}
    lines = []
    features = requested.get("features")
    if requested:
        call = f"  call: {requested.get('operation', '?')}"
        if isinstance(features, list):
            call += f" of {_join(str(f) for f in features)}"
        image = requested.get("image")
        if isinstance(image, dict):
            size = (
                f" {image.get('width')}x{image.get('height')}"
                if image.get("width") is not None
                else ""
            )
            call += (
                f"; image {image.get('format')}{size}, {image.get('size')} bytes, "
                f"sha256 {image.get('sha256')}"
            )
        elif requested.get("url"):
            call += f"; image URL {requested['url']}"
        lines.append(call)
    lines.append(f"  outcome: {case.outcome or 'not recorded yet'}")
    return lines


def _review_lines(case: ReviewCase) -> list[str]:
    if not case.review_required:
        return ["  review: not required by the policy"]
    rules = [f"reasons {_join(case.reasons)}"]
    if case.due_at is not None:
        rules.append(f"due {_when(case.due_at)} UTC")
    if case.four_eyes:
        rules.append("four eyes (its actor may not decide)")
    if case.gate:
        rules.append("gated")
    lines = [f"  flagged: {_when(case.required_at)} UTC; {'; '.join(rules)}"]
    lines.append(f"  flags: {_join(case.flags)}")
    if case.health_categories:
        lines.append(f"  health categories: {_join(case.health_categories)}")
    lines.append(f"  tags kept: {_join(case.tags_kept)}")
    lines.append(f"  tags dropped: {_join(case.tags_dropped)}")
    if case.objects_kept or case.objects_dropped:
        lines.append(f"  objects kept: {_join(case.objects_kept)}")
        lines.append(f"  objects dropped: {_join(case.objects_dropped)}")
    if case.caption_flags:
        lines.append(f"  caption flags: {_join(case.caption_flags)}")
    return lines


def _content_lines(case: ReviewCase) -> list[str]:
    content = case.content
    if not content:
        return ["  content: none captured (or purged)"]
    lines = ["  content:"]
    for name in sorted(content):
        value = content[name]
        if isinstance(value, list):
            lines.append(f"    {name}:")
            lines.extend(f"      - {item}" for item in value)
        else:
            lines.append(f"    {name}: {value}")
    return lines


def _decision_lines(case: ReviewCase) -> list[str]:
    lines = [
        f"  gate: {event.type}: {event.data.get('action')} after "
        f"{event.data.get('waited_seconds')}s"
        for event in case.gate_events
    ]
    if not case.decisions:
        lines.append("  decisions: none yet")
        return lines
    lines.append("  decisions (oldest first; the latest is in force):")
    for decision in case.decisions:
        changes = [f"+{tag}" for tag in decision.add_tags]
        changes.extend(f"-{tag}" for tag in decision.remove_tags)
        extra = f" [{' '.join(changes)}]" if changes else ""
        corrects = f", supersedes {decision.supersedes}" if decision.supersedes else ""
        late = ", overdue" if decision.overdue else ""
        lines.append(
            f"    {_when(decision.time)} {decision.decision}{extra} by "
            f"{decision.reviewer} (event {decision.event_id}{corrects}{late})"
        )
        first, *more = decision.rationale.split("\n")
        lines.append(f"      rationale: {first}")
        lines.extend(f"        | {line}" for line in more)
    if case.latest_decision is not None and case.latest_decision.decision == "override":
        lines.append(f"  tags after override: {_join(case.effective_tags)}")
    return lines


def _show(args: argparse.Namespace) -> int:
    from vision_audit.models import utc_now  # noqa: PLC0415
    from vision_audit.review._queue import get_review  # noqa: PLC0415

    store = open_existing_store(store_url(args), read_only=True)
    try:
        case = get_review(store, args.analysis_id)
    finally:
        store.close()
    if args.json:
        _json(case.as_dict())
        return EXIT_OK
    status = case.status
    if case.is_overdue(utc_now()):
        status += ", OVERDUE"
    lines = [
        f"analysis {case.analysis_id}: {status}",
        f"  purpose: {case.purpose or '-'}; actor: {case.actor or '-'}",
        (
            f"  consent: {case.consent_ref or '-'}; subject (pseudonym): "
            f"{case.subject_ref or '-'}"
        ),
        f"  policy: {case.policy_id or '-'}",
        f"  trace: {case.trace_id or '-'}; span: {case.span_id or '-'}",
        *_call_lines(case),
        *_review_lines(case),
        *_content_lines(case),
        *_decision_lines(case),
    ]
    for line in lines:
        out(line)
    return EXIT_OK


# -- decide ----------------------------------------------------------------------------


def _decide(args: argparse.Namespace) -> int:
    from vision_audit.review._decide import record_review_decision  # noqa: PLC0415

    policy: str | None = args.policy or os.environ.get(env.VISION_AUDIT_POLICY) or None
    store = open_existing_store(store_url(args), read_only=False)
    try:
        recorded = record_review_decision(
            store,
            args.analysis_id,
            decision=args.decision,
            reviewer=args.reviewer,
            rationale=args.rationale,
            add_tags=args.add_tag or (),
            remove_tags=args.remove_tag or (),
            supersedes=args.supersedes,
            policy=policy,
        )
    finally:
        store.close()
    event = recorded.event
    data: dict[str, Any] = dict(event.data)
    corrects = f", superseding {data['supersedes']}" if data.get("supersedes") else ""
    out(
        f"recorded {data['decision']} of analysis {event.analysis_id} by "
        f"{data['reviewer']}: event {event.event_id}, sequence {recorded.sequence}"
        f"{corrects}"
    )
    return EXIT_OK


def add_review_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """
    Add ``review`` with its ``list``, ``show``, ``decide``, ``serve`` and ``token``.

    Args:
        commands: The ``vision-audit`` command's sub-parsers.

    .. versionadded:: 0.1.0
    """
    review = commands.add_parser(
        "review",
        help="the human review queue: list, show and decide flagged analyses",
        description=(
            "Analyses the policy routes to review wait in a queue until a reviewer "
            "decides. Decisions are recorded in the audit store for good; a "
            "correction is a new decision that supersedes the earlier one."
        ),
    )
    actions = review.add_subparsers(
        dest="review_command", metavar="COMMAND", required=True
    )

    listing = actions.add_parser(
        "list",
        help="list the analyses waiting for a decision",
        description=(
            "List flagged analyses without a final decision (escalated ones "
            "included), oldest first, with their deadline."
        ),
    )
    listing.add_argument(
        "--overdue", action="store_true", help="only those past their deadline"
    )
    listing.add_argument(
        "--purpose", metavar="PURPOSE", help="only those of this purpose"
    )
    listing.add_argument(
        "--limit",
        type=_count,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"at most N, oldest first (default: {DEFAULT_LIMIT}; 0 for all)",
    )
    listing.add_argument(
        "--after",
        type=_count,
        metavar="SEQUENCE",
        help="the next page: those flagged after this one (the sequence that "
        "`next page:` names, or the last item's `sequence` in --json)",
    )
    listing.add_argument("--store", metavar="URL", help=STORE_HELP)
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=guarded("review list", _list))

    show = actions.add_parser(
        "show",
        help="show one analysis: facts, flags, tags, content, decisions",
        description=(
            "Show what the audit store holds about an analysis: the call, the "
            "policy and consent in force, flags, tags kept and dropped, captured "
            "content if any, and every decision with its rationale."
        ),
    )
    show.add_argument("analysis_id", metavar="ID", help="the analysis id")
    show.add_argument("--store", metavar="URL", help=STORE_HELP)
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=guarded("review show", _show))

    decide = actions.add_parser(
        "decide",
        help="record a decision on an analysis",
        description=(
            "Record a decision: approve, reject, override (with --add-tag and "
            "--remove-tag) or escalate (it stays in the queue). To correct a "
            "decision, record a new one with --supersedes EVENT_ID. Exits 1 when "
            "the rules refuse it (four eyes, already decided), 2 on bad usage."
        ),
    )
    decide.add_argument(
        "analysis_id", metavar="ID", type=one_line_text, help="the analysis id"
    )
    decide.add_argument(
        "--decision",
        required=True,
        choices=DECISIONS,
        help="approve, reject, override (with tag changes) or escalate",
    )
    decide.add_argument(
        "--reviewer",
        required=True,
        metavar="WHO",
        type=one_line_text,
        help="who decides (required; one line, no control characters)",
    )
    decide.add_argument(
        "--rationale",
        required=True,
        metavar="TEXT",
        type=multi_line_text,
        help="why (required; may span lines, no other control characters)",
    )
    decide.add_argument(
        "--add-tag",
        action="append",
        metavar="T",
        type=one_line_text,
        help="a tag an override adds; repeatable",
    )
    decide.add_argument(
        "--remove-tag",
        action="append",
        metavar="T",
        type=one_line_text,
        help="a tag an override removes; repeatable",
    )
    decide.add_argument(
        "--supersedes",
        metavar="EVENT_ID",
        type=one_line_text,
        help="the decision this one corrects (required once the analysis is decided)",
    )
    decide.add_argument("--store", metavar="URL", help=STORE_HELP)
    decide.add_argument(
        "--policy",
        metavar="FILE",
        help=(
            "the policy in force, whose review rule may ask for four eyes "
            f"(default: ${env.VISION_AUDIT_POLICY})"
        ),
    )
    decide.set_defaults(handler=guarded("review decide", _decide))
    add_console_commands(actions)
