"""
Each example's README, run word for word.

The shell blocks of a README are run by bash exactly as they are written, in a copy of
``examples/`` (so that ``../images`` and ``../policies`` resolve and the audit store
lands in the copy), with this checkout's virtual environment first on ``PATH`` (as
after ``. .venv/bin/activate``) and no ``VISION_AUDIT_*`` or ``OTEL_*`` variable set.
``pip install -r requirements.txt`` finds everything installed already. A block that
starts a server in the background (``vision-audit emulator --port 5000 &``) has it
stopped when the block ends; a server a README runs in the foreground is started in
the background by the test, which then runs the next block as a second terminal
would. Where a README names a file an earlier example makes (``e.g. the one ../batch/
filled``), the test makes it that way first.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TIMEOUT = 180
BASH = shutil.which("bash") or "/bin/bash"
# The ports the READMEs use: a test cannot run where something else holds them.
README_PORTS = (5000, 8080)


def shell_blocks(readme: Path) -> list[str]:
    """The ```sh blocks of *readme*, in order, as written."""
    return re.findall(
        r"^```sh\n(.*?)^```$", readme.read_text(), re.MULTILINE | re.DOTALL
    )


def _environment(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VISION_AUDIT_", "OTEL_", "VIRTUAL_ENV"))
    }
    venv_bin = str(Path(sys.executable).parent)
    env.update(
        PATH=f"{venv_bin}{os.pathsep}{env.get('PATH', '')}",
        HOME=str(home),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PYTHONUNBUFFERED="1",
        # No collector runs in the tests: the agent's exporters print to nowhere.
        OTEL_TRACES_EXPORTER="none",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
    )
    return env


def _stop(process: subprocess.Popen[str]) -> None:
    """Stop *process* and everything it started (its session), and wait for them."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.1)
        else:
            continue
        break
    process.wait(timeout=15)


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        # As the servers bind: a port a stopped server left in TIME_WAIT is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture(name="workspace")
def _workspace(tmp_path: Path) -> Path:
    """A copy of examples/ (and docs/, which some examples read), to run in."""
    busy = [port for port in README_PORTS if not _port_free(port)]
    if busy:
        pytest.skip(f"the READMEs' ports {busy} are in use on this machine")
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    (tmp_path / "home").mkdir()
    return tmp_path


def run_block(
    script: str, cwd: Path, home: Path, *, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run *script* with bash in *cwd*; stop whatever it left in the background."""
    # Files, not pipes: a server left in the background would hold a pipe open.
    out_path, err_path = cwd / ".readme-stdout", cwd / ".readme-stderr"
    with out_path.open("w") as out, err_path.open("w") as err:
        process = subprocess.Popen(
            [BASH, "-c", script],
            cwd=cwd,
            env=_environment(home),
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=err,
            text=True,
            start_new_session=True,
        )
        try:
            process.communicate(stdin, timeout=TIMEOUT)
        finally:
            _stop(process)
    return subprocess.CompletedProcess(
        process.args, process.returncode, out_path.read_text(), err_path.read_text()
    )


@contextlib.contextmanager
def in_background(script: str, cwd: Path, env: dict[str, str], port: int):
    """Run *script* as a server would run in its own terminal, until the block ends."""
    log = cwd / f"server-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [BASH, "-c", script],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while _port_free(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the server did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield log
    finally:
        _stop(process)


def _ok(completed: subprocess.CompletedProcess[str]) -> str:
    assert 0 == completed.returncode, (
        completed.stdout[-2000:] + completed.stderr[-3000:]
    )
    return completed.stdout


def _batch(workspace: Path) -> subprocess.CompletedProcess[str]:
    folder = workspace / "examples" / "batch"
    (block,) = shell_blocks(folder / "README.md")
    return run_block(block, folder, workspace / "home")


class TestReadmes:
    """Every example's commands, as a newcomer would paste them."""

    def test_batch(self, workspace: Path) -> None:
        """Three shelf photos: two analyzed, one refused by the service (exit 1)."""
        completed = _batch(workspace)

        assert 1 == completed.returncode, completed.stderr[-3000:]
        assert "summary: 3 images, 2 analyzed" in completed.stdout
        assert (workspace / "examples" / "batch" / "audit.db").exists()

    def test_emulator(self, workspace: Path) -> None:
        """The emulator example runs its scripted calls."""
        folder = workspace / "examples" / "emulator"
        (block,) = shell_blocks(folder / "README.md")

        _ok(run_block(block, folder, workspace / "home"))

    def test_report_and_review_after_batch(self, workspace: Path) -> None:
        """The store the batch filled: a month's report, then a reviewer's session."""
        assert 1 == _batch(workspace).returncode
        store = workspace / "examples" / "batch" / "audit.db"
        for name in ("report", "review"):
            shutil.copy(store, workspace / "examples" / name / "audit.db")
        report = workspace / "examples" / "report"

        printed = _ok(
            run_block(shell_blocks(report / "README.md")[0], report, workspace / "home")
        )

        pdfs = sorted(p.name for p in (report / "reports").glob("*.pdf"))
        assert len(pdfs) == 2, pdfs
        # The signed one, checked against the certificate keygen made.
        assert "signed/vision-audit-report-2026-10.pdf: VALID" in printed
        review = workspace / "examples" / "review"
        answers = "a\nthe caption names no one\n" * 5 + "q\n"
        out = _ok(
            run_block(
                shell_blocks(review / "README.md")[0],
                review,
                workspace / "home",
                stdin=answers,
            )
        )
        assert "pending review" in out
        assert "approve" in out

    def test_zero_code(self, workspace: Path) -> None:
        """The agent audits an unchanged script; the log verifies with its key."""
        folder = workspace / "examples" / "zero-code"
        (block,) = shell_blocks(folder / "README.md")

        out = _ok(run_block(block, folder, workspace / "home"))

        assert "OK:" in out

    def test_web_service(self, workspace: Path) -> None:
        """Consent; the service in one terminal, a request in another; then verify."""
        folder = workspace / "examples" / "web-service"
        home = workspace / "home"
        setup, start, _agent, request, check = shell_blocks(folder / "README.md")
        env = _environment(home)
        install, emulator, rest = re.split(
            r"^(vision-audit emulator .*)$", setup, maxsplit=1, flags=re.MULTILINE
        )
        # What the README's `export` lines leave set in the terminal.
        exports = "".join(
            line + "\n"
            for line in (setup + start).splitlines()
            if line.startswith("export")
        )
        keygen, _, serve = start.strip().rpartition("\n")
        _ok(run_block(install, folder, home))
        with in_background(emulator.partition("&")[0], folder, env, 5000):
            _ok(run_block(rest, folder, home))
            _ok(run_block(keygen, folder, home))
            with in_background(exports + serve, folder, env, 8080):
                answered = _ok(run_block(exports + request, folder, home))
            verified = _ok(run_block(exports + check, folder, home))

        assert '"audit_id"' in answered
        assert '"name": "car"' in answered
        assert verified.startswith("OK:")

    def test_policies(self, workspace: Path) -> None:
        """From the repository's root: check, show, then a consent under the policy."""
        readme = workspace / "examples" / "policies" / "README.md"
        check, consent = shell_blocks(readme)[:2]

        out = _ok(run_block(check, workspace, workspace / "home"))
        _ok(run_block(consent, workspace, workspace / "home"))

        assert "insurance-claim-assessment" in out

    def test_verify_offline(self, workspace: Path) -> None:
        """The demo's log exported, its key, its witness's key and its proof."""
        from vision_audit.demo import run_demo

        demo = workspace / "demo"
        run_demo(demo, out=io.StringIO())
        folder = workspace / "examples" / "verify-offline"
        shutil.copy(demo / "public-key.pem", folder / "audit-signing.pem.pub")
        shutil.copy(demo / "witness" / "witness.vkey", folder / "compliance.vkey")
        shutil.copy(demo / "proof.json", folder / "proof.json")
        exported = run_block(
            f"vision-audit export --store sqlite:///{demo / 'audit.db'} "
            "--output audit.jsonl",
            folder,
            workspace / "home",
        )
        _ok(exported)
        (block,) = shell_blocks(folder / "README.md")

        out = _ok(run_block(block, folder, workspace / "home"))

        assert 3 == sum(line.startswith("OK: ") for line in out.splitlines()), out
