"""
Synthesizes the ``ImageAnalysisResult`` body of one successful analyze request.

Results are deterministic: every random draw is seeded from the image's SHA-256
and a label, so the same image gets the same tags, boxes and confidences whatever
features are asked for, and the same request always gets the same body. The
image is shown one of the scenes of :mod:`._vocabulary`, chosen by its hash and
nudged by its mean colour, unless a :class:`~._scripts.Script` dictates what it
shows.

Tag and object names stay English whatever ``language`` asks for; the server
rejects ``caption`` and ``denseCaptions`` for other languages, as the service does.
"""

from __future__ import annotations

import random
import re
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from vision_audit.emulator import _vocabulary as vocab

if TYPE_CHECKING:
    from collections.abc import Callable

    from vision_audit.emulator._scripts import Script

FEATURE_ORDER = (
    "tags",
    "caption",
    "denseCaptions",
    "objects",
    "read",
    "smartCrops",
    "people",
)
"""The visual features, by their wire names."""

MODEL_VERSION = "2023-10-01"
"""What ``modelVersion`` says when the request asks for ``latest``."""

Box = tuple[int, int, int, int]

# The first scene that names a thing or a tag gives its box, phrase and confidence.
_KNOWN_THINGS = {t.name: t for s in vocab.SCENES[::-1] for t in s.things[::-1]}
_KNOWN_TAGS = {name: c for s in vocab.SCENES[::-1] for name, c in s.tags[::-1]}
_GENDERED = re.compile(
    r"(?<![\w-])(" + "|".join(vocab.GENDER_NEUTRAL) + r")(?![\w-])", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class AnalysisOptions:
    """
    The validated query of an analyze request.

    .. versionadded:: 0.1.0
    """

    features: frozenset[str]
    language: str = "en"
    gender_neutral_caption: bool = False
    smartcrops_aspect_ratios: tuple[float, ...] = ()
    model_version: str = "latest"


@dataclass(frozen=True, slots=True)
class ImageFacts:
    """
    What the emulator knows of a decoded image.

    .. versionadded:: 0.1.0
    """

    sha256: str
    width: int
    height: int
    format: str
    mean_rgb: tuple[float, float, float]


class _Object(NamedTuple):
    """A detected object, with the phrase its dense caption uses."""

    name: str
    confidence: float
    box: Box
    phrase: str


@dataclass(slots=True)
class _Content:
    """What the image shows, before it is cut into the requested features."""

    caption: str
    caption_confidence: float
    tags: list[tuple[str, float]]
    objects: list[_Object]
    people: list[tuple[float, Box]]
    text: tuple[str, ...]
    text_box: Box
    dense: tuple[str, ...] | None = None
    spurious_people: bool = True


_MAX_GENERATED_CONFIDENCE = 0.9999


def _rng(facts: ImageFacts, label: str) -> random.Random:
    # A string seed is hashed with SHA-512 by random, the same on every run.
    return random.Random(f"{facts.sha256}/{label}")  # noqa: S311 - not for security


def _f32(value: float) -> float:
    """Clamp and round to float32, as the service's confidences are."""
    # The model is never certain: generated confidences stay below 1.
    clamped = min(max(value, 0.0), _MAX_GENERATED_CONFIDENCE)
    return float(struct.unpack("<f", struct.pack("<f", clamped))[0])


def _clamp(box: Box, facts: ImageFacts) -> Box:
    x = min(max(box[0], 0), facts.width - 1)
    y = min(max(box[1], 0), facts.height - 1)
    w = min(max(box[2], 1), facts.width - x)
    return (x, y, w, min(max(box[3], 1), facts.height - y))


def _place(
    rel: vocab.RelativeBox, facts: ImageFacts, rng: random.Random, jitter: float = 0.015
) -> Box:
    fx, fy, fw, fh = (v + rng.uniform(-jitter, jitter) for v in rel)
    width, height = facts.width, facts.height
    box = (int(fx * width), int(fy * height), round(fw * width), round(fh * height))
    return _clamp(box, facts)


def _person_box(facts: ImageFacts, rng: random.Random) -> Box:
    w, h = rng.uniform(0.12, 0.3), rng.uniform(0.45, 0.85)
    return _place((rng.uniform(0, 1 - w), rng.uniform(0, 1 - h), w, h), facts, rng, 0)


def _thing_box(name: str, facts: ImageFacts, rng: random.Random) -> Box:
    if name in _KNOWN_THINGS:
        return _place(_KNOWN_THINGS[name].box, facts, rng)
    w, h = rng.uniform(0.15, 0.4), rng.uniform(0.15, 0.4)
    return _place((rng.uniform(0, 1 - w), rng.uniform(0, 1 - h), w, h), facts, rng, 0)


def _phrase(name: str) -> str:
    if name in _KNOWN_THINGS:
        return _KNOWN_THINGS[name].phrase
    article = "an" if name[:1].lower() in "aeiou" else "a"
    return f"a close-up of {article} {name}"


def _mentions(text: str, name: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text) is not None


def _neutral(text: str) -> str:
    """Replace gendered nouns with neutral ones, keeping their capitalization."""

    def replace(match: re.Match[str]) -> str:
        word = match.group(0)
        neutral = vocab.GENDER_NEUTRAL[word.lower()]
        if word.isupper() and len(word) > 1:
            return neutral.upper()
        return neutral.capitalize() if word[0].isupper() else neutral

    return _GENDERED.sub(replace, text)


def _choose_scene(facts: ImageFacts, script: Script | None) -> vocab.Scene:
    red, green, blue = facts.mean_rgb
    brightness = (red + green + blue) / 3
    spread = max(facts.mean_rgb) - min(facts.mean_rgb)
    # Bright or blue images look like daylight; a bright, grey image like paper.
    outdoor = blue - (red + green) / 2 > 10 or (brightness > 150 and spread > 25)  # noqa: PLR2004
    weights = {
        "indoor": 2.0 if brightness < 110 else 1.0,  # noqa: PLR2004
        "outdoor": 3.0 if outdoor else 1.0,
        "paper": 8.0 if brightness > 200 and spread < 20 else 0.5,  # noqa: PLR2004
    }
    scenes = list(vocab.SCENES)
    if script is not None and script.people is not None:
        wanted = bool(script.people)
        scenes = [
            s for s in scenes if any(t.name == "person" for t in s.things) == wanted
        ]
    if script is not None and script.text == ():
        scenes = [s for s in scenes if s.setting != "paper"]
    chosen = _rng(facts, "scene").choices(scenes, [weights[s.setting] for s in scenes])
    return chosen[0]


def _scene_content(
    facts: ImageFacts, scene: vocab.Scene, rng: random.Random
) -> _Content:
    objects: list[_Object] = []
    people: list[tuple[float, Box]] = []
    for thing in scene.things:
        confidence = round(_f32(thing.confidence + rng.uniform(-0.03, 0.03)), 3)
        box = _place(thing.box, facts, rng)
        objects.append(_Object(thing.name, confidence, box, thing.phrase))
        if thing.name == "person":
            confidence = min(
                max(thing.confidence + 0.08 + rng.uniform(-0.03, 0.03), 0.8), 0.97
            )
            people.append((_f32(confidence), _place(thing.box, facts, rng)))
    return _Content(
        caption=scene.caption,
        caption_confidence=_f32(scene.caption_confidence + rng.uniform(-0.04, 0.04)),
        tags=[
            (name, _f32(conf + rng.uniform(-0.02, 0.02))) for name, conf in scene.tags
        ],
        objects=objects,
        people=people,
        text=scene.text,
        text_box=_place(scene.text_box, facts, rng, 0),
    )


def _confidence(
    given: float | None, rng: random.Random, low: float, high: float
) -> float:
    return _f32(rng.uniform(low, high)) if given is None else given


def _scripted_things(
    facts: ImageFacts, script: Script, said: str, rng: random.Random
) -> tuple[list[_Object], list[tuple[float, Box]]]:
    """Find the objects and people a script gives, or its tags and captions name."""
    if script.objects is not None:
        objects = [
            _Object(
                o.name,
                round(rng.uniform(0.6, 0.9), 3)
                if o.confidence is None
                else o.confidence,
                _thing_box(o.name, facts, rng)
                if o.box is None
                else _clamp(o.box, facts),
                _phrase(o.name),
            )
            for o in script.objects
        ]
        people = [
            (_f32(min(o.confidence + 0.08, 0.97)), o.box)
            for o in objects
            if o.name == "person"
        ]
        return objects, people
    tags = dict(script.tags or ())
    objects = [
        _Object(
            name,
            round(max(min(tags.get(name, thing.confidence), 0.95) - 0.05, 0), 3),
            _thing_box(name, facts, rng),
            thing.phrase,
        )
        for name, thing in _KNOWN_THINGS.items()
        if name != "person" and (name in tags or _mentions(said, name))
    ]
    if vocab.PERSON_WORDS.intersection([*tags, *re.findall(r"\w+", said)]):
        box = _person_box(facts, rng)
        person = _Object("person", round(rng.uniform(0.7, 0.89), 3), box, "a person")
        return [person, *objects], [(_f32(person.confidence + 0.08), box)]
    return objects, []


def _scripted_content(
    facts: ImageFacts, script: Script, rng: random.Random
) -> _Content:
    """Fill in what a script leaves out from what it says, not from a scene."""
    caption, confidence = script.caption or (None, None)
    if caption is None and script.dense_captions:
        caption = script.dense_captions[0]
    said = " ".join([caption or "", *(script.dense_captions or ())]).lower()
    objects, people = _scripted_things(facts, script, said, rng)
    if script.tags is not None:
        tags = list(script.tags)
    else:
        found = {
            name: _f32(conf)
            for name, conf in _KNOWN_TAGS.items()
            if _mentions(said, name)
        }
        for o in objects:
            found[o.name] = max(found.get(o.name, 0.0), _f32(o.confidence + 0.05))
        tags = list(found.items())
    if caption is None:
        names = [n for n, _ in sorted(tags, key=lambda t: -t[1])]
        names = names or [o.name for o in objects]
        caption = (
            "a picture containing " + ", ".join(names[:3]) if names else "an image"
        )
    return _Content(
        caption=caption,
        caption_confidence=_confidence(confidence, rng, 0.55, 0.9),
        tags=tags,
        objects=objects,
        people=people,
        text=rng.choice(vocab.FALLBACK_TEXT),
        text_box=_place(vocab.FALLBACK_TEXT_BOX, facts, rng, 0),
        dense=script.dense_captions,
    )


def _apply_people_and_text(
    content: _Content, facts: ImageFacts, script: Script, rng: random.Random
) -> None:
    """Put in the people and text a script gives, whatever the rest came from."""
    if script.people is not None:
        persons = [o for o in content.objects if o.name == "person"]
        content.people = []
        for i, person in enumerate(script.people):
            box = persons[i].box if i < len(persons) else _person_box(facts, rng)
            box = box if person.box is None else _clamp(person.box, facts)
            content.people.append((_confidence(person.confidence, rng, 0.8, 0.97), box))
        content.spurious_people = False
        if script.objects is None:  # keep the person objects in step with the people
            phrases = [o.phrase for o in persons] + ["a person"] * len(content.people)
            content.objects = [
                _Object("person", round(_f32(c - 0.08), 3), b, phrases[i])
                for i, (c, b) in enumerate(content.people)
            ] + [o for o in content.objects if o.name != "person"]
    if script.text is not None:
        content.text = script.text
        content.text_box = _place(vocab.SCRIPTED_TEXT_BOX, facts, rng, 0)


def _content(facts: ImageFacts, script: Script | None) -> _Content:
    rng = _rng(facts, "content")
    if script is None:
        return _scene_content(facts, _choose_scene(facts, script), rng)
    fields = (script.caption, script.tags, script.objects, script.dense_captions)
    if any(field is not None for field in fields):
        content = _scripted_content(facts, script, rng)
    else:
        content = _scene_content(facts, _choose_scene(facts, script), rng)
    _apply_people_and_text(content, facts, script, rng)
    return content


def _box(box: Box) -> dict[str, int]:
    return {"x": box[0], "y": box[1], "w": box[2], "h": box[3]}


def _quad(x0: int, y0: int, x1: int, y1: int) -> list[dict[str, int]]:
    """Four corners, clockwise from the top left."""
    return [
        {"x": x0, "y": y0},
        {"x": x1, "y": y0},
        {"x": x1, "y": y1},
        {"x": x0, "y": y1},
    ]


def _dense_values(
    content: _Content, facts: ImageFacts, neutral: Callable[[str], str]
) -> list[dict[str, object]]:
    rng = _rng(facts, "denseCaptions")
    regions = [(o.phrase, o.box) for o in content.objects]
    if content.text:
        regions.append(("a close up of text", content.text_box))
    texts = content.dense or (content.caption, *(phrase for phrase, _ in regions))
    values: list[dict[str, object]] = []
    for i, text in enumerate(texts[:10]):
        if i == 0:
            box = (0, 0, facts.width, facts.height)
            confidence = _f32(content.caption_confidence + rng.uniform(-0.005, 0.005))
        else:
            box = regions[i - 1][1] if i <= len(regions) else _thing_box("", facts, rng)
            confidence = _f32(rng.uniform(0.6, 0.9))
        values.append(
            {"text": neutral(text), "confidence": confidence, "boundingBox": _box(box)}
        )
    return values


def _read_result(content: _Content, facts: ImageFacts) -> dict[str, object]:
    """
    Lay the text lines out top to bottom in the text box, one character per cell.

    A script that says ``"text": []`` gets ``{"blocks": []}``: the service sends
    that for an image without text, although the spec asks for one block.
    """
    if not content.text:
        return {"blocks": []}
    rng = _rng(facts, "read")
    left, top, width, height = content.text_box
    slot = height / len(content.text)
    cell = min(width / max(len(line) for line in content.text), slot * 0.55)
    glyph = min(cell * 1.8, slot)
    max_x, max_y = facts.width - 1, facts.height - 1

    def at_x(chars: int) -> int:
        return min(int(left + chars * cell), max_x)

    lines = []
    for i, line in enumerate(content.text):
        y0 = min(int(top + i * min(slot, glyph * 1.5)), max_y)
        y1 = min(max(int(y0 + glyph), y0), max_y)
        words = [
            {
                "text": word.group(0),
                "boundingPolygon": _quad(at_x(word.start()), y0, at_x(word.end()), y1),
                "confidence": round(rng.uniform(0.85, 0.999), 3),
            }
            for word in re.finditer(r"[^ ]+", line)
        ]
        polygon = _quad(at_x(0), y0, at_x(len(line)), y1)
        lines.append({"text": line, "boundingPolygon": polygon, "words": words})
    return {"blocks": [{"lines": lines}]}


def _crop_values(
    content: _Content, facts: ImageFacts, options: AnalysisOptions
) -> list[dict[str, object]]:
    width, height = facts.width, facts.height
    default = round(min(max(width / height, 0.5), 2.0), 2)
    subjects = [box for _, box in content.people] + [o.box for o in content.objects]
    left, top, w, h = subjects[0] if subjects else (0, 0, width, height)
    center_x, center_y = left + w / 2, top + h / 2
    values: list[dict[str, object]] = []
    for ratio in options.smartcrops_aspect_ratios or (default,):
        # Slightly short of the largest crop, as the service's crops are.
        scale = _rng(facts, f"smartCrops/{ratio!r}").uniform(0.975, 1.0)
        if width / height >= ratio:
            h = max(round(height * scale), 1)
            w = min(max(round(h * ratio), 1), width)
        else:
            w = max(round(width * scale), 1)
            h = min(max(round(w / ratio), 1), height)
        x = min(max(round(center_x - w / 2), 0), width - w)
        y = min(max(round(center_y - h / 2), 0), height - h)
        values.append({"aspectRatio": ratio, "boundingBox": _box((x, y, w, h))})
    return values


def _people_values(content: _Content, facts: ImageFacts) -> list[dict[str, object]]:
    found = list(content.people)
    if content.spurious_people:  # the service reports a few near-zero detections
        rng = _rng(facts, "people")
        for _ in range(rng.choice((0, 1, 1, 2))):
            box = _thing_box("", facts, rng)
            found.append((_f32(rng.uniform(0.001, 0.049)), box))
    return [{"boundingBox": _box(box), "confidence": conf} for conf, box in found]


def generate_result(
    facts: ImageFacts, options: AnalysisOptions, script: Script | None = None
) -> dict[str, object]:
    """
    Build the ``ImageAnalysisResult`` body, keys in the service's order.

    Args:
        facts: The decoded image.
        options: The validated query.
        script: What to say about this image, if a script dictates it. Scripted
            fields replace generated ones; the fields a script leaves out are
            derived from those it gives, so that the result stays coherent.

    Returns:
        A dict ready for ``json.dumps``.

    .. versionadded:: 0.1.0
    """
    content = _content(facts, script)
    features = options.features
    neutral: Callable[[str], str] = _neutral if options.gender_neutral_caption else str
    latest = options.model_version == "latest"
    result: dict[str, object] = {
        "modelVersion": MODEL_VERSION if latest else options.model_version
    }
    if "caption" in features:
        result["captionResult"] = {
            "text": neutral(content.caption),
            "confidence": content.caption_confidence,
        }
    if "denseCaptions" in features:
        result["denseCaptionsResult"] = {
            "values": _dense_values(content, facts, neutral)
        }
    result["metadata"] = {"width": facts.width, "height": facts.height}
    if "tags" in features:
        tags = sorted(content.tags, key=lambda tag: -tag[1])
        result["tagsResult"] = {
            "values": [{"name": n, "confidence": c} for n, c in tags]
        }
    if "objects" in features:
        result["objectsResult"] = {
            "values": [
                {"boundingBox": _box(box), "tags": [{"name": name, "confidence": conf}]}
                for name, conf, box, _ in content.objects
            ]
        }
    if "read" in features:
        result["readResult"] = _read_result(content, facts)
    if "smartCrops" in features:
        result["smartCropsResult"] = {"values": _crop_values(content, facts, options)}
    if "people" in features:
        result["peopleResult"] = {"values": _people_values(content, facts)}
    return result
