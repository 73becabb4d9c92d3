"""What is recorded about an image: a digest and its header facts, or a redacted URL."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit, urlunsplit

from PIL import Image, UnidentifiedImageError

__all__ = ["ImageFingerprint", "fingerprint_image", "redact_url"]


@dataclass(frozen=True, slots=True)
class ImageFingerprint:
    """SHA-256, byte size, format and dimensions of an image; never its bytes."""

    sha256: str
    size: int
    format: str
    width: int | None
    height: int | None

    def as_json(self) -> dict[str, object]:
        """The fingerprint as the audit event records it."""
        return {
            "sha256": self.sha256,
            "size": self.size,
            "format": self.format,
            "width": self.width,
            "height": self.height,
        }


_SOF: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
"""JPEG start-of-frame markers: the segment that holds the image's size."""
_SKIPPED: Final = frozenset({0xC4, 0xCC, 0xDC, 0xDD, 0xDF, 0xFE, *range(0xE0, 0xF0)})
"""JPEG segments before the scan that say nothing of the size: tables, APPn, COM
(not DHP, 0xDE, which Pillow reads as a frame)."""
_MARK: Final = 0xFF
_SOS: Final = 0xDA
_DQT: Final = 0xDB
_DQT_16_BITS: Final = 0x10
_FRAME_LENGTH: Final = 6
"""Precision, height, width, components: the bytes a frame segment must hold."""
_FRAME_BITS: Final = 8
_FRAME_LAYERS: Final = (1, 3, 4)
_APP_HEAD: Final = 12
_ICC_HEAD: Final = 14


def _frame_size(data: bytes, start: int, stop: int) -> tuple[int, int] | None:
    """Width and height in a start-of-frame segment, if Pillow would take it."""
    frame = data[start : start + 6]
    if stop - start < _FRAME_LENGTH or frame[0] != _FRAME_BITS:
        return None
    height = int.from_bytes(frame[1:3], "big")
    width = int.from_bytes(frame[3:5], "big")
    if not width or not height or frame[5] not in _FRAME_LAYERS:
        return None
    return width, height


def _segment_ok(marker: int, data: bytes, start: int, stop: int) -> bool:
    """True for a segment before the scan that Pillow reads without complaint."""
    if marker == _DQT:  # whole quantization tables, of 8 or 16 bits
        at = start
        while at < stop:
            at += 1 + (64 if data[at] < _DQT_16_BITS else 128)
        return at == stop
    head = data[start : start + 14]
    length = stop - start
    return (
        marker in _SKIPPED
        and not (
            head[:4] == b"MPF\x00"  # JPEG or MPO: Pillow counts the pictures
            # What Pillow reads of JFIF, Adobe and ICC segments must be there; it parses
            # Photoshop's resource blocks, and refuses the file if they are odd.
            or (length < _APP_HEAD and (head[:4] == b"JFIF" or head[:5] == b"Adobe"))
            or (length < _ICC_HEAD and head[:12] == b"ICC_PROFILE\x00")
            or head == b"Photoshop 3.0\x00"
        )
    )


def _jpeg_header(data: bytes) -> tuple[str, int, int] | None:
    """
    Width and height from the start-of-frame segment of a JPEG.

    The segments are followed up to the start of the scan, as Pillow does. None for
    anything unusual (a multi-picture file, an odd frame header or marker, a short
    segment, a broken or truncated chain): Pillow then decides, as it would anyway.
    """
    end = len(data)
    at = 2
    size: tuple[int, int] | None = None
    while at + 4 <= end and data[at] == _MARK:
        marker = data[at + 1]
        if marker == _MARK:  # fill byte
            at += 1
            continue
        start, stop = at + 4, at + 2 + int.from_bytes(data[at + 2 : at + 4], "big")
        if stop < start or stop > end:
            break
        if marker == _SOS:  # start of scan: the header is complete
            return None if size is None else ("JPEG", *size)
        if marker in _SOF:
            if size is not None:
                break
            size = _frame_size(data, start, stop)
            if size is None:
                break
        elif not _segment_ok(marker, data, start, stop):
            break
        at = stop
    return None


def _fast_header(data: bytes) -> tuple[str, int, int] | None:
    """Format, width and height of a JPEG from its header, or None."""
    if data[:3] != b"\xff\xd8\xff":
        return None
    header = _jpeg_header(data)
    limit = Image.MAX_IMAGE_PIXELS
    if header is not None and limit and header[1] * header[2] > 2 * limit:
        return None  # Pillow refuses it as a decompression bomb
    return header


def fingerprint_image(data: bytes | bytearray | memoryview) -> ImageFingerprint:
    """
    Digest *data* and read format and size from its header, without decoding pixels.

    A JPEG's header is read directly (the segments before the scan); other formats,
    and anything unusual in a JPEG, by Pillow. Bytes that are no image still
    get a digest and size, with format ``unknown``: the service will refuse them, and
    the audit trail says what was sent.
    """
    # bytes go to BytesIO without a copy; other buffers are copied once.
    buffer = data if isinstance(data, bytes) else bytes(data)
    digest = hashlib.sha256(buffer).hexdigest()
    header = _fast_header(buffer)
    if header is not None:
        return ImageFingerprint(digest, len(buffer), *header)
    image_format, width, height = "unknown", None, None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(buffer)) as image:
                image_format = image.format or "unknown"
                width, height = image.size
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombError,
    ):
        pass
    return ImageFingerprint(digest, len(buffer), image_format, width, height)


MAX_URL_PATH: Final = 1024
"""Longest path recorded for an image URL; a longer one is cut, ending in ``...``."""
_C0_AND_SPACE: Final = "".join(map(chr, range(0x21)))


def redact_url(url: str) -> str:
    """
    Reduce *url* to scheme, host, port and path: no user-info, query or fragment.

    SAS tokens and signed-URL credentials live in the query; user-info may hold a
    password. Path parameters (``;...``) are dropped too, and a path longer than
    :data:`MAX_URL_PATH` is cut. The URL is read as a browser or the service would
    read it: surrounding spaces and control characters are stripped, tabs and line
    breaks removed, and in ``http(s)`` URLs a backslash is a slash, so the host
    recorded is the host fetched from. A URL that cannot be parsed, or that holds
    other control characters, is replaced as a whole.
    """
    url = url.strip(_C0_AND_SPACE)
    url = url.replace("\t", "").replace("\n", "").replace("\r", "")
    if not url.isprintable():
        return "<unparseable url>"
    scheme = url.split(":", 1)[0].lower()
    if scheme in {"http", "https"}:
        url = url.replace("\\", "/")
    try:
        split = urlsplit(url)
        host = split.hostname or ""
        port = split.port
    except ValueError:
        return "<unparseable url>"
    if not split.scheme or not host:
        return "<unparseable url>"
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    path = split.path.split(";", 1)[0]
    if len(path) > MAX_URL_PATH:
        path = path[:MAX_URL_PATH] + "..."
    return urlunsplit((split.scheme, netloc, path, "", ""))
