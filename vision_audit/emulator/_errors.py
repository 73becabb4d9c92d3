"""The error answers of the Image Analysis service and its gateway, as data."""

from __future__ import annotations

import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final

MAX_IMAGE_BYTES: Final = 20 * 1024 * 1024
MIN_DIMENSION: Final = 50
MAX_DIMENSION: Final = 16_000
MIN_ASPECT_RATIO: Final = 0.75
MAX_ASPECT_RATIO: Final = 1.8


@dataclass(frozen=True, slots=True)
class ServiceError(Exception):
    """
    An error answer: HTTP status, top-level code and message, optional inner error.

    ``gateway`` errors come from the API gateway in front of the service (wrong path,
    unknown api-version, missing or wrong key): their body is laid out differently
    and they carry none of the service's headers, as the real gateway does.
    """

    status: int
    code: str
    message: str
    inner_code: str | None = None
    inner_message: str | None = None
    gateway: bool = False

    def body(self) -> bytes:
        """
        Serialize the error envelope as the service or the gateway does.

        Returns:
            The response body; the service's is compact JSON, the gateway's has one
            space after ``"message":``, byte for byte as observed.

        """
        if self.gateway:
            code = json.dumps(self.code)
            message = json.dumps(self.message)
            return f'{{"error":{{"code":{code},"message": {message}}}}}'.encode()
        error: dict[str, object] = {"code": self.code, "message": self.message}
        if self.inner_code is not None:
            inner: dict[str, object] = {"code": self.inner_code}
            if self.inner_message is not None:
                inner["message"] = self.inner_message
            error["innererror"] = inner
        return json.dumps({"error": error}, separators=(",", ":")).encode()


_INVALID_REQUEST = "InvalidRequest"
_QUERY_INVALID = "Analyze query is invalid."


def resource_not_found() -> ServiceError:
    """Unknown path or method, unknown api-version, or an unknown custom model."""
    return ServiceError(404, "404", "Resource not found", gateway=True)


def malformed_request(status: int = HTTPStatus.BAD_REQUEST) -> ServiceError:
    """
    A request the front end cannot parse: bad body framing, huge headers, HTTP/2.

    The front end answers these before the service sees them, with a bare status;
    its wording is not documented, so the message is the status phrase.
    """
    code = str(int(status))
    return ServiceError(status, code, HTTPStatus(status).phrase, gateway=True)


def missing_key() -> ServiceError:
    """No ``Ocp-Apim-Subscription-Key`` and no bearer token."""
    return ServiceError(
        401,
        "401",
        "Access denied due to missing subscription key. Make sure to include "
        "subscription key when making requests to an API.",
        gateway=True,
    )


def invalid_key() -> ServiceError:
    """A key that the resource does not know."""
    return ServiceError(
        401,
        "401",
        "Access denied due to invalid subscription key or wrong API endpoint. Make "
        "sure to provide a valid key for an active subscription and use a correct "
        "regional API endpoint for your resource.",
        gateway=True,
    )


def features_missing() -> ServiceError:
    """Neither ``features`` nor ``model-name`` in the query."""
    return ServiceError(
        400,
        _INVALID_REQUEST,
        "Either 'features' or 'model-name' needs to be specified in the query "
        "parameter.",
    )


def unsupported_feature() -> ServiceError:
    """A name in ``features`` that is not a visual feature."""
    return ServiceError(
        400,
        _INVALID_REQUEST,
        _QUERY_INVALID,
        "NotSupportedVisualFeature",
        "Specified feature type is not valid",
    )


def unsupported_language() -> ServiceError:
    """A language the requested features do not support."""
    return ServiceError(
        400,
        _INVALID_REQUEST,
        _QUERY_INVALID,
        "NotSupportedLanguage",
        "The input language is not supported",
    )


def aspect_ratio_out_of_range() -> ServiceError:
    """A smart-crops aspect ratio outside 0.75 to 1.8, or not a number."""
    return ServiceError(
        400,
        _INVALID_REQUEST,
        _QUERY_INVALID,
        "BadArgument",
        "'smartcrops-aspect-ratios' aspect ratio is not in allowed range [0.75 to 1.8]",
    )


def bad_argument(message: str) -> ServiceError:
    """
    Any other malformed query parameter.

    The service's wording for these cases is not documented; the emulator names the
    parameter and what it accepts.
    """
    return ServiceError(400, _INVALID_REQUEST, _QUERY_INVALID, "BadArgument", message)


def invalid_model_version(version: str) -> ServiceError:
    """A well-formed ``model-version`` that names no model (wording undocumented)."""
    return ServiceError(
        400,
        _INVALID_REQUEST,
        _QUERY_INVALID,
        "InvalidModel",
        f"The model version '{version}' is not available.",
    )


def feature_not_in_region(feature: str) -> ServiceError:
    """Caption and dense captions exist only in some Azure regions."""
    return ServiceError(
        400,
        _INVALID_REQUEST,
        f"The feature '{feature}' is not supported in this region",
    )


def unsupported_content_type(content_type: str) -> ServiceError:
    """A body whose Content-Type is neither binary nor JSON as the operation needs."""
    return ServiceError(
        400,
        _INVALID_REQUEST,
        f"The provided image content type '{content_type}' is not supported.",
    )


def invalid_image_size() -> ServiceError:
    """An empty image, or one larger than 20 MB."""
    return ServiceError(
        400,
        _INVALID_REQUEST,
        f"The image size is not allowed to be zero or larger than {MAX_IMAGE_BYTES} "
        "bytes.",
    )


def invalid_image_dimension() -> ServiceError:
    """An image smaller than 50 or larger than 16,000 pixels on a side."""
    text = (
        f"The image dimension is not allowed to be smaller than {MIN_DIMENSION} and "
        f"larger than {MAX_DIMENSION}."
    )
    return ServiceError(400, _INVALID_REQUEST, text, "InvalidImageSize", text)


def invalid_image_format() -> ServiceError:
    """Bytes that are not an image in an accepted format, or a corrupt image."""
    return ServiceError(
        400,
        _INVALID_REQUEST,
        "Image format is not valid.",
        "InvalidImageFormat",
        "Input data is not a valid image.",
    )


def url_not_accessible() -> ServiceError:
    """A URL that is malformed or cannot be fetched."""
    return ServiceError(
        400, _INVALID_REQUEST, "The provided image url is not accessible."
    )


def internal_error() -> ServiceError:
    """The service failed (listed, not documented with an example)."""
    return ServiceError(
        500, "InternalServerError", "An internal server error occurred."
    )
