"""The state file's records, typed: what the daemon saves and a user's command reads.

The daemon writes a :class:`State` (``state.save_state``); ``status`` and ``keepalive`` read it
back with :func:`state_from_json`, which refuses a value of the wrong kind with a ValueError that
names its key (a hand-edited or corrupted file costs a warning, never a crash or a wrong stop).
Every number is checked like the flag that sets it: a duration (the idle time, a job's grace,
``--max-keepalive``, ``--warn-before``) at most 365 days, a time no later than the last one a
date can show (``9999-12-31``), so no value can overflow a date or put a stop a century away.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from .config import MAX_DURATION

__all__ = [
    "STATE_VERSION",
    "Controls",
    "SignalRecord",
    "State",
    "state_from_json",
    "state_idle_time",
]

STATE_VERSION = 1
#: The latest time a state file may hold: 9999-12-31T23:59:59Z, the last a date can show.
MAX_EPOCH = 253402300799.0
#: What the daemon's work came to: the app deleted, or found gone (``CheckResult.action``).
GONE = ("deleted", "already-gone")


@dataclass
class SignalRecord:
    """What one signal saw last, for ``status``: when, where, and a note (off, failing)."""

    cheap: bool
    at: float | None = None
    source: str | None = None
    note: str | None = None

    def saw(self, at: float, source: str) -> bool:
        """Keep activity at ``at`` if it is newer than the one kept; True if it was."""
        if self.at is not None and at <= self.at:
            return False
        self.at, self.source = at, source
        return True

    @classmethod
    def from_json(cls, name: str, raw: object) -> SignalRecord:
        """The record of signal ``name``; ValueError naming the key of a wrong value."""
        if not isinstance(raw, dict):
            raise ValueError(f"signals.{name} is not an object")
        cheap = raw.get("cheap", False)
        if not isinstance(cheap, bool):
            raise ValueError(f"signals.{name}.cheap is not true or false")
        where = f"signals.{name}."
        return cls(
            cheap=cheap,
            at=_time(raw, "at", optional=True, where=where),
            source=_text(raw.get("source"), f"{where}source", optional=True),
            note=_text(raw.get("note"), f"{where}note", optional=True),
        )


@dataclass
class Controls:
    """The daemon's settings that a user's command needs: ``keepalive`` obeys the daemon's
    ``--max-keepalive``; ``status`` says what the daemon will do and what it does not watch."""

    #: None in a state file that does not say (the command's own setting applies then).
    max_keepalive: float | None = None
    warn_before: float | None = None
    dry_run: bool = False
    #: The signals turned off, by name.
    off: list[str] = field(default_factory=list)
    #: The user's keepalive as the daemon read it last (``Keepalive.to_json``).
    keepalive: dict[str, Any] | None = None
    #: Where the editor keeps its data and what of it counts (``editor_layout.describe_layout``).
    editor_data: str | None = None

    @classmethod
    def from_json(cls, raw: object) -> Controls:
        """The controls in the state file; ValueError naming the key of a wrong value."""
        if not isinstance(raw, dict):
            raise ValueError("controls is not an object")
        off = raw.get("off", [])
        if not isinstance(off, list) or not all(isinstance(n, str) for n in off):
            raise ValueError("controls.off is not a list of names")
        dry_run = raw.get("dry_run", False)
        if not isinstance(dry_run, bool):
            raise ValueError("controls.dry_run is not true or false")
        keepalive = raw.get("keepalive")
        if not isinstance(keepalive, (dict, type(None))):
            raise ValueError("controls.keepalive is not an object")
        return cls(
            max_keepalive=_duration(raw, "max_keepalive", where="controls."),
            warn_before=_duration(raw, "warn_before", where="controls."),
            dry_run=dry_run,
            off=list(off),
            keepalive=keepalive,
            editor_data=_text(raw.get("editor_data"), "controls.editor_data", optional=True),
        )


@dataclass
class State:
    """What survives a restart of the daemon (and what ``status`` shows)."""

    app_started: float
    started: float
    last_at: float
    last_source: str
    #: The newest activity lets the app stop this long after it (a job's end with a grace);
    #: None: the idle time.
    last_stop_after: float | None = None
    hints: list[str] = field(default_factory=list)
    idle_time: float | None = None
    deadline: float | None = None
    pid: int | None = None
    updated: float = 0.0
    signals: dict[str, SignalRecord] = field(default_factory=dict)
    controls: Controls = field(default_factory=Controls)
    #: When the daemon's work ended (the app deleted, or found gone) and how (``GONE``).
    gone_at: float | None = None
    gone: str | None = None
    version: int = STATE_VERSION

    def to_json(self) -> str:
        """Serialise for the state file."""
        return json.dumps(asdict(self), indent=1, sort_keys=True)


def state_idle_time(raw: dict[str, Any]) -> float | None:
    """The daemon's idle time in the state file's JSON (None if absent); ValueError if it is
    not a number above 0 and at most 365 days (``--idle-time``'s bounds)."""
    idle_time = _duration(raw, "idle_time")
    if idle_time is not None and idle_time <= 0:
        raise ValueError("idle_time is not more than 0")
    return idle_time


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
    pid = raw.get("pid")
    if pid is not None and (isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0):
        raise ValueError("pid is not a process number")
    gone = raw.get("gone")
    if gone is not None and gone not in GONE:
        raise ValueError(f"gone is not one of {', '.join(GONE)}")
    return State(
        app_started=float(_time(raw, "app_started") or 0.0),
        started=float(_time(raw, "started") or 0.0),
        last_at=float(_time(raw, "last_at") or 0.0),
        last_source=str(_text(raw.get("last_source"), "last_source")),
        last_stop_after=_duration(raw, "last_stop_after"),
        hints=list(hints),
        idle_time=state_idle_time(raw),
        deadline=_time(raw, "deadline", optional=True),
        pid=pid,
        updated=float(_time(raw, "updated", optional=True) or 0.0),
        signals={str(k): SignalRecord.from_json(str(k), v) for k, v in signals.items()},
        controls=Controls.from_json(raw.get("controls", {})),
        gone_at=_time(raw, "gone_at", optional=True),
        gone=gone,
    )


def _time(
    raw: dict[str, Any], key: str, *, optional: bool = False, where: str = ""
) -> float | None:
    """``raw[key]`` as epoch seconds: a finite number, not negative, at most ``MAX_EPOCH``
    (None if optional and absent or null). Raises ValueError naming the key (after ``where``,
    e.g. ``controls.``)."""
    return _number(raw, key, MAX_EPOCH, "time", "later than 9999-12-31", optional, where)


def _duration(raw: dict[str, Any], key: str, *, where: str = "") -> float | None:
    """``raw[key]`` as a duration in seconds, 0 to 365 days as its flag allows (None if absent
    or null); ValueError naming the key."""
    return _number(raw, key, MAX_DURATION, "duration", "longer than 365 days", True, where)


def _number(
    raw: dict[str, Any], key: str, most: float, what: str, too_big: str, optional: bool, where: str
) -> float | None:
    value = raw.get(key)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where}{key} is not a number")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{where}{key} is not a finite {what} of at least 0")
    if value > most:
        raise ValueError(f"{where}{key} is {too_big}")
    return float(value)


def _text(value: object, what: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what} is not a string")
    return value
