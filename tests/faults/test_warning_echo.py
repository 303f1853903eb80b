"""The daemon's own warning never keeps the app alive, by any path.

Code Editor builds that write ``~/.sagemaker-last-active-timestamp`` (in the home folder, which the
walk watches) rewrite it whenever a terminal showed output within their check interval. The
warning the daemon writes to the terminals is such output: the extension answers with a
heartbeat. That file is the editor signal's, with its echo guard; the walk never counts it.

Here the extension is a real process (a test double that rewrites the home heartbeat file, in
place, as soon as a terminal's device time moves), the terminal a real pseudo-terminal, the
daemon the real one against the fake SageMaker.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from autostop_async.config import Config
from autostop_async.signal_set import build_signal_set
from tests.integration.conftest import Daemon, app_status
from tests.support.fake_sagemaker import FakeSageMaker
from tests.support.waiting import wait_for

pytestmark = pytest.mark.faults

IDLE, WARN, INTERVAL = 10.0, 4.0, 0.5
MARGIN = 15.0

#: The idle extension of those builds, reduced to what matters here: a heartbeat on activation,
#: and one whenever a terminal device's time moved (the real one looks every 60 s for a move in
#: the last 60 s: this one looks every 0.1 s, which makes the loop only tighter). Each heartbeat
#: is written like ``fs.writeFileSync``: truncate, then write. One line per heartbeat on stdout.
EXTENSION = r"""
import os, sys, time
from datetime import datetime, timezone

pts, heartbeat = sys.argv[1], sys.argv[2]

def beat():
    with open(heartbeat, "w") as f:
        now = datetime.now(timezone.utc)
        f.write(now.isoformat(timespec="milliseconds").replace("+00:00", "Z"))
    print("beat", time.time(), flush=True)

def times():
    return {n: os.stat(os.path.join(pts, n)).st_mtime for n in os.listdir(pts)}

beat()
seen = times()
while True:
    time.sleep(0.1)
    now = times()
    if now != seen:
        seen = now
        beat()
"""


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A folder of terminal devices holding one real pseudo-terminal, unused for an hour; and
    the master side (what the terminal emulator reads)."""
    pts = tmp_path / "pts"
    pts.mkdir()
    master, slave = os.openpty()
    os.set_blocking(master, False)
    long_ago = time.time() - 3600
    os.utime(os.ttyname(slave), (long_ago, long_ago))
    (pts / "3").symlink_to(os.ttyname(slave))
    yield pts, master
    os.close(master)
    os.close(slave)


@pytest.fixture
def extension(tmp_path: Path, workspace: Path, terminal: tuple[Path, int]) -> Iterator[Path]:
    """The editor's idle extension, running; yields the file it prints its heartbeats to."""
    beats = tmp_path / "beats.txt"
    heartbeat = workspace / ".sagemaker-last-active-timestamp"
    with beats.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", EXTENSION, str(terminal[0]), str(heartbeat)], stdout=out
        )
    try:
        wait_for(lambda: heartbeat.exists(), MARGIN, "the extension to activate")
        yield beats
    finally:
        proc.kill()
        proc.wait()


def test_the_warning_echoed_by_the_editor_into_the_home_heartbeat_does_not_keep_the_app(
    launch: Callable[..., Daemon],
    fake: FakeSageMaker,
    metadata: Path,
    workspace: Path,
    terminal: tuple[Path, int],
    extension: Path,
    tmp_path: Path,
) -> None:
    started = time.time()
    log = tmp_path / "daemon.log"
    daemon = launch(
        "--watch", str(workspace), "--home", str(workspace),
        "--metadata-file", str(metadata), "--state-dir", str(tmp_path / "state"),
        "--idle-time", str(IDLE), "--interval", str(INTERVAL), "--warn-before", str(WARN),
        "--terminals", "--terminals-dir", str(terminal[0]),
        "--editor", "--editor-idle-url", "http://127.0.0.1:1/api/idle",
        "--editor-idle-file", str(tmp_path / "absent-heartbeat"),
        "--no-busy",
        log=log,
    )  # fmt: skip
    wait_for(lambda: app_status(fake) == "Deleting", IDLE + MARGIN, "the app to be deleted")
    assert time.time() - started < IDLE + MARGIN
    assert daemon.proc.wait(MARGIN) == 0
    text = log.read_text()
    # The warning reached the terminal, and the extension answered it with a heartbeat.
    assert "warned 1 terminal(s)" in text, text
    assert b"this app will be stopped" in os.read(terminal[1], 65536)
    beats = extension.read_text().splitlines()
    assert len(beats) >= 2, beats  # activation, then the echo of the warning
    # Neither the echo nor anything else of the daemon's counted: nothing happened since start.
    decision = next(line for line in text.splitlines() if "deleting app" in line)
    assert "last activity daemon-start" in decision, decision
    assert text.count("warned") == 1, text


async def test_the_walk_never_counts_a_heartbeat_file_wherever_it_is_configured(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    (home / "editor").mkdir(parents=True)
    configured = home / "editor" / "heartbeat"  # --editor-idle-file inside the watched home
    legacy = home / ".sagemaker-last-active-timestamp"
    work = home / "train.py"
    for path in (configured, legacy, work):
        path.write_text("x")
    config = Config(
        watch=(home,), home=home, editor_idle_file=configured, state_dir=tmp_path / "state"
    )
    walk = build_signal_set(config).workspace
    try:
        time.sleep(0.05)  # change times have a clock tick's resolution
        since = time.time()
        time.sleep(0.05)
        for heartbeat in (configured, legacy):  # rewritten in place, as the editor does
            heartbeat.write_text("2026-12-04T22:00:00.000Z")
        assert await walk.newer_than(since) is None
        work.write_text("y")
        found = await walk.newer_than(since)
        assert found is not None and found.source == f"workspace:{work}"
    finally:
        await walk.aclose()
