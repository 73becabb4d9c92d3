"""Where audit events go: the store (critical), then structlog and OpenTelemetry."""

from __future__ import annotations

from vision_audit.sinks._fanout import Recorder
from vision_audit.sinks.log import add_trace_ids

__all__ = ["Recorder", "add_trace_ids"]
