"""Holds tried with the inputs users and their programs really produce: a long
command line, many hold files, keepalive turned off, a job in another pid namespace, a hold file
that is not UTF-8, and a keepalive typed without a unit. Real processes, the real daemon's
decision (``make_daemon`` with a fake ``DeleteApp``), real commands."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from autostop_async.cli import main
from autostop_async.holds import (
    HoldsReader,
    HoldsView,
    ensure_holds_dir,
    hold_file_name,
    write_hold,
)
from autostop_async.processes import ProcessId, identify
from tests.integration.conftest import Daemon, app_status, wait_deleted
from tests.integration.test_jobs import (
    CLI,
    background,
    cmdline,
    ended_hold,
    held,
    hold_files,
    holds,
    kill_pid,
    procs,
    reader,
    the_hold,
)
from tests.support.doubles import APP, Clock, Deleter, FakeSignal, make_config, make_daemon
from tests.support.doubles import write_state as _write_state
from tests.support.fake_sagemaker import FakeSageMaker
from tests.support.waiting import wait_for

__all__ = ["procs"]  # the fixture, shared with test_jobs

MARGIN = 20.0  # a generous bound for what should happen soon, on a loaded machine
#: A command line of about 100 KB, as a long Java classpath or a generated list of files.
LONG_ARGS = [f"/opt/lib/dependency-{i:04d}-{'x' * 90}.jar" for i in range(1000)]


def write_state(tmp_path: Path) -> None:
    """Idle since long ago: only a hold keeps the app."""
    _write_state(tmp_path, last_at=800.0, last_source="workspace:/w/a.py")


def env(tmp_path: Path, **more: str) -> dict[str, str]:
    return os.environ | {"AUTOSTOP_STATE_DIR": str(tmp_path / "state")} | more


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=env(tmp_path), timeout=60, check=False
    )


async def decide(tmp_path: Path, now: float, cap: float = 12 * 3600) -> tuple[str, str | None]:
    """One check of the daemon at ``now``: its action, and what kept the app."""
    clock = Clock(now)
    d = make_daemon(
        make_config(tmp_path),
        [FakeSignal("workspace")],
        APP,
        Deleter(),
        holds=reader(tmp_path, clock, cap=cap),
        clock=clock,
    )
    result = await d.once()
    return result.action, result.kept_by


# -- 1. a long command line ----------------------------------------------------------------------


async def test_a_long_command_line_is_held_by_a_small_record_and_its_grace_counts(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    wrapper = held(
        tmp_path, "--then-stop-after", "1m", "--", "sh", "-c", "sleep 60", "job", *LONG_ARGS
    )
    procs.append(wrapper)
    record = the_hold(tmp_path)
    assert hold_files(tmp_path)[0].stat().st_size < 1024  # not the 100 KB argv
    (summary,) = list(record["command"])  # type: ignore[call-overload]
    assert len(summary) <= 200 and summary.startswith("sh -c sleep 60 job /opt/lib/dependency-0000")
    job = int(record["pid"])  # type: ignore[call-overload]
    write_state(tmp_path)
    action, kept_by = await decide(tmp_path, time.time())
    assert action == "none" and kept_by is not None
    assert kept_by.startswith(f"job {job} `sh -c sleep 60 job /opt/lib/dependency-0000")
    os.kill(job, signal.SIGTERM)
    assert wrapper.wait(20) == 128 + signal.SIGTERM
    end = float(ended_hold(tmp_path)["ended_epoch"])  # type: ignore[arg-type]
    assert await decide(tmp_path, time.time()) == ("none", None)  # the end counted
    assert hold_files(tmp_path) == []
    # --then-stop-after 1m: deleted a minute after the end, not 12 hours after.
    assert (await decide(tmp_path, end + 61))[0] == "deleted"


async def test_a_long_command_held_by_pid_is_a_small_record(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]], capsys: pytest.CaptureFixture[str]
) -> None:
    job = background(procs, "sh", "-c", "sleep 60", "job", *LONG_ARGS)
    state = str(tmp_path / "state")
    assert main(["keepalive", "--pid", str(job.pid), "--state-dir", state]) == 0
    said = capsys.readouterr().out
    assert f"kept while job {job.pid} `sh -c sleep 60 job /opt/lib/dependency-0000" in said
    assert len(said) < 600
    assert hold_files(tmp_path)[0].stat().st_size < 1024
    write_state(tmp_path)
    assert (await decide(tmp_path, time.time()))[0] == "none"


def test_an_older_hold_file_with_the_whole_argv_is_still_read(tmp_path: Path) -> None:
    """The format before this one: ``command`` held the whole argv (and no ``pid_ns``)."""
    me = identify(os.getpid())
    assert me is not None
    ensure_holds_dir(holds(tmp_path))
    old = {
        "boot_time": me.boot_time,
        "command": ["python", "train.py", "--lr", "0.1\x1b[2J"],
        "created_epoch": time.time(),
        "pid": me.pid,
        "start_ticks": me.start_ticks,
        "then_stop_after": 300,
    }
    (holds(tmp_path) / f"{me.pid}-{me.start_ticks}.json").write_text(json.dumps(old, indent=1))
    (hold,) = reader(tmp_path, Clock(time.time())).read().live
    assert hold.command == "python train.py --lr 0.1\\x1b[2J" and hold.grace == 300


def test_an_older_hold_file_too_large_to_read_holds_by_its_name_while_the_job_runs(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    """An old hold with an argv of 100 KB is over the 64 KiB read: its name says the process,
    which holds the app while it runs, and its end counts (not 12 hours of an unusable file)."""
    job = background(procs, "sleep", "60")
    process = identify(job.pid)
    assert process is not None
    ensure_holds_dir(holds(tmp_path))
    old = {
        "boot_time": process.boot_time,
        "command": ["sleep", "60", *LONG_ARGS],
        "created_epoch": time.time(),
        "pid": process.pid,
        "start_ticks": process.start_ticks,
        "then_stop_after": None,
    }
    (holds(tmp_path) / f"{job.pid}-{process.start_ticks}.json").write_text(json.dumps(old))
    read = reader(tmp_path, Clock(time.time()))
    with caplog.at_level(logging.INFO, logger="autostop_async"):
        view = read.read()
    assert [h.process.pid for h in view.live] == [job.pid] and view.unusable == ()
    assert "larger than 64 KiB" in view.live[0].command
    job.kill()
    job.wait()
    (end,) = read.read().ended
    assert end.hold.process.pid == job.pid and end.at <= time.time()


# -- 2. every hold file, whatever their number ---------------------------------------------------


def ended_hold_files(folder: Path, count: int, now: float) -> None:
    """``count`` hold files of jobs that ended long ago, named to sort before any other."""
    for i in range(1, count + 1):
        write_hold(
            folder,
            ProcessId(1, 10**9 + i, 0),
            ["old", "job"],
            grace=None,
            now=now - 86400,
            ended={"ended_epoch": now - 86000, "exit_code": 0, "signal": None},
        )


async def test_the_65th_hold_is_honoured_listed_and_done_files_are_removed(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    folder = holds(tmp_path)
    ensure_holds_dir(folder)
    now = time.time()
    ended_hold_files(folder, 100, now)  # 1-1000000001.json …: before any other in the listing
    capped_job = background(procs, "sleep", "61")
    capped = identify(capped_job.pid)
    assert capped is not None  # held from 2 hours ago: past a cap of 1 hour
    write_hold(folder, capped, ["sleep", "61"], grace=None, now=now - 7200)
    job = background(procs, "sleep", "60")
    assert main(["keepalive", "--pid", str(job.pid), "--state-dir", str(tmp_path / "state")]) == 0
    listed = run_cli(tmp_path, "keepalive", "--list", "--max-keepalive", "12h")
    assert listed.returncode == 0 and f"\n{job.pid} " in listed.stdout
    write_state(tmp_path)
    action, kept_by = await decide(tmp_path, time.time(), cap=3600)
    assert action == "none" and kept_by is not None and kept_by.startswith(f"job {job.pid} ")
    # The daemon is done with the ended and the capped holds: their files are gone.
    process = identify(job.pid)
    assert process is not None
    assert [p.name for p in hold_files(tmp_path)] == [f"{job.pid}-{process.start_ticks}.json"]


def test_100000_hold_files_are_read_completely_a_budget_at_a_time(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    """100,000 files with hold names that are no holds (empty), and one real hold: each poll
    reads what its budget allows (counted here in files, not seconds, so that a loaded machine
    reads as much); files not read yet keep the app; the warnings are counted, not one per
    file; the real hold is found; past the cap the daemon removes every file."""
    folder = holds(tmp_path)
    ensure_holds_dir(folder)
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for i in range(100_000):
            os.close(os.open(f"1-{i}.json", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
    finally:
        os.close(fd)
    job = background(procs, "sleep", "60")
    process = identify(job.pid)
    assert process is not None
    write_hold(folder, process, ["sleep", "60"], grace=None)  # 2…-….json: listed last
    clock = Clock(time.time())
    looks = iter(range(10**9))
    read = HoldsReader(folder, 3600, clock=clock, budget=30_000, timer=lambda: next(looks))
    views: list[HoldsView] = []
    with caplog.at_level(logging.INFO, logger="autostop_async"):
        while not views or not views[-1].live:
            views.append(read.read())
            assert len(views) <= 5, "the real hold was never read"
    first = views[0]
    unread = [u.name for u in first.unusable if u.name.endswith(" files not read yet)")]
    assert first.live == () and unread == ["(70000 files not read yet)"]
    assert [h.process.pid for h in views[-1].live] == [job.pid]
    assert len(views[-1].unusable) == 100_000  # not holds: each keeps the app up to the cap
    assert caplog.text.count("is not a usable hold") <= 10 * len(views)
    assert "more files are not usable holds" in caplog.text
    clock.now += 3601  # past the cap from their change time, and the real hold's
    after = read.read()
    assert after.unusable == () and [h.process.pid for h in after.capped] == [job.pid]
    read.settle()
    assert list(folder.iterdir()) == []


# -- 7. a hold that cannot be taken never stops the work ---------------------------------------


def test_with_keepalive_off_the_command_runs_unheld_and_says_so(tmp_path: Path) -> None:
    done = subprocess.run(
        [*CLI, "keepalive", "--max-keepalive", "0", "--", "sh", "-c", "echo ran; exit 3"],
        capture_output=True, text=True, env=env(tmp_path), timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 3 and done.stdout == "ran\n"
    assert "runs NOT HELD (keepalive is turned off here (--max-keepalive is 0))" in done.stderr
    assert hold_files(tmp_path) == []


def test_a_hold_that_cannot_be_written_runs_the_command_unheld(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "holds").write_text("not a folder")
    done = subprocess.run(
        [*CLI, "keepalive", "--", "sh", "-c", "echo ran; exit 4"],
        capture_output=True, text=True, env=env(tmp_path), timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 4 and done.stdout == "ran\n"
    assert "runs NOT HELD (cannot write" in done.stderr


# -- 8. another pid namespace ------------------------------------------------------------------


def unshare(*flags: str) -> list[str]:
    """``unshare`` with ``flags``, or skip when this machine cannot make pid namespaces."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare")
    probe = subprocess.run(
        ["unshare", *flags, "true"], capture_output=True, timeout=30, check=False
    )
    if probe.returncode != 0:
        pytest.skip(f"unshare {' '.join(flags)} is not permitted here")
    return ["unshare", *flags]


@pytest.mark.parametrize(
    "flags", [("--pid", "--fork"), ("--pid", "--fork", "--mount-proc")], ids=["proc", "own-proc"]
)
def test_a_job_in_another_pid_namespace_is_held_by_the_number_the_daemon_sees(
    tmp_path: Path, flags: tuple[str, ...]
) -> None:
    """``unshare --pid --fork``: the namespace's ``/proc`` is the daemon's (the hold is written
    with the number ``/proc`` shows); with ``--mount-proc`` it has its own, as a container
    (the daemon finds the process by the namespace the hold names)."""
    outer = unshare(*flags)
    wrapper = subprocess.Popen([*outer, *CLI, "keepalive", "--", "sleep", "60"], env=env(tmp_path))
    try:
        the_hold(tmp_path)
        view = reader(tmp_path, Clock(time.time())).read()
        (hold,) = view.live
        assert cmdline(hold.process.pid) == b"sleep\x0060\x00"  # the daemon's number for it
        kill_pid(hold.process.pid)
        end = ended_hold(tmp_path)
        assert end["signal"] == signal.SIGKILL
    finally:
        if wrapper.poll() is None:
            wrapper.kill()
        wrapper.wait(20)


def test_keepalive_pid_inside_a_pid_namespace_is_refused_with_a_clear_line(
    tmp_path: Path,
) -> None:
    outer = unshare("--pid", "--fork")
    done = subprocess.run(
        [*outer, *CLI, "keepalive", "--pid", "1"],
        capture_output=True, text=True, env=env(tmp_path), timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "runs in a pid namespace of its own" in done.stderr and "Traceback" not in done.stderr
    assert hold_files(tmp_path) == []


async def test_a_hold_naming_a_process_that_ran_before_it_held_nothing_never_a_negative_time(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """What an older keepalive in a pid namespace wrote: its own number for the job, which is
    another, older process for the daemon (here pid 1)."""
    first = identify(1)
    assert first is not None
    ensure_holds_dir(holds(tmp_path))
    write_hold(holds(tmp_path), ProcessId(1, first.start_ticks + 1, first.boot_time), ["job"],
               grace=None)  # fmt: skip
    write_state(tmp_path)
    with caplog.at_level(logging.INFO, logger="autostop_async"):
        action, _ = await decide(tmp_path, time.time())
    assert action == "none"  # the "end" is activity (at the hold's start); never before it
    assert "job 1 `job` ended (its pid names another process; it held nothing) after 0 held" in (
        caplog.text
    )
    assert " after -" not in caplog.text


# -- 9. a hold file that is not UTF-8 ------------------------------------------------------------


def test_a_hold_file_that_is_not_utf8_is_said_to_be_so_never_quoted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ensure_holds_dir(holds(tmp_path))
    (holds(tmp_path) / "4711-99.json").write_bytes(b'{"pid": 4711, "command": ["caf\xe9"]}')
    with caplog.at_level(logging.INFO, logger="autostop_async"):
        view = reader(tmp_path, Clock(time.time()), cap=3600).read()
    assert [u.name for u in view.unusable] == ["4711-99.json"]
    assert "is not a usable hold (not UTF-8)" in caplog.text
    assert "0xe9" not in caplog.text and "position" not in caplog.text


# -- the keepalive as a new user types it -------------------------------------------------------


def test_a_bare_small_number_is_refused_with_a_hint(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "keepalive", "2")
    assert done.returncode == 2
    assert "DURATION 2: 2s, 2m or 2h? A number alone is seconds; write the unit" in done.stderr
    assert not (tmp_path / "state" / "keepalive.json").exists()
    assert run_cli(tmp_path, "keepalive", "3600").returncode == 0  # seconds, as --idle-time


def test_a_shorter_keepalive_never_silently_replaces_a_longer_one(tmp_path: Path) -> None:
    path = tmp_path / "state" / "keepalive.json"
    assert run_cli(tmp_path, "keepalive", "2h").returncode == 0
    until = json.loads(path.read_text())["until_epoch"]
    shorter = run_cli(tmp_path, "keepalive", "2m")
    assert shorter.returncode == 2
    assert "is in force until" in shorter.stderr and "Add --replace to shorten it" in shorter.stderr
    assert json.loads(path.read_text())["until_epoch"] == until
    replaced = run_cli(tmp_path, "keepalive", "2m", "--replace")
    assert replaced.returncode == 0 and "It replaces the keepalive by" in replaced.stdout
    assert json.loads(path.read_text())["until_epoch"] < until
    longer = run_cli(tmp_path, "keepalive", "3h")
    assert longer.returncode == 0 and "It replaces the keepalive by" in longer.stdout


def test_a_duration_after_the_separator_gets_a_hint(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "keepalive", "--", "2h")
    assert done.returncode == 127
    assert "2h: command not found; nothing was held" in done.stderr
    assert "write it without --: keepalive 2h" in done.stderr


# -- the real daemon against the fake SageMaker ----------------------------------------------


def test_the_daemon_honours_a_hold_after_100_capped_holds_and_stops_after_the_job(
    tmp_path: Path,
    procs: list[subprocess.Popen[bytes]],
    fake: FakeSageMaker,
    start_daemon: Callable[..., Daemon],
) -> None:
    """100 jobs still running, held since 2 hours (past a cap of 1 hour), whose files come
    before the new hold's in the listing; and 100 ended holds."""
    ensure_holds_dir(holds(tmp_path))
    ended_hold_files(holds(tmp_path), 100, time.time())
    jobs = [identify(background(procs, "sleep", "120").pid) for _ in range(101)]
    running = sorted((p for p in jobs if p is not None), key=hold_file_name)
    *capped, job = running  # the new hold is the last file listed
    assert len(capped) == 100
    for process in capped:
        write_hold(holds(tmp_path), process, ["sleep", "120"], grace=None, now=time.time() - 7200)
    state = str(tmp_path / "state")
    assert main(["keepalive", "--pid", str(job.pid), "--state-dir", state]) == 0
    daemon = start_daemon("--idle-time", "2", "--interval", "0.5", "--max-keepalive", "1h")
    wait_for(lambda: f"kept: job {job.pid} `sleep 120`" in daemon.text(), MARGIN, "the hold")
    assert app_status(fake) == "InService"
    wait_for(lambda: len(hold_files(tmp_path)) == 1, MARGIN, "the ended and capped files removed")
    listed = run_cli(tmp_path, "keepalive", "--list")
    assert f"\n{job.pid} " in listed.stdout
    kill_pid(job.pid)
    wait_deleted(fake, MARGIN, "the stop once idle after the job's end")
    assert hold_files(tmp_path) == []


def test_the_daemon_stops_the_grace_after_a_job_with_a_long_command_line(
    tmp_path: Path,
    procs: list[subprocess.Popen[bytes]],
    fake: FakeSageMaker,
    start_daemon: Callable[..., Daemon],
) -> None:
    """An idle time of an hour: only the job's end with its grace of 2 s can stop the app
    within the bound (a hold file it cannot read would keep it for the cap, an hour)."""
    daemon = start_daemon("--idle-time", "1h", "--interval", "0.5", "--max-keepalive", "1h")
    wait_for(lambda: "watching since" in daemon.text(), MARGIN, "the daemon to start")
    wrapper = held(
        tmp_path, "--then-stop-after", "2s", "--", "sh", "-c", "sleep 120", "job", *LONG_ARGS
    )
    procs.append(wrapper)
    job = int(the_hold(tmp_path)["pid"])  # type: ignore[call-overload]
    wait_for(lambda: f"hold: job {job} `sh -c sleep 120 job" in daemon.text(), MARGIN, "the hold")
    kill_pid(job)
    assert wrapper.wait(20) == 128 + signal.SIGKILL
    wait_deleted(fake, MARGIN, "the stop 2 s after the job's end")
    assert f"job {job} `sh -c sleep 120 job" in daemon.text()
