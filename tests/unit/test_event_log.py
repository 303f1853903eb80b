"""The daemon's event lines (event_log.EventLog), read back with events.parse as ``report`` does:
written at each change of what the daemon would say, never at every poll; bounded; one line each.
The daemon runs in virtual time, so hours of use pass in milliseconds."""

from __future__ import annotations

import asyncio
import calendar
import itertools
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from autostop_async.activity import Activity
from autostop_async.daemon import Daemon
from autostop_async.errors import DeleteAppError
from autostop_async.event_log import MAX_TEXT, changed_settings
from autostop_async.events import MAX_LINE, parse
from autostop_async.holds import HoldsView, JobEnd, JobHold, Keepalive
from autostop_async.logs import setup_logging
from autostop_async.processes import ProcessId
from autostop_async.sagemaker import AppRef, DeleteOutcome
from autostop_async.signals.base import SignalBase
from autostop_async.times import utc_iso
from tests.support.doubles import (
    APP,
    Clock,
    Deleter,
    FakeSignal,
    VirtualTime,
    make_config,
    make_daemon,
)
from tests.support.report_scenario import lcc_says

T0 = 1_800_000_000.0
HOUR = 3600.0
ARN = "arn:aws:sagemaker:us-east-1:123456789012:app/d-abc/s1/codeeditor/default"


def events(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The event lines logged so far, parsed as the report parses them."""
    parsed = [parse(r.getMessage()) for r in caplog.records]
    return [e for e in parsed if e is not None]


def named(found: list[dict[str, Any]], *kinds: str) -> list[dict[str, Any]]:
    return [e for e in found if e["event"] in kinds]


class Typing(SignalBase):
    """A cheap signal: someone at the keyboard every minute until ``until``."""

    name = "editor"
    cheap = True

    def __init__(self, clock: VirtualTime, until: float, source: str = "editor:heartbeat") -> None:
        self.vt, self.until, self.source = clock, until, source

    async def newer_than(self, t: float) -> Activity | None:
        at = min(self.vt.now, self.until)
        return Activity(at, self.source) if at > t else None

    async def aclose(self) -> None:
        pass


@dataclass
class StubHolds:
    """The holds folder as the daemon reads it, scripted: ``views`` by time (the last stands)."""

    vt: VirtualTime
    views: list[tuple[float, HoldsView]]
    max_keepalive: float = 12 * HOUR
    handed: set[float] = field(default_factory=set)

    async def aread(self) -> HoldsView:
        at, view = max((v for v in self.views if v[0] <= self.vt.now), key=lambda v: v[0])
        if at in self.handed:  # ends are handed over once
            return HoldsView(live=view.live, unusable=view.unusable)
        self.handed.add(at)
        return view

    async def asettle(self) -> None:
        pass


@dataclass
class StubKeepalive:
    """The keepalive file, scripted: ``(from, keepalive or None)``, the last that began stands."""

    vt: VirtualTime
    script: list[tuple[float, Keepalive | None]]
    max_keepalive: float = 12 * HOUR

    async def aread(self) -> Keepalive | None:
        return max((s for s in self.script if s[0] <= self.vt.now), key=lambda s: s[0])[1]


def job(pid: int, since: float, command: str = "python train.py") -> JobHold:
    process = ProcessId(pid, int(since * 100), 0)  # started at ``since`` (100 ticks a second)
    return JobHold(f"{pid}-1.json", process, command, "sagemaker-user", since)


async def run(daemon: Daemon, vt: VirtualTime, stop_at: float | None = None) -> int:
    """The daemon's run as the command runs it (its start line first), in virtual time."""
    if stop_at is not None:
        sleep = vt.sleep

        async def sleep_then_stop(seconds: float) -> None:
            if vt.now >= stop_at:
                daemon.request_stop()
            await sleep(seconds)

        daemon.sleep = sleep_then_stop
    daemon.events.start()
    return await asyncio.wait_for(daemon.events.around(daemon.run()), timeout=20)


@pytest.fixture(autouse=True)
def info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="autostop_async")


async def test_an_idle_app_tells_its_story_start_state_stop_end(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    vt = VirtualTime(T0)
    cfg = make_config(tmp_path, once=False, idle_time=HOUR, interval=60.0)
    app = AppRef("d-abc", "CodeEditor", "default", space_name="s1", arn=ARN)
    deleter = Deleter(DeleteOutcome.DELETED, clock=vt.clock)
    d = make_daemon(cfg, [FakeSignal("workspace")], app, deleter, **vt.daemon_kw())
    assert await run(d, vt) == 0
    found = events(caplog)
    assert [e["event"] for e in found] == ["start", "state", "stop", "end"]
    start, state, stop, end = found
    assert start["app"] == ARN and start["space"] == "s1" and start["domain"] == "d-abc"
    assert start["idle_time"] == HOUR and start["dry_run"] is False
    assert start["settings"] == {"--state-dir": str(tmp_path / "state")}  # interval: default
    assert state["stops_at"] == utc_iso(T0 + HOUR) and state["kept_by_kind"] == "activity"
    assert stop["result"] == "deleted" and stop["idle_seconds"] == HOUR
    assert stop["time"] == utc_iso(T0 + HOUR) and stop["app"] == ARN
    assert end["reason"] == "deleted"
    assert {e["pid"] for e in found} == {d.events.pid}


async def test_a_day_of_typing_writes_a_state_line_per_idle_time_not_per_poll(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    vt = VirtualTime(T0)
    cfg = make_config(tmp_path, once=False, idle_time=HOUR, interval=60.0)
    typing = Typing(vt, until=T0 + 8 * HOUR)
    deleter = Deleter(DeleteOutcome.DELETED, clock=vt.clock)
    d = make_daemon(cfg, [typing, FakeSignal("workspace")], APP, deleter, **vt.daemon_kw())
    assert await run(d, vt) == 0
    states = named(events(caplog), "state")
    assert len(vt.slept) > 400  # a poll a minute for 9 hours
    assert 8 <= len(states) <= 11, [s["time"] for s in states]
    # Each line says when the app stops; the next comes at the latest a poll after that time.
    for before, after in itertools.pairwise(states):
        assert _epoch(after["time"]) <= _epoch(before["stops_at"]) + 60
    assert states[-1]["stops_at"] == utc_iso(T0 + 9 * HOUR)
    assert deleter.times == [T0 + 9 * HOUR]


def _epoch(iso: str) -> float:
    return float(calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ")))


async def test_a_held_job_is_said_when_it_starts_keeps_the_app_and_ends(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    vt = VirtualTime(T0)
    cfg = make_config(tmp_path, once=False, idle_time=HOUR, interval=60.0)
    train = job(4711, T0 + 600, "python train.py --epochs 3")
    ended_at = T0 + 3 * HOUR
    holds = StubHolds(
        vt,
        [
            (0, HoldsView()),
            (T0 + 600, HoldsView(live=(train,))),
            (ended_at, HoldsView(ended=(JobEnd(train, ended_at, "exit 0"),))),
        ],
    )
    deleter = Deleter(DeleteOutcome.DELETED, clock=vt.clock)
    d = make_daemon(cfg, [FakeSignal("workspace")], APP, deleter, holds=holds, **vt.daemon_kw())
    assert await run(d, vt) == 0
    found = events(caplog)
    hold_lines = named(found, "hold")
    assert [(h["action"], h["id"], h["command"]) for h in hold_lines] == [
        ("start", "4711", "python train.py --epochs 3"),
        ("end", "4711", "python train.py --epochs 3"),
    ]
    assert hold_lines[1]["how"] == "exit 0" and hold_lines[1]["ended_at"] == utc_iso(ended_at)
    kept = [s for s in named(found, "state") if s.get("kept_by_kind") == "job"]
    assert len(kept) == 1  # said once, though the job runs for hours of polls
    assert "job 4711 `python train.py --epochs 3`" in kept[0]["kept_by"]
    assert kept[0]["holds"] == [
        {
            "id": "4711",
            "command": "python train.py --epochs 3",
            "until": utc_iso(T0 + 600 + 12 * HOUR),
        }
    ]
    assert deleter.times == [ended_at + HOUR]


def test_a_hold_past_its_cap_or_removed_is_said_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    d = make_daemon(make_config(tmp_path, once=False), [FakeSignal()], APP, Deleter())
    a, b = job(1, T0), job(2, T0)
    for view in (HoldsView(live=(a, b)), HoldsView(live=(b,), capped=(a,)), HoldsView()):
        d.events.saw(view)
        d.events.saw(view)  # read again, unchanged: nothing more to say
    said = [(h["action"], h["id"], h.get("how")) for h in named(events(caplog), "hold")]
    assert said == [
        ("start", "1", None),
        ("start", "2", None),
        ("end", "1", "capped"),
        ("end", "2", "removed"),
    ]


async def test_a_keepalive_is_said_when_set_and_when_cancelled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    vt = VirtualTime(T0)
    cfg = make_config(tmp_path, once=False, idle_time=HOUR, interval=60.0)
    until = T0 + 5 * HOUR
    keepalive = StubKeepalive(
        vt, [(0, None), (T0 + 1800, Keepalive(until, "alice", T0 + 1800)), (T0 + 2 * HOUR, None)]
    )
    deleter = Deleter(DeleteOutcome.DELETED, clock=vt.clock)
    d = make_daemon(
        cfg, [FakeSignal("workspace")], APP, deleter, keepalive=keepalive, **vt.daemon_kw()
    )
    assert await run(d, vt) == 0
    states = named(events(caplog), "state")
    said = [(s.get("kept_by_kind"), s.get("keepalive_until"), s["stops_at"]) for s in states]
    assert said == [
        ("activity", None, utc_iso(T0 + HOUR)),
        ("activity", utc_iso(until), utc_iso(until)),  # set: the stop moves to its end
        ("keepalive", utc_iso(until), utc_iso(until)),  # an hour idle: the keepalive keeps it
        (None, None, utc_iso(T0 + HOUR)),  # cancelled: stops now
    ]
    assert "keepalive by alice" in states[2]["kept_by"]


async def test_a_failing_delete_is_said_once_then_the_stop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    vt = VirtualTime(T0)
    cfg = make_config(tmp_path, once=False, idle_time=HOUR, interval=60.0)
    failure = DeleteAppError("DeleteApp failed: AccessDeniedException", "AccessDeniedException")
    deleter = Deleter(failure, failure, failure, DeleteOutcome.DELETED, clock=vt.clock)
    d = make_daemon(cfg, [FakeSignal("workspace")], APP, deleter, **vt.daemon_kw())
    assert await run(d, vt) == 0
    found = events(caplog)
    failed = [s for s in named(found, "state") if s.get("kept_by_kind") == "delete-failed"]
    assert len(failed) == 1 and "AccessDeniedException" in failed[0]["kept_by"]
    assert "stops_at" not in failed[0]  # null: no stop is scheduled
    assert [e["event"] for e in found][-2:] == ["stop", "end"]


async def test_a_stop_by_signal_ends_with_reason_signal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    vt = VirtualTime(T0)
    cfg = make_config(tmp_path, once=False, idle_time=HOUR, interval=60.0)
    d = make_daemon(
        cfg, [Typing(vt, T0 + 10 * HOUR)], APP, Deleter(clock=vt.clock), **vt.daemon_kw()
    )
    assert await run(d, vt, stop_at=T0 + 600) == 0
    found = events(caplog)
    # The clock's start, then the editor: two states in ten minutes of typing, then the end.
    assert [e["event"] for e in found] == ["start", "state", "state", "end"]
    assert [e["kept_by"] for e in found[1:3]] == ["daemon-start", "editor:heartbeat"]
    assert found[-1]["reason"] == "signal"


async def test_once_writes_start_then_stop_or_state_then_end(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = make_config(tmp_path, dry_run=True, log_file=tmp_path / "app_container.log")
    d = make_daemon(cfg, [FakeSignal("workspace")], APP, None, clock=lambda: T0)
    d.events.start()
    result = await d.events.around(d.once(), ended="once")
    assert result.action == "would-delete"  # idle since the app's start, long ago
    found = events(caplog)
    assert [e["event"] for e in found] == ["start", "stop", "end"]
    assert found[1]["result"] == "would-delete"
    assert found[0]["once"] is True and found[0]["dry_run"] is True
    assert found[-1]["reason"] == "once"


async def test_an_error_out_of_the_run_ends_with_reason_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = make_config(tmp_path, once=False)
    d = make_daemon(cfg, [FakeSignal("workspace")], APP, Deleter())

    async def broken() -> int:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await d.events.around(broken())
    d.events.end("deleted")  # written once only
    assert [(e["event"], e["reason"]) for e in events(caplog)] == [("end", "error")]


def test_a_warning_is_said_once_per_announced_stop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    d = make_daemon(make_config(tmp_path, once=False), [FakeSignal()], APP, Deleter())
    asyncio.run(d.start())
    warnings: Any = SimpleNamespace(warned_for=None)
    for warned in (None, T0, T0, T0 + 60):
        warnings.warned_for = warned
        d.events.state(d.idle, T0, warnings)
    said = named(events(caplog), "warning")
    assert [w["stops_at"] for w in said] == [utc_iso(T0), utc_iso(T0 + 60)]


def test_hostile_names_stay_one_bounded_parseable_line(tmp_path: Path) -> None:
    log_file = tmp_path / "app_container.log"
    cfg = make_config(tmp_path, once=False, log_file=log_file)
    setup_logging(cfg)
    try:
        hostile = "x\n2026-01-01T00:00:00Z autostop-async[1] INFO \x1b[31m\u202e" + "é" * 5000
        clock = Clock(T0)
        d = make_daemon(cfg, [FakeSignal()], APP, Deleter(), clock=clock)
        asyncio.run(d.start())
        clock.now = T0 + 10
        assert d.idle.see(Activity(T0 + 5, f"workspace:/home/u/{hostile}"))
        many = tuple(job(1000 + i, T0, hostile) for i in range(40))
        d.idle.jobs = HoldsView(live=many)
        d.events.saw(d.idle.jobs)
        d.events.state(d.idle, T0 + 10)
    finally:
        logging.getLogger("autostop_async").handlers.clear()
    lines = log_file.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 41  # 40 hold lines, one state line: no line was split
    for line in lines:
        assert len(line) < MAX_LINE and line.isascii()
        event = parse(line)
        assert event is not None
    state = parse(lines[-1])
    assert state is not None
    assert len(state["kept_by"]) <= MAX_TEXT + 40 and state["kept_by"].startswith(
        "workspace:/home/u/x\\n2026-01-01T00:00:00Z autostop-async[1]"
    )  # escaped as the log escapes it: after decoding, still no control character
    assert state["kept_by"].isprintable() and state["kept_by"].endswith("é")  # the tail kept
    assert len(state["holds"]) + state["holds_more"] == 40


def test_the_start_line_names_only_settings_changed() -> None:
    cfg = make_config(Path("/tmp/x"), once=False, interval=5.0, busy=False)
    assert changed_settings(cfg) == {
        "--interval": "5s",
        "--state-dir": "/tmp/x/state",
        "--busy": "off",
    }


async def test_once_on_stderr_writes_no_event_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    d = make_daemon(make_config(tmp_path, dry_run=True), [FakeSignal()], APP, None)
    d.events.start()
    await d.events.around(d.once(), ended="once")
    assert events(caplog) == []
    assert "would delete" in caplog.text  # the line for people is there


def test_nothing_is_written_above_info(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="autostop_async")
    d = make_daemon(make_config(tmp_path), [FakeSignal()], APP, Deleter())
    d.events.start()
    assert events(caplog) == []


def test_the_lccs_install_failed_line_parses(tmp_path: Path) -> None:
    log, output = tmp_path / "app_container.log", tmp_path / "lcc-output"
    lcc_says(log, output, "say 'ERROR: install failed'\ninstall_failed install")
    for written in (log, output):
        found = [parse(line) for line in written.read_text().splitlines()]
        assert found[0] is None  # the line for people
        event = found[1]
        assert event is not None and event["event"] == "install-failed"
        assert event["reason"] == "install"
