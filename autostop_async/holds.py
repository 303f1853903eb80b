"""The user's holds on the app, as the daemon reads them: the keepalive (``keepalive 2h``) and
holds on jobs (``keepalive -- CMD``, ``keepalive --pid PID``).

The keepalive: the ``keepalive`` command writes ``keepalive.json`` into the daemon's state
folder; the daemon reads it every poll. Its meaning is a floor under the deadline: the app is
not stopped before ``until``; after that the usual rule holds (stopped once nothing happened for
the idle time). ``--max-keepalive`` (the administrator's setting, 12h by default) caps it: the
command refuses longer requests (exit 2), and the daemon also caps what it reads at the file's
change time plus its own maximum, so an edited file cannot keep the app alive longer.
``--max-keepalive 0`` turns keepalive off. The file is anyone's to write: it is read with the
care of :mod:`safe_read`.

A hold on a job: one small JSON file per held process in ``holds/`` of the state folder, named
``PID-START.json``. It names its process by number *and* start time (:mod:`processes`), so a
number reused by a new process holds nothing. While the process runs the app is not stopped (up
to ``--max-keepalive`` from the hold's start); its end counts as activity, after which the app
stops the idle time later, or ``then_stop_after`` later when the hold asked for that. The
``keepalive -- CMD`` wrapper writes the child's exit into the file when it ends; the daemon then
counts the end, saves its clock, and removes the file. ``holds/`` is open to every user with the
sticky bit (mode 1777, as ``/tmp``): a user holds without sudo while the daemon runs as root, and
removes only their own holds. So every hold file is user input to the daemon: read through a
descriptor of the folder, never through a link, only if a small regular file; who wrote it is the
file's owner, as the kernel says; a file that is not a usable hold keeps the app at most
``--max-keepalive`` from its change time, with one warning that names the file, not its content.

A hold file is JSON: ``pid``, ``start_ticks``, ``boot_time`` (the process, as ``/proc`` shows it
to the writer), ``created_epoch``, ``then_stop_after`` (seconds or null), ``command`` (a list
holding one string: the command line as one escaped line of at most 200 characters, never the
whole argv), optionally ``pid_ns`` (the inode of the pid namespace ``pid`` is numbered in),
``wrapper_pid`` and ``wrapper_start_ticks``, and once the job ended ``ended_epoch``,
``exit_code``, ``signal``. Files written before ``pid_ns`` and the one-line command (the whole
argv in ``command``) read the same way: the first arguments, joined and cut at 200 characters.
A file larger than 64 KiB (an old file with an argv of 100 KB) is not read; its name says the
process (``PID-START``, this boot), so it holds while that process runs, as a hold on it would.

The whole folder is read at every poll, whatever the number of files: a listing, and a ``stat``
per hold file; a file is read only when new or changed, within ``READ_BUDGET`` seconds a poll
(files left over are read at the next polls and keep the app meanwhile). The daemon removes the
files it is done with: a hold whose end it counted (once saved), a hold past its cap, a file
that is not a usable hold once past its cap.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import logging
import math
import os
import pwd
import re
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .config import Config
from .durations import format_duration
from .errors import FileTooLargeError, NotAnsweringError
from .processes import (
    PROC,
    ProcessId,
    boot_time,
    command_summary,
    find_in_namespace,
    life_of,
    pid_namespace,
)
from .safe_output import escape
from .safe_read import READ_TIMEOUT, read_bounded, run_blocking
from .safe_write import write_atomically
from .times import utc_iso

__all__ = [
    "HOLDS_DIR",
    "KEEPALIVE_FILE",
    "HoldsReader",
    "HoldsView",
    "JobEnd",
    "JobHold",
    "Keepalive",
    "KeepaliveReader",
    "cancel_keepalive",
    "ensure_holds_dir",
    "holds_dir",
    "keepalive_file",
    "read_holds",
    "read_keepalive",
    "write_hold",
    "write_keepalive",
]

log = logging.getLogger("autostop_async")

KEEPALIVE_FILE = "keepalive.json"
#: The largest keepalive or state file read (they hold a few hundred bytes).
MAX_FILE_BYTES = 1 << 20
#: The longest name of who asked for a keepalive that is shown (the file is anyone's to edit).
MAX_BY_CHARS = 64


@dataclass(frozen=True)
class Keepalive:
    """The app is not stopped before ``until`` (epoch); ``by`` asked for it at ``set_at``."""

    until: float
    by: str
    set_at: float

    def to_json(self) -> dict[str, Any]:
        """The record of the file, and of ``status --json``."""
        return {"until": utc_iso(self.until), "by": self.by, "set_at": utc_iso(self.set_at)}


def keepalive_file(config: Config) -> Path:
    """Where the keepalive of this daemon's state folder lives."""
    return config.state_dir / KEEPALIVE_FILE


def _keepalive_values(raw: object, ctime: float) -> tuple[float, str, float]:
    """``until``, ``by`` and ``set_at`` of the file's JSON; ValueError (naming the key, never
    quoting the file) when a value is of the wrong kind: a string or null where a time belongs,
    NaN, an infinite or negative time."""
    if not isinstance(raw, dict):
        raise ValueError("not a JSON object")

    def epoch(key: str, default: float | None) -> float:
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{key} is not a number")
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{key} is not a finite time of at least 0")
        return float(value)

    by = raw.get("by", "?")
    if not isinstance(by, str):
        raise ValueError("by is not a name")
    if len(by) > MAX_BY_CHARS:
        by = by[:MAX_BY_CHARS] + "…"
    return epoch("until_epoch", None), by, epoch("set_at_epoch", ctime)


def read_keepalive(path: Path, max_keepalive: float) -> Keepalive | None:
    """The keepalive in ``path``, capped at its change time plus ``max_keepalive``; None when
    absent, unreadable, or keepalive is off (``max_keepalive`` 0)."""
    if max_keepalive <= 0:
        return None
    try:  # never blocks on a FIFO; refuses anything but a small regular file (safe_read)
        read = read_bounded(path, MAX_FILE_BYTES)
        st = read.stat
        raw = json.loads(read.data.decode("utf-8"))
        until, by, set_at = _keepalive_values(raw, st.st_ctime)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError) as exc:
        why = "not UTF-8" if isinstance(exc, UnicodeDecodeError) else exc  # never its bytes
        log.warning("keepalive file %s is unreadable or wrong; ignoring it: %s", path, why)
        return None
    # The change time is the kernel's: nobody can backdate or postdate it.
    return Keepalive(min(until, st.st_ctime + max_keepalive), by, min(set_at, st.st_ctime))


class KeepaliveReader:
    """The daemon's view of the keepalive file: read when it changed, logged when it changes."""

    def __init__(
        self, path: Path, max_keepalive: float, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.path = path
        self.max_keepalive = max_keepalive
        self.clock = clock
        self._signature: tuple[int, int, int] | None = None
        self._current: Keepalive | None = None
        self._announced: Keepalive | None = None
        self._hung = False

    async def aread(self) -> Keepalive | None:
        """:meth:`read` from the event loop: in a thread, within a timeout (a hung mount costs
        one warning and keeps the keepalive known before, never a hang)."""
        if self.max_keepalive <= 0:  # keepalive off: no thread, no stat
            return None
        try:
            hold = await run_blocking(str(self.path), self.read, timeout=READ_TIMEOUT)
        except NotAnsweringError as exc:
            if not self._hung:
                self._hung = True
                log.warning("keepalive file %s: %s; keeping what was read before", self.path, exc)
            return self._announced
        self._hung = False
        return hold

    def read(self) -> Keepalive | None:
        """The keepalive in force now, or None (a stat per call; the file is read on change)."""
        if self.max_keepalive <= 0:
            return None
        try:
            st = os.stat(self.path)
            signature: tuple[int, int, int] | None = (st.st_ino, st.st_ctime_ns, st.st_size)
        except OSError:
            signature = None
        if signature != self._signature:
            self._signature = signature
            self._current = (
                read_keepalive(self.path, self.max_keepalive) if signature is not None else None
            )
        now = self.clock()
        active = self._current if self._current is not None and self._current.until > now else None
        if active != self._announced:
            if active is not None:
                log.info(
                    "keepalive by %s: the app is not stopped before %s (in %s)",
                    active.by,
                    utc_iso(active.until),
                    format_duration(active.until - now),
                )
            elif self._announced is not None:
                ended = "ended" if self._current is not None else "was cancelled"
                log.info("the keepalive by %s %s", self._announced.by, ended)
            self._announced = active
        return active


def _user() -> str:
    try:
        name = getpass.getuser()
    except (OSError, KeyError):
        name = str(os.getuid())
    sudo = os.environ.get("SUDO_USER")
    return f"{sudo} (sudo)" if sudo and name == "root" else name


def write_keepalive(path: Path, duration: float, *, now: float | None = None) -> Keepalive:
    """Write a keepalive for ``duration`` seconds from now, atomically (readable by everyone)."""
    now = time.time() if now is None else now
    record = Keepalive(now + duration, _user(), now)
    body = record.to_json() | {"until_epoch": record.until, "set_at_epoch": now}
    write_atomically(path, json.dumps(body, indent=1, sort_keys=True))
    return record


def cancel_keepalive(path: Path) -> bool:
    """Remove the keepalive; True if there was one."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


# -- holds on jobs ---------------------------------------------------------------------------

HOLDS_DIR = "holds"
#: Every user may add a hold; the sticky bit lets each remove only their own (as ``/tmp``).
HOLDS_DIR_MODE = 0o1777
#: The largest hold file read (one holds a few hundred bytes).
MAX_HOLD_BYTES = 64 * 1024
#: Seconds a poll spends reading new or changed hold files; files left over are read at the
#: next polls (and keep the app meanwhile). A quarter of the time a read may take before it
#: counts as not answering: listing and sorting 100,000 names takes a loaded machine as long.
READ_BUDGET = READ_TIMEOUT / 4
#: Unusable hold files named one by one in the log at a read; the rest are counted in one line.
MAX_NAMED_WARNINGS = 10
#: The name of a hold file: ``PID-START.json`` (anything else in the folder is not a hold).
HOLD_NAME = re.compile(r"([1-9][0-9]{0,9})-([0-9]{1,20})\.json")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def holds_dir(config: Config) -> Path:
    """Where the holds of this daemon's state folder live."""
    return config.state_dir / HOLDS_DIR


def ensure_holds_dir(path: Path) -> None:
    """Create the holds folder, open to every user with the sticky bit (its owner sets the
    mode: ``mkdir`` alone is cut by the umask). OSError when it cannot be made, or is not a
    folder (a link in its place is refused, never followed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, HOLDS_DIR_MODE)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(f"{path} is not a folder")
    if st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) != HOLDS_DIR_MODE:
        os.chmod(path, HOLDS_DIR_MODE)


@dataclass(frozen=True)
class JobHold:
    """The app is held while ``process`` runs; the hold is the file ``name`` in ``holds/``."""

    name: str
    #: The process as the daemon sees it (its number translated when the writer's differs).
    process: ProcessId
    #: The command line, one escaped line of at most 200 characters, for people.
    command: str
    #: Who holds: the file's owner, as the kernel says.
    by: str
    #: When the hold began (the cap counts from here).
    since: float
    #: ``--then-stop-after``: the app stops this long after the end (None: the idle time).
    grace: float | None = None
    #: The ``keepalive -- CMD`` process, which writes the end into the file.
    wrapper: ProcessId | None = None
    ended_at: float | None = None
    exit_code: int | None = None
    signal: int | None = None
    #: The inode of the pid namespace the file's numbers belong to (None: not recorded).
    namespace: int | None = None
    #: False when the process cannot be looked up (another pid namespace the daemon cannot
    #: see into): the hold stands until its end is written into it, or its cap.
    checked: bool = True

    @property
    def id(self) -> str:
        """What ``keepalive --cancel ID`` takes: the process number in the file's name."""
        return self.name.split("-", 1)[0]

    def describe(self) -> str:
        """``job 4711 `python train.py```, for log lines and notices."""
        return f"job {self.process.pid} `{self.command}`"

    def how_it_ended(self) -> str:
        """``exit 0``, ``killed by signal 9``, or ``exit code unknown``."""
        if self.signal is not None:
            return f"killed by signal {self.signal}"
        if self.exit_code is not None:
            return f"exit {self.exit_code}"
        return "exit code unknown"

    def to_json(self, now: float, max_keepalive: float) -> dict[str, Any]:
        """The hold as ``status --json`` and ``keepalive --list`` show it."""
        return {
            "id": self.id,
            "pid": self.process.pid,
            "command": self.command,
            "by": self.by,
            "since": utc_iso(self.since),
            "running_for_seconds": round(max(0.0, now - self.process.started_at), 1),
            "capped_at": utc_iso(self.since + max_keepalive),
            "then_stop_after": self.grace,
        }


@dataclass(frozen=True)
class JobEnd:
    """A held job ended at ``at`` (``how``: its exit, as known)."""

    hold: JobHold
    at: float
    how: str


@dataclass(frozen=True)
class Unusable:
    """A file in ``holds/`` that is not a usable hold (or not read yet): it keeps the app until
    ``until``."""

    name: str
    until: float


@dataclass(frozen=True)
class HoldsView:
    """The holds as read at one poll: the jobs holding the app now, the unusable files holding
    it, and what happened since the last read (ends, holds past their cap)."""

    live: tuple[JobHold, ...] = ()
    unusable: tuple[Unusable, ...] = ()
    ended: tuple[JobEnd, ...] = ()
    capped: tuple[JobHold, ...] = ()

    @property
    def until(self) -> float | None:
        """The latest moment a hold keeps the app to (None: no hold)."""
        ends = [u.until for u in self.unusable]
        return max(ends) if ends else None


def _owner(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _number(raw: dict[str, Any], key: str, *, optional: bool = False) -> float | None:
    value = raw.get(key)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{key} is not a number")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{key} is not a finite number of at least 0")
    return float(value)


def _integer(raw: dict[str, Any], key: str, *, optional: bool = False) -> int | None:
    value = raw.get(key)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 63:
        raise ValueError(f"{key} is not a whole number of at least 0")
    return value


def _command(raw: dict[str, Any]) -> str:
    """The command line of the file as one bounded, escaped line: a one-string list (this
    format) or the whole argv (files written before it)."""
    command = raw.get("command")
    if not isinstance(command, list):
        raise ValueError("command is not a list of strings")
    shown = command[:MAX_COMMAND_ARGS]
    if not all(isinstance(a, str) for a in shown):
        raise ValueError("command is not a list of strings")
    return command_summary(shown) or "?"


#: Arguments of an old hold file's whole argv looked at (200 characters are shown).
MAX_COMMAND_ARGS = 1000


def parse_hold(raw: object, name: str, st: os.stat_result) -> JobHold:
    """The hold in a file's JSON; ValueError naming the key (never quoting the file) when a
    value is of the wrong kind or does not match the file's name."""
    if not isinstance(raw, dict):
        raise ValueError("not a JSON object")
    pid, ticks, boot = (_integer(raw, k) for k in ("pid", "start_ticks", "boot_time"))
    assert pid is not None and ticks is not None and boot is not None
    if name != f"{pid}-{ticks}.json":
        raise ValueError("pid and start_ticks do not match the file's name")
    wrapper_pid = _integer(raw, "wrapper_pid", optional=True)
    wrapper_ticks = _integer(raw, "wrapper_start_ticks", optional=True)
    exit_code = raw.get("exit_code")
    if exit_code is not None and (
        isinstance(exit_code, bool) or not isinstance(exit_code, int) or not 0 <= exit_code < 256
    ):
        raise ValueError("exit_code is not an exit code")
    signum = raw.get("signal")
    if signum is not None and (
        isinstance(signum, bool) or not isinstance(signum, int) or not 0 < signum < 128
    ):
        raise ValueError("signal is not a signal number")
    created = _number(raw, "created_epoch")
    assert created is not None
    return JobHold(
        name=name,
        process=ProcessId(pid, ticks, boot),
        command=_command(raw),
        by=_owner(st.st_uid),
        since=min(created, st.st_ctime),  # the change time is the kernel's: never postdated
        grace=_number(raw, "then_stop_after", optional=True),
        wrapper=(
            ProcessId(wrapper_pid, wrapper_ticks, boot)
            if wrapper_pid is not None and wrapper_ticks is not None
            else None
        ),
        ended_at=_number(raw, "ended_epoch", optional=True),
        exit_code=exit_code,
        signal=signum,
        namespace=_integer(raw, "pid_ns", optional=True),
    )


def hold_from_name(name: str, st: os.stat_result, proc: Path = PROC) -> JobHold:
    """The hold a file too large to read stands for: its name says the process (``PID-START``,
    this boot), and its change time when the hold began. ValueError when the name is not a
    hold's, OSError when ``/proc`` cannot say the boot time."""
    match = HOLD_NAME.fullmatch(name)
    if match is None:
        raise ValueError("not a hold file's name")
    return JobHold(
        name=name,
        process=ProcessId(int(match[1]), int(match[2]), boot_time(proc)),
        command=f"? (its hold file is larger than {MAX_HOLD_BYTES // 1024} KiB)",
        by=_owner(st.st_uid),
        since=st.st_ctime,
    )


def hold_file_name(process: ProcessId) -> str:
    """``PID-START.json``: one file per process, whoever holds it."""
    return f"{process.pid}-{process.start_ticks}.json"


def write_hold(
    folder: Path,
    process: ProcessId,
    command: list[str],
    *,
    grace: float | None,
    wrapper: ProcessId | None = None,
    now: float | None = None,
    ended: dict[str, Any] | None = None,
    namespace: int | None = None,
) -> Path:
    """Write the hold on ``process`` into ``folder`` atomically (readable by everyone): the
    command as one bounded line, never its whole argv; ``namespace``, the pid namespace the
    numbers belong to; ``ended`` (``ended_epoch``, ``exit_code``, ``signal``) records its end.
    The file's path."""
    body: dict[str, Any] = {
        "pid": process.pid,
        "start_ticks": process.start_ticks,
        "boot_time": process.boot_time,
        "command": [command_summary(command)],
        "created_epoch": time.time() if now is None else now,
        "then_stop_after": grace,
    }
    if namespace is not None:
        body["pid_ns"] = namespace
    if wrapper is not None:
        body |= {"wrapper_pid": wrapper.pid, "wrapper_start_ticks": wrapper.start_ticks}
    body |= ended or {}
    path = folder / hold_file_name(process)
    write_atomically(path, json.dumps(body, indent=1, sort_keys=True))
    return path


@dataclass(slots=True)
class _Seen:
    """One hold file as last read: its signature, and the hold or why it is unusable."""

    signature: tuple[int, int, int]
    ctime: float
    hold: JobHold | None = None
    problem: str | None = None
    #: Its end was counted (the file is removed when the state is saved).
    ended: bool = False
    #: Past its cap: announced, and the file is removed.
    capped: bool = False
    warned: bool = False
    #: Not a usable hold, and past its cap: the file is removed.
    expired: bool = False
    #: Not a usable hold: what it keeps (made once).
    kept: Unusable | None = None

    @property
    def done(self) -> bool:
        """The daemon is done with the file: it may be removed (an end once saved)."""
        return self.ended or self.capped or self.expired


def _open_dir(path: Path) -> int:
    """A descriptor of the holds folder; never through a link (FileNotFoundError if none)."""
    return os.open(path, _DIR_FLAGS)


def _names(fd: int) -> list[str]:
    """Every hold file's name in the folder (other names are skipped as they are listed)."""
    with os.scandir(fd) as entries:
        return sorted(e.name for e in entries if HOLD_NAME.fullmatch(e.name))


_NOT_REGULAR = "not a regular file"


def _problem(exc: Exception) -> str:
    """What is wrong with a hold file, in words that never quote it (one string per kind of
    problem, shared: 100,000 broken files hold one copy)."""
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8"  # its message holds a byte of the file
    if isinstance(exc, OSError) and exc.strerror:
        return sys.intern(exc.strerror)
    if isinstance(exc, RecursionError):
        return "nested too deep"
    if isinstance(exc, json.JSONDecodeError):
        return sys.intern(f"not JSON: {exc.msg}")
    return sys.intern(str(exc))


def _read_one(
    fd: int, name: str, signature: tuple[int, int, int], st: os.stat_result, proc: Path
) -> _Seen:
    """Read and parse one hold file (a small regular file, never through a link); a file too
    large to read stands for a hold on the process its name says."""
    try:
        read = read_bounded(name, MAX_HOLD_BYTES, dir_fd=fd)
        hold = parse_hold(json.loads(read.data.decode("utf-8")), name, read.stat)
    except FileNotFoundError:
        raise
    except FileTooLargeError as exc:
        try:
            return _Seen(signature, st.st_ctime, hold_from_name(name, st, proc))
        except (OSError, ValueError):
            return _Seen(signature, st.st_ctime, problem=_problem(exc))
    except (OSError, ValueError, RecursionError) as exc:
        return _Seen(signature, st.st_ctime, problem=_problem(exc))
    return _Seen(signature, st.st_ctime, hold)


@dataclass
class HoldsReader:
    """The daemon's view of ``holds/``: a listing and a ``stat`` per file each poll, a file read
    when it changed (within ``budget`` seconds a poll; None: no bound), each process looked up
    in ``/proc``. It logs a hold that appears, is removed, reaches its cap, or cannot be used;
    the daemon says when a job ended."""

    path: Path
    max_keepalive: float
    clock: Callable[[], float] = time.time
    proc: Path = PROC
    budget: float | None = READ_BUDGET
    #: What the budget is counted in (a test counts looks instead of seconds).
    timer: Callable[[], float] = time.monotonic
    _seen: dict[str, _Seen] = field(default_factory=dict)
    _announced: dict[str, JobHold] = field(default_factory=dict)
    _last: HoldsView = field(default_factory=HoldsView)
    #: Ends and caps found but not yet handed over: a read that timed out finishes in its
    #: thread later, and what it found is handed over by the next read, never lost.
    _pending_ended: list[JobEnd] = field(default_factory=list)
    _pending_capped: list[JobHold] = field(default_factory=list)
    _unread_said: bool = False
    #: The folder as it was at the last complete listing (inode, mtime, ctime): while it stays
    #: so, no file was added, removed or renamed there, and a poll lists and stats nothing.
    _folder: tuple[int, int, int] | None = None
    #: Where the next poll starts looking at the files already read (see ``_in_turn``).
    _turn: int = 0
    _hung: bool = False
    _failing: bool = False
    #: This process's pid namespace: a hold numbered in another is looked up there.
    _namespace: int | None = field(default_factory=pid_namespace)
    #: A read that timed out goes on in its thread: the removal of files waits for it.
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def aread(self) -> HoldsView:
        """:meth:`read` in a thread, within a timeout: a hung disk keeps what was read before."""
        if self.max_keepalive <= 0:
            return HoldsView()
        try:
            view = await run_blocking(str(self.path), self.read, False, timeout=READ_TIMEOUT)
        except NotAnsweringError as exc:
            if not self._hung:
                self._hung = True
                log.warning("holds folder %s: %s; keeping the holds read before", self.path, exc)
            return replace(self._last, ended=(), capped=())
        self._hung = False
        self._pending_ended.clear()  # handed over (the thread that read them has ended)
        self._pending_capped.clear()
        return view

    def read(self, hand_over: bool = True) -> HoldsView:
        """The holds now, and the ends and caps not handed over yet; ``hand_over`` false keeps
        them for the next read until :meth:`aread` has them in hand."""
        if self.max_keepalive <= 0:
            return HoldsView()
        with self._lock:
            return self._read(hand_over)

    def _read(self, hand_over: bool) -> HoldsView:
        try:
            fd = _open_dir(self.path)
        except FileNotFoundError:
            return self._view([], [], [], [], hand_over)
        except OSError as exc:
            return self._cannot_read(exc)
        try:
            st = os.fstat(fd)
            folder = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
            if folder == self._folder:  # the files known are all the files, read already
                live, unusable, ended, capped = self._scan(fd, list(self._seen), listed=False)
            else:
                self._folder = None
                live, unusable, ended, capped = self._scan(fd, _names(fd))
                # A change within the clock's step after this listing would leave the folder's
                # times as they are: trust them only once they are a second old (as git does).
                if not self._unread_said and time.time() - st.st_ctime > 1.0:
                    self._folder = folder
        except OSError as exc:
            return self._cannot_read(exc)
        finally:
            os.close(fd)
        if self._failing:
            self._failing = False
            log.info("holds folder %s is readable again", self.path)
        return self._view(live, unusable, ended, capped, hand_over)

    def _cannot_read(self, exc: OSError) -> HoldsView:
        """The folder cannot be read: the holds known before stand (fail safe), said once."""
        if not self._failing:
            self._failing = True
            log.warning("cannot read holds folder %s (%s); keeping the holds known", self.path, exc)
        return replace(self._last, ended=(), capped=())

    def _scan(
        self, fd: int, names: list[str], *, listed: bool = True
    ) -> tuple[list[JobHold], list[Unusable], list[JobEnd], list[JobHold]]:
        """Sort the files ``names`` into live holds, unusable files, ends and caps; ``listed``
        false: the folder did not change since they were read, so none is looked at again."""
        now = self.clock()
        live: list[JobHold] = []
        unusable: list[Unusable] = []
        ended: list[JobEnd] = []
        capped: list[JobHold] = []
        if listed:
            present = set(names)
            for name in [n for n in self._seen if n not in present]:
                del self._seen[name]
            names, fresh = self._in_turn(names)
        stop_reading = None if self.budget is None else self.timer() + self.budget
        unread = 0
        named = 0
        unnamed = 0
        looked = 0
        for name in names:
            seen: _Seen | float | None
            if not listed:
                seen = self._seen[name]
            elif looked and stop_reading is not None and self.timer() > stop_reading:
                # The poll's time is spent (after one file at least, so that every poll
                # gets on): as read before, or (never read) kept from now.
                seen = self._seen.get(name, now)
            else:
                looked += 1
                seen = self._look(fd, name)
            if seen is None:
                continue
            if isinstance(seen, float):  # not read yet: it keeps the app until it is
                unread += 1
                continue
            if seen.hold is None:
                until = seen.ctime + self.max_keepalive
                if now < until:
                    if seen.kept is None:
                        seen.kept = Unusable(name, until)
                    unusable.append(seen.kept)
                else:
                    seen.expired = True
                if not seen.warned:
                    seen.warned = True
                    if named < MAX_NAMED_WARNINGS:
                        named += 1
                        log.warning(
                            "hold file %s is not a usable hold (%s); it keeps the app at most "
                            "until %s (--max-keepalive from its change time)",
                            self.path / escape(name),
                            seen.problem,
                            utc_iso(until),
                        )
                    else:
                        unnamed += 1
                continue
            if seen.ended:
                continue
            end = self._end_of(seen.hold, seen.ctime, now)
            if end is not None:
                seen.ended = True
                ended.append(end)
            elif now >= seen.hold.since + self.max_keepalive:
                if not seen.capped:
                    seen.capped = True
                    capped.append(seen.hold)
            else:
                live.append(seen.hold)
        if unnamed:
            log.warning(
                "holds folder %s: %d more files are not usable holds; each keeps the app at "
                "most --max-keepalive from its change time",
                self.path,
                unnamed,
            )
        self._say_unread(unread)
        if unread:
            unusable.append(Unusable(f"({unread} files not read yet)", now + self.max_keepalive))
        if listed:
            self._turn += max(0, looked - fresh)
            live.sort(key=lambda h: h.name)
            unusable.sort(key=lambda u: u.name)
        return live, unusable, ended, capped

    def _in_turn(self, names: list[str]) -> tuple[list[str], int]:
        """``names`` in the order a poll looks at them: files not read yet first, then the
        others from where the last poll's time ran out, so that every file has its turn; and
        how many are not read yet."""
        fresh = [n for n in names if n not in self._seen]
        known = [n for n in names if n in self._seen]
        if known:
            self._turn %= len(known)
            known = known[self._turn :] + known[: self._turn]
        return fresh + known, len(fresh)

    def _say_unread(self, unread: int) -> None:
        """One line when a poll leaves files unread, one when all are read again."""
        if unread and not self._unread_said:
            log.info(
                "holds folder %s: %d hold files not read yet (a poll reads for at most %gs); "
                "they keep the app until they are read",
                self.path,
                unread,
                self.budget,
            )
        elif not unread and self._unread_said:
            log.info("holds folder %s: every hold file is read", self.path)
        self._unread_said = bool(unread)

    def _look(self, fd: int, name: str) -> _Seen | None:
        """The file ``name`` as read now (read again only when it changed); None if gone."""
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            self._seen.pop(name, None)
            return None
        signature = (st.st_ino, st.st_ctime_ns, st.st_size)
        seen = self._seen.get(name)
        if seen is None or seen.signature != signature:
            if not stat.S_ISREG(st.st_mode):
                seen = _Seen(signature, st.st_ctime, problem=_NOT_REGULAR)
            else:
                try:
                    seen = _read_one(fd, name, signature, st, self.proc)
                except FileNotFoundError:
                    self._seen.pop(name, None)
                    return None
                if seen.hold is not None:
                    seen.hold = self._as_seen_here(seen.hold)
            self._seen[name] = seen
        return seen

    def _as_seen_here(self, hold: JobHold) -> JobHold:
        """``hold`` with its numbers as this process sees them: a hold written in another pid
        namespace (a container with a ``/proc`` of its own) is looked up by that namespace; when
        it cannot be, it stands until its end is written into it, or its cap."""
        if hold.namespace is None or self._namespace is None or hold.namespace == self._namespace:
            return hold
        pid = find_in_namespace(hold.namespace, hold.process.pid, self.proc)
        if pid is None:
            log.warning(
                "hold file %s names process %d of another pid namespace, which this daemon "
                "cannot see; it keeps the app until the job's end is written into it, at most "
                "until %s",
                self.path / escape(hold.name),
                hold.process.pid,
                utc_iso(hold.since + self.max_keepalive),
            )
            return replace(hold, checked=False)
        wrapper = None
        if hold.wrapper is not None:
            outer = find_in_namespace(hold.namespace, hold.wrapper.pid, self.proc)
            wrapper = replace(hold.wrapper, pid=outer) if outer is not None else None
        return replace(hold, process=replace(hold.process, pid=pid), wrapper=wrapper)

    def _end_of(self, hold: JobHold, ctime: float, now: float) -> JobEnd | None:
        """The end of ``hold``'s job if it ended; None while it runs. Never before the hold
        began, never after now: a held time is never negative."""

        def end(at: float, how: str) -> JobEnd:
            return JobEnd(hold, min(max(at, hold.since), now), how)

        if hold.ended_at is not None:  # the wrapper recorded it: never later than it wrote it
            return end(min(hold.ended_at, ctime), hold.how_it_ended())
        if not hold.checked:
            return None
        life, other_start = life_of(hold.process, self.proc)
        if life == "running":
            return None
        if hold.wrapper is not None and life_of(hold.wrapper, self.proc)[0] == "running":
            return None  # the wrapper is writing the exit code in a moment
        if life == "reused":  # it ended before the process that has its number now started
            assert other_start is not None
            if other_start <= hold.since:  # that one ran already: the hold named no process
                return end(hold.since, "its pid names another process; it held nothing")
            return end(other_start, "exit code unknown; its pid is reused")
        return end(now, hold.how_it_ended())

    def _view(
        self,
        live: list[JobHold],
        unusable: list[Unusable],
        ended: list[JobEnd],
        capped: list[JobHold],
        hand_over: bool,
    ) -> HoldsView:
        """Log what changed since the last read; keep and return the view."""
        for hold in live:
            if hold.name not in self._announced:
                log.info(
                    "hold: %s by %s keeps the app while it runs (at most until %s%s)",
                    hold.describe(),
                    hold.by,
                    utc_iso(hold.since + self.max_keepalive),
                    (
                        f"; then it stops {format_duration(hold.grace)} after the job ends"
                        if hold.grace is not None
                        else ""
                    ),
                )
        for hold in capped:
            log.info(
                "%s has run past the cap (--max-keepalive %s from %s); it no longer keeps the app",
                hold.describe(),
                format_duration(self.max_keepalive),
                utc_iso(hold.since),
            )
        gone = {end.hold.name for end in ended} | {hold.name for hold in capped}
        now_live = {hold.name for hold in live}
        for name, hold in self._announced.items():
            if name not in now_live and name not in gone and name not in self._seen:
                log.info("the hold on %s was removed; it no longer keeps the app", hold.describe())
        self._announced = {hold.name: hold for hold in live}
        self._pending_ended += ended
        self._pending_capped += capped
        self._last = HoldsView(
            tuple(live), tuple(unusable), tuple(self._pending_ended), tuple(self._pending_capped)
        )
        if hand_over:
            self._pending_ended, self._pending_capped = [], []
        return self._last

    def done_files(self) -> Iterator[tuple[str, tuple[int, int, int]]]:
        """The hold files the daemon is done with (an end counted, a cap reached, an unusable
        file past its cap): removed once the state is saved."""
        for name, seen in self._seen.items():
            if seen.done:
                yield name, seen.signature

    async def asettle(self) -> None:
        """:meth:`settle` in a thread, within a timeout (a hung disk: tried again later)."""
        if not any(True for _ in self.done_files()):
            return
        try:
            await run_blocking(f"settle:{self.path}", self.settle, timeout=READ_TIMEOUT)
        except NotAnsweringError as exc:
            log.debug("holds folder %s: %s", self.path, exc)

    def settle(self) -> None:
        """Remove the files the daemon is done with (an end is in the saved clock by now); a
        file that changed since it was read, or cannot be removed, stays (and is not counted
        again). Only the daemon that owns the state folder calls this."""
        with self._lock:
            self._settle()

    def _settle(self) -> None:
        try:
            fd = _open_dir(self.path)
        except OSError:
            return
        try:
            for name, signature in list(self.done_files()):
                try:
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    if (st.st_ino, st.st_ctime_ns, st.st_size) == signature:
                        os.unlink(name, dir_fd=fd)
                        self._seen.pop(name, None)
                except FileNotFoundError:
                    self._seen.pop(name, None)
                except OSError as exc:
                    log.debug("cannot remove hold file %s: %s", escape(name), exc)
        finally:
            os.close(fd)


def read_holds(path: Path, max_keepalive: float, now: float | None = None) -> list[JobHold]:
    """Every hold in ``path`` whose job runs, under the cap (for ``status`` and ``--list``:
    the whole folder, however long it takes)."""
    reader = HoldsReader(
        path, max_keepalive, clock=(lambda: now) if now is not None else time.time, budget=None
    )
    return list(reader.read().live)
