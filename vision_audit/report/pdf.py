"""
HTML to an archival, tagged PDF/A-3a through WeasyPrint, with a locked-down fetcher.

The fetcher serves ``data:`` URLs (the inline charts) and files inside the templates
folder, and refuses everything else: no network, no other file. The PDF carries the
report's JSON as an attachment, its identifier is derived from the report id and its
dates from the period, so the same report gives the same bytes.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote, urlsplit

from PIL import ImageFile
from weasyprint import HTML, Attachment, URLFetcher  # type: ignore[import-untyped]
from weasyprint.urls import URLFetcherResponse  # type: ignore[import-untyped]

from vision_audit.exceptions import ReportRenderError

# Importing WeasyPrint sets Pillow's process-wide LOAD_TRUNCATED_IMAGES, which would
# make the emulator (and any application in this process) accept truncated uploads.
# Reports hold no raster image, so Pillow's default is restored.
ImageFile.LOAD_TRUNCATED_IMAGES = False

if TYPE_CHECKING:
    from collections.abc import Iterator

    from vision_audit.report.aggregate import ReportData

__all__ = ["DEFAULT_PDF_OPTIONS", "TemplateOnlyFetcher", "URLRefusedError", "write_pdf"]

DEFAULT_PDF_OPTIONS: Final[dict[str, Any]] = {
    # Level A of PDF/A-3: archival (ISO 19005-3) and tagged, so that a screen
    # reader gets headings, tables with header cells, figures with alternative
    # text, the document's language and its reading order. PDF/A-3, because it
    # allows the report's JSON as an associated file.
    "pdf_variant": "pdf/a-3a",
    "uncompressed_pdf": False,
    "pdf_tags": True,
}
"""Options passed to ``write_pdf``; callers overlay their own."""

ATTACHMENT_NAME: Final = "report.json"
_EPOCH: Final = "SOURCE_DATE_EPOCH"


class URLRefusedError(ValueError):
    """The report asked for a resource outside its templates folder."""


class TemplateOnlyFetcher(URLFetcher):  # type: ignore[misc] # WeasyPrint is untyped
    """
    Fetches ``data:`` URLs and files under one folder; refuses anything else.

    Args:
        root: The only folder whose files may be read.

    .. versionadded:: 0.1.0
    """

    def __init__(self, root: Path) -> None:
        """Allow *root* and nothing else."""
        super().__init__(allowed_protocols=("file", "data"), allow_redirects=False)
        self.root = root.resolve()
        self.refused: list[str] = []

    def fetch(self, url: str, headers: Any = None) -> Any:  # noqa: ANN401
        """Serve *url* when allowed; raise :class:`URLRefusedError` otherwise."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme == "data":
            return super().fetch(url, headers)
        if scheme == "file" and not parts.netloc:
            path = Path(unquote(parts.path)).resolve()
            if path.is_relative_to(self.root) and path.is_file():
                kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                return URLFetcherResponse(
                    url, body=path.read_bytes(), headers={"Content-Type": kind}
                )
        self.refused.append(url)
        msg = f"refused {url[:200]!r}: reports load only files of their templates"
        raise URLRefusedError(msg)


def write_pdf(
    html: str,
    data: ReportData,
    out: Path,
    *,
    templates: Path,
    options: dict[str, Any] | None = None,
) -> Path:
    """
    Write *html* as a PDF at *out*, with the report's JSON attached.

    Args:
        html: The rendered report.
        data: The report's figures: id, period and JSON.
        out: Where to write.
        templates: The templates folder, the only one resources may come from.
        options: Overlay on :data:`DEFAULT_PDF_OPTIONS` (e.g.
            ``uncompressed_pdf=True``).

    Returns:
        *out*.

    Raises:
        ReportRenderError: WeasyPrint failed, or *out* cannot be written.

    .. versionadded:: 0.1.0
    """
    fetcher = TemplateOnlyFetcher(templates)
    settings = {**DEFAULT_PDF_OPTIONS, **(options or {})}
    identifier = hashlib.sha256(data.report_id.encode()).hexdigest()[:32].encode()
    period_end = _period_end(data)
    attachment = Attachment(
        string=data.to_json(),
        name=ATTACHMENT_NAME,
        description=f"Figures of report {data.report_id} (JSON, {data.schema})",
        created=period_end,
        modified=period_end,
        relationship="Data",
        url_fetcher=fetcher,
    )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with _source_date(period_end):
            document = HTML(
                string=html, base_url=templates.as_uri() + "/", url_fetcher=fetcher
            ).render()
            document.write_pdf(
                out, pdf_identifier=identifier, attachments=[attachment], **settings
            )
    except OSError as err:
        msg = f"cannot write {out}: {err}"
        raise ReportRenderError(msg) from err
    return out


@contextmanager
def _source_date(moment: datetime) -> Iterator[None]:
    """
    Fix the timestamps font subsetting writes into embedded fonts.

    Without HarfBuzz-Subset, WeasyPrint subsets fonts with fontTools, which stamps
    each font's ``head.modified`` with the current time unless
    ``SOURCE_DATE_EPOCH`` is set (the reproducible-builds convention).
    """
    previous = os.environ.get(_EPOCH)
    os.environ[_EPOCH] = str(int(moment.timestamp()))
    try:
        yield
    finally:
        if previous is None:
            del os.environ[_EPOCH]
        else:
            os.environ[_EPOCH] = previous


def _period_end(data: ReportData) -> datetime:
    """When the report was made: its PDF's creation and modification date."""
    return datetime.strptime(data.generated_iso, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=UTC
    )
