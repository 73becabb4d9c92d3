"""The emulator's HTTP plumbing: body framing, methods, odd names, bad requests."""

from __future__ import annotations

import json
import os
import socket
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlsplit

import pytest
from vision_audit.emulator import Emulator
from vision_audit.testing import make_test_image

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from typing import BinaryIO

ANALYZE = "/computervision/imageanalysis:analyze?api-version=2023-10-01&features=tags"
BAD_REQUEST = b'{"error":{"code":"400","message": "Bad Request"}}'
NOT_FOUND = b'{"error":{"code":"404","message": "Resource not found"}}'
# Every read is bounded: a server that never answers fails the test, never hangs it.
TIMEOUT_S = 5.0


class Answer(NamedTuple):
    """One response as read off the wire."""

    status: int
    headers: dict[str, str]
    body: bytes


class Connection:
    """A raw keep-alive connection: bytes go out as written, answers are parsed."""

    def __init__(self, emulator: Emulator) -> None:
        split = urlsplit(emulator.endpoint)
        self.sock = socket.create_connection(
            (split.hostname, split.port), timeout=TIMEOUT_S
        )
        self.stream: BinaryIO = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self, *, head: bool = False) -> Answer:
        status_line = self.stream.readline()
        if not status_line:
            msg = "the connection closed without an answer"
            raise ConnectionError(msg)
        headers: dict[str, str] = {}
        while (line := self.stream.readline()) not in {b"\r\n", b""}:
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        length = 0 if head else int(headers.get("content-length", "0"))
        return Answer(int(status_line.split()[1]), headers, self.stream.read(length))

    def is_closed(self) -> bool:
        try:
            return b"" == self.stream.read(1)
        except ConnectionResetError:
            # Closed with part of the request unread: a reset rather than a FIN.
            return True

    def close(self) -> None:
        self.stream.close()
        self.sock.close()


@pytest.fixture(name="connection")
def _connection(emulator: Emulator) -> Iterator[Connection]:
    connection = Connection(emulator)
    yield connection
    connection.close()


def _post(headers: bytes, body: bytes = b"", path: str = ANALYZE) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\n".encode()
        + b"Ocp-Apim-Subscription-Key: test-key-0123456789abcdef\r\n"
        + headers
        + b"\r\n"
        + body
    )


def _chunked(*chunks: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"


def _assert_bad_request(connection: Connection) -> None:
    answer = connection.read()

    assert 400 == answer.status
    assert BAD_REQUEST == answer.body
    assert "application/json" == answer.headers["content-type"]
    assert "apim-request-id" in answer.headers
    assert "x-ms-error-code" not in answer.headers
    assert "close" == answer.headers["connection"]
    assert connection.is_closed()


class TestBodyFraming:
    """A body whose end cannot be found gets the front end's plain 400, then close."""

    @pytest.mark.parametrize("length", [b"abc", b"-1", b"+5", b"1_0", b"0x10"])
    def test_bad_content_length(self, connection: Connection, length: bytes) -> None:
        """Content-Length is digits only; int() would take some of these."""
        connection.send(
            _post(b"Content-Type: application/json\r\nContent-Length: %s\r\n" % length)
        )

        _assert_bad_request(connection)

    def test_disagreeing_content_lengths(self, connection: Connection) -> None:
        """Two Content-Length headers with different values."""
        connection.send(_post(b"Content-Length: 3\r\nContent-Length: 5\r\n", b"abcde"))

        _assert_bad_request(connection)

    @pytest.mark.parametrize("size", [b"zz", b"-1", b"0x2", b"", b"1" * 17])
    def test_bad_chunk_size(self, connection: Connection, size: bytes) -> None:
        """A chunk size that is not hexadecimal digits."""
        connection.send(
            _post(b"Transfer-Encoding: chunked\r\n", size + b"\r\nab\r\n0\r\n\r\n")
        )

        _assert_bad_request(connection)

    def test_chunk_longer_than_its_size(self, connection: Connection) -> None:
        """Chunk data must end where its size says."""
        connection.send(
            _post(b"Transfer-Encoding: chunked\r\n", b"2\r\nabcd\r\n0\r\n\r\n")
        )

        _assert_bad_request(connection)

    def test_transfer_coding_not_chunked(self, connection: Connection) -> None:
        """Without chunked as the last coding, the body's end is unknowable."""
        image = make_test_image()
        connection.send(
            _post(
                b"Transfer-Encoding: gzip\r\nContent-Length: %d\r\n" % len(image),
                image,
            )
        )

        _assert_bad_request(connection)

    def test_chunked_image(self, connection: Connection) -> None:
        """A well-formed chunked body is analyzed, and the connection stays open."""
        image = make_test_image()
        request = _post(
            b"Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n",
            _chunked(image[:100], image[100:]),
        )
        connection.send(request + request)

        first, second = connection.read(), connection.read()

        assert [200, 200] == [first.status, second.status]
        assert first.body == second.body

    def test_bad_content_length_on_get(self, connection: Connection) -> None:
        """GET bodies are framed, and checked, like any other."""
        connection.send(
            b"GET /images/street.jpg HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"
        )

        _assert_bad_request(connection)


class TestOtherMethods:
    """Methods other than GET and POST: the gateway's 404, with the body drained."""

    @pytest.mark.parametrize(
        "method", [b"PUT", b"PATCH", b"DELETE", b"OPTIONS", b"FROB"]
    )
    def test_body_drained(
        self, connection: Connection, images_dir: Path, method: bytes
    ) -> None:
        """A request in the body is not taken as the next one on the connection."""
        smuggled = b"GET /images/ward.jpg HTTP/1.1\r\nHost: x\r\n\r\n"
        connection.send(
            method
            + b" /images/street.jpg HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
            % len(smuggled)
            + smuggled
            + b"GET /images/street.jpg HTTP/1.1\r\nHost: x\r\n\r\n"
        )

        refused, served = connection.read(), connection.read()

        assert (404, NOT_FOUND) == (refused.status, refused.body)
        assert "application/json" == refused.headers["content-type"]
        assert (200, (images_dir / "street.jpg").read_bytes()) == (
            served.status,
            served.body,
        )

    def test_chunked_body_drained(self, connection: Connection) -> None:
        """A chunked body is drained too."""
        connection.send(
            b"PUT /images/street.jpg HTTP/1.1\r\nHost: x\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
            + _chunked(b"GET /images/ward.jpg HTTP/1.1\r\n\r\n")
            + b"GET /images/nothing.jpg HTTP/1.1\r\nHost: x\r\n\r\n"
        )

        statuses = [connection.read().status, connection.read().status]

        assert [404, 404] == statuses

    def test_head(self, connection: Connection) -> None:
        """HEAD gets the 404's headers and no body, so the next answer parses."""
        connection.send(
            b"HEAD /images/street.jpg HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /images/street.jpg HTTP/1.1\r\nHost: x\r\n\r\n"
        )

        head = connection.read(head=True)
        served = connection.read()

        assert (404, str(len(NOT_FOUND))) == (
            head.status,
            head.headers["content-length"],
        )
        assert 200 == served.status


class TestFileNames:
    """Names the file system refuses are names of files that do not exist."""

    def test_get_name_too_long(self, connection: Connection) -> None:
        """GET of a name over the length limit: 404, and the connection lives."""
        connection.send(
            b"GET /images/" + b"a" * 300 + b".jpg HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /images/street.jpg HTTP/1.1\r\nHost: x\r\n\r\n"
        )

        missing, served = connection.read(), connection.read()

        assert (404, NOT_FOUND) == (missing.status, missing.body)
        assert 200 == served.status

    def test_url_name_too_long(self, post) -> None:
        """URL mode with such a name: the service's "not accessible", not a 500."""
        url = "https://contoso.blob.core.windows.net/" + "a" * 300 + ".jpg"

        response = post(
            body=json.dumps({"url": url}).encode(),
            headers={"Content-Type": "application/json"},
        )

        assert 400 == response.status
        assert (
            "The provided image url is not accessible."
            == response.json()["error"]["message"]
        )

    def test_sidecar_name_too_long(self, tmp_path: Path, emulator_key: str) -> None:
        """An image whose sidecar name would be too long has no sidecar."""
        name_max = os.pathconf(tmp_path, "PC_NAME_MAX")
        name = "x" * (name_max - len(".jpg") - 2) + ".jpg"
        (tmp_path / name).write_bytes(make_test_image(seed=4))

        with Emulator(key=emulator_key, images=tmp_path) as emulator:
            connection = Connection(emulator)
            body = json.dumps({"url": f"https://example.com/{name}"}).encode()
            try:
                connection.send(
                    _post(
                        b"Content-Type: application/json\r\n"
                        b"Content-Length: %d\r\n" % len(body),
                        body,
                    )
                )
                answer = connection.read()
            finally:
                connection.close()

        assert 200 == answer.status


class TestUnparsableRequests:
    """What http.server refuses is answered in the gateway's JSON, not HTML."""

    @pytest.mark.parametrize(
        ("request_bytes", "status"),
        [
            (_post(b"X-Big: " + b"a" * 70_000 + b"\r\n"), 431),
            (b"GET /images/street.jpg HTTP/2.0\r\nHost: x\r\n\r\n", 505),
            (b"NONSENSE\r\n\r\n", 400),
        ],
        ids=["header-too-large", "http2", "bad-request-line"],
    )
    def test_json_error(
        self, connection: Connection, request_bytes: bytes, status: int
    ) -> None:
        """The status http.server chose, the gateway's body, then close."""
        connection.send(request_bytes)

        answer = connection.read()

        assert status == answer.status
        assert str(status) == json.loads(answer.body)["error"]["code"]
        assert "application/json" == answer.headers["content-type"]
        assert connection.is_closed()


class TestQueryNames:
    """Query parameter names match as the service matches them: in any case."""

    def test_aspect_ratios_in_the_javascript_clients_spelling(self, post) -> None:
        """smartCrops-aspect-ratios (a recorded exchange's spelling) is obeyed."""
        image = make_test_image()

        answer = post(
            "api-version=2023-10-01&features=smartCrops"
            "&smartCrops-aspect-ratios=0.9,1.33",
            image,
        )
        crops = answer.json()["smartCropsResult"]["values"]

        assert 200 == answer.status
        assert [0.9, 1.33] == [crop["aspectRatio"] for crop in crops]

    def test_features_in_upper_case(self, post) -> None:
        """FEATURES=tags and Api-Version are read as features and api-version."""
        answer = post("Api-Version=2023-10-01&FEATURES=tags", make_test_image())

        assert 200 == answer.status
        assert "tagsResult" in answer.json()
