"""Helpers for running the examples as a user would: subprocesses, a temporary store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from vision_audit.store import open_store
from vision_audit.testing import make_test_image

if TYPE_CHECKING:
    from vision_audit.emulator import Emulator

EXAMPLES = Path(__file__).parents[2] / "examples"
POLICIES = EXAMPLES / "policies"
BIN = Path(sys.executable).parent

QUIET_OTEL = {
    "OTEL_TRACES_EXPORTER": "none",
    "OTEL_METRICS_EXPORTER": "none",
    "OTEL_LOGS_EXPORTER": "none",
}


def example_env(emulator_endpoint: str, key: str, **extra: str) -> dict[str, str]:
    """The environment an example runs in: ours, minus VISION_AUDIT_*, plus *extra*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VISION_AUDIT_")}
    env.update(QUIET_OTEL)
    env.update(VISION_ENDPOINT=emulator_endpoint, VISION_KEY=key, **extra)
    return env


def run(
    args: list[str], *, env: dict[str, str], cwd: Path | None = None, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion, capturing text output; never raise on failure."""
    return subprocess.run(  # noqa: PLW1510 - callers assert on returncode
        args,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=cwd,
        **kwargs,  # type: ignore[arg-type]
    )


def event_types(store_url: str) -> list[str]:
    """The types of the events in the store, in chain order."""
    return [recorded.event.type for recorded in read_events(store_url)]


def read_events(store_url: str) -> list[object]:
    """Every recorded event of the store, in chain order."""
    store = open_store(store_url)
    try:
        return list(store.iter_events())
    finally:
        store.close()


@pytest.fixture(name="store_url")
def _store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'audit.db'}"


BATCH = EXAMPLES / "batch" / "main.py"
RETAIL_POLICY = POLICIES / "retail-shelf-analytics.toml"
RETAIL = "retail-shelf-analytics"


def make_shelf_photos(folder: Path) -> Path:
    """
    Fill *folder* with what a shelf camera uploads, and return it.

    Three good photos (two catching a shopper), a broken upload and a file that is
    not an image at all.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "aisle-01.jpg").write_bytes(
        make_test_image(
            seed=1, script={"tags": {"shelf": 0.95, "bottle": 0.9, "product": 0.8}}
        )
    )
    (folder / "aisle-02.jpg").write_bytes(
        make_test_image(
            seed=2,
            script={
                "tags": {"shelf": 0.93, "person": 0.96, "man": 0.9},
                "caption": "a man next to a shelf",
                "people": 1,
            },
        )
    )
    (folder / "aisle-03.png").write_bytes(b"\x89PNG\r\n\x1a\n broken upload")
    (folder / "aisle-04.jpg").write_bytes(
        make_test_image(
            seed=4,
            script={
                "tags": {"shelf": 0.91, "woman": 0.94, "bottle": 0.72},
                "caption": "a woman holding a bottle in front of a shelf",
                "people": 1,
            },
        )
    )
    (folder / "notes.txt").write_text("not an image")
    return folder


def run_batch(
    folder: Path,
    store_url: str,
    env: dict[str, str],
    *features: str,
    policy: Path = RETAIL_POLICY,
) -> subprocess.CompletedProcess[str]:
    """Run the batch example over *folder* for the retail purpose, as documented."""
    options = [arg for feature in features for arg in ("--feature", feature)]
    return run(
        [
            sys.executable,
            str(BATCH),
            str(folder),
            "--purpose",
            RETAIL,
            "--policy",
            str(policy),
            "--store",
            store_url,
            *options,
        ],
        env=env,
    )


@pytest.fixture(name="batched_store")
def _batched_store(
    tmp_path: Path, store_url: str, emulator: Emulator, emulator_key: str
) -> str:
    """A store the batch example filled, with two results waiting for review."""
    photos = make_shelf_photos(tmp_path / "shelves")
    env = example_env(emulator.endpoint, emulator_key)

    completed = run_batch(photos, store_url, env, "tags", "caption")

    assert 1 == completed.returncode, completed.stderr  # the broken upload
    return store_url
