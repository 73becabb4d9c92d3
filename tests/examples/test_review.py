"""examples/review: a reviewer goes through the queue the batch example left."""

from __future__ import annotations

import sys

from tests.examples.conftest import EXAMPLES, RETAIL_POLICY, read_events, run
from vision_audit.review import latest_decisions, list_pending_reviews
from vision_audit.store import open_store

SCRIPT = EXAMPLES / "review" / "main.py"


def review(store_url: str, answers: str) -> str:
    """Run a review session fed *answers*; return what it printed."""
    completed = run(
        [sys.executable, str(SCRIPT), "--reviewer", "dr-okafor", "--store", store_url],
        env={"PATH": "/usr/bin:/bin", "VISION_AUDIT_POLICY": str(RETAIL_POLICY)},
        input=answers,
    )

    assert 0 == completed.returncode, completed.stderr
    return completed.stdout


class TestReviewSession:
    """List, show, decide, and the decisions in force at the end."""

    def test_approve_and_override(self, batched_store: str) -> None:
        """One approval, one override with a corrected tag, both in the store."""
        lines = (
            "a",
            "the shopper was dropped; the shelf tag is right",
            "x",  # not an answer: asked again
            "o",
            "beverage",
            "",
            "the bottle is juice; a beverage on the shelf",
        )
        answers = "".join(f"{line}\n" for line in lines)

        printed = review(batched_store, answers)

        assert printed.startswith("2 pending review\n")
        assert "tags the policy dropped: person, man" in printed
        assert "tags the policy dropped: woman" in printed
        assert "answer a, r, o, e, s or q" in printed
        decided = latest_decisions(read_events(batched_store))
        assert ["approve", "override"] == [d.decision for d in decided.values()]
        override = list(decided.values())[1]
        assert ("beverage",) == override.add_tags
        assert "dr-okafor" == override.reviewer
        assert "latest decisions (2):" in printed
        assert (
            f"  {override.analysis_id}  override [+beverage] by dr-okafor: "
            "the bottle is juice; a beverage on the shelf"
        ) in printed
        store = open_store(batched_store)
        try:
            assert [] == list_pending_reviews(store)
        finally:
            store.close()

    def test_skip_and_quit(self, batched_store: str) -> None:
        """Skipping leaves the case queued; end of input ends the session."""
        printed = review(batched_store, "s\n")

        assert "[2/2] analysis" in printed
        assert printed.endswith("latest decisions (0):\n")
        store = open_store(batched_store)
        try:
            assert 2 == len(list_pending_reviews(store))
        finally:
            store.close()

    def test_refused_decision(self, batched_store: str) -> None:
        """An override that changes nothing is refused, and nothing is recorded."""
        printed = review(batched_store, "o\n\n\nno change\nq\n")

        assert "  refused: " in printed
        assert {} == latest_decisions(read_events(batched_store))
