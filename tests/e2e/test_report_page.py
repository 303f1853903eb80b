"""The report's HTML page in a real browser (Debian's headless Chromium through Playwright, as
the editor tests drive it): it shows the same totals as ``--json``, each space and the number of
stops as visible text, and asks the network for nothing.

No container is needed; it is in the e2e suite because that is where Playwright and Chromium
are installed (``nox -s e2e``). It is skipped when either is missing.
"""

from __future__ import annotations

import io
import json
import os
import secrets
from pathlib import Path

import boto3
import pytest

from autostop_async.admin import report_cli
from tests.support.fake_sagemaker import FakeSageMaker
from tests.support.report_world import now, seed_done_when

from .editor import CHROMIUM

pytestmark = pytest.mark.e2e
DOMAIN, REGION = f"d-page{secrets.token_hex(4)}", "us-east-1"


def test_the_page_shows_the_json_totals_and_loads_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: scripts/ensure-container-engine.sh installs it")
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"ml.t3.medium": 0.05, "ml.m5.large": 0.115}))
    at = now()
    with FakeSageMaker() as fake:
        for key in [k for k in os.environ if k.startswith("AWS_")]:
            monkeypatch.delenv(key)
        for key, value in {
            "AWS_ENDPOINT_URL": fake.endpoint_url, "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": REGION,
            "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        }.items():  # fmt: skip
            monkeypatch.setenv(key, value)
        # No reset: the fakes' state is process-wide, and other e2e tests may share this worker;
        # a domain of its own keeps this test's apps and streams apart.
        fake.add_domain(DOMAIN, region=REGION)
        seed_done_when(fake, boto3.client("logs", region_name=REGION), DOMAIN, at)
        base = ["--domain-id", DOMAIN, "--prices", str(prices)]
        out = io.StringIO()
        assert report_cli.run([*base, "--json"], out=out, now=at) == 0
        doc = json.loads(out.getvalue())
        page_file = tmp_path / "report.html"
        assert report_cli.run([*base, "--html", str(page_file)], out=io.StringIO(), now=at) == 0

    requested: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-extensions",
                  "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        try:
            page = browser.new_page()
            page.on("request", lambda r: requested.append(r.url))
            page.goto(page_file.as_uri())
            text = page.inner_text("body")
            shown = {
                name: page.inner_text(f"#{name}")
                for name in ("total-apps", "total-without", "total-stops", "total-off-hours",
                             "total-saved")
            }  # fmt: skip
            bars = page.locator("svg rect").count()
        finally:
            browser.close()
    totals = doc["totals"]
    assert shown == {
        "total-apps": str(totals["apps"]),
        "total-without": str(totals["apps_without_autostop"]),
        "total-stops": str(totals["stops"]),
        "total-off-hours": f"{totals['off_hours']:.2f}",
        "total-saved": f"${totals['saved_usd']:,.2f}",
    }
    assert totals["stops"] == 2
    assert DOMAIN in text
    for space in ("no-auto", "job-space", "stop-a", "stop-b"):
        assert space in text
    assert "no-auto: runs without auto-stop" in text
    assert bars == len(doc["per_day"]) > 0
    assert requested == [page_file.as_uri()]  # the page itself, nothing else
