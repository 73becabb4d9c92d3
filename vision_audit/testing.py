"""Helpers for tests, ours and our users': images for the emulator."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["make_test_image"]


def make_test_image(
    *,
    width: int = 640,
    height: int = 480,
    image_format: str = "JPEG",
    colour: tuple[int, int, int] = (90, 140, 200),
    seed: int = 0,
    script: Mapping[str, object] | None = None,
) -> bytes:
    """
    Draw a small picture and encode it, optionally with an emulator script inside.

    Args:
        width: Width in pixels.
        height: Height in pixels.
        image_format: A Pillow format name: JPEG, PNG, GIF, BMP, WEBP, TIFF, ICO...
        colour: Background colour.
        seed: Varies the drawing, so that equal arguments but the seed give
            different bytes (and a different emulator result).
        script: An emulator script to embed (PNG or JPEG only); the emulator then
            answers with what it says.

    Returns:
        The encoded image.

    .. versionadded:: 0.1.0

    """
    image = Image.new("RGB", (width, height), colour)
    draw = ImageDraw.Draw(image)
    step = max(1, min(width, height) // 8)
    for index in range(6):
        shade = (seed * 37 + index * 41) % 256
        x = (seed * 13 + index * step) % max(1, width - step)
        y = (seed * 7 + index * step) % max(1, height - step)
        draw.rectangle(
            (x, y, x + step, y + step), fill=(shade, 255 - shade, (shade * 3) % 256)
        )
    if script is not None:
        from vision_audit.emulator import embed_script  # noqa: PLC0415

        return embed_script(image, script, format=image_format)
    buffer = io.BytesIO()
    if image_format.upper() == "ICO":
        image.save(buffer, format="ICO", sizes=[(min(width, 256), min(height, 256))])
    else:
        image.save(buffer, format=image_format)
    return buffer.getvalue()
