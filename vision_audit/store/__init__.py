"""
The tamper-evident audit store: hash-chained, signed, erasable, shared by a fleet.

Open one with :func:`open_store` (``sqlite:///audit.db``, ``postgresql://...``,
``memory://``). Every store chains each event's canonical envelope to the one before,
keeps personal content apart (salted, purgeable) with only its hash in the chain,
signs checkpoints with Ed25519 when a key is configured, and verifies with
:func:`verify_chain`.
"""

from __future__ import annotations

from vision_audit.store._canonical import (
    CanonicalizationError,
    canonical_bytes,
    canonical_json,
)
from vision_audit.store._chain import (
    GENESIS_HASH,
    ChainHead,
    Checkpoint,
    ContentRecord,
    Verification,
    verify_chain,
)
from vision_audit.store._export import ExportError, export_jsonl, verify_export
from vision_audit.store._open import open_store
from vision_audit.store.memory import InMemoryAuditStore
from vision_audit.store.postgres import PostgresAuditStore
from vision_audit.store.sqlite import SQLiteAuditStore

__all__ = [
    "GENESIS_HASH",
    "CanonicalizationError",
    "ChainHead",
    "Checkpoint",
    "ContentRecord",
    "ExportError",
    "InMemoryAuditStore",
    "PostgresAuditStore",
    "SQLiteAuditStore",
    "Verification",
    "canonical_bytes",
    "canonical_json",
    "export_jsonl",
    "open_store",
    "verify_chain",
    "verify_export",
]
