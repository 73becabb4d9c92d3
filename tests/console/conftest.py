"""Fixtures of the console tests: a real store written by the SDK, a console on it."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator  # noqa: TC003 - fixtures are introspected
from pathlib import Path  # noqa: TC003 - fixtures are introspected

import pytest
from azure.ai.vision.imageanalysis.models import VisualFeatures
from vision_audit import audit_context, get_audit_id
from vision_audit import environment_variables as env
from vision_audit.testing import make_test_image

pytest.importorskip("starlette", reason="the console extra is not installed")

from starlette.testclient import TestClient

# The review tests' store, consent and names: the console reads what they write.
from tests.review.conftest import (
    ACTOR,
    HEALTHCARE,
    INTAKE,
    REVIEWER,
    _consent,  # noqa: F401 - a fixture, registered by being here
    _db_url,  # noqa: F401
    _instrument,  # noqa: F401
    _span_exporter,  # noqa: F401
    _store,  # noqa: F401
    _tracer_provider,  # noqa: F401
)
from vision_audit.console import ConsoleSecret
from vision_audit.console._app import ConsoleConfig, create_app

SCENE = {
    "tags": {"person": 0.97, "wheelchair": 0.93, "indoor": 0.9},
    "objects": [
        {"name": "wheelchair", "confidence": 0.88, "box": [40, 60, 200, 180]},
    ],
    "people": [{"confidence": 0.95, "box": [300, 40, 120, 300]}],
    "caption": {"text": "a person in a wheelchair", "confidence": 0.91},
}
"""What the emulator answers for the picture of the default case: boxes to draw."""

_ENVIRONMENT = (
    env.VISION_AUDIT_STORE,
    env.VISION_AUDIT_POLICY,
    env.VISION_AUDIT_CONSENT,
    env.VISION_AUDIT_CONSOLE_SECRET_FILE,
    env.VISION_AUDIT_CONSOLE_IMAGE_SAS,
)


@pytest.fixture(autouse=True)
def _no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(name="intake_policy")
def _intake_policy(tmp_path: Path) -> str:
    """healthcare-intake, with objects among its features (boxes to draw)."""
    text = HEALTHCARE.read_text()
    old = 'features = ["tags", "caption", "read", "people"]'
    assert old in text
    path = tmp_path / "intake.toml"
    path.write_text(text.replace(old, old.replace('"people"', '"people", "objects"')))
    return str(path)


@pytest.fixture(name="analyze")
def _analyze(client, emulator):
    """Analyze a picture at the intake desk as the nurse: ``(analysis_id, bytes)``."""

    def analyze(seed: int = 5, scene: dict | None = None, actor: str = ACTOR):
        image = make_test_image(seed=seed, width=640, height=400)
        emulator.script(image, scene or SCENE)
        with audit_context(
            purpose=INTAKE,
            consent_ref="c-intake-7",
            subject_ref="patient-7",
            actor=actor,
            image_name=f"intake-{seed}.jpg",
        ):
            result = client.analyze(
                image_data=image,
                visual_features=[
                    VisualFeatures.TAGS,
                    VisualFeatures.OBJECTS,
                    VisualFeatures.PEOPLE,
                    VisualFeatures.CAPTION,
                ],
            )
        analysis_id = get_audit_id(result)
        assert analysis_id is not None
        return analysis_id, image

    return analyze


@pytest.fixture(name="flagged")
def _flagged(instrument, intake_policy, analyze) -> tuple[str, bytes]:
    """One patient-intake analysis flagged for review (four eyes): id and bytes."""
    instrument(intake_policy)
    return analyze()


@pytest.fixture(name="secret")
def _secret(tmp_path: Path) -> ConsoleSecret:
    return ConsoleSecret.load(tmp_path / "console.key", create=True)


@pytest.fixture(name="make_console")
def _make_console(store, secret) -> Iterator:
    """``make_console(**config)``: a TestClient on a console over the store."""
    clients: list[TestClient] = []

    def make(*, verified: bool = True, base_url: str = "http://127.0.0.1", **config):
        config.setdefault("policy", None)
        app = create_app(
            ConsoleConfig(store=config.pop("store", store), secret=secret, **config),
            background=False,
        )
        if verified:
            app.state.console.watch.check()
        app.state.console.counts.refresh()
        client = TestClient(app, base_url=base_url, follow_redirects=False)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, "the page has no form with a CSRF token"
    return found[1]


def sign_in(client, secret: ConsoleSecret, reviewer: str = REVIEWER):
    """Sign *reviewer* in with a token, as a browser would; the queue's response."""
    page = client.get("/login")
    token = secret.issue_token(reviewer, days=1)
    answer = client.post("/login", data={"csrf": csrf_of(page.text), "token": token})
    assert answer.status_code == 303, answer.text
    return client.get("/")


@pytest.fixture(name="signed_in")
def _signed_in(make_console, secret):
    """``signed_in(reviewer="dr-okafor", **config)``: a client with a session."""

    def make(reviewer: str = REVIEWER, **config):
        client = make_console(**config)
        sign_in(client, secret, reviewer)
        return client

    return make


def decide(client, analysis_id: str, **form):
    """Post the decision form of a case with the session's CSRF token."""
    page = client.get(f"/cases/{analysis_id}")
    form.setdefault("csrf", csrf_of(page.text))
    supersedes = re.search(r'name="supersedes" value="([^"]+)"', page.text)
    if supersedes is not None:  # the hidden field of a decided case's form
        form.setdefault("supersedes", supersedes[1])
    return client.post(f"/cases/{analysis_id}/decide", data=form)


def in_ci() -> bool:
    """Whether this runs in CI, where a missing browser fails rather than skips."""
    return os.environ.get("CI", "").lower() not in {"", "0", "false", "no"}
