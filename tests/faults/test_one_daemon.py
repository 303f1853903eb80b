"""Class 10: one daemon per state folder, enforced by the daemon itself.

The daemon holds an exclusive ``flock`` on ``daemon.lock`` in its state folder for its whole
life (the kernel drops it when the process ends, however it ends). A second daemon on the same
folder exits 2 with one line naming the folder and the first daemon's pid. ``--once`` does not
decide beside a running daemon: it exits 2 the same way, leaving the state untouched. ``status``
and ``keepalive`` only read, or write the keepalive file: they work while the daemon runs.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from autostop_async.state import (
    LOCK_FILE,
    StateDirBusy,
    daemon_holding,
    lock_state_dir,
)
from tests.integration.conftest import Daemon, run_cli, wait_for

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
    done = run_cli("--once", "--json", "--idle-time", "1", "--watch", str(workspace),
                   "--metadata-file", str(metadata), "--state-dir", str(state.parent),
                   endpoint=None)  # fmt: skip
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
    assert daemon_holding(tmp_path / "state") == (True, second.proc.pid)


# -- the lock itself ---------------------------------------------------------------------------


def test_the_lock_is_exclusive_and_names_its_holder(tmp_path: Path) -> None:
    lock = lock_state_dir(tmp_path)
    assert lock is not None
    try:
        assert daemon_holding(tmp_path) == (True, os.getpid())
        with pytest.raises(StateDirBusy) as busy:
            lock_state_dir(tmp_path, wait=0.1)
        assert busy.value.pid == os.getpid()
        assert str(tmp_path) in str(busy.value)
    finally:
        lock.release()
    assert daemon_holding(tmp_path) == (False, None)


def test_a_folder_that_cannot_hold_a_lock_costs_a_warning_not_the_daemon(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / LOCK_FILE).mkdir()  # not a file: no lock can be taken there
    assert lock_state_dir(tmp_path) is None
    assert any(
        "running without the guard" in r.getMessage() and r.levelno == logging.WARNING
        for r in caplog.records
    )


def test_children_do_not_inherit_the_lock(tmp_path: Path) -> None:
    """A child (git, nvidia-smi) that outlives the daemon must not keep its folder locked."""
    lock = lock_state_dir(tmp_path)
    assert lock is not None
    child = subprocess.Popen(["sleep", "30"], close_fds=False)
    try:
        lock.release()
        assert daemon_holding(tmp_path) == (False, None)
    finally:
        child.kill()
        child.wait()
