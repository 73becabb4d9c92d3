"""Shared pieces of the benchmarks: an emulator in its own process, a 200 KB photo."""

from __future__ import annotations

import io
import os
import random
import statistics
import subprocess
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING

from PIL import Image

if TYPE_CHECKING:
    from collections.abc import Iterator


def photo_200kb() -> bytes:
    """A deterministic JPEG of about 200 KB (noise compresses like a busy photo)."""
    width, height = 700, 525
    noise = random.Random(2026).randbytes(width * height * 3)
    image = Image.frombytes("RGB", (width, height), noise)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=70)
    return buffer.getvalue()


@contextmanager
def emulator_process(key: str) -> Iterator[str]:
    """Run ``vision-audit emulator`` on a free port; yield its endpoint."""
    process = subprocess.Popen(
        [sys.executable, "-m", "vision_audit", "emulator", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "VISION_AUDIT_EMULATOR_KEY": key},
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        endpoint = first.rsplit(" ", 1)[-1].strip()
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


def percentile(samples: list[float], fraction: float) -> float:
    """The *fraction* quantile of *samples* (inclusive method)."""
    return statistics.quantiles(samples, n=100, method="inclusive")[
        round(fraction * 100) - 1
    ]
