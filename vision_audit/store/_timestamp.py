"""
RFC 3161 trusted time for checkpoints: ask a time-stamping authority, verify its answer.

:func:`request_timestamp` sends a ``TimeStampReq`` over the SHA-256 of a message
(with a random nonce, asking for the TSA's certificate) and returns the DER
``TimeStampResp`` that the TSA answered. That whole response, not just the
``TimeStampToken`` inside it, is what a checkpoint stores: it is what
``rfc3161-client`` parses and verifies (``decode_timestamp_response`` and
``Verifier.verify``), and it is what ``openssl ts -verify -in`` reads.

:func:`verify_timestamp` later checks such a response against a message and a set
of trusted certificates (see :func:`load_certificates`), and returns the time the
TSA vouched for.

Only the ``TSTInfo`` and the signature over it are authenticated. The status, the
certificates carried for convenience, and the rest of the CMS envelope are not
signed by the TSA: bind the stored bytes into the hash chain if they must not change.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import re
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimestampRequestBuilder,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rfc3161_client import TimeStampResponse

__all__ = [
    "MAX_RESPONSE_BYTES",
    "TimestampError",
    "load_certificates",
    "request_timestamp",
    "verify_timestamp",
]

MAX_RESPONSE_BYTES: Final = 1 << 20
"""
The largest answer accepted from a TSA (1 MiB); real responses are a few KiB.

.. versionadded:: 0.1.0
"""

_QUERY_TYPE: Final = "application/timestamp-query"
_REPLY_TYPE: Final = "application/timestamp-reply"
_SCHEMES: Final = frozenset({"http", "https"})
_SHA256: Final = x509.ObjectIdentifier("2.16.840.1.101.3.4.2.1")
_PEM_MARKER: Final = b"-----BEGIN"
# DER tags of the elements between a TimeStampResp and its certificates.
_INTEGER: Final = 0x02
_OID: Final = 0x06
_SEQUENCE: Final = 0x30
_SET: Final = 0x31
_CONTEXT_0: Final = 0xA0
_ANY_TAG: Final = -1
_MAX_LENGTH_OCTETS: Final = 4
# rfc3161-client wraps OpenSSL's ErrorStack in its message; keep what a person reads.
_OPENSSL_DETAIL: Final = re.compile(r'(?:data|reason): "([^"]+)"')


class TimestampError(ValueError):
    """
    A time-stamp could not be obtained or does not verify; the message says why.

    The message names the TSA without the URL's user information, query string or
    fragment, which may hold credentials.

    .. versionadded:: 0.1.0
    """


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: urllib would turn the POST into a GET without the query."""

    def redirect_request(self, *_args: object, **_kwargs: object) -> None:
        """No new request: the redirect surfaces as an HTTP error."""


def _where(url: str) -> str:
    """
    *url* as it may appear in a message: scheme, host, port and path only.

    Raises:
        TimestampError: *url* is not an absolute ``http`` or ``https`` URL.
    """
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        shown = f"{scheme}:" if scheme else "a relative URL"
        msg = f"the time-stamping authority URL must be http or https, not {shown}"
        raise TimestampError(msg)
    try:
        port = parts.port
    except ValueError as err:
        msg = f"the time-stamping authority URL has a bad port: {err}"
        raise TimestampError(msg) from err
    host = parts.hostname
    if not host:
        msg = f"the time-stamping authority URL ({scheme}:) names no host"
        raise TimestampError(msg)
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    return urllib.parse.urlunsplit((scheme, netloc, parts.path, "", ""))


def _post(url: str, where: str, query: bytes, timeout: float) -> bytes:
    """POST *query* to the TSA at *url*; the body of a 2xx answer, bounded in size."""
    parts = urllib.parse.urlsplit(url)
    headers = {"Content-Type": _QUERY_TYPE, "Accept": _REPLY_TYPE}
    if parts.username is not None or parts.password is not None:
        # urllib would take "user:password@host" for a host name; send the
        # credentials as HTTP Basic authentication, which is what they mean.
        user = urllib.parse.unquote(parts.username or "")
        password = urllib.parse.unquote(parts.password or "")
        user_pass = f"{user}:{password}".encode()
        headers["Authorization"] = f"Basic {base64.b64encode(user_pass).decode()}"
        netloc = parts.netloc.rpartition("@")[2]
        url = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    request = urllib.request.Request(  # noqa: S310 - _where allowed http(s) only
        url, data=query, headers=headers, method="POST"
    )
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(request, timeout=timeout) as answer:
            body: bytes = answer.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as err:
        err.close()
        msg = (
            f"the time-stamping authority {where} answered HTTP {err.code} {err.reason}"
        )
        raise TimestampError(msg) from err
    except (OSError, http.client.HTTPException) as err:
        reason = err.reason if isinstance(err, urllib.error.URLError) else err
        msg = f"the time-stamping authority {where} is unreachable: {reason}"
        raise TimestampError(msg) from err
    if len(body) > MAX_RESPONSE_BYTES:
        msg = (
            f"the time-stamping authority {where} answered more than "
            f"{MAX_RESPONSE_BYTES} bytes; a time-stamp response is a few KiB"
        )
        raise TimestampError(msg)
    return body


def _span(data: bytes, offset: int, tag: int) -> tuple[int, int]:
    """
    Where the content of the DER element at *offset* starts and ends.

    Raises:
        ValueError: The element is not tagged *tag* or its length is not DER.
        IndexError: *data* ends inside the element's header.
    """
    if tag not in {_ANY_TAG, data[offset]}:
        raise ValueError(tag)
    length = data[offset + 1]
    start = offset + 2
    if length & 0x80:
        size = length & 0x7F
        if not 1 <= size <= _MAX_LENGTH_OCTETS:
            raise ValueError(size)
        length = int.from_bytes(data[start : start + size], "big")
        start += size
    end = start + length
    if end > len(data):
        raise IndexError(end)
    return start, end


def _in_der_order(data: bytes) -> bytes:
    """
    *data* with the certificates of its ``SignedData`` in DER order.

    rfc3161-client parses ``SignedData.certificates`` as a DER ``SET OF`` and
    refuses any other order, while ``openssl ts`` writes the signer's certificate
    first and the rest of its chain (``certs``) after it. The set is not covered by
    the TSA's signature and sorting it changes no length, so the result verifies as
    the original does. Anything unexpected returns *data* unchanged, for
    rfc3161-client's parser to judge.
    """
    try:
        resp, _ = _span(data, 0, _SEQUENCE)  # TimeStampResp
        _, status_end = _span(data, resp, _SEQUENCE)  # PKIStatusInfo
        token, _ = _span(data, status_end, _SEQUENCE)  # TimeStampToken
        _, content_type_end = _span(data, token, _OID)  # id-signedData
        content, _ = _span(data, content_type_end, _CONTEXT_0)  # [0] EXPLICIT
        signed, _ = _span(data, content, _SEQUENCE)  # SignedData
        _, version_end = _span(data, signed, _INTEGER)
        _, algorithms_end = _span(data, version_end, _SET)  # digestAlgorithms
        _, encapsulated_end = _span(data, algorithms_end, _SEQUENCE)  # TSTInfo
        first, last = _span(data, encapsulated_end, _CONTEXT_0)  # certificates
        certificates = []
        cursor = first
        while cursor < last:
            _, end = _span(data, cursor, _ANY_TAG)
            certificates.append(data[cursor:end])
            cursor = end
    except (IndexError, ValueError):
        return data
    if cursor != last:
        return data
    return data[:first] + b"".join(sorted(certificates)) + data[last:]


def _granted(data: bytes, what: str) -> TimeStampResponse:
    """
    *data* as a granted time-stamp response, parsed to the end.

    Raises:
        TimestampError: *data* is no DER time-stamp response, or was not granted.
    """
    try:
        response = decode_timestamp_response(data)
    except ValueError as err:
        msg = f"{what} is not a DER RFC 3161 time-stamp response: {err}"
        raise TimestampError(msg) from err
    if response.status != PKIStatus.GRANTED:
        try:
            status = PKIStatus(response.status).name.lower().replace("_", " ")
        except ValueError:
            status = f"unknown status {response.status}"
        said = "; ".join(response.status_string)
        detail = f" ({said})" if said else ""
        msg = f"{what}: not granted, status {status}{detail}"
        raise TimestampError(msg)
    try:
        # rfc3161-client reads the token only when asked: ask now, to fail here.
        _ = response.tst_info, response.signed_data
    except ValueError as err:
        msg = f"{what} is not a DER RFC 3161 time-stamp response: {err}"
        raise TimestampError(msg) from err
    return response


def _require_imprint(response: TimeStampResponse, digest: bytes, what: str) -> None:
    """Refuse a response whose message imprint is not *digest* under SHA-256."""
    imprint = response.tst_info.message_imprint
    if imprint.hash_algorithm != _SHA256:
        msg = (
            f"{what}: message imprint mismatch, it is over a "
            f"{imprint.hash_algorithm.dotted_string} digest, not SHA-256"
        )
        raise TimestampError(msg)
    if imprint.message != digest:
        msg = (
            f"{what}: message imprint mismatch, it covers SHA-256 "
            f"{imprint.message.hex()}, not {digest.hex()} of this message"
        )
        raise TimestampError(msg)


def request_timestamp(url: str, message: bytes, *, timeout: float = 10.0) -> bytes:
    """
    Ask the time-stamping authority at *url* to vouch for the SHA-256 of *message*.

    The request carries a random nonce and asks for the TSA's certificate. The
    answer is checked for what the TSA could get wrong or a network could swap:
    status *granted*, the SHA-256 imprint of *message*, the request's nonce, and a
    certificate to verify with. Its signature is not verified here, since that needs
    trust anchors: call :func:`verify_timestamp` with them.

    Args:
        url: The TSA's ``http`` or ``https`` endpoint. User information in it
            (``https://user:password@host/``) is sent as HTTP Basic
            authentication. Proxies come from the environment, as with any urllib
            request; redirects are refused.
        message: The bytes to time-stamp, e.g. a checkpoint's canonical form.
        timeout: Seconds to wait for each network operation.

    Returns:
        The DER ``TimeStampResp``, as the TSA sent it but for the order of the
        certificates it carries, which is made DER's (that set is not signed);
        store it whole.

    Raises:
        TimestampError: The URL is not http(s), the TSA is unreachable, answered
            an HTTP error, more than :data:`MAX_RESPONSE_BYTES`, something that is
            no time-stamp response, a status other than granted, another imprint,
            another nonce or no certificate; or *message* is empty.

    .. versionadded:: 0.1.0
    """
    where = _where(url)
    if not message:
        msg = "nothing to time-stamp: the message is empty"
        raise TimestampError(msg)
    query = (
        TimestampRequestBuilder()
        .data(message)
        .hash_algorithm(HashAlgorithm.SHA256)
        .nonce(nonce=True)
        .cert_request(cert_request=True)
        .build()
    )
    body = _in_der_order(_post(url, where, query.as_bytes(), timeout))
    what = f"the answer of the time-stamping authority {where}"
    response = _granted(body, what)
    _require_imprint(response, hashlib.sha256(message).digest(), what)
    if response.tst_info.nonce != query.nonce:
        msg = (
            f"{what}: nonce mismatch, the time-stamp answers another request "
            "(replayed or misrouted)"
        )
        raise TimestampError(msg)
    if not response.signed_data.certificates:
        msg = f"{what}: it holds no certificate, although the request asked for one"
        raise TimestampError(msg)
    return body


def _load(data: bytes, source: str) -> list[x509.Certificate]:
    """The certificates in *data*: PEM blocks, or one DER certificate."""
    if not data.strip():
        msg = f"{source} holds no certificate: it is empty"
        raise TimestampError(msg)
    try:
        if _PEM_MARKER in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as err:
        msg = (
            f"{source} holds no readable certificate: expected PEM "
            f"'BEGIN CERTIFICATE' blocks or one DER certificate ({err})"
        )
        raise TimestampError(msg) from err


def load_certificates(data: bytes, *, source: str) -> list[bytes]:
    """
    Read the trusted certificates of a TSA from a file's content.

    Args:
        data: One or more PEM certificates (other PEM blocks are skipped), or one
            DER certificate.
        source: Where *data* came from, e.g. the file's path, for the message.

    Returns:
        Each certificate, DER, in the order found; ready for
        :func:`verify_timestamp`.

    Raises:
        TimestampError: *data* holds no certificate, or a malformed one.

    .. versionadded:: 0.1.0
    """
    return [cert.public_bytes(Encoding.DER) for cert in _load(data, source)]


def _verifier(certificates: Sequence[bytes]) -> VerifierBuilder:
    """A verifier builder trusting *certificates*; self-signed ones are the roots."""
    builder = VerifierBuilder()
    seen: set[bytes] = set()
    roots = 0
    for number, data in enumerate(certificates, start=1):
        for cert in _load(data, f"trusted certificate {number}"):
            der = cert.public_bytes(Encoding.DER)
            if der in seen:
                continue
            seen.add(der)
            if cert.issuer == cert.subject:
                builder = builder.add_root_certificate(cert)
                roots += 1
            else:
                # rfc3161-client trusts intermediates as much as roots, but OpenSSL
                # still wants the chain to end at a self-signed certificate.
                builder = builder.add_intermediate_certificate(cert)
    if not roots:
        msg = (
            "certificate chain does not verify: none of the trusted certificates is "
            "a self-signed root; give the root CA certificate of the TSA"
        )
        raise TimestampError(msg)
    return builder


def _detail(err: Exception) -> str:
    """What went wrong, in words, from rfc3161-client's (or OpenSSL's) message."""
    found = _OPENSSL_DETAIL.findall(str(err))
    return found[-1] if found else str(err)


def verify_timestamp(
    token: bytes, message: bytes, *, certificates: Sequence[bytes]
) -> datetime:
    """
    Check that a TSA vouched for the SHA-256 of *message*, and say when.

    Verified: the status is *granted*; the CMS signature over the ``TSTInfo`` holds;
    the signer's certificate is in the response, has the critical
    ``id-kp-timeStamping`` extended key usage and chains, valid at the stamped
    time, to a self-signed certificate in *certificates*; the imprint is the
    SHA-256 of *message*. Revocation is not checked.

    Args:
        token: The DER ``TimeStampResp`` that :func:`request_timestamp` returned,
            or one from elsewhere (its certificates may come in any order); a
            bare ``TimeStampToken`` is not accepted.
        message: The bytes that were time-stamped.
        certificates: The trusted certificates, PEM or DER (see
            :func:`load_certificates`): at least the TSA chain's root CA, and any
            intermediate the response does not carry. Each is a trust anchor.

    Returns:
        The TSA's ``genTime``, aware and in UTC; rfc3161-client drops any fraction
        of a second.

    Raises:
        TimestampError: *token* is no time-stamp response, was not granted, its
            signature or certificate chain does not verify against
            *certificates*, or it covers another message.

    .. versionadded:: 0.1.0
    """
    builder = _verifier(certificates)
    what = "the time-stamp"
    response = _granted(_in_der_order(token), what)
    imprint = response.tst_info.message_imprint.message
    try:
        # The imprint is compared below, to name that problem apart from others.
        builder.build().verify(response, imprint)
    except (VerificationError, ValueError, x509.InvalidVersion) as err:
        msg = f"{what}: signature or certificate chain does not verify: {_detail(err)}"
        raise TimestampError(msg) from err
    _require_imprint(response, hashlib.sha256(message).digest(), what)
    return response.tst_info.gen_time.astimezone(UTC)
