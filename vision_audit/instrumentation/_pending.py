"""
Work of the wrappers done on threads of their own.

The aio wrapper records its events from :func:`off_loop`: the durable appends (and
the image digest, and a review gate's events) never block the event loop, and the
appends of concurrent tasks share the store's group commits.

Telemetry of ``analysis.requested`` is sent while the request is on the wire.

The audit store has the event before any byte is sent; its log line and span event
need not hold the request up. They go to a small pool of threads, in a copy of the
caller's context (so spans, baggage and audit context are the caller's), and start
once the request has had time to leave (:data:`START_AFTER`) or as soon as the call
is back, whichever comes first: a thread that took Python's GIL while the caller was
still sending would only slow the send. The caller joins them before it records
anything else, so every sink sees a call's events in order.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Future

__all__ = ["START_AFTER", "Deferred", "off_loop"]

_T = TypeVar("_T")

START_AFTER: Final = 0.001
"""Seconds a deferred job waits for the request to leave before it runs anyway."""
_POOL_SIZE: Final = 16
_pools: dict[str, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _pool(name: str) -> ThreadPoolExecutor:
    pool = _pools.get(name)
    if pool is None:
        with _pools_lock:
            pool = _pools.get(name)
            if pool is None:  # one pool of each kind per process, made on first use
                pool = ThreadPoolExecutor(_POOL_SIZE, thread_name_prefix=name)
                _pools[name] = pool
    return pool


def _executor() -> ThreadPoolExecutor:
    return _pool("vision-audit")


def _forget_pools() -> None:
    # A forked child has none of its parent's threads: it makes pools of its own.
    global _pools_lock  # noqa: PLW0603
    _pools.clear()
    _pools_lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # pragma: no branch - absent on Windows only
    os.register_at_fork(after_in_child=_forget_pools)


async def off_loop(
    function: Callable[..., _T],
    *args: Any,
    **kwargs: Any,
) -> _T:
    """*function* called on a thread of the pool, in the current context."""
    context = contextvars.copy_context()
    call = functools.partial(context.run, function, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(
        _pool("vision-audit-aio"), call
    )


class Deferred:
    """Work that runs on the pool a little later, and that the caller joins."""

    __slots__ = ("_future", "_go", "_work")

    def __init__(self, work: Callable[[], None]) -> None:
        """Schedule *work*, in a copy of the current context."""
        self._go = threading.Event()
        context = contextvars.copy_context()
        self._work: Callable[[], None] = lambda: context.run(work)
        self._future: Future[None] | None = None
        try:
            self._future = _executor().submit(context.run, self._run, work)
        except RuntimeError:  # the interpreter is shutting down: no new threads
            self._work()

    def _run(self, work: Callable[[], None]) -> None:
        self._go.wait(START_AFTER)
        work()

    def join(self) -> None:
        """
        Let the work start now if it has not, and wait until it is done.

        Work still queued (every pool thread busy) is taken back and done here, so a
        caller never waits for a thread that waits for it.
        """
        future = self._future
        if future is None:
            return
        self._future = None
        self._go.set()
        if future.cancel():
            self._work()
            return
        future.result()
