"""The daemon's stops over the window and the hours each kept the instance off (pure).

Definitions (docs/report.md repeats them; the report prints them):

- A **stop** is a daemon ``stop`` line with ``result: "deleted"`` in the window that the
  SageMaker API confirms: the app of that line's life is ``Deleted``, or a later app replaced it
  in the space. One per app life.
- Its **off-hours** run from the stop line's time to the first sign of the space running again:
  the next app's CreationTime in that space, or a daemon ``start`` (or LCC ``install-failed``)
  line of the space after the stop, whichever comes first; with none, the end of the window.
- **The built-in idle shutdown cap**: where Studio's own idle shutdown may apply to the space
  (:func:`~.fleet.builtin_idle_minutes`), it would have stopped the app anyway at the last
  activity the daemon saw plus its timeout. Only the time between the daemon's stop and that
  moment counts (never negative, never more than the off-hours); a stop that does not say
  when the last activity was counts zero hours there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from .. import events
from .daemon_logs import Event, parse_time
from .fleet import App, Fleet

__all__ = ["DEFINITIONS", "Stop", "find_stops", "per_day"]

DEFINITIONS = {
    "stop": "a daemon stop line (result deleted) that the SageMaker API confirms: the app is "
    "Deleted, or a later app replaced it in the space; one per app life",
    "off_hours": "from the stop to the next app start in that space (its CreationTime, or a "
    "daemon start line), whichever is first; with none, to the end of the window",
    "builtin_idle_shutdown_cap": "where Studio's built-in idle shutdown may apply (on in the "
    "domain or the owner's profile; the shortest timeout named), only the hours "
    "between the daemon's stop and the moment the built-in one would have stopped the app "
    "(last activity + its timeout) count; without a last activity, none",
    "saved_usd": "off_hours x the on-demand price per hour of the app's instance type",
}


@dataclass
class Stop:
    """One confirmed stop."""

    space: str
    app_name: str
    instance_type: str | None
    deleted_at: float
    off_until: float
    off_hours: float  # after the cap
    off_hours_uncapped: float
    builtin_idle_minutes: float | None


def _last_activity(stop: Event) -> float | None:
    at = parse_time(stop.body.get("last_activity"))
    if at is not None:
        return at
    idle = stop.body.get("idle_seconds")
    if isinstance(idle, (int, float)) and not isinstance(idle, bool) and idle >= 0:
        return stop.at - float(idle)
    return None


def _life_of(fleet: Fleet, space: str, app_name: str, at: float) -> tuple[App, float | None] | None:
    """The app of ``space``/``app_name`` whose life holds ``at``, and when that life ended."""
    apps = fleet.apps_of(space)
    for i, app in enumerate(apps):
        end = apps[i + 1].created_at if i + 1 < len(apps) else None
        created = app.created_at if app.created_at is not None else float("-inf")
        if app.app_name == app_name and created <= at and (end is None or at < end):
            return app, end
    return None


def find_stops(
    fleet: Fleet,
    lines: dict[tuple[str, str], list[Event]],
    since: float,
    until: float,
    idle_cap: Callable[[str], float | None],
) -> tuple[list[Stop], dict[str, int]]:
    """The confirmed stops in ``[since, until]`` and, by reason, the stop lines not counted.
    ``idle_cap(space)`` gives the built-in idle shutdown's minutes (None: off); it is asked
    only for spaces with a confirmed stop."""
    unconfirmed: dict[str, int] = {}
    stops: list[Stop] = []
    starts: dict[str, list[float]] = {}
    for (space, _), got in lines.items():
        starts.setdefault(space, []).extend(
            e.at for e in got if e.kind in (events.START, events.INSTALL_FAILED)
        )
    counted: set[tuple[str, str, float | None]] = set()
    for (space, app_name), got in sorted(lines.items()):
        for line in got:
            if line.kind != events.STOP or line.body.get("result") != "deleted":
                continue
            if not since <= line.at <= until:
                continue
            life = _life_of(fleet, space, app_name, line.at)
            if life is None:
                reason = "no app of that space and time is listed"
                unconfirmed[reason] = unconfirmed.get(reason, 0) + 1
                continue
            app, life_end = life
            if app.status != "Deleted" and life_end is None:
                reason = f"the app is {app.status}, not Deleted"
                unconfirmed[reason] = unconfirmed.get(reason, 0) + 1
                continue
            if (space, app_name, app.created_at) in counted:
                continue  # one stop per app life
            counted.add((space, app_name, app.created_at))
            stops.append(_off(line, space, app, life_end, starts.get(space, []), until, idle_cap))
    stops.sort(key=lambda s: (s.deleted_at, s.space))
    return stops, unconfirmed


def _off(
    line: Event,
    space: str,
    app: App,
    life_end: float | None,
    starts: list[float],
    until: float,
    idle_cap: Callable[[str], float | None],
) -> Stop:
    ends = [until] + [t for t in starts if t > line.at]
    if life_end is not None:
        ends.append(life_end)
    off_until = max(line.at, min(ends))
    off = off_until - line.at
    cap = idle_cap(space)
    credited = off
    if cap is not None:
        last = _last_activity(line)
        builtin_stop = last + cap * 60 if last is not None else line.at
        credited = min(off, max(0.0, builtin_stop - line.at))
    return Stop(
        space=space,
        app_name=app.app_name,
        instance_type=app.instance_type,
        deleted_at=line.at,
        off_until=off_until,
        off_hours=credited / 3600,
        off_hours_uncapped=off / 3600,
        builtin_idle_minutes=cap,
    )


def per_day(
    stops: list[Stop], price: Callable[[str | None], float | None]
) -> list[dict[str, object]]:
    """Off-hours and dollars per UTC day: each stop's credited hours, from its time on, split
    at midnight; ``price(instance_type)`` in USD per hour (None: no dollars for it)."""
    days: dict[int, list[float]] = {}
    for stop in stops:
        start, left = stop.deleted_at, stop.off_hours * 3600
        rate = price(stop.instance_type)
        while left > 0:
            day = int(start // 86400)
            part = min(left, (day + 1) * 86400 - start)
            row = days.setdefault(day, [0.0, 0.0])
            row[0] += part / 3600
            row[1] += part / 3600 * rate if rate is not None else 0.0
            start, left = start + part, left - part
    return [
        {"day": _day(day), "off_hours": hours, "saved_usd": usd}
        for day, (hours, usd) in sorted(days.items())
    ]


def _day(day: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(day * 86400))
