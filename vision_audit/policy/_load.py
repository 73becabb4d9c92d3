"""Reads a TOML policy file into a Policy, refusing anything it does not understand."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import tomllib
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn

from vision_audit import environment_variables as env
from vision_audit._time import DURATION_HELP, parse_duration
from vision_audit.exceptions import PolicyError
from vision_audit.policy._model import (
    FEATURES,
    REVIEW_TRIGGERS,
    Mode,
    Policy,
    Purpose,
    Retention,
    ReviewRule,
    Sensitive,
    normalize_feature,
)
from vision_audit.policy.sensitive import BUILTIN_HEALTH_TAGS
from vision_audit.policy.tags import (
    DROP,
    ON_BLOCKED,
    WITHHOLD,
    TagFilter,
    normalize_term,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "MAX_POLICY_BYTES",
    "MAX_TERM_LENGTH",
    "PURPOSE_NAME_PATTERN",
    "load_policy",
    "parse_duration",
    "parse_policy",
    "policy_from_environment",
]

MAX_POLICY_BYTES: Final = 1 << 20
"""Largest policy file read, in bytes."""
MAX_TERM_LENGTH: Final = 256
"""Longest tag name accepted in a list, in characters."""
MAX_NAME_LENGTH: Final = 200
PURPOSE_NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")
"""What a purpose name may be: a letter or digit, then letters, digits, ``._:-``."""

_BARE_KEY: Final = re.compile(r"[A-Za-z0-9_\-]+")
_KEY_SHOWN: Final = 42
_MODES: Final = ("enforce", "audit")
_GATE_DEFAULTS: Final = ("withhold", "release")
_TOP_KEYS: Final = ("policy", "purposes", "retention", "sensitive")
_POLICY_KEYS: Final = ("description", "mode", "name", "version")
_RETENTION_KEYS: Final = ("content", "decisions", "metadata")
_SENSITIVE_KEYS: Final = (
    "extra_health_tags",
    "health_tags",
    "not_health_tags",
    "people_threshold",
)
_PURPOSE_KEYS: Final = (
    "capture_content",
    "description",
    "features",
    "require_consent",
    "review",
    "tags",
)
_TAGS_KEYS: Final = ("allow", "block", "min_confidence", "on_blocked")
_REVIEW_KEYS: Final = (
    "all",
    "deadline",
    "four_eyes",
    "gate",
    "gate_default",
    "gate_timeout",
    "low_confidence_below",
    "on",
)

Key = tuple[str | int, ...]


def _show(value: object, limit: int = 60) -> str:
    """*value* for a message: repr (control characters escaped), cut when long."""
    text = repr(value)
    if len(text) > limit:
        size = len(value) if isinstance(value, str | list | dict) else None
        extra = f", {size} long" if size is not None else ""
        return f"{text[:limit]}...{extra}"
    return text


def _type_name(value: object) -> str:
    names = {
        bool: "boolean",
        int: "integer",
        float: "float",
        str: "string",
        list: "array",
        dict: "table",
        dt.datetime: "date-time",
        dt.date: "date",
        dt.time: "time",
    }
    return names.get(type(value), type(value).__name__)


def _format_key(key: Key) -> str:
    text = ""
    for part in key:
        if isinstance(part, int):
            text += f"[{part}]"
            continue
        shown = part
        if _BARE_KEY.fullmatch(part) is None:
            # Quoted as TOML would, escaped so no control character reaches a
            # terminal, and cut: a 10 000-character key is not worth repeating.
            shown = json.dumps(part, ensure_ascii=True)
            if len(shown) > _KEY_SHOWN:
                shown = f'{shown[: _KEY_SHOWN - 1]}..."'
        text += f".{shown}" if text else shown
    return text or "(top level)"


def _has_control(text: str, *, allow: str = "") -> bool:
    return any(
        unicodedata.category(char) == "Cc" and char not in allow for char in text
    )


class _Reader:
    """Checks values found at keys of one file; every complaint names both."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: Key, problem: str) -> NoReturn:
        where = _format_key(key)
        msg = f"{self.source}: {where}: {problem}"
        raise PolicyError(msg, path=self.source, key=where)

    def expect(self, key: Key, value: object, wanted: str) -> NoReturn:
        self.fail(key, f"expected {wanted}, got {_type_name(value)} {_show(value)}")

    def table(
        self, key: Key, value: object, accepted: tuple[str, ...]
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.expect(key, value, "a table")
        for name in value:
            if name not in accepted:
                self.fail(
                    key,
                    f"unknown key {_show(name, 40)}; accepted keys: "
                    f"{', '.join(accepted)}",
                )
        return value

    def text(
        self,
        key: Key,
        value: object,
        *,
        limit: int = MAX_NAME_LENGTH,
        multiline: bool = False,
    ) -> str:
        if not isinstance(value, str):
            self.expect(key, value, "a string")
        if len(value) > limit:
            self.fail(
                key,
                f"{_show(value)} is {len(value)} characters long; at most {limit} "
                "accepted",
            )
        if _has_control(value, allow="\t\n\r" if multiline else ""):
            self.fail(key, f"{_show(value)} contains control characters; none accepted")
        return value

    def boolean(self, key: Key, value: object) -> bool:
        if not isinstance(value, bool):
            self.expect(key, value, "true or false")
        return value

    def fraction(self, key: Key, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.expect(key, value, "a number between 0 and 1")
        number = float(value)
        if not math.isfinite(number) or not 0.0 <= number <= 1.0:
            self.fail(key, f"{_show(value)} is not between 0 and 1")
        return number

    def choice(self, key: Key, value: object, accepted: tuple[str, ...]) -> str:
        if not isinstance(value, str) or value not in accepted:
            shown = (
                _show(value)
                if isinstance(value, str)
                else f"{_type_name(value)} {_show(value)}"
            )
            self.fail(
                key, f"{shown} is not accepted; use one of: {', '.join(accepted)}"
            )
        return value

    def duration(self, key: Key, value: object) -> dt.timedelta:
        if not isinstance(value, str):
            self.expect(key, value, DURATION_HELP)
        try:
            return parse_duration(value)
        except ValueError as err:
            self.fail(key, str(err))

    def array(self, key: Key, value: object, *, wanted: str) -> list[Any]:
        if not isinstance(value, list):
            self.expect(key, value, f"an array of {wanted}")
        return value

    def terms(self, key: Key, value: object) -> frozenset[str]:
        items = self.array(key, value, wanted="tag names (strings)")
        terms = set()
        for index, item in enumerate(items):
            where = (*key, index)
            text = self.text(where, item, limit=MAX_TERM_LENGTH)
            term = normalize_term(text)
            if not term:
                self.fail(where, "an empty tag name; a tag name has a character")
            terms.add(term)
        return frozenset(terms)


def _version(reader: _Reader, key: Key, value: object) -> str:
    # An unquoted TOML date (version = 2026-11-01) is a date; take it as written.
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return reader.text(key, value)


def _retention(reader: _Reader, value: object) -> Retention:
    key: Key = ("retention",)
    if isinstance(value, dict) and "images" in value:
        reader.fail(
            (*key, "images"),
            "images are never stored by vision-audit (only their SHA-256, size, "
            "format and dimensions, kept as metadata), so they have no retention; "
            f"remove this key. Accepted keys: {', '.join(_RETENTION_KEYS)}",
        )
    table = reader.table(key, value, _RETENTION_KEYS)
    periods = {
        name: reader.duration((*key, name), table[name])
        for name in _RETENTION_KEYS
        if name in table
    }
    return Retention(**periods)


def _sensitive(reader: _Reader, value: object) -> Sensitive:
    key: Key = ("sensitive",)
    table = reader.table(key, value, _SENSITIVE_KEYS)
    threshold = (
        reader.fraction((*key, "people_threshold"), table["people_threshold"])
        if "people_threshold" in table
        else 0.5
    )
    listed = table.get("health_tags", "builtin")
    if isinstance(listed, str):
        if listed != "builtin":
            reader.fail(
                (*key, "health_tags"),
                f'{_show(listed)} is not accepted; use "builtin" or an array of '
                "tag names",
            )
        health = set(BUILTIN_HEALTH_TAGS)
    elif isinstance(listed, list):
        health = set(reader.terms((*key, "health_tags"), listed))
    else:
        reader.expect((*key, "health_tags"), listed, '"builtin" or an array of tags')
    if "extra_health_tags" in table:
        health |= reader.terms((*key, "extra_health_tags"), table["extra_health_tags"])
    if "not_health_tags" in table:
        health -= reader.terms((*key, "not_health_tags"), table["not_health_tags"])
    return Sensitive(people_threshold=threshold, health_tags=frozenset(health))


def _features(reader: _Reader, key: Key, value: object) -> frozenset[str]:
    items = reader.array(key, value, wanted="visual feature names")
    if not items:
        reader.fail(
            key,
            "an empty array; name the features the purpose needs, among: "
            f"{', '.join(FEATURES)}",
        )
    features = set()
    for index, item in enumerate(items):
        feature = normalize_feature(item) if isinstance(item, str) else None
        if feature is None:
            shown = (
                _show(item)
                if isinstance(item, str)
                else f"{_type_name(item)} {_show(item)}"
            )
            reader.fail(
                (*key, index),
                f"{shown} is not a visual feature; accepted: {', '.join(FEATURES)}",
            )
        features.add(feature)
    return frozenset(features)


def _tag_filter(reader: _Reader, key: Key, value: object) -> TagFilter:
    table = reader.table(key, value, _TAGS_KEYS)
    if "allow" in table and "block" in table:
        reader.fail(
            key,
            "has both 'allow' and 'block'; a purpose uses an allow list or a "
            "block list, not both",
        )
    allow = block = None
    if "allow" in table:
        allow = reader.terms((*key, "allow"), table["allow"])
        if not allow:
            reader.fail(
                (*key, "allow"),
                "an empty allow list drops every tag; list the tags the purpose "
                "needs, or leave 'tags' and 'objects' out of its features",
            )
    if "block" in table:
        block = reader.terms((*key, "block"), table["block"])
    minimum = (
        reader.fraction((*key, "min_confidence"), table["min_confidence"])
        if "min_confidence" in table
        else 0.0
    )
    on_blocked = DROP
    if "on_blocked" in table:
        on_blocked = reader.choice(
            (*key, "on_blocked"), table["on_blocked"], ON_BLOCKED
        )
        if on_blocked == WITHHOLD and block is None:
            reader.fail(
                (*key, "on_blocked"),
                '"withhold" applies to block-listed tags, and the purpose has no '
                "block list; add 'block', or leave 'on_blocked' out",
            )
    return TagFilter(
        allow=allow,
        block=block,
        min_confidence=minimum,
        on_blocked="withhold" if on_blocked == WITHHOLD else "drop",
    )


def _review(reader: _Reader, key: Key, value: object) -> ReviewRule:
    table = reader.table(key, value, _REVIEW_KEYS)
    on: set[str] = set()
    if "on" in table:
        accepted = tuple(sorted(REVIEW_TRIGGERS))
        items = reader.array((*key, "on"), table["on"], wanted="flags")
        for index, item in enumerate(items):
            on.add(reader.choice((*key, "on", index), item, accepted))
    rule: dict[str, Any] = {"on": frozenset(on)}
    if "low_confidence_below" in table:
        rule["low_confidence_below"] = reader.fraction(
            (*key, "low_confidence_below"), table["low_confidence_below"]
        )
    for name in ("all", "four_eyes", "gate"):
        if name in table:
            rule[name] = reader.boolean((*key, name), table[name])
    for name in ("deadline", "gate_timeout"):
        if name in table:
            rule[name] = reader.duration((*key, name), table[name])
    if "gate_default" in table:
        rule["gate_default"] = reader.choice(
            (*key, "gate_default"), table["gate_default"], _GATE_DEFAULTS
        )
    return ReviewRule(**rule)


def _purpose(reader: _Reader, name: str, value: object) -> Purpose:
    key: Key = ("purposes", name)
    if not PURPOSE_NAME_PATTERN.fullmatch(name):
        reader.fail(
            key,
            "not a purpose name; a purpose name is 1 to 128 characters: a letter "
            "or digit, then letters, digits, '.', '_', ':' or '-'",
        )
    table = reader.table(key, value, _PURPOSE_KEYS)
    if "features" not in table:
        reader.fail(
            key,
            "missing key 'features': the visual features the purpose may request, "
            f"among: {', '.join(FEATURES)}",
        )
    fields: dict[str, Any] = {
        "name": name,
        "features": _features(reader, (*key, "features"), table["features"]),
    }
    if "description" in table:
        fields["description"] = reader.text(
            (*key, "description"), table["description"], limit=4000, multiline=True
        )
    for flag in ("require_consent", "capture_content"):
        if flag in table:
            fields[flag] = reader.boolean((*key, flag), table[flag])
    if "tags" in table:
        fields["tags"] = _tag_filter(reader, (*key, "tags"), table["tags"])
    if "review" in table:
        fields["review"] = _review(reader, (*key, "review"), table["review"])
    return Purpose(**fields)


def _policy(reader: _Reader, document: Mapping[str, Any]) -> Policy:
    top = reader.table((), dict(document), _TOP_KEYS)
    for required in ("policy", "purposes"):
        if required not in top:
            reader.fail(
                (required,),
                f"missing table [{required}]; a policy has [policy] (name, version, "
                "mode) and at least one [purposes.NAME]",
            )
    head = reader.table(("policy",), top["policy"], _POLICY_KEYS)
    for required in ("name", "version"):
        if required not in head:
            reader.fail(("policy", required), f"missing; [policy] needs a {required}")
    name = reader.text(("policy", "name"), head["name"])
    if not name.strip():
        reader.fail(("policy", "name"), "empty; give the policy a name")
    mode: Mode = "enforce"
    if "mode" in head and reader.choice(("policy", "mode"), head["mode"], _MODES) == (
        "audit"
    ):
        mode = "audit"
    purposes_table = top["purposes"]
    if not isinstance(purposes_table, dict):
        reader.expect(("purposes",), purposes_table, "a table of [purposes.NAME]")
    if not purposes_table:
        reader.fail(("purposes",), "no purpose; define at least one [purposes.NAME]")
    return Policy(
        name=name,
        version=_version(reader, ("policy", "version"), head["version"]),
        mode=mode,
        description=reader.text(
            ("policy", "description"),
            head.get("description", ""),
            limit=4000,
            multiline=True,
        ),
        retention=_retention(reader, top.get("retention", {})),
        sensitive=_sensitive(reader, top.get("sensitive", {})),
        purposes={
            purpose: _purpose(reader, purpose, body)
            for purpose, body in purposes_table.items()
        },
        source=reader.source,
    )


def parse_policy(text: str, *, source: str = "<string>") -> Policy:
    """
    The policy written in *text* (TOML).

    Args:
        text: The policy, in the format of :mod:`vision_audit.policy`.
        source: What to call it in error messages, usually its file name.

    Raises:
        PolicyError: *text* is not valid TOML or not a valid policy; the message
            names *source*, the key and what is accepted there.

    .. versionadded:: 0.1.0
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        msg = f"{source}: not valid TOML: {err}"
        raise PolicyError(msg, path=source) from err
    except RecursionError as err:
        msg = f"{source}: not a policy: its values are nested too deeply to read"
        raise PolicyError(msg, path=source) from err
    return _policy(_Reader(source), document)


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """
    Read and check the policy file at *path*.

    Args:
        path: A TOML policy file (UTF-8, at most 1 MiB).

    Returns:
        The parsed policy; its ``policy_id`` identifies it in every event.

    Raises:
        PolicyError: The file cannot be read, is not UTF-8 TOML, or is not a valid
            policy; the message names the file, the key and what is accepted.

    .. versionadded:: 0.1.0
    """
    source = os.fspath(path)
    try:
        with Path(source).open("rb") as handle:
            data = handle.read(MAX_POLICY_BYTES + 1)
    except OSError as err:
        reason = err.strerror or type(err).__name__
        msg = f"{source}: cannot read the policy file: {reason}"
        raise PolicyError(msg, path=source) from err
    if len(data) > MAX_POLICY_BYTES:
        msg = f"{source}: larger than {MAX_POLICY_BYTES} bytes; not a policy file"
        raise PolicyError(msg, path=source)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        msg = f"{source}: not UTF-8 text ({err.reason} at byte {err.start})"
        raise PolicyError(msg, path=source) from err
    return parse_policy(text, source=source)


def policy_from_environment(environ: Mapping[str, str] | None = None) -> Policy | None:
    """
    The policy named by ``VISION_AUDIT_POLICY``, or None when it is unset or empty.

    Raises:
        PolicyError: The file named is missing or invalid.

    .. versionadded:: 0.1.0
    """
    environ = os.environ if environ is None else environ
    path = environ.get(env.VISION_AUDIT_POLICY, "").strip()
    return load_policy(path) if path else None
