"""The daemon as a subprocess with the editor, terminal and busy signals on, against sources the
test controls (an HTTP server answering like Code Editor, a real pseudo-terminal, a busy child),
and ``status``, ``keepalive`` and the warning used as a person would, from another process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.waiting import wait_for

MARGIN = 15.0  # generous bound for anything that should happen "soon"


def iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(at))


class Editor:
    """Answers ``GET /api/idle`` like Code Editor, with ``last`` as the last active time."""

    def __init__(self) -> None:
        self.last = time.time() - 3600
        editor = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps({"lastActiveTimestamp": iso(editor.last)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/idle"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()


@dataclass
class Setup:
    tmp: Path
    editor: Editor
    master: int
    slave: int
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def state_dir(self) -> Path:
        return self.tmp / "state"

    @property
    def notice(self) -> Path:
        return self.tmp / "home" / "autostop-async-notice.txt"

    @property
    def log(self) -> Path:
        return self.tmp / "daemon.log"

    def text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        """``python -m autostop_async`` (dry run) on this setup's sources."""
        argv = [
            sys.executable, "-m", "autostop_async", "--dry-run",
            "--metadata-file", str(self.tmp / "absent.json"),
            "--watch", str(self.tmp / "home"),
            "--state-dir", str(self.state_dir),
            "--log-file", str(self.log),
            "--interval", "0.2",
            "--editor-idle-url", self.editor.url,
            "--editor-idle-file", str(self.tmp / "absent-heartbeat"),
            "--terminals-dir", str(self.tmp / "pts"),
            "--notice-file", str(self.notice),
            *args,
        ]  # fmt: skip
        proc = subprocess.Popen(argv, env=clean_env(), stdout=subprocess.DEVNULL)
        self.started.append(proc)
        wait_for(lambda: "watching since" in self.text(), MARGIN, "the daemon to start")
        return proc

    def terminal_output(self) -> str:
        """What the terminal emulator shows, read from the master side without waiting."""
        out = b""
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except BlockingIOError:
                return out.decode("utf-8", "replace")
            out += chunk


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("AUTOSTOP_")}


def cli(
    setup: Setup, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """A user's command from another process, given only the daemon's ``--state-dir``."""
    return subprocess.run(
        [sys.executable, "-m", "autostop_async", *args, "--state-dir", str(setup.state_dir)],
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def status(setup: Setup) -> dict[str, Any]:
    done = cli(setup, "status", "--json")
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    (tmp_path / "home").mkdir()
    (tmp_path / "pts").mkdir()
    master, slave = os.openpty()
    os.set_blocking(master, False)
    long_ago = time.time() - 3600
    os.utime(os.ttyname(slave), (long_ago, long_ago))
    (tmp_path / "pts" / "3").symlink_to(os.ttyname(slave))
    s = Setup(tmp_path, Editor(), master, slave)
    yield s
    for proc in s.started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    s.editor.server.shutdown()
    os.close(master)
    os.close(slave)


def test_status_shows_what_the_running_daemon_sees(setup: Setup) -> None:
    setup.editor.last = time.time() - 30
    setup.start("--idle-time", "1h", "--no-busy")
    wait_for(
        lambda: any(
            s["name"] == "editor" and s["latest_activity"] for s in status(setup)["signals"]
        ),
        MARGIN,
        "status to show the editor's heartbeat",
    )
    report = status(setup)
    assert report["daemon"]["running"] is True
    by_name = {s["name"]: s for s in report["signals"]}
    assert by_name["editor"]["source"] == f"editor:{setup.editor.url}"
    assert 25 <= by_name["editor"]["idle_seconds"] <= 30 + MARGIN
    assert by_name["cpu"] == {"name": "cpu", "enabled": False, "note": "off"}
    assert by_name["workspace"]["looked_at"] == "at deadlines"
    assert 3000 < report["stops_in_seconds"] <= 3600

    table = cli(setup, "status")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].startswith("SIGNAL")
    assert [line.split()[0] for line in lines[1:7]] == [
        "workspace", "git", "editor", "terminals", "cpu", "gpu",
    ] or [line.split()[0] for line in lines[1:6]] == [
        "workspace", "editor", "terminals", "cpu", "gpu",
    ]  # fmt: skip
    assert f"editor:{setup.editor.url}" in table.stdout
    assert "would be stopped (dry run) at" in table.stdout
    assert "if nothing happens" in table.stdout
    assert "is running" in table.stdout


def test_editor_and_terminal_use_keep_the_app_until_they_stop(setup: Setup) -> None:
    idle = 3.0
    setup.start("--idle-time", str(idle), "--no-busy")
    # The person types in the editor for a while, then in a terminal.
    until = time.time() + 2 * idle
    while time.time() < until:
        setup.editor.last = time.time()
        time.sleep(0.2)
    time.sleep(1.5)  # terminal times have whole seconds: let the editor's be older
    typed = time.time()
    os.write(setup.master, b"python train.py\n")  # typed; the shell reads it
    os.read(setup.slave, 100)
    wait_for(lambda: "would delete" in setup.text(), idle + MARGIN, "the dry-run stop")
    assert "would delete" not in setup.text().split("watching since")[0]
    stop_line = next(line for line in setup.text().splitlines() if "would delete" in line)
    assert "last activity terminal:" in stop_line, stop_line
    # Never before the idle time after the real write (the kernel's time may be 8 s older).
    assert time.time() - typed >= idle


def test_keepalive_from_a_users_terminal_postpones_the_stop(setup: Setup) -> None:
    idle = 2.0
    setup.start("--idle-time", str(idle), "--no-busy", "--max-keepalive", "1h")
    done = cli(setup, "keepalive", "5s")
    assert done.returncode == 0, done.stderr
    asked = time.time()
    assert "not stopped before" in done.stdout
    report = status(setup)
    assert report["keepalive"]["by"] and report["keepalive"]["until"].endswith("Z")
    assert 3 <= report["stops_in_seconds"] <= 5
    wait_for(lambda: "would delete" in setup.text(), 5 + MARGIN, "the stop after the keepalive")
    assert time.time() - asked >= 5 - 0.5
    assert "keepalive by" in setup.text()

    # The administrator's maximum reaches the user's command through the daemon's state.
    refused = cli(setup, "keepalive", "2h")
    assert refused.returncode == 2
    assert "longer than the maximum 1h00m00s (the daemon's --max-keepalive)" in refused.stderr
    assert cli(setup, "keepalive", "30m").returncode == 0
    assert 29 * 60 <= status(setup)["stops_in_seconds"] <= 30 * 60
    cancelled = cli(setup, "keepalive", "--cancel")
    assert cancelled.returncode == 0 and "cancelled" in cancelled.stdout
    assert status(setup)["keepalive"] is None


def test_keepalive_turned_off_by_the_administrator(setup: Setup) -> None:
    setup.start("--idle-time", "1h", "--no-busy", "--max-keepalive", "0")
    done = cli(setup, "keepalive", "1h")
    assert done.returncode == 2
    assert "keepalive is turned off here" in done.stderr


def test_the_warning_reaches_terminals_and_the_notice_file_once(setup: Setup) -> None:
    idle, warn = 4.0, 2.0
    setup.start("--idle-time", str(idle), "--warn-before", str(warn), "--no-busy", "--no-editor")
    assert "No stop is due soon" in setup.notice.read_text()
    wait_for(lambda: "will" in setup.notice.read_text(), idle + MARGIN, "the notice")
    shown = setup.terminal_output()
    wait_for(lambda: "would delete" in setup.text(), warn + MARGIN, "the dry-run stop")
    shown += setup.terminal_output()
    assert shown.count("*** autostop-async: this app would be stopped (dry run") == 1, shown
    assert "keepalive 2h" in shown and str(setup.state_dir) in shown
    assert "would be stopped" in setup.notice.read_text()
    # Neither the notice in the terminal nor the notice file counted as activity.
    stop_line = next(line for line in setup.text().splitlines() if "would delete" in line)
    assert "last activity daemon-start" in stop_line, stop_line
    assert "warned 1 terminal(s)" in setup.text()


def test_a_watch_left_in_a_terminal_does_not_keep_the_app(setup: Setup) -> None:
    """A program that prints every 0.3 s in a terminal nobody types in (``watch``, ``top``,
    ``tail -f``, tmux's clock): the app is stopped on time; the output is shown, not counted."""
    idle = 3.0
    watch = subprocess.Popen(
        [sys.executable, "-c", "import time\nwhile True:\n print(time.time(), flush=True)\n "
         "time.sleep(0.3)"],
        stdout=setup.slave,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    setup.started.append(watch)
    try:
        wait_for(lambda: setup.terminal_output(), MARGIN, "the watch's first output")
        started = time.time()
        setup.start("--idle-time", str(idle), "--no-busy", "--no-editor")
        wait_for(lambda: "would delete" in setup.text(), idle + MARGIN, "the dry-run stop")
        assert watch.poll() is None  # it printed all along
        assert time.time() - started >= idle
        stop_line = next(line for line in setup.text().splitlines() if "would delete" in line)
        assert "last activity daemon-start" in stop_line, stop_line
    finally:
        watch.kill()
        watch.wait()


def test_a_terminal_dated_into_the_future_does_not_keep_the_app(setup: Setup) -> None:
    """Its owner runs ``touch -d 2099-01-01 /dev/pts/N``: counted once, then the app is
    stopped on time, and the log says why once."""
    idle = 3.0
    year_2099 = 4_070_908_800.0
    os.utime(os.ttyname(setup.slave), (year_2099, year_2099))
    setup.start("--idle-time", str(idle), "--no-busy", "--no-editor")
    wait_for(lambda: "would delete" in setup.text(), idle + MARGIN, "the dry-run stop")
    assert setup.text().count("has its input time in the future") == 1, setup.text()


class CgroupAccount:
    """A cgroup's CPU accounting (``cpu.stat``) that the test owns: while ``busy`` is set, a
    thread advances ``usage_usec`` as fast as all of the machine's CPUs could, written
    atomically. The daemon measures the app from it, so other work on the host (the CI's other
    jobs) can neither make the app busy nor hide a busy app."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "cpu.stat"
        self.busy = threading.Event()
        self.stopped = threading.Event()
        self._usage = 0.0
        self._write()
        threading.Thread(target=self._run, daemon=True).start()

    def _write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(f"usage_usec {int(self._usage)}\nuser_usec 0\nsystem_usec 0\n")
        os.replace(tmp, self.path)

    def _run(self) -> None:
        cpus = os.cpu_count() or 1
        last = time.monotonic()
        while not self.stopped.wait(0.05):
            now = time.monotonic()
            if self.busy.is_set():
                self._usage += (now - last) * cpus * 1e6
            last = now
            self._write()


def test_busy_work_keeps_the_app_while_it_computes(setup: Setup, tmp_path: Path) -> None:
    """A job started in a terminal that was closed since: the app's cgroup computes, and no
    file, terminal or editor moves. The app is kept while it computes, and stopped an idle
    time after it ends. (tests/unit/test_busy.py shows a real process seen as busy.)"""
    idle = 3.0
    (tmp_path / "cgroup").mkdir()
    account = CgroupAccount(tmp_path / "cgroup")
    account.busy.set()
    try:
        setup.start(
            "--idle-time", str(idle), "--busy-cpu", "20", "--no-editor", "--no-terminals",
            "--busy-cgroup-dir", str(tmp_path / "cgroup"),
        )  # fmt: skip
        wait_for(
            lambda: any(
                s["name"] == "cpu" and s["latest_activity"] for s in status(setup)["signals"]
            ),
            MARGIN,
            "the CPU signal to see the job",
        )
        held_until = time.monotonic() + 2 * idle  # well past the idle time: the job holds
        while time.monotonic() < held_until:
            assert "would delete" not in setup.text()
            time.sleep(0.1)
        cpu = next(s for s in status(setup)["signals"] if s["name"] == "cpu")
        assert cpu["source"].startswith("busy:cpu "), cpu
        account.busy.clear()
        ended = time.time()
        wait_for(lambda: "would delete" in setup.text(), idle + MARGIN, "the stop after the job")
        assert time.time() - ended >= idle - 0.5
    finally:
        account.stopped.set()
