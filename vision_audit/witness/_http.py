"""
The C2SP tlog-witness protocol over HTTP: the witness's server and the log's client.

``POST /add-checkpoint`` carries ``old <size>``, the consistency proof from that size
(one base64 hash a line), a blank line and the checkpoint note. The witness answers
200 with its cosignature line, 409 with the tree size it holds when the log assumed
another (``text/x.tlog.size``), 403 when the note is not signed by the log's key,
404 for a log it does not follow, 422 when the proof fails and 400 for the rest.
"""

from __future__ import annotations

import base64
import binascii
import http.server
import re
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from vision_audit.exceptions import VisionAuditError
from vision_audit.store._checkpoints import Cosignature
from vision_audit.store._note import NoteError, parse_note
from vision_audit.witness._witness import WitnessConflictError, WitnessRefusedError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from vision_audit.typing import ManagedAuditStore
    from vision_audit.witness._witness import Witness

__all__ = [
    "WitnessServer",
    "WitnessUnavailableError",
    "cosignature_from",
    "request_cosignature",
    "submit_checkpoint",
]

MAX_REQUEST_BYTES: Final = 1 << 20
_SIZE_TYPE: Final = "text/x.tlog.size"
_MAX_PROOF_LINES: Final = 64
_MAX_DIGITS: Final = 19
_DIGITS: Final = re.compile("[0-9]+")


class _RefusedError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _parse_request(data: bytes) -> tuple[int, list[bytes], str]:
    """The old size, the proof and the checkpoint note of an add-checkpoint body."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _RefusedError(400, "the request is not UTF-8") from err
    head, separator, note = text.partition("\n\n")
    lines = head.split("\n")
    if not separator or not lines[0].startswith("old "):
        raise _RefusedError(
            400, "the request must start with 'old <size>', then a blank line"
        )
    digits = lines[0][4:]
    if (
        not _DIGITS.fullmatch(digits)
        or (len(digits) > 1 and digits[0] == "0")
        or len(digits) > _MAX_DIGITS
    ):
        raise _RefusedError(400, f"old size {digits!r} is not a decimal number")
    if len(lines) - 1 > _MAX_PROOF_LINES:
        raise _RefusedError(400, "the consistency proof is too long")
    proof = []
    for line in lines[1:]:
        try:
            node = base64.b64decode(line, validate=True)
        except (binascii.Error, ValueError) as err:
            raise _RefusedError(400, "a proof line is not base64") from err
        if len(node) != 32:  # noqa: PLR2004 - SHA-256
            raise _RefusedError(400, "a proof hash is not 32 bytes")
        proof.append(node)
    return int(digits), proof, note


class _Handler(http.server.BaseHTTPRequestHandler):
    server: WitnessServer
    timeout = 30  # seconds a client may take to send its request

    def do_POST(self) -> None:  # noqa: PLR0911 - one answer per status
        if self.path.rstrip("/").rsplit("/", 1)[-1] != "add-checkpoint":
            self._answer(404, "not found\n")
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._answer(411, "a Content-Length is required\n")
            return
        if not 0 < length <= MAX_REQUEST_BYTES:
            self._answer(413, "the request is too large\n")
            return
        data = self.rfile.read(length)
        try:
            old, proof, note = _parse_request(data)
            cosignature = self.server.witness.add_checkpoint(
                note, old_size=old, proof=proof
            )
        except _RefusedError as err:
            self._answer(err.status, f"{err}\n")
            return
        except WitnessConflictError as err:
            self._answer(409, f"{err.size}\n", content_type=_SIZE_TYPE)
            return
        except WitnessRefusedError as err:
            self._answer(err.status, f"{err}\n")
            return
        except VisionAuditError as err:
            self._answer(500, f"{err}\n")
            return
        except ValueError as err:
            self._answer(400, f"{err}\n")
            return
        self.server.heard(cosignature)
        self._answer(200, cosignature.line)

    def do_GET(self) -> None:
        self._answer(405, "use POST /add-checkpoint\n")

    def _answer(
        self, status: int, text: str, *, content_type: str = "text/plain"
    ) -> None:
        body = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Quiet: the witness's state records what it cosigned and refused."""


class WitnessServer(http.server.ThreadingHTTPServer):
    """
    A witness served over HTTP (C2SP tlog-witness), by default on loopback.

    .. versionadded:: 0.2.0
    """

    daemon_threads = True

    def __init__(
        self,
        witness: Witness,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        on_cosign: Callable[[Cosignature], None] | None = None,
    ) -> None:
        """Bind to *host* and *port* (0: any free port); serve with :meth:`start`."""
        self.witness = witness
        self._on_cosign = on_cosign
        self._thread: threading.Thread | None = None
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        """The witness's URL, to which ``/add-checkpoint`` is added."""
        host, port = self.server_address[:2]
        name = host.decode("ascii") if isinstance(host, bytes) else host
        return f"http://{name}:{port}"

    def heard(self, cosignature: Cosignature) -> None:
        """Called for each cosignature given."""
        if self._on_cosign is not None:
            self._on_cosign(cosignature)

    def start(self) -> None:
        """Serve in a daemon thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port."""
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join()


class WitnessUnavailableError(VisionAuditError):
    """The witness could not be reached or did not answer as the protocol says."""


def request_cosignature(
    url: str,
    note: str,
    *,
    old_size: int,
    proof: Sequence[bytes],
    timeout: float = 10.0,
) -> tuple[int, str]:
    """
    Ask the witness at *url* to cosign *note*; its status and its answer.

    Returns:
        ``(200, cosignature line)``, ``(409, the size it holds)``, or another status
        with the witness's reason.

    Raises:
        WitnessUnavailableError: Nothing answered, or not over HTTP(S).
    """
    parts = urlsplit(url)
    where = f"{parts.scheme}://{parts.hostname}:{parts.port or ''}{parts.path}"
    if parts.scheme not in {"http", "https"}:
        msg = f"the witness URL must be http or https, not {parts.scheme or 'none'}"
        raise WitnessUnavailableError(msg)
    body = (
        f"old {old_size}\n"
        + "".join(base64.b64encode(node).decode("ascii") + "\n" for node in proof)
        + "\n"
        + note
    ).encode("utf-8")
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url.rstrip("/") + "/add-checkpoint",
        data=body,
        method="POST",
        headers={"Content-Type": "text/plain; charset=utf-8"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read(MAX_REQUEST_BYTES).decode("utf-8")
    except urllib.error.HTTPError as err:
        return err.code, err.read(MAX_REQUEST_BYTES).decode("utf-8", "replace").strip()
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        msg = f"the witness at {where} is unreachable: {reason}"
        raise WitnessUnavailableError(msg) from err


def cosignature_from(line: str, body: str) -> Cosignature:
    """
    The cosignature that a witness's answer line makes of checkpoint *body*.

    Raises:
        NoteError: The line is not one signature line.
    """
    note = parse_note(body + "\n" + line)
    if len(note.signatures) != 1 or len(note.signatures[0].blob) != 72:  # noqa: PLR2004
        msg = "the witness did not answer with one cosignature line"
        raise NoteError(msg)
    signature = note.signatures[0]
    timestamp = int.from_bytes(signature.blob[:8], "big")
    size = int(body.split("\n")[1])
    return Cosignature(
        sequence=size,
        name=signature.name,
        body=body,
        line=signature.line(),
        time=datetime.fromtimestamp(timestamp, UTC),
    )


def submit_checkpoint(
    store: ManagedAuditStore, url: str, *, timeout: float = 10.0
) -> Cosignature:
    """
    Ask the witness at *url* to cosign the store's latest checkpoint; keep the answer.

    Starts from the tree size that the witness's cosignatures kept in the store say
    it holds, and follows the witness's 409 answer once when it holds another.

    Raises:
        WitnessUnavailableError: The witness cannot be reached.
        WitnessRefusedError: The witness refused (its status and reason).
        LookupError: The log has no checkpoint yet.
    """
    checkpoints = store.list_checkpoints()
    if not checkpoints:
        msg = "the log has no checkpoint yet: nothing to cosign"
        raise LookupError(msg)
    latest = checkpoints[-1]
    old = 0
    for _ in range(2):
        proof = (
            store.get_consistency_proof(old, latest.sequence)
            if 0 < old < latest.sequence
            else []
        )
        status, answer = request_cosignature(
            url, latest.note, old_size=old, proof=proof, timeout=timeout
        )
        if status == 409 and answer.isdigit() and int(answer) != old:  # noqa: PLR2004
            old = int(answer)
            continue
        if status != 200:  # noqa: PLR2004
            msg = f"the witness at {url} refused (HTTP {status}): {answer}"
            raise WitnessRefusedError(msg, status=status)
        try:
            cosignature = cosignature_from(answer, latest.body)
        except NoteError as err:
            msg = f"the witness at {url} answered no cosignature: {err}"
            raise WitnessUnavailableError(msg) from err
        store.record_cosignature(cosignature)
        return cosignature
    msg = f"the witness at {url} keeps answering 409 (it holds tree size {old})"
    raise WitnessRefusedError(msg, status=409)
