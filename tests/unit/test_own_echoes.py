"""The editor's echo of the daemon's own file writes (a tab showing the state file reloads when
the daemon saves it): it never feeds itself, and a person's click right after a save counts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path

from autostop_async.config import Config
from autostop_async.daemon import Daemon
from autostop_async.own_writes import OwnWrites
from autostop_async.sagemaker import AppRef, DeleteOutcome
from autostop_async.signals.editor import EditorSignal
from tests.support.doubles import no_app_start

APP = AppRef("d-abc", "CodeEditor", "default", space_name="s1", region="us-east-1")
IDLE, INTERVAL, WINDOW = 2.0, 0.1, 1.0


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).isoformat().replace("+00:00", "Z")


class Deleted:
    """The deleter: remembers when it was called."""

    at: float | None = None

    async def __call__(self, app: AppRef) -> DeleteOutcome:
        self.at = time.time()
        return DeleteOutcome.DELETED


async def tab_showing_our_files(own: OwnWrites, heartbeat: Path) -> None:
    """An editor tab showing a file of the daemon's: each write reloads it 0.2 s later, which the
    idle extension records as a text change."""
    echoed = 0
    while True:
        for wrote, _ in list(own.file_times)[echoed:]:
            await asyncio.sleep(max(0.0, wrote + 0.2 - time.time()))
            await asyncio.to_thread(heartbeat.write_text, iso(wrote + 0.2))
        echoed = len(own.file_times)
        await asyncio.sleep(0.02)


async def run_with(
    tmp_path: Path,
    before_run: Callable[[OwnWrites, Path], Awaitable[None]] | None = None,
    *,
    tab: bool = True,
) -> tuple[Deleted, float]:
    heartbeat = tmp_path / "heartbeat"
    own = OwnWrites(echo_window=WINDOW)
    config = Config(idle_time=IDLE, interval=INTERVAL, state_dir=tmp_path / "state")
    editor = EditorSignal(None, heartbeat, own_writes=own)
    deleted = Deleted()
    daemon = Daemon(config, [editor], APP, deleted, own_writes=own, app_start=no_app_start)
    showing = asyncio.create_task(tab_showing_our_files(own, heartbeat)) if tab else None
    click = time.time()
    heartbeat.write_text(iso(click))  # a person's click as the daemon starts
    extra = asyncio.create_task(before_run(own, heartbeat)) if before_run else None
    try:
        # Bounded: an echo that fed itself would keep the app for ever.
        assert await asyncio.wait_for(daemon.run(), 8 * IDLE) == 0
    finally:
        if showing is not None:
            showing.cancel()
        if extra is not None:
            extra.cancel()
    assert deleted.at is not None
    return deleted, click


async def test_echoes_of_our_state_saves_do_not_keep_the_app(tmp_path: Path) -> None:
    deleted, click = await run_with(tmp_path)
    assert deleted.at is not None
    # Never before the idle time; late by at most an echo and a poll, not by another idle time.
    assert IDLE <= deleted.at - click <= IDLE + WINDOW + 3 * INTERVAL + 1.0


async def test_a_click_right_after_our_save_still_counts(tmp_path: Path) -> None:
    clicks: list[float] = []

    async def click_after_first_save(own: OwnWrites, heartbeat: Path) -> None:
        await asyncio.sleep(WINDOW + 0.3)  # after the echo window of the daemon's start
        saves = len(own.file_times)
        await asyncio.to_thread(heartbeat.write_text, iso(time.time()))  # a first click
        # The daemon saves the state after seeing it (a prompted save); bounded by the run.
        while not any(p for _, p in list(own.file_times)[saves:]):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)  # inside the echo window of that save, after its echo
        clicks.append(time.time())
        await asyncio.to_thread(heartbeat.write_text, iso(clicks[0]))

    deleted, _ = await run_with(tmp_path, click_after_first_save, tab=False)
    assert clicks and deleted.at is not None
    assert deleted.at - clicks[0] >= IDLE  # the person's click moved the stop


def test_only_unprompted_writes_make_a_heartbeat_an_echo() -> None:
    own = OwnWrites(echo_window=WINDOW)
    own.wrote_file(100.0, prompted=True)
    assert own.file_write_near(100.5, 0.05, WINDOW, prompted=False) is None
    assert own.may_echo_prompted(100.5) and not own.may_echo_prompted(102.0)
    own.wrote_file(100.2, prompted=False)  # a burst with an unprompted write is unprompted
    assert own.file_write_near(100.5, 0.05, WINDOW, prompted=False) == 100.2
    # Undecided, a write is prompted when the newest activity is recent (or the daemon starts).
    own.last_activity = 200.0
    own.wrote_file(200.5)
    own.wrote_file(300.0)  # the warning of an idle app: its echo is never counted
    assert own.may_echo_prompted(200.7) and not own.may_echo_prompted(300.5)
