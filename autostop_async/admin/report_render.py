"""The report's forms for people, all made from the one JSON document ``--json`` prints: a table
for the terminal (the flags first, then the apps, the stops and the totals), CSV of the apps,
and one self-contained HTML page (inline style and SVG chart; it loads nothing).

Every text that came from a log line or a name is escaped for where it goes: control
characters for the terminal and CSV, HTML entities for the page.
"""

from __future__ import annotations

import csv
import html
import io
from typing import Any

from ..durations import format_duration
from ..safe_output import escape

__all__ = ["render_csv", "render_html", "render_table"]

CSV_FIELDS = (
    "space", "owner", "app_name", "status", "instance_type", "created_at", "autostop",
    "idle_seconds", "kept_by", "stops_at", "problem",
)  # fmt: skip


#: The page may load nothing: no script, no remote style, font or image.
_CSP = "default-src 'none'; style-src 'unsafe-inline'"


def _s(value: Any) -> str:
    if value is None:
        return "-"
    return escape(value if isinstance(value, str) else str(value))


def _usd(value: Any) -> str:
    return "n/a" if value is None else f"${value:,.2f}"


def _hours(value: float) -> str:
    return f"{value:,.1f} h"


def _grid(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]  # fmt: skip

    def line(cells: list[str]) -> str:
        return "  " + "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return [line(headers), *(line(r) for r in rows)]


def _app_cells(app: dict[str, Any]) -> list[str]:
    detail = app["kept_by"] if app["autostop"] == "running" else app["problem"]
    holds = [h.get("command") or h.get("id") for h in app.get("holds") or []]
    if holds:
        detail = f"{detail or ''} [holds: {', '.join(_s(h) for h in holds)}]".strip()
    idle = app["idle_seconds"]
    return [
        _s(app["space"]), _s(app["owner"]), _s(app["status"]), _s(app["instance_type"]),
        _s(app["created_at"]), app["autostop"],
        format_duration(idle, compact=True) if isinstance(idle, (int, float)) else "-",
        _s(app["stops_at"]), _s(detail),
    ]  # fmt: skip


def render_table(report: dict[str, Any]) -> str:
    """The report for a terminal."""
    t = report["totals"]
    out = [
        f"autostop-async report: domain {_s(report['domain_id'])} ({_s(report['region'])}), "
        f"{report['generated_at']}, window since {report['since']}",
        "",
        f"NEEDS AN ADMIN ({len(report['flags'])})",
        *(f"  {f}" for f in report["flags"]),
    ]
    if not report["flags"]:
        out.append("  nothing")
    for note in report["notes"]:
        out.append(f"  note: {note}")
    shown = [a for a in report["apps"] if a["status"] != "Deleted"]
    hidden = len(report["apps"]) - len(shown)
    more = f"; {hidden} deleted, in --json" if hidden else ""
    out += ["", f"APPS ({len(shown)} not deleted{more})"]
    out += _grid(
        ["SPACE", "OWNER", "STATUS", "INSTANCE", "RUNNING SINCE", "AUTO-STOP", "IDLE",
         "STOPS AT", "KEPT BY (the daemon's word) / PROBLEM"],
        [_app_cells(a) for a in shown],
    )  # fmt: skip
    out += ["", f"STOPS ({t['stops']}) since {report['since']}"]
    out += _grid(
        ["SPACE", "INSTANCE", "DELETED AT", "OFF UNTIL", "OFF HOURS", "SAVED"],
        [[_s(s["space"]), _s(s["instance_type"]), s["deleted_at"], s["off_until"],
          _hours(s["off_hours"]), _usd(s["saved_usd"])] for s in report["stops"]],
    )  # fmt: skip
    out += ["", "TOTALS"]
    for name, row in t["by_instance_type"].items():
        rate = f" at ${row['usd_per_hour']:g}/h" if row["usd_per_hour"] is not None else ""
        out.append(
            f"  {_s(name)}: stops {row['stops']}, {_hours(row['off_hours'])} off, "
            f"{_usd(row['saved_usd'])} saved{rate}"
        )
    out.append(
        f"  domain: {t['apps']} apps, {t['apps_without_autostop']} without auto-stop, "
        f"{t['stops']} stops, {_hours(t['off_hours'])} off, {_usd(t['saved_usd'])} saved"
    )
    prices = report["prices"]
    out.append(f"  prices: {_s(prices['source'])}, as of {_s(prices['as_of'])}")
    for name, why in prices["missing"].items():
        out.append(f"  no price for {_s(name)}: {_s(why)}")
    untyped = sum(1 for s in report["stops"] if s["instance_type"] is None)
    if untyped:
        out.append(f"  no price for {untyped} stop(s): ListApps gave no instance type")
    out += ["", "Definitions:"]
    out += [f"  {k}: {v}" for k, v in report["definitions"].items()]
    return "\n".join(out) + "\n"


def render_csv(report: dict[str, Any]) -> str:
    """The apps as CSV, one row each (the fields of ``--json``'s apps, holds left out)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for app in report["apps"]:
        writer.writerow(
            [
                "" if app[k] is None else escape(app[k]) if isinstance(app[k], str) else app[k]
                for k in CSV_FIELDS
            ]
        )
    return buf.getvalue()


def _h(value: Any) -> str:
    return html.escape(_s(value), quote=True)


def _chart(days: list[dict[str, Any]]) -> str:
    """An inline SVG bar chart: off-hours per day (bars) and dollars per day (labels)."""
    if not days:
        return "<p>No stops in the window: nothing to chart.</p>"
    width, height, pad = max(320, 44 * len(days) + 60), 220, 40
    top = max(d["off_hours"] for d in days) or 1.0
    bar = (width - 2 * pad) / len(days)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-label="off-hours and dollars saved per day">',
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        'stroke="#444"/>',
    ]
    for i, d in enumerate(days):
        h = (height - 2 * pad - 20) * d["off_hours"] / top
        x = pad + i * bar + 4
        y = height - pad - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar - 8:.1f}" height="{h:.1f}" '
            f'fill="#3b7dd8"><title>{_h(d["day"])}: {d["off_hours"]:.2f} h off, '
            f"{_h(_usd(d['saved_usd']))}</title></rect>"
        )
        parts.append(
            f'<text x="{x + (bar - 8) / 2:.1f}" y="{y - 4:.1f}" font-size="10" '
            f'text-anchor="middle">{d["off_hours"]:.1f} h · {_h(_usd(d["saved_usd"]))}</text>'
        )
        parts.append(
            f'<text x="{x + (bar - 8) / 2:.1f}" y="{height - pad + 14}" font-size="10" '
            f'text-anchor="middle">{_h(d["day"][5:])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: dict[str, Any]) -> str:
    """One page, no network: the flags, the apps, the stops, the totals and the chart."""
    t = report["totals"]

    def table(headers: list[str], rows: list[list[Any]], ident: str) -> str:
        head = "".join(f"<th>{_h(h)}</th>" for h in headers)
        body = "".join("<tr>" + "".join(f"<td>{_h(c)}</td>" for c in r) + "</tr>" for r in rows)
        return f'<table id="{ident}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'

    flags = "".join(f"<li>{_h(f)}</li>" for f in report["flags"]) or "<li>nothing</li>"
    notes = "".join(f"<li>{_h(n)}</li>" for n in report["notes"])
    apps = table(
        ["space", "owner", "status", "instance", "running since", "auto-stop", "idle",
         "stops at", "kept by (the daemon's word) / problem"],
        [_app_cells(a) for a in report["apps"]],
        "apps",
    )  # fmt: skip
    stops = table(
        ["space", "instance", "deleted at", "off until", "off hours", "saved"],
        [[s["space"], s["instance_type"], s["deleted_at"], s["off_until"],
          _hours(s["off_hours"]), _usd(s["saved_usd"])] for s in report["stops"]],
        "stops",
    )  # fmt: skip
    definitions = "".join(
        f"<dt>{_h(k)}</dt><dd>{_h(v)}</dd>" for k, v in report["definitions"].items()
    )
    title = f"autostop-async report: {_h(report['domain_id'])}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: left; font-size: 14px; }}
th {{ background: #f2f2f2; }}
.flags li {{ color: #a40000; }}
</style></head><body>
<h1>{title}</h1>
<p>Region <span id="region">{_h(report["region"])}</span>; generated {_h(report["generated_at"])};
window since {_h(report["since"])}.</p>
<h2>Needs an admin ({len(report["flags"])})</h2><ul class="flags" id="flags">{flags}</ul>
{f'<ul id="notes">{notes}</ul>' if notes else ""}
<h2>Totals</h2>
<p id="totals">apps: <span id="total-apps">{t["apps"]}</span>;
without auto-stop: <span id="total-without">{t["apps_without_autostop"]}</span>;
stops: <span id="total-stops">{t["stops"]}</span>;
off-hours: <span id="total-off-hours">{t["off_hours"]:.2f}</span>;
saved: <span id="total-saved">{_h(_usd(t["saved_usd"]))}</span>
(prices: {_h(report["prices"]["source"])}, as of {_h(report["prices"]["as_of"])})</p>
<h2>Off-hours and dollars saved per day</h2>
{_chart(report["per_day"])}
<h2>Apps</h2>{apps}
<h2>Stops</h2>{stops}
<h2>Definitions</h2><dl>{definitions}</dl>
</body></html>
"""
