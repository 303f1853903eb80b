"""The daemon as a user runs it: a subprocess deleting (or not) an app on moto's server."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.fake_sagemaker import FakeSageMaker
from tests.support.waiting import wait_for

from .conftest import (
    ARN,
    DOMAIN,
    REGION,
    SPACE,
    Daemon,
    age_tree,
    app_status,
    check_once,
    run_cli,
    wait_deleted,
)

IDLE, INTERVAL = 3.0, 0.5
#: Start-up, the first SageMaker call (~0.5 s), aioboto3's import: generous on a busy 2-core box.
MARGIN = 15.0


def daemon_args(*extra: str) -> tuple[str, ...]:
    return ("--idle-time", str(IDLE), "--interval", str(INTERVAL), *extra)


def test_an_idle_app_is_deleted_within_idle_time_plus_interval(
    start_daemon: Callable[..., Daemon], fake: FakeSageMaker, tmp_path: Path, workspace: Path
) -> None:
    # The daemon's own state and log inside the watched root must not keep the app alive.
    started = time.time()
    daemon = start_daemon(*daemon_args("--state-dir", str(workspace / ".autostop")))
    wait_deleted(fake, IDLE + INTERVAL + MARGIN, "the app to be deleted")
    deleted_at = fake.calls("DeleteApp")[-1]["time"]
    assert deleted_at - started >= IDLE  # never before the idle time
    assert daemon.proc.wait(10) == 0
    text = daemon.text()
    assert "started" in text
    assert f"deleted app {ARN}" in text


def test_a_busy_workspace_keeps_the_app_until_changes_stop(
    start_daemon: Callable[..., Daemon], fake: FakeSageMaker, workspace: Path
) -> None:
    stop = threading.Event()

    def write_every_half_second() -> None:
        n = 0
        while not stop.wait(0.5):
            (workspace / "proj" / "out.txt").write_text(str(n))
            n += 1

    writer = threading.Thread(target=write_every_half_second)
    writer.start()
    try:
        daemon = start_daemon(*daemon_args())
        busy_until = time.monotonic() + 3 * IDLE
        while time.monotonic() < busy_until:  # watching, with a bound: must stay alive
            assert app_status(fake) == "InService", daemon.text()
            assert daemon.proc.poll() is None
            time.sleep(0.2)
        assert "active: workspace:" in daemon.text()
    finally:
        stop.set()
        writer.join()
    stopped = time.time()
    wait_deleted(fake, IDLE + INTERVAL + MARGIN, "the app to be deleted once the writes stopped")
    assert fake.calls("DeleteApp")[-1]["time"] - stopped >= IDLE - 0.6
    assert daemon.proc.wait(10) == 0


def test_odd_mtimes_neither_hide_activity_nor_keep_the_app_alive(
    start_daemon: Callable[..., Daemon], fake: FakeSageMaker, workspace: Path
) -> None:
    daemon = start_daemon(*daemon_args())
    wait_for(lambda: "watching since" in daemon.text(), MARGIN, "the daemon to start")
    time.sleep(IDLE / 2)  # half way to the deadline, the user writes two files
    written = time.time()
    ancient = workspace / "proj" / "restored.csv"
    ancient.write_text("a,b\n")
    os.utime(ancient, (631_152_000, 631_152_000))  # an mtime from 1990 (cp -p, tar x)
    future = workspace / "proj" / "skewed.bin"
    future.write_text("x")
    os.utime(future, (1_900_000_000, 1_900_000_000))  # an mtime in 2030 (touch -d)
    wait_deleted(fake, IDLE + INTERVAL + MARGIN, "the app to be deleted despite a file dated 2030")
    # The 1990 file was activity: no deletion before it was idle for IDLE seconds.
    assert fake.calls("DeleteApp")[-1]["time"] - written >= IDLE - 0.1
    assert daemon.proc.wait(10) == 0


def test_throttled_twice_then_deleted(
    start_daemon: Callable[..., Daemon], fake: FakeSageMaker
) -> None:
    fake.inject("DeleteApp", "ThrottlingException", message="Rate exceeded", count=2)
    daemon = start_daemon(*daemon_args())
    assert daemon.proc.wait(IDLE + 3 * MARGIN) == 0
    assert [c["status"] for c in fake.calls("DeleteApp")] == [400, 400, 200]
    assert app_status(fake) in ("Deleting", "Deleted")
    assert f"deleted app {ARN}" in daemon.text()


def test_access_denied_keeps_the_daemon_retrying_with_backoff(
    start_daemon: Callable[..., Daemon], fake: FakeSageMaker
) -> None:
    fake.inject("DeleteApp", "AccessDeniedException", message="not authorized", count=-1)
    daemon = start_daemon(*daemon_args())
    wait_for(
        lambda: daemon.text().count("retrying in") >= 3, IDLE + 3 * MARGIN, "three failed attempts"
    )
    assert daemon.proc.poll() is None  # alive, not a crash loop
    text = daemon.text()
    assert "sagemaker:DeleteApp" in text
    assert ARN in text
    assert "retrying in 0h00m01s" in text  # 0.5 s, then 1 s: growing
    fake.clear_faults()
    assert daemon.proc.wait(IDLE + 2 * MARGIN) == 0
    assert app_status(fake) in ("Deleting", "Deleted")


def test_once_access_denied_exits_1_with_one_clear_line(
    fake: FakeSageMaker, metadata: Path, workspace: Path, tmp_path: Path
) -> None:
    fake.inject("DeleteApp", "AccessDeniedException", message="not authorized", count=-1)
    age_tree(workspace, 1.0)
    done = run_cli("--once", "--idle-time", "1", "--watch", str(workspace),
                   "--metadata-file", str(metadata), "--state-dir", str(tmp_path / "s"),
                   endpoint=fake.endpoint_url)  # fmt: skip
    assert done.returncode == 1, done.stderr
    lines = [ln for ln in done.stderr.splitlines() if "sagemaker:DeleteApp" in ln]
    assert len(lines) == 1
    assert ARN in lines[0]
    assert "Traceback" not in done.stderr
    assert app_status(fake) == "InService"


def test_once_json_deletes_an_idle_app_through_the_endpoint_flag(
    fake: FakeSageMaker, metadata: Path, workspace: Path, tmp_path: Path
) -> None:
    age_tree(workspace, 1.0)
    done = check_once(
        workspace, metadata, tmp_path / "s", "--endpoint-url", fake.endpoint_url, endpoint=None
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["idle"] is True
    assert out["action"] == "deleted"
    assert out["idle_seconds"] >= 1.0
    assert out["idle_time"] == 1.0
    assert out["source"].startswith("workspace:")
    assert app_status(fake) in ("Deleting", "Deleted")
    # Asked again: the app is being deleted, which is "already gone", not an error.
    again = check_once(workspace, metadata, tmp_path / "s", endpoint=fake.endpoint_url)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["action"] == "already-gone"


def test_once_on_an_active_workspace_does_nothing(
    fake: FakeSageMaker, metadata: Path, workspace: Path, tmp_path: Path
) -> None:
    (workspace / "proj" / "notes.md").write_text("just now")
    done = run_cli("--once", "--json", "--idle-time", "1h", "--watch", str(workspace),
                   "--metadata-file", str(metadata), "--state-dir", str(tmp_path / "s"),
                   endpoint=fake.endpoint_url)  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert (out["idle"], out["action"]) == (False, "none")
    assert fake.calls("DeleteApp") == []


def test_dry_run_never_calls_delete_app_and_needs_no_metadata(
    fake: FakeSageMaker, workspace: Path, tmp_path: Path
) -> None:
    age_tree(workspace, 1.0)
    done = run_cli("--once", "--dry-run", "--json", "--idle-time", "1", "--watch",
                   str(workspace), "--metadata-file", str(tmp_path / "absent.json"),
                   "--state-dir", str(tmp_path / "s"), endpoint=fake.endpoint_url)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["action"] == "would-delete"
    assert "would delete" in done.stderr
    assert fake.calls("DeleteApp") == []


def test_an_app_already_deleted_is_already_gone(
    fake: FakeSageMaker, metadata: Path, workspace: Path, tmp_path: Path
) -> None:
    """DeleteApp says ResourceNotFound, and DescribeApp confirms: Deleted. (An app that does
    not exist as named at all is exit 2: tests/faults/test_app_identity.py.)"""
    fake.add_app(DOMAIN, space_name=SPACE, region=REGION, status="Deleted")
    age_tree(workspace, 1.0)
    done = check_once(workspace, metadata, tmp_path / "s", endpoint=fake.endpoint_url)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["action"] == "already-gone"


def test_corrupt_metadata_exits_2_naming_the_file(
    fake: FakeSageMaker, workspace: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "resource-metadata.json"
    bad.write_text('{"AppType": "CodeEditor", "DomainId": ')
    done = run_cli("--once", "--watch", str(workspace), "--metadata-file", str(bad),
                   "--state-dir", str(tmp_path / "s"), endpoint=fake.endpoint_url)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert str(bad) in done.stderr
    assert "is not JSON" in done.stderr
    assert fake.calls() == []


def test_bad_setting_exits_2_naming_it(fake: FakeSageMaker, tmp_path: Path) -> None:
    done = run_cli("--once", "--idle-time", "soon", endpoint=fake.endpoint_url)
    assert done.returncode == 2
    assert "--idle-time" in done.stderr
    missing = run_cli("--once", "--watch", str(tmp_path / "nope"), endpoint=fake.endpoint_url)
    assert missing.returncode == 2
    assert "--watch" in missing.stderr


def test_sigterm_ends_the_daemon_promptly_with_state_intact(
    start_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    daemon = start_daemon("--idle-time", "1h", "--interval", "60")
    state = tmp_path / "state" / "state.json"
    wait_for(state.exists, MARGIN, "the state file")
    wait_for(lambda: "watching since" in daemon.text(), MARGIN, "the daemon to be watching")
    sent = time.monotonic()
    daemon.proc.terminate()
    assert daemon.proc.wait(5) == 0
    assert time.monotonic() - sent < 2.0
    record = json.loads(state.read_text())
    assert record["last_source"] in ("daemon-start",) or record["last_source"].startswith(
        "workspace:"
    )
    assert "stopped by signal" in daemon.text()


def test_a_restarted_daemon_keeps_the_clock(
    start_daemon: Callable[..., Daemon], fake: FakeSageMaker, tmp_path: Path
) -> None:
    first = start_daemon("--idle-time", "6", "--interval", "0.5")
    state = tmp_path / "state" / "state.json"
    wait_for(state.exists, MARGIN, "the state file")
    began = json.loads(state.read_text())["started"]
    first.proc.terminate()
    assert first.proc.wait(5) == 0
    second = start_daemon("--idle-time", "6", "--interval", "0.5")
    wait_deleted(fake, 6 + MARGIN, "deletion")
    assert json.loads(state.read_text())["started"] == began
    assert fake.calls("DeleteApp")[-1]["time"] - began >= 6 - 0.1
    assert second.proc.wait(10) == 0
