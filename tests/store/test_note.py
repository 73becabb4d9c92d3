"""
Signed notes, checkpoints and cosignatures (C2SP), against published vectors.

The known answers come from golang.org/x/mod/sumdb/note (note_test.go: the
PeterNeumann and EnochRoot keys and signatures), from the C2SP specifications
(signed-note, tlog-checkpoint and tlog-cosignature examples), from
github.com/transparency-dev/formats (note/note_cosigv1_test.go: cosignature/v1 vkeys)
and from github.com/FiloSottile/torchwood (a Sigsum log's signed checkpoint in
cmd/litewitness/testdata/multi-cosigs-ed25519.txt).
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from hypothesis import given
from hypothesis import strategies as st
from vision_audit.exceptions import VisionAuditError
from vision_audit.store._note import (
    COSIGNATURE_V1,
    ED25519,
    CheckpointBody,
    Cosigner,
    Note,
    NoteError,
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    Verified,
    key_hash,
    open_note,
    parse_checkpoint,
    parse_note,
)

# golang.org/x/mod/sumdb/note, note_test.go.
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = (
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
)
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
SIG = PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKv"
    "qfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01o"
    "OTGwnWLox33WWd1RvMc+QQ=\n"
)

# c2sp.org/signed-note, "Example"; and the note at the top of the same document.
FOO_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
FOO_NOTE = (
    "This is an example message.\n"
    "\n"
    "— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsY"
    "jOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)
POEM_NOTE = (
    "Ognuno sta solo sul cuor della terra\n"
    "trafitto da un raggio di sole:\n"
    "\n"
    "ed è subito sera.\n"
    "\n"
    "— quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfL"
    "W9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n"
)

# c2sp.org/tlog-checkpoint and c2sp.org/tlog-cosignature, the examples.
SOFA_BODY = (
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)
SOFA_NOTE = (
    SOFA_BODY + "\n"
    "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4U"
    "RYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZC"
    "B9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)
SOFA_TIME = 1679315147  # the spec's "time 1679315147" line

# transparency-dev/formats, note/note_cosigv1_test.go.
REMORA_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
TEST_VKEY = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"

# FiloSottile/torchwood, cmd/litewitness/testdata/multi-cosigs-ed25519.txt.
SIGSUM_KEY = bytes.fromhex(
    "52c05edad1bf5feffa81354faae59a655d9a9a1a793ed2f62c39c26c0be2aecd"
)
SIGSUM_ORIGIN = (
    "sigsum.org/v1/tree/"
    "985ea163f5af026723561354f51f2ebcdcf2af809ce254ccfb64aa9aadd80f90"
)
SIGSUM_NOTE = (
    f"{SIGSUM_ORIGIN}\n1\nKgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n"
    f"— {SIGSUM_ORIGIN} 7BKT0gOfNZ1J0So9unY3BZtm2YkPIoNYM/dce0Z2avJDs8dxN6ts9bOSwwrVrb"
    "jm6P9K3ZxpK6jJngOG6YvGGzV/lwo=\n"
)

# RFC 8032, section 7.1, test 1.
RFC8032_SEED = bytes.fromhex(
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
)

KEY = Ed25519PrivateKey.from_private_bytes(RFC8032_SEED)
ROOT = hashlib.sha256(b"root").digest()
ROOT_B64 = base64.b64encode(ROOT).decode()
CHECKPOINT = f"example.com/log\n42\n{ROOT_B64}\n"
URLSAFE = base64.urlsafe_b64encode(b"\xff" * 32).decode()

NOTE_CHARS = st.characters(
    blacklist_categories=("Cs",),
    blacklist_characters=[chr(c) for c in range(0x20) if c != 0x0A],
)
LINE_CHARS = st.characters(
    blacklist_categories=("Cs",), blacklist_characters=[chr(c) for c in range(0x20)]
)
NAME_CHARS = st.characters(
    blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc"), blacklist_characters="+\x85"
)


def _go_signer() -> NoteSigner:
    """The signer of Go's PRIVATE+KEY+PeterNeumann+... key."""
    _, _, name, _, encoded = PETER_SKEY.split("+", 4)
    raw = base64.b64decode(encoded)
    assert ED25519 == raw[0]
    return NoteSigner(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))


def _b64(data: bytes) -> str:
    """Standard base64 of *data*, as text."""
    return base64.b64encode(data).decode()


def _vkey(alg: int, key: bytes) -> str:
    """A vkey named k, of any type and key, with its matching key hash."""
    return f"k+{key_hash('k', alg, key).hex()}+{_b64(bytes((alg,)) + key)}"


def _signature(line: str) -> NoteSignature:
    """The one signature of *line*, parsed."""
    return parse_note("x\n\n" + line).signatures[0]


class TestKeyHash:
    """key_hash(): SHA-256(name || 0x0A || type || key)[:4]."""

    @pytest.mark.parametrize(
        "vkey", [PETER_VKEY, ENOCH_VKEY, FOO_VKEY, REMORA_VKEY, TEST_VKEY]
    )
    def test_published(self, vkey):
        """The key hash of each published vkey is recomputed from its name and key."""
        name, hex_hash, encoded = vkey.split("+", 2)
        raw = base64.b64decode(encoded)

        assert bytes.fromhex(hex_hash) == key_hash(name, raw[0], raw[1:])

    def test_sigsum(self):
        """A Sigsum log's key hash is the first four bytes of its signature line."""
        signature = parse_note(SIGSUM_NOTE).signatures[0]

        assert signature.key_hash == key_hash(SIGSUM_ORIGIN, ED25519, SIGSUM_KEY)
        assert bytes.fromhex("ec1293d2") == signature.key_hash

    def test_type_separates(self):
        """The same name and key hash differently as Ed25519 and as cosignature/v1."""
        raw = bytes(32)

        assert key_hash("k", ED25519, raw) != key_hash("k", COSIGNATURE_V1, raw)

    @pytest.mark.parametrize("alg", [-1, 256])
    def test_alg_is_a_byte(self, alg):
        """A signature type outside 0..255 is refused."""
        with pytest.raises(NoteError, match="is not a byte"):
            key_hash("k", alg, bytes(32))

    @pytest.mark.parametrize(
        ("name", "problem"),
        [
            ("", "is empty"),
            ("a b", "the space U\\+0020"),
            ("a\u00a0b", "the space U\\+00A0"),
            ("a\u3000b", "the space U\\+3000"),
            ("a\u2028b", "the space U\\+2028"),
            ("a+b", "a plus sign"),
            ("a\x01b", "U\\+0001"),
            ("a\ud800b", "U\\+D800"),
        ],
    )
    def test_names(self, name, problem):
        """Key names are non-empty, with no Unicode space, plus or control character."""
        with pytest.raises(NoteError, match=problem):
            key_hash(name, ED25519, bytes(32))


class TestNoteVerifier:
    """Verifier keys: <name>+<hex key hash>+<base64(type || key)>, strictly."""

    @pytest.mark.parametrize(
        ("vkey", "name", "alg"),
        [
            (PETER_VKEY, "PeterNeumann", ED25519),
            (ENOCH_VKEY, "EnochRoot", ED25519),
            (FOO_VKEY, "example.com/foo", ED25519),
            (REMORA_VKEY, "remora.n621.de", COSIGNATURE_V1),
            (TEST_VKEY, "TEST", ED25519),
        ],
    )
    def test_published(self, vkey, name, alg):
        """Published vkeys parse, and print back unchanged."""
        verifier = NoteVerifier.from_vkey(vkey)

        assert (name, alg, vkey) == (verifier.name, verifier.alg, verifier.vkey())
        assert bytes.fromhex(vkey.split("+")[1]) == verifier.key_hash

    @pytest.mark.parametrize(
        ("vkey", "problem"),
        [
            (PETER_VKEY.replace("c74f20a3", "c74f20a4"), "does not match"),
            (PETER_VKEY.replace("c74f20a3", "C74F20A3"), "8 lowercase hex"),
            (PETER_VKEY.replace("c74f20a3", "c74f20a"), "8 lowercase hex"),
            (PETER_VKEY.replace("c74f20a3", "0xc74f20a3"), "8 lowercase hex"),
            (PETER_VKEY.replace("c74f20a3", " c74f20a3"), "8 lowercase hex"),
            ("PeterNeumann+c74f20a3", "is not '<name>"),
            ("PeterNeumann", "is not '<name>"),
            (PETER_VKEY.replace("PeterNeumann", ""), "key name is empty"),
            (PETER_VKEY.replace("Peter", "Peter "), "U\\+0020"),
            (" " + PETER_VKEY, "U\\+0020"),
            (PETER_VKEY + "\n", "the key .* is not canonical standard base64"),
            (PETER_VKEY + " ", "the key .* is not canonical standard base64"),
            (PETER_VKEY.replace("/", "_"), "the key .* is not canonical"),
            (PETER_VKEY + "=", "the key .* is not canonical"),
            ("rekor.sigstore.dev+12345678+THIS_IS_NOT_BASE64!", "not canonical"),
            # Go's "wrong length key, with adjusted key hash" (not canonical, too).
            (PETER_VKEY.replace("c74f20a3", "cc469956") + "BADKEY==", "not canonical"),
            (_vkey(ED25519, bytes(33)), "the key is 34 bytes; an Ed25519 key is"),
            (_vkey(ED25519, bytes(31)), "the key is 32 bytes"),
            ("rekor.sigstore.dev+12345678+AwEB", "the key is 3 bytes"),
            # Go's "unknown algorithm, with adjusted key hash".
            (
                PETER_VKEY.replace("c74f20a3+A", "173116ae+Z"),
                "signature type 0x65 is not supported",
            ),
            (_vkey(0x02, bytes(32)), "signature type 0x02 is not supported"),
            (_vkey(0x06, bytes(32)), "signature type 0x06 is not supported"),
        ],
    )
    def test_refused(self, vkey, problem):
        """Each malformed vkey is refused with a message naming the problem."""
        with pytest.raises(NoteError, match=problem):
            NoteVerifier.from_vkey(vkey)

    def test_every_mangling_refused(self):
        """As in Go's TestNewVerifier: no substring nor one-byte change is accepted."""
        accepted = []
        data = PETER_VKEY.encode()
        variants = [
            data[i:j]
            for i in range(len(data) + 1)
            for j in range(i + 1, len(data) + 1)
            if (i, j) != (0, len(data))
        ]
        variants += [
            data[:i] + bytes((data[i] + 1,)) + data[i + 1 :] for i in range(len(data))
        ]
        for variant in variants:
            try:
                NoteVerifier.from_vkey(variant.decode())
            except NoteError:
                continue
            accepted.append(variant)

        assert [] == accepted

    def test_for_key(self):
        """for_key() builds the verifier that the vkey describes."""
        parsed = NoteVerifier.from_vkey(PETER_VKEY)

        built = NoteVerifier.for_key("PeterNeumann", parsed.public_key)

        assert parsed == built
        assert hash(parsed) == hash(built)
        assert PETER_VKEY == built.vkey()

    def test_equality_counts_type(self):
        """One key as Ed25519 and as cosignature/v1: two different verifiers."""
        public = Ed25519PrivateKey.generate().public_key()

        plain = NoteVerifier.for_key("k", public)
        cosigning = NoteVerifier.for_key("k", public, COSIGNATURE_V1)

        assert plain != cosigning
        assert len({plain, cosigning, NoteVerifier.for_key("k", public)}) == 2

    def test_unsupported_alg(self):
        """Only Ed25519 (0x01) and cosignature/v1 (0x04) verifiers exist."""
        public = Ed25519PrivateKey.generate().public_key()

        with pytest.raises(NoteError, match="0x01 \\(Ed25519\\) and 0x04"):
            NoteVerifier.for_key("k", public, 0x02)

    def test_error_types(self):
        """NoteError is a ValueError and a VisionAuditError."""
        with pytest.raises(ValueError, match="key name is empty") as info:
            NoteVerifier.from_vkey("+c74f20a3+AA==")

        assert isinstance(info.value, VisionAuditError)


class TestNoteSigner:
    """Ed25519 note signatures (type 0x01)."""

    def test_go_known_answer(self):
        """Go's private key signs Go's text into exactly Go's signed note."""
        signer = _go_signer()

        note = GO_TEXT + "\n" + signer.sign(GO_TEXT)

        assert GO_TEXT + "\n" + PETER_SIG == note
        assert PETER_VKEY == signer.verifier.vkey()

    def test_line_format(self):
        """The line: em dash, space, name, space, base64, newline."""
        signer = NoteSigner("example.com/k", Ed25519PrivateKey.generate())

        line = signer.sign("hello\n")

        prefix, name, encoded = line.split(" ")
        raw = base64.b64decode(encoded)
        assert ("\u2014", "example.com/k") == (prefix, name)
        assert encoded.endswith("\n")
        assert (signer.verifier.key_hash, 68) == (raw[:4], len(raw))
        signer.private_key.public_key().verify(raw[4:], b"hello\n")

    @pytest.mark.parametrize(
        ("body", "problem"),
        [
            ("", "line 1: the note text is empty"),
            ("no newline", "line 1: the note text does not end in a newline"),
            ("a\nb", "line 2: the note text does not end"),
            ("a\r\n", "line 1: carriage return"),
            ("a\n\tb\n", "line 2: control character U\\+0009"),
        ],
    )
    def test_bad_body(self, body, problem):
        """Only a note text (ending in newline, no control character) is signed."""
        signer = NoteSigner("k", Ed25519PrivateKey.generate())

        with pytest.raises(NoteError, match=problem):
            signer.sign(body)

    def test_bad_name(self):
        """A signer's name is checked when it is made."""
        with pytest.raises(NoteError, match="a plus sign"):
            NoteSigner("a+b", Ed25519PrivateKey.generate())

    def test_repr_hides_key(self):
        """The private key stays out of the repr."""
        signer = NoteSigner("k", Ed25519PrivateKey.generate())

        assert "NoteSigner(name='k')" == repr(signer)


class TestParseNote:
    """parse_note(): the signed-note format, and nothing else."""

    def test_spec_example(self):
        """The signed-note example parses: text with blank lines, then one signature."""
        note = parse_note(POEM_NOTE)

        assert POEM_NOTE.split("\n\n—", maxsplit=1)[0] + "\n" == note.body
        assert ["quasimodo.example/salvatore"] == [s.name for s in note.signatures]
        assert 4 == len(note.signatures[0].key_hash)
        assert 64 == len(note.signatures[0].blob)
        assert POEM_NOTE == note.text()

    def test_go_example(self):
        """Go's note with two signatures parses, in order, and prints back."""
        text = GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG

        note = parse_note(text.encode())

        assert GO_TEXT == note.body
        assert ["PeterNeumann", "EnochRoot"] == [s.name for s in note.signatures]
        assert bytes.fromhex("c74f20a3") == note.signatures[0].key_hash
        assert text == note.text()

    def test_cosignature_example(self):
        """The tlog-cosignature example parses; its timestamp is the spec's."""
        note = parse_note(SOFA_NOTE)

        cosignature = note.signatures[1]
        assert SOFA_BODY == note.body
        assert 72 == len(cosignature.blob)
        assert SOFA_TIME == int.from_bytes(cosignature.blob[:8], "big")

    def test_body_may_end_in_blank_lines(self):
        """The last blank line separates: earlier blank lines belong to the text."""
        note = parse_note("a\n\n\n" + PETER_SIG)

        assert "a\n\n" == note.body

    def test_del_and_non_ascii_allowed(self):
        """Only control characters below U+0020 are refused; DEL and é are text."""
        note = parse_note("\x7f é\n\n" + PETER_SIG)

        assert "\x7f é\n" == note.body

    @pytest.mark.parametrize(
        ("text", "problem"),
        [
            # Go's bad messages (note_test.go, TestOpen).
            (GO_TEXT, "no blank line"),
            (GO_TEXT + "\n", "line 3: the last blank line is followed by no"),
            (GO_TEXT + "\n" + SIG[:-1], "line 4: the note does not end in a newline"),
            ("\x01" + GO_TEXT + "\n" + SIG, "line 1: control character U\\+0001"),
            (
                GO_TEXT + "\n" + SIG.replace("PeterNeumann", "Bad Name"),
                "line 4: a signature line is",
            ),
            (
                GO_TEXT + "\n" + SIG + "Unexpected line.\n",
                "line 5: 'Unexpected line.' is not a signature line",
            ),
            # Extra spaces.
            ("a\n\n" + SIG.replace("n ", "n  "), "line 3: .* single spaces; .* has 3"),
            ("a\n\n" + SIG.replace("\n", " \n"), "line 3: .* this one has 3"),
            ("a\n\n" + SIG.replace("— ", "—  "), "line 3: .* this one has 3"),
            ("a\n\n " + SIG, "line 3: .* em dash"),
            ("a\n\n" + SIG.replace("— ", "—"), "line 3: .* em dash"),
            ("a\n\n" + SIG.replace("— ", "- "), "line 3: .* em dash"),
            ("a\n\n" + SIG.replace("r", "r\u00a0"), "line 3: key name .* U\\+00A0"),
            ("a\n\n" + SIG.replace("r", "r+"), "line 3: key name .* a plus sign"),
            # CRLF, and other line endings.
            ((GO_TEXT + "\n" + SIG).replace("\n", "\r\n"), "line 1: carriage return"),
            ("a\n\n" + SIG[:-1] + "\r\n", "line 3: carriage return"),
            ("a\n\r\n" + SIG, "line 2: carriage return"),
            ("a\n\n" + SIG + "\x85", "line 4: the note does not end in a newline"),
            # The blank line.
            ("a\n" + SIG, "no blank line"),
            ("a\n\n" + SIG + "\n", "line 4: the last blank line is followed by no"),
            ("a\n\n" + SIG + "\n" + SIG + "\n", "line 6: the last blank"),
            # Base64.
            ("a\n\n— k AAAAAAA\n", "line 3: the signature 'AAAAAAA' is not canonical"),
            ("a\n\n— k AAAAAAB=\n", "line 3: the signature .* is not canonical"),
            ("a\n\n" + SIG.replace("AM=", "AN="), "line 3: .* is not canonical"),
            ("a\n\n— k AAAA_AA=\n", "not canonical"),
            ("a\n\n— k AAAAAAA==\n", "not canonical"),
            ("a\n\n— k AAAA AA=\n", "this one has 3"),
            ("a\n\n— k \n", "line 3: the signature is 0 bytes; it needs"),
            ("a\n\n— k AAAAAA==\n", "line 3: the signature is 4 bytes; it needs"),
            ("a\n\n— k\n", "this one has 1"),
        ],
    )
    def test_refused(self, text, problem):
        """Each malformed note is refused, naming the problem and the line."""
        with pytest.raises(NoteError, match=problem):
            parse_note(text)

    def test_not_utf8(self):
        """Bytes that are not UTF-8 are refused, with the line of the bad byte."""
        data = b"a\nb\xffc\n\n" + PETER_SIG.encode()

        with pytest.raises(NoteError, match="line 2: the note is not valid UTF-8"):
            parse_note(data)

    @pytest.mark.parametrize(
        "data",
        [b"\xed\xa0\x80\n\n", b"\xc0\xaf\n\n", b"\xff" + GO_TEXT.encode() + b"\n"],
    )
    def test_not_utf8_forms(self, data):
        """Encoded surrogates, overlong forms and stray bytes are not UTF-8."""
        with pytest.raises(NoteError, match="line 1: the note is not valid UTF-8"):
            parse_note(data + PETER_SIG.encode())

    def test_lone_surrogate(self):
        """A str holding a lone surrogate has no UTF-8 form and is refused."""
        with pytest.raises(NoteError, match="line 2: lone surrogate U\\+DC80"):
            parse_note("a\n\udc80\n\n" + PETER_SIG)

    def test_oversized(self):
        """A note over max_bytes is refused before it is read."""
        text = GO_TEXT + "\n" + PETER_SIG
        size = len(text.encode())

        assert text == parse_note(text, max_bytes=size).text()
        with pytest.raises(NoteError, match=f"is {size} bytes; at most {size - 1}"):
            parse_note(text, max_bytes=size - 1)
        with pytest.raises(NoteError, match=f"is {size} bytes"):
            parse_note(text.encode(), max_bytes=size - 1)

    def test_oversized_default(self):
        """The default limit is 1 MiB, counted in UTF-8 bytes."""
        body = "é" * (1 << 19) + "\n"

        with pytest.raises(NoteError, match="at most 1048576"):
            parse_note(body + "\n" + PETER_SIG)

    def test_signature_count(self):
        """16 signatures are always read (the spec's minimum); 101 are too many."""
        sixteen = GO_TEXT + "\n" + PETER_SIG * 16

        assert 16 == len(parse_note(sixteen, max_signatures=16).signatures)
        with pytest.raises(NoteError, match="has 101 signatures; at most 100"):
            parse_note(GO_TEXT + "\n" + PETER_SIG * 101)
        with pytest.raises(NoteError, match="has 17 signatures; at most 16"):
            parse_note(GO_TEXT + "\n" + PETER_SIG * 17, max_signatures=16)

    def test_max_signatures_floor(self):
        """A limit below the spec's 16 is a programming error."""
        with pytest.raises(ValueError, match="at least 16"):
            parse_note(GO_TEXT + "\n" + PETER_SIG, max_signatures=15)


class TestNote:
    """Note and NoteSignature: checked when made, printed as the format says."""

    def test_text(self):
        """text() is the body, a blank line, then the signature lines."""
        signatures = (
            NoteSignature("a", b"\x00\x01\x02\x03", b"\xff"),
            NoteSignature("b", b"\xff\xff\xff\xff", b"xyz"),
        )

        text = Note("body\n", signatures).text()

        assert "body\n\n— a AAECA/8=\n— b /////3h5eg==\n" == text

    @pytest.mark.parametrize(
        ("body", "signatures", "problem"),
        [
            ("", (NoteSignature("a", b"1234", b"x"),), "the note text is empty"),
            ("a", (NoteSignature("a", b"1234", b"x"),), "does not end in a newline"),
            ("a\n", (), "line 2: the note has no signature"),
        ],
    )
    def test_refused(self, body, signatures, problem):
        """A Note that could not be printed as a valid note is refused."""
        with pytest.raises(NoteError, match=problem):
            Note(body, signatures)

    @pytest.mark.parametrize(
        ("name", "hash_", "blob", "problem"),
        [
            ("a b", b"1234", b"x", "U\\+0020"),
            ("a", b"123", b"x", "key hash is 3 bytes"),
            ("a", b"12345", b"x", "key hash is 5 bytes"),
            ("a", b"1234", b"", "signature by a is empty"),
        ],
    )
    def test_signature_refused(self, name, hash_, blob, problem):
        """A NoteSignature is a valid name, a 4-byte key hash and a signature."""
        with pytest.raises(NoteError, match=problem):
            NoteSignature(name, hash_, blob)


class TestOpenNote:
    """open_note(): known keys must verify, unknown keys are ignored."""

    def test_spec_example(self):
        """The signed-note example verifies with the example vkey."""
        verifier = NoteVerifier.from_vkey(FOO_VKEY)

        verified = open_note(parse_note(FOO_NOTE), [verifier])

        assert [Verified(verifier, None)] == verified

    def test_sigsum_checkpoint(self):
        """A Sigsum log's signed checkpoint verifies with the log's raw key."""
        public = Ed25519PublicKey.from_public_bytes(SIGSUM_KEY)
        verifier = NoteVerifier.for_key(SIGSUM_ORIGIN, public)
        note = parse_note(SIGSUM_NOTE)

        verified = open_note(note, [verifier])

        assert [Verified(verifier, None)] == verified
        assert CheckpointBody(SIGSUM_ORIGIN, 1, b"*" + bytes(31)) == parse_checkpoint(
            note.body
        )

    def test_one_known_one_unknown(self):
        """As in Go: with Peter's key only, Peter verifies and Enoch is ignored."""
        peter = NoteVerifier.from_vkey(PETER_VKEY)
        note = parse_note(GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG)

        assert [Verified(peter, None)] == open_note(note, [peter])

    def test_both_known(self):
        """As in Go: with both keys, both verify, in the note's order."""
        peter = NoteVerifier.from_vkey(PETER_VKEY)
        enoch = NoteVerifier.from_vkey(ENOCH_VKEY)
        note = parse_note(GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG)

        verified = open_note(note, [enoch, peter])

        assert [peter, enoch] == [v.verifier for v in verified]

    def test_none_known(self):
        """A note no trusted key signed is refused."""
        note = parse_note(GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG)

        with pytest.raises(NoteError, match="no signature by a trusted key"):
            open_note(note, [])

    @pytest.mark.parametrize(
        "line",
        [
            PETER_SIG.replace("PeterNeumann", "CarmenSandiego"),
            PETER_SIG.replace("x08g", "xxxx"),
        ],
    )
    def test_unknown_name_or_hash_ignored(self, line):
        """A signature sharing only the name, or only the key hash, is not Peter's."""
        peter = NoteVerifier.from_vkey(PETER_VKEY)
        note = parse_note(GO_TEXT + "\n" + line + PETER_SIG)

        assert [Verified(peter, None)] == open_note(note, [peter])

    def test_bad_signature_from_known_key(self):
        """As in Go: a known key's signature that does not verify refuses the note."""
        peter = NoteVerifier.from_vkey(PETER_VKEY)
        blob = bytearray(parse_note(GO_TEXT + "\n" + PETER_SIG).signatures[0].blob)
        blob[10] ^= 1
        forged = NoteSignature("PeterNeumann", bytes.fromhex("c74f20a3"), bytes(blob))
        note = parse_note(GO_TEXT + "\n" + forged.line() + ENOCH_SIG)

        with pytest.raises(
            NoteError, match="line 4: signature by PeterNeumann does not"
        ):
            open_note(note, [peter, NoteVerifier.from_vkey(ENOCH_VKEY)])

    def test_bad_signature_length(self):
        """Go's 'ABCD' insertion: a known key's signature of the wrong size fails."""
        peter = NoteVerifier.from_vkey(PETER_VKEY)
        note = parse_note(GO_TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:])

        with pytest.raises(NoteError, match=r"does not verify: .* 64 bytes, not 67"):
            open_note(note, [peter])

    def test_other_text(self):
        """A signature moved onto another text does not verify."""
        peter = NoteVerifier.from_vkey(PETER_VKEY)
        note = parse_note(GO_TEXT.replace("answer", "question") + "\n" + PETER_SIG)

        with pytest.raises(
            NoteError, match="signature by PeterNeumann does not verify"
        ):
            open_note(note, [peter])

    def test_duplicates_count_once(self):
        """As in Go: a signature repeated verbatim is one verified signature."""
        peter = NoteVerifier.from_vkey(PETER_VKEY)
        note = parse_note(GO_TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG)

        assert [Verified(peter, None)] == open_note(note, [peter, peter])

    def test_ambiguous(self):
        """Two different trusted keys with one name and key hash: no guessing."""
        peter = NoteVerifier.from_vkey(PETER_VKEY)
        impostor = _impostor(peter)
        note = parse_note(GO_TEXT + "\n" + PETER_SIG)

        with pytest.raises(NoteError, match="two trusted keys have the name"):
            open_note(note, [peter, impostor])

    def test_unused_ambiguity(self):
        """As in Go: an ambiguity that no signature names is harmless."""
        peter = NoteVerifier.from_vkey(PETER_VKEY)
        enoch = NoteVerifier.from_vkey(ENOCH_VKEY)
        note = parse_note(GO_TEXT + "\n" + PETER_SIG)

        assert [Verified(peter, None)] == open_note(
            note, [enoch, peter, _impostor(enoch)]
        )

    def test_signer_round_trip(self):
        """A note signed by NoteSigner opens with its verifier."""
        signer = NoteSigner("example.com/log", Ed25519PrivateKey.generate())

        note = parse_note(CHECKPOINT + "\n" + signer.sign(CHECKPOINT))

        assert [Verified(signer.verifier, None)] == open_note(note, [signer.verifier])


def _impostor(verifier: NoteVerifier) -> NoteVerifier:
    """A verifier with another key that collides on name and key hash (forged)."""
    other = NoteVerifier.for_key(
        verifier.name, Ed25519PrivateKey.generate().public_key()
    )
    object.__setattr__(other, "key_hash", verifier.key_hash)
    return other


class TestCosigner:
    """tlog-cosignature v1: timestamped Ed25519 cosignatures (type 0x04)."""

    def test_known_message(self):
        """The signature covers the header line, the time line and the checkpoint."""
        key = Ed25519PrivateKey.from_private_bytes(RFC8032_SEED)
        cosigner = Cosigner("witness.example.com/w1", key)

        line = cosigner.cosign(SOFA_BODY, SOFA_TIME)

        prefix, name, encoded = line[:-1].split(" ")
        raw = base64.b64decode(encoded)
        expected = (
            b"cosignature/v1\ntime 1679315147\n"
            b"example.com/behind-the-sofa\n20852163\n"
            b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        )
        assert ("\u2014", "witness.example.com/w1") == (prefix, name)
        assert 4 + 8 + 64 == len(raw)
        assert (
            key_hash(name, COSIGNATURE_V1, key.public_key().public_bytes_raw())
            == (raw[:4])
        )
        assert bytes.fromhex("00000000641850cb") == raw[4:12]
        key.public_key().verify(raw[12:], expected)
        assert key.sign(expected) == raw[12:]

    def test_round_trip(self):
        """A cosigned checkpoint opens, and the timestamp comes back."""
        cosigner = Cosigner("witness.example/w1", Ed25519PrivateKey.generate())
        note = parse_note(
            CHECKPOINT + "\n" + cosigner.cosign(CHECKPOINT, 1_700_000_000)
        )

        verified = open_note(note, [cosigner.verifier])

        assert [Verified(cosigner.verifier, 1_700_000_000)] == verified
        assert COSIGNATURE_V1 == cosigner.verifier.alg

    def test_with_log_signature(self):
        """A log signature and cosignatures verify together, each with its kind."""
        log = NoteSigner("example.com/log", Ed25519PrivateKey.generate())
        witnesses = [
            Cosigner(f"witness.example/w{n}", Ed25519PrivateKey.generate())
            for n in range(3)
        ]
        text = CHECKPOINT + "\n" + log.sign(CHECKPOINT)
        text += "".join(w.cosign(CHECKPOINT, 100 + n) for n, w in enumerate(witnesses))

        verified = open_note(
            parse_note(text), [w.verifier for w in witnesses] + [log.verifier]
        )

        assert [None, 100, 101, 102] == [v.timestamp for v in verified]

    def test_extensions_signed(self):
        """Extension lines are in the signed message: changing one breaks it."""
        cosigner = Cosigner("w", Ed25519PrivateKey.generate())
        body = CHECKPOINT + "ext 1\n"
        line = cosigner.cosign(body, 5)

        assert [Verified(cosigner.verifier, 5)] == open_note(
            parse_note(body + "\n" + line), [cosigner.verifier]
        )
        with pytest.raises(NoteError, match="signature by w does not verify"):
            open_note(parse_note(CHECKPOINT + "ext 2\n\n" + line), [cosigner.verifier])

    def test_other_body(self):
        """A cosignature moved onto another checkpoint does not verify."""
        cosigner = Cosigner("w", Ed25519PrivateKey.generate())
        line = cosigner.cosign(CHECKPOINT, 5)
        other = CHECKPOINT.replace("\n42\n", "\n43\n")

        with pytest.raises(NoteError, match="line 5: signature by w does not verify"):
            open_note(parse_note(other + "\n" + line), [cosigner.verifier])

    @pytest.mark.parametrize("timestamp", [4, 6, 0, 2**40])
    def test_other_timestamp(self, timestamp):
        """A cosignature whose timestamp is changed does not verify."""
        cosigner = Cosigner("w", Ed25519PrivateKey.generate())
        signature = _signature(cosigner.cosign(CHECKPOINT, 5))
        changed = NoteSignature(
            "w", signature.key_hash, timestamp.to_bytes(8, "big") + signature.blob[8:]
        )

        with pytest.raises(NoteError, match="signature by w does not verify"):
            open_note(Note(CHECKPOINT, (changed,)), [cosigner.verifier])

    def test_timestamp_beyond_63_bits(self):
        """A timestamp of 2**63 or more is refused, even before the signature."""
        cosigner = Cosigner("w", Ed25519PrivateKey.generate())
        signature = _signature(cosigner.cosign(CHECKPOINT, 5))
        changed = NoteSignature(
            "w", signature.key_hash, (2**63).to_bytes(8, "big") + signature.blob[8:]
        )

        with pytest.raises(NoteError, match=r"does not verify: .* exceeds 2\*\*63"):
            open_note(Note(CHECKPOINT, (changed,)), [cosigner.verifier])

    @pytest.mark.parametrize("timestamp", [-1, 2**63, True, 1.5])
    def test_cosign_timestamp_range(self, timestamp):
        """Timestamps are integers from 0 to 2**63 - 1."""
        cosigner = Cosigner("w", Ed25519PrivateKey.generate())

        with pytest.raises(NoteError, match="is not an integer in"):
            cosigner.cosign(CHECKPOINT, timestamp)

    def test_cosign_limits(self):
        """0 and 2**63 - 1 are both valid timestamps."""
        cosigner = Cosigner("w", Ed25519PrivateKey.generate())
        lines = [cosigner.cosign(CHECKPOINT, t) for t in (0, 2**63 - 1)]

        verified = open_note(
            parse_note(CHECKPOINT + "\n" + "".join(lines)), [cosigner.verifier]
        )

        assert [0, 2**63 - 1] == [v.timestamp for v in verified]

    def test_cosign_needs_checkpoint(self):
        """Only checkpoints are cosigned."""
        cosigner = Cosigner("w", Ed25519PrivateKey.generate())

        with pytest.raises(NoteError, match="line 2: a checkpoint has an origin"):
            cosigner.cosign("just text\n", 5)

    def test_cosignature_on_non_checkpoint(self):
        """A known cosigner's signature on a text that is no checkpoint fails."""
        cosigner = Cosigner("w", Ed25519PrivateKey.generate())
        signature = _signature(cosigner.cosign(CHECKPOINT, 5))

        with pytest.raises(NoteError, match="does not verify: the note text is not a"):
            open_note(Note("just text\n", (signature,)), [cosigner.verifier])

    def test_wrong_size(self):
        """A known cosigner's signature that is not 8 + 64 bytes does not verify."""
        cosigner = Cosigner("w", Ed25519PrivateKey.generate())
        signature = _signature(cosigner.cosign(CHECKPOINT, 5))
        short = NoteSignature("w", signature.key_hash, signature.blob[:-1])

        with pytest.raises(NoteError, match="is 72 bytes, not 71"):
            open_note(Note(CHECKPOINT, (short,)), [cosigner.verifier])


class TestSignatureTypes:
    """Ed25519 (0x01) signatures and cosignatures (0x04) never stand for each other."""

    @pytest.fixture(name="pair")
    def fixture_pair(self):
        key = Ed25519PrivateKey.generate()
        return NoteSigner("example.com/k", key), Cosigner("example.com/k", key)

    def test_key_hashes_differ(self, pair):
        """One name and one key give two key hashes, one per signature type."""
        signer, cosigner = pair

        assert signer.verifier.key_hash != cosigner.verifier.key_hash

    def test_signature_is_no_cosignature(self, pair):
        """An Ed25519 signature is ignored by a cosignature verifier of the same key."""
        signer, cosigner = pair
        note = parse_note(CHECKPOINT + "\n" + signer.sign(CHECKPOINT))

        with pytest.raises(NoteError, match="no signature by a trusted key"):
            open_note(note, [cosigner.verifier])

    def test_cosignature_is_no_signature(self, pair):
        """A cosignature is ignored by an Ed25519 verifier of the same key."""
        signer, cosigner = pair
        note = parse_note(CHECKPOINT + "\n" + cosigner.cosign(CHECKPOINT, 7))

        with pytest.raises(NoteError, match="no signature by a trusted key"):
            open_note(note, [signer.verifier])

    def test_relabelled_signature(self, pair):
        """An Ed25519 signature given the cosignature key hash does not verify."""
        signer, cosigner = pair
        blob = _signature(signer.sign(CHECKPOINT)).blob
        forged = NoteSignature("example.com/k", cosigner.verifier.key_hash, blob)

        with pytest.raises(NoteError, match="does not verify"):
            open_note(Note(CHECKPOINT, (forged,)), [cosigner.verifier])

    def test_relabelled_cosignature(self, pair):
        """A cosignature given the Ed25519 key hash does not verify."""
        signer, cosigner = pair
        blob = _signature(cosigner.cosign(CHECKPOINT, 7)).blob
        forged = NoteSignature("example.com/k", signer.verifier.key_hash, blob)

        with pytest.raises(NoteError, match="does not verify"):
            open_note(Note(CHECKPOINT, (forged,)), [signer.verifier])

    def test_cosignature_body_signature(self, pair):
        """The cosignature's signature bytes alone are no signature of the body."""
        signer, cosigner = pair
        blob = _signature(cosigner.cosign(CHECKPOINT, 7)).blob[8:]
        forged = NoteSignature("example.com/k", signer.verifier.key_hash, blob)

        with pytest.raises(NoteError, match="does not verify"):
            open_note(Note(CHECKPOINT, (forged,)), [signer.verifier])


class TestCheckpoint:
    """tlog-checkpoint: origin, size, root hash, extension lines."""

    def test_spec_example(self):
        """The spec's checkpoint parses and prints back unchanged."""
        checkpoint = parse_checkpoint(SOFA_BODY)

        assert "example.com/behind-the-sofa" == checkpoint.origin
        assert 20852163 == checkpoint.size
        assert (
            "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
            == base64.b64encode(checkpoint.root_hash).decode()
        )
        assert () == checkpoint.extensions
        assert SOFA_BODY == checkpoint.text()

    def test_text(self):
        """text() writes each line followed by a newline, extensions last."""
        checkpoint = CheckpointBody("o", 0, ROOT, ("e1", "e 2"))

        assert f"o\n0\n{ROOT_B64}\ne1\ne 2\n" == checkpoint.text()
        assert checkpoint == parse_checkpoint(checkpoint.text())

    @pytest.mark.parametrize("size", [0, 1, 10, 2**63 - 1])
    def test_sizes(self, size):
        """Sizes from 0 to 2**63 - 1 are accepted."""
        assert size == parse_checkpoint(f"o\n{size}\n{ROOT_B64}\n").size

    def test_origin_may_have_spaces(self):
        """The origin SHOULD be a URL but MAY be anything non-empty on one line."""
        assert "a b+c" == parse_checkpoint(f"a b+c\n1\n{ROOT_B64}\n").origin

    @pytest.mark.parametrize(
        ("body", "problem"),
        [
            (f"o\n01\n{ROOT_B64}\n", "line 2: tree size '01' is not ASCII decimal"),
            (f"o\n00\n{ROOT_B64}\n", "line 2: tree size '00'"),
            (f"o\n-1\n{ROOT_B64}\n", "line 2: tree size '-1'"),
            (f"o\n+1\n{ROOT_B64}\n", "line 2: tree size '\\+1'"),
            (f"o\n 1\n{ROOT_B64}\n", "line 2: tree size ' 1'"),
            (f"o\n1 \n{ROOT_B64}\n", "line 2: tree size '1 '"),
            (f"o\n1_000\n{ROOT_B64}\n", "line 2: tree size '1_000'"),
            (f"o\n0x10\n{ROOT_B64}\n", "line 2: tree size '0x10'"),
            (f"o\n\u0661\n{ROOT_B64}\n", "line 2: tree size"),
            (f"o\n\n{ROOT_B64}\n", "line 2: tree size ''"),
            (f"o\n{2**63}\n{ROOT_B64}\n", "line 2: tree size 9223372036854775808 exc"),
            (f"o\n{'9' * 5000}\n{ROOT_B64}\n", "line 2: tree size 9+ exceeds"),
            (f"o\n1\n{_b64(ROOT[:31])}\n", "line 3: the root hash is 31 bytes, not 32"),
            (f"o\n1\n{_b64(ROOT + b'x')}\n", "line 3: the root hash is 33 bytes"),
            ("o\n1\n\n", "line 3: the root hash is 0 bytes"),
            (f"o\n1\n{ROOT_B64[:-1]}\n", "line 3: the root hash .* is not canonical"),
            (f"o\n1\n{ROOT_B64[:-2]}B=\n", "line 3: the root hash .* is not canonical"),
            (f"o\n1\n{ROOT_B64} \n", "line 3: the root hash .* is not canonical"),
            (f"o\n1\n{URLSAFE}\n", "line 3: the root hash .* is not canonical"),
            (f"\n1\n{ROOT_B64}\n", "line 1: the origin is empty"),
            ("o\n1\n", "line 3: a checkpoint has an origin, a tree size and a root"),
            ("o\n", "line 2: a checkpoint has"),
            (f"o\n1\n{ROOT_B64}\n\n", "line 4: an extension line is empty"),
            (f"o\n1\n{ROOT_B64}\ne\n\nf\n", "line 5: an extension line is empty"),
            (f"o\n1\n{ROOT_B64}", "line 3: the note text does not end in a newline"),
            (f"o\r\n1\n{ROOT_B64}\n", "line 1: carriage return"),
            (f"o\n1\n{ROOT_B64}\ne\x00\n", "line 4: control character U\\+0000"),
            ("", "line 1: the note text is empty"),
        ],
    )
    def test_refused(self, body, problem):
        """Each malformed checkpoint is refused, naming the problem and the line."""
        with pytest.raises(NoteError, match=problem):
            parse_checkpoint(body)

    @pytest.mark.parametrize(
        ("kwargs", "problem"),
        [
            ({"origin": ""}, "line 1: the origin is empty"),
            ({"origin": "a\nb"}, "line 1: the origin holds a newline"),
            ({"origin": "a\tb"}, "line 1: control character U\\+0009"),
            ({"size": -1}, "line 2: tree size -1 is not an integer"),
            ({"size": 2**63}, "line 2: tree size"),
            ({"size": True}, "line 2: tree size True"),
            ({"root_hash": bytes(31)}, "line 3: the root hash is 31 bytes"),
            ({"extensions": ("",)}, "line 4: an extension line is empty"),
            (
                {"extensions": ("a", "b\nc")},
                "line 5: an extension line holds a newline",
            ),
        ],
    )
    def test_body_refused(self, kwargs, problem):
        """CheckpointBody refuses what its text could not hold."""
        fields = {"origin": "o", "size": 1, "root_hash": ROOT} | kwargs

        with pytest.raises(NoteError, match=problem):
            CheckpointBody(**fields)


class TestRoundTrips:
    """Property tests: whatever is valid prints, parses and verifies back."""

    @given(
        body=st.text(alphabet=NOTE_CHARS, max_size=200).map(lambda s: s + "\n"),
        name=st.text(alphabet=NAME_CHARS, min_size=1, max_size=30),
    )
    def test_any_body(self, body, name):
        """Any note text, signed under any key name, parses and verifies."""
        signer = NoteSigner(name, KEY)

        text = body + "\n" + signer.sign(body)
        note = parse_note(text.encode())

        assert body == note.body
        assert text == note.text()
        assert [Verified(signer.verifier, None)] == open_note(note, [signer.verifier])

    @given(
        origin=st.text(alphabet=LINE_CHARS, min_size=1, max_size=60),
        size=st.integers(min_value=0, max_value=2**63 - 1),
        root=st.binary(min_size=32, max_size=32),
        extensions=st.lists(
            st.text(alphabet=LINE_CHARS, min_size=1, max_size=20), max_size=3
        ).map(tuple),
        timestamp=st.integers(min_value=0, max_value=2**63 - 1),
    )
    def test_any_checkpoint(self, origin, size, root, extensions, timestamp):
        """Any checkpoint prints, parses back equal, and its cosignature verifies."""
        checkpoint = CheckpointBody(origin, size, root, extensions)
        cosigner = Cosigner("witness.example/w", KEY)

        body = checkpoint.text()
        note = parse_note(body + "\n" + cosigner.cosign(body, timestamp))

        assert checkpoint == parse_checkpoint(note.body)
        assert [Verified(cosigner.verifier, timestamp)] == open_note(
            note, [cosigner.verifier]
        )

    @given(name=st.text(alphabet=NAME_CHARS, min_size=1, max_size=30))
    def test_any_vkey(self, name):
        """Any verifier key prints and parses back equal."""
        for alg in (ED25519, COSIGNATURE_V1):
            verifier = NoteVerifier.for_key(name, KEY.public_key(), alg)

            assert verifier == NoteVerifier.from_vkey(verifier.vkey())
