"""``autostop-async report``: the whole domain at once, read-only. Which Code Editor apps run
without auto-stop, what keeps the others (the daemon's word), and what the daemon's stops saved
over the window (docs/report.md).

It calls only read APIs (SageMaker Describe/List, ``logs:FilterLogEvents``,
``pricing:GetProducts``); it writes only ``--html FILE`` and its local price cache.

Exit codes: 0 it could report (flags or not, with or without log access); 1 the SageMaker API
refused or failed (the message names the action); 2 a bad flag or ``--prices`` file.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TextIO

from ..cli import guarded
from ..durations import parse_duration
from ..safe_output import escape, json_text
from ..times import utc_iso
from .coverage import AppState, app_state, flags_of, life_events
from .daemon_logs import LOG_GROUP, read_events
from .failures import AdminError, UsageError, aws_failure
from .fleet import Fleet, builtin_idle_minutes, read_fleet
from .policy import REPORT_ACTIONS
from .prices import Prices, from_file, from_price_list
from .report_render import render_csv, render_html, render_table
from .savings import DEFINITIONS, find_stops, per_day

__all__ = ["READ_ACTIONS", "build_report", "main", "run"]

#: What the report calls (policy.py's report_policy() allows exactly these).
READ_ACTIONS = REPORT_ACTIONS
#: The built-in idle shutdown's shortest timeout (IdleTimeoutInMinutes is 60 to 525,600).
MIN_BUILTIN_MINUTES = 60.0
_DOMAIN = re.compile(r"d-(-*[a-z0-9]){1,61}")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="autostop-async report",
        description="Report on a domain's Code Editor apps: which run without auto-stop, what "
        "keeps the others, and what the daemon's stops saved. Read-only.",
    )
    p.add_argument("--domain-id", required=True, help="the domain (d-…)")
    p.add_argument("--since", default="30d", help="the window: 30d, 12h, … (default: 30d)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print only the report as JSON")
    out.add_argument("--csv", action="store_true", help="print the apps as CSV")
    out.add_argument("--html", type=Path, metavar="FILE", help="write one self-contained page")
    p.add_argument(
        "--prices",
        type=Path,
        metavar="FILE",
        help="a JSON object of instance type to USD per hour (negotiated rates); "
        "default: the AWS Price List API, cached",
    )
    p.add_argument("--region", help="AWS region (default: the SDK's)")
    return p


def _clients(region: str | None) -> tuple[Any, Any, Any, str]:
    import boto3  # type: ignore[import-untyped]  # only when AWS is called

    session = boto3.session.Session(region_name=region or os.environ.get("AWS_REGION") or None)
    if not session.region_name:
        raise UsageError("no region: pass --region or set AWS_REGION")
    pricing = session.client("pricing", region_name="us-east-1")
    return session.client("sagemaker"), session.client("logs"), pricing, str(session.region_name)


def build_report(
    sm: Any,
    logs: Any,
    pricing: Any,
    domain_id: str,
    window: float,
    now: float,
    prices_file: Path | None = None,
    region: str = "",
) -> dict[str, Any]:
    """The report as the JSON document ``--json`` prints (docs/report.md has its schema)."""
    since = now - window
    fleet = read_fleet(sm, domain_id)
    region = fleet.region or region
    live = [a.created_at for a in fleet.apps if a.status in ("InService", "Pending")]
    read_from = min([since, *(t for t in live if t is not None)])
    logs_read = read_events(logs, domain_id, read_from, now)
    notes: list[str] = []
    if logs_read.denied:
        notes.append(
            f"access denied: {logs_read.denied} on log group {LOG_GROUP}: auto-stop is unknown "
            "for every app and no stop is listed; grant it to see them"
        )
    elif logs_read.problem:
        notes.append(f"{logs_read.problem}: auto-stop is unknown for every app")
    if logs_read.note:
        notes.append(logs_read.note)

    apps, flags = _apps(fleet, logs_read.events, now, logs_read.readable)
    cap_cache: dict[str, float | None] = {}

    def cap(space: str) -> float | None:
        if space not in cap_cache:
            try:
                cap_cache[space] = builtin_idle_minutes(sm, fleet, space)
            except AdminError as exc:  # conservative: as if the built-in one were on, soonest
                cap_cache[space] = MIN_BUILTIN_MINUTES
                notes.append(
                    f"{escape(space)}: {exc}: the built-in idle shutdown is taken as on at "
                    f"{MIN_BUILTIN_MINUTES:.0f} minutes for its stops"
                )
        return cap_cache[space]

    # The built-in idle settings are read for the spaces with a stop line only, side by side
    # (two Describe calls each: a domain of 500 spaces would otherwise wait on 1,000 in turn).
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(cap, sorted(_spaces_with_stops(logs_read.events))))
    stops, unconfirmed = find_stops(fleet, logs_read.events, since, now, cap)
    types = sorted({s.instance_type for s in stops if s.instance_type})
    if prices_file is not None:
        prices = from_file(prices_file, types)
    elif types:
        prices = from_price_list(pricing, region, types, now)
    else:
        prices = Prices("none", None)
    for reason, count in sorted(unconfirmed.items()):
        notes.append(f"{count} stop line(s) not counted: {reason}")
    if logs_read.skipped:
        total = sum(logs_read.skipped.values())
        why = "; ".join(f"{n} {r}" for r, n in sorted(logs_read.skipped.items()))
        notes.append(f"{total} log line(s) with the event marker skipped: {why}")
    stop_rows = [_stop_row(s, prices) for s in stops]
    return {
        "domain_id": domain_id,
        "region": region,
        "generated_at": utc_iso(now),
        "since": utc_iso(since),
        "apps": apps,
        "stops": stop_rows,
        "totals": _totals(apps, stop_rows, prices),
        "prices": {
            "source": prices.source,
            "as_of": prices.as_of,
            "usd_per_hour": dict(sorted(prices.usd_per_hour.items())),
            "missing": dict(sorted(prices.missing.items())),
        },
        "per_day": per_day(stops, prices.get),
        "flags": flags,
        "notes": notes,
        "skipped_lines": dict(sorted(logs_read.skipped.items())),
        "last_deploy": utc_iso(fleet.deployed_at) if fleet.deployed_at else None,
        "definitions": DEFINITIONS,
    }


def _spaces_with_stops(lines: dict[tuple[str, str], list[Any]]) -> set[str]:
    return {space for (space, _), got in lines.items() if any(e.kind == "stop" for e in got)}


def _apps(
    fleet: Fleet, lines: dict[tuple[str, str], list[Any]], now: float, readable: bool
) -> tuple[list[dict[str, Any]], list[str]]:
    rows: list[dict[str, Any]] = []
    flags: list[str] = []
    for app in fleet.apps:
        later = fleet.later_apps(app.space, app.created_at) if app.created_at is not None else []
        life_end = later[0].created_at if later else None
        own = life_events(app, life_end, lines.get((app.space, app.app_name), []))
        state = app_state(app, own, now, readable)
        flags += flags_of(app, state, now, fleet.deployed_at)
        rows.append(_app_row(app, state))
    return rows, flags


def _app_row(app: Any, state: AppState) -> dict[str, Any]:
    return {
        "space": app.space,
        "owner": app.owner,
        "app_name": app.app_name,
        "status": app.status,
        "instance_type": app.instance_type,
        "created_at": utc_iso(app.created_at) if app.created_at is not None else None,
        "autostop": state.autostop,
        "idle_seconds": state.idle_seconds,
        "kept_by": state.kept_by,
        "kept_by_kind": state.kept_by_kind,
        "stops_at": state.stops_at,
        "problem": state.problem,
        "holds": state.holds,
        "keepalive_until": state.keepalive_until,
        "reported_at": state.reported_at,
        "daemon_version": state.daemon_version,
        "idle_time": state.idle_time,
    }


def _stop_row(stop: Any, prices: Prices) -> dict[str, Any]:
    rate = prices.get(stop.instance_type)
    why = None
    if rate is None:
        why = (
            prices.missing.get(stop.instance_type or "", "no price")
            if stop.instance_type
            else "ListApps gave no instance type"
        )
    return {
        "space": stop.space,
        "app_name": stop.app_name,
        "instance_type": stop.instance_type,
        "deleted_at": utc_iso(stop.deleted_at),
        "off_hours": stop.off_hours,
        "saved_usd": stop.off_hours * rate if rate is not None else None,
        "off_until": utc_iso(stop.off_until),
        "off_hours_uncapped": stop.off_hours_uncapped,
        "builtin_idle_timeout_minutes": stop.builtin_idle_minutes,
        "usd_per_hour": rate,
        "no_price": why,
    }


def _totals(
    apps: list[dict[str, Any]], stops: list[dict[str, Any]], prices: Prices
) -> dict[str, Any]:
    by_type: dict[str, dict[str, Any]] = {}
    for s in stops:
        row = by_type.setdefault(
            s["instance_type"] or "unknown",
            {"stops": 0, "off_hours": 0.0, "saved_usd": None, "usd_per_hour": s["usd_per_hour"]},
        )
        row["stops"] += 1
        row["off_hours"] += s["off_hours"]
        if s["saved_usd"] is not None:
            row["saved_usd"] = (row["saved_usd"] or 0.0) + s["saved_usd"]
    priced = [s["saved_usd"] for s in stops if s["saved_usd"] is not None]
    return {
        "apps": len(apps),
        "apps_without_autostop": sum(
            1
            for a in apps
            if a["autostop"] == "not running" and a["status"] in ("InService", "Pending")
        ),
        "stops": len(stops),
        "off_hours": sum(s["off_hours"] for s in stops),
        "saved_usd": sum(priced) if priced else None,
        "stops_without_price": len(stops) - len(priced),
        "by_instance_type": dict(sorted(by_type.items())),
    }


def run(
    argv: Sequence[str],
    out: TextIO | None = None,
    now: float | None = None,
    clients: tuple[Any, Any, Any] | None = None,
) -> int:
    """Parse ``argv``, read the domain, print (or write) the report; the exit code."""
    out = sys.stdout if out is None else out
    args = _parser().parse_args(list(argv))
    if not _DOMAIN.fullmatch(args.domain_id):
        raise UsageError(f"--domain-id {escape(args.domain_id)!r} is not a domain ID (d-…)")
    try:
        window = parse_duration(args.since)
    except ValueError as exc:
        raise UsageError(f"--since: {exc}") from None
    if window <= 0:
        raise UsageError("--since must be a positive duration such as 30d")
    if args.prices is not None and not args.prices.is_file():
        raise UsageError(f"--prices {args.prices}: no such file")
    try:
        if clients is None:
            sm, logs, pricing, region = _clients(args.region)
        else:
            (sm, logs, pricing), region = clients, args.region or ""
        report = build_report(
            sm, logs, pricing, args.domain_id, window,
            time.time() if now is None else now, args.prices, region,
        )  # fmt: skip
    except AdminError:
        raise
    except Exception as exc:
        if type(exc).__module__.startswith("botocore"):
            raise aws_failure(exc) from None
        raise
    if args.json:
        print(json_text(report, indent=1), file=out)
    elif args.csv:
        out.write(render_csv(report))
    elif args.html is not None:
        try:
            args.html.write_text(render_html(report), encoding="utf-8")
        except OSError as exc:
            raise AdminError(f"--html {args.html}: cannot write it: {exc.strerror}") from None
        print(f"wrote {args.html}", file=out)
    else:
        out.write(render_table(report))
    out.flush()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``autostop-async report``: one line and exit 1 or 2 on failure, never a traceback."""
    return guarded(run, list(sys.argv[1:] if argv is None else argv),
                   prog="autostop-async report")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
