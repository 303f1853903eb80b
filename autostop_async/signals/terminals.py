"""Terminals as an activity signal: the times of each terminal device.

Every terminal of the editor is a ``/dev/pts/N`` device. The kernel moves its mtime when something
is written to it (program output, and the shell's echo of what is typed) and its atime when a
program reads what was typed (``cat``, ``read``: input the kernel echoes itself), in steps of
8 seconds: a time is moved only once the clock has left the 8-second step (a multiple of 8) of
the time it holds, so that nobody can read the timing of keystrokes from it (``tty_update_time``
in the kernel's ``drivers/tty/tty_io.c``). A terminal may therefore have been used until the end
of the step of its time; that end is the activity counted (:func:`latest_use`), so a stop never
comes before the idle time has passed since the last key. No file is written when someone types
in a terminal, so the workspace walk cannot see it; these times can. Listing ``/dev/pts`` and a
``stat`` per terminal costs microseconds, so the signal is polled every interval.

Two writers are not people: the daemon itself when it runs in a terminal (its log lines), and the
warning it writes to every terminal. The first is excluded by device number; for the second the
device's time right after our write is remembered (:class:`OwnWrites`) and not counted.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ..activity import Activity
from ..own_writes import OwnWrites
from .base import PolledSignal

__all__ = [
    "TTY_TIME_STEP",
    "TerminalsSignal",
    "latest_use",
    "own_terminals",
    "terminal_devices",
]

log = logging.getLogger("autostop_async")

#: The kernel's step for a terminal's times, in seconds (see above).
TTY_TIME_STEP = 8


def latest_use(tty_time: float) -> float:
    """The last moment a terminal whose device time is ``tty_time`` may have been used: the
    end of that time's 8-second step (use before then leaves the time as it is)."""
    return float(int(tty_time) // TTY_TIME_STEP * TTY_TIME_STEP + TTY_TIME_STEP)


def terminal_devices(folder: Path) -> Iterator[tuple[str, os.stat_result]]:
    """``(path, stat)`` of each terminal device in ``folder`` (``ptmx`` left out).

    Entries are followed if they are links, and kept only if they are character devices.
    """
    try:
        names = os.listdir(folder)
    except OSError as exc:
        log.debug("cannot list terminals in %s: %s", folder, exc)
        return
    for name in sorted(names):
        if name == "ptmx":
            continue
        path = os.path.join(folder, name)
        try:
            st = os.stat(path)
        except OSError:  # closed meanwhile
            continue
        if stat.S_ISCHR(st.st_mode):
            yield path, st


def own_terminals() -> frozenset[int]:
    """Device numbers of the terminals the daemon itself writes its output to (if any)."""
    found = set()
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd):
                found.add(os.fstat(fd).st_rdev)
        except OSError:
            continue
    return frozenset(found)


class TerminalsSignal(PolledSignal):
    """The newest input or output time of the terminal devices, ours left out."""

    name = "terminals"

    def __init__(
        self,
        folder: Path = Path("/dev/pts"),
        *,
        own_writes: OwnWrites | None = None,
        exclude_devices: frozenset[int] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.folder = folder
        self.own_writes = own_writes if own_writes is not None else OwnWrites()
        self.exclude_devices = own_terminals() if exclude_devices is None else exclude_devices
        self.clock = clock

    async def sample(self) -> Activity | None:
        """The most recently used terminal (the end of its time's step, clamped to now), or
        None when there is none (no thread: a listing and a ``stat`` per terminal cost
        microseconds)."""
        best: tuple[float, str] | None = None
        for path, st in terminal_devices(self.folder):
            if st.st_rdev in self.exclude_devices:
                continue
            # Our own notice moves the mtime only; the atime is input some program read.
            seen = st.st_atime if self.own_writes.is_ours(st) else max(st.st_mtime, st.st_atime)
            at = latest_use(seen)
            if best is None or at > best[0]:
                best = (at, path)
        if best is None:
            return None
        return Activity(min(best[0], self.clock()), f"terminal:{best[1]}")
