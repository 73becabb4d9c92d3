"""The ``vision-audit review serve`` and ``review token`` commands."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Final

from vision_audit import environment_variables as env
from vision_audit._commands import (
    EXIT_OK,
    STORE_HELP,
    UsageError,
    guarded,
    is_loopback,
    open_existing_store,
    out,
    say,
    store_url,
)
from vision_audit.console._auth import (
    DEFAULT_SECRET_FILE,
    DEFAULT_TOKEN_DAYS,
    ConsoleSecret,
    TokenError,
    secret_path,
)

if TYPE_CHECKING:
    import argparse

    from vision_audit.console._images import ImageResolver

__all__ = ["add_console_commands"]

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8040

_SECRET_HELP: Final = (
    "the console's secret (mode 0600), which signs tokens and sessions (default: "
    f"${env.VISION_AUDIT_CONSOLE_SECRET_FILE}, then {DEFAULT_SECRET_FILE})"
)


def _token(args: argparse.Namespace) -> int:
    path = secret_path(args.secret_file)
    made = not path.exists()
    try:
        secret = ConsoleSecret.load(path, create=True)
        token = secret.issue_token(args.reviewer, days=args.days)
    except TokenError as err:
        raise UsageError(str(err)) from err
    if made:
        say("review token", f"made the console secret {path} (mode 0600)")
    say(
        "review token",
        f"a token for {args.reviewer.strip()}, good for {args.days:g} days; give it "
        "to them alone (it signs them in to `vision-audit review serve`)",
    )
    out(token)
    return EXIT_OK


def _resolver(args: argparse.Namespace) -> tuple[ImageResolver | None, str]:
    from vision_audit.console._images import (  # noqa: PLC0415 - serve only
        FolderResolver,
        UrlTemplateResolver,
        load_resolver,
    )

    try:
        if args.image_url_template:
            return UrlTemplateResolver(
                args.image_url_template, timeout=args.image_timeout
            ), ""
        if args.image_resolver:
            return load_resolver(args.image_resolver), ""
        if args.image_dir:
            return FolderResolver(args.image_dir), ""
    except ValueError as err:
        raise UsageError(str(err)) from err
    return None, (
        "the console was started without an image resolver (--image-url-template, "
        "--image-resolver or --image-dir), and the audit store keeps no images"
    )


def _serve(args: argparse.Namespace) -> int:
    try:
        import starlette  # noqa: F401, PLC0415 - the console extra, only here
        import uvicorn  # noqa: PLC0415
    except ImportError as err:
        msg = (
            f"the console needs the `console` extra ({err.name} is missing): "
            "pip install 'vision-audit[console]'"
        )
        raise UsageError(msg) from err

    from vision_audit.console._app import ConsoleConfig, create_app  # noqa: PLC0415
    from vision_audit.console._views import check_trace_template  # noqa: PLC0415
    from vision_audit.policy import load_policy  # noqa: PLC0415

    if not 0 < args.port <= 65535:  # noqa: PLR2004 - the largest TCP port
        msg = f"--port must be 1 to 65535, not {args.port}"
        raise UsageError(msg)
    if args.trace_url_template:
        try:
            check_trace_template(args.trace_url_template)
        except ValueError as err:
            raise UsageError(str(err)) from err
    resolver, why = _resolver(args)
    header = args.trusted_header.strip().lower() if args.trusted_header else None
    try:
        secret = ConsoleSecret.load(
            secret_path(args.secret_file), create=header is not None
        )
    except TokenError as err:
        raise UsageError(str(err)) from err
    policy_file = args.policy or os.environ.get(env.VISION_AUDIT_POLICY) or None
    policy = load_policy(policy_file) if policy_file else None
    loopback = is_loopback(args.host)
    if not loopback:
        say(
            "review serve",
            f"warning: serving on {args.host}, not loopback: put it behind a "
            "TLS-terminating reverse proxy"
            + (
                ""
                if header is not None
                else " (and prefer --trusted-header with one that signs users in)"
            )
            + "; session cookies are marked Secure",
        )
    store = open_existing_store(store_url(args), read_only=False)
    try:
        app = create_app(
            ConsoleConfig(
                store=store,
                secret=secret,
                policy=policy,
                resolver=resolver,
                no_resolver_reason=why or "",
                image_timeout=args.image_timeout,
                trace_url_template=args.trace_url_template,
                trusted_header=header,
                secure_cookies=not loopback,
                purposes=tuple(policy.purposes) if policy is not None else (),
                integrity_officers=tuple(args.integrity_officer or ()),
            )
        )
        identity = (
            f"identity from the proxy's {header} header"
            if header
            else "reviewers sign in with tokens from `vision-audit review token`"
        )
        pictures = (
            "pictures through the resolver" if resolver else f"no pictures: {why}"
        )
        say(
            "review serve",
            f"http://{args.host}:{args.port}/ ({identity}; {pictures}); Ctrl+C stops",
        )
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            log_level="warning",
            server_header=False,
            proxy_headers=header is not None,
        )
    finally:
        store.close()
    return EXIT_OK


def _seconds(text: str) -> float:
    import argparse  # noqa: PLC0415 - only its exception is needed

    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        msg = f"expected a number of seconds above 0, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def add_console_commands(
    actions: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """
    Add ``review serve`` and ``review token`` to the ``review`` command.

    .. versionadded:: 0.3.0
    """
    serve = actions.add_parser(
        "serve",
        help="the reviewer console: the queue, cases with pictures, decisions",
        description=(
            "Serve the reviewer console, a small web app: the queue, one case with "
            "its picture (fetched through an image resolver and checked against "
            "the audited SHA-256; never stored), the model's output with boxes, "
            "and the decision form, which applies every rule of `review decide`. "
            "Reviewers sign in with tokens from `vision-audit review token`, or a "
            "reverse proxy names them (--trusted-header). Needs the `console` "
            "extra: pip install 'vision-audit[console]'."
        ),
    )
    serve.add_argument("--store", metavar="URL", help=STORE_HELP)
    serve.add_argument(
        "--policy",
        metavar="FILE",
        help=f"the policy in force, as for review decide (default: "
        f"${env.VISION_AUDIT_POLICY})",
    )
    serve.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to listen on (default: {DEFAULT_HOST}, loopback only)",
    )
    serve.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"(default: {DEFAULT_PORT})"
    )
    pictures = serve.add_mutually_exclusive_group()
    pictures.add_argument(
        "--image-url-template",
        metavar="URL",
        help="fetch pictures from the application's storage: an http(s) URL with "
        "{sha256}, {analysis_id}, audit_context label names, and {sas} "
        f"(${env.VISION_AUDIT_CONSOLE_IMAGE_SAS}, never logged)",
    )
    pictures.add_argument(
        "--image-resolver",
        metavar="MODULE:CALLABLE",
        help="a Python callable given an ImageRef, returning the bytes or None",
    )
    pictures.add_argument(
        "--image-dir",
        metavar="DIR",
        help="a folder of the application's images, looked up by SHA-256",
    )
    serve.add_argument(
        "--image-timeout",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="how long the resolver has to answer (default: 5)",
    )
    serve.add_argument(
        "--trace-url-template",
        metavar="URL",
        help="a trace viewer's URL with {trace_id}, {span_id}, {analysis_id}, e.g. "
        "http://localhost:16686/trace/{trace_id}",
    )
    serve.add_argument(
        "--trusted-header",
        metavar="HEADER",
        help="take the reviewer's identity from this header that a reverse proxy "
        "sets (e.g. X-Forwarded-Email); only behind a proxy that strips it from "
        "clients' requests",
    )
    serve.add_argument(
        "--integrity-officer",
        action="append",
        metavar="NAME",
        help="a reviewer who may acknowledge a store that does not verify, so that "
        "decisions go on (repeatable; none by default: decisions stay refused)",
    )
    serve.add_argument("--secret-file", metavar="FILE", help=_SECRET_HELP)
    serve.set_defaults(handler=guarded("review serve", _serve))

    token = actions.add_parser(
        "token",
        help="issue a reviewer token for the console",
        description=(
            "Print a token that signs REVIEWER in to `vision-audit review serve`. "
            "It is signed with the console's secret (made, mode 0600, when "
            "missing); deleting the secret revokes every token and session."
        ),
    )
    token.add_argument(
        "--reviewer", required=True, metavar="NAME", help="who the token names"
    )
    token.add_argument(
        "--days",
        type=_seconds,
        default=float(DEFAULT_TOKEN_DAYS),
        help=f"how long it is good for (default: {DEFAULT_TOKEN_DAYS})",
    )
    token.add_argument("--secret-file", metavar="FILE", help=_SECRET_HELP)
    token.set_defaults(handler=guarded("review token", _token))
