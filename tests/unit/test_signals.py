"""build_signals: the settings decide which signals watch the app, in one list."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from autostop_async.activity import Signal
from autostop_async.config import Config
from autostop_async.git_activity import GitSignal
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


GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True)


def moment() -> float:
    """A time strictly between what was done before and what follows (coarse change times)."""
    time.sleep(0.02)
    t = time.time()
    time.sleep(0.02)
    return t


async def test_the_git_signal_reads_the_repositories_of_the_walk(tmp_path: Path) -> None:
    repo = tmp_path / "home" / "proj"
    repo.mkdir(parents=True)
    git(repo, "init", "-q")
    git(repo, "commit", "-q", "--allow-empty", "-m", "first")
    config = Config(watch=(tmp_path / "home",), state_dir=tmp_path / "state", once=True)
    built = build_signals(config)
    walk, git_signal = built.signals[0], built.signals[1]
    assert isinstance(git_signal, GitSignal)
    t = moment()
    assert await git_signal.newer_than(t) is None  # no walk yet: no repository known
    before = built.workspace.repos
    git(repo, "commit", "-q", "--allow-empty", "-m", "second")
    assert await walk.newer_than(time.time() + 60) is None  # a full walk, nothing that new
    assert before == frozenset()  # the walk gave a new set; the one read before is unchanged
    found = await git_signal.newer_than(t)
    assert found is not None and found.source.startswith(f"git:{repo} (")
    for sig in built.signals:
        await sig.aclose()
