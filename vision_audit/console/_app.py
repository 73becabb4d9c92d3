"""The reviewer console's web application: routes, identity, CSRF, security headers."""

from __future__ import annotations

import base64
import logging
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import jinja2
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from vision_audit._commands import REVIEW_RULES
from vision_audit._text import MULTI_LINE, first_control, printable
from vision_audit.console._auth import (
    SESSION_SECONDS,
    ConsoleSecret,
    Session,
    TokenError,
    check_reviewer_name,
    same_token,
)
from vision_audit.console._images import (
    DEFAULT_TIMEOUT,
    ImageResolver,
    check_image,
    image_ref,
)
from vision_audit.console._integrity import IntegrityWatch
from vision_audit.console._views import (
    DUE_CHOICES,
    QueueQuery,
    QueueWatch,
    boxes_of,
    findings_of,
    output_of,
    queue_page,
    trace_url,
)
from vision_audit.exceptions import AuditWriteError, ReviewError
from vision_audit.models import utc_now
from vision_audit.review._decide import record_review_decision, same_person
from vision_audit.review._model import DECISIONS
from vision_audit.review._queue import get_review

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from starlette.requests import Request
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from vision_audit.policy import Policy
    from vision_audit.store._base import BaseAuditStore

__all__ = ["COOKIE", "IDENTITY_HEADERS", "ConsoleConfig", "create_app"]

_log = logging.getLogger("vision_audit.console")

COOKIE: Final = "vision_audit_console"
"""The session cookie's name."""

IDENTITY_HEADERS: Final = (
    "x-forwarded-email",
    "x-forwarded-user",
    "x-forwarded-preferred-username",
    "x-auth-request-email",
    "x-auth-request-user",
    "x-auth-request-preferred-username",
    "x-ms-client-principal-name",
    "x-ms-client-principal-id",
    "remote-user",
    "x-remote-user",
)
"""Headers reverse proxies state identity in: refused unless one is trusted."""

_MAX_FORM_FIELD: Final = 20_000
"""Characters a rationale or a tag list may hold."""

CSP: Final = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

SECURITY_HEADERS: Final = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)

_ROOT: Final = Path(__file__).parent


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleConfig:
    """
    How the console runs.

    Args:
        store: The audit store it reads and records decisions into.
        secret: Signs sessions and CSRF tokens, and checks reviewer tokens.
        policy: The policy in force, whose rules apply to decisions as in
            ``review decide --policy``.
        resolver: Fetches pictures (see :mod:`vision_audit.console._images`).
        no_resolver_reason: Why there is no picture, when *resolver* is None.
        image_timeout: Seconds a resolver has.
        trace_url_template: A trace viewer's URL with ``{trace_id}``...
        trusted_header: The reverse proxy's identity header; None: reviewer tokens.
        secure_cookies: Mark the session cookie ``Secure`` (served over HTTPS).
        verify_every: Seconds between verifications of the store (0: once).
        purposes: The purposes the queue's filter offers.
        integrity_officers: Reviewers who may acknowledge a store that does not
            verify, so that decisions go on (none by default: they stay refused).
    """

    store: BaseAuditStore
    secret: ConsoleSecret
    policy: Policy | None = None
    resolver: ImageResolver | None = None
    no_resolver_reason: str = (
        "the console was started without an image resolver (--image-url-template, "
        "--image-resolver or --image-dir), and the audit store keeps no images"
    )
    image_timeout: float = DEFAULT_TIMEOUT
    trace_url_template: str | None = None
    trusted_header: str | None = None
    secure_cookies: bool = False
    verify_every: float = 900.0
    purposes: tuple[str, ...] = field(default=())
    integrity_officers: tuple[str, ...] = ()


def _shown(value: object) -> object:
    """
    A value as a page shows it: control characters and bidi overrides escaped.

    An override in a tag (``\u202eFDP.exe``) would show a reviewer another name
    than the one recorded; ``review show`` escapes them alike. Markup (the
    templates' own macros) is left alone.
    """
    if isinstance(value, str) and not isinstance(value, Markup):
        return printable(value, keep=MULTI_LINE)
    return value


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(_ROOT / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        finalize=_shown,
        trim_blocks=True,
        lstrip_blocks=True,
    )


class _SecurityHeaders:
    """Adds the security headers to every response, static files included."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap *app*."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer as *app* does, with the headers added."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, sending)


class _Refused(Exception):  # noqa: N818 - a signal, as structlog's DropEvent
    """A request the console refuses, with the page and status to answer."""

    def __init__(self, status: int, title: str, message: str) -> None:
        """Answer *status* with a page titled *title* saying *message*."""
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


def _reviewers_only(
    handler: Callable[[_Console, Request, str, Session], Awaitable[Response]],
) -> Callable[[_Console, Request], Awaitable[Response]]:
    """A route for signed-in reviewers: others go to sign-in (or are refused)."""

    async def route(self: _Console, request: Request) -> Response:
        who = self._signed_in(request)
        if isinstance(who, Response):
            return who
        return await handler(self, request, *who)

    route.__doc__ = handler.__doc__
    return route


class _Console:
    """The routes over one configuration."""

    def __init__(self, config: ConsoleConfig) -> None:
        """Serve *config*."""
        self.config = config
        self.templates = _environment()
        self.watch = IntegrityWatch(config.store, every=config.verify_every)
        self.counts = QueueWatch(config.store)

    # -- identity ----------------------------------------------------------------------

    def _session(self, request: Request) -> tuple[Session | None, str | None]:
        """The request's session, and why it was dropped (altered, expired)."""
        cookie = request.cookies.get(COOKIE)
        if not cookie:
            return None, None
        try:
            return self.config.secret.load_session(cookie), None
        except TokenError as err:
            _log.warning(
                "console: session cookie refused from %s: %s", _client(request), err
            )
            return None, str(err)

    def _proxy_reviewer(self, request: Request) -> str | None:
        """The reviewer the trusted proxy names; refuses identity headers otherwise."""
        header = self.config.trusted_header
        if header is None:
            sent = [name for name in IDENTITY_HEADERS if name in request.headers]
            if sent:
                _log.warning(
                    "console: refused a request from %s carrying the identity header "
                    "%s without a trusted proxy configured",
                    _client(request),
                    sent[0],
                )
                raise _Refused(
                    403,
                    "Identity header refused",
                    f"This request names a user in the {sent[0]} header, but the "
                    "console was not told to trust a proxy (--trusted-header): it "
                    "takes identity only from reviewer tokens.",
                )
            return None
        value = request.headers.get(header)
        if value is None:
            _log.warning(
                "console: request from %s without the trusted header %s",
                _client(request),
                header,
            )
            raise _Refused(
                401,
                "Not signed in",
                f"The proxy in front of the console did not say who you are (no "
                f"{header} header).",
            )
        try:
            return check_reviewer_name(value)
        except TokenError as err:
            raise _Refused(400, "Bad identity header", f"{header}: {err}") from err

    def identify(self, request: Request) -> tuple[str | None, Session, str | None]:
        """
        The reviewer (None before sign-in), the session to keep, why one was dropped.

        Raises:
            _Refused: An identity header without a trusted proxy, or a proxy that
                names nobody.
        """
        from_proxy = self._proxy_reviewer(request)
        session, dropped = self._session(request)
        if from_proxy is not None:
            if session is None or session.reviewer != from_proxy:
                session = self.config.secret.new_session(from_proxy)
            return from_proxy, session, dropped
        if session is None:
            session = self.config.secret.new_session(None)
        return session.reviewer, session, dropped

    def _check_csrf(self, request: Request, session: Session, form: Any) -> None:  # noqa: ANN401 - a form
        given = form.get("csrf")
        if not same_token(given if isinstance(given, str) else None, session.csrf):
            _log.warning(
                "console: refused a %s to %s from %s: %s CSRF token",
                request.method,
                request.url.path,
                _client(request),
                "missing" if not given else "wrong",
            )
            raise _Refused(
                403,
                "Form refused",
                "This form was not sent from a page of this console session (its "
                "CSRF token is missing or wrong). Reload the page and try again.",
            )

    # -- responses ---------------------------------------------------------------------

    def page(
        self,
        name: str,
        session: Session,
        *,
        reviewer: str | None,
        status: int = 200,
        **values: Any,  # noqa: ANN401 - template values
    ) -> HTMLResponse:
        """A rendered page with the session cookie (re)set."""
        html = self.templates.get_template(name).render(
            reviewer=reviewer,
            csrf=session.csrf,
            integrity=self.watch.current,
            proxy=self.config.trusted_header is not None,
            officer=self._officer(reviewer),
            **values,
        )
        response = HTMLResponse(html, status_code=status)
        self._keep(response, session)
        return response

    def _keep(self, response: Response, session: Session) -> None:
        response.headers["cache-control"] = "no-store"
        response.set_cookie(
            COOKIE,
            self.config.secret.dump_session(session),
            max_age=SESSION_SECONDS,
            path="/",
            httponly=True,
            samesite="strict",
            secure=self.config.secure_cookies,
        )

    def refused(
        self, refusal: _Refused, session: Session | None = None
    ) -> HTMLResponse:
        """The page of a refusal."""
        html = self.templates.get_template("refused.html.j2").render(
            title=refusal.title,
            message=refusal.message,
            reviewer=None,
            csrf=session.csrf if session is not None else "",
            integrity=self.watch.current,
            proxy=self.config.trusted_header is not None,
            officer=False,
        )
        response = HTMLResponse(html, status_code=refusal.status)
        response.headers["cache-control"] = "no-store"
        return response

    def _to_login(self, why: str | None) -> RedirectResponse:
        target = "/login" + (f"?{urllib.parse.urlencode({'why': why})}" if why else "")
        response = RedirectResponse(target, status_code=303)
        response.delete_cookie(COOKIE, path="/")
        response.headers["cache-control"] = "no-store"
        return response

    def _officer(self, reviewer: str | None) -> bool:
        return reviewer is not None and any(
            same_person(reviewer, officer) for officer in self.config.integrity_officers
        )

    # -- routes ------------------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        """The sign-in page (token), or straight to the queue behind a proxy."""
        try:
            reviewer, session, _ = self.identify(request)
        except _Refused as refusal:
            return self.refused(refusal)
        if reviewer is not None:
            return RedirectResponse("/", status_code=303)
        error = None
        if request.method == "POST":
            form = await request.form(max_fields=10, max_files=0)
            try:
                self._check_csrf(request, session, form)
            except _Refused as refusal:
                return self.refused(refusal, session)
            token = form.get("token")
            try:
                named = self.config.secret.check_token(
                    token if isinstance(token, str) else ""
                )
            except TokenError as err:
                _log.warning(
                    "console: sign-in refused from %s: %s", _client(request), err
                )
                error = str(err)
            else:
                _log.info("console: %s signed in from %s", named, _client(request))
                response = RedirectResponse("/", status_code=303)
                self._keep(response, self.config.secret.new_session(named))
                return response
        why = request.query_params.get("why")
        return self.page(
            "login.html.j2",
            session,
            reviewer=None,
            status=401 if error else 200,
            error=error,
            why=why[:200] if why else None,
        )

    async def logout(self, request: Request) -> Response:
        """Sign out: the session is dropped."""
        try:
            _, session, _ = self.identify(request)
            form = await request.form(max_fields=10, max_files=0)
            self._check_csrf(request, session, form)
        except _Refused as refusal:
            return self.refused(refusal)
        return self._to_login("signed out")

    def _signed_in(self, request: Request) -> tuple[str, Session] | Response:
        try:
            reviewer, session, dropped = self.identify(request)
        except _Refused as refusal:
            return self.refused(refusal)
        if reviewer is None:
            return self._to_login(dropped)
        return reviewer, session

    def _acknowledgement(
        self,
        request: Request,
        reviewer: str,
        session: Session,
        form: Any,  # noqa: ANN401 - a form
    ) -> str:
        """
        The rationale of an officer's acknowledgement.

        Raises:
            _Refused: No CSRF token, not an officer, or no plain-text rationale.
        """
        self._check_csrf(request, session, form)
        if not self._officer(reviewer):
            _log.warning(
                "console: %s, not an integrity officer, tried to acknowledge the "
                "store's damage",
                reviewer,
            )
            raise _Refused(
                403,
                "Not an integrity officer",
                "Only the integrity officers the console was started with "
                "(--integrity-officer) may acknowledge a store that does not verify.",
            )
        rationale = _field(form, "rationale").replace("\r\n", "\n").strip()
        if not rationale or first_control(rationale, MULTI_LINE) is not None:
            raise _Refused(
                400,
                "Rationale needed",
                "Say what you found and why decisions may go on (plain text).",
            )
        return rationale

    @_reviewers_only
    async def acknowledge(
        self, request: Request, reviewer: str, session: Session
    ) -> Response:
        """An integrity officer lets decisions go on into a damaged store."""
        form = await request.form(max_fields=10, max_files=0)
        try:
            rationale = self._acknowledgement(request, reviewer, session, form)
            self.watch.acknowledge(reviewer, rationale)
        except _Refused as refusal:
            return self.refused(refusal, session)
        except ValueError as err:
            return self.refused(
                _Refused(409, "Nothing to acknowledge", str(err)), session
            )
        response = RedirectResponse("/", status_code=303)
        self._keep(response, session)
        return response

    @_reviewers_only
    async def queue(
        self, request: Request, reviewer: str, session: Session
    ) -> Response:
        """The queue: overdue first, then every open case oldest first, filtered."""
        query = QueueQuery.from_params(request.query_params)
        page = await run_in_threadpool(
            queue_page,
            self.config.store,
            query,
            now=utc_now(),
            counts=self.counts.current,
        )
        return self.page(
            "queue.html.j2",
            session,
            reviewer=reviewer,
            page=page,
            query=query,
            due_choices=DUE_CHOICES,
            purposes=self.config.purposes,
            now=utc_now(),
        )

    def _case_page(
        self,
        request: Request,
        reviewer: str,
        session: Session,
        analysis_id: str,
        *,
        status: int = 200,
        error: str | None = None,
        form: dict[str, Any] | None = None,
    ) -> Response:
        try:
            case = get_review(self.config.store, analysis_id)
        except ReviewError as err:
            return self.refused(_Refused(404, "No such analysis", str(err)), session)
        image = check_image(
            self.config.resolver,
            image_ref(case),
            timeout=self.config.image_timeout,
            why_none=self.config.no_resolver_reason,
        )
        if image.verdict not in {"match", "none"}:
            _log.warning(
                "console: picture of analysis %s: %s", case.analysis_id, image.verdict
            )
        picture = (
            None
            if image.data is None
            else f"data:{image.mime};base64,{base64.b64encode(image.data).decode()}"
        )
        return self.page(
            "case.html.j2",
            session,
            reviewer=reviewer,
            status=status,
            case=case,
            now=utc_now(),
            image=image,
            picture=picture,
            boxes=boxes_of(case) if image.shows_analysed else [],
            recorded_boxes=bool(boxes_of(case)),
            findings=findings_of(case),
            output=output_of(case),
            trace=trace_url(self.config.trace_url_template, case),
            decisions=DECISIONS,
            error=error,
            form=form or {},
            decided=request.query_params.get("decided"),
        )

    @_reviewers_only
    async def case(self, request: Request, reviewer: str, session: Session) -> Response:
        """One case: the picture, the model's output, the history, the form."""
        return await run_in_threadpool(
            self._case_page,
            request,
            reviewer,
            session,
            request.path_params["analysis_id"],
        )

    @_reviewers_only
    async def decide(
        self, request: Request, reviewer: str, session: Session
    ) -> Response:
        """Record a decision through ``record_review_decision``, as the CLI does."""
        analysis_id = request.path_params["analysis_id"]
        form = await request.form(max_fields=500, max_files=0)
        try:
            self._check_csrf(request, session, form)
        except _Refused as refusal:
            return self.refused(refusal, session)
        values = {
            "decision": _field(form, "decision"),
            # Browsers send a textarea's new lines as CR LF (HTML's form encoding):
            # the transport's, not the reviewer's; a lone CR is still refused.
            "rationale": _field(form, "rationale").replace("\r\n", "\n"),
            "add_tags": _field(form, "add_tags"),
            "remove_tags": [
                v for v in form.getlist("remove_tag") if isinstance(v, str)
            ][:200],
            "supersedes": _field(form, "supersedes") or None,
        }
        return await run_in_threadpool(
            self._record, request, reviewer, session, analysis_id, values
        )

    def _record(
        self,
        request: Request,
        reviewer: str,
        session: Session,
        analysis_id: str,
        values: dict[str, Any],
    ) -> Response:
        """Record the decision the form holds; the case page says why when refused."""
        if not self.watch.current.allows_decisions:
            return self._case_page(
                request,
                reviewer,
                session,
                analysis_id,
                status=409,
                error=(
                    "Not recorded: decisions are refused while the audit store is not "
                    f"verified. {self.watch.current.message}"
                ),
                form=values,
            )
        added = [
            tag.strip()
            for tag in values["add_tags"].replace("\n", ",").split(",")
            if tag.strip()
        ]
        try:
            recorded = record_review_decision(
                self.config.store,
                analysis_id,
                decision=values["decision"],
                reviewer=reviewer,
                rationale=values["rationale"],
                add_tags=added,
                remove_tags=values["remove_tags"],
                supersedes=values["supersedes"],
                policy=self.config.policy,
            )
        except ReviewError as err:
            _log.info(
                "console: decision by %s on %s refused: %s", reviewer, analysis_id, err
            )
            if err.code == "unknown-analysis":
                return self.refused(
                    _Refused(404, "No such analysis", str(err)), session
                )
            return self._case_page(
                request,
                reviewer,
                session,
                analysis_id,
                status=409 if err.code in REVIEW_RULES | {"escalated-by-you"} else 400,
                error=f"Not recorded: {err}",
                form=values,
            )
        except AuditWriteError as err:
            _log.exception("console: decision by %s not recorded", reviewer)
            return self._case_page(
                request,
                reviewer,
                session,
                analysis_id,
                status=503,
                error=f"Not recorded: the audit store could not record it ({err}).",
                form=values,
            )
        self.counts.poke()
        _log.info(
            "console: %s recorded %s of %s (event %s)",
            reviewer,
            values["decision"],
            analysis_id,
            recorded.event.event_id,
        )
        target = (
            f"/cases/{urllib.parse.quote(analysis_id, safe='')}?"
            + urllib.parse.urlencode({"decided": recorded.event.event_id})
        )
        response = RedirectResponse(target, status_code=303)
        self._keep(response, session)
        return response


def _field(form: Any, name: str) -> str:  # noqa: ANN401 - a form
    value = form.get(name)
    return value[:_MAX_FORM_FIELD] if isinstance(value, str) else ""


def _client(request: Request) -> str:
    return request.client.host if request.client is not None else "?"


def create_app(config: ConsoleConfig, *, background: bool = True) -> Starlette:
    """
    The console as an ASGI application.

    Args:
        config: How it runs.
        background: Verify the store in the background at start-up and every
            ``config.verify_every`` seconds, and count the queue every 30 s; tests
            may call ``app.state.console.watch.check()`` and
            ``app.state.console.counts.refresh()`` instead.

    .. versionadded:: 0.3.0
    """
    console = _Console(config)

    async def on_error(request: Request, _exc: Exception) -> Response:
        _log.exception("console: %s %s failed", request.method, request.url.path)
        return console.refused(
            _Refused(
                500,
                "Something went wrong",
                "The console could not answer this request; the error is in its log. "
                "Nothing was recorded unless the case page now shows it.",
            )
        )

    app = Starlette(
        routes=[
            Route("/", console.queue),
            Route("/login", console.login, methods=["GET", "POST"]),
            Route("/logout", console.logout, methods=["POST"]),
            Route("/integrity/acknowledge", console.acknowledge, methods=["POST"]),
            Route("/cases/{analysis_id}", console.case),
            Route("/cases/{analysis_id}/decide", console.decide, methods=["POST"]),
            Mount("/static", StaticFiles(directory=_ROOT / "static"), name="static"),
        ],
        exception_handlers={Exception: on_error},
    )
    app.add_middleware(_SecurityHeaders)
    app.state.console = console
    if background:
        console.watch.start()
        console.counts.start()
    return app
