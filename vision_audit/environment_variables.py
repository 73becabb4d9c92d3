"""Every ``VISION_AUDIT_*`` environment variable that vision-audit reads, by name."""

from __future__ import annotations

VISION_AUDIT_EMULATOR_KEY = "VISION_AUDIT_EMULATOR_KEY"
"""
The key the local emulator accepts in ``Ocp-Apim-Subscription-Key``.

Read by ``vision-audit emulator`` when ``--key`` is not given, so that no key ever has
to appear on a command line. When neither is set, the emulator accepts any key.
"""
