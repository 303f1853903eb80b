"""Terminals as an activity signal: when a program last read what was typed in a terminal.

Every terminal of the editor is a ``/dev/pts/N`` device. The kernel moves its atime when a program
reads what was typed (a shell's line editor reads each key; ``cat``, ``read``, ``top``'s keys) and
its mtime when something is written to it (program output, and a shell's echo of the keys it
read); the kernel's own echo of typed keys moves neither. It does so in steps of 8 seconds: a time
is moved only once the clock has left the 8-second step (a multiple of 8) of the time it holds, so
that nobody can read the timing of keystrokes from it (``tty_update_time`` in the kernel's
``drivers/tty/tty_io.c``; measured on real ptys, docs/terminals.md). A terminal may therefore
have been used until the end of the step of its time; that end is the activity counted
(:func:`latest_use`), so a stop never comes before the idle time has passed since the last key.
No file is written when someone types in a terminal, so the workspace walk cannot see it; these
times can. Listing ``/dev/pts`` and a ``stat`` per terminal costs microseconds, so the signal is
polled every interval.

Only input counts by default: output nobody reads is not use. A ``watch``, ``top`` or
``tail -f`` left in a terminal, or tmux's status clock, writes for ever after the person left;
counting it would keep an idle app for ever. A job that works while it prints is kept by its CPU
or GPU use, or by a job hold. ``--terminal-output`` counts output too (the mtime).

Two writers are not people, which matters when output counts: the daemon itself when it runs in
a terminal (its log lines), and the warning it writes to every terminal. The first is excluded
by device number; for the second the device's time right after our write is remembered
(:class:`OwnWrites`) and not counted.

The owner of a terminal may set its times to anything (``touch -d 2099-01-01 /dev/pts/0``); the
kernel moves them back only at the next use. A time more than :data:`FUTURE_SLACK` ahead of now
is counted once, as use at the moment it was first seen, and not again while it stays the same:
it can neither keep the app for ever nor hide a use from a clock that was set back.
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
from ..times import utc_iso
from .base import OnceLog, PolledSignal

__all__ = [
    "FUTURE_SLACK",
    "TTY_TIME_STEP",
    "TerminalsSignal",
    "latest_use",
    "own_terminals",
    "terminal_devices",
]

log = logging.getLogger("autostop_async")

#: The kernel's step for a terminal's times, in seconds (see above).
TTY_TIME_STEP = 8
#: How far ahead of now a terminal's time may be and still be taken as it is (then clamped to
#: now): the kernel stamps its own clock, the one the daemon reads, so a later time comes from
#: ``touch`` or from a clock that was set back; a minute absorbs small corrections of the clock.
FUTURE_SLACK = 60.0
#: Times beyond this (year 9999) are not shown as dates.
MAX_SHOWN_TIME = 253402300799.0


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
    """The newest input (or, with ``count_output``, output) time of the terminal devices, ours
    left out."""

    name = "terminals"

    def __init__(
        self,
        folder: Path = Path("/dev/pts"),
        *,
        own_writes: OwnWrites | None = None,
        exclude_devices: frozenset[int] | None = None,
        clock: Callable[[], float] = time.time,
        count_output: bool = False,
    ) -> None:
        self.folder = folder
        self.own_writes = own_writes if own_writes is not None else OwnWrites()
        self.exclude_devices = own_terminals() if exclude_devices is None else exclude_devices
        self.clock = clock
        self.count_output = count_output
        #: Times from the future, per (device path, "input"/"output"): (the time, when first seen).
        self._future: dict[tuple[str, str], tuple[float, float]] = {}
        self._said = OnceLog(log)

    async def sample(self) -> Activity | None:
        """The most recently used terminal (the end of its time's step, clamped to now), or
        None when there is none (no thread: a listing and a ``stat`` per terminal cost
        microseconds)."""
        now = self.clock()
        best: tuple[float, str] | None = None
        seen_future: set[tuple[str, str]] = set()
        for path, st in terminal_devices(self.folder):
            if st.st_rdev in self.exclude_devices:
                continue
            times = [("input", st.st_atime)]
            # Our own notice moves the mtime only; the atime is input some program read.
            if self.count_output and not self.own_writes.is_ours(st):
                times.append(("output", st.st_mtime))
            for kind, raw in times:
                if raw > now + FUTURE_SLACK:
                    key = (path, kind)
                    seen_future.add(key)
                    at = self._first_seen(key, raw, now)
                else:
                    at = min(latest_use(raw), now)
                if best is None or at > best[0]:
                    best = (at, path)
        for key in set(self._future) - seen_future:
            del self._future[key]
            self._said.forget(f"{key[0]} {key[1]}")
        if best is None:
            return None
        return Activity(best[0], f"terminal:{best[1]}")

    def _first_seen(self, key: tuple[str, str], raw: float, now: float) -> float:
        """When the future time ``raw`` of ``key`` was first seen (now, if it is new)."""
        known = self._future.get(key)
        if known is not None and known[0] == raw:
            return known[1]
        self._future[key] = (raw, now)
        self._said(
            f"{key[0]} {key[1]}",
            logging.WARNING,
            "terminal %s has its %s time in the future (%s): counted once, as use now, not "
            "at every poll (someone set it, or the clock was set back)",
            key[0],
            key[1],
            utc_iso(raw) if raw < MAX_SHOWN_TIME else f"{raw:.0f} s after 1970",
        )
        return now
