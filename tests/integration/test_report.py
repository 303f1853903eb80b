"""``autostop-async report`` against the fake SageMaker, moto's CloudWatch Logs and the fake
Price List, over real HTTP: what an admin sees in the table, JSON, CSV and HTML, checked against
what happened in the domain."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from autostop_async.admin import report_cli
from tests.support.fake_pricing import FakePricing
from tests.support.fake_sagemaker import FakeSageMaker
from tests.support.report_world import event_line, iso, now, put_lines, seed_done_when, stream_name

REGION = "us-east-1"
DOMAIN = "d-report1"
H = 3600.0
NOW = now()
PRICES = {"ml.t3.medium": 0.05, "ml.m5.large": 0.115}


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[FakeSageMaker, FakePricing]]:
    with FakeSageMaker() as fake, FakePricing() as pricing:
        yield fake, pricing


@pytest.fixture
def world(
    servers: tuple[FakeSageMaker, FakePricing], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[FakeSageMaker, FakePricing, Any]:
    """Everything reset; SDK variables aimed at the fakes; a price cache of this test's own."""
    fake, pricing = servers
    fake.reset()
    pricing.calls.clear()
    pricing.fail_with = None
    pricing._products.clear()
    reset = urllib.request.Request(f"{fake.endpoint_url}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset, timeout=10).close()
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    env = _env(fake, pricing, tmp_path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    fake.add_domain(DOMAIN, region=REGION)
    logs = boto3.client("logs", region_name=REGION)
    return fake, pricing, logs


def _env(fake: FakeSageMaker, pricing: FakePricing, tmp_path: Path) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": fake.endpoint_url,
        "AWS_ENDPOINT_URL_PRICING": pricing.endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }


def report(*args: str, prices: Path | None = None) -> tuple[int, str]:
    """Run the command in this process (the fakes' logs live here too); code and stdout."""
    out = io.StringIO()
    argv = ["--domain-id", DOMAIN, *args]
    if prices is not None:
        argv += ["--prices", str(prices)]
    code = report_cli.run(argv, out=out, now=NOW)
    return code, out.getvalue()


@pytest.fixture
def prices_file(tmp_path: Path) -> Path:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(PRICES))
    return path


def test_json_shows_what_happened(world: Any, prices_file: Path) -> None:
    fake, _, logs = world
    seed_done_when(fake, logs, DOMAIN, NOW)
    code, out = report("--json", prices=prices_file)
    assert code == 0
    doc = json.loads(out)  # only JSON on stdout
    assert {k for k in ("domain_id", "region", "generated_at", "since", "apps", "stops",
                        "totals", "prices")} <= set(doc)  # fmt: skip
    apps = {(a["space"], a["created_at"]): a for a in doc["apps"]}
    by_space = {a["space"]: a for a in doc["apps"] if a["status"] != "Deleted"}
    assert by_space["no-auto"]["autostop"] == "not running"
    assert "no daemon line" in by_space["no-auto"]["problem"]
    assert by_space["no-auto"]["owner"] == "alice"
    assert by_space["no-auto"]["instance_type"] == "ml.t3.medium"
    assert by_space["no-auto"]["created_at"] == iso(NOW - 3 * H)
    job = by_space["job-space"]
    assert job["autostop"] == "running" and job["kept_by"] == "job: python train.py"
    assert [h["command"] for h in job["holds"]] == ["python train.py"]
    assert by_space["stop-b"]["autostop"] == "running"
    assert len(apps) == 5
    stops = {s["space"]: s for s in doc["stops"]}
    assert set(stops) == {"stop-a", "stop-b"}
    assert stops["stop-a"]["deleted_at"] == iso(NOW - 26 * H)
    assert stops["stop-a"]["off_hours"] == pytest.approx(26.0)
    assert stops["stop-a"]["saved_usd"] == pytest.approx(26 * 0.05)
    assert stops["stop-b"]["off_hours"] == pytest.approx(16.0)  # until the next app started
    assert stops["stop-b"]["saved_usd"] == pytest.approx(16 * 0.115)
    totals = doc["totals"]
    assert totals["stops"] == len(doc["stops"]) == 2
    assert totals["apps"] == 5 and totals["apps_without_autostop"] == 1
    assert totals["off_hours"] == pytest.approx(42.0)
    assert totals["saved_usd"] == pytest.approx(26 * 0.05 + 16 * 0.115)
    assert doc["prices"]["source"] == f"file {prices_file}"
    assert any(f.startswith("no-auto: runs without auto-stop") for f in doc["flags"])
    assert not any(f.startswith(("job-space", "stop-")) for f in doc["flags"])


def test_table_names_the_flag_the_job_and_the_stops(world: Any, prices_file: Path) -> None:
    fake, _, logs = world
    seed_done_when(fake, logs, DOMAIN, NOW)
    code, out = report(prices=prices_file)
    assert code == 0
    flags = out.split("NEEDS AN ADMIN", 1)[1].split("APPS", 1)[0]
    assert "no-auto: runs without auto-stop" in flags and "job-space" not in flags
    job_row = next(line for line in out.splitlines() if line.strip().startswith("job-space"))
    assert "running" in job_row and "python train.py" in job_row
    stops = out.split("STOPS (2)", 1)[1].split("TOTALS", 1)[0]
    assert re.search(r"stop-a\s+ml\.t3\.medium.*26\.0 h\s+\$1\.30", stops), stops
    assert re.search(r"stop-b\s+ml\.m5\.large.*16\.0 h\s+\$1\.84", stops), stops
    assert "domain: 5 apps, 1 without auto-stop, 2 stops, 42.0 h off, $3.14 saved" in out


def test_the_built_in_idle_shutdown_caps_what_a_stop_saved(world: Any, prices_file: Path) -> None:
    fake, _, logs = world
    on = {"LifecycleManagement": "ENABLED", "IdleTimeoutInMinutes": 120}
    fake.add_domain(
        DOMAIN, {"CodeEditorAppSettings": {"AppLifecycleManagement": {"IdleSettings": on}}},
        region=REGION,
    )  # fmt: skip
    seed_done_when(fake, logs, DOMAIN, NOW)
    code, out = report("--json", prices=prices_file)
    stops = {s["space"]: s for s in json.loads(out)["stops"]}
    # Last activity an hour before each stop; the built-in one would have stopped the app two
    # hours after it: each stop gained one hour over it.
    assert code == 0
    assert stops["stop-a"]["off_hours"] == pytest.approx(1.0)
    assert stops["stop-a"]["off_hours_uncapped"] == pytest.approx(26.0)
    assert stops["stop-b"]["off_hours"] == pytest.approx(1.0)
    assert stops["stop-b"]["builtin_idle_timeout_minutes"] == 120


def test_apps_started_before_the_last_deploy_are_flagged(world: Any, prices_file: Path) -> None:
    fake, _, logs = world
    arn = fake.add_lcc("autostop-async-0123456789ab", "#!/bin/bash\n", created=NOW - 2.5 * H)
    settings = {
        "CodeEditorAppSettings": {
            "LifecycleConfigArns": [arn],
            "DefaultResourceSpec": {"LifecycleConfigArn": arn},
        }
    }
    fake.add_domain(DOMAIN, settings, region=REGION)
    seed_done_when(fake, logs, DOMAIN, NOW)
    code, out = report("--json", prices=prices_file)
    doc = json.loads(out)
    assert code == 0 and doc["last_deploy"] == iso(NOW - 2.5 * H)
    before = sorted(f.split(":", 1)[0] for f in doc["flags"] if "before the last deploy" in f)
    assert before == ["no-auto", "stop-b"]  # started 3 h and 4 h ago; job-space 2 h ago


def test_csv_lists_every_app(world: Any, prices_file: Path) -> None:
    fake, _, logs = world
    seed_done_when(fake, logs, DOMAIN, NOW)
    code, out = report("--csv", prices=prices_file)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 5
    assert {r["space"]: r["autostop"] for r in rows if r["status"] == "InService"} == {
        "no-auto": "not running", "job-space": "running", "stop-b": "running",
    }  # fmt: skip


def test_html_is_one_page_that_loads_nothing(world: Any, prices_file: Path, tmp_path: Path) -> None:
    fake, _, logs = world
    seed_done_when(fake, logs, DOMAIN, NOW)
    page = tmp_path / "out" / "report.html"
    page.parent.mkdir()
    code, _out = report("--html", str(page), prices=prices_file)
    assert code == 0 and sorted(p.name for p in page.parent.iterdir()) == ["report.html"]
    text = page.read_text()
    assert DOMAIN in text and all(s in text for s in ("no-auto", "job-space", "stop-a", "stop-b"))
    assert '<span id="total-stops">2</span>' in text
    assert "<svg" in text and "<script" not in text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert not re.search(r"url\(|@import", text)


def test_hostile_lines_are_skipped_and_counted(world: Any, prices_file: Path) -> None:
    fake, _, logs = world
    fake.add_space(DOMAIN, "evil")
    fake.add_app(DOMAIN, space_name="evil", created=NOW - 2 * H, instance_type="ml.t3.medium")
    start = event_line(NOW - 2 * H + 60, "start", {"version": "0.1.0"})
    hour = iso(NOW - H)
    hostile = [
        (NOW - H, "x autostop-async-event " + "{" * 100_000),  # huge
        (NOW - H, "x autostop-async-event not json at all"),
        (NOW - H, f'x autostop-async-event {{"schema": 1.0, "event": "stop", "time": "{hour}"}}'),
        (NOW - H, event_line(NOW - H, "stop", {"result": "deleted", "space": "job-space"})),
        (NOW - H, event_line(NOW - 100 * H, "state", {"kept_by": "old"})),
        # Not skipped: a well-formed line, but its stop is refused by the API (app InService);
        # and the daemon's word carries escape sequences that must not reach the terminal.
        (
            NOW - 0.5 * H,
            event_line(NOW - 0.5 * H, "state", {"kept_by": "\x1b[31mred\x1b]0;title\x07\nforged"}),
        ),
        (NOW - 0.4 * H, event_line(NOW - 0.4 * H, "stop", {"result": "deleted"})),
    ]
    put_lines(logs, stream_name(DOMAIN, "evil"), [(NOW - 2 * H + 60, start), *hostile])
    code, out = report(prices=prices_file)
    assert code == 0
    assert "\x1b" not in out and "\x07" not in out
    assert "5 log line(s) with the event marker skipped" in out
    code, text = report("--json", prices=prices_file)
    doc = json.loads(text)
    assert sum(doc["skipped_lines"].values()) == 5
    assert doc["totals"]["stops"] == 0 and doc["stops"] == []
    assert any("not counted: the app is InService" in n for n in doc["notes"])
    evil = doc["apps"][0]
    assert evil["autostop"] == "running" and "\x1b" not in evil["kept_by"]


def test_without_log_access_apps_are_listed_as_unknown(world: Any, prices_file: Path) -> None:
    fake, _, logs = world
    seed_done_when(fake, logs, DOMAIN, NOW)
    sm = boto3.client("sagemaker", region_name=REGION)
    denied_logs = boto3.client("logs", region_name=REGION)
    stub = Stubber(denied_logs)
    stub.add_client_error("filter_log_events", "AccessDeniedException", "User is not authorized")
    stub.activate()
    out = io.StringIO()
    code = report_cli.run(
        ["--domain-id", DOMAIN, "--json", "--prices", str(prices_file)],
        out=out, now=NOW, clients=(sm, denied_logs, None),
    )  # fmt: skip
    doc = json.loads(out.getvalue())
    assert code == 0
    assert {a["autostop"] for a in doc["apps"]} == {"unknown"}
    assert len(doc["apps"]) == 5 and doc["stops"] == []
    assert doc["totals"]["apps_without_autostop"] == 0
    denied = [n for n in doc["notes"] if "logs:FilterLogEvents" in n]
    assert len(denied) == 1 and denied[0].startswith("access denied: logs:FilterLogEvents")


def test_a_denied_sagemaker_call_names_the_action(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    fake, _, _ = world
    fake.inject("ListApps", "AccessDeniedException", message="not allowed", count=-1)
    code = report_cli.main(["--domain-id", DOMAIN, "--json"])
    err = capsys.readouterr()
    assert code == 1 and err.out == ""
    assert err.err.strip().splitlines() == [err.err.strip()]
    assert "access denied: sagemaker:ListApps" in err.err and "Traceback" not in err.err


def test_prices_from_the_price_list_are_cached_with_their_date(world: Any) -> None:
    fake, pricing, logs = world
    seed_done_when(fake, logs, DOMAIN, NOW)
    pricing.add_price(REGION, "ml.t3.medium", 0.05)
    pricing.add_price(REGION, "ml.t3.medium", 0.99, component="Hosting")  # not Code Editor's
    pricing.add_price("eu-west-1", "ml.m5.large", 0.2)  # another region
    code, out = report("--json")
    doc = json.loads(out)
    stops = {s["space"]: s for s in doc["stops"]}
    assert code == 0 and stops["stop-a"]["saved_usd"] == pytest.approx(26 * 0.05)
    assert stops["stop-b"]["saved_usd"] is None
    assert "no Code Editor price for ml.m5.large" in stops["stop-b"]["no_price"]
    assert doc["totals"]["saved_usd"] == pytest.approx(26 * 0.05)
    assert doc["prices"]["source"] == "price list api" and doc["prices"]["as_of"]
    calls = len(pricing.calls)
    assert calls == 2
    code, out = report("--json")
    again = json.loads(out)
    assert len(pricing.calls) == calls + 1  # the missing one is asked again, the other cached
    assert again["prices"]["source"] == "price list api (cached)"
    assert again["prices"]["as_of"] == doc["prices"]["as_of"]


def test_a_denied_price_list_leaves_dollars_null_with_the_reason(world: Any) -> None:
    fake, pricing, logs = world
    seed_done_when(fake, logs, DOMAIN, NOW)
    pricing.fail_with = "AccessDeniedException"
    code, out = report("--json")
    doc = json.loads(out)
    assert code == 0 and doc["totals"]["saved_usd"] is None
    assert all("pricing:GetProducts" in s["no_price"] for s in doc["stops"])


def test_the_command_line_prints_only_json(world: Any, prices_file: Path, tmp_path: Path) -> None:
    fake, pricing, logs = world
    seed_done_when(fake, logs, DOMAIN, NOW)
    done = subprocess.run(
        [sys.executable, "-m", "autostop_async", "report", "--domain-id", DOMAIN, "--json",
         "--prices", str(prices_file)],
        env={"PATH": os.environ["PATH"], **_env(fake, pricing, tmp_path)},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["totals"]["stops"] == 2 and doc["domain_id"] == DOMAIN
    assert fake.writes() == []  # read-only
