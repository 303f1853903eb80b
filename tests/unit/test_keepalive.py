"""Keepalive as a user types it, and the daemon honouring it."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import pytest

from autostop_async.cli import main
from autostop_async.config import load_config
from autostop_async.holds import KeepaliveReader, read_keepalive, write_keepalive
from tests.support.doubles import (
    APP,
    Clock,
    Deleter,
    FakeSignal,
    make_config,
    make_daemon,
    write_state,
)


def keepalive(tmp_path: Path, *args: str) -> int:
    return main(["keepalive", *args, "--state-dir", str(tmp_path / "state")])


def record(tmp_path: Path) -> dict[str, object]:
    return dict(json.loads((tmp_path / "state" / "keepalive.json").read_text()))


def test_keepalive_writes_when_the_app_may_stop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = time.time()
    assert keepalive(tmp_path, "2h") == 0
    out = capsys.readouterr().out
    assert "not stopped before" in out and "(in 2h00m00s)" in out
    saved = record(tmp_path)
    assert before + 7200 <= float(saved["until_epoch"]) <= time.time() + 7200  # type: ignore[arg-type]
    assert saved["by"]
    mode = (tmp_path / "state" / "keepalive.json").stat().st_mode & 0o777
    assert mode == 0o644  # the daemon may run as another user


def test_keepalive_cancel_removes_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert keepalive(tmp_path, "30m") == 0
    assert keepalive(tmp_path, "--cancel") == 0
    assert "cancelled" in capsys.readouterr().out
    assert not (tmp_path / "state" / "keepalive.json").exists()
    assert keepalive(tmp_path, "--cancel") == 0
    assert "no keepalive" in capsys.readouterr().out


def test_longer_than_the_maximum_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert keepalive(tmp_path, "13h") == 2
    err = capsys.readouterr().err
    assert "longer than the maximum 12h00m00s" in err and "--max-keepalive" in err
    assert not (tmp_path / "state").exists()


def test_the_daemons_maximum_wins_over_the_users_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "state.json").write_text(
        json.dumps({"idle_time": 3600, "controls": {"max_keepalive": 1800}})
    )
    assert keepalive(tmp_path, "1h", "--max-keepalive", "24h") == 2
    assert "maximum 0h30m00s (the daemon's --max-keepalive)" in capsys.readouterr().err
    assert keepalive(tmp_path, "20m") == 0


def test_keepalive_switched_off_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOSTOP_MAX_KEEPALIVE", "0")
    assert keepalive(tmp_path, "1h") == 2
    assert "keepalive is turned off here" in capsys.readouterr().err


@pytest.mark.parametrize("args", [[], ["soon"], ["1h", "--cancel"], ["0"]])
def test_bad_requests_exit_2(tmp_path: Path, args: list[str]) -> None:
    try:
        code = keepalive(tmp_path, *args)
    except SystemExit as exc:  # argparse's own usage errors
        code = int(exc.code or 0)
    assert code == 2


def test_an_unwritable_state_folder_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "state").write_text("a file, not a folder")
    assert keepalive(tmp_path, "1h") == 1
    assert "cannot write" in capsys.readouterr().err


def test_the_reader_caps_at_the_change_time_plus_the_maximum(tmp_path: Path) -> None:
    path = tmp_path / "keepalive.json"
    path.write_text(json.dumps({"until_epoch": time.time() + 10 * 86400, "by": "mallory"}))
    hold = read_keepalive(path, 3600)
    assert hold is not None and hold.until == pytest.approx(time.time() + 3600, abs=5)
    assert read_keepalive(path, 0) is None  # keepalive off
    path.write_text("{broken")
    assert read_keepalive(path, 3600) is None


def test_the_reader_logs_a_new_and_an_ended_keepalive(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "keepalive.json"
    reader = KeepaliveReader(path, 3600)
    with caplog.at_level(logging.INFO, logger="autostop_async"):
        assert reader.read() is None
        write_keepalive(path, 600)
        hold = reader.read()
        assert hold is not None and hold.until == pytest.approx(time.time() + 600, abs=5)
        assert reader.read() == hold
        os.unlink(path)
        assert reader.read() is None
    messages = [r.getMessage() for r in caplog.records]
    assert any("is not stopped before" in m for m in messages)
    assert any("was cancelled" in m for m in messages)


async def test_the_app_is_not_stopped_before_the_keepalive_ends(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    write_state(tmp_path, last_at=800.0, last_source="x")
    path = tmp_path / "state" / "keepalive.json"
    path.write_text(json.dumps({"until_epoch": 1500.0, "by": "ann"}))
    os.utime(path)
    deleter = Deleter()
    clock = Clock(1000.0)  # idle for 200 s of 100: only the keepalive holds it
    reader = KeepaliveReader(path, 365 * 86400.0, clock=clock)  # the most the flag allows
    d = make_daemon(config, [FakeSignal("workspace")], APP, deleter, keepalive=reader, clock=clock)
    result = await d.once()
    assert result.action == "none" and deleter.calls == 0
    assert d.deadline == 1500.0
    saved = json.loads((tmp_path / "state" / "state.json").read_text())
    assert saved["controls"]["keepalive"]["by"] == "ann"
    clock.now = 1501.0  # the keepalive is over: idle since 800
    d = make_daemon(config, [FakeSignal("workspace")], APP, deleter, keepalive=reader, clock=clock)
    assert (await d.once()).action == "deleted"


def test_keepalive_settings_from_flags_and_environment() -> None:
    assert load_config([], {}).max_keepalive == 12 * 3600
    assert load_config([], {"AUTOSTOP_MAX_KEEPALIVE": "90m"}).max_keepalive == 5400
    assert load_config(["--max-keepalive", "0"], {}).max_keepalive == 0
