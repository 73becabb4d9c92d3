"""
Guidance and regulation maps: TOML files that tie a framework's items to evidence.

Each file maps one framework (Microsoft's Image Analysis guidance, the EU AI Act, the
GDPR, or an organisation's own, such as ISO/IEC 42001 controls): for each item, the
report's sections where its evidence is, a sentence of evidence filled with the
period's figures, and the rules that decide its status. The shipped files live in
``vision_audit/report/mappings/``; :func:`load_mappings` adds those of any folder
given, a file of a folder replacing a shipped one of the same framework id. Every
file is checked whole on load, and a bad one is refused naming the file, the item
and the field.

A file::

    [framework]
    id = "iso-42001"                      # lower case, digits, hyphens
    title = "ISO/IEC 42001:2023 Annex A controls (selection)"
    publisher = "Contoso compliance office"
    version = "2023"
    url = "https://www.iso.org/standard/81230.html"     # optional
    scope = "Which uses the framework applies to."      # optional
    order = 40                            # optional; lower first, then by id

    [[item]]
    id = "A.6.2.8"
    title = "AI system recording of event logs"
    requirement = "What the item asks, in a sentence."
    sections = ["integrity", "appendix"]  # anchors of the report's sections
    evidence = "{integrity.events} events verified; {exceptions} exceptions listed"
    note = "What this evidence does not show."       # optional
    evidenced_when = "integrity.intact == 1 and integrity.authenticated == 1"
    partly_when = "integrity.intact == 1"
    not_applicable_when = "calls == 0"                # optional

An item has ``evidenced_when``, ``partly_when`` or both: an item the log can at best
partly evidence (that a legal review took place, say) has only ``partly_when``.

An item's status is ``not applicable`` when its ``not_applicable_when`` holds, else
``evidenced`` when ``evidenced_when`` holds, else ``partly`` when ``partly_when``
holds, else ``no evidence``; the rule that decided is printed beside the status.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn

from vision_audit._text import first_control, show_char
from vision_audit.exceptions import MappingError
from vision_audit.report._figures import FIGURES, SECTIONS
from vision_audit.report._rules import Rule, RuleSyntaxError, parse_rule

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = [
    "MAX_MAPPING_BYTES",
    "SHIPPED_MAPPINGS",
    "STATUSES",
    "Framework",
    "MappingItem",
    "load_mapping",
    "load_mappings",
]

SHIPPED_MAPPINGS: Final = Path(__file__).resolve().parent / "mappings"
"""The folder of the mapping files shipped with vision-audit."""
MAX_MAPPING_BYTES: Final = 256 * 1024
"""Largest mapping file read, in bytes."""
MAX_ITEMS: Final = 200
"""Most items a framework may map."""
MAX_FILES: Final = 50
"""Most mapping files one folder may hold."""
MAX_ORDER: Final = 1000
"""Frameworks are ordered by ``order``, from 0 to this, excluded."""
STATUSES: Final = ("evidenced", "partly", "no evidence", "not applicable")
"""An item's status, as the report prints it."""

_FRAMEWORK_ID: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
_ITEM_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9().:/ -]{0,39}")
_PLACEHOLDER: Final = re.compile(r"\{([^{}]*)\}")
_TOP_KEYS: Final = ("framework", "item")
_FRAMEWORK_KEYS: Final = (
    "id",
    "order",
    "publisher",
    "scope",
    "title",
    "url",
    "version",
)
_FRAMEWORK_REQUIRED: Final = ("id", "title", "publisher", "version")
_ITEM_KEYS: Final = (
    "evidence",
    "evidenced_when",
    "id",
    "not_applicable_when",
    "note",
    "partly_when",
    "requirement",
    "sections",
    "title",
)
_ITEM_REQUIRED: Final = (
    "id",
    "title",
    "requirement",
    "sections",
    "evidence",
)
_RULES: Final = ("not_applicable_when", "evidenced_when", "partly_when")
_SHORT: Final = 200
_LONG: Final = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class MappingItem:
    """
    One item of a framework: where its evidence is and how its status is decided.

    .. versionadded:: 0.1.0
    """

    id: str
    title: str
    requirement: str
    sections: tuple[str, ...]
    evidence: str
    """Text with ``{figure}`` placeholders, filled with the period's figures."""
    note: str = ""
    """What the evidence does not show, for the reader."""
    evidenced_when: Rule | None = None
    partly_when: Rule | None = None
    not_applicable_when: Rule | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Framework:
    """
    A framework's map, as read from its file.

    .. versionadded:: 0.1.0
    """

    id: str
    title: str
    publisher: str
    version: str
    items: tuple[MappingItem, ...]
    source: str
    """The file's name (not its folder: the same files give the same report)."""
    url: str = ""
    scope: str = ""
    order: int = 100


def _show(value: object, limit: int = 50) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} long)"


class _File:
    """Checks the values of one mapping file; every complaint names where."""

    def __init__(self, name: str) -> None:
        self.name = name

    def fail(self, where: str, problem: str) -> NoReturn:
        msg = f"{self.name}: {where}: {problem}"
        raise MappingError(msg, path=self.name, where=where)

    def table(
        self, where: str, value: object, accepted: tuple[str, ...]
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(where, f"expected a table, got {type(value).__name__}")
        for key in value:
            if key not in accepted:
                self.fail(
                    where,
                    f"unknown field {_show(key)}; accepted: {', '.join(accepted)}",
                )
        return value

    def required(self, where: str, table: dict[str, Any], keys: Iterable[str]) -> None:
        for key in keys:
            if key not in table:
                self.fail(f"{where}.{key}", "missing; this field is required")

    def text(self, where: str, value: object, *, limit: int = _SHORT) -> str:
        if not isinstance(value, str):
            self.fail(where, f"expected a string, got {type(value).__name__}")
        if not value.strip():
            self.fail(where, "empty")
        if len(value) > limit:
            self.fail(where, f"{len(value)} characters long; at most {limit} accepted")
        if (char := first_control(value)) is not None:
            self.fail(where, f"holds the control character {show_char(char)}")
        return value

    def identifier(self, where: str, value: object, pattern: re.Pattern[str]) -> str:
        text = self.text(where, value, limit=40)
        if pattern.fullmatch(text) is None:
            self.fail(where, f"{_show(text)} does not match {pattern.pattern}")
        return text

    def rule(self, where: str, value: object) -> Rule:
        text = self.text(where, value, limit=_LONG)
        try:
            return parse_rule(text, known=frozenset(FIGURES))
        except RuleSyntaxError as err:
            self.fail(where, str(err))

    def sections(self, where: str, value: object) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            self.fail(where, "expected a non-empty array of section anchors")
        for index, anchor in enumerate(value):
            if not isinstance(anchor, str) or anchor not in SECTIONS:
                self.fail(
                    f"{where}[{index}]",
                    f"{_show(anchor)} is not a section of the report; the sections "
                    f"are: {', '.join(SECTIONS)}",
                )
        return tuple(value)

    def evidence(self, where: str, value: object) -> str:
        text = self.text(where, value, limit=_LONG)
        for name in _PLACEHOLDER.findall(text):
            if name not in FIGURES:
                self.fail(
                    where,
                    f"{{{_show(name)[1:-1]}}} names no figure; the figures are "
                    "listed in docs/report.md ('Figures a rule may use')",
                )
        if "{" in _PLACEHOLDER.sub("", text) or "}" in _PLACEHOLDER.sub("", text):
            self.fail(where, "has a brace that opens or closes no {figure}")
        return text


def _item(file: _File, index: int, value: object) -> MappingItem:
    where = f"item[{index}]"
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        where = f"item[{index}] {value['id'][:40]!r}"
    table = file.table(where, value, _ITEM_KEYS)
    file.required(where, table, _ITEM_REQUIRED)
    rules = {
        key: file.rule(f"{where}.{key}", table[key]) for key in _RULES if key in table
    }
    if "evidenced_when" not in rules and "partly_when" not in rules:
        file.fail(
            where,
            "has neither evidenced_when nor partly_when; give the rule that says "
            "when the item is evidenced",
        )
    return MappingItem(
        id=file.identifier(f"{where}.id", table["id"], _ITEM_ID),
        title=file.text(f"{where}.title", table["title"]),
        requirement=file.text(
            f"{where}.requirement", table["requirement"], limit=_LONG
        ),
        sections=file.sections(f"{where}.sections", table["sections"]),
        evidence=file.evidence(f"{where}.evidence", table["evidence"]),
        note=file.text(f"{where}.note", table["note"], limit=_LONG)
        if "note" in table
        else "",
        evidenced_when=rules.get("evidenced_when"),
        partly_when=rules.get("partly_when"),
        not_applicable_when=rules.get("not_applicable_when"),
    )


def _parse(file: _File, raw: bytes) -> Framework:
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        file.fail("(file)", f"not UTF-8 text: {err.reason} at byte {err.start}")
    except tomllib.TOMLDecodeError as err:
        file.fail("(file)", f"not TOML: {err}")
    except RecursionError:
        file.fail("(file)", "nested too deeply to be a mapping file")
    top = file.table("(top level)", document, _TOP_KEYS)
    file.required("(top level)", top, _TOP_KEYS)
    head = file.table("framework", top["framework"], _FRAMEWORK_KEYS)
    file.required("framework", head, _FRAMEWORK_REQUIRED)
    order = head.get("order", 100)
    if (
        isinstance(order, bool)
        or not isinstance(order, int)
        or not 0 <= order < MAX_ORDER
    ):
        file.fail(
            "framework.order",
            f"{_show(order)} is not a whole number from 0 to {MAX_ORDER - 1}",
        )
    items = top["item"]
    if not isinstance(items, list) or not items:
        file.fail("item", "expected one or more [[item]] tables")
    if len(items) > MAX_ITEMS:
        file.fail("item", f"{len(items)} items; at most {MAX_ITEMS} accepted")
    parsed = tuple(_item(file, index, item) for index, item in enumerate(items))
    seen: set[str] = set()
    for index, item in enumerate(parsed):
        if item.id in seen:
            file.fail(f"item[{index}].id", f"{item.id!r} is used by an earlier item")
        seen.add(item.id)
    return Framework(
        id=file.identifier("framework.id", head["id"], _FRAMEWORK_ID),
        title=file.text("framework.title", head["title"]),
        publisher=file.text("framework.publisher", head["publisher"]),
        version=file.text("framework.version", head["version"]),
        url=file.text("framework.url", head["url"]) if "url" in head else "",
        scope=file.text("framework.scope", head["scope"], limit=_LONG)
        if "scope" in head
        else "",
        order=order,
        items=parsed,
        source=file.name,
    )


def load_mapping(path: str | Path) -> Framework:
    """
    Read one mapping file.

    Raises:
        MappingError: The file is missing, too large, not TOML, or breaks the
            schema; the message names the file, the item and the field.

    .. versionadded:: 0.1.0
    """
    target = Path(path)
    file = _File(target.name)
    try:
        if not target.is_file():
            file.fail("(file)", "not a regular file")
        size = target.stat().st_size
        if size > MAX_MAPPING_BYTES:
            file.fail(
                "(file)", f"{size:,} bytes; at most {MAX_MAPPING_BYTES:,} accepted"
            )
        with target.open("rb") as stream:
            raw = stream.read(MAX_MAPPING_BYTES + 1)
    except OSError as err:
        file.fail("(file)", f"cannot be read: {err.strerror or err}")
    if len(raw) > MAX_MAPPING_BYTES:
        file.fail("(file)", f"more than {MAX_MAPPING_BYTES:,} bytes")
    return _parse(file, raw)


def _folder(folder: Path) -> list[Framework]:
    if not folder.is_dir():
        msg = f"{folder}: not a folder of mapping files (*.toml)"
        raise MappingError(msg, path=str(folder), where="(folder)")
    files = sorted(folder.glob("*.toml"))
    if len(files) > MAX_FILES:
        msg = f"{folder}: {len(files)} mapping files; at most {MAX_FILES} accepted"
        raise MappingError(msg, path=str(folder), where="(folder)")
    return [load_mapping(path) for path in files]


@functools.lru_cache(maxsize=1)
def _shipped() -> tuple[Framework, ...]:
    return tuple(_folder(SHIPPED_MAPPINGS))


def load_mappings(
    folders: Sequence[str | Path] = (), *, shipped: bool = True
) -> tuple[Framework, ...]:
    """
    The frameworks a report maps: the shipped ones and those of *folders*.

    Every ``*.toml`` file of each folder is one framework. A framework whose id
    is already mapped (shipped, or from an earlier folder) replaces it; two files
    of one folder with the same id are refused.

    Args:
        folders: Folders of an organisation's own mapping files.
        shipped: Include the files shipped with vision-audit.

    Returns:
        The frameworks, ordered by their ``order`` and then their id.

    Raises:
        MappingError: A folder or a file is bad; the message says which, and
            where in the file.

    .. versionadded:: 0.1.0
    """
    found: dict[str, Framework] = {f.id: f for f in _shipped()} if shipped else {}
    for folder in folders:
        own: dict[str, Framework] = {}
        for framework in _folder(Path(folder)):
            if framework.id in own:
                msg = (
                    f"{framework.source}: framework.id: {framework.id!r} is also the "
                    f"id of {own[framework.id].source} in the same folder"
                )
                raise MappingError(msg, path=framework.source, where="framework.id")
            own[framework.id] = framework
        found.update(own)
    return tuple(sorted(found.values(), key=lambda f: (f.order, f.id)))
