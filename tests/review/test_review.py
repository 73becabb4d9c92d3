"""Human in the loop through the real SDK: queue, decisions, corrections, the gate."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from azure.ai.vision.imageanalysis.aio import ImageAnalysisClient as AsyncClient
from azure.ai.vision.imageanalysis.models import VisualFeatures
from azure.core.credentials import AzureKeyCredential
from tests.review.conftest import (
    ACTOR,
    HEALTHCARE,
    INTAKE,
    REVIEWER,
    Reviewer,
    at_the_intake_desk,
    clean_environment,
)
from vision_audit import ReviewWithheldError, get_audit_id
from vision_audit.models import AuditEvent
from vision_audit.policy import load_policy
from vision_audit.review import (
    ReviewError,
    decision_history,
    get_review,
    latest_decisions,
    list_pending_reviews,
    record_review_decision,
    wait_for_decision,
    wait_for_decision_async,
)
from vision_audit.sinks.log import JSONFormatter
from vision_audit.testing import make_test_image

FULL_WIDTH_FACE = "".join(chr(ord(c) + 0xFEE0) for c in "face")  # normalises to face


def _types(store, analysis_id: str) -> list[str]:
    return [
        r.event.type for r in store.iter_events() if r.event.analysis_id == analysis_id
    ]


def _decide(store, analysis_id: str, decision: str = "approve", **options):
    options.setdefault("reviewer", REVIEWER)
    options.setdefault("rationale", "checked the intake form against the photo")
    return record_review_decision(store, analysis_id, decision=decision, **options)


class TestQueue:
    """A flagged analysis waits in the queue until a final decision."""

    def test_flagged_analysis_is_pending(self, store, flagged) -> None:
        """Patient intake reviews every result: the analysis is queued, due in 24h."""
        pending = list_pending_reviews(store)

        assert [flagged] == [item.analysis_id for item in pending]
        item = pending[0]
        assert INTAKE == item.purpose
        assert ACTOR == item.actor
        assert "purpose" in item.reasons
        assert item.four_eyes
        assert not item.gate
        assert not item.overdue
        assert not item.escalated
        assert timedelta(hours=24) == item.due_at - item.required_at
        assert load_policy(HEALTHCARE).policy_id == item.policy_id

    def test_case(self, store, flagged) -> None:
        """The case holds the call's facts, flags, tags, policy and consent."""
        case = get_review(store, flagged)

        assert "pending" == case.status
        assert INTAKE == case.purpose
        assert "c-intake-7" == case.consent_ref
        assert case.subject_ref not in {None, "patient-7"}  # the pseudonym
        assert load_policy(HEALTHCARE).policy_id == case.policy_id
        assert ["tags", "people"] == case.requested["features"]
        assert "analysis.completed" == case.outcome
        assert case.tags_kept
        assert "tags" in case.completed["results"]
        assert case.content is None  # patient intake never captures content
        assert case.trace_id is not None
        assert case.span_id is not None
        assert () == case.decisions

    def test_unknown_analysis(self, store, flagged) -> None:
        """An id the store does not hold is refused by name."""
        with pytest.raises(ReviewError) as info:
            get_review(store, "0" * 32)

        assert "unknown-analysis" == info.value.code
        assert "0" * 32 in str(info.value)

    def test_overdue(self, store, flagged) -> None:
        """Past the 24h deadline the item is overdue; before it, it is not."""
        required_at = list_pending_reviews(store)[0].required_at

        early = list_pending_reviews(
            store, overdue_only=True, now=required_at + timedelta(hours=1)
        )
        late = list_pending_reviews(
            store, overdue_only=True, now=required_at + timedelta(hours=25)
        )

        assert [] == early
        assert [flagged] == [item.analysis_id for item in late]
        assert late[0].overdue


class TestDecisions:
    """Decisions are append-only events, bound to the analysis and its trace."""

    def test_decision_takes_it_out(self, store, flagged) -> None:
        """An approval is recorded by the reviewer, and the queue empties."""
        recorded = _decide(store, flagged)

        event = recorded.event
        assert "review.decided" == event.type
        assert flagged == event.analysis_id
        assert REVIEWER == event.actor
        assert INTAKE == event.purpose
        assert "approve" == event.data["decision"]
        assert event.data["four_eyes"] is True
        assert event.data["supersedes"] is None
        assert [] == list_pending_reviews(store)
        assert "approved" == get_review(store, flagged).status

    def test_superseding_correction(self, store, flagged) -> None:
        """A correction supersedes the decision; the latest wins, history stays."""
        dropped = get_review(store, flagged).tags_kept[0]
        first = _decide(store, flagged)
        second = _decide(
            store,
            flagged,
            "override",
            rationale="that tag is wrong for this patient",
            remove_tags=[dropped],
            add_tags=["wristband"],
            supersedes=first.event.event_id,
        )

        case = get_review(store, flagged)
        events = list(store.iter_events())
        assert ["approve", "override"] == [d.decision for d in case.decisions]
        assert first.event.event_id == case.decisions[1].supersedes
        assert second.event.event_id == case.latest_decision.event_id
        assert "overridden" == case.status
        assert dropped not in case.effective_tags
        assert "wristband" in case.effective_tags
        assert "override" == latest_decisions(events)[flagged].decision
        assert 2 == len(decision_history(events)[flagged])

    def test_decided_needs_supersedes(self, store, flagged) -> None:
        """A second decision without naming the first is refused, nothing recorded."""
        first = _decide(store, flagged)

        with pytest.raises(ReviewError) as info:
            _decide(store, flagged, "reject")

        assert "already-decided" == info.value.code
        assert first.event.event_id in str(info.value)
        assert 1 == len(get_review(store, flagged).decisions)

    def test_escalate_keeps_it_pending(self, store, flagged) -> None:
        """An escalation stays in the queue, marked; a later approval takes it out."""
        _decide(store, flagged, "escalate", rationale="needs the ward doctor")

        escalated = list_pending_reviews(store)
        _decide(store, flagged, reviewer="dr-ward")

        assert [True] == [item.escalated for item in escalated]
        assert [] == list_pending_reviews(store)

    def test_four_eyes(self, store, flagged) -> None:
        """The nurse who made the call may not decide it: a clear refusal."""
        with pytest.raises(ReviewError) as info:
            _decide(store, flagged, reviewer=ACTOR)

        assert "four-eyes" == info.value.code
        assert ACTOR in str(info.value)
        assert "review.decided" not in _types(store, flagged)

    @pytest.mark.parametrize(
        "spelling",
        [
            ACTOR.upper(),
            "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in ACTOR),
            ACTOR.replace("-", "\u2011"),
            "\u200b" + ACTOR,
            f" {ACTOR}\u200d",
        ],
    )
    def test_four_eyes_look_alike(self, store, flagged, spelling: str) -> None:
        """Another spelling of the actor's name is the actor: still refused."""
        with pytest.raises(ReviewError) as info:
            _decide(store, flagged, reviewer=spelling)

        assert "four-eyes" == info.value.code

    def test_concurrent_decisions_do_not_fork(self, store, flagged) -> None:
        """Eight reviewers decide one case at once: one decision stands."""
        barrier = threading.Barrier(8)
        outcomes: list[str] = []

        def decide(n: int) -> None:
            barrier.wait(timeout=10)
            try:
                _decide(store, flagged, reviewer=f"dr-{n}")
            except ReviewError as err:
                outcomes.append(err.code)
            else:
                outcomes.append("recorded")

        threads = [threading.Thread(target=decide, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)

        assert ["already-decided"] * 7 + ["recorded"] == sorted(outcomes)
        assert 1 == len(get_review(store, flagged).decisions)

    def test_escalated_by_you(self, store, flagged) -> None:
        """Who escalated a case may not then decide it: someone else must."""
        _decide(store, flagged, "escalate", rationale="needs the ward doctor")

        with pytest.raises(ReviewError) as info:
            _decide(store, flagged, reviewer=REVIEWER.upper())

        assert "escalated-by-you" == info.value.code
        _decide(store, flagged, reviewer="dr-ward")  # another reviewer may

    def test_not_under_review(self, store) -> None:
        """An analysis never sent to review (no review.required): nothing to decide."""
        store.append(
            AuditEvent(type="analysis.requested", analysis_id="f" * 32, data={})
        )

        with pytest.raises(ReviewError) as info:
            _decide(store, "f" * 32)

        assert "not-under-review" == info.value.code
        assert "review.decided" not in _types(store, "f" * 32)

    def test_override_may_not_add_a_blocked_tag(self, store, flagged) -> None:
        """With the policy given, an override cannot put back what it blocks."""
        with pytest.raises(ReviewError) as info:
            _decide(
                store,
                flagged,
                "override",
                add_tags=["Human  Face"],
                policy=load_policy(HEALTHCARE),
            )

        assert "tag-not-allowed" == info.value.code
        assert "block-list" in str(info.value)
        assert "review.decided" not in _types(store, flagged)

    @pytest.mark.parametrize(
        ("options", "code"),
        [
            ({"rationale": "  "}, "rationale-missing"),
            ({"reviewer": ""}, "reviewer-missing"),
            ({"decision": "override"}, "tags-missing"),
            ({"add_tags": ["x"]}, "tags-not-allowed"),
            ({"decision": "maybe"}, "unknown-decision"),
            ({"supersedes": "nope"}, "unknown-decision-event"),
        ],
    )
    def test_refusals(self, store, flagged, options, code) -> None:
        """Missing rationale or reviewer, tagless overrides... each refused by code."""
        decision = options.pop("decision", "approve")

        with pytest.raises(ReviewError) as info:
            _decide(store, flagged, decision, **options)

        assert code == info.value.code

    def test_span_linked_to_the_analysis(
        self, store, flagged, span_exporter, tracer_provider
    ) -> None:
        """The decision is a span of its own, linked to the analysis span."""
        recorded = _decide(store, flagged, tracer_provider=tracer_provider)

        spans = span_exporter.get_finished_spans()
        analysis = next(s for s in spans if s.name == "image_analysis latest")
        decide = next(s for s in spans if s.name == "vision_audit.review.decide")
        assert analysis.context.span_id == decide.links[0].context.span_id
        assert analysis.context.trace_id == decide.links[0].context.trace_id
        assert flagged == decide.links[0].attributes["vision_audit.analysis.id"]
        assert "approve" == decide.attributes["vision_audit.review.decision"]
        assert REVIEWER == decide.attributes["vision_audit.review.reviewer"]
        assert format(decide.context.span_id, "016x") == recorded.event.span_id
        assert ["review.decided"] == [e.name for e in decide.events]

    def test_logged(self, store, flagged, caplog) -> None:
        """The decision is a JSON event on the vision_audit.audit logger."""
        caplog.set_level(logging.INFO, logger="vision_audit.audit")

        _decide(store, flagged)

        logged = [json.loads(JSONFormatter().format(r)) for r in caplog.records]
        decided = [line for line in logged if line["event"] == "review.decided"]
        assert 1 == len(decided)
        assert flagged == decided[0]["analysis_id"]
        assert REVIEWER == decided[0]["actor"]

    def test_wait_for_decision(self, store, flagged) -> None:
        """Waiting returns None on timeout, the decision once there is one."""
        assert wait_for_decision(store, flagged, timeout=0) is None

        _decide(store, flagged)

        assert "approve" == wait_for_decision(store, flagged, timeout=5).decision

    def test_wait_for_decision_async(self, store, flagged) -> None:
        """The asyncio twin sees the decision made while it waits."""
        reviewer = Reviewer(store, lambda aid: _decide(store, aid))

        async def wait():
            reviewer.start()
            return await wait_for_decision_async(
                store, flagged, timeout=20, poll_interval=0.05
            )

        decision = asyncio.run(wait())
        reviewer.join(20)

        assert reviewer.error is None
        assert "approve" == decision.decision

    def test_wait_for_unknown_analysis(self, store, flagged) -> None:
        """Waiting for an analysis the store does not hold fails at once."""
        with pytest.raises(ReviewError) as info:
            wait_for_decision(store, "a" * 32, timeout=60)

        assert "unknown-analysis" == info.value.code

    def test_correction_supersedes_the_latest(self, store, flagged) -> None:
        """A correction must supersede the decision in force, not an older one."""
        first = _decide(store, flagged)
        second = _decide(
            store,
            flagged,
            "reject",
            rationale="wrong patient",
            supersedes=first.event.event_id,
        )

        with pytest.raises(ReviewError) as info:
            _decide(store, flagged, supersedes=first.event.event_id)

        assert "not-latest-decision" == info.value.code
        assert second.event.event_id in str(info.value)


class TestLatestDecisionWins:
    """Reports count each analysis once, with its latest decision."""

    def test_helpers(self) -> None:
        """The latest event per analysis wins; the history keeps every one."""
        events = [
            AuditEvent(
                type="review.decided",
                analysis_id=analysis,
                actor="r",
                data={"decision": decision, "reviewer": "r", "rationale": "x"},
            )
            for analysis, decision in (
                ("a", "approve"),
                ("b", "reject"),
                ("a", "reject"),
            )
        ]

        assert {"a": "reject", "b": "reject"} == {
            k: v.decision for k, v in latest_decisions(events).items()
        }
        assert ["approve", "reject"] == [
            d.decision for d in decision_history(events)["a"]
        ]


class TestGate:
    """With gate = true the call holds its result until a human decides."""

    def _gated_types(self, store, analysis_id):
        return [t for t in _types(store, analysis_id) if t.startswith("review.gate")]

    def test_timeout_withholds(self, instrument, gated_policy, analyze, store) -> None:
        """No decision in time and gate_default withhold: ReviewWithheldError."""
        instrument(policy=gated_policy("1s", "withhold"))

        with pytest.raises(ReviewWithheldError) as info:
            analyze()

        analysis_id = info.value.analysis_id
        timed_out = [
            r.event
            for r in store.iter_events()
            if r.event.type == "review.gate_timed_out"
        ]
        assert "timeout" == info.value.reason
        assert "withhold" == timed_out[0].data["action"]
        assert "analysis.completed" in _types(store, analysis_id)
        assert [analysis_id] == [
            item.analysis_id for item in list_pending_reviews(store)
        ]

    def test_cancelled_at_the_gate_is_recorded(
        self, instrument, gated_policy, store, emulator, emulator_key
    ) -> None:
        """An aio call cancelled while it waits leaves an 'abandoned' gate event."""
        instrument(policy=gated_policy("20s", "withhold"))

        async def main() -> None:
            async with AsyncClient(
                emulator.endpoint, AzureKeyCredential(emulator_key), retry_total=0
            ) as client:
                with at_the_intake_desk():
                    await asyncio.wait_for(
                        client.analyze(
                            image_data=make_test_image(seed=11),
                            visual_features=[VisualFeatures.TAGS],
                        ),
                        timeout=1.5,
                    )

        with pytest.raises(TimeoutError):
            asyncio.run(main())

        ended = [
            r.event
            for r in store.iter_events()
            if r.event.type.startswith("review.gate")
        ]
        assert ["abandoned"] == [e.data["action"] for e in ended]
        assert "CancelledError" == ended[0].data["error_type"]

    def test_rejection_counted_as_rejected(
        self, instrument, gated_policy, analyze, store, db_url
    ) -> None:
        """The report tells a rejected gated result from a released one."""
        from vision_audit.report import build_report

        instrument(policy=gated_policy())
        reviewer = Reviewer(
            store,
            lambda analysis_id: _decide(
                store, analysis_id, "reject", rationale="not the patient"
            ),
        )
        reviewer.start()
        with pytest.raises(ReviewWithheldError):
            analyze()
        reviewer.join(20)

        review = build_report(db_url, since="2000-01-01", until="2100-01-01").review
        assert (0, 1, 0) == (
            review.gate_released,
            review.gate_rejected,
            review.gate_timed_out,
        )

    def test_override_cannot_hand_over_a_blocked_tag(
        self, instrument, gated_policy, analyze, store
    ) -> None:
        """An override recorded without the policy still cannot add a blocked tag."""
        instrument(policy=gated_policy())
        reviewer = Reviewer(
            store,
            lambda analysis_id: _decide(
                store,
                analysis_id,
                "override",
                add_tags=[FULL_WIDTH_FACE, "intake form"],
                rationale="the form is in view",
            ),
        )
        reviewer.start()
        result = analyze()
        reviewer.join(20)

        released = [
            r.event
            for r in store.iter_events()
            if r.event.type == "review.gate_released"
        ]
        names = [tag.name for tag in result.tags.list]
        assert "intake form" in names
        assert FULL_WIDTH_FACE not in names
        assert [FULL_WIDTH_FACE] == released[0].data["applied"]["refused"]

    def test_timeout_releases(
        self, instrument, gated_policy, analyze, store, span_exporter
    ) -> None:
        """No decision in time and gate_default release: the result comes back."""
        instrument(policy=gated_policy("1s", "release"))

        result = analyze()

        analysis_id = get_audit_id(result)
        span = span_exporter.get_finished_spans()[-1]
        assert result.tags.list
        assert ["review.gate_timed_out"] == self._gated_types(store, analysis_id)
        assert "release" == span.attributes["vision_audit.review.gate.action"]
        assert span.attributes["vision_audit.review.gate.timed_out"] is True

    def test_released_from_another_thread(
        self, instrument, gated_policy, analyze, store
    ) -> None:
        """An override from another thread releases the result, corrected."""
        instrument(policy=gated_policy())

        def override(analysis_id: str) -> None:
            removed = get_review(store, analysis_id).tags_kept[0]
            _decide(
                store,
                analysis_id,
                "override",
                remove_tags=[removed],
                add_tags=["wristband"],
            )

        reviewer = Reviewer(store, override)
        reviewer.start()
        result = analyze()
        reviewer.join(20)

        assert reviewer.error is None
        analysis_id = get_audit_id(result)
        case = get_review(store, analysis_id)
        removed = case.latest_decision.remove_tags[0]
        names = [tag.name for tag in result.tags.list]
        assert removed not in names
        assert "wristband" in names
        assert ["review.gate_released"] == self._gated_types(store, analysis_id)
        assert "release" == case.gate_events[0].data["action"]

    def test_rejected_from_another_thread(
        self, instrument, gated_policy, analyze, store
    ) -> None:
        """A rejection withholds the result at once."""
        instrument(policy=gated_policy())
        reviewer = Reviewer(store, lambda aid: _decide(store, aid, "reject"))
        reviewer.start()

        with pytest.raises(ReviewWithheldError) as info:
            analyze()
        reviewer.join(20)

        assert "rejected" == info.value.reason
        assert info.value.decision_event_id is not None

    def test_released_from_another_process(
        self, instrument, gated_policy, analyze, store, db_url
    ) -> None:
        """vision-audit review decide, in another process, releases the result."""
        instrument(policy=gated_policy())
        runs: list[subprocess.CompletedProcess[str]] = []

        def decide(analysis_id: str) -> None:
            runs.append(
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "vision_audit",
                        "review",
                        "decide",
                        analysis_id,
                        "--decision",
                        "approve",
                        "--reviewer",
                        REVIEWER,
                        "--rationale",
                        "form and photo match",
                        "--store",
                        db_url,
                    ],
                    capture_output=True,
                    text=True,
                    timeout=60,
                    env=clean_environment(),
                    check=False,
                )
            )

        reviewer = Reviewer(store, decide)
        reviewer.start()
        result = analyze()
        reviewer.join(60)

        assert reviewer.error is None
        assert 0 == runs[0].returncode, runs[0].stderr
        analysis_id = get_audit_id(result)
        assert result.tags.list
        assert "approved" == get_review(store, analysis_id).status
        assert ["review.gate_released"] == self._gated_types(store, analysis_id)

    def test_aio_does_not_block_the_loop(
        self, instrument, gated_policy, store, emulator, emulator_key
    ) -> None:
        """The aio client waits at the gate while the event loop keeps running."""
        instrument(policy=gated_policy())
        loop_state = {"ticks": 0, "advanced": False}

        def decide_once_the_loop_ran(analysis_id: str) -> None:
            # If the gate blocked the loop, the ticks would stand still until it ended.
            start = loop_state["ticks"]
            ends = time.monotonic() + 10
            while loop_state["ticks"] < start + 5 and time.monotonic() < ends:
                time.sleep(0.01)
            loop_state["advanced"] = loop_state["ticks"] >= start + 5
            _decide(store, analysis_id)

        reviewer = Reviewer(store, decide_once_the_loop_ran)

        async def main() -> object:
            done = asyncio.Event()

            async def tick() -> None:
                while not done.is_set():
                    loop_state["ticks"] += 1
                    await asyncio.sleep(0.01)

            ticker = asyncio.create_task(tick())
            async with AsyncClient(
                emulator.endpoint, AzureKeyCredential(emulator_key), retry_total=0
            ) as client:
                with at_the_intake_desk():
                    reviewer.start()
                    result = await client.analyze(
                        image_data=make_test_image(seed=9),
                        visual_features=[VisualFeatures.TAGS],
                    )
            done.set()
            await ticker
            return result

        result = asyncio.run(main())
        reviewer.join(20)

        assert reviewer.error is None
        assert loop_state["advanced"] is True
        assert result.tags.list
        assert "approved" == get_review(store, get_audit_id(result)).status
