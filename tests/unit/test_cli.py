"""The program as a shell runs it: ``--help`` and ``--version``, and output piped into a reader
that goes away early (``status | head -1``), which must end quietly, never in a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autostop_async import __version__
from autostop_async.state import app_start_time
from tests.integration.conftest import aws_env

COMMANDS = [
    ["status"],
    ["status", "--json"],
    ["keepalive", "--list"],
    ["--help"],
    ["status", "--help"],
    ["keepalive", "--help"],
    ["deploy", "--help"],
    ["--version"],
]


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """A state folder with a daemon's state file, so that ``status`` has lines to print."""
    now, started = time.time(), app_start_time()
    assert started is not None
    state = {
        "app_started": started, "started": started, "last_at": now - 60,
        "last_source": "workspace:/home/u/a.py", "idle_time": 3600.0, "updated": now,
        "signals": {"workspace": {"cheap": False, "at": now - 60, "source": "workspace:/a"}},
    }  # fmt: skip
    folder = tmp_path / "state"
    folder.mkdir()
    (folder / "state.json").write_text(json.dumps(state))
    return folder


def run_into_closed_pipe(args: list[str], state_dir: Path) -> subprocess.CompletedProcess[bytes]:
    """``autostop-async ARGS`` whose stdout is a pipe nobody reads any more (its reader closed
    it before the first write, as ``head -1`` does after its line)."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            [sys.executable, "-m", "autostop_async", *args, *state_flag(args, state_dir)],
            stdout=write,
            stderr=subprocess.PIPE,
            env=aws_env(None),
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)


def state_flag(args: list[str], state_dir: Path) -> list[str]:
    return [] if "--help" in args or "--version" in args else ["--state-dir", str(state_dir)]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_reader_that_goes_away_ends_the_command_quietly(args: list[str], state_dir: Path) -> None:
    for _ in range(3):  # the race of a real `| head -1` made certain, and repeated
        done = run_into_closed_pipe(args, state_dir)
        err = done.stderr.decode(errors="replace")
        assert "Traceback" not in err and "BrokenPipeError" not in err, err
        assert "Exception ignored" not in err, err
        # 141 (as `cat` ends: 128 + SIGPIPE); argparse's --help drops a failed write itself.
        assert done.returncode in (0, 141), (done.returncode, err)


def test_status_piped_into_head_prints_its_first_line_and_no_traceback(state_dir: Path) -> None:
    for _ in range(10):
        done = subprocess.run(
            f"{sys.executable} -m autostop_async status --state-dir {state_dir} | head -1",
            shell=True,
            capture_output=True,
            env=aws_env(None),
            timeout=60,
            check=False,
        )
        assert done.stdout.decode().startswith("SIGNAL"), done.stdout
        assert b"Traceback" not in done.stderr, done.stderr


def test_help_lists_the_commands_before_the_daemons_flags_and_there_is_a_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "autostop_async", "--help"],
        capture_output=True,
        text=True,
        env=aws_env(None) | {"COLUMNS": "100"},
        timeout=60,
        check=True,
    )
    lines = done.stdout.splitlines()
    commands = lines.index("commands (autostop-async COMMAND --help):")
    first_flag = next(n for n, line in enumerate(lines) if line.lstrip().startswith("--"))
    assert commands < first_flag < commands + 10 < 20, done.stdout
    assert any(line.split()[:1] == ["status"] for line in lines[commands:first_flag])
    version = subprocess.run(
        [sys.executable, "-m", "autostop_async", "--version"],
        capture_output=True,
        text=True,
        env=aws_env(None),
        timeout=60,
        check=True,
    )
    assert version.stdout == f"autostop-async {__version__}\n"
