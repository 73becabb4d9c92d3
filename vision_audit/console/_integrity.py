"""Whether the store the console decides into verifies: checked at start and again."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from vision_audit.store._base import BaseAuditStore

__all__ = ["DEFAULT_VERIFY_EVERY", "Integrity", "IntegrityWatch"]

DEFAULT_VERIFY_EVERY: Final = 900.0
"""Seconds between two verifications of the store while the console runs."""

_log = logging.getLogger("vision_audit.console")

State = Literal["checking", "verified", "failed"]


@dataclass(frozen=True, slots=True)
class Integrity:
    """The latest verification: its state, a sentence, how many events, when."""

    state: State
    message: str
    events: int = 0
    checked_at: float | None = None

    @property
    def allows_decisions(self) -> bool:
        """Decisions are recorded only into a store that verified."""
        return self.state == "verified"


class IntegrityWatch:
    """
    Verifies the store's chain (links, checkpoints; not personal content) in a thread.

    Until the first verification ends, and whenever one fails, decisions are
    refused: a reviewer's decision must not be appended to a log that was tampered
    with, where it would seem to vouch for what is before it.
    """

    def __init__(
        self, store: BaseAuditStore, *, every: float = DEFAULT_VERIFY_EVERY
    ) -> None:
        """Watch *store*, verifying it every *every* seconds (0: once)."""
        self._store = store
        self._every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.current = Integrity("checking", "Checking the audit store's integrity…")

    def check(self) -> Integrity:
        """Verify once, now, and remember the result."""
        try:
            result = self._store.verify(content=False)
        except Exception as err:  # noqa: BLE001 - any failure is a failed check
            found = Integrity(
                "failed",
                f"The audit store could not be verified: {type(err).__name__}: {err}",
                checked_at=time.time(),
            )
        else:
            if result.ok:
                found = Integrity(
                    "verified",
                    f"The audit store verified: {result.events:,} events, every link "
                    "and checkpoint intact.",
                    events=result.events,
                    checked_at=time.time(),
                )
            else:
                found = Integrity(
                    "failed",
                    "The audit store does NOT verify: "
                    f"{result.kind or 'damaged'} at sequence {result.sequence}: "
                    f"{result.message}",
                    events=result.events,
                    checked_at=time.time(),
                )
        if found.state == "failed":
            _log.error("console: %s; decisions are refused", found.message)
        self.current = found
        return found

    def start(self) -> None:
        """Verify in a background thread now, then every *every* seconds."""

        def run() -> None:
            while True:
                self.check()
                if not self._every or self._stop.wait(self._every):
                    return

        self._thread = threading.Thread(
            target=run, name="vision-audit-console-verify", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop verifying."""
        self._stop.set()
