"""Exceptions raised by vision-audit: one root, a subclass where the caller can act."""

from __future__ import annotations

__all__ = [
    "AuditWriteError",
    "ChainIntegrityError",
    "ConsentRequiredError",
    "MappingError",
    "PolicyError",
    "ReviewError",
    "ReviewWithheldError",
    "StoreError",
    "TagBlockedError",
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
            ``truncated``, ``bad-signature``, or ``unsigned`` (trusted keys were
            given and no checkpoint they signed covers the chain).

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


class ReviewError(VisionAuditError, ValueError):
    """
    A review decision cannot be recorded: the message names the analysis and why.

    Nothing is recorded when it is raised.

    Attributes:
        code: What is wrong, for machines: ``unknown-analysis``,
            ``reviewer-missing``, ``rationale-missing``, ``unknown-decision``,
            ``tags-missing`` (an override changes no tag), ``tags-not-allowed``
            (only an override changes tags), ``bad-tag`` (an empty tag),
            ``four-eyes`` (the analysis' own actor may not decide it),
            ``already-decided`` (a correction must name the decision it
            supersedes), ``unknown-decision-event`` or ``not-latest-decision``
            (``supersedes`` names the wrong event), ``escalated-by-you`` (who
            escalated may not decide), ``not-under-review`` (no ``review.required``),
            ``tag-not-allowed`` (an override adds a tag the lists refuse),
            ``control-characters`` (a
            reviewer, tag or rationale holds characters that could forge or
            recolour what a reviewer reads).
        analysis_id: The analysis concerned, when known.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self, message: str, *, code: str, analysis_id: str | None = None
    ) -> None:
        """Keep the code and the analysis beside the message."""
        super().__init__(message)
        self.code = code
        self.analysis_id = analysis_id


class ReviewWithheldError(VisionAuditError):
    """
    A review gate withheld the result: a reviewer rejected it, or none decided in time.

    Raised into application code by an instrumented ``analyze`` call whose purpose
    gates its results (``gate = true`` in the policy's review rule), after the
    service answered and the answer was recorded. The result is not returned; the
    analysis stays in the review queue.

    Attributes:
        analysis_id: The analysis whose result is withheld.
        reason: ``rejected`` (a reviewer rejected it) or ``timeout`` (no decision
            within ``gate_timeout`` and ``gate_default = "withhold"``).
        decision_event_id: The ``review.decided`` event that rejected it, if any.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        message: str,
        *,
        analysis_id: str,
        reason: str,
        decision_event_id: str | None = None,
    ) -> None:
        """Keep what was withheld and why, beside the message."""
        super().__init__(message)
        self.analysis_id = analysis_id
        self.reason = reason
        self.decision_event_id = decision_event_id


class ReportRenderError(VisionAuditError):
    """
    A compliance report could not be made: bad period, unreadable store or template.

    The message says which; nothing in the store is changed.

    .. versionadded:: 0.1.0
    """


class MappingError(ReportRenderError, ValueError):
    """
    A guidance or regulation mapping file (or its folder) is missing or invalid.

    The message names the file, the item and the field, and says what is accepted.

    Attributes:
        path: The file (its name) or the folder.
        where: The item and field at fault (``item[3] 'Art. 12'.evidenced_when``).

    .. versionadded:: 0.1.0
    """

    def __init__(self, message: str, *, path: str, where: str) -> None:
        """Keep where, beside the message."""
        super().__init__(message)
        self.path = path
        self.where = where


class TagBlockedError(VisionAuditError):
    """
    The result held a block-listed tag, and the purpose withholds such results.

    Raised into application code by an instrumented ``analyze`` call whose purpose
    sets ``on_blocked = "withhold"`` beside its block list, after the service
    answered and the answer was recorded (``analysis.completed`` with ``withheld``
    and ``blocked``; ``tags.filtered`` too when a tag or object was dropped). The
    result is not returned, and goes to no review. With the default, ``on_blocked =
    "drop"``, the tag is removed and the rest returned; under a policy in ``audit``
    mode the result is returned and ``would_withhold`` recorded instead.

    Only what came back with at least the purpose's ``min_confidence`` counts.

    Attributes:
        analysis_id: The analysis whose result is withheld.
        purpose: The purpose whose block list matched.
        tags: The block-list terms that came back as a tag or an object, or that
            a caption or dense caption named; normalised, sorted, each once.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        message: str,
        *,
        analysis_id: str,
        purpose: str | None,
        tags: tuple[str, ...],
    ) -> None:
        """Keep what was withheld and why, beside the message."""
        super().__init__(message)
        self.analysis_id = analysis_id
        self.purpose = purpose
        self.tags = tags
