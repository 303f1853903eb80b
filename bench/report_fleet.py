"""How long ``autostop-async report`` takes on a big domain, against the test fakes.

``python -m bench.report_fleet [--spaces 500] [--days 30]`` seeds the fake SageMaker (moto's
server with the Studio calls) with that many spaces, each with a user profile, a Code Editor app
history (one app per day, deleted by the daemon in the evening: ListApps lists them all) and the
daemon's event lines for every day (start, a few state lines, a hold, a warning, a stop, an end)
in moto's CloudWatch Logs; then times the report (``--json``, prices from a file) end to end,
in this process, as an admin would run it, and prints the time, the calls and the sizes.

The fakes answer in milliseconds where AWS takes tens: the figure says what the report's own
work costs (paging, parsing, matching), not what a real domain's network costs.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3

from autostop_async.admin import report_cli
from tests.support.fake_sagemaker import FakeSageMaker
from tests.support.report_world import event_line, iso, now, put_lines, stream_name

DOMAIN, REGION, H = "d-benchfleet1", "us-east-1", 3600.0


def seed(fake: FakeSageMaker, spaces: int, days: int, at: float) -> int:
    """The domain, its spaces and apps, and the daemon's lines; the number of lines."""
    fake.add_domain(DOMAIN, region=REGION)
    logs = boto3.client("logs", region_name=REGION)
    total = 0
    for i in range(spaces):
        space, owner = f"space-{i:04d}", f"user-{i:04d}"
        fake.add_user_profile(DOMAIN, owner)
        fake.add_space(DOMAIN, space, owner=owner)
        lines: list[tuple[float, str]] = []
        for d in range(days, 0, -1):
            morning = at - d * 24 * H + 8 * H + (i % 60) * 60
            evening = morning + 10 * H
            # Every app but today's is Deleted; the last one is still running.
            fake.add_app(DOMAIN, space_name=space, created=morning, instance_type="ml.t3.medium",
                         status="InService")  # fmt: skip
            fake.add_app(DOMAIN, space_name=space, status="Deleted")
            f = {"space": space, "app_name": "default"}
            lines += [
                (morning + 60, event_line(morning + 60, "start", {**f, "idle_time": 3600})),
                (morning + 2 * H, event_line(morning + 2 * H, "state",
                                             {**f, "idle_seconds": 0, "kept_by": "workspace"})),
                (morning + 3 * H, event_line(morning + 3 * H, "hold",
                                             {**f, "action": "start", "id": "j", "command": "x"})),
                (morning + 5 * H, event_line(morning + 5 * H, "hold",
                                             {**f, "action": "end", "id": "j"})),
                (evening - 600, event_line(evening - 600, "warning",
                                           {**f, "stops_at": iso(evening)})),
                (evening, event_line(evening, "stop", {**f, "result": "deleted",
                                     "idle_seconds": 3600, "last_activity": iso(evening - H)})),
                (evening + 1, event_line(evening + 1, "end", {**f, "reason": "deleted"})),
            ]  # fmt: skip
        today = at - 2 * H
        fake.add_app(DOMAIN, space_name=space, created=today, instance_type="ml.t3.medium")
        lines.append((today + 60, event_line(today + 60, "start", {"space": space})))
        put_lines(logs, stream_name(DOMAIN, space), lines)
        total += len(lines)
    return total


def main(argv: list[str] | None = None) -> int:
    """Seed, time one report, print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--spaces", type=int, default=500)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args(argv)
    at = now()
    with FakeSageMaker() as fake, tempfile.TemporaryDirectory() as tmp:
        for key in [k for k in os.environ if k.startswith("AWS_")]:
            del os.environ[key]
        os.environ.update(
            AWS_ENDPOINT_URL=fake.endpoint_url, AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing", AWS_REGION=REGION, AWS_CONFIG_FILE="/dev/null",
            AWS_SHARED_CREDENTIALS_FILE="/dev/null", XDG_CACHE_HOME=tmp,
        )  # fmt: skip
        reset = urllib.request.Request(f"{fake.endpoint_url}/moto-api/reset", method="POST")
        urllib.request.urlopen(reset, timeout=10).close()
        t0 = time.perf_counter()
        lines = seed(fake, args.spaces, args.days, at)
        seeded = time.perf_counter() - t0
        prices = Path(tmp) / "prices.json"
        prices.write_text(json.dumps({"ml.t3.medium": 0.05}))
        out = io.StringIO()
        fake.clear_calls()
        t0 = time.perf_counter()
        code = report_cli.run(
            ["--domain-id", DOMAIN, "--json", "--since", f"{args.days}d", "--prices", str(prices)],
            out=out,
        )
        took = time.perf_counter() - t0
        doc = json.loads(out.getvalue())
        calls: dict[str, int] = {}
        for call in fake.calls():
            calls[call["operation"]] = calls.get(call["operation"], 0) + 1
        logs_calls = sum(1 for c in fake.http_calls() if c["service"] == "logs")
    print(
        json.dumps(
            {
                "spaces": args.spaces,
                "days": args.days,
                "log_lines": lines,
                "apps": doc["totals"]["apps"],
                "stops": doc["totals"]["stops"],
                "seed_seconds": round(seeded, 1),
                "report_seconds": round(took, 2),
                "exit_code": code,
                "sagemaker_calls": calls,
                "logs_calls": logs_calls,
            },
            indent=1,
        )
    )
    return code


if __name__ == "__main__":
    raise SystemExit(main())
