"""The range of the Azure SDK this instrumentation supports."""

from __future__ import annotations

_instruments = ("azure-ai-vision-imageanalysis >= 1.0.0",)
