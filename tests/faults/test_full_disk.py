"""Class 4: a full disk is survived.

ENOSPC or EDQUOT on the state folder or the notice file is logged once; the daemon keeps
deciding, writes again at the next poll, and says once when it works again. A log file on a
full disk costs one line on stderr, not a traceback per record. The disk is this test's own:
writes under one folder fail (``conftest.FullDisk``) until it is freed.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from autostop_async.config import Config
from autostop_async.logs import setup_logging
from autostop_async.notice import Notifier
from autostop_async.own_writes import OwnWrites
from autostop_async.sagemaker import DeleteOutcome
from tests.support.doubles import (
    APP,
    Deleter,
    FakeSignal,
    VirtualTime,
    make_config,
    make_daemon,
)

from .conftest import FullDisk

pytestmark = pytest.mark.faults

FullDiskMaker = Callable[..., FullDisk]
#: When the daemons here start (virtual time).
T0 = 1_700_000_000.0


def messages(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


@pytest.fixture(autouse=True)
def info_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="autostop_async")


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT], ids=["ENOSPC", "EDQUOT"])
async def test_a_full_state_folder_is_logged_once_and_the_app_still_deleted(
    tmp_path: Path, full_disk: FullDiskMaker, caplog: pytest.LogCaptureFixture, code: int
) -> None:
    disk = full_disk(tmp_path / "state", code)
    vt = VirtualTime(T0)
    cfg = make_config(tmp_path, once=False, idle_time=3600.0, interval=60.0)
    cheap = FakeSignal("terminals", cheap=True)  # polled every minute: a write is retried
    deleter = Deleter(DeleteOutcome.DELETED, clock=vt.clock)
    d = make_daemon(cfg, [FakeSignal(), cheap], APP, deleter, **vt.daemon_kw())
    assert await asyncio.wait_for(d.run(), timeout=10) == 0
    assert deleter.times == [T0 + 3600.0]  # it kept deciding: deleted on time
    assert disk.hits >= 60  # and kept trying to write, at every poll of the hour
    warned = messages(caplog, "cannot write state file")
    assert len(warned) == 1, warned
    assert os.strerror(code) in warned[0]
    assert not (tmp_path / "state" / "state.json").exists()
    assert not [p for p in (tmp_path / "state").iterdir() if p.name.endswith(".tmp")]


async def test_the_state_is_written_again_once_there_is_room(
    tmp_path: Path, full_disk: FullDiskMaker, caplog: pytest.LogCaptureFixture
) -> None:
    disk = full_disk(tmp_path / "state")
    state = tmp_path / "state" / "state.json"
    vt = VirtualTime(T0)
    cfg = make_config(tmp_path, once=False, idle_time=3600.0, interval=60.0)
    written_at: list[float] = []

    async def sleep(seconds: float) -> None:
        if state.exists():  # written by the poll that just ended
            written_at.append(vt.now)
        if written_at or vt.now >= T0 + 3600.0:
            d.request_stop()
        await vt.sleep(seconds)
        if vt.now >= T0 + 150.0:
            disk.free()  # room again 2.5 minutes after the start, between two polls

    kw = vt.daemon_kw() | {"sleep": sleep}
    d = make_daemon(cfg, [FakeSignal(), FakeSignal("terminals", cheap=True)], APP, None, **kw)
    assert await asyncio.wait_for(d.run(), timeout=10) == 0
    assert disk.hits >= 3  # the start and the polls at 1 and 2 minutes found the disk full
    assert written_at == [T0 + 180.0]  # written at the first poll after there was room
    assert len(messages(caplog, "cannot write state file")) == 1
    assert len(messages(caplog, "state file")) == 2  # failed once, written again once
    assert messages(caplog, "written again") == [f"state file {state} written again"]


async def run_with_a_full_home(
    tmp_path: Path, full_disk: FullDiskMaker, caplog: pytest.LogCaptureFixture, free_at: float
) -> tuple[dict[str, float], Path, int]:
    """A dry-run daemon (idle 1 h, warning 5 min before) whose home volume is full from the
    start until ``free_at`` seconds (virtual); when each line of the log was first said, the
    notice file, and how many writes the full disk refused. Stops once the notice was written
    again and the decision made, or after two hours."""
    home = tmp_path / "home"
    notice = home / "autostop-async-notice.txt"
    vt = VirtualTime(T0)
    cfg = make_config(
        tmp_path, once=False, idle_time=3600.0, interval=60.0, warn_before=300.0, dry_run=True,
        notice_file=notice, terminals_dir=tmp_path / "pts",
    )  # fmt: skip
    (tmp_path / "pts").mkdir()
    notifier = Notifier.from_config(cfg, OwnWrites())
    assert notifier is not None
    notifier.clock = vt.clock
    home.mkdir()
    notifier.prepare()  # the notice file exists, as after any start
    disk = full_disk(home)
    said: dict[str, float] = {}  # a line of the log, and when it was first said (virtual)
    lines = ("warned", "would delete", "written again", "was never written")

    async def sleep(seconds: float) -> None:
        for line in lines:
            if messages(caplog, line):
                said.setdefault(line, vt.now - T0)
        if vt.now >= T0 + free_at:
            disk.free()
        if "written again" in said and "would delete" in said:
            d.request_stop()
        if vt.now >= T0 + 7200.0:
            d.request_stop()
        await vt.sleep(seconds)

    kw = vt.daemon_kw() | {"sleep": sleep}
    cheap = FakeSignal("terminals", cheap=True)  # polled every minute
    d = make_daemon(cfg, [FakeSignal(), cheap], None, None, notifier=notifier, **kw)
    assert await asyncio.wait_for(d.run(), timeout=10) == 0
    assert len(messages(caplog, "cannot write notice file")) == 1
    return said, notice, disk.hits


async def test_a_full_home_volume_does_not_stop_the_warning_or_the_decision(
    tmp_path: Path, full_disk: FullDiskMaker, caplog: pytest.LogCaptureFixture
) -> None:
    said, notice, hits = await run_with_a_full_home(tmp_path, full_disk, caplog, free_at=3360.0)
    # The warning and the decision on time, the disk full; the notice written at the first poll
    # with room, counting down from then (not from the failed write two minutes earlier).
    assert said == {"warned": 3300.0, "written again": 3420.0, "would delete": 3600.0}
    assert hits >= 3  # the warning, then a try at every poll till the disk had room
    assert messages(caplog, "written again") == [f"notice file {notice} written again"]
    text = notice.read_text()
    assert "would be stopped (dry run: it will not) at" in text
    assert "(in 0h03m00s)" in text


async def test_a_warning_never_written_before_its_stop_is_dropped(
    tmp_path: Path, full_disk: FullDiskMaker, caplog: pytest.LogCaptureFixture
) -> None:
    said, notice, _ = await run_with_a_full_home(tmp_path, full_disk, caplog, free_at=3600.0)
    assert said == {
        "warned": 3300.0,
        "would delete": 3600.0,
        "was never written": 3600.0,
        "written again": 3660.0,
    }
    # Never a warning of a stop gone by (nor the empty file the full disk left): the usual text.
    text = notice.read_text()
    assert "would be stopped" not in text and "No stop is due soon" in text


@pytest.fixture
def restore_logging() -> Iterator[None]:
    log = logging.getLogger("autostop_async")
    saved = (log.handlers[:], log.propagate, log.level)
    yield
    for handler in log.handlers:
        if handler not in saved[0]:
            handler.close()
    log.handlers[:], log.propagate, log.level = saved


@pytest.mark.usefixtures("restore_logging")
def test_a_log_file_on_a_full_disk_costs_one_line_not_tracebacks(
    tmp_path: Path, full_disk: FullDiskMaker, capfd: pytest.CaptureFixture[str]
) -> None:
    logs = tmp_path / "logs"
    disk = full_disk(logs)
    setup_logging(Config(log_file=logs / "autostop.log"))
    log = logging.getLogger("autostop_async")
    for n in range(5):
        log.info("decision %d", n)
    assert disk.hits >= 5
    err = capfd.readouterr().err
    assert err.count("\n") == 1, err
    assert "cannot write the log" in err and os.strerror(errno.ENOSPC) in err
    assert "Traceback" not in err
    disk.free()
    log.info("decision after the disk was freed")
    assert capfd.readouterr().err == ""
    text = (logs / "autostop.log").read_text()
    assert "log line(s) were lost" in text
    assert text.rstrip().endswith("decision after the disk was freed")
