"""Terminals, from real pseudo-terminals (``os.openpty``) linked into a folder of their own."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from autostop_async.config import load_config
from autostop_async.own_writes import OwnWrites
from autostop_async.signals.terminals import (
    FUTURE_SLACK,
    TerminalsSignal,
    latest_use,
    terminal_devices,
)

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
    assert await sig.newer_than(latest_use(LONG_AGO)) is None
    assert sig.latest is not None and sig.latest.at == latest_use(LONG_AGO)


async def test_output_alone_is_no_activity_by_default(pts: tuple[Path, Pty]) -> None:
    # A `watch` or `top` left in a terminal: it prints for ever, nobody reads it.
    folder, pty = pts
    for n in range(3):
        os.write(pty.slave, f"Every 2.0s: date  {n}\r\n".encode())
        os.read(pty.master, 100)
    assert os.stat(pty.path).st_mtime > LONG_AGO + 60  # the kernel saw the output
    sig = signal(folder)
    assert await sig.newer_than(latest_use(LONG_AGO)) is None


async def test_output_to_a_terminal_is_activity_with_terminal_output(
    pts: tuple[Path, Pty],
) -> None:
    folder, pty = pts
    sig = signal(folder, count_output=True)
    before = time.time()
    os.write(pty.slave, b"epoch 3/10 loss 0.12\r\n")  # a program prints
    found = await sig.newer_than(latest_use(LONG_AGO))
    assert found is not None
    assert found.source == f"terminal:{folder / '3'}"
    assert before - 1 <= found.at <= time.time()


async def test_use_within_the_kernels_8_second_step_counts_until_its_end(
    pts: tuple[Path, Pty],
) -> None:
    # The kernel moves a terminal's time only once the clock leaves the 8-second step of the
    # time it holds: a time of 1003 means use until 1008 (a key at 1007 leaves it as it is).
    folder, pty = pts
    os.utime(pty.path, (1003.0, 1003.0))
    found = await signal(folder, clock=lambda: 5000.0).newer_than(0)
    assert found is not None and found.at == 1008.0
    found = await signal(folder, clock=lambda: 1005.0).newer_than(0)
    assert found is not None and found.at == 1005.0  # never later than now
    assert [latest_use(t) for t in (1000.0, 1007.9, 1008.0)] == [1008.0, 1008.0, 1016.0]


async def test_a_real_terminal_is_never_counted_as_used_before_its_last_output(
    pts: tuple[Path, Pty],
) -> None:
    folder, pty = pts
    for line in (b"epoch 1\r\n", b"epoch 2\r\n", b"epoch 3\r\n"):
        os.write(pty.slave, line)
        os.read(pty.master, 100)
    last = time.time()
    found = await signal(folder, clock=lambda: last + 3600, count_output=True).newer_than(0)
    assert found is not None
    assert last <= found.at <= last + 8  # the time the kernel kept may be up to 8 s older


async def test_input_a_program_reads_is_activity(pts: tuple[Path, Pty]) -> None:
    folder, pty = pts
    os.write(pty.master, b"yes\n")  # someone types; `read` in the shell takes it
    os.read(pty.slave, 100)
    found = await signal(folder).newer_than(latest_use(LONG_AGO))
    assert found is not None and found.at > time.time() - 10


async def test_the_daemons_own_terminal_does_not_count(pts: tuple[Path, Pty]) -> None:
    folder, pty = pts
    os.write(pty.slave, b"2026-11-26T13:45:00Z autostop-async INFO active\r\n")
    sig = signal(folder, exclude_devices=frozenset({pty.rdev}), count_output=True)
    assert await sig.newer_than(0) is None


async def test_our_own_notice_does_not_count_but_later_use_does(pts: tuple[Path, Pty]) -> None:
    folder, pty = pts
    own = OwnWrites()
    sig = signal(folder, own_writes=own, count_output=True)
    fd = os.open(folder / "3", os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        os.write(fd, b"*** autostop-async: this app will be stopped at ...\r\n")
        own.wrote(fd, time.time())
    finally:
        os.close(fd)
    assert os.read(pty.master, 200).startswith(b"*** autostop-async")
    assert await sig.newer_than(latest_use(LONG_AGO)) is None
    os.write(pty.master, b"ls\n")  # the person answers the notice
    os.read(pty.slave, 100)
    found = await sig.newer_than(latest_use(LONG_AGO))
    assert found is not None and found.at > time.time() - 10


async def test_a_missing_folder_is_no_activity(tmp_path: Path) -> None:
    assert await signal(tmp_path / "absent").newer_than(0) is None


async def test_the_newest_of_several_terminals_is_reported(tmp_path: Path) -> None:
    ptys = [Pty(), Pty()]
    try:
        for i, pty in enumerate(ptys):
            (tmp_path / str(i)).symlink_to(pty.path)
        os.write(ptys[1].master, b"ls\n")  # typed, and read by the shell
        os.read(ptys[1].slave, 100)
        found = await signal(tmp_path).newer_than(latest_use(LONG_AGO))
        assert found is not None and found.source == f"terminal:{tmp_path / '1'}"
    finally:
        for pty in ptys:
            pty.close()


async def test_a_terminal_dated_into_the_future_counts_once_not_at_every_poll(
    pts: tuple[Path, Pty], caplog: pytest.LogCaptureFixture
) -> None:
    folder, pty = pts
    now = [time.time()]
    first = now[0]
    year_2099 = 4_070_908_800.0
    os.utime(pty.path, (year_2099, year_2099))  # `touch -d 2099-01-01 /dev/pts/N`, as its owner
    sig = signal(folder, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="autostop_async"):
        found = await sig.newer_than(latest_use(LONG_AGO))
        assert found is not None and found.at == first  # counted once, as use now
        for hours in (1, 2, 30 * 24):
            now[0] = first + hours * 3600
            assert await sig.newer_than(first) is None  # not "now" again
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and "in the future" in warned[0], warned
    assert str(folder / "3") in warned[0], warned
    # A real use afterwards: the kernel stamps its clock again, and that counts.
    os.write(pty.master, b"ls\n")
    os.read(pty.slave, 100)
    now[0] = time.time()
    found = await sig.newer_than(first)
    assert found is not None and found.at >= first


async def test_a_time_a_little_ahead_is_taken_as_now(pts: tuple[Path, Pty]) -> None:
    folder, pty = pts
    now = time.time()
    ahead = now + FUTURE_SLACK / 2
    os.utime(pty.path, (ahead, ahead))
    found = await signal(folder, clock=lambda: now).newer_than(0)
    assert found is not None and found.at == now


def test_terminal_settings_from_flags_and_environment() -> None:
    config = load_config([], {})
    assert config.terminals and config.terminals_dir == Path("/dev/pts")
    assert not config.terminal_output
    config = load_config(["--terminals-dir", "/tmp/pts"], {"AUTOSTOP_TERMINALS": "no"})
    assert not config.terminals and config.terminals_dir == Path("/tmp/pts")
    assert load_config(["--terminal-output"], {}).terminal_output
    assert load_config([], {"AUTOSTOP_TERMINAL_OUTPUT": "1"}).terminal_output
