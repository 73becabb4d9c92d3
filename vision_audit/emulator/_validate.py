"""Checks the query of an analyze request as the service does, into AnalysisOptions."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Final

from vision_audit.emulator import _errors
from vision_audit.emulator._generate import AnalysisOptions

API_VERSION: Final = "2023-10-01"
KNOWN_MODEL_VERSIONS: Final = frozenset({"latest", "2023-10-01"})

_FEATURES_BY_LOWER: Final = {
    name.lower(): name
    for name in (
        "tags",
        "caption",
        "denseCaptions",
        "objects",
        "read",
        "smartCrops",
        "people",
    )
}

# Only tags are produced in other languages; captions are English only.
ENGLISH_ONLY_FEATURES: Final = frozenset({"caption", "denseCaptions"})

# Languages of the tags feature, as listed by the service's language-support page.
SUPPORTED_LANGUAGES: Final = frozenset(
    code.lower()
    for code in (
        "ar az bg bs ca cs cy da de el en es et eu fi fr ga gl he hi hr hu id it ja "
        "kk ko lt lv mk ms nb nl pl prs pt pt-BR pt-PT ro ru sk sl sr-Cyrl sr-Latn "
        "sv th tr uk vi zh zh-Hans zh-Hant"
    ).split()
)

_MODEL_VERSION: Final = re.compile(r"(latest|\d{4}-\d{2}-\d{2})(-preview)?")


def _single(query: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = query.get(name)
    if not values:
        return None
    # A repeated parameter: the last one wins, as ASP.NET binds a scalar.
    return values[-1]


def parse_features(query: Mapping[str, Sequence[str]]) -> frozenset[str]:
    """
    Read ``features``: comma separated, any capitalisation, at least one.

    Raises:
        ServiceError: ``features`` is missing or empty, or names an unknown feature.
    """
    raw = ",".join(query.get("features", ()))
    if not raw.strip():
        raise _errors.features_missing()
    features = set()
    for item in raw.split(","):
        canonical = _FEATURES_BY_LOWER.get(item.strip().lower())
        if canonical is None:
            raise _errors.unsupported_feature()
        features.add(canonical)
    return frozenset(features)


def parse_options(query: Mapping[str, Sequence[str]]) -> AnalysisOptions:
    """
    Validate every analyze query parameter but ``api-version``.

    Args:
        query: The parsed query string, every value kept (``parse_qs`` with blanks).

    Returns:
        The options the result generator needs.

    Raises:
        ServiceError: The answer the service gives to the first problem found.
    """
    if query.get("model-name"):
        # Custom models are not part of 2023-10-01; none exists here.
        raise _errors.resource_not_found()
    features = parse_features(query)

    language = _single(query, "language")
    if language is None:
        language = "en"
    if len(language) < 2 or language.lower() not in SUPPORTED_LANGUAGES:  # noqa: PLR2004
        raise _errors.unsupported_language()
    if language.lower() != "en" and features & ENGLISH_ONLY_FEATURES:
        raise _errors.unsupported_language()

    gender_neutral = False
    raw_gender = _single(query, "gender-neutral-caption")
    if raw_gender is not None:
        if raw_gender.lower() not in {"true", "false"}:
            msg = f"'gender-neutral-caption' must be 'true' or 'false', got {raw_gender!r}"
            raise _errors.bad_argument(msg)
        gender_neutral = raw_gender.lower() == "true"

    ratios: list[float] = []
    raw_ratios = query.get("smartcrops-aspect-ratios")
    if raw_ratios:
        for item in ",".join(raw_ratios).split(","):
            try:
                ratio = float(item)
            except ValueError as err:
                raise _errors.aspect_ratio_out_of_range() from err
            if math.isnan(ratio) or not (
                _errors.MIN_ASPECT_RATIO <= ratio <= _errors.MAX_ASPECT_RATIO
            ):
                raise _errors.aspect_ratio_out_of_range()
            ratios.append(ratio)

    model_version = _single(query, "model-version")
    if model_version is None:
        model_version = "latest"
    if not (
        6 <= len(model_version) <= 18  # noqa: PLR2004
        and _MODEL_VERSION.fullmatch(model_version)
    ):
        msg = (
            "'model-version' must be 'latest' or a date 'YYYY-MM-DD', optionally "
            f"followed by '-preview', got {model_version!r}"
        )
        raise _errors.bad_argument(msg)
    if model_version not in KNOWN_MODEL_VERSIONS:
        raise _errors.invalid_model_version(model_version)

    return AnalysisOptions(
        features=features,
        language=language,
        gender_neutral_caption=gender_neutral,
        smartcrops_aspect_ratios=tuple(ratios),
        model_version=model_version,
    )
