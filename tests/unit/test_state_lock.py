"""The state folder's lock (``state.lock_state_dir``), one process at a time; the daemon's use of
it is tested end to end in ``tests/faults/test_one_daemon.py``."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

import pytest

from autostop_async.errors import StateDirBusy
from autostop_async.state import LOCK_FILE, daemon_holding, lock_state_dir


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
