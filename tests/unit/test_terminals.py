"""Terminals, from real pseudo-terminals (``os.openpty``) linked into a folder of their own."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from autostop_async.config import load_config
from autostop_async.terminals import OwnWrites, TerminalsSignal, terminal_devices

LONG_AGO = time.time() - 3600


class Pty:
    """A real pseudo-terminal: ``master`` is the terminal emulator's side, ``slave`` the shell's."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)
        os.utime(self.path, (LONG_AGO, LONG_AGO))  # so any use moves its times at once
        self.rdev = os.stat(self.path).st_rdev

    def close(self) -> None:
        os.close(self.slave)
        os.close(self.master)


@pytest.fixture
def pts(tmp_path: Path) -> Iterator[tuple[Path, Pty]]:
    """A terminals folder holding one real terminal (as ``3``), ``ptmx`` and a plain file."""
    folder = tmp_path / "pts"
    folder.mkdir()
    pty = Pty()
    (folder / "3").symlink_to(pty.path)
    (folder / "ptmx").symlink_to("/dev/ptmx")
    (folder / "notes.txt").write_text("not a terminal")
    yield folder, pty
    pty.close()


def signal(folder: Path, **kw: object) -> TerminalsSignal:
    kw.setdefault("exclude_devices", frozenset())
    return TerminalsSignal(folder, **kw)  # type: ignore[arg-type]


def test_only_terminal_devices_are_listed(pts: tuple[Path, Pty]) -> None:
    folder, _ = pts
    assert [os.path.basename(p) for p, _ in terminal_devices(folder)] == ["3"]


async def test_an_unused_terminal_is_no_activity(pts: tuple[Path, Pty]) -> None:
    folder, _ = pts
    sig = signal(folder)
    assert await sig.newer_than(LONG_AGO + 1) is None
    assert sig.latest is not None and sig.latest.at == pytest.approx(LONG_AGO)


async def test_output_to_a_terminal_is_activity(pts: tuple[Path, Pty]) -> None:
    folder, pty = pts
    sig = signal(folder)
    before = time.time()
    os.write(pty.slave, b"epoch 3/10 loss 0.12\r\n")  # a program prints
    found = await sig.newer_than(LONG_AGO + 1)
    assert found is not None
    assert found.source == f"terminal:{folder / '3'}"
    assert before - 1 <= found.at <= time.time()


async def test_input_a_program_reads_is_activity(pts: tuple[Path, Pty]) -> None:
    folder, pty = pts
    os.write(pty.master, b"yes\n")  # someone types; `read` in the shell takes it
    os.read(pty.slave, 100)
    found = await signal(folder).newer_than(LONG_AGO + 1)
    assert found is not None and found.at > time.time() - 10


async def test_the_daemons_own_terminal_does_not_count(pts: tuple[Path, Pty]) -> None:
    folder, pty = pts
    os.write(pty.slave, b"2026-11-26T13:45:00Z autostop-async INFO active\r\n")
    assert await signal(folder, exclude_devices=frozenset({pty.rdev})).newer_than(0) is None


async def test_our_own_notice_does_not_count_but_later_use_does(pts: tuple[Path, Pty]) -> None:
    folder, pty = pts
    own = OwnWrites()
    sig = signal(folder, own_writes=own)
    fd = os.open(folder / "3", os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        os.write(fd, b"*** autostop-async: this app will be stopped at ...\r\n")
        own.wrote(fd, time.time())
    finally:
        os.close(fd)
    assert os.read(pty.master, 200).startswith(b"*** autostop-async")
    assert await sig.newer_than(LONG_AGO + 1) is None
    os.write(pty.master, b"ls\n")  # the person answers the notice
    os.read(pty.slave, 100)
    found = await sig.newer_than(LONG_AGO + 1)
    assert found is not None and found.at > time.time() - 10


async def test_a_missing_folder_is_no_activity(tmp_path: Path) -> None:
    assert await signal(tmp_path / "absent").newer_than(0) is None


async def test_the_newest_of_several_terminals_is_reported(tmp_path: Path) -> None:
    ptys = [Pty(), Pty()]
    try:
        for i, pty in enumerate(ptys):
            (tmp_path / str(i)).symlink_to(pty.path)
        os.write(ptys[1].slave, b"busy\r\n")
        found = await signal(tmp_path).newer_than(LONG_AGO + 1)
        assert found is not None and found.source == f"terminal:{tmp_path / '1'}"
    finally:
        for pty in ptys:
            pty.close()


def test_terminal_settings_from_flags_and_environment() -> None:
    config = load_config([], {})
    assert config.terminals and config.terminals_dir == Path("/dev/pts")
    config = load_config(["--terminals-dir", "/tmp/pts"], {"AUTOSTOP_TERMINALS": "no"})
    assert not config.terminals and config.terminals_dir == Path("/tmp/pts")
