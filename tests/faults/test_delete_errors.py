"""Class 5: DeleteApp errors are classified by code and the app's status, never by message text.

A ``DescribeApp`` status of ``Deleting`` or ``Deleted`` means gone; ``ResourceNotFound`` alone does
not (a wrong region says it too). ``ResourceInUse`` otherwise is busy or in transition: retried
with backoff. Without permission to call ``DescribeApp`` the status is unknown: DeleteApp is
retried, the app never believed gone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from autostop_async.errors import DeleteAppError
from autostop_async.sagemaker import DeleteOutcome, SageMakerClient
from tests.integration.conftest import (
    DOMAIN,
    REGION,
    SPACE,
    Daemon,
    age_tree,
    app_status,
    check_once,
    wait_for,
)
from tests.support.doubles import APP
from tests.support.fake_sagemaker import FakeSageMaker

pytestmark = pytest.mark.faults

#: What SageMaker says when a deletion is under way: text that must not decide anything.
DELETING_MESSAGE = "App is being deleted; it is in Deleting status"
MARGIN = 15.0


def client_error(code: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Op")


class Client:
    """A SageMaker client stub: DescribeApp answers ``status`` or raises ``error``."""

    def __init__(self, status: str | None = None, error: str | None = None) -> None:
        self.status, self.error = status, error

    async def describe_app(self, **params: Any) -> dict[str, Any]:
        if self.error is not None:
            raise client_error(self.error, "denied or not found")
        return {"Status": self.status}


@pytest.mark.parametrize(
    ("delete_code", "describe", "gone"),
    [
        ("ResourceNotFound", Client("InService"), False),
        ("ResourceNotFound", Client("Deleted"), True),
        ("ResourceNotFound", Client(error="ResourceNotFound"), False),
        ("ResourceInUse", Client("Deleting"), True),
        ("ResourceInUse", Client("Deleted"), True),
        ("ResourceInUse", Client(error="ResourceNotFound"), True),
        ("ResourceInUse", Client("InService"), False),
        ("ResourceInUse", Client("Pending"), False),
        ("ResourceInUse", Client("Failed"), False),
        ("ResourceInUse", Client(error="AccessDeniedException"), False),
        ("ResourceInUse", Client(error="ThrottlingException"), False),
        ("ThrottlingException", Client("Deleting"), False),
    ],
    ids=[
        "NotFound+InService",
        "NotFound+Deleted",
        "NotFound+describe-NotFound",
        "InUse+Deleting",
        "InUse+Deleted",
        "InUse+describe-NotFound",
        "InUse+InService",
        "InUse+Pending",
        "InUse+Failed",
        "InUse+describe-AccessDenied",
        "InUse+describe-Throttling",
        "Throttling+Deleting",
    ],
)
async def test_what_an_error_means_depends_on_code_and_status_only(
    delete_code: str, describe: Client, gone: bool
) -> None:
    exc = client_error(delete_code, DELETING_MESSAGE)  # the text always says "deleting"
    sm = SageMakerClient()
    if gone:
        assert await sm._classify(describe, APP, exc) is DeleteOutcome.ALREADY_GONE
    else:
        with pytest.raises(DeleteAppError) as raised:
            await sm._classify(describe, APP, exc)
        assert raised.value.code == delete_code


def test_once_without_describe_permission_never_believes_the_app_gone(
    fake: FakeSageMaker, metadata: Path, workspace: Path, tmp_path: Path
) -> None:
    fake.inject("DeleteApp", "ResourceInUse", message=DELETING_MESSAGE, count=-1)
    fake.inject("DescribeApp", "AccessDeniedException", message="not authorized", count=-1)
    age_tree(workspace, 1.0)
    done = check_once(workspace, metadata, tmp_path / "s", endpoint=fake.endpoint_url)
    assert done.returncode == 1, done.stderr
    out = json.loads(done.stdout)
    assert out["action"] == "none"
    assert "ResourceInUse" in out["error"] and "DescribeApp failed" in out["error"]
    assert app_status(fake) == "InService"


def test_the_daemon_retries_resource_in_use_until_the_app_is_deleted(
    start_daemon: Callable[..., Daemon], fake: FakeSageMaker
) -> None:
    fake.inject("DeleteApp", "ResourceInUse", message=DELETING_MESSAGE, count=-1)
    fake.inject("DescribeApp", "AccessDeniedException", message="not authorized", count=-1)
    daemon = start_daemon("--idle-time", "2", "--interval", "0.3")
    wait_for(lambda: len(fake.calls("DeleteApp")) >= 3, 2 + 3 * MARGIN, "three DeleteApp tries")
    assert daemon.proc.poll() is None, daemon.text()  # still deciding, not gone believing
    text = daemon.text()
    assert "already" not in text
    assert text.count("retrying in") >= 2
    fake.clear_faults()
    assert daemon.proc.wait(2 + 2 * MARGIN) == 0
    assert app_status(fake) in ("Deleting", "Deleted")
    assert "deleted app" in daemon.text()


def test_an_app_already_deleting_is_already_gone(
    fake: FakeSageMaker, metadata: Path, workspace: Path, tmp_path: Path
) -> None:
    """The status decides, whatever the text: seeded Deleting, DeleteApp says ResourceInUse."""
    fake.add_app(DOMAIN, space_name=SPACE, region=REGION, status="Deleting")
    age_tree(workspace, 1.0)
    done = check_once(workspace, metadata, tmp_path / "s", endpoint=fake.endpoint_url)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["action"] == "already-gone"
    assert [c["operation"] for c in fake.calls()][-2:] == ["DeleteApp", "DescribeApp"]
