"""The demo's pictures, drawn with Pillow, each with a sidecar scripting its result."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from PIL import Image, ImageDraw

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

_SIZE: Final = (1024, 768)
Draw = ImageDraw.ImageDraw


@dataclass(frozen=True, slots=True)
class Scene:
    """One demo picture: how to draw it and what the emulator should see in it."""

    file_name: str
    draw: Callable[[Draw], None]
    script: dict[str, object]
    background: tuple[int, int, int] = (236, 236, 232)


def _shelf(draw: Draw) -> None:
    for row, y in enumerate((180, 400, 620)):
        draw.rectangle((40, y, 984, y + 18), fill=(120, 90, 60))
        for column in range(9):
            x = 60 + column * 102
            colour = ((column * 53 + row * 90) % 255, (column * 29 + 80) % 255, 160)
            draw.rectangle((x, y - 140, x + 80, y - 4), fill=colour)
            draw.text((x + 8, y - 40), f"SKU{row}{column}", fill=(255, 255, 255))


def _shopper(draw: Draw) -> None:
    _shelf(draw)
    draw.ellipse((700, 220, 780, 300), fill=(200, 160, 130))
    draw.rectangle((690, 300, 790, 560), fill=(40, 70, 140))


def _car(draw: Draw) -> None:
    draw.rectangle((0, 0, 1024, 380), fill=(150, 190, 235))
    draw.rectangle((0, 380, 1024, 768), fill=(90, 90, 95))
    draw.rounded_rectangle((180, 300, 850, 560), radius=60, fill=(170, 172, 180))
    draw.ellipse((240, 500, 380, 640), fill=(20, 20, 20))
    draw.ellipse((650, 500, 790, 640), fill=(20, 20, 20))
    draw.line((420, 360, 470, 420, 430, 470), fill=(60, 60, 60), width=6)
    draw.rectangle((460, 520, 580, 556), fill=(250, 250, 250))
    draw.text((472, 530), "KX19 ABC", fill=(0, 0, 0))


def _wheelchair(draw: Draw) -> None:
    draw.rectangle((0, 600, 1024, 768), fill=(200, 200, 190))
    draw.ellipse((450, 160, 540, 250), fill=(190, 150, 120))
    draw.rectangle((440, 250, 560, 470), fill=(90, 130, 90))
    draw.ellipse((400, 420, 620, 640), outline=(30, 30, 30), width=12)
    draw.text((60, 60), "OUTPATIENT CLINIC - WING B", fill=(30, 30, 120))


def _label(draw: Draw) -> None:
    draw.rectangle((120, 160, 904, 608), fill=(255, 255, 255), outline=(0, 0, 0))
    for line, y in (
        ("Rx 20431  DR. OKAFOR", 220),
        ("AMOXICILLIN 500 MG", 320),
        ("TAKE 1 CAPSULE 3 TIMES DAILY", 420),
        ("QTY 21  REFILLS 0", 520),
    ):
        draw.text((160, y), line, fill=(0, 0, 0))


def _form(draw: Draw) -> None:
    draw.rectangle((100, 60, 924, 708), fill=(255, 255, 255), outline=(0, 0, 0))
    for index, line in enumerate(
        (
            "PATIENT INTAKE FORM",
            "Name: ________",
            "Date of birth: ________",
            "Allergies: penicillin",
            "Current medication: none",
        )
    ):
        draw.text((140, 110 + index * 110), line, fill=(0, 0, 0))


def _landscape(draw: Draw) -> None:
    draw.rectangle((0, 0, 1024, 420), fill=(120, 170, 230))
    draw.polygon((0, 520, 300, 200, 560, 520), fill=(110, 120, 110))
    draw.polygon((380, 520, 700, 160, 1024, 520), fill=(95, 105, 100))
    draw.rectangle((0, 520, 1024, 768), fill=(70, 130, 80))


SCENES: Final = (
    Scene(
        "shelf-aisle-4.jpg",
        _shelf,
        {
            "caption": {
                "text": "a store shelf stocked with packaged goods",
                "confidence": 0.87,
            },
            "tags": {
                "shelf": 0.98,
                "indoor": 0.95,
                "retail": 0.91,
                "product": 0.88,
                "supermarket": 0.84,
                "grocery store": 0.79,
            },
            "objects": [
                {"name": "shelf", "confidence": 0.81, "box": [40, 40, 944, 598]}
            ],
            "people": 0,
            "text": ["SKU00 SKU01 SKU02"],
        },
    ),
    Scene(
        "shelf-aisle-7.jpg",
        _shopper,
        {
            "caption": {
                "text": "a woman standing in front of a store shelf",
                "confidence": 0.83,
            },
            "tags": {
                "person": 0.97,
                "woman": 0.74,
                "shelf": 0.96,
                "indoor": 0.94,
                "retail": 0.9,
                "clothing": 0.86,
                "supermarket": 0.82,
            },
            "objects": [
                {"name": "person", "confidence": 0.9, "box": [688, 218, 104, 344]}
            ],
            "people": [{"confidence": 0.93, "box": [688, 218, 104, 344]}],
        },
    ),
    Scene(
        "claim-1042-front.jpg",
        _car,
        {
            "caption": {"text": "a silver car parked on a road", "confidence": 0.89},
            "tags": {
                "car": 0.99,
                "vehicle": 0.98,
                "land vehicle": 0.97,
                "wheel": 0.95,
                "outdoor": 0.93,
                "tire": 0.9,
                "bumper": 0.74,
                "dent": 0.41,
            },
            "objects": [
                {"name": "car", "confidence": 0.92, "box": [180, 300, 670, 340]}
            ],
            "people": 0,
            "text": ["KX19 ABC"],
        },
    ),
    Scene(
        "claim-1042-side.jpg",
        _car,
        {
            "caption": {
                "text": "a close-up of a car door with a scratch",
                "confidence": 0.62,
            },
            "tags": {
                "car": 0.95,
                "vehicle": 0.93,
                "door": 0.71,
                "scratch": 0.38,
                "outdoor": 0.9,
            },
            "people": 0,
        },
    ),
    Scene(
        "intake-hallway.jpg",
        _wheelchair,
        {
            "caption": {
                "text": "a man in a wheelchair in a hallway",
                "confidence": 0.86,
            },
            "tags": {
                "person": 0.98,
                "wheelchair": 0.95,
                "indoor": 0.93,
                "hallway": 0.81,
                "medical equipment": 0.66,
                "floor": 0.64,
            },
            "objects": [
                {"name": "person", "confidence": 0.88, "box": [430, 150, 140, 330]},
                {"name": "wheelchair", "confidence": 0.83, "box": [398, 418, 224, 224]},
            ],
            "people": [{"confidence": 0.95, "box": [430, 150, 140, 330]}],
            "text": ["OUTPATIENT CLINIC - WING B"],
        },
    ),
    Scene(
        "intake-prescription.png",
        _label,
        {
            "caption": {
                "text": "a close-up of a prescription label",
                "confidence": 0.8,
            },
            "tags": {
                "text": 0.99,
                "label": 0.9,
                "prescription drug": 0.77,
                "medicine": 0.72,
                "font": 0.7,
            },
            "people": 0,
            "text": [
                "Rx 20431 DR. OKAFOR",
                "AMOXICILLIN 500 MG",
                "TAKE 1 CAPSULE 3 TIMES DAILY",
                "QTY 21 REFILLS 0",
            ],
        },
        background=(250, 250, 250),
    ),
    Scene(
        "intake-form.png",
        _form,
        {
            "caption": {"text": "a paper form on a table", "confidence": 0.78},
            "tags": {"text": 0.99, "document": 0.94, "paper": 0.9, "handwriting": 0.55},
            "people": 0,
            "text": [
                "PATIENT INTAKE FORM",
                "Allergies: penicillin",
                "Current medication: none",
            ],
        },
    ),
    Scene(
        "store-exterior.jpg",
        _landscape,
        {
            "tags": {
                "outdoor": 0.99,
                "sky": 0.98,
                "mountain": 0.93,
                "grass": 0.88,
                "landscape": 0.86,
            },
            "people": 0,
        },
    ),
    Scene(
        "claim-1043-flaky.jpg",
        _car,
        {
            "tags": {"car": 0.97},
            "error": {
                "status": 500,
                "code": "InternalServerError",
                "message": "An internal server error occurred.",
            },
        },
    ),
)


def write_scenes(folder: Path) -> list[Path]:
    """
    Draw every scene into *folder* with its JSON sidecar, plus the broken inputs.

    Returns:
        The image files written.

    """
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for index, scene in enumerate(SCENES):
        image = Image.new("RGB", _SIZE, scene.background)
        scene.draw(ImageDraw.Draw(image))
        # A seed-dependent corner mark keeps two pictures of one drawing distinct.
        ImageDraw.Draw(image).rectangle((0, 0, 8 + index, 8), fill=(index * 20, 0, 0))
        path = folder / scene.file_name
        if path.suffix == ".png":
            image.save(path, format="PNG", optimize=True)
        else:
            image.save(path, format="JPEG", quality=92)
        path.with_suffix(".json").write_text(json.dumps(scene.script, indent=2) + "\n")
        written.append(path)
    # What real uploads also contain: a cut-off file and a thumbnail below the limit.
    good = (folder / SCENES[0].file_name).read_bytes()
    (folder / "upload-truncated.jpg").write_bytes(good[: len(good) // 3])
    Image.new("RGB", (40, 40), (128, 128, 128)).save(folder / "avatar-40px.png")
    written.extend((folder / "upload-truncated.jpg", folder / "avatar-40px.png"))
    return written
