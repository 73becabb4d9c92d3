"""
Write last month's compliance report: the job a cron line or a systemd timer runs.

Run: ``python main.py --out-dir reports`` on the first of each month. It works out
the previous calendar month (UTC) and runs ``vision-audit report`` for it, writing
``vision-audit-report-YYYY-MM.pdf``. ``--month 2026-10`` reports another month.

The store comes from ``VISION_AUDIT_STORE`` (or ``--store``); it is handed to the
report command through the environment, never on its command line, where a
``postgresql://`` password would show in the process list.

``--sign-key FILE --sign-cert FILE`` sign the PDF (PAdES), so that legal can check it
with ``vision-audit verify-pdf``; an encrypted key's password comes from the
environment variable ``--sign-key-password-env`` names, never from the command line.
"""

from __future__ import annotations

import argparse
import calendar
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path


def last_month(today: dt.date) -> tuple[dt.date, dt.date]:
    """The first and the last day of the calendar month before *today*."""
    last = today.replace(day=1) - dt.timedelta(days=1)
    return last.replace(day=1), last


def month(text: str) -> tuple[dt.date, dt.date]:
    """The first and last day of a ``YYYY-MM`` month."""
    try:
        first = dt.datetime.strptime(text, "%Y-%m").replace(tzinfo=dt.UTC).date()
    except ValueError as err:
        msg = f"expected a month as YYYY-MM, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from err
    days = calendar.monthrange(first.year, first.month)[1]
    return first, first.replace(day=days)


def main() -> int:
    """Report the period; exit with the report command's status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, default=Path("reports"))
    parser.add_argument("--month", type=month, help="YYYY-MM (default: last month)")
    parser.add_argument("--store", help="default: $VISION_AUDIT_STORE")
    parser.add_argument("--organization", help="named on the cover")
    parser.add_argument("--format", choices=["pdf", "html"], default="pdf")
    parser.add_argument(
        "--mappings",
        action="append",
        metavar="DIR",
        help="a folder of your own guidance or regulation maps (see mappings/)",
    )
    parser.add_argument("--sign-key", help="sign the PDF with this key (PEM, PKCS#12)")
    parser.add_argument("--sign-cert", help="the signing key's X.509 certificate")
    parser.add_argument(
        "--sign-key-password-env", metavar="VAR", help="where the key's password is"
    )
    args = parser.parse_args()

    first, last = args.month or last_month(dt.datetime.now(dt.UTC).date())
    env = dict(os.environ)
    if args.store:
        env["VISION_AUDIT_STORE"] = args.store
    if "VISION_AUDIT_STORE" not in env:
        parser.error("no store: set VISION_AUDIT_STORE or pass --store")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    out = args.out_dir / f"vision-audit-report-{first:%Y-%m}.{args.format}"
    # The interpreter running this script has vision-audit installed; cron's PATH
    # may not lead to its console script, so run the module instead.
    command = [sys.executable, "-m", "vision_audit", "report", "--quiet"]
    command += ["--since", first.isoformat(), "--until", last.isoformat()]
    command += ["--out", str(out), "--format", args.format]
    if args.organization:
        command += ["--organization", args.organization]
    for folder in args.mappings or ():
        command += ["--mappings", folder]
    for option in ("sign_key", "sign_cert", "sign_key_password_env"):
        value = getattr(args, option)
        if value:
            command += [f"--{option.replace('_', '-')}", value]
    print(f"reporting {first} to {last} into {out}", flush=True)
    completed = subprocess.run(command, env=env, check=False)  # noqa: S603
    if completed.returncode == 0:
        print(f"wrote {out}")
    elif completed.returncode == 1 and out.exists():
        # Written, but the store did not verify: the cover says NOT VERIFIED, and
        # the failed status makes cron mail it, or systemd mark the unit failed.
        print(f"wrote {out}, which says the store did NOT verify")
    return completed.returncode


if __name__ == "__main__":
    sys.exit(main())
