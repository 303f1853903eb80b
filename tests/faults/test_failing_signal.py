"""Class 1: a failing signal is never "no activity".

A signal that raises or does not answer in time makes the check inconclusive: the app is kept,
the failure is logged once (and its end once), and the check is tried again at the next
interval, for as long as it takes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from autostop_async.activity import Activity
from autostop_async.events import MARKER
from autostop_async.sagemaker import DeleteOutcome
from tests.integration.conftest import (
    Daemon as DaemonProcess,
)
from tests.integration.conftest import (
    age_tree,
    app_status,
)
from tests.support.doubles import (
    APP,
    Clock,
    Deleter,
    FakeSignal,
    VirtualTime,
    make_config,
    make_daemon,
    write_state,
)
from tests.support.fake_sagemaker import FakeSageMaker
from tests.support.waiting import wait_for

pytestmark = pytest.mark.faults

MARGIN = 15.0  # start-up and the first SageMaker call on a busy 2-core machine
#: When the daemons run in virtual time start.
T0 = 1_700_000_000.0


class BrokenSignal(FakeSignal):
    """A walk that raises for its first ``failures`` calls (a thread it could not start)."""

    def __init__(self, failures: int, name: str = "workspace", *, cheap: bool = False) -> None:
        super().__init__(name, cheap=cheap)
        self.failures = failures

    async def newer_than(self, t: float) -> Activity | None:
        self.asked += 1
        if self.asked <= self.failures:
            raise RuntimeError("can't start new thread")
        return await super().newer_than(t)


class HungSignal(FakeSignal):
    """A signal whose answer never comes (a thread stuck in a system call)."""

    async def newer_than(self, t: float) -> Activity | None:
        self.asked += 1
        await asyncio.Event().wait()
        return None


class AskedAt:
    """Notes the (virtual) moments ``signal`` is asked."""

    def __init__(self, signal: FakeSignal, vt: VirtualTime) -> None:
        self.signal, self.times = signal, []
        inner = signal.newer_than

        async def newer_than(t: float) -> Activity | None:
            self.times.append(vt.now)
            return await inner(t)

        signal.newer_than = newer_than  # type: ignore[method-assign]


def iso(t: float) -> str:
    """A moment as the log writes it."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def warnings_about(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    """The lines for people that hold ``text`` (not the machine-readable event lines)."""
    messages = (r.getMessage() for r in caplog.records)
    return [m for m in messages if text in m and MARKER not in m]


async def test_a_raising_walk_is_inconclusive_not_idle(tmp_path: Path) -> None:
    write_state(tmp_path, last_at=800.0, last_source="workspace:/w/a.py")
    deleter = Deleter(DeleteOutcome.DELETED)
    d = make_daemon(make_config(tmp_path), [BrokenSignal(1)], APP, deleter, clock=Clock(1000.0))
    result = await d.once()
    assert deleter.calls == 0
    out = result.to_json()
    assert (out["action"], out["idle"]) == ("none", False)
    assert out["error"].startswith("inconclusive: signal workspace failed: RuntimeError")


@pytest.mark.parametrize("cheap", [False, True], ids=["walk", "cheap signal"])
async def test_a_signal_that_never_answers_is_inconclusive_within_its_bound(
    tmp_path: Path, cheap: bool
) -> None:
    write_state(tmp_path, last_at=800.0, last_source="x")
    deleter = Deleter(DeleteOutcome.DELETED)
    hung = [HungSignal("hung", cheap=cheap)]
    d = make_daemon(make_config(tmp_path), hung, APP, deleter, walk_timeout=0.2, cheap_timeout=0.2)
    result = await asyncio.wait_for(d.once(), timeout=10)
    assert deleter.calls == 0
    assert result.error is not None and "signal hung failed: no answer within" in result.error


async def test_the_daemon_keeps_the_app_while_the_walk_fails_and_says_so_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="autostop_async")
    vt = VirtualTime(T0)
    cfg = make_config(tmp_path, once=False, idle_time=3600.0, interval=60.0)
    walk = AskedAt(BrokenSignal(6), vt)
    deleter = Deleter(DeleteOutcome.DELETED, clock=vt.clock)
    d = make_daemon(cfg, [walk.signal], APP, deleter, **vt.daemon_kw())
    assert await asyncio.wait_for(d.run(), timeout=10) == 0
    # Due an hour after the start; each inconclusive check tried again a minute later.
    assert walk.times == [T0 + 3600.0 + 60.0 * k for k in range(7)]
    assert deleter.times == [T0 + 3600.0 + 6 * 60.0]  # only once the walk answered
    assert warnings_about(caplog, "signal workspace failed") == [
        "signal workspace failed: RuntimeError: can't start new thread; while it fails no "
        "check can find the app idle: the app is kept (asking again every 0h01m00s)"
    ]
    assert warnings_about(caplog, "answers again") == [
        f"signal workspace answers again (it failed since {iso(T0 + 3600.0)}, 6 tries)"
    ]
    assert not warnings_about(caplog, "DeleteApp failed")


async def test_checks_go_on_beside_a_hung_signal_which_is_not_asked_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The schedule in virtual time; the hung signal's bound (0.1 s) is real, as a stuck call
    is: only its first call waits for it, the later ones find it still stuck at once."""
    vt = VirtualTime(T0)
    cfg = make_config(tmp_path, once=False, idle_time=3600.0, interval=60.0)
    hung, walk = HungSignal("terminals", cheap=True), AskedAt(FakeSignal("workspace"), vt)
    deleter = Deleter(DeleteOutcome.DELETED, clock=vt.clock)

    async def sleep(seconds: float) -> None:
        if len(walk.times) == 3 or vt.now >= T0 + 7200.0:
            d.request_stop()  # after three checks (or two hours)
        await vt.sleep(seconds)

    kw = vt.daemon_kw() | {"sleep": sleep}
    d = make_daemon(cfg, [hung, walk.signal], APP, deleter, cheap_timeout=0.1, **kw)
    assert await asyncio.wait_for(d.run(), timeout=10) == 0
    # The checks go on, at the deadline and a minute apart, each inconclusive: the app is kept.
    assert walk.times == [T0 + 3600.0, T0 + 3660.0, T0 + 3720.0]
    assert deleter.calls == 0
    assert hung.asked == 1  # its first call is still stuck: no second thread beside it
    failed = warnings_about(caplog, "signal terminals failed")
    assert len(failed) == 1 and "no answer within" in failed[0] and "app is kept" in failed[0]


async def test_a_lasting_failure_is_said_again_every_hour_not_at_every_try(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="autostop_async")
    write_state(tmp_path, last_at=800.0, last_source="x")
    clock = Clock(1000.0)
    walk = BrokenSignal(1000)
    d = make_daemon(make_config(tmp_path, once=False), [walk], APP, None, clock=clock)
    await d.start()
    for _ in range(130):  # a try a minute for over two hours
        assert (await d.check()).inconclusive
        clock.now += 60.0
    failed = warnings_about(caplog, "signal workspace failed")
    still = warnings_about(caplog, "signal workspace still fails")
    assert (len(failed), len(still)) == (1, 2), failed + still
    assert "130 tries" not in still[-1] and "tries" in still[-1]


# -- the daemon as a user runs it -------------------------------------------------------------


def test_a_walk_without_threads_never_deletes_a_busy_app(
    launch_daemon: Callable[..., DaemonProcess], fake: FakeSageMaker, workspace: Path
) -> None:
    """The case found by the matrix: a log file rewritten every 0.3 s, and a walk that cannot
    start its thread. Before, that counted as "no activity" and the app was deleted."""
    stop = threading.Event()

    def rewrite_log() -> None:
        n = 0
        while not stop.wait(0.3):
            (workspace / "proj" / "train.log").write_text(f"step {n}\n")
            n += 1

    writer = threading.Thread(target=rewrite_log)
    writer.start()
    try:
        daemon = launch_daemon("walk-thread", "--idle-time", "2", "--interval", "0.5")
        wait_for(lambda: "signal workspace failed" in daemon.text(), MARGIN, "the failure line")
        kept_until = time.monotonic() + 6.0  # three idle times: must be kept all along
        while time.monotonic() < kept_until:
            assert app_status(fake) == "InService", daemon.text()
            assert daemon.proc.poll() is None, daemon.text()
            time.sleep(0.2)
    finally:
        stop.set()
        writer.join()
    text = daemon.text()
    prose = [line for line in text.splitlines() if MARKER not in line]
    events = [line for line in text.splitlines() if MARKER in line]
    # Once, not at every retry: for people, and in the event line for `report`.
    assert sum("signal workspace failed" in line for line in prose) == 1, text
    assert sum("signal workspace failed" in line for line in events) == 1, text
    assert "the app is kept" in text
    assert fake.calls("DeleteApp") == []


def test_once_json_reports_an_inconclusive_check_with_exit_1(
    launch_daemon: Callable[..., DaemonProcess],
    fake: FakeSageMaker,
    workspace: Path,
) -> None:
    age_tree(workspace, 1.0)
    done = launch_daemon("walk-thread", "--once", "--json", "--idle-time", "1")
    out, err = done.proc.communicate(timeout=60)
    assert done.proc.returncode == 1, err
    record = json.loads(out)
    assert record["action"] == "none"
    assert record["error"].startswith("inconclusive: signal workspace failed")
    assert b"Traceback" not in err
    assert app_status(fake) == "InService"
