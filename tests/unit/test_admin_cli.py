"""The admin commands from the command line: what an admin without credentials, or with a bad
setting, sees: one line and an exit code, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def admin(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -m autostop_async ARGS`` in a clean environment: no credentials, no config."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "PYTHONPATH")}
    return subprocess.run(
        [sys.executable, "-m", "autostop_async", *args],
        env={**keep, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("command", ["deploy", "undeploy"])
def test_no_credentials_is_one_line_and_exit_1(tmp_path: Path, command: str) -> None:
    wheelhouse = tmp_path / "wheelhouse"  # deploy checks it is one before any call
    wheelhouse.mkdir()
    (wheelhouse / "autostop_async-0.1.0-py3-none-any.whl").write_bytes(b"PK")
    more = ["--wheelhouse", str(wheelhouse)] if command == "deploy" else []
    done = admin(
        command, "--domain-id", "d-abc123", "--dry-run", "--region", "us-east-1", *more,
        env={
            "AWS_CONFIG_FILE": str(tmp_path / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "HOME": str(tmp_path),
        },
    )  # fmt: skip
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith(f"autostop-async {command}: error: ")
    assert "credentials" in lines[0]


def test_a_bad_idle_time_is_exit_2_before_any_call(tmp_path: Path) -> None:
    done = admin(
        "deploy", "--domain-id", "d-abc123", "--idle-time", "1hour", "--yes",
        env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "HOME": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "--idle-time" in done.stderr and "Traceback" not in done.stderr
