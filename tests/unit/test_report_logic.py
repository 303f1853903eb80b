"""The report's pure parts: which stream is whose, which line is trusted, whether auto-stop runs
in an app, and the off-hours of a stop with and without the built-in idle shutdown's cap."""

from __future__ import annotations

from pathlib import Path

import pytest

from autostop_async import events
from autostop_async.admin.coverage import app_state
from autostop_async.admin.daemon_logs import Event, accept, stream_parts
from autostop_async.admin.fleet import App, Fleet
from autostop_async.admin.policy import report_policy
from autostop_async.admin.report_cli import READ_ACTIONS
from autostop_async.admin.savings import find_stops
from autostop_async.times import utc_iso

H = 3600.0
T0 = 1_800_000_000.0
D = "d-unit1"


def ev(at: float, kind: str, **fields: object) -> Event:
    return Event(at, kind, {"schema": 1, "event": kind, "time": utc_iso(at), **fields}, False)


def test_streams_are_matched_by_shape() -> None:
    assert stream_parts(D, f"{D}/s1/CodeEditor/default") == ("s1", "default", False)
    assert stream_parts(D, f"{D}/s1/CodeEditor/default/LifecycleConfigOnStart") == (
        "s1", "default", True,
    )  # fmt: skip
    assert stream_parts(D, f"{D}/s1/JupyterLab/default") is None
    assert stream_parts(D, "d-other/s1/CodeEditor/default") is None
    assert stream_parts(D, f"{D}/s1/CodeEditor/default/x/y") is None


def test_a_line_naming_another_space_or_a_far_time_is_refused() -> None:
    line = events.encode("state", utc_iso(T0), {"space": "s2"})
    assert accept(D, "s1", "default", False, line, T0) == "names another space than its stream"
    line = events.encode("state", utc_iso(T0), {"space": "s1"})
    assert isinstance(accept(D, "s1", "default", False, line, T0), Event)
    assert "far" in str(accept(D, "s1", "default", False, line, T0 + 2 * H))
    assert accept(D, "s1", "default", False, "plain prose ERROR line", T0) is None


def app(space: str = "s1", created: float = T0, status: str = "InService") -> App:
    return App(space, "default", status, created, "ml.t3.medium", None)


@pytest.mark.parametrize(
    ("lines", "now", "want"),
    [
        ([], T0 + 10 * 60, "unknown"),  # too young to tell
        ([], T0 + H, "not running"),
        ([ev(T0 + 60, "start")], T0 + 30 * H, "running"),  # quiet, still running
        ([ev(T0 + 60, "start"), ev(T0 + H, "end", reason="error")], T0 + 2 * H, "not running"),
        ([ev(T0 + 60, "install-failed", reason="no pip")], T0 + H, "not running"),
        ([ev(T0 + 60, "install-failed"), ev(T0 + 120, "start")], T0 + H, "running"),
    ],
)
def test_autostop_state(lines: list[Event], now: float, want: str) -> None:
    assert app_state(app(), lines, now, True).autostop == want


def test_without_logs_it_is_unknown() -> None:
    assert app_state(app(), [ev(T0 + 60, "start")], T0 + H, False).autostop == "unknown"


def fleet_of(*apps: App) -> Fleet:
    return Fleet(D, "us-east-1", apps=list(apps))


def test_off_hours_run_to_the_next_start_and_the_cap_counts_only_the_gain() -> None:
    old, new = app(status="Deleted"), app(created=T0 + 20 * H)
    stop = ev(T0 + 5 * H, "stop", result="deleted", last_activity=utc_iso(T0 + 4 * H))
    lines = {("s1", "default"): [ev(T0 + 60, "start"), stop]}
    stops, _ = find_stops(fleet_of(old, new), lines, T0, T0 + 30 * H, lambda s: None)
    assert [s.off_hours for s in stops] == [15.0]
    # The built-in one (120 minutes) would have stopped it at 4h + 2h: the daemon gained 1 h.
    stops, _ = find_stops(fleet_of(old, new), lines, T0, T0 + 30 * H, lambda s: 120.0)
    assert stops[0].off_hours == 1.0 and stops[0].off_hours_uncapped == 15.0
    # A daemon start line ends the off period earlier than the next app's CreationTime.
    lines[("s1", "default")].append(ev(T0 + 10 * H, "start"))
    stops, _ = find_stops(fleet_of(old, new), lines, T0, T0 + 30 * H, lambda s: None)
    assert stops[0].off_hours == 5.0


def test_a_stop_the_api_does_not_confirm_is_not_counted() -> None:
    lines = {("s1", "default"): [ev(T0 + H, "stop", result="deleted")]}
    stops, why = find_stops(fleet_of(app()), lines, T0, T0 + 2 * H, lambda s: None)
    assert stops == [] and why == {"the app is InService, not Deleted": 1}
    dry = {("s1", "default"): [ev(T0 + H, "stop", result="would-delete")]}
    stops, why = find_stops(fleet_of(app(status="Deleted")), dry, T0, T0 + 2 * H, lambda s: None)
    assert stops == [] and why == {}


def test_the_docs_list_every_action_the_report_calls() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "report.md").read_text()
    permissions = text.split("## Permissions", 1)[1].split("\n## ", 1)[0]
    for action in READ_ACTIONS:
        assert f"`{action}`" in permissions, action


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--since", "soon"], "--since"),
        (["--since", "0"], "--since"),
        (["--prices", "/nonexistent/prices.json"], "--prices"),
    ],
)
def test_a_bad_flag_is_one_line_and_exit_2_before_any_call(
    args: list[str], names: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from autostop_async.admin import report_cli

    code = report_cli.main(["--domain-id", "d-unit1", *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and names in err, err


def test_a_prices_file_that_is_not_an_object_of_numbers_is_named(tmp_path: Path) -> None:
    from autostop_async.admin.failures import UsageError
    from autostop_async.admin.prices import from_file

    for text in ("[1]", '{"ml.t3.medium": "cheap"}', '{"ml.t3.medium": -1}', "not json"):
        path = tmp_path / "p.json"
        path.write_text(text)
        with pytest.raises(UsageError, match="--prices"):
            from_file(path, ["ml.t3.medium"])
    path.write_text('{"ml.t3.medium": 0.05}')
    prices = from_file(path, ["ml.t3.medium", "ml.g5.xlarge"])
    assert prices.get("ml.t3.medium") == 0.05 and "ml.g5.xlarge" in prices.missing


def test_the_printed_policy_allows_every_action_the_report_calls() -> None:
    policy = report_policy("arn:aws:sagemaker:us-east-1:123456789012:domain/d-abc")
    allowed = {a for statement in policy["Statement"] for a in statement["Action"]}
    assert allowed == set(READ_ACTIONS)
