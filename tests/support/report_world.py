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

__all__ = ["LOG_GROUP", "event_line", "put_lines", "stream_name"]

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
