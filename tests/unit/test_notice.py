"""The warning before a stop, read from a real terminal's other side and from the notice file."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

from autostop_async.activity import Activity
from autostop_async.config import Config, load_config
from autostop_async.daemon import Daemon
from autostop_async.errors import ConfigError
from autostop_async.notice import Notifier, keepalive_hint
from autostop_async.own_writes import OwnWrites
from autostop_async.signals.base import SignalBase
from autostop_async.signals.terminals import TerminalsSignal, latest_use
from tests.support.doubles import APP, Deleter, VirtualTime, no_app_start


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
    # The last use stays the end of the kernel's 8-second step of the time set above.
    assert await sig.newer_than(latest_use(1000.0)) is None


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


def test_the_hint_names_the_state_folder_when_it_is_not_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no autostop-async on PATH: this Python's path
    hint = keepalive_hint(Config(state_dir=tmp_path))
    assert hint is not None and hint.endswith(
        f"-m autostop_async keepalive 2h --state-dir {tmp_path}"
    )
    command = tmp_path / "autostop-async"  # on PATH, as the LCC links it: the name as typed
    command.write_text("#!/bin/sh\n")
    command.chmod(0o755)
    assert keepalive_hint(Config()) == "autostop-async keepalive 2h"
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


#: The daemon's settings here, in virtual time: an hour idle, a warning 5 minutes before the
#: stop, the cheap signals polled every minute.
IDLE, WARN, INTERVAL = 3600.0, 300.0, 60.0
#: When the daemon starts (virtual time).
T0 = 1_700_000_000.0


def iso(t: float) -> str:
    """A moment as the warning and the log write it."""
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


#: What the notice file says while no stop is near.
CALM = (
    "autostop-async stops this app once nothing has happened for 1h00m00s. "
    "No stop is due soon; this file says so 0h05m00s before one is."
)


def warning(deadline: float, last: str) -> str:
    """The first line of the warning of a stop at ``deadline``, sent 5 minutes before."""
    return (
        f"autostop-async: this app will be stopped at {iso(deadline)} (in 0h05m00s): "
        f"nothing has happened since {last}."
    )


class VirtualRun:
    """A daemon asking ``signal``, warning ``terminal`` and a notice file, in virtual time
    from ``T0``. ``said``: what the notice file says (its first line) from when (seconds after
    ``T0``), read each time the daemon goes to sleep; a write takes no virtual time."""

    def __init__(self, tmp_path: Path, terminal: Terminal, signal: Scripted) -> None:
        self.vt = VirtualTime(T0)
        self.notice = tmp_path / "notice.txt"
        n = notifier(terminal, self.notice, warn_before=WARN, idle_time=IDLE, clock=self.vt.clock)
        n.prepare()
        self.deleter = Deleter(clock=self.vt.clock)
        self.said: list[tuple[float, str]] = []
        config = Config(
            idle_time=IDLE, interval=INTERVAL, state_dir=tmp_path / "state", warn_before=WARN
        )
        kw = self.vt.daemon_kw() | {"sleep": self.sleep}
        self.daemon = Daemon(
            config, [signal], APP, self.deleter, notifier=n, app_start=no_app_start, **kw
        )

    async def sleep(self, seconds: float) -> None:
        """The daemon's sleep: note what the notice file says, then let the time pass."""
        text = self.notice.read_text().splitlines()[0]
        if not self.said or self.said[-1][1] != text:
            self.said.append((self.vt.now - T0, text))
        if self.vt.now >= T0 + 4 * IDLE:  # no stop in four hours: end, and say what happened
            self.daemon.request_stop()
        await self.vt.sleep(seconds)

    async def run(self) -> int:
        return await asyncio.wait_for(self.daemon.run(), timeout=10)


async def test_the_daemon_warns_once_then_stops(terminal: Terminal, tmp_path: Path) -> None:
    walk = Scripted("workspace", False, lambda: None)
    run = VirtualRun(tmp_path, terminal, walk)
    assert await run.run() == 0
    # The warning 5 minutes before the deadline, the deletion at it: an hour after the start.
    start = f"{iso(T0)} (daemon-start)"
    assert run.said == [(0.0, CALM), (IDLE - WARN, warning(T0 + IDLE, start))]
    assert run.deleter.times == [T0 + IDLE]
    shown = terminal.read().decode()
    assert shown.count("will be stopped at") == 1
    assert f"*** {warning(T0 + IDLE, start)}" in shown
    assert walk.asked == 2  # once before the warning, once at the deadline


async def test_no_warning_when_the_check_finds_activity(
    terminal: Terminal, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A file saved half way, which only the walk sees: it looks first when the warning is due.
    saved = T0 + IDLE / 2
    walk = Scripted("workspace", False, lambda: saved)
    run = VirtualRun(tmp_path, terminal, walk)
    with caplog.at_level(logging.INFO, logger="autostop_async"):
        assert await run.run() == 0
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("no warning")]
    assert said == [f"no warning: workspace:x at {iso(saved)}; next check at {iso(saved + IDLE)}"]
    # One warning, for the new deadline; the app deleted an hour after the save.
    last = f"{iso(saved)} (workspace:x)"
    assert run.said == [(0.0, CALM), (saved + IDLE - WARN - T0, warning(saved + IDLE, last))]
    assert run.deleter.times == [saved + IDLE]
    assert terminal.read().decode().count("will be stopped at") == 1


async def test_activity_after_the_warning_postpones_and_says_so(
    terminal: Terminal, tmp_path: Path
) -> None:
    typed = T0 + IDLE - WARN + 100  # the person reads the warning, and types 100 s later

    def editor() -> float | None:
        return typed if run.vt.now >= typed else None

    run = VirtualRun(tmp_path, terminal, Scripted("editor", True, editor))
    assert await run.run() == 0
    # Seen at the first poll after it (one a minute since the warning); the stop moves to an
    # hour after the typing, and is announced again 5 minutes before.
    seen = T0 + IDLE - WARN + 2 * INTERVAL
    postponed = (
        f"The stop announced earlier was postponed to {iso(typed + IDLE)} "
        f"by editor:x at {iso(typed)}."
    )
    assert run.said == [
        (0.0, CALM),
        (IDLE - WARN, warning(T0 + IDLE, f"{iso(T0)} (daemon-start)")),
        (seen - T0, postponed),
        (typed + IDLE - WARN - T0, warning(typed + IDLE, f"{iso(typed)} (editor:x)")),
    ]
    assert run.deleter.times == [typed + IDLE]


def test_warning_settings_from_flags_and_environment() -> None:
    config = load_config([], {})
    assert config.warn_before == 300.0
    assert config.notice_file == Path("/home/sagemaker-user/autostop-async-notice.txt")
    config = load_config(["--warn-before", "0"], {"AUTOSTOP_NOTICE_FILE": ""})
    assert config.warn_before == 0.0 and config.notice_file is None
    with pytest.raises(ConfigError, match="--warn-before"):
        load_config(["--warn-before", "soon"], {})
