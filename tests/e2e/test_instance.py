"""End to end: lcc/on-start.sh in a simulated Code Editor instance, the app's fate through moto.

Each test starts its own container (docker/Dockerfile.sim): the entrypoint runs the LCC as
sagemaker-user, the LCC installs the package and starts the daemon under its supervisor, and the
test drives activity with ``exec`` and watches the fake SageMaker endpoint and the log file.
Idle times are seconds; every outcome is polled for with a bound.
"""

from __future__ import annotations

import calendar
import itertools
import json
import re
import subprocess
import time
from collections.abc import Callable

import pytest

from autostop_async import events

from .sim import APP_ARN, EDITOR_LOCK, HOME, LAYOUT_IMAGES, SERVER_DATA, STATE_DIR, WHEELS, Sim

pytestmark = pytest.mark.e2e

IDLE = 15  # seconds of idleness before deletion, in most tests
INTERVAL = 2  # the daemon's polling interval
BOUND = 40  # slack for a deletion after it is due: daemon wake-up, aioboto3 import, a busy host
LCC_LIMIT = 120  # the LCC must end well within Studio's 5 minutes, also on a busy 2-core host
#: The LCC returns at once; the install runs after it, in the background (63 s seen under load).
INSTALL_BOUND = 180
ACTIVITY_EVERY = 4  # seconds between two driven activities
KEEP_ALIVE = 2.5 * IDLE  # how long activity is driven: past two idle deadlines

#: Settings of every container. The CPU signal is off: it reads the machine-wide /proc/stat,
#: which in a container shows the whole host, here busy with the other tests' containers.
BASE_ENV = {
    "AUTOSTOP_IDLE_TIME": str(IDLE),
    "AUTOSTOP_INTERVAL": str(INTERVAL),
    "AUTOSTOP_BUSY": "0",
}
LCC = "/opt/sim/lcc/on-start.sh"  # where the image keeps lcc/on-start.sh

StartSim = Callable[..., Sim]
#: The scenarios about the editor's data run on both layouts of it (docker/Dockerfile.sim).
LAYOUTS = pytest.mark.parametrize("layout", list(LAYOUT_IMAGES))

START_LINE = re.compile(r"^(\S+) .*autostop-async [0-9][^ ]* started", re.MULTILINE)


def _epoch(stamp: str) -> float:
    return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))


def _start(
    start_sim: StartSim, network: str | None = None, *, layout: str = "current", **env: str
) -> Sim:
    """A container whose LCC finished well and whose daemon logged its start."""
    sim = start_sim(network, image=LAYOUT_IMAGES[layout], **{**BASE_ENV, **env})
    rc, seconds = sim.wait_lcc()
    assert rc == 0, f"the LCC exited {rc}\n{sim.diagnostics()}"
    assert seconds < LCC_LIMIT, f"the LCC took {seconds}s\n{sim.diagnostics()}"
    sim.wait_for("the daemon's start line", lambda: START_LINE.search(sim.log()), INSTALL_BOUND)
    return sim


def _fault(code: str, message: str, count: int) -> str:
    """SIM_FAULT for the entrypoint: DeleteApp answers ``code`` ``count`` times (-1: always)."""
    fault = {"operation": "DeleteApp", "code": code, "status": 400, "message": message}
    return json.dumps({**fault, "count": count})


def _daemon_start(sim: Sim, nth: int = 0) -> float:
    return _epoch(START_LINE.findall(sim.log())[nth])


def _delete_times(sim: Sim, status: int | None = 200) -> list[float]:
    return [c["time"] for c in sim.calls("DeleteApp") if status is None or c["status"] == status]


def _assert_deleted_cleanly(sim: Sim) -> None:
    """The daemon logged the deletion, exited 0, and the supervisor let it be."""
    log = sim.wait_log("not restarting", 30)
    assert "idle for" in log
    assert "deleted app" in log
    assert "daemon exited 0" in log
    sim.wait_for("the daemon to exit", lambda: not sim.daemon_pids(), 30)
    assert not sim.supervisor_pids()


def _assert_kept_alive(sim: Sim, activity: str, what: str, source: str) -> None:
    """Drive ``activity`` for KEEP_ALIVE seconds: the app stays, and the daemon names ``source``
    as what kept it; then idle: the app goes, not early."""
    end = time.monotonic() + KEEP_ALIVE
    while True:
        sim.sh(activity)
        last_activity = time.time()
        if time.monotonic() >= end:
            break
        status = sim.app_status()
        assert status == "InService", f"{what} did not keep the app: {status}\n{sim.diagnostics()}"
        time.sleep(ACTIVITY_EVERY)
    active = [line for line in sim.log().splitlines() if "active:" in line]
    assert any(source in line for line in active), f"no 'active:' line names {source!r}: {active}"
    sim.wait_gone(IDLE + BOUND)
    (deleted_at,) = _delete_times(sim)
    assert deleted_at - last_activity >= IDLE - 2, (
        f"deleted {deleted_at - last_activity:.1f}s after the last {what}, before the idle time"
    )
    _assert_deleted_cleanly(sim)


@LAYOUTS
def test_idle_app_is_deleted_within_idle_time(start_sim: StartSim, layout: str) -> None:
    """No activity at all, only the editor's bookkeeping (its lock file touched every second):
    DeleteApp once IDLE passed, not before; nothing written to home."""
    sim = _start(start_sim, layout=layout)
    started = _daemon_start(sim)
    sim.wait_gone(IDLE + BOUND)
    (deleted_at,) = _delete_times(sim)
    lock = f"{SERVER_DATA[layout]}/{EDITOR_LOCK}"
    touched = float(sim.sh(f"stat -c %Y {lock}"))
    assert touched > deleted_at - 5, "the stand-in editor stopped touching its lock: no noise"
    assert IDLE - 1 <= deleted_at - started <= IDLE + BOUND
    _assert_deleted_cleanly(sim)
    # The install and the daemon wrote nothing into the user's home (it would count as activity,
    # and it is the user's) but the installed environment, cached on the space's volume in
    # ~/.cache/autostop-async (written before the daemon starts, and left out of its walk), and
    # no credentials were written anywhere. (The editor's lock file is the editor's.)
    cache = f"{HOME}/.cache/autostop-async"
    new = sim.sh(
        f"find {HOME} -newer /var/log/sim/ready -not -path {lock} -not -path {HOME} "
        f"-not -path {HOME}/.cache -not -path {cache} -not -path '{cache}/*'",
        user="root",
    )
    assert not new.strip(), f"written into the home folder: {new}"
    secrets = sim.exec(
        "grep",
        "-rl",
        "sim-secret-",
        HOME,
        "/var/tmp",
        "/tmp",
        "/etc",
        "/var/log/apps",
        user="root",
        check=False,
    )
    assert secrets.returncode == 1, f"credentials written to: {secrets.stdout}"


def test_workspace_writes_keep_the_app(start_sim: StartSim) -> None:
    """A file in the home folder changing every few seconds."""
    sim = _start(start_sim)
    _assert_kept_alive(
        sim,
        f"mkdir -p {HOME}/proj && date >>{HOME}/proj/notes.txt",
        "workspace write",
        "/home/sagemaker-user/proj/notes.txt",
    )


@LAYOUTS
def test_unsaved_edit_keeps_the_app(start_sim: StartSim, layout: str) -> None:
    """An unsaved editor: only its hot-exit backup in the editor's Backups folder changes."""
    sim = _start(start_sim, layout=layout)
    backup = f"{SERVER_DATA[layout]}/data/User/Backups/1733412345678/file"
    _assert_kept_alive(
        sim,
        f"mkdir -p {backup} && date >{backup}/5f3c2a1b",
        "unsaved edit (backup file)",
        "/User/Backups/",
    )


@LAYOUTS
def test_saved_edit_keeps_the_app(start_sim: StartSim, layout: str) -> None:
    """Saves: a new local-history entry each time (the file itself lies outside the watch)."""
    sim = _start(start_sim, layout=layout)
    entry = f"{SERVER_DATA[layout]}/data/User/History/-4b1a2f3e"
    _assert_kept_alive(
        sim,
        f"mkdir -p {entry} && id=$(date +%s%N | cut -c1-13) && date >{entry}/$id.py"
        f' && echo \'{{"version":1,"entries":[{{"id":"\'$id\'.py"}}]}}\' >{entry}/entries.json',
        "saved edit (history entry)",
        "/User/History/",
    )


def test_git_commit_keeps_the_app(start_sim: StartSim) -> None:
    """Commits that change nothing in the working tree: only git's records move."""
    sim = _start(start_sim)
    sim.sh(
        f"git init -q {HOME}/repo && cd {HOME}/repo && echo x >f && git add f && git commit -qm 1"
    )
    _assert_kept_alive(
        sim, f"git -C {HOME}/repo commit -q --allow-empty -m tick", "git commit", "git:"
    )


def test_lcc_twice_leaves_one_daemon(start_sim: StartSim) -> None:
    """Running the LCC again (also twice at once) keeps the one daemon that runs, and is quick."""
    sim = _start(start_sim, AUTOSTOP_IDLE_TIME="60")
    (daemon,) = sim.daemon_pids()
    began = time.monotonic()
    again = sim.exec("bash", LCC, timeout=LCC_LIMIT)
    assert time.monotonic() - began < 30, "a second run should leave the supervisor be"
    assert "already running" in again.stderr
    assert "installing from" not in again.stderr
    runs = [
        subprocess.Popen(
            [*sim.engine.argv, "exec", "--user", "sagemaker-user", sim.name, "bash", LCC],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    assert [run.wait(timeout=LCC_LIMIT) for run in runs] == [0, 0]
    assert sim.daemon_pids() == [daemon]
    assert len(sim.supervisor_pids()) == 1
    assert len(START_LINE.findall(sim.log())) == 1
    assert sim.app_status() == "InService"


def test_vpc_only_install_from_wheelhouse_without_network(start_sim: StartSim) -> None:
    """No network at all, no pip configuration: the wheelhouse folder is enough."""
    sim = _start(
        start_sim,
        network="none",
        AUTOSTOP_PACKAGE="/opt/wheelhouse",
        PIP_CONFIG_FILE="/dev/null",
    )
    interfaces = sim.sh("ls /sys/class/net").split()
    assert interfaces == ["lo"], f"the container has a network: {interfaces}"
    assert "installing from /opt/wheelhouse" in sim.log()
    sim.wait_gone(IDLE + BOUND)
    _assert_deleted_cleanly(sim)


def test_install_from_s3_wheelhouse(start_sim: StartSim) -> None:
    """PACKAGE=s3://…/ (a wheelhouse prefix), fetched with the image's boto3 (no AWS CLI)."""
    sim = start_sim(
        None,
        **BASE_ENV,
        SIM_RUN_LCC="0",
        AWS_ENDPOINT_URL_S3="http://127.0.0.1:5000",
        AUTOSTOP_PACKAGE="s3://wheels/autostop-async/wheelhouse/",
        PIP_CONFIG_FILE="/dev/null",
    )
    assert sim.logs is not None
    sim.wait_for("the endpoints", lambda: (sim.logs / "sim" / "ready").exists(), 120)
    upload = (
        "import boto3, glob, os\n"
        "s3 = boto3.client('s3')\n"
        "s3.create_bucket(Bucket='wheels')\n"
        "for f in glob.glob('/opt/wheelhouse/*.whl'):\n"
        "    s3.upload_file(f, 'wheels', 'autostop-async/wheelhouse/' + os.path.basename(f))\n"
    )
    sim.exec("/opt/sim/venv/bin/python", "-c", upload, user="root")
    assert sim.exec("bash", "-c", "command -v aws", check=False).returncode != 0
    began = time.monotonic()
    sim.exec("bash", LCC, timeout=LCC_LIMIT)
    assert time.monotonic() - began < LCC_LIMIT
    sim.wait_for("the daemon's start line", lambda: START_LINE.search(sim.log()), INSTALL_BOUND)
    assert "installing from s3://wheels/autostop-async/wheelhouse/" in sim.log()
    sim.wait_gone(IDLE + BOUND)
    _assert_deleted_cleanly(sim)


def test_throttled_delete_is_retried(start_sim: StartSim) -> None:
    """Two ThrottlingException answers, then success: the SDK's retries carry it."""
    fault = _fault("ThrottlingException", "Rate exceeded", count=2)
    sim = _start(start_sim, SIM_FAULT=fault)
    sim.wait_gone(IDLE + BOUND)
    statuses = [c["status"] for c in sim.calls("DeleteApp")]
    assert statuses == [400, 400, 200], statuses
    _assert_deleted_cleanly(sim)


def test_access_denied_is_logged_and_retried(start_sim: StartSim) -> None:
    """The role lacks sagemaker:DeleteApp: a clear line; the daemon stays, retries, backs off."""
    message = (
        "User: arn:aws:sts::123456789012:assumed-role/sim-execution-role/SageMaker is not "
        f"authorized to perform: sagemaker:DeleteApp on resource: {APP_ARN}"
    )
    fault = _fault("AccessDeniedException", message, count=-1)
    sim = _start(start_sim, SIM_FAULT=fault)
    (daemon,) = sim.daemon_pids()
    log = sim.wait_log("DeleteApp failed", IDLE + BOUND)
    line = next(line for line in log.splitlines() if "DeleteApp failed" in line)
    assert "sagemaker:DeleteApp" in line, line
    assert APP_ARN in line, line
    assert "retrying in" in line, line
    # Retries come, further and further apart (INTERVAL, doubled, capped at IDLE).
    three = 2 * IDLE + BOUND
    sim.wait_for("three DeleteApp attempts", lambda: len(sim.calls("DeleteApp")) >= 3, three)
    times = _delete_times(sim, status=None)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    waits = [
        int(h) * 3600 + int(m) * 60 + int(sec)
        for h, m, sec in re.findall(r"retrying in (\d+)h(\d\d)m(\d\d)s", sim.log())
    ]
    assert waits[1] > waits[0], f"the announced waits do not grow: {waits}"
    pairs = zip(gaps, waits, strict=False)  # the log may be a line ahead of the calls
    assert all(gap >= wait - 1 for gap, wait in pairs), f"attempts {gaps} apart, waits {waits}"
    assert sim.daemon_pids() == [daemon], "the daemon should keep running, not crash"
    assert "restarting in" not in sim.log()
    assert sim.app_status() == "InService"
    # Once an admin fixes the role, the next retry deletes the app.
    sim.fake("DELETE", "/_fake/faults")
    sim.wait_gone(IDLE + BOUND)
    _assert_deleted_cleanly(sim)


def test_credentials_expire_and_are_refreshed(start_sim: StartSim) -> None:
    """Keys that expire within seconds: a later DeleteApp fetches new ones from the endpoint."""
    fault = _fault("AccessDeniedException", "not yet", count=1)
    ttl = 5
    sim = _start(start_sim, SIM_CREDS_TTL=str(ttl), SIM_FAULT=fault, AUTOSTOP_INTERVAL=str(ttl + 1))
    sim.wait_gone(IDLE + BOUND + ttl)
    _assert_deleted_cleanly(sim)
    issued = sim.creds_stats()["issued"]
    first_expiry = issued[0]["expires_at"]
    (deleted_at,) = _delete_times(sim)
    assert deleted_at > first_expiry, "the test needs the first keys to have expired by then"
    assert any(i["issued_at"] > first_expiry for i in issued), f"no refresh after expiry: {issued}"
    assert len({i["access_key"] for i in issued}) == len(issued)


def test_killed_daemon_is_restarted_and_keeps_its_clock(start_sim: StartSim) -> None:
    """SIGKILL: the supervisor restarts the daemon (with growing waits), and the new daemon
    keeps the idle clock of the first.

    This container installs from a URL (file://), the third kind of package source.
    """
    idle = 30
    (wheel,) = (WHEELS / "app").glob("autostop_async-*.whl")
    sim = _start(
        start_sim,
        AUTOSTOP_IDLE_TIME=str(idle),
        AUTOSTOP_PACKAGE=f"file:///opt/wheelhouse/{wheel.name}",
    )
    assert f"installing from file:///opt/wheelhouse/{wheel.name}" in sim.log()
    first_start = _daemon_start(sim)
    (daemon,) = sim.daemon_pids()
    sim.wait_for("15 s of the idle clock", lambda: time.time() >= first_start + 15, 30)
    sim.exec("kill", "-KILL", str(daemon))
    log = sim.wait_log("exited with code 137", 30)
    assert "restarting in 1s" in log
    sim.wait_for("a second daemon start", lambda: len(START_LINE.findall(sim.log())) == 2, 30)
    (restarted,) = sim.daemon_pids()
    assert restarted != daemon
    # A crash soon after a restart waits longer: the backoff doubles.
    sim.exec("kill", "-KILL", str(restarted))
    sim.wait_log("exited with code 137", 30, count=2)
    assert "restarting in 2s" in sim.log()
    sim.wait_for("a third daemon start", lambda: len(START_LINE.findall(sim.log())) == 3, 30)
    third_start = _daemon_start(sim, 2)
    sim.wait_gone(idle + BOUND)
    (deleted_at,) = _delete_times(sim)
    # The clock is the first daemon's: deleted at the first start's deadline, or as soon as a
    # restarted daemon is up when the restarts took longer (a loaded machine), never a whole
    # idle time after a restart.
    assert deleted_at < max(first_start + idle, third_start) + 10, (
        f"deleted {deleted_at - first_start:.0f}s after the first start and "
        f"{deleted_at - third_start:.0f}s after the third: did a restart reset the idle clock?"
    )
    # The deleting daemon counted from the first daemon's start, not its own.
    (counted_from,) = re.findall(r"last activity daemon-start at (\S+)\); deleting", sim.log())
    assert _epoch(counted_from) < _daemon_start(sim, 1), sim.log()
    _assert_deleted_cleanly(sim)


def test_bad_configuration_is_not_restarted(start_sim: StartSim) -> None:
    """Exit 2 (a bad setting): one clear line naming it, and the supervisor stops."""
    sim = start_sim(None, **{**BASE_ENV, "AUTOSTOP_INTERVAL": "soon"})
    rc, _ = sim.wait_lcc()
    assert rc == 0
    log = sim.wait_log("not restarting", INSTALL_BOUND)  # after the install
    assert "AUTOSTOP_INTERVAL" in log
    assert "daemon exited 2" in log
    assert "restarting in" not in log
    assert not sim.daemon_pids()
    assert not sim.supervisor_pids()
    assert sim.app_status() == "InService"
    assert sim.read(f"{STATE_DIR}/supervisor.pid") == ""


def test_failed_install_does_not_fail_the_app_start(start_sim: StartSim) -> None:
    """A source that cannot be installed: the LCC still exits 0; the supervisor tries three
    times, then says so in the log, for people and as the ``install-failed`` event line."""
    sim = start_sim(None, **{**BASE_ENV, "AUTOSTOP_PACKAGE": "autostop-async==99.0"})
    rc, _ = sim.wait_lcc()
    assert rc == 0, "a failed install must not fail the app's start"
    log = sim.wait_log("ERROR: install from autostop-async==99.0 failed", 15 + 60 + INSTALL_BOUND)
    assert "the app will NOT stop by itself" in log
    assert "(try 2 of 3)" in log
    (event,) = [e for line in log.splitlines() if (e := events.parse(line)) is not None]
    assert event["event"] == "install-failed", event
    assert "autostop-async==99.0" in event["reason"], event
    sim.wait_for("the supervisor to end", lambda: not sim.supervisor_pids(), 30)
    assert not sim.daemon_pids()
    assert sim.app_status() == "InService"
