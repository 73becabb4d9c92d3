"""
Images without storing images: resolvers that fetch an analysed picture, and the check.

The audit store never holds image bytes, only their SHA-256, size, format and
dimensions. To show a reviewer the picture, the console asks the application for it
through a *resolver* and compares the answer's SHA-256 with the audited one:

- a Python callable (``--image-resolver module:callable``) given an :class:`ImageRef`
  and returning the bytes, or None when it has no such image;
- a URL template over the application's own storage (``--image-url-template``), e.g.
  ``https://acct.blob.core.windows.net/intake/{name}?{sas}``: ``{sha256}``,
  ``{analysis_id}`` and the names of the call's ``audit_context`` labels are filled
  in (URL-encoded), ``{sas}`` with ``$VISION_AUDIT_CONSOLE_IMAGE_SAS``, which is
  never logged nor shown;
- a folder of the application's images (``--image-dir``), looked up by SHA-256.

A resolver that raises, times out, answers too much or with something that is not a
picture, or answers another picture, is reported as such; the bytes are held for the
one page that shows them, never written anywhere.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import importlib
import os
import string
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from vision_audit import environment_variables as env
from vision_audit._fingerprint import fingerprint_image

if TYPE_CHECKING:
    from collections.abc import Mapping

    from vision_audit.review._model import ReviewCase

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_IMAGE_BYTES",
    "FolderResolver",
    "ImageCheck",
    "ImageRef",
    "ImageResolver",
    "UrlTemplateResolver",
    "check_image",
    "image_ref",
    "load_resolver",
]

DEFAULT_TIMEOUT: Final = 5.0
"""Seconds a resolver has to answer before the console says it timed out."""

MAX_IMAGE_BYTES: Final = 20 * 1024 * 1024
"""The service's own limit on an image: a resolver answering more is refused."""

_MIME: Final = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/gif",
    "BMP": "image/bmp",
    "WEBP": "image/webp",
    "ICO": "image/x-icon",
    "TIFF": "image/tiff",
    "MPO": "image/jpeg",
}
"""Formats a browser shows, by the name Pillow reads from the bytes (never SVG)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageRef:
    """
    What the audit store knows of an analysed image: what a resolver looks it up by.

    Args:
        analysis_id: The analysis.
        sha256: SHA-256 of the bytes analysed (hex), when they were sent as bytes.
        size: Their size in bytes.
        format: Their format (``JPEG``, ``PNG``...).
        width: Width in pixels.
        height: Height in pixels.
        url: The image URL of ``analyze_from_url``, without query string or
            user info (as recorded).
        labels: The ``audit_context`` labels of the call (e.g. a blob name).
        purpose: The call's purpose.

    .. versionadded:: 0.3.0
    """

    analysis_id: str
    sha256: str | None = None
    size: int | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    url: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    purpose: str | None = None


ImageResolver = Callable[[ImageRef], bytes | None]
"""A resolver: the bytes of the image an :class:`ImageRef` names, or None."""


def image_ref(case: ReviewCase) -> ImageRef:
    """The :class:`ImageRef` of a case, from its ``analysis.requested`` event."""
    requested = case.requested or {}
    image = requested.get("image")
    image = image if isinstance(image, dict) else {}
    labels = requested.get("labels")
    url = requested.get("url")

    def number(name: str) -> int | None:
        value = image.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    sha = image.get("sha256")
    kind = image.get("format")
    return ImageRef(
        analysis_id=case.analysis_id,
        sha256=sha if isinstance(sha, str) else None,
        size=number("size"),
        format=kind if isinstance(kind, str) else None,
        width=number("width"),
        height=number("height"),
        url=url if isinstance(url, str) else None,
        labels={str(k): str(v) for k, v in labels.items()}
        if isinstance(labels, dict)
        else {},
        purpose=case.purpose,
    )


Verdict = Literal[
    "match", "mismatch", "unverifiable", "not-found", "failed", "timeout", "none"
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageCheck:
    """
    What the console found when it asked for a case's picture.

    Args:
        verdict: ``match`` (the analysed picture), ``mismatch`` (another picture),
            ``unverifiable`` (no audited SHA-256 to compare: a URL analysis),
            ``not-found`` (the resolver has none), ``failed``, ``timeout``, or
            ``none`` (no resolver configured).
        message: One sentence for the reviewer.
        data: The bytes, when there is a picture to show.
        mime: Its media type, read from the bytes.
        sha256: The SHA-256 of the bytes received.
        width: Their width in pixels.
        height: Their height in pixels.
    """

    verdict: Verdict
    message: str
    data: bytes | None = None
    mime: str | None = None
    sha256: str | None = None
    width: int | None = None
    height: int | None = None

    @property
    def shows_analysed(self) -> bool:
        """True when the picture shown is the one that was analysed."""
        return self.verdict == "match"


class _RefusedError(Exception):
    """A resolver's answer the console will not show."""


def _picture(data: object) -> tuple[bytes, str, int | None, int | None, str]:
    """The bytes, media type, size and digest of an answer, if it is a picture."""
    if not isinstance(data, bytes | bytearray | memoryview):
        msg = f"the resolver answered {type(data).__name__}, not bytes"
        raise _RefusedError(msg)
    data = bytes(data)
    if len(data) > MAX_IMAGE_BYTES:
        msg = f"the resolver answered more than {MAX_IMAGE_BYTES} bytes"
        raise _RefusedError(msg)
    fingerprint = fingerprint_image(data)
    mime = _MIME.get(fingerprint.format.upper())
    if mime is None:
        msg = (
            f"the resolver answered {len(data)} bytes that are no picture a browser "
            f"shows (format {fingerprint.format})"
        )
        raise _RefusedError(msg)
    return data, mime, fingerprint.width, fingerprint.height, fingerprint.sha256


def check_image(  # noqa: PLR0911 - one answer per verdict
    resolver: ImageResolver | None,
    ref: ImageRef,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    pool: concurrent.futures.Executor | None = None,
    why_none: str = "no image resolver is configured",
) -> ImageCheck:
    """
    Ask *resolver* for the picture of *ref* and compare it with the audited SHA-256.

    Never raises for what the resolver does: every failure is an :class:`ImageCheck`
    saying what happened.
    """
    if resolver is None:
        return ImageCheck(
            verdict="none",
            message=f"No picture: {why_none}. Judge by the recorded facts below.",
        )
    own = pool is None
    executor = pool or concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        future = executor.submit(resolver, ref)
        try:
            answer = future.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            return ImageCheck(
                verdict="timeout",
                message=f"The image resolver did not answer within {timeout:g} s.",
            )
        except Exception as err:  # noqa: BLE001 - any failure is reported, not raised
            return ImageCheck(
                verdict="failed",
                message=f"The image resolver failed: {type(err).__name__}: {err}",
            )
    finally:
        if own:
            executor.shutdown(wait=False, cancel_futures=True)
    if answer is None:
        return ImageCheck(
            verdict="not-found",
            message="The application has no picture for this analysis (any more).",
        )
    try:
        data, mime, width, height, digest = _picture(answer)
    except _RefusedError as err:
        return ImageCheck(verdict="failed", message=f"Not shown: {err}.")
    except ValueError as err:  # Pillow could not read it at all
        return ImageCheck(
            verdict="failed", message=f"Not shown: the answer is no picture ({err})."
        )
    common: dict[str, Any] = {
        "data": data,
        "mime": mime,
        "sha256": digest,
        "width": width,
        "height": height,
    }
    if ref.sha256 is None:
        return ImageCheck(
            verdict="unverifiable",
            message=(
                "This picture cannot be checked: the analysis recorded no SHA-256 "
                "(an image sent by URL is fetched by the service, not by the "
                "application). It may not be the picture that was analysed."
            ),
            **common,
        )
    if digest != ref.sha256.lower():
        return ImageCheck(
            verdict="mismatch",
            message=(
                "This is NOT the picture that was analysed: its SHA-256 differs from "
                "the audited one. Do not judge the analysis by it."
            ),
            **common,
        )
    return ImageCheck(
        verdict="match",
        message="This is the picture that was analysed (SHA-256 matches the audit).",
        **common,
    )


# -- the resolvers ---------------------------------------------------------------------


class _Fields(dict[str, str]):
    def __missing__(self, key: str) -> str:
        msg = f"the image URL template names {{{key}}}, which this analysis lacks"
        raise LookupError(msg)


class UrlTemplateResolver:
    """
    Fetches a picture from a URL made from a template over the application's storage.

    Args:
        template: ``http(s)://...`` with ``{sha256}``, ``{analysis_id}``, label
            names and ``{sas}`` (the query string from
            ``$VISION_AUDIT_CONSOLE_IMAGE_SAS``, or *sas*).
        sas: The query string for ``{sas}``; read from the environment if None.
        timeout: Seconds for the request.

    Raises:
        ValueError: The template is not an http(s) URL, or uses a field in a way
            other than ``{name}``.

    .. versionadded:: 0.3.0
    """

    def __init__(
        self, template: str, *, sas: str | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        """Check *template*; keep the SAS out of every representation."""
        scheme = urllib.parse.urlsplit(
            template.replace("{", "").replace("}", "")
        ).scheme
        if scheme.lower() not in {"http", "https"}:
            msg = f"--image-url-template must be an http(s) URL, not {scheme or 'none'}"
            raise ValueError(msg)
        for _, name, spec, conversion in string.Formatter().parse(template):
            if name is not None and (
                not name.isidentifier() or spec or conversion is not None
            ):
                msg = (
                    "--image-url-template fields are plain names such as {sha256}, "
                    f"{{analysis_id}}, {{sas}} or a label's name; not {{{name}}}"
                )
                raise ValueError(msg)
        self.template = template
        self._sas = sas
        self.timeout = timeout

    def __repr__(self) -> str:
        """The template, never the SAS."""
        return f"UrlTemplateResolver({self.template!r})"

    def url(self, ref: ImageRef) -> str:
        """The URL of *ref*'s picture (holding the SAS: never log it)."""
        fields = _Fields(
            {
                name: urllib.parse.quote(value, safe="")
                for name, value in ref.labels.items()
            }
        )
        if ref.sha256 is not None:
            fields["sha256"] = ref.sha256
        fields["analysis_id"] = urllib.parse.quote(ref.analysis_id, safe="")
        if "{sas}" in self.template:
            sas = (
                self._sas
                if self._sas is not None
                else os.environ.get(env.VISION_AUDIT_CONSOLE_IMAGE_SAS, "")
            )
            fields["sas"] = sas.lstrip("?")
        return self.template.format_map(fields)

    def __call__(self, ref: ImageRef) -> bytes | None:
        """The bytes at the URL; None when the storage answers 404."""
        url = self.url(ref)
        request = urllib.request.Request(url, method="GET")  # noqa: S310 - http(s) only
        opener = urllib.request.build_opener(_NoRedirects)
        try:
            with opener.open(request, timeout=self.timeout) as answer:
                data: bytes = answer.read(MAX_IMAGE_BYTES + 1)
        except urllib.error.HTTPError as err:
            err.close()
            if err.code == 404:  # noqa: PLR2004 - HTTP's "not found"
                return None
            # The URL holds the SAS: say the status, never the URL.
            msg = f"the image storage answered HTTP {err.code} {err.reason}"
            raise OSError(msg) from None
        except (OSError, ValueError) as err:
            reason = err.reason if isinstance(err, urllib.error.URLError) else err
            msg = f"the image storage is unreachable: {type(reason).__name__}"
            raise OSError(msg) from None
        return data


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would carry the SAS elsewhere: refuse it."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:  # noqa: ANN401
        """Follow no redirect."""
        return


class FolderResolver:
    """
    Finds a picture in a folder of the application's images by its SHA-256.

    The folder is indexed (name by digest) when first asked and again on a miss,
    at most every few seconds; only regular files up to :data:`MAX_IMAGE_BYTES`
    directly in it (or below it) are read.

    .. versionadded:: 0.3.0
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        """Look in *folder*."""
        self.folder = Path(folder)
        if not self.folder.is_dir():
            msg = f"--image-dir {self.folder} is not a folder"
            raise ValueError(msg)
        self._index: dict[str, Path] = {}

    def __repr__(self) -> str:
        """The folder."""
        return f"FolderResolver({str(self.folder)!r})"

    def _scan(self) -> None:
        index: dict[str, Path] = {}
        for path in sorted(self.folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                if path.stat().st_size > MAX_IMAGE_BYTES:
                    continue
                index[hashlib.sha256(path.read_bytes()).hexdigest()] = path
        self._index = index

    def __call__(self, ref: ImageRef) -> bytes | None:
        """The bytes of the file whose SHA-256 is the audited one, or None."""
        if ref.sha256 is None:
            return None
        wanted = ref.sha256.lower()
        if wanted not in self._index:
            self._scan()
        path = self._index.get(wanted)
        return None if path is None else path.read_bytes()


def load_resolver(spec: str) -> ImageResolver:
    """
    The callable that ``module:attribute`` names (``--image-resolver``).

    Raises:
        ValueError: Not ``module:attribute``, not importable, or not callable.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        msg = f"--image-resolver takes module:callable, not {spec!r}"
        raise ValueError(msg)
    try:
        found: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as err:
        msg = f"--image-resolver {spec}: {err}"
        raise ValueError(msg) from err
    if not callable(found):
        msg = f"--image-resolver {spec} is not callable"
        raise ValueError(msg)  # noqa: TRY004 - a bad option's value, as the others
    return found  # type: ignore[no-any-return] # the user's callable, as documented
