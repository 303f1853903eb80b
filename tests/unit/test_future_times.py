"""A time ahead of the clock, from a source anyone can write (the editor's heartbeat file in
/tmp, a commit with a future committer date), counts once when first seen, never as new activity
at every poll: it cannot keep an idle app, nor keep it past ``--max-keepalive``."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import time
from pathlib import Path

import pytest

from autostop_async.activity import Activity
from autostop_async.git_records import GitSignal
from autostop_async.sagemaker import DeleteOutcome
from autostop_async.signals.base import SignalBase
from autostop_async.signals.editor import EditorSignal
from tests.support.doubles import (
    APP,
    Clock,
    Deleter,
    FakeSignal,
    VirtualTime,
    make_config,
    make_daemon,
)

IDLE, INTERVAL = 3600.0, 60.0
FAR_AHEAD = "2099-01-01T00:00:00.000Z"


async def test_a_heartbeat_dated_ahead_counts_once_not_at_every_poll(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    heartbeat = tmp_path / "heartbeat"
    heartbeat.write_text(FAR_AHEAD)
    clock = Clock(1_800_000_000.0)
    editor = EditorSignal(None, heartbeat, clock=clock)
    with caplog.at_level(logging.WARNING, logger="autostop_async"):
        first = await editor.newer_than(clock.now - 10)
        assert first is not None and first.at == clock.now  # counted once, as now
        seen = first.at
        for _ in range(5):  # later polls: the same time, not new activity
            clock.now += INTERVAL
            assert await editor.newer_than(seen) is None
        heartbeat.write_text(FAR_AHEAD)  # written again, the same: still nothing new
        clock.now += INTERVAL
        assert await editor.newer_than(seen) is None
    ahead = [r.getMessage() for r in caplog.records if "ahead of the clock" in r.getMessage()]
    assert len(ahead) == 1 and "2099" not in ahead[0], ahead


async def test_a_heartbeat_within_the_slack_is_now(tmp_path: Path) -> None:
    heartbeat = tmp_path / "heartbeat"
    clock = Clock(1_800_000_000.0)
    heartbeat.write_text(time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(clock.now + 2)))
    editor = EditorSignal(None, heartbeat, clock=clock)
    found = await editor.newer_than(clock.now - 10)
    assert found is not None and found.at == clock.now


async def test_a_heartbeat_dated_ahead_does_not_keep_the_app(tmp_path: Path) -> None:
    """Written once, 100 s after the start: the app is deleted an idle time after that."""
    vt = VirtualTime(1_800_000_000.0)
    start = vt.now
    heartbeat = tmp_path / "heartbeat"

    class Someone(SignalBase):
        """No activity of its own: before the first poll past 100 s, writes the heartbeat
        file once (the editor signal, asked next, reads it in the same poll)."""

        name, cheap = "someone", True
        wrote: float | None = None

        async def newer_than(self, t: float) -> Activity | None:
            if self.wrote is None and vt.now >= start + 100:
                heartbeat.write_text(FAR_AHEAD)
                self.wrote = vt.now
            return None

    someone = Someone()
    editor = EditorSignal(None, heartbeat, clock=vt.clock)
    deleter = Deleter(DeleteOutcome.DELETED, clock=vt.clock)
    config = make_config(tmp_path, once=False, idle_time=IDLE, interval=INTERVAL)
    signals = [FakeSignal("workspace"), someone, editor]
    daemon = make_daemon(config, signals, APP, deleter, **vt.daemon_kw())
    assert await asyncio.wait_for(daemon.run(), timeout=20) == 0
    assert someone.wrote is not None
    assert len(deleter.times) == 1
    # Counted once (when first seen, at most a poll after 100 s), then never again.
    assert deleter.times[0] == someone.wrote + IDLE


GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(cwd: Path, *args: str, **env: str) -> None:
    subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV | env, check=True, capture_output=True, text=True
    )


async def test_a_commit_dated_ahead_counts_once_at_the_time_it_was_written(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "a.txt")
    before = time.time()
    git(repo, "commit", "-q", "-m", "from the future", GIT_COMMITTER_DATE="2099-01-01T00:00:00")
    after = time.time()
    clock = Clock(after)
    signal = GitSignal(lambda: [str(repo)], clock=clock)
    found = await signal.newer_than(before - 1)
    assert found is not None and before - 1 <= found.at <= after + 1
    # Two hours on, nothing happened in the repository since: no activity, whatever its date.
    clock.now = after + 7200
    assert await signal.newer_than(after + 3600) is None
