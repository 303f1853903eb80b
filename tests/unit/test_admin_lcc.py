"""The LCC deploy renders: settings filled in and quoted, named by content, within Studio's
limits; chaining; and the settings check with the daemon's own parser."""

from __future__ import annotations

import base64
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from autostop_async.admin.failures import UsageError
from autostop_async.admin.lcc import MAX_CONTENT_CHARS, is_ours, lcc_arn, lcc_name, render
from autostop_async.admin.settings import check_daemon_settings

TEMPLATE = Path(__file__).resolve().parents[2] / "lcc" / "on-start.sh"
NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")


def test_rendered_settings_are_quoted_and_read_back_by_bash(tmp_path: Path) -> None:
    settings = check_daemon_settings("45m", ["--exclude", "*.log", "--exclude=my dir/*"])
    script = render(TEMPLATE, settings, "s3://bucket/pre fix/wheelhouse/abc/")
    block = "\n".join(
        line
        for line in script.splitlines()
        if line.startswith(("IDLE_TIME=", "PACKAGE=", "EXTRA_ARGS="))
    )
    probe = tmp_path / "probe.sh"
    probe.write_text(block + '\nprintf "%s\\n" "$IDLE_TIME" "$PACKAGE" "${EXTRA_ARGS[@]}"\n')
    out = subprocess.run(["bash", str(probe)], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == [
        "45m",
        "s3://bucket/pre fix/wheelhouse/abc/",
        "--exclude",
        "*.log",
        "--exclude=my dir/*",
    ]
    comments = [x for x in script.splitlines() if x.strip().startswith("#") and "#!" not in x]
    assert comments == []  # comment lines are left out (room for chaining); #! lines are kept
    assert len(base64.b64encode(script.encode())) < MAX_CONTENT_CHARS


def test_the_name_carries_the_content_and_the_domain() -> None:
    a = lcc_name("d-one", "script A")
    assert NAME.fullmatch(a) and a.startswith("autostop-async-")
    assert a == lcc_name("d-one", "script A")
    assert a != lcc_name("d-one", "script B") and a != lcc_name("d-two", "script A")
    arn = lcc_arn("arn:aws-cn:sagemaker:cn-north-1:123456789012:domain/d-one", a)
    assert arn == f"arn:aws-cn:sagemaker:cn-north-1:123456789012:studio-lifecycle-config/{a}"
    assert is_ours(arn) and not is_ours(arn.replace("autostop-async-", "team-"))


@pytest.mark.parametrize(
    ("idle", "args", "message"),
    [
        ("1hour", [], "--idle-time"),
        ("0", [], "--idle-time"),
        ("1h", ["--interval", "soon"], "--interval"),
        ("1h", ["--log-file=/tmp/x"], "the lifecycle configuration sets --log-file"),
    ],
)
def test_daemon_settings_are_checked_by_the_daemons_parser(
    idle: str, args: list[str], message: str
) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        check_daemon_settings(idle, args)


# --- the loader: what the built-in LCC runs -------------------------------------------------


def _run_loader(tmp_path: Path, aws: str) -> tuple[subprocess.CompletedProcess[str], float, Path]:
    """Run the loader with a stand-in ``aws`` command on PATH; its log in ``tmp_path``."""
    from autostop_async.admin.lcc import loader

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").write_text("#!/bin/bash\n" + aws)
    (bin_dir / "aws").chmod(0o755)
    log = tmp_path / "app_container.log"
    log.touch()
    script = tmp_path / "loader.sh"
    script.write_text(loader("s3://bucket/autostop-async/wheelhouse/lcc/on-start-0123.sh"))
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "AUTOSTOP_LCC_LOG": str(log), "HOME": str(tmp_path)}
    env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = "/v2/credentials/x"
    began = time.monotonic()
    proc = subprocess.run(
        ["bash", str(script)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    return proc, time.monotonic() - began, log


def _poll(predicate: Callable[[], bool], what: str, bound: float = 30) -> None:
    deadline = time.monotonic() + bound
    while not predicate():
        assert time.monotonic() < deadline, f"not within {bound} s: {what}"
        time.sleep(0.05)


def test_the_loader_returns_at_once_while_the_fetch_hangs(tmp_path: Path) -> None:
    proc, took, log = _run_loader(tmp_path, "sleep 30\n")
    assert proc.returncode == 0
    assert took < 10  # the fetch takes 30 s, in the background
    assert "started its start script in the background" in proc.stderr
    assert "started its start script in the background" in log.read_text()


def test_the_loader_runs_the_fetched_script_detached(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    fetch = (
        f'printf "echo \\"started as \\$(id -u)\\" >{marker}\\n" >"$5"\n'  # aws s3 cp --quiet U F
    )
    proc, _, _log = _run_loader(tmp_path, fetch)
    assert proc.returncode == 0, proc.stderr
    _poll(marker.exists, "the start script ran")


def test_a_failed_fetch_is_logged_as_an_install_failed_event_and_exits_0(tmp_path: Path) -> None:
    from autostop_async.events import parse

    proc, _, log = _run_loader(tmp_path, "exit 1\n")
    assert proc.returncode == 0

    def event() -> dict[str, object] | None:
        lines = [parse(x) for x in log.read_text().splitlines()]
        return next((e for e in lines if e), None)

    _poll(lambda: event() is not None, "the install-failed event line")
    got = event()
    assert got is not None and got["event"] == "install-failed"
    assert got["reason"] == "could not fetch its start script from S3"
    assert "ERROR: could not fetch its start script from S3" in log.read_text()
