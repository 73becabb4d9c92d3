"""Run work in a forked child and read back its answer, without ever hanging a run."""

from __future__ import annotations

import os
import signal
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


class Child:
    """A forked child running some work; its answer is the text of what it returned."""

    def __init__(self, work: Callable[[], object]) -> None:
        """Fork; the child runs *work*, writes its answer (or error) and exits."""
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            os.close(read_end)
            try:
                answer = str(work())
            except BaseException as err:  # noqa: BLE001 - reported to the parent
                answer = f"{type(err).__name__}: {err}"
            os.write(write_end, answer.encode())
            os._exit(0)
        os.close(write_end)
        self._pid = pid
        self._read_end = read_end

    def answer(self, timeout: float = 20) -> str:
        """
        What the child's work returned (or raised), as text.

        A child still running after *timeout* seconds is killed and reported as
        ``hung``, so that a hang fails the test instead of the run.
        """
        deadline = time.monotonic() + timeout
        while not os.waitpid(self._pid, os.WNOHANG)[0]:
            if time.monotonic() > deadline:
                os.kill(self._pid, signal.SIGKILL)
                os.waitpid(self._pid, 0)
                os.close(self._read_end)
                return "hung"
            time.sleep(0.005)
        with os.fdopen(self._read_end, "rb") as answer:
            return answer.read().decode()


def in_child(work: Callable[[], object], timeout: float = 20) -> str:
    """Fork, run *work* in the child, and return its answer (see :class:`Child`)."""
    return Child(work).answer(timeout)
