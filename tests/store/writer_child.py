"""
A writer process for the durability tests: appends until killed.

Usage: ``python writer_child.py PATH PREFIX DURABILITY THREADS``. Prints each event id
on its own line once ``append()`` has returned, that is once acknowledged. Reads the
signing key from the environment, as any writer would.
"""

from __future__ import annotations

import itertools
import sys
import threading

from vision_audit.models import AuditEvent
from vision_audit.store import SQLiteAuditStore


def main() -> None:
    """Append forever from a few threads, printing acknowledged ids."""
    path, prefix, durability, threads = sys.argv[1:5]
    store = SQLiteAuditStore(path, durability=durability, checkpoint_every=7)  # type: ignore[arg-type]
    print(f"ready {prefix}", flush=True)  # noqa: T201
    lock = threading.Lock()
    counter = itertools.count()

    def write() -> None:
        while True:
            number = next(counter)
            recorded = store.append(
                AuditEvent(
                    type="analysis.completed",
                    event_id=f"{prefix}-{number}",
                    subject_ref=f"subject-{number % 5}",
                    content={"caption": f"caption {number}"},
                    data={"number": number},
                )
            )
            with lock:
                sys.stdout.write(f"{recorded.event.event_id}\n")
                sys.stdout.flush()

    workers = [threading.Thread(target=write, daemon=True) for _ in range(int(threads))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


if __name__ == "__main__":
    main()
