"""deploy and undeploy against the fake SageMaker (domain, profiles, spaces, LCCs) and moto's S3,
over real HTTP: what the admin sees, what the fake holds afterwards, and which calls were made.
The fake leaves each updated resource Updating for a moment, as Studio does; the commands'
waits are made short."""

from __future__ import annotations

import base64
import copy
import io
import json
import os
import re
import subprocess
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from autostop_async.admin import studio
from autostop_async.admin.deploy_cli import run
from autostop_async.admin.lcc import chain
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
    """The fake, reset, as every SDK's endpoint; the SageMaker default bucket exists; each
    update leaves its resource Updating for 0.2 s, and the commands look again every 0.05 s."""
    server.reset()
    server.update_seconds = 0.2
    monkeypatch.setattr(studio, "WAITING", studio.Waiting(first=0.05, most=0.1, timeout=30))
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


def seed_domain(
    fake: FakeSageMaker, *, admin_default: bool = False, admin_builtin: bool = False
) -> dict[str, Any]:
    """A domain with an instance type, an image, custom images, the built-in idle shutdown and an
    LCC of the admin's in its list (and, with ``admin_default``, as its default; with
    ``admin_builtin``, its own built-in LCC ``team-builtin``)."""
    admin = fake.add_lcc("admin-setup", ADMIN_SCRIPT)
    other = fake.add_lcc("conda-env", "#!/bin/bash\ntrue\n")
    spec: dict[str, Any] = {"InstanceType": "ml.t3.large", "SageMakerImageArn": IMAGE}
    if admin_default:
        spec["LifecycleConfigArn"] = admin
    settings: dict[str, Any] = {
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
    if admin_builtin:
        built_in = fake.add_lcc("team-builtin", BUILTIN_SCRIPT)
        settings["CodeEditorAppSettings"]["BuiltInLifecycleConfigArn"] = built_in
    fake.add_domain(DOMAIN, settings)
    return settings


BUILTIN_SCRIPT = '#!/bin/bash\necho team-builtin ran >>"$ORDER"\n'


def arn_of(name: str) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:studio-lifecycle-config/{name}"


def built_in(settings: dict[str, Any]) -> str:
    """The name of the built-in LCC of a UserSettings (or DefaultUserSettings)."""
    return str(code_editor(settings)["BuiltInLifecycleConfigArn"]).rsplit("/", 1)[1]


def start_script(loader: str) -> str:
    """The start script in moto's S3 that a loader fetches."""
    match = re.search(r"^U=(\S+)$", loader, re.M)
    assert match, loader
    bucket, _, key = match.group(1).strip("'")[5:].partition("/")
    return str(boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode())


def dangling(fake: FakeSageMaker) -> dict[str, list[str]]:
    """LCC ARNs that a domain, profile or space names but that do not exist."""
    existing = {arn_of(n) for n in fake.lcc_scripts()}
    return {a: where for a, where in fake.references().items() if a not in existing}


def test_deploy_sets_only_the_built_in_lcc_and_keeps_everything_else(
    fake: FakeSageMaker, wheelhouse: Path
) -> None:
    before = seed_domain(fake, admin_default=True)
    started = time.monotonic()
    result = deploy(wheelhouse, "--idle-time", "45m", "--yes")
    print(f"deploy against the fake: {time.monotonic() - started:.2f} s")
    assert result.code == 0, result.err
    (name,) = ours(fake)
    expected = copy.deepcopy(before)
    expected["CodeEditorAppSettings"]["BuiltInLifecycleConfigArn"] = arn_of(name)
    assert fake.domain_settings(DOMAIN) == expected  # default and list as they were
    (update,) = fake.calls("UpdateDomain")
    assert update["params"]["DefaultUserSettings"] == {
        "CodeEditorAppSettings": {"BuiltInLifecycleConfigArn": arn_of(name)}
    }
    loader = fake.lcc_scripts()[name]
    assert len(loader) < 2048
    full = start_script(loader)
    assert "IDLE_TIME=45m" in full
    assert f"PACKAGE=s3://{BUCKET}/autostop-async/wheelhouse/" in full
    assert fake.lcc_tags(name)["autostop-async:domain"] == DOMAIN
    assert f"BuiltInLifecycleConfigArn: (unset) -> {name}" in result.out
    assert "kept: " in result.out and "DefaultResourceSpec.InstanceType" in result.out
    assert f"waiting for domain {DOMAIN} to be InService (now Updating)" in result.out
    assert "including spaces and user profiles created later" in result.out


def test_an_admins_built_in_lcc_is_chained_first_and_restored_by_undeploy(
    fake: FakeSageMaker, wheelhouse: Path
) -> None:
    before = seed_domain(fake, admin_default=True, admin_builtin=True)
    result = deploy(wheelhouse, "--yes")
    assert result.code == 0, result.err
    after = fake.domain_settings(DOMAIN)
    chained = fake.lcc_scripts()[built_in(after)]
    assert BUILTIN_SCRIPT in chained
    assert chained.index(BUILTIN_SCRIPT) < chained.index("autostop-async: runs its start script")
    assert (
        code_editor(after)["DefaultResourceSpec"]
        == (before["CodeEditorAppSettings"]["DefaultResourceSpec"])
    )
    assert (
        code_editor(after)["LifecycleConfigArns"]
        == (before["CodeEditorAppSettings"]["LifecycleConfigArns"])
    )
    assert "team-builtin keeps running first, in the built-in LCC" in result.out
    assert "team-builtin" in fake.lcc_scripts()  # kept
    started = time.monotonic()
    result = undeploy("--yes")
    print(f"undeploy against the fake: {time.monotonic() - started:.2f} s")
    assert result.code == 0, result.err
    assert fake.domain_settings(DOMAIN) == before
    assert ours(fake) == [] and dangling(fake) == {}


def test_the_chained_lcc_runs_theirs_exactly_first_keeps_its_status_and_ours_never_fails_it(
    tmp_path: Path,
) -> None:
    """The chained script, run with stand-ins: the admin's script, byte for byte (quotes, $,
    backticks, a here-document, no final newline), runs first; the chain exits as it did;
    ours failing does not change that."""
    order = tmp_path / "order"
    tricky = "cat <<'EOF'\n$HOME `x` \\n \"q\"\nEOF\n"
    for theirs_rc, ours_rc in [(3, 0), (0, 5)]:
        order.write_text("")
        theirs = (
            f'#!/bin/bash\necho theirs >>{order}\ncp "$0" {tmp_path}/copy\n{tricky}exit {theirs_rc}'
        )
        mine = f"#!/bin/bash\necho ours >>{order}\nexit {ours_rc}\n"
        script = tmp_path / "chained.sh"
        script.write_text(chain(arn_of("t"), theirs, mine))
        proc = subprocess.run(["bash", str(script)], check=False, timeout=30, capture_output=True)
        assert proc.returncode == theirs_rc
        assert order.read_text() == "theirs\nours\n"
        assert (tmp_path / "copy").read_text() == theirs + "\n"  # a final newline added


def test_a_chain_over_studios_limit_is_refused_saying_by_how_much(
    fake: FakeSageMaker, wheelhouse: Path
) -> None:
    big = "#!/bin/bash\n" + "".join(f"echo step {i} of a long set-up\n" for i in range(420))
    arn = fake.add_lcc("big-setup", big)
    before = {"CodeEditorAppSettings": {"BuiltInLifecycleConfigArn": arn}}
    fake.add_domain(DOMAIN, before)
    result = deploy(wheelhouse, "--yes")
    assert result.code == 2
    assert "runs the built-in LCC big-setup and then autostop-async's" in result.err
    assert re.search(
        r"is [0-9,]+ base64 characters, [0-9,]+ over Studio's limit of 16,384", (result.err)
    )
    assert "never dropped" in result.err
    assert fake.writes() == []
    assert fake.domain_settings(DOMAIN) == before


def test_a_user_profile_with_its_own_built_in_lcc_gets_it_chained(
    fake: FakeSageMaker, wheelhouse: Path
) -> None:
    seed_domain(fake)
    own = fake.add_lcc("alice-tools", "#!/bin/bash\necho alice\n")
    alice = {
        "ExecutionRole": ROLE,
        "CodeEditorAppSettings": {
            "DefaultResourceSpec": {"InstanceType": "ml.m5.large"},
            "BuiltInLifecycleConfigArn": own,
        },
    }
    fake.add_user_profile(DOMAIN, "alice", alice)
    fake.add_user_profile(DOMAIN, "bob", {"ExecutionRole": ROLE})
    fake.add_space(DOMAIN, "shared-ce", {"AppType": "CodeEditor"})
    result = deploy(wheelhouse, "--yes")
    assert result.code == 0, result.err
    chained = fake.lcc_scripts()[built_in(fake.profile_settings(DOMAIN, "alice"))]
    assert "echo alice" in chained and "autostop-async: runs its start script" in chained
    got = code_editor(fake.profile_settings(DOMAIN, "alice"))
    assert got["DefaultResourceSpec"] == {"InstanceType": "ml.m5.large"}
    assert fake.profile_settings(DOMAIN, "bob") == {"ExecutionRole": ROLE}  # the domain's runs
    assert fake.space_settings(DOMAIN, "shared-ce") == {"AppType": "CodeEditor"}
    assert "alice-tools keeps running first" in result.out
    assert undeploy("--yes").code == 0
    assert fake.profile_settings(DOMAIN, "alice") == alice
    assert ours(fake) == [] and dangling(fake) == {}


def test_undeploy_clears_a_space_and_a_profile_created_after_deploy_that_name_our_lcc(
    fake: FakeSageMaker, wheelhouse: Path
) -> None:
    before = seed_domain(fake, admin_default=True)
    assert deploy(wheelhouse, "--yes").code == 0
    (name,) = ours(fake)
    # Made after the deploy (the Studio UI keeps the LCC selected when a space is created).
    fake.add_space(
        DOMAIN,
        "later-space",
        {
            "AppType": "CodeEditor",
            "CodeEditorAppSettings": {
                "DefaultResourceSpec": {
                    "InstanceType": "ml.t3.medium",
                    "LifecycleConfigArn": arn_of(name),
                }
            },
        },
        owner="carol",
    )
    fake.add_user_profile(
        DOMAIN,
        "carol",
        {"CodeEditorAppSettings": {"LifecycleConfigArns": [arn_of(name), arn_of("admin-setup")]}},
    )
    result = undeploy("--yes")
    assert result.code == 0, result.err
    assert "space later-space" in result.out and "not in the record" in result.out
    assert ours(fake) == []
    assert dangling(fake) == {}
    assert fake.space_settings(DOMAIN, "later-space") == {
        "AppType": "CodeEditor",
        "CodeEditorAppSettings": {"DefaultResourceSpec": {"InstanceType": "ml.t3.medium"}},
    }
    assert code_editor(fake.profile_settings(DOMAIN, "carol")) == {
        "LifecycleConfigArns": [arn_of("admin-setup")]
    }
    assert fake.domain_settings(DOMAIN) == before


def _old_method_state(fake: FakeSageMaker) -> dict[str, Any]:
    """A domain as a deploy of the default-LCC method left it: its default an LCC of ours that
    runs admin-setup first, in its list; a space defaulting to it; a format-1 record; and an
    older LCC of ours that nothing references. Returns the settings before that deploy."""
    original = seed_domain(fake, admin_default=True)
    old = fake.add_lcc(
        "autostop-async-0123456789ab",
        "#!/bin/bash\n# Runs the lifecycle configuration admin-setup (unchanged), then "
        "autostop-async's.\ntrue\n",
    )
    older = fake.add_lcc("autostop-async-aaaaaaaaaaaa", "#!/bin/bash\ntrue\n")
    deployed = copy.deepcopy(original)
    ce = deployed["CodeEditorAppSettings"]
    ce["DefaultResourceSpec"]["LifecycleConfigArn"] = old
    ce["LifecycleConfigArns"].append(old)
    fake.add_domain(DOMAIN, deployed)
    space = {"AppType": "CodeEditor"}
    written = {"DefaultResourceSpec": {"LifecycleConfigArn": old}}
    fake.add_space(DOMAIN, "shared-ce", {**space, "CodeEditorAppSettings": written})
    record = {
        "format": 1,
        "domain_id": DOMAIN,
        "resources": {
            f"domain:{DOMAIN}": {
                "kind": "domain",
                "name": DOMAIN,
                "before": original["CodeEditorAppSettings"],
                "written": ce,
            },
            "space:shared-ce": {
                "kind": "space",
                "name": "shared-ce",
                "before": {},
                "written": written,
            },
        },
        "lccs": {
            "autostop-async-0123456789ab": {"arn": old, "runs_first": arn_of("admin-setup")},
            "autostop-async-aaaaaaaaaaaa": {"arn": older, "runs_first": None},
        },
    }
    boto3.client("s3").put_object(
        Bucket=BUCKET, Key=f"autostop-async/deployments/{DOMAIN}.json", Body=json.dumps(record)
    )
    return original


def test_if_studio_ignores_none_undeploy_keeps_the_lcc_and_names_what_holds_it(
    fake: FakeSageMaker, wheelhouse: Path
) -> None:
    """ "None" as the clear value is unverified on AWS: were it ignored, the LCC stays
    referenced, and undeploy keeps it (never deleting one under a resource) and says why."""
    seed_domain(fake)
    assert deploy(wheelhouse, "--yes").code == 0
    (name,) = ours(fake)
    fake.none_clears = False
    result = undeploy("--yes")
    assert result.code == 0, result.err
    assert f"kept LCC {name}: used by domain {DOMAIN}" in result.out
    assert ours(fake) == [name] and dangling(fake) == {}
    assert "run undeploy again once nothing uses them" in result.out


def test_a_domain_of_the_default_lcc_method_is_migrated_by_the_next_deploy(
    fake: FakeSageMaker, wheelhouse: Path
) -> None:
    original = _old_method_state(fake)
    result = deploy(wheelhouse, "--yes")
    assert result.code == 0, result.err
    (name,) = ours(fake)  # both old LCCs deleted
    expected = copy.deepcopy(original)
    expected["CodeEditorAppSettings"]["BuiltInLifecycleConfigArn"] = arn_of(name)
    assert fake.domain_settings(DOMAIN) == expected
    assert fake.space_settings(DOMAIN, "shared-ce") == {"AppType": "CodeEditor"}
    assert "deleted LCC autostop-async-0123456789ab" in result.out
    assert "deleted LCC autostop-async-aaaaaaaaaaaa" in result.out
    assert dangling(fake) == {}
    key = f"autostop-async/deployments/{DOMAIN}.json"
    record = json.loads(boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert record["format"] == 2 and record["method"] == "built-in"
    assert sorted(record["lccs"]) == [name]
    assert undeploy("--yes").code == 0
    assert fake.domain_settings(DOMAIN) == original
    assert ours(fake) == [] and dangling(fake) == {}


def test_an_update_refused_as_already_being_updated_is_retried(
    fake: FakeSageMaker, wheelhouse: Path
) -> None:
    seed_domain(fake)
    message = (
        f"Domain arn:aws:sagemaker:{REGION}:{ACCOUNT}:domain/{DOMAIN} is already being updated."
    )
    fake.inject("UpdateDomain", "ResourceInUse", message=message, count=2)
    result = deploy(wheelhouse, "--yes")
    assert result.code == 0, result.err
    assert len(fake.calls("UpdateDomain")) == 3
    assert "BuiltInLifecycleConfigArn" in code_editor(fake.domain_settings(DOMAIN))


def test_a_domain_that_is_not_in_service_is_refused_before_any_write(
    fake: FakeSageMaker, wheelhouse: Path
) -> None:
    seed_domain(fake)
    fake.update_seconds = 60
    sm = boto3.client("sagemaker")
    sm.update_domain(DomainId=DOMAIN, DefaultUserSettings={"ExecutionRole": ROLE})
    fake.clear_calls()
    result = deploy(wheelhouse, "--yes")
    assert result.code == 1  # AWS's state, not a flag: checks.check_domain, the one check
    assert f"domain {DOMAIN} is Updating" in result.err and "nothing was changed" in result.err
    assert fake.writes() == []


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
    fake.set_app_lcc(DOMAIN, space_name="busy-space", lcc_arn=arn, built_in=True)
    result = undeploy("--yes")
    assert result.code == 0, result.err
    assert f"keep LCC {name}: running apps use it: busy-space/codeeditor/default" in result.out
    assert ours(fake) == [name]
    assert arn not in str(fake.domain_settings(DOMAIN))


def test_access_denied_halfway_says_what_changed_and_how_to_undo(
    fake: FakeSageMaker, wheelhouse: Path
) -> None:
    domain = seed_domain(fake)
    own = fake.add_lcc("alice-tools", "#!/bin/bash\ntrue\n")
    alice = {"CodeEditorAppSettings": {"BuiltInLifecycleConfigArn": own}}
    fake.add_user_profile(DOMAIN, "alice", alice)
    fake.inject("UpdateDomain", "AccessDeniedException", message="not authorized")
    result = deploy(wheelhouse, "--yes")
    assert result.code == 1
    assert f"access denied: sagemaker:UpdateDomain on domain {DOMAIN}" in result.err
    assert "Changed so far: user-profile alice" in result.err
    undo = f"autostop-async undeploy --domain-id {DOMAIN} --s3-uri s3://{BUCKET}/autostop-async/"
    assert undo in result.err
    assert undeploy("--s3-uri", f"s3://{BUCKET}/autostop-async/", "--yes").code == 0
    assert fake.domain_settings(DOMAIN) == domain
    assert fake.profile_settings(DOMAIN, "alice") == alice
    assert ours(fake) == [] and dangling(fake) == {}


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


def test_a_deploy_scoped_to_one_profile_leaves_the_domain_alone(
    fake: FakeSageMaker, wheelhouse: Path
) -> None:
    domain = seed_domain(fake, admin_default=True, admin_builtin=True)
    fake.add_user_profile(DOMAIN, "alice", {})
    fake.add_user_profile(DOMAIN, "bob", {})
    result = deploy(wheelhouse, "--user-profile", "alice", "--yes")
    assert result.code == 0, result.err
    (name,) = ours(fake)
    assert fake.domain_settings(DOMAIN) == domain
    assert built_in(fake.profile_settings(DOMAIN, "alice")) == name
    assert "team-builtin" in fake.lcc_scripts()[name]  # the domain's runs first for alice
    assert fake.profile_settings(DOMAIN, "bob") == {}
    dry = undeploy("--dry-run")
    assert dry.code == 0 and "dry run: nothing written" in dry.out
    assert f"delete LCC {name}" in dry.out
    fake.clear_calls()
    assert undeploy("--dry-run").code == 0 and fake.writes() == []
    assert undeploy("--yes").code == 0
    assert fake.domain_settings(DOMAIN) == domain
    assert fake.profile_settings(DOMAIN, "alice") == {}
    assert ours(fake) == [] and dangling(fake) == {}


def test_a_space_alone_is_refused_it_has_no_built_in_lcc(
    fake: FakeSageMaker, wheelhouse: Path
) -> None:
    seed_domain(fake)
    fake.add_space(DOMAIN, "shared-ce", {"AppType": "CodeEditor"})
    result = deploy(wheelhouse, "--space", "shared-ce", "--yes")
    assert result.code == 2
    assert "a space has no built-in LCC setting" in result.err
    assert fake.writes() == []


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
    seed_domain(fake, admin_default=True, admin_builtin=True)
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
    assert after["BuiltInLifecycleConfigArn"] == arn_of("team-builtin")  # what ours ran first
    assert ours(fake) == [] and dangling(fake) == {}


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
