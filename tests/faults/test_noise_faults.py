"""A repository on a hung mount answers only for itself; a FIFO named as the log file is one
clear error at start.

The hung mount is simulated as in ``test_nonblocking_reads``: a ``sitecustomize`` loaded by the
daemon makes ``open``/``stat`` of the named paths block for ever, as on a hung NFS mount.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from autostop_async import git_records
from autostop_async.git_records import GitSignal
from tests.faults.test_nonblocking_reads import HANG_SITE, hang
from tests.integration.conftest import Daemon, aws_env, run_cli, wait_deleted

__all__ = ["hang"]

pytestmark = pytest.mark.faults

IDLE = 3.0
#: Start, the walk, the hung repository's bound (git_records.REPO_TIMEOUT, 10 s), the first
#: SageMaker call: generous on a loaded 2-core machine.
DECIDE_BOUND = IDLE + git_records.REPO_TIMEOUT + 30.0


def _git_repo(path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    (path / "a.txt").write_text("a\n")
    git = ["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "add", "a.txt"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "first"], check=True)
    return path


async def test_a_hung_repository_answers_only_for_itself(
    tmp_path: Path,
    hang: Callable[[Path], None],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One repository's records block (a hung mount); the other's commit is still seen, the
    check ends within the bound, and the hung one counts once, at the moment it stopped
    answering: it keeps the app at most the idle time from then."""
    monkeypatch.setattr(git_records, "REPO_TIMEOUT", 0.5)
    hung_repo, other = _git_repo(tmp_path / "hung"), _git_repo(tmp_path / "other")
    now = [time.time()]
    signal = GitSignal(lambda: [str(hung_repo), str(other)], clock=lambda: now[0])
    t = now[0] - 60  # the commits above are newer
    hang(hung_repo / ".git" / "index")
    with caplog.at_level(logging.WARNING, logger="autostop_async"):
        started = time.monotonic()
        found = await signal.newer_than(t)
        assert time.monotonic() - started < 4.0
        assert found is not None
        assert signal.latest is not None and signal.latest.source.startswith(f"git:{other} ")
        stopped_at = now[0]
        # Later checks: the stuck read is not started again, and the hung repository's answer
        # is the moment it stopped answering, never "now".
        now[0] += 600
        started = time.monotonic()
        found = await signal.newer_than(stopped_at - 1)
        assert time.monotonic() - started < 1.0
        assert found is not None and found.at == stopped_at
        assert found.source == f"git:{hung_repo} (not answering since " + (
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stopped_at)) + ")"
        )
        assert await signal.newer_than(stopped_at) is None  # the app may go after the idle time
        assert "1 not answering" in (signal.note or "")
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and str(hung_repo) in warned[0], warned


def test_a_repository_on_a_hung_mount_does_not_keep_the_app_for_ever(
    tmp_path: Path, workspace: Path, metadata: Path, fake: Any
) -> None:
    """The real daemon, two repositories in the workspace, one on a hung mount: the idle app is
    deleted (after the idle time from when the repository stopped answering), with one warning
    naming it."""
    hung_repo = _git_repo(workspace / "on-nfs")
    _git_repo(workspace / "local")
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(HANG_SITE)
    log = tmp_path / "daemon.log"
    argv = [
        sys.executable, "-m", "autostop_async", "--watch", str(workspace),
        "--metadata-file", str(metadata), "--state-dir", str(tmp_path / "state"),
        "--log-file", str(log), "--idle-time", str(IDLE), "--interval", "0.5",
    ]  # fmt: skip
    env = aws_env(fake.endpoint_url) | {
        "PYTHONPATH": os.pathsep.join([str(site), os.getcwd()]),
        "AUTOSTOP_TEST_HANG": str(hung_repo / ".git" / "index"),
    }
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    daemon = Daemon(proc, log)
    try:
        wait_deleted(
            fake,
            DECIDE_BOUND,
            f"the idle app to be deleted with a repository on a hung mount; log:\n{daemon.text()}",
        )
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = daemon.text()
    warned = [line for line in text.splitlines() if " WARNING " in line and str(hung_repo) in line]
    assert len(warned) == 1 and "does not answer" in warned[0], text


def test_a_fifo_as_the_log_file_is_one_clear_error(tmp_path: Path, metadata: Path) -> None:
    fifo = tmp_path / "daemon.log"
    os.mkfifo(fifo)
    (tmp_path / "ws").mkdir()
    args = [
        "--watch", str(tmp_path / "ws"), "--metadata-file", str(metadata),
        "--state-dir", str(tmp_path / "state"), "--log-file", str(fifo), "--dry-run",
    ]  # fmt: skip
    try:
        done = run_cli(*args, endpoint=None, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("a FIFO as --log-file blocked the start")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert str(fifo) in lines[0] and "a FIFO" in lines[0], lines[0]
