"""The evidence commands: verify (store, export, bundle), prove and checkpoint."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final

from vision_audit._commands import (
    EXIT_CHECK_FAILED,
    EXIT_OK,
    UsageError,
    open_existing_store,
    out,
    say,
    store_url,
)
from vision_audit._text import counted, printable
from vision_audit.store._cli import (
    _progress,
)

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from vision_audit.store._base import BaseAuditStore
    from vision_audit.store._chain import Verification
    from vision_audit.store._checkpoints import Checkpoint, Claim
    from vision_audit.store._note import NoteVerifier

__all__ = [
    "checkpoint_command",
    "load_log_keys",
    "load_witness_keys",
    "prove_command",
    "read_file",
    "verify_command",
]

_NO_TRUST: Final = (
    "authenticity was NOT checked: no --public-key, --witness-key or "
    "--trusted-checkpoint was given, so whoever can write the log could have "
    "rewritten it and its checkpoints. Give the log's public key (who wrote it) and "
    "the witnesses' keys (that others saw it), or --links-only to ask for a links-only "
    "check"
)


def read_file(path: str, what: str) -> bytes:
    """The bytes of *path*; a file that cannot be read is bad usage, named."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError as err:
        msg = f"no such {what} file: {path}"
        raise UsageError(msg) from err
    except OSError as err:
        msg = f"cannot read the {what} file {path}: {err.strerror or err}"
        raise UsageError(msg) from err


def load_log_keys(paths: Sequence[str] | None) -> list[Ed25519PublicKey] | None:
    """
    The log keys in *paths*: PEM public keys, or signed-note verifier keys.

    Raises:
        UsageError: A file cannot be read or holds no Ed25519 public key.
    """
    from vision_audit.store._keys import load_public_key  # noqa: PLC0415
    from vision_audit.store._note import (  # noqa: PLC0415
        ED25519,
        NoteError,
        NoteVerifier,
    )

    if not paths:
        return None
    keys = []
    for path in paths:
        data = read_file(path, "public key")
        text = data.decode("utf-8", "replace").strip()
        if "+" in text and "-----BEGIN" not in text:
            try:
                verifier = NoteVerifier.from_vkey(text)
            except NoteError as err:
                msg = f"{path} holds no verifier key: {err}"
                raise UsageError(msg) from err
            if verifier.alg != ED25519:
                msg = (
                    f"{path} is a witness's cosignature key, not the log's key: give "
                    "it with --witness-key"
                )
                raise UsageError(msg)
            keys.append(verifier.public_key)
            continue
        try:
            keys.append(load_public_key(data, source=path))
        except ValueError as err:
            raise UsageError(str(err)) from err
    return keys


def load_witness_keys(paths: Sequence[str] | None) -> list[NoteVerifier]:
    """
    The witnesses' verifier keys (``name+hash+key``, cosignature/v1) in *paths*.

    Raises:
        UsageError: A file cannot be read or holds no cosignature verifier key.
    """
    from vision_audit.store._note import (  # noqa: PLC0415
        COSIGNATURE_V1,
        NoteError,
        NoteVerifier,
    )

    verifiers = []
    for path in paths or ():
        text = read_file(path, "witness key").decode("utf-8", "replace").strip()
        try:
            verifier = NoteVerifier.from_vkey(text)
        except NoteError as err:
            msg = (
                f"{path} holds no witness key (expected the one line that "
                f"`vision-audit witness keygen` prints: name+hash+key): {err}"
            )
            raise UsageError(msg) from err
        if verifier.alg != COSIGNATURE_V1:
            msg = f"{path} is a signing key, not a witness's cosignature key"
            raise UsageError(msg)
        verifiers.append(verifier)
    return verifiers


def _pinned(
    paths: Sequence[str] | None,
    keys: Sequence[Ed25519PublicKey] | None,
    witnesses: Sequence[NoteVerifier],
    min_witnesses: int,
) -> list[Claim]:
    """The checkpoints the user kept from before, checked against the keys given."""
    from vision_audit.store._checkpoints import Claim  # noqa: PLC0415
    from vision_audit.store._note import (  # noqa: PLC0415
        NoteError,
        NoteVerifier,
        open_note,
        parse_checkpoint,
        parse_note,
    )

    claims = []
    for path in paths or ():
        try:
            note = parse_note(read_file(path, "checkpoint"))
            body = parse_checkpoint(note.body)
        except NoteError as err:
            msg = f"{path} is not a checkpoint note: {err}"
            raise UsageError(msg) from err
        signers = [NoteVerifier.for_key(body.origin, key) for key in keys or ()]
        try:
            signed = open_note(note, signers) if signers else []
            cosigned = (
                {v.verifier.name for v in open_note(note, witnesses)}
                if witnesses
                else set()
            )
        except NoteError as err:
            msg = f"the trusted checkpoint {path} does not verify: {err}"
            raise UsageError(msg) from err
        if keys and not signed:
            msg = f"the trusted checkpoint {path} is not signed by the given log key"
            raise UsageError(msg)
        if witnesses and len(cosigned) < min_witnesses:
            msg = (
                f"the trusted checkpoint {path} is not cosigned by {min_witnesses} of "
                "the given witnesses"
            )
            raise UsageError(msg)
        claims.append(
            Claim(
                sequence=body.size,
                root=body.root_hash,
                hash=None,
                source=f"the trusted checkpoint {path}",
                witnesses=frozenset(cosigned) if witnesses else frozenset(),
                signed=bool(signed),
                pinned=True,
            )
        )
    return claims


def _check_timestamps(
    checkpoints: Sequence[Checkpoint], paths: Sequence[str] | None
) -> tuple[list[str], str | None]:
    """Lines about the checkpoints' time-stamp tokens, and the first failure."""
    from vision_audit.store._timestamp import (  # noqa: PLC0415
        TimestampError,
        load_certificates,
        verify_timestamp,
    )

    if not paths:
        return [], None
    certificates: list[bytes] = []
    for path in paths:
        try:
            certificates += load_certificates(
                read_file(path, "certificate"), source=path
            )
        except ValueError as err:
            raise UsageError(str(err)) from err
    lines: list[str] = []
    for checkpoint in checkpoints:
        for token in checkpoint.timestamps:
            try:
                moment = verify_timestamp(
                    token, checkpoint.body.encode("utf-8"), certificates=certificates
                )
            except TimestampError as err:
                return lines, (
                    f"sequence {checkpoint.sequence}: bad-timestamp: the time-stamp "
                    f"token of the checkpoint does not verify: {err}"
                )
            lines.append(
                f"checkpoint {checkpoint.sequence} existed by "
                f"{moment:%Y-%m-%d %H:%M:%S} UTC (RFC 3161 time stamp)"
            )
    if not lines:
        return lines, "no checkpoint carries a time-stamp token"
    return lines, None


def _report(name: str, result: Verification, *, trusted: bool, links_only: bool) -> int:
    for warning in result.warnings:
        if not trusted and "stored in the store itself" in warning:
            continue
        if not trusted and "listed in the export itself" in warning:
            continue
        say("verify", f"warning: {warning}")
    if not result.ok:
        out(
            f"FAILED: {name}: sequence {result.sequence}: {result.kind}: "
            f"{result.message}"
        )
        return EXIT_CHECK_FAILED
    head = (
        f"; head {result.head.sequence} {result.head.hash}"
        if result.head
        else "; empty"
    )
    root = f"; root {result.root}" if result.root else ""
    if result.origin:
        name = f"{name} (log {printable(result.origin)})"
    if trusted:
        out(f"OK: {name}: {result.message}{head}{root}")
        return EXIT_OK
    if links_only:
        out(
            f"OK (links only, authenticity not checked): {name}: {result.message}{head}"
        )
        return EXIT_OK
    out(f"NOT AUTHENTICATED: {name}: {result.message}{head}")
    say("verify", _NO_TRUST)
    return EXIT_CHECK_FAILED


def verify_command(args: argparse.Namespace) -> int:  # noqa: C901, PLR0912, PLR0915
    """``vision-audit verify``: a store, an export or a bundle, held to trusted keys."""
    from vision_audit.store._export import ExportError, read_lines  # noqa: PLC0415

    keys = load_log_keys(args.public_key)
    witnesses = load_witness_keys(args.witness_key)
    min_witnesses = args.min_witnesses
    if min_witnesses is not None and not witnesses:
        msg = "--min-witnesses needs --witness-key"
        raise UsageError(msg)
    min_witnesses = min_witnesses or 1
    if min_witnesses < 1 or min_witnesses > len(witnesses or [None]):
        msg = (
            f"--min-witnesses {min_witnesses}: give a number from 1 to the "
            f"{counted(len(witnesses), 'witness key')} given"
        )
        raise UsageError(msg)
    pinned = _pinned(args.trusted_checkpoint, keys, witnesses, min_witnesses)
    trusted = bool(keys or witnesses or pinned)
    if args.links_only and trusted:
        msg = "--links-only checks no key: give it without keys or checkpoints"
        raise UsageError(msg)
    if args.bundle is not None:
        if pinned:
            msg = (
                "--trusted-checkpoint holds a log or an export, not a bundle: a "
                "bundle carries no proof between its checkpoint and another"
            )
            raise UsageError(msg)
        return _verify_bundle(args, keys, witnesses, min_witnesses)
    progress = _progress("verify", quiet=args.quiet)
    checkpoints: list[Checkpoint] = []
    if args.file is not None:
        from vision_audit.store._export import verify_export  # noqa: PLC0415

        name = args.file
        try:
            with Path(args.file).open("rb") as stream:
                result = verify_export(
                    read_lines(stream),
                    public_keys=keys,
                    witnesses=witnesses,
                    min_witnesses=min_witnesses,
                    pinned=pinned,
                    progress=progress,
                    checkpoints_out=checkpoints,
                )
        except FileNotFoundError as err:
            msg = f"no such file: {args.file}"
            raise UsageError(msg) from err
        except IsADirectoryError as err:
            msg = f"{args.file} is a folder, not an export"
            raise UsageError(msg) from err
        except (ExportError, UnicodeDecodeError) as err:
            out(f"FAILED: {args.file}: not a valid vision-audit export: {err}")
            return EXIT_CHECK_FAILED
    else:
        store = open_existing_store(store_url(args), read_only=True)
        name = store.name
        try:
            result = store.verify(
                public_keys=keys,
                progress=progress,
                content=not args.no_content,
                witnesses=witnesses,
                min_witnesses=min_witnesses,
                pinned=pinned,
            )
            if args.tsa_cert:
                checkpoints = store.list_checkpoints()
        finally:
            store.close()
    if result.ok and args.origin is not None and result.origin != args.origin:
        out(
            f"FAILED: {name}: another-log: this is the log "
            f"{printable(str(result.origin))!r}, not {printable(args.origin)!r}"
        )
        return EXIT_CHECK_FAILED
    status = _report(name, result, trusted=trusted, links_only=args.links_only)
    if result.ok and args.tsa_cert:
        lines, failure = _check_timestamps(checkpoints, args.tsa_cert)
        for line in lines:
            out(f"  {line}")
        if failure is not None:
            out(f"FAILED: {name}: {failure}")
            return EXIT_CHECK_FAILED
    return status


def _verify_bundle(  # noqa: PLR0911 - one exit per outcome
    args: argparse.Namespace,
    keys: list[Ed25519PublicKey] | None,
    witnesses: list[NoteVerifier],
    min_witnesses: int,
) -> int:
    from vision_audit.store._bundle import BundleError, verify_bundle  # noqa: PLC0415

    data = read_file(args.bundle, "bundle")
    try:
        result = verify_bundle(
            data,
            public_keys=keys or (),
            witnesses=witnesses,
            min_witnesses=min_witnesses,
        )
    except BundleError as err:
        out(f"FAILED: {args.bundle}: not a valid evidence bundle: {err}")
        return EXIT_CHECK_FAILED
    if not result.ok:
        out(f"FAILED: {args.bundle}: {result.message}")
        return EXIT_CHECK_FAILED
    if args.origin is not None and result.origin != args.origin:
        out(
            f"FAILED: {args.bundle}: another-log: the bundle proves events of "
            f"{printable(result.origin)!r}, not {printable(args.origin)!r}"
        )
        return EXIT_CHECK_FAILED
    if args.tsa_cert:
        lines, failure = _check_timestamps([_bundle_checkpoint(data)], args.tsa_cert)
        for line in lines:
            out(f"  {line}")
        if failure is not None:
            out(f"FAILED: {args.bundle}: {failure}")
            return EXIT_CHECK_FAILED
    if result.authenticated:
        out(f"OK: {args.bundle}: {printable(result.message)}")
        return EXIT_OK
    if args.links_only:
        out(
            f"OK (proofs only, authenticity not checked): {args.bundle}: "
            f"{printable(result.message)}"
        )
        return EXIT_OK
    out(f"NOT AUTHENTICATED: {args.bundle}: {printable(result.message)}")
    say("verify", _NO_TRUST)
    return EXIT_CHECK_FAILED


def _bundle_checkpoint(data: bytes) -> Checkpoint:
    """The checkpoint a verified bundle carries, with its time-stamp responses."""
    import base64  # noqa: PLC0415
    import json  # noqa: PLC0415
    from datetime import UTC, datetime  # noqa: PLC0415

    from vision_audit.store._checkpoints import Checkpoint  # noqa: PLC0415

    head = json.loads(data)["checkpoint"]
    return Checkpoint(
        sequence=head["sequence"],
        hash="",
        root=head["root"],
        time=datetime.min.replace(tzinfo=UTC),
        key_id="",
        note=head["note"],
        timestamps=tuple(base64.b64decode(t) for t in head["timestamps"]),
    )


def prove_command(args: argparse.Namespace) -> int:
    """``vision-audit prove``: an evidence bundle for one event or analysis."""
    from vision_audit.store._bundle import dump_bundle, make_bundle  # noqa: PLC0415

    if args.output in {None, "-"} and args.with_content:
        msg = (
            "give --output FILE with --with-content: personal content is never printed"
        )
        raise UsageError(msg)
    store = open_existing_store(store_url(args), read_only=True)
    try:
        try:
            bundle = make_bundle(store, args.id, content=args.with_content)
        except LookupError as err:
            say("prove", f"error: {err.args[0]}")
            return EXIT_CHECK_FAILED
    finally:
        store.close()
    text = dump_bundle(bundle)
    events = bundle["events"]
    witnessed = sorted(
        {line.split(" ")[1] for line in bundle["checkpoint"]["note"].splitlines()[4:]}
        - {bundle["origin"]}
    )
    if args.output in {None, "-"}:
        sys.stdout.write(text)
        sys.stdout.flush()
        where = "standard output"
    else:
        Path(args.output).write_text(text, encoding="utf-8")
        where = args.output
    proof = events[0]["proof"]
    say(
        "prove",
        f"{counted(len(events), 'event')} proven to the checkpoint at tree size "
        f"{bundle['checkpoint']['sequence']} ({len(proof)} hashes each, "
        f"{len(text.encode()):,} bytes) "
        + (
            f"cosigned by {', '.join(witnessed)}"
            if witnessed
            else "NOT yet cosigned by any witness"
        )
        + f"; written to {where}. Check it with: vision-audit verify --bundle "
        f"{args.output or 'FILE'} --witness-key WITNESS.vkey",
    )
    return EXIT_OK


def checkpoint_command(args: argparse.Namespace) -> int:
    """``vision-audit checkpoint``: sign the head now, optionally time-stamp it."""
    from vision_audit.store._timestamp import (  # noqa: PLC0415
        TimestampError,
        request_timestamp,
    )

    store = open_existing_store(store_url(args), read_only=False)
    try:
        if store._signing_key is None:  # noqa: SLF001 - the command is the store's
            msg = (
                "no signing key configured: set VISION_AUDIT_SIGNING_KEY_FILE (the "
                "writer's key; `vision-audit keygen` makes one)"
            )
            raise UsageError(msg)
        store.sign_checkpoint()
        checkpoints = store.list_checkpoints()
        if not checkpoints:
            say("checkpoint", "the log is empty: nothing to sign")
            return EXIT_OK
        latest = checkpoints[-1]
        out(latest.signed_note())
        if args.tsa_url:
            try:
                token = request_timestamp(args.tsa_url, latest.body.encode("utf-8"))
            except TimestampError as err:
                say(
                    "checkpoint",
                    f"error: the checkpoint at {latest.sequence} is signed, but not "
                    f"time-stamped: {err}",
                )
                return EXIT_CHECK_FAILED
            store.record_timestamp(latest.sequence, token)
            say(
                "checkpoint",
                f"checkpoint {latest.sequence} time-stamped ({len(token):,} bytes "
                "of RFC 3161 time-stamp response kept with it)",
            )
        return _ask_witnesses(store, args.witness_url or [])
    finally:
        store.close()


def _ask_witnesses(store: BaseAuditStore, urls: Sequence[str]) -> int:
    """Send the latest checkpoint to each witness; exit 1 if one did not cosign."""
    from vision_audit.witness import WitnessRefusedError  # noqa: PLC0415
    from vision_audit.witness._http import (  # noqa: PLC0415
        WitnessUnavailableError,
        submit_checkpoint,
    )

    status = EXIT_OK
    for url in urls:
        try:
            cosignature = submit_checkpoint(store, url)
        except (WitnessRefusedError, WitnessUnavailableError) as err:
            say("checkpoint", f"error: {err}")
            status = EXIT_CHECK_FAILED
            continue
        say(
            "checkpoint",
            f"cosigned by {cosignature.name} at tree size {cosignature.sequence}",
        )
    return status
