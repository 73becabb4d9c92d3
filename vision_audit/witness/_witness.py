"""
A witness: cosigns a log's checkpoints only when they extend what it cosigned before.

The witness is run by a party other than the log's operator (a compliance office),
with its own Ed25519 key and its own state: for each log it follows (by origin), the
last checkpoint it cosigned. Asked to cosign a new checkpoint, it checks the log's
signature with the log key it was given, then an RFC 9162 consistency proof from the
tree size it remembers to the new one, and only then records the new checkpoint
and cosigns it (C2SP tlog-cosignature, ``cosignature/v1``). A log rewritten after a
cosignature can never get another: its new tree does not extend the old one.

The protocol is C2SP tlog-witness's ``add-checkpoint``: the old size the log
believes the witness holds, the consistency proof from it, and the checkpoint.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from vision_audit.exceptions import VisionAuditError
from vision_audit.store import _merkle
from vision_audit.store._canonical import canonical_json, format_time
from vision_audit.store._checkpoints import Cosignature, cosign_checkpoint
from vision_audit.store._note import (
    Cosigner,
    NoteError,
    NoteVerifier,
    open_note,
    parse_checkpoint,
    parse_note,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from vision_audit.typing import ManagedAuditStore

__all__ = ["Witness", "WitnessConflictError", "WitnessRefusedError", "cosign_latest"]

STATE_TYPE: Final = "vision-audit.witness-state"
STATE_VERSION: Final = 1
_KEPT_REFUSALS: Final = 100
_KEPT_REASON: Final = 500


class WitnessRefusedError(VisionAuditError):
    """
    The witness would not cosign: the checkpoint does not extend what it cosigned.

    ``status`` is the HTTP status of C2SP tlog-witness for the refusal (403 for a
    signature, 404 for an unknown log, 422 for a bad proof, 400 otherwise).

    .. versionadded:: 0.2.0
    """

    def __init__(self, message: str, *, status: int, recorded: bool = False) -> None:
        """Keep the message, the status, and whether the state records it."""
        super().__init__(message)
        self.status = status
        self.recorded = recorded


class WitnessConflictError(WitnessRefusedError):
    """
    The log's idea of the witness's last tree size is not the witness's: retry.

    ``size`` is the tree size the witness holds for that log.

    .. versionadded:: 0.2.0
    """

    def __init__(self, message: str, *, size: int, recorded: bool = False) -> None:
        """Keep the message and the size the witness holds."""
        super().__init__(message, status=409, recorded=recorded)
        self.size = size


@dataclass(frozen=True, slots=True)
class _Held:
    size: int
    root: bytes
    note: str
    time: str


class Witness:
    """
    A witness with its key, the logs it follows, and its state file.

    Args:
        name: The witness's key name (e.g. ``compliance.example.com/witness``).
        key: Its Ed25519 private key.
        state: The file of its state (created when missing). Keep it apart from
            the log, under the witness's control: it is what makes a rewrite fail.
        logs: The log keys it trusts, as note verifiers (the key name is the log's
            origin).

    .. versionadded:: 0.2.0
    """

    def __init__(
        self,
        *,
        name: str,
        key: Ed25519PrivateKey,
        state: str | os.PathLike[str],
        logs: Sequence[NoteVerifier],
    ) -> None:
        """Check the key name and keep the collaborators."""
        self._cosigner = Cosigner(name, key)
        self.name = name
        self.state_path = Path(state)
        self._logs = {log.name: log for log in logs}

    def follow(self, log: NoteVerifier) -> None:
        """Follow one more log, known by its key (whose name is the log's origin)."""
        self._logs[log.name] = log

    @property
    def verifier(self) -> NoteVerifier:
        """The witness's verifier key, to give to those who verify the log."""
        return self._cosigner.verifier

    # -- state ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        """The state, read under an exclusive lock and written back atomically."""
        lock_path = self.state_path.with_name(self.state_path.name + ".lock")
        with lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = self._read()
            before = canonical_json(state)
            try:
                yield state
            finally:
                # A refusal is recorded too: the state keeps why, with the rest.
                if canonical_json(state) != before:
                    self._write(state)

    def _read(self) -> dict[str, Any]:
        try:
            text = self.state_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {
                "logs": {},
                "refusals": [],
                "type": STATE_TYPE,
                "version": STATE_VERSION,
                "witness": self.name,
            }
        try:
            state = json.loads(text)
        except ValueError as err:
            msg = f"the witness state {self.state_path} is not readable JSON: {err}"
            raise VisionAuditError(msg) from err
        if (
            not isinstance(state, dict)
            or state.get("type") != STATE_TYPE
            or state.get("version") != STATE_VERSION
            or not isinstance(state.get("logs"), dict)
        ):
            msg = f"{self.state_path} is not a vision-audit witness state"
            raise VisionAuditError(msg)
        if state.get("witness") != self.name:
            msg = (
                f"{self.state_path} is the state of witness {state.get('witness')!r}, "
                f"not {self.name!r}"
            )
            raise VisionAuditError(msg)
        return state

    def _write(self, state: dict[str, Any]) -> None:
        """Write *state* durably: a new file, synced, then renamed over the old."""
        temporary = self.state_path.with_name(self.state_path.name + ".new")
        data = (canonical_json(state) + "\n").encode("utf-8")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(descriptor, data)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        temporary.replace(self.state_path)
        directory = os.open(self.state_path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def held(self, origin: str) -> tuple[int, str | None]:
        """The tree size and the signed note last cosigned for *origin* (0, None)."""
        entry = self._read()["logs"].get(origin)
        if entry is None:
            return 0, None
        return int(entry["size"]), str(entry["note"])

    @staticmethod
    def _held_of(state: dict[str, Any], origin: str) -> _Held | None:
        entry = state["logs"].get(origin)
        if entry is None:
            return None
        return _Held(
            size=int(entry["size"]),
            root=base64.b64decode(entry["root"]),
            note=str(entry["note"]),
            time=str(entry["time"]),
        )

    # -- cosigning -------------------------------------------------------------------

    def add_checkpoint(
        self,
        note: str,
        *,
        old_size: int,
        proof: Sequence[bytes],
        now: datetime | None = None,
    ) -> Cosignature:
        """
        Cosign the checkpoint *note* if it extends the last one cosigned for its log.

        Args:
            note: The checkpoint as a signed note, signed by the log's key.
            old_size: The tree size the log believes this witness holds.
            proof: The consistency proof from *old_size* to the checkpoint's size.
            now: The cosignature's time (default: now).

        Returns:
            The cosignature, recorded in the state before it is returned.

        Raises:
            WitnessConflictError: *old_size* is not the size this witness holds.
            WitnessRefusedError: The checkpoint is not signed by the log's key, is
                of an unknown log, or does not extend what was cosigned; the
                refusal is recorded in the state with its reason.
        """
        moment = now or datetime.now(UTC)
        with self._locked() as state:
            try:
                return self._add(state, note, old_size, proof, moment)
            except WitnessRefusedError as err:
                # Only what the log signed is recorded: anyone may send garbage.
                if err.recorded:
                    self._refused(state, err, moment)
                raise

    @staticmethod
    def _refused(
        state: dict[str, Any], err: WitnessRefusedError, moment: datetime
    ) -> None:
        """Record a refusal in the state, with the latest ones kept."""
        refusals = state.setdefault("refusals", [])
        reason = str(err)
        if len(reason) > _KEPT_REASON:
            reason = reason[: _KEPT_REASON - 1] + "\u2026"
        refusals.append({"reason": reason, "time": format_time(moment)})
        del refusals[:-_KEPT_REFUSALS]

    def _add(  # noqa: C901 - the protocol's checks, in its order
        self,
        state: dict[str, Any],
        text: str,
        old_size: int,
        proof: Sequence[bytes],
        moment: datetime,
    ) -> Cosignature:
        try:
            note = parse_note(text)
            body = parse_checkpoint(note.body)
        except NoteError as err:
            msg = f"not a checkpoint: {err}"
            raise WitnessRefusedError(msg, status=400) from err
        log = self._logs.get(body.origin)
        if log is None:
            msg = f"this witness does not follow the log {body.origin!r}"
            raise WitnessRefusedError(msg, status=404)
        try:
            signed = open_note(note, [log])
        except NoteError:
            signed = []
        if not signed:
            msg = (
                f"the checkpoint of {body.origin} at tree size {body.size} is not "
                "signed by the log's key"
            )
            raise WitnessRefusedError(msg, status=403)
        held = self._held_of(state, body.origin)
        size = held.size if held is not None else 0
        # In the order of C2SP tlog-witness: 400, 409, then 422.
        if old_size > body.size:
            msg = (
                f"the checkpoint of {body.origin} at tree size {body.size} is older "
                f"than the tree size {size} this witness cosigned"
                if old_size == size
                else f"the old size {old_size} is beyond the checkpoint's tree size "
                f"{body.size}"
            )
            raise WitnessRefusedError(msg, status=400, recorded=old_size == size)
        if old_size != size:
            msg = (
                f"this witness holds tree size {size} of {body.origin}, not {old_size}"
                + (
                    f": the checkpoint of {body.origin} at tree size {body.size} is "
                    f"older than the tree size {size} this witness cosigned"
                    if body.size < size
                    else ""
                )
            )
            raise WitnessConflictError(msg, size=size, recorded=body.size < size)
        if held is None:
            if proof:
                msg = "a first checkpoint comes with no consistency proof"
                raise WitnessRefusedError(msg, status=422, recorded=True)
        elif body.size == held.size and body.root_hash != held.root:
            msg = (
                f"the checkpoint of {body.origin} at tree size {body.size} does not "
                f"extend the checkpoint at tree size {held.size} that this witness "
                f"cosigned at {held.time}: the same size with another root; the log "
                "was rewritten (or forked)"
            )
            raise WitnessConflictError(msg, size=size, recorded=True)
        elif not _merkle.verify_consistency(
            held.size, body.size, held.root, body.root_hash, proof
        ):
            msg = (
                f"the checkpoint of {body.origin} at tree size {body.size} does not "
                f"extend the checkpoint at tree size {held.size} that this witness "
                f"cosigned at {held.time}: the consistency proof fails; the log was "
                "rewritten (or forked)"
            )
            raise WitnessRefusedError(msg, status=422, recorded=True)
        cosignature = cosign_checkpoint(
            note.body, name=self.name, key=self._cosigner.private_key, time=moment
        )
        # Only the log's own signature and this cosignature are kept: the note is
        # what an auditor pins, and other lines came from the operator unchecked.
        log_lines = "".join(
            s.line()
            for s in note.signatures
            if (s.name, s.key_hash) == (log.name, log.key_hash)
        )
        state["logs"][body.origin] = {
            "note": cosignature.body + "\n" + log_lines + cosignature.line,
            "root": base64.b64encode(body.root_hash).decode("ascii"),
            "size": body.size,
            "time": format_time(cosignature.time),
        }
        return cosignature


def cosign_latest(store: ManagedAuditStore, witness: Witness) -> Cosignature | None:
    """
    One witness round over a store: its latest checkpoint, cosigned and kept with it.

    The consistency proof comes from the store, from the tree size the witness
    holds; the witness checks it against what it remembers, not against the store.

    Returns:
        The cosignature, or None when the witness already cosigned that checkpoint
        (or the log has none yet).

    Raises:
        WitnessRefusedError: The witness refused; the refusal is in its state.

    .. versionadded:: 0.2.0
    """
    checkpoints = store.list_checkpoints()
    if not checkpoints:
        return None
    latest = checkpoints[-1]
    held, _ = witness.held(store.origin)
    for _ in range(2):
        if held == latest.sequence and any(
            c.name == witness.name and c.body == latest.body
            for c in latest.cosignatures
        ):
            return None
        try:
            proof = (
                store.get_consistency_proof(held, latest.sequence)
                if 0 < held < latest.sequence
                else []
            )
        except (ValueError, VisionAuditError):
            # The log cannot prove its checkpoint: the witness refuses it, and
            # records why, as for a proof that fails.
            proof = [b"\x00" * 32]
        try:
            cosignature = witness.add_checkpoint(
                latest.note, old_size=held, proof=proof
            )
        except WitnessConflictError as err:
            if err.recorded:
                raise
            held = err.size  # another round cosigned meanwhile: from its size
            latest = store.list_checkpoints()[-1]
            continue
        store.record_cosignature(cosignature)
        return cosignature
    return None
