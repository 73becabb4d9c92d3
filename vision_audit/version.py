"""The version of vision-audit, read by the build and passed to ``get_tracer()``."""

from __future__ import annotations

__version__ = "0.1.0.dev0"
