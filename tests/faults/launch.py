"""Run the daemon exactly as ``python -m autostop_async`` does, with one fault put in first.

``AUTOSTOP_TEST_FAULT`` picks the fault (the tests in this folder own every one of them):

``walk-thread``
    the workspace walk cannot start its worker thread (``RuntimeError: can't start new thread``,
    what Python raises when the process is out of threads or memory);
``stuck-fifo:PATH``
    the terminals signal's worker thread opens the FIFO ``PATH`` for reading, which blocks in
    the kernel for as long as nobody opens it for writing;
``stuck-walk:PATH``
    every worker thread of the walk blocks forever in ``open`` of a folder (a hung mount).

For the stuck ones, ``PATH.stuck`` is created when a thread is about to block.
"""

from __future__ import annotations

import asyncio
import os
import runpy
import threading
from pathlib import Path
from typing import Any

SCAN_THREADS = "autostop-scan"  # the walk's thread name prefix (autostop_async.changes)


def _no_walk_thread() -> None:
    start = threading.Thread.start

    def failing_start(self: threading.Thread) -> None:
        if self.name.startswith(SCAN_THREADS):
            raise RuntimeError("can't start new thread")
        start(self)

    threading.Thread.start = failing_start  # type: ignore[method-assign]


def _stuck_terminals(fifo: str) -> None:
    from autostop_async.activity import Activity
    from autostop_async.signals.terminals import TerminalsSignal

    def block() -> None:
        Path(fifo + ".stuck").touch()
        os.open(fifo, os.O_RDONLY)  # no writer: blocks in the kernel

    async def newer_than(self: Any, t: float) -> Activity | None:
        await asyncio.to_thread(block)
        return None

    TerminalsSignal.newer_than = newer_than  # type: ignore[method-assign]


def _stuck_walk(marker: str) -> None:
    real_open = os.open

    def hung_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if threading.current_thread().name.startswith(SCAN_THREADS) and flags & os.O_DIRECTORY:
            Path(marker + ".stuck").touch()
            threading.Event().wait()  # never set: a thread that cannot be stopped or joined
        return real_open(path, flags, *args, **kwargs)

    os.open = hung_open


def main() -> None:
    """Put the fault in, then run the package's ``__main__`` as ``python -m`` would."""
    fault = os.environ.get("AUTOSTOP_TEST_FAULT", "")
    kind, _, arg = fault.partition(":")
    if kind == "walk-thread":
        _no_walk_thread()
    elif kind == "stuck-fifo":
        _stuck_terminals(arg)
    elif kind == "stuck-walk":
        _stuck_walk(arg)
    elif kind:
        raise SystemExit(f"launch.py: unknown AUTOSTOP_TEST_FAULT {fault!r}")
    runpy.run_module("autostop_async", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
