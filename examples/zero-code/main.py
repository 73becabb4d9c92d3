"""
An unmodified application: it calls Image Analysis and knows nothing of auditing.

Run it under the OpenTelemetry agent and every call is audited::

    VISION_AUDIT_STORE=sqlite:///audit.db opentelemetry-instrument python main.py

It reads ``VISION_ENDPOINT`` and ``VISION_KEY`` (a ``vision-audit emulator`` will do).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from azure.ai.vision.imageanalysis import ImageAnalysisClient
from azure.ai.vision.imageanalysis.models import VisualFeatures
from azure.core.credentials import AzureKeyCredential


def main() -> int:
    """Analyze the images named on the command line; print their tags."""
    endpoint = os.environ["VISION_ENDPOINT"]
    key = os.environ["VISION_KEY"]
    with ImageAnalysisClient(endpoint, AzureKeyCredential(key)) as client:
        for name in sys.argv[1:]:
            result = client.analyze(
                image_data=Path(name).read_bytes(),
                visual_features=[VisualFeatures.TAGS, VisualFeatures.PEOPLE],
            )
            tags = ", ".join(t.name for t in result.tags.list)
            print(f"{name}: {tags}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
