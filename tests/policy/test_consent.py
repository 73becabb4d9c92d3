"""Consent records, the consent check, and the built-in consent providers."""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st
from vision_audit import environment_variables as env
from vision_audit.exceptions import PolicyError
from vision_audit.models import AuditEvent, RecordedEvent
from vision_audit.policy import (
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
from vision_audit.policy.consent import (
    EVENT_CONSENT_GRANTED,
    EVENT_CONSENT_REVOKED,
    parse_time,
    record_from_mapping,
)
from vision_audit.store import ChainHead, open_store

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 11, 15, 12, 0, tzinfo=dt.UTC)
PURPOSES = ("claims", "intake", "retail")
FEATURE_NAMES = ("tags", "caption", "read", "people", "objects")
SUBJECTS = ("claimant-1", "claimant-2", "patient-7")


def _record(**changes: object) -> ConsentRecord:
    fields: dict[str, object] = {
        "ref": "c-1",
        "subject_ref": "claimant-1",
        "purposes": frozenset({"claims"}),
        "granted_at": T0,
    }
    fields.update(changes)
    return ConsentRecord(**fields)  # type: ignore[arg-type]


class FakeStore:
    """An audit store in a list: raw subject references, optional ``get_head``."""

    def __init__(self) -> None:
        self.records: list[RecordedEvent] = []
        self.scans: list[dt.datetime | None] = []

    def append(self, event: AuditEvent) -> RecordedEvent:
        sequence = len(self.records) + 1
        record = RecordedEvent(
            sequence=sequence,
            event=event,
            content_hash=None,
            prev_hash="0" * 64,
            hash=f"{sequence:064x}",
        )
        self.records.append(record)
        return record

    def iter_events(
        self, *, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> Iterator[RecordedEvent]:
        self.scans.append(since)
        return iter([r for r in self.records if since is None or r.event.time >= since])

    def get_head(self) -> ChainHead | None:
        if not self.records:
            return None
        return ChainHead(self.records[-1].sequence, self.records[-1].hash)

    def close(self) -> None:
        pass


class HeadlessStore(FakeStore):
    """A store with only the AuditStore protocol's methods."""

    get_head = None  # type: ignore[assignment]


class TestConsentRecord:
    """A record checks its own fields."""

    def test_normalises(self) -> None:
        """Times become UTC, features their service names, purposes a frozenset."""
        record = _record(
            purposes=["claims", "claims"],
            features=["TAGS", "dense_captions"],
            granted_at=dt.datetime(
                2026, 1, 1, 2, tzinfo=dt.timezone(dt.timedelta(hours=2))
            ),
        )

        assert frozenset({"claims"}) == record.purposes
        assert frozenset({"tags", "denseCaptions"}) == record.features
        assert T0 == record.granted_at
        assert dt.UTC == record.granted_at.tzinfo

    @pytest.mark.parametrize(
        ("changes", "error", "match"),
        [
            ({"ref": ""}, ValueError, "ref must not be empty"),
            ({"ref": 7}, TypeError, "ref must be a string"),
            ({"subject_ref": "  "}, ValueError, "subject_ref must not be empty"),
            (
                {"ref": "c-1\x1b[2J"},
                ValueError,
                r"ref holds the control character \\x1b",
            ),
            ({"subject_ref": "a\nb"}, ValueError, "subject_ref holds the control"),
            ({"purposes": "claims"}, TypeError, "collection of names"),
            ({"purposes": []}, ValueError, "at least one purpose"),
            ({"purposes": ["claims", 3]}, TypeError, "each purpose must be a string"),
            ({"features": ["faces"]}, ValueError, "not a visual feature"),
            ({"features": "tags"}, TypeError, "collection of names"),
            ({"granted_at": dt.datetime(2026, 1, 1)}, ValueError, "timezone-aware"),  # noqa: DTZ001
            ({"granted_at": "2026-01-01"}, TypeError, "must be a datetime"),
            ({"expires_at": T0}, ValueError, "expires .* before it is granted"),
        ],
    )
    def test_invalid(
        self, changes: dict[str, object], error: type[Exception], match: str
    ) -> None:
        """Each bad field is refused with its name."""
        with pytest.raises(error, match=match):
            _record(**changes)

    @pytest.mark.parametrize(
        ("changes", "expected"),
        [
            ({}, "active"),
            ({"revoked_at": NOW}, "revoked"),
            ({"expires_at": NOW}, "expired"),
            ({"granted_at": NOW + dt.timedelta(seconds=1)}, "not-yet-valid"),
        ],
    )
    def test_status(self, changes: dict[str, object], expected: str) -> None:
        """The status at a moment, revocation first."""
        assert expected == _record(**changes).status(NOW)

    def test_as_dict_round_trip(self) -> None:
        """The JSON form reads back to the same record."""
        record = _record(
            features=["tags"], expires_at=NOW, revoked_at=NOW - dt.timedelta(days=1)
        )

        assert record == record_from_mapping(json.loads(json.dumps(record.as_dict())))

    def test_pseudonymous_subject(self) -> None:
        """A record holding a pseudonym compares a call's subject through the hash."""
        record = _record(subject_ref="h:claimant-1", pseudonymize=lambda s: f"h:{s}")

        assert record.matches_subject("claimant-1")
        assert not record.matches_subject("h:claimant-1")
        assert not record.matches_subject(None)

    def test_replace_keeps_checks(self) -> None:
        """A record changed with dataclasses.replace is checked again."""
        with pytest.raises(ValueError, match="timezone-aware"):
            replace(_record(), revoked_at=dt.datetime(2026, 1, 1))  # noqa: DTZ001


class TestParseTime:
    """Times from files and the command line."""

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("2027-01-01", dt.datetime(2027, 1, 1, tzinfo=dt.UTC)),
            ("2027-01-01T09:30:00Z", dt.datetime(2027, 1, 1, 9, 30, tzinfo=dt.UTC)),
            (
                "2027-01-01T10:30:00+01:00",
                dt.datetime(2027, 1, 1, 9, 30, tzinfo=dt.UTC),
            ),
            (dt.date(2027, 1, 1), dt.datetime(2027, 1, 1, tzinfo=dt.UTC)),
        ],
    )
    def test_valid(self, value: object, expected: dt.datetime) -> None:
        """Dates mean midnight UTC; offsets are applied."""
        assert expected == parse_time(value)

    @pytest.mark.parametrize(
        ("value", "error"),
        [
            ("2027-01-01T09:30:00", ValueError),
            ("next tuesday", ValueError),
            ("2027-13-01", ValueError),
            (20270101, TypeError),
        ],
    )
    def test_invalid(self, value: object, error: type[Exception]) -> None:
        """Naive times, nonsense and numbers are refused."""
        with pytest.raises(error):
            parse_time(value, name="expires_at")


class TestCheckConsent:
    """A record against a call: every way it falls short."""

    def test_covers(self) -> None:
        """A consent in force, for the purpose, subject and features: no violation."""
        record = _record(features=["tags", "caption"], expires_at=NOW + dt.timedelta(1))

        violations = check_consent(
            record,
            purpose="claims",
            subject_ref="claimant-1",
            features=["tags"],
            now=NOW,
        )

        assert () == violations

    @pytest.mark.parametrize(
        ("changes", "call", "codes"),
        [
            ({"revoked_at": NOW}, {}, ["consent-revoked"]),
            ({"expires_at": NOW}, {}, ["consent-expired"]),
            (
                {"granted_at": NOW + dt.timedelta(hours=1)},
                {},
                ["consent-not-yet-valid"],
            ),
            ({}, {"purpose": "retail"}, ["purpose-not-consented"]),
            ({}, {"subject_ref": "claimant-2"}, ["subject-mismatch"]),
            ({}, {"subject_ref": None}, ["subject-mismatch"]),
            (
                {"features": ["tags"]},
                {"features": ["tags", "people"]},
                ["feature-not-consented"],
            ),
            (
                {"revoked_at": NOW, "expires_at": NOW},
                {"purpose": "retail", "subject_ref": "x"},
                [
                    "consent-revoked",
                    "consent-expired",
                    "purpose-not-consented",
                    "subject-mismatch",
                ],
            ),
        ],
    )
    def test_violations(
        self, changes: dict[str, object], call: dict[str, object], codes: list[str]
    ) -> None:
        """Each shortfall has its code, in the documented order."""
        arguments: dict[str, object] = {
            "purpose": "claims",
            "subject_ref": "claimant-1",
            "features": ["tags"],
            "now": NOW,
        }
        arguments.update(call)

        violations = check_consent(_record(**changes), **arguments)  # type: ignore[arg-type]

        assert codes == [v.code for v in violations]

    def test_message_never_names_the_subject(self) -> None:
        """Messages name the consent reference, never the subject reference."""
        violations = check_consent(
            _record(subject_ref="Jane Doe 1970-01-01"),
            purpose="retail",
            subject_ref="John Roe",
            features=(),
            now=NOW,
        )

        text = " ".join(v.message for v in violations)
        assert "c-1" in text
        assert "Jane" not in text
        assert "John" not in text

    def test_naive_now_refused(self) -> None:
        """The clock must tell UTC time."""
        with pytest.raises(ValueError, match="timezone-aware"):
            check_consent(
                _record(),
                purpose="claims",
                subject_ref="claimant-1",
                features=(),
                now=dt.datetime(2026, 1, 1),  # noqa: DTZ001
            )

    @given(
        offsets=st.tuples(
            st.integers(-100, 100),
            st.none() | st.integers(1, 200),
            st.none() | st.integers(-100, 100),
        ),
        purposes=st.frozensets(st.sampled_from(PURPOSES), min_size=1),
        features=st.none() | st.frozensets(st.sampled_from(FEATURE_NAMES)),
        subject=st.sampled_from(SUBJECTS),
        call_purpose=st.sampled_from(PURPOSES),
        call_subject=st.none() | st.sampled_from(SUBJECTS),
        call_features=st.frozensets(st.sampled_from(FEATURE_NAMES)),
    )
    def test_matches_oracle(
        self,
        offsets: tuple[int, int | None, int | None],
        purposes: frozenset[str],
        features: frozenset[str] | None,
        subject: str,
        call_purpose: str,
        call_subject: str | None,
        call_features: frozenset[str],
    ) -> None:
        """The codes are exactly those a direct reading of the rules gives."""
        granted, lasts, revoked = offsets
        hour = dt.timedelta(hours=1)
        record = _record(
            subject_ref=subject,
            purposes=purposes,
            features=features,
            granted_at=NOW + granted * hour,
            expires_at=None if lasts is None else NOW + (granted + lasts) * hour,
            revoked_at=None if revoked is None else NOW + revoked * hour,
        )
        expected = []
        if revoked is not None and revoked <= 0:
            expected.append("consent-revoked")
        if granted > 0:
            expected.append("consent-not-yet-valid")
        if lasts is not None and granted + lasts <= 0:
            expected.append("consent-expired")
        if call_purpose not in purposes:
            expected.append("purpose-not-consented")
        if call_subject != subject:
            expected.append("subject-mismatch")
        if features is not None and not call_features <= features:
            expected.append("feature-not-consented")

        violations = check_consent(
            record,
            purpose=call_purpose,
            subject_ref=call_subject,
            features=call_features,
            now=NOW,
        )

        assert expected == [v.code for v in violations]


class TestRecordFromMapping:
    """The file and event form of a record."""

    def test_minimal(self) -> None:
        """Without ``granted_at`` a consent is in force from the epoch."""
        record = record_from_mapping(
            {"ref": "c", "subject_ref": "s", "purposes": ["claims"]}
        )

        assert dt.datetime(1970, 1, 1, tzinfo=dt.UTC) == record.granted_at
        assert None is record.features

    @pytest.mark.parametrize(
        ("data", "match"),
        [
            ({"subject_ref": "s", "purposes": ["p"]}, "missing key 'ref'"),
            ({"ref": "c", "purposes": ["p"]}, "missing key 'subject_ref'"),
            ({"ref": "c", "subject_ref": "s"}, "missing key 'purposes'"),
            ({"ref": "c", "subject_ref": "s", "purposes": "p"}, "array of purpose"),
            (
                {"ref": "c", "subject_ref": "s", "purposes": ["p"], "features": "tags"},
                "array of feature",
            ),
            (
                {"ref": "c", "subject_ref": "s", "purposes": ["p"], "scope": "all"},
                "unknown key 'scope'; accepted keys",
            ),
            (
                {"ref": "x" * 10_000, "subject_ref": "s", "purposes": ["p"]},
                "at most 256",
            ),
            (
                {
                    "ref": "c",
                    "subject_ref": "s",
                    "purposes": ["p"],
                    "granted_at": "now",
                },
                "not an ISO 8601",
            ),
        ],
    )
    def test_invalid(self, data: dict[str, object], match: str) -> None:
        """Each problem names the key."""
        with pytest.raises((TypeError, ValueError), match=match):
            record_from_mapping(data)


class TestFileConsentProvider:
    """Records from a JSON or TOML file, re-read when it changes."""

    RECORDS: ClassVar[list[dict[str, object]]] = [
        {
            "ref": "c-1",
            "subject_ref": "claimant-1",
            "purposes": ["claims"],
            "features": ["tags", "caption"],
            "granted_at": "2026-01-01T00:00:00Z",
            "expires_at": "2027-01-01",
        },
        {"ref": "c-2", "subject_ref": "claimant-2", "purposes": ["claims", "intake"]},
    ]

    @pytest.mark.parametrize("wrapped", [False, True])
    def test_json(self, tmp_path: Path, wrapped: bool) -> None:
        """A JSON array of records, or an object with ``consents``."""
        path = tmp_path / "consent.json"
        data = {"consents": self.RECORDS} if wrapped else self.RECORDS
        path.write_text(json.dumps(data))

        provider = FileConsentProvider(path)

        record = provider.get_consent("c-1")
        assert record is not None
        assert dt.datetime(2027, 1, 1, tzinfo=dt.UTC) == record.expires_at
        assert None is provider.get_consent("c-3")
        assert ["c-1", "c-2"] == [r.ref for r in provider.list_consents()]
        assert isinstance(provider, ConsentProvider)

    def test_toml(self, tmp_path: Path) -> None:
        """``[[consent]]`` tables, with TOML date-times."""
        path = tmp_path / "consent.toml"
        path.write_text(
            "[[consent]]\n"
            'ref = "c-1"\nsubject_ref = "claimant-1"\npurposes = ["claims"]\n'
            "granted_at = 2026-01-01T00:00:00Z\nexpires_at = 2027-01-01\n"
        )

        record = FileConsentProvider(path).get_consent("c-1")

        assert record is not None
        assert T0 == record.granted_at
        assert dt.datetime(2027, 1, 1, tzinfo=dt.UTC) == record.expires_at

    def test_reloads_on_change(self, tmp_path: Path) -> None:
        """Editing the file (a revocation) takes effect at the next lookup."""
        path = tmp_path / "consent.json"
        path.write_text(json.dumps(self.RECORDS))
        provider = FileConsentProvider(path)
        revoked = [{**self.RECORDS[0], "revoked_at": "2026-06-01T00:00:00Z"}]

        path.write_text(json.dumps(revoked))
        os.utime(path, ns=(0, 10**18))

        record = provider.get_consent("c-1")
        assert record is not None
        assert "revoked" == record.status(NOW)
        assert None is provider.get_consent("c-2")

    @pytest.mark.parametrize(
        ("name", "content", "match"),
        [
            ("c.json", "[{", "not valid JSON"),
            ("c.toml", "[[consent]\n", "not valid TOML"),
            (
                "c.json",
                '{"records": []}',
                'expected a JSON array of records, or {"consents"',
            ),
            ("c.toml", "[other]\nx = 1\n", r"expected \[\[consent\]\] tables"),
            ("c.json", '{"consents": {}}', "consents: expected an array"),
            ("c.json", "[1]", r"consents\[0\]: a consent record is a table"),
            (
                "c.json",
                '[{"ref": "c", "subject_ref": "s", "purposes": ["p"], "when": 1}]',
                r"consents\[0\]: unknown key 'when'",
            ),
            (
                "c.toml",
                (
                    '[[consent]]\nref = "c"\nsubject_ref = "s"\npurposes = ["p"]\n'
                    "granted_at = 2026-01-01T00:00:00\n"
                ),
                r"consent\[0\]: granted_at must be timezone-aware",
            ),
            (
                "c.json",
                (
                    '[{"ref": "c", "subject_ref": "s", "purposes": ["p"]},'
                    ' {"ref": "c", "subject_ref": "t", "purposes": ["p"]}]'
                ),
                r"consents\[1\]: consent 'c' is listed twice",
            ),
        ],
    )
    def test_invalid(self, tmp_path: Path, name: str, content: str, match: str) -> None:
        """A bad file fails at start-up, naming the file, the record and the key."""
        path = tmp_path / name
        path.write_text(content)

        with pytest.raises(PolicyError, match=match) as caught:
            FileConsentProvider(path)

        assert str(caught.value).startswith(str(path))

    def test_missing(self, tmp_path: Path) -> None:
        """A missing file is an error naming it."""
        with pytest.raises(PolicyError, match="cannot read the consent file"):
            FileConsentProvider(tmp_path / "none.json")

    def test_not_utf8(self, tmp_path: Path) -> None:
        """Bytes that are not UTF-8 are refused."""
        path = tmp_path / "c.json"
        path.write_bytes(b"[\xff]")

        with pytest.raises(PolicyError, match="not UTF-8"):
            FileConsentProvider(path)

    def test_broken_later(self, tmp_path: Path) -> None:
        """A file broken after start-up makes lookups fail (the engine denies)."""
        path = tmp_path / "c.json"
        path.write_text(json.dumps(self.RECORDS))
        provider = FileConsentProvider(path)
        path.write_text("{broken")
        os.utime(path, ns=(0, 10**18))

        with pytest.raises(PolicyError, match="not valid JSON"):
            provider.get_consent("c-1")


class TestCallableConsentProvider:
    """Any function of the reference."""

    def test_record_mapping_none(self) -> None:
        """A record, a mapping in file form, or None."""
        table: dict[str, object] = {
            "a": _record(ref="a"),
            "b": {"ref": "b", "subject_ref": "s", "purposes": ["claims"]},
        }
        provider = CallableConsentProvider(table.get)  # type: ignore[arg-type]

        a, b, c = (provider.get_consent(ref) for ref in "abc")
        assert (a, c) == (table["a"], None)
        assert b is not None
        assert "s" == b.subject_ref

    def test_wrong_return(self) -> None:
        """Anything else is a TypeError (the engine turns it into a denial)."""
        provider = CallableConsentProvider(lambda _ref: 42)  # type: ignore[arg-type, return-value]

        with pytest.raises(TypeError, match="not int"):
            provider.get_consent("a")

    def test_not_callable(self) -> None:
        """The function must be callable."""
        with pytest.raises(TypeError, match="expected a function"):
            CallableConsentProvider("a")  # type: ignore[arg-type]


class TestStoreConsentProvider:
    """The consent table kept in the audit store."""

    def test_real_store_round_trip(self) -> None:
        """Grant, look up through the subject's pseudonym, revoke, re-grant."""
        store = open_store("memory://")
        try:
            provider = StoreConsentProvider(store)
            record = _record(features=["tags"], expires_at=NOW)
            granted = grant_consent(store, record, actor="claims-desk")

            found = provider.get_consent("c-1")
            assert found is not None
            assert "claimant-1" != found.subject_ref
            assert found.matches_subject("claimant-1")
            assert not found.matches_subject("claimant-2")
            assert (record.purposes, record.features, record.expires_at) == (
                found.purposes,
                found.features,
                found.expires_at,
            )
            assert "claimant-1" not in json.dumps(dict(granted.event.data))

            revoke_consent(store, "c-1", actor="dpo", reason="withdrawn by e-mail")
            revoked = provider.get_consent("c-1")
            assert revoked is not None
            assert revoked.revoked_at is not None

            grant_consent(store, _record(), actor="claims-desk")
            again = provider.get_consent("c-1")
            assert again is not None
            assert None is again.revoked_at
            assert store.verify().ok
        finally:
            store.close()

    def test_events(self) -> None:
        """The events carry the record's facts, the actor, and the reason."""
        store = FakeStore()

        grant_consent(store, _record(features=["tags"]), actor="desk")
        revoke_consent(store, "c-1", actor="dpo", reason="asked", at=NOW)

        granted, revoked = (r.event for r in store.records)
        assert (EVENT_CONSENT_GRANTED, "desk", "c-1", "claimant-1") == (
            granted.type,
            granted.actor,
            granted.consent_ref,
            granted.subject_ref,
        )
        assert {
            "ref": "c-1",
            "purposes": ["claims"],
            "features": ["tags"],
            "granted_at": T0.isoformat(),
            "expires_at": None,
        } == dict(granted.data)
        assert (EVENT_CONSENT_REVOKED, "dpo", None) == (
            revoked.type,
            revoked.actor,
            revoked.subject_ref,
        )
        assert {"ref": "c-1", "revoked_at": NOW.isoformat(), "reason": "asked"} == dict(
            revoked.data
        )

    def test_without_pseudonyms(self) -> None:
        """A store that keeps references as given is compared as given."""
        store = FakeStore()
        grant_consent(store, _record(), actor="desk")

        found = StoreConsentProvider(store).get_consent("c-1")

        assert found is not None
        assert found.matches_subject("claimant-1")

    def test_explicit_pseudonymizer(self) -> None:
        """A keyed hash can be given for stores that do not expose theirs."""
        store = FakeStore()
        grant_consent(store, _record(subject_ref="h:claimant-1"), actor="desk")

        found = StoreConsentProvider(
            store, pseudonymize=lambda s: f"h:{s}"
        ).get_consent("c-1")

        assert found is not None
        assert found.matches_subject("claimant-1")

    def test_unchanged_head_is_not_read_again(self) -> None:
        """While the store's head does not move, lookups use the cache."""
        store = FakeStore()
        grant_consent(store, _record(), actor="desk")
        provider = StoreConsentProvider(store)

        provider.get_consent("c-1")
        provider.get_consent("c-1")
        provider.get_consent("c-2")

        assert 1 == len(store.scans)

    def test_new_events_read_incrementally(self) -> None:
        """Events appended later are read from a recent time, not from the start."""
        store = FakeStore()
        grant_consent(store, _record(), actor="desk")
        provider = StoreConsentProvider(store)
        provider.get_consent("c-1")

        grant_consent(store, _record(ref="c-2"), actor="desk")
        store.append(AuditEvent(type="analysis.requested"))

        assert provider.get_consent("c-2") is not None
        assert None is store.scans[0]
        assert store.scans[1] is not None

    def test_gap_triggers_full_read(self) -> None:
        """An event older than the window (a lagging clock) is found by a full read."""
        store = FakeStore()
        grant_consent(store, _record(), actor="desk")
        provider = StoreConsentProvider(store)
        provider.get_consent("c-1")

        store.append(
            AuditEvent(
                type=EVENT_CONSENT_REVOKED,
                time=T0,
                consent_ref="c-1",
                data={"ref": "c-1", "revoked_at": T0.isoformat()},
            )
        )

        found = provider.get_consent("c-1")
        assert found is not None
        assert T0 == found.revoked_at
        assert [None, store.scans[1], None] == store.scans

    def test_store_without_head(self) -> None:
        """A store without ``get_head`` is read in full on every lookup."""
        store = HeadlessStore()
        grant_consent(store, _record(), actor="desk")
        provider = StoreConsentProvider(store)

        provider.get_consent("c-1")
        revoke_consent(store, "c-1", actor="dpo")
        found = provider.get_consent("c-1")

        assert found is not None
        assert found.revoked_at is not None

    def test_unreadable_events(self) -> None:
        """A bad grant gives no consent; a bad revocation still revokes."""
        store = FakeStore()
        grant_consent(store, _record(ref="a"), actor="desk")
        grant_consent(store, _record(ref="b"), actor="desk")
        store.append(
            AuditEvent(type=EVENT_CONSENT_GRANTED, data={"ref": "a", "purposes": 5})
        )
        store.append(
            AuditEvent(
                type=EVENT_CONSENT_REVOKED, time=NOW, data={"ref": "b", "revoked_at": 5}
            )
        )
        store.append(AuditEvent(type=EVENT_CONSENT_REVOKED, data={"ref": ["x"]}))
        store.append(AuditEvent(type=EVENT_CONSENT_REVOKED, data={"ref": "unknown"}))
        provider = StoreConsentProvider(store)

        a, b = provider.get_consent("a"), provider.get_consent("b")

        assert None is a
        assert b is not None
        assert NOW == b.revoked_at
        assert ["b"] == [r.ref for r in provider.list_consents()]

    def test_earliest_revocation_wins(self) -> None:
        """Two revocations of one grant: the consent ended at the first."""
        store = FakeStore()
        grant_consent(store, _record(), actor="desk")
        revoke_consent(store, "c-1", actor="dpo", at=NOW)
        store.append(
            AuditEvent(
                type=EVENT_CONSENT_REVOKED,
                data={"ref": "c-1", "revoked_at": (NOW + dt.timedelta(1)).isoformat()},
            )
        )

        found = StoreConsentProvider(store).get_consent("c-1")

        assert found is not None
        assert NOW == found.revoked_at

    @pytest.mark.parametrize(
        ("setup", "match"),
        [
            ([], "no consent 'c-1' was granted"),
            (["grant", "revoke"], "already revoked"),
        ],
    )
    def test_revoke_refused(self, setup: list[str], match: str) -> None:
        """Revoking what was never granted, or twice, is refused."""
        store = FakeStore()
        if "grant" in setup:
            grant_consent(store, _record(), actor="desk")
        if "revoke" in setup:
            revoke_consent(store, "c-1", actor="dpo")

        with pytest.raises(ValueError, match=match):
            revoke_consent(store, "c-1", actor="dpo")

    def test_features_in_any_spelling(self) -> None:
        """check_consent reads features in the service's, the SDK's or any case."""
        record = _record(features=frozenset({"tags", "denseCaptions"}))

        found = check_consent(
            record,
            purpose="claims",
            subject_ref=record.subject_ref,
            features=["Tags", "DENSE_CAPTIONS"],
            now=NOW,
        )

        assert "feature-not-consented" not in [v.code for v in found]

    def test_withdrawal_brings_a_later_revocation_forward(self) -> None:
        """Revoked for next month, withdrawn today: the consent ends today."""
        store = FakeStore()
        grant_consent(store, _record(), actor="desk")
        revoke_consent(store, "c-1", actor="dpo", at=NOW + dt.timedelta(days=30))

        revoke_consent(store, "c-1", actor="dpo", reason="withdrew", at=NOW)

        found = StoreConsentProvider(store).get_consent("c-1")
        assert found is not None
        assert NOW == found.revoked_at
        with pytest.raises(ValueError, match="already revoked"):
            revoke_consent(store, "c-1", actor="dpo", at=NOW + dt.timedelta(days=1))

    def test_actor_required(self) -> None:
        """Each grant and revocation says who made it."""
        store = FakeStore()

        with pytest.raises(ValueError, match="actor"):
            grant_consent(store, _record(), actor=" ")
        with pytest.raises(ValueError, match="actor"):
            revoke_consent(store, "c-1", actor="")

    def test_grant_revoked_refused(self) -> None:
        """A grant is recorded unrevoked."""
        with pytest.raises(ValueError, match="unrevoked"):
            grant_consent(FakeStore(), _record(revoked_at=NOW), actor="desk")

    @given(
        operations=st.lists(
            st.tuples(st.sampled_from(["grant", "revoke"]), st.sampled_from("abc")),
            max_size=15,
        )
    )
    def test_table_follows_events(self, operations: list[tuple[str, str]]) -> None:
        """After any grants and revocations, each reference is in its last state."""
        store = FakeStore()
        provider = StoreConsentProvider(store)
        state: dict[str, str] = {}

        for operation, ref in operations:
            if operation == "grant":
                grant_consent(store, _record(ref=ref), actor="desk")
                state[ref] = "active"
            elif state.get(ref) == "active":
                revoke_consent(store, ref, actor="dpo", at=NOW)
                state[ref] = "revoked"
            provider.get_consent(ref)

        assert state == {r.ref: r.status(NOW) for r in provider.list_consents()}


class TestConsentProviderFromSetting:
    """``VISION_AUDIT_CONSENT``: the store's table or a file."""

    def test_default_is_store(self) -> None:
        """Unset or ``store``: the audit store's table."""
        store = FakeStore()

        for value in (None, "", "store"):
            assert isinstance(
                consent_provider_from_setting(value, store=store), StoreConsentProvider
            )
        assert None is consent_provider_from_setting(None, store=None)

    def test_file(self, tmp_path: Path) -> None:
        """Anything else is a file path."""
        path = tmp_path / "c.json"
        path.write_text("[]")

        provider = consent_provider_from_setting(str(path), store=None)

        assert isinstance(provider, FileConsentProvider)
        assert env.VISION_AUDIT_CONSENT == "VISION_AUDIT_CONSENT"
