"""Whether the store the console decides into verifies: checked at start and again."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from vision_audit.store._base import BaseAuditStore

__all__ = ["DEFAULT_VERIFY_EVERY", "Acknowledgement", "Integrity", "IntegrityWatch"]

DEFAULT_VERIFY_EVERY: Final = 900.0
"""Seconds between two verifications of the store while the console runs."""

_log = logging.getLogger("vision_audit.console")

State = Literal["checking", "verified", "failed"]


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """An integrity officer's word that decisions may go on into a damaged store."""

    by: str
    rationale: str
    at: float
    failure: tuple[str | None, int | None]
    """The damage acknowledged (kind, first bad sequence): other damage voids it."""


@dataclass(frozen=True, slots=True)
class Integrity:
    """The latest verification: its state, a sentence, how many events, when."""

    state: State
    message: str
    events: int = 0
    checked_at: float | None = None
    failure: tuple[str | None, int | None] | None = None
    """What failed (kind, first bad sequence), when the store did not verify."""
    acknowledged: Acknowledgement | None = None

    @property
    def allows_decisions(self) -> bool:
        """Into a store that verified, or whose damage an officer acknowledged."""
        return self.state == "verified" or (
            self.state == "failed" and self.acknowledged is not None
        )


class IntegrityWatch:
    """
    Verifies the store's chain (links, checkpoints; not personal content) in a thread.

    Until the first verification ends, and whenever one fails, decisions are
    refused: a reviewer's decision must not be appended to a log that was tampered
    with, where it would seem to vouch for what is before it; unless an integrity
    officer has looked at the damage and acknowledged it (:meth:`acknowledge`).
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
                said = result.message.rstrip()
                found = Integrity(
                    "failed",
                    "The audit store does NOT verify: "
                    f"{result.kind or 'damaged'} at sequence {result.sequence}: "
                    f"{said}{'' if said.endswith(('.', '!', '?')) else '.'}",
                    events=result.events,
                    checked_at=time.time(),
                    failure=(result.kind, result.sequence),
                )
        previous = self.current.acknowledged
        if (
            found.state == "failed"
            and previous is not None
            and previous.failure == found.failure
        ):
            found = dataclasses.replace(found, acknowledged=previous)
        if found.state == "failed" and found.acknowledged is None:
            _log.error("console: %s; decisions are refused", found.message)
        self.current = found
        return found

    def acknowledge(self, by: str, rationale: str) -> Integrity:
        """
        Let decisions go on into the store whose damage *by* has looked at.

        Holds for this damage only (the same kind at the same sequence), for the
        life of this console; it is logged, not recorded in the damaged store.

        Raises:
            ValueError: The store is not failing verification.
        """
        current = self.current
        if current.state != "failed" or current.failure is None:
            msg = "the audit store is not failing verification: nothing to acknowledge"
            raise ValueError(msg)
        _log.warning(
            "console: %s acknowledged that the audit store does not verify (%s at "
            "sequence %s); decisions are allowed again: %s",
            by,
            current.failure[0],
            current.failure[1],
            rationale,
        )
        self.current = dataclasses.replace(
            current,
            acknowledged=Acknowledgement(
                by=by, rationale=rationale, at=time.time(), failure=current.failure
            ),
        )
        return self.current

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
