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
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .errors import StateDirBusy
from .records import Controls, State, state_from_json, state_idle_time
from .safe_read import read_bounded, read_file
from .safe_write import write_atomically
from .times import utc_iso

__all__ = [
    "LOCK_FILE",
    "DaemonSettings",
    "StateLock",
    "StateWriter",
    "app_start_time",
    "begin_state",
    "daemon_holding",
    "load_state",
    "lock_state_dir",
    "read_daemon_settings",
    "read_state",
    "save_state",
]

log = logging.getLogger("autostop_async")

#: Two records of the app's start closer than this are the same start (clock-tick rounding).
SAME_START_TOLERANCE = 5.0
#: The largest state file read (it holds a few kilobytes).
MAX_STATE_BYTES = 1 << 20
#: The lock a daemon holds on its state folder for its whole life (see :func:`lock_state_dir`).
LOCK_FILE = "daemon.lock"
#: How long a starting daemon waits for a lock held by someone else (a ``--once`` looking).
LOCK_WAIT = 2.0

#: One thread writes the state file: a write stuck on a hung disk delays only later writes,
#: never the walk's or the signals' threads.
_WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="autostop-state")


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


async def read_state(path: Path, app_started: float | None) -> tuple[State | None, bool]:
    """The saved state (None when absent, unusable, or left by an earlier app), and whether
    the file was there but unusable (unreadable, not JSON, or a value of the wrong kind).

    An unusable file is ignored with one warning. The clock then starts as if there were none,
    except that ``--once`` must not count from the app's start (it would forget activity the
    file recorded): the daemon counts from now (see ``Daemon.start``).
    """
    try:
        # A FIFO, a device or a hung mount in its place costs a warning, never a hang.
        raw = (await read_file(path, MAX_STATE_BYTES)).data.decode("utf-8")
        state = state_from_json(json.loads(raw))
    except FileNotFoundError:
        return None, False
    except (OSError, ValueError, RecursionError) as exc:
        log.warning(
            "state file %s is unreadable or corrupt (%s); ignoring it: the idle clock starts now",
            path,
            "not UTF-8" if isinstance(exc, UnicodeDecodeError) else exc,  # never its bytes
        )
        return None, True
    if app_started is not None and abs(state.app_started - app_started) > SAME_START_TOLERANCE:
        log.info("state file %s is from an earlier start of the app; ignoring it", path)
        return None, False
    return state, False


@dataclass(frozen=True)
class DaemonSettings:
    """What a user's command needs of the state file: the daemon's idle time and controls."""

    idle_time: float | None
    controls: Controls


def read_daemon_settings(path: Path) -> DaemonSettings | None:
    """The daemon's idle time and controls in the state file ``path`` (a user's command reads
    only these, whatever else the file holds), or None when it is absent or they are not
    usable (then the command's own settings apply)."""
    try:
        raw = json.loads(read_bounded(path, MAX_STATE_BYTES).data)
        if not isinstance(raw, dict):
            return None
        return DaemonSettings(state_idle_time(raw), Controls.from_json(raw.get("controls", {})))
    except (OSError, ValueError, RecursionError):
        return None


async def load_state(path: Path, app_started: float | None) -> State | None:
    """The saved state, or None when absent, unreadable, corrupt, or left by an earlier app."""
    return (await read_state(path, app_started))[0]


async def save_state(path: Path, state: State, now: float | None = None) -> None:
    """Write the state atomically (temporary file in the same folder, then rename), in the
    state writer's thread, ``updated`` at ``now`` (default: the time); an ``OSError`` (a full
    disk: ENOSPC, EDQUOT) is the caller's."""
    state.updated = time.time() if now is None else now
    text = state.to_json()
    await asyncio.get_running_loop().run_in_executor(_WRITER, write_atomically, path, text)


def begin_state(
    saved: State | None, unusable: bool, *, now: float, app_started: float | None, once: bool
) -> State:
    """The state a daemon continues from: the saved one, else a clock started at the app's
    start for ``--once`` (cron: the app may have been idle since it started), else now.

    A restarted daemon continues the saved clock, never earlier than the first daemon of this
    app started, so restarts neither reset nor forget it. ``unusable``: a state file was there
    but could not be used; it may have known newer activity, so the clock starts now.
    """
    state = saved
    if state is None:
        if once and app_started is not None and not unusable:
            begin, source = min(app_started, now), "app-start"
        else:
            begin, source = now, "check-start" if once else "daemon-start"
        state = State(
            app_started=app_started if app_started is not None else begin,
            started=begin,
            last_at=begin,
            last_source=source,
        )
    elif state.last_at < state.started:
        state.last_at, state.last_source = state.started, "daemon-start"
        state.last_stop_after = None
    if state.last_at > now:
        log.warning(
            "the last activity recorded (%s) is in the future; the clock is counted from now",
            utc_iso(state.last_at),
        )
        state.last_at = now
    return state


class StateWriter:
    """Writes the state file within a time bound. A failure (a full disk, a hung volume) is
    logged once and never fatal: the clock is in memory and the caller tries again; a line says
    when it works again."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self.failing = False

    async def write(self, state: State, timeout: float) -> bool:
        """True if ``state`` was written within ``timeout`` seconds."""
        try:
            await asyncio.wait_for(save_state(self.path, state, self.clock()), timeout)
        except (OSError, asyncio.TimeoutError) as exc:
            timed_out = isinstance(exc, asyncio.TimeoutError) and not exc.args
            why = f"no answer within {timeout:g}s" if timed_out else str(exc)
            if self.failing:
                log.debug("state file %s still not written: %s", self.path, why)
            else:
                self.failing = True
                log.warning(
                    "cannot write state file %s: %s; the daemon keeps deciding (the clock is "
                    "in memory) and tries again at every poll",
                    self.path,
                    why,
                )
            return False
        if self.failing:
            self.failing = False
            log.info("state file %s written again", self.path)
        return True


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


def _unguarded(path: Path, exc: OSError) -> None:
    log.warning(
        "cannot lock the state folder (%s: %s); running without the guard against a second daemon",
        path,
        exc.strerror or exc,
    )


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
        _unguarded(path, exc)
        return None
    give_up = time.monotonic() + wait
    regular = stat.S_ISREG(os.fstat(fd).st_mode)
    while True:
        try:
            if not regular:
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
            _unguarded(path, exc)
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
