"""vision-audit review token and review serve, from the command line."""

from __future__ import annotations

import http.server
import logging
import os
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from tests.console.conftest import csrf_of
from vision_audit import environment_variables as env
from vision_audit.__main__ import main
from vision_audit.console import ConsoleSecret, ImageRef, UrlTemplateResolver

SAS = "sv=2024-01-01&sig=SECRET-SIGNATURE-0123"


@pytest.fixture(name="run")
def _run(capsys):
    """Run ``vision-audit review ...``: (code, out, err)."""

    def run(*args: str):
        code = main(["review", *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


class TestToken:
    """review token: a token for one reviewer, signed with the console's secret."""

    def test_issue(self, run, tmp_path) -> None:
        """The secret is made private; the token names the reviewer, alone on stdout."""
        secret = tmp_path / "console.key"

        code, out, err = run(
            "token", "--reviewer", "rita", "--secret-file", str(secret)
        )

        assert 0 == code
        assert 0o600 == stat.S_IMODE(secret.stat().st_mode)
        (token,) = out.splitlines()
        assert "rita" == ConsoleSecret.load(secret, create=False).check_token(token)
        assert "made the console secret" in err

    def test_secret_from_the_environment(self, run, tmp_path, monkeypatch) -> None:
        """$VISION_AUDIT_CONSOLE_SECRET_FILE names the secret when no option does."""
        secret = tmp_path / "env.key"
        monkeypatch.setenv(env.VISION_AUDIT_CONSOLE_SECRET_FILE, str(secret))

        code, out, _ = run("token", "--reviewer", "sam", "--days", "1")

        assert 0 == code
        assert "sam" == ConsoleSecret.load(secret, create=False).check_token(out)

    def test_secret_readable_by_others(self, run, tmp_path) -> None:
        """A secret others can read is refused: bad usage, with the fix."""
        secret = tmp_path / "console.key"
        run("token", "--reviewer", "rita", "--secret-file", str(secret))
        secret.chmod(0o644)

        code, _, err = run("token", "--reviewer", "rita", "--secret-file", str(secret))

        assert 2 == code
        assert "chmod 600" in err

    @pytest.mark.parametrize("name", ["", "a\nb", "x" * 201])
    def test_bad_names(self, run, tmp_path, name) -> None:
        """Empty, multi-line and overlong names get no token."""
        code, out, _ = run(
            "token", "--reviewer", name, "--secret-file", str(tmp_path / "k")
        )

        assert (2, "") == (code, out)


class TestServeUsage:
    """review serve refuses what it cannot serve before it listens."""

    def test_no_secret_yet(self, run, tmp_path, db_url, store) -> None:
        """Token sign-in without any token issued: says how to issue one."""
        code, _, err = run(
            "serve", "--store", db_url, "--secret-file", str(tmp_path / "none.key")
        )

        assert 2 == code
        assert "vision-audit review token --reviewer NAME" in err

    @pytest.mark.parametrize(
        ("option", "value", "said"),
        [
            ("--image-url-template", "file:///etc/{name}", "http(s) URL"),
            ("--image-url-template", "https://x/{name!r}", "plain names"),
            ("--trace-url-template", "https://x/{secret}", "{trace_id}"),
            ("--image-resolver", "no_such_module:f", "--image-resolver"),
            ("--port", "70000", "--port"),
        ],
    )
    def test_bad_options(self, run, db_url, store, option, value, said) -> None:
        """Bad templates, resolvers and ports: bad usage, named."""
        code, _, err = run("serve", "--store", db_url, option, value)

        assert 2 == code
        assert said in err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TestServe:
    """review serve as an operator starts it."""

    def test_serves_and_warns_off_loopback(self, db_url, store, tmp_path) -> None:
        """It answers on its port; a host other than loopback gets a warning."""
        secret = tmp_path / "console.key"
        ConsoleSecret.load(secret, create=True)
        port = _free_port()
        environment = {**os.environ, env.VISION_AUDIT_CONSOLE_SECRET_FILE: str(secret)}
        server = subprocess.Popen(
            [sys.executable, "-m", "vision_audit", "review", "serve", "--store", db_url,
             "--host", "0.0.0.0", "--port", str(port)],  # noqa: S104 - the warning
            env=environment,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            page = ""
            ends = time.monotonic() + 30
            while time.monotonic() < ends and not page:
                try:
                    with urllib.request.urlopen(
                        f"http://127.0.0.1:{port}/login", timeout=2
                    ) as answer:
                        page = answer.read().decode()
                        headers = answer.headers
                except OSError:
                    time.sleep(0.2)
        finally:
            server.terminate()
            _, err = server.communicate(timeout=30)

        assert "Sign in to review" in page
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "Secure" in headers["set-cookie"]
        assert "not loopback" in err
        assert csrf_of(page)


class _Storage(http.server.BaseHTTPRequestHandler):
    """A blob container on loopback: one picture, one redirect, the rest 404."""

    picture = b""
    seen: list[str] = []  # noqa: RUF012 - the test's record

    def do_GET(self) -> None:
        self.seen.append(self.path)
        if self.path.startswith("/c/intake-5.jpg?"):
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.end_headers()
            self.wfile.write(self.picture)
        elif self.path.startswith("/c/moved.jpg"):
            self.send_response(302)
            self.send_header("Location", "http://example.invalid/elsewhere")
            self.end_headers()
        else:
            self.send_response(404)
            self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(name="storage")
def _storage():
    """The loopback container's base URL; its handler class records the paths."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Storage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Storage.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class TestUrlTemplate:
    """Pictures from the application's storage, with a SAS that never shows."""

    def test_fetch_with_sas(
        self, signed_in, flagged, storage, monkeypatch, caplog
    ) -> None:
        """The label fills the name, the SAS the query; neither page nor log has it."""
        _Storage.picture = flagged[1]
        monkeypatch.setenv(env.VISION_AUDIT_CONSOLE_IMAGE_SAS, f"?{SAS}")
        resolver = UrlTemplateResolver(f"{storage}/c/{{image_name}}?{{sas}}")
        client = signed_in(resolver=resolver)

        with caplog.at_level(logging.DEBUG):
            page = client.get(f"/cases/{flagged[0]}").text

        assert [f"/c/intake-5.jpg?{SAS}"] == _Storage.seen
        assert "This is the picture that was analysed" in page
        assert "SECRET-SIGNATURE" not in page
        assert "SECRET-SIGNATURE" not in caplog.text
        assert "SECRET" not in repr(resolver)

    @pytest.mark.parametrize(
        ("name", "verdict"),
        [("missing.jpg", "not-found"), ("moved.jpg", "failed")],
    )
    def test_missing_and_redirected(self, storage, name, verdict) -> None:
        """404 is no picture; a redirect (which would carry the SAS away) fails."""
        from vision_audit.console import check_image

        resolver = UrlTemplateResolver(f"{storage}/c/{{image_name}}?{{sas}}", sas=SAS)
        ref = ImageRef(analysis_id="a1", sha256="0" * 64, labels={"image_name": name})

        check = check_image(resolver, ref)

        assert verdict == check.verdict
        assert "SECRET" not in check.message

    def test_label_cannot_leave_the_path(self, storage) -> None:
        """A label's slashes and dots are encoded: it names one blob, no other path."""
        resolver = UrlTemplateResolver(f"{storage}/c/{{image_name}}", sas="")
        ref = ImageRef(analysis_id="a1", labels={"image_name": "../../etc/passwd?x=1"})

        assert f"{storage}/c/..%2F..%2Fetc%2Fpasswd%3Fx%3D1" == resolver.url(ref)
