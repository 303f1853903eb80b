"""Ship a log file into CloudWatch Logs (moto's, in tests) as Studio does for each app.

Studio sends each app's ``/var/log/apps/app_container.log`` to the log group
``/aws/sagemaker/studio``, stream ``DOMAIN/SPACE/CodeEditor/default``, and the lifecycle
configuration's output to ``DOMAIN/SPACE/CodeEditor/default/LifecycleConfigOnStart`` (AWS, "Debug
lifecycle configurations in Studio"). :func:`ship` puts a file's lines there: one event per
non-empty line, timed by the line's leading ISO-8601 time (a line without one takes the time of
the line before; the first ones, of the first line that has one), in ``PutLogEvents`` batches
within the service's limits (10,000 events, 1,048,576 bytes counting 26 per event, 24 hours, in
time order: a time earlier than the one before is raised to it).
"""

from __future__ import annotations

import calendar
import contextlib
import re
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "APP_STREAM",
    "GROUP",
    "LCC_STREAM",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_EVENTS",
    "batches",
    "line_time_ms",
    "logs_client",
    "read_stream",
    "ship",
    "ship_lines",
    "timed_lines",
]

GROUP = "/aws/sagemaker/studio"
#: The app's stream, and its lifecycle configuration's (``.format(domain=..., space=...)``).
APP_STREAM = "{domain}/{space}/CodeEditor/default"
LCC_STREAM = APP_STREAM + "/LifecycleConfigOnStart"
MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD = 26
MAX_BATCH_SPAN_MS = 24 * 3600 * 1000
#: The largest event message (the service's is 256 KiB); longer lines are cut.
MAX_EVENT_BYTES = 256 * 1024 - EVENT_OVERHEAD

_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)?(?=\s|$)")


def line_time_ms(line: str) -> int | None:
    """The epoch milliseconds of the ISO-8601 time a line starts with (UTC unless it says
    otherwise); None when it starts with none."""
    m = _TIME.match(line)
    if m is None:
        return None
    seconds = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
    fraction = float(m.group(2)) if m.group(2) else 0.0
    zone = m.group(3) or "Z"
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        seconds -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return round((seconds + fraction) * 1000)


def timed_lines(lines: Iterable[str], default_ms: int | None = None) -> list[tuple[int, str]]:
    """``(timestamp ms, message)`` of each non-empty line, in time order (see the module)."""
    texts = [line.rstrip("\r\n") for line in lines]
    texts = [t for t in texts if t.strip()]
    times = [line_time_ms(t) for t in texts]
    known = [t for t in times if t is not None]
    if known:
        previous = known[0]
    elif default_ms is not None:
        previous = default_ms
    else:
        previous = int(time.time() * 1000)
    out = []
    for text, at in zip(texts, times, strict=True):
        previous = max(previous, at if at is not None else previous)
        out.append((previous, _cut(text)))
    return out


def _cut(text: str) -> str:
    data = text.encode("utf-8", "backslashreplace")
    if len(data) <= MAX_EVENT_BYTES:
        return text
    return data[:MAX_EVENT_BYTES].decode("utf-8", "ignore")


def batches(events: list[tuple[int, str]]) -> Iterator[list[tuple[int, str]]]:
    """``events`` in groups that one ``PutLogEvents`` call accepts."""
    batch: list[tuple[int, str]] = []
    size = 0
    for at, message in events:
        cost = len(message.encode("utf-8", "backslashreplace")) + EVENT_OVERHEAD
        if batch and (
            len(batch) >= MAX_BATCH_EVENTS
            or size + cost > MAX_BATCH_BYTES
            or at - batch[0][0] > MAX_BATCH_SPAN_MS
        ):
            yield batch
            batch, size = [], 0
        batch.append((at, message))
        size += cost
    if batch:
        yield batch


def ship_lines(lines: Iterable[str], logs_client: Any, *, group: str = GROUP, stream: str) -> int:
    """Put ``lines`` into ``group``/``stream`` (both created when absent); the events put."""
    _ensure(logs_client, group, stream)
    events = timed_lines(lines)
    for batch in batches(events):
        logs_client.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[{"timestamp": at, "message": message} for at, message in batch],
        )
    return len(events)


def ship(
    log_file: Path,
    logs_client: Any,
    group: str = GROUP,
    stream: str = "DOMAIN/SPACE/CodeEditor/default",
) -> int:
    """Put ``log_file``'s lines into ``group``/``stream`` as Studio would; the events put."""
    text = log_file.read_text(encoding="utf-8", errors="backslashreplace")
    return ship_lines(text.splitlines(), logs_client, group=group, stream=stream)


def _ensure(client: Any, group: str, stream: str) -> None:
    errors = client.exceptions.ResourceAlreadyExistsException
    with contextlib.suppress(errors):
        client.create_log_group(logGroupName=group)
    with contextlib.suppress(errors):
        client.create_log_stream(logGroupName=group, logStreamName=stream)


def read_stream(
    logs_client: Any, stream: str, *, group: str = GROUP, limit: int = 100
) -> list[str]:
    """Every message of ``stream``, oldest first, through ``FilterLogEvents`` page by page
    (``limit`` events a page), as a reader of the whole domain would."""
    messages: list[str] = []
    kwargs: dict[str, Any] = {"logGroupName": group, "logStreamNames": [stream], "limit": limit}
    while True:
        page = logs_client.filter_log_events(**kwargs)
        messages += [e["message"] for e in page.get("events", [])]
        token = page.get("nextToken")
        if not token:
            return messages
        kwargs["nextToken"] = token


def logs_client(endpoint_url: str, region: str = "us-east-1") -> Any:
    """A CloudWatch Logs client of the fake endpoint (moto's server), with dummy keys."""
    import boto3

    return boto3.client(
        "logs",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
