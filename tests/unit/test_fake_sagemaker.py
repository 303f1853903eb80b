"""Tests of the fake SageMaker endpoint itself, with real boto3 clients over HTTP."""

from __future__ import annotations

import json
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.retries.standard
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.sagemaker.responses import SageMakerResponse

# `tests.support` lives at the repository root, which pytest does not always put on sys.path.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.support import fake_sagemaker  # noqa: E402
from tests.support.fake_sagemaker import FakeSageMaker  # noqa: E402

REGION = "us-east-1"
APP = {"DomainId": "d-1", "SpaceName": "s", "AppType": "CodeEditor", "AppName": "default"}
ARN = f"arn:aws:sagemaker:{REGION}:123456789012:app/d-1/s/codeeditor/default"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSageMaker]:
    """One fake for the whole module; each test resets it."""
    with FakeSageMaker() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeSageMaker, monkeypatch: pytest.MonkeyPatch) -> FakeSageMaker:
    """The fake, reset, holding APP InService; dummy credentials and no profile files."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    # botocore decides what to retry as usual; only its back-off sleep is cut to zero.
    monkeypatch.setattr(
        botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.0
    )
    server.reset()
    server.add_app("d-1", space_name="s")
    return server


def client(fake: FakeSageMaker, region: str = REGION) -> Any:
    """A SageMaker client aimed at the fake, with botocore's standard retries (3 attempts)."""
    config = Config(retries={"mode": "standard", "total_max_attempts": 3})
    return boto3.client(
        "sagemaker", endpoint_url=fake.endpoint_url, region_name=region, config=config
    )


@pytest.fixture
def sm(fake: FakeSageMaker) -> Any:
    return client(fake)


def error_of(info: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    """The AWS error code and message of a ClientError."""
    error = info.value.response["Error"]
    return str(error["Code"]), str(error["Message"])


def control(fake: FakeSageMaker, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """Call a control route; return (HTTP status, decoded JSON)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(fake.endpoint_url + path, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_delete_app_leaves_the_app_deleting_and_a_second_delete_is_in_use(
    fake: FakeSageMaker, sm: Any
) -> None:
    """DeleteApp: InService becomes Deleting; DeleteApp again answers ResourceInUse."""
    described = sm.describe_app(**APP)
    assert (described["Status"], described["AppArn"], described["SpaceName"]) == (
        "InService",
        ARN,
        "s",
    )
    sm.delete_app(**APP)
    assert sm.describe_app(**APP)["Status"] == "Deleting"
    assert fake.app_status("d-1", space_name="s") == "Deleting"
    with pytest.raises(ClientError) as again:
        sm.delete_app(**APP)
    assert error_of(again) == ("ResourceInUse", f"App {ARN} is being deleted (status Deleting).")


def test_unknown_and_deleted_apps_are_not_found(fake: FakeSageMaker, sm: Any) -> None:
    """No such app (another space, another region), or one Deleted: ResourceNotFound."""
    for call in (sm.describe_app, sm.delete_app):
        with pytest.raises(ClientError) as info:
            call(**{**APP, "SpaceName": "other"})
        assert error_of(info)[0] == "ResourceNotFound"
    with pytest.raises(ClientError) as west:
        client(fake, "eu-west-1").delete_app(**APP)
    assert error_of(west)[0] == "ResourceNotFound"

    fake.add_app("d-1", space_name="s", status="Deleted")
    assert sm.describe_app(**APP)["Status"] == "Deleted"
    with pytest.raises(ClientError) as gone:
        sm.delete_app(**APP)
    assert error_of(gone) == ("ResourceNotFound", f"App {ARN} does not exist.")
    assert fake.app_status("d-1", space_name="s") == "Deleted"


def test_a_fault_answers_its_operation_count_times_and_the_log_records_each_call(
    fake: FakeSageMaker, sm: Any
) -> None:
    """Two ThrottlingExceptions are retried by botocore; the third DeleteApp deletes."""
    fake.inject("DeleteApp", "ThrottlingException", message="Rate exceeded", count=2)
    assert sm.describe_app(**APP)["Status"] == "InService"  # not DeleteApp: no fault
    response = sm.delete_app(**APP)
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    calls = fake.calls()
    assert [(c["operation"], c["status"]) for c in calls] == [
        ("DescribeApp", 200),
        ("DeleteApp", 400),
        ("DeleteApp", 400),
        ("DeleteApp", 200),
    ]
    assert [c["time"] for c in calls] == sorted(c["time"] for c in calls)
    assert [c["status"] for c in fake.calls("DeleteApp")] == [400, 400, 200]
    assert fake.app_status("d-1", space_name="s") == "Deleting"


def test_a_fault_forever_until_cleared(fake: FakeSageMaker, sm: Any) -> None:
    """count=-1 answers every call with the code, status and message given, until cleared."""
    fake.inject("DescribeApp", "AccessDeniedException", status=403, message="no", count=-1)
    for _ in range(2):
        with pytest.raises(ClientError) as info:
            sm.describe_app(**APP)
        assert error_of(info) == ("AccessDeniedException", "no")
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    fake.clear_faults()
    assert sm.describe_app(**APP)["Status"] == "InService"


def test_reset_forgets_apps_faults_and_calls(fake: FakeSageMaker, sm: Any) -> None:
    fake.inject("DescribeApp", "ThrottlingException", count=-1)
    sm.delete_app(**APP)
    fake.reset()
    assert fake.calls() == []
    assert fake.app_status("d-1", space_name="s") is None
    with pytest.raises(ClientError) as info:
        sm.describe_app(**APP)
    assert error_of(info)[0] == "ResourceNotFound"  # the fault went too


def test_control_routes(fake: FakeSageMaker, sm: Any) -> None:
    """What the e2e image uses: faults in and out, the call log and the apps, over HTTP."""
    fault = {"operation": "DeleteApp", "code": "AccessDeniedException", "count": -1}
    assert control(fake, "POST", "/_fake/faults", fault) == (200, {"ok": True})
    with pytest.raises(ClientError) as info:
        sm.delete_app(**APP)
    assert error_of(info)[0] == "AccessDeniedException"
    assert control(fake, "DELETE", "/_fake/faults") == (200, {"ok": True})
    sm.delete_app(**APP)

    status, calls = control(fake, "GET", "/_fake/calls")
    assert status == 200
    assert [(c["operation"], c["status"]) for c in calls] == [
        ("DeleteApp", 400),
        ("DeleteApp", 200),
    ]
    assert control(fake, "GET", "/_fake/apps") == (
        200,
        [
            {
                "Region": REGION,
                "DomainId": "d-1",
                "SpaceName": "s",
                "AppType": "CodeEditor",
                "AppName": "default",
                "Status": "Deleting",
            }
        ],
    )
    for bad in ({"operation": "DeleteApp"}, {**fault, "count": 0}, {**fault, "status": 200}, [1]):
        assert control(fake, "POST", "/_fake/faults", bad)[0] == 400, bad
    assert control(fake, "GET", "/_fake/nothing")[0] == 404


def test_the_fake_refuses_to_shadow_moto_s_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """If moto ships DeleteApp itself, installing the fake fails loudly."""

    def delete_app(self: SageMakerResponse) -> None:
        raise NotImplementedError

    monkeypatch.setattr(SageMakerResponse, "delete_app", delete_app)
    with pytest.raises(RuntimeError, match="moto now implements SageMaker DeleteApp"):
        fake_sagemaker.install()


def _read_lines(stream: Any, lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


def test_cli_runs_alone_seeds_apps_and_stops_on_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The module copied alone (as in the e2e image) seeds --seed-app apps, answers, stops."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    script = tmp_path / "fake_sagemaker.py"
    shutil.copy(fake_sagemaker.__file__, script)
    seeds = ["--seed-app", "d-e2e/space1/CodeEditor/default@us-west-2",
             "--seed-app", "d-e2e/space2/CodeEditor/default"]  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, str(script), "--host", "127.0.0.1", "--port", "0", *seeds],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True).start()
    try:
        endpoint = None
        seen: list[str] = []
        deadline = time.monotonic() + 30
        while endpoint is None and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                assert process.poll() is None, "".join(seen)
                continue
            seen.append(line)
            if line.startswith("fake-sagemaker listening on "):
                endpoint = line.split(" on ", 1)[1].strip()
        assert endpoint is not None, "".join(seen)

        app = {"DomainId": "d-e2e", "AppType": "CodeEditor", "AppName": "default"}
        west = boto3.client("sagemaker", endpoint_url=endpoint, region_name="us-west-2")
        assert west.describe_app(SpaceName="space1", **app)["Status"] == "InService"
        east = boto3.client("sagemaker", endpoint_url=endpoint, region_name="us-east-1")
        east.delete_app(SpaceName="space2", **app)
        with urllib.request.urlopen(endpoint + "/_fake/apps", timeout=10) as response:
            apps = json.loads(response.read())
        assert sorted((a["Region"], a["SpaceName"], a["Status"]) for a in apps) == [
            ("us-east-1", "space2", "Deleting"),
            ("us-west-2", "space1", "InService"),
        ]

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


# --- the admin side: the Updating window, the built-in LCC -------------------------------------

DOMAIN = "d-fakeupdating"


def _lcc_arn(name: str) -> str:
    return f"arn:aws:sagemaker:{REGION}:123456789012:studio-lifecycle-config/{name}"


def test_an_update_leaves_its_resource_updating_and_refuses_another_meanwhile(
    fake: FakeSageMaker, sm: Any
) -> None:
    fake.update_seconds = 0.5
    try:
        fake.add_domain(DOMAIN, {"ExecutionRole": "arn:aws:iam::123456789012:role/r"})
        fake.add_user_profile(DOMAIN, "alice", {})
        settings = {
            "CodeEditorAppSettings": {"DefaultResourceSpec": {"InstanceType": "ml.t3.large"}}
        }
        sm.update_domain(DomainId=DOMAIN, DefaultUserSettings=settings)
        assert sm.describe_domain(DomainId=DOMAIN)["Status"] == "Updating"
        with pytest.raises(ClientError) as info:
            sm.update_domain(DomainId=DOMAIN, DefaultUserSettings=settings)
        code, message = error_of(info)
        assert code == "ResourceInUse" and "is already being updated" in message
        # Another resource is not held up by the domain's window.
        sm.update_user_profile(DomainId=DOMAIN, UserProfileName="alice", UserSettings=settings)
        listed = sm.list_user_profiles(DomainIdEquals=DOMAIN)["UserProfiles"]
        assert [p["Status"] for p in listed] == ["Updating"]
        deadline = time.monotonic() + 10
        while sm.describe_domain(DomainId=DOMAIN)["Status"] != "InService":
            assert time.monotonic() < deadline, "the domain stayed Updating"
            time.sleep(0.05)
        sm.update_domain(DomainId=DOMAIN, DefaultUserSettings=settings)
    finally:
        fake.update_seconds = 0


def test_a_built_in_lcc_must_exist_and_be_for_code_editor(fake: FakeSageMaker, sm: Any) -> None:
    fake.add_domain(DOMAIN, {})
    fake.add_lcc("lab-setup", "#!/bin/bash\ntrue\n", app_type="JupyterLab")
    ce_arn = fake.add_lcc("ce-setup", "#!/bin/bash\ntrue\n")

    def built_in(arn: str) -> dict[str, Any]:
        return {"CodeEditorAppSettings": {"BuiltInLifecycleConfigArn": arn}}

    with pytest.raises(ClientError) as info:
        sm.update_domain(DomainId=DOMAIN, DefaultUserSettings=built_in(_lcc_arn("missing")))
    assert error_of(info)[0] == "ResourceNotFound"
    with pytest.raises(ClientError) as info:
        sm.update_domain(DomainId=DOMAIN, DefaultUserSettings=built_in(_lcc_arn("lab-setup")))
    assert error_of(info)[0] == "ValidationException" and "not CodeEditor" in error_of(info)[1]
    sm.update_domain(DomainId=DOMAIN, DefaultUserSettings=built_in(ce_arn))
    assert fake.domain_settings(DOMAIN) == built_in(ce_arn)  # not listed: it need not be
    # Members of CodeEditorAppSettings left out are kept; "None" clears the built-in.
    spec = {"CodeEditorAppSettings": {"DefaultResourceSpec": {"InstanceType": "ml.t3.large"}}}
    sm.update_domain(DomainId=DOMAIN, DefaultUserSettings=spec)
    assert fake.domain_settings(DOMAIN)["CodeEditorAppSettings"] == {
        "BuiltInLifecycleConfigArn": ce_arn,
        "DefaultResourceSpec": {"InstanceType": "ml.t3.large"},
    }
    sm.update_domain(DomainId=DOMAIN, DefaultUserSettings=built_in("None"))
    assert fake.domain_settings(DOMAIN) == spec
    # A referenced LCC is not deleted.
    sm.update_domain(DomainId=DOMAIN, DefaultUserSettings=built_in(ce_arn))
    with pytest.raises(ClientError) as info:
        sm.delete_studio_lifecycle_config(StudioLifecycleConfigName="ce-setup")
    assert error_of(info)[0] == "ResourceInUse"
