"""A FIFO, a device or a hung mount where the daemon reads costs one warning,
never a hang.

Each file a user can touch is replaced by a FIFO nobody writes to (a plain ``open()`` of it
waits forever): the daemon must still decide (delete the idle app), exit, and say so once. A hung
mount is simulated by an ``open``/``stat`` of the file that blocks until the test ends.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from autostop_async.config import load_config
from autostop_async.daemon import Daemon as DecisionLoop
from autostop_async.git_records import GitSignal
from autostop_async.holds import KeepaliveReader, write_keepalive
from autostop_async.signals.editor import EditorSignal
from tests.integration.conftest import (  # fixtures, used by name
    Daemon,
    aws_env,
    fake,
    fake_server,
    metadata,
    run_cli,
    start_daemon,
    wait_deleted,
    workspace,
)

__all__ = ["fake", "fake_server", "metadata", "start_daemon", "workspace"]

pytestmark = pytest.mark.faults

#: Seconds the daemon takes at most to decide once idle (idle time 4 s), on a loaded machine.
DECIDE_BOUND = 30.0
#: Seconds an answer of a signal may take when a file hangs (the reader's timeout is 2 s).
ANSWER_BOUND = 4.0
#: A rescuer unblocks what the unfixed code waits on after this long, so it fails, not hangs.
RESCUE_AFTER = 6.0


def _fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def _warnings_about(daemon: Daemon, needle: str) -> list[str]:
    return [line for line in daemon.text().splitlines() if " WARNING " in line and needle in line]


def _case_heartbeat(tmp_path: Path, workspace: Path) -> tuple[list[str], str]:
    fifo = _fifo(tmp_path / "heartbeat")
    args = ["--editor", "--editor-idle-url", "http://127.0.0.1:1/api/idle"]
    return [*args, "--editor-idle-file", str(fifo)], str(fifo)


def _case_notice(tmp_path: Path, workspace: Path) -> tuple[list[str], str]:
    fifo = _fifo(tmp_path / "notice.txt")
    return ["--warn-before", "2", "--notice-file", str(fifo)], str(fifo)


def _case_keepalive(tmp_path: Path, workspace: Path) -> tuple[list[str], str]:
    fifo = _fifo(tmp_path / "state" / "keepalive.json")
    return [], str(fifo)


def _case_state(tmp_path: Path, workspace: Path) -> tuple[list[str], str]:
    fifo = _fifo(tmp_path / "state" / "state.json")
    return [], str(fifo)


def _case_git_reflog(tmp_path: Path, workspace: Path) -> tuple[list[str], str]:
    repo = workspace / "proj"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    _fifo(repo / ".git" / "logs" / "HEAD")
    return [], str(repo)


CASES: dict[str, Callable[[Path, Path], tuple[list[str], str]]] = {
    "heartbeat file": _case_heartbeat,
    "notice file": _case_notice,
    "keepalive file": _case_keepalive,
    "state file": _case_state,
    ".git/logs/HEAD": _case_git_reflog,
}


@pytest.mark.parametrize("which", list(CASES))
def test_a_fifo_in_place_of_a_file_costs_one_warning_and_the_daemon_still_decides(
    which: str,
    tmp_path: Path,
    workspace: Path,
    start_daemon: Callable[..., Daemon],
    fake: Any,
) -> None:
    args, needle = CASES[which](tmp_path, workspace)
    daemon = start_daemon("--idle-time", "4", "--interval", "0.5", *args)
    wait_deleted(
        fake,
        DECIDE_BOUND,
        f"the idle app to be deleted with a FIFO as the {which}; log:\n{daemon.text()}",
    )
    try:
        assert daemon.proc.wait(10) == 0
    except subprocess.TimeoutExpired:
        pytest.fail(f"the daemon did not exit after deleting the app; log:\n{daemon.text()}")
    warned = _warnings_about(daemon, needle)
    assert len(warned) == 1, f"one warning about {needle} expected; log:\n{daemon.text()}"
    assert "FIFO" in warned[0] or "No such device" in warned[0], warned[0]


def test_a_fifo_as_the_metadata_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    fifo = _fifo(tmp_path / "resource-metadata.json")
    (tmp_path / "ws").mkdir()
    try:
        done = run_cli(
            "--once", "--watch", str(tmp_path / "ws"), "--metadata-file", str(fifo),
            "--state-dir", str(tmp_path / "state"),
            endpoint=None, timeout=30,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail("a FIFO as the metadata file hung the daemon")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(fifo) in lines[0] and "FIFO" in lines[0], done.stderr


def test_status_answers_with_a_fifo_as_the_state_or_keepalive_file(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (tmp_path / "ws").mkdir()
    once = run_cli(
        "--once", "--dry-run", "--watch", str(tmp_path / "ws"), "--state-dir", str(state),
        endpoint=None,
    )  # fmt: skip
    assert once.returncode == 0, once.stderr
    _fifo(state / "keepalive.json")
    try:
        shown = run_cli("status", "--state-dir", str(state), endpoint=None, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("a FIFO as the keepalive file hung `status`")
    assert shown.returncode == 1, shown.stderr  # shown; the --once daemon is not running
    assert "keepalive" in shown.stderr and "FIFO" in shown.stderr, shown.stderr

    (state / "state.json").unlink()
    _fifo(state / "state.json")
    try:
        shown = run_cli("status", "--state-dir", str(state), endpoint=None, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("a FIFO as the state file hung `status`")
    assert shown.returncode == 2, shown.stderr


# -- a hung mount: an open or stat of the file blocks in the kernel --------------------------


@pytest.fixture
def hang() -> Iterator[Callable[[Path], None]]:
    """``hang(path)``: from now on, ``open`` and ``stat`` of ``path`` block (as on a hung NFS
    mount) until the test ends, or until RESCUE_AFTER seconds passed (so that code blocking the
    event loop on it fails the test by its time instead of hanging the run)."""
    release = threading.Event()
    hung: set[str] = set()
    real_open, real_os_open, real_stat = builtins.open, os.open, os.stat

    def blocked(path: object) -> bool:
        try:
            return os.fspath(path) in hung  # type: ignore[call-overload]
        except TypeError:
            return False

    def fake_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        if blocked(file):
            release.wait()
        return real_open(file, *args, **kwargs)

    def fake_os_open(path: Any, *args: Any, **kwargs: Any) -> int:
        if blocked(path):
            release.wait()
        return real_os_open(path, *args, **kwargs)

    def fake_stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        if blocked(path):
            release.wait()
        return real_stat(path, *args, **kwargs)

    rescuer = threading.Timer(RESCUE_AFTER, release.set)
    rescuer.start()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(builtins, "open", fake_open)
        mp.setattr(os, "open", fake_os_open)
        mp.setattr(os, "stat", fake_stat)
        yield lambda path: hung.add(os.fspath(path))
        release.set()
    rescuer.cancel()


async def _timed(coro: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = await asyncio.wait_for(coro, RESCUE_AFTER * 3)
    return result, time.monotonic() - started


async def test_a_hung_heartbeat_file_costs_one_warning_never_a_hang(
    tmp_path: Path, hang: Callable[[Path], None], caplog: pytest.LogCaptureFixture
) -> None:
    heartbeat = tmp_path / "heartbeat"
    heartbeat.write_text("2026-01-01T00:00:00.000Z")
    signal = EditorSignal(None, heartbeat)
    hang(heartbeat)
    with caplog.at_level(logging.WARNING, logger="autostop_async"):
        for _ in range(3):
            found, took = await _timed(signal.newer_than(0.0))
            assert took < ANSWER_BOUND, f"a poll took {took:.1f} s"
            assert found is None
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1, [r.getMessage() for r in warned]
    assert str(heartbeat) in warned[0].getMessage()


async def test_a_hung_keepalive_file_keeps_the_keepalive_known_and_costs_one_warning(
    tmp_path: Path, hang: Callable[[Path], None], caplog: pytest.LogCaptureFixture
) -> None:
    config = load_config(
        ["--watch", str(tmp_path), "--state-dir", str(tmp_path / "state"), "--dry-run"]
    )
    path = config.state_dir / "keepalive.json"
    hold = write_keepalive(path, 3600)
    loop = DecisionLoop(config, [], None, None, keepalive=KeepaliveReader(path, 7200))
    await loop.start()
    assert loop.deadline == pytest.approx(hold.until)
    hang(path)
    with caplog.at_level(logging.WARNING, logger="autostop_async"):
        for _ in range(3):
            _, took = await _timed(loop.poll_cheap())
            assert took < ANSWER_BOUND, f"a poll took {took:.1f} s"
            assert loop.deadline == pytest.approx(hold.until)  # fail safe: still held
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1, [r.getMessage() for r in warned]
    assert str(path) in warned[0].getMessage()


@pytest.fixture
def rescue_fifos() -> Iterator[Callable[[Path], None]]:
    """``rescue(fifo)``: after RESCUE_AFTER seconds, give whoever waits to read ``fifo`` an end
    of file, so that code blocked on it fails the test by its time instead of hanging the run."""
    fifos: list[Path] = []

    def rescue() -> None:
        for fifo in fifos:
            with contextlib.suppress(OSError):  # ENXIO: nobody is waiting on it
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    timer = threading.Timer(RESCUE_AFTER, rescue)
    timer.start()
    yield fifos.append
    timer.cancel()
    rescue()


@pytest.mark.parametrize("record", ["HEAD", "config", "logs/HEAD"])
async def test_a_fifo_among_a_repositorys_records_skips_it_with_one_warning(
    record: str,
    tmp_path: Path,
    rescue_fifos: Callable[[Path], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    repo = tmp_path / "proj"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)  # noqa: ASYNC221
    fifo = repo / ".git" / record
    fifo.unlink(missing_ok=True)
    rescue_fifos(_fifo(fifo))
    signal = GitSignal(lambda: [str(repo)])
    with caplog.at_level(logging.WARNING, logger="autostop_async"):
        for _ in range(2):
            found, took = await _timed(signal.newer_than(0.0))
            assert took < ANSWER_BOUND, f"a check took {took:.1f} s"
            assert found is None
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and str(repo) in warned[0], warned


# -- a hung mount seen by the real daemon ----------------------------------------------------

#: Loaded by the daemon at start (``sitecustomize``): ``open``/``stat`` of the paths named in
#: AUTOSTOP_TEST_HANG block forever, as on a hung NFS mount. Nothing else changes.
HANG_SITE = """
import builtins, io, os, threading

_hung = set(filter(None, os.environ.get("AUTOSTOP_TEST_HANG", "").split(os.pathsep)))
_forever = threading.Event()


def _blocking(fn):
    def call(path, *args, **kwargs):
        try:
            name = os.fsdecode(os.fspath(path))
        except TypeError:
            name = None
        if name in _hung:
            _forever.wait()
        return fn(path, *args, **kwargs)
    return call


if _hung:
    os.stat, os.lstat, os.open = _blocking(os.stat), _blocking(os.lstat), _blocking(os.open)
    builtins.open = io.open = _blocking(builtins.open)
"""


@pytest.mark.parametrize("which", ["heartbeat file", "keepalive file", "state file"])
def test_a_hung_mount_under_a_file_costs_one_warning_and_the_daemon_still_decides(
    which: str, tmp_path: Path, workspace: Path, metadata: Path, fake: Any
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(HANG_SITE)
    state = tmp_path / "state"
    state.mkdir()
    hung = {
        "heartbeat file": tmp_path / "heartbeat",
        "keepalive file": state / "keepalive.json",
        "state file": state / "state.json",
    }[which]
    log = tmp_path / "daemon.log"
    argv = [
        sys.executable, "-m", "autostop_async", "--watch", str(workspace),
        "--metadata-file", str(metadata), "--state-dir", str(state), "--log-file", str(log),
        "--idle-time", "4", "--interval", "0.5",
        "--editor", "--editor-idle-url", "http://127.0.0.1:1/api/idle",
        "--editor-idle-file", str(tmp_path / "heartbeat"),
    ]  # fmt: skip
    env = aws_env(fake.endpoint_url) | {
        "PYTHONPATH": os.pathsep.join([str(site), os.getcwd()]),
        "AUTOSTOP_TEST_HANG": str(hung),
    }
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    daemon = Daemon(proc, log)
    try:
        wait_deleted(
            fake,
            DECIDE_BOUND,
            f"the idle app to be deleted with the {which} on a hung mount; log:\n{daemon.text()}",
        )
        try:
            assert proc.wait(10) == 0
        except subprocess.TimeoutExpired:
            pytest.fail(f"the daemon did not exit after deleting the app; log:\n{daemon.text()}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    warned = _warnings_about(daemon, str(hung))
    assert len(warned) == 1, f"one warning about {hung} expected; log:\n{daemon.text()}"


def test_a_hung_mount_under_the_metadata_file_is_one_line_and_exit_2(
    tmp_path: Path, metadata: Path
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(HANG_SITE)
    (tmp_path / "ws").mkdir()
    env = {
        "PYTHONPATH": os.pathsep.join([str(site), os.getcwd()]),
        "AUTOSTOP_TEST_HANG": str(metadata),
    }
    args = [
        "--once", "--watch", str(tmp_path / "ws"),
        "--metadata-file", str(metadata), "--state-dir", str(tmp_path / "state"),
    ]  # fmt: skip
    try:
        done = run_cli(*args, endpoint=None, timeout=30, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail("a hung metadata file hung the daemon")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(metadata) in lines[0], done.stderr
