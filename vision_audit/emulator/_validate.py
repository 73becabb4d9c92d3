"""Checks the query of an analyze request as the service does, into AnalysisOptions."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

from vision_audit.emulator import _errors
from vision_audit.emulator._generate import AnalysisOptions

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

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
        *("ar", "az", "bg", "bs", "ca", "cs", "cy", "da", "de", "el", "en", "es"),
        *("et", "eu", "fi", "fr", "ga", "gl", "he", "hi", "hr", "hu", "id", "it"),
        *("ja", "kk", "ko", "lt", "lv", "mk", "ms", "nb", "nl", "pl", "prs", "pt"),
        *("pt-BR", "pt-PT", "ro", "ru", "sk", "sl", "sr-Cyrl", "sr-Latn", "sv"),
        *("th", "tr", "uk", "vi", "zh", "zh-Hans", "zh-Hant"),
    )
)

_MODEL_VERSION: Final = re.compile(r"(latest|\d{4}-\d{2}-\d{2})(-preview)?")
_MODEL_VERSION_LENGTHS: Final = (6, 18)


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


def parse_language(query: Mapping[str, Sequence[str]], features: frozenset[str]) -> str:
    """
    Read ``language``: a supported code, and English where captions are asked.

    Raises:
        ServiceError: ``NotSupportedLanguage``.
    """
    language = _single(query, "language")
    if language is None:
        return "en"
    if language.lower() not in SUPPORTED_LANGUAGES:
        raise _errors.unsupported_language()
    if language.lower() != "en" and features & ENGLISH_ONLY_FEATURES:
        raise _errors.unsupported_language()
    return language


def parse_gender_neutral(query: Mapping[str, Sequence[str]]) -> bool:
    """
    Read ``gender-neutral-caption``: true or false, any capitalisation.

    Raises:
        ServiceError: ``BadArgument`` for anything else.
    """
    raw = _single(query, "gender-neutral-caption")
    if raw is None:
        return False
    if raw.lower() not in {"true", "false"}:
        msg = f"'gender-neutral-caption' must be 'true' or 'false', got {raw!r}"
        raise _errors.bad_argument(msg)
    return raw.lower() == "true"


def parse_aspect_ratios(query: Mapping[str, Sequence[str]]) -> tuple[float, ...]:
    """
    Read ``smartcrops-aspect-ratios``: comma separated numbers in 0.75 to 1.8.

    Raises:
        ServiceError: ``BadArgument`` with the service's range message.
    """
    raw = query.get("smartcrops-aspect-ratios")
    if not raw:
        return ()
    ratios = []
    for item in ",".join(raw).split(","):
        try:
            ratio = float(item)
        except ValueError as err:
            raise _errors.aspect_ratio_out_of_range() from err
        # NaN fails both comparisons, so it is refused too.
        if not _errors.MIN_ASPECT_RATIO <= ratio <= _errors.MAX_ASPECT_RATIO:
            raise _errors.aspect_ratio_out_of_range()
        ratios.append(ratio)
    return tuple(ratios)


def parse_model_version(query: Mapping[str, Sequence[str]]) -> str:
    """
    Read ``model-version``: the spec's pattern, and a model that exists.

    Raises:
        ServiceError: ``BadArgument`` for the pattern, ``InvalidModel`` otherwise.
    """
    version = _single(query, "model-version")
    if version is None:
        return "latest"
    if not (
        _MODEL_VERSION_LENGTHS[0] <= len(version) <= _MODEL_VERSION_LENGTHS[1]
        and _MODEL_VERSION.fullmatch(version)
    ):
        msg = (
            "'model-version' must be 'latest' or a date 'YYYY-MM-DD', optionally "
            f"followed by '-preview', got {version!r}"
        )
        raise _errors.bad_argument(msg)
    if version not in KNOWN_MODEL_VERSIONS:
        raise _errors.invalid_model_version(version)
    return version


def parse_options(query: Mapping[str, Sequence[str]]) -> AnalysisOptions:
    """
    Validate every analyze query parameter but ``api-version``, in the service's order.

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
    return AnalysisOptions(
        features=features,
        language=parse_language(query, features),
        gender_neutral_caption=parse_gender_neutral(query),
        smartcrops_aspect_ratios=parse_aspect_ratios(query),
        model_version=parse_model_version(query),
    )
