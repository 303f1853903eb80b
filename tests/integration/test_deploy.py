"""deploy and undeploy against the fake SageMaker (domain, profiles, spaces, LCCs) and moto's S3,
over real HTTP: what the admin sees, what the fake holds afterwards, and which calls were made."""

from __future__ import annotations

import base64
import copy
import io
import os
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from autostop_async.admin.deploy_cli import run
from tests.support.fake_sagemaker import ACCOUNT, FakeSageMaker

REGION = "us-east-1"
DOMAIN = "d-deploytest1"
BUCKET = f"sagemaker-{REGION}-{ACCOUNT}"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/studio-exec"
IMAGE = f"arn:aws:sagemaker:{REGION}:081325390199:image/sagemaker-distribution-cpu"
ADMIN_SCRIPT = "#!/bin/bash\necho admin-setup ran >/tmp/admin-setup\n"


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSageMaker]:
    with FakeSageMaker() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeSageMaker, monkeypatch: pytest.MonkeyPatch) -> FakeSageMaker:
    """The fake, reset, as every SDK's endpoint; the SageMaker default bucket exists."""
    server.reset()
    reset = urllib.request.Request(f"{server.endpoint_url}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset, timeout=10).close()  # moto's S3 and IAM
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    env = {
        "AWS_ENDPOINT_URL": server.endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s3 = boto3.client("s3", endpoint_url=server.endpoint_url, region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    server.clear_calls()
    return server


@pytest.fixture
def wheelhouse(tmp_path: Path) -> Path:
    """A stand-in wheelhouse (the real one is built in test_wheelhouse.py)."""
    folder = tmp_path / "wheelhouse"
    folder.mkdir()
    with zipfile.ZipFile(folder / "autostop_async-0.1.0-py3-none-any.whl", "w") as zf:
        zf.writestr("autostop_async/__init__.py", "")
    return folder


def cli(*argv: str, answer: str = "") -> Result:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), out, err, io.StringIO(answer))
    return Result(code, out.getvalue(), err.getvalue())


def deploy(wheelhouse: Path, *more: str, answer: str = "") -> Result:
    return cli(
        "deploy", "--domain-id", DOMAIN, "--wheelhouse", str(wheelhouse), *more, answer=answer
    )


def undeploy(*more: str) -> Result:
    return cli("undeploy", "--domain-id", DOMAIN, *more)


def code_editor(settings: dict[str, Any]) -> dict[str, Any]:
    return dict(settings.get("CodeEditorAppSettings") or {})


def ours(fake: FakeSageMaker) -> list[str]:
    return sorted(n for n in fake.lcc_scripts() if n.startswith("autostop-async-"))


def seed_domain(fake: FakeSageMaker, *, admin_default: bool = False) -> dict[str, Any]:
    """A domain with an instance type, an image, custom images, the built-in idle shutdown and an
    LCC of the admin's in its list (and, with ``admin_default``, as its default)."""
    admin = fake.add_lcc("admin-setup", ADMIN_SCRIPT)
    other = fake.add_lcc("conda-env", "#!/bin/bash\ntrue\n")
    spec: dict[str, Any] = {"InstanceType": "ml.t3.large", "SageMakerImageArn": IMAGE}
    if admin_default:
        spec["LifecycleConfigArn"] = admin
    settings = {
        "ExecutionRole": ROLE,
        "CodeEditorAppSettings": {
            "DefaultResourceSpec": spec,
            "CustomImages": [{"ImageName": "team-image", "AppImageConfigName": "team-config"}],
            "LifecycleConfigArns": [admin, other],
            "AppLifecycleManagement": {
                "IdleSettings": {"LifecycleManagement": "ENABLED", "IdleTimeoutInMinutes": 240}
            },
        },
    }
    fake.add_domain(DOMAIN, settings)
    return settings


def test_deploy_merges_and_keeps_instance_type_images_and_arns(
    fake: FakeSageMaker, wheelhouse: Path
) -> None:
    before = seed_domain(fake)
    result = deploy(wheelhouse, "--idle-time", "45m", "--yes")
    assert result.code == 0, result.err
    (name,) = ours(fake)
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:studio-lifecycle-config/{name}"
    after = fake.domain_settings(DOMAIN)
    expected = copy.deepcopy(before)
    expected["CodeEditorAppSettings"]["DefaultResourceSpec"]["LifecycleConfigArn"] = arn
    expected["CodeEditorAppSettings"]["LifecycleConfigArns"].append(arn)
    assert after == expected
    (update,) = fake.calls("UpdateDomain")
    assert update["params"]["DefaultUserSettings"].keys() == {"CodeEditorAppSettings"}
    script = fake.lcc_scripts()[name]
    assert "IDLE_TIME=45m" in script
    assert f"PACKAGE=s3://{BUCKET}/autostop-async/wheelhouse/" in script
    assert fake.lcc_tags(name)["autostop-async:domain"] == DOMAIN
    assert "+ " not in result.out  # the plan lines are `old -> new`
    assert f"DefaultResourceSpec.LifecycleConfigArn: (unset) -> {name}" in result.out
    assert "kept: " in result.out and "DefaultResourceSpec.InstanceType" in result.out


def test_a_foreign_default_lcc_keeps_running_first(fake: FakeSageMaker, wheelhouse: Path) -> None:
    seed_domain(fake, admin_default=True)
    result = deploy(wheelhouse, "--yes")
    assert result.code == 0, result.err
    ce = code_editor(fake.domain_settings(DOMAIN))
    default = ce["DefaultResourceSpec"]["LifecycleConfigArn"]
    chained = fake.lcc_scripts()[default.rsplit("/", 1)[1]]
    assert ADMIN_SCRIPT.strip() in chained
    assert chained.index(ADMIN_SCRIPT.strip()) < chained.index("IDLE_TIME=")
    assert any(a.endswith("/admin-setup") for a in ce["LifecycleConfigArns"])
    assert "admin-setup keeps running first" in result.out


def test_the_chained_lcc_runs_theirs_then_ours_and_exits_as_theirs(
    fake: FakeSageMaker, wheelhouse: Path, tmp_path: Path
) -> None:
    """The chained script, run with stand-ins, runs the admin's script first and keeps its exit
    status (ours replaced by a script that records its turn)."""
    from autostop_async.admin.lcc import chain

    order = tmp_path / "order"
    theirs = f"#!/bin/bash\necho theirs >>{order}\nexit 3\n"
    mine = f"#!/bin/bash\necho ours >>{order}\n"
    script = tmp_path / "chained.sh"
    script.write_text(chain("arn:aws:sagemaker:x:1:studio-lifecycle-config/t", theirs, mine))
    import subprocess

    proc = subprocess.run(["bash", str(script)], check=False, timeout=30)
    assert proc.returncode == 3
    assert order.read_text() == "theirs\nours\n"


def test_overriding_profiles_and_spaces_are_covered(fake: FakeSageMaker, wheelhouse: Path) -> None:
    seed_domain(fake)
    own = fake.add_lcc("alice-tools", "#!/bin/bash\ntrue\n")
    fake.add_user_profile(
        DOMAIN,
        "alice",
        {
            "ExecutionRole": ROLE,
            "CodeEditorAppSettings": {
                "DefaultResourceSpec": {"InstanceType": "ml.m5.large"},
                "LifecycleConfigArns": [own],
            },
        },
    )
    fake.add_user_profile(DOMAIN, "bob", {"ExecutionRole": ROLE})
    fake.add_space(
        DOMAIN,
        "shared-ce",
        {
            "AppType": "CodeEditor",
            "CodeEditorAppSettings": {"DefaultResourceSpec": {"InstanceType": "ml.t3.xlarge"}},
        },
    )
    fake.add_space(DOMAIN, "alice-private", {"AppType": "CodeEditor"}, owner="alice")
    fake.add_space(DOMAIN, "notebooks", {"AppType": "JupyterLab"})
    result = deploy(wheelhouse, "--yes")
    assert result.code == 0, result.err
    (name,) = ours(fake)
    alice = code_editor(fake.profile_settings(DOMAIN, "alice"))
    assert alice["DefaultResourceSpec"] == {
        "InstanceType": "ml.m5.large",
        "LifecycleConfigArn": alice["LifecycleConfigArns"][-1],
    }
    assert alice["LifecycleConfigArns"][0] == own and alice["LifecycleConfigArns"][-1].endswith(
        name
    )
    assert fake.profile_settings(DOMAIN, "bob") == {"ExecutionRole": ROLE}  # takes the domain's
    shared = code_editor(fake.space_settings(DOMAIN, "shared-ce"))
    assert shared["DefaultResourceSpec"]["InstanceType"] == "ml.t3.xlarge"
    assert shared["DefaultResourceSpec"]["LifecycleConfigArn"].endswith(name)
    private = code_editor(fake.space_settings(DOMAIN, "alice-private"))
    assert private["DefaultResourceSpec"]["LifecycleConfigArn"].endswith(name)
    assert fake.space_settings(DOMAIN, "notebooks") == {"AppType": "JupyterLab"}
    for line in ("user-profile alice", "space shared-ce", "space alice-private"):
        assert line in result.out
    assert "not covered: spaces and user profiles created later" in result.out


def test_dry_run_writes_nothing(fake: FakeSageMaker, wheelhouse: Path) -> None:
    seed_domain(fake, admin_default=True)
    result = deploy(wheelhouse, "--dry-run")
    assert result.code == 0, result.err
    assert "dry run: nothing written" in result.out
    assert "~ domain" in result.out and "create LCC autostop-async-" in result.out
    assert fake.writes() == []
    assert ours(fake) == []


def test_without_yes_it_asks_and_no_writes_nothing(fake: FakeSageMaker, wheelhouse: Path) -> None:
    seed_domain(fake)
    result = deploy(wheelhouse, answer="n\n")
    assert result.code == 1
    assert "Apply these changes? [y/N]" in result.out and "nothing changed" in result.out
    assert fake.writes() == []


def test_second_deploy_with_the_same_settings_writes_nothing(
    fake: FakeSageMaker, wheelhouse: Path
) -> None:
    seed_domain(fake, admin_default=True)
    fake.add_space(DOMAIN, "shared-ce", {"AppType": "CodeEditor"})
    assert deploy(wheelhouse, "--idle-time", "45m", "--yes").code == 0
    fake.clear_calls()
    result = deploy(wheelhouse, "--idle-time", "45m", "--yes")
    assert result.code == 0, result.err
    assert result.out.strip().endswith("no changes")
    assert fake.writes() == []


def test_undeploy_restores_the_exact_before_image(fake: FakeSageMaker, wheelhouse: Path) -> None:
    domain = seed_domain(fake, admin_default=True)
    own = fake.add_lcc("alice-tools", "#!/bin/bash\ntrue\n")
    alice = {"CodeEditorAppSettings": {"LifecycleConfigArns": [own]}}
    fake.add_user_profile(DOMAIN, "alice", alice)
    space = {"AppType": "CodeEditor"}
    fake.add_space(DOMAIN, "shared-ce", space)
    assert deploy(wheelhouse, "--yes").code == 0
    assert deploy(wheelhouse, "--idle-time", "2h", "--yes").code == 0  # a new LCC replaces ours
    assert fake.domain_settings(DOMAIN) != domain
    result = undeploy("--yes")
    assert result.code == 0, result.err
    assert fake.domain_settings(DOMAIN) == domain
    assert fake.profile_settings(DOMAIN, "alice") == alice
    assert fake.space_settings(DOMAIN, "shared-ce") == space
    assert ours(fake) == []
    assert sorted(fake.lcc_scripts()) == ["admin-setup", "alice-tools", "conda-env"]
    s3 = boto3.client("s3")
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="autostop-async/deployments/")
    assert listed.get("KeyCount", 0) == 0
    assert undeploy("--yes").out.startswith("no deployment record")


def test_undeploy_keeps_an_lcc_a_running_app_uses_and_names_the_app(
    fake: FakeSageMaker, wheelhouse: Path
) -> None:
    seed_domain(fake)
    assert deploy(wheelhouse, "--yes").code == 0
    (name,) = ours(fake)
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:studio-lifecycle-config/{name}"
    fake.add_app(DOMAIN, space_name="busy-space")
    fake.set_app_lcc(DOMAIN, space_name="busy-space", lcc_arn=arn)
    result = undeploy("--yes")
    assert result.code == 0, result.err
    assert f"keep LCC {name}: running apps use it: busy-space/codeeditor/default" in result.out
    assert ours(fake) == [name]
    assert arn not in str(fake.domain_settings(DOMAIN))


def test_access_denied_halfway_says_what_changed_and_how_to_undo(
    fake: FakeSageMaker, wheelhouse: Path
) -> None:
    domain = seed_domain(fake)
    fake.add_user_profile(DOMAIN, "alice", {"CodeEditorAppSettings": {"LifecycleConfigArns": []}})
    fake.add_user_profile(
        DOMAIN,
        "carol",
        {"CodeEditorAppSettings": {"DefaultResourceSpec": {"InstanceType": "ml.m5.large"}}},
    )
    fake.inject("UpdateUserProfile", "AccessDeniedException", message="not authorized")
    result = deploy(wheelhouse, "--yes")
    assert result.code == 1
    assert "access denied: sagemaker:UpdateUserProfile on user profile carol" in result.err
    assert f"Changed so far: domain {DOMAIN}" in result.err
    undo = f"autostop-async undeploy --domain-id {DOMAIN} --s3-uri s3://{BUCKET}/autostop-async/"
    assert undo in result.err
    assert undeploy("--s3-uri", f"s3://{BUCKET}/autostop-async/", "--yes").code == 0
    assert fake.domain_settings(DOMAIN) == domain


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--idle-time", "1hour"], "--idle-time"),
        (["--daemon-arg=--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        (["--python", "three"], "--python"),
    ],
)
def test_bad_settings_are_refused_before_any_call(
    fake: FakeSageMaker, wheelhouse: Path, flags: list[str], message: str
) -> None:
    seed_domain(fake)
    result = deploy(wheelhouse, *flags, "--yes")
    assert result.code == 2
    assert message in result.err
    assert result.err.count("\n") == 1
    assert fake.calls() == [] and fake.http_calls() == []


def test_print_policy_scopes_the_execution_role_to_the_domain() -> None:
    result = cli("deploy", "--print-policy", "--domain-id", DOMAIN, "--s3-uri", "s3://my-bucket/p/")
    assert result.code == 0
    assert f"app/{DOMAIN}/*" in result.out and 'app/*"' not in result.out
    assert "arn:aws:s3:::my-bucket/p/wheelhouse/*" in result.out
    assert "sagemaker:UpdateDomain" in result.out


def test_the_fake_refuses_what_studio_refuses(fake: FakeSageMaker) -> None:
    """Limits botocore does not check: the LCC name pattern, content size, 30 ARNs."""
    sm = boto3.client("sagemaker")
    content = base64.b64encode(b"#!/bin/bash\n").decode()
    for name, body in [("bad_name", content), ("big", "A" * 16388)]:
        with pytest.raises(sm.exceptions.ClientError, match="ValidationException"):
            sm.create_studio_lifecycle_config(
                StudioLifecycleConfigName=name,
                StudioLifecycleConfigContent=body,
                StudioLifecycleConfigAppType="CodeEditor",
            )
    fake.add_domain(DOMAIN)
    arns = [fake.add_lcc(f"l{i}", "#!/bin/bash\n") for i in range(31)]
    with pytest.raises(sm.exceptions.ClientError, match="at most 30"):
        sm.update_domain(
            DomainId=DOMAIN,
            DefaultUserSettings={"CodeEditorAppSettings": {"LifecycleConfigArns": arns}},
        )


def test_a_deploy_scoped_to_one_profile_leaves_the_domain_default_alone(
    fake: FakeSageMaker, wheelhouse: Path
) -> None:
    domain = seed_domain(fake, admin_default=True)
    fake.add_user_profile(DOMAIN, "alice", {})
    fake.add_user_profile(DOMAIN, "bob", {})
    result = deploy(wheelhouse, "--user-profile", "alice", "--yes")
    assert result.code == 0, result.err
    (name,) = ours(fake)
    ce = code_editor(fake.domain_settings(DOMAIN))
    assert ce["DefaultResourceSpec"] == domain["CodeEditorAppSettings"]["DefaultResourceSpec"]
    alice = code_editor(fake.profile_settings(DOMAIN, "alice"))
    assert alice["DefaultResourceSpec"]["LifecycleConfigArn"].endswith(name)
    assert fake.profile_settings(DOMAIN, "bob") == {}
    dry = undeploy("--dry-run")
    assert dry.code == 0 and "dry run: nothing written" in dry.out
    assert f"delete LCC {name}" in dry.out
    fake.clear_calls()
    assert undeploy("--dry-run").code == 0 and fake.writes() == []
    assert undeploy("--yes").code == 0
    assert fake.domain_settings(DOMAIN) == domain
    assert fake.profile_settings(DOMAIN, "alice") == {}


def test_an_execution_role_that_may_not_delete_apps_is_named(
    fake: FakeSageMaker, wheelhouse: Path
) -> None:
    seed_domain(fake)
    fake.denied_actions = {"sagemaker:DeleteApp"}
    try:
        result = deploy(wheelhouse, "--dry-run")
    finally:
        fake.denied_actions = set()
    assert result.code == 0
    assert f"warning: execution role {ROLE} may not: sagemaker:DeleteApp on " in result.err
    assert f"app/{DOMAIN}/" in result.err


def test_a_vpc_only_domain_names_the_endpoints_it_lacks(
    fake: FakeSageMaker, wheelhouse: Path
) -> None:
    fake.add_domain(DOMAIN, {"ExecutionRole": ROLE}, network="VpcOnly", vpc_id="vpc-12345678")
    result = deploy(wheelhouse, "--dry-run")
    assert result.code == 0, result.err
    for service in ("com.amazonaws.us-east-1.s3", "com.amazonaws.us-east-1.sagemaker.api"):
        assert service in result.err


def test_undeploy_after_a_later_change_takes_out_only_its_own_lccs(
    fake: FakeSageMaker, wheelhouse: Path
) -> None:
    seed_domain(fake, admin_default=True)
    assert deploy(wheelhouse, "--yes").code == 0
    later = fake.add_lcc("added-later", "#!/bin/bash\ntrue\n")
    sm = boto3.client("sagemaker")
    ce = code_editor(fake.domain_settings(DOMAIN))
    ce["LifecycleConfigArns"].append(later)
    ce["DefaultResourceSpec"]["InstanceType"] = "ml.m5.xlarge"
    sm.update_domain(DomainId=DOMAIN, DefaultUserSettings={"CodeEditorAppSettings": ce})
    result = undeploy("--yes")
    assert result.code == 0, result.err
    assert "changed since deploy: only autostop-async's LCCs taken out" in result.out
    after = code_editor(fake.domain_settings(DOMAIN))
    arns = [a.rsplit("/", 1)[1] for a in after["LifecycleConfigArns"]]
    assert arns == ["admin-setup", "conda-env", "added-later"]
    assert after["DefaultResourceSpec"]["LifecycleConfigArn"].endswith("/admin-setup")
    assert after["DefaultResourceSpec"]["InstanceType"] == "ml.m5.xlarge"
    assert ours(fake) == []


def test_a_default_lcc_too_big_to_chain_is_refused_not_dropped(
    fake: FakeSageMaker, wheelhouse: Path
) -> None:
    big = "#!/bin/bash\n" + "".join(f"echo step {i} of a long set-up\n" for i in range(300))
    arn = fake.add_lcc("big-setup", big)
    before = {
        "CodeEditorAppSettings": {
            "DefaultResourceSpec": {"LifecycleConfigArn": arn},
            "LifecycleConfigArns": [arn],
        }
    }
    fake.add_domain(DOMAIN, before)
    result = deploy(wheelhouse, "--yes")
    assert result.code == 2
    assert "runs the default LCC big-setup and then autostop-async's" in result.err
    assert "Studio takes at most 16,384" in result.err and "never dropped" in result.err
    assert fake.writes() == []
    assert fake.domain_settings(DOMAIN) == before


def test_a_list_already_holding_30_lccs_is_refused(fake: FakeSageMaker, wheelhouse: Path) -> None:
    arns = [fake.add_lcc(f"team-{i}", "#!/bin/bash\ntrue\n") for i in range(30)]
    fake.add_domain(DOMAIN, {"CodeEditorAppSettings": {"LifecycleConfigArns": arns}})
    result = deploy(wheelhouse, "--yes")
    assert result.code == 2
    assert "would list 31 LCCs; Studio takes at most 30" in result.err
    assert fake.writes() == []


def test_without_the_default_bucket_s3_uri_is_required(
    fake: FakeSageMaker, wheelhouse: Path
) -> None:
    seed_domain(fake)
    boto3.client("s3").delete_bucket(Bucket=BUCKET)
    fake.clear_calls()
    result = deploy(wheelhouse, "--yes")
    assert result.code == 2
    assert f"the SageMaker default bucket {BUCKET} does not exist: pass --s3-uri" in result.err
    assert fake.writes() == []


def test_access_denied_creating_the_lcc_changes_no_setting(
    fake: FakeSageMaker, wheelhouse: Path
) -> None:
    domain = seed_domain(fake)
    fake.inject("CreateStudioLifecycleConfig", "AccessDeniedException", message="no")
    result = deploy(wheelhouse, "--yes")
    assert result.code == 1
    assert "access denied: sagemaker:CreateStudioLifecycleConfig on studio lifecycle config" in (
        result.err
    )
    assert "no setting of the domain, profiles or spaces was changed" in result.err
    assert fake.domain_settings(DOMAIN) == domain
    assert fake.calls("UpdateDomain") == []
    assert undeploy("--yes").code == 0
    assert fake.domain_settings(DOMAIN) == domain


def test_the_command_line_entries_take_the_flags_after_the_command_name(
    fake: FakeSageMaker, wheelhouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As ``autostop-async deploy …`` and ``autostop-async undeploy …`` call them."""
    from autostop_async.admin import deploy_cli, undeploy_cli

    seed_domain(fake)
    base = ["--domain-id", DOMAIN, "--yes"]
    assert deploy_cli.main([*base, "--wheelhouse", str(wheelhouse)]) == 0
    assert ours(fake)
    assert undeploy_cli.main(base) == 0
    assert ours(fake) == []
    assert "deleted LCC autostop-async-" in capsys.readouterr().out
