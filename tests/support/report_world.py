"""A domain for ``autostop-async report`` to read, in the fakes: spaces and apps in the fake
SageMaker, event lines (made with :func:`autostop_async.events.encode`, as the daemon writes
them) in moto's CloudWatch Logs, prices in the fake Price List.

moto's ``PutLogEvents`` refuses events older than 14 days, as AWS does; a report reads up to 30
days back, so :func:`put_lines` appends to moto's log stream in this process directly (the
server runs here), after creating the group and stream through the API.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Mapping
from typing import Any

from autostop_async import events
from autostop_async.times import utc_iso

__all__ = ["LOG_GROUP", "event_line", "iso", "now", "put_lines", "seed_done_when", "stream_name"]

LOG_GROUP = "/aws/sagemaker/studio"
ACCOUNT = "123456789012"


def stream_name(domain_id: str, space: str, *, lcc: bool = False, app_name: str = "default") -> str:
    """The app's stream (or its LCC's) in ``/aws/sagemaker/studio``."""
    name = f"{domain_id}/{space}/CodeEditor/{app_name}"
    return f"{name}/LifecycleConfigOnStart" if lcc else name


def event_line(at: float, event: str, fields: Mapping[str, Any] | None = None) -> str:
    """One line as the daemon writes it to app_container.log: time, name, level, the event."""
    return f"{utc_iso(at)} autostop-async[4242] INFO {events.encode(event, utc_iso(at), fields)}"


def put_lines(
    logs: Any, stream: str, lines: Iterable[tuple[float, str]], region: str = "us-east-1"
) -> None:
    """Append ``(epoch, message)`` lines to ``stream`` of the Studio log group in moto."""
    from moto.logs.models import logs_backends

    for create in (
        lambda: logs.create_log_group(logGroupName=LOG_GROUP),
        lambda: logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream),
    ):
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            create()
    group = logs_backends[ACCOUNT][region].groups[LOG_GROUP]
    ordered = sorted(lines, key=lambda item: item[0])
    if ordered:
        group.put_log_events(
            stream,
            [{"timestamp": int(at * 1000), "message": message} for at, message in ordered],
        )


def now() -> float:
    """Now, to the second (the report's times are to the second)."""
    return float(int(time.time()))


def lines(logs: Any, domain: str, space: str, *items: tuple[float, str, dict[str, Any]]) -> None:
    """Event lines of the app of `space`, each naming its space, into its stream."""
    put_lines(
        logs,
        stream_name(domain, space),
        [(at, event_line(at, ev, {"space": space, **f})) for at, ev, f in items],
    )


def seed_done_when(fake: Any, logs: Any, domain: str, now: float) -> None:
    """One app without auto-stop, one kept by a job, two stopped yesterday (domain seeded)."""
    DOMAIN, NOW, H = domain, now, 3600.0
    for space, owner in (("no-auto", "alice"), ("job-space", None), ("stop-a", "bob"),
                         ("stop-b", None)):  # fmt: skip
        if owner:
            fake.add_user_profile(DOMAIN, owner)
        fake.add_space(DOMAIN, space, owner=owner)
    add = fake.add_app
    add(DOMAIN, space_name="no-auto", created=NOW - 3 * H, instance_type="ml.t3.medium")
    prose = "ERROR: install from s3://x failed; the app will NOT stop by itself"
    put_lines(logs, stream_name(DOMAIN, "no-auto", lcc=True), [(NOW - 3 * H + 30, prose)])
    add(DOMAIN, space_name="job-space", created=NOW - 2 * H, instance_type="ml.m5.large")
    hold = {"id": "job-1", "command": "python train.py", "until": None}
    lines(
        logs, DOMAIN, "job-space",
        (NOW - 2 * H + 60, "start", {"version": "0.1.0", "idle_time": 3600}),
        (NOW - 1.5 * H, "hold", {"action": "start", **hold}),
        (NOW - 1.5 * H, "state", {"idle_seconds": 0, "kept_by": "job: python train.py",
                                   "stops_at": None, "holds": [hold]}),
    )  # fmt: skip
    add(DOMAIN, space_name="stop-a", created=NOW - 40 * H, instance_type="ml.t3.medium",
        status="Deleted")  # fmt: skip
    lines(
        logs, DOMAIN, "stop-a",
        (NOW - 40 * H + 60, "start", {"version": "0.1.0", "idle_time": 3600}),
        (NOW - 26 * H, "stop", {"result": "deleted", "idle_seconds": 3600,
                                 "last_activity": iso(NOW - 27 * H)}),
        (NOW - 26 * H + 1, "end", {"reason": "deleted"}),
    )  # fmt: skip
    add(DOMAIN, space_name="stop-b", created=NOW - 30 * H, instance_type="ml.m5.large",
        status="Deleted")  # fmt: skip
    add(DOMAIN, space_name="stop-b", created=NOW - 4 * H, instance_type="ml.m5.large")
    lines(
        logs, DOMAIN, "stop-b",
        (NOW - 30 * H + 60, "start", {"version": "0.1.0", "idle_time": 3600}),
        (NOW - 20 * H, "stop", {"result": "deleted", "idle_seconds": 3600}),
        (NOW - 20 * H + 1, "end", {"reason": "deleted"}),
        (NOW - 4 * H + 60, "start", {"version": "0.1.0", "idle_time": 3600}),
        (NOW - 600, "state", {"idle_seconds": 600, "kept_by": "workspace:/home/x.py",
                              "stops_at": iso(NOW + 3000)}),
    )  # fmt: skip


def iso(at: float) -> str:
    """Epoch seconds as the report writes times."""
    return utc_iso(at)
