"""The policy engine: pre-call checks and the judgement of results."""

from __future__ import annotations

import datetime as dt
import json
import math

import pytest
from azure.ai.vision.imageanalysis.models import VisualFeatures
from hypothesis import given
from hypothesis import strategies as st
from vision_audit.exceptions import ConsentRequiredError
from vision_audit.policy import (
    BUILTIN_HEALTH_TAGS,
    VIOLATION_CODES,
    CallableConsentProvider,
    ConsentRecord,
    PolicyEngine,
    PreCheck,
    TagVerdict,
    Violation,
    parse_policy,
)

NOW = dt.datetime(2026, 11, 15, 12, 0, tzinfo=dt.UTC)

POLICY = """
[policy]
name = "engine-test"
version = "1"
mode = "{mode}"

[purposes.claims]
features = ["tags", "caption", "objects", "read", "denseCaptions"]

[purposes.claims.tags]
block = ["person", "man", "human face"]
min_confidence = 0.5

[purposes.claims.review]
on = ["low_confidence", "health"]
low_confidence_below = 0.6
deadline = "48h"
four_eyes = true

[purposes.shelves]
require_consent = false
features = ["tags", "objects", "caption"]

[purposes.shelves.tags]
allow = ["shelf", "product", "box"]

[purposes.shelves.review]
on = ["blocked"]

[purposes.intake]
features = ["tags", "caption", "read", "people"]
capture_content = false

[purposes.intake.review]
all = true
on = ["people", "text"]
"""

CONSENTS = {
    "c-claims": ConsentRecord(
        ref="c-claims",
        subject_ref="claimant-1",
        purposes=frozenset({"claims"}),
        features=frozenset({"tags", "caption", "objects"}),
        granted_at=NOW - dt.timedelta(days=10),
        expires_at=NOW + dt.timedelta(days=10),
    ),
    "c-revoked": ConsentRecord(
        ref="c-revoked",
        subject_ref="claimant-1",
        purposes=frozenset({"claims"}),
        granted_at=NOW - dt.timedelta(days=10),
        revoked_at=NOW - dt.timedelta(days=1),
    ),
}


def _engine(mode: str = "enforce", consent: object = "default") -> PolicyEngine:
    provider = (
        CallableConsentProvider(CONSENTS.get) if consent == "default" else consent
    )
    return PolicyEngine(
        parse_policy(POLICY.format(mode=mode)),
        consent=provider,  # type: ignore[arg-type]
        clock=lambda: NOW,
    )


def _codes(pre: PreCheck) -> list[str]:
    return [v.code for v in pre.violations]


class TestCheckRequest:
    """Before the call: purpose, features, consent."""

    def test_allowed(self) -> None:
        """A call within its consent and purpose passes with no violation."""
        pre = _engine().check_request(
            purpose="claims",
            consent_ref="c-claims",
            subject_ref="claimant-1",
            features=("tags", "caption"),
        )

        assert (
            PreCheck(
                allowed=True,
                violations=(),
                mode="enforce",
                purpose="claims",
                policy_id=_engine().policy_id,
            )
            == pre
        )
        pre.raise_for_denial()

    def test_no_consent_needed(self) -> None:
        """A purpose without consent needs no reference."""
        pre = _engine().check_request(purpose="shelves", features=["tags"])

        assert pre.allowed

    @pytest.mark.parametrize(
        ("call", "codes"),
        [
            ({"purpose": None}, ["purpose-missing"]),
            ({"purpose": ""}, ["purpose-missing"]),
            ({"purpose": "marketing"}, ["unknown-purpose"]),
            ({"purpose": "Claims"}, ["unknown-purpose"]),
            ({"features": ["tags", "faces"]}, ["unknown-feature"]),
            (
                {"features": ["people"]},
                ["feature-not-allowed", "feature-not-consented"],
            ),
            ({"features": ["read"]}, ["feature-not-consented"]),
            ({"consent_ref": None}, ["consent-missing"]),
            ({"consent_ref": "c-nobody"}, ["consent-unknown"]),
            ({"consent_ref": "c-revoked"}, ["consent-revoked"]),
            ({"subject_ref": "claimant-2"}, ["subject-mismatch"]),
            ({"subject_ref": None}, ["subject-mismatch"]),
        ],
    )
    def test_denied(self, call: dict[str, object], codes: list[str]) -> None:
        """Each violation has its code; in enforce mode the call is denied."""
        arguments: dict[str, object] = {
            "purpose": "claims",
            "consent_ref": "c-claims",
            "subject_ref": "claimant-1",
            "features": ["tags"],
        }
        arguments.update(call)

        pre = _engine().check_request(**arguments)  # type: ignore[arg-type]

        assert codes == _codes(pre)
        assert not pre.allowed
        assert codes[0] == pre.reason
        assert set(codes) <= VIOLATION_CODES

    def test_purpose_forbids_people_and_read(self) -> None:
        """A purpose that does not need PEOPLE or READ cannot ask for them."""
        pre = _engine().check_request(
            purpose="shelves",
            features=[VisualFeatures.PEOPLE, VisualFeatures.READ, VisualFeatures.TAGS],
        )

        assert ["feature-not-allowed"] == _codes(pre)
        assert "people, read" in pre.violations[0].message

    def test_sdk_features(self) -> None:
        """The SDK's VisualFeatures members are understood."""
        pre = _engine().check_request(
            purpose="claims",
            consent_ref="c-claims",
            subject_ref="claimant-1",
            features=[VisualFeatures.TAGS, VisualFeatures.OBJECTS],
        )

        assert pre.allowed

    def test_audit_mode_lets_calls_go(self) -> None:
        """In audit mode violations are reported and the call is allowed."""
        pre = _engine(mode="audit").check_request(purpose="claims", features=["people"])

        assert pre.allowed
        assert "audit" == pre.mode
        assert ["feature-not-allowed", "consent-missing"] == _codes(pre)
        pre.raise_for_denial()

    def test_no_provider(self) -> None:
        """Consent required, no provider configured: denied, saying so."""
        pre = _engine(consent=None).check_request(
            purpose="claims", consent_ref="c-claims", subject_ref="claimant-1"
        )

        assert ["consent-unknown"] == _codes(pre)
        assert "no consent provider" in pre.violations[0].message

    def test_provider_failure_denies(self) -> None:
        """A failing consent source means consent cannot be verified: denied."""

        def broken(_ref: str) -> None:
            msg = "database down"
            raise ConnectionError(msg)

        pre = _engine(consent=CallableConsentProvider(broken)).check_request(
            purpose="claims", consent_ref="c-claims", subject_ref="claimant-1"
        )

        assert ["consent-unavailable"] == _codes(pre)
        assert "ConnectionError" in pre.violations[0].message
        assert not pre.allowed

    def test_raise_for_denial(self) -> None:
        """A denial raises ConsentRequiredError carrying the reason codes."""
        pre = _engine().check_request(
            purpose="claims", consent_ref="c-revoked", subject_ref="claimant-2"
        )

        with pytest.raises(ConsentRequiredError) as caught:
            pre.raise_for_denial()

        assert "consent-revoked" == caught.value.reason
        assert ("consent-revoked", "subject-mismatch") == caught.value.codes
        assert "claimant-2" not in str(caught.value)

    def test_as_dict(self) -> None:
        """The denial's JSON form, for the ``analysis.denied`` event."""
        pre = _engine().check_request(purpose="claims", features=["tags"])

        assert {
            "allowed": False,
            "mode": "enforce",
            "reason": "consent-missing",
            "violations": [
                {"code": "consent-missing", "message": pre.violations[0].message}
            ],
        } == pre.as_dict()

    @pytest.mark.parametrize(
        "purpose", ["<script>x</script>", "claims\x00", "p" * 10_000, "\u202eclaims"]
    )
    def test_hostile_purpose(self, purpose: str) -> None:
        """A hostile purpose is unknown; the message quotes it escaped and short."""
        pre = _engine().check_request(purpose=purpose)

        assert ["unknown-purpose"] == _codes(pre)
        assert "\x00" not in pre.violations[0].message
        assert len(pre.violations[0].message) < 400

    @given(
        purpose=st.sampled_from(["claims", "shelves", "intake", "x", None]),
        consent_ref=st.sampled_from([None, "c-claims", "c-revoked", "c-none"]),
        subject_ref=st.sampled_from([None, "claimant-1", "claimant-2"]),
        features=st.lists(
            st.sampled_from(
                ["tags", "caption", "read", "people", "smartCrops", "objects", "faces"]
            ),
            max_size=4,
        ),
        mode=st.sampled_from(["enforce", "audit"]),
    )
    def test_allowed_iff_no_violation(
        self,
        purpose: str | None,
        consent_ref: str | None,
        subject_ref: str | None,
        features: list[str],
        mode: str,
    ) -> None:
        """Enforce allows exactly the calls without violations; audit allows all."""
        pre = _engine(mode=mode).check_request(
            purpose=purpose,
            consent_ref=consent_ref,
            subject_ref=subject_ref,
            features=features,
        )

        assert (mode == "audit" or not pre.violations) == pre.allowed
        assert all(v.code in VIOLATION_CODES for v in pre.violations)


class TestEvaluateResult:
    """After the call: filtering, flags, review."""

    def test_claims(self) -> None:
        """Blocked and weak tags dropped, objects too; spelling kept."""
        post = _engine().evaluate_result(
            purpose="claims",
            tags=[("car", 0.99), ("Person", 0.97), ("dent", 0.42), ("bumper", 0.58)],
            objects=[("car", 0.88), ("man", 0.8)],
        )

        assert (
            TagVerdict("car", 0.99, kept=True),
            TagVerdict("Person", 0.97, kept=False, rule="block-list"),
            TagVerdict("dent", 0.42, kept=False, rule="below-min-confidence"),
            TagVerdict("bumper", 0.58, kept=True),
        ) == post.tag_verdicts
        assert ("car",) == post.kept_objects
        assert ("car", "bumper") == post.kept_tags
        assert post.filtered

    def test_low_confidence_review(self) -> None:
        """A kept tag under ``low_confidence_below``: review, with a deadline."""
        post = _engine().evaluate_result(
            purpose="claims", tags=[("car", 0.99), ("bumper", 0.58)]
        )

        assert frozenset({"low_confidence"}) == post.flags
        assert (True, ("low_confidence",)) == (
            post.review_required,
            post.review_reasons,
        )
        assert dt.timedelta(hours=48) == post.review_deadline
        assert post.review is not None
        assert post.review.four_eyes

    def test_confident_result_not_reviewed(self) -> None:
        """Nothing flagged, nothing to review; content may be captured."""
        post = _engine().evaluate_result(
            purpose="claims", tags=[("car", 0.99)], caption=("a red car", 0.9)
        )

        assert (frozenset(), False, (), None, True) == (
            post.flags,
            post.review_required,
            post.review_reasons,
            post.review_deadline,
            post.capture_content,
        )

    def test_low_caption_confidence(self) -> None:
        """A weak caption raises ``low_confidence`` too."""
        post = _engine().evaluate_result(
            purpose="claims", tags=[("car", 0.99)], caption=("a car", 0.3)
        )

        assert "low_confidence" in post.flags

    def test_health(self) -> None:
        """Health tags, in tags, objects or captions, flag and forbid capture."""
        post = _engine().evaluate_result(
            purpose="claims",
            tags=[("indoor", 0.98), ("Wheelchair", 0.95)],
            objects=[("crutch", 0.7)],
            caption=("a man in a wheelchair in a hospital hallway", 0.8),
            dense_captions=[("a bandaged arm", 0.7), ("two walking sticks", 0.6)],
        )

        assert ("crutch", "hospital", "walking stick", "wheelchair") == (
            post.health_categories
        )
        assert "health" in post.flags
        assert "health" in post.review_reasons
        assert not post.capture_content

    def test_caption_flagged_not_cut(self) -> None:
        """A caption naming a blocked term is flagged; its text is never recorded."""
        post = _engine().evaluate_result(
            purpose="claims",
            tags=[("car", 0.99)],
            caption=("a Man standing next to a dented car", 0.8),
            dense_captions=[("a human face", 0.7), ("two men", 0.6)],
        )

        assert ("human face", "man") == post.caption_flags
        assert "standing" not in json.dumps(post.as_dict())

    def test_allow_list_caption_names_dropped_tag(self) -> None:
        """With an allow list, a caption naming a tag it dropped is flagged."""
        post = _engine().evaluate_result(
            purpose="shelves",
            tags=[("shelf", 0.97), ("person", 0.9), ("furniture", 0.8)],
            caption=("a person standing by a shelf", 0.8),
        )

        assert ("shelf",) == post.kept_tags
        assert ("person",) == post.caption_flags
        assert ("blocked",) == post.review_reasons

    def test_allow_list_drops_alone_are_routine(self) -> None:
        """An allow list dropping tags is no reason for review by itself."""
        post = _engine().evaluate_result(
            purpose="shelves", tags=[("shelf", 0.97), ("furniture", 0.8)]
        )

        assert post.filtered
        assert not post.review_required

    def test_blocked_trigger_on_block_list(self) -> None:
        """``blocked`` fires when a block-listed tag came back."""
        policy = parse_policy(
            '[policy]\nname = "n"\nversion = "1"\n[purposes.p]\nfeatures = ["tags"]\n'
            '[purposes.p.tags]\nblock = ["person"]\n'
            '[purposes.p.review]\non = ["blocked"]\n'
        )

        post = PolicyEngine(policy).evaluate_result(purpose="p", tags=[("person", 0.9)])

        assert ("blocked",) == post.review_reasons

    @pytest.mark.parametrize(
        ("on_blocked", "withheld"), [("drop", False), ("withhold", True)]
    )
    def test_blocked_names(self, on_blocked: str, *, withheld: bool) -> None:
        """Block-listed tags, objects and caption terms are named; withheld if set."""
        policy = parse_policy(
            '[policy]\nname = "n"\nversion = "1"\n[purposes.p]\n'
            'features = ["tags", "objects", "caption"]\n'
            '[purposes.p.tags]\nblock = ["person", "face"]\n'
            f'on_blocked = "{on_blocked}"\n'
        )

        post = PolicyEngine(policy).evaluate_result(
            purpose="p",
            tags=[("Person", 0.9), ("car", 0.9)],
            objects=[("person", 0.8)],
            caption=("a smiling face by a car", 0.8),
        )

        assert ("face", "person") == post.blocked
        assert withheld is post.withheld
        assert withheld is post.as_dict().get("withheld", False)

    @pytest.mark.parametrize(
        ("mode", "withheld", "reviewed"),
        [("enforce", True, False), ("audit", False, True)],
    )
    def test_withheld_goes_to_no_review(
        self, mode: str, *, withheld: bool, reviewed: bool
    ) -> None:
        """Enforced, nothing was delivered: no review; in audit mode, as before."""
        policy = parse_policy(
            f'[policy]\nname = "n"\nversion = "1"\nmode = "{mode}"\n'
            '[purposes.p]\nfeatures = ["tags"]\n'
            '[purposes.p.tags]\nblock = ["knife"]\non_blocked = "withhold"\n'
            "[purposes.p.review]\nall = true\n"
        )

        post = PolicyEngine(policy).evaluate_result(purpose="p", tags=[("knife", 0.9)])

        assert withheld is post.withheld
        assert (not withheld) is post.would_withhold
        assert reviewed is post.review_required
        assert ("knife",) == post.blocked

    def test_min_confidence_bounds_what_withholds(self) -> None:
        """Block-listed names under ``min_confidence``, tag or caption, do not count."""
        policy = parse_policy(
            '[policy]\nname = "n"\nversion = "1"\n[purposes.p]\n'
            'features = ["tags", "caption"]\n'
            '[purposes.p.tags]\nblock = ["knife"]\non_blocked = "withhold"\n'
            "min_confidence = 0.5\n"
        )
        engine = PolicyEngine(policy)

        low = engine.evaluate_result(
            purpose="p", tags=[("knife", 0.2)], caption=("a knife", 0.3)
        )
        high = engine.evaluate_result(purpose="p", caption=("a knife", 0.6))

        assert ((), False) == (low.blocked, low.withheld)
        assert (("knife",), True) == (high.blocked, high.withheld)

    def test_clean_result_is_not_withheld(self) -> None:
        """With ``withhold``, a result without block-listed names passes as it is."""
        policy = parse_policy(
            '[policy]\nname = "n"\nversion = "1"\n[purposes.p]\nfeatures = ["tags"]\n'
            '[purposes.p.tags]\nblock = ["person"]\non_blocked = "withhold"\n'
            "min_confidence = 0.5\n"
        )

        post = PolicyEngine(policy).evaluate_result(
            purpose="p", tags=[("car", 0.9), ("wheel", 0.1)]
        )

        assert () == post.blocked
        assert not post.withheld
        assert "withheld" not in post.as_dict()

    def test_health_tag_in_the_plural(self) -> None:
        """``wheelchairs`` is as health-related as ``wheelchair``."""
        post = _engine().evaluate_result(purpose="intake", tags=[("wheelchairs", 0.9)])

        assert "health" in post.flags
        assert "wheelchair" in post.health_categories

    def test_people_and_text(self) -> None:
        """People over the threshold and text read raise their flags."""
        post = _engine().evaluate_result(
            purpose="intake",
            tags=[("document", 0.9)],
            people_confidences=[0.49, 0.51],
            text_lines=3,
        )

        assert frozenset({"people", "text"}) == post.flags
        assert ("purpose", "people", "text") == post.review_reasons
        assert not post.capture_content

    def test_people_below_threshold(self) -> None:
        """Detections under the threshold raise no flag."""
        post = _engine().evaluate_result(
            purpose="intake", people_confidences=[0.1, math.nan], text_lines=0
        )

        assert frozenset() == post.flags
        assert ("purpose",) == post.review_reasons

    def test_unknown_purpose(self) -> None:
        """An unknown purpose (audit mode): nothing dropped, reviewed, not captured."""
        post = _engine(mode="audit").evaluate_result(
            purpose="marketing", tags=[("person", 0.9)]
        )

        assert ("person",) == post.kept_tags
        assert (True, ("unknown-purpose",), False) == (
            post.review_required,
            post.review_reasons,
            post.capture_content,
        )

    def test_as_dict(self) -> None:
        """The JSON form for ``tags.filtered``: kept, dropped and why, flags, review."""
        post = _engine().evaluate_result(
            purpose="claims",
            tags=[("car", 0.99), ("person", 0.97)],
            objects=[("car", 0.55)],
        )

        assert {
            "purpose": "claims",
            "tags": {
                "kept": [{"name": "car", "confidence": 0.99}],
                "dropped": [
                    {"name": "person", "confidence": 0.97, "rule": "block-list"}
                ],
            },
            "objects": {"kept": [{"name": "car", "confidence": 0.55}], "dropped": []},
            "caption_flags": [],
            "flags": ["low_confidence"],
            "health_categories": [],
            "review": {
                "required": True,
                "reasons": ["low_confidence"],
                "deadline_seconds": 172800,
                "four_eyes": True,
                "gate": False,
            },
            "capture_content": True,
        } == post.as_dict()

    def test_hostile_result(self) -> None:
        """Markup, control characters, huge names and NaN: judged, JSON-safe."""
        tags = [
            ("<img src=x onerror=alert(1)>", 0.9),
            ("per\x00son\x1b[0m", 0.9),
            ("x" * 10_000, 0.9),
            ("car", math.nan),
            ("truck", math.inf),
        ]

        post = _engine().evaluate_result(
            purpose="claims",
            tags=tags,
            caption=("\x00" * 100 + "wheelchair" + " word" * 5_000, 0.9),
        )

        assert [name for name, _ in tags] == [v.name for v in post.tag_verdicts]
        assert [True, True, True, False, False] == [v.kept for v in post.tag_verdicts]
        assert ("wheelchair",) == post.health_categories
        json.dumps(post.as_dict(), allow_nan=False)

    def test_builtin_health_list_covers_the_emulator(self) -> None:
        """The emulator's clinic and pharmacy scenes are health-flagged."""
        for tag in ("wheelchair", "hospital", "medical equipment", "medicine", "pill"):
            assert tag in BUILTIN_HEALTH_TAGS

    @given(
        tags=st.lists(
            st.tuples(
                st.sampled_from(["car", "person", "wheelchair", "Man", "dent", "box"]),
                st.floats(min_value=0, max_value=1),
            ),
            max_size=10,
        ),
        purpose=st.sampled_from(["claims", "shelves", "intake", "other"]),
    )
    def test_outcome_invariants(
        self, tags: list[tuple[str, float]], purpose: str
    ) -> None:
        """Health forbids capture; review iff reasons; a deadline only with review."""
        post = _engine(mode="audit").evaluate_result(purpose=purpose, tags=tags)

        assert len(tags) == len(post.tag_verdicts)
        assert post.review_required == bool(post.review_reasons)
        assert post.review_deadline is None or post.review_required
        if "health" in post.flags:
            assert not post.capture_content
            assert post.health_categories
        json.dumps(post.as_dict(), allow_nan=False)


class TestViolation:
    """The value reported for each broken rule."""

    def test_as_dict(self) -> None:
        """Code and message, JSON-ready."""
        assert {"code": "consent-missing", "message": "m"} == Violation(
            "consent-missing", "m"
        ).as_dict()
