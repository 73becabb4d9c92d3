"""The ``vision-audit`` command as a newcomer runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from azure.ai.vision.imageanalysis import ImageAnalysisClient
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import ClientAuthenticationError
from vision_audit.__main__ import main
from vision_audit.testing import make_test_image


def _run(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vision_audit", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def _first_line(process: subprocess.Popen[str], timeout: float = 30) -> str:
    """The first line the process prints, or a failure instead of a hang."""
    import selectors

    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            process.kill()
            pytest.fail(f"no output within {timeout} s")
    return process.stdout.readline()


class TestHelp:
    """Every command explains itself."""

    @pytest.mark.parametrize("command", [[], ["demo"], ["emulator"]])
    def test_help(self, command: list[str]) -> None:
        """``--help`` exits 0 and describes the command."""
        completed = _run(*command, "--help")

        assert 0 == completed.returncode
        assert "usage: vision-audit" in completed.stdout

    def test_no_command_is_bad_usage(self) -> None:
        """Without a command: usage on stderr and exit 2."""
        completed = _run()

        assert 2 == completed.returncode
        assert "required: COMMAND" in completed.stderr


class TestEmulatorCommand:
    """``vision-audit emulator`` in its own process."""

    def test_serves_the_sdk(self, tmp_path: Path) -> None:
        """It prints its endpoint, takes its key from the environment, and serves."""
        process = subprocess.Popen(
            [sys.executable, "-m", "vision_audit", "emulator", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "VISION_AUDIT_EMULATOR_KEY": "from-env"},
        )
        try:
            endpoint = _first_line(process).rsplit(" ", 1)[-1].strip()
            with ImageAnalysisClient(
                endpoint, AzureKeyCredential("from-env")
            ) as client:
                result = client.analyze(
                    image_data=make_test_image(), visual_features=["tags"]
                )
            with ImageAnalysisClient(endpoint, AzureKeyCredential("other")) as client:
                with pytest.raises(ClientAuthenticationError):
                    client.analyze(
                        image_data=make_test_image(), visual_features=["tags"]
                    )
        finally:
            process.terminate()
            _, stderr = process.communicate(timeout=10)

        assert endpoint.startswith("http://127.0.0.1:")
        assert result.tags.list
        assert "POST /computervision/imageanalysis:analyze 200" in stderr
        assert "from-env" not in stderr

    def test_missing_images_folder(self, tmp_path: Path) -> None:
        """A folder that does not exist is bad usage, named."""
        completed = _run("emulator", "--images", str(tmp_path / "nope"), "--port", "0")

        assert 2 == completed.returncode
        assert "nope" in completed.stderr
        assert "does not exist" in completed.stderr

    def test_broken_sidecar(self, tmp_path: Path) -> None:
        """A sidecar that is not a valid script stops start-up, naming file and key."""
        (tmp_path / "car.png").write_bytes(make_test_image(image_format="PNG"))
        (tmp_path / "car.json").write_text(json.dumps({"tags": {"car": "high"}}))

        completed = _run("emulator", "--images", str(tmp_path), "--port", "0")

        assert 2 == completed.returncode
        assert "car.json" in completed.stderr
        assert "tags.car" in completed.stderr

    def test_port_in_use(self) -> None:
        """A port that is taken is reported, not a traceback."""
        import socket

        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            completed = _run("emulator", "--port", str(taken.getsockname()[1]))

        assert 2 == completed.returncode
        assert "cannot listen" in completed.stderr
        assert "Traceback" not in completed.stderr

    @pytest.mark.parametrize("port", ["99999", "-1", "http"])
    def test_port_out_of_range(self, port: str) -> None:
        """A port outside 0-65535 is bad usage naming the range, not a traceback."""
        completed = _run("emulator", "--port", port)

        assert 2 == completed.returncode
        assert "argument --port" in completed.stderr
        assert "0 to 65535" in completed.stderr
        assert "Traceback" not in completed.stderr


class TestDemoCommand:
    """``vision-audit demo``, the product's main job."""

    def test_output_is_a_file(self, tmp_path: Path) -> None:
        """An --output that is an existing file is bad usage naming it."""
        taken = tmp_path / "afile"
        taken.write_text("not a folder")

        completed = _run("demo", "--output", str(taken))

        assert 2 == completed.returncode
        expected = (
            f"vision-audit demo: error: {taken} exists and is not a folder; "
            "give a folder for --output"
        )
        assert [expected] == completed.stderr.splitlines()
        assert "not a folder" == taken.read_text()

    def test_missing_extra_named(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
    ) -> None:
        """Without aiohttp (the aio extra), the demo says what to install: exit 2."""
        import importlib.util

        from vision_audit.__main__ import main

        found = importlib.util.find_spec
        monkeypatch.setattr(
            importlib.util,
            "find_spec",
            lambda name, *a: None if name == "aiohttp" else found(name, *a),
        )

        code = main(["demo", "--output", str(tmp_path / "out")])

        assert 2 == code
        assert "pip install 'vision-audit[all]'" in capsys.readouterr().err
        assert not (tmp_path / "out").exists()

    def test_output_cannot_be_created(self, tmp_path: Path) -> None:
        """An --output that cannot be created is one error line naming it, exit 2."""
        (tmp_path / "afile").write_text("not a folder")
        output = tmp_path / "afile" / "demo"

        completed = _run("demo", "--output", str(output))

        assert 2 == completed.returncode
        assert 1 == len(completed.stderr.splitlines())
        assert f"cannot create the output folder {output}" in completed.stderr
        assert "Traceback" not in completed.stderr

    def test_demo(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """The workload runs through the SDK, fails where Azure would, is audited."""
        from vision_audit.store import open_store

        output = tmp_path / "out"

        code = main(["demo", "--output", str(output)])

        printed = capsys.readouterr().out
        store = open_store(f"sqlite:///{output / 'audit.db'}")
        events = [r.event for r in store.iter_events()]
        store.close()
        kinds = [e.type for e in events]
        assert 0 == code
        assert (13, 9, 4, 2) == (
            kinds.count("analysis.requested"),
            kinds.count("analysis.completed"),
            kinds.count("analysis.failed"),
            kinds.count("analysis.denied"),
        )
        assert {"feature-not-allowed", "consent-revoked"} == {
            e.data["reason"] for e in events if e.type == "analysis.denied"
        }
        assert kinds.count("review.required") >= 4
        assert kinds.count("tags.filtered") >= 1
        assert {
            "retail-shelf-analytics",
            "insurance-claim-assessment",
            "patient-intake",
        } == {e.purpose for e in events if e.analysis_id}
        failures = {
            (e.data["status_code"], e.data["error_code"], e.data["inner_error_code"])
            for e in events
            if e.type == "analysis.failed"
        }
        assert {
            (500, "InternalServerError", None),
            (400, "InvalidRequest", None),
            (400, "InvalidRequest", "InvalidImageFormat"),
            (400, "InvalidRequest", "InvalidImageSize"),
        } == failures
        hallway = next(
            e
            for e in events
            if e.type == "analysis.completed"
            and e.data["results"].get("people", {}).get("count")
            and e.purpose == "patient-intake"
        )
        assert "wheelchair" in {
            t["name"] for t in hallway.data["results"]["tags"]["tags"]
        }
        spans = [
            span
            for resource in json.loads((output / "traces.json").read_text())[
                "resourceSpans"
            ]
            for scope in resource["scopeSpans"]
            for span in scope["spans"]
        ]
        analyses = [s for s in spans if s["name"] == "image_analysis latest"]
        parents = {s["spanId"]: s["name"] for s in spans}
        assert 15 == len(analyses)
        assert all(parents[s["parentSpanId"]].startswith("demo ") for s in analyses)
        log = [
            json.loads(line)
            for line in (output / "audit-log.jsonl").read_text().splitlines()
        ]
        logged = {e.event_id for e in events if e.analysis_id} | {
            e.event_id for e in events if e.type == "policy.activated"
        }
        assert logged == {line["event_id"] for line in log}
        assert str(output / "audit.db") in printed
        import pypdf

        report = pypdf.PdfReader(output / "report.pdf")
        assert len(report.pages) > 1
        assert "report.json" in report.attachments
        assert str(output / "report.pdf") in printed
        # The report is signed; its certificate is beside it, as the outputs say.
        signed = main(
            [
                "verify-pdf",
                str(output / "report.pdf"),
                "--cert",
                str(output / "report-signing.crt"),
            ]
        )
        assert 0 == signed
        assert f"signing cert {output / 'report-signing.crt'}" in printed
        assert (
            f"vision-audit verify-pdf {output / 'report.pdf'} --cert "
            f"{output / 'report-signing.crt'}"
        ) in printed
        assert 0o600 == (output / "report-signing.pem").stat().st_mode & 0o777
        assert kinds.count("review.decided") >= 3
        verified = main(
            [
                "verify",
                "--store",
                f"sqlite:///{output / 'audit.db'}",
                "--public-key",
                str(output / "public-key.pem"),
            ]
        )
        assert 0 == verified

    def test_outputs_hold_no_content_or_secrets(self, tmp_path: Path) -> None:
        """
        No SAS signature, caption or read text anywhere.

        Raw subject refs are kept only as erasable content in the store, never in the
        audit log or the traces.
        """
        main(["demo", "--output", str(tmp_path)])

        files = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
        everything = b"".join(files.values())
        telemetry = files["audit-log.jsonl"] + files["traces.json"]
        for secret in (
            b"demo-signature-not-real",
            b"sig=",
            b"AMOXICILLIN",
            b"wheelchair in a hallway",
        ):
            assert secret not in everything
        for subject in (b"patient-5521", b"claimant-1042"):
            assert subject not in telemetry


class TestExamples:
    """The examples run as their READMEs say."""

    def test_emulator_example(self) -> None:
        """examples/emulator/main.py prints a gender-neutral caption and the tags."""
        script = Path(__file__).parents[1] / "examples" / "emulator" / "main.py"

        completed = subprocess.run(
            [sys.executable, str(script)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

        assert 0 == completed.returncode, completed.stderr
        assert "caption: a person pushing a wheelchair" in completed.stdout
        assert "tags: person 0.97, wheelchair 0.92" in completed.stdout
