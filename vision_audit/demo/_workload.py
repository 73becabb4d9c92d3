"""The demo's workload: who analyzes which picture, for what purpose, and how."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from azure.ai.vision.imageanalysis.models import VisualFeatures


@dataclass(frozen=True, slots=True)
class DemoCall:
    """
    One call the demo makes through the real SDK.

    The audit fields (purpose, actor, subject and consent references) are what a
    service would put in its audit context; the call runner hands them on.
    """

    name: str
    purpose: str
    actor: str
    image: str
    features: tuple[VisualFeatures, ...]
    subject_ref: str | None = None
    consent_ref: str | None = None
    by_url: bool = False
    url_query: str = ""
    aio: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    expect_error: str | None = None


_RETAIL: Final = "retail-shelf-analytics"
_CLAIMS: Final = "insurance-claim-assessment"
_INTAKE: Final = "patient-intake"
# A SAS-like query: the kind of secret that must never reach a log or a span.
_SAS: Final = (
    "sv=2022-11-02&se=2026-12-01T00%3A00%3A00Z&sp=r&sig=demo-signature-not-real"
)

CONSENTS: Final = (
    # (consent ref, subject, purpose, revoked)
    ("consent-claim-1042", "claimant-1042", _CLAIMS, False),
    ("consent-claim-1043", "claimant-1043", _CLAIMS, False),
    ("consent-claim-1044", "claimant-1044", _CLAIMS, False),
    ("consent-claim-1045", "claimant-1045", _CLAIMS, True),
    ("consent-intake-5521", "patient-5521", _INTAKE, False),
    ("consent-intake-5522", "patient-5522", _INTAKE, False),
    ("consent-intake-5523", "patient-5523", _INTAKE, False),
)
"""The consents the demo records in the audit store before its workload."""

WORKLOAD: Final = (
    DemoCall(
        "shelf scan aisle 4",
        _RETAIL,
        "svc-shelf-scanner",
        "shelf-aisle-4.jpg",
        (VisualFeatures.TAGS, VisualFeatures.OBJECTS),
    ),
    DemoCall(
        "shelf scan aisle 7",
        _RETAIL,
        "svc-shelf-scanner",
        "shelf-aisle-7.jpg",
        (VisualFeatures.TAGS, VisualFeatures.OBJECTS, VisualFeatures.CAPTION),
    ),
    DemoCall(
        "shopper count aisle 7",
        _RETAIL,
        "svc-footfall",
        "shelf-aisle-7.jpg",
        (VisualFeatures.PEOPLE,),
        expect_error="feature-not-allowed",
    ),
    DemoCall(
        "shelf scan aisle 4 (thumbnails)",
        _RETAIL,
        "svc-shelf-scanner",
        "shelf-aisle-4.jpg",
        (VisualFeatures.SMART_CROPS,),
        options={"smart_crops_aspect_ratios": [0.9, 1.33]},
        aio=True,
    ),
    DemoCall(
        "storefront photo",
        _RETAIL,
        "svc-shelf-scanner",
        "store-exterior.jpg",
        (VisualFeatures.TAGS, VisualFeatures.CAPTION),
        aio=True,
    ),
    DemoCall(
        "claim 1042 front",
        _CLAIMS,
        "claims-adjuster-7",
        "claim-1042-front.jpg",
        (
            VisualFeatures.TAGS,
            VisualFeatures.CAPTION,
            VisualFeatures.OBJECTS,
            VisualFeatures.READ,
        ),
        subject_ref="claimant-1042",
        consent_ref="consent-claim-1042",
        by_url=True,
        url_query=_SAS,
    ),
    DemoCall(
        "claim 1042 side",
        _CLAIMS,
        "claims-adjuster-7",
        "claim-1042-side.jpg",
        (VisualFeatures.TAGS, VisualFeatures.CAPTION, VisualFeatures.DENSE_CAPTIONS),
        subject_ref="claimant-1042",
        consent_ref="consent-claim-1042",
        by_url=True,
        url_query=_SAS,
        options={"gender_neutral_caption": True},
    ),
    DemoCall(
        "claim 1043 photo",
        _CLAIMS,
        "claims-adjuster-2",
        "claim-1043-flaky.jpg",
        (VisualFeatures.TAGS,),
        subject_ref="claimant-1043",
        consent_ref="consent-claim-1043",
        expect_error="InternalServerError",
    ),
    DemoCall(
        "claim 1044 missing photo",
        _CLAIMS,
        "claims-adjuster-2",
        "claim-1044-lost.jpg",
        (VisualFeatures.TAGS,),
        subject_ref="claimant-1044",
        consent_ref="consent-claim-1044",
        by_url=True,
        url_query=_SAS,
        expect_error="InvalidRequest",
    ),
    DemoCall(
        "claim 1045 (consent withdrawn)",
        _CLAIMS,
        "claims-adjuster-2",
        "claim-1042-side.jpg",
        (VisualFeatures.TAGS, VisualFeatures.CAPTION),
        subject_ref="claimant-1045",
        consent_ref="consent-claim-1045",
        expect_error="consent-revoked",
    ),
    DemoCall(
        "intake hallway camera",
        _INTAKE,
        "nurse-station-3",
        "intake-hallway.jpg",
        (VisualFeatures.TAGS, VisualFeatures.CAPTION, VisualFeatures.PEOPLE),
        subject_ref="patient-5521",
        consent_ref="consent-intake-5521",
        options={"gender_neutral_caption": True},
    ),
    DemoCall(
        "intake prescription",
        _INTAKE,
        "nurse-station-3",
        "intake-prescription.png",
        (VisualFeatures.READ, VisualFeatures.TAGS),
        subject_ref="patient-5521",
        consent_ref="consent-intake-5521",
        aio=True,
    ),
    DemoCall(
        "intake form",
        _INTAKE,
        "nurse-station-3",
        "intake-form.png",
        (VisualFeatures.READ, VisualFeatures.CAPTION),
        subject_ref="patient-5522",
        consent_ref="consent-intake-5522",
    ),
    DemoCall(
        "intake upload (cut off)",
        _INTAKE,
        "patient-portal",
        "upload-truncated.jpg",
        (VisualFeatures.TAGS,),
        subject_ref="patient-5523",
        consent_ref="consent-intake-5523",
        expect_error="InvalidRequest",
    ),
    DemoCall(
        "profile picture",
        _INTAKE,
        "patient-portal",
        "avatar-40px.png",
        (VisualFeatures.PEOPLE,),
        subject_ref="patient-5523",
        consent_ref="consent-intake-5523",
        expect_error="InvalidRequest",
    ),
)
