"""examples/web-service: a stdlib HTTP service, audited explicitly or by the agent."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

import pytest
from tests.examples.conftest import (
    BIN,
    EXAMPLES,
    POLICIES,
    example_env,
    read_events,
    run,
)
from vision_audit.testing import make_test_image

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from vision_audit.emulator import Emulator

APP = EXAMPLES / "web-service" / "main.py"
POLICY = POLICIES / "insurance-claims.toml"
PURPOSE = "insurance-claim-assessment"
CLAIM_PHOTO = make_test_image(
    width=800,
    height=600,
    script={"tags": {"car": 0.99, "dent": 0.81, "person": 0.93}, "caption": "a car"},
)


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """POST *body* and return the status and the JSON answer, errors included."""
    request = urllib.request.Request(  # noqa: S310 - the test's own http:// URL
        url, data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def serve(
    runner: list[str], options: list[str], env: dict[str, str]
) -> Iterator[tuple[str, list[str]]]:
    """Start the service on a free port; yield its URL and the lines it printed."""
    with subprocess.Popen(
        [*runner, str(APP), "--port", "0", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    ) as process:
        assert process.stdout is not None
        printed = []
        for line in process.stdout:
            printed.append(line.strip())
            if line.startswith("listening on "):
                break
        else:
            process.kill()
            pytest.fail(f"the service did not start: {printed}")
        try:
            yield printed[-1].removeprefix("listening on "), printed
        finally:
            process.terminate()
            returncode = process.wait(timeout=15)
        # SIGTERM is a clean stop: the store is closed, the exit status is 0.
        assert 0 == returncode


@pytest.fixture(name="consented_store")
def _consented_store(store_url: str, emulator: Emulator, emulator_key: str) -> str:
    """A store holding claimant 1042's consent, granted as the README says."""
    env = example_env(emulator.endpoint, emulator_key)
    command = [
        str(BIN / "vision-audit"),
        "consent",
        "grant",
        "--store",
        store_url,
        "--ref",
        "consent-1042",
        "--subject",
        "claimant-1042",
        "--purpose",
        PURPOSE,
        "--actor",
        "privacy-officer",
        "--policy",
        str(POLICY),
    ]

    completed = run(command, env=env)

    assert 0 == completed.returncode, completed.stderr
    return store_url


@pytest.fixture(name="service", params=["explicit", "zero-code"])
def _service(
    request: pytest.FixtureRequest,
    consented_store: str,
    emulator: Emulator,
    emulator_key: str,
) -> Iterator[tuple[str, list[str]]]:
    """The service, run both ways its README documents."""
    if request.param == "explicit":
        env = example_env(emulator.endpoint, emulator_key)
        options = ["--policy", str(POLICY), "--store", consented_store]
        yield from serve([sys.executable], options, env)
    else:
        env = example_env(
            emulator.endpoint,
            emulator_key,
            VISION_AUDIT_POLICY=str(POLICY),
            VISION_AUDIT_STORE=consented_store,
        )
        agent = [str(BIN / "opentelemetry-instrument"), sys.executable]
        yield from serve(agent, [], env)


class TestWebService:
    """Headers become the audit context; the policy decides; the store keeps it all."""

    def test_start_up_says_who_audits(
        self, service: tuple[str, list[str]], request: pytest.FixtureRequest
    ) -> None:
        """The service says whether it or the agent instrumented the SDK."""
        _, printed = service
        expected = {
            "explicit": "explicit instrument()",
            "zero-code": "opentelemetry-instrument (VISION_AUDIT_* environment)",
        }[request.node.callspec.params["service"]]

        assert f"audited by {expected}" == printed[0]

    def test_consented_upload(
        self, service: tuple[str, list[str]], consented_store: str
    ) -> None:
        """With consent, the tags come back filtered, with the analysis' audit id."""
        url, _ = service
        headers = {
            "Content-Type": "application/octet-stream",
            "X-Consent-Ref": "consent-1042",
            "X-Purpose": PURPOSE,
            "X-Subject-Ref": "claimant-1042",
            "X-Actor": "adjuster-7",
        }

        status, answer = post(f"{url}/analyze", CLAIM_PHOTO, headers)

        assert 200 == status, answer
        # "person" is on the policy's block list: the application never sees it.
        assert ["car", "dent"] == [tag["name"] for tag in answer["tags"]]
        events = [r.event for r in read_events(consented_store)]
        ours = [e for e in events if e.analysis_id == answer["audit_id"]]
        assert "analysis.requested" == ours[0].type
        assert "analysis.completed" in [e.type for e in ours]
        assert ("consent-1042", PURPOSE, "adjuster-7") == (
            ours[0].consent_ref,
            ours[0].purpose,
            ours[0].actor,
        )

    def test_no_consent_is_refused(
        self, service: tuple[str, list[str]], consented_store: str
    ) -> None:
        """Without a consent reference the call is denied and recorded, never sent."""
        url, _ = service
        headers = {"X-Purpose": PURPOSE, "X-Subject-Ref": "claimant-2001"}

        status, answer = post(f"{url}/analyze", CLAIM_PHOTO, headers)

        assert 403 == status
        assert "denied" == answer["error"]
        assert answer["reason"].startswith("consent")
        types = [r.event.type for r in read_events(consented_store)]
        assert "analysis.denied" in types
        assert "analysis.requested" not in types

    def test_broken_upload(
        self, service: tuple[str, list[str]], consented_store: str
    ) -> None:
        """A body that is no image gets the service's error code and is audited."""
        url, _ = service
        headers = {
            "X-Consent-Ref": "consent-1042",
            "X-Purpose": PURPOSE,
            "X-Subject-Ref": "claimant-1042",
        }

        status, answer = post(f"{url}/analyze", b"not an image at all", headers)

        assert 400 == status
        assert "InvalidRequest" == answer["error"]
        types = [r.event.type for r in read_events(consented_store)]
        assert ["analysis.requested", "analysis.failed"] == [
            t for t in types if t.startswith("analysis.")
        ]


def test_withheld_on_a_blocked_tag(
    tmp_path: Path, store_url: str, emulator: Emulator, emulator_key: str
) -> None:
    """A purpose that withholds results showing people answers 422, naming the tag."""
    policy = tmp_path / "no-people.toml"
    policy.write_text(
        '[policy]\nname = "no-people"\nversion = "1"\n'
        f'[purposes.{PURPOSE}]\nrequire_consent = false\nfeatures = ["tags"]\n'
        f"[purposes.{PURPOSE}.tags]\n"
        'block = ["person"]\non_blocked = "withhold"\n',
        encoding="utf-8",
    )
    env = example_env(emulator.endpoint, emulator_key)
    options = ["--policy", str(policy), "--store", store_url]

    for url, _ in serve([sys.executable], options, env):
        status, answer = post(f"{url}/analyze", CLAIM_PHOTO, {"X-Purpose": PURPOSE})

    assert 422 == status, answer
    assert ("withheld", ["person"]) == (answer["error"], answer["tags"])
    completed = [
        r.event for r in read_events(store_url) if r.event.type == "analysis.completed"
    ]
    assert [answer["id"]] == [e.analysis_id for e in completed]
    assert "tag-blocked" == completed[0].data["withheld"]
