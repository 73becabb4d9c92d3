r"""
Canonical JSON: the one byte form of a value that the audit chain hashes.

The form follows RFC 8785 (JSON Canonicalization Scheme) in spirit, with two
documented differences that make it exact for Python values and fast to produce with
the standard library's C encoder:

- **Objects**: members sorted by key, compared as Unicode code points (RFC 8785
  compares UTF-16 code units; the orders differ only between keys that mix
  characters above U+FFFF with characters from U+E000 to U+FFFF). Keys are
  strings; a mapping whose keys are all numbers (or all other scalars) is written
  with their JSON text as keys, and a mapping that mixes strings with other keys
  is refused.
- **No insignificant whitespace**: ``,`` and ``:`` with nothing around them.
- **Strings**: UTF-8, not escaped except ``"``, ``\`` and the control characters
  U+0000 to U+001F, written ``\b \f \n \r \t`` or ``\u00xx`` (lowercase hex), as
  in RFC 8785. Lone surrogates are refused (they have no UTF-8 form).
- **Integers**: written as they are, at any size (RFC 8785 would round them to
  doubles past 2**53). ``true``, ``false`` and ``null`` as usual.
- **Floats**: the shortest decimal that reads back as the same double (the digits
  that RFC 8785 and ECMAScript also choose), written as Python's ``repr`` writes it:
  ``0.5``, ``1.0``, ``1e-07``, ``1.5e+16``. So a float that holds an integer keeps its
  ``.0`` and hashes apart from the integer. NaN and the infinities are refused.
- **Times**: a ``datetime`` must be timezone-aware; it is written as a string in UTC
  with microseconds and ``Z``: ``"2026-01-31T09:05:00.000000Z"``.
- **Arrays**: lists and tuples. Anything else (sets, bytes, objects) is refused.

Parsing canonical JSON with :func:`json.loads` and writing it again gives the same
bytes, which is what lets a third party re-check an exported event.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

__all__ = [
    "CanonicalizationError",
    "canonical_bytes",
    "canonical_json",
    "format_time",
    "parse_time",
]


class CanonicalizationError(ValueError):
    """A value has no canonical JSON form: NaN, a naive time, a set, a surrogate."""


def format_time(moment: datetime) -> str:
    """
    Write a timezone-aware time as UTC ISO-8601 with microseconds and ``Z``.

    Raises:
        CanonicalizationError: *moment* is naive.
    """
    if moment.tzinfo is not UTC:
        if moment.tzinfo is None or moment.utcoffset() is None:
            msg = (
                f"time {moment.isoformat()} has no timezone; audit times must be aware"
            )
            raise CanonicalizationError(msg)
        moment = moment.astimezone(UTC)
    # isoformat() is faster than strftime(); it ends in "+00:00" for UTC.
    return moment.isoformat(timespec="microseconds")[:-6] + "Z"


def parse_time(text: str) -> datetime:
    """
    Read a time written by :func:`format_time` (or any ISO-8601 time with an offset).

    Raises:
        ValueError: *text* is not an ISO-8601 time with an offset.
    """
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        msg = f"time {text!r} has no timezone"
        raise ValueError(msg)
    return moment.astimezone(UTC)


def _default(value: object) -> object:
    # Called by the C encoder only for what JSON has no type for.
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, Mapping):
        return dict(value)
    msg = f"{type(value).__name__} has no canonical JSON form"
    raise CanonicalizationError(msg)


_ENCODER: Final = json.JSONEncoder(
    sort_keys=True,
    separators=(",", ":"),
    ensure_ascii=False,
    allow_nan=False,
    default=_default,
)


def canonical_json(value: Any) -> str:  # noqa: ANN401 - any JSON-ready value
    """
    The canonical JSON text of *value*.

    Raises:
        CanonicalizationError: *value* holds something without a canonical form.
    """
    try:
        text = _ENCODER.encode(value)
    except CanonicalizationError:
        raise
    except (ValueError, TypeError) as err:
        # json says "Out of range float values are not JSON compliant" for NaN and
        # "'<' not supported between..." for keys of mixed types.
        msg = f"no canonical JSON form: {err}"
        raise CanonicalizationError(msg) from err
    except RecursionError as err:
        msg = "no canonical JSON form: nested too deeply"
        raise CanonicalizationError(msg) from err
    return text


def canonical_bytes(value: Any) -> bytes:  # noqa: ANN401 - any JSON-ready value
    """
    The canonical JSON of *value*, encoded as UTF-8.

    Raises:
        CanonicalizationError: *value* holds something without a canonical form.
    """
    return encode_utf8(canonical_json(value))


def encode_utf8(text: str) -> bytes:
    """
    *text* as UTF-8, refusing lone surrogates.

    Raises:
        CanonicalizationError: *text* holds a lone surrogate.
    """
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as err:
        msg = f"no canonical JSON form: a string holds a lone surrogate ({err.reason})"
        raise CanonicalizationError(msg) from err
