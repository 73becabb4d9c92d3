"""The ``vision-audit report`` command."""

from __future__ import annotations

import logging
import os
import sys
import time
from datetime import UTC
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
    out,
    store_url,
)

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from vision_audit.report.aggregate import ReportData
    from vision_audit.report.signing import ReportSigner, SignatureCheck

__all__ = ["add_report_commands"]


def _load_public_keys(paths: list[str] | None) -> list[Ed25519PublicKey] | None:
    """The keys of ``--public-key``, read as ``vision-audit verify`` reads them."""
    from vision_audit.store._keys import read_public_key_files  # noqa: PLC0415

    try:
        return read_public_key_files(paths)
    except ValueError as err:
        msg = f"--public-key: {err}"
        raise UsageError(msg) from err


def _load_signer(args: argparse.Namespace) -> ReportSigner | None:
    """
    The signer of ``--sign-key`` (and ``--sign-cert``), checked before any work.

    Its password comes from the environment variable ``--sign-key-password-env``
    names: a secret never stands in a command line.
    """
    if args.sign_key is None:
        for given, option in (
            (args.sign_cert, "--sign-cert"),
            (args.sign_key_password_env, "--sign-key-password-env"),
        ):
            if given is not None:
                msg = f"{option} needs --sign-key FILE: the key that signs"
                raise UsageError(msg)
        return None
    if args.format != "pdf":
        msg = "--sign-key signs a PDF; an HTML report (--format html) cannot be signed"
        raise UsageError(msg)
    password = None
    if args.sign_key_password_env is not None:
        password = os.environ.get(args.sign_key_password_env)
        if password is None:
            msg = (
                f"--sign-key-password-env {args.sign_key_password_env}: that "
                "environment variable is not set"
            )
            raise UsageError(msg)
    from vision_audit.exceptions import ReportRenderError  # noqa: PLC0415
    from vision_audit.report.signing import ReportSigner  # noqa: PLC0415

    try:
        signer = ReportSigner.from_files(
            args.sign_key, args.sign_cert, password=password
        )
        signer.check_valid()
    except ReportRenderError as err:  # each message names the file at fault
        raise UsageError(str(err)) from err
    return signer


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
    signer: ReportSigner | None = None,
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
        compare=not args.no_comparison,
    )
    written = write_report(
        data,
        out=target,
        format=args.format,
        templates=args.templates,
        progress=progress,
        signer=signer,
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
    signer = _load_signer(args)
    written, data = _build(args, url, keys, progress, signer)
    sys.stdout.write(f"{written}\n")
    if signer is not None:
        progress(f"signed by {signer.name} (PAdES B-B), report {data.report_id}")
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


def _verify_pdf(args: argparse.Namespace) -> int:
    from vision_audit.report.signing import (  # noqa: PLC0415
        read_certificates,
        verify_report_signature,
    )

    if not Path(args.file).is_file():
        msg = f"no report at {args.file}"
        raise UsageError(msg)
    trusted = [c for path in args.cert for c in read_certificates(path)]
    # pyHanko logs each failed path with a traceback; the findings are printed
    # below, once, as sentences.
    for name in ("pyhanko", "pyhanko_certvalidator"):
        logging.getLogger(name).addHandler(logging.NullHandler())
    check = verify_report_signature(args.file, trusted=trusted)
    if not check.signed:
        for problem in check.problems:
            error("verify-pdf", problem)
        out(f"{args.file}: NOT VALID")
        return EXIT_CHECK_FAILED
    when = (
        f"{check.signed_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC (the signer's "
        "clock; no time stamp)"
        if check.signed_at is not None
        else "not stated"
    )
    for label, value in (
        ("report", check.report_id or "not found"),
        ("signer", check.signer or "none"),
        ("signed at", when),
        ("signature", _yes(check.intact, "intact", "does NOT match the file")),
        ("trust", _trust(check)),
        ("coverage", _yes(check.whole_file, "the whole file", "NOT the whole file")),
        ("PDF/A", f"PDF/A-{check.pdfa}" if check.pdfa else "none declared"),
        ("figures", _yes(check.attached, "report.json attached", "NOT attached")),
    ):
        out(f"{label + ':':<11} {value}")
    if check.valid:
        out(f"{args.file}: VALID")
        return EXIT_OK
    for problem in check.problems:
        error("verify-pdf", problem)
    out(f"{args.file}: NOT VALID")
    return EXIT_CHECK_FAILED


def _trust(check: SignatureCheck) -> str:
    if not check.intact:
        return "not checked (the signature does not match)"
    return _yes(check.trusted, "leads to a given certificate", "NOT trusted")


def _yes(holds: bool, good: str, bad: str) -> str:  # noqa: FBT001 - a verdict
    return good if holds else bad


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
        "--no-comparison",
        action="store_true",
        help=(
            "leave out the comparison with the previous period of the same length "
            "(which is aggregated too)"
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
    signing = report.add_argument_group(
        "signing (PAdES B-B; needs the sign extra)",
        "Sign the PDF so that its recipient can check it is the one written here "
        "(vision-audit verify-pdf). The signature is an incremental update after "
        "the unsigned PDF, which stays PDF/A-3a with its JSON, byte for byte; it "
        "covers the whole file and its reason names the report id. Try it with "
        "the key and self-signed certificate of vision-audit keygen "
        "--report-signing.",
    )
    signing.add_argument(
        "--sign-key",
        metavar="FILE",
        help=(
            "private key (PEM or DER; RSA, or ECDSA P-256/384/521), or a PKCS#12 "
            "file (.p12, .pfx) holding the key and its certificate"
        ),
    )
    signing.add_argument(
        "--sign-cert",
        metavar="FILE",
        help=(
            "the key's X.509 certificate (PEM, its issuers after it; or DER); "
            "optional with a PKCS#12 key"
        ),
    )
    signing.add_argument(
        "--sign-key-password-env",
        metavar="VAR",
        help=(
            "the environment variable holding the key's or PKCS#12 file's "
            "password (a password never goes on the command line)"
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

    verify_pdf = commands.add_parser(
        "verify-pdf",
        help="check a signed report against the signer's certificate",
        description=(
            "Check the PAdES signature of a report written with vision-audit report "
            "--sign-key, as its recipient does: pyHanko's validator checks that the "
            "signature matches the file, that the signer's certificate leads to a "
            "certificate you trust (--cert: the signer's own, obtained apart from "
            "the report, or its root) and is valid now, and that the signature "
            "covers the whole file; then the PDF/A-3 identification and the "
            "attached figures are read. Nothing is fetched from the network. Exit "
            "codes: 0 valid, 1 not valid (each reason on standard error), 2 bad "
            "usage."
        ),
    )
    verify_pdf.add_argument("file", metavar="REPORT.pdf", help="the signed report")
    verify_pdf.add_argument(
        "--cert",
        action="append",
        required=True,
        metavar="FILE",
        help="a certificate to trust (PEM or DER); repeatable",
    )
    verify_pdf.set_defaults(handler=guarded("verify-pdf", _verify_pdf))
