r"""
Canonical JSON: the one byte form of a value that the audit chain hashes.

The form is RFC 8785, the JSON Canonicalization Scheme (JCS), as the maintained
`rfc8785 <https://github.com/trailofbits/rfc8785.py>`_ library writes it, so that any
JCS implementation recomputes the hashes:

- **Objects**: members sorted by the UTF-16 code units of their keys; no
  whitespace around ``,`` and ``:``.
- **Strings**: UTF-8, not escaped except ``"``, ``\`` and the control characters
  U+0000 to U+001F, written ``\b \t \n \f \r`` or ``\u00xx`` (lowercase hex).
- **Numbers**: IEEE 754 doubles written as ECMAScript writes them: ``0.5``, ``1``
  (for ``1.0`` too), ``0`` (for ``-0.0`` too), ``1e-7``, ``15000000000000000``,
  ``1e+21``. Integers within ±(2**53-1) are written as they are.
- ``true``, ``false`` and ``null`` as usual.

Producing it costs little more than the standard library's C encoder. That encoder
already writes RFC 8785 for nearly every value, and where it could differ its output
shows it: a number with an exponent, 16 digits or more, or a fraction ``.0``; an
object whose first key is a number (Python sorted its keys as numbers); a character
above U+FFFF (the code point and UTF-16 orders of keys differ only around those). A
scan of the output at C speed looks for any of these, in strings too, and only then
is the text handed to :func:`rfc8785.dumps`, through :func:`json.loads`, which reads
Python's floats back exactly. The tests prove the two paths equal.

Before that, Python values are mapped to JSON:

- A timezone-aware ``datetime`` becomes a string in UTC with microseconds and
  ``Z``: ``"2026-01-31T09:05:00.000000Z"``.
- Any ``Mapping`` becomes an object and a tuple an array.
- A mapping whose keys are all numbers (or all other scalars) gets their JSON text
  as Python's :mod:`json` writes it as keys (``"1"``, ``"0.5"``, ``"true"``).

Refused, with :class:`CanonicalizationError`:

- NaN and the infinities.
- Integers beyond ±(2**53-1), where JSON numbers are doubles, unless their digits
  are exactly how RFC 8785 writes the nearest double: ``10**16`` is kept, ``2**53 +
  1`` and ``2**60`` are refused, since JCS would change them. (The rfc8785 library
  refuses all of them; keeping these lets canonical JSON that holds a large float,
  read back with :func:`json.loads`, give the same bytes again.)
- Naive times, sets, bytes and other objects; mappings that mix string keys with
  other keys, and keys of other types.
- Strings holding a lone surrogate (they have no UTF-8 form), in
  :func:`canonical_json` as in :func:`canonical_bytes`.
- Values nested deeper than the interpreter's recursion limit.

Parsing canonical JSON with :func:`json.loads` and writing it again gives the same
bytes, which is what lets a third party re-check an exported event; parsing it with
:func:`parse_json` also gives back the very numbers that were written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import rfc8785

__all__ = [
    "CanonicalizationError",
    "canonical_bytes",
    "canonical_json",
    "format_time",
    "parse_json",
    "parse_time",
]

_MAX_EXACT: Final = 2**53 - 1
"""Largest integer that every JSON reader holds exactly (RFC 8785, section 3.2.2.3)."""


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

# The scan works on the UTF-8 text with every digit and "-" made "0", ":" and "["
# made "," (so that a number in an object or an array follows ","), and the lead
# bytes of four-byte sequences (characters above U+FFFF) made 0xF0. Searching for
# a literal start is what keeps re fast here: it tries a match only where one begins.
_SCAN: Final = bytes.maketrans(
    b"123456789-:[\xf1\xf2\xf3\xf4", b"0000000000,,\xf0\xf0\xf0\xf0"
)
_LONG_OR_EXPONENT: Final = re.compile(rb",0(?:0{15}|[0.]*e)")
"""In the scan: a number of 16 digits or more (or 15 and a sign), or an exponent."""
_POINT_ZERO: Final = re.compile(rb"\.0[,\]}]")
"""In the text: a number that ends in ``.0``, such as ``1.0`` or ``-0.0``."""
_NUMBER_KEY: Final = re.compile(rb'\{"(?:0|true"|false")')
"""In the scan: an object that starts with a key written from a number or a bool."""
_LONE_NUMBER_START: Final = b"-0123456789"


def _may_differ(text: str, data: bytes) -> bool:
    # Whether the C encoder's text (data is its UTF-8) might not be RFC 8785.
    # Keys that Python sorted as numbers or bools are all of that kind (sorting
    # them with a string raises), and the first is a number unless a bool sorts
    # first, so looking at first keys finds them all.
    start = data[:1]
    if start == b'"':
        return False  # a string alone: nothing to sort, escaped as RFC 8785 does
    if start in _LONE_NUMBER_START:
        return True  # a number alone: cheap to hand over
    scan = data.translate(_SCAN)
    return (
        _LONG_OR_EXPONENT.search(scan) is not None
        or _POINT_ZERO.search(data) is not None
        or _NUMBER_KEY.search(scan) is not None
        or (not text.isascii() and b"\xf0" in scan)
    )


def _read_int(digits: str) -> int | float:
    # json.loads's parse_int on the slow path. Beyond ±(2**53-1) a JSON number is
    # a double (RFC 8785, section 3.2.2.3): keep the integer only when RFC 8785
    # writes that double with the same digits, so that nothing changes silently.
    number = int(digits)
    if -_MAX_EXACT <= number <= _MAX_EXACT:
        return number
    try:
        double = float(number)
    except OverflowError:
        change = "it exceeds the largest double"
    else:
        written = rfc8785.dumps(double).decode("ascii")
        if written == digits:
            return double
        change = f"as a double it would be written {written}"
    msg = (
        f"integer {digits} is outside RFC 8785's range ±(2**53-1), where JSON"
        f" numbers are doubles; {change}"
    )
    raise CanonicalizationError(msg)


def _jcs(text: str) -> bytes:
    # The slow path: rfc8785 writes what the C encoder wrote, read back exactly.
    try:
        return rfc8785.dumps(json.loads(text, parse_int=_read_int))
    except RecursionError as err:
        msg = "no canonical JSON form: nested too deeply"
        raise CanonicalizationError(msg) from err
    except rfc8785.CanonicalizationError as err:  # pragma: no cover - refused before
        msg = f"no canonical JSON form: {err}"
        raise CanonicalizationError(msg) from err


def _canonical(value: Any) -> tuple[str, bytes]:  # noqa: ANN401 - any JSON-ready value
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
    data = encode_utf8(text)
    if _may_differ(text, data):
        data = _jcs(text)
        text = data.decode("utf-8")
    return text, data


def canonical_json(value: Any) -> str:  # noqa: ANN401 - any JSON-ready value
    """
    The canonical JSON text of *value*: RFC 8785.

    Raises:
        CanonicalizationError: *value* holds something without a canonical form.
    """
    return _canonical(value)[0]


def canonical_bytes(value: Any) -> bytes:  # noqa: ANN401 - any JSON-ready value
    """
    The canonical JSON of *value*, encoded as UTF-8: RFC 8785.

    Raises:
        CanonicalizationError: *value* holds something without a canonical form.
    """
    return _canonical(value)[1]


def parse_json(text: str | bytes) -> Any:  # noqa: ANN401 - any JSON value
    """
    Read JSON as RFC 8785 does: an integer beyond ±(2**53-1) is the nearest double.

    Canonical JSON then reads back as the values that were written. The float
    ``2.0**60`` is written ``1152921504606847000``: :func:`json.loads` reads that as
    an integer that is not ``2**60``, this as ``2.0**60``. Either way, writing the
    result again gives the same bytes.

    Raises:
        ValueError: *text* is not JSON.
    """
    return json.loads(text, parse_int=_read_number)


def _read_number(digits: str) -> int | float:
    number = int(digits)
    return number if -_MAX_EXACT <= number <= _MAX_EXACT else float(digits)


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
