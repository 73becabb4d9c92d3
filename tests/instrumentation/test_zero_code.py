"""``opentelemetry-instrument python app.py``: no code change, set by environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from vision_audit.store import open_store
from vision_audit.testing import make_test_image

EXAMPLE = Path(__file__).parents[2] / "examples" / "zero-code" / "main.py"


class TestZeroCode:
    """The entry point makes the agent find and configure the instrumentor."""

    def test_entry_point(self) -> None:
        """vision_audit is registered as an opentelemetry_instrumentor."""
        from importlib.metadata import entry_points

        found = {
            e.name: e.value for e in entry_points(group="opentelemetry_instrumentor")
        }

        assert (
            "vision_audit.instrumentation:VisionAuditInstrumentor"
            == found["vision_audit"]
        )

    def test_unmodified_app_is_audited(self, emulator, emulator_key, tmp_path) -> None:
        """The example app, run under the agent, leaves its calls in the store."""
        store_url = f"sqlite:///{tmp_path / 'audit.db'}"

        completed = _run_agent(emulator, emulator_key, tmp_path, store_url)

        assert 0 == completed.returncode, completed.stderr
        store = open_store(store_url)
        try:
            kinds = [r.event.type for r in store.iter_events()]
        finally:
            store.close()
        assert ["analysis.requested", "analysis.completed"] * 2 == kinds

    def test_bad_setting_fails_closed(
        self, fresh_emulator, emulator_key, tmp_path
    ) -> None:
        """A misspelt VISION_AUDIT_* value: the agent starts the app, no call leaves."""
        store_url = f"sqlite:///{tmp_path / 'audit.db'}"

        completed = _run_agent(
            fresh_emulator,
            emulator_key,
            tmp_path,
            store_url,
            VISION_AUDIT_AUDIT_FAILURE="rasie",
        )

        assert 0 != completed.returncode
        assert "AuditWriteError" in completed.stderr
        assert "VISION_AUDIT_AUDIT_FAILURE must be 'raise' or 'log'" in completed.stderr
        assert 0 == fresh_emulator.requests_received
        assert not (tmp_path / "audit.db").exists()


def _run_agent(
    emulator, key: str, folder: Path, store_url: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    """The example app under ``opentelemetry-instrument``, on two photos."""
    images = []
    for seed in (1, 2):
        path = folder / f"photo-{seed}.jpg"
        path.write_bytes(make_test_image(seed=seed))
        images.append(str(path))
    agent = Path(sys.executable).with_name("opentelemetry-instrument")
    env = {
        **os.environ,
        "VISION_ENDPOINT": emulator.endpoint,
        "VISION_KEY": key,
        "VISION_AUDIT_STORE": store_url,
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        **extra,
    }
    return subprocess.run(
        [str(agent), sys.executable, str(EXAMPLE), *images],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
