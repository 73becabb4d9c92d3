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

VISION_AUDIT_BAGGAGE = "VISION_AUDIT_BAGGAGE"
"""
``false`` to take no audit fact (purpose, consent, subject, actor, labels) from
OpenTelemetry baggage, only from ``audit_context`` blocks: for a service whose
inbound requests come from clients it does not trust. Default ``true``.
"""

VISION_AUDIT_SIGNING_KEY = "VISION_AUDIT_SIGNING_KEY"
"""
The Ed25519 key that signs the audit store's checkpoints: a PKCS#8 PEM block, or the
32-byte private key in base64 or hex. Prefer ``VISION_AUDIT_SIGNING_KEY_FILE``. Make
one with ``vision-audit keygen``. Without a key, no checkpoint is signed and removal of
the newest events cannot be detected.
"""

VISION_AUDIT_SIGNING_KEY_FILE = "VISION_AUDIT_SIGNING_KEY_FILE"
"""Path of a PEM file holding the checkpoint signing key (see above)."""

VISION_AUDIT_PSEUDONYM_KEY = "VISION_AUDIT_PSEUDONYM_KEY"
"""
The secret of the keyed hash (HMAC-SHA256) that turns subject references into
pseudonyms: at least 16 bytes, in hex or base64. Without it (or the file below), a
store generates one when it is created and keeps it in its metadata, so that every
writer of a fleet shares it. A store refuses a key other than the one it started with.
"""

VISION_AUDIT_PSEUDONYM_KEY_FILE = "VISION_AUDIT_PSEUDONYM_KEY_FILE"
"""Path of a file holding the pseudonym key: hex or base64 text, or raw bytes."""

VISION_AUDIT_TEST_POSTGRES_URL = "VISION_AUDIT_TEST_POSTGRES_URL"
"""
For vision-audit's own tests and benchmarks: the ``postgresql://`` URL of a server
they may create schemas in. When unset, they start a throwaway server with
``scripts/setup-postgres``.
"""

VISION_AUDIT_POLICY = "VISION_AUDIT_POLICY"
"""
Path of the TOML policy file (consent and purposes, tag allow and block lists,
sensitive content, review routing, retention). Read by ``instrument()`` when no
``policy`` is passed, and by ``vision-audit policy show`` when no file is named. See
``vision_audit.policy`` for the format. Unset: no policy, every call is only recorded.
"""

VISION_AUDIT_CONSENT = "VISION_AUDIT_CONSENT"
"""
Where consent records come from when a policy requires consent: ``store`` (the
default: the consent table kept in the audit store, granted and revoked with
``vision-audit consent``) or the path of a JSON or TOML consent file.
"""

VISION_AUDIT_CONSOLE_SECRET_FILE = "VISION_AUDIT_CONSOLE_SECRET_FILE"  # noqa: S105 - a name
"""
Path of the reviewer console's secret (mode 0600), which signs reviewer tokens,
session cookies and CSRF tokens; ``vision-audit review token`` makes it when missing.
Default ``vision-audit-console.key`` in the working directory.
"""

VISION_AUDIT_CONSOLE_IMAGE_SAS = "VISION_AUDIT_CONSOLE_IMAGE_SAS"
"""
The query string (e.g. a blob container's SAS token) that the reviewer console puts
in place of ``{sas}`` in its ``--image-url-template``; never logged, never shown.
"""

VISION_AUDIT_TEST_SCREENSHOTS = "VISION_AUDIT_TEST_SCREENSHOTS"
"""
Tests only: a folder where the console's browser tests leave their screenshots (a
temporary folder otherwise), to be looked at after the run.
"""
