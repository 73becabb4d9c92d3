"""Exceptions raised by vision-audit: one root, a subclass where the caller can act."""

from __future__ import annotations

__all__ = [
    "AuditWriteError",
    "ChainIntegrityError",
    "ConsentRequiredError",
    "PolicyError",
    "StoreError",
    "VisionAuditError",
]


class VisionAuditError(Exception):
    """
    Root of every error that vision-audit raises on purpose.

    .. versionadded:: 0.1.0
    """


class AuditWriteError(VisionAuditError):
    """
    An audit event could not be recorded, so the call it describes did not happen.

    Raised into application code when ``audit_failure="raise"`` (the default): the
    request is not sent, or its result is not returned, because no unaudited call
    may leave the process.

    .. versionadded:: 0.1.0
    """


class StoreError(VisionAuditError):
    """
    The audit store cannot be opened or used: not writable, full, newer schema, corrupt.

    The message names the store and the problem; nothing already stored is changed.

    .. versionadded:: 0.1.0
    """


class ChainIntegrityError(StoreError):
    """
    The hash chain or a signed checkpoint does not verify.

    Attributes:
        sequence: The first sequence number found bad, when known.
        kind: What is wrong: ``changed``, ``inserted``, ``deleted``, ``reordered``,
            ``truncated`` or ``bad-signature``.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self, message: str, *, sequence: int | None = None, kind: str = ""
    ) -> None:
        """Keep where and what, beside the message."""
        super().__init__(message)
        self.sequence = sequence
        self.kind = kind


class ConsentRequiredError(VisionAuditError):
    """
    The policy refused the call before any byte left the process.

    Attributes:
        reason: The code of the first violation, e.g. ``consent-missing``,
            ``consent-revoked``, ``purpose-not-consented`` or ``feature-not-allowed``
            (see ``vision_audit.policy.Violation``); empty when not given.
        codes: The codes of every violation found, in the order checked.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self, message: str, *, reason: str = "", codes: tuple[str, ...] = ()
    ) -> None:
        """Keep the reason codes beside the message."""
        super().__init__(message)
        self.reason = reason or (codes[0] if codes else "")
        self.codes = codes or ((reason,) if reason else ())


class PolicyError(VisionAuditError, ValueError):
    """
    A policy file (or a consent file) is missing, unreadable or invalid.

    The message names the file, the key and what is accepted there.

    Attributes:
        path: The file, when there is one.
        key: The dotted key at fault (``purposes.claims.tags.block[2]``), when known.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self, message: str, *, path: str | None = None, key: str | None = None
    ) -> None:
        """Keep where, beside the message."""
        super().__init__(message)
        self.path = path
        self.key = key
