"""Stopping on SIGTERM and SIGINT by cancelling the task that runs, as arq's ``handle_sig``.

Whatever that task awaits (a walk, a signal stuck in a system call, a slow disk) ends at once
with ``CancelledError``; :class:`StopOnSignals` tells that stop from any other cancellation and
swallows only its own, so the caller can save its state and exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from types import TracebackType
from typing import Any

__all__ = ["StopOnSignals"]


class StopOnSignals:
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
        if self._task is not None:
            self._task.cancel()

    def __enter__(self) -> StopOnSignals:
        self._task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
                loop.add_signal_handler(signum, self.request)
        if self.requested:
            self._task.cancel()  # type: ignore[union-attr]
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
            task.uncancel()  # handled: later waits with a timeout work as usual
        return True
