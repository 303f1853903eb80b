"""The decision: deadlines, the state file across restarts, deletion outcomes, clock jumps."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from pathlib import Path

import pytest

from autostop_async.activity import Activity
from autostop_async.clock_jumps import ClockWatch
from autostop_async.decision import CheckResult, Retry
from autostop_async.errors import DeleteAppError
from autostop_async.sagemaker import DeleteOutcome
from tests.support.doubles import (
    APP,
    APP_STARTED,
    Clock,
    Deleter,
    FakeSignal,
    VirtualTime,
    make_config,
    make_daemon,
    write_state,
)
from tests.support.waiting import until


def read_state(tmp_path: Path) -> dict[str, object]:
    return dict(json.loads((tmp_path / "state" / "state.json").read_text()))


async def test_before_the_deadline_the_workspace_is_not_walked(tmp_path: Path) -> None:
    sig = FakeSignal()
    write_state(tmp_path, last_at=950.0, last_source="workspace:/w/a.py")
    deleter = Deleter(DeleteOutcome.DELETED)
    d = make_daemon(make_config(tmp_path), [sig], APP, deleter, clock=Clock(1000.0))
    result = await d.once()
    assert (result.action, result.idle, result.idle_seconds) == ("none", False, 50)
    assert result.last.source == "workspace:/w/a.py"
    assert sig.asked == 0 and deleter.calls == 0


async def test_without_state_once_counts_from_the_app_start(tmp_path: Path) -> None:
    deleter = Deleter(DeleteOutcome.DELETED)
    d = make_daemon(make_config(tmp_path), [FakeSignal()], APP, deleter, clock=Clock(150.0))
    result = await d.once()
    assert result.last == Activity(APP_STARTED, "app-start")
    assert result.action == "none" and deleter.calls == 0
    d = make_daemon(make_config(tmp_path), [FakeSignal()], APP, deleter, clock=Clock(201.0))
    result = await d.once()
    assert result.action == "deleted" and deleter.calls == 1
    assert result.to_json()["idle"] is True


async def test_activity_found_at_the_deadline_moves_it(tmp_path: Path) -> None:
    write_state(tmp_path, last_at=800.0, last_source="old")
    sig = FakeSignal("workspace")
    sig.times = [700.0, 990.0]
    deleter = Deleter(DeleteOutcome.DELETED)
    d = make_daemon(make_config(tmp_path), [sig], APP, deleter, clock=Clock(1000.0))
    result = await d.once()
    assert result.action == "none" and deleter.calls == 0
    assert result.last == Activity(990.0, "workspace:x")
    assert read_state(tmp_path)["last_at"] == 990.0
    assert read_state(tmp_path)["deadline"] == 1090.0


async def test_idle_app_is_deleted_and_the_json_says_so(tmp_path: Path) -> None:
    write_state(tmp_path, last_at=800.0, last_source="workspace:/w/a.py")
    deleter = Deleter(DeleteOutcome.DELETED)
    d = make_daemon(make_config(tmp_path), [FakeSignal()], APP, deleter, clock=Clock(1000.0))
    out = (await d.once()).to_json()
    assert out == {
        "idle": True,
        "idle_seconds": 200.0,
        "last_activity": "1970-01-01T00:13:20Z",
        "source": "workspace:/w/a.py",
        "idle_time": 100.0,
        "action": "deleted",
    }
    assert deleter.calls == 1


@pytest.mark.parametrize(
    ("outcome", "action"),
    [(DeleteOutcome.ALREADY_GONE, "already-gone"), (DeleteOutcome.DELETED, "deleted")],
)
async def test_outcomes_map_to_actions(tmp_path: Path, outcome: DeleteOutcome, action: str) -> None:
    write_state(tmp_path, last_at=800.0, last_source="x")
    d = make_daemon(
        make_config(tmp_path), [FakeSignal()], APP, Deleter(outcome), clock=Clock(1000.0)
    )
    assert (await d.once()).action == action


async def test_dry_run_never_deletes(tmp_path: Path) -> None:
    write_state(tmp_path, last_at=800.0, last_source="x")
    deleter = Deleter(DeleteOutcome.DELETED)
    cfg = make_config(tmp_path, dry_run=True)
    d = make_daemon(cfg, [FakeSignal()], APP, deleter, clock=Clock(1000.0))
    result = await d.once()
    assert result.action == "would-delete" and result.idle
    assert deleter.calls == 0


async def test_the_dry_run_line_names_the_app(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_state(tmp_path, last_at=800.0, last_source="x")
    cfg = make_config(tmp_path, dry_run=True)
    with caplog.at_level(logging.INFO, logger="autostop_async"):
        await make_daemon(cfg, [FakeSignal()], APP, None, clock=Clock(1000.0)).once()
        await make_daemon(cfg, [FakeSignal()], None, None, clock=Clock(1000.0)).once()
    lines = [r.getMessage() for r in caplog.records if "would delete" in r.getMessage()]
    owner = f"space {APP.space_name}" if APP.space_name else f"user {APP.user_profile_name}"
    assert f"would delete {APP.app_type} app {APP.app_name} of {owner} in domain" in lines[0]
    assert APP.domain_id in lines[0] and "the app of" not in lines[0]
    assert "would delete this app (its domain, space and name are unknown: no metadata" in lines[1]


async def test_failed_delete_is_reported_not_raised(tmp_path: Path) -> None:
    write_state(tmp_path, last_at=800.0, last_source="x")
    deleter = Deleter(DeleteAppError("access denied: sagemaker:DeleteApp", "AccessDeniedException"))
    d = make_daemon(make_config(tmp_path), [FakeSignal()], APP, deleter, clock=Clock(1000.0))
    result = await d.once()
    assert result.error is not None and "sagemaker:DeleteApp" in result.error
    assert result.to_json()["action"] == "none"


async def test_state_from_an_earlier_app_start_is_ignored(tmp_path: Path) -> None:
    write_state(tmp_path, app_started=5.0, started=5.0, last_at=6.0, last_source="old app")
    d = make_daemon(make_config(tmp_path), [FakeSignal()], APP, None, clock=Clock(150.0))
    result = await d.once()
    assert result.last.source == "app-start"


async def test_corrupt_state_is_a_warning_and_a_fresh_clock(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "state.json").write_text("{not json")
    d = make_daemon(make_config(tmp_path), [FakeSignal()], APP, None, clock=Clock(150.0))
    result = await d.once()
    # Not the app's start: the unusable file may have recorded newer activity.
    assert result.last.source == "check-start"
    assert result.last.at == 150.0
    assert any("corrupt" in r.getMessage() for r in caplog.records)
    assert read_state(tmp_path)["last_source"] == "check-start"


async def test_a_restarted_daemon_continues_the_clock(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, once=False)
    first = make_daemon(cfg, [FakeSignal()], APP, None, clock=Clock(1000.0))
    await first.start()
    await first.save()
    # Restarted 90 s later (a crash): the clock is not reset to the restart time.
    second = make_daemon(cfg, [FakeSignal()], APP, None, clock=Clock(1090.0))
    await second.start()
    assert second.last == Activity(1000.0, "daemon-start")
    assert second.deadline == 1100.0


async def test_a_recorded_future_activity_is_clamped_to_now(tmp_path: Path) -> None:
    write_state(tmp_path, last_at=99999.0, last_source="skewed")
    d = make_daemon(make_config(tmp_path), [FakeSignal()], APP, None, clock=Clock(1000.0))
    await d.start()
    assert d.last.at == 1000.0


async def test_cheap_signals_move_the_clock_without_walking(tmp_path: Path) -> None:
    write_state(tmp_path, last_at=800.0, last_source="x")
    cheap, walk = FakeSignal("terminal", cheap=True), FakeSignal("workspace")
    cheap.times = [999.0]
    d = make_daemon(
        make_config(tmp_path),
        [cheap, walk],
        APP,
        Deleter(DeleteOutcome.DELETED),
        clock=Clock(1000.0),
    )
    result = await d.once()
    assert result.action == "none" and result.last.source == "terminal:x"
    assert walk.asked == 0


async def test_daemon_deletes_after_idle_time_and_exits_0(tmp_path: Path) -> None:
    vt = VirtualTime(1000.0)
    cfg = make_config(tmp_path, once=False, idle_time=3600.0, interval=60.0)
    deleter = Deleter(DeleteOutcome.DELETED, clock=vt.clock)
    d = make_daemon(cfg, [FakeSignal()], APP, deleter, **vt.daemon_kw())
    assert await asyncio.wait_for(d.run(), timeout=10) == 0
    # An hour after the start, not a second sooner; nothing but the walk to ask: one wait.
    assert deleter.times == [1000.0 + 3600.0]
    assert vt.slept == [3600.0]
    assert read_state(tmp_path)["last_source"] == "daemon-start"


async def test_activity_seen_by_a_cheap_signal_moves_the_deletion(tmp_path: Path) -> None:
    vt = VirtualTime(1000.0)
    cfg = make_config(tmp_path, once=False, idle_time=3600.0, interval=60.0)
    terminal = FakeSignal("terminals", cheap=True)
    terminal.times = [1000.0 + 1800.0]  # a key press half way (seen at the next poll)
    deleter = Deleter(DeleteOutcome.DELETED, clock=vt.clock)
    d = make_daemon(cfg, [terminal, FakeSignal("workspace")], APP, deleter, **vt.daemon_kw())
    assert await asyncio.wait_for(d.run(), timeout=10) == 0
    assert deleter.times == [1000.0 + 1800.0 + 3600.0]
    assert max(vt.slept) <= 60.0  # the cheap signal is polled every interval
    assert read_state(tmp_path)["last_source"] == "terminals:x"


async def test_daemon_retries_a_failing_delete_with_growing_backoff(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    vt = VirtualTime(1000.0)
    cfg = make_config(tmp_path, once=False, idle_time=3600.0, interval=60.0)
    failure = DeleteAppError("DeleteApp failed: ThrottlingException", "ThrottlingException")
    deleter = Deleter(failure, failure, failure, DeleteOutcome.DELETED, clock=vt.clock)
    d = make_daemon(cfg, [FakeSignal()], APP, deleter, **vt.daemon_kw())
    assert await asyncio.wait_for(d.run(), timeout=10) == 0
    assert deleter.calls == 4
    retries = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert [line.rsplit("retrying in ", 1)[1] for line in retries] == [
        "0h01m00s",
        "0h02m00s",
        "0h04m00s",
    ]
    # Each retry waits longer: the interval, doubled each time.
    assert [b - a for a, b in itertools.pairwise(deleter.times)] == [60.0, 120.0, 240.0]


@pytest.mark.parametrize(
    ("interval", "idle_time", "waits"),
    [
        (60.0, 3600.0, [60, 120, 240, 480, 900, 900]),  # capped at 15 minutes
        (60.0, 300.0, [60, 120, 240, 300, 300]),  # capped at the idle time
        (600.0, 300.0, [600, 600]),  # never sooner than the poll interval
    ],
)
def test_the_delete_retry_backoff_doubles_up_to_its_cap(
    interval: float, idle_time: float, waits: list[float]
) -> None:
    retry = Retry(interval, idle_time)
    failed = CheckResult(
        idle_seconds=idle_time, last=Activity(0.0, "x"), idle_time=idle_time, error="denied"
    )
    seen = []
    for _ in waits:
        retry.after(failed, 0.0)
        seen.append(retry.at)
    assert seen == waits
    retry.clear()  # activity: the next check is at the deadline again
    assert retry.at is None
    retry.after(failed, 0.0)
    assert retry.at == interval


async def test_stop_request_ends_the_loop_with_state_saved(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, once=False, idle_time=3600.0, interval=60.0)
    d = make_daemon(cfg, [FakeSignal()], APP, Deleter(DeleteOutcome.DELETED))
    task = asyncio.create_task(d.run())
    await until((tmp_path / "state" / "state.json").exists, 10, "the state file")
    d.request_stop()
    assert await asyncio.wait_for(task, timeout=10) == 0
    assert read_state(tmp_path)["last_source"] == "daemon-start"


async def test_a_stop_ends_the_loop_whatever_it_awaits(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, once=False, idle_time=0.05, interval=60.0)
    stuck = StuckSignal()
    d = make_daemon(cfg, [stuck], APP, Deleter(DeleteOutcome.DELETED))
    task = asyncio.create_task(d.run())
    await until(lambda: stuck.asked, 10, "the walk to start")
    d.request_stop()
    assert await asyncio.wait_for(task, timeout=5) == 0
    assert stuck.cancelled  # the walk was cancelled, not waited for
    assert read_state(tmp_path)["last_source"] == "daemon-start"


async def test_a_cancellation_that_is_no_stop_is_not_swallowed(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, once=False, idle_time=0.05, interval=60.0)
    stuck = StuckSignal()
    task = asyncio.create_task(make_daemon(cfg, [stuck], APP, None).run())
    await until(lambda: stuck.asked, 10, "the walk to start")
    task.cancel()  # the caller's own cancellation (a task group shutting down)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=5)


async def test_forward_clock_jump_is_not_idle_time(tmp_path: Path) -> None:
    vt = VirtualTime(1000.0)
    cfg = make_config(tmp_path, once=False, idle_time=3600.0, interval=60.0)
    deleter = Deleter(DeleteOutcome.DELETED, clock=vt.clock)
    polls = 0

    async def sleep_then_jump(seconds: float) -> None:
        nonlocal polls
        polls += 1
        await vt.sleep(seconds)
        if polls == 2:
            vt.now += 7200.0  # NTP steps the wall clock 2 h forward; the monotonic one does not

    kw = vt.daemon_kw() | {"sleep": sleep_then_jump}
    d = make_daemon(cfg, [FakeSignal("terminals", cheap=True)], APP, deleter, **kw)
    assert await asyncio.wait_for(d.run(), timeout=10) == 0
    assert deleter.times == [1000.0 + 7200.0 + 3600.0]  # the jump did not count as idle time


def test_a_clock_set_back_leaves_no_activity_in_the_future() -> None:
    wall, mono = [5000.0], [0.0]
    watch = ClockWatch(lambda: wall[0], lambda: mono[0])
    wall[0], mono[0] = 1000.0, 10.0  # set back by over an hour
    assert watch.adjust(4990.0) == 1000.0
    wall[0], mono[0] = 1030.0, 40.0  # time passing is no change
    assert watch.adjust(1000.0) == 1000.0


class StuckSignal(FakeSignal):
    """A walk that never ends (a hung volume); notes that it was asked, and cancelled."""

    def __init__(self) -> None:
        super().__init__("workspace")
        self.cancelled = False

    async def newer_than(self, t: float) -> Activity | None:
        self.asked += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return None


async def test_a_stop_whose_cancellation_is_lost_still_ends_the_loop(tmp_path: Path) -> None:
    # asyncio.wait_for before Python 3.12 loses a cancellation that arrives as its inner call
    # ends (gh-86296); the stop is repeated until the loop ends, never left to the next deadline.
    cfg = make_config(tmp_path, once=False, idle_time=3600.0, interval=60.0)
    lost: list[float] = []

    async def sleep_losing_one_cancel(seconds: float) -> None:
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            if lost:
                raise
            lost.append(seconds)  # swallowed, as wait_for may: the wait goes on
            await asyncio.sleep(seconds)

    d = make_daemon(cfg, [FakeSignal()], APP, None, sleep=sleep_losing_one_cancel)
    task = asyncio.create_task(d.run())
    await until((tmp_path / "state" / "state.json").exists, 10, "the state file")
    await asyncio.sleep(0)  # into the hour's wait
    d.request_stop()
    done, _ = await asyncio.wait({task}, timeout=5)  # never cancels the task itself
    assert done, "the stop was lost with the cancellation"
    assert task.result() == 0
    assert lost == [pytest.approx(3600.0, abs=5)]  # the first cancellation was indeed lost
