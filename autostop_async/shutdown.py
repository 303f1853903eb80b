"""Stopping on SIGTERM and SIGINT by cancelling the task that runs, as arq's ``handle_sig``.

Whatever that task awaits (a walk, a signal stuck in a system call, a slow disk) ends at once
with ``CancelledError``; :class:`ShutdownOnSignals` tells that stop from any other cancellation and
swallows only its own, so the caller can save its state and exit 0.

A cancellation can be lost: ``asyncio.wait_for`` before Python 3.12 drops one that arrives just
as its inner call ends (gh-86296), and the task would then wait on, up to the next deadline. So
the stop cancels the task again every :data:`INSIST_EVERY` seconds until the block is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from types import TracebackType
from typing import Any

__all__ = ["INSIST_EVERY", "ShutdownOnSignals"]

#: How often a requested stop cancels the task again while the block has not ended.
INSIST_EVERY = 0.1


class ShutdownOnSignals:
    """``with stopper:`` inside a task: SIGTERM, SIGINT or :meth:`request` cancel the task; the
    block then ends quietly (``requested`` is True). A second request is ignored."""

    def __init__(self) -> None:
        self.requested = False
        self._task: asyncio.Task[Any] | None = None

    def request(self) -> None:
        """Stop the task in the block (before the block: it ends as soon as it starts)."""
        if self.requested:
            return
        self.requested = True
        self._insist()

    def _insist(self) -> None:
        """Cancel the task, and again a moment later while the block has not ended."""
        if self._task is None:
            return
        self._task.cancel()
        asyncio.get_running_loop().call_later(INSIST_EVERY, self._insist)

    def __enter__(self) -> ShutdownOnSignals:
        self._task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
                loop.add_signal_handler(signum, self.request)
        if self.requested:
            self._insist()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        task, self._task = self._task, None  # a signal from now on cancels nothing
        if exc_type is not asyncio.CancelledError or not self.requested:
            return False  # another cancellation is not ours to swallow
        if sys.version_info >= (3, 11) and task is not None:
            while task.cancelling():  # handled (each time it was asked): later waits with a
                task.uncancel()  # timeout work as usual
        return True
