"""The report against what real daemons did: a domain where one app is kept by a job, one was
deleted when idle, and one never got auto-stop because its install failed
(:mod:`tests.support.report_scenario` runs them and ships their logs as Studio does). Its JSON,
table and HTML must tell exactly that."""

from __future__ import annotations

import io
import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from autostop_async.admin import report_cli
from tests.support.fake_sagemaker import FakeSageMaker
from tests.support.report_scenario import BROKEN, IDLE, KEPT, Scenario, run_scenario


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    keep = dict(os.environ)
    with FakeSageMaker() as fake:
        for key in [k for k in os.environ if k.startswith("AWS_")]:
            del os.environ[key]
        os.environ.update(
            AWS_ENDPOINT_URL=fake.endpoint_url, AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1",
            AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
            XDG_CACHE_HOME=str(tmp_path_factory.mktemp("cache")),
        )  # fmt: skip
        try:
            fake.reset()
            reset = urllib.request.Request(f"{fake.endpoint_url}/moto-api/reset", method="POST")
            urllib.request.urlopen(reset, timeout=10).close()
            logs = boto3.client("logs", region_name="us-east-1")
            yield run_scenario(fake, logs, tmp_path_factory.mktemp("spaces"))
        finally:
            os.environ.clear()
            os.environ.update(keep)


def report(scenario: Scenario, *args: str) -> str:
    out = io.StringIO()
    assert report_cli.run(["--domain-id", scenario.domain_id, *args], out=out) == 0
    return out.getvalue()


def test_json_tells_what_the_daemons_did(scenario: Scenario) -> None:
    doc = json.loads(report(scenario, "--json"))
    apps = {a["space"]: a for a in doc["apps"]}
    for space, outcome in scenario.spaces.items():
        assert apps[space]["status"] == outcome.status, space
        assert apps[space]["autostop"] == outcome.autostop, (space, apps[space])
    kept = apps[KEPT]
    assert kept["kept_by"] and kept["kept_by_kind"] == scenario.spaces[KEPT].kept_by_kind == "job"
    assert len(kept["holds"]) == 1, kept["holds"]
    assert apps[BROKEN]["problem"] == (
        "the LCC logged its install failure (the package could not be installed)"
    )
    assert apps[IDLE]["owner"] == "alice"
    stops = doc["stops"]
    assert [(s["space"], s["deleted_at"]) for s in stops] == [
        (IDLE, scenario.spaces[IDLE].deleted_at)
    ]
    assert doc["totals"]["stops"] == 1 and stops[0]["off_hours"] > 0
    assert stops[0]["saved_usd"] is None and stops[0]["no_price"]  # ListApps gave no type
    assert doc["totals"]["apps_without_autostop"] == 1
    flagged = [f.split(":", 1)[0] for f in doc["flags"]]
    assert flagged == [BROKEN]
    assert doc["skipped_lines"] == {}


def test_table_and_page_name_the_spaces(scenario: Scenario, tmp_path: Path) -> None:
    table = report(scenario)
    flags = table.split("NEEDS AN ADMIN", 1)[1].split("APPS", 1)[0]
    assert f"{BROKEN}: runs without auto-stop" in flags and KEPT not in flags
    assert "STOPS (1)" in table and IDLE in table.split("STOPS (1)", 1)[1]
    page = tmp_path / "report.html"
    report(scenario, "--html", str(page))
    text = page.read_text()
    assert all(space in text for space in (KEPT, IDLE, BROKEN))
    assert '<span id="total-stops">1</span>' in text
