"""Shared fixtures: one emulator and one PostgreSQL server per session, SDK clients."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from azure.ai.vision.imageanalysis import ImageAnalysisClient
from azure.core.credentials import AzureKeyCredential
from vision_audit import environment_variables as env
from vision_audit.emulator import Emulator
from vision_audit.testing import make_test_image

if TYPE_CHECKING:
    from collections.abc import Iterator

EMULATOR_KEY = "test-key-0123456789abcdef"
RESOURCES = Path(__file__).parent / "resources"
SPEC_DIR = RESOURCES / "image-analysis-2023-10-01"
SETUP_POSTGRES = Path(__file__).parents[1] / "scripts" / "setup-postgres"


@pytest.fixture(name="images_dir", scope="session")
def _images_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("emulator-images")
    (folder / "street.jpg").write_bytes(make_test_image(seed=1))
    (folder / "claims").mkdir()
    (folder / "claims" / "car.png").write_bytes(
        make_test_image(image_format="PNG", seed=2, width=800, height=600)
    )
    (folder / "claims" / "car.json").write_text(
        json.dumps(
            {"tags": {"car": 0.99, "dent": 0.42}, "caption": "a car with a dent"}
        )
    )
    (folder / "ward.jpg").write_bytes(make_test_image(seed=3))
    (folder / "ward.jpg.json").write_text(
        json.dumps({"tags": {"person": 0.97, "wheelchair": 0.93}, "people": 1})
    )
    return folder


@pytest.fixture(name="emulator", scope="session")
def _emulator(images_dir: Path) -> Iterator[Emulator]:
    with Emulator(key=EMULATOR_KEY, images=images_dir) as emulator:
        yield emulator


@pytest.fixture(name="client")
def _client(emulator: Emulator) -> Iterator[ImageAnalysisClient]:
    with ImageAnalysisClient(
        emulator.endpoint, AzureKeyCredential(EMULATOR_KEY), retry_total=0
    ) as client:
        yield client


@pytest.fixture(name="result_schema", scope="session")
def _result_schema() -> dict[str, object]:
    definitions = json.loads((SPEC_DIR / "definitions.json").read_text())["definitions"]
    return {"$ref": "#/definitions/ImageAnalysisResult", "definitions": definitions}


@pytest.fixture(name="emulator_key", scope="session")
def _emulator_key() -> str:
    return EMULATOR_KEY


class RawResponse:
    """An HTTP answer as bytes on the wire: status, headers and body."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        """Keep the parts of one answer."""
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> object:
        """The body, parsed."""
        return json.loads(self.body)


@pytest.fixture(name="post")
def _post(emulator: Emulator):
    """POST to the emulator over a plain socket, for what the SDK cannot send."""
    import http.client
    from urllib.parse import urlsplit

    split = urlsplit(emulator.endpoint)

    def post(
        query: str = "api-version=2023-10-01&features=tags",
        body: bytes = b"",
        *,
        headers: dict[str, str] | None = None,
        path: str = "/computervision/imageanalysis:analyze",
        method: str = "POST",
    ) -> RawResponse:
        sent = {
            "Ocp-Apim-Subscription-Key": EMULATOR_KEY,
            "Content-Type": "application/octet-stream",
        }
        sent.update(headers or {})
        sent = {k: v for k, v in sent.items() if v is not None}
        connection = http.client.HTTPConnection(split.hostname, split.port, timeout=30)
        try:
            connection.request(method, f"{path}?{query}" if query else path, body, sent)
            response = connection.getresponse()
            return RawResponse(
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                response.read(),
            )
        finally:
            connection.close()

    return post


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in {"", "0", "false", "no"}


@pytest.fixture(name="postgres_url", scope="session")
def _postgres_url() -> Iterator[str]:
    """
    A PostgreSQL server for the session.

    ``VISION_AUDIT_TEST_POSTGRES_URL`` when set; otherwise a throwaway server started
    with ``scripts/setup-postgres`` and stopped at the end. Where none can be had,
    the PostgreSQL tests are skipped, except in CI (``CI=true``), where they fail.
    """
    url = os.environ.get(env.VISION_AUDIT_TEST_POSTGRES_URL)
    if url:
        yield url
        return
    # Not under pytest's private temporary folder: the server's user must reach it.
    folder = tempfile.mkdtemp(prefix="vision-audit-pg-")
    try:
        completed = subprocess.run(
            ["/bin/sh", str(SETUP_POSTGRES), "--dir", str(folder)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        completed = None
        problem = str(err)
    else:
        problem = completed.stderr.strip()
    if completed is None or completed.returncode != 0:
        message = f"no PostgreSQL server for the tests: {problem}"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield completed.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(
            ["/bin/sh", str(SETUP_POSTGRES), "--stop", str(folder)],
            capture_output=True,
            timeout=120,
            check=False,
        )
