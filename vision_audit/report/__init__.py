"""
Compliance reports: one PDF a compliance officer can hand to legal.

:func:`generate_report` runs the stages in order, each in its own module: ``query``
verifies the store and aggregates a period with SQL, ``aggregate`` computes every
figure, ``render`` fills the Jinja2 templates of ``report_templates/``, and ``pdf``
writes a tagged PDF/A-3a with the figures attached as JSON. The guidance and
regulation maps come from TOML files (``mappings``): the shipped ones, and an
organisation's own. The same store state and options give a byte-identical PDF.
Given a :class:`~vision_audit.report.signing.ReportSigner`, ``signing`` signs that
PDF (PAdES B-B) in an incremental update after it.

Usage::

    from vision_audit.report import generate_report

    generate_report(
        "sqlite:///audit.db",
        since="2026-11-01",
        until="2026-11-30",
        out="november.pdf",
        organization="Contoso Claims",
        # optional: sign it (PAdES B-B), with a key and its X.509 certificate
        signer=ReportSigner.from_files("signing.pem", "signing.crt"),
    )
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from vision_audit.exceptions import ReportRenderError
from vision_audit.report.aggregate import ReportData, build_report_data
from vision_audit.report.mappings import load_mappings
from vision_audit.report.query import (
    DEFAULT_EXCEPTION_CAP,
    parse_period,
    query_store,
)
from vision_audit.report.render import find_templates, render_html
from vision_audit.report.signing import ReportSigner, write_signed_pdf

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import date, datetime

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from vision_audit.store.memory import InMemoryAuditStore

__all__ = [
    "ReportData",
    "ReportSigner",
    "build_report",
    "generate_report",
    "write_report",
]


def build_report(
    store_url: str | InMemoryAuditStore,
    *,
    since: str | date | datetime,
    until: str | date | datetime,
    organization: str | None = None,
    title: str | None = None,
    exception_cap: int = DEFAULT_EXCEPTION_CAP,
    progress: Callable[[str], None] | None = None,
    verify_content: bool = True,
    public_keys: Sequence[Ed25519PublicKey] | None = None,
    generated_at: datetime | None = None,
    mappings: Sequence[str | Path] = (),
    compare: bool = True,
) -> ReportData:
    """
    Verify the store and compute every figure of the report, without rendering.

    Args:
        store_url: ``sqlite:///path/audit.db`` or ``postgresql://...``, or an
            ``InMemoryAuditStore`` itself.
        since: First moment of the period (a date, or an ISO-8601 time; UTC when
            no zone is given).
        until: End of the period, excluded; a bare date means the end of that day.
        organization: Who the report is for, on its cover.
        title: The report's title.
        exception_cap: How many exceptions the appendix lists.
        progress: Called with a short message as each stage starts.
        verify_content: Also check personal content against its digests; when
            False, links and signatures only, and the cover says so.
        public_keys: Keys obtained apart from the store, which the checkpoints'
            signatures must verify under; None trusts the keys the store holds.
        generated_at: When the report is made (its date on the cover and in
            the PDF); ``SOURCE_DATE_EPOCH`` when set, else now.
        mappings: Folders of your own guidance or regulation maps (``*.toml``),
            added to the shipped ones; a framework id already mapped is replaced.
        compare: Compare the key figures with the previous period of the same
            length (aggregated too, from the same store).

    Returns:
        The report's figures.

    Raises:
        ReportRenderError: Bad period or store URL.
        MappingError: A mapping folder or file is bad (named, with the item and
            field), before the store is read.
        StoreError: The store cannot be read.

    .. versionadded:: 0.1.0
    """
    frameworks = load_mappings(mappings)  # before the long part: fail early
    facts = query_store(
        store_url,
        parse_period(since, until),
        exception_cap=exception_cap,
        progress=progress,
        verify_content=verify_content,
        public_keys=public_keys,
        compare=compare,
    )
    return build_report_data(
        facts,
        title=title,
        organization=organization,
        generated_at=generated_at,
        frameworks=frameworks,
    )


def generate_report(
    store_url: str | InMemoryAuditStore,
    *,
    since: str | date | datetime,
    until: str | date | datetime,
    out: str | Path,
    format: Literal["pdf", "html"] = "pdf",  # noqa: A002 - the CLI's name
    templates: str | Path | None = None,
    organization: str | None = None,
    title: str | None = None,
    progress: Callable[[str], None] | None = None,
    pdf_options: dict[str, Any] | None = None,
    verify_content: bool = True,
    public_keys: Sequence[Ed25519PublicKey] | None = None,
    generated_at: datetime | None = None,
    mappings: Sequence[str | Path] = (),
    signer: ReportSigner | None = None,
    compare: bool = True,
) -> Path:
    """
    Write the compliance report of *store_url* over a period, as PDF or HTML.

    Args:
        store_url: ``sqlite:///path/audit.db`` or ``postgresql://...``, or an
            ``InMemoryAuditStore`` itself.
        since: First moment of the period (date or ISO-8601 time, UTC by default).
        until: End of the period, excluded; a bare date means the end of that day.
        out: The file to write.
        format: ``pdf`` (tagged PDF/A-3a, figures attached as JSON) or ``html``.
        templates: A folder with your own ``report.html.j2`` (and ``report.css``);
            the shipped templates when None.
        organization: Who the report is for, on its cover.
        title: The report's title.
        progress: Called with a short message as each stage starts.
        pdf_options: Overlay on WeasyPrint's options (e.g.
            ``{"uncompressed_pdf": True}``).
        verify_content: Also check personal content against its digests; when
            False, links and signatures only, and the cover says so.
        public_keys: Keys obtained apart from the store, which the checkpoints'
            signatures must verify under; None trusts the keys the store holds.
        generated_at: When the report is made (its date on the cover and in
            the PDF); ``SOURCE_DATE_EPOCH`` when set, else now.
        mappings: Folders of your own guidance or regulation maps (``*.toml``),
            added to the shipped ones; a framework id already mapped is replaced.
        signer: Signs the PDF (PAdES B-B) when given; see :func:`write_report`.
        compare: Compare the key figures with the previous period of the same
            length.

    Returns:
        The path written.

    Raises:
        ReportRenderError: Bad period, store URL, templates or output file; a
            signer with an HTML report, or whose certificate is not valid now.
        MappingError: A mapping folder or file is bad.
        StoreError: The store cannot be read.

    .. versionadded:: 0.1.0
    """
    _check_format(format, signer)
    folder = find_templates(templates)  # before the long part: fail early
    data = build_report(
        store_url,
        since=since,
        until=until,
        organization=organization,
        title=title,
        progress=progress,
        verify_content=verify_content,
        public_keys=public_keys,
        generated_at=generated_at,
        mappings=mappings,
        compare=compare,
    )
    return write_report(
        data,
        out=out,
        format=format,
        templates=folder,
        progress=progress,
        pdf_options=pdf_options,
        signer=signer,
    )


def _check_format(format: str, signer: ReportSigner | None) -> None:  # noqa: A002 - the CLI's name
    if format not in {"pdf", "html"}:
        msg = f"format must be 'pdf' or 'html', not {format!r}"
        raise ReportRenderError(msg)
    if signer is not None:
        if format != "pdf":
            msg = "only a PDF report can be signed, not an HTML one"
            raise ReportRenderError(msg)
        signer.check_valid()  # before the long part: fail early


def write_report(
    data: ReportData,
    *,
    out: str | Path,
    format: Literal["pdf", "html"] = "pdf",  # noqa: A002 - the CLI's name
    templates: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    pdf_options: dict[str, Any] | None = None,
    signer: ReportSigner | None = None,
) -> Path:
    """
    Render figures from :func:`build_report` to *out*, as PDF or HTML.

    Args:
        data: The report's figures.
        out: The file to write.
        format: ``pdf`` or ``html``.
        templates: Your own templates folder; the shipped templates when None.
        progress: Called with a short message as each stage starts.
        pdf_options: Overlay on WeasyPrint's options.
        signer: Signs the PDF as PAdES baseline B-B: the unsigned PDF, byte for
            byte, then an incremental update with the signature, whose reason
            names the report id. *out* is written signed or not at all.

    Returns:
        The path written.

    Raises:
        ReportRenderError: Bad templates or output file; a signer with an HTML
            report, or whose certificate is not valid now; pyHanko missing.

    .. versionadded:: 0.1.0
    """
    _check_format(format, signer)
    step = progress if progress is not None else (lambda _message: None)
    folder = find_templates(templates)
    step("rendering HTML")
    html = render_html(data, templates=folder)
    target = Path(out)
    if format == "html":
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(html, encoding="utf-8")
        except OSError as err:
            msg = f"cannot write {target}: {err}"
            raise ReportRenderError(msg) from err
        return target
    step("writing PDF" if signer is None else "writing and signing PDF")
    # WeasyPrint (and its system libraries) load only when a PDF is written, so
    # that the command line and the instrumentation start without them.
    try:
        from vision_audit.report.pdf import write_pdf  # noqa: PLC0415
    except ImportError as err:
        msg = (
            f"a PDF report needs WeasyPrint ({err.name or err}): pip install "
            "'vision-audit[report]'"
        )
        raise ReportRenderError(msg) from err

    if signer is None:
        return write_pdf(html, data, target, templates=folder, options=pdf_options)
    return write_signed_pdf(
        html, data, target, templates=folder, options=pdf_options, signer=signer
    )
