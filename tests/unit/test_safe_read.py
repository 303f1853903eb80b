"""safe_read: regular files only, bounded in size, never blocking, stuck threads not repeated."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import pytest

from autostop_async.errors import FileTooLargeError, NotAnsweringError, NotRegularFileError
from autostop_async.safe_read import open_regular_for_write, read_bounded, read_file, run_blocking


def test_a_regular_file_is_read_with_its_stat(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"hello")
    read = read_bounded(path, 5)
    assert read.data == b"hello"
    assert read.stat.st_ino == path.stat().st_ino


def test_a_file_over_the_cap_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 6)
    with pytest.raises(FileTooLargeError, match="larger than 5 bytes"):
        read_bounded(path, 5)


@pytest.mark.parametrize("make", ["fifo", "device", "folder"])
def test_what_is_not_a_regular_file_is_refused_at_once(tmp_path: Path, make: str) -> None:
    path = tmp_path / "f"
    if make == "fifo":
        os.mkfifo(path)
    elif make == "device":
        path.symlink_to("/dev/zero")
    else:
        path.mkdir()
    started = time.monotonic()
    with pytest.raises(NotRegularFileError, match="not a regular file"):
        read_bounded(path, 100, follow=True)
    assert time.monotonic() - started < 1.0


def test_a_link_is_refused_unless_followed(tmp_path: Path) -> None:
    (tmp_path / "real").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(NotRegularFileError, match="a symbolic link"):
        read_bounded(tmp_path / "link", 10)
    assert read_bounded(tmp_path / "link", 10, follow=True).data == b"x"


def test_a_fifo_is_never_written_or_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "notice"
    os.mkfifo(fifo)
    with pytest.raises(NotRegularFileError, match="a FIFO"):  # nobody reads it
        open_regular_for_write(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        with pytest.raises(NotRegularFileError):  # somebody reads it
            open_regular_for_write(fifo)
    finally:
        os.close(reader)


def test_a_file_is_emptied_when_opened_for_writing(tmp_path: Path) -> None:
    path = tmp_path / "notice"
    path.write_text("old text")
    os.close(open_regular_for_write(path))
    assert path.read_text() == ""


async def test_a_stuck_call_times_out_once_then_fails_at_once() -> None:
    release = threading.Event()
    calls = 0

    def stuck() -> None:
        nonlocal calls
        calls += 1
        release.wait()

    try:
        started = time.monotonic()
        with pytest.raises(NotAnsweringError):
            await run_blocking("k", stuck, timeout=0.2)
        assert time.monotonic() - started < 1.0
        with pytest.raises(NotAnsweringError, match="still not answering"):
            await run_blocking("k", stuck, timeout=0.2)
        assert calls == 1  # no second thread while the first is stuck
    finally:
        release.set()
    deadline = time.monotonic() + 10  # once the stuck thread has ended, calls run again
    while True:
        try:
            assert await run_blocking("k", lambda: 42, timeout=1.0) == 42
            break
        except NotAnsweringError:
            assert time.monotonic() < deadline, "the released thread never ended"
            await asyncio.sleep(0.05)


async def test_errors_of_the_call_reach_the_caller(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await read_file(tmp_path / "absent", 10)
