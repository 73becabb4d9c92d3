"""What is recorded about an image: a digest and its header facts, or a redacted URL."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
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


def fingerprint_image(data: bytes | bytearray | memoryview) -> ImageFingerprint:
    """
    Digest *data* and read format and size from its header, without decoding pixels.

    Bytes that are no image still get a digest and size, with format ``unknown``:
    the service will refuse them, and the audit trail says what was sent.
    """
    # bytes go to BytesIO without a copy; other buffers are copied once.
    buffer = data if isinstance(data, bytes) else bytes(data)
    digest = hashlib.sha256(buffer).hexdigest()
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


def redact_url(url: str) -> str:
    """
    Reduce *url* to scheme, host, port and path: no user-info, query or fragment.

    SAS tokens and signed-URL credentials live in the query; user-info may hold a
    password. A URL that cannot be parsed is replaced as a whole.
    """
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
    return urlunsplit((split.scheme, netloc, split.path, "", ""))
