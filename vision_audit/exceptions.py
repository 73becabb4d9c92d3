"""Exceptions raised by vision-audit: one root, a subclass where the caller can act."""

from __future__ import annotations


class VisionAuditError(Exception):
    """
    Root of every error that vision-audit raises on purpose.

    .. versionadded:: 0.1.0
    """
