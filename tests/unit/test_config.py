"""The command-line contract: flags, AUTOSTOP_* environment, durations, validation."""

from __future__ import annotations

import os
import re
from dataclasses import fields
from pathlib import Path

import pytest

from autostop_async.config import DEFAULT_HOME, Config, build_parser, load_config, parse_settings
from autostop_async.durations import format_duration, parse_duration
from autostop_async.errors import ConfigError


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


#: One value for each setting, other than its default: (flag arguments, variable text, value).
EXAMPLES: dict[str, tuple[list[str], str, object]] = {
    "once": (["--once"], "1", True),
    "dry_run": (["--dry-run"], "yes", True),
    "json": (["--json"], "true", True),
    "idle_time": (["--idle-time", "2h"], "2h", 7200.0),
    "watch": (["--watch", "/w"], "/w", (Path("/w"),)),
    "home": (["--home", "/h"], "/h", Path("/h")),
    "editor_server_data_dir": (["--editor-server-data-dir", "/s"], "/s", Path("/s")),
    "exclude": (["--exclude", "*.log"], "*.log", ("*.log",)),
    "interval": (["--interval", "5"], "5", 5.0),
    "metadata_file": (["--metadata-file", "/m.json"], "/m.json", Path("/m.json")),
    "state_dir": (["--state-dir", "/st"], "/st", Path("/st")),
    "region": (["--region", "eu-west-1"], "eu-west-1", "eu-west-1"),
    "endpoint_url": (
        ["--endpoint-url", "http://127.0.0.1:5"],
        "http://127.0.0.1:5",
        "http://127.0.0.1:5",
    ),
    "log_file": (["--log-file", "/l.log"], "/l.log", Path("/l.log")),
    "log_level": (["--log-level", "debug"], " Debug ", "DEBUG"),
    "skip_git_ignored": (["--skip-git-ignored"], "on", True),
    "editor": (["--no-editor"], "0", False),
    "editor_idle_url": (["--editor-idle-url", "http://h:1/i"], "http://h:1/i", "http://h:1/i"),
    "editor_idle_file": (["--editor-idle-file", "/e"], "/e", Path("/e")),
    "terminals": (["--no-terminals"], "off", False),
    "terminal_output": (["--terminal-output"], "on", True),
    "skip_idle_noise": (["--no-skip-idle-noise"], "off", False),
    "terminals_dir": (["--terminals-dir", "/t"], "/t", Path("/t")),
    "busy": (["--no-busy"], "false", False),
    "busy_cpu": (["--busy-cpu", "50"], "50", 50.0),
    "busy_gpu": (["--busy-gpu", "20%"], "20%", 20.0),
    "busy_cgroup_dir": (["--busy-cgroup-dir", "/c"], "/c", Path("/c")),
    "max_keepalive": (["--max-keepalive", "1h"], "1h", 3600.0),
    "warn_before": (["--warn-before", "0"], "0", 0.0),
    "notice_file": (["--notice-file", ""], "", None),
}


def test_every_config_field_but_the_internal_ones_is_a_setting() -> None:
    """A field added to Config is a setting (and needs an example here) unless it is internal."""
    assert {f.name for f in fields(Config)} - set(EXAMPLES) == {"concurrency"}


@pytest.mark.parametrize(("name", "example"), EXAMPLES.items(), ids=list(EXAMPLES))
def test_each_setting_is_a_flag_and_an_environment_variable(
    name: str, example: tuple[list[str], str, object]
) -> None:
    argv, text, value = example
    assert getattr(Config(), name) != value
    by_flag, _ = parse_settings(argv, {}, daemon=False)
    by_env, _ = parse_settings([], {"AUTOSTOP_" + name.upper(): text}, daemon=False)
    assert getattr(by_flag, name) == value
    assert getattr(by_env, name) == value


def test_help_shows_each_default_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # no wrapped help
    entries = re.split(r"\n(?=  -)|\n\n", build_parser().format_help())
    lines = [" ".join(e.split()) for e in entries if e.startswith("  --")]
    assert len(lines) == len(EXAMPLES)
    for line in lines:
        assert line.count("default") == 1 and line.endswith(")"), line
    shown = {line.split()[0].rstrip(","): line.rsplit("(default: ", 1)[1][:-1] for line in lines}
    assert shown["--idle-time"] == "1h"
    assert shown["--interval"] == "1m"
    assert shown["--max-keepalive"] == "12h"
    assert shown["--warn-before"] == "5m"
    assert shown["--busy-gpu"] == "10"
    assert shown["--editor"] == "on" and shown["--once"] == "off"
    assert shown["--home"] == str(DEFAULT_HOME)
    assert shown["--state-dir"] == "/var/tmp/autostop-async"
    assert shown["--notice-file"].endswith(str(DEFAULT_HOME / "autostop-async-notice.txt"))


def test_an_empty_notice_file_is_none_even_with_a_home() -> None:
    c = load_config(["--home", "/srv/u"], {"AUTOSTOP_NOTICE_FILE": ""})
    assert c.notice_file is None
    assert load_config(["--home", "/srv/u"], {}).notice_file == Path(
        "/srv/u/autostop-async-notice.txt"
    )
