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
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .activity import Activity, PolledSignal

__all__ = [
    "FILE_ECHO_WINDOW",
    "TTY_TIME_STEP",
    "OwnWrites",
    "TerminalsSignal",
    "file_echo_window",
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


#: A file of ours open in an editor tab is reloaded when we write it, and the reload is a text
#: change for the idle extension: heartbeats this long after one of our file writes are not
#: counted (the editor notices the change and reloads within a second or two). The daemon uses
#: at most a twentieth of the idle time (:func:`file_echo_window`).
FILE_ECHO_WINDOW = 10.0


def file_echo_window(idle_time: float) -> float:
    """How long after an own file write a heartbeat is taken for its echo: short against the
    idle time, so that a person's heartbeat lost in it moves the stop by little."""
    return min(FILE_ECHO_WINDOW, idle_time / 20)


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
    editor's idle extension takes that reload for typing (see ``FILE_ECHO_WINDOW``).

    A write is *prompted* when the newest activity is at most ``echo_window`` older (the state
    saved after a poll found activity, the daemon's start-up lines), and *unprompted* otherwise
    (the warning, a check that found only old activity). The echo of an unprompted write is
    never counted: it could postpone the stop by a whole idle time, again and again. A heartbeat
    soon after a prompted write is counted (it may be a person's next click; an echo would move
    the newest activity by seconds), and the daemon records it with an unprompted write
    (:meth:`may_echo_prompted`), so an echo never feeds itself.
    """

    mtimes: dict[int, float] = field(default_factory=dict)
    at: float = 0.0
    #: ``(moment, prompted)`` of our recent file writes.
    file_times: deque[tuple[float, bool]] = field(
        default_factory=lambda: deque(maxlen=MAX_FILE_WRITES)
    )
    #: How long after a file write of ours a heartbeat may be its echo (``file_echo_window``).
    echo_window: float = FILE_ECHO_WINDOW
    #: The newest activity the daemon knows (None: it is starting), kept by the daemon.
    last_activity: float | None = None

    def wrote_file(self, at: float, *, prompted: bool | None = None) -> None:
        """Remember that one of our own files was written at ``at``; ``prompted`` None: decided
        by how recent the newest activity is."""
        if prompted is None:
            last = self.last_activity
            prompted = last is None or at - last <= self.echo_window
        if self.file_times and at <= self.file_times[-1][0] + 0.5:  # a burst is one write
            prompted = prompted and self.file_times[-1][1]  # unprompted if any part was
            self.file_times[-1] = (at, prompted)
        else:
            self.file_times.append((at, prompted))

    def file_write_near(
        self, at: float, before: float, after: float, *, prompted: bool | None = None
    ) -> float | None:
        """The moment of an own file write (of the kind asked, or any) from ``before`` s after
        ``at`` to ``after`` s before it (the write ``at`` may echo), or None."""
        for wrote, kind in reversed(self.file_times):
            if (prompted is None or kind == prompted) and wrote - before <= at <= wrote + after:
                return wrote
        return None

    def may_echo_prompted(self, activity_at: float) -> bool:
        """Whether a heartbeat at ``activity_at`` may echo a prompted write of ours."""
        near = self.file_write_near(activity_at, 0.05, self.echo_window, prompted=True)
        return near is not None

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
