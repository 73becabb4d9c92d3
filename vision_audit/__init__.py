"""
Auditable, policy-enforced calls to Azure AI Vision Image Analysis.

Users import from ``vision_audit`` and from subpackage roots only; modules whose name
starts with an underscore are plumbing and may change without notice.
"""

from __future__ import annotations

from vision_audit.context import AuditContext, audit_context, get_audit_context
from vision_audit.exceptions import (
    AuditWriteError,
    ChainIntegrityError,
    ConsentRequiredError,
    ReviewError,
    ReviewWithheldError,
    StoreError,
    TagBlockedError,
    VisionAuditError,
)
from vision_audit.instrumentation import (
    VisionAuditInstrumentor,
    get_audit_id,
    instrument_client,
)
from vision_audit.models import AnalysisCall, AuditEvent, RecordedEvent
from vision_audit.sinks import add_trace_ids
from vision_audit.version import __version__

__all__ = [
    "AnalysisCall",
    "AuditContext",
    "AuditEvent",
    "AuditWriteError",
    "ChainIntegrityError",
    "ConsentRequiredError",
    "RecordedEvent",
    "ReviewError",
    "ReviewWithheldError",
    "StoreError",
    "TagBlockedError",
    "VisionAuditError",
    "VisionAuditInstrumentor",
    "__version__",
    "add_trace_ids",
    "audit_context",
    "get_audit_context",
    "get_audit_id",
    "instrument_client",
]
