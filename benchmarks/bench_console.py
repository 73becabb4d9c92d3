"""
The reviewer console's pages in a large log, beside the CLI's ``review show``.

The SQLite store of ``bench_review.py`` is built (``--events``, 1,000,000 by
default: a quarter of them flag an analysis, all pending). One console is made over
it, as ``review serve`` makes it (the store opened once for the server's life), and
its pages are fetched in process through Starlette's TestClient: the time is the
server's, with no network. "Rare reason" is a reason no case has: the worst case, where
the page reads its bounded share of the index and finds nothing. Each figure is the
median of ``--rounds`` runs, case pages on random analyses. The CLI's ``review show``
(store opened per command) is measured in the same run, for comparison, and so is the
queue's count, which the console makes in the background (every 30 s), never while a
page waits. Target: each page under 100 ms.

Run: ``.venv/bin/python benchmarks/bench_console.py [--events N] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

from bench_review import _median_ms, build
from starlette.testclient import TestClient
from vision_audit.console import ConsoleSecret
from vision_audit.console._app import ConsoleConfig, create_app
from vision_audit.review import get_review
from vision_audit.store import SQLiteAuditStore

TARGET_MS = 100.0


def measure(path: Path, ids: list[str], rounds: int) -> None:
    """The queue (plain, overdue, by reason) and case pages, and ``review show``."""
    shown = iter(random.Random(11).sample(ids, rounds))
    cases = iter(random.Random(12).sample(ids, rounds))
    secret = ConsoleSecret.load(path.parent / "console.key", create=True)
    store = SQLiteAuditStore(path)
    app = create_app(ConsoleConfig(store=store, secret=secret), background=False)
    app.state.console.watch.check()
    counts = app.state.console.counts
    with TestClient(app, base_url="http://127.0.0.1") as client:
        page = client.get("/login").text
        csrf = page.split('name="csrf" value="')[1].split('"')[0]
        signed = client.post(
            "/login",
            data={"csrf": csrf, "token": secret.issue_token("bench", days=1)},
            follow_redirects=False,
        )
        assert signed.status_code == 303, signed.text  # noqa: PLR2004 - See Other

        def fetch(url: str) -> None:
            answer = client.get(url)
            assert answer.status_code == 200, answer.text[:500]  # noqa: PLR2004

        def show() -> None:
            with SQLiteAuditStore(path, read_only=True) as read:
                get_review(read, next(shown))

        rows = [
            ("review show (CLI)", _median_ms(show, rounds)),
            ("queue count (background)", _median_ms(counts.refresh, rounds)),
            ("console queue page", _median_ms(lambda: fetch("/"), rounds)),
            (
                "console queue, by purpose",
                _median_ms(lambda: fetch("/?purpose=patient-intake"), rounds),
            ),
            (
                "console queue, by reason",
                _median_ms(lambda: fetch("/?reason=people"), rounds),
            ),
            (
                "console queue, rare reason",
                _median_ms(lambda: fetch("/?reason=health"), rounds),
            ),
            (
                "console case page",
                _median_ms(lambda: fetch(f"/cases/{next(cases)}"), rounds),
            ),
        ]
    store.close()
    print(f"\n{'':28} {'median ms':>10} target")
    for label, ms in rows:
        page = label.startswith("console")
        target = f"< {TARGET_MS:.0f} ms: " if page else ""
        met = ("met" if ms < TARGET_MS else "NOT met") if page else ""
        print(f"{label:28} {ms:10.1f} {target}{met}")


def main() -> None:
    """Build the store, then measure the pages."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "audit.db"
        measure(path, build(path, args.events), args.rounds)


if __name__ == "__main__":
    main()
