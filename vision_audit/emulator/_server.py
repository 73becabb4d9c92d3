"""The HTTP side of the emulator: routing, authentication, bodies and answers."""

from __future__ import annotations

import email.parser
import email.policy
import http.client
import json
import logging
import socket
import time
import uuid
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from threading import Lock
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qs, unquote, urlsplit

from vision_audit._commands import is_loopback
from vision_audit.emulator import _errors, _validate
from vision_audit.emulator._generate import AnalysisOptions, generate_result
from vision_audit.emulator._images import ACCEPTED_FORMATS, DecodedImage, decode_image
from vision_audit.emulator._scripts import (
    Script,
    ScriptError,
    load_sidecar,
    read_embedded_script,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

logger = logging.getLogger("vision_audit.emulator")

ANALYZE_PATH: Final = "/computervision/imageanalysis:analyze"
IMAGES_PATH: Final = "/images/"
# Regions where Caption and DenseCaptions are offered (Image Analysis 4.0 docs).
CAPTION_REGIONS: Final = frozenset(
    {
        "East US",
        "France Central",
        "Korea Central",
        "North Europe",
        "Southeast Asia",
        "West Europe",
        "West US",
    }
)
_IMAGE_SUFFIXES: Final = frozenset(
    {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".ico", ".tif", ".tiff", ".mpo"}
)
_FETCH_TIMEOUT_S: Final = 5.0
_MAX_REDIRECTS: Final = 3
_DISCARD_LIMIT: Final = 4 * _errors.MAX_IMAGE_BYTES
_IDLE_TIMEOUT_S: Final = 120.0
_MEDIA_BINARY: Final = frozenset({"application/octet-stream", "multipart/form-data"})
_READ_SIZE: Final = 1 << 20
# Bounds on chunked framing, so a client cannot make a line or trailer endless.
_MAX_FRAMING_LINE: Final = 4096
_MAX_CHUNK_DIGITS: Final = 16
_MAX_TRAILERS: Final = 100
_HEX_DIGITS: Final = frozenset(b"0123456789abcdefABCDEF")


@dataclass(frozen=True, slots=True)
class _Answer:
    """A 200 answer: its body and headers."""

    body: bytes
    headers: list[tuple[str, str]]


@dataclass
class ScriptBook:
    """Scripts by image SHA-256 and sidecars by path, shared by every request."""

    images_dir: Path | None
    analyze_requests: int = 0
    _by_digest: dict[str, Script] = field(default_factory=dict)
    _lock: Lock = field(default_factory=Lock)

    def add(self, digest: str, script: Script) -> None:
        """Script the result of the image whose SHA-256 is *digest*."""
        with self._lock:
            self._by_digest[digest] = script

    def count_analyze(self) -> None:
        """Count one analyze request that reached the service."""
        with self._lock:
            self.analyze_requests += 1

    def get(self, digest: str) -> Script | None:
        """Return the script registered for *digest*, if any."""
        with self._lock:
            return self._by_digest.get(digest)

    def index_images_dir(self) -> int:
        """
        Read every sidecar under the images folder, keyed by its image's SHA-256.

        Returns:
            How many scripted images were found.

        Raises:
            ScriptError: A sidecar is not valid; the message names it.

        """
        if self.images_dir is None:
            return 0
        count = 0
        for image_path in sorted(self.images_dir.rglob("*")):
            if image_path.suffix.lower() not in _IMAGE_SUFFIXES:
                continue
            sidecar = sidecar_for(image_path)
            if sidecar is None:
                continue
            import hashlib  # noqa: PLC0415 - only needed at start-up

            digest = hashlib.sha256(image_path.read_bytes()).hexdigest()
            self.add(digest, load_sidecar(sidecar))
            count += 1
        return count


def sidecar_for(image_path: Path) -> Path | None:
    """``photo.json`` or ``photo.jpg.json`` next to ``photo.jpg``, if present."""
    for candidate in (
        image_path.with_suffix(".json"),
        image_path.with_name(image_path.name + ".json"),
    ):
        try:
            if candidate.is_file():
                return candidate
        except OSError:
            # A name one suffix away from the length limit has no sidecar.
            continue
    return None


def _by_lower_name(query: dict[str, list[str]]) -> dict[str, list[str]]:
    """
    The query with its parameter names in lower case, values of one name merged.

    The service matches query parameter names case-insensitively: a recorded
    exchange of its JavaScript client sends ``smartCrops-aspect-ratios``.
    """
    merged: dict[str, list[str]] = {}
    for name, values in query.items():
        merged.setdefault(name.lower(), []).extend(values)
    return merged


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """What an emulator instance was started with."""

    key: str | None
    region: str
    book: ScriptBook


def _safe_child(root: Path, relative: str) -> Path | None:
    """*relative* under *root*, or None when it would leave *root*."""
    parts = [p for p in PurePosixPath(unquote(relative)).parts if p not in {"/", ""}]
    if not parts or any(p in {".", ".."} for p in parts):
        return None
    candidate = root.joinpath(*parts)
    try:
        candidate.resolve().relative_to(root.resolve())
        return candidate if candidate.is_file() else None
    except (OSError, ValueError):
        # Outside *root*, a name over the length limit, a NUL byte, no permission:
        # whatever the reason, the service could not reach such a file either.
        return None


class EmulatorHandler(BaseHTTPRequestHandler):
    """One connection: HTTP/1.1 keep-alive, Nagle off, one write per answer."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = _IDLE_TIMEOUT_S
    server: EmulatorHTTPServer
    _features = ""

    # -- plumbing -----------------------------------------------------------------

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Route http.server's own complaints to logging, not stderr."""
        logger.debug(format, *args)

    def _write(
        self, status: int, body: bytes, headers: Iterable[tuple[str, str]]
    ) -> None:
        reason = HTTPStatus(status).phrase
        lines = [f"HTTP/1.1 {status} {reason}"]
        lines.extend(f"{name}: {value}" for name, value in headers)
        lines.append(f"Content-Length: {len(body)}")
        lines.append(f"Date: {formatdate(usegmt=True)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        # A HEAD answer announces the length of a body it does not carry.
        self.wfile.write(head if self.command == "HEAD" else head + body)
        self.wfile.flush()

    def _service_headers(self) -> list[tuple[str, str]]:
        request_id = str(uuid.uuid4())
        return [
            ("Content-Type", "application/json; charset=utf-8"),
            ("apim-request-id", request_id),
            ("request-id", request_id),
            (
                "Strict-Transport-Security",
                "max-age=31536000; includeSubDomains; preload",
            ),
            ("x-content-type-options", "nosniff"),
            ("api-supported-versions", _validate.API_VERSION),
            ("x-ms-region", self.server.settings.region),
            ("CSP-Billing-Usage", "CognitiveServices.ComputerVision.Transaction=1"),
        ]

    def _send_error(self, error: _errors.ServiceError) -> None:
        if error.gateway:
            headers = [
                ("apim-request-id", str(uuid.uuid4())),
                ("Content-Type", "application/json"),
            ]
        else:
            headers = [*self._service_headers(), ("x-ms-error-code", error.code)]
        self._write(error.status, error.body(), headers)

    def send_error(
        self, code: int, message: str | None = None, explain: str | None = None
    ) -> None:
        """
        Answer http.server's own refusals in the gateway's JSON, not in HTML.

        http.server calls this for a request line or headers it cannot parse (431
        for header lines over 64 KB, 414, 400, 505) and for a method with no
        ``do_`` handler (501), which the gateway answers like any unknown path.
        """
        if code == HTTPStatus.NOT_IMPLEMENTED and self.command:
            self._other_method()
            return
        self.log_error("code %d, message %s, %s", code, message, explain)
        # What follows the unparsed part cannot be trusted as the next request.
        self.close_connection = True
        self._send_error(_errors.malformed_request(code))

    def _bad_framing(self) -> _errors.ServiceError:
        """The answer to a body whose end cannot be found; the connection closes."""
        self.close_connection = True
        return _errors.malformed_request()

    def _body_length(self) -> int | None:
        """
        The body's length from ``Content-Length``, or None when it is chunked.

        Raises:
            ServiceError: The framing headers are not valid (400, gateway style).

        """
        codings = self.headers.get("Transfer-Encoding")
        if codings is not None:
            # RFC 9112, 6.3: without chunked last, the body's end is unknowable.
            if codings.rsplit(",", 1)[-1].strip().lower() != "chunked":
                raise self._bad_framing()
            return None
        values = {v.strip() for v in self.headers.get_all("Content-Length", [])}
        if not values:
            return 0
        # Two lengths that disagree leave the body's end unknowable, too.
        value = values.pop() if len(values) == 1 else ""
        # int() alone would take "-1", "+5", " 5" and "1_0".
        if not (value.isascii() and value.isdigit()):
            raise self._bad_framing()
        return int(value)

    def _read_body(self) -> bytes | None:
        """
        Read the whole body, or as much as the size check needs.

        Returns:
            The body, or None when it is larger than the service accepts (it is
            drained, or the connection is closed after the answer).

        Raises:
            ServiceError: The body's framing is not valid (400, gateway style).

        """
        length = self._body_length()
        if length is None:
            return self._read_chunked(_errors.MAX_IMAGE_BYTES, keep=True)
        if length > _errors.MAX_IMAGE_BYTES:
            self._discard(length)
            return None
        return self.rfile.read(length) if length else b""

    def _drain_body(self) -> None:
        """
        Read and drop the body, so the next request on the connection is parsed.

        Raises:
            ServiceError: The body's framing is not valid (400, gateway style).

        """
        length = self._body_length()
        if length is None:
            self._read_chunked(_DISCARD_LIMIT, keep=False)
        else:
            self._discard(length)

    def _discard(self, length: int) -> None:
        """Drop *length* bytes of body, or close the connection when too many."""
        if length > _DISCARD_LIMIT:
            self.close_connection = True
            return
        remaining = length
        while remaining:
            chunk = self.rfile.read(min(remaining, _READ_SIZE))
            if not chunk:
                self.close_connection = True
                return
            remaining -= len(chunk)

    def _read_line(self) -> bytes:
        """One line of chunked framing, bounded."""
        line = self.rfile.readline(_MAX_FRAMING_LINE + 1)
        if len(line) > _MAX_FRAMING_LINE:
            raise self._bad_framing()
        return line

    def _chunk_size(self, line: bytes) -> int:
        """The size on a chunk-size line; int() alone would take "-1" or "0x5"."""
        digits = line.split(b";")[0].strip()
        if not digits or len(digits) > _MAX_CHUNK_DIGITS:
            raise self._bad_framing()
        if any(byte not in _HEX_DIGITS for byte in digits):
            raise self._bad_framing()
        return int(digits, 16)

    def _skip_trailers(self) -> None:
        """Read the trailer section after the last chunk, up to its blank line."""
        for _ in range(_MAX_TRAILERS):
            if self._read_line() in {b"\r\n", b"\n", b""}:
                return
        raise self._bad_framing()

    def _read_chunked(self, limit: int, *, keep: bool) -> bytes | None:
        """
        Read a chunked body of up to *limit* bytes, kept or dropped.

        Returns:
            The body (empty when not *keep*), or None when it is over *limit*; the
            connection is then closed after the answer.

        Raises:
            ServiceError: A chunk size or chunk end is not valid (400, gateway).

        """
        parts: list[bytes] = []
        total = 0
        while True:
            line = self._read_line()
            if not line:
                # The client went away mid-body; nobody will read the answer.
                self.close_connection = True
                break
            size = self._chunk_size(line)
            if size == 0:
                self._skip_trailers()
                break
            total += size
            if total > limit:
                self.close_connection = True
                return None
            if keep:
                parts.append(self.rfile.read(size))
            else:
                self._discard(size)
            if self._read_line() not in {b"\r\n", b"\n"}:
                raise self._bad_framing()
        return b"".join(parts)

    # -- routing ------------------------------------------------------------------

    def _respond(self, produce: Callable[[], _Answer]) -> None:
        """Write the answer *produce* returns, or the error the service would give."""
        started = time.perf_counter()
        self._features = ""
        try:
            answer = produce()
        except _errors.ServiceError as error:
            self._send_error(error)
            self._log(error.status, started, self._features, error.code)
            return
        except (TimeoutError, ConnectionError):
            # The client stalled or left mid-request: there is nobody to answer, and
            # http.server drops the connection.
            raise
        except Exception:
            # A bug here must look like the service's own 500, not a dropped socket.
            logger.exception("emulator failure on %s", urlsplit(self.path).path)
            failure = _errors.internal_error()
            self._send_error(failure)
            self._log(failure.status, started, self._features, failure.code)
            return
        self._write(200, answer.body, answer.headers)
        self._log(200, started, self._features)

    def do_GET(self) -> None:
        """Serve files of the images folder, so URL mode can point at them."""
        self._respond(self._image_file)

    def do_POST(self) -> None:
        """Answer an analyze request, or the error the service would give."""
        self.server.settings.book.count_analyze()
        self._respond(self._analyze)

    def _other_method(self) -> None:
        """Any other method: the body is drained, and the gateway knows no such op."""
        self._respond(self._not_found)

    # http.server looks handlers up by name; send_error() covers the other names.
    do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _other_method  # noqa: N815

    def _not_found(self) -> _Answer:
        self._drain_body()
        raise _errors.resource_not_found()

    def _image_file(self) -> _Answer:
        self._drain_body()
        split = urlsplit(self.path)
        images_dir = self.server.settings.book.images_dir
        path = None
        if images_dir is not None and split.path.startswith(IMAGES_PATH):
            path = _safe_child(images_dir, split.path[len(IMAGES_PATH) :])
        if path is None:
            raise _errors.resource_not_found()
        try:
            data = path.read_bytes()
        except OSError as err:
            # Gone or unreadable since the check: not found, as for any other name.
            raise _errors.resource_not_found() from err
        return _Answer(data, [("Content-Type", "application/octet-stream")])

    def _analyze(self) -> _Answer:
        body = self._read_body()
        split = urlsplit(self.path)
        if split.path != ANALYZE_PATH:
            raise _errors.resource_not_found()
        query = _by_lower_name(parse_qs(split.query, keep_blank_values=True))
        if query.get("api-version", [""])[-1] != _validate.API_VERSION:
            raise _errors.resource_not_found()
        self._authorize()
        options = _validate.parse_options(query)
        self._features = ",".join(sorted(options.features))
        self._check_region(options)
        decoded, script = self._image(body)
        if script is not None and script.latency_ms:
            time.sleep(script.latency_ms / 1000)
        if script is not None and script.error is not None:
            scripted = script.error
            raise _errors.ServiceError(
                scripted.status,
                scripted.code,
                scripted.message,
                scripted.inner_code,
                scripted.inner_message,
            )
        result = generate_result(decoded.facts, options, script)
        payload = json.dumps(result, separators=(",", ":"), ensure_ascii=False)
        return _Answer(payload.encode(), self._service_headers())

    def _log(
        self, status: int, started: float, features: str = "", code: str = ""
    ) -> None:
        elapsed_ms = (time.perf_counter() - started) * 1000
        # The path only: the query holds nothing secret, but keep logs uniform.
        logger.info(
            "%s %s %d %s%s %.1fms",
            self.command,
            urlsplit(self.path).path,
            status,
            f"features={features} " if features else "",
            f"code={code}" if code else "",
            elapsed_ms,
        )

    # -- checks -------------------------------------------------------------------

    def _authorize(self) -> None:
        key = self.headers.get("Ocp-Apim-Subscription-Key")
        authorization = self.headers.get("Authorization", "")
        if key is None:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                # Entra ID tokens are not validated: there is no tenant here.
                return
            raise _errors.missing_key()
        expected = self.server.settings.key
        if not key or (expected is not None and key != expected):
            raise _errors.invalid_key()

    def _check_region(self, options: AnalysisOptions) -> None:
        if self.server.settings.region in CAPTION_REGIONS:
            return
        if "caption" in options.features:
            msg = "Caption"
            raise _errors.feature_not_in_region(msg)
        if "denseCaptions" in options.features:
            msg = "DenseCaptions"
            raise _errors.feature_not_in_region(msg)

    def _image(self, body: bytes | None) -> tuple[DecodedImage, Script | None]:
        content_type = self.headers.get("Content-Type", "")
        media = content_type.split(";")[0].strip().lower()
        book = self.server.settings.book
        sidecar_script: Script | None = None
        if media == "application/json":
            if body is None:
                raise _errors.invalid_image_size()
            data, sidecar_script = self._fetch_url(body)
        elif media in _MEDIA_BINARY:
            if body is None:
                raise _errors.invalid_image_size()
            data = (
                _multipart_payload(content_type, body)
                if media.startswith("multipart")
                else body
            )
        else:
            raise _errors.unsupported_content_type(content_type)
        decoded = decode_image(data)
        script = sidecar_script or book.get(decoded.facts.sha256)
        if script is None:
            try:
                script = read_embedded_script(decoded.image, source="embedded script")
            except ScriptError as err:
                logger.warning("ignoring an invalid embedded script: %s", err)
        return decoded, script

    def _fetch_url(self, body: bytes) -> tuple[bytes, Script | None]:
        try:
            document = json.loads(body)
            url = document["url"]
            if not isinstance(url, str):
                raise TypeError(url)  # noqa: TRY301
            split = urlsplit(url)
            if split.scheme not in {"http", "https"} or not split.hostname:
                raise ValueError(url)  # noqa: TRY301
        except (ValueError, KeyError, TypeError) as err:
            raise _errors.url_not_accessible() from err
        images_dir = self.server.settings.book.images_dir
        if is_loopback(split.hostname):
            own = self.server.server_address[1] == (split.port or 80)
            if own and images_dir is not None and split.path.startswith(IMAGES_PATH):
                return self._read_image_file(images_dir, split.path[len(IMAGES_PATH) :])
            return _fetch_loopback(url), None
        # Anything else never leaves the machine: it names a file of --images.
        if images_dir is None:
            raise _errors.url_not_accessible()
        try:
            return self._read_image_file(images_dir, split.path)
        except _errors.ServiceError:
            return self._read_image_file(images_dir, PurePosixPath(split.path).name)

    def _read_image_file(
        self, root: Path, relative: str
    ) -> tuple[bytes, Script | None]:
        path = _safe_child(root, relative)
        if path is None:
            raise _errors.url_not_accessible()
        sidecar = sidecar_for(path)
        script = None
        if sidecar is not None:
            try:
                script = load_sidecar(sidecar)
            except ScriptError as err:
                logger.warning("ignoring an invalid sidecar: %s", err)
        try:
            return path.read_bytes(), script
        except OSError as err:
            raise _errors.url_not_accessible() from err


def _fetch_loopback(url: str) -> bytes:
    """GET *url* from a loopback server, following loopback redirects only."""
    for _ in range(_MAX_REDIRECTS + 1):
        split = urlsplit(url)
        if not split.hostname or not is_loopback(split.hostname):
            raise _errors.url_not_accessible()
        connection_type = (
            http.client.HTTPSConnection
            if split.scheme == "https"
            else http.client.HTTPConnection
        )
        connection = connection_type(
            split.hostname, split.port, timeout=_FETCH_TIMEOUT_S
        )
        target = split.path or "/"
        if split.query:
            target += "?" + split.query
        try:
            connection.request("GET", target)
            response = connection.getresponse()
            if response.status in {301, 302, 303, 307, 308}:
                location = response.getheader("Location")
                if not location:
                    raise _errors.url_not_accessible()
                url = (
                    location
                    if "://" in location
                    else f"{split.scheme}://{split.netloc}{location}"
                )
                continue
            if response.status != 200:  # noqa: PLR2004
                raise _errors.url_not_accessible()
            data = response.read(_errors.MAX_IMAGE_BYTES + 1)
        except OSError as err:
            raise _errors.url_not_accessible() from err
        finally:
            connection.close()
        if len(data) > _errors.MAX_IMAGE_BYTES:
            raise _errors.invalid_image_size()
        return data
    raise _errors.url_not_accessible()


def _multipart_payload(content_type: str, body: bytes) -> bytes:
    """The first part of a ``multipart/form-data`` body."""
    parser = email.parser.BytesParser(policy=email.policy.HTTP)
    message = parser.parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    for part in message.iter_parts() if message.is_multipart() else ():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            return payload
    raise _errors.invalid_image_format()


class EmulatorHTTPServer(ThreadingHTTPServer):
    """A thread per connection; threads die with the process."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], settings: ServerSettings) -> None:
        """Bind *address* and serve with *settings*."""
        self.settings = settings
        super().__init__(address, EmulatorHandler)


class EmulatorHTTPServerIPv6(EmulatorHTTPServer):
    """The same, bound to an IPv6 address such as ``::1``."""

    address_family = socket.AF_INET6


__all__ = ["ACCEPTED_FORMATS", "EmulatorHTTPServer", "ScriptBook", "ServerSettings"]
