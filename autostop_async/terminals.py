"""Terminals as an activity signal: the times of each terminal device.

Every terminal of the editor is a ``/dev/pts/N`` device. The kernel moves its mtime when something
is written to it (program output, and the shell's echo of what is typed) and its atime when a
program reads what was typed (``cat``, ``read``: input the kernel echoes itself), in steps of
about 8 seconds. No file is written when someone types in a terminal, so the workspace walk
cannot see it; these times can. Listing ``/dev/pts`` and a ``stat`` per terminal costs
microseconds, so the signal is polled every interval.

Two writers are not people: the daemon itself when it runs in a terminal (its log lines), and the
warning it writes to every terminal. The first is excluded by device number; for the second the
device's time right after our write is remembered (:class:`OwnWrites`) and not counted.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .activity import Activity, PolledSignal

__all__ = ["OwnWrites", "TerminalsSignal", "own_terminals", "terminal_devices"]

log = logging.getLogger("autostop_async")

#: Own file writes remembered for the editor's echo (a burst of writes counts as one).
MAX_FILE_WRITES = 64


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


@dataclass
class OwnWrites:
    """What the daemon itself wrote: not activity of a person.

    ``mtimes`` maps a terminal's device number to its mtime right after our write; ``at`` is when
    we last wrote to any terminal. ``file_times`` are the recent moments we wrote one of our own
    files (notice, state, log): a file open in an editor tab is reloaded when it changes, and the
    editor's idle extension takes that reload for typing (see ``editor.FILE_ECHO_WINDOW``).
    """

    mtimes: dict[int, float] = field(default_factory=dict)
    at: float = 0.0
    file_times: deque[float] = field(default_factory=lambda: deque(maxlen=MAX_FILE_WRITES))

    def wrote_file(self, at: float) -> None:
        """Remember that one of our own files was written at ``at``."""
        if not self.file_times or at > self.file_times[-1] + 0.5:  # a burst is one write
            self.file_times.append(at)
        else:
            self.file_times[-1] = at

    def file_write_near(self, at: float, before: float, after: float) -> float | None:
        """The moment of an own file write from ``before`` s after ``at`` to ``after`` s before
        it (the write ``at`` may echo), or None."""
        for wrote in reversed(self.file_times):
            if wrote - before <= at <= wrote + after:
                return wrote
        return None

    def wrote(self, fd: int, at: float) -> None:
        """Remember the time of the device open on ``fd`` right after we wrote to it."""
        try:
            st = os.fstat(fd)
        except OSError:
            return
        self.mtimes[st.st_rdev] = st.st_mtime
        self.at = max(self.at, at)

    def is_ours(self, st: os.stat_result) -> bool:
        """True if the device's time is still the one our own write left."""
        return self.mtimes.get(st.st_rdev) == st.st_mtime


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
        """The most recently modified terminal, clamped to now, or None when there is none
        (no thread: a listing and a ``stat`` per terminal cost microseconds)."""
        best: tuple[float, str] | None = None
        for path, st in terminal_devices(self.folder):
            if st.st_rdev in self.exclude_devices:
                continue
            # Our own notice moves the mtime only; the atime is input some program read.
            at = st.st_atime if self.own_writes.is_ours(st) else max(st.st_mtime, st.st_atime)
            if best is None or at > best[0]:
                best = (at, path)
        if best is None:
            return None
        return Activity(min(best[0], self.clock()), f"terminal:{best[1]}")
