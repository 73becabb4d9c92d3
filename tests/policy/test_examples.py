"""The example policies in examples/policies/ do what their README says."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from azure.ai.vision.imageanalysis.models import VisualFeatures
from vision_audit.emulator._vocabulary import SCENES
from vision_audit.policy import (
    PolicyEngine,
    StoreConsentProvider,
    grant_consent,
    load_policy,
    revoke_consent,
)
from vision_audit.policy.consent import ConsentRecord
from vision_audit.store import open_store

EXAMPLES = Path(__file__).parents[2] / "examples" / "policies"
NOW = dt.datetime(2026, 11, 15, 12, 0, tzinfo=dt.UTC)
SCENE = {scene.key: scene for scene in SCENES}


def _engine(name: str, **kwargs: object) -> PolicyEngine:
    return PolicyEngine(
        load_policy(EXAMPLES / name),
        clock=lambda: NOW,
        **kwargs,  # type: ignore[arg-type]
    )


def _result(key: str) -> dict[str, object]:
    """The emulator's scene as evaluate_result's arguments."""
    scene = SCENE[key]
    return {
        "tags": list(scene.tags),
        "objects": [(thing.name, thing.confidence) for thing in scene.things],
        "caption": (scene.caption, scene.caption_confidence),
        "dense_captions": [(thing.phrase, thing.confidence) for thing in scene.things],
        "people_confidences": [
            thing.confidence for thing in scene.things if thing.name == "person"
        ],
        "text_lines": len(scene.text),
    }


class TestExampleFiles:
    """Every example is valid and documented."""

    @pytest.mark.parametrize(
        "name",
        [
            "retail-shelf-analytics.toml",
            "insurance-claims.toml",
            "healthcare-intake.toml",
        ],
    )
    def test_loads(self, name: str) -> None:
        """Each file loads, is enforced, and has a retention for every data class."""
        policy = load_policy(EXAMPLES / name)

        assert "enforce" == policy.mode
        assert None not in (
            policy.retention.content,
            policy.retention.metadata,
            policy.retention.decisions,
        )
        assert name.removesuffix(".toml") in (EXAMPLES / "README.md").read_text()


class TestRetailShelfAnalytics:
    """No people: refused before the call, dropped or flagged after it."""

    def test_people_feature_refused(self) -> None:
        """The demo's shelf scan asks for PEOPLE: denied before any byte leaves."""
        pre = _engine("retail-shelf-analytics.toml").check_request(
            purpose="retail-shelf-analytics",
            features=(
                VisualFeatures.TAGS,
                VisualFeatures.OBJECTS,
                VisualFeatures.PEOPLE,
            ),
        )

        assert (False, "feature-not-allowed") == (pre.allowed, pre.reason)

    def test_no_consent_needed(self) -> None:
        """Shelves need no consent; smart crops and tags are allowed."""
        pre = _engine("retail-shelf-analytics.toml").check_request(
            purpose="retail-shelf-analytics",
            features=(VisualFeatures.SMART_CROPS, VisualFeatures.TAGS),
        )

        assert pre.allowed

    def test_shelf_photo(self) -> None:
        """Only product tags reach the application; the shelf scene is not reviewed."""
        post = _engine("retail-shelf-analytics.toml").evaluate_result(
            purpose="retail-shelf-analytics", **_result("retail_shelf")
        )

        assert {"shelf", "retail", "supermarket", "product", "box"} <= set(
            post.kept_tags
        )
        assert not post.review_required

    def test_shopper_in_view(self) -> None:
        """A shopper is dropped from the tags; a caption naming them goes to review."""
        post = _engine("retail-shelf-analytics.toml").evaluate_result(
            purpose="retail-shelf-analytics",
            tags=[("shelf", 0.95), ("person", 0.93), ("woman", 0.8)],
            caption=("a woman standing in front of a shelf", 0.8),
        )

        assert ("shelf",) == post.kept_tags
        assert ("woman",) == post.caption_flags
        assert ("blocked",) == post.review_reasons


class TestInsuranceClaims:
    """Consent per claimant; people removed; uncertain results to two reviewers."""

    def test_consent_per_claimant(self) -> None:
        """A claimant's consent covers their claim only, until revoked."""
        store = open_store("memory://")
        try:
            grant_consent(
                store,
                ConsentRecord(
                    ref="consent-claim-1042",
                    subject_ref="claimant-1042",
                    purposes=frozenset({"insurance-claim-assessment"}),
                    granted_at=NOW - dt.timedelta(days=3),
                    expires_at=NOW + dt.timedelta(days=365),
                ),
                actor="claims-desk",
            )
            engine = _engine(
                "insurance-claims.toml", consent=StoreConsentProvider(store)
            )
            call = {
                "purpose": "insurance-claim-assessment",
                "consent_ref": "consent-claim-1042",
                "features": ("tags", "caption", "objects", "read"),
            }

            own = engine.check_request(subject_ref="claimant-1042", **call)
            other = engine.check_request(subject_ref="claimant-1043", **call)
            missing = engine.check_request(
                subject_ref="claimant-1044",
                purpose="insurance-claim-assessment",
                consent_ref="consent-claim-1044",
            )
            people = engine.check_request(
                subject_ref="claimant-1042", **{**call, "features": ("people",)}
            )
            revoke_consent(store, "consent-claim-1042", actor="dpo", at=NOW)
            revoked = engine.check_request(subject_ref="claimant-1042", **call)
        finally:
            store.close()

        assert own.allowed
        assert ["subject-mismatch"] == [v.code for v in other.violations]
        assert "consent-unknown" == missing.reason
        assert "feature-not-allowed" == people.reason
        assert "consent-revoked" == revoked.reason

    def test_damaged_car(self) -> None:
        """People tags are removed; the claims system sees the damage."""
        post = _engine("insurance-claims.toml").evaluate_result(
            purpose="insurance-claim-assessment",
            tags=[("car", 0.97), ("person", 0.9), ("bumper", 0.84), ("dent", 0.42)],
            caption=("a man next to a damaged car", 0.77),
        )

        assert ("car", "bumper") == post.kept_tags
        assert ("man",) == post.caption_flags
        assert not post.review_required

    def test_low_confidence_to_two_reviewers(self) -> None:
        """A kept tag under 0.6: review by two people within 48 hours."""
        post = _engine("insurance-claims.toml").evaluate_result(
            purpose="insurance-claim-assessment", **_result("damaged_car")
        )

        assert ("low_confidence",) == post.review_reasons
        assert dt.timedelta(hours=48) == post.review_deadline
        assert post.review is not None
        assert (True, False) == (post.review.four_eyes, post.review.gate)

    def test_injury_in_claim_photo(self) -> None:
        """Health-related content in a claim photo is reviewed and never captured."""
        post = _engine("insurance-claims.toml").evaluate_result(
            purpose="insurance-claim-assessment",
            tags=[("car", 0.97)],
            dense_captions=[("a man wearing a neck brace", 0.7)],
        )

        assert ("neck brace",) == post.health_categories
        assert "health" in post.review_reasons
        assert not post.capture_content


class TestHealthcareIntake:
    """Health categories, every result reviewed, no content, strict retention."""

    def test_wheelchair_in_clinic(self) -> None:
        """The clinic scene is health data: categories listed, content never kept."""
        post = _engine("healthcare-intake.toml").evaluate_result(
            purpose="patient-intake", **_result("clinic_wheelchair")
        )

        assert {
            "wheelchair",
            "hospital",
            "clinic",
            "medical equipment",
            "scrubs",
        } <= set(post.health_categories)
        assert {"health", "people", "text"} <= post.flags
        assert "purpose" == post.review_reasons[0]
        assert dt.timedelta(hours=24) == post.review_deadline
        assert not post.capture_content

    def test_every_result_reviewed_and_never_captured(self) -> None:
        """Even an innocuous result goes to review, and its content is not captured."""
        post = _engine("healthcare-intake.toml").evaluate_result(
            purpose="patient-intake", tags=[("paper", 0.95)]
        )

        assert ("purpose",) == post.review_reasons
        assert not post.capture_content

    def test_strict_retention(self) -> None:
        """Content is kept a day; metadata half a year."""
        retention = load_policy(EXAMPLES / "healthcare-intake.toml").retention

        assert dt.timedelta(days=1) == retention.content
        assert dt.timedelta(days=180) == retention.metadata

    def test_consent_and_features(self) -> None:
        """Consent required; smart crops are not part of intake."""
        engine = _engine("healthcare-intake.toml")

        pre = engine.check_request(
            purpose="patient-intake",
            subject_ref="patient-5521",
            features=(VisualFeatures.SMART_CROPS,),
        )

        assert ["feature-not-allowed", "consent-missing"] == [
            v.code for v in pre.violations
        ]
