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
import math
import os
import stat
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .safe_read import read_file

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
    "read_state",
    "save_state",
    "state_controls",
    "state_from_json",
    "state_idle_time",
    "write_atomically",
]

log = logging.getLogger("autostop_async")

STATE_VERSION = 1
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


def _time(
    raw: dict[str, Any], key: str, *, optional: bool = False, where: str = ""
) -> float | None:
    """``raw[key]`` as epoch seconds: a finite number, not negative (None if optional and
    absent or null). Raises ValueError naming the key (after ``where``, e.g. ``controls.``)."""
    value = raw.get(key)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where}{key} is not a number")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{where}{key} is not a finite time of at least 0")
    return float(value)


def _text(value: object, what: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what} is not a string")
    return value


def _signal_record(name: str, record: object) -> dict[str, Any]:
    """One signal's record for ``status``: when and where it last saw activity."""
    if not isinstance(record, dict):
        raise ValueError(f"signals.{name} is not an object")
    out = dict(record)
    out["at"] = _time(record, "at", optional=True, where=f"signals.{name}.")
    for key in ("source", "note"):
        out[key] = _text(record.get(key), f"signals.{name}.{key}", optional=True)
    if not isinstance(record.get("cheap", False), bool):
        raise ValueError(f"signals.{name}.cheap is not true or false")
    return out


def state_idle_time(raw: dict[str, Any]) -> float | None:
    """The daemon's idle time in the state file's JSON (None if absent); ValueError if it is
    not a number above 0."""
    idle_time = _time(raw, "idle_time", optional=True)
    if idle_time is not None and idle_time <= 0:
        raise ValueError("idle_time is not more than 0")
    return idle_time


def state_controls(state: dict[str, Any]) -> dict[str, Any]:
    """The daemon's settings a user's command reads (``status``, ``keepalive``) in the state
    file's JSON; ValueError when one is of the wrong kind."""
    raw = state.get("controls", {})
    if not isinstance(raw, dict):
        raise ValueError("controls is not an object")
    for key in ("max_keepalive", "warn_before"):
        if key in raw:
            _time(raw, key, where="controls.")
    off = raw.get("off", [])
    if not isinstance(off, list) or not all(isinstance(n, str) for n in off):
        raise ValueError("controls.off is not a list of names")
    if not isinstance(raw.get("dry_run", False), bool):
        raise ValueError("controls.dry_run is not true or false")
    if not isinstance(raw.get("keepalive"), (dict, type(None))):
        raise ValueError("controls.keepalive is not an object")
    return dict(raw)


def state_from_json(raw: object) -> State:
    """A State from the state file's JSON; ValueError (naming the key) for any value of the
    wrong kind: a string, null or list where a number or an object belongs, NaN, an infinite
    or negative time."""
    if not isinstance(raw, dict):
        raise ValueError("not a JSON object")
    hints = raw.get("hints", [])
    if not isinstance(hints, list) or not all(isinstance(h, str) for h in hints):
        raise ValueError("hints is not a list of folders")
    signals = raw.get("signals", {})
    if not isinstance(signals, dict):
        raise ValueError("signals is not an object")
    idle_time = state_idle_time(raw)
    pid = raw.get("pid")
    if pid is not None and (isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0):
        raise ValueError("pid is not a process number")
    return State(
        app_started=float(_time(raw, "app_started") or 0.0),
        started=float(_time(raw, "started") or 0.0),
        last_at=float(_time(raw, "last_at") or 0.0),
        last_source=str(_text(raw.get("last_source"), "last_source")),
        hints=list(hints),
        idle_time=idle_time,
        deadline=_time(raw, "deadline", optional=True),
        pid=pid,
        updated=float(_time(raw, "updated", optional=True) or 0.0),
        signals={str(k): _signal_record(str(k), v) for k, v in signals.items()},
        controls=state_controls(raw),
    )


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
            exc,
        )
        return None, True
    if app_started is not None and abs(state.app_started - app_started) > SAME_START_TOLERANCE:
        log.info("state file %s is from an earlier start of the app; ignoring it", path)
        return None, False
    return state, False


async def load_state(path: Path, app_started: float | None) -> State | None:
    """The saved state, or None when absent, unreadable, corrupt, or left by an earlier app."""
    return (await read_state(path, app_started))[0]


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
