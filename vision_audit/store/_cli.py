"""The store's commands: verify, export, purge, erase-subject and keygen."""

from __future__ import annotations

import getpass
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final

from vision_audit import environment_variables as env
from vision_audit._commands import (
    EXIT_CHECK_FAILED,
    EXIT_OK,
    STORE_HELP,
    UsageError,
    guarded,
    new_key_files,
    open_existing_store,
    out,
    say,
    store_url,
)
from vision_audit._text import counted
from vision_audit._time import parse_duration, parse_moment
from vision_audit.models import utc_now

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from vision_audit.store._base import BaseAuditStore

__all__ = ["add_store_commands", "parse_age", "parse_moment"]


_PROGRESS_SECONDS: Final = 1.0
_DATA_CLASSES: Final = ("caption", "dense_captions", "read_text", "subject_ref")
"""The content members the instrumentation records, and raw subject references."""


def parse_age(text: str) -> timedelta:
    """
    An age such as ``30d``, ``12h`` or ``1d12h``, as a policy's retention reads.

    ``0d`` (or ``0``) means all content recorded until now.

    Raises:
        ValueError: *text* is not a duration, or reaches back before the year 1.
    """
    if text.strip() in {"0", "0s", "0m", "0h", "0d", "0w", "0y"}:
        return timedelta(0)  # everything recorded until now
    age = parse_duration(text)
    try:
        datetime.now(UTC) - age  # the cutoff must be a date too
    except OverflowError as err:
        msg = (
            f"the age {text.strip()} reaches back before the year 1; give a shorter one"
        )
        raise ValueError(msg) from err
    return age


def _progress(command: str, *, quiet: bool) -> Callable[[int], None] | None:
    if quiet:
        return None
    started = time.monotonic()
    last = [started]

    def report(count: int) -> None:
        now = time.monotonic()
        if now - last[0] >= _PROGRESS_SECONDS:
            last[0] = now
            rate = count / (now - started)
            say(command, f"{count:,} events checked ({rate:,.0f}/s)...")

    return report


# -- commands ----------------------------------------------------------------------


def _verify(args: argparse.Namespace) -> int:
    from vision_audit.store._cli_evidence import verify_command  # noqa: PLC0415

    return verify_command(args)


def _prove(args: argparse.Namespace) -> int:
    from vision_audit.store._cli_evidence import prove_command  # noqa: PLC0415

    return prove_command(args)


def _checkpoint(args: argparse.Namespace) -> int:
    from vision_audit.store._cli_evidence import checkpoint_command  # noqa: PLC0415

    return checkpoint_command(args)


def _export(args: argparse.Namespace) -> int:
    from vision_audit.store._export import export_jsonl  # noqa: PLC0415

    since = parse_moment(args.since) if args.since else None
    until = parse_moment(args.until, end=True) if args.until else None
    if since is not None and until is not None and until <= since:
        msg = (
            f"nothing to export: --until {args.until} is not after --since {args.since}"
        )
        raise UsageError(msg)
    store = open_existing_store(store_url(args), read_only=True)
    try:
        # An export carries what the store holds; it says so when that does not
        # verify, rather than hand a damaged log on in silence.
        checked = store.verify()
        if args.output in {None, "-"}:
            count = export_jsonl(
                store, sys.stdout, since=since, until=until, exported_at=utc_now()
            )
            sys.stdout.flush()
        else:
            with Path(args.output).open("w", encoding="utf-8", newline="\n") as out:
                count = export_jsonl(
                    store, out, since=since, until=until, exported_at=utc_now()
                )
    finally:
        store.close()
    where = "standard output" if args.output in {None, "-"} else args.output
    say("export", f"{counted(count, 'event')} of {store.name} written to {where}")
    if not checked.ok:
        say(
            "export",
            f"error: the store does NOT verify (sequence {checked.sequence}: "
            f"{checked.kind}: {checked.message}); the export holds the log as "
            "stored, damage included",
        )
        return EXIT_CHECK_FAILED
    return EXIT_OK


def _warn_lingering(command: str, store: BaseAuditStore) -> None:
    if store.wipe_pending:
        say(
            command,
            "warning: the storage still keeps older copies of the removed content "
            "(a reader held an older snapshot, or VACUUM was not permitted); they "
            "go when the storage next reclaims them",
        )


def _actor(args: argparse.Namespace) -> str | None:
    if args.actor:
        return str(args.actor)
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # pragma: no cover - no user name in this process
        return "cli"


def _purge(args: argparse.Namespace) -> int:
    age = parse_age(args.older_than)
    store = open_existing_store(store_url(args), read_only=False)
    try:
        if args.data_class is not None:
            accepted = {*_DATA_CLASSES, *store._recorded_data_classes()}  # noqa: SLF001 - this module is the store's
            if args.data_class not in accepted:
                msg = (
                    f"unknown data class {args.data_class!r}: give one of "
                    f"{', '.join(sorted(accepted))}"
                )
                raise UsageError(msg)
        recorded = store.purge_content(
            older_than=age, data_class=args.data_class, actor=_actor(args)
        )
    finally:
        store.close()
    _warn_lingering("purge", store)
    data = recorded.event.data
    what = f"data class {args.data_class!r}" if args.data_class else "all data classes"
    out(
        f"purged {counted(data['records'], 'content record')} of "
        f"{counted(data['events'], 'event')} "
        f"older than {data['older_than']} ({what}); recorded as sequence "
        f"{recorded.sequence} ({recorded.event.type})"
    )
    return EXIT_OK


def _erase_subject(args: argparse.Namespace) -> int:
    ref = args.ref
    if ref == "-":
        ref = sys.stdin.readline().rstrip("\r\n")
    if not ref:
        msg = "the subject reference is empty"
        raise UsageError(msg)
    store = open_existing_store(store_url(args), read_only=False)
    try:
        recorded = store.erase_subject(ref, actor=_actor(args))
    finally:
        store.close()
    _warn_lingering("erase-subject", store)
    data = recorded.event.data
    if not data["records"]:
        say(
            "erase-subject",
            "warning: no personal content matched this subject reference (check how "
            "the application spelled it); the request is recorded all the same",
        )
    out(
        f"erased {counted(data['records'], 'content record')} of "
        f"{counted(data['events'], 'event')} "
        f"of subject {recorded.event.subject_ref}; recorded as sequence "
        f"{recorded.sequence} ({recorded.event.type})"
    )
    return EXIT_OK


def _report_signing_keygen(args: argparse.Namespace) -> int:
    """A key and a self-signed certificate that sign reports, to try signing."""
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415

    from vision_audit.report.signing import (  # noqa: PLC0415
        DEFAULT_CERTIFICATE_DAYS,
        DEFAULT_SUBJECT,
        make_signing_certificate,
        write_signing_files,
    )

    if args.public:
        msg = (
            "--public exports the checkpoint key's public half; a report signing "
            "key's public half is its certificate, written beside it"
        )
        raise UsageError(msg)
    days = DEFAULT_CERTIFICATE_DAYS if args.days is None else args.days
    subject = DEFAULT_SUBJECT if args.subject is None else args.subject
    if days < 1:
        msg = f"--days {days}: a certificate is valid for one day or more"
        raise UsageError(msg)
    if not subject.strip():
        msg = "--subject is empty: give the certificate a name"
        raise UsageError(msg)
    private, certificate_file = new_key_files(args.output, ".crt")
    key, certificate = make_signing_certificate(subject, days=days)
    write_signing_files(
        key, certificate, key_file=private, certificate_file=certificate_file
    )
    fingerprint = certificate.fingerprint(hashes.SHA256()).hex(":").upper()
    out(
        f"report signing key (RSA {key.key_size}) and self-signed certificate for "
        f"{subject!r}, valid until {certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    )
    out(
        f"  private:     {private} (mode 600): vision-audit report ... --sign-key "
        f"{private} --sign-cert {certificate_file}"
    )
    out(
        f"  certificate: {certificate_file}: give it to the report's recipients, for "
        f"vision-audit verify-pdf REPORT.pdf --cert {certificate_file}"
    )
    out(f"  SHA-256 fingerprint: {fingerprint}")
    out("  (tell it to them by another channel, so they know the certificate is yours)")
    return EXIT_OK


def _keygen(args: argparse.Namespace) -> int:
    if args.report_signing:
        return _report_signing_keygen(args)
    for given, option in ((args.subject, "--subject"), (args.days, "--days")):
        if given is not None:
            msg = f"{option} is for a certificate: add --report-signing"
            raise UsageError(msg)
    from vision_audit.store._keys import (  # noqa: PLC0415
        generate_signing_key,
        key_id,
        private_key_pem,
        public_key_pem,
        signing_key_from_environment,
        write_new_file,
    )

    if args.public:
        try:
            key = signing_key_from_environment()
        except ValueError as err:
            raise UsageError(str(err)) from err
        if key is None:
            msg = (
                f"no signing key configured: set {env.VISION_AUDIT_SIGNING_KEY_FILE} "
                f"or {env.VISION_AUDIT_SIGNING_KEY}"
            )
            raise UsageError(msg)
        pem = public_key_pem(key.public_key())
        if args.output in {None, "-"}:
            sys.stdout.write(pem.decode("ascii"))
        else:
            Path(args.output).write_bytes(pem)
            say(
                "keygen",
                f"public key {key_id(key.public_key())} written to {args.output}",
            )
        return EXIT_OK
    private, public = new_key_files(args.output, ".pub")
    key = generate_signing_key()
    write_new_file(private, private_key_pem(key), mode=0o600)
    write_new_file(public, public_key_pem(key.public_key()), mode=0o644)
    out(
        f"signing key {key_id(key.public_key())}\n"
        f"  private: {private} (mode 600): give it to the writers, e.g. "
        f"{env.VISION_AUDIT_SIGNING_KEY_FILE}={private}\n"
        f"  public:  {public}: give it to auditors, for "
        f"vision-audit verify --public-key {public}"
    )
    return EXIT_OK


def add_store_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """
    Add ``verify``, ``export``, ``purge``, ``erase-subject`` and ``keygen``.

    Args:
        commands: The ``vision-audit`` command's sub-parsers.

    .. versionadded:: 0.1.0
    """
    verify = commands.add_parser(
        "verify",
        help="check the audit log against the keys you trust",
        description=(
            "Check every link of the hash chain, every personal content digest, the "
            "Merkle tree and every checkpoint and cosignature, of a store, an "
            "exported file or an evidence bundle, against the keys you trust: the "
            "log's public key (who wrote it) and the witnesses' keys (who saw it; "
            "only they hold against the log's operator). Exits 1 naming the first "
            "bad sequence number and the kind of damage (changed, inserted, deleted, "
            "reordered, truncated, bad-signature, unsigned, not-witnessed), and "
            "exits 1 too when no trusted key was given, unless --links-only."
        ),
    )
    source = verify.add_mutually_exclusive_group()
    source.add_argument("--store", metavar="URL", help=STORE_HELP)
    source.add_argument(
        "--file", metavar="EXPORT", help="verify a file made by vision-audit export"
    )
    source.add_argument(
        "--bundle", metavar="FILE", help="verify a file made by vision-audit prove"
    )
    verify.add_argument(
        "--public-key",
        action="append",
        metavar="FILE",
        help=(
            "the log's public key (PEM, or a name+hash+key verifier key): "
            "checkpoints must be signed by it; repeatable"
        ),
    )
    verify.add_argument(
        "--witness-key",
        action="append",
        metavar="FILE",
        help=(
            "a witness's verifier key (from vision-audit witness keygen): the log "
            "must be held by checkpoints it cosigned; repeatable"
        ),
    )
    verify.add_argument(
        "--min-witnesses",
        type=int,
        metavar="N",
        help="how many of the witnesses must cosign one checkpoint (default 1)",
    )
    verify.add_argument(
        "--trusted-checkpoint",
        action="append",
        metavar="NOTE",
        help=(
            "a checkpoint note kept from before (e.g. from vision-audit witness "
            "show): the log must extend it; repeatable"
        ),
    )
    verify.add_argument(
        "--tsa-cert",
        action="append",
        metavar="PEM",
        help=(
            "the time-stamping authority's certificate (its root): check the "
            "checkpoints' RFC 3161 time stamps against it"
        ),
    )
    verify.add_argument(
        "--origin",
        metavar="NAME",
        help=(
            "the log you mean to verify (its checkpoints' first line): another "
            "log fails, even one its witnesses also follow"
        ),
    )
    verify.add_argument(
        "--links-only",
        action="store_true",
        help=(
            "with no key at all: check links, tree and consistency only, and say "
            "OK although authenticity was not checked"
        ),
    )
    verify.add_argument(
        "--no-content",
        action="store_true",
        help=(
            "check links, tree and signatures only: neither personal content "
            "against its digests nor each envelope's canonical form (several "
            "times faster)"
        ),
    )
    verify.add_argument("--quiet", action="store_true", help="no progress on stderr")
    verify.set_defaults(handler=guarded("verify", _verify))

    export = commands.add_parser(
        "export",
        help="write the chain and its checkpoints to a file a third party can verify",
        description=(
            "Write the audit chain (envelopes, hashes, signed checkpoints, public "
            "keys; never personal content) as JSON Lines. Check it anywhere with "
            "vision-audit verify --file."
        ),
    )
    export.add_argument("--store", metavar="URL", help=STORE_HELP)
    export.add_argument(
        "--format", choices=["jsonl"], default="jsonl", help="(default: jsonl)"
    )
    export.add_argument(
        "--since",
        metavar="TIME",
        help="from the first event at or after this date or ISO time (UTC by default)",
    )
    export.add_argument(
        "--until",
        metavar="TIME",
        help=("up to the last event before this time; a bare date includes that day"),
    )
    export.add_argument(
        "--output", metavar="FILE", help="write here (default: standard output)"
    )
    export.set_defaults(handler=guarded("export", _export))

    prove = commands.add_parser(
        "prove",
        help="write the evidence that one event or analysis is in the log",
        description=(
            "Write an evidence bundle: the events of an event id or analysis id, "
            "each with its Merkle inclusion proof to a checkpoint and that "
            "checkpoint with its witnesses' cosignatures. It discloses nothing of "
            "other events. Check it offline with vision-audit verify --bundle."
        ),
    )
    prove.add_argument("id", metavar="ID", help="an event id or an analysis id")
    prove.add_argument("--store", metavar="URL", help=STORE_HELP)
    prove.add_argument(
        "--output", metavar="FILE", help="write here (default: standard output)"
    )
    prove.add_argument(
        "--with-content",
        action="store_true",
        help="add the personal content that remains (caption, text), with its salts",
    )
    prove.set_defaults(handler=guarded("prove", _prove))

    checkpoint = commands.add_parser(
        "checkpoint",
        help="sign a checkpoint of the log now (and time-stamp it)",
        description=(
            "Sign the log's head now with the writer's key "
            f"({env.VISION_AUDIT_SIGNING_KEY_FILE}) and print the checkpoint note; "
            "with --tsa-url, also get an RFC 3161 time stamp of it from a "
            "time-stamping authority and keep it with the checkpoint."
        ),
    )
    checkpoint.add_argument("--store", metavar="URL", help=STORE_HELP)
    checkpoint.add_argument(
        "--tsa-url",
        metavar="URL",
        help="a time-stamping authority (RFC 3161 over HTTP)",
    )
    checkpoint.add_argument(
        "--witness-url",
        action="append",
        metavar="URL",
        help=(
            "a witness to send the checkpoint to (vision-audit witness serve, or "
            "any C2SP tlog-witness); repeatable"
        ),
    )
    checkpoint.set_defaults(handler=guarded("checkpoint", _checkpoint))

    purge = commands.add_parser(
        "purge",
        help="delete personal content older than an age (retention)",
        description=(
            "Delete the personal content (captions, read text, subject references) "
            "of events older than an age, in one data class or all; the chain "
            "still verifies. Records a content.purged event with the counts."
        ),
    )
    purge.add_argument("--store", metavar="URL", help=STORE_HELP)
    purge.add_argument(
        "--older-than",
        required=True,
        metavar="AGE",
        help="e.g. 30d, 12h, 2w, 1y or 1d12h (as a policy's retention is written)",
    )
    purge.add_argument(
        "--data-class",
        metavar="NAME",
        help="only this content member (e.g. caption, text, subject_ref)",
    )
    purge.add_argument("--actor", help="who asks (default: cli:<user>)")
    purge.set_defaults(handler=guarded("purge", _purge))

    erase = commands.add_parser(
        "erase-subject",
        help="delete a data subject's personal content",
        description=(
            "Delete every piece of personal content recorded for a data subject; "
            "the chain still verifies. Records a subject.erased event with the "
            "subject's pseudonym and the counts. Give - to read the reference from "
            "standard input, out of the shell's history."
        ),
    )
    erase.add_argument("ref", metavar="REF", help="the subject reference, or -")
    erase.add_argument("--store", metavar="URL", help=STORE_HELP)
    erase.add_argument("--actor", help="who asks (default: cli:<user>)")
    erase.set_defaults(handler=guarded("erase-subject", _erase_subject))

    _add_keygen(commands)


def _add_keygen(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Add ``keygen``: checkpoint keys, and report signing keys with certificates."""
    keygen = commands.add_parser(
        "keygen",
        help=(
            "make an Ed25519 checkpoint signing key (or export its public key), or "
            "a report signing key and certificate"
        ),
        description=(
            "Write a new Ed25519 signing key to FILE (mode 600) and its public key "
            f"to FILE.pub. Writers read it from {env.VISION_AUDIT_SIGNING_KEY_FILE} "
            f"or {env.VISION_AUDIT_SIGNING_KEY}; auditors verify with the .pub file. "
            "With --public, write the public key of the key configured in the "
            "environment instead. With --report-signing, write an RSA 3072 key "
            "for signing PDF reports to FILE (mode 600) and a self-signed X.509 "
            "certificate for it to FILE.crt, for vision-audit report --sign-key "
            "FILE --sign-cert FILE.crt: enough to try signing; a report that "
            "others must trust is signed with a certificate from your "
            "organisation's certificate authority. Existing files are never "
            "overwritten."
        ),
    )
    keygen.add_argument(
        "--output", metavar="FILE", help="where to write the key (a new file)"
    )
    keygen.add_argument(
        "--public",
        action="store_true",
        help="export the public key of the configured signing key",
    )
    report_signing = keygen.add_argument_group("report signing")
    report_signing.add_argument(
        "--report-signing",
        action="store_true",
        help=(
            "make a key and a self-signed certificate (FILE.crt) that sign PDF "
            "reports, instead of a checkpoint key"
        ),
    )
    report_signing.add_argument(
        "--subject",
        metavar="NAME",
        help=(
            "the certificate's common name (default: vision-audit report signing "
            "(self-signed))"
        ),
    )
    report_signing.add_argument(
        "--days",
        type=int,
        metavar="N",
        help="how long the certificate is valid (default: 365 days)",
    )
    keygen.set_defaults(handler=guarded("keygen", _keygen))
