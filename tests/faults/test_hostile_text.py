"""Class 7: text from users' files and processes, wherever it goes.

One rule for a file's path, a command line, the editor's data folder: control characters
escaped, length bounded, nothing quoted from a file's content. Each output path (the log, the
warning in the terminals and the notice file, ``status`` and ``status --json``) gets the same
hostile names: an OSC 52 sequence (which writes the clipboard of the terminal showing it),
``ESC[2J`` (which clears the screen), a newline (a forged line), a bidi override (reordered
text), bytes that are not UTF-8, and a 10,000-character name.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
import tty
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from autostop_async.activity import Activity
from autostop_async.config import Config
from autostop_async.logs import setup_logging
from autostop_async.notice import Notifier
from autostop_async.own_writes import OwnWrites
from autostop_async.state import app_start_time
from tests.integration.conftest import aws_env

pytestmark = pytest.mark.faults

HOSTILE = {
    "osc52": "\x1b]52;c;aGFja2Vk\x07",
    "clear-screen": "\x1b[2J",
    "newline": "a\nINFO deleted app x",
    "bidi": "evil\u202etxt.py",
    "not-utf8": os.fsdecode(b"b\xff\xfec.py"),
    "10k": "n" * 10_000,
}
#: What must never reach an output: C0 and C1 controls (a line's own end aside), DEL, line
#: separators, bidi overrides and isolates, lone surrogates (and so any byte not UTF-8).
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
#: The longest line any output path may write for one name (a name is shown up to 1,000
#: characters, escaped; the rest is counted).
MAX_LINE = 8_000

cases = pytest.mark.parametrize("name", list(HOSTILE.values()), ids=list(HOSTILE))


def safe_lines(data: bytes, newline: bytes = b"\n") -> list[str]:
    """The lines of ``data`` (strict UTF-8), each checked: no unsafe character, bounded."""
    text = data.decode("utf-8")  # strict: a byte that is not UTF-8 fails here
    lines = text.split(newline.decode())
    for line in lines:
        assert UNSAFE.search(line) is None, repr(line[:200])
        assert len(line) <= MAX_LINE, len(line)
    return lines


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A real terminal: its device in a folder of its own, and the emulator's side."""
    master, slave = os.openpty()
    tty.setraw(slave)  # what the daemon writes, byte for byte (no "\n" made "\r\n")
    folder = tmp_path / "pts"
    folder.mkdir()
    (folder / "0").symlink_to(os.ttyname(slave))
    yield folder, master
    os.close(master)
    os.close(slave)


def shown_on(master: int) -> bytes:
    os.set_blocking(master, False)
    out = b""
    while True:
        try:
            chunk = os.read(master, 1 << 16)
        except (BlockingIOError, OSError):
            return out
        if not chunk:
            return out
        out += chunk


@cases
async def test_the_warning_and_the_notice_file_get_a_hostile_name_escaped_and_bounded(
    tmp_path: Path, terminal: tuple[Path, int], name: str
) -> None:
    """The warning names the newest change (``workspace:…``); a held job's end names its
    command; the postponement names what moved the stop. None of it reaches a terminal or the
    notice file raw."""
    folder, master = terminal
    notice = tmp_path / "notice.txt"
    n = Notifier(
        warn_before=300.0,
        idle_time=3600.0,
        terminals_dir=folder,
        notice_file=notice,
        own_writes=OwnWrites(),
    )
    n.prepare()
    now = time.time()
    await n.warn(now + 300, Activity(now - 3300, f"workspace:/home/u/{name}"))
    await n.tell([f"autostop-async: job 42 `{name}` ended (exit 0)"])
    seen = shown_on(master)
    assert b"will be stopped at" in seen and b"ended (exit 0)" in seen
    safe_lines(seen.replace(b"\r\n", b"\n"))
    assert "will be stopped at" in "\n".join(safe_lines(notice.read_bytes()))
    await n.postponed(Activity(now, f"git:/home/u/{name} (commit)"), now + 3600)
    assert "postponed" in "\n".join(safe_lines(notice.read_bytes()))


@cases
def test_the_log_gets_a_hostile_name_escaped_and_bounded(tmp_path: Path, name: str) -> None:
    log_file = tmp_path / "daemon.log"
    setup_logging(Config(log_file=log_file))
    log = logging.getLogger("autostop_async")
    try:
        log.info(
            "active: %s; next check at …", Activity(time.time(), f"workspace:/{name}").describe()
        )
        log.warning("cannot read %s: %s", f"/home/u/{name}", "not UTF-8")
    finally:
        for handler in log.handlers:
            handler.close()
        log.handlers.clear()
    lines = safe_lines(log_file.read_bytes())
    assert len([line for line in lines if line]) == 2  # one record, one line
    assert all(len(line) < 2_500 for line in lines)  # a name is shown up to 1,000 characters


def state_with(name: str) -> dict[str, Any]:
    """A state file a daemon of this app wrote, each piece of user text ``name``."""
    now = time.time()
    started = app_start_time()
    assert started is not None
    return {
        "app_started": started, "started": started, "last_at": now - 60,
        "last_source": f"workspace:/home/u/{name}", "hints": [], "idle_time": 3600.0,
        "pid": None, "updated": now, "version": 1,
        "signals": {
            "workspace": {"cheap": False, "at": now - 60, "source": f"workspace:/home/u/{name}"},
            "cpu": {"cheap": True, "note": f"failing: {name}"},
        },
        "controls": {"editor_data": f"{name}/data (User/History and User/Backups count)"},
    }  # fmt: skip


@cases
def test_status_gets_a_hostile_name_escaped_and_bounded(tmp_path: Path, name: str) -> None:
    """The table, the last activity and the ``editor data:`` line (a server's
    ``--server-data-dir``, read from its command line); ``--json`` is strict ASCII JSON."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "state.json").write_text(json.dumps(state_with(name)))
    done = status("--state-dir", str(state))
    assert done.returncode == 1, done.stderr
    lines = safe_lines(done.stdout)
    assert any(line.startswith("editor data: ") for line in lines)
    assert b"Traceback" not in done.stderr
    done = status("--json", "--state-dir", str(state))
    assert done.returncode == 1, done.stderr
    assert done.stdout.isascii()
    safe_lines(done.stdout)
    report = json.loads(done.stdout)
    assert "User/History" in report["editor_data"]  # JSON keeps the value, escaped by JSON


def status(*args: str) -> subprocess.CompletedProcess[bytes]:
    """``status ARGS`` as a terminal would get its bytes."""
    return subprocess.run(
        [sys.executable, "-m", "autostop_async", "status", *args],
        env=aws_env(None),
        capture_output=True,
        timeout=60,
        check=False,
    )
