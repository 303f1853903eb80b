"""The shape every signal shares (PolledSignal, OnceLog), and build_signal_set: the settings
decide which signals watch the app, in one list."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest

from autostop_async.activity import Activity
from autostop_async.config import Config
from autostop_async.notice import Notifier
from autostop_async.signal_set import build_signal_set
from autostop_async.signals.base import OnceLog, PolledSignal, Signal


def names(config: Config) -> tuple[list[str], list[str]]:
    built = build_signal_set(config)
    return [sig.name for sig in built.signals], built.off


def test_every_signal_is_on_by_default_walk_first(tmp_path: Path) -> None:
    config = Config(watch=(tmp_path,), state_dir=tmp_path / "state")
    built = build_signal_set(config)
    assert [sig.name for sig in built.signals] == [
        "workspace",
        "git",
        "editor",
        "terminals",
        "cpu",
        "gpu",
    ]
    assert built.off == []
    assert all(isinstance(sig, Signal) for sig in built.signals)


def test_switched_off_signals_are_left_out_and_named(tmp_path: Path) -> None:
    base = {"watch": (tmp_path,), "state_dir": tmp_path / "state"}
    assert names(Config(**base, editor=False)) == (
        ["workspace", "git", "terminals", "cpu", "gpu"],
        ["editor"],
    )
    assert names(Config(**base, terminals=False, busy=False)) == (
        ["workspace", "git", "editor"],
        ["terminals", "cpu", "gpu"],
    )


def test_once_sends_no_warning_the_daemon_does(tmp_path: Path) -> None:
    config = Config(watch=(tmp_path,), state_dir=tmp_path / "state", once=True)
    own_writes = build_signal_set(config).own_writes
    assert Notifier.from_config(config, own_writes) is None
    assert Notifier.from_config(replace(config, once=False), own_writes) is not None


class Samples(PolledSignal):
    """Answers the given sample times in turn (None: nothing seen)."""

    name = "samples"

    def __init__(self, *times: float | None) -> None:
        self.times = list(times)

    async def sample(self) -> Activity | None:
        at = self.times.pop(0)
        return None if at is None else Activity(at, f"samples:{at:g}")


async def test_a_polled_signal_answers_newer_samples_and_keeps_the_newest_seen() -> None:
    sig = Samples(100.0, 50.0, None, 200.0)
    assert isinstance(sig, Signal) and sig.cheap and sig.note is None and sig.hints is None
    assert await sig.newer_than(90.0) == Activity(100.0, "samples:100")
    assert await sig.newer_than(90.0) is None  # 50 is older than asked
    assert await sig.newer_than(90.0) is None  # nothing seen
    assert sig.latest == Activity(100.0, "samples:100")  # an older sample never moves it back
    assert await sig.newer_than(300.0) is None  # 200 is older than asked ...
    assert sig.latest == Activity(200.0, "samples:200")  # ... but it was seen
    await sig.aclose()


def test_once_log_says_a_problem_once_until_it_is_over(caplog: pytest.LogCaptureFixture) -> None:
    said = OnceLog(logging.getLogger("autostop_async"))
    with caplog.at_level(logging.INFO, logger="autostop_async"):
        assert said("gone:/x", logging.WARNING, "folder %s is gone", "/x")
        assert not said("gone:/x", logging.WARNING, "folder %s is gone", "/x")
        assert said("gone:/y", logging.WARNING, "folder %s is gone", "/y")
        assert len(said) == 2
        assert said.forget("gone:/x") and not said.forget("gone:/x")
        assert said("gone:/x", logging.WARNING, "folder %s is gone", "/x")  # back again
    lines = [r.getMessage() for r in caplog.records if r.name == "autostop_async"]
    assert lines == ["folder /x is gone", "folder /y is gone", "folder /x is gone"]
    assert {r.filename for r in caplog.records} == {"test_signals.py"}  # the caller's line
