"""The ``vision-audit report`` command."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from vision_audit._commands import (
    EXIT_CHECK_FAILED,
    EXIT_OK,
    STORE_HELP,
    UsageError,
    error,
    guarded,
    open_existing_store,
    store_url,
)

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from vision_audit.report.aggregate import ReportData

__all__ = ["add_report_commands"]


def _load_public_keys(paths: list[str] | None) -> list[Ed25519PublicKey] | None:
    """The keys of ``--public-key``, read as ``vision-audit verify`` reads them."""
    from vision_audit.store._keys import read_public_key_files  # noqa: PLC0415

    try:
        return read_public_key_files(paths)
    except ValueError as err:
        msg = f"--public-key: {err}"
        raise UsageError(msg) from err


def _output(value: str) -> Path:
    """The file ``--out`` names; a folder is refused, never written over."""
    target = Path(value)
    if value.endswith(("/", os.sep)) or target.is_dir():
        msg = (
            f"--out {value} is a folder; give a file name in it, such as "
            f"{target / 'report.pdf'}"
        )
        raise UsageError(msg)
    return target


def _build(
    args: argparse.Namespace,
    url: str,
    keys: list[Ed25519PublicKey] | None,
    progress: Callable[[str], None],
) -> tuple[Path, ReportData]:
    """The report's figures (with the trusted keys of ``--public-key``), written."""
    from vision_audit.report import build_report, write_report  # noqa: PLC0415

    target = _output(args.out)
    data = build_report(
        url,
        since=args.since,
        until=args.until,
        organization=args.organization,
        title=args.title,
        progress=progress,
        verify_content=not args.skip_content_digests,
        public_keys=keys,
        mappings=args.mappings or (),
    )
    written = write_report(
        data,
        out=target,
        format=args.format,
        templates=args.templates,
        progress=progress,
    )
    return written, data


def _report(args: argparse.Namespace) -> int:
    url = store_url(args)
    open_existing_store(url, read_only=True).close()  # a missing store is named
    started = time.perf_counter()

    def progress(message: str) -> None:
        if not args.quiet:
            elapsed = time.perf_counter() - started
            sys.stderr.write(f"[{elapsed:6.1f} s] {message}\n")

    keys = _load_public_keys(args.public_key)
    written, data = _build(args, url, keys, progress)
    sys.stdout.write(f"{written}\n")
    integrity = data.integrity
    if not integrity.verified:
        # The report is written for the record, but a scheduler must notice.
        where = (
            f" at sequence {integrity.bad_sequence} ({integrity.damage})"
            if integrity.bad_sequence != "n/a"
            else ""
        )
        error(
            "report",
            f"the store did not verify{where}: {integrity.message}; the report was "
            f"written and says NOT VERIFIED on its cover",
        )
        return EXIT_CHECK_FAILED
    return EXIT_OK


def add_report_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg] # argparse's private generic
    """
    Add ``report`` to the ``vision-audit`` command.

    Exit codes: 0 written and the store verified; 1 the store cannot be read, or
    it did not verify (the report is still written and says so on its cover, and a
    line on standard error says why); 2 bad usage.
    """
    report = commands.add_parser(
        "report",
        help="write the compliance report (tagged PDF/A-3a or HTML) of a period",
        description=(
            "Verify the audit store, aggregate the period's events in the database and "
            "write a compliance report for legal review: tagged PDF/A-3a with its "
            "figures attached as JSON, or HTML. Guidance and regulation maps "
            "(Microsoft's Image Analysis guidance, EU AI Act, GDPR, and your own with "
            "--mappings) give each item a status and the page of its evidence. The "
            "same store state and options give a byte-identical PDF. A store that "
            "does not verify still gets a report, which says so on its cover, and "
            "the command then exits 1. Exit codes: 0 written and verified, 1 not "
            "verified or the store cannot be read, 2 bad usage."
        ),
    )
    report.add_argument(
        "--store",
        default=None,
        metavar="URL",
        help=STORE_HELP,
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
    report.add_argument(
        "--out", required=True, metavar="FILE", help="file to write (not a folder)"
    )
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
        "--public-key",
        action="append",
        metavar="FILE",
        help=(
            "trust checkpoints signed by this public key (PEM), as vision-audit "
            "verify does; repeatable. Without it, the keys recorded in the store "
            "are used, which proves consistency but not who signed"
        ),
    )
    report.add_argument(
        "--mappings",
        action="append",
        metavar="DIR",
        help=(
            "a folder of your own guidance or regulation maps (*.toml, one "
            "framework a file; schema in docs/report.md), added to the shipped "
            "ones; a framework id already mapped is replaced. Repeatable"
        ),
    )
    report.add_argument(
        "--quiet", action="store_true", help="no progress on standard error"
    )
    report.set_defaults(handler=guarded("report", _report))
