"""The admin's path against the fake SageMaker and moto's S3 and STS: cheap checks before any
build, idle times that cannot be typos, a wheelhouse built once (S3, then the local cache, then
a build), old → new settings in the plan, ``--print-policy``, an interrupted deploy, and
``undeploy --purge``.

The wheelhouse build's ``pip`` is replaced by a stand-in that writes the wheels it is asked for
and counts its calls, so "nothing was built" is observable; the real build is
tests/integration/test_wheelhouse.py's.
"""

from __future__ import annotations

import fnmatch
import io
import json
import os
import shlex
import urllib.request
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from autostop_async.admin import deploy_cli, wheelhouse
from autostop_async.admin.failures import AdminError
from tests.support.fake_sagemaker import ACCOUNT, FakeSageMaker

REGION = "us-east-1"
DOMAIN = "d-checkstest1"
OTHER = "d-checkstest2"
BUCKET = f"sagemaker-{REGION}-{ACCOUNT}"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/studio-exec"


@dataclass
class Result:
    code: int
    out: str
    err: str


class FakePip:
    """``wheelhouse.pip``: writes the wheel or the locked wheels it is asked for; counts calls;
    ``fail`` makes the next download raise."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.fail: BaseException | None = None

    def __call__(self, args: Sequence[str], what: str) -> None:
        self.calls.append(list(args))
        if args[0] == "wheel":
            folder = Path(args[args.index("--wheel-dir") + 1])
            folder.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(folder / "autostop_async-0.1.0-py3-none-any.whl", "w") as zf:
                zf.writestr("autostop_async/__init__.py", "")
            return
        if self.fail is not None:
            raise self.fail
        dest = Path(args[args.index("--dest") + 1])
        dest.mkdir(parents=True, exist_ok=True)
        for line in Path(args[args.index("-r") + 1]).read_text().splitlines():
            if "==" in line:
                name, version = line.split()[0].split("==")
                (dest / f"{name.replace('-', '_')}-{version}-py3-none-any.whl").write_bytes(b"PK")


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSageMaker]:
    with FakeSageMaker() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeSageMaker, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeSageMaker:
    """The fake reset, as every SDK's endpoint, with credentials; the default bucket exists; a
    domain with one LCC of the admin's; the local cache in ``tmp_path``."""
    server.reset()
    reset = urllib.request.Request(f"{server.endpoint_url}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset, timeout=10).close()
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    env = {
        "AWS_ENDPOINT_URL": server.endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    boto3.client("s3", endpoint_url=server.endpoint_url, region_name=REGION).create_bucket(
        Bucket=BUCKET
    )
    for domain in (DOMAIN, OTHER):
        server.add_domain(domain, {"ExecutionRole": ROLE, "CodeEditorAppSettings": {}})
    server.clear_calls()
    return server


@pytest.fixture
def pip(monkeypatch: pytest.MonkeyPatch) -> FakePip:
    stand_in = FakePip()
    monkeypatch.setattr(wheelhouse, "pip", stand_in)
    return stand_in


def cli(*argv: str, answer: str = "") -> Result:
    out, err = io.StringIO(), io.StringIO()
    code = deploy_cli.run(list(argv), out, err, io.StringIO(answer))
    return Result(code, out.getvalue(), err.getvalue())


def deploy(*more: str, domain: str = DOMAIN) -> Result:
    return cli("deploy", "--domain-id", domain, "--yes", *more)


def s3_keys(fake: FakeSageMaker, prefix: str = "") -> list[str]:
    s3 = boto3.client("s3", endpoint_url=fake.endpoint_url, region_name=REGION)
    got = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for o in got.get("Contents", []))


def cache_entries() -> list[str]:
    root = wheelhouse.cache_root()
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def one_error_line(result: Result) -> str:
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.err, result.err
    return lines[0]


# ------------------------------------------------------------------ cheap checks first


def test_a_wrong_domain_fails_naming_it_before_anything_is_built(
    fake: FakeSageMaker, pip: FakePip
) -> None:
    result = deploy(domain="d-nosuchdomain")
    assert result.code == 1
    line = one_error_line(result)
    assert "domain d-nosuchdomain not found in region us-east-1" in line
    assert ACCOUNT in line
    assert pip.calls == [] and cache_entries() == []


def test_missing_credentials_fail_before_anything_is_built(
    fake: FakeSageMaker, pip: FakePip, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = deploy()
    assert result.code == 1
    assert "credentials" in one_error_line(result)
    assert pip.calls == [] and cache_entries() == []
    assert fake.calls() == []


@pytest.mark.parametrize("idle", ["45", "10", "2.5"])
def test_a_bare_number_is_refused_asking_for_the_unit(
    fake: FakeSageMaker, pip: FakePip, idle: str
) -> None:
    result = deploy("--idle-time", idle)
    assert result.code == 2
    assert f"{idle}m or {idle}s?" in one_error_line(result)
    assert pip.calls == [] and fake.calls() == [] and cache_entries() == []


@pytest.mark.parametrize("idle", ["3m", "45s", "9m59s"])
def test_an_idle_time_under_10_minutes_needs_the_flag(
    fake: FakeSageMaker, pip: FakePip, idle: str
) -> None:
    refused = deploy("--idle-time", idle)
    assert refused.code == 2
    assert "--allow-short-idle-time" in one_error_line(refused)
    assert fake.calls() == []
    allowed = deploy("--idle-time", idle, "--allow-short-idle-time", "--dry-run")
    assert allowed.code == 0, allowed.err
    assert "dry run: nothing written" in allowed.out


def test_a_python_the_lock_does_not_cover_is_refused_before_any_call(
    fake: FakeSageMaker, pip: FakePip
) -> None:
    result = deploy("--python", "3.9")
    assert result.code == 2
    assert "python -m autostop_async.admin.lock --python 3.9" in one_error_line(result)
    assert pip.calls == [] and fake.calls() == [] and cache_entries() == []


def test_a_domain_not_in_service_is_refused_before_building(
    fake: FakeSageMaker, pip: FakePip
) -> None:
    fake.update_seconds = 60  # the fake's Updating window: an update leaves the domain Updating
    sm = boto3.client("sagemaker", endpoint_url=fake.endpoint_url, region_name=REGION)
    sm.update_domain(DomainId=DOMAIN, DefaultUserSettings={"ExecutionRole": ROLE})
    result = deploy()
    assert result.code == 1
    assert f"domain {DOMAIN} is Updating, not InService" in one_error_line(result)
    assert pip.calls == [] and cache_entries() == []


def test_a_user_profile_that_does_not_exist_is_named_before_building(
    fake: FakeSageMaker, pip: FakePip
) -> None:
    result = deploy("--user-profile", "nobody")
    assert result.code == 1
    assert "nobody" in one_error_line(result)
    assert pip.calls == [] and cache_entries() == []


@pytest.mark.parametrize("name", [f"{DOMAIN}.json", f"{DOMAIN}.settings.json"])
def test_an_unreadable_deployment_record_is_named_before_building(
    fake: FakeSageMaker, pip: FakePip, name: str
) -> None:
    s3 = boto3.client("s3", endpoint_url=fake.endpoint_url, region_name=REGION)
    key = f"autostop-async/deployments/{name}"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"not json")
    result = deploy()
    assert result.code == 1
    assert f"s3://{BUCKET}/{key}" in one_error_line(result)
    assert pip.calls == [] and cache_entries() == []


def test_a_dry_run_builds_nothing_and_says_what_it_would_build(
    fake: FakeSageMaker, pip: FakePip
) -> None:
    result = deploy("--idle-time", "45m", "--dry-run")
    assert result.code == 0, result.err
    assert "build  wheelhouse" in result.out
    assert "idle time: (not deployed) -> 45m" in result.out
    assert pip.calls == [] and cache_entries() == []
    assert s3_keys(fake) == []


# ------------------------------------------------------------------ a wheelhouse built once


def test_the_wheelhouse_is_built_once_and_a_new_idle_time_reuses_it(
    fake: FakeSageMaker, pip: FakePip
) -> None:
    first = deploy("--idle-time", "45m")
    assert first.code == 0, first.err
    builds = len(pip.calls)
    assert builds > 0
    key = next(n for n in cache_entries() if not n.startswith("."))
    assert cache_entries() == [key]  # no temporary folder left beside it
    houses = s3_keys(fake, "autostop-async/wheelhouse/")
    assert f"autostop-async/wheelhouse/{key}/requirements.txt" in houses
    assert f"autostop-async/wheelhouse/{key}/autostop-wheelhouse.json" in houses
    requirements = (wheelhouse.cache_root() / key / "requirements.txt").read_text()
    assert "autostop-async==0.1.0" in requirements and "--hash=sha256:" in requirements

    again = deploy("--idle-time", "45m")
    assert again.code == 0, again.err
    assert "no changes" in again.out
    assert len(pip.calls) == builds

    shorter = deploy("--idle-time", "30m")
    assert shorter.code == 0, shorter.err
    assert f"exists wheelhouse s3://{BUCKET}/autostop-async/wheelhouse/{key}/" in shorter.out
    assert "idle time: 45m -> 30m" in shorter.out
    assert "more daemon flags: none (unchanged)" in shorter.out
    assert len(pip.calls) == builds
    # the same wheelhouse; a second start script (it carries the idle time), the first kept
    # for the LCC that apps started before may still run
    now = s3_keys(fake, "autostop-async/wheelhouse/")
    assert [k for k in now if "/lcc/" not in k] == [k for k in houses if "/lcc/" not in k]
    assert len(s3_keys(fake, "autostop-async/wheelhouse/lcc/")) == 2


def test_a_wheelhouse_in_s3_is_not_built_again_with_an_empty_local_cache(
    fake: FakeSageMaker, pip: FakePip, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert deploy().code == 0
    builds = len(pip.calls)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "another-cache"))
    result = deploy("--idle-time", "2h")
    assert result.code == 0, result.err
    assert len(pip.calls) == builds and cache_entries() == []


def test_a_locally_cached_wheelhouse_is_uploaded_without_building(
    fake: FakeSageMaker, pip: FakePip
) -> None:
    assert deploy("--domain-id", DOMAIN).code == 0
    builds = len(pip.calls)
    s3 = boto3.client("s3", endpoint_url=fake.endpoint_url, region_name=REGION)
    for key in s3_keys(fake, "autostop-async/wheelhouse/"):
        s3.delete_object(Bucket=BUCKET, Key=key)
    result = deploy(domain=OTHER)
    assert result.code == 0, result.err
    assert "upload wheelhouse" in result.out and "(from " in result.out
    assert len(pip.calls) == builds
    assert s3_keys(fake, "autostop-async/wheelhouse/")


@pytest.mark.parametrize("failure", [AdminError("pip failed: no network"), KeyboardInterrupt()])
def test_a_failed_or_interrupted_build_leaves_no_folder_and_changes_nothing(
    fake: FakeSageMaker, pip: FakePip, failure: BaseException
) -> None:
    pip.fail = failure
    result = deploy()
    assert result.code == 1
    assert cache_entries() == []
    assert s3_keys(fake) == []
    assert not [n for n in fake.lcc_scripts() if n.startswith("autostop-async-")]
    if isinstance(failure, KeyboardInterrupt):
        assert "interrupted; nothing was changed" in one_error_line(result)


def test_the_plan_shows_old_and_new_for_every_daemon_setting(
    fake: FakeSageMaker, pip: FakePip
) -> None:
    assert deploy("--idle-time", "1h").code == 0
    result = deploy("--idle-time", "90m", "--daemon-arg=--exclude=*.log", "--dry-run")
    assert result.code == 0, result.err
    assert "idle time: 1h -> 1h30m" in result.out
    assert "more daemon flags: none -> --exclude=*.log" in result.out
    assert "package: 0.1.0 (unchanged)" in result.out
    assert "wheelhouse: " in result.out and "(unchanged)" in result.out


# ------------------------------------------------------------------ an interrupted deploy


def test_an_interrupted_deploy_says_what_changed_and_its_undo_works(
    fake: FakeSageMaker, pip: FakePip, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(deploy_cli, "write_changes", interrupted)
        result = deploy()
    assert result.code == 1
    assert "interrupted while writing. Changed so far: uploaded the wheelhouse" in result.err
    assert "created LCC autostop-async-" in result.err
    undo = result.err.strip().splitlines()[-1]
    assert undo.startswith("To undo: autostop-async undeploy --domain-id")
    argv = shlex.split(undo.removeprefix("To undo: "))[1:]
    undone = cli(*argv, "--yes")
    assert undone.code == 0, undone.err
    assert not [n for n in fake.lcc_scripts() if n.startswith("autostop-async-")]


# ------------------------------------------------------------------ --print-policy


def _policies(out: str) -> dict[str, dict[str, Any]]:
    """Each policy printed, by the heading line before it."""
    found: dict[str, dict[str, Any]] = {}
    decoder = json.JSONDecoder()
    heading = ""
    pos = 0
    while pos < len(out):
        if out.startswith("#", pos):
            end = out.index("\n", pos)
            heading = out[pos:end]
            pos = end + 1
        elif out.startswith("{", pos):
            doc, pos = decoder.raw_decode(out, pos)
            found[heading] = doc
        else:
            pos += 1
    return found


def test_print_policy_as_the_readme_writes_it_fills_in_region_and_account(
    fake: FakeSageMaker,
) -> None:
    result = cli("deploy", "--domain-id", "d-xxx", "--print-policy")
    assert result.code == 0, result.err
    assert "REGION" not in result.out and "ACCOUNT" not in result.out
    policies = _policies(result.out)
    assert len(policies) == 3
    text = json.dumps(policies)
    assert f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:domain/d-xxx" in text
    assert f"arn:aws:s3:::{BUCKET}/autostop-async/" in text
    report = next(v for k, v in policies.items() if "report" in k)
    actions = {a for s in report["Statement"] for a in _list(s["Action"])}
    assert {"logs:FilterLogEvents", "pricing:GetProducts"} <= actions
    assert not [a for a in actions if a.split(":")[1].startswith(("Update", "Delete", "Create"))]


def _list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def test_print_policy_without_credentials_uses_a_placeholder_and_says_so(
    fake: FakeSageMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = cli("deploy", "--domain-id", "d-xxx", "--print-policy")
    assert result.code == 0, result.err
    assert result.out.startswith("# placeholders: ACCOUNT (could not ask STS: ")
    assert f":{REGION}:ACCOUNT:domain/d-xxx" in result.out
    assert f"s3://sagemaker-{REGION}-ACCOUNT/autostop-async/" in result.out
    assert len(_policies(result.out)) == 3


# ------------------------------------------------------------------ undeploy --purge


def test_undeploy_purge_removes_the_record_and_the_wheelhouse_from_s3(
    fake: FakeSageMaker, pip: FakePip
) -> None:
    assert deploy().code == 0
    assert s3_keys(fake, "autostop-async/deployments/")
    plan = cli("undeploy", "--domain-id", DOMAIN, "--purge", "--dry-run")
    assert plan.code == 0, plan.err
    assert " delete wheelhouse s3://" in plan.out
    assert " delete deployment record and settings" in plan.out
    done = cli("undeploy", "--domain-id", DOMAIN, "--purge", "--yes")
    assert done.code == 0, done.err
    assert s3_keys(fake) == []


def test_undeploy_purge_keeps_a_wheelhouse_another_domain_uses(
    fake: FakeSageMaker, pip: FakePip
) -> None:
    assert deploy().code == 0
    assert deploy(domain=OTHER).code == 0
    houses = s3_keys(fake, "autostop-async/wheelhouse/")
    done = cli("undeploy", "--domain-id", DOMAIN, "--purge", "--yes")
    assert done.code == 0, done.err
    assert "another domain's deployment uses it" in done.out
    assert s3_keys(fake, "autostop-async/wheelhouse/") == houses
    assert s3_keys(fake, "autostop-async/deployments/") == [
        f"autostop-async/deployments/{OTHER}.json",
        f"autostop-async/deployments/{OTHER}.settings.json",
    ]


def test_undeploy_purge_keeps_every_start_script_when_another_domain_does_not_say_which(
    fake: FakeSageMaker, pip: FakePip
) -> None:
    assert deploy("--idle-time", "45m").code == 0
    assert deploy("--idle-time", "2h", domain=OTHER).code == 0  # another start script
    s3 = boto3.client("s3", endpoint_url=fake.endpoint_url, region_name=REGION)
    key = f"autostop-async/deployments/{OTHER}.settings.json"
    older = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    del older["scripts"]  # as a deploy wrote it before the start script lived in S3
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(older).encode())
    scripts = s3_keys(fake, "autostop-async/wheelhouse/lcc/")
    assert len(scripts) == 2
    done = cli("undeploy", "--domain-id", DOMAIN, "--purge", "--yes")
    assert done.code == 0, done.err
    assert f"the deployments of {OTHER} do not say which they use" in done.out
    assert s3_keys(fake, "autostop-async/wheelhouse/lcc/") == scripts
    assert f"autostop-async/deployments/{DOMAIN}.json" not in s3_keys(fake)


def test_the_execution_roles_may_read_the_start_script_the_loader_fetches(
    fake: FakeSageMaker, pip: FakePip
) -> None:
    assert deploy().code == 0
    (script,) = s3_keys(fake, "autostop-async/wheelhouse/lcc/")
    policies = _policies(cli("deploy", "--domain-id", DOMAIN, "--print-policy").out)
    role = next(v for k, v in policies.items() if "execution role" in k)
    readable = [
        s["Resource"]
        for s in role["Statement"]
        if "s3:GetObject" in _list(s["Action"]) and s["Effect"] == "Allow"
    ]
    assert any(fnmatch.fnmatchcase(f"arn:aws:s3:::{BUCKET}/{script}", r) for r in readable)


def test_purge_with_a_scope_is_refused(fake: FakeSageMaker) -> None:
    result = cli("undeploy", "--domain-id", DOMAIN, "--purge", "--space", "s1")
    assert result.code == 2
    assert "--purge" in one_error_line(result)
    assert fake.calls() == []


def test_undeploy_purge_keeps_the_wheelhouse_a_running_app_still_needs(
    fake: FakeSageMaker, pip: FakePip
) -> None:
    assert deploy().code == 0
    (name,) = [n for n in fake.lcc_scripts() if n.startswith("autostop-async-")]
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:studio-lifecycle-config/{name}"
    fake.add_app(DOMAIN, space_name="busy-space")
    fake.set_app_lcc(DOMAIN, space_name="busy-space", lcc_arn=arn)
    houses = s3_keys(fake, "autostop-async/wheelhouse/")
    done = cli("undeploy", "--domain-id", DOMAIN, "--purge", "--yes")
    assert done.code == 0, done.err
    assert "keep the deployment record and the wheelhouses" in done.out
    assert s3_keys(fake, "autostop-async/wheelhouse/") == houses
    assert f"autostop-async/deployments/{DOMAIN}.json" in s3_keys(fake)
