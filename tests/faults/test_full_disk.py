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

from autostop_async import __main__ as cli
from autostop_async.config import Config
from autostop_async.daemon import Daemon
from autostop_async.notice import Notifier
from autostop_async.sagemaker import DeleteOutcome
from autostop_async.terminals import OwnWrites
from tests.unit.test_daemon import (  # noqa: F401  (fixed_app_start: an autouse fixture)
    APP,
    Deleter,
    FakeSignal,
    fixed_app_start,
    make_config,
)

from .conftest import FullDisk

pytestmark = pytest.mark.faults

FullDiskMaker = Callable[..., FullDisk]


def messages(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


async def until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    """Poll ``predicate`` on the running loop until it holds, failing after ``timeout`` s."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + timeout
    while not predicate():
        if loop.time() > give_up:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.fixture(autouse=True)
def info_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="autostop_async")


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT], ids=["ENOSPC", "EDQUOT"])
async def test_a_full_state_folder_is_logged_once_and_the_app_still_deleted(
    tmp_path: Path, full_disk: FullDiskMaker, caplog: pytest.LogCaptureFixture, code: int
) -> None:
    disk = full_disk(tmp_path / "state", code)
    cfg = make_config(tmp_path, once=False, idle_time=0.5, interval=0.05)
    cheap = FakeSignal("terminals", cheap=True)  # polled every interval: a write is retried
    deleter = Deleter(DeleteOutcome.DELETED)
    d = Daemon(cfg, [FakeSignal(), cheap], APP, deleter)
    assert await asyncio.wait_for(d.run(), timeout=20) == 0
    assert deleter.calls == 1  # it kept deciding
    assert disk.hits >= 3  # and kept trying to write
    warned = messages(caplog, "cannot write state file")
    assert len(warned) == 1, warned
    assert os.strerror(code) in warned[0]
    assert not (tmp_path / "state" / "state.json").exists()
    assert not [p for p in (tmp_path / "state").iterdir() if p.name.endswith(".tmp")]


async def test_the_state_is_written_again_once_there_is_room(
    tmp_path: Path, full_disk: FullDiskMaker, caplog: pytest.LogCaptureFixture
) -> None:
    disk = full_disk(tmp_path / "state")
    cfg = make_config(tmp_path, once=False, idle_time=3600.0, interval=0.05)
    d = Daemon(cfg, [FakeSignal(), FakeSignal("terminals", cheap=True)], APP, None)
    task = asyncio.create_task(d.run())
    try:
        await until(lambda: disk.hits >= 3, 10, "three tries to write the state")
        disk.free()
        state = tmp_path / "state" / "state.json"
        await until(state.exists, 10, "the state file once there is room")
        await until(lambda: messages(caplog, "written again"), 10, "the recovery line")
    finally:
        d.request_stop()
        assert await asyncio.wait_for(task, timeout=5) == 0
    assert len(messages(caplog, "cannot write state file")) == 1
    assert len(messages(caplog, "state file")) == 2  # failed once, written again once


async def test_a_full_home_volume_does_not_stop_the_warning_or_the_decision(
    tmp_path: Path, full_disk: FullDiskMaker, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "home"
    notice = home / "autostop-async-notice.txt"
    cfg = make_config(
        tmp_path, once=False, idle_time=1.0, interval=0.05, warn_before=0.5, dry_run=True,
        notice_file=notice, terminals_dir=tmp_path / "pts",
    )  # fmt: skip
    (tmp_path / "pts").mkdir()
    notifier = Notifier.from_config(cfg, OwnWrites())
    home.mkdir()
    notifier.prepare()  # the notice file exists, as after any start
    disk = full_disk(home)
    d = Daemon(cfg, [FakeSignal()], None, None, notifier=notifier)
    task = asyncio.create_task(d.run())
    try:
        await until(lambda: disk.hits >= 3, 10, "the warning and two retries to hit the disk")
        assert not task.done(), "the daemon stopped"
        await until(lambda: messages(caplog, "would delete"), 10, "the decision, disk full")
        disk.free()
        await until(lambda: messages(caplog, "notice file"), 10, "a notice line")
        await until(lambda: messages(caplog, "written again"), 10, "the recovery line")
    finally:
        d.request_stop()
        assert await asyncio.wait_for(task, timeout=5) == 0
    assert len(messages(caplog, "cannot write notice file")) == 1
    assert "will be stopped" in notice.read_text() or "would be stopped" in notice.read_text()


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
    cli.setup_logging(Config(log_file=logs / "autostop.log"))
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
