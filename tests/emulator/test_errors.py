"""Every documented error of the service, reproduced and seen through the SDK."""

from __future__ import annotations

import json

import pytest
from azure.ai.vision.imageanalysis import ImageAnalysisClient
from azure.ai.vision.imageanalysis.models import VisualFeatures
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from vision_audit.emulator import Emulator
from vision_audit.testing import make_test_image

QUERY_INVALID = "Analyze query is invalid."
TAGS = [VisualFeatures.TAGS]


def _assert_service_error(
    error: HttpResponseError,
    status: int,
    message: str,
    inner: tuple[str, str] | None = None,
) -> None:
    body = json.loads(error.response.text())
    assert status == error.status_code
    assert "InvalidRequest" == error.error.code
    assert message == error.error.message
    assert "InvalidRequest" == error.response.headers["x-ms-error-code"]
    if inner is None:
        assert "innererror" not in body["error"]
    else:
        assert {"code": inner[0], "message": inner[1]} == body["error"]["innererror"]


class TestRequestErrors:
    """Bad query parameters: 400 InvalidRequest with the service's inner codes."""

    def test_unknown_feature(self, client: ImageAnalysisClient) -> None:
        """A feature the service does not know."""
        with pytest.raises(HttpResponseError) as info:
            client.analyze(image_data=make_test_image(), visual_features=["faces"])

        _assert_service_error(
            info.value,
            400,
            QUERY_INVALID,
            ("NotSupportedVisualFeature", "Specified feature type is not valid"),
        )

    def test_unsupported_language(self, client: ImageAnalysisClient) -> None:
        """A language code the service does not support."""
        with pytest.raises(HttpResponseError) as info:
            client.analyze(
                image_data=make_test_image(), visual_features=TAGS, language="xx"
            )

        _assert_service_error(
            info.value,
            400,
            QUERY_INVALID,
            ("NotSupportedLanguage", "The input language is not supported"),
        )

    def test_caption_only_in_english(self, client: ImageAnalysisClient) -> None:
        """Tags come in Spanish; captions do not."""
        client.analyze(
            image_data=make_test_image(), visual_features=TAGS, language="es"
        )

        with pytest.raises(HttpResponseError) as info:
            client.analyze(
                image_data=make_test_image(),
                visual_features=[VisualFeatures.CAPTION],
                language="es",
            )

        assert (
            "NotSupportedLanguage"
            == json.loads(info.value.response.text())["error"]["innererror"]["code"]
        )

    @pytest.mark.parametrize("ratio", [0.74, 1.81, 13.0])
    def test_aspect_ratio_out_of_range(
        self, client: ImageAnalysisClient, ratio: float
    ) -> None:
        """Smart-crop ratios outside 0.75 to 1.8."""
        with pytest.raises(HttpResponseError) as info:
            client.analyze(
                image_data=make_test_image(),
                visual_features=[VisualFeatures.SMART_CROPS],
                smart_crops_aspect_ratios=[1.0, ratio],
            )

        _assert_service_error(
            info.value,
            400,
            QUERY_INVALID,
            (
                "BadArgument",
                (
                    "'smartcrops-aspect-ratios' aspect ratio is not in allowed range "
                    "[0.75 to 1.8]"
                ),
            ),
        )

    @pytest.mark.parametrize("ratio", [0.75, 1.8])
    def test_aspect_ratio_bounds_inclusive(
        self, client: ImageAnalysisClient, ratio: float
    ) -> None:
        """The bounds themselves are accepted."""
        result = client.analyze(
            image_data=make_test_image(),
            visual_features=[VisualFeatures.SMART_CROPS],
            smart_crops_aspect_ratios=[ratio],
        )

        assert [ratio] == [c.aspect_ratio for c in result.smart_crops.list]

    @pytest.mark.parametrize("version", ["newest", "2023-1-01", "latest-previews"])
    def test_model_version_pattern(
        self, client: ImageAnalysisClient, version: str
    ) -> None:
        """A model version outside the spec's pattern."""
        with pytest.raises(HttpResponseError) as info:
            client.analyze(
                image_data=make_test_image(),
                visual_features=TAGS,
                model_version=version,
            )

        assert 400 == info.value.status_code
        body = json.loads(info.value.response.text())
        assert "BadArgument" == body["error"]["innererror"]["code"]
        assert "model-version" in body["error"]["innererror"]["message"]

    def test_model_version_pinned(self, client: ImageAnalysisClient) -> None:
        """The one model of 2023-10-01 can be pinned, and is echoed."""
        result = client.analyze(
            image_data=make_test_image(),
            visual_features=TAGS,
            model_version="2023-10-01",
        )

        assert "2023-10-01" == result.model_version

    def test_features_any_capitalisation(self, post) -> None:
        """``features`` is matched without regard to case."""
        response = post(
            "api-version=2023-10-01&features=TAGS,Caption,densecaptions",
            make_test_image(),
        )

        assert 200 == response.status
        assert {
            "modelVersion",
            "metadata",
            "tagsResult",
            "captionResult",
            "denseCaptionsResult",
        } == set(response.json())

    @pytest.mark.parametrize(
        "query", ["api-version=2023-10-01", "api-version=2023-10-01&features="]
    )
    def test_features_missing(self, post, query: str) -> None:
        """No features at all."""
        response = post(query, make_test_image())

        assert 400 == response.status
        assert {
            "error": {
                "code": "InvalidRequest",
                "message": "Either 'features' or 'model-name' needs to be specified in "
                "the "
                "query parameter.",
            }
        } == response.json()

    def test_gender_flag_must_be_boolean(self, post) -> None:
        """``gender-neutral-caption`` takes true or false."""
        response = post(
            "api-version=2023-10-01&features=caption&gender-neutral-caption=maybe",
            make_test_image(),
        )

        assert 400 == response.status
        assert "BadArgument" == response.json()["error"]["innererror"]["code"]


class TestImageErrors:
    """Bad images: size, dimensions, format."""

    def test_empty_image(self, post) -> None:
        """Zero bytes."""
        response = post(body=b"")

        assert 400 == response.status
        assert {
            "error": {
                "code": "InvalidRequest",
                "message": "The image size is not allowed to be zero or larger than "
                "20971520 bytes.",
            }
        } == response.json()

    def test_image_too_large(self, client: ImageAnalysisClient) -> None:
        """One byte over 20 MB."""
        with pytest.raises(HttpResponseError) as info:
            client.analyze(
                image_data=b"\xff" * (20 * 1024 * 1024 + 1), visual_features=TAGS
            )

        _assert_service_error(
            info.value,
            400,
            "The image size is not allowed to be zero or larger than 20971520 bytes.",
        )

    @pytest.mark.parametrize(("width", "height"), [(49, 200), (200, 49), (16001, 60)])
    def test_dimensions(
        self, client: ImageAnalysisClient, width: int, height: int
    ) -> None:
        """Sides under 50 or over 16,000 pixels."""
        text = (
            "The image dimension is not allowed to be smaller than 50 and larger than "
            "16000."
        )

        with pytest.raises(HttpResponseError) as info:
            client.analyze(
                image_data=make_test_image(
                    width=width, height=height, image_format="PNG"
                ),
                visual_features=TAGS,
            )

        _assert_service_error(info.value, 400, text, ("InvalidImageSize", text))

    @pytest.mark.parametrize(("width", "height"), [(50, 50), (16000, 50)])
    def test_dimension_bounds_inclusive(
        self, client: ImageAnalysisClient, width: int, height: int
    ) -> None:
        """50 and 16,000 pixels are accepted."""
        result = client.analyze(
            image_data=make_test_image(width=width, height=height, image_format="PNG"),
            visual_features=TAGS,
        )

        assert (width, height) == (result.metadata.width, result.metadata.height)

    @pytest.mark.parametrize(
        "data",
        [
            b"this is not an image",
            b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n",
            b'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"/>',
            b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
        ],
        ids=["text", "pdf", "svg", "png-garbage"],
    )
    def test_not_an_image(self, client: ImageAnalysisClient, data: bytes) -> None:
        """Bytes that are no image in an accepted format."""
        with pytest.raises(HttpResponseError) as info:
            client.analyze(image_data=data, visual_features=TAGS)

        _assert_service_error(
            info.value,
            400,
            "Image format is not valid.",
            ("InvalidImageFormat", "Input data is not a valid image."),
        )

    @pytest.mark.parametrize("image_format", ["JPEG", "PNG"])
    def test_truncated_image(
        self, client: ImageAnalysisClient, image_format: str
    ) -> None:
        """A valid header with the pixel data cut off is decoded, and refused."""
        whole = make_test_image(width=400, height=300, image_format=image_format)

        with pytest.raises(HttpResponseError) as info:
            client.analyze(image_data=whole[: len(whole) // 2], visual_features=TAGS)

        assert (
            "InvalidImageFormat"
            == json.loads(info.value.response.text())["error"]["innererror"]["code"]
        )

    def test_unsupported_content_type(self, post) -> None:
        """A body that is neither binary nor JSON."""
        response = post(body=make_test_image(), headers={"Content-Type": "image/jpeg"})

        assert 400 == response.status
        assert {
            "error": {
                "code": "InvalidRequest",
                "message": "The provided image content type 'image/jpeg' is not "
                "supported.",
            }
        } == response.json()

    def test_multipart_accepted(self, post) -> None:
        """multipart/form-data carries the image as its first part."""
        image = make_test_image(width=222, height=111)
        body = (
            b"--XyZ\r\n"
            b'Content-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
            b"Content-Type: image/jpeg\r\n\r\n" + image + b"\r\n--XyZ--\r\n"
        )

        response = post(
            body=body, headers={"Content-Type": "multipart/form-data; boundary=XyZ"}
        )

        assert 200 == response.status
        assert {"width": 222, "height": 111} == response.json()["metadata"]


class TestUrlErrors:
    """URLs the service cannot fetch."""

    @pytest.mark.parametrize(
        "url",
        [
            "https://contoso.blob.core.windows.net/claims/not-there.jpg?sig=abc",
            "https://example.com/../../../etc/passwd",
            "ftp://127.0.0.1/image.jpg",
            "not a url",
            "http://127.0.0.1:9/refused.jpg",
        ],
    )
    def test_not_accessible(self, client: ImageAnalysisClient, url: str) -> None:
        """Missing files, traversal, other schemes, garbage, refused connections."""
        with pytest.raises(HttpResponseError) as info:
            client.analyze_from_url(image_url=url, visual_features=TAGS)

        _assert_service_error(
            info.value, 400, "The provided image url is not accessible."
        )

    @pytest.mark.parametrize("body", [b"{", b"{}", b'{"url": 5}', b"[]"])
    def test_malformed_json_body(self, post, body: bytes) -> None:
        """A URL body that is not ``{"url": "..."}``."""
        response = post(body=body, headers={"Content-Type": "application/json"})

        assert 400 == response.status
        assert (
            "The provided image url is not accessible."
            == response.json()["error"]["message"]
        )


class TestGatewayErrors:
    """Errors from the gateway in front of the service: 401 and 404."""

    def test_wrong_key(self, emulator: Emulator) -> None:
        """A key the resource does not know: 401, code "401"."""
        with (
            ImageAnalysisClient(
                emulator.endpoint, AzureKeyCredential("wrong")
            ) as client,
            pytest.raises(HttpResponseError) as info,
        ):
            client.analyze(image_data=make_test_image(), visual_features=TAGS)

        assert isinstance(info.value, ClientAuthenticationError)
        assert 401 == info.value.status_code
        assert "401" == info.value.error.code
        assert info.value.error.message.startswith(
            "Access denied due to invalid subscription key or wrong API endpoint."
        )

    def test_missing_key(self, post) -> None:
        """No key and no token, with the gateway's own body layout and headers."""
        response = post(
            headers={"Ocp-Apim-Subscription-Key": None}, body=make_test_image()
        )

        assert 401 == response.status
        assert response.body.startswith(
            b'{"error":{"code":"401","message": "Access denied due'
        )
        assert "application/json" == response.headers["content-type"]
        assert "x-ms-error-code" not in response.headers
        assert "apim-request-id" in response.headers

    @pytest.mark.parametrize(
        ("path", "query"),
        [
            (
                "/computervision/imageanalysis:analyze",
                "api-version=2024-13-01&features=tags",
            ),
            ("/computervision/imageanalysis:analyze", "features=tags"),
            ("/computervision/imageanalysis:segment", "api-version=2023-10-01"),
            ("/vision/v3.2/analyze", "visualFeatures=Tags"),
        ],
    )
    def test_resource_not_found(self, post, path: str, query: str) -> None:
        """Unknown api-version or operation."""
        response = post(query, make_test_image(), path=path)

        assert 404 == response.status
        assert (
            b'{"error":{"code":"404","message": "Resource not found"}}' == response.body
        )

    def test_custom_model_not_found(self, post) -> None:
        """``model-name`` names no custom model here."""
        response = post("api-version=2023-10-01&model-name=my-model", make_test_image())

        assert 404 == response.status


class TestRegion:
    """Caption features exist only in some regions."""

    def test_caption_not_in_region(self, emulator_key: str) -> None:
        """Outside those regions, Caption is refused with the documented message."""
        with Emulator(key=emulator_key, region="Canada Central") as emulator:
            with ImageAnalysisClient(
                emulator.endpoint, AzureKeyCredential(emulator_key)
            ) as client:
                tags = client.analyze(
                    image_data=make_test_image(), visual_features=TAGS
                )
                with pytest.raises(HttpResponseError) as info:
                    client.analyze(
                        image_data=make_test_image(),
                        visual_features=[VisualFeatures.CAPTION],
                    )

        assert tags.tags is not None
        _assert_service_error(
            info.value, 400, "The feature 'Caption' is not supported in this region"
        )


class TestServiceHeaders:
    """The service's headers, on answers and on its errors."""

    def test_success_headers(self, post) -> None:
        """Compact JSON with a matching length, request ids, region and billing."""
        response = post(body=make_test_image())

        assert "application/json; charset=utf-8" == response.headers["content-type"]
        assert str(len(response.body)) == response.headers["content-length"]
        assert (
            json.dumps(response.json(), separators=(",", ":")).encode() == response.body
        )
        assert response.headers["apim-request-id"]
        assert "West US" == response.headers["x-ms-region"]
        assert "2023-10-01" == response.headers["api-supported-versions"]
        assert (
            "CognitiveServices.ComputerVision.Transaction=1"
            == response.headers["csp-billing-usage"]
        )
