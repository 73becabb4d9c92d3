"""Every ``VISION_AUDIT_*`` environment variable that vision-audit reads, by name."""

from __future__ import annotations

VISION_AUDIT_EMULATOR_KEY = "VISION_AUDIT_EMULATOR_KEY"
"""
The key the local emulator accepts in ``Ocp-Apim-Subscription-Key``.

Read by ``vision-audit emulator`` when ``--key`` is not given, so that no key ever has
to appear on a command line. When neither is set, the emulator accepts any key.
"""

VISION_AUDIT_STORE = "VISION_AUDIT_STORE"
"""
URL of the audit store: ``sqlite:///path/audit.db`` (the default is
``sqlite:///vision-audit.db``) or ``postgresql://...``. Read by ``instrument()`` when
no ``store`` is passed, and by the CLI commands as the default of ``--store``.
"""

VISION_AUDIT_AUDIT_FAILURE = "VISION_AUDIT_AUDIT_FAILURE"
"""
What a failure to record an audit event does: ``raise`` (default; the request is not
sent, or its result not returned, and ``AuditWriteError`` is raised) or ``log``
(best effort: log, mark the span, and go on).
"""

VISION_AUDIT_CAPTURE_CONTENT = "VISION_AUDIT_CAPTURE_CONTENT"
"""
``true`` to record captions, dense captions and read text (personal content) in spans,
logs and the store's erasable content table. Default ``false``.
"""
