"""Keys: from files or the environment, never echoed in a message."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from vision_audit.store._keys import (
    Pseudonymizer,
    generate_signing_key,
    key_id,
    load_private_key,
    load_public_key,
    private_key_pem,
    pseudonym_key_from_environment,
    public_key_pem,
    signing_key_from_environment,
)


def _raw(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )


class TestSigningKey:
    """The checkpoint signing key: PEM, hex or base64; file or variable."""

    def test_forms(self):
        """PEM, hex and base64 of the same key give the same key id."""
        key = generate_signing_key()
        expected = key_id(key.public_key())

        ids = {
            key_id(load_private_key(data, source="test").public_key())
            for data in (
                private_key_pem(key),
                _raw(key).hex().encode(),
                base64.b64encode(_raw(key)),
            )
        }

        assert {expected} == ids

    def test_public_forms(self):
        """A public key reads from PEM and from raw base64."""
        public = generate_signing_key().public_key()
        raw = public.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

        assert key_id(public) == key_id(
            load_public_key(public_key_pem(public), source="t")
        )
        assert key_id(public) == key_id(
            load_public_key(base64.b64encode(raw), source="t")
        )

    def test_file_wins(self, tmp_path):
        """The file variable is read before the value variable."""
        key = generate_signing_key()
        (tmp_path / "k.pem").write_bytes(private_key_pem(key))

        found = signing_key_from_environment(
            {
                "VISION_AUDIT_SIGNING_KEY_FILE": str(tmp_path / "k.pem"),
                "VISION_AUDIT_SIGNING_KEY": "not even a key",
            }
        )

        assert key_id(key.public_key()) == key_id(found.public_key())

    def test_unset(self):
        """No variable: no key."""
        assert signing_key_from_environment({}) is None

    def test_bad_value_names_the_variable_not_the_value(self):
        """An unusable key is refused by source, without echoing it."""
        secret = "c2VjcmV0LWJ1dC1ub3QtYS1rZXk="

        with pytest.raises(
            ValueError, match="VISION_AUDIT_SIGNING_KEY holds no"
        ) as info:
            signing_key_from_environment({"VISION_AUDIT_SIGNING_KEY": secret})

        assert secret not in str(info.value)

    def test_missing_file(self, tmp_path):
        """A key file that cannot be read is named."""
        with pytest.raises(ValueError, match="cannot read the signing key file"):
            signing_key_from_environment(
                {"VISION_AUDIT_SIGNING_KEY_FILE": str(tmp_path / "nope.pem")}
            )

    def test_not_ed25519(self):
        """A PEM key of another algorithm is refused."""
        from cryptography.hazmat.primitives.asymmetric import ec

        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

        with pytest.raises(ValueError, match="not an Ed25519 key"):
            load_private_key(pem, source="test")


class TestPseudonymKey:
    """The pseudonym secret: at least 16 bytes, hex or base64 or a raw file."""

    def test_hex(self):
        """Hex in the variable."""
        assert b"\xab" * 16 == pseudonym_key_from_environment(
            {"VISION_AUDIT_PSEUDONYM_KEY": "ab" * 16}
        )

    def test_raw_file(self, tmp_path):
        """Raw bytes in a file."""
        (tmp_path / "key").write_bytes(b"\x00\xff" * 16)

        assert b"\x00\xff" * 16 == pseudonym_key_from_environment(
            {"VISION_AUDIT_PSEUDONYM_KEY_FILE": str(tmp_path / "key")}
        )

    def test_too_short(self):
        """Fewer than 16 bytes are refused."""
        with pytest.raises(ValueError, match="at least 16 bytes"):
            pseudonym_key_from_environment({"VISION_AUDIT_PSEUDONYM_KEY": "abcd"})

    def test_pseudonyms(self):
        """Stable per key, different across keys, never the reference itself."""
        first = Pseudonymizer(b"a" * 16)
        second = Pseudonymizer(b"b" * 16)

        assert first("ref") == first("ref")
        assert first("ref") != second("ref")
        assert 64 == len(first("ref"))
        assert "a" * 16 not in repr(first)
