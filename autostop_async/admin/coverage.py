"""Whether auto-stop runs in each app, from the daemon's own lines during the app's current
life, and what needs an administrator (pure: no AWS call).

A daemon is ``running`` when it logged a ``start`` during the app's life (from its CreationTime
to the next app of the space) and no ``end`` since; it need not write again. ``not running``:
the LCC logged its install failure, the daemon logged its end, or the app started more than
:data:`GRACE` ago and no daemon line came since. ``unknown``: the logs could not be read, or
the app is too young to tell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import events
from ..durations import format_duration
from ..safe_output import escape
from ..times import utc_iso
from .daemon_logs import Event, parse_time
from .fleet import App

__all__ = ["GRACE", "KEPT_TOO_LONG", "AppState", "app_state", "flags_of", "life_events"]

#: Studio gives an app start's LCCs 5 minutes; CloudWatch may take minutes more to show a line.
GRACE = 15 * 60.0
#: An app running longer than this is flagged.
KEPT_TOO_LONG = 24 * 3600.0
RUNNING, NOT_RUNNING, UNKNOWN = "running", "not running", "unknown"
_LIVE = ("InService", "Pending")
#: The words ``lcc/on-start.sh`` gives as an ``install-failed`` reason (docs/events.md).
_INSTALL_REASONS = {
    "install": "the package could not be installed",
    "no-python": "no Python found",
    "no-package": "no PACKAGE set",
    "error": "a line of the script failed",
}


@dataclass
class AppState:
    """The JSON fields of one app beyond what ListApps says."""

    autostop: str
    problem: str | None = None
    idle_seconds: float | None = None
    kept_by: str | None = None
    kept_by_kind: str | None = None
    stops_at: str | None = None
    reported_at: str | None = None
    holds: list[dict[str, Any]] = field(default_factory=list)
    keepalive_until: str | None = None
    daemon_version: str | None = None
    idle_time: float | None = None


def life_events(app: App, life_end: float | None, lines: list[Event]) -> list[Event]:
    """The lines of the app's life: from its CreationTime to the next app of its space."""
    start = app.created_at if app.created_at is not None else float("-inf")
    end = life_end if life_end is not None else float("inf")
    return [e for e in lines if start <= e.at < end]


def _text(value: Any, limit: int = 200) -> str | None:
    """A value a line carried, as one safe line of text (the daemon's word, or a forger's)."""
    if value is None:
        return None
    text = escape(value if isinstance(value, str) else str(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _iso(value: Any) -> str | None:
    at = parse_time(value)
    return utc_iso(at) if at is not None else None


def app_state(app: App, lines: list[Event], now: float, logs_readable: bool) -> AppState:
    """The auto-stop state of ``app`` from the lines of its life (see the module's rule)."""
    if not logs_readable:
        return AppState(UNKNOWN, "the daemon's log could not be read")
    marks = [e for e in lines if e.kind in (events.START, events.INSTALL_FAILED)]
    if not marks:
        age = now - app.created_at if app.created_at is not None else None
        if age is not None and age < GRACE:
            return AppState(
                UNKNOWN, f"started {format_duration(age, compact=True)} ago: too soon to tell"
            )
        since = f" at {utc_iso(app.created_at)}" if app.created_at is not None else ""
        return AppState(NOT_RUNNING, f"no daemon line since the app started{since}")
    last = marks[-1]
    if last.kind == events.INSTALL_FAILED:
        reason = _text(last.body.get("reason")) or "no reason given"
        reason = _INSTALL_REASONS.get(reason, reason)
        return AppState(NOT_RUNNING, f"the LCC logged its install failure ({reason})")
    after = [e for e in lines if e.at >= last.at and e is not last]
    state = AppState(
        RUNNING,
        daemon_version=_text(last.body.get("version"), 40),
        idle_time=_number(last.body.get("idle_time")),
    )
    ended = [e for e in after if e.kind == events.END]
    if ended:
        reason = _text(ended[-1].body.get("reason")) or "no reason given"
        state.autostop = NOT_RUNNING
        state.problem = f"the daemon ended at {utc_iso(ended[-1].at)} ({reason})"
        return state
    _read_state(state, after)
    return state


def _read_state(state: AppState, after: list[Event]) -> None:
    """The newest ``state`` line's word, and the holds taken or ended since."""
    holds: dict[str, dict[str, Any]] = {}
    for e in after:
        if e.kind == events.STATE:
            state.reported_at = utc_iso(e.at)
            state.idle_seconds = _number(e.body.get("idle_seconds"))
            state.kept_by = _text(e.body.get("kept_by"))
            state.kept_by_kind = _text(e.body.get("kept_by_kind"), 40)
            state.stops_at = _iso(e.body.get("stops_at"))
            state.keepalive_until = _iso(e.body.get("keepalive_until"))
            holds = {}
            listed = e.body.get("holds")
            for hold in listed if isinstance(listed, list) else []:
                if isinstance(hold, dict):
                    holds[str(hold.get("id"))] = _hold(hold)
        elif e.kind == events.HOLD:
            if e.body.get("action") == "end":
                holds.pop(str(e.body.get("id")), None)
            elif e.body.get("action") == "start":
                holds[str(e.body.get("id"))] = _hold(e.body)
        elif e.kind == events.WARNING and _iso(e.body.get("stops_at")):
            state.stops_at = _iso(e.body.get("stops_at"))
    state.holds = list(holds.values())[:20]


def _hold(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": _text(body.get("id"), 80),
        "command": _text(body.get("command")),
        "until": _iso(body.get("until")),
    }


def flags_of(app: App, state: AppState, now: float, deployed_at: float | None) -> list[str]:
    """What needs an administrator about ``app``, each line naming its space."""
    if app.status not in _LIVE:
        return []
    space = escape(app.space)
    found = []
    if state.autostop == NOT_RUNNING:
        found.append(f"{space}: runs without auto-stop: {state.problem}")
    if app.created_at is not None and now - app.created_at > KEPT_TOO_LONG:
        why = f"; the daemon says kept by {state.kept_by}" if state.kept_by else ""
        found.append(
            f"{space}: running for {_days(now - app.created_at)} "
            f"(since {utc_iso(app.created_at)}){why}"
        )
    if deployed_at is not None and app.created_at is not None and app.created_at < deployed_at:
        found.append(
            f"{space}: started before the last deploy ({utc_iso(deployed_at)}): runs older "
            "settings until it restarts"
        )
    return found


def _days(seconds: float) -> str:
    days, rest = divmod(int(seconds), 86400)
    return f"{days}d{rest // 3600:02d}h"
