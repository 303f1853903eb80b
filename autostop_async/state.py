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
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiofiles
import aiofiles.os

from .safe_read import read_file

__all__ = ["STATE_VERSION", "State", "app_start_time", "load_state", "save_state"]

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


async def load_state(path: Path, app_started: float | None) -> State | None:
    """The saved state, or None when absent, unreadable, corrupt, or left by an earlier app."""
    try:  # a FIFO, a device or a hung mount in its place costs a warning, never a hang
        raw = json.loads((await read_file(path, MAX_STATE_BYTES)).data.decode("utf-8"))
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
