"""The ``vision-audit witness`` commands: keygen, cosign, show and serve."""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final

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

if TYPE_CHECKING:
    import argparse

    from vision_audit.witness._witness import Witness

__all__ = ["add_witness_commands"]

_NAME_HELP: Final = (
    "the witness's key name, e.g. compliance.example.com/witness (no spaces, no +)"
)


def _witness(args: argparse.Namespace) -> Witness:
    from vision_audit.store._cli_evidence import (  # noqa: PLC0415
        load_log_keys,
        read_file,
    )
    from vision_audit.store._keys import load_private_key  # noqa: PLC0415
    from vision_audit.store._note import NoteError, NoteVerifier  # noqa: PLC0415
    from vision_audit.witness._witness import Witness  # noqa: PLC0415

    data = read_file(args.key, "witness key")
    key = load_private_key(data, source=args.key)
    logs: list[NoteVerifier] = []
    origins = list(args.origin or [])
    pem_keys = 0
    for path, public in zip(
        args.log_key, load_log_keys(args.log_key) or [], strict=True
    ):
        text = Path(path).read_text(encoding="utf-8", errors="replace").strip()
        try:
            if "-----BEGIN" in text:
                # Each PEM key is the key of the --origin given in the same place
                # among the PEM keys: one key, one log.
                pem_keys += 1
                if pem_keys > len(origins):
                    msg = (
                        f"{path} is a PEM key: give one --origin for each PEM "
                        "--log-key, in the same order (the log's name as its "
                        "checkpoints' first line says)"
                    )
                    raise UsageError(msg)
                logs.append(NoteVerifier.for_key(origins[pem_keys - 1], public))
            else:
                logs.append(NoteVerifier.from_vkey(text))
        except NoteError as err:
            raise UsageError(str(err)) from err
    if pem_keys != len(origins):
        msg = (
            f"{counted(len(origins), '--origin')} for "
            f"{counted(pem_keys, 'PEM --log-key')}: give one origin for each PEM "
            "key, in the same order"
        )
        raise UsageError(msg)
    if len({log.name for log in logs}) != len(logs):
        msg = "two --log-key options name the same log: one key for one log"
        raise UsageError(msg)
    try:
        return Witness(name=args.name, key=key, state=args.state, logs=logs)
    except NoteError as err:
        raise UsageError(str(err)) from err


def _keygen(args: argparse.Namespace) -> int:
    from vision_audit.store._keys import (  # noqa: PLC0415
        generate_signing_key,
        private_key_pem,
        write_new_file,
    )
    from vision_audit.store._note import Cosigner, NoteError  # noqa: PLC0415

    private, public = new_key_files(args.output, ".vkey")
    key = generate_signing_key()
    try:
        vkey = Cosigner(args.name, key).verifier.vkey()
    except NoteError as err:
        raise UsageError(str(err)) from err
    write_new_file(private, private_key_pem(key), mode=0o600)
    write_new_file(public, f"{vkey}\n".encode(), mode=0o644)
    out(
        f"witness key {args.name}\n"
        f"  private: {private} (mode 600): keep it with the witness, away from the "
        "log's operator\n"
        f"  public:  {public}: {vkey}\n"
        f"  give the public line to whoever verifies the log: vision-audit verify "
        f"--witness-key {public}"
    )
    return EXIT_OK


def _cosign(args: argparse.Namespace) -> int:
    from vision_audit.witness._witness import (  # noqa: PLC0415
        WitnessRefusedError,
        cosign_latest,
    )

    witness = _witness(args)
    # Without the service's secrets: the witness adds cosignatures, nothing else.
    store = open_existing_store(store_url(args), read_only=False, cosign_only=True)
    try:
        held, _ = witness.held(store.origin)
        if not store.list_checkpoints():
            say("witness", "the log has no checkpoint yet: nothing to cosign")
            return EXIT_OK
        try:
            cosignature = cosign_latest(store, witness)
        except WitnessRefusedError as err:
            say("witness", f"REFUSED: {err}")
            return EXIT_CHECK_FAILED
    finally:
        store.close()
    if cosignature is None:
        out(f"already cosigned: {store.origin} at tree size {held}")
        return EXIT_OK
    root = base64.b64decode(cosignature.body.split("\n")[2]).hex()
    out(
        f"cosigned: {store.origin} at tree size {cosignature.sequence}, root "
        f"{root} (had tree size {held})"
    )
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    from vision_audit.witness._http import WitnessServer  # noqa: PLC0415

    witness = _witness(args)
    if args.host not in {"127.0.0.1", "::1", "localhost"} and not args.public:
        msg = (
            f"--host {args.host} serves beyond this machine: add --public to mean it "
            "(put TLS in front of it)"
        )
        raise UsageError(msg)
    try:
        server = WitnessServer(
            witness,
            host=args.host,
            port=args.port,
            on_cosign=lambda c: out(
                f"cosigned: {c.body.split(chr(10), 1)[0]} at tree size {c.sequence}"
            ),
        )
    except OSError as err:
        msg = f"cannot listen on {args.host}:{args.port}: {err.strerror or err}"
        raise UsageError(msg) from err
    out(f"witness {witness.name} at {server.url}/add-checkpoint (Ctrl-C stops it)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    import json  # noqa: PLC0415

    from vision_audit.store._cli_evidence import read_file  # noqa: PLC0415
    from vision_audit.witness._witness import STATE_TYPE  # noqa: PLC0415

    try:
        state = json.loads(read_file(args.state, "witness state"))
    except ValueError as err:
        msg = f"{args.state} is not a witness state: {err}"
        raise UsageError(msg) from err
    if not isinstance(state, dict) or state.get("type") != STATE_TYPE:
        msg = f"{args.state} is not a witness state"
        raise UsageError(msg)
    logs = state.get("logs", {})
    if args.origin:
        entry = logs.get(args.origin)
        if entry is None:
            msg = f"the witness has cosigned nothing of {args.origin!r}"
            raise UsageError(msg)
        sys.stdout.write(entry["note"])
        return EXIT_OK
    out(f"witness {state.get('witness')}")
    for origin, entry in sorted(logs.items()):
        out(f"  {origin}: tree size {entry['size']}, cosigned at {entry['time']}")
    for refusal in state.get("refusals", [])[-10:]:
        out(f"  refused at {refusal['time']}: {refusal['reason']}")
    return EXIT_OK


def add_witness_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """
    Add ``witness keygen | cosign | serve | show``.

    .. versionadded:: 0.2.0
    """
    witness = commands.add_parser(
        "witness",
        help="cosign the log's checkpoints as an independent party",
        description=(
            "Run by a party other than the log's operator (the compliance office), "
            "on its own account or machine, with its own key and its own state: it "
            "cosigns a checkpoint only when it extends the last one it cosigned "
            "(C2SP tlog-witness). A rewrite of the log after a cosignature then "
            "fails vision-audit verify --witness-key, and can get no new "
            "cosignature."
        ),
    )
    actions = witness.add_subparsers(dest="action", metavar="ACTION", required=True)
    keygen = actions.add_parser(
        "keygen",
        help="make the witness's key",
        description=(
            "Write a new Ed25519 key to FILE (mode 600) and the witness's verifier "
            "key (name+hash+key) to FILE.vkey, for those who verify the log."
        ),
    )
    keygen.add_argument("--name", required=True, help=_NAME_HELP)
    keygen.add_argument("--output", metavar="FILE", help="where to write the key")
    keygen.set_defaults(handler=guarded("witness keygen", _keygen))

    cosign = actions.add_parser(
        "cosign",
        help="cosign the log's latest checkpoint if it extends the last one",
        description=(
            "Read the log's latest checkpoint and a consistency proof from the "
            "tree size this witness last cosigned, check both, record the new "
            "checkpoint in the state file, and keep the cosignature with the log. "
            "Run it from a scheduler (e.g. every few minutes). Exits 1 when it "
            "refuses, saying why; the refusal is recorded in the state."
        ),
    )
    cosign.add_argument("--store", metavar="URL", help=STORE_HELP)
    _witness_options(cosign)
    cosign.set_defaults(handler=guarded("witness cosign", _cosign))
    _add_serve_and_show(actions)


def _witness_options(parser: argparse.ArgumentParser) -> None:
    """The options that make a witness: key, name, state and the logs it follows."""
    parser.add_argument(
        "--key", required=True, metavar="FILE", help="the witness's private key"
    )
    parser.add_argument("--name", required=True, help=_NAME_HELP)
    parser.add_argument(
        "--state",
        required=True,
        metavar="FILE",
        help="the witness's state (kept apart from the log)",
    )
    parser.add_argument(
        "--log-key",
        required=True,
        action="append",
        metavar="FILE",
        help="the log's public key (PEM with --origin, or name+hash+key)",
    )
    parser.add_argument(
        "--origin",
        action="append",
        metavar="NAME",
        help="the log's origin, with a PEM --log-key",
    )


def _add_serve_and_show(
    actions: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    serve = actions.add_parser(
        "serve",
        help="serve the witness over HTTP (C2SP tlog-witness)",
        description=(
            "Answer POST /add-checkpoint as C2SP tlog-witness says: the log's "
            "writers (vision-audit checkpoint --witness-url URL) send each new "
            "checkpoint with a consistency proof, and get the cosignature back. "
            "Binds to loopback unless --public."
        ),
    )
    _witness_options(serve)
    serve.add_argument("--host", default="127.0.0.1", help="(default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8041, help="(default: 8041)")
    serve.add_argument(
        "--public", action="store_true", help="allow a --host beyond loopback"
    )
    serve.set_defaults(handler=guarded("witness serve", _serve))

    show = actions.add_parser(
        "show",
        help="print what the witness cosigned, or one log's checkpoint note",
        description=(
            "List the logs this witness follows, the tree size it last cosigned of "
            "each and its last refusals; with --origin, print that log's last "
            "cosigned checkpoint note, to keep and give to vision-audit verify "
            "--trusted-checkpoint."
        ),
    )
    show.add_argument("--state", required=True, metavar="FILE")
    show.add_argument("--origin", metavar="NAME", help="print this log's note")
    show.set_defaults(handler=guarded("witness show", _show))
