"""Hypothesis strategies shared by the tests: JSON values, audit events, tampering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import strategies as st
from vision_audit.models import AuditEvent

__all__ = [
    "audit_events",
    "json_scalars",
    "json_values",
    "tamperings",
    "texts",
]

texts = st.text(
    # No lone surrogates (no UTF-8 form) and no NUL (the stores refuse it).
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=40,
)
"""Any Unicode text that has a UTF-8 form, but NUL."""

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
)
"""JSON scalars: integers to RFC 8785's ±(2**53 - 1), floats of every magnitude."""

json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4)
    ),
    max_leaves=12,
)
"""Any JSON value (objects keyed by strings)."""

_zones = st.sampled_from(
    [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-7, minutes=-30))]
)
times = st.builds(
    lambda moment, zone: moment.replace(tzinfo=UTC).astimezone(zone),
    st.datetimes(
        min_value=datetime(1970, 1, 2),  # noqa: DTZ001 - made aware just above
        max_value=datetime(2200, 1, 1),  # noqa: DTZ001
    ),
    _zones,
)
"""Timezone-aware times, in UTC and in other offsets."""

_ids = st.text(alphabet="0123456789abcdef", min_size=8, max_size=32)


@st.composite
def audit_events(draw: st.DrawFn) -> AuditEvent:
    """Audit events with every optional field present or not."""
    optional = st.none() | texts
    content = draw(
        st.none() | st.dictionaries(texts, json_values, min_size=1, max_size=3)
    )
    return AuditEvent(
        type=draw(
            st.sampled_from(["analysis.requested", "analysis.completed"])
            | texts.filter(bool)
        ),
        event_id=draw(_ids),
        time=draw(times),
        analysis_id=draw(optional),
        trace_id=draw(
            st.none() | st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)
        ),
        span_id=draw(
            st.none() | st.text(alphabet="0123456789abcdef", min_size=16, max_size=16)
        ),
        actor=draw(optional),
        purpose=draw(optional),
        consent_ref=draw(optional),
        subject_ref=draw(optional),
        policy_id=draw(optional),
        data=draw(st.dictionaries(texts, json_values, max_size=4)),
        content=content,
    )


TAMPER_KINDS = ("change", "rehash", "delete", "swap", "insert", "truncate")


@st.composite
def tamperings(draw: st.DrawFn, length: int) -> tuple[str, int, int]:
    """
    A way to damage a chain of *length* links: (kind, position, other position).

    ``change`` edits an envelope, ``rehash`` edits one and recomputes its hash,
    ``delete`` removes a link, ``swap`` exchanges two, ``insert`` adds a forged link
    and ``truncate`` cuts the chain short (detectable only under a checkpoint).
    """
    kind = draw(st.sampled_from(TAMPER_KINDS))
    position = draw(st.integers(min_value=0, max_value=length - 1))
    other = draw(
        st.integers(min_value=0, max_value=length - 1).filter(lambda i: i != position)
    )
    return kind, position, other
