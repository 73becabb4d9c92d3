"""Signed reports (PAdES B-B): pyHanko's own validator, PDF/A kept, bad inputs named."""

from __future__ import annotations

import io
import json
import os
import stat
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pypdf
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from tests.report.conftest import sample_events
from vision_audit.__main__ import main
from vision_audit.exceptions import ReportRenderError
from vision_audit.report import ReportSigner, build_report, generate_report
from vision_audit.report.signing import (
    make_signing_certificate,
    read_certificates,
    verify_report_signature,
)
from vision_audit.store import open_store

if TYPE_CHECKING:
    from pathlib import Path

MADE = datetime(2026, 4, 1, tzinfo=UTC)
"""When the tests' reports are made (SOURCE_DATE_EPOCH for the command)."""
PERIOD = ("--since", "2026-03-01", "--until", "2026-03-31")
PDFAID = "http://www.aiim.org/pdfa/ns/id/"


def _pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _certificate(
    key,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    name: str = "test signer",
) -> x509.Certificate:
    """A self-signed certificate of *key*, valid from *start* to *end*."""
    now = datetime.now(UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start or now - timedelta(days=1))
        .not_valid_after(end or now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )


def _write_certificate(path: Path, certificate: x509.Certificate) -> Path:
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


def _validate(pdf: bytes, certificate: x509.Certificate):
    """The signature and its status by pyHanko's validator, trusting *certificate*."""
    from pyhanko.keys.internal import translate_pyca_cryptography_cert_to_asn1
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    reader = PdfFileReader(io.BytesIO(pdf))
    (signature,) = reader.embedded_signatures
    context = ValidationContext(
        trust_roots=[translate_pyca_cryptography_cert_to_asn1(certificate)],
        allow_fetching=False,
    )
    return signature, validate_pdf_signature(signature, context)


def _pdfa_id(packet: bytes) -> tuple[str | None, str | None]:
    """The PDF/A part and conformance an XMP packet declares (attribute or element)."""
    from xml.etree import ElementTree as ET

    found: dict[str, str] = {}
    # The packet is the file's own, just written by WeasyPrint and pyHanko.
    for element in ET.fromstring(  # noqa: S314
        packet.strip().split(b"?>", 1)[1].rsplit(b"<?", 1)[0]
    ).iter():
        for name in ("part", "conformance"):
            key = f"{{{PDFAID}}}{name}"
            if key in element.attrib:
                found[name] = element.attrib[key]
            if element.tag == key:
                found[name] = (element.text or "").strip()
    return found.get("part"), found.get("conformance")


@pytest.fixture(name="signed", scope="module")
def _signed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """
    A store, a key made by keygen, the report signed by the command, and unsigned.

    The command runs with SOURCE_DATE_EPOCH at MADE, so that the unsigned report
    made by the library for the same store and moment is the same document.
    """
    folder = tmp_path_factory.mktemp("signed")
    url = f"sqlite:///{folder / 'audit.db'}"
    store = open_store(url)
    for event in sample_events():
        store.append(event)
    store.close()
    key = folder / "signing.pem"
    assert 0 == main(["keygen", "--report-signing", "--output", str(key)])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", str(int(MADE.timestamp())))
        before = datetime.now(UTC).replace(microsecond=0)
        code = main(
            [
                "report",
                "--store",
                url,
                *PERIOD,
                "--out",
                str(folder / "signed.pdf"),
                "--quiet",
                "--sign-key",
                str(key),
                "--sign-cert",
                f"{key}.crt",
            ]
        )
        after = datetime.now(UTC)
    assert 0 == code
    generate_report(
        url,
        since="2026-03-01",
        until="2026-03-31",
        out=folder / "unsigned.pdf",
        generated_at=MADE,
    )
    (folder / "times").write_text(f"{before.isoformat()} {after.isoformat()}")
    return {
        "store": folder / "audit.db",
        "key": key,
        "cert": folder / "signing.pem.crt",
        "signed": folder / "signed.pdf",
        "unsigned": folder / "unsigned.pdf",
        "times": folder / "times",
    }


class TestSignedReport:
    """A report signed by the command, checked with pyHanko's own validator."""

    def test_valid_against_its_certificate(self, signed) -> None:
        """Intact, trusted, covering the whole file, PAdES, reason naming the id."""
        from pyhanko.sign.validation.status import SignatureCoverageLevel

        (certificate,) = read_certificates(signed["cert"])
        pdf = signed["signed"].read_bytes()
        report_id = json.loads(pypdf.PdfReader(signed["unsigned"]).attachments[
            "report.json"][0])["report_id"]  # fmt: skip

        signature, status = _validate(pdf, certificate)

        assert (True, True, True) == (status.intact, status.valid, status.trusted)
        assert SignatureCoverageLevel.ENTIRE_FILE == status.coverage
        assert "/ETSI.CAdES.detached" == signature.sig_object["/SubFilter"]
        assert report_id in signature.sig_object["/Reason"]
        assert (
            "vision-audit report signing (self-signed)"
            == (signature.sig_object["/Name"])
        )
        assert "sha384_rsa" == status.pkcs7_signature_mechanism  # RSA 3072: SHA-384

    def test_signing_time_is_the_moment_of_signing(self, signed) -> None:
        """The signer's claimed time is when the command ran, not the report's date."""
        (certificate,) = read_certificates(signed["cert"])
        before, after = map(datetime.fromisoformat, signed["times"].read_text().split())

        _, status = _validate(signed["signed"].read_bytes(), certificate)

        assert before <= status.signer_reported_dt <= after

    def test_first_revision_is_the_unsigned_report(self, signed) -> None:
        """The signed file starts with the unsigned report, byte for byte."""
        unsigned = signed["unsigned"].read_bytes()
        pdf = signed["signed"].read_bytes()

        assert len(pdf) > len(unsigned)
        assert unsigned == pdf[: len(unsigned)]

    def test_one_byte_changed(self, signed, tmp_path: Path, capsys) -> None:
        """One byte changed inside the signed part: pyHanko and verify-pdf say so."""
        (certificate,) = read_certificates(signed["cert"])
        pdf = bytearray(signed["signed"].read_bytes())
        where = pdf.index(b"stream\n", len(pdf) // 3) + 40
        pdf[where] ^= 0x01
        changed = tmp_path / "changed.pdf"
        changed.write_bytes(pdf)

        _, status = _validate(bytes(pdf), certificate)
        code = main(["verify-pdf", str(changed), "--cert", str(signed["cert"])])

        captured = capsys.readouterr()
        assert (False, False) == (status.intact, status.bottom_line)
        assert 1 == code
        assert "the signature does not match the signed bytes" in captured.err
        assert f"{changed}: NOT VALID" in captured.out

    def test_other_certificate_as_trust_root(self, signed, tmp_path: Path) -> None:
        """Another certificate (same name) is no trust root for this signature."""
        _, other = make_signing_certificate("vision-audit report signing (self-signed)")

        _, status = _validate(signed["signed"].read_bytes(), other)
        check = verify_report_signature(signed["signed"], trusted=[other])

        assert status.intact
        assert not status.trusted
        assert not check.valid
        assert not check.trusted
        assert check.problems[0].startswith("the signer's certificate does not lead")

    def test_pdfa_and_attachment_survive(self, signed) -> None:
        """PDF/A-3a XMP, the same JSON attached, /Info agreeing with the XMP."""
        unsigned = pypdf.PdfReader(signed["unsigned"])
        reader = pypdf.PdfReader(signed["signed"])
        xmp = reader.xmp_metadata
        root = reader.trailer["/Root"]
        modified = reader.metadata["/ModDate"]
        xmp_modified = datetime.fromisoformat(xmp.xmp_modify_date.isoformat())

        assert ("3", "A") == _pdfa_id(xmp.stream.get_data())
        assert ("3", "A") == _pdfa_id(unsigned.xmp_metadata.stream.get_data())
        assert unsigned.attachments["report.json"] == reader.attachments["report.json"]
        assert "/Data" == root["/AF"][0].get_object()["/AFRelationship"]
        assert xmp.pdf_producer == reader.metadata["/Producer"]
        assert f"D:{xmp_modified.astimezone(UTC):%Y%m%d%H%M%S}Z" == modified
        assert unsigned.metadata["/CreationDate"] == reader.metadata["/CreationDate"]
        assert len(unsigned.pages) == len(reader.pages)

    def test_signature_field_keeps_pdfa(self, signed) -> None:
        """
        The signature's widget is what PDF/A-3 allows, and the file stays PDF 1.7.

        An invisible widget (zero-size rectangle, so no appearance needed), printed
        and not hidden; no NeedAppearances; no PDF 2.0 version in the catalog (an
        RSA signature needs no ISO/TS 32002 extension).
        """
        reader = pypdf.PdfReader(signed["signed"])
        root = reader.trailer["/Root"]
        (field,) = [f.get_object() for f in root["/AcroForm"]["/Fields"]]
        flags = field["/F"]

        assert "/Sig" == field["/FT"]
        assert [0, 0, 0, 0] == [float(v) for v in field["/Rect"]]
        assert flags & 4  # Print
        assert not flags & (1 | 2 | 32 | 256)  # Invisible, Hidden, NoView, ToggleNoView
        assert "/NeedAppearances" not in root["/AcroForm"]
        assert "/Version" not in root
        assert signed["signed"].read_bytes().startswith(b"%PDF-1.7")

    def test_verify_pdf(self, signed, capsys) -> None:
        """verify-pdf: exit 0 and what it checked."""
        code = main(
            ["verify-pdf", str(signed["signed"]), "--cert", str(signed["cert"])]
        )

        printed = capsys.readouterr().out
        lines = dict(line.split(":", 1) for line in printed.splitlines() if ":" in line)
        assert 0 == code
        assert lines["signer"].strip() == "vision-audit report signing (self-signed)"
        assert lines["signature"].strip() == "intact"
        assert lines["coverage"].strip() == "the whole file"
        assert lines["PDF/A"].strip() == "PDF/A-3A"
        assert lines["figures"].strip() == "report.json attached"
        assert lines["report"].strip().startswith("VAR-")
        assert printed.rstrip().endswith(": VALID")

    def test_bytes_added_after_signing(self, signed, tmp_path: Path) -> None:
        """An incremental update after the signature: not the whole file, invalid."""
        from pyhanko.pdf_utils import generic
        from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

        (certificate,) = read_certificates(signed["cert"])
        buffer = io.BytesIO(signed["signed"].read_bytes())
        writer = IncrementalPdfFileWriter(buffer)
        writer.root["/Lang"] = generic.TextStringObject("fr")
        writer.update_root()
        writer.write_in_place()
        later = tmp_path / "later.pdf"
        later.write_bytes(buffer.getvalue())

        check = verify_report_signature(later, trusted=[certificate])

        assert check.intact
        assert not check.whole_file
        assert "bytes were added after the signature" in check.problems

    def test_not_a_pdf(self, signed, tmp_path: Path, capsys) -> None:
        """A file that is no PDF: a finding (exit 1), not a traceback."""
        junk = tmp_path / "junk.pdf"
        junk.write_bytes(b"%PDF-1.7\n" + os.urandom(256))

        check = verify_report_signature(junk, trusted=read_certificates(signed["cert"]))
        code = main(["verify-pdf", str(junk), "--cert", str(signed["cert"])])

        captured = capsys.readouterr()
        assert not check.valid
        assert check.problems[0].startswith("not a PDF that can be checked")
        assert 1 == code
        assert "Traceback" not in captured.err

    def test_unsigned_report(self, signed, capsys) -> None:
        """verify-pdf on an unsigned report: exit 1, not signed."""
        code = main(
            ["verify-pdf", str(signed["unsigned"]), "--cert", str(signed["cert"])]
        )

        captured = capsys.readouterr()
        assert 1 == code
        assert "error: the file is not signed" in captured.err


class TestSigner:
    """ReportSigner: the keys and certificates it takes, straight from the library."""

    def test_ecdsa_p256(self, signed) -> None:
        """An ECDSA P-256 key signs too, and its signature validates."""
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = _certificate(key)
        pdf = ReportSigner(key, certificate).sign(
            signed["unsigned"].read_bytes(), reason="test"
        )

        _, status = _validate(pdf, certificate)

        assert (True, True) == (status.intact, status.trusted)
        assert "ecdsa" in status.pkcs7_signature_mechanism

    def test_pkcs12(self, tmp_path: Path) -> None:
        """A PKCS#12 file alone gives the key and its certificate."""
        key, certificate = make_signing_certificate("p12 signer")
        path = tmp_path / "signer.p12"
        path.write_bytes(
            pkcs12.serialize_key_and_certificates(
                b"signer",
                key,
                certificate,
                None,
                serialization.BestAvailableEncryption(b"s3cret"),
            )
        )

        signer = ReportSigner.from_files(path, password="s3cret")  # noqa: S106

        assert "p12 signer" == signer.name
        assert certificate == signer.certificate

    def test_certificate_chain(self, tmp_path: Path) -> None:
        """Issuers after the key's certificate in one PEM file become its chain."""
        key, certificate = make_signing_certificate("leaf")
        _, issuer = make_signing_certificate("issuer")
        (tmp_path / "key.pem").write_bytes(_pem(key))
        (tmp_path / "chain.pem").write_bytes(
            b"".join(
                c.public_bytes(serialization.Encoding.PEM)
                for c in (issuer, certificate)
            )
        )

        signer = ReportSigner.from_files(tmp_path / "key.pem", tmp_path / "chain.pem")

        assert certificate == signer.certificate
        assert (issuer,) == signer.chain

    def test_html_cannot_be_signed(self, signed, tmp_path: Path) -> None:
        """generate_report with a signer and HTML: refused before any work."""
        key, certificate = make_signing_certificate("html")

        with pytest.raises(ReportRenderError, match="only a PDF report can be signed"):
            generate_report(
                f"sqlite:///{signed['store']}",
                since="2026-03-01",
                until="2026-03-31",
                out=tmp_path / "r.html",
                format="html",
                signer=ReportSigner(key, certificate),
            )
        assert not (tmp_path / "r.html").exists()

    def test_expired_refused_before_writing(self, signed, tmp_path: Path) -> None:
        """write_report with an expired certificate writes nothing."""
        from vision_audit.report import write_report

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = datetime.now(UTC)
        signer = ReportSigner(
            key,
            _certificate(
                key, start=now - timedelta(days=30), end=now - timedelta(days=1)
            ),
        )
        data = build_report(
            f"sqlite:///{signed['store']}", since="2026-03-01", until="2026-03-31"
        )

        with pytest.raises(ReportRenderError, match="has expired"):
            write_report(data, out=tmp_path / "r.pdf", signer=signer)
        assert [] == list(tmp_path.iterdir())


def _keys(folder: Path) -> dict[str, Path]:
    """Key and certificate files, good and bad, for the command's bad inputs."""
    now = datetime.now(UTC)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - refused
    files = {
        "key": folder / "key.pem",
        "cert": _write_certificate(folder / "cert.pem", _certificate(rsa_key)),
        "other-cert": _write_certificate(folder / "other.pem", _certificate(other)),
        "expired": _write_certificate(
            folder / "expired.pem",
            _certificate(
                rsa_key, start=now - timedelta(days=30), end=now - timedelta(days=1)
            ),
        ),
        "future": _write_certificate(
            folder / "future.pem",
            _certificate(
                rsa_key, start=now + timedelta(days=1), end=now + timedelta(days=30)
            ),
        ),
        "encrypted": folder / "encrypted.pem",
        "weak": folder / "weak.pem",
        "weak-cert": _write_certificate(folder / "weak.crt", _certificate(weak)),
        "p12": folder / "key.p12",
        "garbage": folder / "garbage.bin",
        "ed25519": folder / "ed25519.pem",
    }
    files["key"].write_bytes(_pem(rsa_key))
    files["encrypted"].write_bytes(
        rsa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"right"),
        )
    )
    files["weak"].write_bytes(_pem(weak))
    files["p12"].write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"k",
            rsa_key,
            _certificate(rsa_key),
            None,
            serialization.BestAvailableEncryption(b"right"),
        )
    )
    files["garbage"].write_bytes(os.urandom(64))
    assert 0 == main(["keygen", "--output", str(files["ed25519"])])
    return files


@pytest.fixture(name="keys", scope="module")
def _keys_fixture(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _keys(tmp_path_factory.mktemp("keys"))


class TestBadInput:
    """Each bad signing input: exit 2, one message naming it, no PDF written."""

    @pytest.mark.parametrize(
        ("options", "password", "expected"),
        [
            (["--sign-key", "missing", "--sign-cert", "cert"], None, "no key file at"),
            (
                ["--sign-key", "key", "--sign-cert", "missing"],
                None,
                "no certificate file at",
            ),
            (
                ["--sign-key", "cert", "--sign-cert", "cert"],
                None,
                "holds no private key",
            ),
            (
                ["--sign-key", "garbage", "--sign-cert", "cert"],
                None,
                "is not a private key",
            ),
            (
                ["--sign-key", "key", "--sign-cert", "key"],
                None,
                "holds no X.509 certificate",
            ),
            (
                ["--sign-key", "key", "--sign-cert", "other-cert"],
                None,
                "is not the key's",
            ),
            (["--sign-key", "key", "--sign-cert", "expired"], None, "has expired"),
            (["--sign-key", "key", "--sign-cert", "future"], None, "is not valid yet"),
            (["--sign-key", "encrypted", "--sign-cert", "cert"], None, "is encrypted"),
            (
                ["--sign-key", "encrypted", "--sign-cert", "cert"],
                "wrong",
                "wrong password for",
            ),
            (["--sign-key", "p12"], None, "PKCS#12 file that needs a password"),
            (["--sign-key", "p12"], "wrong", "wrong password for the PKCS#12 file"),
            (
                ["--sign-key", "ed25519", "--sign-cert", "cert"],
                None,
                "is an Ed25519 or Ed448 key",
            ),
            (
                ["--sign-key", "weak", "--sign-cert", "weak-cert"],
                None,
                "an RSA key of 1024 bits",
            ),
            (["--sign-key", "key"], None, "give the certificate of"),
            (["--sign-cert", "cert"], None, "--sign-cert needs --sign-key"),
            (
                ["--sign-key", "key", "--sign-cert", "cert", "--format", "html"],
                None,
                "an HTML report (--format html) cannot be signed",
            ),
        ],
    )
    def test_refused(
        self, signed, keys, tmp_path: Path, capsys, monkeypatch, options, password,
        expected,
    ) -> None:  # fmt: skip
        """The message names the problem; nothing is written."""
        argv = [
            str(keys.get(a, tmp_path / "missing.pem")) if a in {*keys, "missing"} else a
            for a in options
        ]
        if password is not None:
            monkeypatch.setenv("REPORT_KEY_PASSWORD", password)
            argv += ["--sign-key-password-env", "REPORT_KEY_PASSWORD"]
        out = tmp_path / "r.pdf"

        code = main(
            ["report", "--store", f"sqlite:///{signed['store']}", *PERIOD,
             "--out", str(out), "--quiet", *argv]
        )  # fmt: skip

        err = capsys.readouterr().err
        assert 2 == code
        assert 1 == len(err.splitlines()), err
        assert err.startswith("vision-audit report: error: ")
        assert expected in err
        assert not out.exists()

    def test_password_variable_not_set(
        self, signed, keys, tmp_path: Path, capsys, monkeypatch
    ) -> None:
        """--sign-key-password-env naming an unset variable: named, exit 2."""
        monkeypatch.delenv("NO_SUCH_PASSWORD", raising=False)

        code = main(
            ["report", "--store", f"sqlite:///{signed['store']}", *PERIOD,
             "--out", str(tmp_path / "r.pdf"), "--sign-key", str(keys["encrypted"]),
             "--sign-cert", str(keys["cert"]),
             "--sign-key-password-env", "NO_SUCH_PASSWORD"]
        )  # fmt: skip

        assert 2 == code
        assert "NO_SUCH_PASSWORD: that environment variable is not set" in (
            capsys.readouterr().err
        )

    def test_right_password(self, keys, monkeypatch) -> None:
        """The encrypted key and the PKCS#12 file open with the right password."""
        for key, cert in ((keys["encrypted"], keys["cert"]), (keys["p12"], None)):
            signer = ReportSigner.from_files(key, cert, password="right")  # noqa: S106

            assert "test signer" == signer.name

    def test_verify_pdf_missing_file(self, keys, tmp_path: Path, capsys) -> None:
        """verify-pdf on a missing file, or with a bad certificate: exit 2."""
        missing = main(
            ["verify-pdf", str(tmp_path / "none.pdf"), "--cert", str(keys["cert"])]
        )
        bad_cert = main(
            ["verify-pdf", str(keys["key"]), "--cert", str(keys["garbage"])]
        )

        err = capsys.readouterr().err
        assert (2, 2) == (missing, bad_cert)
        assert "no report at" in err
        assert "holds no X.509 certificate" in err


class TestKeygen:
    """vision-audit keygen --report-signing."""

    def test_key_and_certificate(self, tmp_path: Path, capsys) -> None:
        """A private key (mode 600) and a certificate that sign, as printed."""
        key = tmp_path / "signing.pem"

        code = main(
            ["keygen", "--report-signing", "--output", str(key), "--days", "30",
             "--subject", "Contoso compliance office"]
        )  # fmt: skip

        printed = capsys.readouterr().out
        certificate = tmp_path / "signing.pem.crt"
        (cert,) = read_certificates(certificate)
        signer = ReportSigner.from_files(key, certificate)
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        assert 0 == code
        assert 0o600 == stat.S_IMODE(key.stat().st_mode)
        assert 0o644 == stat.S_IMODE(certificate.stat().st_mode)
        assert cert.subject == cert.issuer
        assert "Contoso compliance office" == signer.name
        assert isinstance(signer.key, rsa.RSAPrivateKey)
        assert 3072 == signer.key.key_size
        assert usage.digital_signature
        assert usage.content_commitment
        assert timedelta(days=30, minutes=1) == (
            cert.not_valid_after_utc - cert.not_valid_before_utc
        )
        signer.check_valid()
        assert f"--sign-key {key} --sign-cert {certificate}" in printed
        assert f"vision-audit verify-pdf REPORT.pdf --cert {certificate}" in printed

    @pytest.mark.parametrize("taken", ["signing.pem", "signing.pem.crt"])
    def test_never_overwrites(self, tmp_path: Path, capsys, taken: str) -> None:
        """An existing key or certificate file: exit 2, nothing written."""
        (tmp_path / taken).write_text("mine")

        code = main(
            ["keygen", "--report-signing", "--output", str(tmp_path / "signing.pem")]
        )

        assert 2 == code
        assert "exists; keys are never overwritten" in capsys.readouterr().err
        assert ["mine"] == [p.read_text() for p in tmp_path.iterdir()]

    @pytest.mark.parametrize(
        ("argv", "expected"),
        [
            (["--report-signing"], "give --output FILE"),
            (["--report-signing", "--public", "--output", "k"], "--public exports"),
            (["--report-signing", "--days", "0", "--output", "k"], "--days 0"),
            (["--subject", "x", "--output", "k"], "add --report-signing"),
            (["--days", "3", "--output", "k"], "add --report-signing"),
        ],
    )
    def test_bad_usage(self, tmp_path: Path, capsys, monkeypatch, argv, expected):
        """Conflicting or missing options: exit 2, named, nothing written."""
        monkeypatch.chdir(tmp_path)

        code = main(["keygen", *argv])

        assert 2 == code
        assert expected in capsys.readouterr().err
        assert [] == list(tmp_path.iterdir())

    def test_help(self, capsys) -> None:
        """--help tells what --report-signing makes and how it is used."""
        with pytest.raises(SystemExit):
            main(["keygen", "--help"])

        text = " ".join(capsys.readouterr().out.split())
        assert "--report-signing" in text
        assert "self-signed X.509 certificate" in text
        assert "--sign-key FILE --sign-cert FILE.crt" in text
