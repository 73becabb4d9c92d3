"""Canonical JSON: one byte form per value, stable through a JSON round trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from tests.strategies import json_values, times
from vision_audit.store import CanonicalizationError, canonical_bytes, canonical_json
from vision_audit.store._canonical import format_time, parse_time


class TestCanonicalJson:
    """canonical_json() writes RFC 8785-style JSON, as documented."""

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ({"b": 1, "a": [True, None]}, '{"a":[true,null],"b":1}'),
            ({"é": 1, "e": 2, "z": 3}, '{"e":2,"z":3,"é":1}'),
            ('tab\there \u001f "q" \\', '"tab\\there \\u001f \\"q\\" \\\\"'),
            ("café ☕ 𝄞", '"café ☕ 𝄞"'),
            (2**70, "1180591620717411303424"),
            (0.5, "0.5"),
            (1.0, "1.0"),
            (1e-7, "1e-07"),
            (1.5e16, "1.5e+16"),
            ((1, "x"), '[1,"x"]'),
            ({1: "a", 2: "b"}, '{"1":"a","2":"b"}'),
        ],
    )
    def test_forms(self, value, expected):
        """Sorted keys, no whitespace, minimal escapes, exact numbers."""
        assert expected == canonical_json(value)

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

    def test_lone_surrogate(self):
        """A string with no UTF-8 form is refused as bytes."""
        with pytest.raises(CanonicalizationError, match="surrogate"):
            canonical_bytes("\ud800")

    def test_deep_nesting(self):
        """Nesting too deep to encode is refused, not a crash."""
        value: list[object] = []
        for _ in range(100_000):
            value = [value]

        with pytest.raises(CanonicalizationError, match="nested too deeply"):
            canonical_json(value)

    @given(json_values)
    def test_round_trip(self, value):
        """Parsing canonical JSON and writing it again gives the same bytes."""
        first = canonical_bytes(value)

        assert first == canonical_bytes(json.loads(first))
        assert json.loads(first) == value


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
