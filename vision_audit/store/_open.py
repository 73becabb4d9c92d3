"""open_store(): from a store URL to an open audit store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, unquote

if TYPE_CHECKING:
    from vision_audit.typing import ManagedAuditStore

__all__ = ["open_store", "redact_url"]

_QUERY_OPTIONS: Final = {
    "durability": str,
    "checkpoint_every": int,
    "checkpoint_interval": float,
}
_SCHEMES: Final = (
    "sqlite:///relative.db, sqlite:////absolute.db, memory:// or postgresql://..."
)


def _split_options(query: str, url: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name, value in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
        convert = _QUERY_OPTIONS.get(name)
        if convert is None:
            msg = (
                f"unknown store option {name!r} in {redact_url(url)}; known: "
                f"{', '.join(sorted(_QUERY_OPTIONS))}"
            )
            raise ValueError(msg)
        try:
            options[name] = convert(value)
        except ValueError as err:
            msg = f"store option {name}={value!r} is not a valid {convert.__name__}"
            raise ValueError(msg) from err
    return options


def redact_url(url: str) -> str:
    """*url* without a password, for messages."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        userinfo, _, host = authority.rpartition("@")
        user = userinfo.split(":", 1)[0]
        authority = f"{user}:***@{host}" if ":" in userinfo else f"{user}@{host}"
    return f"{scheme}{sep}{authority}{slash}{path}"


def open_store(url: str, **options: Any) -> ManagedAuditStore:  # noqa: ANN401
    """
    Open the audit store that *url* names.

    - ``sqlite:///relative/path.db`` and ``sqlite:////absolute/path.db`` (SQLAlchemy's
      convention): :class:`~vision_audit.store.SQLiteAuditStore`;
    - ``memory://``: a new :class:`~vision_audit.store.InMemoryAuditStore`;
    - ``postgresql://user@host:port/db`` (or ``postgres://``):
      :class:`~vision_audit.store.PostgresAuditStore`, which needs ``psycopg``.

    ``durability``, ``checkpoint_every`` and ``checkpoint_interval`` may be given in the
    URL's query (``sqlite:///audit.db?durability=power``); keyword options win.

    Args:
        url: The store URL.
        options: Keyword options of the store's class.

    Raises:
        ValueError: The URL is not one of the forms above.
        StoreError: The store cannot be opened (the message says why).

    .. versionadded:: 0.1.0
    """
    if not isinstance(url, str):
        msg = f"a store URL is a string, not {type(url).__name__}"
        raise TypeError(msg)
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if scheme == "memory" and sep:
        from vision_audit.store.memory import InMemoryAuditStore  # noqa: PLC0415

        location, _, query = rest.partition("?")
        if location:
            msg = f"memory:// takes no location, got {url!r}"
            raise ValueError(msg)
        merged = {**_split_options(query, url), **options}
        return InMemoryAuditStore(**merged)
    if scheme == "sqlite" and sep:
        from vision_audit.store.sqlite import SQLiteAuditStore  # noqa: PLC0415

        location, _, query = rest.partition("?")
        if not location.startswith("/") or len(location) < 2:  # noqa: PLR2004
            msg = (
                f"{url!r} is not an SQLite store URL: use sqlite:///relative.db or "
                "sqlite:////absolute.db"
            )
            raise ValueError(msg)
        merged = {**_split_options(query, url), **options}
        return SQLiteAuditStore(unquote(location[1:]), **merged)
    if scheme in {"postgresql", "postgres"} and sep:
        from vision_audit.store.postgres import PostgresAuditStore  # noqa: PLC0415

        return PostgresAuditStore(url, **options)
    msg = f"unsupported store URL {redact_url(url)!r}: use {_SCHEMES}"
    raise ValueError(msg)
