"""The ``vision-audit`` command."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final

from vision_audit import environment_variables as env
from vision_audit.policy._cli import add_policy_commands
from vision_audit.report._cli import add_report_commands
from vision_audit.review._cli import add_review_commands
from vision_audit.store._cli import add_store_commands
from vision_audit.version import __version__
from vision_audit.witness._cli import add_witness_commands

if TYPE_CHECKING:
    from collections.abc import Sequence

EXIT_OK: Final = 0
EXIT_CHECK_FAILED: Final = 1
EXIT_USAGE: Final = 2
_MAX_PORT: Final = 65535


_EXAMPLES: Final = """\
examples:
  vision-audit demo --output demo                  # emulator, workload, store, PDF
  export VISION_AUDIT_STORE=sqlite:///audit.db     # the store every command uses
  vision-audit verify --public-key log.pem.pub --witness-key witness.vkey
  vision-audit prove ANALYSIS_ID --output proof.json  # one analysis, with proofs
  vision-audit review list
  vision-audit review decide ANALYSIS_ID --decision approve \\
      --reviewer rita --rationale "tags match the photo"
  vision-audit report --since 2026-11-01 --until 2026-11-30 --out report.pdf
  vision-audit purge --older-than 30d              # retention of personal content

Each command has its own --help.
"""


def _emulator(args: argparse.Namespace) -> int:
    from vision_audit.emulator import Emulator, ScriptError  # noqa: PLC0415

    key = (
        args.key
        if args.key is not None
        else os.environ.get(env.VISION_AUDIT_EMULATOR_KEY)
    )
    logging.basicConfig(
        level=logging.INFO if not args.quiet else logging.WARNING,
        format="%(asctime)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    try:
        emulator = Emulator(
            host=args.host,
            port=args.port,
            key=key,
            images=args.images,
            region=args.region,
        )
    except ValueError as err:
        print(f"vision-audit emulator: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    if args.host not in {"127.0.0.1", "::1", "localhost"}:
        print(
            f"vision-audit emulator: warning: binding {args.host}, not loopback; "
            "anyone who reaches this address can use it",
            file=sys.stderr,
        )
    try:
        server = emulator._bind()  # noqa: SLF001 - bind first to print the real port
    except ScriptError as err:
        print(f"vision-audit emulator: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as err:
        print(
            f"vision-audit emulator: error: cannot listen on "
            f"{args.host}:{args.port}: {err}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    auth = "the key you were given" if key else "any key"
    print(
        f"Image Analysis emulator (api-version 2023-10-01) listening on "
        f"{emulator.endpoint}\n"
        f"  region {args.region}; accepts {auth} in Ocp-Apim-Subscription-Key, or a "
        "bearer token\n"
        f"  images: {args.images or 'none (URL mode serves loopback URLs only)'}\n"
        "Press Ctrl+C to stop.",
        flush=True,
    )
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return EXIT_OK


def _port(value: str) -> int:
    """A TCP port number for argparse: 0 (any free one) to 65535."""
    try:
        port = int(value)
    except ValueError:
        msg = f"{value!r} is not a port number; give 0 to 65535"
        raise argparse.ArgumentTypeError(msg) from None
    if not 0 <= port <= _MAX_PORT:
        msg = f"{port} is out of range; give 0 to 65535 (0 picks a free port)"
        raise argparse.ArgumentTypeError(msg)
    return port


def _prepare_output(folder: Path) -> str | None:
    """Create the demo's output folder; the reason it cannot be used, or None."""
    if folder.exists() and not folder.is_dir():
        return f"{folder} exists and is not a folder; give a folder for --output"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        reason = err.strerror or str(err)
        return f"cannot create the output folder {folder}: {reason}"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot write into the output folder {folder}: permission denied"
    return None


def _missing_extras() -> list[str]:
    """The modules the demo needs beyond the instrumentation, that are missing."""
    import importlib.util  # noqa: PLC0415

    return [
        name
        for name in ("aiohttp", "weasyprint", "matplotlib", "pyhanko")
        if importlib.util.find_spec(name) is None
    ]


def _demo(args: argparse.Namespace) -> int:
    from vision_audit.demo import run_demo  # noqa: PLC0415

    missing = _missing_extras()
    if missing:
        print(
            f"vision-audit demo: error: the demo makes aio calls and writes and signs "
            f"the PDF report, which need {', '.join(missing)}: pip install "
            "'vision-audit[all]'",
            file=sys.stderr,
        )
        return EXIT_USAGE
    output = Path(args.output)
    problem = _prepare_output(output)
    if problem is not None:
        print(f"vision-audit demo: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        run_demo(output)
    except OSError as err:
        # A file in the folder we could not write (a full disk, a name taken by a
        # folder): one line naming it, not a traceback.
        where = err.filename if err.filename is not None else output
        reason = err.strerror or str(err)
        print(
            f"vision-audit demo: error: cannot write {where}: {reason}", file=sys.stderr
        )
        return EXIT_USAGE
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The command line, with ``--help`` on every subcommand."""
    parser = argparse.ArgumentParser(
        prog="vision-audit",
        description=(
            "Auditable, policy-enforced calls to Azure AI Vision Image Analysis. "
            "Exit codes: 0 ok, 1 a check failed, 2 bad usage."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_EXAMPLES,
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser(
        "demo",
        help="run the demo workload against a local emulator",
        description=(
            "Draw realistic pictures, start the Image Analysis emulator in this "
            "process "
            "and send a workload of several purposes through the real Azure SDK, "
            "including calls that fail; then say where the outputs went."
        ),
    )
    demo.add_argument(
        "--output",
        default="vision-audit-demo",
        metavar="DIR",
        help="folder for the demo's inputs and outputs (default: %(default)s)",
    )
    demo.set_defaults(handler=_demo)

    emulator = commands.add_parser(
        "emulator",
        help="serve a local stand-in for the Image Analysis REST API",
        description=(
            "Serve POST /computervision/imageanalysis:analyze (api-version 2023-10-01) "
            "on loopback, validating requests and answering as the service does. Point "
            "ImageAnalysisClient at the printed endpoint. Script a result by putting "
            "photo.json next to photo.jpg in --images."
        ),
    )
    emulator.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    emulator.add_argument(
        "--port",
        type=_port,
        default=5000,
        help="port to bind, 0 for any free one (default: %(default)s)",
    )
    emulator.add_argument(
        "--key",
        default=None,
        metavar="K",
        help=(
            "the only subscription key accepted; prefer the environment variable "
            f"{env.VISION_AUDIT_EMULATOR_KEY}. Without either, any key is accepted"
        ),
    )
    emulator.add_argument(
        "--images",
        default=None,
        metavar="DIR",
        help="folder of images and JSON sidecar scripts, for URL mode and scripts",
    )
    emulator.add_argument(
        "--region",
        default="West US",
        help="Azure region to behave as; caption features are refused where Azure "
        "lacks them "
        "(default: %(default)s)",
    )
    emulator.add_argument(
        "--quiet", action="store_true", help="log warnings only, not each request"
    )
    emulator.set_defaults(handler=_emulator)
    add_policy_commands(commands)
    add_store_commands(commands)
    add_review_commands(commands)
    add_report_commands(commands)
    add_witness_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
