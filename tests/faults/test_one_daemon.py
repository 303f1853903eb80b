"""Class 10: one daemon per state folder, enforced by the daemon itself.

The daemon holds an exclusive ``flock`` on ``daemon.lock`` in its state folder for its whole
life (the kernel drops it when the process ends, however it ends). A second daemon on the same
folder exits 2 with one line naming the folder and the first daemon's pid. ``--once`` does not
decide beside a running daemon: it exits 2 the same way, leaving the state untouched. ``status``
and ``keepalive`` only read, or write the keepalive file: they work while the daemon runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import Daemon, check_once, run_cli
from tests.support.waiting import wait_for

pytestmark = pytest.mark.faults

MARGIN = 15.0
DAEMON_ARGS = ("--idle-time", "1h", "--interval", "60")


def watching(daemon: Daemon) -> None:
    wait_for(lambda: "watching since" in daemon.text(), MARGIN, "the daemon to be watching")


def test_a_second_daemon_on_the_same_state_folder_exits_2_naming_the_first(
    start_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    first = start_daemon(*DAEMON_ARGS)
    watching(first)
    second = start_daemon(*DAEMON_ARGS)
    out, _ = second.proc.communicate(timeout=MARGIN)
    assert second.proc.returncode == 2
    lines = out.decode().splitlines()
    assert len(lines) == 1, lines
    assert str(tmp_path / "state") in lines[0]
    assert f"pid {first.proc.pid}" in lines[0]
    assert first.proc.poll() is None  # the first one goes on


def test_once_refuses_to_decide_beside_a_running_daemon_and_writes_nothing(
    start_daemon: Callable[..., Daemon], tmp_path: Path, workspace: Path, metadata: Path
) -> None:
    daemon = start_daemon(*DAEMON_ARGS)
    watching(daemon)
    state = tmp_path / "state" / "state.json"
    before = state.read_bytes()
    done = check_once(workspace, metadata, state.parent, endpoint=None)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert f"pid {daemon.proc.pid}" in done.stderr and "--once" in done.stderr
    assert state.read_bytes() == before


def test_status_and_keepalive_work_while_the_daemon_runs(
    start_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    daemon = start_daemon(*DAEMON_ARGS)
    watching(daemon)
    state_dir = str(tmp_path / "state")
    status = run_cli("status", "--state-dir", state_dir, endpoint=None)
    assert status.returncode == 0, status.stderr
    assert f"daemon pid {daemon.proc.pid} is running" in status.stdout
    kept = run_cli("keepalive", "10m", "--state-dir", state_dir, endpoint=None)
    assert kept.returncode == 0, kept.stderr


def test_the_lock_dies_with_the_daemon(start_daemon: Callable[..., Daemon], tmp_path: Path) -> None:
    first = start_daemon(*DAEMON_ARGS)
    watching(first)
    first.proc.kill()  # no clean-up at all: the kernel drops the lock
    first.proc.wait()
    second = start_daemon(*DAEMON_ARGS)
    watching(second)
    assert second.proc.poll() is None
    third = start_daemon(*DAEMON_ARGS)  # and the new daemon holds it in turn
    out, _ = third.proc.communicate(timeout=MARGIN)
    assert third.proc.returncode == 2
    assert f"pid {second.proc.pid}" in out.decode()
