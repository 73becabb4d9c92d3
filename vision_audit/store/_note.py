r"""
Signed notes, checkpoints and cosignatures, as the C2SP specifications define them.

Three specifications, implemented with Ed25519 only:

- `c2sp.org/signed-note <https://c2sp.org/signed-note>`_: a UTF-8 text ending in a
  newline, a blank line, then one or more lines ``— <key name> <base64>`` (an em dash
  U+2014 and a space first), the base64 holding a 4-byte key hash and a signature.
  The key hash is ``SHA-256(key name || 0x0A || signature type || public key)[:4]``,
  and a verifier key (*vkey*) is ``<key name>+<hex key hash>+<base64(type || key)>``.
- `c2sp.org/tlog-checkpoint <https://c2sp.org/tlog-checkpoint>`_: a note text of an
  origin line, a tree size in decimal without leading zeros, the base64 root hash,
  then optional non-empty extension lines.
- `c2sp.org/tlog-cosignature <https://c2sp.org/tlog-cosignature>`_ (the Ed25519 type,
  signature type ``0x04``): the signature is ``u64 timestamp || Ed25519 signature``,
  big-endian, over ``"cosignature/v1\ntime <timestamp>\n"`` followed by the whole
  checkpoint text, extension lines included.

Parsing is strict: anything the specifications do not allow raises :class:`NoteError`,
whose message names the problem and the line. :func:`open_note` ignores signatures by
unknown keys, and refuses the note when a known key's signature does not verify or
when no known key signed it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from vision_audit._text import printable
from vision_audit.exceptions import VisionAuditError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = [
    "COSIGNATURE_V1",
    "ED25519",
    "CheckpointBody",
    "Cosigner",
    "Note",
    "NoteError",
    "NoteSignature",
    "NoteSigner",
    "NoteVerifier",
    "Verified",
    "key_hash",
    "open_note",
    "parse_checkpoint",
    "parse_note",
]

ED25519: Final = 0x01
"""The signature type byte of Ed25519 note signatures (c2sp.org/signed-note)."""
COSIGNATURE_V1: Final = 0x04
"""The signature type byte of timestamped Ed25519 cosignatures (tlog-cosignature)."""

_ALGORITHMS: Final = {ED25519: "Ed25519", COSIGNATURE_V1: "cosignature/v1"}
_KEY_HASH_SIZE: Final = 4
_ED25519_KEY_SIZE: Final = 32
_ED25519_SIGNATURE_SIZE: Final = 64
_TIMESTAMP_SIZE: Final = 8
_COSIGNATURE_SIZE: Final = _TIMESTAMP_SIZE + _ED25519_SIGNATURE_SIZE
_ROOT_HASH_SIZE: Final = 32
_INT63: Final = 2**63
_INT63_DIGITS: Final = len(str(_INT63 - 1))
_CHECKPOINT_LINES: Final = 3
_SPEC_MIN_SIGNATURES: Final = 16
_SIGNATURE_PREFIX: Final = "\u2014 "
_COSIGNATURE_HEADER: Final = "cosignature/v1\n"

# Unicode's White_Space property (what Go's unicode.IsSpace accepts); str.isspace()
# adds U+001C..U+001F, which are control characters and refused anyway.
_WHITE_SPACE: Final = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# ASCII control characters other than newline, and lone surrogates (no UTF-8 form).
_FORBIDDEN: Final = re.compile("[\x00-\x09\x0b-\x1f\ud800-\udfff]")
_TREE_SIZE: Final = re.compile("0|[1-9][0-9]*")
_KEY_HASH_HEX: Final = re.compile("[0-9a-f]{8}")


class NoteError(VisionAuditError, ValueError):
    """
    A signed note, checkpoint, cosignature or verifier key is malformed or fails.

    The message names the problem and, for text, the line (counted from 1).

    .. versionadded:: 0.1.0
    """


def _code_point(char: str) -> str:
    """*char* as ``U+XXXX``."""
    return f"U+{ord(char):04X}"


def _shown(text: str) -> str:
    """*text* quoted for a message, control and bidirectional characters escaped."""
    return repr(printable(text))


def _line_of(text: str, index: int, first_line: int = 1) -> int:
    """The line number of ``text[index]``."""
    return first_line + text.count("\n", 0, index)


def _check_chars(text: str, *, first_line: int = 1) -> None:
    """
    Refuse control characters other than newline, and text with no UTF-8 form.

    Raises:
        NoteError: Naming the first such character and its line.
    """
    found = _FORBIDDEN.search(text)
    if found is None:
        return
    char = found.group()
    line = _line_of(text, found.start(), first_line)
    if char == "\r":
        msg = f"line {line}: carriage return (U+000D); lines end with a newline alone"
    elif "\ud800" <= char <= "\udfff":
        msg = f"line {line}: lone surrogate {_code_point(char)} is not valid UTF-8"
    else:
        msg = (
            f"line {line}: control character {_code_point(char)}; "
            "only newline (U+000A) is allowed"
        )
    raise NoteError(msg)


def _check_body(body: str) -> None:
    """
    Check the text of a note: non-empty, ending in a newline, no control characters.

    Raises:
        NoteError: Naming the problem and its line.
    """
    if not body:
        msg = "line 1: the note text is empty"
        raise NoteError(msg)
    _check_chars(body)
    if not body.endswith("\n"):
        msg = (
            f"line {_line_of(body, len(body))}: the note text does not end in a newline"
        )
        raise NoteError(msg)


def _check_name(name: str, where: str = "") -> None:
    """
    Check a key name: non-empty, valid UTF-8, no Unicode space, no ``+``.

    Control characters are refused too, since no note can carry them.

    Raises:
        NoteError: Naming the problem, after the *where* prefix.
    """
    if not name:
        msg = f"{where}the key name is empty"
        raise NoteError(msg)
    for char in name:
        if char in _WHITE_SPACE or char.isspace():
            problem = f"the space {_code_point(char)}"
        elif char == "+":
            problem = "a plus sign (U+002B)"
        elif _FORBIDDEN.match(char):
            problem = f"the character {_code_point(char)}, which has no place in a note"
        else:
            continue
        msg = f"{where}key name {_shown(name)} contains {problem}"
        raise NoteError(msg)


def _decode_base64(text: str, what: str, where: str) -> bytes:
    """
    Decode standard base64 (RFC 4648, section 4) in its one canonical form.

    Padding is required, and the unused bits of the last character must be zero, so
    that each byte string has exactly one accepted encoding.

    Raises:
        NoteError: When *text* is anything else.
    """
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = None
    if raw is None or base64.b64encode(raw).decode("ascii") != text:
        msg = f"{where}the {what} {_shown(text)} is not canonical standard base64"
        raise NoteError(msg)
    return raw


def _check_timestamp(timestamp: int) -> None:
    """
    Check a cosignature timestamp: an int from 0 to 2**63 - 1.

    Raises:
        NoteError: When it is out of range or not an int.
    """
    if (
        not isinstance(timestamp, int)
        or isinstance(timestamp, bool)
        or not 0 <= timestamp < _INT63
    ):
        msg = f"cosignature timestamp {timestamp!r} is not an integer in [0, 2**63 - 1]"
        raise NoteError(msg)


def _cosignature_message(body: str, timestamp: int) -> bytes:
    """The bytes a cosignature/v1 signs: header line, time line, checkpoint text."""
    return f"{_COSIGNATURE_HEADER}time {timestamp}\n{body}".encode()


def key_hash(name: str, alg: int, public_key: bytes) -> bytes:
    """
    The 4-byte key hash (key ID) of a note key.

    It is ``SHA-256(name || 0x0A || alg || public_key)[:4]``, as signed-note
    recommends and tlog-cosignature requires.

    Args:
        name: The key name.
        alg: The signature type byte, such as :data:`ED25519` or
            :data:`COSIGNATURE_V1`.
        public_key: The encoded public key (32 bytes for Ed25519).

    Returns:
        The first four bytes of the digest.

    Raises:
        NoteError: When *name* is not a valid key name or *alg* is not a byte.

    .. versionadded:: 0.1.0
    """
    _check_name(name)
    if not 0 <= alg <= 0xFF:  # noqa: PLR2004 - the range of a byte
        msg = f"signature type {alg} is not a byte"
        raise NoteError(msg)
    data = name.encode() + b"\n" + bytes((alg,)) + public_key
    return hashlib.sha256(data).digest()[:_KEY_HASH_SIZE]


def _raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    """The 32 bytes of an Ed25519 public key (RFC 8032 encoding)."""
    return public_key.public_bytes_raw()


@dataclass(frozen=True, slots=True, eq=False)
class NoteVerifier:
    """
    A trusted Ed25519 key that verifies note signatures or cosignatures.

    Equal verifiers have the same name, signature type and public key.

    Attributes:
        name: The key name.
        alg: :data:`ED25519` for note signatures, :data:`COSIGNATURE_V1` for
            timestamped cosignatures.
        public_key: The Ed25519 public key.
        key_hash: The 4-byte key hash, computed from the three above.

    .. versionadded:: 0.1.0
    """

    name: str
    alg: int
    public_key: Ed25519PublicKey = field(repr=False)
    key_hash: bytes = field(init=False)

    def __post_init__(self) -> None:
        """
        Check the name and the signature type, and compute the key hash.

        Raises:
            NoteError: When the name is invalid or the type is not Ed25519-based.
        """
        _check_name(self.name)
        if self.alg not in _ALGORITHMS:
            msg = (
                f"signature type {self.alg!r} is not supported: "
                "0x01 (Ed25519) and 0x04 (cosignature/v1) are"
            )
            raise NoteError(msg)
        digest = key_hash(self.name, self.alg, _raw_public_key(self.public_key))
        object.__setattr__(self, "key_hash", digest)

    def __eq__(self, other: object) -> bool:
        """Same name, signature type and public key."""
        if not isinstance(other, NoteVerifier):
            return NotImplemented
        return self._identity() == other._identity()

    def __hash__(self) -> int:
        """Hash of the name, signature type and public key."""
        return hash(self._identity())

    def _identity(self) -> tuple[str, int, bytes]:
        """What makes two verifiers equal."""
        return (self.name, self.alg, _raw_public_key(self.public_key))

    @classmethod
    def for_key(
        cls, name: str, public_key: Ed25519PublicKey, alg: int = ED25519
    ) -> NoteVerifier:
        """
        The verifier of *public_key* under *name*.

        Args:
            name: The key name.
            public_key: The Ed25519 public key.
            alg: :data:`ED25519` (the default) or :data:`COSIGNATURE_V1`.

        Returns:
            The verifier.

        Raises:
            NoteError: When the name is invalid or the type is unsupported.
        """
        return cls(name=name, alg=alg, public_key=public_key)

    @classmethod
    def from_vkey(cls, text: str) -> NoteVerifier:
        """
        Parse a verifier key: ``<name>+<hex key hash>+<base64(type || key)>``.

        The hex is exactly 8 lowercase digits and must equal the key hash computed
        from the rest; the base64 is canonical standard base64 of 33 bytes, the type
        being 0x01 or 0x04. Nothing else is accepted, not even surrounding spaces.

        Args:
            text: The verifier key.

        Returns:
            The verifier.

        Raises:
            NoteError: Naming what is wrong with *text*.
        """
        where = "verifier key: "
        parts = text.split("+", 2)
        if len(parts) != 3:  # noqa: PLR2004 - name, hash, key
            msg = f"{where}{_shown(text)} is not '<name>+<hex key hash>+<base64 key>'"
            raise NoteError(msg)
        name, hash_hex, encoded = parts
        _check_name(name, where)
        if not _KEY_HASH_HEX.fullmatch(hash_hex):
            msg = f"{where}key hash {_shown(hash_hex)} is not 8 lowercase hex digits"
            raise NoteError(msg)
        raw = _decode_base64(encoded, "key", where)
        if len(raw) != 1 + _ED25519_KEY_SIZE:
            msg = (
                f"{where}the key is {len(raw)} bytes; an Ed25519 key is "
                f"1 type byte and {_ED25519_KEY_SIZE} key bytes"
            )
            raise NoteError(msg)
        if raw[0] not in _ALGORITHMS:
            msg = (
                f"{where}signature type 0x{raw[0]:02x} is not supported: "
                "0x01 (Ed25519) and 0x04 (cosignature/v1) are"
            )
            raise NoteError(msg)
        try:
            public_key = Ed25519PublicKey.from_public_bytes(raw[1:])
        except ValueError as err:
            msg = f"{where}the key is not an Ed25519 public key"
            raise NoteError(msg) from err
        verifier = cls(name=name, alg=raw[0], public_key=public_key)
        if verifier.key_hash.hex() != hash_hex:
            msg = (
                f"{where}key hash {hash_hex} does not match the name and key, "
                f"which hash to {verifier.key_hash.hex()}"
            )
            raise NoteError(msg)
        return verifier

    def vkey(self) -> str:
        """The verifier key text: ``<name>+<hex key hash>+<base64(type || key)>``."""
        material = bytes((self.alg,)) + _raw_public_key(self.public_key)
        encoded = base64.b64encode(material).decode("ascii")
        return f"{self.name}+{self.key_hash.hex()}+{encoded}"


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """
    One signature line of a note, decoded but not verified.

    Attributes:
        name: The key name.
        key_hash: The 4-byte key hash.
        blob: The bytes after the key hash: the signature (for cosignatures, the
            8-byte timestamp, then the signature).

    .. versionadded:: 0.1.0
    """

    name: str
    key_hash: bytes
    blob: bytes

    def __post_init__(self) -> None:
        """
        Check the name, the 4-byte key hash and a non-empty signature.

        Raises:
            NoteError: When one of them is malformed.
        """
        _check_name(self.name)
        if len(self.key_hash) != _KEY_HASH_SIZE:
            msg = f"key hash is {len(self.key_hash)} bytes, not {_KEY_HASH_SIZE}"
            raise NoteError(msg)
        if not self.blob:
            msg = f"signature by {self.name} is empty"
            raise NoteError(msg)

    def line(self) -> str:
        r"""The signature line, newline included: ``— <name> <base64>\n``."""
        encoded = base64.b64encode(self.key_hash + self.blob).decode("ascii")
        return f"{_SIGNATURE_PREFIX}{self.name} {encoded}\n"


@dataclass(frozen=True, slots=True)
class Note:
    """
    A signed note: its text and its signature lines, in order.

    Attributes:
        body: The note text, final newline included, blank separator line excluded.
        signatures: One or more signatures.

    .. versionadded:: 0.1.0
    """

    body: str
    signatures: tuple[NoteSignature, ...]

    def __post_init__(self) -> None:
        """
        Check the text and that there is at least one signature.

        Raises:
            NoteError: When the text is not a note text or no signature is given.
        """
        _check_body(self.body)
        if not self.signatures:
            msg = (
                f"line {_line_of(self.body, len(self.body))}: the note has no signature"
            )
            raise NoteError(msg)

    def text(self) -> str:
        """The note as text: body, blank line, signature lines."""
        return self.body + "\n" + "".join(sig.line() for sig in self.signatures)


@dataclass(frozen=True, slots=True)
class NoteSigner:
    """
    An Ed25519 key that signs notes (signature type :data:`ED25519`).

    Attributes:
        name: The key name, written in each signature line.
        private_key: The Ed25519 private key.

    .. versionadded:: 0.1.0
    """

    name: str
    private_key: Ed25519PrivateKey = field(repr=False)

    def __post_init__(self) -> None:
        """
        Check the key name.

        Raises:
            NoteError: When it is not a valid key name.
        """
        _check_name(self.name)

    @property
    def verifier(self) -> NoteVerifier:
        """The verifier of this signer's signatures."""
        return NoteVerifier(self.name, ED25519, self.private_key.public_key())

    def sign(self, body: str) -> str:
        r"""
        Sign a note text.

        Args:
            body: The note text, ending in a newline.

        Returns:
            One signature line, ``— <name> <base64(key hash || signature)>\n``.
            The note is ``body + "\n"`` followed by its signature lines.

        Raises:
            NoteError: When *body* is not a note text.
        """
        _check_body(body)
        signature = self.private_key.sign(body.encode())
        return NoteSignature(self.name, self.verifier.key_hash, signature).line()


@dataclass(frozen=True, slots=True)
class Cosigner:
    """
    An Ed25519 key that cosigns checkpoints (signature type :data:`COSIGNATURE_V1`).

    The cosignature/v1 message does not hold the cosigner's name, so one key must
    serve one cosigner name only (tlog-cosignature).

    Attributes:
        name: The cosigner's key name.
        private_key: The Ed25519 private key.

    .. versionadded:: 0.1.0
    """

    name: str
    private_key: Ed25519PrivateKey = field(repr=False)

    def __post_init__(self) -> None:
        """
        Check the key name.

        Raises:
            NoteError: When it is not a valid key name.
        """
        _check_name(self.name)

    @property
    def verifier(self) -> NoteVerifier:
        """The verifier of this cosigner's cosignatures."""
        return NoteVerifier(self.name, COSIGNATURE_V1, self.private_key.public_key())

    def cosign(self, body: str, timestamp: int) -> str:
        r"""
        Cosign a checkpoint at *timestamp*.

        Args:
            body: The checkpoint text (see :func:`parse_checkpoint`).
            timestamp: Seconds since the UNIX epoch, 0 to 2**63 - 1.

        Returns:
            One signature line whose base64 holds the key hash, the timestamp as 8
            big-endian bytes, and the Ed25519 signature of
            ``"cosignature/v1\ntime <timestamp>\n" + body``.

        Raises:
            NoteError: When *body* is not a checkpoint or *timestamp* is out of range.
        """
        parse_checkpoint(body)
        _check_timestamp(timestamp)
        signature = self.private_key.sign(_cosignature_message(body, timestamp))
        blob = timestamp.to_bytes(_TIMESTAMP_SIZE, "big") + signature
        return NoteSignature(self.name, self.verifier.key_hash, blob).line()


@dataclass(frozen=True, slots=True)
class Verified:
    """
    A signature of a note that a trusted key made and that verifies.

    Attributes:
        verifier: The trusted key.
        timestamp: For a cosignature, its time in seconds since the UNIX epoch;
            ``None`` for a plain Ed25519 signature.

    .. versionadded:: 0.1.0
    """

    verifier: NoteVerifier
    timestamp: int | None


def parse_note(
    text: str | bytes, *, max_bytes: int = 1 << 20, max_signatures: int = 100
) -> Note:
    """
    Parse a signed note, strictly (c2sp.org/signed-note).

    The note is valid UTF-8 with no control character but newline, and no larger
    than *max_bytes*. Its text ends in a newline, and is separated by the last blank
    line from one to *max_signatures* lines ``— <key name> <base64>``, each ending
    in a newline, with single spaces, a valid key name and canonical standard base64
    of at least 5 bytes. Nothing is verified: see :func:`open_note`.

    Args:
        text: The note, as text or as UTF-8 bytes.
        max_bytes: The largest note accepted, in UTF-8 bytes.
        max_signatures: The most signature lines accepted; the specification
            requires at least 16.

    Returns:
        The note.

    Raises:
        NoteError: Naming what is wrong, and where.
        ValueError: When *max_signatures* is below 16.

    .. versionadded:: 0.1.0
    """
    if max_signatures < _SPEC_MIN_SIGNATURES:
        msg = f"max_signatures must be at least {_SPEC_MIN_SIGNATURES} (signed-note)"
        raise ValueError(msg)
    decoded = _decode_note(text, max_bytes=max_bytes)
    if not decoded.endswith("\n"):
        line = _line_of(decoded, len(decoded))
        msg = f"line {line}: the note does not end in a newline"
        raise NoteError(msg)
    split = decoded.rfind("\n\n")
    if split < 0:
        msg = "the note has no blank line between its text and its signatures"
        raise NoteError(msg)
    body = decoded[: split + 1]
    blank = _line_of(decoded, split + 1)
    block = decoded[split + 2 :]
    if not block:
        msg = f"line {blank}: the last blank line is followed by no signature line"
        raise NoteError(msg)
    lines = block[:-1].split("\n")
    if len(lines) > max_signatures:
        msg = f"the note has {len(lines)} signatures; at most {max_signatures} are read"
        raise NoteError(msg)
    signatures = tuple(
        _parse_signature_line(line, blank + 1 + index)
        for index, line in enumerate(lines)
    )
    return Note(body, signatures)


def _decode_note(text: str | bytes, *, max_bytes: int) -> str:
    """
    *text* as a str, checked for its size, UTF-8 form and control characters.

    Raises:
        NoteError: When the note is too large, not valid UTF-8, or holds a control
            character other than newline.
    """
    if isinstance(text, str):
        size = len(text.encode(errors="surrogatepass"))
    else:
        size = len(text)
    if size > max_bytes:
        msg = f"the note is {size} bytes; at most {max_bytes} are read"
        raise NoteError(msg)
    if isinstance(text, str):
        decoded = text
    else:
        try:
            decoded = text.decode("utf-8")
        except UnicodeDecodeError as err:
            line = 1 + text.count(b"\n", 0, err.start)
            msg = f"line {line}: the note is not valid UTF-8 (byte {err.start})"
            raise NoteError(msg) from err
    _check_chars(decoded)
    return decoded


def _parse_signature_line(line: str, number: int) -> NoteSignature:
    """
    Parse ``— <key name> <base64>`` (the newline already removed).

    Raises:
        NoteError: Naming what is wrong, and the line *number*.
    """
    where = f"line {number}: "
    if not line.startswith(_SIGNATURE_PREFIX):
        msg = (
            f"{where}{_shown(line)} is not a signature line, which starts with an "
            "em dash (U+2014) and a space"
        )
        raise NoteError(msg)
    fields = line[len(_SIGNATURE_PREFIX) :].split(" ")
    if len(fields) != 2:  # noqa: PLR2004 - name and signature
        msg = (
            f"{where}a signature line is '— <key name> <base64>' with single "
            f"spaces; this one has {len(fields)} space-separated fields"
        )
        raise NoteError(msg)
    name, encoded = fields
    _check_name(name, where)
    raw = _decode_base64(encoded, "signature", where)
    if len(raw) <= _KEY_HASH_SIZE:
        msg = (
            f"{where}the signature is {len(raw)} bytes; it needs a "
            f"{_KEY_HASH_SIZE}-byte key hash and at least one byte more"
        )
        raise NoteError(msg)
    return NoteSignature(name, raw[:_KEY_HASH_SIZE], raw[_KEY_HASH_SIZE:])


def open_note(note: Note, verifiers: Iterable[NoteVerifier]) -> list[Verified]:
    """
    Verify the signatures of *note* made by trusted keys.

    A signature belongs to a trusted key when both its key name and its key hash
    match that key's. Signatures of other keys are ignored, as signed-note requires,
    even when they share a name or a key hash with a trusted key. Each signature of
    a trusted key must verify; a line repeated verbatim counts once.

    Args:
        note: The parsed note (see :func:`parse_note`).
        verifiers: The trusted keys. Two different keys with the same name and key
            hash make a signature that names them ambiguous.

    Returns:
        The verified signatures, in the note's order; cosignatures carry their
        timestamp.

    Raises:
        NoteError: When a trusted key's signature does not verify (``signature by
            <name> does not verify``), when a signature names ambiguous keys, or
            when no trusted key signed the note.

    .. versionadded:: 0.1.0
    """
    known: dict[tuple[str, bytes], NoteVerifier] = {}
    ambiguous: set[tuple[str, bytes]] = set()
    for verifier in verifiers:
        ident = (verifier.name, verifier.key_hash)
        if known.setdefault(ident, verifier) != verifier:
            ambiguous.add(ident)
    first = _line_of(note.body, len(note.body)) + 1
    verified: list[Verified] = []
    seen: set[NoteSignature] = set()
    for index, signature in enumerate(note.signatures):
        where = f"line {first + index}: "
        ident = (signature.name, signature.key_hash)
        if ident in ambiguous:
            msg = (
                f"{where}two trusted keys have the name {signature.name} and the "
                f"key hash {signature.key_hash.hex()}"
            )
            raise NoteError(msg)
        trusted = known.get(ident)
        if trusted is None:
            continue
        timestamp = _verify(trusted, note.body, signature, where)
        if signature not in seen:
            seen.add(signature)
            verified.append(Verified(trusted, timestamp))
    if not verified:
        msg = "the note has no signature by a trusted key"
        raise NoteError(msg)
    return verified


def _verify(
    verifier: NoteVerifier, body: str, signature: NoteSignature, where: str
) -> int | None:
    """
    Verify one signature whose name and key hash are *verifier*'s.

    Returns:
        The cosignature timestamp, or ``None`` for an Ed25519 note signature.

    Raises:
        NoteError: ``signature by <name> does not verify``, with the reason.
    """
    failed = f"{where}signature by {signature.name} does not verify"
    timestamp: int | None = None
    if verifier.alg == COSIGNATURE_V1:
        if len(signature.blob) != _COSIGNATURE_SIZE:
            msg = (
                f"{failed}: a cosignature/v1 is {_COSIGNATURE_SIZE} bytes, "
                f"not {len(signature.blob)}"
            )
            raise NoteError(msg)
        timestamp = int.from_bytes(signature.blob[:_TIMESTAMP_SIZE], "big")
        if timestamp >= _INT63:
            msg = f"{failed}: its timestamp {timestamp} exceeds 2**63 - 1"
            raise NoteError(msg)
        try:
            parse_checkpoint(body)
        except NoteError as err:
            msg = f"{failed}: the note text is not a checkpoint ({err})"
            raise NoteError(msg) from err
        message = _cosignature_message(body, timestamp)
        raw = signature.blob[_TIMESTAMP_SIZE:]
    else:
        if len(signature.blob) != _ED25519_SIGNATURE_SIZE:
            msg = (
                f"{failed}: an Ed25519 signature is {_ED25519_SIGNATURE_SIZE} "
                f"bytes, not {len(signature.blob)}"
            )
            raise NoteError(msg)
        message = body.encode()
        raw = signature.blob
    try:
        verifier.public_key.verify(raw, message)
    except InvalidSignature as err:
        raise NoteError(failed) from err
    return timestamp


@dataclass(frozen=True, slots=True)
class CheckpointBody:
    """
    The text of a transparency log checkpoint (c2sp.org/tlog-checkpoint).

    Attributes:
        origin: The log's identity; non-empty, one line.
        size: The number of leaves, 0 to 2**63 - 1.
        root_hash: The 32-byte RFC 6962 Merkle tree root hash.
        extensions: Optional extension lines, each non-empty (not recommended).

    .. versionadded:: 0.1.0
    """

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """
        Check each field against what the checkpoint text can hold.

        Raises:
            NoteError: Naming the field (and its line) that is wrong.
        """
        _check_line(self.origin, 1, "the origin")
        if (
            not isinstance(self.size, int)
            or isinstance(self.size, bool)
            or not 0 <= self.size < _INT63
        ):
            msg = f"line 2: tree size {self.size!r} is not an integer in [0, 2**63 - 1]"
            raise NoteError(msg)
        if len(self.root_hash) != _ROOT_HASH_SIZE:
            msg = (
                f"line 3: the root hash is {len(self.root_hash)} bytes, "
                f"not {_ROOT_HASH_SIZE}"
            )
            raise NoteError(msg)
        for index, extension in enumerate(self.extensions):
            _check_line(extension, _CHECKPOINT_LINES + 1 + index, "an extension line")

    def text(self) -> str:
        """The checkpoint text: origin, size, base64 root hash, extension lines."""
        root = base64.b64encode(self.root_hash).decode("ascii")
        lines = (self.origin, str(self.size), root, *self.extensions)
        return "".join(line + "\n" for line in lines)


def _check_line(text: str, number: int, what: str) -> None:
    """
    Check one non-empty checkpoint line, without its newline.

    Raises:
        NoteError: When it is empty, holds a newline or a control character.
    """
    if not text:
        msg = f"line {number}: {what} is empty"
        raise NoteError(msg)
    if "\n" in text:
        msg = f"line {number}: {what} holds a newline"
        raise NoteError(msg)
    _check_chars(text, first_line=number)


def parse_checkpoint(body: str) -> CheckpointBody:
    """
    Parse a checkpoint text, strictly (c2sp.org/tlog-checkpoint).

    The text is a note text of at least three lines: a non-empty origin, the tree
    size in ASCII decimal with no leading zero (``0`` alone for an empty tree) below
    2**63, and the root hash in canonical standard base64 of exactly 32 bytes. Any
    further lines are extension lines, which must not be empty.

    Args:
        body: The note text of the checkpoint, final newline included.

    Returns:
        The checkpoint.

    Raises:
        NoteError: Naming what is wrong, and the line.

    .. versionadded:: 0.1.0
    """
    _check_body(body)
    lines = body[:-1].split("\n")
    if len(lines) < _CHECKPOINT_LINES:
        msg = (
            f"line {len(lines) + 1}: a checkpoint has an origin, a tree size and a "
            f"root hash line; this text has {len(lines)} line(s)"
        )
        raise NoteError(msg)
    origin, size_text, root_text, *extensions = lines
    if not origin:
        msg = "line 1: the origin is empty"
        raise NoteError(msg)
    if not _TREE_SIZE.fullmatch(size_text):
        msg = (
            f"line 2: tree size {_shown(size_text)} is not ASCII decimal digits "
            "without leading zeros"
        )
        raise NoteError(msg)
    if len(size_text) > _INT63_DIGITS or int(size_text) >= _INT63:
        msg = f"line 2: tree size {size_text} exceeds 2**63 - 1"
        raise NoteError(msg)
    root_hash = _decode_base64(root_text, "root hash", "line 3: ")
    for index, extension in enumerate(extensions):
        if not extension:
            msg = f"line {_CHECKPOINT_LINES + 1 + index}: an extension line is empty"
            raise NoteError(msg)
    return CheckpointBody(origin, int(size_text), root_hash, tuple(extensions))
