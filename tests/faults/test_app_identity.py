"""The app's identity is checked, and the daemon ends only on a deletion it verified.

At start, ``DescribeApp``: an app that does not exist as the metadata names it (a wrong
``--region``, another domain) is one line and exit 2; a role not permitted DescribeApp gets a
warning. After ``DeleteApp``, DescribeApp must say ``Deleting`` or ``Deleted``: a
``ResourceNotFound`` from DeleteApp is not "already gone" while DescribeApp still finds the app,
and an accepted DeleteApp that cannot be verified is tried again later, the daemon watching on.
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
    REGION,
    Daemon,
    age_tree,
    app_status,
    check_once,
    wait_for,
)
from tests.support.doubles import APP
from tests.support.fake_sagemaker import FakeSageMaker

pytestmark = pytest.mark.faults

MARGIN = 15.0


def test_a_daemon_for_an_app_that_does_not_exist_as_named_exits_2(
    start_daemon: Callable[..., Daemon], fake: FakeSageMaker
) -> None:
    fake.reset()  # no app of that name in that region
    daemon = start_daemon("--idle-time", "1h")
    out, _ = daemon.proc.communicate(timeout=MARGIN)
    assert daemon.proc.returncode == 2, daemon.text()
    lines = out.decode().splitlines()
    assert len(lines) == 1, lines
    assert "does not exist" in lines[0] and f"region {REGION}" in lines[0], lines
    assert fake.calls("DeleteApp") == []


def test_once_for_an_app_that_does_not_exist_as_named_exits_2(
    fake: FakeSageMaker, metadata: Path, workspace: Path, tmp_path: Path
) -> None:
    fake.reset()
    age_tree(workspace, 1.0)
    done = check_once(workspace, metadata, tmp_path / "s", endpoint=fake.endpoint_url)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "does not exist" in done.stderr, done.stderr
    assert fake.calls("DeleteApp") == []


def test_without_describe_permission_a_deletion_is_never_believed_unverified(
    start_daemon: Callable[..., Daemon], fake: FakeSageMaker
) -> None:
    fake.inject("DescribeApp", "AccessDeniedException", message="not authorized", count=-1)
    daemon = start_daemon("--idle-time", "2", "--interval", "0.3")
    wait_for(lambda: "not permitted sagemaker:DescribeApp" in daemon.text(), MARGIN, "a warning")
    wait_for(lambda: len(fake.calls("DeleteApp")) >= 2, 2 + 3 * MARGIN, "DeleteApp tried again")
    assert app_status(fake) == "Deleting"  # the first one was accepted ...
    assert daemon.proc.poll() is None, daemon.text()  # ... but never verified: watching on
    assert "cannot be verified" in daemon.text()
    fake.clear_faults()  # DescribeApp allowed again: it says Deleting
    assert daemon.proc.wait(2 + 2 * MARGIN) == 0
    assert "is already deleting" in daemon.text()


def test_resource_not_found_is_not_gone_while_describe_app_finds_the_app(
    start_daemon: Callable[..., Daemon], fake: FakeSageMaker
) -> None:
    fake.inject("DeleteApp", "ResourceNotFound", message="App does not exist", count=2)
    daemon = start_daemon("--idle-time", "2", "--interval", "0.3")
    assert daemon.proc.wait(2 + 3 * MARGIN) == 0, daemon.text()
    assert len(fake.calls("DeleteApp")) == 3  # two refused, the third accepted and verified
    assert app_status(fake) == "Deleting"
    text = daemon.text()
    assert "already" not in text and text.count("retrying in") == 2, text
    assert "InService: not deleted" in text and "deleted app" in text, text


class Described:
    """A SageMaker client stub whose DescribeApp answers each of ``answers`` in turn (a status,
    or an error code raised), the last one repeated."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def describe_app(self, **params: Any) -> dict[str, Any]:
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if answer.endswith(("Exception", "NotFound")):
            raise ClientError({"Error": {"Code": answer, "Message": ""}}, "DescribeApp")
        return {"Status": answer}


@pytest.mark.parametrize(
    ("answers", "deleted"),
    [
        (["Deleting"], True),
        (["Deleted"], True),
        (["InService", "Deleting"], True),  # the status lagging the call by a moment
        (["ResourceNotFound"], True),  # DeleteApp accepted it, and it is gone already
        (["InService"], False),
        (["Failed"], False),
        (["AccessDeniedException"], False),
        (["ThrottlingException"], False),
    ],
    ids=lambda v: "+".join(v) if isinstance(v, list) else str(v),
)
async def test_an_accepted_delete_app_counts_only_once_describe_app_confirms(
    answers: list[str], deleted: bool
) -> None:
    client = Described(*answers)
    sm = SageMakerClient(verify_delay=0.0)
    if deleted:
        assert await sm._verify(client, APP) is DeleteOutcome.DELETED
    else:
        with pytest.raises(DeleteAppError, match="accepted, but"):
            await sm._verify(client, APP)


def test_once_json_says_deleted_for_a_verified_deletion(
    fake: FakeSageMaker, metadata: Path, workspace: Path, tmp_path: Path
) -> None:
    age_tree(workspace, 1.0)
    done = check_once(workspace, metadata, tmp_path / "s", endpoint=fake.endpoint_url)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["action"] == "deleted"
    operations = [c["operation"] for c in fake.calls()]
    assert operations == ["DescribeApp", "DeleteApp", "DescribeApp"], operations
