"""The decision: deadlines, the state file across restarts, deletion outcomes, clock jumps."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from autostop_async import daemon as daemon_module
from autostop_async.activity import Activity, SignalBase
from autostop_async.config import Config
from autostop_async.daemon import Daemon
from autostop_async.sagemaker import AppRef, DeleteAppError, DeleteOutcome

APP = AppRef("d-abc", "CodeEditor", "default", space_name="s1", region="us-east-1")
APP_STARTED = 100.0


@pytest.fixture(autouse=True)
def fixed_app_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app (PID 1) started at t=100 in every test."""
    monkeypatch.setattr(daemon_module, "app_start_time", lambda: APP_STARTED)


class FakeSignal(SignalBase):
    """A signal that answers from a list of activity times and counts the questions."""

    latest: Activity | None = None

    def __init__(self, name: str = "fake", *, cheap: bool = False) -> None:
        self.name = name
        self.cheap = cheap
        self.times: list[float] = []
        self.asked = 0

    async def newer_than(self, t: float) -> Activity | None:
        self.asked += 1
        newer = [a for a in self.times if a > t]
        return Activity(max(newer), f"{self.name}:x") if newer else None

    async def aclose(self) -> None:
        pass


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Deleter:
    """Records calls; answers with the given outcomes in turn (the last one repeats)."""

    def __init__(self, *outcomes: DeleteOutcome | DeleteAppError) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    async def __call__(self, app: AppRef) -> DeleteOutcome:
        self.calls += 1
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, DeleteAppError):
            raise outcome
        return outcome


def make_config(tmp_path: Path, **kw: object) -> Config:
    settings: dict[str, object] = {
        "idle_time": 100.0,
        "interval": 1.0,
        "state_dir": tmp_path / "state",
        "once": True,
    }
    settings.update(kw)
    return Config(**settings)  # type: ignore[arg-type]


def write_state(tmp_path: Path, **fields: object) -> None:
    record: dict[str, object] = {"app_started": APP_STARTED, "started": 100.0}
    record.update(fields)
    (tmp_path / "state").mkdir(exist_ok=True)
    (tmp_path / "state" / "state.json").write_text(json.dumps(record))


def read_state(tmp_path: Path) -> dict[str, object]:
    return dict(json.loads((tmp_path / "state" / "state.json").read_text()))


async def test_before_the_deadline_the_workspace_is_not_walked(tmp_path: Path) -> None:
    sig = FakeSignal()
    write_state(tmp_path, last_at=950.0, last_source="workspace:/w/a.py")
    deleter = Deleter(DeleteOutcome.DELETED)
    d = Daemon(make_config(tmp_path), [sig], APP, deleter, clock=Clock(1000.0))
    result = await d.once()
    assert (result.action, result.idle, result.idle_seconds) == ("none", False, 50)
    assert result.last.source == "workspace:/w/a.py"
    assert sig.asked == 0 and deleter.calls == 0


async def test_without_state_once_counts_from_the_app_start(tmp_path: Path) -> None:
    deleter = Deleter(DeleteOutcome.DELETED)
    d = Daemon(make_config(tmp_path), [FakeSignal()], APP, deleter, clock=Clock(150.0))
    result = await d.once()
    assert result.last == Activity(APP_STARTED, "app-start")
    assert result.action == "none" and deleter.calls == 0
    d = Daemon(make_config(tmp_path), [FakeSignal()], APP, deleter, clock=Clock(201.0))
    result = await d.once()
    assert result.action == "deleted" and deleter.calls == 1
    assert result.to_json()["idle"] is True


async def test_activity_found_at_the_deadline_moves_it(tmp_path: Path) -> None:
    write_state(tmp_path, last_at=800.0, last_source="old")
    sig = FakeSignal("workspace")
    sig.times = [700.0, 990.0]
    deleter = Deleter(DeleteOutcome.DELETED)
    d = Daemon(make_config(tmp_path), [sig], APP, deleter, clock=Clock(1000.0))
    result = await d.once()
    assert result.action == "none" and deleter.calls == 0
    assert result.last == Activity(990.0, "workspace:x")
    assert read_state(tmp_path)["last_at"] == 990.0
    assert read_state(tmp_path)["deadline"] == 1090.0


async def test_idle_app_is_deleted_and_the_json_says_so(tmp_path: Path) -> None:
    write_state(tmp_path, last_at=800.0, last_source="workspace:/w/a.py")
    deleter = Deleter(DeleteOutcome.DELETED)
    d = Daemon(make_config(tmp_path), [FakeSignal()], APP, deleter, clock=Clock(1000.0))
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
    d = Daemon(make_config(tmp_path), [FakeSignal()], APP, Deleter(outcome), clock=Clock(1000.0))
    assert (await d.once()).action == action


async def test_dry_run_never_deletes(tmp_path: Path) -> None:
    write_state(tmp_path, last_at=800.0, last_source="x")
    deleter = Deleter(DeleteOutcome.DELETED)
    cfg = make_config(tmp_path, dry_run=True)
    d = Daemon(cfg, [FakeSignal()], APP, deleter, clock=Clock(1000.0))
    result = await d.once()
    assert result.action == "would-delete" and result.idle
    assert deleter.calls == 0


async def test_the_dry_run_line_names_the_app(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_state(tmp_path, last_at=800.0, last_source="x")
    cfg = make_config(tmp_path, dry_run=True)
    with caplog.at_level(logging.INFO, logger="autostop_async"):
        await Daemon(cfg, [FakeSignal()], APP, None, clock=Clock(1000.0)).once()
        await Daemon(cfg, [FakeSignal()], None, None, clock=Clock(1000.0)).once()
    lines = [r.getMessage() for r in caplog.records if "would delete" in r.getMessage()]
    owner = f"space {APP.space_name}" if APP.space_name else f"user {APP.user_profile_name}"
    assert f"would delete {APP.app_type} app {APP.app_name} of {owner} in domain" in lines[0]
    assert APP.domain_id in lines[0] and "the app of" not in lines[0]
    assert "would delete this app (its domain, space and name are unknown: no metadata" in lines[1]


async def test_failed_delete_is_reported_not_raised(tmp_path: Path) -> None:
    write_state(tmp_path, last_at=800.0, last_source="x")
    deleter = Deleter(DeleteAppError("access denied: sagemaker:DeleteApp", "AccessDeniedException"))
    d = Daemon(make_config(tmp_path), [FakeSignal()], APP, deleter, clock=Clock(1000.0))
    result = await d.once()
    assert result.error is not None and "sagemaker:DeleteApp" in result.error
    assert result.to_json()["action"] == "none"


async def test_state_from_an_earlier_app_start_is_ignored(tmp_path: Path) -> None:
    write_state(tmp_path, app_started=5.0, started=5.0, last_at=6.0, last_source="old app")
    d = Daemon(make_config(tmp_path), [FakeSignal()], APP, None, clock=Clock(150.0))
    result = await d.once()
    assert result.last.source == "app-start"


async def test_corrupt_state_is_a_warning_and_a_fresh_clock(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "state.json").write_text("{not json")
    d = Daemon(make_config(tmp_path), [FakeSignal()], APP, None, clock=Clock(150.0))
    result = await d.once()
    # Not the app's start: the unusable file may have recorded newer activity (issue 9).
    assert result.last.source == "check-start"
    assert result.last.at == 150.0
    assert any("corrupt" in r.getMessage() for r in caplog.records)
    assert read_state(tmp_path)["last_source"] == "check-start"


async def test_a_restarted_daemon_continues_the_clock(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, once=False)
    first = Daemon(cfg, [FakeSignal()], APP, None, clock=Clock(1000.0))
    await first.start()
    await first.save()
    # Restarted 90 s later (a crash): the clock is not reset to the restart time.
    second = Daemon(cfg, [FakeSignal()], APP, None, clock=Clock(1090.0))
    await second.start()
    assert second.last == Activity(1000.0, "daemon-start")
    assert second.deadline == 1100.0


async def test_a_recorded_future_activity_is_clamped_to_now(tmp_path: Path) -> None:
    write_state(tmp_path, last_at=99999.0, last_source="skewed")
    d = Daemon(make_config(tmp_path), [FakeSignal()], APP, None, clock=Clock(1000.0))
    await d.start()
    assert d.last.at == 1000.0


async def test_cheap_signals_move_the_clock_without_walking(tmp_path: Path) -> None:
    write_state(tmp_path, last_at=800.0, last_source="x")
    cheap, walk = FakeSignal("terminal", cheap=True), FakeSignal("workspace")
    cheap.times = [999.0]
    d = Daemon(
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
    cfg = make_config(tmp_path, once=False, idle_time=0.3, interval=0.05)
    deleter = Deleter(DeleteOutcome.DELETED)
    d = Daemon(cfg, [FakeSignal()], APP, deleter)
    assert await asyncio.wait_for(d.run(), timeout=10) == 0
    assert deleter.calls == 1


async def test_daemon_retries_a_failing_delete_with_growing_backoff(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = make_config(tmp_path, once=False, idle_time=0.2, interval=0.05)
    failure = DeleteAppError("DeleteApp failed: ThrottlingException", "ThrottlingException")
    deleter = Deleter(failure, failure, failure, DeleteOutcome.DELETED)
    d = Daemon(cfg, [FakeSignal()], APP, deleter)
    assert await asyncio.wait_for(d.run(), timeout=10) == 0
    assert deleter.calls == 4
    retries = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retries) == 3
    assert d._retry_backoff() >= 0.05  # capped at max(interval, idle time)


async def test_stop_request_ends_the_loop_with_state_saved(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, once=False, idle_time=3600.0, interval=60.0)
    d = Daemon(cfg, [FakeSignal()], APP, Deleter(DeleteOutcome.DELETED))
    task = asyncio.create_task(d.run())
    for _ in range(200):
        if (tmp_path / "state" / "state.json").exists():
            break
        await asyncio.sleep(0.01)
    d.request_stop()
    assert await asyncio.wait_for(task, timeout=2) == 0
    assert read_state(tmp_path)["last_source"] == "daemon-start"


def test_forward_clock_jump_is_not_idle_time(tmp_path: Path) -> None:
    d = Daemon(make_config(tmp_path, once=False), [], APP, None, clock=Clock(1000.0))
    asyncio.run(d.start())
    # Wall clock moved 2 h while the monotonic clock moved 1 s.
    d._watch_clock(1000.0 + 7201, 51.0, (1000.0, 50.0))
    assert d.last.at == 1000.0 + 7200
