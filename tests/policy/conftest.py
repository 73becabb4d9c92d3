"""Fixtures for policy tests: policy files on disk, a fixed clock, example paths."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[2] / "examples" / "policies"
NOW = dt.datetime(2026, 11, 15, 12, 0, tzinfo=dt.UTC)

MINIMAL = """
[policy]
name = "test"
version = "1"

[purposes.claims]
features = ["tags", "caption", "objects", "read", "denseCaptions"]
"""


@pytest.fixture(name="now")
def _now() -> dt.datetime:
    """The fixed time the engine's clock returns."""
    return NOW


@pytest.fixture(name="examples_dir")
def _examples_dir() -> Path:
    return EXAMPLES


@pytest.fixture(name="minimal_policy")
def _minimal_policy() -> str:
    return MINIMAL


@pytest.fixture(name="write_policy")
def _write_policy(tmp_path: Path):
    """Write TOML text (dedented) to a file and return its path."""

    def write(text: str, name: str = "policy.toml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write
