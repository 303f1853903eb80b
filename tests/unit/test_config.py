"""The command-line contract: flags, AUTOSTOP_* environment, durations, validation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autostop_async.config import (
    DEFAULT_HOME,
    ConfigError,
    format_duration,
    load_config,
    parse_duration,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("3600", 3600),
        ("90m", 5400),
        ("2h", 7200),
        ("1h30m", 5400),
        ("45s", 45),
        ("1.5h", 5400),
        ("1d", 86400),
        (" 2H ", 7200),
        ("0.5", 0.5),
    ],
)
def test_parse_duration_accepts_the_documented_forms(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "5x", "h", "1h30", "m5", "-5m"])
def test_parse_duration_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (3723, "1h02m03s"),
        (0, "0h00m00s"),
        (59.6, "0h01m00s"),
        (90000, "25h00m00s"),
        (-61, "-0h01m01s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_defaults_without_flags_or_environment() -> None:
    c = load_config([], {})
    assert c.idle_time == 3600
    assert c.watch is None  # the default: the home folder and the editor's folders
    assert c.watch_roots == (DEFAULT_HOME,) == (Path("/home/sagemaker-user"),)
    assert c.watch_editor_folders
    assert c.editor_server_data_dir is None
    assert c.notice_file == Path("/home/sagemaker-user/autostop-async-notice.txt")
    assert c.editor_idle_files == (
        Path("/tmp/.sagemaker-last-active-timestamp"),
        Path("/home/sagemaker-user/.sagemaker-last-active-timestamp"),
    )
    assert c.interval == 60
    assert c.metadata_file == Path("/opt/ml/metadata/resource-metadata.json")
    assert c.state_dir == Path("/var/tmp/autostop-async")
    assert (c.once, c.dry_run, c.json) == (False, False, False)
    assert c.region is None and c.endpoint_url is None


def test_environment_is_read_and_flags_win() -> None:
    env = {
        "AUTOSTOP_IDLE_TIME": "2h",
        "AUTOSTOP_WATCH": os.pathsep.join(["/a", "/b"]),
        "AUTOSTOP_EXCLUDE": "*.log",
        "AUTOSTOP_ONCE": "1",
        "AUTOSTOP_DRY_RUN": "true",
        "AUTOSTOP_INTERVAL": "5",
        "AUTOSTOP_REGION": "eu-west-1",
        "AUTOSTOP_ENDPOINT_URL": "http://127.0.0.1:5000",
    }
    c = load_config([], env)
    assert c.idle_time == 7200
    assert c.watch == (Path("/a"), Path("/b"))
    assert c.exclude == ("*.log",)
    assert c.once and c.dry_run
    assert c.interval == 5
    assert c.region == "eu-west-1"
    assert c.endpoint_url == "http://127.0.0.1:5000"
    assert not c.watch_editor_folders  # given folders replace the default ones
    c = load_config(["--idle-time", "90m", "--watch", "/x", "--watch", "/y"], env)
    assert c.idle_time == 5400
    assert c.watch == (Path("/x"), Path("/y"))


def test_home_moves_the_default_watch_root_notice_file_and_home_heartbeat() -> None:
    c = load_config(["--editor-server-data-dir", "/srv/ce"], {"AUTOSTOP_HOME": "/srv/u"})
    assert c.watch_roots == (Path("/srv/u"),)
    assert c.notice_file == Path("/srv/u/autostop-async-notice.txt")
    assert Path("/srv/u/.sagemaker-last-active-timestamp") in c.editor_idle_files
    assert c.editor_server_data_dir == Path("/srv/ce")
    c = load_config(["--home", "/srv/u", "--notice-file", "/srv/n.txt"], {})
    assert c.notice_file == Path("/srv/n.txt")  # an explicit notice file wins


@pytest.mark.parametrize(
    ("argv", "env", "named"),
    [
        (["--idle-time", "soon"], {}, "--idle-time"),
        ([], {"AUTOSTOP_IDLE_TIME": "0"}, "AUTOSTOP_IDLE_TIME"),
        (["--interval", "0"], {}, "--interval"),
        ([], {"AUTOSTOP_ONCE": "maybe"}, "AUTOSTOP_ONCE"),
        ([], {"AUTOSTOP_WATCH": ""}, "AUTOSTOP_WATCH"),
        (["--endpoint-url", "localhost:5000"], {}, "--endpoint-url"),
        (["--json"], {}, "--json"),
    ],
)
def test_invalid_values_name_the_setting(argv: list[str], env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_config(argv, env)
