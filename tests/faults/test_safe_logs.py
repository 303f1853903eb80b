"""Class 7: logs are safe.

One decision is one line. A file name with a newline, a terminal control sequence or bytes that
are not UTF-8 is escaped in the log and in ``status``, and nothing fails on encoding (a strict
UTF-8 stdout, the C locale). No file's contents reach the log: it says what is wrong with a file,
never what the file says.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from subprocess import PIPE

import pytest

from tests.integration.conftest import aws_env, run_cli

pytestmark = pytest.mark.faults

#: Every line of the log is a record: time, name and pid, level.
RECORD = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ autostop-async\[\d+\] [A-Z]+ ")

NAMES = [
    pytest.param(b"a\nINFO deleted app x", b"a\\nINFO deleted app x", id="newline"),
    pytest.param(b"b\xffc.py", b"b\\xffc.py", id="not-utf8"),
    pytest.param(b"\x1b[2Jclear\r", b"\\x1b[2Jclear\\r", id="control"),
]

ENCODINGS = [
    pytest.param({"PYTHONIOENCODING": "utf-8:strict"}, id="strict-utf8"),
    pytest.param({"LANG": "C", "LC_ALL": "C"}, id="C-locale"),
]


def once(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "--once", "--dry-run", "--watch", str(tmp_path / "home"),
        "--state-dir", str(tmp_path / "state"), "--idle-time", "1h",
        "--log-file", str(tmp_path / "daemon.log"), *extra, endpoint=None,
    )  # fmt: skip


def newest_change(home: Path, name: bytes) -> None:
    """A file named ``name`` becomes the newest change: created, then written a moment later
    (so it is newer than the folder, whose time its creation moved)."""
    path = os.path.join(os.fsencode(home), name)
    with open(path, "wb") as f:
        f.write(b"x")
    time.sleep(0.05)  # ctime has a clock tick's resolution
    with open(path, "ab") as f:
        f.write(b"y")


def log_lines(log: Path) -> list[str]:
    """The daemon's log, which must be valid UTF-8 (decoded strictly)."""
    return log.read_bytes().decode("utf-8").splitlines() if log.exists() else []


@pytest.fixture
def daemon_saw(tmp_path: Path) -> Iterator[Callable[[bytes], str]]:
    """Start a daemon (dry run, idle time 2 s) on an empty home; give it a file named ``name``
    as the newest change, and wait until its decision names the file: the log's text."""
    (tmp_path / "home").mkdir()
    log = tmp_path / "daemon.log"
    procs: list[subprocess.Popen[bytes]] = []

    argv = [
        sys.executable, "-m", "autostop_async", "--dry-run",
        "--watch", str(tmp_path / "home"), "--state-dir", str(tmp_path / "state"),
        "--idle-time", "2", "--interval", "0.2", "--notice-file", "", "--log-file", str(log),
    ]  # fmt: skip

    def named_it() -> bool:
        return any(" INFO active: workspace:" in ln and "home/" in ln for ln in log_lines(log))

    def run(name: bytes) -> str:
        env = aws_env(None)
        procs.append(subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=PIPE))
        deadline = time.monotonic() + 30
        while not any("watching since" in line for line in log_lines(log)):
            assert time.monotonic() < deadline and procs[0].poll() is None, log_lines(log)
            time.sleep(0.05)
        newest_change(tmp_path / "home", name)
        while not named_it():
            assert time.monotonic() < deadline and procs[0].poll() is None, log_lines(log)
            time.sleep(0.05)
        return log.read_bytes().decode("utf-8")

    yield run
    for proc in procs:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
        problems = err.decode("utf-8", "replace")
        assert "Logging error" not in problems and "Traceback" not in problems, problems


def status(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "autostop_async", "status", *args,
         "--state-dir", str(tmp_path / "state")],
        env=aws_env(None) | env, capture_output=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(("name", "escaped"), NAMES)
def test_a_hostile_file_name_is_escaped_on_the_one_decision_line(
    daemon_saw: Callable[[bytes], str], name: bytes, escaped: bytes
) -> None:
    text = daemon_saw(name)
    lines = text.splitlines()
    assert all(RECORD.match(line) for line in lines), text  # no line a name made
    named = [line for line in lines if " INFO active: " in line and "home/" in line]
    assert len(named) == 1, text
    assert escaped.decode() in named[0], named[0]
    assert "\x1b" not in text and "\r" not in text


@pytest.mark.parametrize("env", ENCODINGS)
@pytest.mark.parametrize(("name", "escaped"), NAMES)
def test_status_shows_a_hostile_file_name_escaped_under_any_encoding(
    tmp_path: Path,
    daemon_saw: Callable[[bytes], str],
    name: bytes,
    escaped: bytes,
    env: dict[str, str],
) -> None:
    daemon_saw(name)
    table = status(tmp_path, env)
    assert table.returncode == 0, table.stderr.decode(errors="replace")  # the daemon runs
    assert b"Traceback" not in table.stderr, table.stderr.decode(errors="replace")
    out = table.stdout.decode("utf-8")
    rows = [line for line in out.splitlines() if line.startswith("workspace ")]
    assert len(rows) == 1 and escaped.decode() in rows[0], out
    assert not any(line.startswith(("INFO", "clear", "c.py")) for line in out.splitlines()), out
    assert "\x1b" not in out and "\r" not in out
    answer = status(tmp_path, env, "--json")
    assert answer.returncode == 0, answer.stderr.decode(errors="replace")
    assert answer.stdout.isascii()
    report = json.loads(answer.stdout)
    workspace = next(s for s in report["signals"] if s["name"] == "workspace")
    assert os.path.basename(workspace["source"]).encode() in (name, escaped)


def test_a_malformed_heartbeat_file_is_named_in_the_log_never_quoted(tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    heartbeat = tmp_path / "heartbeat"
    heartbeat.write_text("x" * 5000 + "\nINFO deleted app x\n" + "y" * 5000)
    done = once(
        tmp_path, "--editor", "--editor-idle-url", "http://127.0.0.1:1/api/idle",
        "--editor-idle-file", str(heartbeat),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "daemon.log").read_text()
    warned = [line for line in text.splitlines() if "heartbeat file" in line]
    assert len(warned) == 1, text
    assert "xxx" not in warned[0] and "y" not in warned[0].split(str(heartbeat))[1], warned
    assert len(warned[0]) < 400, warned[0]
    assert all(RECORD.match(line) for line in text.splitlines()), text
