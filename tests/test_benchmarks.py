"""The benchmarks run, small, and print their figures: they must not rot unseen."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize(
    ("script", "arguments", "expected"),
    [
        ("bench_emulator.py", ["--rounds", "5"], "ratio"),
        ("bench_instrumentation.py", ["--rounds", "5"], "where the added"),
        (
            "bench_store.py",
            [
                "--events",
                "64",
                "--rounds",
                "1",
                "--verify-events",
                "1000",
                "--latency-samples",
                "20",
                "--no-postgres",
            ],
            "envelope only",
        ),
        ("bench_report.py", ["--events", "200"], "200"),
        ("bench_review.py", ["--events", "4000", "--rounds", "3"], "speed-up"),
        ("bench_console.py", ["--events", "4000", "--rounds", "3"], "case page"),
        (
            "bench_evidence.py",
            [
                "--events",
                "64",
                "--rounds",
                "1",
                "--proof-events",
                "2000",
                "--proof-samples",
                "20",
                "--verify-events",
                "1000",
            ],
            "target < 2 KB",
        ),
    ],
)
def test_runs_and_reports(script: str, arguments: list[str], expected: str) -> None:
    """Each benchmark finishes at a small size and prints what it measures."""
    completed = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *arguments],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=BENCHMARKS.parent,
    )

    assert 0 == completed.returncode, completed.stderr[-2000:]
    assert expected in completed.stdout


def test_fleet_runs_and_reports(postgres_url: str) -> None:
    """The fleet benchmark, small, against the tests' PostgreSQL, in its own schema."""
    schema = f"bench_fleet_{secrets.token_hex(4)}"
    completed = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "bench_fleet.py"),
            "--events",
            "2000",
            "--seconds",
            "2",
            "--rounds",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=BENCHMARKS.parent,
        env={
            **os.environ,
            "VISION_AUDIT_TEST_POSTGRES_URL": f"{postgres_url}?schema={schema}",
        },
    )

    assert 0 == completed.returncode, completed.stderr[-2000:]
    assert "one chain, verify OK" in completed.stdout
    assert "acknowledged and missing: 0" in completed.stdout
