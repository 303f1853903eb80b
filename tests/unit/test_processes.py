"""Processes as a hold names and shows them: a bounded, escaped command line; the pid
namespace view."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

from autostop_async.processes import (
    MAX_CMDLINE_BYTES,
    MAX_COMMAND_CHARS,
    command_line,
    command_summary,
    pid_view,
)
from tests.support.waiting import wait_for


def test_a_command_summary_is_one_escaped_line_of_bounded_length() -> None:
    shown = command_summary(["python", "-c", "print(1)\n\x1b]52;c;aGk=\x07", "x" * 10_000])
    assert len(shown) <= MAX_COMMAND_CHARS and shown.endswith("…")
    assert shown.startswith("python -c print(1)\\n\\x1b]52;c;aGk=\\x07 xxx")
    assert all(ch >= " " for ch in shown)


def test_a_command_summary_looks_at_no_more_arguments_than_it_shows() -> None:
    looked: list[int] = []

    def endless() -> Iterator[str]:
        n = 0
        while True:
            looked.append(n)
            yield f"arg{n}"
            n += 1

    assert len(command_summary(endless())) <= MAX_COMMAND_CHARS
    assert len(looked) < 60


def test_a_long_command_line_is_read_only_as_far_as_it_is_shown() -> None:
    job = subprocess.Popen(["sh", "-c", "sleep 30", "job", *(["y" * 1000] * 100)])
    try:
        args = wait_for(lambda: (a := command_line(job.pid)) and a[0] == "sh" and a, 10, "the exec")
        assert args[:3] == ["sh", "-c", "sleep 30"]
        assert len("\0".join(args)) <= MAX_CMDLINE_BYTES
    finally:
        job.kill()
        job.wait()


def test_this_process_sees_its_own_number_in_proc() -> None:
    view = pid_view()
    assert view.own == os.getpid() and view.in_proc == os.getpid() and not view.nested
