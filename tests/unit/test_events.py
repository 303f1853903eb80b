"""The machine-readable log lines: what the daemon writes, the report reads back; a hostile
line is refused with a reason, never an exception."""

from __future__ import annotations

import pytest

from autostop_async.events import MARKER, MAX_LINE, BadEvent, encode, parse


def test_an_encoded_line_parses_back_inside_a_log_line() -> None:
    message = encode("state", "2026-12-07T10:00:00Z", {"idle_seconds": 12.5, "kept_by": "x\n"})
    line = f"2026-12-07T10:00:00Z autostop-async[42] INFO {message}"
    assert "\n" not in message
    event = parse(line)
    assert event == {
        "schema": 1,
        "event": "state",
        "time": "2026-12-07T10:00:00Z",
        "idle_seconds": 12.5,
        "kept_by": "x\n",
    }


def test_a_line_without_the_marker_is_not_an_event() -> None:
    assert parse("2026-12-07T10:00:00Z autostop-async lcc: ERROR: install failed") is None


@pytest.mark.parametrize(
    "tail",
    [
        "not json",
        "[1, 2]",
        '{"schema": 1.0, "event": "stop", "time": "t"}',
        '{"schema": "1", "event": "stop", "time": "t"}',
        '{"schema": true, "event": "stop", "time": "t"}',
        '{"schema": 2, "event": "stop", "time": "t"}',
        '{"schema": 1, "event": "explode", "time": "t"}',
        '{"schema": 1, "event": "stop"}',
        '{"schema": 1, "event": "stop", "time": "t", "pid": "1"}',
        '{"schema": 1, "event": "stop", "time": "t", "idle": NaN}',
        "[" * 100_000,
        '{"schema": 1, "event": "stop", "time": "t", "app": "' + "a" * MAX_LINE + '"}',
    ],
)
def test_a_hostile_line_is_refused_with_a_reason(tail: str) -> None:
    with pytest.raises(BadEvent):
        parse(f"x {MARKER} {tail}")


def test_unknown_events_cannot_be_written() -> None:
    with pytest.raises(ValueError, match="unknown event"):
        encode("explode", "t")
