"""Per-feature readers of ``Result``: facts, span attributes, content."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final

from vision_audit import attributes as attrs

__all__ = ["EXTRACTORS", "Extractor", "Facts", "wire_lines", "wire_values"]

Facts = dict[str, Any]
"""JSON-ready facts about one feature's result (no personal content)."""

Result = Mapping[str, Any]
"""
An ``ImageAnalysisResult`` read as the mapping of wire data it is: the SDK's model
properties deserialize on every access, ten times slower than the dict underneath.
"""


def wire_values(result: Result, key: str) -> list[Mapping[str, Any]] | None:
    """The ``values`` of one feature's result, read from the wire data."""
    section = result.get(key)
    if not isinstance(section, Mapping):
        return None
    values = section.get("values")
    return values if isinstance(values, list) else None


def wire_lines(result: Result) -> list[Mapping[str, Any]] | None:
    """The lines read, across blocks, from the wire data."""
    section = result.get("readResult")
    if not isinstance(section, Mapping):
        return None
    return [
        line for block in section.get("blocks", ()) for line in block.get("lines", ())
    ]


def _box(value: object) -> list[int] | None:
    """``[x, y, w, h]`` of a ``boundingBox``, in pixels; None when it is not one."""
    if not isinstance(value, Mapping):
        return None
    parts = [value.get(k) for k in ("x", "y", "w", "h")]
    if not all(isinstance(p, int | float) and not isinstance(p, bool) for p in parts):
        return None
    return [int(p) for p in parts]  # type: ignore[arg-type] # checked numbers above


def _confidence(value: float) -> float:
    # Four decimals are what a reviewer reads; full float32 noise is not evidence.
    return round(float(value), 4)


class Extractor:
    """
    Reads one visual feature of a result. Hooks default to doing nothing.

    ``facts`` returns what the audit event records; ``span_attributes`` turns those
    facts into span attributes; ``content`` returns personal content (text), which is
    recorded only when content capture is on.
    """

    feature: ClassVar[str] = ""
    """The feature's name as the service spells it (``tags``, ``smartCrops``...)."""

    def facts(self, result: Result, *, people_threshold: float) -> Facts | None:
        """Facts of this feature's result, or None when the result lacks it."""
        return None

    def span_attributes(self, facts: Facts) -> dict[str, Any]:
        """Span attributes for *facts*."""
        return {}

    def content(self, result: Result) -> dict[str, Any]:
        """Personal content of this feature's result."""
        return {}


class TagsExtractor(Extractor):
    """Tag names with confidences."""

    feature = "tags"

    def facts(self, result: Result, *, people_threshold: float) -> Facts | None:
        """Every tag, highest confidence first, as the service orders them."""
        values = wire_values(result, "tagsResult")
        if values is None:
            return None
        tags = [
            {"name": t["name"], "confidence": _confidence(t["confidence"])}
            for t in values
        ]
        return {"count": len(tags), "tags": tags}

    def span_attributes(self, facts: Facts) -> dict[str, Any]:
        """Count, names and confidences as parallel arrays."""
        return {
            attrs.TAGS_COUNT: facts["count"],
            attrs.TAGS_NAMES: [t["name"] for t in facts["tags"]],
            attrs.TAGS_CONFIDENCES: [t["confidence"] for t in facts["tags"]],
        }


class ObjectsExtractor(Extractor):
    """Detected objects: their best tag each."""

    feature = "objects"

    def facts(self, result: Result, *, people_threshold: float) -> Facts | None:
        """
        Each object's first tag, confidence and box.

        The box (``[x, y, w, h]`` in pixels) is geometry, not personal content: a
        reviewer sees what the model pointed at, drawn over the picture.
        """
        values = wire_values(result, "objectsResult")
        if values is None:
            return None
        objects = []
        for o in values:
            if not o.get("tags"):
                continue
            found = {
                "name": o["tags"][0]["name"],
                "confidence": _confidence(o["tags"][0]["confidence"]),
            }
            box = _box(o.get("boundingBox"))
            if box is not None:
                found["box"] = box
            objects.append(found)
        return {"count": len(values), "objects": objects}

    def span_attributes(self, facts: Facts) -> dict[str, Any]:
        """Count and names."""
        return {
            attrs.OBJECTS_COUNT: facts["count"],
            attrs.OBJECTS_NAMES: [o["name"] for o in facts["objects"]],
        }


class PeopleExtractor(Extractor):
    """People detected, counted above a confidence threshold."""

    feature = "people"

    def facts(self, result: Result, *, people_threshold: float) -> Facts | None:
        """People at or above the threshold (with their boxes), and every detection."""
        values = wire_values(result, "peopleResult")
        if values is None:
            return None
        confidences = [p["confidence"] for p in values]
        boxes = [
            {"box": box, "confidence": _confidence(p["confidence"])}
            for p in values
            if p["confidence"] >= people_threshold
            and (box := _box(p.get("boundingBox"))) is not None
        ]
        return {
            "count": sum(1 for c in confidences if c >= people_threshold),
            "detections": len(confidences),
            "threshold": people_threshold,
            "boxes": boxes,
        }

    def span_attributes(self, facts: Facts) -> dict[str, Any]:
        """Count above threshold and all detections."""
        return {
            attrs.PEOPLE_COUNT: facts["count"],
            attrs.PEOPLE_DETECTIONS: facts["detections"],
        }


class ReadExtractor(Extractor):
    """Whether text was read, and how much; the text itself is content."""

    feature = "read"

    def facts(self, result: Result, *, people_threshold: float) -> Facts | None:
        """Lines and words read."""
        lines = wire_lines(result)
        if lines is None:
            return None
        words = sum(len(line.get("words", ())) for line in lines)
        return {"text_found": bool(lines), "lines": len(lines), "words": words}

    def span_attributes(self, facts: Facts) -> dict[str, Any]:
        """Whether text was found, and how many lines."""
        return {attrs.TEXT_READ: facts["text_found"], attrs.READ_LINES: facts["lines"]}

    def content(self, result: Result) -> dict[str, Any]:
        """The lines read."""
        lines = wire_lines(result)
        return {} if lines is None else {"read_text": [line["text"] for line in lines]}


class CaptionExtractor(Extractor):
    """Whether a caption came back, with its confidence; its text is content."""

    feature = "caption"

    def facts(self, result: Result, *, people_threshold: float) -> Facts | None:
        """Presence and confidence."""
        caption = result.get("captionResult")
        if not isinstance(caption, Mapping):
            return None
        return {"present": True, "confidence": _confidence(caption["confidence"])}

    def span_attributes(self, facts: Facts) -> dict[str, Any]:
        """Presence and confidence."""
        return {
            attrs.CAPTION_PRESENT: facts["present"],
            attrs.CAPTION_CONFIDENCE: facts["confidence"],
        }

    def content(self, result: Result) -> dict[str, Any]:
        """The caption text."""
        caption = result.get("captionResult")
        return {"caption": caption["text"]} if isinstance(caption, Mapping) else {}


class DenseCaptionsExtractor(Extractor):
    """How many region captions; their text is content."""

    feature = "denseCaptions"

    def facts(self, result: Result, *, people_threshold: float) -> Facts | None:
        """The number of region captions."""
        values = wire_values(result, "denseCaptionsResult")
        return None if values is None else {"count": len(values)}

    def span_attributes(self, facts: Facts) -> dict[str, Any]:
        """The count."""
        return {attrs.DENSE_CAPTIONS_COUNT: facts["count"]}

    def content(self, result: Result) -> dict[str, Any]:
        """Each region caption's text."""
        values = wire_values(result, "denseCaptionsResult")
        return {} if values is None else {"dense_captions": [d["text"] for d in values]}


class SmartCropsExtractor(Extractor):
    """The crops' aspect ratios."""

    feature = "smartCrops"

    def facts(self, result: Result, *, people_threshold: float) -> Facts | None:
        """Count and aspect ratios."""
        values = wire_values(result, "smartCropsResult")
        if values is None:
            return None
        ratios = [c["aspectRatio"] for c in values]
        return {"count": len(ratios), "aspect_ratios": ratios}

    def span_attributes(self, facts: Facts) -> dict[str, Any]:
        """The count."""
        return {attrs.SMART_CROPS_COUNT: facts["count"]}


EXTRACTORS: Final[dict[str, Extractor]] = {
    extractor.feature: extractor
    for extractor in (
        TagsExtractor(),
        CaptionExtractor(),
        DenseCaptionsExtractor(),
        ObjectsExtractor(),
        ReadExtractor(),
        SmartCropsExtractor(),
        PeopleExtractor(),
    )
}
"""The extractor of each visual feature, by the service's feature name."""
