"""Canonical JSON: RFC 8785, one byte form per value, stable through a round trip."""

from __future__ import annotations

import json
import struct
import sys
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st
from tests.strategies import times
from vision_audit.store import CanonicalizationError, canonical_bytes, canonical_json
from vision_audit.store._canonical import format_time, parse_json, parse_time

MAX_EXACT = 2**53 - 1

_KEY_CHARACTERS = st.sampled_from(
    # Where UTF-16 and code point orders part: above U+FFFF against U+E000-U+FFFF.
    [
        *("a", "b", "1", "\r", "\x7f", "\x80", "ö", "€"),
        *("\ue000", "\ufb33", "\uffff", "😀", "\U00010000", "\U0010ffff"),
    ]
)
_STRING_CHARACTERS = st.characters(codec="utf-8") | st.sampled_from(
    # Everything an escaping rule could treat differently.
    [chr(code) for code in range(0x20)]
    + ['"', "\\", "/", "\x7f", "\x80", "\u2028", "\u2029", "\ufeff", "😀"]
)
_floats = (
    st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(min_value=-(2**64), max_value=2**64).map(float)
    | st.sampled_from([-0.0, 1e-7, 1e-6, 1e16, 1e21, 5e-324, 1.7976931348623157e308])
)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-MAX_EXACT, max_value=MAX_EXACT)
    | st.sampled_from([MAX_EXACT, -MAX_EXACT, 10**15, -(10**15)])
    | _floats
    | st.text(_STRING_CHARACTERS, max_size=12)
)
jcs_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(_KEY_CHARACTERS, max_size=3) | st.text(_STRING_CHARACTERS),
            children,
            max_size=5,
        )
    ),
    max_leaves=16,
)
"""Any JSON value that RFC 8785 accepts (object keys are strings)."""

TYPICAL_ENVELOPE: dict[str, Any] = {
    "actor": "svc-claims",
    "analysis_id": "019c0d3a1b2c7e4f8a9b0c1d2e3f4a5b",
    "consent_ref": "consent-381",
    "content_hash": "c4" * 32,
    "data": {
        "endpoint": "https://contoso.cognitiveservices.azure.com",
        "features": ["tags", "caption", "objects", "people"],
        "image": {
            "format": "JPEG",
            "height": 768,
            "sha256": "5994471abb01112afcc18159f6cc74b4f511b99806da59b3caf5a9c173cacf",
            "size": 205145,
            "width": 1024,
        },
        "latency_ms": 87.5,
        "model_version": "2023-10-01",
        "people": 0,
        "tags": [
            {"confidence": 0.99, "name": "car"},
            {"confidence": 0.92, "name": "vehicle"},
            {"confidence": 0.85, "name": "outdoor"},
            {"confidence": 0.5, "name": "dent"},
        ],
        "blocked_tags": [],
    },
    "event_id": "019c0d3a1b2d7e4f8a9b0c1d2e3f4a5c",
    "policy_id": "9f" * 32,
    "prev_hash": "",
    "purpose": "insurance-claims",
    "schema": 1,
    "sequence": 0,
    "span_id": "7e7e7e7e7e7e7e7e",
    "subject_ref": "d1" * 32,
    "time": "2026-01-31T09:05:00.123456Z",
    "trace_id": "0c" * 16,
    "type": "analysis.completed",
}
"""An analysis.completed envelope as the store builds it."""


@pytest.fixture(name="jcs_calls")
def _jcs_calls(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every value handed to rfc8785.dumps while the test runs."""
    calls: list[object] = []
    dumps = rfc8785.dumps

    def spy(value: object) -> bytes:
        calls.append(value)
        return dumps(value)  # type: ignore[arg-type]

    monkeypatch.setattr(rfc8785, "dumps", spy)
    return calls


class TestCanonicalJson:
    """canonical_json() writes RFC 8785 (JCS), as the rfc8785 library does."""

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ({"b": 1, "a": [True, None]}, '{"a":[true,null],"b":1}'),
            ({"é": 1, "e": 2, "z": 3}, '{"e":2,"z":3,"é":1}'),
            ('tab\there \u001f "q" \\', '"tab\\there \\u001f \\"q\\" \\\\"'),
            ("\b\f\n\r\x00\x7f\u2028/", '"\\b\\f\\n\\r\\u0000\x7f\u2028/"'),
            ("café ☕ 𝄞", '"café ☕ 𝄞"'),
            (MAX_EXACT, "9007199254740991"),
            (-MAX_EXACT, "-9007199254740991"),
            (10**16, "10000000000000000"),
            (0.5, "0.5"),
            (1.0, "1"),
            ([1.0, -0.0, 100.0], "[1,0,100]"),
            ({"x": 1e-7}, '{"x":1e-7}'),
            ((1, "x"), '[1,"x"]'),
            ({1: "a", 2: "b"}, '{"1":"a","2":"b"}'),
            ({9: "a", 10: "b", -1: "c"}, '{"-1":"c","10":"b","9":"a"}'),
            ({0.5: "a", True: "b", 2: "c"}, '{"0.5":"a","2":"c","true":"b"}'),
            ({False: "a", True: "b"}, '{"false":"a","true":"b"}'),
        ],
    )
    def test_forms(self, value, expected):
        """Keys sorted as strings, no whitespace, minimal escapes, JCS numbers."""
        assert expected == canonical_json(value)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (1e-7, "1e-7"),
            (1.5e16, "15000000000000000"),
            (1e21, "1e+21"),
            (-0.0, "0"),
            (333333333.33333329, "333333333.3333333"),
            (1e30, "1e+30"),
            (4.50, "4.5"),
            (2e-3, "0.002"),
            (0.000000000000000000000000001, "1e-27"),
        ],
    )
    def test_rfc8785_numbers(self, value, expected):
        """Numbers are written as RFC 8785's examples show."""
        assert expected == canonical_json(value)
        assert f"[{expected}]" == canonical_json([value])

    @pytest.mark.parametrize(
        ("bits", "expected"),
        [
            ("0000000000000000", "0"),
            ("8000000000000000", "0"),
            ("0000000000000001", "5e-324"),
            ("8000000000000001", "-5e-324"),
            ("7fefffffffffffff", "1.7976931348623157e+308"),
            ("ffefffffffffffff", "-1.7976931348623157e+308"),
            ("4340000000000000", "9007199254740992"),
            ("c340000000000000", "-9007199254740992"),
            ("4430000000000000", "295147905179352830000"),
            ("44b52d02c7e14af5", "9.999999999999997e+22"),
            ("44b52d02c7e14af6", "1e+23"),
            ("44b52d02c7e14af7", "1.0000000000000001e+23"),
            ("444b1ae4d6e2ef4e", "999999999999999700000"),
            ("444b1ae4d6e2ef4f", "999999999999999900000"),
            ("444b1ae4d6e2ef50", "1e+21"),
            ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
            ("3eb0c6f7a0b5ed8d", "0.000001"),
            ("41b3de4355555553", "333333333.3333332"),
            ("41b3de4355555554", "333333333.33333325"),
            ("41b3de4355555555", "333333333.3333333"),
            ("41b3de4355555556", "333333333.3333334"),
            ("41b3de4355555557", "333333333.33333343"),
            ("becbf647612f3696", "-0.0000033333333333333333"),
            ("43143ff3c1cb0959", "1424953923781206.2"),
        ],
    )
    def test_rfc8785_number_samples(self, bits, expected):
        """The doubles of RFC 8785's appendix B are written as it lists them."""
        (value,) = struct.unpack(">d", bytes.fromhex(bits))

        assert {"n": expected} == json.loads(
            canonical_json({"n": value}), parse_float=str, parse_int=str
        )

    def test_rfc8785_example(self):
        """RFC 8785's section 3.2.2 example gives the bytes the RFC shows."""
        parsed = json.loads(
            r"""
            {
              "numbers": [333333333.33333329, 1E30, 4.50,
                          2e-3, 0.000000000000000000000000001],
              "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
              "literals": [null, true, false]
            }
            """
        )

        assert (
            '{"literals":[null,true,false],'
            '"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
            '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
        ) == canonical_json(parsed)

    def test_rfc8785_key_order(self):
        """Keys sort by UTF-16 code units, as in RFC 8785's section 3.2.3."""
        parsed = json.loads(
            r"""
            {
              "\u20ac": "Euro Sign",
              "\r": "Carriage Return",
              "\ufb33": "Hebrew Letter Dalet With Dagesh",
              "1": "One",
              "\ud83d\ude00": "Emoji: Grinning Face",
              "\u0080": "Control",
              "\u00f6": "Latin Small Letter O With Diaeresis"
            }
            """
        )

        assert [
            "Carriage Return",
            "One",
            "Control",
            "Latin Small Letter O With Diaeresis",
            "Euro Sign",
            "Emoji: Grinning Face",
            "Hebrew Letter Dalet With Dagesh",
        ] == list(json.loads(canonical_bytes(parsed)).values())

    def test_times(self):
        """Aware times become UTC with microseconds and Z."""
        moment = datetime(2026, 1, 31, 10, 5, tzinfo=timezone(timedelta(hours=1)))

        assert '"2026-01-31T09:05:00.000000Z"' == canonical_json(moment)

    @pytest.mark.parametrize(
        ("value", "problem"),
        [
            (float("nan"), "Out of range"),
            (float("inf"), "Out of range"),
            ({1, 2}, "set has no canonical"),
            (b"bytes", "bytes has no canonical"),
            ({"a": 1, 2: 3}, "not supported"),
            (datetime(2026, 1, 1), "no timezone"),  # noqa: DTZ001 - the point
        ],
    )
    def test_refused(self, value, problem):
        """Values without one canonical form are refused."""
        with pytest.raises(CanonicalizationError, match=problem):
            canonical_json(value)

    @pytest.mark.parametrize(
        ("value", "written"),
        [
            (2**53 + 1, "written 9007199254740992"),
            (-(2**53) - 1, "written -9007199254740992"),
            (2**60, "written 1152921504606847000"),
            ({"ns": 1_738_000_000_123_456_789}, "written 1738000000123456800"),
            ([2**70], r"written 1\.1805916207174113e\+21"),
            (10**400, "it exceeds the largest double"),
        ],
    )
    def test_refused_integers(self, value, written):
        """An integer that JCS would change, as a double, is refused, not rounded."""
        with pytest.raises(
            CanonicalizationError,
            match=rf"outside RFC 8785's range ±\(2\*\*53-1\).* {written}$",
        ):
            canonical_json(value)

    @pytest.mark.parametrize("value", ["\ud800", ["x", 1.0, "\udfff"]])
    def test_lone_surrogate(self, value):
        """A string with no UTF-8 form is refused, as text and as bytes."""
        with pytest.raises(CanonicalizationError, match="surrogate"):
            canonical_json(value)
        with pytest.raises(CanonicalizationError, match="surrogate"):
            canonical_bytes(value)

    def test_deep_nesting(self):
        """Nesting too deep to encode is refused, not a crash."""
        value: list[object] = []
        for _ in range(100_000):
            value = [value]

        with pytest.raises(CanonicalizationError, match="nested too deeply"):
            canonical_json(value)

    def test_deep_nesting_near_the_limit(self):
        """At every depth the encoder follows, rfc8785 too writes or refuses."""
        outcomes = set()
        limit = sys.getrecursionlimit()
        for depth in range(limit - 100, limit + 1):
            value: list[object] = [1.0]  # 1.0 takes the rfc8785 path
            for _ in range(depth):
                value = [value]
            try:
                canonical_json(value)
            except CanonicalizationError:
                outcomes.add("refused")
            else:
                outcomes.add("written")

        assert {"refused", "written"} == outcomes

    @given(jcs_values)
    def test_is_rfc8785(self, value):
        """Any JSON value is written byte for byte as the rfc8785 library writes it."""
        assert rfc8785.dumps(value) == canonical_bytes(value)
        assert rfc8785.dumps(value).decode() == canonical_json(value)

    @given(
        st.dictionaries(
            st.integers() | st.floats(allow_nan=False, allow_infinity=False),
            _scalars,
        )
        | st.dictionaries(st.booleans(), _scalars)
    )
    def test_number_keys(self, value):
        """Number keys become their JSON text, then sort as strings do."""
        keyed = {json.dumps(key): item for key, item in value.items()}

        assert rfc8785.dumps(keyed) == canonical_bytes(value)

    @given(jcs_values)
    def test_round_trip(self, value):
        """Parsing canonical JSON and writing it again gives the same bytes."""
        first = canonical_bytes(value)

        assert first == canonical_bytes(json.loads(first))
        assert first == canonical_bytes(parse_json(first))
        assert value == parse_json(first)

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("1152921504606847000", 2.0**60),
            ("[-9007199254740992]", [-(2.0**53)]),
            ('{"a":9007199254740991}', {"a": MAX_EXACT}),
            ("1.5", 1.5),
        ],
    )
    def test_parse_json(self, text, expected):
        """Integers beyond ±(2**53-1) read as doubles, the others as they are."""
        parsed = parse_json(text)

        assert (expected, repr(expected)) == (parsed, repr(parsed))


class TestFastPath:
    """The C encoder's text is kept when it is RFC 8785; rfc8785 writes the rest."""

    @pytest.mark.parametrize(
        "value", [TYPICAL_ENVELOPE, "a caption, 🧾 and all", {"labels": {}}, None]
    )
    def test_typical_values(self, jcs_calls, value):
        """Event envelopes and content are written without rfc8785, identically."""
        expected = rfc8785.dumps(value)
        jcs_calls.clear()

        assert expected == canonical_bytes(value)
        assert [] == jcs_calls

    @pytest.mark.parametrize(
        "value",
        [
            {"a": [1, 2.0]},
            {"a": -0.0},
            {"a": {"b": 1e-7}},
            [1.5e16],
            {"a": 9007199254740991},
            [-1234567890123456],
            {"😀": 1, "\ufb33": 2},
            {10: 1, 9: 2},
            {True: 1, 2: 2},
            2.0,
        ],
    )
    def test_differences_go_to_rfc8785(self, jcs_calls, value):
        """Where the C encoder could differ, rfc8785 writes the text."""
        canonical_json(value)

        assert [] != jcs_calls


class TestTimes:
    """format_time() and parse_time() are inverses on aware times."""

    @given(times)
    def test_round_trip(self, moment):
        """Any aware time survives writing and reading, as the same instant."""
        assert moment == parse_time(format_time(moment))
        assert UTC == parse_time(format_time(moment)).tzinfo

    def test_parse_naive(self):
        """A time without an offset is refused."""
        with pytest.raises(ValueError, match="no timezone"):
            parse_time("2026-01-01T00:00:00")
