"""
A reviewer's session: go through the review queue, read each case, decide.

Run: ``python main.py --reviewer dr-okafor`` (store from ``VISION_AUDIT_STORE`` or
``--store``). It lists the analyses waiting for a human, shows each one (purpose,
flags, the tags the application got and those the policy dropped), asks for a
decision and a rationale, records it in the audit store, and ends with the latest
decisions. Answers come from standard input, so a session can also be scripted.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from vision_audit import ReviewError
from vision_audit.review import (
    get_review,
    latest_decisions,
    list_pending_reviews,
    record_review_decision,
)
from vision_audit.store import open_store

if TYPE_CHECKING:
    from vision_audit.review import PendingReview, ReviewCase
    from vision_audit.typing import AuditStore

CHOICES = {
    "a": "approve",
    "r": "reject",
    "o": "override",
    "e": "escalate",
    "s": "skip",
    "q": "quit",
}
PROMPT = "decision? [a]pprove [r]eject [o]verride [e]scalate [s]kip [q]uit: "


def ask(prompt: str) -> str:
    """One answer from standard input; end of input quits the session."""
    try:
        answer = input(prompt).strip()
    except EOFError:
        print()
        return "q"
    if not sys.stdin.isatty():
        print(answer)  # a scripted session reads like a typed one
    return answer


def tags(prompt: str) -> list[str]:
    """A comma-separated list of tag names."""
    return [name.strip() for name in ask(prompt).split(",") if name.strip()]


def when(item: PendingReview) -> str:
    """When an item was flagged and when it is due, in UTC."""
    due = f"{item.due_at:%Y-%m-%d %H:%M}" if item.due_at else "no deadline"
    late = " OVERDUE" if item.overdue else ""
    return f"flagged {item.required_at:%Y-%m-%d %H:%M}, due {due}{late}"


def show(case: ReviewCase) -> None:
    """What a reviewer needs to judge a case."""
    print(f"  purpose: {case.purpose}; actor: {case.actor}")
    print(f"  reasons: {', '.join(case.reasons) or '-'}")
    print(f"  flags: {', '.join(case.flags) or '-'}")
    print(f"  tags the application got: {', '.join(case.tags_kept) or '-'}")
    print(f"  tags the policy dropped: {', '.join(case.tags_dropped) or '-'}")
    if case.caption_flags:
        print(f"  caption mentions: {', '.join(case.caption_flags)}")
    for decision in case.decisions:
        print(f"  earlier: {decision.decision} by {decision.reviewer}")


def decide(
    store: AuditStore, case: ReviewCase, *, reviewer: str, policy: str | None
) -> bool:
    """Ask for and record one decision; return False when the reviewer quits."""
    while (choice := CHOICES.get(ask(PROMPT)[:1].lower())) is None:
        print("  answer a, r, o, e, s or q")
    if choice in {"skip", "quit"}:
        return choice == "skip"
    add_tags: list[str] = []
    remove_tags: list[str] = []
    if choice == "override":
        add_tags = tags("  tags to add (comma separated): ")
        remove_tags = tags("  tags to remove (comma separated): ")
    rationale = ask("  rationale: ")
    try:
        recorded = record_review_decision(
            store,
            case.analysis_id,
            decision=choice,
            reviewer=reviewer,
            rationale=rationale,
            add_tags=add_tags,
            remove_tags=remove_tags,
            policy=policy,
        )
    except ReviewError as err:
        # Four eyes, an empty rationale, an override changing nothing...
        print(f"  refused: {err}")
        return True
    print(f"  recorded {choice} (event {recorded.event.event_id})")
    return True


def session(store: AuditStore, *, reviewer: str, policy: str | None) -> None:
    """List the queue, then go through it, oldest first."""
    queue = list_pending_reviews(store)
    print(f"{len(queue)} pending review")
    for item in queue:
        print(f"  {item.analysis_id}  {item.purpose}  {when(item)}")
    for number, item in enumerate(queue, start=1):
        print(f"\n[{number}/{len(queue)}] analysis {item.analysis_id}")
        case = get_review(store, item.analysis_id)
        show(case)
        if not decide(store, case, reviewer=reviewer, policy=policy):
            break


def print_latest(store: AuditStore, count: int) -> None:
    """The decisions in force, most recent last."""
    decisions = sorted(
        latest_decisions(store.iter_events()).values(), key=lambda d: d.time
    )[-count:]
    print(f"\nlatest decisions ({len(decisions)}):")
    for decision in decisions:
        changes = [f"+{t}" for t in decision.add_tags]
        changes += [f"-{t}" for t in decision.remove_tags]
        change = f" [{' '.join(changes)}]" if changes else ""
        print(
            f"  {decision.analysis_id}  {decision.decision}{change}"
            f" by {decision.reviewer}: {decision.rationale}"
        )


def main() -> int:
    """Run one review session."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reviewer", required=True, help="who decides")
    parser.add_argument("--store", help="default: $VISION_AUDIT_STORE")
    parser.add_argument("--policy", help="default: $VISION_AUDIT_POLICY")
    parser.add_argument("--latest", type=int, default=10, help="decisions to show")
    args = parser.parse_args()
    url = args.store or os.environ.get("VISION_AUDIT_STORE")
    if not url:
        parser.error("no store: set VISION_AUDIT_STORE or pass --store")

    store = open_store(url)
    try:
        session(
            store,
            reviewer=args.reviewer,
            policy=args.policy or os.environ.get("VISION_AUDIT_POLICY"),
        )
        print_latest(store, args.latest)
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
