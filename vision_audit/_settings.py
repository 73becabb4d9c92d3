"""Resolves ``instrument()`` keyword arguments > environment > defaults, once."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from vision_audit import environment_variables as env

if TYPE_CHECKING:
    from collections.abc import Mapping

    from opentelemetry._logs import LoggerProvider
    from opentelemetry.trace import TracerProvider

    from vision_audit.policy import ConsentProvider, Policy, PolicyEngine
    from vision_audit.typing import AuditStore

__all__ = ["DEFAULT_STORE_URL", "Settings", "convert_bool", "resolve_settings"]

DEFAULT_STORE_URL: Final = "sqlite:///vision-audit.db"
AUDIT_FAILURE_MODES: Final = ("raise", "log")
DEFAULT_PEOPLE_THRESHOLD: Final = 0.5

AuditFailure = Literal["raise", "log"]


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
    capture_content: bool | None,
    people_threshold: float | None,
    tracer_provider: TracerProvider | None,
    logger_provider: LoggerProvider | None,
    policy: Policy | str | None = None,
    consent: ConsentProvider | str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """
    Resolve every option: an explicit keyword wins, then the environment, then defaults.

    Raises:
        ValueError: A setting has a value outside those accepted; the message names
            the setting and what it accepts.
        StoreError: The store cannot be opened.
    """
    environ = os.environ if environ is None else environ
    if store is None or isinstance(store, str):
        from vision_audit.store import open_store  # noqa: PLC0415 - heavy, lazy

        url = store or environ.get(env.VISION_AUDIT_STORE) or DEFAULT_STORE_URL
        resolved_store: AuditStore = open_store(url)
    else:
        resolved_store = store
    failure = (
        convert_audit_failure(audit_failure, name="audit_failure")
        if audit_failure is not None
        else convert_audit_failure(
            environ.get(env.VISION_AUDIT_AUDIT_FAILURE, "raise"),
            name=env.VISION_AUDIT_AUDIT_FAILURE,
        )
    )
    capture = (
        capture_content
        if capture_content is not None
        else convert_bool(
            environ.get(env.VISION_AUDIT_CAPTURE_CONTENT, "false"),
            name=env.VISION_AUDIT_CAPTURE_CONTENT,
        )
    )
    threshold = (
        DEFAULT_PEOPLE_THRESHOLD if people_threshold is None else people_threshold
    )
    if not 0.0 <= threshold <= 1.0:
        msg = f"people_threshold must be between 0 and 1, got {threshold!r}"
        raise ValueError(msg)
    engine = _policy_engine(policy, consent, resolved_store, environ)
    return Settings(
        policy=engine,
        store=resolved_store,
        audit_failure=failure,
        capture_content=capture,
        people_threshold=threshold,
        tracer_provider=tracer_provider,
        logger_provider=logger_provider,
    )


def _policy_engine(
    policy: Policy | str | None,
    consent: ConsentProvider | str | None,
    store: AuditStore,
    environ: Mapping[str, str],
) -> PolicyEngine | None:
    """
    The policy engine: ``policy`` or ``VISION_AUDIT_POLICY``; consent likewise.

    Raises:
        PolicyError: The policy file is missing or invalid, naming file and key.
    """
    from vision_audit.policy import (  # noqa: PLC0415 - only when a policy is used
        PolicyEngine,
        consent_provider_from_setting,
        load_policy,
        policy_from_environment,
    )

    resolved: Policy | None
    if isinstance(policy, str):
        resolved = load_policy(policy)
    elif policy is None:
        resolved = policy_from_environment(environ)
    else:
        resolved = policy
    if resolved is None:
        return None
    provider = (
        consent
        if consent is not None and not isinstance(consent, str)
        else consent_provider_from_setting(
            consent if consent is not None else environ.get(env.VISION_AUDIT_CONSENT),
            store=store,
        )
    )
    return PolicyEngine(resolved, consent=provider)
