"""The LCC deploy renders: settings filled in and quoted, named by content, within Studio's
limits; chaining; and the settings check with the daemon's own parser."""

from __future__ import annotations

import base64
import re
import subprocess
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
