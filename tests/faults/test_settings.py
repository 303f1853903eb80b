"""Class 3: settings are checked at start, completely.

A duration that is not finite or is absurd, a URL whose port cannot be, a percentage that is not
a number: each stops the daemon with one line naming the setting, exit 2, before it does
anything. Nothing the daemon prints as JSON holds NaN or Infinity, and metadata nested absurdly
deep is a metadata error, not a traceback.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import run_cli

pytestmark = pytest.mark.faults


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m autostop_async ARGS`` with no endpoint: a bad setting is refused before any
    SageMaker call."""
    return run_cli(*args, endpoint=None, env=env)


def one_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("autostop-async: error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--idle-time", "nan"),
        ("--idle-time", "inf"),
        ("--idle-time", "1e400"),
        ("--idle-time", "1e12"),
        ("--idle-time", "9" * 400 + "h"),
        ("--interval", "nan"),
        ("--interval", "1e12"),
        ("--max-keepalive", "inf"),
        ("--max-keepalive", "1e12"),
        ("--warn-before", "nan"),
        ("--warn-before", "1e400"),
        ("--endpoint-url", "http://127.0.0.1:0"),
        ("--endpoint-url", "http://127.0.0.1:70000"),
        ("--endpoint-url", "https://127.0.0.1:http/"),
        ("--endpoint-url", "http://:8080/"),
        ("--editor-idle-url", "http://localhost:70000/api/idle"),
        ("--editor-idle-url", "http://localhost:0/api/idle"),
        ("--editor-idle-url", "http://localhost:port/api/idle"),
    ],
)
def test_a_bad_setting_is_one_line_and_exit_2(tmp_path: Path, flag: str, value: str) -> None:
    done = run(
        "--once", "--dry-run", "--json", "--watch", str(tmp_path),
        "--state-dir", str(tmp_path / "state"), f"{flag}={value}",
    )  # fmt: skip
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert flag in one_line(done.stderr)
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--idle-time", "-inf"), ("--busy-cpu", "nan"), ("--busy-cpu", "inf"), ("--busy-gpu", "nan")],
)
def test_negative_durations_and_percentages_stay_refused(
    tmp_path: Path, flag: str, value: str
) -> None:
    """A guard: the range checks refuse these already; keep it that way."""
    done = run("--once", "--dry-run", "--watch", str(tmp_path), f"{flag}={value}")
    assert done.returncode == 2
    assert flag in one_line(done.stderr)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AUTOSTOP_IDLE_TIME", "Infinity"),
        ("AUTOSTOP_INTERVAL", "nan"),
        ("AUTOSTOP_MAX_KEEPALIVE", "1e400"),
        ("AUTOSTOP_ENDPOINT_URL", "http://localhost:99999"),
    ],
)
def test_a_bad_setting_from_the_environment_names_the_variable(
    tmp_path: Path, name: str, value: str
) -> None:
    done = run(
        "--once", "--dry-run", "--watch", str(tmp_path), "--state-dir", str(tmp_path / "state"),
        env={name: value},
    )  # fmt: skip
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert name in one_line(done.stderr)


@pytest.mark.parametrize("value", ["verbose", "", "10", "debug2"])
@pytest.mark.parametrize("command", [[], ["--once"], ["status"], ["keepalive", "--list"]])
def test_a_bad_log_level_is_one_line_and_exit_2_never_a_restart_loop(
    tmp_path: Path, command: list[str], value: str
) -> None:
    """``AUTOSTOP_LOG_LEVEL=verbose`` (or empty, or ``10``) was a traceback and exit 1, which
    the supervisor restarts; now it is checked like every setting: one line, exit 2 (the
    supervisor does not restart exit 2), for the daemon and for every command."""
    daemon = (
        []
        if command[:1] in (["status"], ["keepalive"])
        else ["--dry-run", "--watch", str(tmp_path)]
    )
    done = run(
        *command, *daemon, "--state-dir", str(tmp_path / "state"),
        env={"AUTOSTOP_LOG_LEVEL": value},
    )  # fmt: skip
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "AUTOSTOP_LOG_LEVEL" in one_line(done.stderr)
    assert done.stdout == ""


def test_the_log_level_is_a_setting_like_the_others(tmp_path: Path) -> None:
    flags = ("--once", "--dry-run", "--watch", str(tmp_path), "--state-dir", str(tmp_path / "s"))
    done = run(*flags, "--log-level", "loud")
    assert done.returncode == 2 and "--log-level" in one_line(done.stderr)
    quiet = run(*flags, "--idle-time", "1h", env={"AUTOSTOP_LOG_LEVEL": "warning"})
    assert quiet.returncode == 0, quiet.stderr
    assert " INFO " not in quiet.stderr
    # The CPU signal says at its start, at DEBUG, where it measures from (a folder the test
    # owns: no cgroup there, so /proc/stat); whatever the walk finds, that line is written.
    (tmp_path / "cgroup").mkdir()
    chatty = run(
        *flags, "--idle-time", "1h", "--log-level", "DEBUG",
        "--busy-cgroup-dir", str(tmp_path / "cgroup"), env={"AUTOSTOP_BUSY": "1"},
    )  # fmt: skip
    assert chatty.returncode == 0, chatty.stderr
    assert " DEBUG CPU use measured from " in chatty.stderr, chatty.stderr


@pytest.mark.parametrize("value", ["nan", "inf", "1e400"])
def test_keepalive_refuses_a_duration_that_is_not_finite(tmp_path: Path, value: str) -> None:
    # `--` now comes before a command to run; "-inf" alone reads as an option (exit 2 too).
    done = run("keepalive", "--state-dir", str(tmp_path / "state"), value)
    assert done.returncode == 2, (done.stdout, done.stderr)
    line = one_line(done.stderr)
    assert "DURATION" in line and "finite" in line, line
    assert not (tmp_path / "state" / "keepalive.json").exists()


def test_the_largest_sane_settings_are_taken(tmp_path: Path) -> None:
    """The bounds are not too tight: a year's idle time, a day's interval, ports 1 and 65535."""
    done = run(
        "--once", "--dry-run", "--json", "--watch", str(tmp_path),
        "--state-dir", str(tmp_path / "state"), "--idle-time", "365d", "--interval", "1d",
        "--max-keepalive", "365d", "--endpoint-url", "http://127.0.0.1:65535",
        "--editor-idle-url", "http://127.0.0.1:1/api/idle",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["idle"] is False and answer["idle_time"] == 365 * 86400


def test_once_json_never_holds_nan_or_infinity(tmp_path: Path) -> None:
    """A check with a value that is not finite is refused before anything is printed; what
    is printed is strict JSON."""
    done = run("--once", "--dry-run", "--json", "--watch", str(tmp_path), "--idle-time", "nan")
    assert "NaN" not in done.stdout and "Infinity" not in done.stdout
    assert done.returncode == 2
    done = run(
        "--once", "--dry-run", "--json", "--watch", str(tmp_path),
        "--state-dir", str(tmp_path / "state"), "--idle-time", "2h",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    json.loads(done.stdout, parse_constant=lambda c: pytest.fail(f"{c} in {done.stdout}"))


def test_metadata_nested_absurdly_deep_is_a_metadata_error(tmp_path: Path) -> None:
    """100,000 nested lists make json.loads raise RecursionError: one line naming the file."""
    meta = tmp_path / "resource-metadata.json"
    meta.write_text("[" * 100_000 + "]" * 100_000)
    done = run(
        "--once", "--watch", str(tmp_path), "--metadata-file", str(meta),
        "--state-dir", str(tmp_path / "state"),
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    line = one_line(done.stderr)
    assert str(meta) in line and "nested too deeply" in line, line
