"""The test helper that ships a log file as Studio does: each line timed by its own leading
time, in batches PutLogEvents accepts."""

from __future__ import annotations

from tests.support.studio_logs import (
    EVENT_OVERHEAD,
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    batches,
    line_time_ms,
    timed_lines,
)

T = 1_796_604_800_000  # 2026-12-07T00:53:20Z in milliseconds


def test_a_lines_time_is_its_leading_iso_time() -> None:
    assert line_time_ms("2026-12-07T00:53:20Z autostop-async[1] INFO x") == T
    assert line_time_ms("2026-12-07T00:53:20.250Z x") == T + 250
    assert line_time_ms("2026-12-07T01:53:20+01:00 x") == T
    assert line_time_ms("Traceback (most recent call last):") is None
    assert line_time_ms("2026-12-07 00:53:20 x") is None


def test_lines_without_a_time_take_the_one_before_and_time_never_runs_back() -> None:
    lines = [
        "a line before any time",
        "2026-12-07T00:53:20Z first",
        "",
        "  continued",
        "2026-12-07T00:53:10Z a clock set back",
        "2026-12-07T00:53:30Z later",
    ]
    assert timed_lines(lines) == [
        (T, "a line before any time"),
        (T, "2026-12-07T00:53:20Z first"),
        (T, "  continued"),
        (T, "2026-12-07T00:53:10Z a clock set back"),
        (T + 10_000, "2026-12-07T00:53:30Z later"),
    ]


def test_batches_stay_within_put_log_events_limits() -> None:
    many = [(T + i, "x") for i in range(MAX_BATCH_EVENTS + 5)]
    assert [len(b) for b in batches(many)] == [MAX_BATCH_EVENTS, 5]
    big = "y" * 300_000
    sizes = [sum(len(m) + EVENT_OVERHEAD for _, m in b) for b in batches([(T, big)] * 7)]
    assert sizes and all(s <= MAX_BATCH_BYTES for s in sizes) and len(sizes) == 3
    day = 24 * 3600 * 1000
    assert [len(b) for b in batches([(T, "a"), (T + day, "b"), (T + day + 1, "c")])] == [2, 1]
