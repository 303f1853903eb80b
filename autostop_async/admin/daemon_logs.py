"""The daemon's machine-readable lines of a domain, read from CloudWatch Logs (read calls only).

Studio ships each app's ``/var/log/apps/app_container.log`` and its LCC's output to the log
group ``/aws/sagemaker/studio``: the app's stream is ``DOMAIN/SPACE/CodeEditor/APP`` (the
pattern of AWS's Studio administration whitepaper, "Logging and monitoring"), the LCC's
``DOMAIN/SPACE/CodeEditor/APP/LifecycleConfigOnStart`` (AWS developer guide, "Debug lifecycle
configurations in Studio"). ``FilterLogEvents`` over the prefix ``DOMAIN/``, the time window and
the event marker reads both kinds for every space at once (the window in day slices read side by
side, each paginated); lines are taken only through :func:`autostop_async.events.parse`, never
prose.

Each line is the app user's to write too. A line is skipped, and counted by reason, when it is
not a valid event, names another domain, space or app than its stream, or carries a time that
is not ISO-8601 UTC or is more than :data:`MAX_SKEW` away from when CloudWatch got it.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .. import events

__all__ = [
    "APP_TYPE",
    "LOG_GROUP",
    "MAX_SKEW",
    "Event",
    "LogRead",
    "parse_time",
    "read_events",
    "stream_parts",
]

LOG_GROUP = "/aws/sagemaker/studio"
APP_TYPE = "CodeEditor"
LCC_SUFFIX = "LifecycleConfigOnStart"
#: A line whose own time is further than this from CloudWatch's time for it is not believed.
MAX_SKEW = 3600.0
ACTION = "logs:FilterLogEvents"
#: The window is read in slices of at least this many seconds, at most MAX_SLICES of them,
#: SLICE_WORKERS at a time.
SLICE, MAX_SLICES, SLICE_WORKERS = 86400.0, 64, 8


@dataclass(frozen=True)
class Event:
    """One of the daemon's (or the LCC's) event lines, as its stream and the line say."""

    at: float  # epoch seconds, the line's own time
    kind: str  # one of events.EVENTS
    body: dict[str, Any]
    from_lcc: bool  # read from the LCC's stream


@dataclass
class LogRead:
    """What the read found: events by (space, app name), oldest first, and what it could not."""

    events: dict[tuple[str, str], list[Event]] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)
    denied: str | None = None  # the action refused, when it was
    problem: str | None = None  # why nothing could be read (not a denial)
    note: str | None = None  # something to know that did not stop the read
    calls: int = 0

    @property
    def readable(self) -> bool:
        """The logs could be read (an empty or missing log group counts as read)."""
        return self.denied is None and self.problem is None


def parse_time(text: Any) -> float | None:
    """ISO-8601 with a UTC offset (``Z`` or ``+00:00``) as epoch seconds; None otherwise."""
    if not isinstance(text, str) or len(text) > 40:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None or when.utcoffset() != dt.timedelta(0):
        return None
    return when.timestamp()


def stream_parts(domain_id: str, stream: str) -> tuple[str, str, bool] | None:
    """``(space, app name, from the LCC)`` of a Code Editor stream of ``domain_id``; None for
    any other stream (another app type, another domain, another shape)."""
    parts = stream.split("/")
    if len(parts) == 5 and parts[4] == LCC_SUFFIX:
        lcc = True
    elif len(parts) == 4:
        lcc = False
    else:
        return None
    if parts[0] != domain_id or parts[2] != APP_TYPE or not parts[1] or not parts[3]:
        return None
    return parts[1], parts[3], lcc


def accept(
    domain_id: str, space: str, app_name: str, lcc: bool, message: str, logged_at: float
) -> Event | str | None:
    """The event of one line of the stream of ``space``/``app_name``; a reason (str) to skip
    it; None when it is not an event line at all."""
    try:
        body = events.parse(message)
    except events.BadEvent as exc:
        return str(exc)
    if body is None:
        return None
    at = parse_time(body.get("time"))
    if at is None:
        return "time is not ISO-8601 UTC"
    if abs(at - logged_at) > MAX_SKEW:
        return "time far from when CloudWatch got the line"
    for key, want in (("domain", domain_id), ("space", space), ("app_name", app_name)):
        if key in body and body[key] != want:
            return f"names another {key} than its stream"
    return Event(at, str(body["event"]), body, lcc)


def read_events(logs: Any, domain_id: str, start: float, end: float) -> LogRead:
    """Every event line of the domain's Code Editor streams between ``start`` and ``end``
    (epoch seconds); an AccessDenied or other failure is kept, not raised.

    The window is read in slices of a day or more (at most :data:`MAX_SLICES`), side by side,
    each paginated: a month of a large domain is many pages, and pages of one query come one
    after the other."""
    end += 0.001  # the last slice holds ``end`` itself
    width = max(SLICE, (end - start) / MAX_SLICES)
    bounds = []
    at = start
    while at < end:
        bounds.append((at, min(end, at + width)))
        at += width
    with ThreadPoolExecutor(max_workers=SLICE_WORKERS) as pool:
        parts = list(pool.map(lambda b: _read_slice(logs, domain_id, *b), bounds or [(start, end)]))
    found = LogRead()
    for part in parts:
        for key, lines in part.events.items():
            found.events.setdefault(key, []).extend(lines)
        found.skipped.update(part.skipped)
        found.calls += part.calls
        found.denied = found.denied or part.denied
        found.problem = found.problem or part.problem
        found.note = found.note or part.note
    for lines in found.events.values():
        lines.sort(key=lambda e: e.at)
    return found


def _read_slice(logs: Any, domain_id: str, start: float, end: float) -> LogRead:
    """One slice of the window, ``[start, end)`` in whole milliseconds, paginated."""
    found = LogRead()
    kwargs: dict[str, Any] = {
        "logGroupName": LOG_GROUP,
        "logStreamNamePrefix": f"{domain_id}/",
        "startTime": max(0, int(start * 1000)),
        "endTime": max(0, int(end * 1000) - 1),  # endTime is inclusive; the next slice starts
        "filterPattern": f'"{events.MARKER}"',
    }
    seen_tokens: set[str] = set()
    while True:
        try:
            page = logs.filter_log_events(**kwargs)
        except Exception as exc:
            _failed(found, exc)
            break
        found.calls += 1
        for item in page.get("events") or []:
            _take(found, domain_id, item)
        token = page.get("nextToken")
        if not token or token in seen_tokens:
            break
        seen_tokens.add(token)
        kwargs["nextToken"] = token
    return found


def _take(found: LogRead, domain_id: str, item: Any) -> None:
    if not isinstance(item, dict):
        return
    where = stream_parts(domain_id, str(item.get("logStreamName") or ""))
    message = item.get("message")
    if where is None or not isinstance(message, str):
        return
    space, app_name, lcc = where
    logged = item.get("timestamp")
    logged_at = logged / 1000 if isinstance(logged, (int, float)) else 0.0
    got = accept(domain_id, space, app_name, lcc, message, logged_at)
    if isinstance(got, Event):
        found.events.setdefault((space, app_name), []).append(got)
    elif got is not None:
        found.skipped[got] += 1


_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}


def _failed(found: LogRead, exc: Exception) -> None:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        found.problem = f"{ACTION} failed: {type(exc).__name__}: {exc}"
        return
    error = response.get("Error") or {}
    code = str(error.get("Code", ""))
    if code in _DENIED:
        found.denied = ACTION
    elif code == "ResourceNotFoundException":
        found.note = f"log group {LOG_GROUP} does not exist: no Studio app has logged yet"
    else:
        found.problem = f"{ACTION} failed: {code}: {error.get('Message', '')}"
