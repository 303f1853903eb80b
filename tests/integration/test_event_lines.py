"""The real daemon's machine-readable lines, read back from its log file as ``report`` reads
them (events.parse), and the report's scenario: real daemons whose logs are shipped into moto's
CloudWatch Logs as Studio ships them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from autostop_async.events import MARKER, parse
from tests.integration.conftest import (
    ARN,
    DOMAIN,
    SPACE,
    Daemon,
    app_status,
    run_cli,
    wait_deleted,
)
from tests.support.fake_sagemaker import FakeSageMaker
from tests.support.report_scenario import BROKEN, IDLE, KEPT, events_in, run_scenario
from tests.support.studio_logs import GROUP, logs_client, read_stream
from tests.support.waiting import wait_for


def test_the_daemons_lines_tell_start_state_stop_and_end(
    fake: FakeSageMaker, start_daemon: Callable[..., Daemon]
) -> None:
    daemon = start_daemon("--idle-time", "2", "--interval", "1")
    wait_deleted(fake, 60, "the idle app to be deleted")
    wait_for(lambda: daemon.proc.poll() is not None, 30, "the daemon to exit")
    assert daemon.proc.returncode == 0 and app_status(fake) == "Deleting"
    text = daemon.text()
    marked = [line for line in text.splitlines() if MARKER in line]
    found = [parse(line) for line in marked]  # a line that does not parse raises here
    assert all(e is not None for e in found)
    kinds = [e["event"] for e in found if e is not None]
    assert kinds[0] == "start" and kinds[-2:] == ["stop", "end"]
    assert "state" in kinds and kinds.count("start") == 1
    start, stop, end = found[0], found[-2], found[-1]
    assert start is not None and stop is not None and end is not None
    assert (start["app"], start["domain"], start["space"]) == (ARN, DOMAIN, SPACE)
    assert start["idle_time"] == 2 and start["dry_run"] is False and start["version"]
    assert stop["result"] == "deleted" and stop["idle_seconds"] >= 2
    assert end["reason"] == "deleted"
    # Next to the lines for people, which say the same.
    assert "deleted app" in text and "started: app" in text
    assert len({e["pid"] for e in found if e is not None}) == 1


def test_a_once_check_writes_start_state_and_end_once(
    fake: FakeSageMaker, metadata: Path, workspace: Path, tmp_path: Path
) -> None:
    log = tmp_path / "once.log"
    done = run_cli(
        "--once", "--idle-time", "1h", "--watch", str(workspace), "--metadata-file",
        str(metadata), "--state-dir", str(tmp_path / "state"), "--log-file", str(log),
        endpoint=fake.endpoint_url,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = events_in(log)
    assert [e["event"] for e in found] == ["start", "state", "end"]
    assert found[0]["once"] is True and found[-1]["reason"] == "once"
    assert app_status(fake) == "InService"


def test_the_report_scenario_ships_real_daemons_lines_to_studios_streams(
    fake_server: FakeSageMaker, tmp_path: Path
) -> None:
    fake_server.reset()
    logs = logs_client(fake_server.endpoint_url)
    scenario = run_scenario(fake_server, logs, tmp_path)
    domain = scenario.domain_id

    # Studio's streams, listed as a reader of the whole domain lists them (two per space).
    listed = logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix=f"{domain}/")
    names = {s["logStreamName"] for s in listed["logStreams"]}
    assert names == {
        scenario.stream(space, lcc=lcc) for space in (KEPT, IDLE, BROKEN) for lcc in (False, True)
    }

    def shipped(space: str) -> list[dict[str, object]]:
        """The stream's event lines, read back page by page (two events a page)."""
        messages = read_stream(logs, scenario.stream(space), limit=2)
        lines = (tmp_path / space / "app_container.log").read_text().splitlines()
        # Every line, in order, over many pages (the kept daemon wrote more once stopped).
        assert messages and messages == [line for line in lines if line.strip()][: len(messages)]
        if space != KEPT:
            assert len(messages) == len(lines)
        if space != BROKEN:
            assert len(messages) > 4
        found = [parse(m) for m in messages]
        return [e for e in found if e is not None]

    kept = shipped(KEPT)
    assert kept[0]["event"] == "start" and "end" not in [e["event"] for e in kept]
    assert [e["action"] for e in kept if e["event"] == "hold"] == ["start"]
    last_state = [e for e in kept if e["event"] == "state"][-1]
    assert last_state["kept_by_kind"] == "job"
    assert str(last_state["kept_by"]).startswith(f"job {scenario.spaces[KEPT].job_pid} `")
    assert scenario.spaces[KEPT].autostop == "running"
    assert fake_server.app_status(domain, space_name=KEPT) == "InService"

    idle = shipped(IDLE)
    assert [e["event"] for e in idle][-2:] == ["stop", "end"]
    assert idle[-2]["result"] == "deleted" and idle[-2]["time"] == scenario.spaces[IDLE].deleted_at
    assert fake_server.app_status(domain, space_name=IDLE) == "Deleted"

    # No daemon ran: the only event line is on-start.sh's, in the app's log.
    assert [e["event"] for e in shipped(BROKEN)] == ["install-failed"]
    app_log = read_stream(logs, scenario.stream(BROKEN))
    assert any("ERROR: install from" in m and "will NOT stop" in m for m in app_log)
    said = [e for e in (parse(m) for m in app_log) if e is not None]
    assert [(e["event"], e["reason"]) for e in said] == [("install-failed", "install")]
    # The LCC's own stream: the built-in LCC's loader, which started on-start.sh detached.
    lcc = read_stream(logs, scenario.stream(BROKEN, lcc=True))
    assert len(lcc) == 1 and "autostop-async loader: started its start script" in lcc[0]
    assert scenario.spaces[BROKEN].autostop == "not running"
    assert fake_server.app_status(domain, space_name=BROKEN) == "InService"

    # Each event's timestamp is its line's own time, in milliseconds.
    page = logs.filter_log_events(logGroupName=GROUP, logStreamNames=[scenario.stream(IDLE)])
    first = page["events"][0]
    assert first["message"].startswith(scenario.started_at[:10])
    assert first["timestamp"] % 1000 == 0
