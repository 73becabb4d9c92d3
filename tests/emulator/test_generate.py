"""Results the emulator synthesizes: schema, determinism, geometry and scripts."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator
from vision_audit.emulator import _vocabulary as vocab
from vision_audit.emulator._generate import (
    FEATURE_ORDER,
    MODEL_VERSION,
    AnalysisOptions,
    ImageFacts,
    generate_result,
)
from vision_audit.emulator._scripts import parse_script

SPEC_DIR = Path(__file__).parents[1] / "resources" / "image-analysis-2023-10-01"
DEFINITIONS = json.loads((SPEC_DIR / "definitions.json").read_text())["definitions"]
VALIDATOR = Draft4Validator(
    {"$ref": "#/definitions/ImageAnalysisResult", "definitions": DEFINITIONS}
)
ALL = frozenset(FEATURE_ORDER)
TOP_ORDER = [
    "modelVersion",
    "captionResult",
    "denseCaptionsResult",
    "metadata",
    "tagsResult",
    "objectsResult",
    "readResult",
    "smartCropsResult",
    "peopleResult",
]
OUTDOOR = {s.caption for s in vocab.SCENES if s.setting == "outdoor"}


def facts_for(
    seed: object = 0,
    width: int = 864,
    height: int = 576,
    mean_rgb: tuple[float, float, float] = (120.0, 110.0, 100.0),
) -> ImageFacts:
    """Facts of an imaginary image whose digest derives from *seed*."""
    digest = hashlib.sha256(repr(seed).encode()).hexdigest()
    return ImageFacts(digest, width, height, "JPEG", mean_rgb)


def analyze(
    facts: ImageFacts | None = None,
    script: dict[str, object] | None = None,
    **options: object,
) -> dict[str, object]:
    """Generate a result, all features unless *options* say otherwise."""
    options.setdefault("features", ALL)
    parsed = None if script is None else parse_script(script, source="test")
    return generate_result(facts or facts_for(), AnalysisOptions(**options), parsed)


def boxes_and_points(result: dict[str, object]) -> tuple[list[dict], list[dict]]:
    """Collect every bounding box and every polygon point of *result*."""
    boxes: list[dict] = []
    points: list[dict] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "boundingBox" in node:
                boxes.append(node["boundingBox"])
            if "boundingPolygon" in node:
                points.extend(node["boundingPolygon"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(result)
    return boxes, points


def is_float32(value: float) -> bool:
    """Whether *value* survives a float32 round trip unchanged."""
    return value == struct.unpack("<f", struct.pack("<f", value))[0]


sizes = st.integers(min_value=50, max_value=16000)
image_facts = st.builds(
    ImageFacts,
    sha256=st.binary(min_size=32, max_size=32).map(bytes.hex),
    width=sizes,
    height=sizes,
    format=st.just("PNG"),
    mean_rgb=st.tuples(*[st.floats(0, 255)] * 3),
)
analysis_options = st.builds(
    AnalysisOptions,
    features=st.frozensets(st.sampled_from(FEATURE_ORDER), min_size=1),
    gender_neutral_caption=st.booleans(),
    smartcrops_aspect_ratios=st.lists(st.floats(0.75, 1.8), max_size=4).map(tuple),
)
names = st.text(min_size=1, max_size=40).filter(lambda s: s.strip(" "))
confidences = st.floats(0, 1)
boxes = st.lists(st.integers(0, 20000), min_size=4, max_size=4)
script_data = st.fixed_dictionaries(
    {},
    optional={
        "caption": st.one_of(
            names, st.fixed_dictionaries({"text": names, "confidence": confidences})
        ),
        "tags": st.dictionaries(names, confidences, max_size=8),
        "objects": st.lists(
            st.fixed_dictionaries(
                {"name": names}, optional={"confidence": confidences, "box": boxes}
            ),
            max_size=5,
        ),
        "people": st.one_of(
            st.integers(0, 5),
            st.lists(
                st.fixed_dictionaries(
                    {}, optional={"confidence": confidences, "box": boxes}
                ),
                max_size=4,
            ),
        ),
        "text": st.lists(names, max_size=6),
        "denseCaptions": st.lists(names, min_size=1, max_size=10),
    },
)


class TestSchemaValidity:
    """Every result validates against the 2023-10-01 wire schema."""

    @settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
    @given(facts=image_facts, options=analysis_options)
    def test_generated(self, facts: ImageFacts, options: AnalysisOptions) -> None:
        """Any features, image size, ratios and gender flag give a valid result."""
        result = generate_result(facts, options)

        assert [] == [error.message for error in VALIDATOR.iter_errors(result)]

    @settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
    @given(facts=image_facts, options=analysis_options, data=script_data)
    def test_scripted(
        self, facts: ImageFacts, options: AnalysisOptions, data: dict[str, object]
    ) -> None:
        """
        Random scripts give valid results.

        The only exception is ``"text": []``, which answers ``{"blocks": []}``
        as the service does, although the schema asks for one block.
        """
        result = generate_result(facts, options, parse_script(data, source="test"))

        if data.get("text") == [] and "readResult" in result:
            assert {"blocks": []} == result.pop("readResult")
        assert [] == [error.message for error in VALIDATOR.iter_errors(result)]
        json.dumps(result, ensure_ascii=False).encode()

    @settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
    @given(facts=image_facts, options=analysis_options, data=script_data)
    def test_inside_image(
        self, facts: ImageFacts, options: AnalysisOptions, data: dict[str, object]
    ) -> None:
        """Every box and polygon point lies inside the image; boxes are not empty."""
        script = parse_script(data, source="test")
        boxes, points = boxes_and_points(generate_result(facts, options, script))

        assert [] == [
            box
            for box in boxes
            if not (box["w"] >= 1 and box["h"] >= 1)
            or box["x"] + box["w"] > facts.width
            or box["y"] + box["h"] > facts.height
        ]
        assert [] == [
            point
            for point in points
            if not (0 <= point["x"] < facts.width and 0 <= point["y"] < facts.height)
        ]

    @pytest.mark.parametrize(
        ("width", "height"), [(50, 50), (50, 16000), (16000, 50), (16000, 16000)]
    )
    def test_extreme_sizes(self, width: int, height: int) -> None:
        """The smallest, largest and most elongated images give valid results."""
        result = analyze(facts_for(width=width, height=height))

        assert [] == [error.message for error in VALIDATOR.iter_errors(result)]


class TestGenerateResult:
    """Shape, order and determinism of the result body."""

    def test_deterministic(self) -> None:
        """The same image, options and script always give the same body."""
        script = {"people": 2, "text": ["A B"]}

        first = json.dumps(analyze(script=script, gender_neutral_caption=True))
        second = json.dumps(analyze(script=script, gender_neutral_caption=True))

        assert first == second

    def test_same_image_same_content_whatever_features(self) -> None:
        """Tags do not change when other features are requested too."""
        alone = analyze(features=frozenset({"tags"}))

        assert alone["tagsResult"] == analyze()["tagsResult"]

    def test_different_images_differ(self) -> None:
        """Other image bytes give another result."""
        assert analyze(facts_for(1)) != analyze(facts_for(2))

    def test_top_level_order(self) -> None:
        """Keys come in the service's order, whatever order the features came in."""
        assert TOP_ORDER == list(analyze())

    def test_only_requested_features(self) -> None:
        """Only the requested results appear; model version and metadata always."""
        result = analyze(features=frozenset({"people", "tags"}))

        assert ["modelVersion", "metadata", "tagsResult", "peopleResult"] == list(
            result
        )

    def test_nested_key_order(self) -> None:
        """Nested objects use the key order of the service's responses."""
        result = analyze(script={"text": ["Total 12.00"], "people": 1})
        line = result["readResult"]["blocks"][0]["lines"][0]

        assert ["text", "confidence"] == list(result["captionResult"])
        assert ["text", "confidence", "boundingBox"] == list(
            result["denseCaptionsResult"]["values"][0]
        )
        assert ["width", "height"] == list(result["metadata"])
        assert ["name", "confidence"] == list(result["tagsResult"]["values"][0])
        assert ["boundingBox", "tags"] == list(result["objectsResult"]["values"][0])
        assert ["x", "y", "w", "h"] == list(
            result["objectsResult"]["values"][0]["boundingBox"]
        )
        assert ["text", "boundingPolygon", "words"] == list(line)
        assert ["text", "boundingPolygon", "confidence"] == list(line["words"][0])
        assert ["aspectRatio", "boundingBox"] == list(
            result["smartCropsResult"]["values"][0]
        )
        assert ["boundingBox", "confidence"] == list(
            result["peopleResult"]["values"][0]
        )

    @pytest.mark.parametrize(
        ("requested", "expected"),
        [("latest", MODEL_VERSION), ("2023-02-01-preview", "2023-02-01-preview")],
    )
    def test_model_version(self, requested: str, expected: str) -> None:
        """``latest`` names the current model; other versions are echoed."""
        assert expected == analyze(model_version=requested)["modelVersion"]

    def test_metadata(self) -> None:
        """Metadata gives the image size."""
        result = analyze(facts_for(width=1234, height=567))

        assert {"width": 1234, "height": 567} == result["metadata"]

    @pytest.mark.parametrize("seed", range(20))
    def test_value_styles(self, seed: int) -> None:
        """
        Confidences look like the service's.

        Tag, caption and person confidences are float32 values, object tags
        have three decimals, tags come in descending order, 5 to 15 of them.
        """
        result = analyze(facts_for(seed))
        tags = [t["confidence"] for t in result["tagsResult"]["values"]]
        objects = [
            o["tags"][0]["confidence"] for o in result["objectsResult"]["values"]
        ]
        people = [p["confidence"] for p in result["peopleResult"]["values"]]

        assert sorted(tags, reverse=True) == tags
        assert 5 <= len(tags) <= 15
        assert all(map(is_float32, [*tags, *people]))
        assert is_float32(result["captionResult"]["confidence"])
        assert [round(c, 3) for c in objects] == objects

    def test_scenes_follow_brightness(self) -> None:
        """Blue images are shown outdoor scenes more often than dark ones."""

        def outdoor(mean_rgb: tuple[float, float, float]) -> int:
            captions = [
                analyze(
                    facts_for(seed, mean_rgb=mean_rgb), features=frozenset({"caption"})
                )["captionResult"]["text"]
                for seed in range(100)
            ]
            return sum(caption in OUTDOOR for caption in captions)

        assert outdoor((90, 140, 220)) > outdoor((40, 30, 30))


class TestDenseCaptions:
    """The whole image first, then regions."""

    @pytest.mark.parametrize("seed", range(10))
    def test_whole_image_first(self, seed: int) -> None:
        """The first dense caption covers the image and repeats the caption."""
        facts = facts_for(seed, width=640, height=480)
        result = analyze(facts)
        first = result["denseCaptionsResult"]["values"][0]

        assert result["captionResult"]["text"] == first["text"]
        assert {"x": 0, "y": 0, "w": 640, "h": 480} == first["boundingBox"]
        assert 1 <= len(result["denseCaptionsResult"]["values"]) <= 10

    def test_scripted(self) -> None:
        """Scripted dense captions are used in order; the first names the caption."""
        texts = ["a person in a wheelchair", "a close-up of a wheel"]
        result = analyze(script={"denseCaptions": texts})

        assert texts == [v["text"] for v in result["denseCaptionsResult"]["values"]]
        assert texts[0] == result["captionResult"]["text"]


class TestGenderNeutralCaption:
    """``gender-neutral-caption`` replaces gendered nouns in captions."""

    @pytest.mark.parametrize(
        ("caption", "expected"),
        [
            ("a man and a woman", "a person and a person"),
            ("Two Women with GIRLS and a boy", "Two People with CHILDREN and a child"),
            ("the lady's bag", "the person's bag"),
            ("a human manager near a manhole", "a human manager near a manhole"),
        ],
    )
    def test_scripted_caption(self, caption: str, expected: str) -> None:
        """Whole words are replaced, keeping their capitalization."""
        result = analyze(script={"caption": caption}, gender_neutral_caption=True)

        assert expected == result["captionResult"]["text"]
        assert expected == result["denseCaptionsResult"]["values"][0]["text"]

    def test_generated_captions(self) -> None:
        """Scene captions and region captions lose their gendered words too."""
        for seed in range(30):
            result = analyze(facts_for(seed), gender_neutral_caption=True)
            texts = [result["captionResult"]["text"]] + [
                v["text"] for v in result["denseCaptionsResult"]["values"]
            ]
            words = set(" ".join(texts).lower().split())

            assert set() == words & set(vocab.GENDER_NEUTRAL)

    def test_off_by_default(self) -> None:
        """Without the flag, captions are left as they are."""
        result = analyze(script={"caption": "a woman"})

        assert "a woman" == result["captionResult"]["text"]


class TestRead:
    """Text lines and words, laid out inside the image."""

    def test_only_when_requested(self) -> None:
        """No ``readResult`` unless ``read`` is requested."""
        assert "readResult" not in analyze(features=ALL - {"read"})

    def test_no_text(self) -> None:
        """A script with ``"text": []`` gets no blocks, like the service."""
        assert {"blocks": []} == analyze(script={"text": []})["readResult"]

    def test_scene_without_script_has_text(self) -> None:
        """Unscripted images always carry one block with at least one line."""
        for seed in range(20):
            blocks = analyze(facts_for(seed))["readResult"]["blocks"]

            assert 1 == len(blocks)
            assert blocks[0]["lines"]

    def test_scripted_lines(self) -> None:
        """
        Lines come in order, top to bottom, their words split at spaces.

        Each word's polygon lies inside its line's polygon.
        """
        lines_in = ["INVOICE 4821", "Total  12.00", "<b>&amp;</b>"]
        lines = analyze(script={"text": lines_in})["readResult"]["blocks"][0]["lines"]

        assert lines_in == [line["text"] for line in lines]
        assert [["INVOICE", "4821"], ["Total", "12.00"], ["<b>&amp;</b>"]] == [
            [w["text"] for w in line["words"]] for line in lines
        ]
        tops = [line["boundingPolygon"][0]["y"] for line in lines]
        assert sorted(tops) == tops
        for line in lines:
            xs = [p["x"] for p in line["boundingPolygon"]]
            ys = [p["y"] for p in line["boundingPolygon"]]
            for word in line["words"]:
                assert all(
                    min(xs) <= p["x"] <= max(xs) and min(ys) <= p["y"] <= max(ys)
                    for p in word["boundingPolygon"]
                )
                assert round(word["confidence"], 3) == word["confidence"]


class TestSmartCrops:
    """One crop per requested ratio, near the largest crop of that ratio."""

    @settings(max_examples=100)
    @given(
        width=st.integers(100, 16000),
        height=st.integers(100, 16000),
        ratios=st.lists(st.floats(0.75, 1.8), min_size=1, max_size=5),
    )
    def test_ratios(self, width: int, height: int, ratios: list[float]) -> None:
        """Ratios are echoed in order and each box's w/h is within 2% of it."""
        facts = facts_for(width=width, height=height)
        crops = analyze(facts, smartcrops_aspect_ratios=tuple(ratios))[
            "smartCropsResult"
        ]["values"]

        assert ratios == [crop["aspectRatio"] for crop in crops]
        for crop in crops:
            box = crop["boundingBox"]
            assert abs(box["w"] / box["h"] / crop["aspectRatio"] - 1) <= 0.02
            assert max(box["w"] / width, box["h"] / height) >= 0.97

    @pytest.mark.parametrize(
        ("width", "height", "ratio"),
        [(864, 576, 1.5), (50, 16000, 0.5), (16000, 50, 2.0), (500, 500, 1.0)],
    )
    def test_default_ratio(self, width: int, height: int, ratio: float) -> None:
        """Without ratios, one crop comes with the image's ratio, in 0.5..2."""
        crops = analyze(facts_for(width=width, height=height))["smartCropsResult"]

        assert [ratio] == [crop["aspectRatio"] for crop in crops["values"]]

    def test_centred_on_subject(self) -> None:
        """The crop is centred on the first person when the image allows."""
        result = analyze(
            facts_for(width=2000, height=1000),
            script={"people": [{"box": [700, 100, 100, 800]}]},
            smartcrops_aspect_ratios=(1.0,),
        )
        box = result["smartCropsResult"]["values"][0]["boundingBox"]

        assert abs(box["x"] + box["w"] / 2 - 750) <= 1


class TestPeople:
    """People: the scene's or the script's, with the service's spurious ones."""

    def test_spurious_detections(self) -> None:
        """Unscripted results have only confident people and near-zero ones."""
        found = [
            p["confidence"]
            for seed in range(30)
            for p in analyze(facts_for(seed))["peopleResult"]["values"]
        ]

        assert all(c < 0.05 or 0.8 <= c <= 0.97 for c in found)
        assert any(c < 0.05 for c in found)

    def test_scripted_count(self) -> None:
        """A scripted count gives exactly that many confident people."""
        people = analyze(script={"people": 3})["peopleResult"]["values"]

        assert 3 == len(people)
        assert all(0.8 <= p["confidence"] <= 0.97 for p in people)

    def test_scripted_none(self) -> None:
        """``"people": 0`` gives no people and a scene without persons."""
        result = analyze(script={"people": 0})

        assert [] == result["peopleResult"]["values"]
        assert "person" not in [
            o["tags"][0]["name"] for o in result["objectsResult"]["values"]
        ]

    def test_scripted_boxes_clamped(self) -> None:
        """Scripted boxes are kept, and clamped to the image when they overflow."""
        people = analyze(
            facts_for(width=100, height=100),
            script={"people": [{"confidence": 0.5, "box": [90, 10, 50, 20]}]},
        )["peopleResult"]["values"]

        assert [
            {"boundingBox": {"x": 90, "y": 10, "w": 10, "h": 20}, "confidence": 0.5}
        ] == people


class TestScriptedContent:
    """Scripted fields replace generated ones; missing ones follow from them."""

    def test_tags_exactly(self) -> None:
        """Scripted tags are the tags, sorted by confidence, nothing added."""
        result = analyze(script={"tags": {"wheelchair": 0.91, "person": 0.98}})

        assert [
            {"name": "person", "confidence": 0.98},
            {"name": "wheelchair", "confidence": 0.91},
        ] == result["tagsResult"]["values"]

    def test_caption_from_tags(self) -> None:
        """Without a caption, one is made from the scripted tags."""
        result = analyze(script={"tags": {"person": 0.98, "wheelchair": 0.91}})

        assert (
            "a picture containing person, wheelchair" == result["captionResult"]["text"]
        )
        assert ["person", "wheelchair"] == [
            o["tags"][0]["name"] for o in result["objectsResult"]["values"]
        ]
        assert 1 == len(result["peopleResult"]["values"])

    def test_tags_from_caption(self) -> None:
        """Without tags, the words of a scripted caption give the tags."""
        result = analyze(script={"caption": "a dog on the grass"})

        assert {"dog", "grass"} == {t["name"] for t in result["tagsResult"]["values"]}

    def test_objects(self) -> None:
        """Scripted objects keep their names, confidences and (clamped) boxes."""
        result = analyze(
            facts_for(width=200, height=100),
            script={
                "objects": [
                    {"name": "car", "confidence": 0.5, "box": [150, 50, 100, 100]},
                    {"name": "<script>alert(1)</script>", "confidence": 0.4},
                ]
            },
        )
        objects = result["objectsResult"]["values"]

        assert {"x": 150, "y": 50, "w": 50, "h": 50} == objects[0]["boundingBox"]
        assert [{"name": "car", "confidence": 0.5}] == objects[0]["tags"]
        assert "<script>alert(1)</script>" == objects[1]["tags"][0]["name"]
        assert (
            "a picture containing car, <script>alert(1)</script>"
            == result["captionResult"]["text"]
        )

    def test_hostile_strings_verbatim(self) -> None:
        """Markup, control characters and long strings are kept and serialize."""
        hostile = '</div>"\x00\x1b[31m\u202e' + "x" * 5000
        result = analyze(script={"caption": hostile, "text": [hostile]})

        assert hostile == result["captionResult"]["text"]
        assert hostile == result["readResult"]["blocks"][0]["lines"][0]["text"]
        assert result == json.loads(json.dumps(result, ensure_ascii=False).encode())
