"""The built wheel carries what an installed vision-audit needs."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parents[1]


class TestWheel:
    """Build the wheel as pip would and look inside."""

    def test_templates_policy_and_entry_points(self, tmp_path: Path) -> None:
        """Report templates, the demo policy, py.typed and the entry points are in."""
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--quiet",
                "-w",
                str(tmp_path),
                str(ROOT),
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
        (wheel,) = tmp_path.glob("vision_audit-*.whl")

        with zipfile.ZipFile(wheel) as archive:
            names = set(archive.namelist())
            entry_points = next(
                archive.read(n).decode()
                for n in names
                if n.endswith("entry_points.txt")
            )
            metadata = next(
                archive.read(n).decode() for n in names if n.endswith("/METADATA")
            )
        requires = [
            line.removeprefix("Requires-Dist: ")
            for line in metadata.splitlines()
            if line.startswith("Requires-Dist: ")
        ]
        plain = {r.split(";")[0].split(">")[0].split("[")[0].strip() for r in requires
                 if "extra ==" not in r}  # fmt: skip

        # The instrumentation alone installs no PDF, plotting or aio HTTP stack.
        assert not plain & {"weasyprint", "matplotlib", "aiohttp", "numpy", "pyhanko"}
        assert any("weasyprint" in r and "extra == 'report'" in r for r in requires)
        assert any("pyhanko" in r and "extra == 'sign'" in r for r in requires)
        assert any("aiohttp" in r and "extra == 'aio'" in r for r in requires)

        # The console's web stack comes with its extra, its pages with the package.
        assert not plain & {"starlette", "uvicorn", "itsdangerous"}
        assert any("starlette" in r and "extra == 'console'" in r for r in requires)
        for page in ("base", "login", "queue", "case", "refused", "_macros"):
            assert f"vision_audit/console/templates/{page}.html.j2" in names
        assert "vision_audit/console/static/console.css" in names
        assert "vision_audit/console/static/console.js" in names

        assert "vision_audit/_report_templates/report.html.j2" in names
        assert "vision_audit/_report_templates/report.css" in names
        assert "vision_audit/demo/policy.toml" in names
        assert "vision_audit/_report_templates/partials/maps.html.j2" in names
        for framework in ("microsoft-image-analysis", "eu-ai-act", "gdpr"):
            assert f"vision_audit/report/mappings/{framework}.toml" in names
        assert "vision_audit/py.typed" in names
        assert "vision-audit = vision_audit.__main__:main" in entry_points
        assert (
            "vision_audit = vision_audit.instrumentation:VisionAuditInstrumentor"
            in entry_points
        )
