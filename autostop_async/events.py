"""The daemon's machine-readable log lines: what ``autostop-async report`` reads, never prose.

Next to its line for people, the daemon writes one line a program can parse at each moment an
administrator cares about: its start, a change in what it would say (:data:`STATE`), a hold taken
or ended, a warning, a stop, its end. The LCC writes one when the install fails. The line, in
``/var/log/apps/app_container.log`` (which Studio ships to CloudWatch Logs), is::

    <time> autostop-async[<pid>] INFO autostop-async-event {"schema": 1, "event": "state", ...}

that is, the fixed :data:`MARKER`, one space, one JSON object (ASCII only, no newline) that holds
at least ``schema`` (:data:`SCHEMA`), ``event`` (one of :data:`EVENTS`) and ``time`` (ISO-8601
UTC). Everything else is optional: a reader takes the fields it knows and ignores the rest.

Fields by event (all optional, times ISO-8601 UTC, durations in seconds):

- every event: ``app`` (the app ARN), ``domain``, ``space``, ``app_name``, ``version``, ``pid``
  (the daemon writes ``pid`` on every line; the app's identity on ``start`` and ``stop``; a
  private space's app adds ``user_profile``);
- ``start``: ``idle_time``, ``dry_run``, ``settings`` (the daemon's flags that differ from the
  defaults, as ``{"--flag": "value"}``), ``once`` (true: a ``--once`` check, which ends at once);
- ``state``: ``idle_seconds``, ``last_activity``, ``kept_by`` (the source that keeps the app, or
  what keeps it: a keepalive, a hold), ``stops_at`` (null: no stop scheduled), ``holds`` (a list of
  ``{"id", "command", "until"}``), ``keepalive_until``; also ``kept_by_kind`` (``"activity"``,
  ``"job"``, ``"hold-file"``, ``"keepalive"``, ``"inconclusive"``, ``"delete-failed"``; absent:
  nothing keeps the app, it stops at ``stops_at``), ``last_source`` (where the newest activity was
  seen), ``holds_more`` (holds not listed);
- ``hold``: ``action`` (``"start"`` | ``"end"``), ``id``, ``command``, ``until``; also ``by`` and
  ``since`` (start), ``how`` and ``ended_at`` (end: ``"exit 0"``, ``"killed by signal 9"``,
  ``"capped"``, ``"removed"``);
- ``warning``: ``stops_at``;
- ``stop``: ``result`` (``"deleted"`` | ``"already-gone"`` | ``"would-delete"``), ``idle_seconds``,
  ``last_activity``; also ``last_source``;
- ``end``: ``reason`` (``"deleted"``, ``"signal"``, ``"error"``, ``"once"``);
- ``install-failed`` (the LCC's: ``lcc/on-start.sh``, its supervisor, and the built-in LCC's
  loader): ``reason``, the message of its ``ERROR:`` line (printable ASCII, no quotes).

What a line says, the app's user can also write: a reader trusts a line only as the daemon's word
and checks what it can elsewhere (the report checks a stop against the SageMaker API).
:func:`parse` is strict: a line longer than :data:`MAX_LINE`, JSON that is not an object, another
schema version (a forged ``"schema": 1.0`` or ``"1"`` included), an unknown event, or a common field
of the wrong type is refused with the reason, never an exception.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .safe_output import json_text

__all__ = [
    "EVENTS",
    "MARKER",
    "MAX_LINE",
    "SCHEMA",
    "BadEvent",
    "encode",
    "parse",
]

MARKER = "autostop-async-event"
SCHEMA = 1
#: Longer lines are refused unread (a hostile line cannot cost a reader memory or time).
MAX_LINE = 16_384
START, STATE, HOLD, WARNING, STOP, END, INSTALL_FAILED = (
    "start",
    "state",
    "hold",
    "warning",
    "stop",
    "end",
    "install-failed",
)
EVENTS = frozenset({START, STATE, HOLD, WARNING, STOP, END, INSTALL_FAILED})

#: Fields every event may carry, with the JSON type each must have when present.
_COMMON_TYPES: dict[str, type | tuple[type, ...]] = {
    "app": str,
    "domain": str,
    "space": str,
    "app_name": str,
    "version": str,
    "pid": int,
}


class BadEvent(ValueError):
    """A line that holds the marker but is not a valid event; the message says why."""


def encode(event: str, time: str, fields: Mapping[str, Any] | None = None) -> str:
    """The message of one event line: the marker, a space, the JSON object (ASCII, one line).

    ``event`` must be one of :data:`EVENTS`; ``time`` is ISO-8601 UTC; ``fields`` (JSON values)
    are added as they are, ``None`` values left out.
    """
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}")
    body: dict[str, Any] = {"schema": SCHEMA, "event": event, "time": time}
    for key, value in (fields or {}).items():
        if value is not None and key not in body:
            body[key] = value
    return f"{MARKER} {json_text(body, separators=(',', ':'))}"


def parse(line: str) -> dict[str, Any] | None:
    """The event a log line holds; ``None`` when the line has no marker (not an event line).

    Raises :class:`BadEvent` (with the reason) for a line that has the marker but is too long,
    not JSON, not an object, of another schema, of an unknown event, or whose common fields have
    the wrong types.
    """
    at = line.find(MARKER + " ")
    if at < 0:
        return None
    if len(line) > MAX_LINE:
        raise BadEvent(f"longer than {MAX_LINE} characters")
    text = line[at + len(MARKER) + 1 :].strip()
    try:
        body = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise BadEvent(f"not JSON: {type(exc).__name__}") from None
    if not isinstance(body, dict):
        raise BadEvent("not a JSON object")
    schema = body.get("schema")
    if type(schema) is not int or schema != SCHEMA:  # bool and float are not int here
        raise BadEvent("unknown schema version")
    if body.get("event") not in EVENTS:
        raise BadEvent("unknown event")
    if not isinstance(body.get("time"), str):
        raise BadEvent("no time")
    for key, kind in _COMMON_TYPES.items():
        if key in body and (not isinstance(body[key], kind) or isinstance(body[key], bool)):
            raise BadEvent(f"field {key} has the wrong type")
    return body


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
