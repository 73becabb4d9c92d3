"""
The reviewer console in a real browser: the system's Chromium driven by Playwright.

The console is served over loopback by uvicorn, on a store written by the
instrumented SDK against the emulator. Screenshots are left in
``$VISION_AUDIT_TEST_SCREENSHOTS`` (a temporary folder otherwise).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from tests.console.conftest import ACTOR, REVIEWER, in_ci
from vision_audit import environment_variables as env
from vision_audit.console._app import ConsoleConfig, create_app
from vision_audit.policy import load_policy
from vision_audit.review import get_review

if TYPE_CHECKING:
    from collections.abc import Iterator

pytest.importorskip("uvicorn", reason="the console extra is not installed")

WIDTH, HEIGHT = 1280, 800


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    message = (
        "no Chromium on this machine: scripts/setup-system installs Debian's "
        "`chromium` package"
    )
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)
    raise AssertionError  # pragma: no cover - skip raises


@pytest.fixture(name="browser", scope="module")
def _browser() -> Iterator:
    """Chromium, headless, from the system (Playwright downloads no browser)."""
    executable = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if in_ci():
            pytest.fail("playwright is not installed (the tests dependency group)")
        pytest.skip("playwright is not installed (the tests dependency group)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            # As root (containers, CI) Chromium needs its sandbox off.
            args=["--no-sandbox"] if os.geteuid() == 0 else [],
        )
        yield browser
        browser.close()


@pytest.fixture(name="shots")
def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get(env.VISION_AUDIT_TEST_SCREENSHOTS) or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(name="served")
def _served(store, secret, intake_policy) -> Iterator:
    """``served(**config)``: the console on loopback, by uvicorn; its base URL."""
    import uvicorn

    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def serve(**config) -> str:
        app = create_app(
            ConsoleConfig(
                store=store,
                secret=secret,
                policy=load_policy(intake_policy),
                purposes=("patient-intake", "insurance-claims"),
                **config,
            ),
            background=False,
        )
        app.state.console.watch.check()
        app.state.console.counts.refresh()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        thread.start()
        ends = time.monotonic() + 10
        while not server.started and time.monotonic() < ends:
            time.sleep(0.02)
        servers.append((server, thread))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"

    yield serve
    for server, thread in servers:
        server.should_exit = True
        thread.join(10)


def _sign_in(browser, base: str, secret, reviewer: str, **options):
    context = browser.new_context(
        viewport={"width": WIDTH, "height": HEIGHT}, **options
    )
    page = context.new_page()
    page.goto(f"{base}/")
    page.get_by_label("Your reviewer token").fill(secret.issue_token(reviewer, days=1))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")
    return page


class TestInTheBrowser:
    """A reviewer's morning, as a person would go through it."""

    def test_review_a_case(
        self, browser, served, secret, store, instrument, intake_policy, analyze, shots
    ) -> None:
        """Sign in, filter, open a case, see picture and boxes, override, verify."""
        instrument(intake_policy)
        analysis_id, image = analyze()
        other_id, _ = analyze(seed=6)
        base = served(
            resolver=lambda ref: image if ref.analysis_id == analysis_id else None
        )
        page = _sign_in(browser, base, secret, REVIEWER)

        page.get_by_label("Purpose").select_option("patient-intake")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url("**/?purpose=patient-intake**")
        page.screenshot(path=shots / "1-queue.png", full_page=True)
        assert 2 == page.locator("#all-h ~ .table-wrap tbody tr").count()

        page.locator(f'a[href="/cases/{analysis_id}"]').first.click()
        page.wait_for_url(f"**/cases/{analysis_id}")
        verdict = page.locator(".verdict")
        assert "This is the picture that was analysed" in verdict.inner_text()
        assert 2 == page.locator("svg .box rect").count()
        assert page.locator("svg image").bounding_box()["width"] > 300
        page.screenshot(path=shots / "2-case.png", full_page=True)

        page.keyboard.press("o")
        assert page.get_by_label("Override").is_checked()
        page.get_by_label("wheelchair").check()
        page.get_by_label("Add tags (comma-separated)").fill("walking frame")
        page.get_by_label("Rationale").fill(
            "The picture shows a walking frame, not a wheelchair."
        )
        page.keyboard.press("Control+Enter")
        page.wait_for_url("**decided=*")
        page.screenshot(path=shots / "3-decided.png", full_page=True)

        (decision,) = get_review(store, analysis_id).decisions
        assert ("override", REVIEWER) == (decision.decision, decision.reviewer)
        assert ("walking frame",) == decision.add_tags
        assert ("wheelchair",) == decision.remove_tags
        assert "Recorded: decision event" in page.locator(".done").inner_text()
        assert store.verify(content=True).ok

        # The nurse who made the calls may not decide them (four eyes).
        nurse = _sign_in(browser, base, secret, ACTOR)
        nurse.goto(f"{base}/cases/{other_id}")
        assert "No picture" not in nurse.locator(".verdict").inner_text()
        nurse.keyboard.press("a")
        nurse.get_by_label("Rationale").fill("my own picture")
        nurse.get_by_role("button", name="Record decision").click()
        nurse.wait_for_load_state()
        error = nurse.locator("#error").inner_text()
        nurse.screenshot(path=shots / "4-four-eyes.png", full_page=True)
        assert "four eyes" in error
        assert () == get_review(store, other_id).decisions

    def test_gate_released(
        self,
        browser,
        served,
        secret,
        store,
        instrument,
        intake_policy,
        analyze,
        tmp_path,
        shots,
    ) -> None:
        """A gated call waiting in the service is released by a decision in the page."""
        policy = tmp_path / "gated.toml"
        policy.write_text(
            Path(intake_policy)
            .read_text()
            .replace("gate = false", "gate = true")
            .replace('gate_timeout = "2m"', 'gate_timeout = "60s"')
        )
        instrument(str(policy))
        done: dict[str, object] = {}
        service = threading.Thread(
            target=lambda: done.setdefault("id", analyze(seed=41)[0]), daemon=True
        )
        service.start()
        base = served()
        page = _sign_in(browser, base, secret, REVIEWER)
        ends = time.monotonic() + 20
        while page.locator("a.mono").count() == 0 and time.monotonic() < ends:
            time.sleep(0.2)
            page.reload()

        page.locator("a.mono").first.click()
        assert "gated" in page.locator(".facts").inner_text()
        assert "No picture" in page.locator(".verdict").inner_text()
        page.screenshot(path=shots / "5-gated.png", full_page=True)
        page.keyboard.press("a")
        page.get_by_label("Rationale").fill("seen, fine")
        page.get_by_role("button", name="Record decision").click()
        page.wait_for_url("**decided=*")
        service.join(20)

        assert not service.is_alive()
        assert "id" in done
        events = get_review(store, str(done["id"])).gate_events
        assert ["review.gate_released"] == [e.type for e in events]

    @pytest.mark.parametrize(
        ("name", "viewport"),
        [
            ("tablet", {"width": 820, "height": 1180}),
            # 1280x800 at 200 % zoom: half as many CSS pixels each way.
            ("zoom-200", {"width": 640, "height": 400}),
        ],
    )
    def test_small_screens(
        self,
        browser,
        served,
        secret,
        instrument,
        intake_policy,
        analyze,
        shots,
        name,
        viewport,
    ) -> None:
        """On a tablet and at 200 % zoom the case fits its width: no sideways scroll."""
        instrument(intake_policy)
        analysis_id, image = analyze()
        base = served(resolver=lambda _ref: image)
        page = _sign_in(browser, base, secret, REVIEWER)
        page.set_viewport_size(viewport)

        page.goto(f"{base}/cases/{analysis_id}")
        page.screenshot(path=shots / f"6-case-{name}.png", full_page=True)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth"
            " - document.documentElement.clientWidth"
        )

        assert overflow <= 0
        assert page.get_by_role("button", name="Record decision").is_visible()

    def test_hostile_values(
        self,
        browser,
        served,
        secret,
        store,
        instrument,
        intake_policy,
        analyze,
        shots,
    ) -> None:
        """Script, markup, right-to-left and very long values: text, layout intact."""
        from tests.console.test_app import HOSTILE, hostile_scene

        instrument(intake_policy)
        scene = hostile_scene()
        analysis_id, image = analyze(seed=32, scene=scene, actor=HOSTILE["attribute"])
        base = served(resolver=lambda _ref: image)
        page = _sign_in(browser, base, secret, REVIEWER)
        dialogs: list[str] = []
        page.on(
            "dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss())
        )
        page.goto(f"{base}/cases/{analysis_id}")
        # Bidi overrides are refused in a rationale (as by review decide); plain
        # right-to-left text is not.
        rationale = "\n".join(
            [
                HOSTILE["script"],
                HOSTILE["attribute"],
                "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",
                HOSTILE["long"],
            ]
        )
        page.keyboard.press("e")
        page.get_by_label("Rationale").fill(rationale)
        page.get_by_role("button", name="Record decision").click()
        page.wait_for_url("**decided=*")
        page.screenshot(path=shots / "7-hostile-case.png", full_page=True)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth"
            " - document.documentElement.clientWidth"
        )
        shown = page.locator("body").inner_text()
        page.goto(f"{base}/")
        page.screenshot(path=shots / "8-hostile-queue.png", full_page=True)

        assert [] == dialogs
        assert overflow <= 0
        assert HOSTILE["script"] in shown
        assert HOSTILE["attribute"] in page.locator("body").inner_text()
        (decision,) = get_review(store, analysis_id).decisions
        assert rationale == decision.rationale

    def test_store_that_does_not_verify(
        self, browser, served, secret, store, flagged, db_url, shots
    ) -> None:
        """A red banner; the officer acknowledges in the page; decisions resume."""
        from tests.console.test_app import tamper

        tamper(db_url)
        base = served(integrity_officers=("privacy-office",))
        reviewer = _sign_in(browser, base, secret, REVIEWER)
        reviewer.goto(f"{base}/cases/{flagged[0]}")
        banner = reviewer.locator(".banner-bad").inner_text()
        reviewer.screenshot(path=shots / "9-not-verified.png")
        assert "Audit store not verified" in banner
        assert reviewer.get_by_role("button", name="Record decision").is_disabled()

        officer = _sign_in(browser, base, secret, "privacy-office")
        officer.get_by_label("As integrity officer").fill("a test edit, known")
        officer.get_by_role("button", name="Acknowledge and allow decisions").click()
        officer.wait_for_load_state()
        officer.screenshot(path=shots / "10-acknowledged.png")
        reviewer.reload()

        assert (
            "Acknowledged by privacy-office" in officer.locator(".banner").inner_text()
        )
        assert reviewer.get_by_role("button", name="Record decision").is_enabled()
