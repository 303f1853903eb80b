"""The daemon's machine-readable lines (:mod:`.events`), written as the daemon decides.

:class:`EventLog` writes, through the daemon's logger (INFO, so into ``--log-file``), one
``autostop-async-event {json}`` line at each moment ``autostop-async report`` cares about: the
start, a change in what the daemon would say (``state``), a held job seen starting or ending
(``hold``), a warning, a stop, the end. It remembers what it last said, so a ``state`` line is
written only when that changes, never at every poll:

- what keeps the app: its kind (``activity``, ``job``, ``hold-file``, ``keepalive``,
  ``inconclusive``, ``delete-failed``, or none: idle) and, for activity, the signal that saw it
  last (``editor``, ``workspace``, …), not the file;
- the holds on jobs and the keepalive's end;
- when the app stops: written when that moves earlier, or once the time last written has come
  and the stop has moved later meanwhile. So a person typing all day costs one line per idle
  time, not one per poll, and the last line's ``stops_at`` is never long in the past while the
  daemon keeps the app.

It reads only what the daemon already holds (no I/O of its own): one comparison of a few values
per poll, and a JSON line of a few hundred bytes when something changed. Texts that come from
users (file names in an activity's source, a job's command line, an error's message) are escaped
as the log escapes them, cut to :data:`MAX_TEXT` characters, and written by JSON in ASCII; a
line stays under
:data:`~.events.MAX_LINE`. No file's contents are ever written, only names.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from . import __version__
from .config import Config, declared_settings, flag_name
from .durations import format_duration
from .events import END, HOLD, MAX_LINE, START, STATE, STOP, WARNING, encode
from .safe_output import escape, shown
from .sagemaker import AppRef
from .times import utc_iso

if TYPE_CHECKING:
    from .decision import CheckResult
    from .holds import HoldsView, JobHold
    from .idle_clock import IdleClock
    from .notice import WarningSchedule

__all__ = ["MAX_HOLDS", "MAX_TEXT", "EventLog"]

log = logging.getLogger("autostop_async")

T = TypeVar("T")

#: The longest text from a user (a file name, a command line, an error) a line carries.
MAX_TEXT = 300
#: The most holds a ``state`` line lists (``holds_more`` counts the others).
MAX_HOLDS = 10
#: The longest value of a setting in the ``start`` line.
MAX_SETTING = 200


def bounded(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` escaped as the log escapes it (:func:`~.safe_output.escape`: no control
    character, line separator or bidi override survives decoding), then shortened as the log
    shortens names (:func:`~.safe_output.shown`): ``limit`` characters of it at most (its head
    and its tail), and how many were left out."""
    return shown(escape(text), limit)


def changed_settings(config: Config) -> dict[str, str]:
    """The daemon's settings that differ from the defaults, as ``{"--flag": "value"}``.

    ``--once``, ``--dry-run`` and ``--idle-time`` have fields of their own in the ``start`` line.
    """
    defaults = Config()
    out: dict[str, str] = {}
    for f, spec in declared_settings():
        value = getattr(config, f.name)
        if f.name in ("once", "dry_run", "idle_time", "json") or value == getattr(defaults, f.name):
            continue
        out[flag_name(f.name)] = bounded(_shown(value, spec.metavar), MAX_SETTING)
    return out


def _shown(value: object, metavar: str | None) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if metavar == "DURATION" and isinstance(value, float):
        return format_duration(value, compact=True)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (tuple, list)):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


@dataclass(frozen=True)
class _Said:
    """What a ``state`` line said, as far as it decides whether the next one is written."""

    kind: str | None
    #: The signal that saw the activity (``editor``), the keepalive's owner, the problem's text.
    key: str | None
    holds: tuple[tuple[str, str, int], ...]
    keepalive_until: int | None
    stops_at: int | None


class EventLog:
    """Writes the daemon's event lines; remembers what it last said (see the module)."""

    def __init__(
        self,
        app: AppRef | None,
        config: Config,
        *,
        clock: Callable[[], float] = time.time,
        pid: int | None = None,
    ) -> None:
        """``app``: the app the daemon stops (None: a dry run without metadata); ``clock``:
        the daemon's time, which the lines' ``time`` field gives."""
        self.app = app
        self.config = config
        self.clock = clock
        self.pid = os.getpid() if pid is None else pid
        self.ended = False
        #: A ``--once`` check logging to stderr (a person, a script reading ``--json``) writes
        #: no event lines: they are for the log file a program reads.
        self.enabled = not (config.once and config.log_file is None)
        self._said: _Said | None = None
        self._holds: dict[str, JobHold] = {}
        self._warned: float | None = None
        #: Why the last check kept an idle app: (kind, text), until the deadline moves.
        self._problem: tuple[str, str, float] | None = None

    # -- writing ---------------------------------------------------------------------------

    def write(self, event: str, fields: dict[str, Any]) -> None:
        """One line of ``event`` with ``fields`` (and ``pid``), timed by the daemon's clock."""
        if not self.enabled or not log.isEnabledFor(logging.INFO):
            return
        at = utc_iso(self.clock())
        message = encode(event, at, {**fields, "pid": self.pid})
        if len(message) > MAX_LINE - 200:  # room for the log line's own prefix
            message = encode(event, at, {**_shrunk(fields), "pid": self.pid})
        log.info("%s", message)

    def _identity(self) -> dict[str, Any]:
        app = self.app
        if app is None:
            return {}
        return {
            "app": app.arn,
            "domain": app.domain_id,
            "space": app.space_name,
            "user_profile": app.user_profile_name or None,
            "app_name": app.app_name,
        }

    # -- the events ------------------------------------------------------------------------

    def start(self) -> None:
        """The ``start`` line: the version, the app, the idle time, the settings changed."""
        config = self.config
        self.write(
            START,
            {
                "version": __version__,
                **self._identity(),
                "idle_time": config.idle_time,
                "dry_run": config.dry_run,
                "once": config.once or None,
                "settings": changed_settings(config),
            },
        )

    def end(self, reason: str) -> None:
        """The ``end`` line (once): ``deleted``, ``signal``, ``error`` or ``once``."""
        if self.ended:
            return
        self.ended = True
        self.write(END, {"reason": reason})

    async def around(self, work: Awaitable[T], ended: str | None = None) -> T:
        """Await ``work`` (the daemon's run); an exception out of it writes the ``end`` line
        (``error``, or ``signal`` for an interrupt), as does a return when ``ended`` is given."""
        try:
            value = await work
        except Exception:
            self.end("error")
            raise
        except BaseException:
            self.end("signal")
            raise
        if ended is not None:
            self.end(ended)
        return value

    def checked(self, result: CheckResult, idle: IdleClock, now: float) -> None:
        """After a check: the ``stop`` line when it deleted the app (or would have: dry run);
        else what keeps the app, if that changed (a failed signal, a failed DeleteApp)."""
        if result.action != "none":
            self._problem = None
            self.write(
                STOP,
                {
                    **self._identity(),
                    "result": result.action,
                    "idle_seconds": round(result.idle_seconds, 1),
                    "last_activity": utc_iso(result.last.at),
                    "last_source": bounded(result.last.source),
                },
            )
            return
        if result.error is not None:
            kind = "inconclusive" if result.inconclusive else "delete-failed"
            self._problem = (kind, bounded(result.error), idle.deadline)
        else:
            self._problem = None
        self.state(idle, now)

    def state(self, idle: IdleClock, now: float, warnings: WarningSchedule | None = None) -> None:
        """After a poll: the ``warning`` line of a warning just sent, and the ``state`` line
        when what the daemon would say changed."""
        if idle.state is None:
            return
        warned = warnings.warned_for if warnings is not None else None
        if warned is not None and warned != self._warned:
            self._warned = warned
            self.write(WARNING, {"stops_at": utc_iso(warned)})
        said = self._what_to_say(idle, now)
        if self._should_say(said, now):
            self._said = said
            self.write(STATE, self._state_fields(said, idle, now))

    # -- deciding what to say --------------------------------------------------------------

    def _what_to_say(self, idle: IdleClock, now: float) -> _Said:
        deadline = idle.deadline
        problem = self._problem
        if problem is not None and problem[2] != deadline:  # activity, a hold: moot
            problem = self._problem = None
        cap = idle.holds.max_keepalive if idle.holds is not None else 0.0
        holds = tuple(sorted((job.id, job.command, int(job.since + cap)) for job in idle.jobs.live))
        keepalive = int(idle.hold.until) if idle.hold is not None else None
        stops_at: int | None = int(deadline)
        kind: str | None
        key: str | None = None
        if problem is not None:
            kind, key, stops_at = problem[0], problem[1], None
        elif now < idle.idle_at:
            kind, key = "activity", _signal_of(idle.last.source)
        elif now >= deadline:
            kind = None  # idle: stops at the deadline (or the check is under way)
        elif idle.jobs.live:
            kind = "job"
        elif idle.jobs.unusable:
            kind = "hold-file"
        else:
            kind, key = "keepalive", idle.hold.by if idle.hold is not None else None
        return _Said(kind, key, holds, keepalive, stops_at)

    def _should_say(self, said: _Said, now: float) -> bool:
        before = self._said
        if before is None or (said.kind, said.key, said.holds, said.keepalive_until) != (
            before.kind,
            before.key,
            before.holds,
            before.keepalive_until,
        ):
            return True
        if said.stops_at == before.stops_at:
            return False
        if said.stops_at is None or before.stops_at is None:
            return True
        # Earlier than said: say it now. Later: once the time said has come.
        return said.stops_at < before.stops_at or now >= before.stops_at

    def _state_fields(self, said: _Said, idle: IdleClock, now: float) -> dict[str, Any]:
        last = idle.last
        kept_by: str | None
        if said.kind == "activity":
            kept_by = last.source
        elif said.kind in ("inconclusive", "delete-failed"):
            kept_by = said.key
        elif said.kind is not None:
            kept_by = idle.kept_by(now)
        else:
            kept_by = None
        holds = [
            {"id": hid, "command": bounded(command), "until": utc_iso(until)}
            for hid, command, until in said.holds[:MAX_HOLDS]
        ]
        return {
            "idle_seconds": round(max(0.0, now - last.at), 1),
            "last_activity": utc_iso(last.at),
            "last_source": bounded(last.source),
            "kept_by": bounded(kept_by) if kept_by is not None else None,
            "kept_by_kind": said.kind,
            "stops_at": utc_iso(said.stops_at) if said.stops_at is not None else None,
            "holds": holds,
            "holds_more": len(said.holds) - len(holds) or None,
            "keepalive_until": (
                utc_iso(said.keepalive_until) if said.keepalive_until is not None else None
            ),
        }

    def saw(self, jobs: HoldsView) -> None:
        """After each read of the holds: a ``hold`` line for each job held since the last read,
        and for each hold gone (its job ended, it reached its cap, or it was removed)."""
        live = {job.id: job for job in jobs.live}
        if live.keys() == self._holds.keys():
            return
        how: dict[str, tuple[str, float | None]] = {h.id: ("capped", None) for h in jobs.capped}
        how |= {end.hold.id: (end.how, end.at) for end in jobs.ended}
        for hid, job in self._holds.items():
            if hid not in live:
                ended, at = how.get(hid, ("removed", None))
                self.write(
                    HOLD,
                    {
                        "action": "end",
                        "id": hid,
                        "command": bounded(job.command),
                        "how": ended,
                        "ended_at": utc_iso(at) if at is not None else None,
                    },
                )
        for hid, job in live.items():
            if hid not in self._holds:
                self.write(
                    HOLD,
                    {
                        "action": "start",
                        "id": hid,
                        "command": bounded(job.command),
                        "by": bounded(job.by, 64),
                        "since": utc_iso(job.since),
                        "until": utc_iso(job.since + self.config.max_keepalive),
                    },
                )
        self._holds = live


def _signal_of(source: str) -> str:
    """What saw an activity: ``workspace`` of ``workspace:/home/…``, ``job`` of ``job 4711 …``."""
    return source.partition(":")[0].partition(" ")[0]


def _shrunk(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` made small enough for one line, where the full line would pass
    :data:`~.events.MAX_LINE` (texts of characters JSON writes as ``\\uXXXX``): texts cut to
    80 characters, the holds' commands to 40, the settings' values to 40."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if isinstance(value, str):
            out[key] = bounded(value, 80)
        elif key == "holds" and isinstance(value, list):
            out[key] = [{**h, "command": bounded(h["command"], 40)} for h in value]
        elif key == "settings" and isinstance(value, dict):
            out[key] = {k: bounded(str(v), 40) for k, v in value.items()}
        else:
            out[key] = value
    return out
