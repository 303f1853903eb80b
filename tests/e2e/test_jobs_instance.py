"""End to end: a job held with ``keepalive --then-stop-after GRACE -- CMD`` in the simulated
instance keeps the app past the idle time with nothing else happening, and the app is deleted
GRACE after the job ends (tests/e2e/test_instance.py starts the containers the same way)."""

from __future__ import annotations

import json
import time

import pytest

from .sim import STATE_DIR
from .test_instance import BOUND, IDLE, StartSim, _assert_deleted_cleanly, _delete_times, _start

pytestmark = pytest.mark.e2e

GRACE = 6  # seconds from the job's end to the stop
JOB = 3 * IDLE  # the job runs three idle times: without the hold the app would go at IDLE
CLI = f"{STATE_DIR}/venv/bin/python -m autostop_async"


def test_a_held_sleep_keeps_the_app_and_it_goes_grace_after_the_end(start_sim: StartSim) -> None:
    sim = _start(start_sim)
    began = time.time()
    # As a user types it in a terminal, then closes the tab: nohup and setsid, in the background.
    sim.sh(
        f"cd /tmp && setsid nohup {CLI} keepalive --then-stop-after {GRACE}s -- sleep {JOB} "
        ">/tmp/job.out 2>&1 </dev/null &"
    )
    sim.wait_for("the hold", lambda: "keeps the app while it runs" in sim.log(), 30)
    while time.time() < began + JOB - 2:  # nothing else happens: only the job keeps the app
        status = sim.app_status()
        assert status == "InService", f"deleted under the job: {status}\n{sim.diagnostics()}"
        time.sleep(2)
    sim.wait_log("ended (exit 0)", JOB + 30)
    sim.wait_gone(GRACE + BOUND)
    (deleted_at,) = _delete_times(sim)
    state = json.loads(sim.read(f"{STATE_DIR}/state.json"))
    ended_at = float(state["last_at"])
    assert state["last_source"].endswith(f"`sleep {JOB}` ended (exit 0)"), state["last_source"]
    log = sim.log()
    assert "kept: job " in log, "no decision line names the job"
    kept_for = ended_at - began
    after_end = deleted_at - ended_at
    print(f"job held {kept_for:.1f}s (idle time {IDLE}s); deleted {after_end:.1f}s after its end")
    assert kept_for >= JOB - 1
    assert GRACE - 1 <= after_end <= GRACE + BOUND, after_end
    assert sim.sh(f"ls {STATE_DIR}/holds").strip() == "", "the ended hold's file is left"
    _assert_deleted_cleanly(sim)
