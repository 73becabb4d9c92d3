"""The attribute reference in docs/ and vision_audit.attributes stay in step."""

from __future__ import annotations

import re
from pathlib import Path

from vision_audit import attributes

DOC = Path(__file__).parents[1] / "docs" / "attributes.md"


class TestReference:
    """Every span attribute name is documented, and every documented name exists."""

    def test_in_step(self) -> None:
        """The documented names are exactly the module's span attribute names."""
        constants = {
            value
            for name, value in vars(attributes).items()
            if name.isupper()
            and isinstance(value, str)
            and "." in value
            and not name.startswith(
                ("EVENT_", "BAGGAGE_", "SPAN_NAME", "INSTRUMENTATION", "METRIC_")
            )
            and not name.endswith("_VALUE")
        }
        constants.discard(attributes.LABEL_PREFIX)
        documented = set(
            re.findall(r"^\| `([a-z0-9_.]+)`", DOC.read_text(), flags=re.MULTILINE)
        )
        documented.discard("vision_audit.audit_write_failed")
        documented -= {
            value
            for name, value in vars(attributes).items()
            if name.startswith(("EVENT_", "METRIC_"))
        }

        assert constants == documented
