"""
The report's facts of a period: the store verified first, then its figures.

Everything comes through the store's read interface: ``verify`` for the integrity
statement, ``aggregate_period`` for the figures, which each backend computes where
its data is (SQL ``GROUP BY`` in SQLite and PostgreSQL, Python in memory), so that
Python receives small result sets only. The report knows no table. A store named by
URL is opened read-only; the verification travels with the figures.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import unquote

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from vision_audit import attributes as attrs
from vision_audit._time import parse_moment
from vision_audit.exceptions import ReportRenderError, StoreError
from vision_audit.store._aggregates import (
    DEFAULT_EXCEPTION_CAP,
    TOP_TAGS,
    ExceptionRow,
    PeriodAggregates,
)
from vision_audit.store._open import open_store, redact_url

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from vision_audit.store._base import BaseAuditStore
    from vision_audit.store._chain import Checkpoint, Verification
    from vision_audit.store.memory import InMemoryAuditStore

__all__ = [
    "DEFAULT_EXCEPTION_CAP",
    "TOP_TAGS",
    "CheckpointFacts",
    "ExceptionRow",
    "IntegrityFacts",
    "Period",
    "StoreFacts",
    "parse_period",
    "query_store",
]

EVENT_CONSENT_GRANTED: Final = attrs.EVENT_CONSENT_GRANTED
EVENT_CONSENT_REVOKED: Final = attrs.EVENT_CONSENT_REVOKED


@dataclass(frozen=True, slots=True)
class Period:
    """
    The report's period, ``since <= time < until``, both UTC.

    .. versionadded:: 0.1.0
    """

    since: datetime
    until: datetime


def _parse_moment(value: str | date | datetime, *, end: bool) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time.min)
        if end:
            moment += timedelta(days=1)
    else:
        try:
            return parse_moment(value, end=end)
        except ValueError as err:
            raise ReportRenderError(str(err)) from err
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_period(since: str | date | datetime, until: str | date | datetime) -> Period:
    """
    The period from *since* (inclusive) to *until* (exclusive).

    A bare date as *until* means the end of that day, so ``2026-11-01`` to
    ``2026-11-30`` covers November. Times without a zone are UTC.

    Raises:
        ReportRenderError: A bound is not a date or time, or *until* is not after
            *since*.

    .. versionadded:: 0.1.0
    """
    start = _parse_moment(since, end=False)
    stop = _parse_moment(until, end=True)
    if stop <= start:
        # Name the bounds as given: a bare until date stands for the end of that
        # day, a moment the user never typed.
        msg = (
            f"the period is empty: until {_as_given(until)} is not after since "
            f"{_as_given(since)}"
        )
        raise ReportRenderError(msg)
    return Period(start, stop)


def _as_given(value: str | date | datetime) -> str:
    return value.strip() if isinstance(value, str) else value.isoformat()


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointFacts:
    """The last signed checkpoint, as the report states it."""

    sequence: int
    hash: str
    time: datetime
    key_id: str
    root: str = ""
    note: str = ""
    """The signed note with the cosignatures of its body: what legal can keep."""
    witnesses: tuple[tuple[str, datetime], ...] = ()
    """The witnesses whose cosignatures of this very checkpoint the store keeps."""


@dataclass(frozen=True, slots=True, kw_only=True)
class IntegrityFacts:
    """
    What verifying the whole store found, before any figure was read.

    Args:
        ok: Every link and signature verified, and every content digest when
            *content_checked*.
        events: Events checked.
        checkpoints: Signed checkpoints verified.
        head_sequence: Sequence of the store's last event, or None when empty.
        head_hash: Its hash.
        head_time: Its time.
        bad_sequence: First bad sequence, when not ok.
        kind: What is wrong, when not ok.
        message: The verifier's sentence.
        warnings: Limits of the verification.
        last_checkpoint: The last signed checkpoint, if any.
        key_fingerprints: ``key_id`` and SHA-256 of each raw public key.
        content_checked: Personal content was checked against its digests too.
        origin: The log's name, the first line of its checkpoints.
        root: The Merkle root of every event of the store, hex.
        keys_given: The signatures were checked against keys given to the report
            (``--public-key``), obtained apart from the store; False when only the
            keys the store itself records were used, which proves consistency,
            not who signed.
    """

    ok: bool
    events: int
    checkpoints: int
    head_sequence: int | None
    head_hash: str | None
    head_time: datetime | None
    bad_sequence: int | None
    kind: str | None
    message: str
    warnings: tuple[str, ...]
    last_checkpoint: CheckpointFacts | None
    key_fingerprints: tuple[tuple[str, str], ...]
    content_checked: bool = True
    origin: str = ""
    root: str | None = None
    keys_given: bool = False
    first_time: datetime | None = None
    """When the store's oldest event (sequence 1; events are never deleted) happened."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreFacts(PeriodAggregates):
    """
    Everything the store says about a period, and how far it can be trusted.

    The figures as the store aggregated them, with the verification done before
    any was read.
    """

    store: str
    period: Period
    integrity: IntegrityFacts
    sequence_range: tuple[int, int] | None
    exception_cap: int = field(default=DEFAULT_EXCEPTION_CAP)
    previous: PeriodAggregates | None = None
    """The figures of the period of the same length just before, to compare."""


def _fingerprint(store: BaseAuditStore) -> tuple[tuple[str, str], ...]:
    try:
        keys = store.list_public_keys()
    except ValueError as err:  # a key that does not parse: verify fails on it too
        return (("?", f"unreadable: {err}"),)
    found = []
    for kid, key in sorted(keys.items()):
        raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        found.append((kid, "SHA256:" + hashlib.sha256(raw).hexdigest()))
    return tuple(found)


def _integrity(
    store: BaseAuditStore,
    verification: Verification,
    checkpoints: list[Checkpoint],
    head_time: datetime | None,
) -> IntegrityFacts:
    head = store.get_head()
    last = checkpoints[-1] if checkpoints else None
    return IntegrityFacts(
        ok=verification.ok,
        events=verification.events,
        checkpoints=verification.checkpoints,
        head_sequence=head.sequence if head else None,
        head_hash=head.hash if head else None,
        head_time=head_time,
        bad_sequence=verification.sequence,
        kind=verification.kind,
        message=verification.message,
        warnings=tuple(verification.warnings),
        last_checkpoint=None
        if last is None
        else CheckpointFacts(
            sequence=last.sequence,
            hash=last.hash,
            time=last.time,
            key_id=last.key_id,
            root=last.root,
            note=last.signed_note(),
            witnesses=tuple(
                sorted(
                    (c.name, c.time) for c in last.cosignatures if c.body == last.body
                )
            ),
        ),
        key_fingerprints=_fingerprint(store),
        origin=store.origin,
        root=verification.root,
    )


def _check_url(store_url: str) -> None:
    """Name a URL that is no store a report can read before anything is opened."""
    scheme, _, rest = store_url.partition("://")
    scheme = scheme.lower()
    if scheme in {"postgresql", "postgres"}:
        return
    if scheme != "sqlite" or not rest.startswith("/"):
        msg = (
            "reports read SQLite (sqlite:///path.db) and PostgreSQL "
            f"(postgresql://...) stores, not {redact_url(store_url)}"
        )
        if scheme == "memory":
            msg += (
                "; a memory:// URL opens a new, empty store: give the report the "
                "InMemoryAuditStore itself"
            )
        raise ReportRenderError(msg)
    path = Path(unquote(rest[1:].partition("?")[0]))
    if not path.is_file():
        msg = f"no store at {path}"
        raise ReportRenderError(msg)


def query_store(
    store_url: str | InMemoryAuditStore,
    period: Period,
    *,
    exception_cap: int = DEFAULT_EXCEPTION_CAP,
    progress: Callable[[str], None] | None = None,
    verify_content: bool = True,
    public_keys: Iterable[Ed25519PublicKey] | None = None,
    compare: bool = True,
) -> StoreFacts:
    """
    Verify the store, then have it aggregate its events in *period*.

    The figures come from the store's read interface
    (:meth:`~vision_audit.store.InMemoryAuditStore.aggregate_period`), which each
    backend computes in its own way: SQL ``GROUP BY`` in SQLite and PostgreSQL,
    Python in memory. The report never reads the store's tables itself.

    Args:
        store_url: ``sqlite:///...`` or ``postgresql://...``, or an
            :class:`~vision_audit.store.InMemoryAuditStore` itself (a ``memory://``
            URL would open a new, empty one).
        period: The report's period.
        exception_cap: How many exceptions to list; the rest are counted.
        progress: Called with a short message as each stage starts.
        verify_content: Also check personal content against the salted digests the
            envelopes hold; without it, links and signatures are still verified
            (about three times faster on stores with content), and the report's
            cover says the digests were not checked.
        public_keys: The checkpoint signing keys to trust, obtained other than
            from the store; when None, the keys the store records are used and the
            verification warns that this proves consistency, not who signed.
        compare: Also aggregate the period of the same length just before, for
            the report's comparison (a second aggregation; no second verify).

    Returns:
        The aggregated facts and the verification result.

    Raises:
        ReportRenderError: The URL names neither an SQLite store file nor a
            PostgreSQL store, or the SQLite file is missing.
        StoreError: The store cannot be read.

    .. versionadded:: 0.1.0
    """
    step = progress if progress is not None else (lambda _message: None)
    if isinstance(store_url, str):
        _check_url(store_url)
        store: BaseAuditStore = open_store(store_url, read_only=True)  # type: ignore[assignment] # every store open_store gives is a BaseAuditStore
        name = redact_url(store_url)
    else:
        store, name = store_url, store_url.name
    try:
        return _facts(
            store,
            name,
            period,
            exception_cap=exception_cap,
            step=step,
            verify_content=verify_content,
            public_keys=public_keys,
            compare=compare,
        )
    finally:
        if isinstance(store_url, str):
            store.close()


def _facts(
    store: BaseAuditStore,
    name: str,
    period: Period,
    *,
    exception_cap: int,
    step: Callable[[str], None],
    verify_content: bool,
    public_keys: Iterable[Ed25519PublicKey] | None,
    compare: bool,
) -> StoreFacts:
    step("verifying the hash chain")
    verification = store.verify(
        public_keys=public_keys,
        progress=lambda n: step(f"verified {n:,} events"),
        content=verify_content,
    )
    checkpoints = store.list_checkpoints()
    span = store.get_sequence_range(since=period.since, until=period.until)
    integrity = replace(
        _integrity(store, verification, checkpoints, _event_time(store, None)),
        content_checked=verify_content,
        keys_given=public_keys is not None,
        first_time=_event_time(store, 1),
    )
    step("reading the period's events")
    figures = store.aggregate_period(
        period.since, period.until, exception_cap=exception_cap, progress=step
    )
    previous = None
    if compare:
        step("the previous period, to compare")
        length = period.until - period.since
        previous = store.aggregate_period(
            period.since - length, period.since, exception_cap=0
        )
    return StoreFacts(
        store=name,
        period=period,
        integrity=integrity,
        sequence_range=span,
        exception_cap=exception_cap,
        previous=previous,
        **{f.name: getattr(figures, f.name) for f in fields(figures)},
    )


def _event_time(store: BaseAuditStore, sequence: int | None) -> datetime | None:
    """When the event at *sequence* (None: the store's last) happened, as it says."""
    if sequence is None:
        head = store.get_head()
        if head is None:
            return None
        sequence = head.sequence
    try:
        events = store.read_events([sequence])
    except (StoreError, ValueError):  # a damaged event: verify names it
        return None
    return events[0].event.time.astimezone(UTC) if events else None
