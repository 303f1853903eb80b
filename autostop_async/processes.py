"""Processes named so that a reused number is never mistaken for them: pid and start time.

A process number is reused once its process is gone; its start time (``/proc/PID/stat`` field
22, clock ticks after boot) is not, within one boot. A hold on a job therefore records both, and
the boot time (``btime`` of ``/proc/stat``), so that a record from an earlier boot matches
nothing. A process that ended but is not yet reaped (a zombie) has ended.

Process numbers belong to a pid namespace. ``/proc`` shows them as the namespace of whoever
mounted it sees them, and the daemon reads its own ``/proc``. A command run inside
``unshare --pid --fork`` (no ``/proc`` of its own) sees its own and its child's numbers from
inside, but ``/proc`` from outside: ``NSpid`` of ``/proc/self/status`` lists a process's number
in each namespace, from ``/proc``'s down to its own (proc(5)). :func:`pid_view` says whether the
two agree, and :func:`child_in_proc` finds a child's number as ``/proc`` shows it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .safe_output import escape

__all__ = [
    "PROC",
    "Life",
    "PidView",
    "ProcessId",
    "boot_time",
    "child_in_proc",
    "command_line",
    "command_summary",
    "find_in_namespace",
    "identify",
    "life_of",
    "pid_namespace",
    "pid_view",
]

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: Seconds two readings of the boot time may differ by (the kernel derives it from the clocks,
#: and an adjusted clock moves it by a second now and then).
BOOT_TIME_TOLERANCE = 2
#: The longest command line kept of a process (a hold shows it; the rest is cut).
MAX_COMMAND_CHARS = 200
#: The most bytes read of a process's command line (a long classpath is 100 KB; 200 characters
#: are shown).
MAX_CMDLINE_BYTES = 4096


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
    """The first arguments ``pid`` was started with, from the first ``MAX_CMDLINE_BYTES`` of
    its command line (None when unreadable or a kernel thread)."""
    try:
        with open(proc / str(pid) / "cmdline", "rb") as f:
            raw = f.read(MAX_CMDLINE_BYTES)
    except OSError:
        return None
    args = [a.decode("utf-8", "surrogateescape") for a in raw.split(b"\0") if a]
    return args or None


def command_summary(args: Iterable[str]) -> str:
    """A command line as one line for people: the arguments joined by spaces, every control
    character escaped (:func:`~.safe_output.escape`), at most ``MAX_COMMAND_CHARS`` characters
    (cut with ``…``). Only as many arguments are looked at as the line can show."""
    parts: list[str] = []
    size = 0
    for arg in args:
        if size > MAX_COMMAND_CHARS:
            break
        part = escape(arg[: MAX_COMMAND_CHARS + 1])
        parts.append(part)
        size += len(part) + 1
    text = " ".join(parts)
    return text if len(text) <= MAX_COMMAND_CHARS else text[: MAX_COMMAND_CHARS - 1] + "…"


@dataclass(frozen=True)
class PidView:
    """This process's number as it sees itself and as ``/proc`` shows it (None: not shown)."""

    own: int
    in_proc: int | None

    @property
    def nested(self) -> bool:
        """Whether this process's numbers are not ``/proc``'s (a pid namespace inside)."""
        return self.in_proc != self.own


def _status_field(path: Path, key: str) -> list[str] | None:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return line.split()[1:]
    return None


def pid_view(proc: Path = PROC) -> PidView:
    """This process's number here and in ``/proc`` (``NSpid``'s first entry; a kernel without
    ``NSpid``, before 4.1, has no nested view to tell: the two agree)."""
    own = os.getpid()
    if not (proc / "self").exists():
        return PidView(own, None)  # /proc is another namespace's, which cannot see this one
    nspid = _status_field(proc / "self" / "status", "NSpid")
    if not nspid:
        return PidView(own, own)
    try:
        return PidView(own, int(nspid[0]))
    except ValueError:
        return PidView(own, None)


def child_in_proc(child: int, view: PidView, proc: Path = PROC) -> int | None:
    """The number ``/proc`` shows for this process's child ``child`` (a number as this process
    sees it); None when no child of this process has it."""
    if not view.nested:
        return child
    if view.in_proc is None:
        return None
    try:
        entries = [e for e in os.listdir(proc) if e.isdigit()]
    except OSError:
        return None
    for entry in entries:
        status = proc / entry / "status"
        ppid = _status_field(status, "PPid")
        if ppid != [str(view.in_proc)]:
            continue
        nspid = _status_field(status, "NSpid")
        if nspid and nspid[-1] == str(child):
            return int(entry)
    return None


def pid_namespace(proc: Path = PROC) -> int | None:
    """The inode of this process's pid namespace (``/proc/self/ns/pid``); None if unknown."""
    try:
        return os.stat(proc / "self" / "ns" / "pid").st_ino
    except OSError:
        return None


def find_in_namespace(namespace: int, pid: int, proc: Path = PROC) -> int | None:
    """The number ``/proc`` shows for the process numbered ``pid`` in the pid namespace whose
    inode is ``namespace``; None when none is found (or this process may not look: only root
    sees other users' namespaces)."""
    try:
        entries = [e for e in os.listdir(proc) if e.isdigit()]
    except OSError:
        return None
    for entry in entries:
        try:
            if os.stat(proc / entry / "ns" / "pid").st_ino != namespace:
                continue
        except OSError:
            continue
        nspid = _status_field(proc / entry / "status", "NSpid")
        if nspid and nspid[-1] == str(pid):
            return int(entry)
    return None
