"""examples/otel-collector: the sample configuration drops content attributes."""

from __future__ import annotations

import re

from tests.examples.conftest import EXAMPLES
from vision_audit import attributes

CONFIG = (EXAMPLES / "otel-collector" / "collector.yaml").read_text()
CONTENT_KEYS = sorted(
    value
    for name, value in vars(attributes).items()
    if name.startswith("CONTENT_") and isinstance(value, str)
)


class TestCollectorConfig:
    """A second line of defence, in step with vision_audit.attributes."""

    def test_every_content_attribute_is_deleted(self) -> None:
        """Each content attribute the package defines has its own delete action."""
        deleted = re.findall(r"- key: (\S+)\n\s+action: delete\n", CONFIG)

        assert CONTENT_KEYS
        assert CONTENT_KEYS == sorted(set(deleted) & set(CONTENT_KEYS))

    def test_future_content_attributes_are_deleted(self) -> None:
        """A pattern catches content attributes added later."""
        assert re.search(
            r"- pattern: \^vision_audit\\\.content\\\.\.\*\n\s+action: delete\n",
            CONFIG,
        )

    def test_every_pipeline_drops_content(self) -> None:
        """The traces and logs pipelines both run the processor."""
        service = CONFIG.split("\nservice:\n", 1)[1]
        pipelines = re.findall(r"^    (\w+):\n((?:      .*\n)+)", service, re.MULTILINE)

        assert {"traces", "logs"} == {name for name, _ in pipelines}
        for _, body in pipelines:
            assert re.search(r"processors: \[.*attributes/drop-content.*\]", body)

    def test_captured_output_preview_is_dropped(self) -> None:
        """Spans that captured content lose output.value, before the marker goes."""
        processor = re.search(
            r"\n  attributes/drop-captured-output:\n((?:    .*\n)+)", CONFIG
        )
        assert processor
        body = processor.group(1)
        assert re.search(
            rf"match_type: strict\n\s+attributes:\n\s+- key: "
            rf"{re.escape(attributes.CONTENT_CAPTURED)}\n\s+value: true\n",
            body,
        )
        assert re.search(
            rf"- key: {re.escape(attributes.OUTPUT_JSON)}\n\s+action: delete\n", body
        )
        traces = CONFIG.split("\nservice:\n", 1)[1].split("logs:", 1)[0]
        assert re.search(
            r"attributes/drop-captured-output, attributes/drop-content", traces
        )
