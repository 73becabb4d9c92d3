"""Shared fixtures: one emulator per session, SDK clients pointed at it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from azure.ai.vision.imageanalysis import ImageAnalysisClient
from azure.core.credentials import AzureKeyCredential
from vision_audit.emulator import Emulator
from vision_audit.testing import make_test_image

if TYPE_CHECKING:
    from collections.abc import Iterator

EMULATOR_KEY = "test-key-0123456789abcdef"
RESOURCES = Path(__file__).parent / "resources"
SPEC_DIR = RESOURCES / "image-analysis-2023-10-01"


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
