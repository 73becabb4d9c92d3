"""The pool that sends a request's telemetry while the request is out."""

from __future__ import annotations

import os
import threading
import time

import pytest
from tests.forking import in_child
from vision_audit import _threads
from vision_audit._threads import START_AFTER, Deferred, off_loop


class TestDeferred:
    """Deferred work runs off the caller's thread, and join() waits for it."""

    def test_runs_on_a_pool_thread_in_the_callers_context(self) -> None:
        """The work sees the caller's context variables, on a vision-audit thread."""
        import contextvars

        marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker")
        marker.set("caller")
        seen: list[tuple[str, str]] = []
        ran = threading.Event()

        def work() -> None:
            seen.append((marker.get(), threading.current_thread().name))
            ran.set()

        deferred = Deferred(work)
        assert ran.wait(5)  # on its own, after the start delay
        deferred.join()

        assert "caller" == seen[0][0]
        assert seen[0][1].startswith("vision-audit")

    def test_join_starts_it_at_once(self) -> None:
        """A call that comes back early does not wait out the start delay."""
        ran = threading.Event()
        deferred = Deferred(ran.set)

        started = time.perf_counter()
        deferred.join()

        assert ran.is_set()
        assert time.perf_counter() - started < START_AFTER * 50

    def test_join_twice(self) -> None:
        """join() is idempotent; the work runs once."""
        runs: list[int] = []
        deferred = Deferred(lambda: runs.append(1))

        deferred.join()
        deferred.join()

        assert [1] == runs

    def test_no_pool_at_shutdown(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """When no thread can be started any more, the work runs at once, inline."""

        class Closed:
            def submit(self, *_: object) -> None:
                msg = "cannot schedule new futures after interpreter shutdown"
                raise RuntimeError(msg)

        monkeypatch.setattr(_threads, "_executor", Closed)
        where: list[str] = []

        Deferred(lambda: where.append(threading.current_thread().name)).join()

        assert [threading.current_thread().name] == where

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
    def test_forked_child_gets_a_pool_of_its_own(self) -> None:
        """A worker forked after the parent used the pool still has its work done."""
        Deferred(lambda: None).join()  # the parent's pool exists, with idle threads

        def work() -> bool:
            done = threading.Event()
            Deferred(done.set).join()
            return done.is_set()

        assert "True" == in_child(work, timeout=10)

    def test_join_does_queued_work_itself(self) -> None:
        """With every pool thread busy, join() takes the work back: no deadlock."""
        release = threading.Event()
        blockers = [Deferred(lambda: release.wait(30)) for _ in range(16)]
        for blocker in blockers:
            blocker._go.set()  # noqa: SLF001 - start them now, all pool threads busy
        where: list[str] = []
        queued = Deferred(lambda: where.append(threading.current_thread().name))

        started = time.perf_counter()
        queued.join()
        took = time.perf_counter() - started
        release.set()
        for blocker in blockers:
            blocker.join()

        assert [threading.current_thread().name] == where
        assert took < 5


class TestOffLoop:
    """Work the event loop hands to a thread, and awaits."""

    def test_on_a_thread_in_the_callers_context(self) -> None:
        """The loop's thread is free meanwhile; the work sees the caller's context."""
        import asyncio
        import contextvars

        marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker")

        async def run() -> tuple[str, str, str]:
            marker.set("task")
            here = threading.current_thread().name
            return here, *await off_loop(
                lambda: (marker.get(), threading.current_thread().name)
            )

        loop_thread, seen, worker = asyncio.run(run())

        assert "task" == seen
        assert worker.startswith("vision-audit-aio")
        assert worker != loop_thread

    def test_inline_when_no_thread_can_start(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """At interpreter shutdown the work is done at once, on the loop's thread."""
        import asyncio

        def closed(_: str) -> None:
            msg = "cannot schedule new futures after interpreter shutdown"
            raise RuntimeError(msg)

        monkeypatch.setattr(_threads, "_pool", closed)

        async def run() -> tuple[str, str]:
            return threading.current_thread().name, await off_loop(
                lambda: threading.current_thread().name
            )

        loop_thread, worker = asyncio.run(run())

        assert loop_thread == worker
