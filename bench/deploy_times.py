"""How long the admin waits: ``deploy`` against the test fake (SageMaker) and moto's S3 and STS,
in this process, with the real wheelhouse build (pip, the lock file, every Python of the lock).

``python -m bench.deploy_times`` runs, with a local wheelhouse cache that starts empty:

1. a first deploy (nothing in S3, nothing cached: the wheelhouse is built and uploaded);
2. a redeploy with the same settings (``no changes``);
3. a redeploy with a new idle time (a new LCC; the wheelhouse found in S3);
4. a first deploy to another prefix, the wheelhouse found in the local cache (uploaded only);
5. a wrong domain ID (the cheap checks' failure).

pip's own download cache is whatever this machine has (say which when reporting). Prints one
line per run with its wall time and exit code.
"""

from __future__ import annotations

import io
import os
import tempfile
import time
import urllib.request

import boto3

from autostop_async.admin.deploy_cli import run
from tests.support.fake_sagemaker import ACCOUNT, FakeSageMaker

REGION = "us-east-1"
DOMAIN = "d-benchdeploy1"


def main() -> None:
    """Run the five deploys and print their times."""
    with FakeSageMaker() as fake, tempfile.TemporaryDirectory() as cache:
        reset = urllib.request.Request(f"{fake.endpoint_url}/moto-api/reset", method="POST")
        urllib.request.urlopen(reset, timeout=10).close()
        for key in [k for k in os.environ if k.startswith("AWS_")]:
            del os.environ[key]
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": fake.endpoint_url,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_REGION": REGION,
                "AWS_EC2_METADATA_DISABLED": "true",
                "XDG_CACHE_HOME": cache,
            }
        )
        s3 = boto3.client("s3", endpoint_url=fake.endpoint_url, region_name=REGION)
        s3.create_bucket(Bucket=f"sagemaker-{REGION}-{ACCOUNT}")
        fake.add_domain(DOMAIN, {"CodeEditorAppSettings": {}})
        runs = [
            ("first deploy, cold local cache", ["--idle-time", "45m"]),
            ("redeploy, same settings", ["--idle-time", "45m"]),
            ("redeploy, new idle time", ["--idle-time", "30m"]),
            (
                "first deploy to a new prefix, warm local cache",
                ["--idle-time", "30m", "--s3-uri", f"s3://sagemaker-{REGION}-{ACCOUNT}/other/"],
            ),
        ]
        for what, more in runs:
            _timed(what, ["deploy", "--domain-id", DOMAIN, "--yes", *more])
        _timed("wrong domain ID", ["deploy", "--domain-id", "d-nosuchdomain", "--yes"])


def _timed(what: str, argv: list[str]) -> None:
    out, err = io.StringIO(), io.StringIO()
    started = time.monotonic()
    code = run(argv, out, err, io.StringIO())
    took = time.monotonic() - started
    last = (err.getvalue().strip() or out.getvalue().strip()).splitlines()[-1]
    print(f"{took:7.1f} s  exit {code}  {what}: {last[:110]}", flush=True)


if __name__ == "__main__":
    main()
