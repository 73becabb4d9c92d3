"""A real RFC 3161 time-stamping authority on loopback, built on ``openssl ts``."""

from __future__ import annotations

import contextlib
import http.server
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "OPENSSL",
    "OVERSIZE",
    "POLICY",
    "STALL",
    "TSA",
    "CertificateAuthority",
    "Mode",
    "Received",
    "make_ca",
    "run_tsa",
]

OPENSSL: Final = shutil.which("openssl") or "/usr/bin/openssl"
"""The ``openssl`` command (3.0 or later) that makes the keys and signs the replies."""

POLICY: Final = "1.3.6.1.4.1.55555.3161.1"
"""The TSA policy OID that every granted reply carries (a private, made-up arc)."""

OVERSIZE: Final = (1 << 20) + 1
"""Bytes of the ``oversize`` answer: one more than a client should accept."""

STALL: Final = 1.0
"""Seconds the ``stall`` mode waits before it answers."""

Mode = Literal[
    "reply", "reject", "replay", "garbage", "error", "oversize", "redirect", "stall"
]
"""
How the TSA answers a POST.

``reply``
    A real, signed, granted time-stamp response (the default).
``reject``
    A real response from ``openssl ts`` with status *rejection* (bad algorithm).
``replay``
    The previous granted response again: validly signed, for another request.
``garbage``
    ``200 OK`` with bytes that are no DER at all.
``error``
    ``500 Internal Server Error``.
``oversize``
    ``200 OK`` with :data:`OVERSIZE` bytes.
``redirect``
    ``302 Found`` pointing to the same URL.
``stall``
    A real reply, after :data:`STALL` seconds.
"""

_GARBAGE: Final = b"<html><body>It works!</body></html>\n"
_CONFIG: Final = """\
[ tsa ]
default_tsa = tsa_granting

[ tsa_granting ]
serial = {folder}/serial
crypto_device = builtin
signer_cert = {folder}/tsa.pem
certs = {folder}/ca.pem
signer_key = {folder}/tsa.key
signer_digest = sha256
default_policy = {policy}
digests = sha256, sha384, sha512
accuracy = secs:1, millisecs:0, microsecs:0
clock_precision_digits = 0
ordering = no
tsa_name = yes
ess_cert_id_chain = yes
ess_cert_id_alg = sha256

[ tsa_rejecting ]
serial = {folder}/serial
crypto_device = builtin
signer_cert = {folder}/tsa.pem
signer_key = {folder}/tsa.key
signer_digest = sha256
default_policy = {policy}
digests = md5

[ v3_tsa ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, nonRepudiation
extendedKeyUsage = critical, timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""


def _openssl(*args: str | Path, cwd: Path) -> bytes:
    """Run ``openssl`` with *args* in *cwd*; its output, or an error with its stderr."""
    done = subprocess.run(
        [OPENSSL, *map(str, args)], cwd=cwd, capture_output=True, check=False
    )
    if done.returncode:
        msg = f"openssl {args[0]} failed: {done.stderr.decode(errors='replace')}"
        raise RuntimeError(msg)
    return done.stdout


@dataclass(frozen=True)
class Received:
    """What the TSA saw of a POST: path (with query string) and telling headers."""

    path: str
    content_type: str
    authorization: str | None


@dataclass(frozen=True)
class CertificateAuthority:
    """A self-signed root CA on disk: its key and its PEM certificate."""

    key: Path
    cert: Path

    @property
    def pem(self) -> bytes:
        """The root certificate, PEM."""
        return self.cert.read_bytes()


def make_ca(
    folder: Path, *, name: str = "Loopback Test Root CA"
) -> CertificateAuthority:
    """Make a P-256 root CA valid for a day in *folder* (``ca.key``, ``ca.pem``)."""
    folder.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-sha256", "-days", "1", "-subj", f"/O=vision-audit tests/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", "ca.key", "-out", "ca.pem",
        cwd=folder,
    )  # fmt: skip
    return CertificateAuthority(key=folder / "ca.key", cert=folder / "ca.pem")


class _Handler(http.server.BaseHTTPRequestHandler):
    """Answers POSTed time-stamp queries the way the server's TSA mode says."""

    server: _Server
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        """Read the query, answer it in the current mode."""
        length = int(self.headers.get("Content-Length") or 0)
        query = self.rfile.read(length)
        tsa = self.server.tsa
        tsa.requests.append(
            Received(
                path=self.path,
                content_type=self.headers.get("Content-Type", ""),
                authorization=self.headers.get("Authorization"),
            )
        )
        if self.headers.get("Content-Type") != "application/timestamp-query":
            self._answer(415, b"", "text/plain")
            return
        mode = tsa.mode
        if mode == "error":
            self._answer(500, b"the TSA is out of order\n", "text/plain")
        elif mode == "garbage":
            self._answer(200, _GARBAGE, "application/timestamp-reply")
        elif mode == "oversize":
            self._answer(200, b"\x30" * OVERSIZE, "application/timestamp-reply")
        elif mode == "redirect":
            self.send_response(302)
            self.send_header("Location", tsa.url)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif mode == "replay" and tsa.last_reply is not None:
            self._answer(200, tsa.last_reply, "application/timestamp-reply")
        else:
            if mode == "stall":
                time.sleep(STALL)
            section = "tsa_rejecting" if mode == "reject" else "tsa_granting"
            reply = tsa.sign(query, section=section)
            self._answer(200, reply, "application/timestamp-reply")

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Keep the test output quiet."""


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    tsa: TSA

    def handle_error(self, request: object, client_address: object) -> None:
        """Stay quiet when a client hung up first (``stall``); report the rest."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


@dataclass
class TSA:
    """
    A running loopback TSA: where to POST, which certificates to trust, how to answer.

    Attributes:
        url: ``http://127.0.0.1:<port>/tsr``, the TSA's endpoint.
        down_url: A loopback URL whose port is bound but never listens, so that a
            connection to it is refused for as long as the TSA runs.
        ca: The root CA that issued the TSA certificate.
        folder: Where the keys, certificates, configuration and serial file live.
        mode: How the next POST is answered (see :data:`Mode`).
        requests: Every POST received, oldest first.
        last_reply: The last granted response signed, for ``replay``.
    """

    url: str
    down_url: str
    ca: CertificateAuthority
    folder: Path
    mode: Mode = "reply"
    requests: list[Received] = field(default_factory=list)
    last_reply: bytes | None = None
    _lock: threading.Lock = field(
        default_factory=threading.Lock, repr=False, compare=False
    )

    @property
    def ca_pem(self) -> bytes:
        """The root CA certificate, PEM: the trust anchor of this TSA."""
        return self.ca.pem

    @property
    def tsa_cert_pem(self) -> bytes:
        """The TSA's own signing certificate, PEM (critical EKU timeStamping)."""
        return (self.folder / "tsa.pem").read_bytes()

    @contextlib.contextmanager
    def answering(self, mode: Mode) -> Iterator[TSA]:
        """Answer in *mode* inside the block, then as before."""
        before = self.mode
        self.mode = mode
        try:
            yield self
        finally:
            self.mode = before

    def sign(self, query: bytes, *, section: str = "tsa_granting") -> bytes:
        """
        Run ``openssl ts -reply`` on the DER *query*; the DER response.

        One at a time: ``openssl ts`` reads and rewrites the serial file.
        """
        with self._lock, tempfile.TemporaryDirectory(dir=self.folder) as work:
            query_file = Path(work, "query.tsq")
            reply_file = Path(work, "reply.tsr")
            query_file.write_bytes(query)
            _openssl(
                "ts", "-reply", "-config", "openssl.cnf", "-section", section,
                "-queryfile", query_file, "-out", reply_file,
                cwd=self.folder,
            )  # fmt: skip
            reply = reply_file.read_bytes()
        if section == "tsa_granting":
            self.last_reply = reply
        return reply


@contextlib.contextmanager
def run_tsa(folder: Path) -> Iterator[TSA]:
    """
    Make a root CA and a TSA certificate in *folder*, and serve the TSA on loopback.

    The server runs in a daemon thread until the block ends.
    """
    folder.mkdir(parents=True, exist_ok=True)
    ca = make_ca(folder)
    (folder / "openssl.cnf").write_text(_CONFIG.format(folder=folder, policy=POLICY))
    (folder / "serial").write_text("01\n")
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-subj", "/O=vision-audit tests/CN=Loopback Test TSA",
        "-keyout", "tsa.key", "-out", "tsa.csr",
        cwd=folder,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", "tsa.csr", "-CA", ca.cert, "-CAkey", ca.key,
        "-set_serial", "0x3161", "-days", "1", "-sha256",
        "-extfile", "openssl.cnf", "-extensions", "v3_tsa", "-out", "tsa.pem",
        cwd=folder,
    )  # fmt: skip
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed,
        _Server(("127.0.0.1", 0), _Handler) as server,
    ):
        # Bound and never listening: Linux refuses connections to it, and no other
        # process can take the port while we hold it.
        closed.bind(("127.0.0.1", 0))
        host, port = server.server_address[:2]
        tsa = TSA(
            url=f"http://{host!s}:{port}/tsr",
            down_url=f"http://127.0.0.1:{closed.getsockname()[1]}/tsr",
            ca=ca,
            folder=folder,
        )
        server.tsa = tsa
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        try:
            yield tsa
        finally:
            server.shutdown()
            thread.join()
