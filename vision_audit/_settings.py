"""Resolves ``instrument()`` keyword arguments > environment > defaults, once."""

from __future__ import annotations

import difflib
import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, TypeVar

from vision_audit import environment_variables as env

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from opentelemetry._logs import LoggerProvider
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

    from vision_audit.policy import ConsentProvider, Policy, PolicyEngine
    from vision_audit.typing import AuditStore

__all__ = [
    "DEFAULT_STORE_URL",
    "OPTIONS",
    "Settings",
    "check_environment",
    "check_options",
    "convert_bool",
    "resolve_settings",
]

DEFAULT_STORE_URL: Final = "sqlite:///vision-audit.db"
AUDIT_FAILURE_MODES: Final = ("raise", "log")
DEFAULT_PEOPLE_THRESHOLD: Final = 0.5
OPTIONS: Final = (
    "audit_failure",
    "baggage",
    "capture_content",
    "consent",
    "logger_provider",
    "meter_provider",
    "people_threshold",
    "policy",
    "store",
    "tracer_provider",
)
"""Every keyword option of ``instrument()`` and ``instrument_client()``."""
_VARIABLES: Final = frozenset(
    value
    for name, value in vars(env).items()
    if name.startswith("VISION_AUDIT_") and isinstance(value, str)
)
_PREFIX: Final = "VISION_AUDIT_"


def _closest(word: str, known: Iterable[str]) -> str:
    found = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f"; did you mean {found[0]!r}?" if found else ""


def check_options(options: Mapping[str, object], *, where: str) -> None:
    """
    Refuse an option that is not one: a misspelt policy must not switch it off.

    Raises:
        TypeError: An unknown keyword, named with the closest known one.
    """
    for name in sorted(options):
        if name not in OPTIONS:
            msg = (
                f"{where} got the unknown option {name!r}{_closest(name, OPTIONS)} "
                f"(options: {', '.join(OPTIONS)})"
            )
            raise TypeError(msg)


def check_environment(environ: Mapping[str, str] | None = None) -> None:
    """
    Refuse a ``VISION_AUDIT_*`` variable that vision-audit does not read.

    A misspelt variable (``VISION_AUDIT_POLCY``) would otherwise leave the policy
    off without a word, which under the agent nobody would see.

    Raises:
        ValueError: An unknown variable, named with the closest known one.
    """
    environ = os.environ if environ is None else environ
    for name in sorted(environ):
        if name.startswith(_PREFIX) and name not in _VARIABLES:
            msg = (
                f"the environment variable {name} is not one vision-audit reads"
                f"{_closest(name, _VARIABLES)}; unset it or correct its name"
            )
            raise ValueError(msg)


AuditFailure = Literal["raise", "log"]
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Settings:
    """What the instrumentation does, fixed at ``instrument()`` time."""

    store: AuditStore
    audit_failure: AuditFailure
    capture_content: bool
    people_threshold: float
    tracer_provider: TracerProvider | None
    logger_provider: LoggerProvider | None
    policy: PolicyEngine | None = None
    read_baggage: bool = True
    meter_provider: MeterProvider | None = None


def convert_bool(value: str, *, name: str) -> bool:
    """
    Read a boolean setting.

    Raises:
        ValueError: *value* is not one of the accepted spellings, which it names.
    """
    lowered = value.strip().lower()
    if lowered in {"true", "1", "yes", "on"}:
        return True
    if lowered in {"false", "0", "no", "off", ""}:
        return False
    msg = f"{name} must be one of true, false, 1, 0, yes, no, on, off; got {value!r}"
    raise ValueError(msg)


def convert_audit_failure(value: str, *, name: str) -> AuditFailure:
    """
    Read the audit failure mode.

    Raises:
        ValueError: Not ``raise`` or ``log``.
    """
    lowered = value.strip().lower()
    if lowered == "raise":
        return "raise"
    if lowered == "log":
        return "log"
    msg = f"{name} must be 'raise' or 'log', got {value!r}"
    raise ValueError(msg)


def resolve_settings(
    *,
    store: AuditStore | str | None,
    audit_failure: str | None,
    capture_content: bool | str | None,
    people_threshold: float | str | None,
    tracer_provider: TracerProvider | None,
    logger_provider: LoggerProvider | None,
    policy: Policy | str | None = None,
    consent: ConsentProvider | str | None = None,
    baggage: bool | str | None = None,
    environ: Mapping[str, str] | None = None,
    meter_provider: MeterProvider | None = None,
) -> Settings:
    """
    Resolve every option: an explicit keyword wins, then the environment, then defaults.

    Every value is checked before the store is opened; a store opened here is closed
    again when a later step fails.

    Raises:
        ValueError: A setting has a value outside those accepted; the message names
            the keyword or environment variable and what it accepts.
        TypeError: A keyword has a type no setting accepts.
        PolicyError: The policy or consent file is missing or invalid (naming the
            variable when the path came from the environment).
        StoreError: The store cannot be opened.
    """
    environ = os.environ if environ is None else environ
    failure: AuditFailure = _option(
        audit_failure,
        name="audit_failure",
        variable=(env.VISION_AUDIT_AUDIT_FAILURE, "raise"),
        environ=environ,
        keyword=convert_audit_failure,
        text=convert_audit_failure,
    )
    capture: bool = _option(
        capture_content,
        name="capture_content",
        variable=(env.VISION_AUDIT_CAPTURE_CONTENT, "false"),
        environ=environ,
        keyword=_keyword_bool,
        text=convert_bool,
    )
    threshold = (
        DEFAULT_PEOPLE_THRESHOLD
        if people_threshold is None
        else _fraction(people_threshold, name="people_threshold")
    )
    read_baggage: bool = _option(
        baggage,
        name="baggage",
        variable=(env.VISION_AUDIT_BAGGAGE, "true"),
        environ=environ,
        keyword=_keyword_bool,
        text=convert_bool,
    )
    parsed_policy = _load_policy(policy, environ)
    threshold = _one_people_threshold(parsed_policy, people_threshold, threshold)
    opened = store is None or isinstance(store, str)
    if store is None or isinstance(store, str):
        from vision_audit.store import open_store  # noqa: PLC0415 - heavy, lazy

        url = store or environ.get(env.VISION_AUDIT_STORE) or DEFAULT_STORE_URL
        resolved_store: AuditStore = open_store(url)
    else:
        resolved_store = store
    try:
        engine = _policy_engine(parsed_policy, consent, resolved_store, environ)
    except BaseException:
        if opened:
            resolved_store.close()
        raise
    return Settings(
        policy=engine,
        store=resolved_store,
        audit_failure=failure,
        capture_content=capture,
        people_threshold=threshold,
        tracer_provider=tracer_provider,
        logger_provider=logger_provider,
        read_baggage=read_baggage,
        meter_provider=meter_provider,
    )


def _option(
    value: object,
    *,
    name: str,
    variable: tuple[str, str],
    environ: Mapping[str, str],
    keyword: Callable[..., _T],
    text: Callable[..., _T],
) -> _T:
    """The keyword's value if given, else the variable's (or its default), read."""
    if value is not None:
        return keyword(value, name=name)
    variable_name, default = variable
    return text(environ.get(variable_name, default), name=variable_name)


def _keyword_bool(value: object, *, name: str) -> bool:
    """A boolean keyword; the spellings of :func:`convert_bool` as text."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return convert_bool(value, name=name)
    msg = f"{name} must be a bool, got {type(value).__name__}"
    raise TypeError(msg)


def _fraction(value: object, *, name: str) -> float:
    """A number between 0 and 1, from a number or its text."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        msg = f"{name} must be a number between 0 and 1, got {type(value).__name__}"
        raise TypeError(msg)
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not 0.0 <= number <= 1.0:  # also refuses NaN
        msg = f"{name} must be a number between 0 and 1, got {value!r}"
        raise ValueError(msg)
    return number


def _one_people_threshold(
    policy: Policy | None, given: float | str | None, threshold: float
) -> float:
    """
    The confidence from which a detected person counts: the policy's, when there is one.

    The facts recorded (``people.count``) and the flag that routes a result to
    review (``people``) must agree on one call, so a policy's ``[sensitive]
    people_threshold`` is the one; the keyword only serves calls without a policy.

    Raises:
        ValueError: The keyword was given too, with another value.
    """
    if policy is None:
        return threshold
    stated = policy.sensitive.people_threshold
    if given is not None and not math.isclose(threshold, stated):
        msg = (
            f"people_threshold={threshold:g} disagrees with the policy's [sensitive] "
            f"people_threshold = {stated:g}; the policy's decides which detections "
            "count: remove people_threshold= (or change the policy)"
        )
        raise ValueError(msg)
    return stated


def _load_policy(
    policy: Policy | str | None, environ: Mapping[str, str]
) -> Policy | None:
    """
    The policy: ``policy`` (an object or a path) or ``VISION_AUDIT_POLICY``.

    Raises:
        PolicyError: The file is missing or invalid; the message names it, and the
            variable when the path came from the environment.
    """
    from vision_audit.policy import (  # noqa: PLC0415 - only when a policy is used
        PolicyError,
        load_policy,
        policy_from_environment,
    )

    if isinstance(policy, str):
        return load_policy(policy)
    if policy is not None:
        return policy
    try:
        return policy_from_environment(environ)
    except PolicyError as err:
        msg = f"{env.VISION_AUDIT_POLICY}: {err}"
        raise PolicyError(msg, path=err.path, key=err.key) from err


def _policy_engine(
    policy: Policy | None,
    consent: ConsentProvider | str | None,
    store: AuditStore,
    environ: Mapping[str, str],
) -> PolicyEngine | None:
    """
    The policy engine for *policy*, with ``consent`` or ``VISION_AUDIT_CONSENT``.

    Raises:
        PolicyError: The consent file is missing or invalid.
    """
    if policy is None:
        return None
    from vision_audit.policy import (  # noqa: PLC0415 - only when a policy is used
        PolicyEngine,
        PolicyError,
        consent_provider_from_setting,
    )

    if consent is not None and not isinstance(consent, str):
        return PolicyEngine(policy, consent=consent)
    try:
        provider = consent_provider_from_setting(
            consent if consent is not None else environ.get(env.VISION_AUDIT_CONSENT),
            store=store,
        )
    except PolicyError as err:
        if consent is not None:
            raise
        msg = f"{env.VISION_AUDIT_CONSENT}: {err}"
        raise PolicyError(msg, path=err.path, key=err.key) from err
    return PolicyEngine(policy, consent=provider)
