"""
Keys of the audit store: the Ed25519 checkpoint signer and the pseudonym secret.

Keys come from a file or an environment variable, never from a command line, and
never appear in a message: errors name where a key came from, not what it holds.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Final, TypeVar, cast

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from vision_audit import environment_variables as env

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = [
    "Pseudonymizer",
    "generate_pseudonym_key",
    "generate_signing_key",
    "key_id",
    "load_private_key",
    "load_pseudonym_key",
    "load_public_key",
    "private_key_pem",
    "pseudonym_key_from_environment",
    "public_key_pem",
    "read_public_key_files",
    "signing_key_from_environment",
    "write_new_file",
]

_MIN_PSEUDONYM_KEY: Final = 16
_PSEUDONYM_CACHE: Final = 4096
_RAW_ED25519: Final = 32
_Key = TypeVar("_Key", Ed25519PrivateKey, Ed25519PublicKey)


def generate_signing_key() -> Ed25519PrivateKey:
    """A new random Ed25519 signing key."""
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    """*key* as an unencrypted PKCS#8 PEM block."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_pem(key: Ed25519PublicKey) -> bytes:
    """*key* as a SubjectPublicKeyInfo PEM block."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_id(key: Ed25519PublicKey) -> str:
    """First 16 hex digits of the SHA-256 of the raw public key."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _decode_text(data: bytes) -> bytes | None:
    """Hex or base64 text to bytes, or None when it is neither."""
    text = data.strip()
    try:
        return bytes.fromhex(text.decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        pass
    try:
        return base64.b64decode(
            text, altchars=b"-_" if b"-" in text else None, validate=True
        )
    except (binascii.Error, ValueError):
        return None


def _load_key(
    data: bytes,
    *,
    source: str,
    kind: str,
    pem: str,
    from_pem: Callable[[bytes], object],
    key_type: type,
    from_raw: Callable[[bytes], _Key],
) -> _Key:
    if b"-----BEGIN" in data:
        try:
            key = from_pem(data)
        except (ValueError, TypeError) as err:
            msg = f"{source} holds no readable {pem} {kind} key"
            raise ValueError(msg) from err
        if not isinstance(key, key_type):
            msg = f"{source} holds a {type(key).__name__}, not an Ed25519 key"
            raise ValueError(msg)
        return cast("_Key", key)
    raw = _decode_text(data)
    if raw is None or len(raw) != _RAW_ED25519:
        msg = (
            f"{source} holds no Ed25519 {kind} key (expected a PEM block or 32 bytes "
            "in hex or base64)"
        )
        raise ValueError(msg)
    return from_raw(raw)


def load_private_key(data: bytes, *, source: str) -> Ed25519PrivateKey:
    """
    Read an Ed25519 private key: PKCS#8 PEM, or the raw 32 bytes in hex or base64.

    Args:
        data: What the file or variable holds.
        source: Where it came from, for the error message.

    Raises:
        ValueError: *data* is no Ed25519 private key (the message names *source*).
    """
    return _load_key(
        data,
        source=source,
        kind="private",
        pem="unencrypted PEM",
        from_pem=lambda pem: serialization.load_pem_private_key(pem, password=None),
        key_type=Ed25519PrivateKey,
        from_raw=Ed25519PrivateKey.from_private_bytes,
    )


def load_public_key(data: bytes, *, source: str) -> Ed25519PublicKey:
    """
    Read an Ed25519 public key: PEM, or the raw 32 bytes in hex or base64.

    Raises:
        ValueError: *data* is no Ed25519 public key (the message names *source*).
    """
    return _load_key(
        data,
        source=source,
        kind="public",
        pem="PEM",
        from_pem=serialization.load_pem_public_key,
        key_type=Ed25519PublicKey,
        from_raw=Ed25519PublicKey.from_public_bytes,
    )


def read_public_key_files(paths: list[str] | None) -> list[Ed25519PublicKey] | None:
    """
    The public keys in the files *paths* (``--public-key``), or None for none given.

    Raises:
        ValueError: A file cannot be read or holds no Ed25519 public key; the
            message names the file.
    """
    if not paths:
        return None
    keys = []
    for path in paths:
        try:
            data = Path(path).read_bytes()
        except OSError as err:
            msg = f"cannot read the public key file {path}: {err.strerror or err}"
            raise ValueError(msg) from err
        keys.append(load_public_key(data, source=path))
    return keys


def _read_file(path: str, *, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        msg = f"cannot read the {what} file {path}: {err.strerror or err}"
        raise ValueError(msg) from err


def signing_key_from_environment(
    environ: Mapping[str, str] | None = None,
) -> Ed25519PrivateKey | None:
    """
    The checkpoint signing key configured in the environment, or None.

    Reads ``VISION_AUDIT_SIGNING_KEY_FILE`` (a path), else
    ``VISION_AUDIT_SIGNING_KEY`` (the key itself).

    Raises:
        ValueError: A variable is set but holds no usable key.
    """
    environ = os.environ if environ is None else environ
    path = environ.get(env.VISION_AUDIT_SIGNING_KEY_FILE)
    if path:
        source = f"{env.VISION_AUDIT_SIGNING_KEY_FILE} ({path})"
        return load_private_key(_read_file(path, what="signing key"), source=source)
    value = environ.get(env.VISION_AUDIT_SIGNING_KEY)
    if value:
        return load_private_key(
            value.encode("utf-8"), source=env.VISION_AUDIT_SIGNING_KEY
        )
    return None


def load_pseudonym_key(data: bytes, *, source: str, raw_ok: bool) -> bytes:
    """
    Read a pseudonym secret: hex or base64 text, or (from a file) raw bytes.

    Raises:
        ValueError: Fewer than 16 bytes (the message names *source*).
    """
    key = _decode_text(data)
    if key is None and raw_ok:
        key = data
    if key is None or len(key) < _MIN_PSEUDONYM_KEY:
        msg = (
            f"{source} holds no pseudonym key of at least {_MIN_PSEUDONYM_KEY} bytes "
            "(hex or base64)"
        )
        raise ValueError(msg)
    return key


def pseudonym_key_from_environment(
    environ: Mapping[str, str] | None = None,
) -> bytes | None:
    """
    The pseudonym secret configured in the environment, or None.

    Reads ``VISION_AUDIT_PSEUDONYM_KEY_FILE`` (a path), else
    ``VISION_AUDIT_PSEUDONYM_KEY``.

    Raises:
        ValueError: A variable is set but holds no usable key.
    """
    environ = os.environ if environ is None else environ
    path = environ.get(env.VISION_AUDIT_PSEUDONYM_KEY_FILE)
    if path:
        source = f"{env.VISION_AUDIT_PSEUDONYM_KEY_FILE} ({path})"
        return load_pseudonym_key(
            _read_file(path, what="pseudonym key"), source=source, raw_ok=True
        )
    value = environ.get(env.VISION_AUDIT_PSEUDONYM_KEY)
    if value:
        return load_pseudonym_key(
            value.encode("utf-8"), source=env.VISION_AUDIT_PSEUDONYM_KEY, raw_ok=False
        )
    return None


def generate_pseudonym_key() -> bytes:
    """A new random 32-byte pseudonym secret."""
    return secrets.token_bytes(32)


class Pseudonymizer:
    """
    Turns subject references into keyed pseudonyms: hex HMAC-SHA256 of the UTF-8 text.

    The same reference always gives the same pseudonym under one key, so events of
    one subject can be found (and erased) without the reference being stored in the
    chain; without the key, a pseudonym cannot be linked back by guessing references.
    """

    __slots__ = ("_cache", "_key", "key_id")

    def __init__(self, key: bytes) -> None:
        """Keep the secret and derive its public identifier."""
        self._key = key
        self._cache: dict[str, str] = {}
        self.key_id = hmac.new(
            key, b"vision-audit pseudonym key id", hashlib.sha256
        ).hexdigest()[:16]

    def __call__(self, ref: str) -> str:
        """The pseudonym of *ref*."""
        cached = self._cache.get(ref)
        if cached is not None:
            return cached
        pseudonym = hmac.new(self._key, ref.encode("utf-8"), hashlib.sha256).hexdigest()
        if len(self._cache) >= _PSEUDONYM_CACHE:
            self._cache.clear()  # bounded; it refills with the subjects that recur
        self._cache[ref] = pseudonym
        return pseudonym

    def __repr__(self) -> str:
        """Never the key."""
        return f"Pseudonymizer(key_id={self.key_id!r})"


def write_new_file(path: Path, data: bytes, *, mode: int) -> None:
    """
    Create *path* with *data* and permissions *mode*; never overwrite.

    Raises:
        FileExistsError: *path* exists.
    """
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(descriptor, data)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
