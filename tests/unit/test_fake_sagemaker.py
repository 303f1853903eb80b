"""Tests of the fake SageMaker Studio endpoint itself, with real boto3 clients over HTTP."""

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
from collections.abc import Callable, Iterator
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
APP = {"AppType": "CodeEditor", "AppName": "default"}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSageMaker]:
    """One fake for the whole module; each test resets it."""
    with FakeSageMaker() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeSageMaker, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSageMaker]:
    """The fake, reset, with dummy credentials and a short Deleting phase."""
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_SAGEMAKER",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    # botocore decides what to retry as usual; only its back-off sleep is cut to zero.
    monkeypatch.setattr(
        botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.0
    )
    server.reset()
    server.set_deleting_seconds(0.2)
    yield server
    server.set_deleting_seconds(fake_sagemaker.DEFAULT_DELETING_SECONDS)


@pytest.fixture
def make_client(fake: FakeSageMaker) -> Callable[..., Any]:
    """Build a SageMaker client aimed at the fake (standard retry mode)."""

    def make(total_max_attempts: int = 3) -> Any:
        config = Config(retries={"mode": "standard", "total_max_attempts": total_max_attempts})
        return boto3.client(
            "sagemaker", endpoint_url=fake.endpoint_url, region_name=REGION, config=config
        )

    return make


@pytest.fixture
def sm(make_client: Callable[..., Any]) -> Any:
    """A SageMaker client with botocore's standard retry mode (3 attempts)."""
    return make_client()


@pytest.fixture
def domain_id(sm: Any) -> str:
    """A domain created through moto's own CreateDomain."""
    sm.create_domain(
        DomainName="studio",
        AuthMode="IAM",
        DefaultUserSettings={"ExecutionRole": "arn:aws:iam::123456789012:role/r"},
        SubnetIds=["subnet-1"],
        VpcId="vpc-1",
    )
    return str(sm.list_domains()["Domains"][0]["DomainId"])


def error_code(info: pytest.ExceptionInfo[ClientError]) -> str:
    """The AWS error code of a ClientError."""
    return str(info.value.response["Error"]["Code"])


def wait_for_status(
    sm: Any, key: dict[str, str], status: str, timeout: float = 5.0
) -> dict[str, Any]:
    """Poll DescribeApp until the app reaches ``status`` (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        described: dict[str, Any] = sm.describe_app(**key)
        if described["Status"] == status or time.monotonic() > deadline:
            return described
        time.sleep(0.05)


def control(fake: FakeSageMaker, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """Call a raw control route; return (HTTP status, decoded JSON)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(fake.endpoint_url + path, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_space_app_lifecycle(fake: FakeSageMaker, sm: Any, domain_id: str) -> None:
    """CreateSpace/CreateApp, then DeleteApp through Deleting to Deleted."""
    space = sm.create_space(DomainId=domain_id, SpaceName="space1")
    assert space["SpaceArn"] == f"arn:aws:sagemaker:{REGION}:123456789012:space/{domain_id}/space1"
    described_space = sm.describe_space(DomainId=domain_id, SpaceName="space1")
    assert described_space["Status"] == "InService"
    assert described_space["SpaceName"] == "space1"

    key = {"DomainId": domain_id, "SpaceName": "space1", **APP}
    arn = sm.create_app(**key)["AppArn"]
    assert (
        arn == f"arn:aws:sagemaker:{REGION}:123456789012:app/{domain_id}/space1/codeeditor/default"
    )

    app = sm.describe_app(**key)
    assert app["Status"] == "InService"
    assert app["AppArn"] == arn
    assert (app["AppType"], app["AppName"], app["DomainId"], app["SpaceName"]) == (
        "CodeEditor",
        "default",
        domain_id,
        "space1",
    )
    for stamp in ("CreationTime", "LastUserActivityTimestamp", "LastHealthCheckTimestamp"):
        assert app[stamp].tzinfo is not None
    assert fake.app_status(domain_id, space_name="space1") == "InService"

    sm.delete_app(**key)
    assert sm.describe_app(**key)["Status"] == "Deleting"
    with pytest.raises(ClientError) as in_use:
        sm.delete_app(**key)
    assert error_code(in_use) == "ResourceInUse"
    assert "is being deleted (status Deleting)" in in_use.value.response["Error"]["Message"]

    assert wait_for_status(sm, key, "Deleted")["Status"] == "Deleted"
    assert fake.app_status(domain_id, space_name="space1") == "Deleted"
    with pytest.raises(ClientError) as gone:
        sm.delete_app(**key)
    assert error_code(gone) == "ResourceNotFound"
    assert "does not exist" in gone.value.response["Error"]["Message"]

    # A Deleted app may be created again.
    sm.create_app(**key)
    assert sm.describe_app(**key)["Status"] == "InService"


def test_user_profile_app_and_list_filters(sm: Any, domain_id: str) -> None:
    """Apps of user profiles and of spaces are told apart; ListApps filters."""
    profile = sm.create_user_profile(DomainId=domain_id, UserProfileName="alice")
    assert profile["UserProfileArn"].endswith(f":user-profile/{domain_id}/alice")
    sm.create_space(DomainId=domain_id, SpaceName="space1")
    user_arn = sm.create_app(DomainId=domain_id, UserProfileName="alice", **APP)["AppArn"]
    assert user_arn.endswith(f":app/{domain_id}/alice/codeeditor/default")
    sm.create_app(DomainId=domain_id, SpaceName="space1", **APP)
    sm.create_app(DomainId=domain_id, SpaceName="space1", AppType="JupyterLab", AppName="default")

    described = sm.describe_app(DomainId=domain_id, UserProfileName="alice", **APP)
    assert described["UserProfileName"] == "alice"
    assert "SpaceName" not in described

    assert len(sm.list_apps()["Apps"]) == 3
    assert len(sm.list_apps(DomainIdEquals=domain_id)["Apps"]) == 3
    assert sm.list_apps(DomainIdEquals="d-other")["Apps"] == []
    assert [a["AppType"] for a in sm.list_apps(UserProfileNameEquals="alice")["Apps"]] == [
        "CodeEditor"
    ]
    assert sorted(a["AppType"] for a in sm.list_apps(SpaceNameEquals="space1")["Apps"]) == [
        "CodeEditor",
        "JupyterLab",
    ]
    page = sm.list_apps(MaxResults=2)
    rest = sm.list_apps(MaxResults=2, NextToken=page["NextToken"])
    assert len(page["Apps"]) == 2
    assert len(rest["Apps"]) == 1
    assert "NextToken" not in rest


def test_create_app_errors(sm: Any, domain_id: str) -> None:
    """CreateApp needs a known domain, and refuses an app that is not Deleted."""
    with pytest.raises(ClientError) as no_domain:
        sm.create_app(DomainId="d-missing", SpaceName="s", **APP)
    assert error_code(no_domain) == "ResourceNotFound"

    sm.create_app(DomainId=domain_id, SpaceName="s", **APP)
    with pytest.raises(ClientError) as exists:
        sm.create_app(DomainId=domain_id, SpaceName="s", **APP)
    assert error_code(exists) == "ResourceInUse"

    sm.delete_app(DomainId=domain_id, SpaceName="s", **APP)
    with pytest.raises(ClientError) as deleting:
        sm.create_app(DomainId=domain_id, SpaceName="s", **APP)
    assert error_code(deleting) == "ResourceInUse"


def test_space_and_profile_errors(sm: Any, domain_id: str) -> None:
    """CreateSpace/CreateUserProfile need the domain; duplicates and unknowns are refused."""
    with pytest.raises(ClientError) as no_domain:
        sm.create_space(DomainId="d-missing", SpaceName="s")
    assert error_code(no_domain) == "ResourceNotFound"
    with pytest.raises(ClientError) as no_domain_profile:
        sm.create_user_profile(DomainId="d-missing", UserProfileName="u")
    assert error_code(no_domain_profile) == "ResourceNotFound"
    sm.create_space(DomainId=domain_id, SpaceName="s")
    with pytest.raises(ClientError) as dup:
        sm.create_space(DomainId=domain_id, SpaceName="s")
    assert error_code(dup) == "ResourceInUse"
    with pytest.raises(ClientError) as unknown:
        sm.describe_space(DomainId=domain_id, SpaceName="nope")
    assert error_code(unknown) == "ResourceNotFound"


@pytest.mark.parametrize("operation", ["create_app", "describe_app", "delete_app"])
@pytest.mark.parametrize(
    "owner", [{}, {"SpaceName": "s", "UserProfileName": "u"}], ids=["neither", "both"]
)
def test_exactly_one_owner(sm: Any, domain_id: str, operation: str, owner: dict[str, str]) -> None:
    """SpaceName and UserProfileName: exactly one, else ValidationException."""
    with pytest.raises(ClientError) as info:
        getattr(sm, operation)(DomainId=domain_id, **owner, **APP)
    assert error_code(info) == "ValidationException"


def test_unknown_app(sm: Any, domain_id: str) -> None:
    """DescribeApp and DeleteApp of an app never created: ResourceNotFound."""
    for call in (sm.describe_app, sm.delete_app):
        with pytest.raises(ClientError) as info:
            call(DomainId=domain_id, SpaceName="nobody", **APP)
        assert error_code(info) == "ResourceNotFound"


def test_seeded_app_needs_no_domain(fake: FakeSageMaker, sm: Any) -> None:
    """add_app seeds an InService app under ids that moto never saw."""
    arn = fake.add_app("d-fixed123", space_name="e2e-space")
    assert (
        arn
        == f"arn:aws:sagemaker:{REGION}:123456789012:app/d-fixed123/e2e-space/codeeditor/default"
    )
    key = {"DomainId": "d-fixed123", "SpaceName": "e2e-space", **APP}
    assert sm.describe_app(**key)["Status"] == "InService"
    sm.delete_app(**key)
    assert fake.app_status("d-fixed123", space_name="e2e-space") == "Deleting"
    assert fake.app_status("d-fixed123", space_name="other") is None
    assert fake.app_status("d-fixed123", space_name="e2e-space", region="eu-west-1") is None

    west = fake.add_app("d-fixed123", user_profile_name="bob", region="eu-west-1")
    assert west.startswith("arn:aws:sagemaker:eu-west-1:123456789012:app/d-fixed123/bob/")
    assert fake.app_status("d-fixed123", user_profile_name="bob", region="eu-west-1") == "InService"


def test_throttling_twice_then_success(fake: FakeSageMaker, sm: Any) -> None:
    """Two injected ThrottlingExceptions are retried by botocore; the third call deletes."""
    fake.add_app("d-1", space_name="s")
    fake.inject("DeleteApp", "ThrottlingException", message="Rate exceeded", count=2)
    response = sm.delete_app(DomainId="d-1", SpaceName="s", **APP)
    assert response["ResponseMetadata"]["RetryAttempts"] == 2

    calls = fake.calls("DeleteApp")
    assert [c["status"] for c in calls] == [400, 400, 200]
    assert [c["fault"] for c in calls] == ["ThrottlingException", "ThrottlingException", None]
    assert calls[0]["params"] == {"DomainId": "d-1", "SpaceName": "s", **APP}
    assert calls[0]["region"] == REGION
    assert fake.app_status("d-1", space_name="s") == "Deleting"


def test_access_denied_is_not_retried(fake: FakeSageMaker, sm: Any) -> None:
    """An injected AccessDeniedException surfaces as such, after one attempt."""
    fake.add_app("d-1", space_name="s")
    fake.inject("DeleteApp", "AccessDeniedException", message="not authorized to DeleteApp")
    with pytest.raises(ClientError) as info:
        sm.delete_app(DomainId="d-1", SpaceName="s", **APP)
    assert error_code(info) == "AccessDeniedException"
    assert info.value.response["Error"]["Message"] == "not authorized to DeleteApp"
    assert len(fake.calls("DeleteApp")) == 1
    assert fake.app_status("d-1", space_name="s") == "InService"


def test_bare_503(fake: FakeSageMaker, make_client: Callable[..., Any]) -> None:
    """A bare 503 is retried; one that never ends surfaces with HTTP status 503."""
    fake.add_app("d-1", space_name="s")
    key = {"DomainId": "d-1", "SpaceName": "s", **APP}
    fake.inject("DescribeApp", "", status=503, count=1)
    assert make_client().describe_app(**key)["Status"] == "InService"
    assert [c["status"] for c in fake.calls("DescribeApp")] == [503, 200]

    fake.clear_calls()
    fake.inject("DescribeApp", "", status=503, count=-1)
    with pytest.raises(ClientError) as info:
        make_client(total_max_attempts=2).describe_app(**key)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert [c["status"] for c in fake.calls("DescribeApp")] == [503, 503]
    assert control(fake, "GET", "/_fake/faults")[1][0]["count"] == -1

    fake.clear_faults()
    assert make_client().describe_app(**key)["Status"] == "InService"


def test_fault_matches_only_its_operation(fake: FakeSageMaker, sm: Any) -> None:
    """A fault for DeleteApp leaves DescribeApp alone; '*' matches any call."""
    fake.add_app("d-1", space_name="s")
    fake.inject("DeleteApp", "AccessDeniedException")
    assert sm.describe_app(DomainId="d-1", SpaceName="s", **APP)["Status"] == "InService"
    fake.clear_faults()
    fake.inject("*", "InternalFailure", status=500, count=-1)
    with pytest.raises(ClientError) as info:
        sm.list_apps()
    assert error_code(info) == "InternalFailure"
    assert len(fake.calls("ListApps")) == 3


def test_reset_clears_apps_faults_and_calls(fake: FakeSageMaker, sm: Any, domain_id: str) -> None:
    """reset() clears moto (domains, apps), the faults and the call log."""
    fake.add_app("d-1", space_name="s")
    fake.inject("DeleteApp", "ThrottlingException", count=-1)
    assert fake.calls()
    fake.reset()
    assert fake.calls() == []
    assert fake.apps() == []
    assert fake.app_status("d-1", space_name="s") is None
    assert sm.list_domains()["Domains"] == []
    assert control(fake, "GET", "/_fake/faults") == (200, [])


def test_moto_api_reset_clears_apps(fake: FakeSageMaker) -> None:
    """moto's own POST /moto-api/reset drops the app state too (it lives on the backend)."""
    fake.add_app("d-1", space_name="s")
    request = urllib.request.Request(fake.endpoint_url + "/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    assert fake.app_status("d-1", space_name="s") is None


def test_control_routes(fake: FakeSageMaker) -> None:
    """The raw HTTP control routes, including their refusals."""
    status, seeded = control(
        fake,
        "POST",
        "/_fake/apps",
        {"DomainId": "d-x", "SpaceName": "s", "AppType": "CodeEditor", "AppName": "default"},
    )
    assert status == 200
    assert seeded["AppArn"].endswith(":app/d-x/s/codeeditor/default")
    status, apps = control(fake, "GET", "/_fake/apps")
    assert status == 200
    assert [(a["DomainId"], a["Status"], a["Region"]) for a in apps] == [
        ("d-x", "InService", REGION)
    ]
    assert control(fake, "POST", "/_fake/apps", {"DomainId": "d-x"})[0] == 400
    unknown_region = {"DomainId": "d-x", "SpaceName": "s", "Region": "nowhere-1"}
    assert control(fake, "POST", "/_fake/apps", unknown_region)[0] == 400

    assert control(fake, "POST", "/_fake/settings", {"deleting_seconds": 0.3}) == (
        200,
        {"deleting_seconds": 0.3},
    )
    assert control(fake, "POST", "/_fake/settings", {"deleting_seconds": -1})[0] == 400
    assert control(fake, "POST", "/_fake/faults", {"operation": "DeleteApp"})[0] == 400
    assert (
        control(fake, "POST", "/_fake/faults", {"operation": "X", "code": "Y", "count": 0})[0]
        == 400
    )
    assert control(fake, "POST", "/_fake/faults", [1])[0] == 400
    assert control(fake, "GET", "/_fake/nothing")[0] == 404
    assert control(fake, "DELETE", "/_fake/calls") == (200, {"ok": True})


def test_guard_refuses_when_moto_implements_an_operation(monkeypatch: pytest.MonkeyPatch) -> None:
    """If moto ships DeleteApp itself, installing the fake fails loudly."""

    def delete_app(self: SageMakerResponse) -> None:
        raise NotImplementedError

    monkeypatch.setattr(SageMakerResponse, "delete_app", delete_app)
    with pytest.raises(RuntimeError, match="moto now implements SageMaker DeleteApp"):
        fake_sagemaker.install()


def test_install_is_idempotent() -> None:
    """Installing twice (e.g. the module imported under two names) is fine."""
    fake_sagemaker.install()
    assert vars(SageMakerResponse)["delete_app"]._fake_sagemaker_studio


def _read_lines(stream: Any, lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


def test_cli_runs_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The module copied alone runs as a server, seeds apps, answers, and stops on SIGTERM."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    script = tmp_path / "fake_sagemaker.py"
    shutil.copy(fake_sagemaker.__file__, script)
    process = subprocess.Popen(
        [
            sys.executable,
            str(script),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--quiet",
            "--seed-app",
            "d-e2e/space1/CodeEditor/default@us-west-2",
            "--seed-app",
            "d-e2e/space2/CodeEditor/default",
        ],
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
        assert endpoint.startswith("http://127.0.0.1:")

        west = boto3.client("sagemaker", endpoint_url=endpoint, region_name="us-west-2")
        app = west.describe_app(DomainId="d-e2e", SpaceName="space1", **APP)
        assert app["Status"] == "InService"
        assert app["AppArn"].startswith("arn:aws:sagemaker:us-west-2:")
        east = boto3.client("sagemaker", endpoint_url=endpoint, region_name="us-east-1")
        east.delete_app(DomainId="d-e2e", SpaceName="space2", **APP)
        with urllib.request.urlopen(endpoint + "/_fake/calls", timeout=10) as response:
            calls = json.loads(response.read())
        assert [c["operation"] for c in calls] == ["DescribeApp", "DeleteApp"]

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
