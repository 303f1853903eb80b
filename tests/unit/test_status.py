"""``status`` from a state file the daemon wrote, as a person (or a script) reads it."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from autostop_async import state as state_module
from autostop_async import status
from autostop_async.activity import Activity
from autostop_async.cli import guarded
from autostop_async.config import Config
from autostop_async.daemon import Daemon
from autostop_async.holds import (
    HoldsReader,
    KeepaliveReader,
    ensure_holds_dir,
    holds_dir,
    write_keepalive,
)
from autostop_async.signals.base import SignalBase
from autostop_async.times import utc_iso
from tests.support.doubles import APP, Deleter, app_started_at, no_app_start


class Answer(SignalBase):
    latest: Activity | None = None

    def __init__(self, name: str, cheap: bool, at: float | None) -> None:
        self.name, self.cheap, self.at = name, cheap, at
        self.note: str | None = "off: no nvidia-smi" if name == "gpu" else None

    async def newer_than(self, t: float) -> Activity | None:
        return Activity(self.at, f"{self.name}:/dev/pts/3") if self.at and self.at > t else None

    async def aclose(self) -> None:
        pass


async def daemon_state(tmp_path: Path, *, pid: int | None = None) -> Config:
    """Have a daemon record a few signals' activity in its state file, as after some polls."""
    now = time.time()
    config = Config(idle_time=3600.0, state_dir=tmp_path / "state", interval=60.0)
    signals = [
        Answer("workspace", False, None),
        Answer("terminals", True, now - 120),
        Answer("gpu", True, None),
    ]
    reader = KeepaliveReader(config.state_dir / "keepalive.json", config.max_keepalive)
    d = Daemon(
        config, signals, None, None, keepalive=reader, off=["editor"], app_start=no_app_start
    )
    await d.start()
    assert d.idle.state is not None
    d.idle.state.last_at = now - 600
    await d.poll_cheap()
    d.idle.state.pid = pid
    await d.save()
    return config


def run_status(config: Config, *more: str) -> int:
    return guarded(
        status.main, ["--state-dir", str(config.state_dir), *more], app_start=no_app_start
    )


def test_the_table_shows_each_signal_and_when_the_app_stops(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = asyncio.run(daemon_state(tmp_path))
    assert run_status(config) == 1  # the daemon that wrote it is not running
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == [
        "SIGNAL",
        "LOOKED",
        "AT",
        "LATEST",
        "ACTIVITY",
        "IDLE",
        "FOR",
        "SOURCE",
    ]
    names = [line.split()[0] for line in lines[1:5]]
    assert names == ["workspace", "editor", "terminals", "gpu"]
    terminals = next(line for line in lines if line.startswith("terminals"))
    assert "every interval" in terminals and "0h02m00s" in terminals
    assert "terminals:/dev/pts/3" in terminals
    assert "off" in next(line for line in lines if line.startswith("editor"))
    assert "off: no nvidia-smi" in next(line for line in lines if line.startswith("gpu"))
    assert "at deadlines" in next(line for line in lines if line.startswith("workspace"))
    assert "idle for 0h02m00s of 1h00m00s" in out
    assert "stops at " in out and "(in 0h58m00s) if nothing happens" in out
    assert "NOT running" in out


def test_json_has_the_same_facts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = asyncio.run(daemon_state(tmp_path))
    run_status(config, "--json")
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert report["idle_time"] == 3600.0
    assert 110 <= report["idle_seconds"] <= 130
    assert 3470 <= report["stops_in_seconds"] <= 3490
    assert report["source"] == "terminals:/dev/pts/3"
    assert report["keepalive"] is None and report["daemon"]["running"] is False
    by_name = {s["name"]: s for s in report["signals"]}
    assert by_name["editor"] == {"name": "editor", "enabled": False, "note": "off"}
    assert by_name["terminals"]["looked_at"] == "every interval"


def test_a_keepalive_moves_the_stop(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = asyncio.run(daemon_state(tmp_path))
    write_keepalive(config.state_dir / "keepalive.json", 7200)
    run_status(config, "--json")
    report = json.loads(capsys.readouterr().out)
    assert 7190 <= report["stops_in_seconds"] <= 7200
    assert report["keepalive"]["by"]
    run_status(config)
    out = capsys.readouterr().out
    assert "keepalive by" in out
    assert "(in 2h00m00s)" in out or "(in 1h59m5" in out


def test_without_state_status_says_so_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert guarded(status.main, ["--state-dir", str(tmp_path)], app_start=no_app_start) == 2
    assert f"no daemon state in {tmp_path}" in capsys.readouterr().err


def test_a_running_daemon_is_recognised(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)", "autostop_async"]
    )  # a process whose command line names the daemon
    try:
        config = asyncio.run(daemon_state(tmp_path, pid=child.pid))
        assert run_status(config) == 0
    finally:
        child.kill()
        child.wait()
    assert run_status(config) == 1


def test_state_files_of_an_earlier_app_start_are_not_shown(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text(
        json.dumps(
            {"app_started": 5.0, "started": 5.0, "last_at": 6.0, "last_source": "x", "idle_time": 1}
        )
    )
    assert state_module.SAME_START_TOLERANCE < 995
    assert (
        guarded(status.main, ["--state-dir", str(tmp_path)], app_start=app_started_at(1000.0)) == 2
    )


@pytest.mark.parametrize(
    ("warn_before", "expected"),
    [
        (300.0, "a warning goes to the terminals 0h05m00s before"),
        (
            3000.0,
            "no warning before the stop: --warn-before 0h50m00s is more than half the idle "
            "time 1h00m00s",
        ),
        (0.0, None),
    ],
)
def test_status_says_what_the_warning_will_actually_do(
    tmp_path: Path, warn_before: float, expected: str | None
) -> None:
    # The daemon warns only when --warn-before is at most half the idle time (notice.py).
    report = {"warn_before": warn_before, "idle_time": 3600.0}
    lines = status._warning_lines(report)
    assert lines == ([expected] if expected else [])


async def idle_daemon(config: Config, *, deleter: Deleter | None = None) -> Daemon:
    """A daemon whose app has been idle for two hours (idle time 1 h), holds read, state saved."""
    holds = HoldsReader(holds_dir(config), config.max_keepalive)
    keepalive = KeepaliveReader(config.state_dir / "keepalive.json", config.max_keepalive)
    d = Daemon(config, [], APP, deleter, keepalive=keepalive, holds=holds, app_start=no_app_start)
    await d.start()
    assert d.idle.state is not None
    d.idle.state.last_at = time.time() - 7200
    await d.poll_cheap()
    await d.save()
    return d


def test_status_says_an_unusable_hold_file_keeps_the_app_as_the_daemon_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = Config(idle_time=3600.0, state_dir=tmp_path / "state", interval=60.0)
    ensure_holds_dir(holds_dir(config))
    (holds_dir(config) / "4242-99.json").write_bytes(b"{not a hold")
    d = asyncio.run(idle_daemon(config))
    assert d.idle.kept_by(time.time()) is not None  # the daemon keeps the app
    assert run_status(config) == 1
    out = capsys.readouterr().out
    assert "due since" not in out
    assert "an unusable hold file keeps the app" in out
    assert run_status(config, "--json") == 1
    report = json.loads(capsys.readouterr().out)
    assert report["kept_by"] == "unusable hold file"
    assert report["stops_in_seconds"] > 0
    # One rule: the stop status shows is the daemon's deadline (to the second it prints).
    assert report["stops_at"] == utc_iso(d.idle.deadline)


def test_status_says_the_app_was_deleted_once_the_daemon_deleted_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = Config(idle_time=3600.0, state_dir=tmp_path / "state", interval=60.0)
    deleter = Deleter()

    async def delete() -> None:
        d = await idle_daemon(config, deleter=deleter)
        assert (await d.check()).action == "deleted"
        await d.save()

    asyncio.run(delete())
    assert deleter.calls == 1
    run_status(config)
    out = capsys.readouterr().out
    assert "due since" not in out
    assert re.search(r"^the app was deleted at \S+: nothing left to stop$", out, re.M), out
    run_status(config, "--json")
    report = json.loads(capsys.readouterr().out)
    assert report["app_gone"] == "deleted" and report["app_gone_at"] is not None
