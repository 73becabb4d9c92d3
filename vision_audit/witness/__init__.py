"""
Witnesses of the audit log: parties other than its operator, who cosign checkpoints.

A :class:`Witness` holds its own key and its own memory of the last checkpoint it
cosigned for each log; it cosigns a new checkpoint only when an RFC 9162
consistency proof shows that it extends that one (C2SP tlog-witness,
tlog-cosignature). Run it as ``vision-audit witness cosign`` (from a scheduler, on
another account or machine than the service) or ``vision-audit witness serve``.
"""

from __future__ import annotations

from vision_audit.witness._witness import (
    Witness,
    WitnessConflictError,
    WitnessRefusedError,
    cosign_latest,
)

__all__ = ["Witness", "WitnessConflictError", "WitnessRefusedError", "cosign_latest"]
