"""The real Azure SDK, sync and aio, against the emulator over HTTP."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
from pathlib import Path
from typing import TYPE_CHECKING

import jsonschema
import pytest
from azure.ai.vision.imageanalysis import ImageAnalysisClient
from azure.ai.vision.imageanalysis.aio import ImageAnalysisClient as AsyncClient
from azure.ai.vision.imageanalysis.models import ImageAnalysisResult, VisualFeatures
from azure.core.credentials import AccessToken, AzureKeyCredential
from azure.core.pipeline.transport import HttpTransport
from vision_audit.testing import make_test_image

if TYPE_CHECKING:
    from azure.core.rest import HttpRequest
    from vision_audit.emulator import Emulator

ALL_FEATURES = list(VisualFeatures)
SERVICE_ORDER = [
    "modelVersion",
    "captionResult",
    "denseCaptionsResult",
    "metadata",
    "tagsResult",
    "objectsResult",
    "readResult",
    "smartCropsResult",
    "peopleResult",
]
RESULT_KEY = {
    "tags": "tagsResult",
    "caption": "captionResult",
    "denseCaptions": "denseCaptionsResult",
    "objects": "objectsResult",
    "read": "readResult",
    "smartCrops": "smartCropsResult",
    "people": "peopleResult",
}


def _raw_hook(captured: list[dict[str, object]]):
    def hook(response) -> None:
        captured.append(json.loads(response.http_response.text()))

    return hook


class TestAnalyzeSync:
    """``ImageAnalysisClient.analyze`` and ``analyze_from_url`` with image bytes."""

    def test_every_feature(self, client: ImageAnalysisClient, result_schema) -> None:
        """All seven features come back, spec-valid, in the service's key order."""
        captured: list[dict[str, object]] = []
        image = make_test_image(width=864, height=576, seed=11)

        result = client.analyze(
            image_data=image,
            visual_features=ALL_FEATURES,
            smart_crops_aspect_ratios=[0.9, 1.33],
            gender_neutral_caption=True,
            language="en",
            raw_response_hook=_raw_hook(captured),
        )

        body = captured[0]
        jsonschema.validate(body, result_schema)
        assert SERVICE_ORDER == list(body)
        assert (864, 576) == (result.metadata.width, result.metadata.height)
        assert "2023-10-01" == result.model_version
        assert result.caption is not None
        assert result.caption.text
        assert [0.9, 1.33] == [c.aspect_ratio for c in result.smart_crops.list]
        assert result.tags.list == sorted(result.tags.list, key=lambda t: -t.confidence)

    @pytest.mark.parametrize(
        "features",
        [list(c) for n in (1, 2, 3) for c in itertools.combinations(ALL_FEATURES, n)],
        ids=lambda fs: "+".join(f.value for f in fs),
    )
    def test_only_requested_features(
        self, client: ImageAnalysisClient, result_schema, features
    ) -> None:
        """Each combination answers with exactly the requested results, spec-valid."""
        captured: list[dict[str, object]] = []

        client.analyze(
            image_data=make_test_image(seed=5),
            visual_features=features,
            raw_response_hook=_raw_hook(captured),
        )

        body = captured[0]
        jsonschema.validate(body, result_schema)
        expected = {"modelVersion", "metadata"} | {
            RESULT_KEY[f.value] for f in features
        }
        assert expected == set(body)

    def test_deterministic(self, client: ImageAnalysisClient) -> None:
        """The same bytes and options give the same answer; other bytes another."""
        image = make_test_image(seed=21)

        first = client.analyze(image_data=image, visual_features=ALL_FEATURES)
        second = client.analyze(image_data=image, visual_features=ALL_FEATURES)
        other = client.analyze(
            image_data=make_test_image(seed=22), visual_features=ALL_FEATURES
        )

        assert first.as_dict() == second.as_dict()
        assert first.as_dict() != other.as_dict()

    def test_boxes_inside_image(self, client: ImageAnalysisClient) -> None:
        """Objects, people, dense captions and crops lie inside the picture."""
        result = client.analyze(
            image_data=make_test_image(width=120, height=1500, seed=8),
            visual_features=ALL_FEATURES,
            smart_crops_aspect_ratios=[0.75, 1.8],
        )

        boxes = [o.bounding_box for o in result.objects.list]
        boxes += [p.bounding_box for p in result.people.list]
        boxes += [d.bounding_box for d in result.dense_captions.list]
        boxes += [c.bounding_box for c in result.smart_crops.list]
        assert all(
            b.x >= 0 and b.y >= 0 and b.x + b.width <= 120 and b.y + b.height <= 1500
            for b in boxes
        )

    @pytest.mark.parametrize(
        "image_format", ["JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF", "ICO"]
    )
    def test_accepted_formats(
        self, client: ImageAnalysisClient, image_format: str
    ) -> None:
        """Every format the service accepts is decoded and measured."""
        result = client.analyze(
            image_data=make_test_image(
                width=200, height=150, image_format=image_format
            ),
            visual_features=[VisualFeatures.TAGS],
        )

        assert (200, 150) == (result.metadata.width, result.metadata.height)

    def test_gender_neutral_caption(
        self, client: ImageAnalysisClient, emulator: Emulator
    ) -> None:
        """Asked for, gendered words in captions become neutral ones."""
        image = make_test_image(seed=31)
        emulator.script(image, {"caption": "a woman and a man talking to a boy"})

        plain = client.analyze(
            image_data=image, visual_features=[VisualFeatures.CAPTION]
        )
        neutral = client.analyze(
            image_data=image,
            visual_features=[VisualFeatures.CAPTION],
            gender_neutral_caption=True,
        )

        assert "a woman and a man talking to a boy" == plain.caption.text
        assert "a person and a person talking to a child" == neutral.caption.text

    def test_read_only_when_asked(
        self, client: ImageAnalysisClient, emulator: Emulator
    ) -> None:
        """Scripted text is read only when READ is requested."""
        image = make_test_image(seed=41)
        emulator.script(image, {"text": ["INVOICE 4821", "Total 12.00"]})

        without = client.analyze(
            image_data=image, visual_features=[VisualFeatures.TAGS]
        )
        with_read = client.analyze(
            image_data=image, visual_features=[VisualFeatures.READ]
        )

        assert without.read is None
        assert ["INVOICE 4821", "Total 12.00"] == [
            line.text for line in with_read.read.blocks[0].lines
        ]
        assert ["INVOICE", "4821"] == [
            w.text for w in with_read.read.blocks[0].lines[0].words
        ]

    def test_no_text(self, client: ImageAnalysisClient, emulator: Emulator) -> None:
        """A script saying there is no text gets an empty block list, as the service."""
        image = make_test_image(seed=42)
        emulator.script(image, {"text": []})

        result = client.analyze(image_data=image, visual_features=[VisualFeatures.READ])

        assert [] == result.read.blocks


class TestScripts:
    """Sidecars, embedded scripts and scripted errors decide the answer."""

    def test_sidecar_by_bytes(
        self, client: ImageAnalysisClient, images_dir: Path
    ) -> None:
        """Bytes of an image in --images get its sidecar's tags, and only those."""
        image = (images_dir / "ward.jpg").read_bytes()

        result = client.analyze(
            image_data=image,
            visual_features=[VisualFeatures.TAGS, VisualFeatures.PEOPLE],
        )

        assert [("person", 0.97), ("wheelchair", 0.93)] == [
            (t.name, round(t.confidence, 2)) for t in result.tags.list
        ]
        assert 1 == sum(1 for p in result.people.list if p.confidence > 0.5)

    def test_embedded_script(self, client: ImageAnalysisClient) -> None:
        """A script inside the image's own metadata is obeyed."""
        image = make_test_image(
            image_format="PNG", script={"tags": {"stethoscope": 0.8}}
        )

        result = client.analyze(image_data=image, visual_features=[VisualFeatures.TAGS])

        assert ["stethoscope"] == [t.name for t in result.tags.list]

    def test_scripted_error(
        self, client: ImageAnalysisClient, emulator: Emulator
    ) -> None:
        """A scripted failure surfaces as the SDK's HttpResponseError."""
        from azure.core.exceptions import HttpResponseError

        image = make_test_image(seed=51)
        emulator.script(
            image,
            {
                "error": {
                    "status": 500,
                    "code": "InternalServerError",
                    "message": "boom",
                }
            },
        )

        with pytest.raises(HttpResponseError) as info:
            client.analyze(image_data=image, visual_features=[VisualFeatures.TAGS])

        assert 500 == info.value.status_code
        assert "InternalServerError" == info.value.error.code


class TestAnalyzeFromUrl:
    """URL mode resolves loopback URLs and files of --images, never the internet."""

    def test_blob_url_maps_to_images_dir(self, client: ImageAnalysisClient) -> None:
        """A storage URL with a SAS query analyzes the file at that path."""
        url = (
            "https://contoso.blob.core.windows.net/claims/car.png"
            "?sv=2022-11-02&sp=r&sig=c2VjcmV0LXNpZ25hdHVyZQ%3D%3D"
        )

        result = client.analyze_from_url(
            image_url=url, visual_features=[VisualFeatures.TAGS, VisualFeatures.CAPTION]
        )

        assert (800, 600) == (result.metadata.width, result.metadata.height)
        assert ["car", "dent"] == [t.name for t in result.tags.list]
        assert "a car with a dent" == result.caption.text

    def test_file_name_fallback(self, client: ImageAnalysisClient) -> None:
        """A URL whose folders do not exist falls back to the file name."""
        result = client.analyze_from_url(
            image_url="https://example.com/any/where/street.jpg",
            visual_features=[VisualFeatures.TAGS],
        )

        assert 640 == result.metadata.width

    def test_emulator_serves_images(
        self, client: ImageAnalysisClient, emulator: Emulator
    ) -> None:
        """The emulator's own /images/ path works as a loopback URL."""
        result = client.analyze_from_url(
            image_url=f"{emulator.endpoint}/images/claims/car.png",
            visual_features=[VisualFeatures.TAGS],
        )

        assert ["car", "dent"] == [t.name for t in result.tags.list]

    def test_other_loopback_server(
        self, client: ImageAnalysisClient, tmp_path: Path
    ) -> None:
        """A URL on another loopback server is fetched from it."""
        import functools
        import http.server
        import threading

        (tmp_path / "pic.bmp").write_bytes(
            make_test_image(width=300, height=90, image_format="BMP")
        )
        handler = functools.partial(
            http.server.SimpleHTTPRequestHandler, directory=str(tmp_path)
        )
        handler.log_message = lambda *_, **__: None  # type: ignore[attr-defined]
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            result = client.analyze_from_url(
                image_url=f"http://127.0.0.1:{server.server_address[1]}/pic.bmp",
                visual_features=[VisualFeatures.TAGS],
            )
        finally:
            server.shutdown()
            server.server_close()

        assert (300, 90) == (result.metadata.width, result.metadata.height)


class TestAio:
    """The ``aio`` client, concurrently on one connection pool."""

    def test_concurrent_analyze_and_url(
        self, emulator: Emulator, emulator_key: str
    ) -> None:
        """Twenty concurrent aio calls, bytes and URL, all answered correctly."""

        async def run() -> list[ImageAnalysisResult]:
            async with AsyncClient(
                emulator.endpoint, AzureKeyCredential(emulator_key), retry_total=0
            ) as client:
                calls = [
                    client.analyze(
                        image_data=make_test_image(seed=s, width=100 + s, height=100),
                        visual_features=[VisualFeatures.TAGS, VisualFeatures.PEOPLE],
                    )
                    for s in range(10)
                ]
                calls += [
                    client.analyze_from_url(
                        image_url="https://contoso.blob.core.windows.net/claims/car.png?sig=x",
                        visual_features=[VisualFeatures.TAGS],
                    )
                    for _ in range(10)
                ]
                return list(await asyncio.gather(*calls))

        results = asyncio.run(run())

        assert [100 + s for s in range(10)] == [r.metadata.width for r in results[:10]]
        assert all(
            ["car", "dent"] == [t.name for t in r.tags.list] for r in results[10:]
        )


class _StaticToken:
    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        return AccessToken("header.payload.signature", 4_102_444_800)


class TestAuthentication:
    """Keys and Entra ID bearer tokens."""

    def test_bearer_token(self, emulator: Emulator) -> None:
        """A TokenCredential's bearer token is accepted in place of a key."""
        with ImageAnalysisClient(emulator.endpoint, _StaticToken()) as client:
            result = client.analyze(
                image_data=make_test_image(),
                visual_features=[VisualFeatures.TAGS],
                enforce_https=False,  # the emulator speaks plain HTTP on loopback
            )

        assert result.tags.list


class _CannedTransport(HttpTransport):
    """Answers every request with Microsoft's example response."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def __enter__(self):
        return self

    def __exit__(self, *args: object) -> None:
        pass

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def send(self, request: HttpRequest, **kwargs: object):
        import requests
        from azure.core.rest._requests_basic import RestRequestsTransportResponse

        response = requests.Response()
        response.status_code = 200
        response.raw = io.BytesIO(self._body)
        response.headers["Content-Type"] = "application/json; charset=utf-8"
        answer = RestRequestsTransportResponse(
            request=request, internal_response=response
        )
        answer.read()
        return answer


class TestMicrosoftExample:
    """Microsoft's example response, through the SDK's own models."""

    def test_round_trip(self, result_schema) -> None:
        """The example validates against the schema and survives the SDK's models."""
        spec_dir = Path(__file__).parents[1] / "resources" / "image-analysis-2023-10-01"
        example = json.loads((spec_dir / "example-response.json").read_text())["body"]
        client = ImageAnalysisClient(
            "https://example.cognitiveservices.azure.com",
            AzureKeyCredential("unused"),
            transport=_CannedTransport(json.dumps(example).encode()),
        )

        result = client.analyze(image_data=b"unused", visual_features=ALL_FEATURES)

        jsonschema.validate(example, result_schema)
        assert example == result.as_dict()
        assert (
            "a woman wearing a mask sitting at a table with a laptop"
            == result.caption.text
        )
        assert 3 == len(result.read.blocks[0].lines)
