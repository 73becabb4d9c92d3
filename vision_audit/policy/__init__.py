"""
Policy: consent and purposes, tag allow and block lists, sensitive content, review.

The privacy officer writes one TOML file; from then on every call is checked against
it before any byte leaves the process, and every result is filtered before the
application sees it. Load it with :func:`load_policy` (or name it in
``VISION_AUDIT_POLICY``), then apply it with a :class:`PolicyEngine`::

    policy = load_policy("policy.toml")
    engine = PolicyEngine(policy, consent=StoreConsentProvider(store))
    pre = engine.check_request(
        purpose="insurance-claim-assessment",
        consent_ref="consent-claim-1042",
        subject_ref="claimant-1042",
        features=("tags", "caption"),
    )
    pre.raise_for_denial()          # ConsentRequiredError in enforce mode
    post = engine.evaluate_result(
        purpose="insurance-claim-assessment",
        tags=[("car", 0.99), ("person", 0.93)],
        caption=("a person next to a dented car", 0.8),
    )
    post.kept_tags                  # ('car',): "person" is block-listed
    post.caption_flags              # ('person',): the caption is flagged, not cut

Check a file with ``vision-audit policy check FILE``; print the rules in force with
``vision-audit policy show [FILE]``.

Policy file format
------------------

.. code-block:: toml

    [policy]
    name = "insurance-claims"         # required
    version = "2026-11-01"            # required; a string (a bare TOML date works too)
    mode = "enforce"                  # "enforce" (default): deny violating calls;
                                      # "audit": record violations, let calls go
    description = "..."               # optional

    [retention]                       # optional; a data class left out is kept
    content = "30d"                   # captions, dense captions, read text
    metadata = "400d"                 # the chained events
    decisions = "7y"                  # review decisions and consent records
    # Durations: "30d", "12h", "7y", "90m", "1d12h"; y=365 days, w, d, h, m=minutes, s.
    # There is no "images": images are never stored, only their SHA-256, size,
    # format and dimensions (metadata).

    [sensitive]                       # optional
    people_threshold = 0.5            # person confidence that raises "people"
    health_tags = "builtin"           # or an array replacing the built-in list
    extra_health_tags = ["scrubs"]    # added to it
    not_health_tags = ["cane"]        # removed from it

    [purposes.insurance-claim-assessment]   # one table per purpose, at least one
    description = "..."               # optional
    require_consent = true            # default true
    features = ["tags", "caption", "objects", "read", "denseCaptions"]   # required
                                      # among tags, caption, denseCaptions, objects,
                                      # read, smartCrops, people
    capture_content = true            # default true; false: never capture content

    [purposes.insurance-claim-assessment.tags]     # optional
    block = ["person", "man", "woman", "child", "face"]   # or allow = [...], not both
    min_confidence = 0.5              # applied after the list; default 0
    on_blocked = "drop"               # default: a block-listed tag is removed, the
                                      # rest returned; "withhold": the result is not
                                      # returned, the call raises TagBlockedError

    [purposes.insurance-claim-assessment.review]   # optional
    on = ["low_confidence", "health"] # among people, text, health, low_confidence,
                                      # blocked (a block-listed tag came back, or a
                                      # caption names a term the lists refuse)
    low_confidence_below = 0.6        # default 0.5
    all = false                       # true: every result of the purpose is reviewed
    deadline = "48h"                  # optional
    four_eyes = true                  # default false: the call's actor may not decide
    gate = false                      # true: hold the result until decided
    gate_timeout = "5m"               # default 5 minutes
    gate_default = "withhold"         # or "release", when the gate times out

Unknown keys, wrong types and values out of range are errors naming the file, the
key and what is accepted. Purpose names are 1 to 128 characters: a letter or digit,
then letters, digits, ``.``, ``_``, ``:`` or ``-``; calls name them exactly.

Matching
--------

Tags, object tags and list entries are compared case-insensitively after
normalisation (NFKC, case folding, outer whitespace stripped, inner whitespace
collapsed); verdicts keep the service's spelling. A block list also catches a tag
in the plural (``men`` for ``man``, ``human faces`` for ``human face``); an allow
list keeps exactly what it names. Captions and dense captions are searched for
whole words (a final plural is accepted, a possessive ``'s`` dropped, and the parts
of a hyphenated word read too: ``a wheelchair-bound man's x-ray``): a block-listed
term, or the name of a tag the lists dropped from the same result, flags the
caption. Health
tags (:data:`BUILTIN_HEALTH_TAGS`, documented in :mod:`vision_audit.policy.sensitive`)
are looked for in tags, objects and captions alike; a health-flagged result's
content is never captured.

Violations
----------

:meth:`PolicyEngine.check_request` reports, in this order: ``unknown-feature``,
``purpose-missing``, ``unknown-purpose``, ``feature-not-allowed``, then where the
purpose requires consent ``consent-missing``, ``consent-unknown``,
``consent-unavailable`` (the provider failed), ``consent-revoked``,
``consent-not-yet-valid``, ``consent-expired``, ``purpose-not-consented``,
``subject-mismatch`` and ``feature-not-consented``.
"""

from __future__ import annotations

from vision_audit.exceptions import (
    ConsentRequiredError,
    PolicyError,
    TagBlockedError,
)
from vision_audit.policy._load import (
    load_policy,
    parse_duration,
    parse_policy,
    policy_from_environment,
)
from vision_audit.policy._model import (
    FEATURES,
    REVIEW_TRIGGERS,
    Policy,
    Purpose,
    Retention,
    ReviewRule,
    Sensitive,
    normalize_feature,
)
from vision_audit.policy._verdicts import (
    VIOLATION_CODES,
    PostOutcome,
    PreCheck,
    Violation,
)
from vision_audit.policy.consent import (
    CallableConsentProvider,
    ConsentProvider,
    ConsentRecord,
    FileConsentProvider,
    StoreConsentProvider,
    check_consent,
    consent_provider_from_setting,
    grant_consent,
    revoke_consent,
)
from vision_audit.policy.engine import PolicyEngine
from vision_audit.policy.sensitive import BUILTIN_HEALTH_TAGS, FLAGS
from vision_audit.policy.tags import TagFilter, TagVerdict, normalize_term

__all__ = [
    "BUILTIN_HEALTH_TAGS",
    "FEATURES",
    "FLAGS",
    "REVIEW_TRIGGERS",
    "VIOLATION_CODES",
    "CallableConsentProvider",
    "ConsentProvider",
    "ConsentRecord",
    "ConsentRequiredError",
    "FileConsentProvider",
    "Policy",
    "PolicyEngine",
    "PolicyError",
    "PostOutcome",
    "PreCheck",
    "Purpose",
    "Retention",
    "ReviewRule",
    "Sensitive",
    "StoreConsentProvider",
    "TagBlockedError",
    "TagFilter",
    "TagVerdict",
    "Violation",
    "check_consent",
    "consent_provider_from_setting",
    "grant_consent",
    "load_policy",
    "normalize_feature",
    "normalize_term",
    "parse_duration",
    "parse_policy",
    "policy_from_environment",
    "revoke_consent",
]
