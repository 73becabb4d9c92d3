"""
Auditable, policy-enforced calls to Azure AI Vision Image Analysis.

Users import from ``vision_audit`` and from subpackage roots only; modules whose name
starts with an underscore are plumbing and may change without notice.
"""

from __future__ import annotations

from vision_audit.exceptions import VisionAuditError
from vision_audit.version import __version__

__all__ = [
    "VisionAuditError",
    "__version__",
]
