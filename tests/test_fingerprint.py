"""Image fingerprints and URL redaction: what is recorded instead of the thing."""

from __future__ import annotations

import hashlib
import io
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from vision_audit._fingerprint import fingerprint_image, redact_url
from vision_audit.testing import make_test_image


def _pillow_says(data: bytes) -> tuple[str, int | None, int | None]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as image:
                return image.format or "unknown", *image.size
    except Exception:  # noqa: BLE001 - whatever Pillow refuses is "unknown"
        return "unknown", None, None


def _jpeg(mode: str, size: tuple[int, int], **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, "JPEG", **options)
    return buffer.getvalue()


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


def _with_segment(jpeg: bytes, segment: bytes) -> bytes:
    """*jpeg* with *segment* right after its frame header (SOF0)."""
    at = jpeg.index(b"\xff\xc0")
    end = at + 2 + int.from_bytes(jpeg[at + 2 : at + 4], "big")
    return jpeg[:end] + segment + jpeg[end:]


JPEG_VARIANTS = {
    "baseline": _jpeg("RGB", (640, 480)),
    "grey": _jpeg("L", (50, 60)),
    "cmyk": _jpeg("CMYK", (123, 45)),
    "progressive": _jpeg("RGB", (4000, 3), progressive=True),
    "optimized": _jpeg("RGB", (1, 1), optimize=True),
    "exif": _jpeg(
        "RGB", (320, 200), exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x00"
    ),
    "large icc profile": _jpeg("RGB", (64, 64), icc_profile=b"p" * 70_000),
    "dpi": _jpeg("RGB", (300, 300), dpi=(300, 300)),
    "comment": _jpeg("L", (77, 99), comment=b"taken by the claims desk"),
}


class TestFingerprintImage:
    """Digest and header facts, without decoding pixels."""

    def test_jpeg(self) -> None:
        """Format, width and height come from the header; the digest from the bytes."""
        data = make_test_image(width=123, height=45)

        fingerprint = fingerprint_image(data)

        assert hashlib.sha256(data).hexdigest() == fingerprint.sha256
        assert (len(data), "JPEG", 123, 45) == (
            fingerprint.size,
            fingerprint.format,
            fingerprint.width,
            fingerprint.height,
        )

    @pytest.mark.parametrize("name", sorted(JPEG_VARIANTS))
    def test_jpeg_header_read_as_pillow_reads_it(self, name: str) -> None:
        """The JPEG header reader agrees with Pillow on every kind of JPEG."""
        data = JPEG_VARIANTS[name]

        fingerprint = fingerprint_image(data)

        assert _pillow_says(data) == (
            fingerprint.format,
            fingerprint.width,
            fingerprint.height,
        )

    @pytest.mark.parametrize(
        "segment",
        [
            pytest.param(_segment(0xE2, b"ICC_PROFILE\0"), id="ICC profile cut short"),
            pytest.param(
                _segment(0xED, b"Photoshop 3.0\0" + b"8BIM\x03\xed"),
                id="Photoshop resources cut short",
            ),
            pytest.param(
                _segment(0xDE, b"\x08\x00\x32\x00\x3c\x03\x01\x11\x00\x02\x11\x01"),
                id="hierarchical frame (DHP)",
            ),
        ],
    )
    def test_odd_segments_left_to_pillow(self, segment: bytes) -> None:
        """Segments Pillow reads in its own way get Pillow's answer, whatever it is."""
        data = _with_segment(JPEG_VARIANTS["baseline"], segment)

        fingerprint = fingerprint_image(data)

        assert _pillow_says(data) == (
            fingerprint.format,
            fingerprint.width,
            fingerprint.height,
        )

    def test_multi_picture_file(self) -> None:
        """A phone's multi-picture JPEG is told from a plain one, as Pillow does."""
        buffer = io.BytesIO()
        frames = [Image.new("RGB", (80, 60)), Image.new("RGB", (80, 60))]
        frames[0].save(buffer, "MPO", save_all=True, append_images=frames[1:])

        fingerprint = fingerprint_image(buffer.getvalue())

        assert ("MPO", 80, 60) == (
            fingerprint.format,
            fingerprint.width,
            fingerprint.height,
        )

    @pytest.mark.parametrize("keep", [3, 20, 200, 600])
    def test_jpeg_cut_before_its_pixels(self, keep: int) -> None:
        """A JPEG cut inside its header has no size: format unknown, as for Pillow."""
        data = JPEG_VARIANTS["exif"][:keep]

        fingerprint = fingerprint_image(data)

        assert ("unknown", None, None) == (
            fingerprint.format,
            fingerprint.width,
            fingerprint.height,
        )

    def test_not_an_image(self) -> None:
        """Bytes that are no image still get a digest and size, format unknown."""
        fingerprint = fingerprint_image(b"%PDF-1.7 not an image")

        assert ("unknown", None, None) == (
            fingerprint.format,
            fingerprint.width,
            fingerprint.height,
        )
        assert 21 == fingerprint.size

    @given(st.binary(max_size=512))
    def test_any_bytes(self, data: bytes) -> None:
        """Arbitrary bytes never raise."""
        assert len(data) == fingerprint_image(data).size


class TestRedactUrl:
    """Scheme, host, port and path survive; user-info, query and fragment never do."""

    def test_sas_url(self) -> None:
        """A blob SAS URL loses its token and the credentials before the host."""
        url = "https://me:pw@acct.blob.core.windows.net:8443/c/a%20b.jpg?sv=1&sig=XYZ#frag"

        assert "https://acct.blob.core.windows.net:8443/c/a%20b.jpg" == redact_url(url)

    def test_ipv6(self) -> None:
        """IPv6 hosts keep their brackets."""
        assert "http://[::1]:5000/x.png" == redact_url("http://[::1]:5000/x.png?k=v")

    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            # a backslash is a slash to the service: the host is acct, not evil
            (
                "https://acct.blob.core.windows.net\\@evil.example/c/x.jpg?sig=1",
                "https://acct.blob.core.windows.net/@evil.example/c/x.jpg",
            ),
            ("https://a.example/c;sig=SECRET/x.jpg", "https://a.example/c"),
            (" \thttps://a.example/x.jpg?sig=1\n", "https://a.example/x.jpg"),
            ("https://a.example/x\ty.jpg", "https://a.example/xy.jpg"),
            ("https://a.example/x\x00y.jpg", "<unparseable url>"),
            ("https://a.example/x\x1b[31m.jpg", "<unparseable url>"),
        ],
    )
    def test_read_as_fetched(self, url: str, expected: str) -> None:
        """Read as the service would read it; path parameters and controls go."""
        assert expected == redact_url(url)

    def test_long_path_cut(self) -> None:
        """A huge path is cut, not recorded whole."""
        redacted = redact_url("https://a.example/" + "x" * 200_000 + "?sig=1")

        assert redacted.endswith("...")
        assert len(redacted) < 1100

    def test_garbage(self) -> None:
        """What cannot be parsed is replaced whole."""
        assert "<unparseable url>" == redact_url("not a url")
        assert "<unparseable url>" == redact_url("http://[::1/x?sig=1")

    @given(
        secret=st.text(alphabet="klmnopqrstuvwxyz0123456789", min_size=8),
        path=st.text(alphabet="abcdefghij/._-", max_size=30),
    )
    def test_never_leaks(self, secret: str, path: str) -> None:
        """Whatever the path, the query, fragment and password are gone."""
        url = f"https://user:{secret}@host.example/{path}?sig={secret}#{secret}"

        redacted = redact_url(url)

        assert secret not in redacted
        assert "?" not in redacted
        assert "#" not in redacted
        assert "@" not in redacted
