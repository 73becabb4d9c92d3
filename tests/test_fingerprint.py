"""Image fingerprints and URL redaction: what is recorded instead of the thing."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st
from vision_audit._fingerprint import fingerprint_image, redact_url
from vision_audit.testing import make_test_image


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
