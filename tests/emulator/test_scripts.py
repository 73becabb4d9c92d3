"""Scripts: parsing, error messages, sidecars and scripts embedded in images."""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING

import pytest
from PIL import Image
from vision_audit.emulator._scripts import (
    EMBEDDED_KEY,
    Script,
    ScriptedError,
    ScriptedObject,
    ScriptedPerson,
    ScriptError,
    embed_script,
    load_sidecar,
    parse_script,
    read_embedded_script,
)

if TYPE_CHECKING:
    from pathlib import Path

FULL = {
    "caption": {"text": "a person in a wheelchair", "confidence": 0.91},
    "tags": [
        {"name": "wheelchair", "confidence": 0.91},
        {"name": "person", "confidence": 0.98},
    ],
    "objects": [
        {"name": "person", "confidence": 0.88, "box": [10, 20, 30, 40]},
        {"name": "wheelchair"},
    ],
    "people": [{"confidence": 0.95, "box": [1, 2, 3, 4]}, {}],
    "text": ["INVOICE 4821", "Total 12.00"],
    "denseCaptions": ["a person in a wheelchair", "a close-up of a wheel"],
    "error": {
        "status": 500,
        "code": "InternalServerError",
        "message": "An internal server error occurred.",
        "innererror": {"code": "Timeout", "message": "Image processing timed out"},
    },
    "latencyMs": 250,
}


def encoded(image_format: str, **info: object) -> Image.Image:
    """Encode a small image with metadata *info* and open it again."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, image_format, **info)
    buffer.seek(0)
    return Image.open(buffer)


class TestParseScript:
    """The accepted JSON, turned into a Script."""

    def test_full(self) -> None:
        """Every key in its object form is parsed; tags come sorted."""
        expected = Script(
            caption=("a person in a wheelchair", 0.91),
            tags=(("person", 0.98), ("wheelchair", 0.91)),
            objects=(
                ScriptedObject("person", 0.88, (10, 20, 30, 40)),
                ScriptedObject("wheelchair"),
            ),
            people=(ScriptedPerson(0.95, (1, 2, 3, 4)), ScriptedPerson()),
            text=("INVOICE 4821", "Total 12.00"),
            dense_captions=("a person in a wheelchair", "a close-up of a wheel"),
            error=ScriptedError(
                500,
                "InternalServerError",
                "An internal server error occurred.",
                "Timeout",
                "Image processing timed out",
            ),
            latency_ms=250,
        )

        assert expected == parse_script(FULL, source="photo.json")

    def test_short_forms(self) -> None:
        """A caption string, a tag mapping and a people count are accepted."""
        expected = Script(
            caption=("a dog", None),
            tags=(("dog", 1.0), ("grass", 0.5)),
            people=(ScriptedPerson(), ScriptedPerson()),
        )

        actual = parse_script(
            {"caption": "a dog", "tags": {"grass": 0.5, "dog": 1}, "people": 2},
            source="s",
        )

        assert expected == actual

    def test_empty(self) -> None:
        """An empty script dictates nothing."""
        assert Script() == parse_script({}, source="s")

    def test_no_text(self) -> None:
        """``"text": []`` means the image has no text, unlike a missing key."""
        assert () == parse_script({"text": []}, source="s").text

    def test_error_without_inner(self) -> None:
        """``innererror`` is optional."""
        error = {"status": 429, "code": "429", "message": "Rate limit is exceeded."}

        assert (
            ScriptedError(429, "429", "Rate limit is exceeded.")
            == parse_script({"error": error}, source="s").error
        )

    def test_hostile_strings_verbatim(self) -> None:
        """Markup and control characters are kept as they are."""
        hostile = "<img src=x onerror=alert(1)>\x00\x1b\u202e"

        assert (hostile, None) == parse_script({"caption": hostile}, source="s").caption

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            (
                {"tags": {"wheelchair": "high"}},
                (
                    "photo.json: 'tags.wheelchair' must be a number between 0 and 1,"
                    " got 'high'"
                ),
            ),
            (
                {"colour": "red"},
                (
                    "photo.json: unknown key 'colour'; accepted: caption,"
                    " denseCaptions, error, latencyMs, objects, people, tags, text"
                ),
            ),
            (
                {"objects": [{"name": "car", "colour": "red"}]},
                (
                    "photo.json: unknown key 'objects[0].colour'; accepted: box,"
                    " confidence, name"
                ),
            ),
            (
                {"objects": [{"name": "car", "box": [1, 2, 3]}]},
                (
                    "photo.json: 'objects[0].box' must be four non-negative integers"
                    " [x, y, w, h], got [1, 2, 3]"
                ),
            ),
            (
                {"objects": [{"name": "car", "box": [1, 2, -3, 4]}]},
                (
                    "photo.json: 'objects[0].box' must be an integer between 0 and"
                    " 2147483647, got -3"
                ),
            ),
            (
                {"objects": [{"confidence": 0.5}]},
                "photo.json: 'objects[0].name' must be a non-empty string, got None",
            ),
            (
                {
                    "tags": [
                        {"name": "a", "confidence": 0.1},
                        {"name": "a", "confidence": 0.2},
                    ]
                },
                "photo.json: 'tags[1].name' must be unique, got 'a'",
            ),
            (
                {"tags": {"a": True}},
                "photo.json: 'tags.a' must be a number between 0 and 1, got True",
            ),
            (
                {"tags": {"a": float("nan")}},
                "photo.json: 'tags.a' must be a number between 0 and 1, got nan",
            ),
            (
                {"caption": ""},
                "photo.json: 'caption' must be a non-empty string, got ''",
            ),
            (
                {"caption": {"confidence": 0.5}},
                "photo.json: 'caption.text' must be a non-empty string, got None",
            ),
            (
                {"caption": {"text": "x", "confidence": 1.5}},
                (
                    "photo.json: 'caption.confidence' must be a number between 0 and 1,"
                    " got 1.5"
                ),
            ),
            (
                {"caption": "\ud800"},
                "photo.json: 'caption' must be valid Unicode text, got '\\ud800'",
            ),
            (
                {"people": -1},
                "photo.json: 'people' must be an integer between 0 and 100, got -1",
            ),
            (
                {"people": "two"},
                (
                    "photo.json: 'people' must be a count 0..100 or a JSON array,"
                    " got 'two'"
                ),
            ),
            (
                {"people": [{"confidence": 2}]},
                (
                    "photo.json: 'people[0].confidence' must be a number"
                    " between 0 and 1, got 2"
                ),
            ),
            (
                {"text": ["ok", "   "]},
                (
                    "photo.json: 'text[1]' must be a string with a non-space character,"
                    " got '   '"
                ),
            ),
            (
                {"text": "INVOICE"},
                (
                    "photo.json: 'text' must be an array of 0 to 10000 strings,"
                    " got 'INVOICE'"
                ),
            ),
            (
                {"denseCaptions": []},
                (
                    "photo.json: 'denseCaptions' must be an array of 1 to 10 strings,"
                    " got []"
                ),
            ),
            (
                {"error": {"status": 302, "code": "Found", "message": "moved"}},
                (
                    "photo.json: 'error.status' must be an integer between 400 and 599,"
                    " got 302"
                ),
            ),
            (
                {"error": {"status": 500, "message": "boom"}},
                "photo.json: 'error.code' must be a non-empty string, got None",
            ),
            (
                {
                    "error": {
                        "status": 500,
                        "code": "x",
                        "message": "y",
                        "innererror": 1,
                    }
                },
                "photo.json: 'error.innererror' must be a JSON object, got 1",
            ),
            (
                {"latencyMs": 1.5},
                (
                    "photo.json: 'latencyMs' must be an integer between 0 and 60000,"
                    " got 1.5"
                ),
            ),
            ([1, 2], "photo.json: 'script' must be a JSON object, got [1, 2]"),
            (
                {"error": {"status": 500, "code": "Fehleré", "message": "m"}},
                (
                    "photo.json: 'error.code' must be printable ASCII without spaces "
                    "(it is a header), got 'Fehleré'"
                ),
            ),
        ],
    )
    def test_errors(self, data: object, message: str) -> None:
        """Bad scripts raise ScriptError naming the source, the key and the rule."""
        with pytest.raises(ScriptError) as caught:
            parse_script(data, source="photo.json")

        assert message == str(caught.value)

    def test_long_values_shortened(self) -> None:
        """Error messages quote at most 60 characters of a bad value."""
        with pytest.raises(ScriptError) as caught:
            parse_script({"latencyMs": "x" * 1000}, source="s")

        assert str(caught.value).endswith("got '" + "x" * 56 + "...")


class TestLoadSidecar:
    """Scripts in JSON files next to images."""

    def test_round_trip(self, tmp_path: Path) -> None:
        """A sidecar file gives the same script as its parsed content."""
        path = tmp_path / "photo.json"
        path.write_text(json.dumps(FULL), encoding="utf-8")

        assert parse_script(FULL, source="x") == load_sidecar(path)

    @pytest.mark.parametrize(
        ("content", "fragment"),
        [
            (b"{not json", "not a valid UTF-8 JSON script"),
            (b'{"people": 1, "people": 2}', "duplicate key 'people'"),
            (b"\xff\xfe{}", "not a valid UTF-8 JSON script"),
            (b'{"people": "x"}', "'people' must be"),
        ],
    )
    def test_errors_name_the_file(
        self, tmp_path: Path, content: bytes, fragment: str
    ) -> None:
        """Invalid files raise ScriptError starting with the file's path."""
        path = tmp_path / "photo.json"
        path.write_bytes(content)

        with pytest.raises(ScriptError) as caught:
            load_sidecar(path)

        assert str(caught.value).startswith(f"{path}: ")
        assert fragment in str(caught.value)

    def test_missing_file(self, tmp_path: Path) -> None:
        """A file that cannot be read raises ScriptError naming it."""
        path = tmp_path / "missing.json"

        with pytest.raises(ScriptError, match=r"missing\.json: cannot read"):
            load_sidecar(path)


class TestEmbeddedScript:
    """Scripts carried in PNG text chunks and JPEG or GIF comments."""

    @pytest.mark.parametrize("image_format", ["PNG", "JPEG", "GIF"])
    def test_round_trip(self, image_format: str) -> None:
        """An embedded script reads back as the script it was made from."""
        script = {**FULL, "caption": "un café, 中文"}
        data = embed_script(
            Image.new("RGB", (64, 48), "blue"), script, format=image_format
        )

        with Image.open(io.BytesIO(data)) as image:
            assert image_format == image.format
            assert parse_script(script, source="x") == read_embedded_script(
                image, source="upload"
            )

    @pytest.mark.parametrize(
        ("image_format", "info"),
        [
            ("PNG", {}),
            ("JPEG", {}),
            ("JPEG", {"comment": b"Created with GIMP"}),
        ],
    )
    def test_absent(self, image_format: str, info: dict[str, object]) -> None:
        """Images without a script, or with another comment, have none."""
        assert None is read_embedded_script(encoded(image_format, **info), source="x")

    def test_invalid_names_source(self) -> None:
        """A broken embedded script raises ScriptError naming the source."""
        image = encoded("JPEG", comment=f"{EMBEDDED_KEY}:{{oops".encode())

        with pytest.raises(ScriptError, match=r"^upload\.jpg: not a valid UTF-8 JSON"):
            read_embedded_script(image, source="upload.jpg")

    def test_embed_checks_script(self) -> None:
        """Embedding refuses a script the emulator would refuse."""
        with pytest.raises(ScriptError, match="'people' must be"):
            embed_script(Image.new("RGB", (8, 8)), {"people": -1}, format="PNG")

    def test_embed_unknown_format(self) -> None:
        """Only PNG, JPEG and GIF can carry a script."""
        with pytest.raises(ValueError, match="format must be PNG, JPEG or GIF"):
            embed_script(Image.new("RGB", (8, 8)), {}, format="BMP")
