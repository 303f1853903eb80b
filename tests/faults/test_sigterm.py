"""Class 2 (part): SIGTERM ends the daemon within 2 s with exit 0 and its state saved, in every
state: in the middle of a walk through a folder of 300,000 entries, and with a worker thread
stuck in a system call (which nothing can stop, and a normal interpreter exit would join)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Daemon, aws_env, wait_for

pytestmark = pytest.mark.faults

ENTRIES = 300_000
LINKS_PER_FILE = 60_000  # hard links are cheap to make; ext4 allows 65,000 per file
MARGIN = 15.0
EXIT_WITHIN = 2.0


@pytest.fixture(scope="module")
def huge_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A watch root holding one folder of 300,000 entries (hard links to a few files), removed
    afterwards (a shared machine keeps pytest's last temporary folders)."""
    root = tmp_path_factory.mktemp("huge") / "home"
    big = root / "dataset"
    big.mkdir(parents=True)
    for n in range(ENTRIES):
        if n % LINKS_PER_FILE == 0:
            seed = big / f"part-{n:06d}"
            seed.write_bytes(b"x")
        else:
            os.link(seed, big / f"part-{n:06d}")
    yield root
    shutil.rmtree(root, ignore_errors=True)


def stop_and_time(daemon: Daemon, state: Path) -> tuple[float, int, dict[str, object]]:
    """SIGTERM; how long the exit took, its code, and the state file as it is then."""
    sent_wall, sent = time.time(), time.monotonic()
    daemon.proc.send_signal(signal.SIGTERM)
    try:
        code = daemon.proc.wait(EXIT_WITHIN + 5)
    except subprocess.TimeoutExpired:
        daemon.proc.kill()
        daemon.proc.wait()
        pytest.fail(f"no exit {EXIT_WITHIN + 5:g} s after SIGTERM:\n{daemon.text()}")
    took = time.monotonic() - sent
    record = json.loads(state.read_text())
    assert record["updated"] >= sent_wall - 0.05, "the state was not saved at the stop"
    return took, code, record


def test_sigterm_in_the_middle_of_a_walk_through_300k_entries(
    huge_folder: Path, tmp_path: Path
) -> None:
    big = str(huge_folder / "dataset")
    state = tmp_path / "state" / "state.json"
    log = tmp_path / "daemon.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "autostop_async", "--watch", str(huge_folder), "--dry-run",
         "--idle-time", "1", "--interval", "0.5", "--state-dir", str(state.parent),
         "--metadata-file", str(tmp_path / "absent.json"), "--log-file", str(log)],
        env=aws_env(None), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    daemon = Daemon(proc, log)
    try:

        def walking_the_big_folder() -> bool:
            try:
                fds = os.listdir(f"/proc/{proc.pid}/fd")
            except OSError:
                return False
            for fd in fds:
                try:
                    if os.readlink(f"/proc/{proc.pid}/fd/{fd}") == big:
                        return True
                except OSError:
                    continue
            return False

        wait_for(walking_the_big_folder, MARGIN, "the walk to be in the big folder", step=0.005)
        took, code, _ = stop_and_time(daemon, state)
    finally:
        daemon.stop()
    assert code == 0, daemon.text()
    assert took < EXIT_WITHIN, f"exit took {took:.2f} s"
    assert "stopped by signal" in daemon.text()


@pytest.mark.parametrize(
    ("fault", "args"),
    [
        ("stuck-fifo", ("--terminals", "--idle-time", "1h", "--interval", "0.2")),
        ("stuck-walk", ("--idle-time", "1", "--interval", "0.2")),
    ],
    ids=["signal thread in a FIFO open", "walk thread in a hung open"],
)
def test_sigterm_with_a_worker_thread_stuck_in_a_system_call(
    launch_daemon: Callable[..., Daemon], tmp_path: Path, fault: str, args: tuple[str, ...]
) -> None:
    target = tmp_path / "stuck"
    if fault == "stuck-fifo":
        os.mkfifo(target)
    daemon = launch_daemon(f"{fault}:{target}", *args)
    marker = Path(f"{target}.stuck")
    wait_for(marker.exists, MARGIN, "a worker thread to be stuck")
    time.sleep(0.2)  # let it enter the system call (or the wait) it never leaves
    took, code, record = stop_and_time(daemon, tmp_path / "state" / "state.json")
    assert code == 0, daemon.text()
    assert took < EXIT_WITHIN, f"exit took {took:.2f} s"
    assert record["pid"] == daemon.proc.pid
    assert "stopped by signal" in daemon.text()
