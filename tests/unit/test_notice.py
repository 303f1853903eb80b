"""The warning before a stop, read from a real terminal's other side and from the notice file."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from autostop_async import daemon as daemon_module
from autostop_async.activity import Activity, SignalBase
from autostop_async.config import Config, ConfigError, load_config
from autostop_async.daemon import Daemon
from autostop_async.notice import Notifier, keepalive_hint
from autostop_async.sagemaker import AppRef, DeleteOutcome
from autostop_async.terminals import OwnWrites, TerminalsSignal

APP = AppRef("d-abc", "CodeEditor", "default", space_name="s1", region="us-east-1")


@pytest.fixture(autouse=True)
def fixed_app_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(daemon_module, "app_start_time", lambda: None)


@dataclass
class Terminal:
    folder: Path
    master: int
    slave: int

    def read(self) -> bytes:
        """What the terminal emulator would show, without waiting."""
        os.set_blocking(self.master, False)
        try:
            return os.read(self.master, 65536)
        except BlockingIOError:
            return b""


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    master, slave = os.openpty()
    folder = tmp_path / "pts"
    folder.mkdir()
    (folder / "0").symlink_to(os.ttyname(slave))
    yield Terminal(folder, master, slave)
    os.close(master)
    os.close(slave)


def notifier(terminal: Terminal, notice: Path | None, **kw: object) -> Notifier:
    settings: dict[str, object] = {
        "warn_before": 300.0,
        "idle_time": 3600.0,
        "terminals_dir": terminal.folder,
        "notice_file": notice,
        "own_writes": OwnWrites(),
        "hint": "python -m autostop_async keepalive 2h",
    }
    settings.update(kw)
    return Notifier(**settings)  # type: ignore[arg-type]


async def test_the_warning_reaches_terminals_and_the_notice_file(
    terminal: Terminal, tmp_path: Path
) -> None:
    notice = tmp_path / "home" / "autostop-async-notice.txt"
    notice.parent.mkdir()
    n = notifier(terminal, notice)
    n.prepare()
    assert "No stop is due soon" in notice.read_text()
    deadline = time.time() + 300
    await n.warn(deadline, Activity(deadline - 3600, "workspace:/home/u/a.py"))
    shown = terminal.read().decode()
    assert "*** autostop-async: this app will be stopped at" in shown
    assert "(in 0h05m00s)" in shown or "(in 0h04m59s)" in shown
    assert "workspace:/home/u/a.py" in shown
    assert "run: python -m autostop_async keepalive 2h" in shown
    assert "\r\n" in shown  # readable in a raw-mode terminal too
    text = notice.read_text()
    assert "will be stopped at" in text and "keepalive 2h" in text


async def test_the_warning_is_not_terminal_activity(terminal: Terminal, tmp_path: Path) -> None:
    own = OwnWrites()
    os.utime(terminal.folder / "0", (1000.0, 1000.0))
    n = notifier(terminal, None, own_writes=own)
    await n.warn(time.time() + 300, Activity(time.time() - 3300, "x"))
    assert terminal.read()
    sig = TerminalsSignal(terminal.folder, own_writes=own, exclude_devices=frozenset())
    assert await sig.newer_than(1001.0) is None


async def test_a_removed_notice_file_is_not_recreated(terminal: Terminal, tmp_path: Path) -> None:
    # Creating a file changes its folder: the walk would take that for activity.
    notice = tmp_path / "notice.txt"
    await notifier(terminal, notice).warn(time.time() + 300, Activity(0.0, "x"))
    assert not notice.exists()
    assert terminal.read()


def test_a_warning_as_early_as_half_the_idle_time_is_not_sent(terminal: Terminal) -> None:
    assert notifier(terminal, None, warn_before=300.0, idle_time=600.0).warn_at(1000.0) == 700.0
    assert notifier(terminal, None, warn_before=301.0, idle_time=600.0).warn_at(1000.0) is None
    assert notifier(terminal, None, warn_before=0.0).warn_at(1000.0) is None


def test_the_hint_names_the_state_folder_when_it_is_not_the_default(tmp_path: Path) -> None:
    hint = keepalive_hint(Config(state_dir=tmp_path))
    assert hint is not None and hint.endswith(
        f"-m autostop_async keepalive 2h --state-dir {tmp_path}"
    )
    assert keepalive_hint(Config(max_keepalive=1800)) is not None
    assert "keepalive 0h30m00s" in str(keepalive_hint(Config(max_keepalive=1800)))
    assert keepalive_hint(Config(max_keepalive=0)) is None


# -- the daemon warns once per deadline, after a real check -----------------------------------


class Scripted(SignalBase):
    """A signal whose answer a test changes: ``activity()`` returns the time of activity."""

    latest: Activity | None = None

    def __init__(self, name: str, cheap: bool, activity: Callable[[], float | None]) -> None:
        self.name, self.cheap, self.activity = name, cheap, activity
        self.asked = 0

    async def newer_than(self, t: float) -> Activity | None:
        self.asked += 1
        at = self.activity()
        return Activity(at, f"{self.name}:x") if at is not None and at > t else None

    async def aclose(self) -> None:
        pass


class Deleter:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, app: AppRef) -> DeleteOutcome:
        self.calls += 1
        return DeleteOutcome.DELETED


def run_config(tmp_path: Path) -> Config:
    return Config(idle_time=1.2, interval=0.05, state_dir=tmp_path / "state", warn_before=0.6)


async def test_the_daemon_warns_once_then_stops(terminal: Terminal, tmp_path: Path) -> None:
    notice = tmp_path / "notice.txt"
    n = notifier(terminal, notice, warn_before=0.6, idle_time=1.2)
    n.prepare()
    walk = Scripted("workspace", False, lambda: None)
    deleter = Deleter()
    d = Daemon(run_config(tmp_path), [walk], APP, deleter, notifier=n)
    assert await asyncio.wait_for(d.run(), timeout=10) == 0
    assert deleter.calls == 1
    shown = terminal.read().decode()
    assert shown.count("will be stopped at") == 1
    assert walk.asked == 2  # once before the warning, once at the deadline
    assert "will be stopped at" in notice.read_text()


async def test_no_warning_when_the_check_finds_activity(
    terminal: Terminal, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    started = time.time()
    found: list[float] = []

    def once_found() -> float | None:
        # The walk finds a change made 0.3 s after the start, the first time it looks.
        if not found:
            found.append(started + 0.3)
        return found[0]

    n = notifier(terminal, None, warn_before=0.6, idle_time=1.2)
    deleter = Deleter()
    walk = Scripted("workspace", False, once_found)
    with caplog.at_level(logging.INFO, logger="autostop_async"):
        d = Daemon(run_config(tmp_path), [walk], APP, deleter, notifier=n)
        assert await asyncio.wait_for(d.run(), timeout=10) == 0
    assert deleter.calls == 1
    assert any(r.getMessage().startswith("no warning: workspace:x") for r in caplog.records)
    assert terminal.read().decode().count("will be stopped at") == 1  # for the new deadline


async def test_activity_after_the_warning_postpones_and_says_so(
    terminal: Terminal, tmp_path: Path
) -> None:
    notice = tmp_path / "notice.txt"
    n = notifier(terminal, notice, warn_before=0.6, idle_time=1.2)
    n.prepare()
    typed: list[float] = []
    cheap = Scripted("editor", True, lambda: typed[0] if typed else None)
    d = Daemon(run_config(tmp_path), [cheap], APP, Deleter(), notifier=n)
    task = asyncio.create_task(d.run())
    for _ in range(200):  # wait for the warning
        if "will be stopped" in notice.read_text():
            break
        await asyncio.sleep(0.02)
    assert "will be stopped" in notice.read_text()
    typed.append(time.time())  # the person reads it and types
    for _ in range(200):
        if "postponed" in notice.read_text():
            break
        await asyncio.sleep(0.02)
    d.request_stop()
    await asyncio.wait_for(task, timeout=5)
    assert "postponed" in notice.read_text() and "editor:x" in notice.read_text()


def test_warning_settings_from_flags_and_environment() -> None:
    config = load_config([], {})
    assert config.warn_before == 300.0
    assert config.notice_file == Path("/home/sagemaker-user/autostop-async-notice.txt")
    config = load_config(["--warn-before", "0"], {"AUTOSTOP_NOTICE_FILE": ""})
    assert config.warn_before == 0.0 and config.notice_file is None
    with pytest.raises(ConfigError, match="--warn-before"):
        load_config(["--warn-before", "soon"], {})
