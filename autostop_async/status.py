"""``python -m autostop_async status [--json]``: what the daemon sees, for a person at a glance.

It reads the daemon's state file (readable by every user), the keepalive file and the holds on
jobs, and never changes any of them. The stop it shows is computed by the daemon's own rule
(:func:`~.stop_rule.stop_rule`); once the daemon has deleted the app, it says so. Names from
users' files and processes are shown escaped and bounded (:func:`~.safe_output.shown`). It
takes the daemon's settings (``--state-dir``, ``AUTOSTOP_STATE_DIR``) to find them. Exit
codes: 0 shown, the daemon runs; 1 shown, but the daemon that wrote it is not running; 2 no
state to show (no daemon has run with this state folder since the app started).
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import io
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .config import Config, command_parser, parse_settings
from .durations import format_duration
from .errors import UsageError
from .holds import HoldsReader, HoldsView, Keepalive, holds_dir, keepalive_file, read_keepalive
from .notice import MAX_WARN_SHARE
from .records import State
from .safe_output import MAX_LOG_CHARS, escape, json_text, shown
from .state import app_start_time, load_state
from .stop_rule import stop_rule
from .times import UTC_FORMAT, utc_iso

__all__ = ["build_report", "daemon_running", "format_report", "main"]


def daemon_running(pid: int | None, proc: Path = Path("/proc")) -> bool:
    """True if ``pid`` is a live autostop-async process (as far as this user can tell)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's (root's) process
        pass
    try:
        cmdline = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return True
    return b"autostop" in cmdline  # not a new process that reuses the number


def _when(at: float, now: float) -> str:
    """``13:45:00Z`` today (UTC), the full ISO time otherwise."""
    iso = utc_iso(at)
    return iso[11:] if iso[:10] == utc_iso(now)[:10] else iso


#: The order of the table: the walk first, then the cheap signals; others after, by name.
ORDER = ("workspace", "git", "editor", "terminals", "cpu", "gpu")


def _shown(text: str | None) -> str | None:
    """Text from users' files and processes as the report carries it (None stays None)."""
    return shown(text) if text is not None else None


def _rank(name: str) -> tuple[int, str]:
    return (ORDER.index(name) if name in ORDER else len(ORDER), name)


def build_report(
    state: State,
    hold: Keepalive | None,
    *,
    running: bool,
    now: float,
    holds: HoldsView | None = None,
) -> dict[str, Any]:
    """What ``status --json`` prints; the table shows the same. Text from users' files and
    processes is escaped and bounded (:func:`~.safe_output.shown`), as on every output.

    ``holds``: the holds on jobs as the daemon reads them; while a job runs, ``stops_at`` is
    the latest it can be (the cap), and ``held`` true. ``kept_by`` names the hold that keeps
    the app past its idle deadline (``job``, ``unusable hold file``, ``keepalive``);
    ``app_gone_at`` is set once the daemon deleted the app (or found it gone)."""
    idle_time = float(state.idle_time or 0.0)
    controls = state.controls
    cap = float(controls.max_keepalive or 0.0)
    holds = holds if holds is not None else HoldsView()
    jobs = holds.live
    stop = stop_rule(  # the daemon's rule (IdleClock.stop), on what the daemon saved
        last_at=state.last_at,
        stop_after=state.last_stop_after,
        idle_time=idle_time,
        keepalive_until=hold.until if hold is not None else None,
        job_starts=[job.since for job in jobs],
        max_keepalive=cap,
        unusable_until=[u.until for u in holds.unusable],
    )
    stops_at = stop.at
    signals: list[dict[str, Any]] = [
        {
            "name": name,
            "enabled": True,
            "looked_at": "every interval" if record.cheap else "at deadlines",
            "latest_activity": utc_iso(record.at) if record.at is not None else None,
            "idle_seconds": round(max(0.0, now - record.at), 1) if record.at is not None else None,
            "source": _shown(record.source),
            "note": _shown(record.note),
        }
        for name, record in state.signals.items()
    ]
    signals += [{"name": name, "enabled": False, "note": "off"} for name in controls.off]
    signals.sort(key=lambda sig: _rank(str(sig["name"])))
    return {
        "daemon": {"pid": state.pid, "running": running, "updated": utc_iso(state.updated)},
        "idle_seconds": round(max(0.0, now - state.last_at), 1),
        "idle_time": idle_time,
        "last_activity": utc_iso(state.last_at),
        "source": shown(state.last_source),
        "stops_at": utc_iso(stops_at),
        "stops_in_seconds": round(stops_at - now, 1),
        "kept_by": stop.held_by if stop.floor is not None and stop.floor > now else None,
        "app_gone": state.gone,
        "app_gone_at": utc_iso(state.gone_at) if state.gone_at is not None else None,
        "dry_run": controls.dry_run,
        "keepalive": hold.to_json() if hold is not None else None,
        "held": bool(jobs),
        "holds": [job.to_json(now, cap) for job in jobs],
        "then_stop_after": state.last_stop_after,
        "warn_before": controls.warn_before,
        "editor_data": _shown(controls.editor_data),
        "signals": signals,
    }


def format_report(report: dict[str, Any], state_file: Path, *, now: float) -> str:
    """The report as a table and a few lines, for a terminal."""
    rows = [("SIGNAL", "LOOKED AT", "LATEST ACTIVITY", "IDLE FOR", "SOURCE")]
    for sig in report["signals"]:
        if not sig["enabled"]:
            rows.append((sig["name"], "-", "-", "-", "off"))
            continue
        at = sig["latest_activity"]
        rows.append(
            (
                sig["name"],
                sig["looked_at"],
                _when(_epoch(at), now) if at else "-",
                format_duration(sig["idle_seconds"]) if at else "-",
                sig["source"] or sig["note"] or "nothing seen yet",
            )
        )
    # Names come from users (bounded in the report): each cell escaped, so one row is one line.
    safe = [tuple(escape(str(c)) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in safe) for i in range(4)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4]
        for r in safe
    ]
    lines.append("")
    lines.append(
        f"idle for {format_duration(report['idle_seconds'])} of "
        f"{format_duration(report['idle_time'])}; last activity "
        f"{_when(_epoch(report['last_activity']), now)}: {escape(report['source'])}"
    )
    hold = report["keepalive"]
    if hold is not None:
        until = _epoch(hold["until"])
        lines.append(
            f"keepalive by {shown(hold['by'])}: not stopped before {_when(until, now)} "
            f"(in {format_duration(until - now)})"
        )
    for job in report.get("holds", []):
        then = job["then_stop_after"]
        lines.append(
            f"kept while job {job['pid']} `{shown(job['command'])}` runs (by "
            f"{shown(job['by'])}; running for "
            f"{format_duration(job['running_for_seconds'], compact=True)}; capped at "
            f"{_when(_epoch(job['capped_at']), now)}); then it stops "
            + (f"{format_duration(then, compact=True)} after" if then is not None else "once idle")
        )
    stops_at, stops_in = _epoch(report["stops_at"]), report["stops_in_seconds"]
    verb = "would be stopped (dry run)" if report["dry_run"] else "stops"
    gone_at = report.get("app_gone_at")
    if gone_at is not None:
        how = "deleted" if report.get("app_gone") == "deleted" else "found already gone"
        lines.append(f"the app was {how} at {_when(_epoch(gone_at), now)}: nothing left to stop")
    elif report.get("held"):
        lines.append(
            f"{verb} at the latest at {_when(stops_at, now)} (the cap), if the job runs on"
        )
    elif report.get("kept_by") == "unusable hold file":
        lines.append(
            f"{verb} at the latest at {_when(stops_at, now)} (in {format_duration(stops_in)}): "
            "an unusable hold file keeps the app until then (the daemon's log names it)"
        )
    elif stops_in > 0:
        lines.append(
            f"{verb} at {_when(stops_at, now)} (in {format_duration(stops_in)}) if nothing happens"
        )
    else:
        lines.append(f"{verb}: due since {_when(stops_at, now)}, unless the check finds activity")
    lines.extend(_warning_lines(report))
    if report.get("editor_data"):
        lines.append(f"editor data: {escape(report['editor_data'])}")
    daemon = report["daemon"]
    if daemon["running"]:
        lines.append(
            f"daemon pid {daemon['pid']} is running; state written at "
            f"{_when(_epoch(daemon['updated']), now)} ({state_file})"
        )
    else:
        lines.append(
            f"the daemon (pid {daemon['pid']}) is NOT running: this is its last record, "
            f"written at {_when(_epoch(daemon['updated']), now)} ({state_file})"
        )
    # Every line escaped and bounded again, whatever it holds (the one rule, at the door).
    return "\n".join(shown(line, MAX_LOG_CHARS) for line in lines)


def _warning_lines(report: dict[str, Any]) -> list[str]:
    """What the daemon will actually do before the stop (it warns only when --warn-before is at
    most half the idle time: :attr:`Notifier.enabled`)."""
    warn, idle_time = report.get("warn_before"), float(report["idle_time"] or 0.0)
    if not warn:
        return []
    if warn > idle_time * MAX_WARN_SHARE:
        return [
            f"no warning before the stop: --warn-before {format_duration(warn)} is more than "
            f"half the idle time {format_duration(idle_time)}"
        ]
    return [f"a warning goes to the terminals {format_duration(warn)} before"]


def _epoch(iso: str) -> float:
    """The epoch seconds of a ``utc_iso`` time."""
    return float(calendar.timegm(time.strptime(iso, UTC_FORMAT)))


def _parser() -> argparse.ArgumentParser:
    p = command_parser(
        "status",
        "[--json] [--state-dir DIR]",
        "Show what the daemon sees: each signal's latest activity, how long the app has been "
        "idle, and when it will be stopped if nothing happens. --state-dir (or "
        "AUTOSTOP_STATE_DIR) finds the daemon when it is not the default.",
    )
    p.add_argument("--json", action="store_true", default=None, help="print the report as JSON")
    return p


def main(argv: Sequence[str], *, app_start: Callable[[], float | None] = app_start_time) -> int:
    """``status [--json]``: 0 the daemon runs, 1 it does not (last record shown); a UsageError
    (exit 2) when there is no state to show."""
    config, _ = parse_settings(argv, parser=_parser(), daemon=False)
    return show(config, app_start)


def show(config: Config, app_start: Callable[[], float | None] = app_start_time) -> int:
    """Print the status of the daemon whose state folder ``config`` names; ``app_start`` tells
    when the app started (state files of an earlier start are not shown)."""
    state = asyncio.run(load_state(config.state_file, app_start()))
    if state is None or state.idle_time is None:
        raise UsageError(
            f"no daemon state in {config.state_dir}: no daemon has run here "
            "since the app started, or it uses another --state-dir (AUTOSTOP_STATE_DIR)"
        )
    now = time.time()
    max_keepalive = state.controls.max_keepalive
    if max_keepalive is None:  # a state file that does not say
        max_keepalive = config.max_keepalive
    hold = read_keepalive(keepalive_file(config), max_keepalive)
    if hold is not None and hold.until <= now:
        hold = None
    running = daemon_running(state.pid)
    holds = HoldsReader(holds_dir(config), max_keepalive, clock=lambda: now).read()
    report = build_report(state, hold, running=running, now=now, holds=holds)
    if isinstance(sys.stdout, io.TextIOWrapper):  # a strict or narrow stdout cannot fail it
        sys.stdout.reconfigure(errors="backslashreplace")
    if config.json:
        print(json_text(report, indent=1))
    else:
        print(format_report(report, config.state_file, now=now))
    return 0 if running else 1
