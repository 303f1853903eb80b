"""Processes named so that a reused number is never mistaken for them: pid and start time.

A process number is reused once its process is gone; its start time (``/proc/PID/stat`` field
22, clock ticks after boot) is not, within one boot. A hold on a job therefore records both, and
the boot time (``btime`` of ``/proc/stat``), so that a record from an earlier boot matches
nothing. A process that ended but is not yet reaped (a zombie) has ended.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["PROC", "Life", "ProcessId", "boot_time", "command_line", "identify", "life_of"]

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: Seconds two readings of the boot time may differ by (the kernel derives it from the clocks,
#: and an adjusted clock moves it by a second now and then).
BOOT_TIME_TOLERANCE = 2
#: The longest command line kept of a process (a hold shows it; the rest is cut).
MAX_COMMAND_CHARS = 200


@dataclass(frozen=True)
class ProcessId:
    """One process, for the life of the machine: number, start (ticks after boot), boot time."""

    pid: int
    start_ticks: int
    boot_time: int

    @property
    def started_at(self) -> float:
        """When it started, epoch seconds."""
        return self.boot_time + self.start_ticks / CLOCK_TICKS


Life = Literal["running", "gone", "reused"]


def boot_time(proc: Path = PROC) -> int:
    """When the machine booted (epoch seconds); OSError or ValueError when ``/proc`` cannot say."""
    for line in (proc / "stat").read_text().splitlines():
        if line.startswith("btime "):
            return int(line.split()[1])
    raise ValueError("no btime in /proc/stat")


def _stat_fields(pid: int, proc: Path) -> tuple[str, int] | None:
    """The state letter and start ticks of ``pid``; None when there is no such process."""
    try:
        line = (proc / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The name (field 2) may hold spaces and parentheses: count fields from after the last ")".
    fields = line[line.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def identify(pid: int, proc: Path = PROC, *, zombie: bool = False) -> ProcessId | None:
    """The running process ``pid``, named for good; None when there is none, or a zombie
    (unless ``zombie``: a child that ended but that its parent has not waited for yet)."""
    if pid <= 0:
        return None
    try:
        found = _stat_fields(pid, proc)
        boot = boot_time(proc)
    except (OSError, ValueError, IndexError):
        return None
    if found is None or (found[0] in ("Z", "X") and not zombie):
        return None
    return ProcessId(pid, found[1], boot)


def life_of(process: ProcessId, proc: Path = PROC) -> tuple[Life, float | None]:
    """Whether ``process`` still runs: ``running``; ``gone`` (no process has its number, or
    only a zombie); ``reused`` (another process has the number now: the one named ended before
    that one started, whose start is returned). OSError when ``/proc`` cannot be read."""
    try:
        found = _stat_fields(process.pid, proc)
        boot = boot_time(proc)
    except (ValueError, IndexError) as exc:
        raise OSError(f"cannot read the process table: {exc}") from None
    if found is None or found[0] in ("Z", "X"):
        return "gone", None
    ticks = found[1]
    if ticks == process.start_ticks and abs(boot - process.boot_time) <= BOOT_TIME_TOLERANCE:
        return "running", None
    return "reused", boot + ticks / CLOCK_TICKS


def command_line(pid: int, proc: Path = PROC) -> list[str] | None:
    """The arguments ``pid`` was started with (None when unreadable or a kernel thread)."""
    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    args = [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]
    return args or None


def describe_command(args: list[str]) -> str:
    """A command line as one short line for people (cut at ``MAX_COMMAND_CHARS``)."""
    text = " ".join(args)
    return text if len(text) <= MAX_COMMAND_CHARS else text[: MAX_COMMAND_CHARS - 1] + "…"
