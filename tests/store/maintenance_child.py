"""
A maintenance process for the kill -9 tests: purges or erases, to be killed midway.

Usage: ``python maintenance_child.py PATH purge|erase``. Opens the store, prints
``ready``, runs the operation, then prints ``done``. Reads the signing key from the
environment, as any writer would.
"""

from __future__ import annotations

import sys
from datetime import timedelta

from vision_audit.store import SQLiteAuditStore


def main() -> None:
    """Open, say so, run the one operation."""
    path, operation = sys.argv[1:3]
    store = SQLiteAuditStore(path)
    print("ready", flush=True)  # noqa: T201
    if operation == "purge":
        store.purge_content(older_than=timedelta(0), actor="retention-job")
    else:
        store.erase_subject("subject-1", actor="privacy-office")
    print("done", flush=True)  # noqa: T201
    store.close()


if __name__ == "__main__":
    main()
