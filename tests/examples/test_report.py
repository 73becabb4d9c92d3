"""examples/report: last month's PDF, run by cron or a systemd timer."""

from __future__ import annotations

import configparser
import datetime as dt
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

import pypdf
import pytest
from tests.examples.conftest import EXAMPLES, run

if TYPE_CHECKING:
    from pathlib import Path

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
FOLDER = EXAMPLES / "report"
SCRIPT = FOLDER / "main.py"
INSTALLED = "/opt/vision-audit"
RUN_LINE = (
    f"{INSTALLED}/.venv/bin/python {INSTALLED}/examples/report/main.py"
    " --out-dir /var/lib/vision-audit/reports"
)


def report(out_dir: Path, *options: str, env: dict[str, str]) -> str:
    """Run the report script; return what it printed."""
    completed = run(
        [sys.executable, str(SCRIPT), "--out-dir", str(out_dir), *options], env=env
    )

    assert 0 == completed.returncode, completed.stderr
    return completed.stdout


def read_unit(name: str) -> configparser.ConfigParser:
    """A systemd unit file, read as INI (enough to find its settings)."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(FOLDER / name)
    return parser


class TestReportScript:
    """The script works out the period and leaves a PDF behind."""

    def test_month_of_a_batch(self, tmp_path: Path, batched_store: str) -> None:
        """A store the batch example filled gets its month's PDF/A."""
        this_month = dt.datetime.now(dt.UTC).date().strftime("%Y-%m")
        env = {"VISION_AUDIT_STORE": batched_store, "PATH": "/usr/bin:/bin"}

        printed = report(tmp_path / "reports", "--month", this_month, env=env)

        pdf = tmp_path / "reports" / f"vision-audit-report-{this_month}.pdf"
        assert f"wrote {pdf}" == printed.splitlines()[-1]
        assert pdf.read_bytes().startswith(b"%PDF-")

    def test_own_mappings(self, tmp_path: Path, batched_store: str) -> None:
        """--mappings mappings/: the ISO/IEC 42001 example is mapped in the PDF."""
        this_month = dt.datetime.now(dt.UTC).date().strftime("%Y-%m")
        env = {"VISION_AUDIT_STORE": batched_store, "PATH": "/usr/bin:/bin"}
        maps = str(FOLDER / "mappings")

        report(tmp_path, "--month", this_month, "--mappings", maps, env=env)

        pdf = tmp_path / f"vision-audit-report-{this_month}.pdf"
        text = " ".join(page.extract_text() for page in pypdf.PdfReader(pdf).pages)
        assert "ISO/IEC 42001:2023 Annex A: selected controls" in " ".join(text.split())

    def test_last_month_by_default(self, tmp_path: Path, batched_store: str) -> None:
        """Without --month it reports the previous calendar month (UTC)."""
        last = dt.datetime.now(dt.UTC).date().replace(day=1) - dt.timedelta(days=1)
        first = last.replace(day=1)
        env = {"PATH": "/usr/bin:/bin"}

        printed = report(tmp_path, "--store", batched_store, env=env)

        pdf = tmp_path / f"vision-audit-report-{first:%Y-%m}.pdf"
        assert f"reporting {first} to {last} into {pdf}" == printed.splitlines()[0]
        assert pdf.read_bytes().startswith(b"%PDF-")

    def test_no_store(self, tmp_path: Path) -> None:
        """Without a store it refuses, as bad usage, and writes nothing."""
        completed = run(
            [sys.executable, str(SCRIPT), "--out-dir", str(tmp_path / "r")],
            env={"PATH": "/usr/bin:/bin"},
        )

        assert 2 == completed.returncode
        assert "VISION_AUDIT_STORE" in completed.stderr
        assert not (tmp_path / "r").exists()


class TestSchedules:
    """The cron line and the systemd units run the script the same way."""

    def test_service_runs_the_script(self) -> None:
        """The service is a oneshot running the script, its store from a file."""
        service = read_unit("vision-audit-report.service")["Service"]

        assert RUN_LINE == service["ExecStart"]
        assert "oneshot" == service["Type"]
        assert "/etc/vision-audit/report.env" == service["EnvironmentFile"]

    def test_timer_fires_monthly(self) -> None:
        """The timer starts the service on the 1st, catching up missed runs."""
        timer = read_unit("vision-audit-report.timer")["Timer"]

        assert "*-*-01 06:00:00 UTC" == timer["OnCalendar"]
        assert "vision-audit-report.service" == timer["Unit"]
        assert "true" == timer["Persistent"]

    def test_cron_line(self) -> None:
        """The crontab entry fires at 06:00 on the 1st and runs the same command."""
        lines = (FOLDER / "crontab").read_text().splitlines()
        entries = [line for line in lines if line and not line.startswith("#")]

        assert 1 == len(entries)
        assert ["0", "6", "1", "*", "*"] == entries[0].split()[:5]
        assert f"&& {RUN_LINE} >>" in entries[0]

    @pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="needs systemd-analyze")
    def test_units_verify(self, tmp_path: Path) -> None:
        """systemd-analyze verify accepts both units, installed paths made real."""
        for name in ("vision-audit-report.service", "vision-audit-report.timer"):
            text = (FOLDER / name).read_text()
            text = text.replace(f"{INSTALLED}/.venv/bin/python", sys.executable)
            text = text.replace(f"{INSTALLED}/examples", str(EXAMPLES))
            (tmp_path / name).write_text(text)

        completed = subprocess.run(
            [
                str(SYSTEMD_ANALYZE),
                "verify",
                "--man=no",
                str(tmp_path / "vision-audit-report.timer"),
                str(tmp_path / "vision-audit-report.service"),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

        assert 0 == completed.returncode, completed.stderr
        assert "" == completed.stderr
