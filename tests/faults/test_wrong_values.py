"""Class 11: valid JSON with wrong values in the state or keepalive file.

NaN, strings, negative times, null, lists where objects belong: the file is ignored with one
warning, and the daemon goes on safely. An ignored state file starts the clock *now*, never at
the app's start: the file may have recorded activity (a CPU job that ended a minute ago) that no
signal can see any more, so counting from an older moment could make the app look idle for
longer than it was.
"""

from __future__ import annotations

import calendar
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from autostop_async.state import app_start_time
from autostop_async.times import UTC_FORMAT
from tests.integration.conftest import Daemon, age_tree, aws_env, run_cli
from tests.support.waiting import wait_for

pytestmark = pytest.mark.faults

IDLE = 2.0


def good_state(now: float) -> dict[str, Any]:
    """What a daemon of this app wrote a second ago: activity one second old."""
    started = app_start_time()
    assert started is not None
    return {
        "app_started": started, "started": started, "last_at": now - 1.0,
        "last_source": "busy:cpu 100% of 2 CPUs (pid 42 python train.py)", "hints": [],
        "idle_time": IDLE, "deadline": now - 1.0 + IDLE, "pid": None, "updated": now,
        "signals": {}, "controls": {}, "version": 1,
    }  # fmt: skip


def check(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "--once", "--dry-run", "--json", "--watch", str(tmp_path / "home"),
        "--state-dir", str(tmp_path / "state"), "--idle-time", str(IDLE), "--notice-file", "",
        *extra, endpoint=None,
    )  # fmt: skip


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if " WARNING " in line]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("last_at", float("nan")),
        ("last_at", "soon"),
        ("last_at", -5.0),
        ("last_at", None),
        ("last_at", [1]),
        ("started", float("inf")),
        ("updated", "yesterday"),
        ("signals", {"cpu": {"at": float("nan")}}),
        ("controls", {"max_keepalive": "forever"}),
        ("hints", "/home/sagemaker-user"),
        # Numbers checked like the flags that set them: no overflow, no stop a century away.
        ("last_stop_after", 1e300),
        ("last_stop_after", 3e9),
        ("idle_time", 1e300),
        ("last_at", 1e300),
        ("controls", {"warn_before": 1e300}),
    ],
)
def test_a_wrong_value_in_the_state_file_never_makes_the_app_idle(
    tmp_path: Path, key: str, value: object
) -> None:
    """A quiet workspace, a state file that knew of activity a second ago, one value wrong:
    one warning, and the check counts from now: not idle, no deletion."""
    (tmp_path / "home").mkdir()
    age_tree(tmp_path / "home", IDLE + 0.5)  # the workspace alone would say idle
    (tmp_path / "state").mkdir()
    state = good_state(time.time()) | {key: value}
    (tmp_path / "state" / "state.json").write_text(json.dumps(state))
    done = check(tmp_path)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout, parse_constant=lambda c: pytest.fail(f"{c} printed"))
    assert answer["idle"] is False and answer["action"] == "none", answer
    assert answer["source"] == "check-start", answer
    found = warnings(done.stderr)
    assert len(found) == 1 and "state file" in found[0] and key in found[0], done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("signals", {"workspace": {"at": "x", "source": "workspace:/p"}}),
        ("signals", {"cpu": {"at": 1e400}}),
        ("idle_time", float("inf")),
        ("controls", {"max_keepalive": "lots"}),
        ("last_stop_after", 1e300),
        ("last_stop_after", 3e9),
        ("updated", 1e300),
        ("signals", {"cpu": {"at": 1e300, "cheap": True}}),
    ],
)
def test_status_ignores_a_state_file_with_wrong_values(
    tmp_path: Path, key: str, value: object
) -> None:
    """``status`` (and ``status --json``) says there is no usable state, in lines, no
    traceback, no NaN or Infinity."""
    (tmp_path / "state").mkdir()
    state = good_state(time.time()) | {key: value}
    (tmp_path / "state" / "state.json").write_text(json.dumps(state))
    for args in ([], ["--json"]):
        done = run_cli("status", *args, "--state-dir", str(tmp_path / "state"), endpoint=None)
        assert done.returncode == 2, (done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        assert "NaN" not in done.stdout and "Infinity" not in done.stdout
        assert key in done.stderr and "no daemon state" in done.stderr, done.stderr


def keepalive_file(tmp_path: Path, until: object) -> Path:
    path = tmp_path / "state" / "keepalive.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    now = time.time()
    path.write_text(json.dumps({"until_epoch": until, "set_at_epoch": now, "by": "someone"}))
    return path


@pytest.mark.parametrize(
    "until",
    [float("nan"), float("inf"), "4102444800", -5.0, None, {"at": 1}],
    ids=["nan", "inf", "string", "negative", "null", "object"],
)
def test_a_wrong_value_in_the_keepalive_file_is_ignored_with_one_warning(
    tmp_path: Path, until: object
) -> None:
    """``status``: the keepalive is not shown; one warning names the file; nothing crashes."""
    (tmp_path / "home").mkdir()
    check(tmp_path)  # a state file to show
    keepalive_file(tmp_path, until)
    done = run_cli("status", "--json", "--state-dir", str(tmp_path / "state"), endpoint=None)
    assert done.returncode == 1, done.stderr  # shown; the --once check is not running
    report = json.loads(done.stdout, parse_constant=lambda c: pytest.fail(f"{c} printed"))
    assert report["keepalive"] is None
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "keepalive file" in lines[0] and "until_epoch" in lines[0], lines


def test_the_daemon_ignores_a_nan_keepalive_with_one_warning_and_stops_the_app(
    tmp_path: Path,
) -> None:
    """The daemon reads the keepalive every poll: a NaN in it is one warning (not one per
    poll), and the app is still stopped once idle."""
    (tmp_path / "home").mkdir()
    keepalive_file(tmp_path, float("nan"))
    log = tmp_path / "daemon.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "autostop_async", "--dry-run", "--watch", str(tmp_path / "home"),
         "--state-dir", str(tmp_path / "state"), "--idle-time", str(IDLE), "--interval", "0.1",
         "--notice-file", "", "--log-file", str(log)],
        env=aws_env(None),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + IDLE + 20
        while "would delete" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline, log.read_text() if log.exists() else "no log"
            assert proc.poll() is None, log.read_text()
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(10)
    text = log.read_text()
    found = [line for line in text.splitlines() if "keepalive file" in line]
    assert len(found) == 1 and " WARNING " in found[0] and "until_epoch" in found[0], text
    assert os.path.exists(tmp_path / "state" / "keepalive.json")  # read, never changed


@pytest.mark.parametrize("stop_after", [1e300, 3e9], ids=["1e300", "3e9"])
def test_the_daemon_ignores_a_huge_grace_in_the_state_file_with_one_warning(
    tmp_path: Path, start_daemon: Callable[..., Daemon], stop_after: float
) -> None:
    """``last_stop_after`` 1e300 (an OverflowError, then a restart loop) or 3e9 (a first check
    in the year 2122): one warning naming the key; the clock starts now, the first check within
    the idle time; no traceback."""
    (tmp_path / "state").mkdir()
    state = good_state(time.time()) | {"last_stop_after": stop_after, "idle_time": 30.0}
    (tmp_path / "state" / "state.json").write_text(json.dumps(state))
    daemon = start_daemon("--idle-time", "30", "--interval", "1", "--dry-run")
    line = wait_for(
        lambda: next((x for x in daemon.text().splitlines() if "first check at" in x), None),
        30,
        "the daemon's first line about its clock",
    )
    first = calendar.timegm(time.strptime(line.split("first check at ")[1][:20], UTC_FORMAT))
    assert first <= time.time() + 31, line
    found = warnings(daemon.text())
    assert len(found) == 1 and "last_stop_after" in found[0], daemon.text()
    daemon.stop()
    assert daemon.proc.stdout is not None
    assert b"Traceback" not in daemon.proc.stdout.read()


@pytest.mark.parametrize("until", [1e300, 3e9, 1e20], ids=["1e300", "3e9", "1e20"])
def test_a_huge_keepalive_is_capped_like_the_flag(tmp_path: Path, until: float) -> None:
    """A keepalive file's ``until`` far away is capped at the file's change time plus
    ``--max-keepalive`` (the most ``keepalive`` itself may ask for): no overflow, no year 2122."""
    (tmp_path / "home").mkdir()
    check(tmp_path)  # a state file to show
    keepalive_file(tmp_path, until)
    done = run_cli("status", "--json", "--state-dir", str(tmp_path / "state"), endpoint=None)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    report = json.loads(done.stdout)
    shown_until = calendar.timegm(time.strptime(report["keepalive"]["until"], UTC_FORMAT))
    assert shown_until <= time.time() + 12 * 3600 + 1
