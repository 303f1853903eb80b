"""Reading the app's identity from the metadata file, and every way that file can be wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autostop_async.errors import MetadataError
from autostop_async.sagemaker import AppRef, read_app_ref

ARN = "arn:aws:sagemaker:eu-west-1:123456789012:app/d-abc123/my-space/codeeditor/default"
GOOD = {
    "AppType": "CodeEditor",
    "DomainId": "d-abc123",
    "SpaceName": "my-space",
    "UserProfileName": "",
    "ResourceName": "default",
    "ResourceArn": ARN,
    "ExecutionRoleArn": "arn:aws:iam::123456789012:role/x",
    "AppImageVersion": "latest",
}


def write(tmp_path: Path, content: object) -> Path:
    path = tmp_path / "resource-metadata.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


async def test_space_app_with_region_from_the_arn(tmp_path: Path) -> None:
    app = await read_app_ref(write(tmp_path, GOOD))
    assert app == AppRef(
        domain_id="d-abc123",
        app_type="CodeEditor",
        app_name="default",
        space_name="my-space",
        user_profile_name=None,
        region="eu-west-1",
        arn=ARN,
    )
    assert app.api_params() == {
        "DomainId": "d-abc123",
        "AppType": "CodeEditor",
        "AppName": "default",
        "SpaceName": "my-space",
    }
    assert str(app) == ARN


async def test_user_profile_app_without_arn(tmp_path: Path) -> None:
    meta = dict(GOOD, SpaceName="", UserProfileName="alice")
    del meta["ResourceArn"]
    app = await read_app_ref(write(tmp_path, meta))
    assert app.api_params()["UserProfileName"] == "alice"
    assert "SpaceName" not in app.api_params()
    assert app.region is None
    assert "user alice" in str(app)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"AppType": "CodeEditor",\n "DomainId": ', "is not JSON: line 2"),
        ("[1, 2]", "is not a JSON object"),
        ({k: v for k, v in GOOD.items() if k != "DomainId"}, "has no DomainId"),
        (dict(GOOD, ResourceName=""), "has no ResourceName"),
        (dict(GOOD, SpaceName="", UserProfileName=""), "neither SpaceName nor UserProfileName"),
        (dict(GOOD, AppType=7), "AppType is not a string"),
    ],
)
async def test_bad_metadata_names_the_file_and_the_problem(
    tmp_path: Path, content: object, message: str
) -> None:
    path = write(tmp_path, content)
    with pytest.raises(MetadataError, match=message) as err:
        await read_app_ref(path)
    assert str(path) in str(err.value)


async def test_missing_metadata_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match=r"does not exist.*--dry-run"):
        await read_app_ref(tmp_path / "absent.json")
