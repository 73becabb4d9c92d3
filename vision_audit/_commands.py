"""
What every ``vision-audit`` command shares: exit codes, messages, the store, errors.

- Exit codes: 0 done (or verified), 1 a check failed or the store could not be read
  or written, 2 bad usage.
- The store: ``--store URL``, else ``$VISION_AUDIT_STORE``, else
  ``sqlite:///vision-audit.db`` (where the instrumentation writes by default). A
  command never creates a store it was asked to read or change: a SQLite file that
  does not exist is bad usage, named.
- Messages go to standard error as ``vision-audit COMMAND: error: ...``, with control
  characters shown escaped (a store's values may hold them).

argparse stays (the standard library's): the commands' help and exit codes were
documented with it, it costs nothing to import, and click would add a dependency to
the light install for no behaviour a user would notice.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import unquote

from vision_audit import environment_variables as env
from vision_audit._settings import DEFAULT_STORE_URL
from vision_audit._text import printable
from vision_audit.exceptions import (
    AuditWriteError,
    PolicyError,
    ReportRenderError,
    ReviewError,
    StoreError,
    VisionAuditError,
)

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from vision_audit.store._base import BaseAuditStore

__all__ = [
    "EXIT_CHECK_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "STORE_HELP",
    "UsageError",
    "error",
    "guarded",
    "is_loopback",
    "new_key_files",
    "open_existing_store",
    "out",
    "say",
    "store_url",
]

EXIT_OK: Final = 0
EXIT_CHECK_FAILED: Final = 1
EXIT_USAGE: Final = 2

STORE_HELP: Final = (
    "store URL: sqlite:///relative.db, sqlite:////absolute.db or postgresql://... "
    f"(default: ${env.VISION_AUDIT_STORE}, then {DEFAULT_STORE_URL})"
)

REVIEW_RULES: Final = frozenset({"four-eyes", "already-decided", "not-latest-decision"})
"""Review refusals that are the rules at work (exit 1), not a mistake in the command."""


class UsageError(Exception):
    """A command-line argument is wrong: exit 2, the message says which and why."""


def out(text: str = "") -> None:
    """A line on standard output, control characters (but tabs) escaped."""
    sys.stdout.write(f"{printable(text, keep=frozenset(chr(9)))}\n")
    sys.stdout.flush()


def say(command: str, text: str) -> None:
    """A line on standard error, for people: ``vision-audit COMMAND: text``."""
    sys.stderr.write(f"vision-audit {command}: {printable(text)}\n")
    sys.stderr.flush()


def error(command: str, text: str) -> None:
    """An error on standard error: ``vision-audit COMMAND: error: text``."""
    say(command, f"error: {text}")


def new_key_files(output: str | None, public_suffix: str) -> tuple[Path, Path]:
    """
    Where ``keygen`` writes a private key and its public half: both new files.

    Raises:
        UsageError: No file named (a private key never goes to the terminal), or
            either file exists (keys are never overwritten).
    """
    if output in {None, "-"}:
        msg = "give --output FILE: a private key is never written to the terminal"
        raise UsageError(msg)
    private, public = Path(str(output)), Path(f"{output}{public_suffix}")
    for path in (private, public):
        if path.exists():
            msg = f"{path} exists; keys are never overwritten"
            raise UsageError(msg)
    return private, public


def is_loopback(host: str) -> bool:
    """Whether *host* is ``localhost`` or a loopback address (IPv4 or IPv6)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def store_url(args: argparse.Namespace) -> str:
    """The store a command works on: ``--store``, the environment, the default."""
    return str(
        getattr(args, "store", None)
        or os.environ.get(env.VISION_AUDIT_STORE)
        or DEFAULT_STORE_URL
    )


def open_existing_store(
    url: str, *, read_only: bool, cosign_only: bool = False
) -> BaseAuditStore:
    """
    Open the store at *url*, which must exist already.

    Raises:
        UsageError: A SQLite file that does not exist, or is not a store (when
            opened to write), or a bad URL.
    """
    from vision_audit.store._open import open_store  # noqa: PLC0415 - heavy, lazy

    scheme, _, rest = url.partition("://")
    if scheme.lower() == "sqlite" and rest.startswith("/"):
        path = Path(unquote(rest[1:].partition("?")[0]))
        if not path.exists():
            msg = (
                f"no store at {path} ({url}); give --store URL or set "
                f"{env.VISION_AUDIT_STORE}"
            )
            raise UsageError(msg)
        if not read_only:
            # Never turn an empty file, or another file, into a store.
            open_existing_store(url, read_only=True).close()
    options = {"read_only": True} if read_only else {}
    if cosign_only:
        options["cosign_only"] = True
    try:
        store = open_store(url, **options)
    except ValueError as err:
        raise UsageError(str(err)) from err
    return store  # type: ignore[return-value] # every store we open is a BaseAuditStore


def guarded(
    command: str, handler: Callable[[argparse.Namespace], int]
) -> Callable[[argparse.Namespace], int]:
    """*handler*, with the errors a user can meet made messages and exit codes."""

    def run(args: argparse.Namespace) -> int:  # noqa: PLR0911 - one exit per kind
        try:
            return handler(args)
        except UsageError as err:
            error(command, str(err))
            return EXIT_USAGE
        except ReviewError as err:
            error(command, str(err))
            return EXIT_CHECK_FAILED if err.code in REVIEW_RULES else EXIT_USAGE
        except PolicyError as err:
            error(command, f"--policy: {err}")
            return EXIT_USAGE
        except ReportRenderError as err:
            error(command, str(err))
            return EXIT_USAGE
        except ValueError as err:
            error(command, str(err))
            return EXIT_USAGE
        except (StoreError, AuditWriteError, VisionAuditError, OSError) as err:
            error(command, str(err))
            return EXIT_CHECK_FAILED

    return run
