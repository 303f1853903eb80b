"""The user's holds on the app, as the daemon reads them: the keepalive (``keepalive 2h``).

The ``keepalive`` command writes ``keepalive.json`` into the daemon's state folder; the daemon
reads it every poll. Its meaning is a floor under the deadline: the app is not stopped before
``until``; after that the usual rule holds (stopped once nothing happened for the idle time).
``--max-keepalive`` (the administrator's setting, 12h by default) caps it: the command refuses
longer requests (exit 2), and the daemon also caps what it reads at the file's change time plus
its own maximum, so an edited file cannot keep the app alive longer. ``--max-keepalive 0`` turns
keepalive off. The file is anyone's to write: it is read with the care of :mod:`safe_read`.
"""

from __future__ import annotations

import getpass
import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Config
from .durations import format_duration
from .errors import NotAnsweringError
from .safe_read import READ_TIMEOUT, read_bounded, run_blocking
from .safe_write import write_atomically
from .times import utc_iso

__all__ = [
    "KEEPALIVE_FILE",
    "Keepalive",
    "KeepaliveReader",
    "cancel_keepalive",
    "keepalive_file",
    "read_keepalive",
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
