"""The policy at the call: checks before sending, filtering and routing after."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.ai.vision.imageanalysis.aio import ImageAnalysisClient as AsyncClient
from azure.ai.vision.imageanalysis.models import VisualFeatures
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import HttpResponseError
from opentelemetry.trace import StatusCode
from vision_audit import ConsentRequiredError, audit_context, get_audit_id
from vision_audit.exceptions import AuditWriteError, TagBlockedError, VisionAuditError
from vision_audit.policy import (
    CallableConsentProvider,
    ConsentRecord,
    load_policy,
    parse_policy,
)
from vision_audit.testing import make_test_image

POLICIES = Path(__file__).parents[2] / "examples" / "policies"
CLAIMS = "insurance-claim-assessment"


def _consent(
    ref: str, *, expires: datetime | None = None, revoked: datetime | None = None
):
    now = datetime.now(UTC)
    records = {
        "c-1042": ConsentRecord(
            ref="c-1042",
            subject_ref="claimant-1042",
            purposes=frozenset({CLAIMS}),
            granted_at=now - timedelta(days=1),
            expires_at=expires,
            revoked_at=revoked,
        )
    }
    return records.get(ref)


@pytest.fixture(name="claims_policy")
def _claims_policy():
    return load_policy(POLICIES / "insurance-claims.toml")


class TestBeforeTheCall:
    """Consent and purpose are checked before any byte leaves the process."""

    def test_feature_not_allowed(
        self, instrument, fresh_client, fresh_emulator, store, span_exporter
    ) -> None:
        """Retail shelf analytics may not detect people: denied, nothing sent."""
        instrument(policy=str(POLICIES / "retail-shelf-analytics.toml"))

        with audit_context(purpose="retail-shelf-analytics"):
            with pytest.raises(ConsentRequiredError) as info:
                fresh_client.analyze(
                    image_data=make_test_image(),
                    visual_features=[VisualFeatures.TAGS, VisualFeatures.PEOPLE],
                )

        denied = store.of_type("analysis.denied")
        assert 0 == fresh_emulator.requests_received
        assert "feature-not-allowed" == info.value.reason
        assert ["policy.activated", "analysis.denied"] == [
            r.event.type for r in store.records
        ]
        assert "feature-not-allowed" == denied[0].data["reason"]
        assert denied[0].policy_id.startswith("sha256:")
        span = span_exporter.get_finished_spans()[0]
        assert "denied" == span.attributes["vision_audit.policy.decision"]

    @pytest.mark.parametrize(
        ("consent_ref", "provider", "reason"),
        [
            (None, _consent, "consent-missing"),
            ("c-9999", _consent, "consent-unknown"),
            (
                "c-1042",
                lambda ref: _consent(
                    ref, expires=datetime.now(UTC) - timedelta(hours=1)
                ),
                "consent-expired",
            ),
            (
                "c-1042",
                lambda ref: _consent(
                    ref, revoked=datetime.now(UTC) - timedelta(minutes=5)
                ),
                "consent-revoked",
            ),
        ],
    )
    def test_consent_denials(
        self,
        instrument,
        fresh_client,
        fresh_emulator,
        store,
        claims_policy,
        consent_ref,
        provider,
        reason,
    ) -> None:
        """Missing, unknown, expired and revoked consent each deny, by name."""
        instrument(policy=claims_policy, consent=CallableConsentProvider(provider))

        with audit_context(
            purpose=CLAIMS, consent_ref=consent_ref, subject_ref="claimant-1042"
        ):
            with pytest.raises(ConsentRequiredError) as info:
                fresh_client.analyze(
                    image_data=make_test_image(), visual_features=[VisualFeatures.TAGS]
                )

        assert reason == info.value.reason
        assert 0 == fresh_emulator.requests_received
        assert reason == store.of_type("analysis.denied")[0].data["reason"]

    def test_consent_given(self, instrument, client, store, claims_policy) -> None:
        """With valid consent the call goes, and every event names the policy."""
        instrument(policy=claims_policy, consent=CallableConsentProvider(_consent))

        with audit_context(
            purpose=CLAIMS, consent_ref="c-1042", subject_ref="claimant-1042"
        ):
            client.analyze(
                image_data=make_test_image(), visual_features=[VisualFeatures.TAGS]
            )

        assert {claims_policy.policy_id} == {r.event.policy_id for r in store.records}
        assert "analysis.completed" == store.records[-1].event.type

    def test_audit_mode(
        self, instrument, fresh_client, fresh_emulator, store, span_exporter
    ) -> None:
        """In audit mode the violation is recorded and the call goes on."""
        text = (POLICIES / "retail-shelf-analytics.toml").read_text()
        policy = parse_policy(text.replace('mode = "enforce"', 'mode = "audit"'))
        instrument(policy=policy)

        with audit_context(purpose="retail-shelf-analytics"):
            fresh_client.analyze(
                image_data=make_test_image(),
                visual_features=[VisualFeatures.TAGS, VisualFeatures.PEOPLE],
            )

        requested = store.of_type("analysis.requested")[0]
        assert 1 == fresh_emulator.requests_received
        assert "audit" == requested.data["policy"]["mode"]
        assert ["feature-not-allowed"] == [
            v["code"] for v in requested.data["policy"]["violations"]
        ]
        span = span_exporter.get_finished_spans()[0]
        assert (
            "allowed_with_violations" == span.attributes["vision_audit.policy.decision"]
        )


class TestAfterTheCall:
    """Tags are filtered before the application sees them; results are routed."""

    def test_block_list(
        self, instrument, client, emulator, store, claims_policy, span_exporter
    ) -> None:
        """Blocked tags and objects are gone from the result and recorded as dropped."""
        instrument(policy=claims_policy, consent=CallableConsentProvider(_consent))
        image = make_test_image(seed=1201)
        emulator.script(
            image,
            {
                "tags": {"car": 0.99, "Person": 0.95, "dent": 0.81, "wheel": 0.4},
                "objects": [
                    {"name": "car", "confidence": 0.9, "box": [10, 10, 300, 200]},
                    {"name": "person", "confidence": 0.8, "box": [400, 50, 100, 300]},
                ],
                "caption": {
                    "text": "a person standing next to a dented car",
                    "confidence": 0.9,
                },
            },
        )

        with audit_context(
            purpose=CLAIMS, consent_ref="c-1042", subject_ref="claimant-1042"
        ):
            result = client.analyze(
                image_data=image,
                visual_features=[
                    VisualFeatures.TAGS,
                    VisualFeatures.OBJECTS,
                    VisualFeatures.CAPTION,
                ],
            )

        filtered = store.of_type("tags.filtered")[0]
        completed = store.of_type("analysis.completed")[0]
        assert ["car", "dent"] == [t.name for t in result.tags.list]
        assert ["car"] == [o.tags[0].name for o in result.objects.list]
        assert {("Person", "block-list"), ("wheel", "below-min-confidence")} == {
            (t["name"], t["rule"]) for t in filtered.data["tags"]["dropped"]
        }
        assert [("person", "block-list")] == [
            (o["name"], o["rule"]) for o in filtered.data["objects"]["dropped"]
        ]
        assert "person" in filtered.data["caption_flags"]
        assert 2 == completed.data["results"]["tags"]["count"]
        assert filtered.analysis_id == get_audit_id(result)
        span = span_exporter.get_finished_spans()[0]
        assert {"Person", "wheel", "person"} == set(
            span.attributes["vision_audit.result.tags.dropped"]
        )

    def test_health_routes_to_review_and_content_stays_out(
        self, instrument, client, emulator, store, span_exporter
    ) -> None:
        """A wheelchair at patient intake: review required, no content captured."""
        instrument(
            policy=str(POLICIES / "healthcare-intake.toml"),
            capture_content=True,
            consent=CallableConsentProvider(
                lambda ref: ConsentRecord(
                    ref=ref,
                    subject_ref="patient-5521",
                    purposes=frozenset({"patient-intake"}),
                    granted_at=datetime.now(UTC) - timedelta(days=1),
                )
            ),
        )
        image = make_test_image(seed=1202)
        emulator.script(
            image,
            {
                "tags": {"person": 0.98, "wheelchair": 0.95},
                "people": 1,
                "caption": "a man in a wheelchair",
                "text": ["OUTPATIENT CLINIC"],
            },
        )

        with audit_context(
            purpose="patient-intake", consent_ref="c-5521", subject_ref="patient-5521"
        ):
            client.analyze(
                image_data=image,
                visual_features=[
                    VisualFeatures.TAGS,
                    VisualFeatures.CAPTION,
                    VisualFeatures.READ,
                    VisualFeatures.PEOPLE,
                ],
            )

        review = store.of_type("review.required")[0]
        completed = store.of_type("analysis.completed")[0]
        assert {"health", "people", "text"} <= set(review.data["flags"])
        assert "wheelchair" in review.data["health_categories"]
        assert review.data["review"]["required"] is True
        assert completed.content is None
        assert completed.data["review_required"] is True
        span = span_exporter.get_finished_spans()[0]
        assert not any(k.startswith("vision_audit.content.") for k in span.attributes)
        assert span.attributes["vision_audit.review.required"] is True

    def test_failure_names_the_policy(
        self, instrument, client, store, claims_policy
    ) -> None:
        """A failed call's event carries the policy id too."""
        instrument(policy=claims_policy, consent=CallableConsentProvider(_consent))

        with audit_context(
            purpose=CLAIMS, consent_ref="c-1042", subject_ref="claimant-1042"
        ):
            with pytest.raises(HttpResponseError):
                client.analyze(
                    image_data=b"garbage", visual_features=[VisualFeatures.TAGS]
                )

        assert claims_policy.policy_id == store.of_type("analysis.failed")[0].policy_id

    def test_policy_from_environment(
        self, instrument, client, store, monkeypatch
    ) -> None:
        """VISION_AUDIT_POLICY names the policy when no keyword does."""
        monkeypatch.setenv(
            "VISION_AUDIT_POLICY", str(POLICIES / "retail-shelf-analytics.toml")
        )
        instrument()

        with audit_context(purpose="retail-shelf-analytics"):
            with pytest.raises(ConsentRequiredError):
                client.analyze(
                    image_data=make_test_image(), visual_features=[VisualFeatures.READ]
                )

        assert ["policy.activated", "analysis.denied"] == [
            r.event.type for r in store.records
        ]


UPLOADS = (
    '[policy]\nname = "uploads"\nversion = "1"\n'
    "[purposes.uploads]\nrequire_consent = false\n"
    'features = ["tags", "objects", "caption"]\n'
    '[purposes.uploads.tags]\nblock = ["knife", "weapon"]\non_blocked = "withhold"\n'
)
KNIFE = {"tags": {"kitchen": 0.95, "Knife": 0.91}, "caption": "a kitchen counter"}


class TestWithheldOnBlockedTag:
    """``on_blocked = "withhold"``: a block-listed tag keeps the whole result back."""

    def test_withheld_and_recorded(
        self, instrument, client, emulator, store, span_exporter
    ) -> None:
        """TagBlockedError names the tag; the answer is recorded, marked withheld."""
        instrument(policy=parse_policy(UPLOADS))
        image = make_test_image(seed=1301)
        emulator.script(image, KNIFE)

        with audit_context(purpose="uploads"):
            with pytest.raises(TagBlockedError) as caught:
                client.analyze(
                    image_data=image,
                    visual_features=[VisualFeatures.TAGS, VisualFeatures.CAPTION],
                )

        error = caught.value
        requested = store.of_type("analysis.requested")[0]
        completed = store.of_type("analysis.completed")[0]
        filtered = store.of_type("tags.filtered")[0]
        assert isinstance(error, VisionAuditError)
        assert ("knife",) == error.tags
        assert "uploads" == error.purpose
        assert requested.analysis_id == error.analysis_id
        assert "'knife'" in str(error)
        assert error.analysis_id in str(error)
        assert "the answer is recorded in the audit store" in str(error)
        assert [
            "policy.activated",
            "analysis.requested",
            "tags.filtered",
            "analysis.completed",
        ] == [r.event.type for r in store.records]
        assert "tag-blocked" == completed.data["withheld"]
        assert ["knife"] == completed.data["blocked"]
        assert 1 == completed.data["results"]["tags"]["count"]
        assert filtered.data["withheld"] is True
        assert ["knife"] == filtered.data["blocked"]
        span = span_exporter.get_finished_spans()[0]
        assert StatusCode.ERROR == span.status.status_code
        assert (
            "vision_audit.exceptions.TagBlockedError" == span.attributes["error.type"]
        )
        assert "tag-blocked" == span.attributes["vision_audit.result.withheld"]
        assert ("knife",) == span.attributes["vision_audit.result.blocked"]

    def test_caption_naming_a_blocked_term(
        self, instrument, client, emulator, store
    ) -> None:
        """A caption that names a block-listed term withholds the result too."""
        instrument(policy=parse_policy(UPLOADS))
        image = make_test_image(seed=1302)
        emulator.script(
            image, {"tags": {"kitchen": 0.9}, "caption": "a knife on a board"}
        )

        with audit_context(purpose="uploads"):
            with pytest.raises(TagBlockedError) as caught:
                client.analyze(
                    image_data=image,
                    visual_features=[VisualFeatures.TAGS, VisualFeatures.CAPTION],
                )

        assert ("knife",) == caught.value.tags
        assert ["knife"] == store.of_type("analysis.completed")[0].data["blocked"]

    def test_clean_result_is_returned(
        self, instrument, client, emulator, store
    ) -> None:
        """Nothing block-listed came back: the result is returned as it is."""
        instrument(policy=parse_policy(UPLOADS))
        image = make_test_image(seed=1303)
        emulator.script(image, {"tags": {"kitchen": 0.95, "counter": 0.8}})

        with audit_context(purpose="uploads"):
            result = client.analyze(
                image_data=image, visual_features=[VisualFeatures.TAGS]
            )

        assert ["kitchen", "counter"] == [t.name for t in result.tags.list]
        assert "withheld" not in store.of_type("analysis.completed")[0].data
        assert store.of_type("analysis.completed")[0].analysis_id == get_audit_id(
            result
        )

    def test_drop_is_the_default(self, instrument, client, emulator) -> None:
        """Without ``on_blocked``, the tag is dropped and the rest returned."""
        instrument(
            policy=parse_policy(UPLOADS.replace('on_blocked = "withhold"\n', ""))
        )
        image = make_test_image(seed=1304)
        emulator.script(image, KNIFE)

        with audit_context(purpose="uploads"):
            result = client.analyze(
                image_data=image, visual_features=[VisualFeatures.TAGS]
            )

        assert ["kitchen"] == [t.name for t in result.tags.list]

    def test_aio(self, instrument, emulator, emulator_key, store) -> None:
        """The aio client raises the same error after the same records."""
        instrument(policy=parse_policy(UPLOADS))
        image = make_test_image(seed=1305)
        emulator.script(image, KNIFE)

        async def run() -> None:
            async with AsyncClient(
                emulator.endpoint, AzureKeyCredential(emulator_key)
            ) as client:
                with audit_context(purpose="uploads"):
                    await client.analyze(
                        image_data=image, visual_features=[VisualFeatures.TAGS]
                    )

        with pytest.raises(TagBlockedError) as caught:
            asyncio.run(run())

        assert ("knife",) == caught.value.tags
        assert "tag-blocked" == store.of_type("analysis.completed")[0].data["withheld"]

    def test_audit_mode_returns_and_records(
        self, instrument, client, emulator, store
    ) -> None:
        """A policy in audit mode returns the result and records what it would do."""
        instrument(
            policy=parse_policy(
                UPLOADS.replace('version = "1"', 'version = "1"\nmode = "audit"')
            )
        )
        image = make_test_image(seed=1306)
        emulator.script(image, KNIFE)

        with audit_context(purpose="uploads"):
            result = client.analyze(
                image_data=image, visual_features=[VisualFeatures.TAGS]
            )

        completed = store.of_type("analysis.completed")[0]
        assert ["kitchen"] == [t.name for t in result.tags.list]
        assert "withheld" not in completed.data
        assert "tag-blocked" == completed.data["would_withhold"]
        assert ["knife"] == completed.data["blocked"]
        assert store.of_type("tags.filtered")[0].data["would_withhold"] is True

    def test_below_min_confidence_withholds_nothing(
        self, instrument, client, emulator
    ) -> None:
        """A block-listed tag under the purpose's minimum is noise: dropped, no more."""
        instrument(policy=parse_policy(UPLOADS + "min_confidence = 0.5\n"))
        image = make_test_image(seed=1307)
        emulator.script(image, {"tags": {"kitchen": 0.95, "knife": 0.05}})

        with audit_context(purpose="uploads"):
            result = client.analyze(
                image_data=image, visual_features=[VisualFeatures.TAGS]
            )

        assert ["kitchen"] == [t.name for t in result.tags.list]

    def test_no_review_and_no_gate(self, instrument, client, emulator, store) -> None:
        """A withheld result was never delivered: no review is opened, nothing waits."""
        gated = (
            UPLOADS
            + '[purposes.uploads.review]\non = ["blocked"]\nall = true\n'
            + 'gate = true\ngate_timeout = "1h"\n'
        )
        instrument(policy=parse_policy(gated))
        image = make_test_image(seed=1308)
        emulator.script(image, KNIFE)

        with audit_context(purpose="uploads"):
            with pytest.raises(TagBlockedError):
                client.analyze(image_data=image, visual_features=[VisualFeatures.TAGS])

        assert [] == store.of_type("review.required")
        assert store.of_type("analysis.completed")[0].data["review_required"] is False

    def test_store_down_in_log_mode(self, instrument, client, emulator, store) -> None:
        """Best-effort auditing that failed: the error does not claim a record."""
        instrument(policy=parse_policy(UPLOADS), audit_failure="log")
        store.fail_after = 2  # the policy and the request are recorded, nothing after
        image = make_test_image(seed=1309)
        emulator.script(image, KNIFE)

        with audit_context(purpose="uploads"):
            with pytest.raises(TagBlockedError) as caught:
                client.analyze(image_data=image, visual_features=[VisualFeatures.TAGS])

        assert "could not be recorded" in str(caught.value)
        assert ["policy.activated", "analysis.requested"] == [
            r.event.type for r in store.records
        ]


class TestMetrics:
    """The calls, denials and removals, as OpenTelemetry metrics."""

    def test_counters_and_duration(self, instrument, client, emulator) -> None:
        """A completed call, a denied one and the tags removed are counted."""
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader

        reader = InMemoryMetricReader()
        instrument(
            policy=str(POLICIES / "retail-shelf-analytics.toml"),
            meter_provider=MeterProvider(metric_readers=[reader]),
        )
        image = make_test_image(seed=31)
        emulator.script(image, {"tags": {"shelf": 0.96, "person": 0.95, "woman": 0.8}})
        with audit_context(purpose="retail-shelf-analytics"):
            client.analyze(image_data=image, visual_features=[VisualFeatures.TAGS])
            with pytest.raises(ConsentRequiredError):
                client.analyze(
                    image_data=image, visual_features=[VisualFeatures.PEOPLE]
                )

        found = {}
        for resource in reader.get_metrics_data().resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        key = (metric.name, tuple(sorted(point.attributes.items())))
                        found[key] = getattr(point, "value", None) or point.count
        purpose = ("vision_audit.context.purpose", "retail-shelf-analytics")

        def key(name: str, *pairs: tuple[str, str]) -> tuple:
            return name, tuple(sorted((purpose, *pairs)))

        assert (
            1 == found[key("vision_audit.calls", ("vision_audit.outcome", "completed"))]
        )
        assert 1 == found[key("vision_audit.calls", ("vision_audit.outcome", "denied"))]
        assert (
            1
            == found[
                key(
                    "vision_audit.denials",
                    ("vision_audit.denial.reason", "feature-not-allowed"),
                )
            ]
        )
        removed = sum(
            v for (name, _), v in found.items() if name == "vision_audit.tags.removed"
        )
        assert removed >= 2
        durations = [
            v for (name, _), v in found.items()
            if name == "gen_ai.client.operation.duration"
        ]  # fmt: skip
        assert [1] == durations


class TestPolicyActivated:
    """The log names the policy behind every policy id its writer recorded."""

    def test_recorded_once_before_the_first_event(
        self, instrument, client, emulator, store
    ) -> None:
        """Name, version, mode and whole document, once, first; its id digests it."""
        instrument(policy=parse_policy(UPLOADS))
        emulator.script(make_test_image(seed=7), {"tags": {"kitchen": 0.9}})

        with audit_context(purpose="uploads"):
            for _ in range(2):
                client.analyze(
                    image_data=make_test_image(seed=7),
                    visual_features=[VisualFeatures.TAGS],
                )

        types = [r.event.type for r in store.records]
        activated = store.records[0].event
        document = json.dumps(
            activated.data["document"],
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        assert "policy.activated" == types[0]
        assert 1 == types.count("policy.activated")
        assert ("uploads", "1", "enforce") == (
            activated.data["name"],
            activated.data["version"],
            activated.data["mode"],
        )
        assert activated.policy_id == store.records[1].event.policy_id
        assert (
            activated.policy_id
            == "sha256:" + hashlib.sha256(document.encode()).hexdigest()
        )

    def test_lost_in_log_mode_then_recorded(
        self, instrument, client, emulator, store
    ) -> None:
        """Best-effort: a lost announcement is made with the next event that lands."""
        instrument(policy=parse_policy(UPLOADS), audit_failure="log")
        emulator.script(make_test_image(seed=8), {"tags": {"kitchen": 0.9}})
        store.fail_after = 0

        with audit_context(purpose="uploads"):
            client.analyze(
                image_data=make_test_image(seed=8),
                visual_features=[VisualFeatures.TAGS],
            )
            store.fail_after = None
            client.analyze(
                image_data=make_test_image(seed=8),
                visual_features=[VisualFeatures.TAGS],
            )

        assert "policy.activated" == store.records[0].event.type
        assert 1 == [r.event.type for r in store.records].count("policy.activated")

    def test_fail_closed(self, instrument, fresh_client, fresh_emulator, store) -> None:
        """Fail-closed: a policy that cannot be recorded stops the call unsent."""
        instrument(policy=parse_policy(UPLOADS))
        store.fail_after = 0

        with audit_context(purpose="uploads"):
            with pytest.raises(AuditWriteError, match="disk full"):
                fresh_client.analyze(
                    image_data=make_test_image(seed=9),
                    visual_features=[VisualFeatures.TAGS],
                )

        assert 0 == fresh_emulator.requests_received
        assert [] == store.records
