"""
Consent: the record a reference resolves to, the check, and the built-in providers.

A call names its consent with ``audit_context(consent_ref=...)``. A
:class:`ConsentProvider` resolves the reference to a :class:`ConsentRecord`: who
consented (the subject), to which purposes, for which visual features, and when it
was granted, expires or was revoked. :func:`check_consent` compares a record with a
call. Built-in providers:

- :class:`FileConsentProvider`: a JSON or TOML file of records, re-read when it
  changes;
- :class:`StoreConsentProvider`: the consent table kept in the audit store, as
  ``consent.granted`` and ``consent.revoked`` events (:func:`grant_consent`,
  :func:`revoke_consent`, ``vision-audit consent grant|revoke|list``);
- :class:`CallableConsentProvider`: any function, e.g. over your own consent
  database.

A consent file holds records as a JSON array (or ``{"consents": [...]}``), or as TOML
``[[consent]]`` tables::

    [[consent]]
    ref = "consent-claim-1042"
    subject_ref = "claimant-1042"
    purposes = ["insurance-claim-assessment"]
    features = ["tags", "caption", "objects", "read"]   # optional; default: any
    granted_at = 2026-11-02T09:30:00Z
    expires_at = 2027-11-02T00:00:00Z                   # optional
    revoked_at = 2026-12-01T12:00:00Z                   # optional

Times need a UTC offset (``Z`` or ``+01:00``); a date alone means midnight UTC.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn, Protocol, runtime_checkable

from vision_audit import attributes as attrs
from vision_audit._text import first_control, show_char
from vision_audit.exceptions import PolicyError
from vision_audit.models import AuditEvent, utc_now
from vision_audit.policy._model import FEATURES, normalize_feature
from vision_audit.policy._verdicts import (
    CONSENT_EXPIRED,
    CONSENT_NOT_YET_VALID,
    CONSENT_REVOKED,
    FEATURE_NOT_CONSENTED,
    PURPOSE_NOT_CONSENTED,
    SUBJECT_MISMATCH,
    Violation,
)

if TYPE_CHECKING:
    from vision_audit.models import RecordedEvent
    from vision_audit.typing import AuditStore

__all__ = [
    "CONSENT_STORE_SETTING",
    "EVENT_CONSENT_GRANTED",
    "EVENT_CONSENT_REVOKED",
    "CallableConsentProvider",
    "ConsentProvider",
    "ConsentRecord",
    "FileConsentProvider",
    "StoreConsentProvider",
    "check_consent",
    "consent_provider_from_setting",
    "grant_consent",
    "parse_time",
    "record_from_mapping",
    "revoke_consent",
]

EVENT_CONSENT_GRANTED: Final = attrs.EVENT_CONSENT_GRANTED
"""Event recording a consent: its reference, purposes, features and period."""
EVENT_CONSENT_REVOKED: Final = attrs.EVENT_CONSENT_REVOKED
"""Event recording the revocation of a consent, by reference."""
CONSENT_STORE_SETTING: Final = "store"
"""``VISION_AUDIT_CONSENT`` value selecting the audit store's consent table."""

MAX_CONSENT_FILE_BYTES: Final = 64 << 20
_RECORD_KEYS: Final = (
    "expires_at",
    "features",
    "granted_at",
    "purposes",
    "ref",
    "revoked_at",
    "subject_ref",
)
_MAX_REF_LENGTH: Final = 256


def _utc(moment: dt.datetime, *, name: str) -> dt.datetime:
    if not isinstance(moment, dt.datetime):
        msg = f"{name} must be a datetime, not {type(moment).__name__}"
        raise TypeError(msg)
    if moment.tzinfo is None or moment.utcoffset() is None:
        msg = f"{name} must be timezone-aware (UTC), got the naive {moment.isoformat()}"
        raise ValueError(msg)
    return moment.astimezone(dt.UTC)


def parse_time(value: object, *, name: str = "time") -> dt.datetime:
    """
    A UTC datetime from a datetime, a date, or ISO 8601 text.

    A date (``2027-01-01``) means midnight UTC at its start. Text and datetimes
    need an offset (``Z``, ``+01:00``).

    Raises:
        ValueError: *value* is none of these, or has no offset.
        TypeError: *value* is of another type.

    .. versionadded:: 0.1.0
    """
    if isinstance(value, dt.datetime):
        return _utc(value, name=name)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if not isinstance(value, str):
        msg = f"{name} must be a date or a date-time, not {type(value).__name__}"
        raise TypeError(msg)
    text = value.strip()
    try:
        if len(text) == len("2027-01-01"):
            return parse_time(dt.date.fromisoformat(text), name=name)
        moment = dt.datetime.fromisoformat(text)
    except ValueError as err:
        msg = (
            f"{name} {value[:60]!r} is not an ISO 8601 date (2027-01-01) or "
            "date-time with offset (2027-01-01T09:30:00Z)"
        )
        raise ValueError(msg) from err
    return _utc(moment, name=name)


def _check_text(value: object, *, name: str) -> None:
    if not isinstance(value, str):
        msg = f"{name} must be a string, not {type(value).__name__}"
        raise TypeError(msg)
    if not value.strip():
        msg = f"{name} must not be empty"
        raise ValueError(msg)
    found = first_control(value)
    if found is not None:
        msg = f"{name} holds the control character {show_char(found)}; none accepted"
        raise ValueError(msg)


def _collection(value: object, *, name: str) -> Iterable[object]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        msg = f"{name} must be a collection of names, not {type(value).__name__}"
        raise TypeError(msg)
    return value


def _purpose_names(value: object) -> frozenset[str]:
    purposes = frozenset(_collection(value, name="purposes"))
    if not purposes:
        msg = "purposes must name at least one purpose"
        raise ValueError(msg)
    for purpose in purposes:
        _check_text(purpose, name="each purpose")
    return frozenset(str(purpose) for purpose in purposes)


def _feature_names(value: object) -> frozenset[str]:
    features = set()
    for item in _collection(value, name="features"):
        feature = normalize_feature(item)
        if feature is None:
            msg = (
                f"{item!r:.60} is not a visual feature; accepted: {', '.join(FEATURES)}"
            )
            raise ValueError(msg)
        features.add(feature)
    return frozenset(features)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsentRecord:
    """
    A data subject's consent, as a provider knows it.

    Args:
        ref: The consent reference calls give (``audit_context(consent_ref=...)``).
        subject_ref: Who consented, as the application refers to them; or their
            keyed pseudonym, for records read back from the audit store (see
            ``pseudonymize``).
        purposes: The purposes consented to, by the policy's names.
        features: The visual features consented to (service spelling), or None for
            any feature the purpose allows.
        granted_at: When it takes effect (UTC).
        expires_at: When it ends, if it does.
        revoked_at: When it was withdrawn, if it was.
        pseudonymize: When ``subject_ref`` is a keyed pseudonym, the keyed hash
            that maps a call's subject reference to it; None otherwise.

    Raises:
        ValueError: A field is empty, a time is naive, a feature is unknown, or it
            expires before it is granted.
        TypeError: A field has the wrong type.

    .. versionadded:: 0.1.0
    """

    ref: str
    subject_ref: str
    purposes: frozenset[str]
    features: frozenset[str] | None = None
    granted_at: dt.datetime
    expires_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None
    pseudonymize: Callable[[str], str] | None = field(
        default=None, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        """Check every field; normalise times to UTC and features to their names."""
        for name in ("ref", "subject_ref"):
            _check_text(getattr(self, name), name=name)
        object.__setattr__(self, "purposes", _purpose_names(self.purposes))
        if self.features is not None:
            object.__setattr__(self, "features", _feature_names(self.features))
        object.__setattr__(self, "granted_at", _utc(self.granted_at, name="granted_at"))
        for name in ("expires_at", "revoked_at"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _utc(value, name=name))
        if self.expires_at is not None and self.expires_at <= self.granted_at:
            msg = (
                f"consent {self.ref!r} expires ({self.expires_at.isoformat()}) "
                f"before it is granted ({self.granted_at.isoformat()})"
            )
            raise ValueError(msg)

    def matches_subject(self, subject_ref: str | None) -> bool:
        """
        Whether *subject_ref* is the subject who consented.

        .. versionadded:: 0.1.0
        """
        if subject_ref is None:
            return False
        if self.pseudonymize is not None:
            return self.pseudonymize(subject_ref) == self.subject_ref
        return subject_ref == self.subject_ref

    def status(self, now: dt.datetime) -> str:
        """
        ``active``, ``revoked``, ``expired`` or ``not-yet-valid`` at *now*.

        .. versionadded:: 0.1.0
        """
        if self.revoked_at is not None and self.revoked_at <= now:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        if now < self.granted_at:
            return "not-yet-valid"
        return "active"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (times in ISO 8601 UTC)."""

        def iso(moment: dt.datetime | None) -> str | None:
            return None if moment is None else moment.isoformat()

        return {
            "ref": self.ref,
            "subject_ref": self.subject_ref,
            "purposes": sorted(self.purposes),
            "features": None if self.features is None else sorted(self.features),
            "granted_at": iso(self.granted_at),
            "expires_at": iso(self.expires_at),
            "revoked_at": iso(self.revoked_at),
        }


@runtime_checkable
class ConsentProvider(Protocol):
    """
    Resolves a consent reference to the consent it names.

    .. versionadded:: 0.1.0
    """

    def get_consent(self, ref: str) -> ConsentRecord | None:
        """
        The consent recorded under *ref*, or None when there is none.

        May raise when the consent source is unavailable; the policy engine then
        treats consent as unverifiable (``consent-unavailable``), which denies the
        call in ``enforce`` mode.
        """
        ...


def check_consent(
    record: ConsentRecord,
    *,
    purpose: str,
    subject_ref: str | None,
    features: Iterable[str],
    now: dt.datetime,
) -> tuple[Violation, ...]:
    """
    Every way a call for *purpose* about *subject_ref* falls outside *record*.

    Checks, in order: revoked by *now*; not yet granted; expired; purpose not
    consented to; another subject (or none given); features not consented to.

    Args:
        record: The consent the call relies on.
        purpose: The call's purpose.
        subject_ref: The call's subject, as the application refers to them.
        features: The visual features requested (service spelling).
        now: The time of the call, timezone-aware.

    Returns:
        The violations; empty when the consent covers the call.

    .. versionadded:: 0.1.0
    """
    now = _utc(now, name="now")
    ref = record.ref
    found: list[Violation] = []
    if record.revoked_at is not None and record.revoked_at <= now:
        found.append(
            Violation(
                CONSENT_REVOKED,
                f"consent {ref!r} was revoked at {record.revoked_at.isoformat()}",
            )
        )
    if now < record.granted_at:
        found.append(
            Violation(
                CONSENT_NOT_YET_VALID,
                f"consent {ref!r} takes effect at {record.granted_at.isoformat()}",
            )
        )
    if record.expires_at is not None and record.expires_at <= now:
        found.append(
            Violation(
                CONSENT_EXPIRED,
                f"consent {ref!r} expired at {record.expires_at.isoformat()}",
            )
        )
    if purpose not in record.purposes:
        found.append(
            Violation(
                PURPOSE_NOT_CONSENTED,
                f"consent {ref!r} does not cover the purpose {purpose!r}; it covers "
                f"{', '.join(sorted(record.purposes))}",
            )
        )
    if not record.matches_subject(subject_ref):
        problem = (
            "the call names no subject"
            if subject_ref is None
            else "the call's subject is not the one who consented"
        )
        found.append(
            Violation(SUBJECT_MISMATCH, f"consent {ref!r} is a subject's; {problem}")
        )
    if record.features is not None:
        asked = {normalize_feature(f) or str(f) for f in features}
        missing = sorted(asked - record.features)
        if missing:
            found.append(
                Violation(
                    FEATURE_NOT_CONSENTED,
                    f"consent {ref!r} does not cover the features "
                    f"{', '.join(missing)}; it covers "
                    f"{', '.join(sorted(record.features)) or 'none'}",
                )
            )
    return tuple(found)


def record_from_mapping(
    data: Mapping[str, Any],
    *,
    subject_ref: str | None = None,
    pseudonymize: Callable[[str], str] | None = None,
) -> ConsentRecord:
    """
    A record from its JSON or TOML form (the keys of :class:`ConsentRecord`).

    Args:
        data: ``ref``, ``subject_ref``, ``purposes``; optionally ``features``,
            ``granted_at`` (default: the epoch, i.e. in effect), ``expires_at``,
            ``revoked_at``.
        subject_ref: The subject, when *data* does not carry it.
        pseudonymize: See :class:`ConsentRecord`.

    Raises:
        ValueError: A key is unknown or missing, or a value is invalid; the
            message names the key.

    .. versionadded:: 0.1.0
    """
    if not isinstance(data, Mapping):
        msg = f"a consent record is a table, not {type(data).__name__}"
        raise TypeError(msg)
    unknown = sorted(str(key)[:40] for key in data if key not in _RECORD_KEYS)
    if unknown:
        msg = f"unknown key {unknown[0]!r}; accepted keys: {', '.join(_RECORD_KEYS)}"
        raise ValueError(msg)
    subject = data.get("subject_ref", subject_ref)
    for name, value in (("ref", data.get("ref")), ("subject_ref", subject)):
        if value is None:
            msg = f"missing key {name!r}"
            raise ValueError(msg)
        if isinstance(value, str) and len(value) > _MAX_REF_LENGTH:
            msg = f"{name} is {len(value)} characters long; at most {_MAX_REF_LENGTH}"
            raise ValueError(msg)
    if "purposes" not in data:
        msg = "missing key 'purposes': the purposes consented to"
        raise ValueError(msg)
    purposes = data["purposes"]
    if not isinstance(purposes, list | tuple | frozenset | set):
        msg = (
            f"purposes must be an array of purpose names, not {type(purposes).__name__}"
        )
        raise TypeError(msg)
    features = data.get("features")
    if features is not None and not isinstance(
        features, list | tuple | frozenset | set
    ):
        msg = (
            f"features must be an array of feature names, not {type(features).__name__}"
        )
        raise TypeError(msg)
    times = {
        name: parse_time(data[name], name=name)
        for name in ("granted_at", "expires_at", "revoked_at")
        if data.get(name) is not None
    }
    return ConsentRecord(
        ref=data["ref"],
        subject_ref=subject,
        purposes=frozenset(purposes),
        features=None if features is None else frozenset(features),
        granted_at=times.get("granted_at", dt.datetime(1970, 1, 1, tzinfo=dt.UTC)),
        expires_at=times.get("expires_at"),
        revoked_at=times.get("revoked_at"),
        pseudonymize=pseudonymize,
    )


class FileConsentProvider:
    """
    Consent records from a JSON or TOML file, re-read whenever the file changes.

    The format is chosen by the extension (``.toml``, else JSON); see the module
    docstring. Revoking a consent is editing the file: the next call sees it.

    Args:
        path: The consent file.

    Raises:
        PolicyError: The file cannot be read or holds an invalid record; the
            message names the file, the record and the key.

    .. versionadded:: 0.1.0
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Read the file now, so that a bad one fails at start-up."""
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._records: dict[str, ConsentRecord] = {}
        self._reload()

    def __repr__(self) -> str:
        """The file's name."""
        return f"FileConsentProvider({self.path!r})"

    def _fail(
        self, where: str, problem: str, *, cause: BaseException | None = None
    ) -> NoReturn:
        msg = f"{self.path}: {where}: {problem}" if where else f"{self.path}: {problem}"
        raise PolicyError(msg, path=self.path, key=where or None) from cause

    def _read(self) -> tuple[tuple[int, int], bytes]:
        try:
            with Path(self.path).open("rb") as handle:
                info = os.fstat(handle.fileno())
                data = handle.read(MAX_CONSENT_FILE_BYTES + 1)
        except OSError as err:
            self._fail("", f"cannot read the consent file: {err.strerror}", cause=err)
        if len(data) > MAX_CONSENT_FILE_BYTES:
            self._fail("", f"larger than {MAX_CONSENT_FILE_BYTES} bytes")
        return (info.st_mtime_ns, info.st_size), data

    def _parse(self, data: bytes) -> list[Any]:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            self._fail(
                "", f"not UTF-8 text ({err.reason} at byte {err.start})", cause=err
            )
        if self.path.lower().endswith(".toml"):
            try:
                document: Any = tomllib.loads(text)
            except tomllib.TOMLDecodeError as err:
                self._fail("", f"not valid TOML: {err}", cause=err)
            except RecursionError as err:
                self._fail("", "nested too deeply to read", cause=err)
            key = "consent"
        else:
            try:
                document = json.loads(text)
            except json.JSONDecodeError as err:
                self._fail("", f"not valid JSON: {err}", cause=err)
            except RecursionError as err:
                self._fail("", "nested too deeply to read", cause=err)
            key = "consents"
            if isinstance(document, list):
                return document
        if not isinstance(document, dict) or set(document) - {key}:
            form = (
                "[[consent]] tables"
                if key == "consent"
                else 'a JSON array of records, or {"consents": [...]}'
            )
            self._fail("", f"expected {form}")
        records = document.get(key, [])
        if not isinstance(records, list):
            self._fail(key, "expected an array of consent records")
        return records

    def _reload(self) -> None:
        try:
            info = Path(self.path).stat()
        except OSError as err:
            self._fail("", f"cannot read the consent file: {err.strerror}", cause=err)
        if (info.st_mtime_ns, info.st_size) == self._stamp:
            return
        stamp, data = self._read()
        label = "consent" if self.path.lower().endswith(".toml") else "consents"
        records: dict[str, ConsentRecord] = {}
        for index, item in enumerate(self._parse(data)):
            where = f"{label}[{index}]"
            try:
                record = record_from_mapping(item)
            except (TypeError, ValueError) as err:
                self._fail(where, str(err), cause=err)
            if record.ref in records:
                self._fail(where, f"consent {record.ref!r} is listed twice")
            records[record.ref] = record
        self._records = records
        self._stamp = stamp

    def get_consent(self, ref: str) -> ConsentRecord | None:
        """
        The record under *ref*, from the file as it is now.

        Raises:
            PolicyError: The file has become unreadable or invalid.

        .. versionadded:: 0.1.0
        """
        with self._lock:
            self._reload()
            return self._records.get(ref)

    def list_consents(self) -> list[ConsentRecord]:
        """
        Every record in the file, by reference.

        .. versionadded:: 0.1.0
        """
        with self._lock:
            self._reload()
            return [self._records[ref] for ref in sorted(self._records)]


class CallableConsentProvider:
    """
    Consent from a function of the reference, e.g. a lookup in your own database.

    Args:
        function: Returns a :class:`ConsentRecord`, a mapping in the consent file
            format, or None when it knows no consent under the reference.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        function: Callable[[str], ConsentRecord | Mapping[str, Any] | None],
    ) -> None:
        """Keep the function."""
        if not callable(function):
            msg = f"expected a function of the consent reference, got {function!r}"
            raise TypeError(msg)
        self._function = function

    def get_consent(self, ref: str) -> ConsentRecord | None:
        """
        What the function returns for *ref*, as a record.

        Raises:
            TypeError: The function returned something else.
            ValueError: It returned an invalid mapping.

        .. versionadded:: 0.1.0
        """
        found = self._function(ref)
        if found is None or isinstance(found, ConsentRecord):
            return found
        if isinstance(found, Mapping):
            return record_from_mapping(found)
        msg = (
            "a consent function returns a ConsentRecord, a mapping or None, not "
            f"{type(found).__name__}"
        )
        raise TypeError(msg)


def _store_pseudonymizer(store: object) -> Callable[[str], str] | None:
    """The store's keyed hash of subject references, where it exposes one."""
    public = getattr(store, "pseudonymize", None)
    if callable(public):
        return public  # type: ignore[no-any-return]
    # The SQL and memory stores keep it behind a private accessor (for now).
    private = getattr(store, "_pseudonym_function", None)
    if callable(private):
        function = private()
        if callable(function):
            return function  # type: ignore[no-any-return]
    return None


class StoreConsentProvider:
    """
    The consent table kept in the audit store, as consent events.

    The table is what the ``consent.granted`` and ``consent.revoked`` events say, in
    sequence order: a grant (re)places the record under its reference, clearing any
    revocation; a revocation marks it revoked. A grant event that cannot be read
    is ignored (no consent); a revocation that cannot be read still revokes.

    The store keeps subject references only as keyed pseudonyms, so records carry
    the pseudonym, and a call's subject is compared through the same keyed hash.

    Reads are cached. The table is brought up to date on each lookup: nothing to do
    when the store's head has not moved; otherwise, from the stores of
    :func:`~vision_audit.store.open_store`, the consent events recorded since the
    last look, through their own index (the log's other events are never read).
    Another store is read by time since the last look (with *lookback* of slack
    for writers' clocks) and, should sequence numbers leave a gap, in full again; a
    store without ``get_head()`` is read in full on every lookup.

    Args:
        store: The audit store.
        pseudonymize: The keyed hash of subject references, when the store does not
            expose its own. With neither, subjects are compared as stored.
        lookback: Slack for the clocks of other writers, and for events stamped a
            little before they are appended. Too small only costs a full read
            (a gap is always detected); too large costs a longer incremental read.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        store: AuditStore,
        *,
        pseudonymize: Callable[[str], str] | None = None,
        lookback: dt.timedelta = dt.timedelta(minutes=2),
    ) -> None:
        """Keep the store; nothing is read until the first lookup."""
        self._store = store
        self._pseudonymize = pseudonymize
        self._lookback = lookback
        self._lock = threading.Lock()
        self._records: dict[str, ConsentRecord] = {}
        self._last_sequence = 0
        self._last_consent = 0
        self._head: object = None
        self._scanned_at: dt.datetime | None = None

    def __repr__(self) -> str:
        """The store."""
        return f"StoreConsentProvider({self._store!r})"

    def _hash(self) -> Callable[[str], str] | None:
        if self._pseudonymize is None:
            self._pseudonymize = _store_pseudonymizer(self._store)
        return self._pseudonymize

    def _apply(self, recorded: RecordedEvent) -> None:
        event = recorded.event
        self._last_sequence = max(self._last_sequence, recorded.sequence)
        data = event.data if isinstance(event.data, Mapping) else {}
        ref = data.get("ref", event.consent_ref)
        if not isinstance(ref, str) or not ref:
            return
        if event.type == EVENT_CONSENT_GRANTED:
            try:
                self._records[ref] = record_from_mapping(
                    {k: v for k, v in data.items() if k in _RECORD_KEYS},
                    subject_ref=event.subject_ref,
                    pseudonymize=self._hash(),
                )
            except (TypeError, ValueError):
                # Unreadable grant: no consent. A stale earlier grant must not live on.
                self._records.pop(ref, None)
        elif event.type == EVENT_CONSENT_REVOKED:
            existing = self._records.get(ref)
            if existing is None:
                return
            try:
                at = parse_time(data.get("revoked_at"), name="revoked_at")
            except (TypeError, ValueError):
                at = event.time
            if existing.revoked_at is None or at < existing.revoked_at:
                self._records[ref] = replace(existing, revoked_at=at)

    def _scan(self, events: Iterator[RecordedEvent]) -> None:
        for recorded in events:
            if recorded.event.type in {EVENT_CONSENT_GRANTED, EVENT_CONSENT_REVOKED}:
                self._apply(recorded)
            else:
                self._last_sequence = max(self._last_sequence, recorded.sequence)

    def _full_scan(self, started: dt.datetime) -> None:
        self._records = {}
        self._last_sequence = 0
        self._scan(self._store.iter_events())
        self._scanned_at = started

    def _refresh(self) -> None:
        get_head = getattr(self._store, "get_head", None)
        indexed = getattr(self._store, "get_consent_events", None)
        if callable(get_head) and callable(indexed):
            # The stores of open_store() index their consent events: read those
            # recorded since the last look, in order, and nothing else.
            head = get_head()
            if head is not None and head == self._head:
                return
            for recorded in indexed(after=self._last_consent):
                self._apply(recorded)
                self._last_consent = recorded.sequence
            self._head = head
            return
        started = utc_now()
        if not callable(get_head):
            self._full_scan(started)
            return
        head = get_head()
        if head is not None and head == self._head:
            return
        if self._scanned_at is None or head is None:
            self._full_scan(started)
            self._head = head
            return
        since = self._scanned_at - self._lookback
        fresh = sorted(
            (
                recorded
                for recorded in self._store.iter_events(since=since)
                if recorded.sequence > self._last_sequence
            ),
            key=lambda recorded: recorded.sequence,
        )
        expected = range(self._last_sequence + 1, self._last_sequence + 1 + len(fresh))
        reached = fresh[-1].sequence if fresh else self._last_sequence
        head_sequence = getattr(head, "sequence", None)
        if (
            [recorded.sequence for recorded in fresh] == list(expected)
            and isinstance(head_sequence, int)
            and reached >= head_sequence
        ):
            self._scan(iter(fresh))
            self._scanned_at = started
        else:
            # An event older than the window came in (a writer's clock lags): a gap.
            self._full_scan(started)
        self._head = head

    def get_consent(self, ref: str) -> ConsentRecord | None:
        """
        The consent recorded under *ref* in the store, as of now.

        .. versionadded:: 0.1.0
        """
        with self._lock:
            self._refresh()
            return self._records.get(ref)

    def list_consents(self) -> list[ConsentRecord]:
        """
        Every consent recorded in the store, by reference.

        .. versionadded:: 0.1.0
        """
        with self._lock:
            self._refresh()
            return [self._records[ref] for ref in sorted(self._records)]


def grant_consent(
    store: AuditStore, record: ConsentRecord, *, actor: str
) -> RecordedEvent:
    """
    Record *record* in the audit store's consent table: a ``consent.granted`` event.

    The subject reference goes in the event's envelope, where the store keeps only
    its keyed pseudonym (and the reference itself as erasable content). A grant
    under a reference already used replaces that consent, revocation included.

    Args:
        store: The audit store.
        record: The consent (``revoked_at`` must be None).
        actor: Who records it; recorded in the event.

    Returns:
        The recorded event.

    Raises:
        ValueError: *actor* is empty, or *record* is already revoked.
        AuditWriteError: The store did not record it.

    .. versionadded:: 0.1.0
    """
    if not isinstance(actor, str) or not actor.strip():
        msg = "actor must name who grants the consent"
        raise ValueError(msg)
    if record.revoked_at is not None:
        msg = "a consent is granted unrevoked; revoke it with revoke_consent()"
        raise ValueError(msg)
    data = record.as_dict()
    del data["subject_ref"], data["revoked_at"]
    return store.append(
        AuditEvent(
            type=EVENT_CONSENT_GRANTED,
            actor=actor,
            consent_ref=record.ref,
            subject_ref=record.subject_ref,
            data=data,
        )
    )


def revoke_consent(
    store: AuditStore,
    ref: str,
    *,
    actor: str,
    reason: str | None = None,
    at: dt.datetime | None = None,
) -> RecordedEvent:
    """
    Revoke the consent *ref* in the audit store: a ``consent.revoked`` event.

    Args:
        store: The audit store.
        ref: The consent's reference.
        actor: Who revokes it; recorded in the event.
        reason: Why, recorded in the event's metadata: keep personal data out.
        at: When the revocation takes effect; now by default.

    Returns:
        The recorded event.

    Raises:
        ValueError: No consent *ref* was granted in *store*, it is already revoked
            at or before *at*, or *actor* is empty. A revocation on record that
            takes effect later than *at* is brought forward.
        AuditWriteError: The store did not record it.

    .. versionadded:: 0.1.0
    """
    if not isinstance(actor, str) or not actor.strip():
        msg = "actor must name who revokes the consent"
        raise ValueError(msg)
    existing = StoreConsentProvider(store).get_consent(ref)
    if existing is None:
        msg = f"no consent {ref!r} was granted in this store"
        raise ValueError(msg)
    moment = utc_now() if at is None else _utc(at, name="at")
    # A withdrawal must always be possible: a revocation on record that takes
    # effect later is brought forward (the earliest one counts).
    if existing.revoked_at is not None and existing.revoked_at <= moment:
        msg = (
            f"consent {ref!r} was already revoked at {existing.revoked_at.isoformat()}"
        )
        raise ValueError(msg)
    data: dict[str, Any] = {"ref": ref, "revoked_at": moment.isoformat()}
    if reason:
        data["reason"] = reason
    return store.append(
        AuditEvent(type=EVENT_CONSENT_REVOKED, actor=actor, consent_ref=ref, data=data)
    )


def consent_provider_from_setting(
    value: str | None, *, store: AuditStore | None
) -> ConsentProvider | None:
    """
    The provider that ``VISION_AUDIT_CONSENT`` names.

    Args:
        value: ``store`` (or empty/None: the default) for the audit store's consent
            table, else the path of a consent file.
        store: The audit store, for ``store``.

    Returns:
        The provider, or None for ``store`` when there is no store.

    Raises:
        PolicyError: The consent file is missing or invalid.

    .. versionadded:: 0.1.0
    """
    setting = (value or "").strip()
    if not setting or setting == CONSENT_STORE_SETTING:
        return None if store is None else StoreConsentProvider(store)
    return FileConsentProvider(setting)
