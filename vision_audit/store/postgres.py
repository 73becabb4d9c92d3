"""PostgresAuditStore: the audit store in PostgreSQL, shared by a fleet of writers."""

from __future__ import annotations

from typing import Any

from vision_audit.exceptions import StoreError

__all__ = ["PostgresAuditStore"]


class PostgresAuditStore:
    """Not written yet (issue 4, step 6)."""

    def __init__(self, url: str, **options: Any) -> None:  # noqa: ANN401
        """Refuse, for now."""
        del url, options
        msg = "postgresql:// stores are not available yet"
        raise StoreError(msg)
