"""Who the reviewer is: the console's secret, reviewer tokens, sessions and CSRF."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from vision_audit._text import first_control
from vision_audit.store._keys import write_new_file

__all__ = [
    "DEFAULT_SECRET_FILE",
    "DEFAULT_TOKEN_DAYS",
    "SESSION_SECONDS",
    "ConsoleSecret",
    "Session",
    "TokenError",
]

DEFAULT_SECRET_FILE: Final = "vision-audit-console.key"  # noqa: S105 - a path
"""Where the console's secret lives unless told otherwise (beside the default store)."""

DEFAULT_TOKEN_DAYS: Final = 30
"""How long a reviewer token is good for unless told otherwise."""

SESSION_SECONDS: Final = 8 * 3600
"""How long a signed-in session lasts: a working day."""

_SECRET_BYTES: Final = 32
_TOKEN_PREFIX: Final = "va1"  # noqa: S105 - the format's version
_TOKEN_PARTS: Final = 4
_MAX_NAME: Final = 200


class TokenError(ValueError):
    """A reviewer token or session that is not good: the message says why."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check_reviewer_name(name: str) -> str:
    """
    A reviewer's name as a token or a proxy states it: one line, not empty, short.

    Raises:
        TokenError: Empty, too long, or holding a control character.
    """
    name = name.strip()
    if not name:
        msg = "a reviewer's name is empty"
        raise TokenError(msg)
    if len(name) > _MAX_NAME:
        msg = f"a reviewer's name is longer than {_MAX_NAME} characters"
        raise TokenError(msg)
    if first_control(name) is not None:
        msg = "a reviewer's name holds a control character"
        raise TokenError(msg)
    return name


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in reviewer (or a visitor before sign-in) and the session's CSRF."""

    reviewer: str | None
    csrf: str
    issued: float


class ConsoleSecret:
    """
    The console's secret: signs reviewer tokens, session cookies and CSRF tokens.

    Kept in a file of mode 0600 that only the console's operator reads. Rotating it
    (deleting the file, issuing new tokens) revokes every token and session at once.
    """

    def __init__(self, key: bytes) -> None:
        """Hold *key*; derive a separate key for each use."""
        if len(key) < _SECRET_BYTES:
            msg = f"the console secret must be at least {_SECRET_BYTES} bytes"
            raise TokenError(msg)
        # The console extra's; imported here so that the CLI loads without it.
        from itsdangerous import URLSafeTimedSerializer  # noqa: PLC0415

        self._tokens = self._derive(key, b"reviewer-token")
        self._sessions: Any = URLSafeTimedSerializer(
            self._derive(key, b"session"), salt="vision-audit-console-session"
        )

    @staticmethod
    def _derive(key: bytes, use: bytes) -> bytes:
        return hmac.new(key, b"vision-audit console v1 " + use, hashlib.sha256).digest()

    def __repr__(self) -> str:
        """Never the key."""
        return "ConsoleSecret(...)"

    @classmethod
    def load(cls, path: Path, *, create: bool) -> ConsoleSecret:
        """
        Read the secret from *path*; make one there (mode 0600) when *create*.

        Raises:
            TokenError: The file is missing (and not to be made), readable by others,
                or too short.
        """
        if not path.exists():
            if not create:
                msg = (
                    f"no console secret at {path}: issue a token first with "
                    "`vision-audit review token --reviewer NAME`, which makes it"
                )
                raise TokenError(msg)
            # Made by another process meanwhile: read theirs.
            with contextlib.suppress(FileExistsError):
                write_new_file(
                    path, _b64(secrets.token_bytes(_SECRET_BYTES)).encode(), mode=0o600
                )
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            msg = (
                f"the console secret {path} is readable by others (mode {mode:o}); "
                f"make it private: chmod 600 {path}"
            )
            raise TokenError(msg)
        try:
            key = _unb64(path.read_text(encoding="ascii").strip())
        except (ValueError, UnicodeError) as err:
            msg = f"the console secret {path} is not base64 text"
            raise TokenError(msg) from err
        return cls(key)

    # -- reviewer tokens ---------------------------------------------------------------

    def _mac(self, name: bytes, expires: int) -> bytes:
        return hmac.new(
            self._tokens, name + b"\n" + str(expires).encode(), hashlib.sha256
        ).digest()

    def issue_token(
        self, reviewer: str, *, days: float, now: float | None = None
    ) -> str:
        """
        A token naming *reviewer*, good for *days*: ``va1.NAME.EXPIRES.MAC``.

        Raises:
            TokenError: The name is not a one-line name, or *days* not positive.
        """
        name = check_reviewer_name(reviewer).encode()
        if not days > 0:
            msg = f"a token must be good for more than 0 days, not {days}"
            raise TokenError(msg)
        expires = int((time.time() if now is None else now) + days * 86400)
        return ".".join(
            (_TOKEN_PREFIX, _b64(name), str(expires), _b64(self._mac(name, expires)))
        )

    def check_token(self, token: str, *, now: float | None = None) -> str:
        """
        The reviewer a token names, if this secret made it and it has not expired.

        Raises:
            TokenError: Malformed, forged, altered or expired.
        """
        parts = token.strip().split(".")
        if len(parts) != _TOKEN_PARTS or parts[0] != _TOKEN_PREFIX:
            msg = "not a reviewer token (expected va1.NAME.EXPIRES.MAC)"
            raise TokenError(msg)
        try:
            name, expires, mac = _unb64(parts[1]), int(parts[2]), _unb64(parts[3])
        except ValueError as err:
            msg = "not a reviewer token (a part is not well formed)"
            raise TokenError(msg) from err
        if not hmac.compare_digest(mac, self._mac(name, expires)):
            msg = "the token was not issued by this console (or was altered)"
            raise TokenError(msg)
        if expires < (time.time() if now is None else now):
            msg = "the token has expired: ask for a new one"
            raise TokenError(msg)
        try:
            return check_reviewer_name(name.decode())
        except UnicodeDecodeError as err:  # pragma: no cover - we only sign UTF-8
            msg = "the token's name is not UTF-8"
            raise TokenError(msg) from err

    # -- sessions ----------------------------------------------------------------------

    def new_session(self, reviewer: str | None) -> Session:
        """A fresh session for *reviewer* (None before sign-in), with a new CSRF."""
        return Session(
            reviewer=reviewer, csrf=secrets.token_urlsafe(32), issued=time.time()
        )

    def dump_session(self, session: Session) -> str:
        """The session as a signed, time-stamped cookie value."""
        return str(
            self._sessions.dumps(
                {"r": session.reviewer, "c": session.csrf, "i": session.issued}
            )
        )

    def load_session(self, cookie: str, *, max_age: int = SESSION_SECONDS) -> Session:
        """
        The session a cookie holds.

        Raises:
            TokenError: The cookie was altered or forged, or it or the session it
                holds is older than *max_age*.
        """
        from itsdangerous import BadSignature, SignatureExpired  # noqa: PLC0415

        try:
            value = self._sessions.loads(cookie, max_age=max_age)
        except SignatureExpired as err:
            msg = "the session has expired"
            raise TokenError(msg) from err
        except BadSignature as err:
            msg = "the session cookie was altered or not made by this console"
            raise TokenError(msg) from err
        if not isinstance(value, dict) or not isinstance(value.get("c"), str):
            msg = "the session cookie holds no session"
            raise TokenError(msg)
        reviewer = value.get("r")
        issued = value.get("i")
        # Each page sets the cookie again (a new signature time): the session's own
        # start, signed inside it, bounds it however busy the reviewer is.
        if not isinstance(issued, int | float) or time.time() - issued > max_age:
            msg = "the session has expired"
            raise TokenError(msg)
        return Session(
            reviewer=reviewer if isinstance(reviewer, str) else None,
            csrf=value["c"],
            issued=float(issued),
        )


def same_token(given: str | None, expected: str) -> bool:
    """Whether a CSRF token sent with a form is the session's, in constant time."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def secret_path(given: str | None) -> Path:
    """The secret file: *given*, ``$VISION_AUDIT_CONSOLE_SECRET_FILE``, the default."""
    from vision_audit import environment_variables as env  # noqa: PLC0415

    return Path(
        given
        or os.environ.get(env.VISION_AUDIT_CONSOLE_SECRET_FILE)
        or DEFAULT_SECRET_FILE
    )
