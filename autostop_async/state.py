"""The daemon's memory between runs: a small JSON file, written atomically.

It keeps the newest activity known, when the first daemon of this app started, and the folders
where activity was found last (looked at first next time). A restart of the daemon therefore
neither resets nor forgets the idle clock; a state file left by an earlier app (another container
start) is ignored.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiofiles
import aiofiles.os

from .safe_read import read_file

__all__ = [
    "STATE_VERSION",
    "State",
    "app_start_time",
    "load_state",
    "read_state",
    "save_state",
    "state_controls",
    "state_from_json",
    "state_idle_time",
]

log = logging.getLogger("autostop_async")

STATE_VERSION = 1
#: Two records of the app's start closer than this are the same start (clock-tick rounding).
SAME_START_TOLERANCE = 5.0
#: The largest state file read (it holds a few kilobytes).
MAX_STATE_BYTES = 1 << 20


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
    """Write the state atomically (temporary file in the same folder, then rename)."""
    state.updated = time.time()
    await aiofiles.os.makedirs(path.parent, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".state-", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        async with aiofiles.open(tmp, "w", encoding="utf-8") as f:
            await f.write(state.to_json())
        os.chmod(tmp, 0o644)  # readable by `status` from any user's terminal
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
