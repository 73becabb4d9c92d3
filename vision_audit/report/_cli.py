"""The ``vision-audit report`` command."""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING

from vision_audit import environment_variables as env
from vision_audit.exceptions import ReportRenderError, StoreError

if TYPE_CHECKING:
    import argparse

__all__ = ["add_report_commands"]

_EXIT_OK = 0
_EXIT_FAILED = 1
_EXIT_USAGE = 2


def _report(args: argparse.Namespace) -> int:
    from vision_audit.report import generate_report  # noqa: PLC0415

    url = args.store or os.environ.get(env.VISION_AUDIT_STORE)
    if not url:
        sys.stderr.write(
            f"vision-audit report: error: give --store URL or set "
            f"{env.VISION_AUDIT_STORE}\n"
        )
        return _EXIT_USAGE
    started = time.perf_counter()

    def progress(message: str) -> None:
        if not args.quiet:
            elapsed = time.perf_counter() - started
            sys.stderr.write(f"[{elapsed:6.1f} s] {message}\n")

    try:
        written = generate_report(
            url,
            since=args.since,
            until=args.until,
            out=args.out,
            format=args.format,
            templates=args.templates,
            organization=args.organization,
            title=args.title,
            progress=progress,
            verify_content=not args.skip_content_digests,
        )
    except ReportRenderError as err:
        sys.stderr.write(f"vision-audit report: error: {err}\n")
        return _EXIT_USAGE
    except StoreError as err:
        sys.stderr.write(f"vision-audit report: error: {err}\n")
        return _EXIT_FAILED
    sys.stdout.write(f"{written}\n")
    return _EXIT_OK


def add_report_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg] # argparse's private generic
    """
    Add ``report`` to the ``vision-audit`` command.

    Exit codes: 0 written (even when the store did not verify: the report says so on
    its cover), 1 the store cannot be read, 2 bad usage.
    """
    report = commands.add_parser(
        "report",
        help="write the compliance report (PDF/A-3b or HTML) of a period",
        description=(
            "Verify the audit store, aggregate the period's events in the database and "
            "write a compliance report for legal review: PDF/A-3b with its figures "
            "attached as JSON, or HTML. The same store state and options give a "
            "byte-identical PDF. A store that does not verify still gets a report, "
            "which says so on its cover."
        ),
    )
    report.add_argument(
        "--store",
        default=None,
        metavar="URL",
        help=(
            "store URL, sqlite:///path.db or postgresql://... "
            f"(default: ${env.VISION_AUDIT_STORE})"
        ),
    )
    report.add_argument(
        "--since", required=True, metavar="DATE", help="first day (YYYY-MM-DD) or time"
    )
    report.add_argument(
        "--until",
        required=True,
        metavar="DATE",
        help="last day, included (YYYY-MM-DD), or an ISO time, excluded",
    )
    report.add_argument("--out", required=True, metavar="FILE", help="file to write")
    report.add_argument(
        "--format", choices=("pdf", "html"), default="pdf", help="default: pdf"
    )
    report.add_argument(
        "--templates",
        default=None,
        metavar="DIR",
        help="your own templates folder (report.html.j2, report.css)",
    )
    report.add_argument("--organization", default=None, metavar="NAME")
    report.add_argument("--title", default=None, metavar="TEXT")
    report.add_argument(
        "--skip-content-digests",
        action="store_true",
        help=(
            "verify links and signatures but not personal content against its "
            "digests (faster on large stores; the cover says so)"
        ),
    )
    report.add_argument(
        "--quiet", action="store_true", help="no progress on standard error"
    )
    report.set_defaults(handler=_report)
