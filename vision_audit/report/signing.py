"""
Sign a report's PDF (PAdES baseline B-B) with pyHanko, and check such a signature.

A signed report is the unsigned one, byte for byte, followed by one incremental
update holding the signature: the signed revision stays PDF/A-3a with its JSON
attached, and anyone can cut the file at the end of its first revision and compare it
with a report made again from the same store. The signature covers the whole file.

The signing time is the moment of signing (the PDF's modification date, which pyHanko
sets then, says the same); the report's own date stays on its cover and in its
creation date. There is no time stamp from a time-stamping authority (PAdES B-T): the
report has no TSA of its own to ask, so the time is the signer's claim.

Keys: RSA (2048 bits or more) or ECDSA (P-256, P-384, P-521). ``vision-audit keygen
--report-signing`` makes RSA 3072: PDF/A-3 builds on PDF 1.7, whose signatures are
RSA, while pyHanko marks an ECDSA signature with the ISO/TS 32002 extension, which
declares PDF 2.0 in the document catalog. Ed25519, the audit log's checkpoint key, is
refused: PDF readers do not check Ed25519 signatures.

pyHanko is imported only when a PDF is signed or checked (the ``sign`` extra).
"""

from __future__ import annotations

import functools
import io
import json
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID

from vision_audit.exceptions import ReportRenderError
from vision_audit.version import __version__

if TYPE_CHECKING:
    from collections.abc import Sequence

    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

    from vision_audit.report.aggregate import ReportData

__all__ = [
    "SIGNATURE_FIELD",
    "ReportSigner",
    "SignatureCheck",
    "make_signing_certificate",
    "read_certificates",
    "verify_report_signature",
    "write_signing_files",
]

SIGNATURE_FIELD: Final = "ReportSignature"
"""The name of the signature's form field."""

DEFAULT_CERTIFICATE_DAYS: Final = 365
"""How long a certificate made by :func:`make_signing_certificate` is valid."""

DEFAULT_SUBJECT: Final = "vision-audit report signing (self-signed)"
"""The common name of a certificate made by ``vision-audit keygen --report-signing``."""

_RSA_BITS: Final = 3072
_MIN_RSA_BITS: Final = 2048
_CURVES: Final = frozenset({"secp256r1", "secp384r1", "secp521r1"})
_PDFA_PART: Final = "3"
_ATTACHMENT: Final = "report.json"  # pdf.ATTACHMENT_NAME; pdf imports WeasyPrint
_PEM: Final = b"-----BEGIN"
_INSTALL: Final = "pip install 'vision-audit[sign]'"
_HASHES: Final[dict[str, type[hashes.HashAlgorithm]]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_HOW_TO_UNLOCK: Final = "on the command line: --sign-key-password-env VAR"


# -- keys and certificates ------------------------------------------------------------


def _check_key(key: PrivateKeyTypes, where: str) -> None:
    """RSA of 2048 bits or more, or ECDSA on a NIST curve; anything else is named."""
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < _MIN_RSA_BITS:
            msg = (
                f"{where} is an RSA key of {key.key_size} bits; a report signing key "
                f"needs {_MIN_RSA_BITS} or more"
            )
            raise ReportRenderError(msg)
        return
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in _CURVES:
            msg = (
                f"{where} is an ECDSA key on {key.curve.name}; a report signing key is "
                "RSA or ECDSA on P-256, P-384 or P-521"
            )
            raise ReportRenderError(msg)
        return
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        msg = (
            f"{where} is an Ed25519 or Ed448 key (such as the audit log's checkpoint "
            "key): PDF readers do not check such signatures; a report signing key is "
            "RSA or ECDSA (vision-audit keygen --report-signing makes one)"
        )
        raise ReportRenderError(msg)
    msg = f"{where} is a {type(key).__name__}; a report signing key is RSA or ECDSA"
    raise ReportRenderError(msg)


def _load_private_key(
    data: bytes, where: str, password: bytes | None
) -> tuple[PrivateKeyTypes, list[x509.Certificate]]:
    """A PEM or DER private key, or a PKCS#12 file's key and certificates."""
    if data.lstrip().startswith(_PEM):
        return _load_pem_key(data, where, password), []
    try:
        return serialization.load_der_private_key(data, password), []
    except (TypeError, ValueError):
        pass  # perhaps a PKCS#12 file
    return _load_pkcs12(data, where, password)


def _load_pem_key(data: bytes, where: str, password: bytes | None) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(data, password)
    except TypeError as err:  # cryptography's word for a missing or extra password
        if password is None:
            msg = f"{where} is encrypted: give its password ({_HOW_TO_UNLOCK})"
        else:
            msg = f"{where} is not encrypted: give no password"
        raise ReportRenderError(msg) from err
    except ValueError as err:
        if "password" in str(err).lower():
            msg = f"wrong password for {where}"
        else:
            msg = f"{where} holds no private key (PEM, PKCS#8, PKCS#1 or SEC1)"
        raise ReportRenderError(msg) from err


def _load_pkcs12(
    data: bytes, where: str, password: bytes | None
) -> tuple[PrivateKeyTypes, list[x509.Certificate]]:
    try:
        key, certificate, others = pkcs12.load_key_and_certificates(data, password)
    except ValueError as err:
        # cryptography tells a PKCS#12 file it could not decrypt ("Invalid
        # password or PKCS12 data") from bytes it could not parse.
        if "password" not in str(err).lower():
            msg = (
                f"{where} is not a private key: give a PEM or DER key, or a PKCS#12 "
                "(.p12, .pfx) file"
            )
        elif password is None:
            msg = f"{where} is a PKCS#12 file that needs a password ({_HOW_TO_UNLOCK})"
        else:
            msg = f"wrong password for the PKCS#12 file {where}"
        raise ReportRenderError(msg) from err
    if key is None:
        msg = f"the PKCS#12 file {where} holds no private key"
        raise ReportRenderError(msg)
    return key, [c for c in (certificate, *others) if c is not None]


def read_certificates(path: str | Path) -> list[x509.Certificate]:
    """
    The X.509 certificates of a PEM file (one or more) or a DER file.

    Raises:
        ReportRenderError: The file is missing or holds no certificate.

    .. versionadded:: 0.1.0
    """
    data = _read(path, "certificate")
    try:
        if data.lstrip().startswith(_PEM):
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as err:
        msg = f"{path} holds no X.509 certificate (PEM or DER)"
        raise ReportRenderError(msg) from err


def _read(path: str | Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError as err:
        msg = f"no {what} file at {path}"
        raise ReportRenderError(msg) from err
    except OSError as err:
        msg = f"cannot read the {what} file {path}: {err.strerror or err}"
        raise ReportRenderError(msg) from err


def _same_key(certificate: x509.Certificate, key: PrivateKeyTypes) -> bool:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    return bool(
        certificate.public_key().public_bytes(der, spki)
        == key.public_key().public_bytes(der, spki)
    )


def _name(certificate: x509.Certificate) -> str:
    """The certificate's common name, else its whole subject."""
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if names and isinstance(names[0].value, str):
        return names[0].value
    return certificate.subject.rfc4514_string()


class ReportSigner:
    """
    A private key and its X.509 certificate, which sign reports as PAdES B-B.

    Args:
        key: RSA (2048 bits or more) or ECDSA (P-256, P-384, P-521) private key.
        certificate: The key's certificate, which the report's recipient trusts
            (directly, or through *chain*).
        chain: Certificates of the issuers, embedded in the signature so that a
            recipient who trusts the root can build the path.

    Raises:
        ReportRenderError: The key is of another kind, the certificate is not the
            key's, or its key usage forbids signing.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        key: PrivateKeyTypes,
        certificate: x509.Certificate,
        *,
        chain: Sequence[x509.Certificate] = (),
    ) -> None:
        """Check that *key* can sign and that *certificate* is its certificate."""
        _check_key(key, "the signing key")
        if not _same_key(certificate, key):
            msg = (
                f"the certificate ({_name(certificate)}) is not the signing key's: "
                "its public key is another"
            )
            raise ReportRenderError(msg)
        try:
            usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
        except x509.ExtensionNotFound:
            usage = None
        if usage is not None and not (
            usage.digital_signature or usage.content_commitment
        ):
            msg = (
                f"the certificate ({_name(certificate)}) does not allow signing: its "
                "key usage has neither digitalSignature nor nonRepudiation"
            )
            raise ReportRenderError(msg)
        self.key = key
        self.certificate = certificate
        self.chain = tuple(chain)

    @classmethod
    def from_files(
        cls,
        key: str | Path,
        certificate: str | Path | None = None,
        *,
        password: str | bytes | None = None,
    ) -> ReportSigner:
        """
        Read a signer from a key file and a certificate file.

        Args:
            key: A PEM or DER private key (PKCS#8, PKCS#1 or SEC1, encrypted or
                not), or a PKCS#12 file (``.p12``, ``.pfx``) holding the key and
                its certificate.
            certificate: A PEM (the key's certificate first or anywhere, its
                issuers after) or DER certificate; optional with a PKCS#12 file.
            password: The key's or the PKCS#12 file's password.

        Raises:
            ReportRenderError: A file is missing, is not what it should be, the
                password is wrong or missing, or the certificate is not the key's.

        .. versionadded:: 0.1.0
        """
        secret = password.encode() if isinstance(password, str) else password
        private, bundled = _load_private_key(_read(key, "key"), str(key), secret)
        _check_key(private, str(key))
        certificates = (
            read_certificates(certificate) if certificate is not None else bundled
        )
        if not certificates:
            msg = f"give the certificate of {key} (--sign-cert FILE)"
            raise ReportRenderError(msg)
        own = next((c for c in certificates if _same_key(c, private)), None)
        if own is None:
            where = certificate if certificate is not None else key
            msg = (
                f"the certificate in {where} is not the key's in {key}: its public "
                "key is another"
            )
            raise ReportRenderError(msg)
        return cls(private, own, chain=[c for c in certificates if c is not own])

    @property
    def name(self) -> str:
        """Who signs: the certificate's common name."""
        return _name(self.certificate)

    def check_valid(self, at: datetime | None = None) -> None:
        """
        Refuse a certificate that is not valid *at* (now by default).

        Raises:
            ReportRenderError: It expired, or is not valid yet; the message gives
                its validity period.

        .. versionadded:: 0.1.0
        """
        moment = at if at is not None else datetime.now(UTC)
        start = self.certificate.not_valid_before_utc
        end = self.certificate.not_valid_after_utc
        span = f"valid from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
        if moment > end:
            msg = f"the signing certificate ({self.name}) has expired: {span}"
            raise ReportRenderError(msg)
        if moment < start:
            msg = f"the signing certificate ({self.name}) is not valid yet: {span}"
            raise ReportRenderError(msg)

    def sign(self, pdf: bytes, *, reason: str, location: str | None = None) -> bytes:
        """
        *pdf* with a PAdES B-B signature appended as an incremental update.

        Args:
            pdf: The document to sign.
            reason: What is signed, shown by PDF readers as the signature's reason.
            location: Where (shown as the signature's location).

        Returns:
            The signed document: *pdf*, then the update with the signature.

        Raises:
            ReportRenderError: pyHanko is not installed, or could not sign.

        .. versionadded:: 0.1.0
        """
        hanko = _pyhanko()
        try:
            writer = hanko.incremental_writer(io.BytesIO(pdf))
            # pyHanko writes its own name into the XMP packet's pdf:Producer, but
            # appends it to the /Info dictionary's Producer; PDF/A wants the two
            # equal, so /Info gets the XMP packet's value.
            if "/Info" in writer.trailer:
                info = writer.trailer["/Info"].get_object()
                info[hanko.name("/Producer")] = hanko.text(hanko.vendor)
                writer.mark_update(writer.trailer.raw_get("/Info"))
            metadata = hanko.metadata(
                field_name=SIGNATURE_FIELD,
                subfilter=hanko.pades,
                reason=reason,
                location=location,
                name=self.name,
            )
            signer = hanko.pdf_signer(metadata, hanko.simple_signer(self))
            signed = signer.sign_pdf(writer)
        except Exception as err:  # pyHanko raises many kinds
            msg = f"pyHanko could not sign the report: {err}"
            raise ReportRenderError(msg) from err
        return bytes(signed.getvalue())


def write_signed_pdf(
    html: str,
    data: ReportData,
    out: Path,
    *,
    templates: Path,
    options: dict[str, Any] | None,
    signer: ReportSigner,
) -> Path:
    """
    Write the report as :func:`~vision_audit.report.pdf.write_pdf` does, signed.

    The unsigned PDF goes to a temporary file beside *out*, which is removed: *out*
    is written once, signed, or not at all.
    """
    from vision_audit.report.pdf import write_pdf  # noqa: PLC0415 - WeasyPrint

    signer.check_valid()
    out.parent.mkdir(parents=True, exist_ok=True)
    draft = out.with_name(f".{out.name}.unsigned")
    try:
        write_pdf(html, data, draft, templates=templates, options=options)
        signed = signer.sign(
            draft.read_bytes(),
            reason=(
                f"Compliance report {data.report_id} ({data.period_label}), as "
                f"written by vision-audit {__version__}"
            ),
            location=data.organization,
        )
        out.write_bytes(signed)
    except OSError as err:
        msg = f"cannot write {out}: {err}"
        raise ReportRenderError(msg) from err
    finally:
        draft.unlink(missing_ok=True)
    return out


def make_signing_certificate(
    common_name: str,
    *,
    days: int = DEFAULT_CERTIFICATE_DAYS,
    now: datetime | None = None,
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """
    A new RSA 3072 key and a self-signed certificate for it, to try signing.

    The certificate allows digital signatures and non-repudiation, is no CA, and is
    valid from a minute before *now* for *days* days. A recipient trusts it by
    holding a copy obtained apart from the report.

    .. versionadded:: 0.1.0
    """
    if days < 1:
        msg = f"a certificate must be valid for one day or more, not {days}"
        raise ValueError(msg)
    moment = (now if now is not None else datetime.now(UTC)).replace(microsecond=0)
    key = rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(moment - timedelta(minutes=1))
        .not_valid_after(moment + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(public), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def write_signing_files(
    key: PrivateKeyTypes,
    certificate: x509.Certificate,
    *,
    key_file: Path,
    certificate_file: Path,
) -> None:
    """
    Write *key* (unencrypted PKCS#8 PEM, mode 600) and *certificate* (PEM, 644).

    Raises:
        FileExistsError: Either file exists; neither is overwritten.

    .. versionadded:: 0.1.0
    """
    from vision_audit.store._keys import write_new_file  # noqa: PLC0415

    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_new_file(key_file, pem, mode=0o600)
    write_new_file(
        certificate_file,
        certificate.public_bytes(serialization.Encoding.PEM),
        mode=0o644,
    )


# -- checking -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """
    What :func:`verify_report_signature` checked, and what it found.

    .. versionadded:: 0.1.0
    """

    path: Path
    signed: bool = False
    """The file holds a signature."""
    intact: bool = False
    """The signed bytes are those the signature was made over."""
    trusted: bool = False
    """The signer's certificate leads to a trusted one, and is valid now."""
    whole_file: bool = False
    """Nothing was added after the signature."""
    pdfa: str | None = None
    """The PDF/A part and conformance the file declares (``3B``), if any."""
    attached: bool = False
    """The report's figures are attached (``report.json``)."""
    signer: str | None = None
    signed_at: datetime | None = None
    """The signer's claimed signing time (no time stamp vouches for it)."""
    report_id: str | None = None
    problems: tuple[str, ...] = field(default=())
    """Why the file is not valid, one reason each."""

    @property
    def valid(self) -> bool:
        """Signed, intact, trusted, covering the whole file, PDF/A with figures."""
        return not self.problems


def verify_report_signature(
    path: str | Path, *, trusted: Sequence[x509.Certificate]
) -> SignatureCheck:
    """
    Check a signed report against the certificates its recipient trusts.

    pyHanko's validator checks the signature (integrity, the signer's certificate
    path to one of *trusted*, valid now, allowed to sign) and that it covers the
    whole file; then the file's PDF/A identification and the attached figures are
    read from the signed document. Nothing is fetched from the network.

    Args:
        path: The report.
        trusted: The certificates to trust: the signer's own (self-signed) or its
            root.

    Returns:
        What was checked; :attr:`SignatureCheck.valid` when all holds.

    Raises:
        ReportRenderError: The file cannot be read, or no certificate is trusted.

    .. versionadded:: 0.1.0
    """
    if not trusted:
        msg = "give the certificate to trust (--cert FILE)"
        raise ReportRenderError(msg)
    target = Path(path)
    data = _read(target, "report")
    hanko = _pyhanko()
    try:
        return _check(hanko, target, data, trusted)
    except Exception as err:  # noqa: BLE001 - a damaged file is a finding
        return SignatureCheck(
            path=target, problems=(f"not a PDF that can be checked: {err}",)
        )


def _check(
    hanko: _PyHanko,
    target: Path,
    data: bytes,
    trusted: Sequence[x509.Certificate],
) -> SignatureCheck:
    reader = hanko.reader(io.BytesIO(data))
    signatures = reader.embedded_signatures
    if not signatures:
        return SignatureCheck(path=target, problems=("the file is not signed",))
    status = hanko.validate(signatures[-1], trusted)
    problems = []
    if len(signatures) > 1:
        problems.append(f"the file holds {len(signatures)} signatures, not one")
    if not status.intact or not status.valid:
        problems.append("the signature does not match the signed bytes")
    if status.intact and status.valid and not status.trusted:
        indication = status.trust_problem_indic
        why = indication.name.lower().replace("_", " ") if indication else "unknown"
        problems.append(
            "the signer's certificate does not lead to a given certificate, or is "
            f"not valid now (pyHanko: {why})"
        )
    whole = status.coverage == hanko.entire_file
    if not whole:
        problems.append("bytes were added after the signature")
    pdfa = _pdfa(reader)
    if pdfa is None or not pdfa.startswith(_PDFA_PART):
        problems.append(f"the file is not PDF/A-3 (it declares {pdfa or 'none'})")
    figures = _attachment(reader)
    if figures is None:
        problems.append(f"the report's figures ({_ATTACHMENT}) are not attached")
    return SignatureCheck(
        path=target,
        signed=True,
        intact=bool(status.intact and status.valid),
        trusted=bool(status.trusted),
        whole_file=whole,
        pdfa=pdfa,
        attached=figures is not None,
        signer=_name(x509.load_der_x509_certificate(status.signing_cert.dump())),
        signed_at=status.signer_reported_dt,
        report_id=_report_id(figures),
        problems=tuple(problems),
    )


def _pdfa(reader: Any) -> str | None:  # noqa: ANN401 - pyHanko's reader is untyped
    """The PDF/A part and conformance of the XMP packet (``3B``), or None."""
    try:
        packet = reader.root["/Metadata"].get_object().data.decode("utf-8", "replace")
    except (KeyError, AttributeError):
        return None
    values = {}
    for key in ("part", "conformance"):
        for opener, closer in (
            (f'pdfaid:{key}="', '"'),
            (f"pdfaid:{key}='", "'"),
            (f"<pdfaid:{key}>", "<"),
        ):
            start = packet.find(opener)
            if start >= 0:
                start += len(opener)
                values[key] = packet[start : packet.find(closer, start)].strip()
                break
    if "part" not in values:
        return None
    return f"{values['part']}{values.get('conformance', '').upper()}"


def _attachment(reader: Any) -> bytes | None:  # noqa: ANN401 - pyHanko's reader is untyped
    """The bytes of the attached ``report.json``, or None."""
    try:
        names = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
    except KeyError:
        return None
    for index in range(0, len(names) - 1, 2):
        if str(names[index]) == _ATTACHMENT:
            spec = names[index + 1].get_object()
            return bytes(spec["/EF"]["/F"].get_object().data)
    return None


def _report_id(figures: bytes | None) -> str | None:
    if figures is None:
        return None
    try:
        value = json.loads(figures).get("report_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


# -- pyHanko, imported on use ---------------------------------------------------------


class _PyHanko:
    """The few pieces of pyHanko this module uses, imported once a PDF is signed."""

    def __init__(self) -> None:
        # pyHanko imports cryptography's DSA module, which warns that DSA is
        # deprecated; reports are never signed with DSA.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            from pyhanko.keys.internal import (  # noqa: PLC0415
                translate_pyca_cryptography_cert_to_asn1,
                translate_pyca_cryptography_key_to_asn1,
            )
            from pyhanko.pdf_utils import generic  # noqa: PLC0415
            from pyhanko.pdf_utils.incremental_writer import (  # noqa: PLC0415
                IncrementalPdfFileWriter,
            )
            from pyhanko.pdf_utils.metadata.model import VENDOR  # noqa: PLC0415
            from pyhanko.pdf_utils.reader import PdfFileReader  # noqa: PLC0415
            from pyhanko.sign import signers  # noqa: PLC0415
            from pyhanko.sign.fields import SigSeedSubFilter  # noqa: PLC0415
            from pyhanko.sign.validation import (  # noqa: PLC0415
                validate_pdf_signature,
            )
            from pyhanko.sign.validation.settings import (  # noqa: PLC0415
                KeyUsageConstraints,
            )
            from pyhanko.sign.validation.status import (  # noqa: PLC0415
                SignatureCoverageLevel,
            )
            from pyhanko_certvalidator import ValidationContext  # noqa: PLC0415
            from pyhanko_certvalidator.registry import (  # noqa: PLC0415
                SimpleCertificateStore,
            )
        self.incremental_writer = IncrementalPdfFileWriter
        self.reader = PdfFileReader
        self.name = generic.NameObject
        self.text = generic.TextStringObject
        self.vendor = VENDOR
        self.metadata = signers.PdfSignatureMetadata
        self.pdf_signer = signers.PdfSigner
        self.pades = SigSeedSubFilter.PADES
        self.entire_file = SignatureCoverageLevel.ENTIRE_FILE
        self._signer = _loaded_key_signer(signers.SimpleSigner)
        self._store = SimpleCertificateStore
        self._key = translate_pyca_cryptography_key_to_asn1
        self._cert = translate_pyca_cryptography_cert_to_asn1
        self._context = ValidationContext
        self._usage = KeyUsageConstraints
        self._validate = validate_pdf_signature

    def simple_signer(self, signer: ReportSigner) -> Any:  # noqa: ANN401 - untyped
        """The pyHanko signer of *signer*'s key, certificate and chain."""
        registry = self._store()  # type: ignore[no-untyped-call] # pyHanko
        registry.register_multiple([self._cert(c) for c in signer.chain])
        loaded = self._signer(
            signing_cert=self._cert(signer.certificate),
            signing_key=self._key(signer.key),
            cert_registry=registry,
        )
        loaded.loaded_key = signer.key
        return loaded

    def validate(self, signature: Any, trusted: Sequence[x509.Certificate]) -> Any:  # noqa: ANN401 - untyped
        """The pyHanko status of *signature*, trusting *trusted*, offline."""
        context = self._context(
            trust_roots=[self._cert(c) for c in trusted], allow_fetching=False
        )
        # A signing certificate may allow digital signatures, non-repudiation or
        # both (pyHanko asks for non-repudiation by default).
        usage = self._usage(
            key_usage={"digital_signature", "non_repudiation"},
            match_all_key_usages=False,
        )
        return self._validate(
            signature, signer_validation_context=context, key_usage_settings=usage
        )


def _loaded_key_signer(base: type[Any]) -> type[Any]:
    """
    The ``SimpleSigner`` of pyHanko, signing with the key already loaded.

    ``SimpleSigner.sign_raw`` parses the key anew for each signature (two per PDF,
    one to size the space it reserves), and cryptography checks an RSA key on every
    load: 0.2 s each for RSA 3072. The signature is the same.
    """

    class LoadedKeySigner(base):  # type: ignore[misc] # pyHanko is untyped
        loaded_key: PrivateKeyTypes

        def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
            mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
            try:
                algorithm = mechanism.signature_algo
            except ValueError:  # one asn1crypto cannot name: leave it to pyHanko
                algorithm = None
            digest = _HASHES.get(digest_algorithm)
            key = self.loaded_key
            if digest is not None:
                if algorithm == "rsassa_pkcs1v15" and isinstance(
                    key, rsa.RSAPrivateKey
                ):
                    return key.sign(data, padding.PKCS1v15(), digest())
                if algorithm == "ecdsa" and isinstance(key, ec.EllipticCurvePrivateKey):
                    return key.sign(data, ec.ECDSA(digest()))
            return bytes(super().sign_raw(data, digest_algorithm))

    return LoadedKeySigner


@functools.cache
def _pyhanko() -> _PyHanko:
    """pyHanko, imported once; the install hint when it is missing."""
    try:
        return _PyHanko()
    except ImportError as err:
        msg = f"signing a report needs pyHanko ({err.name or err}): {_INSTALL}"
        raise ReportRenderError(msg) from err
