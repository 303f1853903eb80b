"""The decision to delete is taken on fresh evidence: what a person did while the workspace walk
ran (a slow volume takes minutes) is read right before DeleteApp, in the daemon's virtual time,
with a real heartbeat file and a real keepalive file."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from autostop_async.activity import Activity
from autostop_async.holds import KeepaliveReader, write_keepalive
from autostop_async.sagemaker import DeleteOutcome
from autostop_async.signals.base import SignalBase
from autostop_async.signals.editor import EditorSignal
from tests.support.doubles import APP, Deleter, VirtualTime, make_config, make_daemon

IDLE, INTERVAL = 3600.0, 60.0
#: How long one walk of the workspace takes (a cold EBS volume, a big home folder).
WALK = 300.0
#: When, into the first walk, the person comes back.
DURING = 200.0


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).isoformat().replace("+00:00", "Z")


class SlowWalk(SignalBase):
    """The workspace walk on a slow volume: each walk takes ``WALK`` seconds of virtual time and
    finds nothing; ``during`` runs once, ``DURING`` seconds into the first walk."""

    name = "workspace"
    cheap = False

    def __init__(self, vt: VirtualTime, during: Callable[[], None]) -> None:
        self.vt = vt
        self.during: Callable[[], None] | None = during
        self.walks: list[float] = []

    async def newer_than(self, t: float) -> Activity | None:
        self.walks.append(self.vt.now)
        if self.during is not None:
            await self.vt.sleep(DURING)
            self.during()
            self.during = None
            await self.vt.sleep(WALK - DURING)
        else:
            await self.vt.sleep(WALK)
        return None


async def test_a_click_during_a_slow_walk_keeps_the_app(tmp_path: Path) -> None:
    vt = VirtualTime(time.time())
    start = vt.now
    heartbeat = tmp_path / "heartbeat"
    heartbeat.write_text(iso(start - 7200))  # the editor's last use, long ago
    clicked: list[float] = []

    def click() -> None:  # the idle extension records a person's click
        clicked.append(vt.now)
        heartbeat.write_text(iso(vt.now))

    walk = SlowWalk(vt, click)
    editor = EditorSignal(None, heartbeat, clock=vt.clock)
    deleter = Deleter(DeleteOutcome.DELETED, clock=vt.clock)
    config = make_config(tmp_path, once=False, idle_time=IDLE, interval=INTERVAL)
    daemon = make_daemon(config, [walk, editor], APP, deleter, **vt.daemon_kw())
    assert await asyncio.wait_for(daemon.run(), timeout=20) == 0
    # Not deleted at the end of the walk during which the person clicked: an idle time later.
    assert walk.walks[0] == start + IDLE and clicked == [start + IDLE + DURING]
    assert len(deleter.times) == 1
    assert deleter.times[0] >= clicked[0] + IDLE


async def test_a_keepalive_during_a_slow_walk_keeps_the_app_until_its_end(tmp_path: Path) -> None:
    vt = VirtualTime(time.time())
    start = vt.now
    keepalive_file = tmp_path / "state" / "keepalive.json"
    told: list[float] = []

    def keepalive() -> None:  # `keepalive 1h` after the warning: "not stopped before T"
        told.append(write_keepalive(keepalive_file, 3600.0, now=vt.now).until)

    walk = SlowWalk(vt, keepalive)
    deleter = Deleter(DeleteOutcome.DELETED, clock=vt.clock)
    config = make_config(tmp_path, once=False, idle_time=IDLE, interval=INTERVAL)
    reader = KeepaliveReader(keepalive_file, 12 * 3600.0, clock=vt.clock)
    daemon = make_daemon(config, [walk], APP, deleter, keepalive=reader, **vt.daemon_kw())
    assert await asyncio.wait_for(daemon.run(), timeout=20) == 0
    assert walk.walks[0] == start + IDLE and len(told) == 1
    # The time the command promised holds: the app is not deleted before it.
    assert len(deleter.times) == 1
    assert deleter.times[0] >= told[0]
