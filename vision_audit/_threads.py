"""
Work done on threads of vision-audit's own, in a copy of the caller's context.

Two pools, made on first use (and anew in a forked child):

- ``vision-audit-aio``: the aio wrappers record from :class:`OffLoop` /
  :func:`off_loop`, so the durable appends (and the image digest, and a review
  gate's reads and records) never block the event loop, and concurrent tasks'
  events share the store's group commits. A task cancelled meanwhile lets the work
  finish before the cancellation goes on.
- ``vision-audit``: :class:`Deferred` work, the log line and span event of
  ``analysis.requested``. The store has the event before any byte is sent; its
  telemetry need not hold the request up. It starts once the request has had time
  to leave (:data:`START_AFTER`) or as soon as the call is back, whichever comes
  first: a thread that took Python's GIL while the caller was still sending would
  only slow the send. The caller joins it before it records anything else, so every
  sink sees a call's events in order.

In the copy of the caller's context, spans, baggage and audit context are the
caller's.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Future

__all__ = ["START_AFTER", "Deferred", "OffLoop", "off_loop"]

_T = TypeVar("_T")

START_AFTER: Final = 0.001
"""Seconds a deferred job waits for the request to leave before it runs anyway."""
_POOL_SIZE: Final = 16
_pools: dict[str, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


_fork_hooks: set[str] = set()
_fork_hooks_lock = threading.Lock()


def at_fork_once(
    name: str,
    *,
    before: Callable[[], object] | None = None,
    after_in_parent: Callable[[], object] | None = None,
    after_in_child: Callable[[], object] | None = None,
) -> None:
    """
    Register fork handlers under *name*, once per process, when first needed.

    Nothing is registered at import: a program that imports vision-audit and never
    opens a store or a pool forks as it did without it.
    """
    if not hasattr(os, "register_at_fork"):  # pragma: no cover - Windows
        return
    with _fork_hooks_lock:
        if name in _fork_hooks:
            return
        hooks = {
            key: value
            for key, value in (
                ("before", before),
                ("after_in_parent", after_in_parent),
                ("after_in_child", after_in_child),
            )
            if value is not None
        }
        os.register_at_fork(**hooks)
        _fork_hooks.add(name)


def _pool(name: str) -> ThreadPoolExecutor:
    pool = _pools.get(name)
    if pool is None:
        at_fork_once("vision-audit pools", after_in_child=_forget_pools)
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


class OffLoop(Generic[_T]):
    """
    A call made on a pool thread, in the current context, that the loop awaits.

    A task cancelled while it awaits does not abandon the call half done: the call
    finishes first (its records, and the span they go on, stay whole), and the
    cancellation is kept in :attr:`cancelled` for the caller to pass on once it has
    recorded what the cancellation means. Without a running loop, or once the
    interpreter no longer starts threads, the call is made at once, inline.
    """

    __slots__ = ("_call", "_future", "cancelled")

    def __init__(
        self,
        function: Callable[..., _T],
        *args: Any,  # noqa: ANN401 - passed through
        **kwargs: Any,  # noqa: ANN401 - passed through
    ) -> None:
        """Start ``function(*args, **kwargs)`` on the pool."""
        context = contextvars.copy_context()
        self._call: Callable[[], _T] = lambda: context.run(function, *args, **kwargs)
        self.cancelled: asyncio.CancelledError | None = None
        self._future: asyncio.Future[_T] | None = None
        try:
            pool = _pool("vision-audit-aio")
            self._future = asyncio.get_running_loop().run_in_executor(pool, self._call)
        except RuntimeError:  # no running loop, or no new threads at shutdown
            self._future = None

    async def result(self) -> _T:
        """
        What the call returned; its exception if it raised.

        Raises:
            asyncio.CancelledError: The loop itself cancelled the call's future.
        """
        future = self._future
        if future is None:
            return self._call()
        while True:
            try:
                return await asyncio.shield(future)
            except asyncio.CancelledError as err:
                if future.cancelled():
                    raise
                self.cancelled = err  # the call goes on: wait for it, then pass it on


async def off_loop(
    function: Callable[..., _T],
    *args: Any,  # noqa: ANN401 - passed through
    **kwargs: Any,  # noqa: ANN401 - passed through
) -> _T:
    """
    ``function(*args, **kwargs)`` on a pool thread; a cancellation waits for it.

    Raises:
        asyncio.CancelledError: The awaiting task was cancelled meanwhile (raised
            once the call is done, whatever it returned or raised).
    """
    step = OffLoop(function, *args, **kwargs)
    try:
        result = await step.result()
    except Exception:
        if step.cancelled is not None:
            raise step.cancelled from None
        raise
    if step.cancelled is not None:
        raise step.cancelled
    return result


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
