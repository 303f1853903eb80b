"""The daemon's memory between runs: a small JSON file, written atomically.

It keeps the newest activity known, when the first daemon of this app started, and the folders
where activity was found last (looked at first next time). A restart of the daemon therefore
neither resets nor forgets the idle clock; a state file left by an earlier app (another container
start) is ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import json
import logging
import os
import stat
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiofiles

__all__ = [
    "LOCK_FILE",
    "STATE_VERSION",
    "State",
    "StateDirBusy",
    "StateLock",
    "app_start_time",
    "daemon_holding",
    "load_state",
    "lock_state_dir",
    "save_state",
    "write_atomically",
]

log = logging.getLogger("autostop_async")

STATE_VERSION = 1
#: Two records of the app's start closer than this are the same start (clock-tick rounding).
SAME_START_TOLERANCE = 5.0
#: The lock a daemon holds on its state folder for its whole life (see :func:`lock_state_dir`).
LOCK_FILE = "daemon.lock"
#: How long a starting daemon waits for a lock held by someone else (a ``--once`` looking).
LOCK_WAIT = 2.0

#: One thread writes the state file: a write stuck on a hung disk delays only later writes,
#: never the walk's or the signals' threads.
_WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="autostop-state")


@dataclass
class State:
    """What survives a restart of the daemon (and what ``status`` shows)."""

    app_started: float
    started: float
    last_at: float
    last_source: str
    hints: list[str] = field(default_factory=list)
    idle_time: float | None = None
    deadline: float | None = None
    pid: int | None = None
    updated: float = 0.0
    signals: dict[str, Any] = field(default_factory=dict)
    #: The daemon's settings a user's command needs (max_keepalive, dry_run, the signals off).
    controls: dict[str, Any] = field(default_factory=dict)
    version: int = STATE_VERSION

    def to_json(self) -> str:
        """Serialise for the state file."""
        return json.dumps(asdict(self), indent=1, sort_keys=True)


def app_start_time(proc: Path = Path("/proc")) -> float | None:
    """When PID 1 (the container, i.e. the app) started, as epoch seconds; None if unknown."""
    try:
        stat_line = (proc / "1" / "stat").read_text()
        # Field 22 (starttime, clock ticks since boot) counts from after the ")" of the name.
        fields = stat_line[stat_line.rindex(")") + 2 :].split()
        ticks = int(fields[19])
        boot = next(
            int(line.split()[1])
            for line in (proc / "stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


async def load_state(path: Path, app_started: float | None) -> State | None:
    """The saved state, or None when absent, unreadable, corrupt, or left by an earlier app."""
    try:
        async with aiofiles.open(path, encoding="utf-8") as f:
            raw = json.loads(await f.read())
        state = State(
            app_started=float(raw["app_started"]),
            started=float(raw["started"]),
            last_at=float(raw["last_at"]),
            last_source=str(raw["last_source"]),
            hints=[str(h) for h in raw.get("hints", [])],
            idle_time=raw.get("idle_time"),
            deadline=raw.get("deadline"),
            pid=raw.get("pid"),
            updated=float(raw.get("updated", 0.0)),
            signals=dict(raw.get("signals", {})),
            controls=dict(raw.get("controls", {})),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning(
            "state file %s is unreadable or corrupt (%s); starting a fresh clock", path, exc
        )
        return None
    if app_started is not None and abs(state.app_started - app_started) > SAME_START_TOLERANCE:
        log.info("state file %s is from an earlier start of the app; ignoring it", path)
        return None
    return state


async def save_state(path: Path, state: State) -> None:
    """Write the state atomically (temporary file in the same folder, then rename), in the
    state writer's thread; an ``OSError`` (a full disk: ENOSPC, EDQUOT) is the caller's."""
    state.updated = time.time()
    text = state.to_json()
    await asyncio.get_running_loop().run_in_executor(_WRITER, write_atomically, path, text)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, readable by `status` from any user's
    terminal, then rename it over ``path``: a reader sees the old file or the new, never half;
    a failed write leaves the old file and no temporary one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".state-", suffix=".tmp", dir=path.parent)
    try:
        try:
            view = memoryview(text.encode("utf-8"))
            while view:
                view = view[os.write(fd, view) :]
            os.fchmod(fd, 0o644)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class StateDirBusy(Exception):
    """Another daemon holds the state folder's lock; ``pid`` is its process if known."""

    def __init__(self, state_dir: Path, pid: int | None, *, once: bool = False) -> None:
        self.state_dir = state_dir
        self.pid = pid
        holder = f"a daemon (pid {pid})" if pid else "a daemon"
        if once:
            text = (
                f"{holder} is running with the state folder {state_dir} and decides for this "
                "app: --once does not decide beside it (`status` shows what the daemon sees; "
                "give --once its own --state-dir to check independently)"
            )
        else:
            text = (
                f"{holder} is already running with the state folder {state_dir}; "
                "not starting a second one"
            )
        super().__init__(text)


@dataclass
class StateLock:
    """The daemon's exclusive lock on its state folder; the kernel drops it when the process
    ends, however it ends."""

    path: Path
    fd: int

    def release(self) -> None:
        """Give the lock up (the daemon's end does the same)."""
        with contextlib.suppress(OSError):
            os.close(self.fd)


def _holder_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


_LOCK_OPEN = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def lock_state_dir(state_dir: Path, *, wait: float = LOCK_WAIT) -> StateLock | None:
    """Take the state folder's lock (``flock`` on ``daemon.lock``) for the daemon's life.

    Raises :class:`StateDirBusy` when another process still holds it after ``wait`` seconds.
    When no lock can be made at all (a read-only or full disk, a file system without locks)
    it says so once and returns None: the daemon runs unguarded rather than not at all.
    """
    path = state_dir / LOCK_FILE
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | _LOCK_OPEN, 0o644)
    except OSError as exc:
        log.warning(
            "cannot lock the state folder (%s: %s); running without the guard against a "
            "second daemon",
            path,
            exc.strerror or exc,
        )
        return None
    give_up = time.monotonic() + wait
    while True:
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(errno.EINVAL, "not a regular file")
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= give_up:
                pid = _holder_pid(fd)
                os.close(fd)
                raise StateDirBusy(state_dir, pid) from None
            time.sleep(0.05)
        except OSError as exc:  # ENOLCK (a network file system), not a file
            os.close(fd)
            log.warning(
                "cannot lock the state folder (%s: %s); running without the guard against a "
                "second daemon",
                path,
                exc.strerror or exc,
            )
            return None
    with contextlib.suppress(OSError):  # a full disk: the lock holds, the pid is unknown
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return StateLock(path, fd)


def daemon_holding(state_dir: Path) -> tuple[bool, int | None]:
    """Whether a daemon holds the state folder's lock now, and its pid if known.

    It only looks: a shared lock taken and dropped at once (a starting daemon waits that out).
    Anything that cannot be looked at (no lock file, unreadable) counts as no daemon.
    """
    try:
        fd = os.open(state_dir / LOCK_FILE, os.O_RDONLY | _LOCK_OPEN)
    except OSError:
        return False, None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True, _holder_pid(fd)
    except OSError:
        return False, None
    finally:
        os.close(fd)  # drops the shared lock, if taken
    return False, None
