"""
Analyze a picture with the real Azure SDK against the local emulator.

Run: ``python main.py`` (starts an emulator in this process), or point it at a running
one: ``VISION_ENDPOINT=http://127.0.0.1:5000 python main.py``.
"""

from __future__ import annotations

import os

from azure.ai.vision.imageanalysis import ImageAnalysisClient
from azure.ai.vision.imageanalysis.models import VisualFeatures
from azure.core.credentials import AzureKeyCredential
from vision_audit.emulator import Emulator
from vision_audit.testing import make_test_image

PERSON_THRESHOLD = 0.5


def analyze(endpoint: str, key: str) -> None:
    """Send one picture and print what came back."""
    picture = make_test_image(
        width=800,
        height=600,
        script={
            "caption": "a man pushing a wheelchair",
            "tags": {"person": 0.97, "wheelchair": 0.92},
            "people": 1,
        },
    )
    with ImageAnalysisClient(endpoint, AzureKeyCredential(key)) as client:
        result = client.analyze(
            image_data=picture,
            visual_features=[
                VisualFeatures.CAPTION,
                VisualFeatures.TAGS,
                VisualFeatures.PEOPLE,
            ],
            gender_neutral_caption=True,
        )
    print(f"caption: {result.caption.text} ({result.caption.confidence:.2f})")
    print("tags:", ", ".join(f"{t.name} {t.confidence:.2f}" for t in result.tags.list))
    people = [p for p in result.people.list if p.confidence >= PERSON_THRESHOLD]
    print(f"people: {len(people)} (of {len(result.people.list)} detections)")


def main() -> None:
    """Use $VISION_ENDPOINT if set, else an emulator of our own."""
    endpoint = os.environ.get("VISION_ENDPOINT")
    key = os.environ.get("VISION_KEY", "example-key")
    if endpoint:
        analyze(endpoint, key)
        return
    with Emulator(key=key) as emulator:
        analyze(emulator.endpoint, key)


if __name__ == "__main__":
    main()
