"""Holds on jobs, with real processes: ``keepalive -- CMD``, ``keepalive --pid PID``, the
daemon that honours them, and the end of a job as activity (with ``--then-stop-after``)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from autostop_async.activity import Activity
from autostop_async.cli import main
from autostop_async.holds import HoldsReader, ensure_holds_dir, write_hold
from autostop_async.notice import Notifier
from autostop_async.own_writes import OwnWrites
from autostop_async.processes import identify
from autostop_async.sagemaker import DeleteOutcome
from autostop_async.state import app_start_time
from autostop_async.times import utc_iso
from tests.support.doubles import (
    APP,
    Clock,
    Deleter,
    FakeSignal,
    VirtualTime,
    make_config,
    make_daemon,
    write_state,
)
from tests.support.waiting import until, wait_for

CLI = [sys.executable, "-m", "autostop_async"]


def holds(tmp_path: Path) -> Path:
    return tmp_path / "state" / "holds"


def hold_files(tmp_path: Path) -> list[Path]:
    folder = holds(tmp_path)
    return sorted(folder.glob("*.json")) if folder.exists() else []


def the_hold(tmp_path: Path) -> dict[str, object]:
    """The one hold file, once the command has written it."""
    files = wait_for(lambda: hold_files(tmp_path), 20, "the hold file")
    assert len(files) == 1, files
    return dict(json.loads(files[0].read_text()))


def ended_hold(tmp_path: Path) -> dict[str, object]:
    """The hold file once the wrapper has written the job's end into it."""

    def ended() -> dict[str, object] | None:
        record = the_hold(tmp_path)
        return record if "ended_epoch" in record else None

    return wait_for(ended, 20, "the end of the job in its hold")


def held(tmp_path: Path, *args: str, **popen: object) -> subprocess.Popen[bytes]:
    """``keepalive ARGS`` as a user starts it (state folder by the environment)."""
    env = os.environ | {"AUTOSTOP_STATE_DIR": str(tmp_path / "state")}
    return subprocess.Popen([*CLI, "keepalive", *args], env=env, **popen)  # type: ignore[call-overload, no-any-return]


def reader(tmp_path: Path, clock: Clock | VirtualTime, cap: float = 12 * 3600) -> HoldsReader:
    time_now = clock.clock if isinstance(clock, VirtualTime) else clock
    return HoldsReader(holds(tmp_path), cap, clock=time_now)


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; killed at its end if still running."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def background(procs: list[subprocess.Popen[bytes]], *args: str) -> subprocess.Popen[bytes]:
    """A job already running, started by someone else (killed at the end of the test)."""
    proc = subprocess.Popen(args)
    procs.append(proc)
    return proc


def cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def kill_pid(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


# -- keepalive -- CMD ----------------------------------------------------------------------------


async def test_a_held_sleep_keeps_an_idle_app_and_its_end_lets_it_stop(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    wrapper = held(tmp_path, "--", "sleep", "60")
    procs.append(wrapper)
    record = the_hold(tmp_path)
    assert record["command"] == ["sleep 60"] and record["wrapper_pid"] == wrapper.pid
    job = int(record["pid"])  # type: ignore[call-overload]
    assert cmdline(job) == b"sleep\x0060\x00"
    write_state(tmp_path, last_at=800.0, last_source="workspace:/w/a.py")
    clock = Clock(time.time())  # idle since 800: only the job keeps the app
    deleter = Deleter()
    config = make_config(tmp_path)
    with caplog.at_level(logging.INFO, logger="autostop_async"):
        d = make_daemon(
            config,
            [FakeSignal("workspace")],
            APP,
            deleter,
            holds=reader(tmp_path, clock),
            clock=clock,
        )
        result = await d.once()
    assert result.action == "none" and deleter.calls == 0
    assert result.kept_by is not None and result.kept_by.startswith(
        f"job {job} `sleep 60` running for"
    )
    assert f"kept: job {job} `sleep 60` running for" in caplog.text
    os.kill(job, signal.SIGTERM)
    assert wrapper.wait(20) == 128 + signal.SIGTERM  # as a shell says a job killed by SIGTERM
    end = ended_hold(tmp_path)
    assert end["signal"] == signal.SIGTERM and end["exit_code"] is None
    clock.now = time.time()
    d = make_daemon(
        config, [FakeSignal("workspace")], APP, deleter, holds=reader(tmp_path, clock), clock=clock
    )
    result = await d.once()
    assert result.action == "none"  # the end is activity: the idle time counts from it
    assert result.last.source == f"job {job} `sleep 60` ended (killed by signal 15)"
    assert result.last.at == pytest.approx(float(end["ended_epoch"]), abs=0.01)  # type: ignore[arg-type]
    assert hold_files(tmp_path) == []  # counted and saved: the file is gone
    clock.now = result.last.at + 101
    d = make_daemon(
        config, [FakeSignal("workspace")], APP, deleter, holds=reader(tmp_path, clock), clock=clock
    )
    assert (await d.once()).action == "deleted"


def test_stdin_and_stdout_pass_through_and_the_exit_code_is_the_commands(tmp_path: Path) -> None:
    env = os.environ | {"AUTOSTOP_STATE_DIR": str(tmp_path / "state")}
    done = subprocess.run(
        [*CLI, "keepalive", "--", "sh", "-c", "cat; exit 3"],
        input=b"hello through\n",
        capture_output=True,
        env=env,
        timeout=30,
        check=False,
    )
    assert done.returncode == 3
    assert done.stdout == b"hello through\n"
    assert b"this app is kept while job" in done.stderr
    record = ended_hold(tmp_path)
    assert record["exit_code"] == 3 and record["signal"] is None


def test_a_missing_command_exits_127_and_leaves_no_hold(tmp_path: Path) -> None:
    env = os.environ | {"AUTOSTOP_STATE_DIR": str(tmp_path / "state")}
    for missing in ("no-such-command-here", str(tmp_path / "nothing")):
        done = subprocess.run(
            [*CLI, "keepalive", "--", missing, "x"], capture_output=True, text=True, env=env,
            timeout=30, check=False,
        )  # fmt: skip
        assert done.returncode == 127, done.stderr
        assert f"{missing}: command not found; nothing was held" in done.stderr
        assert hold_files(tmp_path) == []


def test_a_duration_after_the_separator_is_a_command(tmp_path: Path) -> None:
    env = os.environ | {"AUTOSTOP_STATE_DIR": str(tmp_path / "state")}
    done = subprocess.run(
        [*CLI, "keepalive", "--", "2h"], capture_output=True, text=True, env=env, timeout=30,
        check=False,
    )  # fmt: skip
    assert done.returncode == 127 and "2h: command not found" in done.stderr


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGTERM, 42), (signal.SIGHUP, 43), (signal.SIGINT, 44)]
)
def test_signals_go_on_to_the_command(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]], signum: signal.Signals, code: int
) -> None:
    started = tmp_path / "sleep.pid"  # written once the trap is set
    script = f"trap 'exit {code}' {signum.name[3:]}; sleep 60 & echo $! > {started}; wait"
    wrapper = held(tmp_path, "--", "bash", "-c", script)
    procs.append(wrapper)
    the_hold(tmp_path)
    sleeper = int(wait_for(lambda: started.exists() and started.read_text().strip(), 20, "sleep"))
    try:
        wrapper.send_signal(signum)
        assert wrapper.wait(20) == code
        assert ended_hold(tmp_path)["exit_code"] == code
    finally:
        kill_pid(sleeper)


def test_kill_9_of_the_job_is_recorded_as_its_end(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    wrapper = held(tmp_path, "--then-stop-after", "10m", "--", "sleep", "60")
    procs.append(wrapper)
    record = the_hold(tmp_path)
    assert record["then_stop_after"] == 600
    os.kill(int(record["pid"]), signal.SIGKILL)  # type: ignore[call-overload]
    assert wrapper.wait(20) == 137
    end = ended_hold(tmp_path)
    assert end["signal"] == 9 and end["then_stop_after"] == 600


# -- keepalive --pid -------------------------------------------------------------------------


async def test_a_background_process_held_by_pid(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]], capsys: pytest.CaptureFixture[str]
) -> None:
    job = background(procs, "sleep", "60")
    assert main(["keepalive", "--pid", str(job.pid), "--state-dir", str(tmp_path / "state")]) == 0
    assert f"kept while job {job.pid} `sleep 60` runs" in capsys.readouterr().out
    record = the_hold(tmp_path)
    assert "wrapper_pid" not in record
    write_state(tmp_path, last_at=800.0, last_source="x")
    clock, deleter, config = Clock(time.time()), Deleter(), make_config(tmp_path)
    d = make_daemon(
        config, [FakeSignal("workspace")], APP, deleter, holds=reader(tmp_path, clock), clock=clock
    )
    assert (await d.once()).action == "none"
    job.kill()
    job.wait()
    clock.now = time.time()
    d = make_daemon(
        config, [FakeSignal("workspace")], APP, deleter, holds=reader(tmp_path, clock), clock=clock
    )
    result = await d.once()
    # Nobody waits for it but its parent: the end is when the daemon saw it gone, no exit code.
    assert result.action == "none" and result.last.at == clock.now
    assert result.last.source == f"job {job.pid} `sleep 60` ended (exit code unknown)"
    assert hold_files(tmp_path) == []


def test_holding_a_process_that_is_not_there_is_refused(tmp_path: Path) -> None:
    done = subprocess.Popen(["true"])
    done.wait()
    assert main(["keepalive", "--pid", str(done.pid), "--state-dir", str(tmp_path / "state")]) == 2
    assert hold_files(tmp_path) == []


async def test_a_reused_pid_does_not_hold(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    me = identify(os.getpid())
    assert me is not None
    ensure_holds_dir(holds(tmp_path))
    # The record names this process's number, with another start: an earlier process's.
    old = type(me)(me.pid, me.start_ticks - 1, me.boot_time)
    # Held before this process started (as a real hold on a number reused since).
    write_hold(holds(tmp_path), old, ["python", "train.py"], grace=None, now=me.started_at - 10)
    # Activity after this process started, idle for 150 s of 100 since.
    write_state(tmp_path, last_at=me.started_at + 850, last_source="workspace:/w/a.py")
    clock, deleter = Clock(me.started_at + 1000), Deleter()
    with caplog.at_level(logging.INFO, logger="autostop_async"):
        d = make_daemon(
            make_config(tmp_path),
            [FakeSignal("workspace")],
            APP,
            deleter,
            holds=reader(tmp_path, clock),
            clock=clock,
        )
        result = await d.once()
    # It ended before this process started: its end is older than the last activity known.
    assert result.action == "deleted" and result.last.source == "workspace:/w/a.py"
    assert "keeps the app" not in caplog.text
    assert (
        f"job {me.pid} `python train.py` ended (exit code unknown; its pid is reused)"
        in caplog.text
    )


# -- the daemon: restarts, grace, cap, unusable files ------------------------------------------


async def test_a_restarted_daemon_keeps_holding_and_stops_grace_after_the_end(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    """Virtual time: an hour idle passes in milliseconds; the job is a real process."""
    job = background(procs, "sleep", "120")
    assert (
        main(
            [
                "keepalive",
                "--pid",
                str(job.pid),
                "--then-stop-after",
                "10m",
                "--state-dir",
                str(tmp_path / "state"),
            ]
        )
        == 0
    )
    caplog.set_level(logging.INFO, logger="autostop_async")
    vt = VirtualTime(time.time())
    start = vt.now
    config = make_config(tmp_path, once=False, idle_time=3600.0, interval=60.0)
    deleter = Deleter(DeleteOutcome.DELETED, clock=vt.clock)
    first = make_daemon(
        config,
        [FakeSignal("workspace")],
        APP,
        deleter,
        holds=reader(tmp_path, vt, cap=30 * 86400),
        **vt.daemon_kw(),
    )
    run = asyncio.create_task(first.run())
    await until(lambda: vt.now > start + 3 * 3600, 30, "three idle hours (virtual)")
    first.request_stop()
    assert await asyncio.wait_for(run, 10) == 0 and deleter.calls == 0  # kept past the idle time
    second = make_daemon(
        config,
        [FakeSignal("workspace")],
        APP,
        deleter,
        holds=reader(tmp_path, vt, cap=30 * 86400),
        **vt.daemon_kw(),
    )
    run = asyncio.create_task(second.run())
    await until(lambda: vt.now > start + 5 * 3600, 30, "two more idle hours (virtual)")
    assert deleter.calls == 0 and hold_files(tmp_path)
    before = vt.now
    job.kill()
    job.wait()
    assert await asyncio.wait_for(run, 30) == 0
    state = json.loads((tmp_path / "state" / "state.json").read_text())
    assert state["last_source"] == f"job {job.pid} `sleep 120` ended (exit code unknown)"
    end = state["last_at"]
    assert before <= end and state["last_stop_after"] == 600  # seen gone at a poll after
    assert deleter.times == [pytest.approx(end + 600)]  # the grace, not the idle time
    assert f"kept: job {job.pid} `sleep 120` running for" in caplog.text
    assert hold_files(tmp_path) == []


async def test_activity_after_the_end_brings_back_the_idle_time(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    job = background(procs, "sleep", "120")
    assert (
        main(
            [
                "keepalive",
                "--pid",
                str(job.pid),
                "--then-stop-after",
                "10m",
                "--state-dir",
                str(tmp_path / "state"),
            ]
        )
        == 0
    )
    vt = VirtualTime(time.time())
    config = make_config(tmp_path, once=False, idle_time=3600.0, interval=60.0)
    ends: list[float] = []

    class KeyPress(FakeSignal):
        """A key pressed in a terminal five minutes after the job's end."""

        async def newer_than(self, t: float) -> Activity | None:
            if d.last.source.endswith("ended (exit code unknown)") and not ends:
                ends.append(d.last.at)
            return Activity(ends[0] + 300, "terminal:/dev/pts/0") if ends else None

    deleter = Deleter(DeleteOutcome.DELETED, clock=vt.clock)
    signals = [KeyPress("terminals", cheap=True), FakeSignal("workspace")]
    d = make_daemon(
        config, signals, APP, deleter, holds=reader(tmp_path, vt, cap=30 * 86400), **vt.daemon_kw()
    )
    run = asyncio.create_task(d.run())
    await until(lambda: d.idle.jobs.live, 30, "the hold read")
    job.kill()
    job.wait()
    assert await asyncio.wait_for(run, 30) == 0
    assert deleter.times == [pytest.approx(ends[0] + 300 + 3600)]


async def test_a_hold_past_the_cap_ends_with_a_line_and_a_notice(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    job = background(procs, "sleep", "60")
    assert main(["keepalive", "--pid", str(job.pid), "--state-dir", str(tmp_path / "state")]) == 0
    master, slave = os.openpty()
    pts = tmp_path / "pts"
    pts.mkdir()
    (pts / "0").symlink_to(os.ttyname(slave))
    try:
        vt = VirtualTime(time.time())
        config = make_config(tmp_path, once=False, idle_time=600.0, interval=60.0)
        notifier = Notifier(300.0, 600.0, pts, None, OwnWrites(), clock=vt.clock)
        deleter = Deleter(DeleteOutcome.DELETED, clock=vt.clock)
        capped = reader(tmp_path, vt, cap=3600.0)
        since = capped.read().live[0].since
        d = make_daemon(
            config,
            [FakeSignal("workspace")],
            APP,
            deleter,
            holds=capped,
            notifier=notifier,
            **vt.daemon_kw(),
        )
        with caplog.at_level(logging.INFO, logger="autostop_async"):
            assert await asyncio.wait_for(d.run(), 30) == 0
        # Idle all along: the stop comes at the first check after the cap, not before.
        assert since + 3600 <= deleter.times[0] <= since + 3600 + 60
        assert job.poll() is None  # the job still runs: only the hold ended
        assert "has run past the cap (--max-keepalive 1h00m00s" in caplog.text
        os.set_blocking(master, False)
        shown = os.read(master, 65536).decode()
        assert f"job {job.pid} `sleep 60` still runs, but its hold reached the cap" in shown
    finally:
        os.close(master)
        os.close(slave)


async def test_an_unusable_hold_file_keeps_the_app_no_longer_than_the_cap(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ensure_holds_dir(holds(tmp_path))
    secret = "top-secret-text"
    (holds(tmp_path) / "4711-99.json").write_text(json.dumps({"pid": secret}))
    write_state(tmp_path, last_at=800.0, last_source="x")
    now = time.time()
    clock, deleter = Clock(now), Deleter()
    with caplog.at_level(logging.INFO, logger="autostop_async"):
        d = make_daemon(
            make_config(tmp_path),
            [FakeSignal("workspace")],
            APP,
            deleter,
            holds=reader(tmp_path, clock, cap=3600),
            clock=clock,
        )
        result = await d.once()
    assert result.action == "none" and result.kept_by is not None
    assert "unusable hold file" in result.kept_by
    assert "is not a usable hold (pid is not a whole number of at least 0)" in caplog.text
    assert secret not in caplog.text
    clock.now = now + 3601  # the cap from the file's change time
    d = make_daemon(
        make_config(tmp_path),
        [FakeSignal("workspace")],
        APP,
        deleter,
        holds=reader(tmp_path, clock, cap=3600),
        clock=clock,
    )
    assert (await d.once()).action == "deleted"


def test_links_and_fifos_in_the_holds_folder_are_never_opened(tmp_path: Path) -> None:
    ensure_holds_dir(holds(tmp_path))
    target = tmp_path / "elsewhere.json"
    target.write_text("{}")
    (holds(tmp_path) / "1-1.json").symlink_to(target)
    os.mkfifo(holds(tmp_path) / "2-2.json")  # an open would wait for a writer forever
    (holds(tmp_path) / "3-3.json").write_bytes(b" " * (1 << 20))
    view = reader(tmp_path, Clock(time.time()), cap=60).read()
    assert [u.name for u in view.unusable] == ["1-1.json", "2-2.json"]
    assert all(u.until <= time.time() + 60 for u in view.unusable)
    # Too large to read: its name says the process (pid 3, started at tick 3), which is not
    # running: the hold ended, and holds nothing.
    assert view.live == () and [e.hold.name for e in view.ended] == ["3-3.json"]


# -- status and --list -------------------------------------------------------------------------


def test_status_and_list_show_the_holds(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    wrapper = held(tmp_path, "--then-stop-after", "5m", "--", "sleep", "60")
    procs.append(wrapper)
    job = int(the_hold(tmp_path)["pid"])  # type: ignore[call-overload]
    write_state(
        tmp_path, app_started=app_start_time(), last_at=time.time(), last_source="x", idle_time=3600
    )
    env = os.environ | {"AUTOSTOP_STATE_DIR": str(tmp_path / "state")}
    run = {"capture_output": True, "text": True, "env": env, "timeout": 30, "check": False}
    shown = subprocess.run([*CLI, "status"], **run).stdout  # type: ignore[call-overload]
    assert f"kept while job {job} `sleep 60` runs (by {pwd.getpwuid(os.getuid()).pw_name}" in shown
    assert "then it stops 5m after" in shown and "at the latest at" in shown
    report = json.loads(subprocess.run([*CLI, "status", "--json"], **run).stdout)  # type: ignore[call-overload]
    assert report["held"] is True
    (hold,) = report["holds"]
    assert (hold["pid"], hold["command"], hold["then_stop_after"]) == (job, "sleep 60", 300)
    assert {"running_for_seconds", "capped_at", "since", "by"} <= set(hold)
    listed = subprocess.run([*CLI, "keepalive", "--list"], **run).stdout  # type: ignore[call-overload]
    assert "ID" in listed and f"{job} " in listed and "sleep 60" in listed
    cancelled = subprocess.run([*CLI, "keepalive", "--cancel", str(job)], **run)  # type: ignore[call-overload]
    assert cancelled.returncode == 0 and "1 hold cancelled" in cancelled.stdout
    assert hold_files(tmp_path) == []
    os.kill(job, signal.SIGTERM)
    assert wrapper.wait(20) == 143
    assert hold_files(tmp_path) == []  # a cancelled hold is not written again at the end


# -- terminals that close, another user --------------------------------------------------------


@pytest.mark.parametrize("launcher", ["nohup", "setsid"])
def test_a_job_started_from_a_terminal_that_closes_is_still_held(
    tmp_path: Path, launcher: str
) -> None:
    master, slave = os.openpty()

    def controlling_terminal() -> None:  # the shell's session owns the terminal, as in a tab
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    state = tmp_path / "state"
    line = f"{launcher} {' '.join(CLI)} keepalive --state-dir {state} -- sleep 60 &"
    shell = subprocess.Popen(
        ["bash", "-c", f"{line} sleep 60"],
        stdin=slave, stdout=slave, stderr=slave, cwd=tmp_path,
        start_new_session=True, preexec_fn=controlling_terminal,
    )  # fmt: skip
    try:
        record = the_hold(tmp_path)
        job = int(record["pid"])  # type: ignore[call-overload]
        wrapper = int(record["wrapper_pid"])  # type: ignore[call-overload]
        os.close(slave)
        os.close(master)  # the tab closes: the terminal hangs up
        wait_for(lambda: shell.poll() is not None, 20, "the shell to end with its terminal")
        assert identify(wrapper) is not None and identify(job) is not None
        clock = Clock(time.time())
        view = reader(tmp_path, clock).read()
        assert [h.process.pid for h in view.live] == [job]
        os.kill(job, signal.SIGTERM)
        assert ended_hold(tmp_path)["signal"] == signal.SIGTERM
        wait_for(lambda: identify(wrapper) is None, 20, "the wrapper to exit")
    finally:
        with contextlib.suppress(OSError):
            os.close(slave)
        with contextlib.suppress(OSError):
            os.close(master)
        if shell.poll() is None:
            shell.kill()
        shell.wait()
        for record in map(lambda p: json.loads(p.read_text()), hold_files(tmp_path)):
            kill_pid(int(record["pid"]))


@pytest.fixture
def other_user() -> Iterator[pwd.struct_passwd]:
    """A normal user made for the test (removed after it); the test runs as root."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the daemon runs as root and the test makes a user")
    if shutil.which("useradd") is None or shutil.which("setpriv") is None:
        pytest.skip("needs useradd and setpriv")
    name = f"hold{os.getpid() % 100000}"
    subprocess.run(["useradd", "--no-create-home", name], check=True, capture_output=True)
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)


def test_a_normal_user_holds_while_the_daemon_is_root(
    other_user: pwd.struct_passwd, caplog: pytest.LogCaptureFixture
) -> None:
    base = Path(tempfile.mkdtemp(prefix="autostop-jobs-"))
    try:
        base.chmod(0o755)
        state = base / "state"
        state.mkdir(mode=0o755)  # the daemon's, as root: only holds/ is open to users
        ensure_holds_dir(state / "holds")
        assert (state / "holds").stat().st_mode & 0o7777 == 0o1777
        as_user = [
            "setpriv", f"--reuid={other_user.pw_uid}", f"--regid={other_user.pw_gid}",
            "--clear-groups", "--",
        ]  # fmt: skip
        env = os.environ | {"AUTOSTOP_STATE_DIR": str(state), "HOME": "/tmp"}
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
        wrapper = subprocess.Popen([*as_user, *CLI, "keepalive", "--", "sleep", "60"], env=env)
        try:
            files = wait_for(lambda: sorted((state / "holds").glob("*.json")), 20, "the hold")
            assert files[0].stat().st_uid == other_user.pw_uid
            # The user's planted link to a root file is refused, never read.
            link = state / "holds" / "1-1.json"
            subprocess.run([*as_user, "ln", "-s", "/etc/shadow", str(link)], check=True)
            with caplog.at_level(logging.INFO, logger="autostop_async"):
                view = HoldsReader(state / "holds", 3600).read()
            (hold,) = view.live
            assert hold.by == other_user.pw_name and hold.command == "sleep 60"
            assert [u.name for u in view.unusable] == ["1-1.json"]
            assert "not a usable hold (not a regular file)" in caplog.text
            # The sticky folder: the user cannot remove root's hold files, only their own.
            rooted = state / "holds" / "2-2.json"
            rooted.write_text("{}")
            gone = subprocess.run(
                [*as_user, *CLI, "keepalive", "--cancel"], env=env, capture_output=True, text=True,
                check=False,
            )  # fmt: skip
            assert gone.returncode == 0, gone.stderr
            assert rooted.exists() and not files[0].exists() and not link.exists()
        finally:
            if wrapper.poll() is None:
                wrapper.terminate()
            wrapper.wait(20)
    finally:
        shutil.rmtree(base, ignore_errors=True)


async def test_what_the_cpu_saw_of_the_jobs_last_moments_does_not_undo_the_grace(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    """A CPU sample covers the interval before it: the first one after the end still saw the
    job. It is the job's, not a person's: the app stops GRACE after the end all the same."""
    job = background(procs, "sleep", "120")
    state = str(tmp_path / "state")
    assert (
        main(["keepalive", "--pid", str(job.pid), "--then-stop-after", "10m", "--state-dir", state])
        == 0
    )
    vt = VirtualTime(time.time())
    ends: list[float] = []

    class Cpu(FakeSignal):
        """Busy while the job runs, and at the first sample after its end."""

        async def newer_than(self, t: float) -> Activity | None:
            if d.last.source.endswith("ended (exit code unknown)") and not ends:
                ends.append(d.last.at)
            busy = job.poll() is None or not ends or vt.now <= ends[0] + 60
            return Activity(vt.now, "busy:cpu 90% of 2 CPUs (sleep)") if busy else None

    config = make_config(tmp_path, once=False, idle_time=3600.0, interval=60.0)
    deleter = Deleter(DeleteOutcome.DELETED, clock=vt.clock)
    signals = [Cpu("cpu", cheap=True), FakeSignal("workspace")]
    d = make_daemon(config, signals, APP, deleter, holds=reader(tmp_path, vt), **vt.daemon_kw())
    run = asyncio.create_task(d.run())
    await until(lambda: d.idle.jobs.live, 30, "the hold read")
    job.kill()
    job.wait()
    assert await asyncio.wait_for(run, 30) == 0
    assert deleter.times == [pytest.approx(ends[0] + 600)]


def test_ctrl_c_in_the_terminal_reaches_the_command_once(tmp_path: Path) -> None:
    """The terminal sends Ctrl-C to its whole foreground group, the command included: the
    wrapper does not send it a second time."""
    ready = tmp_path / "ready"
    script = (
        "import pathlib, signal, sys, time\n"
        "got = []\n"
        "signal.signal(signal.SIGINT, lambda *a: got.append(1))\n"
        f"pathlib.Path({str(ready)!r}).touch()\n"
        "end = time.time() + 30\n"
        "while not got and time.time() < end: time.sleep(0.05)\n"
        "time.sleep(1.0)\n"
        "sys.exit(10 + len(got))\n"
    )
    master, slave = os.openpty()

    def controlling_terminal() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    env = os.environ | {"AUTOSTOP_STATE_DIR": str(tmp_path / "state")}
    wrapper = subprocess.Popen(
        [*CLI, "keepalive", "--", sys.executable, "-c", script],
        stdin=slave, stdout=slave, stderr=slave, env=env,
        start_new_session=True, preexec_fn=controlling_terminal,
    )  # fmt: skip
    try:
        wait_for(ready.exists, 20, "the command to be ready")
        os.write(master, b"\x03")  # Ctrl-C, as typed
        assert wrapper.wait(20) == 11  # one SIGINT, not two
        assert ended_hold(tmp_path)["exit_code"] == 11
    finally:
        if wrapper.poll() is None:
            wrapper.kill()
            wrapper.wait()
        os.close(master)
        os.close(slave)


async def test_the_terminals_hear_that_the_job_ended_and_when_the_app_stops(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    job = background(procs, "sleep", "60")
    state = str(tmp_path / "state")
    assert (
        main(["keepalive", "--pid", str(job.pid), "--then-stop-after", "5m", "--state-dir", state])
        == 0
    )
    master, slave = os.openpty()
    pts = tmp_path / "pts"
    pts.mkdir()
    (pts / "0").symlink_to(os.ttyname(slave))
    try:
        vt = VirtualTime(time.time())
        config = make_config(tmp_path, once=False, idle_time=3600.0, interval=60.0)
        notifier = Notifier(60.0, 3600.0, pts, None, OwnWrites(), clock=vt.clock)
        deleter = Deleter(DeleteOutcome.DELETED, clock=vt.clock)
        d = make_daemon(
            config,
            [FakeSignal("workspace")],
            APP,
            deleter,
            holds=reader(tmp_path, vt),
            notifier=notifier,
            **vt.daemon_kw(),
        )
        run = asyncio.create_task(d.run())
        await until(lambda: d.idle.jobs.live, 30, "the hold read")
        job.kill()
        job.wait()
        assert await asyncio.wait_for(run, 30) == 0
        os.set_blocking(master, False)
        shown = os.read(master, 65536).decode()
        end = d.last.at
        said = f"autostop-async: job {job.pid} `sleep 60` ended (exit code unknown) after"
        assert said in shown
        assert f"the app stops at {utc_iso(end + 300)} (in 0h05m00s) unless it is used." in shown
        assert deleter.times == [pytest.approx(end + 300)]
    finally:
        os.close(master)
        os.close(slave)


def test_an_end_written_in_the_future_counts_no_later_than_the_file_was_written(
    tmp_path: Path,
) -> None:
    me = identify(os.getpid())
    assert me is not None
    ensure_holds_dir(holds(tmp_path))
    ended = {"ended_epoch": time.time() + 10**6, "exit_code": 0, "signal": None}
    write_hold(holds(tmp_path), me, ["python", "train.py"], grace=60.0, ended=ended)
    written = (holds(tmp_path) / f"{me.pid}-{me.start_ticks}.json").stat().st_ctime
    (end,) = reader(tmp_path, Clock(time.time() + 10**5)).read().ended
    assert end.at == written and end.how == "exit 0" and end.hold.grace == 60.0


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["2h", "--", "sleep", "1"], "not DURATION and -- CMD"),
        (["--pid", "1", "--list"], "not --pid and --list"),
        (["--then-stop-after", "5m"], "give a DURATION such as 2h, -- CMD, --pid PID"),
        (["--then-stop-after", "5m", "2h"], "--then-stop-after goes with -- CMD or --pid"),
        (["--then-stop-after", "soon", "--", "sleep", "1"], "--then-stop-after:"),
        (["--then-stop-after", "13h", "--", "sleep", "1"], "longer than the maximum"),
        (["--"], "give the command to run after --"),
    ],
)
def test_requests_that_cannot_be_met_exit_2_and_hold_nothing(
    tmp_path: Path, args: list[str], says: str
) -> None:
    env = os.environ | {"AUTOSTOP_STATE_DIR": str(tmp_path / "state")}
    done = subprocess.run(
        [*CLI, "keepalive", *args], capture_output=True, text=True, env=env, timeout=30,
        check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert says in done.stderr
    assert hold_files(tmp_path) == []
