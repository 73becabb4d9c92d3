"""The reviewer console over HTTP: identity, CSRF, headers, decisions, pictures."""

from __future__ import annotations

import hashlib
import html
import logging
import sqlite3
import threading
import time
from types import SimpleNamespace

import pytest
from tests.console.conftest import (
    ACTOR,
    REVIEWER,
    csrf_of,
    decide,
    sign_in,
)
from vision_audit import ReviewWithheldError
from vision_audit.console import ConsoleSecret, FolderResolver, ImageRef
from vision_audit.console._app import COOKIE
from vision_audit.review import get_review
from vision_audit.testing import make_test_image

LOGGER = "vision_audit.console"


def decisions_of(store, analysis_id: str) -> list:
    """The decisions the store holds on one analysis."""
    return list(get_review(store, analysis_id).decisions)


class TestSignIn:
    """Reviewers are who their token, or the trusted proxy, says: nothing else."""

    def test_queue_needs_a_session(self, make_console) -> None:
        """Without a session, the queue sends the browser to the sign-in page."""
        answer = make_console().get("/")

        assert 303 == answer.status_code
        assert answer.headers["location"].startswith("/login")

    def test_token_signs_in(self, make_console, secret, flagged) -> None:
        """A token issued by this console's secret opens the queue, under its name."""
        client = make_console()

        queue = sign_in(client, secret)

        assert 200 == queue.status_code
        assert flagged[0] in queue.text
        assert "Signed in as <bdi" in queue.text
        assert REVIEWER in queue.text

    def test_bad_tokens_are_refused_and_logged(
        self, make_console, secret, tmp_path, caplog
    ) -> None:
        """Forged, altered, expired and malformed tokens sign nobody in."""
        client = make_console()
        other = ConsoleSecret.load(tmp_path / "other.key", create=True)
        good = secret.issue_token(REVIEWER, days=1)
        tokens = {
            "forged": other.issue_token(REVIEWER, days=1),
            "altered": good.replace(good.split(".")[1], "cml0YQ"),
            "expired": secret.issue_token(
                REVIEWER, days=1, now=time.time() - 3 * 86400
            ),
            "malformed": "not-a-token",
        }

        for token in tokens.values():
            page = client.get("/login")
            with caplog.at_level(logging.WARNING, logger=LOGGER):
                answer = client.post(
                    "/login", data={"csrf": csrf_of(page.text), "token": token}
                )
            assert 401 == answer.status_code
            assert "Not signed in" in answer.text
            assert 303 == client.get("/").status_code
        refusals = [r for r in caplog.records if "sign-in refused" in r.getMessage()]
        assert 4 == len(refusals)

    def test_altered_cookie_back_to_sign_in(self, make_console, secret, caplog) -> None:
        """A session cookie changed by the browser's user is dropped, and logged."""
        client = make_console()
        sign_in(client, secret)
        payload, *signature = client.cookies[COOKIE].split(".")
        altered = payload.replace(payload[5], "A" if payload[5] != "A" else "B", 1)
        client.cookies.clear()
        client.cookies.set(COOKIE, ".".join([altered, *signature]))

        with caplog.at_level(logging.WARNING, logger=LOGGER):
            answer = client.get("/")

        assert 303 == answer.status_code
        assert "/login?why=" in answer.headers["location"]
        assert any("session cookie refused" in r.getMessage() for r in caplog.records)

    def test_expired_session_back_to_sign_in(
        self, make_console, secret, monkeypatch
    ) -> None:
        """A session older than its lifetime ends: the reviewer signs in again."""
        from itsdangerous.timed import TimestampSigner

        client = make_console()
        eight_hours_ago = int(time.time()) - 8 * 3600 - 5
        monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda _: eight_hours_ago)
        sign_in(client, secret)
        monkeypatch.undo()

        answer = client.get("/")

        assert 303 == answer.status_code
        assert "expired" in answer.headers["location"]

    def test_session_ends_however_busy(self, make_console, secret, monkeypatch) -> None:
        """Pages set the cookie again, but a session ends eight hours after sign-in."""
        from vision_audit.console import _auth

        client = make_console()
        sign_in(client, secret)
        assert 200 == client.get("/").status_code
        later = time.time() + 8 * 3600 + 5
        # The console's clock only: the browser's cookie jar keeps the cookie.
        monkeypatch.setattr(_auth, "time", SimpleNamespace(time=lambda: later))

        answer = client.get("/")

        assert 303 == answer.status_code
        assert "expired" in answer.headers["location"]

    def test_identity_header_without_proxy_refused(
        self, make_console, secret, caplog
    ) -> None:
        """A proxy's identity header is refused (and logged) when none is trusted."""
        client = make_console()
        sign_in(client, secret)

        with caplog.at_level(logging.WARNING, logger=LOGGER):
            answer = client.get("/", headers={"X-Forwarded-Email": "boss@example.org"})

        assert 403 == answer.status_code
        assert "Identity header refused" in answer.text
        assert any("x-forwarded-email" in r.getMessage() for r in caplog.records)

    def test_trusted_header(self, make_console, flagged) -> None:
        """Behind the configured proxy its header names the reviewer; no header: 401."""
        client = make_console(trusted_header="x-forwarded-email")

        named = client.get("/", headers={"X-Forwarded-Email": "rita@example.org"})
        nobody = client.get("/")

        assert 200 == named.status_code
        assert "rita@example.org" in named.text
        assert 401 == nobody.status_code

    def test_reviewer_is_never_a_form_field(self, signed_in, store, flagged) -> None:
        """A reviewer field in the form is ignored: the token's name is recorded."""
        client = signed_in()

        answer = decide(
            client,
            flagged[0],
            decision="approve",
            rationale="the tags match the picture",
            reviewer="someone-else",
        )

        assert 303 == answer.status_code
        assert [REVIEWER] == [d.reviewer for d in decisions_of(store, flagged[0])]


class TestCsrf:
    """Every change carries the session's CSRF token."""

    @pytest.mark.parametrize("token", [None, "forged-token"])
    def test_decision_without_the_token(
        self, signed_in, store, flagged, caplog, token
    ) -> None:
        """A missing or forged token: 403, logged, nothing recorded."""
        client = signed_in()
        form = {"decision": "approve", "rationale": "looks fine"}
        if token is not None:
            form["csrf"] = token

        with caplog.at_level(logging.WARNING, logger=LOGGER):
            answer = client.post(f"/cases/{flagged[0]}/decide", data=form)

        assert 403 == answer.status_code
        assert [] == decisions_of(store, flagged[0])
        assert any("CSRF" in r.getMessage() for r in caplog.records)

    def test_token_of_another_session(self, signed_in, store, flagged) -> None:
        """One reviewer's token does not carry another's form."""
        mine, theirs = signed_in(), signed_in("rita")
        their_token = csrf_of(theirs.get(f"/cases/{flagged[0]}").text)

        answer = mine.post(
            f"/cases/{flagged[0]}/decide",
            data={"csrf": their_token, "decision": "approve", "rationale": "ok"},
        )

        assert 403 == answer.status_code
        assert [] == decisions_of(store, flagged[0])

    def test_sign_in_and_out_need_it(self, make_console, secret) -> None:
        """Login and logout forms are refused without the token too."""
        client = make_console()
        token = secret.issue_token(REVIEWER, days=1)

        assert 403 == client.post("/login", data={"token": token}).status_code
        sign_in(client, secret)
        assert 403 == client.post("/logout", data={}).status_code
        assert 200 == client.get("/").status_code


class TestHeaders:
    """Security headers and cookie flags on every answer."""

    def test_security_headers(self, make_console) -> None:
        """CSP without inline script, no framing, nosniff, no referrer; static too."""
        client = make_console()

        for answer in (client.get("/login"), client.get("/static/console.css")):
            assert 200 == answer.status_code
            csp = answer.headers["content-security-policy"]
            assert "default-src 'self'" in csp
            assert "frame-ancestors 'none'" in csp
            assert "unsafe-inline" not in csp
            assert "nosniff" == answer.headers["x-content-type-options"]
            assert "no-referrer" == answer.headers["referrer-policy"]

    def test_no_inline_script(self, signed_in, flagged) -> None:
        """Pages load their one script from the console; none is inline."""
        page = signed_in().get(f"/cases/{flagged[0]}").text

        assert '<script src="/static/console.js" defer></script>' in page
        assert 1 == page.count("<script")
        assert " on" + "click=" not in page

    @pytest.mark.parametrize("secure", [False, True])
    def test_cookie_flags(self, make_console, secure) -> None:
        """HttpOnly and SameSite=Strict always; Secure when not on loopback."""
        cookie = make_console(secure_cookies=secure).get("/login").headers["set-cookie"]

        assert "HttpOnly" in cookie
        assert "samesite=strict" in cookie.lower()
        assert ("Secure" in cookie) is secure

    def test_pages_are_not_cached(self, signed_in, flagged) -> None:
        """A case (with its picture) is never kept by the browser's cache."""
        answer = signed_in().get(f"/cases/{flagged[0]}")

        assert "no-store" == answer.headers["cache-control"]


class TestDecide:
    """Decisions go through record_review_decision: every rule of `review decide`."""

    def test_approve(self, signed_in, store, flagged) -> None:
        """A decision is recorded once, by the signed-in reviewer, and verifies."""
        client = signed_in()

        answer = decide(client, flagged[0], decision="approve", rationale="fine")
        page = client.get(answer.headers["location"])

        assert 303 == answer.status_code
        (decision,) = decisions_of(store, flagged[0])
        assert ("approve", REVIEWER, "fine") == (
            decision.decision,
            decision.reviewer,
            decision.rationale,
        )
        assert decision.event_id in page.text
        assert store.verify(content=True).ok

    def test_rationale_lines_from_a_browser(self, signed_in, store, flagged) -> None:
        """A textarea's CR LF new lines are new lines; a lone CR is still refused."""
        client = signed_in()

        refused = decide(client, flagged[0], decision="approve", rationale="a\rb")
        answer = decide(client, flagged[0], decision="approve", rationale="a\r\nb")

        assert (400, 303) == (refused.status_code, answer.status_code)
        (decision,) = decisions_of(store, flagged[0])
        assert "a\nb" == decision.rationale

    def test_override_tags(self, signed_in, store, flagged) -> None:
        """An override removes ticked tags and adds typed ones."""
        client = signed_in()

        decide(
            client,
            flagged[0],
            decision="override",
            rationale="it is a walking frame",
            remove_tag=["wheelchair"],
            add_tags="walking frame, indoor",
        )

        (decision,) = decisions_of(store, flagged[0])
        assert ("walking frame", "indoor") == decision.add_tags
        assert ("wheelchair",) == decision.remove_tags

    def test_four_eyes(self, signed_in, store, flagged) -> None:
        """The analysis' own actor is refused, with the rule's words: 409."""
        client = signed_in(ACTOR)

        answer = decide(client, flagged[0], decision="approve", rationale="mine")

        assert 409 == answer.status_code
        assert "four eyes" in answer.text
        assert [] == decisions_of(store, flagged[0])

    def test_double_submit(self, signed_in, store, flagged) -> None:
        """The same form sent twice records one decision; the second is told why."""
        client = signed_in()
        page = client.get(f"/cases/{flagged[0]}")
        form = {"csrf": csrf_of(page.text), "decision": "approve", "rationale": "ok"}

        first = client.post(f"/cases/{flagged[0]}/decide", data=form)
        second = client.post(f"/cases/{flagged[0]}/decide", data=form)

        assert (303, 409) == (first.status_code, second.status_code)
        assert "already decided" in second.text
        assert 1 == len(decisions_of(store, flagged[0]))

    def test_two_reviewers_at_once(self, signed_in, store, flagged) -> None:
        """Two reviewers deciding at the same moment: one decision is recorded."""
        clients = [signed_in(name) for name in ("rita", "sam", "lee", "kim")]
        forms = [
            {"csrf": csrf_of(c.get(f"/cases/{flagged[0]}").text), "rationale": "ok"}
            for c in clients
        ]
        start = threading.Barrier(len(clients))
        answers: list[int] = []

        def go(client, form, decision) -> None:
            start.wait()
            answer = client.post(
                f"/cases/{flagged[0]}/decide", data={**form, "decision": decision}
            )
            answers.append(answer.status_code)

        threads = [
            threading.Thread(target=go, args=(c, f, d))
            for c, f, d in zip(
                clients, forms, ("approve", "reject", "approve", "reject"), strict=True
            )
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)

        assert [303, 409, 409, 409] == sorted(answers)
        assert 1 == len(decisions_of(store, flagged[0]))

    def test_correction_supersedes(self, signed_in, store, flagged) -> None:
        """On a decided case the form corrects the decision in force."""
        client = signed_in()
        decide(client, flagged[0], decision="approve", rationale="first look")

        answer = decide(client, flagged[0], decision="reject", rationale="second look")

        assert 303 == answer.status_code
        first, second = decisions_of(store, flagged[0])
        assert first.event_id == second.supersedes

    def test_bad_input_is_a_message(self, signed_in, store, flagged) -> None:
        """A rule broken by the form (no rationale, override without tags): 400."""
        client = signed_in()

        for form in (
            {"decision": "approve", "rationale": "  "},
            {"decision": "override", "rationale": "no change"},
            {"decision": "maybe", "rationale": "?"},
        ):
            answer = decide(client, flagged[0], **form)
            assert 400 == answer.status_code
            assert "Not recorded" in answer.text
        assert [] == decisions_of(store, flagged[0])

    def test_unknown_case(self, signed_in) -> None:
        """A case the store does not hold: 404, not a 500."""
        assert 404 == signed_in().get("/cases/nope").status_code

    def test_gate_released(
        self, instrument, analyze, gated_policy, signed_in, store
    ) -> None:
        """A gated call waiting in the service is released by the console's decision."""
        instrument(policy=gated_policy)
        outcome: dict[str, object] = {}

        def call() -> None:
            try:
                outcome["id"] = analyze(seed=77)[0]
            except ReviewWithheldError as err:  # pragma: no cover - the failure
                outcome["error"] = err

        service = threading.Thread(target=call, daemon=True)
        service.start()
        client = signed_in()
        ends = time.monotonic() + 20
        while time.monotonic() < ends and "/cases/" not in client.get("/").text:
            time.sleep(0.05)
        analysis_id = client.get("/").text.split("/cases/")[1].split('"')[0]

        answer = decide(client, analysis_id, decision="approve", rationale="seen")
        service.join(20)

        assert 303 == answer.status_code
        assert not service.is_alive()
        assert analysis_id == outcome.get("id")
        kinds = [e.type for e in get_review(store, analysis_id).gate_events]
        assert ["review.gate_released"] == kinds


@pytest.fixture(name="gated_policy")
def _gated_policy(tmp_path, intake_policy) -> str:
    from pathlib import Path

    text = Path(intake_policy).read_text().replace("gate = false", "gate = true")
    path = tmp_path / "gated.toml"
    path.write_text(text.replace('gate_timeout = "2m"', 'gate_timeout = "30s"'))
    return str(path)


class TestPictures:
    """The picture comes from the application, checked against the audited SHA-256."""

    def test_no_resolver(self, signed_in, flagged) -> None:
        """Without a resolver the case is shown without a picture, saying why."""
        page = signed_in().get(f"/cases/{flagged[0]}")

        assert 200 == page.status_code
        assert "No picture: the console was started without an image resolver" in (
            page.text
        )
        assert "<svg" not in page.text

    def test_the_analysed_picture(self, signed_in, flagged) -> None:
        """The same bytes: said plainly, and the recorded boxes are drawn over it."""
        page = signed_in(resolver=lambda _ref: flagged[1]).get(f"/cases/{flagged[0]}")

        assert "This is the picture that was analysed" in page.text
        assert 'viewBox="0 0 640 400"' in page.text
        assert '<rect x="40" y="60" width="200" height="180"' in page.text
        assert '<rect x="300" y="40" width="120" height="300"' in page.text
        assert "wheelchair 0.88" in page.text

    def test_another_picture(self, signed_in, flagged) -> None:
        """Other bytes are shown as NOT the analysed picture, without the boxes."""
        other = make_test_image(seed=999, width=640, height=400)
        page = signed_in(resolver=lambda _ref: other).get(f"/cases/{flagged[0]}")

        assert 200 == page.status_code
        assert "This is NOT the picture that was analysed" in page.text
        assert "<rect" not in page.text
        assert "frame-mismatch" in page.text

    def test_resolver_gets_the_facts(self, signed_in, flagged) -> None:
        """The resolver is asked with the audited SHA-256 and the call's labels."""
        asked: list[ImageRef] = []

        def resolver(ref: ImageRef) -> bytes:
            asked.append(ref)
            return flagged[1]

        signed_in(resolver=resolver).get(f"/cases/{flagged[0]}")

        (ref,) = asked
        assert hashlib.sha256(flagged[1]).hexdigest() == ref.sha256
        assert "intake-5.jpg" == ref.labels["image_name"]
        assert (640, 400, "JPEG") == (ref.width, ref.height, ref.format)

    @pytest.mark.parametrize(
        ("resolver", "said"),
        [
            (lambda _ref: 1 / 0, "The image resolver failed: ZeroDivisionError"),
            (lambda _ref: time.sleep(3), "did not answer within 0.2 s"),
            (lambda _ref: None, "has no picture for this analysis"),
            (lambda _ref: b"<svg onload=alert(1)>", "no picture a browser shows"),
            (lambda _ref: "text", "not bytes"),
        ],
        ids=["raises", "times-out", "none", "not-a-picture", "not-bytes"],
    )
    def test_resolver_failures(self, signed_in, flagged, resolver, said) -> None:
        """A resolver that fails in any way is shown as such, never as a 500."""
        client = signed_in(resolver=resolver, image_timeout=0.2)

        page = client.get(f"/cases/{flagged[0]}")

        assert 200 == page.status_code
        assert html.escape(said, quote=True) in page.text or said in page.text
        assert "<svg" not in page.text

    def test_folder_resolver(self, signed_in, flagged, tmp_path) -> None:
        """A folder of the application's images is searched by SHA-256."""
        folder = tmp_path / "images"
        folder.mkdir()
        (folder / "a.jpg").write_bytes(make_test_image(seed=1))
        (folder / "b.jpg").write_bytes(flagged[1])

        page = signed_in(resolver=FolderResolver(folder)).get(f"/cases/{flagged[0]}")

        assert "This is the picture that was analysed" in page.text


HOSTILE = {
    "script": "<script>alert(1)</script>",
    "attribute": '"><img src=x onerror=alert(1)>',
    "rtl": "\u202eFDP.exe\u202c \u05e9\u05dc\u05d5\u05dd",
    "long": "W" * 5000,
}


def hostile_scene() -> dict:
    """What the emulator answers: every hostile value as a tag, one as an object."""
    return {
        "tags": dict.fromkeys(HOSTILE.values(), 0.9),
        "objects": [
            {"name": HOSTILE["script"], "confidence": 0.9, "box": [5, 5, 200, 120]}
        ],
    }


class TestHostileValues:
    """Values from the store and from reviewers are escaped, wherever shown."""

    def test_tags_and_rationale(
        self, instrument, intake_policy, analyze, signed_in
    ) -> None:
        """HTML, script, right-to-left and very long values come out as text."""
        instrument(intake_policy)
        scene = hostile_scene()
        analysis_id, image = analyze(seed=31, scene=scene, actor=HOSTILE["attribute"])
        client = signed_in(resolver=lambda _ref: image)
        rationale = "\n".join(HOSTILE.values())
        decide(client, analysis_id, decision="approve", rationale=rationale)

        page = client.get(f"/cases/{analysis_id}").text
        queue = client.get("/").text

        for text in (page, queue):
            assert "<script>alert" not in text
            assert "<img src=x" not in text
        assert html.escape(HOSTILE["script"]) in page
        assert "\u202e" not in page
        assert "\\u202eFDP.exe\\u202c \u05e9\u05dc\u05d5\u05dd" in page
        assert HOSTILE["long"] in page
        assert "<bdi" in page


def tamper(db_url: str) -> None:
    """Change the nurse's first event behind the store's back: nurse-7 to nurse-8."""
    connection = sqlite3.connect(
        db_url.removeprefix("sqlite:///"), isolation_level=None
    )
    connection.execute("DROP TRIGGER IF EXISTS va_events_no_update")
    changed = connection.execute(
        "UPDATE va_events SET envelope = replace(envelope, 'nurse-7', 'nurse-8') "
        "WHERE sequence = (SELECT min(sequence) FROM va_events "
        "WHERE instr(envelope, 'nurse-7'))"
    ).rowcount
    connection.close()
    assert 1 == changed


class TestIntegrity:
    """A store that does not verify: a banner, and no decision recorded into it."""

    def test_tampered_store(self, make_console, secret, store, flagged, db_url) -> None:
        """Changed history: the banner names it and the decision is refused."""
        tamper(db_url)
        client = make_console()
        sign_in(client, secret)

        page = client.get(f"/cases/{flagged[0]}")
        answer = client.post(
            f"/cases/{flagged[0]}/decide",
            data={"csrf": csrf_of(page.text), "decision": "approve", "rationale": "ok"},
        )

        assert "Audit store not verified" in page.text
        assert 409 == answer.status_code
        assert "decisions are refused while the audit store is not verified" in (
            answer.text
        )
        assert [] == decisions_of(store, flagged[0])

    def test_officer_acknowledges(
        self, make_console, secret, store, flagged, db_url, caplog
    ) -> None:
        """Only an integrity officer lets decisions go on; it is logged, and holds."""
        from starlette.testclient import TestClient

        tamper(db_url)
        client = make_console(integrity_officers=("privacy-office",))
        sign_in(client, secret)
        officer = TestClient(
            client.app, base_url="http://127.0.0.1", follow_redirects=False
        )
        queue = sign_in(officer, secret, "privacy-office").text
        page = client.get("/").text

        refused = client.post(
            "/integrity/acknowledge",
            data={"csrf": csrf_of(page), "rationale": "I am no officer"},
        )
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            done = officer.post(
                "/integrity/acknowledge",
                data={"csrf": csrf_of(queue), "rationale": "a test edit, known"},
            )
        client.app.state.console.watch.check()
        decided = decide(client, flagged[0], decision="approve", rationale="ok")

        assert "Acknowledge and allow decisions" in queue
        assert "Acknowledge and allow decisions" not in page
        assert (403, 303, 303) == (
            refused.status_code,
            done.status_code,
            decided.status_code,
        )
        assert "Acknowledged by <bdi" in client.get("/").text
        assert any(
            "privacy-office acknowledged" in r.getMessage() for r in caplog.records
        )
        assert 1 == len(decisions_of(store, flagged[0]))

    def test_nothing_to_acknowledge(self, make_console, secret) -> None:
        """A store that verifies needs no acknowledgement: 409."""
        client = make_console(integrity_officers=("privacy-office",))
        page = sign_in(client, secret, "privacy-office").text

        answer = client.post(
            "/integrity/acknowledge", data={"csrf": csrf_of(page), "rationale": "x"}
        )

        assert 409 == answer.status_code

    def test_decisions_wait_for_the_first_check(
        self, make_console, secret, store, flagged
    ) -> None:
        """Until the store has verified once, decisions wait."""
        client = make_console(verified=False)
        sign_in(client, secret)

        answer = decide(client, flagged[0], decision="approve", rationale="ok")

        assert 409 == answer.status_code
        assert [] == decisions_of(store, flagged[0])


class TestQueue:
    """The queue: counts, filters, paging, overdue first."""

    def test_filters_and_pages(
        self, instrument, intake_policy, analyze, signed_in, monkeypatch
    ) -> None:
        """Paging walks every open case once; filters keep to what they name."""
        from vision_audit.console import _views

        instrument(intake_policy)
        ids = {analyze(seed=100 + n)[0] for n in range(5)}
        monkeypatch.setattr(_views, "PAGE_SIZE", 2)
        client = signed_in()
        seen: list[str] = []
        link = "/?purpose=patient-intake"
        while link:
            page = client.get(link).text
            found = page.split('<h2 id="all-h">')[1]
            seen += [part.split('"')[0] for part in found.split("/cases/")[1:]]
            link = (
                html.unescape(found.split('" rel="next"')[0].rsplit('href="', 1)[1])
                if 'rel="next"' in found
                else ""
            )

        assert sorted(ids) == sorted(seen)
        assert "<strong>5</strong> open" in client.get("/").text
        other = client.get("/?purpose=retail").text
        assert "No open case matches these filters" in other
        by_reason = client.get("/?reason=people").text
        assert 2 == sum(i in by_reason for i in ids)
        assert 'rel="next"' in by_reason
        assert "No open case matches" in client.get("/?reason=nothing-like-it").text

    def test_rare_reason_a_stretch_at_a_time(
        self, instrument, intake_policy, analyze, signed_in, monkeypatch
    ) -> None:
        """A reason no case has: each page reads a bounded stretch, then offers more."""
        from vision_audit.console import _views

        instrument(intake_policy)
        for n in range(5):
            analyze(seed=200 + n)
        monkeypatch.setattr(_views, "REASON_BATCH", 2)
        monkeypatch.setattr(_views, "REASON_BATCHES", 1)
        client = signed_in()
        link, stretches = "/?reason=nothing-like-it", 0
        while link:
            page = client.get(link).text
            stretches += 1
            assert "No open case matches these filters" in page
            link = (
                html.unescape(page.split('" rel="next"')[0].rsplit('href="', 1)[1])
                if 'rel="next"' in page
                else ""
            )
            assert not link or "Look further" in page

        assert 3 == stretches


class TestCounts:
    """The queue is counted in the background: no page waits for a count."""

    def test_counted_in_the_background(self, store, secret, flagged) -> None:
        """Before the first count the page says so; a decision gets a fresh count."""
        from starlette.testclient import TestClient
        from vision_audit.console._app import ConsoleConfig, create_app

        app = create_app(ConsoleConfig(store=store, secret=secret), background=False)
        console = app.state.console
        console.watch.check()
        with TestClient(
            app, base_url="http://127.0.0.1", follow_redirects=False
        ) as client:
            before = sign_in(client, secret).text
            console.counts.start()
            ends = time.monotonic() + 10
            while console.counts.current is None and time.monotonic() < ends:
                time.sleep(0.02)
            counted = client.get("/").text
            decide(client, flagged[0], decision="approve", rationale="fine")
            ends = time.monotonic() + 10
            while console.counts.current.open and time.monotonic() < ends:
                time.sleep(0.02)
            after = client.get("/").text
            console.counts.stop()

        assert "counting the queue" in before
        assert "<strong>1</strong> open" in counted
        assert "<strong>0</strong> open" in after


class TestCasePage:
    """A case shows what the model said, what the policy did with it, and why."""

    def test_dropped_tags_shown_with_their_rule(
        self, instrument, intake_policy, analyze, signed_in
    ) -> None:
        """Tags the policy dropped before the application saw them are shown too."""
        from tests.console.conftest import SCENE

        instrument(intake_policy)
        scene = {**SCENE, "tags": {**SCENE["tags"], "woman": 0.95}}
        analysis_id, _ = analyze(seed=51, scene=scene)

        page = signed_in().get(f"/cases/{analysis_id}").text

        row = page.split('<bdi class="value">woman</bdi>')[1].split("</tr>")[0]
        assert "0.95" in row
        assert "dropped (" in row
        assert '<tr class="dropped"><td><bdi class="value">woman' in page
