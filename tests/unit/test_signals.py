"""build_signals: the settings decide which signals watch the app, in one list."""

from __future__ import annotations

from pathlib import Path

from autostop_async.activity import Signal
from autostop_async.config import Config
from autostop_async.signals import build_signals


def names(config: Config) -> tuple[list[str], list[str]]:
    built = build_signals(config)
    return [sig.name for sig in built.signals], built.off


def test_every_signal_is_on_by_default_walk_first(tmp_path: Path) -> None:
    config = Config(watch=(tmp_path,), state_dir=tmp_path / "state")
    built = build_signals(config)
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
    assert built.notifier is not None  # the daemon warns before a stop


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


def test_once_sends_no_warning(tmp_path: Path) -> None:
    config = Config(watch=(tmp_path,), state_dir=tmp_path / "state", once=True)
    assert build_signals(config).notifier is None
