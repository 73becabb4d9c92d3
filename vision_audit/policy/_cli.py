"""The ``vision-audit policy`` and ``vision-audit consent`` commands."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any, Final

from vision_audit import environment_variables as env
from vision_audit._commands import (
    EXIT_CHECK_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    STORE_HELP,
    UsageError,
    error,
    guarded,
    open_existing_store,
    out,
    store_url,
)
from vision_audit.exceptions import PolicyError, VisionAuditError
from vision_audit.models import utc_now
from vision_audit.policy._load import PURPOSE_NAME_PATTERN, load_policy
from vision_audit.policy._model import FEATURES, normalize_feature
from vision_audit.policy.consent import (
    ConsentRecord,
    StoreConsentProvider,
    grant_consent,
    parse_time,
    revoke_consent,
)
from vision_audit.review._cli import one_line_text, printable, printable_json

if TYPE_CHECKING:
    import argparse
    import datetime as dt

    from vision_audit.policy._model import Policy, Purpose
    from vision_audit.typing import ManagedAuditStore

__all__ = ["add_policy_commands", "format_duration"]


_UNITS: Final = (("y", 365 * 86400), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def _out_json(text: str) -> None:
    sys.stdout.write(f"{printable_json(text)}\n")


def _warn(command: str, text: str) -> None:
    sys.stderr.write(f"vision-audit {command}: warning: {printable(text)}\n")


def format_duration(value: dt.timedelta | None) -> str:
    """
    A duration in the policy format, in its largest exact unit (``7y``, ``400d``).

    None is ``forever``.

    .. versionadded:: 0.1.0
    """
    if value is None:
        return "forever"
    seconds = int(value.total_seconds())
    for unit, size in _UNITS:
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"  # pragma: no cover - every whole number divides by 1


def _policy_path(args: argparse.Namespace) -> str | None:
    path: str | None = args.file or os.environ.get(env.VISION_AUDIT_POLICY) or None
    return path


# -- vision-audit policy ---------------------------------------------------------------


def _check(args: argparse.Namespace) -> int:
    try:
        policy = load_policy(args.file)
    except PolicyError as err:
        error("policy check", str(err))
        return EXIT_CHECK_FAILED
    count = len(policy.purposes)
    out(
        f"{args.file}: ok: policy {policy.name!r} version {policy.version!r}, "
        f"mode {policy.mode}, {count} purpose{'s' if count != 1 else ''}"
    )
    out(f"policy id {policy.policy_id}")
    return EXIT_OK


def _describe_purpose(purpose: Purpose) -> list[str]:
    consent = "consent required" if purpose.require_consent else "no consent needed"
    lines = [f"purpose {purpose.name} ({consent})"]
    if purpose.description:
        lines.extend(f"  | {line}" for line in purpose.description.splitlines())
    lines.append(f"  features: {', '.join(sorted(purpose.features))}")
    tags = purpose.tags
    if tags.allow is not None:
        listed = f"allow only {', '.join(sorted(tags.allow))}"
    elif tags.block is not None:
        listed = f"block {', '.join(sorted(tags.block)) or 'nothing'}"
    else:
        listed = "no list"
    withheld = (
        "; a block-listed tag withholds the whole result"
        if tags.on_blocked == "withhold"
        else ""
    )
    lines.append(
        f"  tags: {listed}; minimum confidence {tags.min_confidence:g}{withheld}"
    )
    review = purpose.review
    triggers = []
    if review.all:
        triggers.append("every result")
    triggers.extend(sorted(review.on))
    if triggers:
        details = [f"on {', '.join(triggers)}"]
        if "low_confidence" in review.on:
            details.append(f"low confidence below {review.low_confidence_below:g}")
        if review.deadline is not None:
            details.append(f"deadline {format_duration(review.deadline)}")
        if review.four_eyes:
            details.append("four eyes")
        if review.gate:
            details.append(
                f"gated up to {format_duration(review.gate_timeout)}, then "
                f"{review.gate_default}"
            )
        lines.append(f"  review: {'; '.join(details)}")
    else:
        lines.append("  review: none")
    capture = (
        "permitted (unless health-flagged)" if purpose.capture_content else "never"
    )
    lines.append(f"  content capture: {capture}")
    return lines


def _describe(policy: Policy) -> list[str]:
    retention = policy.retention
    lines = [
        f"policy {policy.name} version {policy.version}, mode {policy.mode}",
        f"id {policy.policy_id}",
    ]
    if policy.source:
        lines.append(f"source {policy.source}")
    if policy.description:
        lines.extend(f"| {line}" for line in policy.description.splitlines())
    lines.append(
        f"retention: content {format_duration(retention.content)}, metadata "
        f"{format_duration(retention.metadata)}, decisions "
        f"{format_duration(retention.decisions)}; images are never stored"
    )
    sensitive = policy.sensitive
    lines.append(
        f"sensitive: people at confidence >= {sensitive.people_threshold:g}; "
        f"{len(sensitive.health_tags)} health-related tags"
    )
    for name in sorted(policy.purposes):
        lines.extend(_describe_purpose(policy.purposes[name]))
    return lines


def _show(args: argparse.Namespace) -> int:
    path = _policy_path(args)
    if path is None:
        error(
            "policy show",
            f"no policy file: name one, or set {env.VISION_AUDIT_POLICY}",
        )
        return EXIT_USAGE
    try:
        policy = load_policy(path)
    except PolicyError as err:
        error("policy show", str(err))
        return EXIT_CHECK_FAILED
    if args.json:
        _out_json(
            json.dumps(
                {"policy_id": policy.policy_id, **policy.as_dict()},
                indent=2,
                sort_keys=True,
                ensure_ascii=False,
            )
        )
    else:
        for line in _describe(policy):
            out(line)
    return EXIT_OK


# -- vision-audit consent ------------------------------------------------------------


def _open(args: argparse.Namespace, *, existing: bool) -> ManagedAuditStore:
    """
    The store the arguments name.

    With *existing*, a SQLite file that does not exist is refused rather than
    created: a command that only reads or changes what is there must not leave an
    empty store behind a typo. A grant may start a new store.
    """
    url = store_url(args)
    if existing:
        return open_existing_store(url, read_only=False)
    from vision_audit.store import open_store  # noqa: PLC0415 - heavy, lazy

    try:
        return open_store(url)
    except ValueError as err:
        raise UsageError(str(err)) from err


def _grant_features(args: argparse.Namespace) -> set[str] | None:
    if not args.feature:
        return None
    features = set()
    for item in args.feature:
        feature = normalize_feature(item)
        if feature is None:
            msg = (
                f"--feature {item[:60]!r} is not a visual feature; accepted: "
                f"{', '.join(FEATURES)}"
            )
            raise UsageError(msg)
        features.add(feature)
    return features


def _grant_expiry(args: argparse.Namespace, now: dt.datetime) -> dt.datetime | None:
    if args.expires is None:
        return None
    try:
        expires = parse_time(args.expires, name="--expires")
    except ValueError as err:
        raise UsageError(str(err)) from err
    if expires <= now:
        msg = f"--expires {args.expires} is not in the future"
        raise UsageError(msg)
    return expires


def _grant_record(args: argparse.Namespace) -> ConsentRecord:
    """
    The record the arguments describe.

    Raises:
        UsageError: What is wrong with them.
    """
    for purpose in args.purpose:
        if not PURPOSE_NAME_PATTERN.fullmatch(purpose):
            msg = f"--purpose {purpose[:60]!r} is not a purpose name"
            raise UsageError(msg)
    features = _grant_features(args)
    now = utc_now()
    expires = _grant_expiry(args, now)
    if args.policy or os.environ.get(env.VISION_AUDIT_POLICY):
        problem = _against_policy(args, features)
        if problem:
            raise UsageError(problem)
    try:
        return ConsentRecord(
            ref=args.ref,
            subject_ref=args.subject,
            purposes=frozenset(args.purpose),
            features=None if features is None else frozenset(features),
            granted_at=now,
            expires_at=expires,
        )
    except (TypeError, ValueError) as err:
        raise UsageError(str(err)) from err


def _against_policy(args: argparse.Namespace, features: set[str] | None) -> str | None:
    """What in the grant the policy in force does not know, if anything."""
    path = args.policy or os.environ.get(env.VISION_AUDIT_POLICY, "")
    try:
        policy = load_policy(path)
    except PolicyError as err:
        return str(err)
    for purpose in args.purpose:
        stated = policy.get_purpose(purpose)
        if stated is None:
            return (
                f"the policy {path} has no purpose {purpose!r}; it has: "
                f"{', '.join(sorted(policy.purposes))}"
            )
        if features is not None and not features <= stated.features:
            extra = ", ".join(sorted(features - stated.features))
            return f"the purpose {purpose!r} does not allow {extra} ({path})"
    return None


def _grant(args: argparse.Namespace) -> int:
    record = _grant_record(args)
    store = _open(args, existing=False)
    try:
        previous = StoreConsentProvider(store).get_consent(record.ref)
        if previous is not None and not args.replace:
            error(
                "consent grant",
                f"consent {record.ref!r} already exists ({_terms(previous)}); "
                "give --replace to replace it",
            )
            return EXIT_CHECK_FAILED
        recorded = grant_consent(store, record, actor=args.actor)
    except (ValueError, VisionAuditError) as err:
        error("consent grant", str(err))
        return EXIT_CHECK_FAILED
    finally:
        store.close()
    if previous is not None:
        _warn("consent grant", f"replaced consent {record.ref!r} ({_terms(previous)})")
    until = record.expires_at.isoformat() if record.expires_at else "no expiry"
    out(
        f"granted consent {record.ref!r} for {', '.join(sorted(record.purposes))} "
        f"({until}); event {recorded.sequence}"
    )
    return EXIT_OK


def _terms(record: ConsentRecord) -> str:
    """The terms of a consent in one line, for a refusal or a warning."""
    expires = record.expires_at.isoformat() if record.expires_at else "no expiry"
    revoked = (
        f", revoked {record.revoked_at.isoformat()}"
        if record.revoked_at is not None
        else ""
    )
    return (
        f"purposes {', '.join(sorted(record.purposes))}; granted "
        f"{record.granted_at.isoformat()}; expires {expires}{revoked}"
    )


def _revoke(args: argparse.Namespace) -> int:
    store = _open(args, existing=True)
    try:
        recorded = revoke_consent(
            store, args.ref, actor=args.actor, reason=args.reason or None
        )
    except (ValueError, VisionAuditError) as err:
        error("consent revoke", str(err))
        return EXIT_CHECK_FAILED
    finally:
        store.close()
    out(f"revoked consent {args.ref!r}; event {recorded.sequence}")
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    store = _open(args, existing=True)
    try:
        records = StoreConsentProvider(store).list_consents()
    except VisionAuditError as err:
        error("consent list", str(err))
        return EXIT_CHECK_FAILED
    finally:
        store.close()
    now = utc_now()
    if args.json:
        for record in records:
            data: dict[str, Any] = record.as_dict()
            data["subject_pseudonym"] = data.pop("subject_ref")
            data["status"] = record.status(now)
            _out_json(json.dumps(data, sort_keys=True, ensure_ascii=False))
        return EXIT_OK
    if not records:
        out("no consent recorded")
        return EXIT_OK
    for record in records:
        features = ", ".join(sorted(record.features)) if record.features else "any"
        expires = record.expires_at.isoformat() if record.expires_at else "never"
        line = (
            f"{record.ref}  {record.status(now)}  purposes: "
            f"{', '.join(sorted(record.purposes))}  features: {features}  "
            f"granted {record.granted_at.isoformat()}  expires {expires}"
        )
        if record.revoked_at is not None:
            line += f"  revoked {record.revoked_at.isoformat()}"
        out(line)
    return EXIT_OK


def _store_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        default=None,
        metavar="URL",
        help=STORE_HELP,
    )


def add_policy_commands(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """
    Add ``policy check|show`` and ``consent grant|revoke|list`` to the command line.

    Each leaf sets ``handler``, a function of the parsed arguments returning the
    exit code: 0 ok, 1 the check or operation failed, 2 bad usage.

    .. versionadded:: 0.1.0
    """
    policy = subparsers.add_parser(
        "policy",
        help="check or show a policy file",
        description="Check a policy file, or show the rules it puts in force.",
    )
    policy_commands = policy.add_subparsers(
        dest="policy_command", metavar="COMMAND", required=True
    )
    check = policy_commands.add_parser(
        "check",
        help="validate a policy file",
        description=(
            "Validate a TOML policy file and print its policy id. Exit 1, with the "
            "file, the key and what is accepted, when it is invalid."
        ),
    )
    check.add_argument("file", metavar="FILE", help="the policy file")
    check.set_defaults(handler=_check)
    show = policy_commands.add_parser(
        "show",
        help="print the rules a policy puts in force",
        description="Print the purposes, lists, review rules and retention of a "
        "policy.",
    )
    show.add_argument(
        "file",
        metavar="FILE",
        nargs="?",
        default=None,
        help=f"the policy file (default: ${env.VISION_AUDIT_POLICY})",
    )
    show.add_argument(
        "--json", action="store_true", help="print the parsed policy as JSON"
    )
    show.set_defaults(handler=_show)

    consent = subparsers.add_parser(
        "consent",
        help="grant, revoke and list consent in the audit store",
        description=(
            "Keep the consent table in the audit store: each grant and revocation is "
            "an audit event. Subject references are stored as keyed pseudonyms."
        ),
    )
    consent_commands = consent.add_subparsers(
        dest="consent_command", metavar="COMMAND", required=True
    )
    grant = consent_commands.add_parser(
        "grant",
        help="record a consent",
        description="Record that a data subject consents to purposes (and features).",
    )
    _store_argument(grant)
    grant.add_argument(
        "--ref", required=True, type=one_line_text, help="the consent reference"
    )
    grant.add_argument(
        "--subject",
        required=True,
        type=one_line_text,
        help="the data subject's reference",
    )
    grant.add_argument(
        "--purpose",
        required=True,
        action="append",
        help="a purpose consented to (repeat for several)",
    )
    grant.add_argument(
        "--feature",
        action="append",
        default=[],
        help=(
            "a visual feature consented to (repeat; default: any the purpose allows): "
            f"{', '.join(FEATURES)}"
        ),
    )
    grant.add_argument(
        "--expires",
        metavar="DATE",
        default=None,
        help="when it ends: 2027-01-01 (midnight UTC) or 2027-01-01T12:00:00Z",
    )
    grant.add_argument(
        "--actor", required=True, type=one_line_text, help="who records the consent"
    )
    grant.add_argument(
        "--replace",
        action="store_true",
        help=(
            "replace the consent already recorded under --ref (without it, a "
            "reference in use is refused)"
        ),
    )
    grant.add_argument(
        "--policy",
        metavar="FILE",
        default=None,
        help=(
            "check purposes and features against this policy "
            f"(default: ${env.VISION_AUDIT_POLICY} when set)"
        ),
    )
    grant.set_defaults(handler=guarded("consent grant", _grant))
    revoke = consent_commands.add_parser(
        "revoke",
        help="revoke a consent",
        description="Record that a consent is withdrawn; calls relying on it are "
        "denied.",
    )
    _store_argument(revoke)
    revoke.add_argument(
        "--ref", required=True, type=one_line_text, help="the consent reference"
    )
    revoke.add_argument(
        "--actor",
        required=True,
        type=one_line_text,
        help="who records the revocation",
    )
    revoke.add_argument(
        "--reason",
        default=None,
        type=one_line_text,
        help="why (kept in the audit trail; no personal data)",
    )
    revoke.set_defaults(handler=guarded("consent revoke", _revoke))
    listing = consent_commands.add_parser(
        "list",
        help="list the consents in the audit store",
        description=(
            "List every consent in the audit store with its status now. A store "
            "that does not exist is refused (exit 2), never created."
        ),
    )
    _store_argument(listing)
    listing.add_argument(
        "--json", action="store_true", help="one JSON object per consent"
    )
    listing.set_defaults(handler=guarded("consent list", _list))
