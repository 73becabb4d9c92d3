"""
Telemetry of ``analysis.requested``, sent while the request is on the wire.

The audit store has the event before any byte is sent; its log line and span event
need not hold the request up. They go to a small pool of threads, in a copy of the
caller's context (so spans, baggage and audit context are the caller's), and start
once the request has had time to leave (:data:`START_AFTER`) or as soon as the call
is back, whichever comes first: a thread that took Python's GIL while the caller was
still sending would only slow the send. The caller joins them before it records
anything else, so every sink sees a call's events in order.
"""

from __future__ import annotations

import contextvars
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Future

__all__ = ["START_AFTER", "Deferred"]

START_AFTER: Final = 0.001
"""Seconds a deferred job waits for the request to leave before it runs anyway."""
_POOL_SIZE: Final = 16
_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _pool  # noqa: PLW0603 - one pool per process, made on first use
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(
                    max_workers=_POOL_SIZE, thread_name_prefix="vision-audit"
                )
    return _pool


def _forget_pool() -> None:
    # A forked child has none of its parent's threads: it makes a pool of its own.
    global _pool, _pool_lock  # noqa: PLW0603
    _pool = None
    _pool_lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # pragma: no branch - absent on Windows only
    os.register_at_fork(after_in_child=_forget_pool)


class Deferred:
    """Work that runs on the pool a little later, and that the caller joins."""

    __slots__ = ("_future", "_go")

    def __init__(self, work: Callable[[], None]) -> None:
        """Schedule *work*, in a copy of the current context."""
        self._go = threading.Event()
        context = contextvars.copy_context()
        self._future: Future[None] | None = None
        try:
            self._future = _executor().submit(context.run, self._run, work)
        except RuntimeError:  # the interpreter is shutting down: no new threads
            context.run(work)

    def _run(self, work: Callable[[], None]) -> None:
        self._go.wait(START_AFTER)
        work()

    def join(self) -> None:
        """Let the work start now if it has not, and wait until it is done."""
        future = self._future
        if future is None:
            return
        self._go.set()
        future.result()
        self._future = None
