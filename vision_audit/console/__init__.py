r"""
The reviewer console: ``vision-audit review serve``, a small server-rendered web app.

Reviewers see the queue (overdue first, filtered by purpose, reason and deadline,
paged), one case with its picture and the model's output drawn over it, the history
of decisions, and the decision form. A decision goes through
:func:`vision_audit.review.record_review_decision`, as ``review decide`` does, so four
eyes and every other rule apply, a double submit or two reviewers at once record one
decision, and a gated call waiting in the service is released by it.

Usage::

    pip install 'vision-audit[console]'
    vision-audit review token --reviewer dr-okafor      # prints dr-okafor's token
    vision-audit review serve --store sqlite:///audit.db --policy policy.toml \\
        --image-url-template 'https://acct.blob.core.windows.net/intake/{blob}?{sas}'

Or, in Python, any ASGI server::

    from vision_audit.console import ConsoleConfig, ConsoleSecret, create_app

    app = create_app(ConsoleConfig(store=store, secret=ConsoleSecret.load(path,
                                   create=False), resolver=my_resolver))

Identity
--------

From per-reviewer tokens (``va1.NAME.EXPIRES.MAC``, an HMAC-SHA256 under a key
derived from the console's secret, a 0600 file), exchanged once for a signed session
cookie (HttpOnly, SameSite=Strict, Secure off loopback, eight hours); or, with
``--trusted-header``, from a reverse proxy that signs users in (oauth2-proxy, App
Service authentication). Never from a form field. A request carrying an identity
header that the console was not told to trust is refused and logged.

Every form carries the session's CSRF token; a missing or wrong one is refused
(403) and logged. Pages are sent with a Content-Security-Policy without inline
script, ``frame-ancestors 'none'``, ``nosniff`` and ``no-referrer``.

Pictures
--------

The store keeps no image bytes. An :data:`ImageResolver` is asked for them: a
callable given an :class:`ImageRef`, a URL template over the application's storage,
or a folder. The SHA-256 of what it answers is compared with the audited one, and the
page says plainly whether the picture is the analysed one; a resolver that fails,
times out or answers another picture is shown as such.

Integrity
---------

The store is verified at start and every fifteen minutes; while it does not verify,
a banner says so and decisions are refused.

.. versionadded:: 0.3.0
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vision_audit.console._auth import ConsoleSecret, TokenError
from vision_audit.console._images import (
    FolderResolver,
    ImageCheck,
    ImageRef,
    ImageResolver,
    UrlTemplateResolver,
    check_image,
)

if TYPE_CHECKING:
    from vision_audit.console._app import ConsoleConfig, create_app

__all__ = [
    "ConsoleConfig",
    "ConsoleSecret",
    "FolderResolver",
    "ImageCheck",
    "ImageRef",
    "ImageResolver",
    "TokenError",
    "UrlTemplateResolver",
    "check_image",
    "create_app",
]


def __getattr__(name: str) -> Any:  # noqa: ANN401 - a module's attributes
    # The web application needs the `console` extra: imported when first used.
    if name in {"ConsoleConfig", "create_app"}:
        from vision_audit.console import _app  # noqa: PLC0415

        return getattr(_app, name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
