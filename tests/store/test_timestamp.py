"""RFC 3161 time-stamps, from a real ``openssl ts`` TSA on loopback."""

from __future__ import annotations

import base64
import hashlib
import subprocess
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from rfc3161_client import TimestampRequestBuilder, decode_timestamp_response
from tests.tsa import OPENSSL, STALL, TSA, Received, make_ca, run_tsa
from vision_audit.store._timestamp import (
    MAX_RESPONSE_BYTES,
    TimestampError,
    load_certificates,
    request_timestamp,
    verify_timestamp,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

MESSAGE = b'{"checkpoint":42,"hash":"9f86d081884c7d659a2feaa0c55ad015"}'


@pytest.fixture(name="tsa", scope="session")
def _tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TSA]:
    with run_tsa(tmp_path_factory.mktemp("tsa")) as tsa:
        yield tsa


@pytest.fixture(name="token")
def _token(tsa: TSA) -> bytes:
    return request_timestamp(tsa.url, MESSAGE)


def _both_orders(tsa: TSA, token: bytes) -> list[bytes]:
    """*token* with its two certificates (the TSA's and the CA's) in either order."""
    tsa_cert, ca_cert = (
        load_certificates(pem, source="pem")[0]
        for pem in (tsa.tsa_cert_pem, tsa.ca_pem)
    )
    orders = [
        token.replace(ca_cert + tsa_cert, tsa_cert + ca_cert),
        token.replace(tsa_cert + ca_cert, ca_cert + tsa_cert),
    ]
    assert token in orders
    assert orders[0] != orders[1]
    return orders


def _flip(data: bytes, index: int) -> bytes:
    """*data* with the lowest bit of the byte at *index* inverted."""
    flipped = bytearray(data)
    flipped[index] ^= 1
    return bytes(flipped)


class TestRequestTimestamp:
    """request_timestamp() asks the TSA over HTTP and checks what comes back."""

    def test_granted(self, tsa):
        """A granted response over SHA-256 of the message, with the TSA cert."""
        token = request_timestamp(tsa.url, MESSAGE)
        response = decode_timestamp_response(token)

        assert 0 == response.status
        assert hashlib.sha256(MESSAGE).digest() == (
            response.tst_info.message_imprint.message
        )
        assert response.signed_data.certificates
        expected = Received("/tsr", "application/timestamp-query", None)
        assert expected == tsa.requests[-1]

    def test_openssl_verifies(self, tsa, token, tmp_path):
        """What is stored verifies with ``openssl ts -verify``, in either order."""
        (tmp_path / "message").write_bytes(MESSAGE)

        for response in _both_orders(tsa, token):
            (tmp_path / "stamp.tsr").write_bytes(response)
            done = subprocess.run(
                [
                    OPENSSL, "ts", "-verify", "-in", "stamp.tsr", "-data", "message",
                    "-CAfile", tsa.ca.cert,
                ],
                cwd=tmp_path, capture_output=True, text=True, check=False,
            )  # fmt: skip

            assert "Verification: OK" == done.stdout.strip(), done.stderr

    def test_fresh_nonce(self, tsa):
        """Each request carries its own nonce, so two stamps of a message differ."""
        first = decode_timestamp_response(request_timestamp(tsa.url, MESSAGE))
        second = decode_timestamp_response(request_timestamp(tsa.url, MESSAGE))

        assert first.tst_info.nonce != second.tst_info.nonce

    def test_http_500(self, tsa):
        """An HTTP error is named with its status."""
        with tsa.answering("error"), pytest.raises(TimestampError) as caught:
            request_timestamp(tsa.url, MESSAGE)

        assert f"the time-stamping authority {tsa.url} answered HTTP 500" in str(
            caught.value
        )

    def test_redirect_refused(self, tsa):
        """A redirect is not followed: urllib would resend the POST as a GET."""
        with tsa.answering("redirect"), pytest.raises(TimestampError) as caught:
            request_timestamp(tsa.url, MESSAGE)

        assert "answered HTTP 302" in str(caught.value)

    def test_garbage(self, tsa):
        """200 OK with bytes that are no DER is not a time-stamp response."""
        with (
            tsa.answering("garbage"),
            pytest.raises(TimestampError, match="not a DER RFC 3161 time-stamp"),
        ):
            request_timestamp(tsa.url, MESSAGE)

    def test_oversize(self, tsa):
        """An answer above the bound is refused, not read whole."""
        with tsa.answering("oversize"), pytest.raises(TimestampError) as caught:
            request_timestamp(tsa.url, MESSAGE)

        assert f"more than {MAX_RESPONSE_BYTES} bytes" in str(caught.value)

    def test_rejected(self, tsa):
        """A rejection from the TSA is named, with what the TSA said."""
        with tsa.answering("reject"), pytest.raises(TimestampError) as caught:
            request_timestamp(tsa.url, MESSAGE)

        assert (
            "not granted, status rejection (Message digest algorithm is not supported.)"
        ) in str(caught.value)

    def test_replay_nonce(self, tsa):
        """A replayed response for the same message fails on its nonce."""
        request_timestamp(tsa.url, MESSAGE)

        with (
            tsa.answering("replay"),
            pytest.raises(TimestampError, match="nonce mismatch"),
        ):
            request_timestamp(tsa.url, MESSAGE)

    def test_replay_imprint(self, tsa):
        """A replayed response for another message fails on its imprint."""
        request_timestamp(tsa.url, b"another checkpoint")

        with (
            tsa.answering("replay"),
            pytest.raises(TimestampError, match="message imprint mismatch"),
        ):
            request_timestamp(tsa.url, MESSAGE)

    def test_tsa_down(self, tsa):
        """A refused connection says the TSA is unreachable, and why."""
        with pytest.raises(TimestampError) as caught:
            request_timestamp(tsa.down_url, MESSAGE)

        assert f"the time-stamping authority {tsa.down_url} is unreachable" in str(
            caught.value
        )
        assert "Connection refused" in str(caught.value)

    def test_timeout(self, tsa):
        """A TSA slower than the timeout is given up on."""
        with (
            tsa.answering("stall"),
            pytest.raises(TimestampError, match="unreachable: timed out"),
        ):
            request_timestamp(tsa.url, MESSAGE, timeout=STALL / 10)

    @pytest.mark.parametrize(
        ("url", "shown"),
        [
            ("file:///etc/passwd", "file:"),
            ("ftp://127.0.0.1/tsr", "ftp:"),
            ("data:application/timestamp-reply;base64,MAMCAQA=", "data:"),
            ("127.0.0.1/tsr", "a relative URL"),
        ],
    )
    def test_not_http(self, tsa, url, shown):
        """Only http and https URLs are tried; nothing is sent anywhere else."""
        posted = len(tsa.requests)

        with pytest.raises(TimestampError) as caught:
            request_timestamp(url, MESSAGE)

        assert (
            f"the time-stamping authority URL must be http or https, not {shown}"
        ) == str(caught.value)
        assert posted == len(tsa.requests)

    def test_no_host(self):
        """An http URL without a host is refused before any connection."""
        with pytest.raises(TimestampError, match="names no host"):
            request_timestamp("http:///tsr", MESSAGE)

    def test_secrets_not_in_messages(self, tsa):
        """User information, query string and fragment never reach a message."""
        port = tsa.url.split(":")[2].split("/")[0]
        url = f"http://alice:hunter2@127.0.0.1:{port}/tsr?api-key=s3cr3t#frag"

        with tsa.answering("error"), pytest.raises(TimestampError) as caught:
            request_timestamp(url, MESSAGE)

        message = str(caught.value)
        assert f"http://127.0.0.1:{port}/tsr answered HTTP 500" in message
        for secret in ("alice", "hunter2", "api-key", "s3cr3t", "frag"):
            assert secret not in message

    def test_basic_auth(self, tsa):
        """User information in the URL goes as HTTP Basic authentication."""
        url = tsa.url.replace("http://", "http://al%40ice:p%3Ass@")

        request_timestamp(url, MESSAGE)

        assert "Basic " + base64.b64encode(b"al@ice:p:ss").decode() == (
            tsa.requests[-1].authorization
        )

    def test_query_string_sent(self, tsa):
        """The URL's query string still goes to the TSA, which may need it."""
        request_timestamp(f"{tsa.url}?api-key=s3cr3t", MESSAGE)

        assert "/tsr?api-key=s3cr3t" == tsa.requests[-1].path

    def test_empty_message(self, tsa):
        """An empty message has nothing to time-stamp."""
        with pytest.raises(TimestampError, match="the message is empty"):
            request_timestamp(tsa.url, b"")


class TestVerifyTimestamp:
    """verify_timestamp() trusts a stamp only as far as its chain and imprint go."""

    def test_verifies(self, tsa):
        """A fresh stamp verifies against the CA, at the time it was asked for."""
        before = datetime.now(UTC).replace(microsecond=0)
        token = request_timestamp(tsa.url, MESSAGE)
        after = datetime.now(UTC)

        stamped = verify_timestamp(token, MESSAGE, certificates=[tsa.ca_pem])

        assert UTC == stamped.tzinfo
        assert before <= stamped <= after

    def test_certificate_forms(self, tsa, token):
        """DER, PEM and a PEM bundle of the CA and the TSA certificate all do."""
        der = load_certificates(tsa.ca_pem, source="ca.pem")
        expected = verify_timestamp(token, MESSAGE, certificates=[tsa.ca_pem])

        assert expected == verify_timestamp(token, MESSAGE, certificates=der)
        assert expected == verify_timestamp(
            token, MESSAGE, certificates=[tsa.tsa_cert_pem + tsa.ca_pem]
        )
        assert expected == verify_timestamp(
            token, MESSAGE, certificates=[tsa.ca_pem, tsa.ca_pem]
        )

    def test_certificates_in_any_order(self, tsa, token):
        """
        The certificates a response carries may come in any order.

        rfc3161-client refuses a set that is not in DER order, which is how
        ``openssl ts`` writes its chain for some certificates.
        """
        expected = verify_timestamp(token, MESSAGE, certificates=[tsa.ca_pem])

        refused = []
        for response in _both_orders(tsa, token):
            try:
                decode_timestamp_response(response)
            except ValueError as err:
                refused.append(str(err))
            assert expected == verify_timestamp(
                response, MESSAGE, certificates=[tsa.ca_pem]
            )

        assert 1 == len(refused)
        assert "InvalidSetOrdering" in refused[0]

    def test_other_message(self, tsa, token):
        """A stamp covers its own message only."""
        with pytest.raises(TimestampError) as caught:
            verify_timestamp(token, MESSAGE + b" ", certificates=[tsa.ca_pem])

        expected = (
            "the time-stamp: message imprint mismatch, it covers SHA-256 "
            f"{hashlib.sha256(MESSAGE).hexdigest()}, not "
            f"{hashlib.sha256(MESSAGE + b' ').hexdigest()} of this message"
        )
        assert expected == str(caught.value)

    def test_other_ca(self, tmp_path, token):
        """A CA with the same name and another key is not the TSA's root."""
        impostor = make_ca(tmp_path)

        with pytest.raises(
            TimestampError,
            match=r"^the time-stamp: signature or certificate chain does not verify: ",
        ):
            verify_timestamp(token, MESSAGE, certificates=[impostor.pem])

    def test_other_tsa(self, tsa, tmp_path):
        """A stamp from another TSA, with its own CA, does not verify."""
        with run_tsa(tmp_path / "other") as other:
            token = request_timestamp(other.url, MESSAGE)

        assert verify_timestamp(token, MESSAGE, certificates=[other.ca_pem])
        with pytest.raises(TimestampError, match="does not verify"):
            verify_timestamp(token, MESSAGE, certificates=[tsa.ca_pem])

    def test_tsa_certificate_alone(self, tsa, token):
        """The TSA certificate without its root is no trust anchor."""
        with pytest.raises(TimestampError, match="none of the trusted certificates"):
            verify_timestamp(token, MESSAGE, certificates=[tsa.tsa_cert_pem])

    def test_unreadable_certificate(self, tsa, token):
        """A trusted certificate that is no certificate is named by its position."""
        with pytest.raises(TimestampError, match="trusted certificate 2 holds no"):
            verify_timestamp(token, MESSAGE, certificates=[tsa.ca_pem, b"not a cert"])

    @pytest.mark.parametrize("keep", [0, 1, 100, -1])
    def test_truncated(self, tsa, token, keep):
        """A truncated stamp is no time-stamp response."""
        with pytest.raises(TimestampError, match="not a DER RFC 3161 time-stamp"):
            verify_timestamp(token[:keep], MESSAGE, certificates=[tsa.ca_pem])

    @pytest.mark.parametrize(
        "where", ["imprint", "gen time", "signature", "TSA certificate"]
    )
    def test_bit_flipped(self, tsa, token, where):
        """A bit flipped in what the TSA signed, or in its certificate, is caught."""
        tst_info = decode_timestamp_response(token).tst_info
        tsa_cert = load_certificates(tsa.tsa_cert_pem, source="tsa.pem")[0]
        index = {
            "imprint": token.find(hashlib.sha256(MESSAGE).digest()),
            "gen time": token.find(tst_info.gen_time.strftime("%Y%m%d%H%M%SZ").encode())
            + 13,
            "signature": len(token) - 1,
            "TSA certificate": token.find(tsa_cert) + len(tsa_cert) - 1,
        }[where]
        assert index > 0

        with pytest.raises(TimestampError, match="does not verify"):
            verify_timestamp(_flip(token, index), MESSAGE, certificates=[tsa.ca_pem])

    def test_not_granted(self, tsa):
        """A rejection stored as if it were a stamp does not verify."""
        query = TimestampRequestBuilder().data(MESSAGE).build()
        rejection = tsa.sign(query.as_bytes(), section="tsa_rejecting")

        with pytest.raises(TimestampError, match="not granted, status rejection"):
            verify_timestamp(rejection, MESSAGE, certificates=[tsa.ca_pem])

    def test_garbage(self, tsa):
        """Bytes that are no DER are no time-stamp response."""
        with pytest.raises(TimestampError, match="not a DER RFC 3161 time-stamp"):
            verify_timestamp(b"<html>", MESSAGE, certificates=[tsa.ca_pem])


class TestLoadCertificates:
    """load_certificates() reads trust anchors from PEM or DER file content."""

    def test_pem(self, tsa):
        """One PEM certificate gives its DER."""
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        expected = [
            x509.load_pem_x509_certificate(tsa.ca_pem).public_bytes(Encoding.DER)
        ]

        assert expected == load_certificates(tsa.ca_pem, source="ca.pem")

    def test_bundle_and_der(self, tsa):
        """A PEM bundle gives every certificate in order; DER gives the one."""
        bundle = load_certificates(
            b"# roots\n" + tsa.ca_pem + tsa.tsa_cert_pem, source="bundle.pem"
        )

        assert 2 == len(bundle)
        assert [bundle[1]] == load_certificates(bundle[1], source="tsa.der")

    @pytest.mark.parametrize(
        "data",
        [
            b"",
            b"not a certificate",
            (
                b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n"
                b"-----END PRIVATE KEY-----\n"
            ),
        ],
    )
    def test_no_certificate(self, data):
        """Content without a certificate is refused, naming its source."""
        with pytest.raises(TimestampError, match=r"^/etc/tsa/roots\.pem holds no"):
            load_certificates(data, source="/etc/tsa/roots.pem")
