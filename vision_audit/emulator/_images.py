"""Decodes an image for real, with the service's formats and limits."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import Final

from PIL import Image, ImageStat, UnidentifiedImageError

from vision_audit.emulator import _errors
from vision_audit.emulator._generate import ImageFacts

# The formats Image Analysis 4.0 accepts, by Pillow's names. MPO (multi-picture
# JPEG) has no opener of its own: Pillow's JPEG opener returns it.
ACCEPTED_FORMATS: Final = ("JPEG", "PNG", "GIF", "BMP", "WEBP", "ICO", "TIFF", "MPO")
_OPENERS: Final = tuple(f for f in ACCEPTED_FORMATS if f != "MPO")

# Pillow's bomb guard trips at twice MAX_IMAGE_PIXELS, below the service's own limit
# of 16,000 x 16,000; allow_large_images() raises it to that limit.
_SERVICE_MAX_PIXELS: Final = _errors.MAX_DIMENSION * _errors.MAX_DIMENSION
_THUMBNAIL: Final = (16, 16)


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """The facts of an accepted image, and the opened image for its metadata."""

    facts: ImageFacts
    image: Image.Image


def allow_large_images() -> None:
    """Let Pillow open every image the service would accept (process-wide)."""
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and limit * 2 < _SERVICE_MAX_PIXELS:
        Image.MAX_IMAGE_PIXELS = _SERVICE_MAX_PIXELS // 2 + 1


def decode_image(data: bytes) -> DecodedImage:
    """
    Open and decode *data* as the service does before it analyzes it.

    JPEG is decoded at reduced scale (the pixels are still entropy-decoded, so a
    truncated or corrupt file fails), which keeps a 200 KB photo to about a
    millisecond.

    Args:
        data: The image bytes as received.

    Returns:
        The image's facts: SHA-256, format, size and mean colour.

    Raises:
        ServiceError: Empty or too large (size), not an accepted format or corrupt
            (format), or too small or too large a side (dimension).

    """
    if not data or len(data) > _errors.MAX_IMAGE_BYTES:
        raise _errors.invalid_image_size()
    # Register every plugin first: Pillow looks only at the common five otherwise.
    Image.init()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=_OPENERS)
    except Image.DecompressionBombError as err:
        raise _errors.invalid_image_dimension() from err
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise _errors.invalid_image_format() from err
    width, height = image.size
    if not (
        _errors.MIN_DIMENSION <= width <= _errors.MAX_DIMENSION
        and _errors.MIN_DIMENSION <= height <= _errors.MAX_DIMENSION
    ):
        raise _errors.invalid_image_dimension()
    image_format = image.format or "UNKNOWN"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            if image_format in {"JPEG", "MPO"}:
                image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
            image.load()
            small = image.convert("RGB")
            small.thumbnail(_THUMBNAIL)
            mean = ImageStat.Stat(small).mean
    except (OSError, ValueError, SyntaxError, EOFError) as err:
        # Truncated or corrupt pixel data.
        raise _errors.invalid_image_format() from err
    facts = ImageFacts(
        sha256=hashlib.sha256(data).hexdigest(),
        width=width,
        height=height,
        format=image_format,
        mean_rgb=(float(mean[0]), float(mean[1]), float(mean[2])),
    )
    return DecodedImage(facts=facts, image=image)
