"""End to end: the LCC returns at once, the daemon survives its cache, the command is on PATH.

Each test starts its own simulated instance (docker/Dockerfile.sim). The LCC starts the
supervisor detached and returns; the supervisor installs (or copies the environment cached in
``~/.cache/autostop-async``) into ``/var/tmp/autostop-async/venv`` and runs the daemon from there.
Timings are recorded (``record_timing``) and printed at the end of the run, not asserted, except
the LCC's own return, which is the point of it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from .sim import HOME, STATE_DIR, Sim
from .test_instance import (
    BASE_ENV,
    BOUND,
    INSTALL_BOUND,
    LCC,
    LCC_LIMIT,
    START_LINE,
    _assert_deleted_cleanly,
    _daemon_start,
    _delete_times,
    _epoch,
    _start,
)

pytestmark = pytest.mark.e2e

StartSim = Callable[..., Sim]
#: The LCC's own run: it starts the supervisor and returns; a loaded 2-core host adds seconds.
LCC_RETURNS = 10
CACHE = f"{HOME}/.cache/autostop-async"
SITE = f"{STATE_DIR}/venv/lib/python3*/site-packages"
#: A Python that takes SLOW seconds to start: the image's, behind a wrapper.
SLOW = 20
SLOW_PYTHON = f"""set -e
mv /opt/conda/bin/python /opt/conda/bin/python-real
printf '#!/bin/bash\\nsleep {SLOW}\\nexec /opt/conda/bin/python-real "$@"\\n' >/opt/conda/bin/python
chmod 0755 /opt/conda/bin/python
"""


def _run_lcc(sim: Sim, starts_before: int) -> tuple[float, float, str]:
    """Run the LCC as Studio would (as sagemaker-user): seconds until it returned, seconds until
    the daemon logged one more start line (polled every 0.2 s), and the LCC's output."""
    began = time.monotonic()
    out = sim.exec("bash", LCC, timeout=LCC_LIMIT)
    returned = time.monotonic() - began
    deadline = time.monotonic() + INSTALL_BOUND
    while len(START_LINE.findall(sim.log())) <= starts_before:
        assert time.monotonic() < deadline, f"no daemon start line\n{sim.diagnostics()}"
        time.sleep(0.2)
    return returned, time.monotonic() - began, out.stderr


def _stop_app_container(sim: Sim) -> None:
    """What the end of an app does to us: the supervisor and the daemon end, /var/tmp goes;
    the home folder (the space's volume) stays."""
    for pid in sim.supervisor_pids():
        sim.exec("kill", "-TERM", str(pid), user="root", check=False)
    sim.wait_for("the daemon to end", lambda: not sim.daemon_pids(), 30)
    sim.wait_for("the supervisor to end", lambda: not sim.supervisor_pids(), 30)
    sim.exec("rm", "-rf", STATE_DIR, user="root")


def test_lcc_returns_at_once_while_the_install_is_slow(
    start_sim: StartSim, record_timing: Callable[..., None]
) -> None:
    """The image's Python takes 20 s to start each time (the install calls it twice): the LCC
    still returns in seconds, and the daemon starts once the install is done."""
    sim = start_sim(None, **BASE_ENV, SIM_RUN_LCC="0")
    logs = sim.logs
    assert logs is not None
    sim.wait_for("the endpoints", lambda: (logs / "sim" / "ready").exists(), 120)
    sim.sh(SLOW_PYTHON, user="root")
    returned, running, out = _run_lcc(sim, 0)
    record_timing("LCC's own run, install slowed by 2 x 20 s", returned)
    record_timing("LCC start to daemon running, install slowed by 2 x 20 s", running)
    assert returned < LCC_RETURNS, f"the LCC took {returned:.1f}s: did it wait for the install?"
    assert "started the supervisor" in out
    assert running > 2 * SLOW, "the daemon started before the slowed install could end"
    log = sim.log()
    assert log.index("started the supervisor") < log.index("installing from /opt/wheelhouse")


def test_app_stops_at_its_deadline_after_the_cache_is_removed(
    start_sim: StartSim, record_timing: Callable[..., None]
) -> None:
    """``rm -rf ~/.cache`` (the usual advice when the home volume is full) while the daemon
    runs: the app is still deleted at its deadline, by the same daemon, with nothing rebuilt.
    Also the first start's timings: the LCC's own run, and LCC start to daemon running."""
    idle = 30
    sim = _start(start_sim, AUTOSTOP_IDLE_TIME=str(idle))
    _, lcc_seconds = sim.wait_lcc()
    record_timing("first start: LCC's own run", lcc_seconds)
    lcc_line = next(line for line in sim.log().splitlines() if "started the supervisor" in line)
    running = _daemon_start(sim) - _epoch(lcc_line.split()[0]) + lcc_seconds
    record_timing("first start: LCC start to daemon running (local wheelhouse)", running)
    started = _daemon_start(sim)
    (daemon,) = sim.daemon_pids()
    assert sim.exec("test", "-d", CACHE, check=False).returncode == 0, "nothing was cached"
    sim.sh(f"rm -rf {HOME}/.cache")
    sim.wait_gone(idle + BOUND)
    (deleted_at,) = _delete_times(sim)
    assert idle - 1 <= deleted_at - started <= idle + BOUND
    _assert_deleted_cleanly(sim)
    log = sim.log()
    assert "restarting in" not in log and "rebuilding" not in log, log
    assert len(START_LINE.findall(log)) == 1, f"daemon {daemon} was replaced:\n{log}"


def test_a_broken_environment_is_rebuilt_and_the_app_stops_on_the_first_clock(
    start_sim: StartSim, record_timing: Callable[..., None]
) -> None:
    """The daemon's environment and the cache removed, then the daemon killed: the supervisor
    does not restart a missing interpreter; it installs again from the wheelhouse, and the new
    daemon keeps the first one's idle clock (the state in /var/tmp/autostop-async)."""
    idle = 45
    sim = _start(start_sim, AUTOSTOP_IDLE_TIME=str(idle))
    first_start = _daemon_start(sim)
    (daemon,) = sim.daemon_pids()
    sim.sh(f"rm -rf {HOME}/.cache {STATE_DIR}/venv")
    began = time.monotonic()
    sim.exec("kill", "-KILL", str(daemon))
    log = sim.wait_log("daemon exited 137 after", 30)
    assert "and its environment is broken" in log, log
    assert "rebuilding it from /opt/wheelhouse (rebuild 1 of 3)" in log
    sim.wait_for("a rebuilt daemon", lambda: len(START_LINE.findall(sim.log())) == 2, INSTALL_BOUND)
    record_timing("daemon killed, environment gone: rebuilt and running", time.monotonic() - began)
    second_start = _daemon_start(sim, 1)
    assert sim.log().count("installing from /opt/wheelhouse") == 2
    assert "restarting in" not in sim.log(), "a missing interpreter was restarted"
    sim.wait_gone(max(first_start + idle - time.time(), 0) + BOUND)
    (deleted_at,) = _delete_times(sim)
    assert deleted_at < max(first_start + idle, second_start) + 10, (
        f"deleted {deleted_at - first_start:.0f}s after the first start and "
        f"{deleted_at - second_start:.0f}s after the rebuilt one: was the idle clock reset?"
    )
    _assert_deleted_cleanly(sim)


def test_cached_start_and_a_damaged_cache_is_rebuilt(
    start_sim: StartSim, record_timing: Callable[..., None]
) -> None:
    """The next app start on the same space copies the cached environment (no install); when a
    dependency is missing from the cache (its mark left), the import check finds it, and the
    environment is installed again and cached again, and the daemon runs."""
    sim = _start(start_sim, AUTOSTOP_IDLE_TIME="600")
    _stop_app_container(sim)
    returned, running, out = _run_lcc(sim, 1)
    record_timing("cached start: LCC's own run", returned)
    record_timing("cached start: LCC start to daemon running", running)
    assert returned < LCC_RETURNS, out
    log = sim.log()
    assert "already installed from /opt/wheelhouse (cached in" in log
    assert log.count("installing from /opt/wheelhouse") == 1, log

    _stop_app_container(sim)
    sim.sh(f"rm -rf {CACHE}/env-*/lib/python3*/site-packages/aiofiles")
    assert sim.sh(f"cat {CACHE}/env-*/.autostop-installed").strip(), "the mark is gone"
    returned, running, _ = _run_lcc(sim, 2)
    record_timing("damaged cache: LCC's own run", returned)
    record_timing("damaged cache: LCC start to daemon running", running)
    log = sim.log()
    assert "is not usable (ModuleNotFoundError: No module named 'aiofiles')" in log, log
    assert log.count("installing from /opt/wheelhouse") == 2, log
    assert len(sim.daemon_pids()) == 1
    sim.sh(f"test -d {CACHE}/env-*/lib/python3*/site-packages/aiofiles")  # cached again
    assert sim.app_status() == "InService"


def test_the_command_works_as_typed_in_new_shells(start_sim: StartSim) -> None:
    """``autostop-async status`` and ``keepalive`` as typed, as sagemaker-user, in a new login
    shell and a new non-login one (an editor's terminal); not from the folder the user is in."""
    sim = _start(start_sim, AUTOSTOP_IDLE_TIME="600")
    for shell in ("-lc", "-c"):
        done = sim.exec("bash", shell, "cd ~ && autostop-async status", check=False)
        assert done.returncode == 0, f"bash {shell}: {done.stdout}{done.stderr}"
        assert "daemon pid" in done.stdout, done.stdout
    held = sim.exec("bash", "-lc", "autostop-async keepalive 1h", check=False)
    assert held.returncode == 0, held.stdout + held.stderr
    status = json.loads(sim.exec("bash", "-lc", "autostop-async status --json").stdout)
    assert status["keepalive"] is not None, status
    cancel = sim.exec("bash", "-lc", "autostop-async keepalive --cancel", check=False)
    assert cancel.returncode == 0, cancel.stdout + cancel.stderr
    # Before an install (or while one runs), the command says so, in one line, and exits 2.
    sim.exec("rm", "-f", f"{STATE_DIR}/venv/.autostop-installed", user="root")
    early = sim.exec("bash", "-lc", "autostop-async status", check=False)
    assert early.returncode == 2
    assert "not installed yet" in early.stderr, early.stderr
