"""A policy's id: the digest of its document, computed the one way everywhere."""

from __future__ import annotations

import hashlib
import json

__all__ = ["canonical_text", "policy_id_of"]


def canonical_text(document: object) -> str:
    """
    *document* as a policy's canonical JSON: sorted keys, no spaces, UTF-8 text.

    Raises:
        TypeError: It holds something that is not JSON.
        ValueError: It holds NaN or an infinity.
    """
    return json.dumps(
        document,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )


def policy_id_of(document: object) -> str | None:
    """
    ``sha256:`` and the SHA-256 of *document*'s canonical JSON; None if it has none.

    *document* is a policy as :meth:`~vision_audit.policy.Policy.as_dict` gives it,
    or its canonical JSON text itself (as ``policy.activated`` records it: a string
    keeps its exact bytes in a log whose canonical form would respell numbers).
    """
    if isinstance(document, str):
        text = document
    elif isinstance(document, dict):
        try:
            text = canonical_text(document)
        except (TypeError, ValueError):
            return None
    else:
        return None
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
