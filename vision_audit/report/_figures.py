"""
The report's sections and named figures: what a mapping file may point to and test.

A mapping item names the sections where its evidence is (their anchors, see
:data:`SECTIONS`) and decides its status by rules over the figures of
:data:`FIGURES`. :func:`named_figures` computes those figures from the report's
numbers, so that a rule reads the very numbers the report prints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Mapping

    from vision_audit.store._aggregates import PeriodAggregates

__all__ = ["FIGURES", "SECTIONS", "named_figures", "purposes_needing_no_consent"]

SECTIONS: Final[dict[str, str]] = {
    "summary": "Executive summary",
    "scope": "Scope and method",
    "volume": "Volume",
    "consent": "Consent and purpose",
    "tags": "Tag filtering",
    "sensitive": "Sensitive content",
    "review": "Human review",
    "errors": "Service errors",
    "retention": "Retention and erasure",
    "policies": "Policy versions",
    "integrity": "Integrity attestation",
    "maps": "Guidance and regulation maps",
    "appendix": "Appendix: exceptions",
}
"""The report's sections, by anchor, in their order; the contents page lists them."""

FIGURES: Final[dict[str, str]] = {
    "period.days": "days in the period",
    "events": "events recorded in the period",
    "calls": "image analysis calls (sent, or refused before sending)",
    "completed": "calls the service answered",
    "failed": "calls the service failed",
    "denied": "calls the policy refused before any image left the process",
    "success.rate": "completed calls, percent of calls (none without calls)",
    "features": "distinct visual features requested",
    "model_versions": "distinct model versions that answered",
    "consent.sent": "calls sent to the service",
    "consent.with": "calls sent with a consent reference",
    "consent.needed": "calls sent for purposes that need consent",
    "consent.coverage": (
        "percent of the calls that needed consent that carried a consent "
        "reference (none when no call needed one)"
    ),
    "consent.not_needed_purposes": "purposes whose calls needed no consent",
    "consents.granted": "consents granted in the period",
    "consents.revoked": "consents revoked in the period",
    "denials.consent": "calls refused for missing, revoked or unknown consent",
    "audit_mode.calls": "calls that broke the policy but ran in audit mode",
    "tags.dropped": "tags removed by the tag filter",
    "objects.dropped": "objects removed by the tag filter",
    "tags.allow_list_misses": "tags removed for not being on an allow list",
    "results.filtered": "results the tag filter changed",
    "results.withheld": "results withheld whole for a block-listed tag",
    "sensitive.flags": "sensitive-content flags on completed results",
    "sensitive.people": "people detected above the confidence threshold",
    "sensitive.health": "health-related tags found, routed to review",
    "review.required": "analyses flagged for human review",
    "review.decided": "flagged analyses decided (approved, rejected, overridden)",
    "review.pending": "flagged analyses without a decision at period end",
    "review.overdue": "pending analyses past their deadline",
    "review.escalated": "escalated analyses without a final decision",
    "review.decided_late": "analyses decided after their deadline",
    "review.decisions": "decisions recorded",
    "review.override_rate": "overrides, percent of decided (none when none decided)",
    "review.median_seconds": "median time from flag to decision, seconds",
    "review.gate_timed_out": "gated calls that got no decision in time",
    "errors": "calls failed at the service",
    "retention.purges": "retention purges recorded in the period",
    "retention.erasures": "subject erasures recorded in the period",
    "policies": "policy versions in force in the period",
    "exceptions": "exceptions (denials, errors, audit-mode calls, gate timeouts)",
    "integrity.intact": (
        "1 when every link, content digest and signature of the store matched, else 0"
    ),
    "integrity.authenticated": (
        "1 when the signatures verified under a key given to the report "
        "(--public-key), else 0"
    ),
    "integrity.content_checked": "1 when personal content digests were checked",
    "integrity.events": "events of the whole store verified",
    "integrity.checkpoints": "signed checkpoints verified",
    "integrity.witnesses": "witnesses that cosigned the last checkpoint",
    "integrity.earlier_events": "events the store keeps from before the period",
    "integrity.kept_days": (
        "whole days from the oldest event the store keeps to the period's end"
    ),
}
"""Every figure a mapping rule or evidence text may name, and what it counts."""


def _flag(value: bool) -> int:  # noqa: FBT001 - a figure of 0 or 1
    return 1 if value else 0


def named_figures(data: Mapping[str, Any]) -> dict[str, float | None]:
    """
    The value of each of :data:`FIGURES`, from the report's numbers.

    Args:
        data: The report's fields, by name (those of ``ReportData``).

    Returns:
        Every name of :data:`FIGURES`; None where the report has no value (a
        share of nothing).
    """
    review = data["review"]
    integrity = data["integrity"]
    consent_rows = data["consent"]
    figures: dict[str, float | None] = {
        "period.days": len(data["by_day"]),
        "events": data["events"],
        "calls": data["calls"],
        "completed": data["completed"],
        "failed": data["failed"],
        "denied": data["denied"],
        "success.rate": data["success_rate"],
        "features": len(data["by_feature"]),
        "model_versions": len(data["model_versions"]),
        "consent.sent": data["consent_sent"],
        "consent.with": data["consent_with"],
        "consent.needed": data["consent_needed"],
        "consent.coverage": data["consent_coverage"],
        "consent.not_needed_purposes": sum(
            1 for row in consent_rows if not row.needs_consent
        ),
        "consents.granted": data["consents_granted"],
        "consents.revoked": data["consents_revoked"],
        "denials.consent": sum(
            row.count
            for row in data["denials_by_reason"]
            if row.label.startswith("consent")
        ),
        "audit_mode.calls": data["audit_mode_calls"],
        "tags.dropped": data["tags_dropped"],
        "objects.dropped": data["objects_dropped"],
        "tags.allow_list_misses": data["allow_list_misses"],
        "results.filtered": data["filtered_analyses"],
        "results.withheld": data["withheld_results"],
        "sensitive.flags": sum(row.count for row in data["flags"]),
        "sensitive.people": data["people_detected"],
        "sensitive.health": sum(row.count for row in data["health_categories"]),
        "review.required": review.required,
        "review.decided": review.decided,
        "review.pending": review.pending,
        "review.overdue": review.overdue_pending,
        "review.escalated": review.escalated,
        "review.decided_late": review.decided_late,
        "review.decisions": review.decisions,
        "review.override_rate": review.override_rate,
        "review.median_seconds": review.median_seconds,
        "review.gate_timed_out": review.gate_timed_out,
        "errors": sum(row.count for row in data["errors"]),
        "retention.purges": data["content_purged_events"],
        "retention.erasures": data["subjects_erased"],
        "policies": len(data["policies"]),
        "exceptions": data["exceptions_total"],
        "integrity.intact": _flag(integrity.verified),
        "integrity.authenticated": _flag(integrity.authenticated),
        "integrity.content_checked": _flag(integrity.content_checked),
        "integrity.events": integrity.events_verified,
        "integrity.checkpoints": integrity.checkpoints_verified,
        "integrity.witnesses": len(integrity.witnesses),
        "integrity.earlier_events": data["events_before_period"],
        "integrity.kept_days": data["log_kept_days"],
    }
    return figures


def purposes_needing_no_consent(figures: PeriodAggregates) -> frozenset[str]:
    """
    The purposes whose calls of the period needed no consent reference.

    The store does not record whether a purpose needs consent, but an enforcing
    policy refuses a call that needs consent and has none (``analysis.denied``,
    nothing sent). So when a policy was in force and no call ran in audit mode, a
    purpose whose calls were all sent without a consent reference is one whose
    policy asks none. Otherwise no purpose is assumed free of consent.
    """
    if not figures.policies or figures.audit_mode:
        return frozenset()
    return frozenset(
        purpose
        for purpose, sent, with_consent in figures.consent_calls
        if purpose and sent and not with_consent
    )
