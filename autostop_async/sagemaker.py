"""The app this daemon runs in (from the metadata file) and ``DeleteApp`` through aioboto3.

aioboto3 is imported only when an app is actually deleted: botocore's models are large, and the
daemon should not carry them in memory for the hours it spends watching.
"""

from __future__ import annotations

import enum
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import DeleteAppError, MetadataError
from .safe_read import read_file

__all__ = [
    "AppRef",
    "DeleteOutcome",
    "SageMakerClient",
    "parse_app_ref",
    "read_app_ref",
]

log = logging.getLogger("autostop_async")

#: Total attempts per call, first one included (botocore ``standard`` retry mode).
TOTAL_MAX_ATTEMPTS = 5
#: App statuses that mean nobody has to delete the app any more.
GONE_STATUSES = frozenset({"Deleting", "Deleted"})
#: The largest metadata file read (it holds about a kilobyte).
MAX_METADATA_BYTES = 1 << 20


class DeleteOutcome(enum.Enum):
    """What a successful ``delete_app`` call achieved."""

    DELETED = "deleted"
    ALREADY_GONE = "already-gone"


@dataclass(frozen=True)
class AppRef:
    """Which app to delete: exactly one of ``space_name`` and ``user_profile_name`` is set."""

    domain_id: str
    app_type: str
    app_name: str
    space_name: str | None = None
    user_profile_name: str | None = None
    region: str | None = None
    arn: str | None = None

    def api_params(self) -> dict[str, str]:
        """The identifying parameters of ``DeleteApp`` / ``DescribeApp``."""
        params = {"DomainId": self.domain_id, "AppType": self.app_type, "AppName": self.app_name}
        if self.space_name:
            params["SpaceName"] = self.space_name
        else:
            params["UserProfileName"] = self.user_profile_name or ""
        return params

    def __str__(self) -> str:
        return self.arn if self.arn else self.describe(with_arn=False)

    def describe(self, *, with_arn: bool = True) -> str:
        """For people: ``CodeEditor app default of space my-space in domain d-abc (arn…)``."""
        owner = f"space {self.space_name}" if self.space_name else f"user {self.user_profile_name}"
        named = f"{self.app_type} app {self.app_name} of {owner} in domain {self.domain_id}"
        return f"{named} ({self.arn})" if with_arn and self.arn else named


def _region_from_arn(arn: str) -> str | None:
    parts = arn.split(":")
    if len(parts) >= 6 and parts[0] == "arn" and parts[2] == "sagemaker" and parts[3]:
        return parts[3]
    return None


def parse_app_ref(text: str, path: Path) -> AppRef:
    """Read the app reference out of the metadata file's text; ``path`` is for messages."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MetadataError(
            f"metadata file {path} is not JSON: line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:  # lists or objects nested thousands deep: nobody's metadata
        raise MetadataError(
            f"metadata file {path} is nested too deeply to be app metadata"
        ) from None
    if not isinstance(data, dict):
        raise MetadataError(f"metadata file {path} is not a JSON object")

    def text_key(key: str, *, required: bool) -> str | None:
        value = data.get(key)
        if value is None or value == "":
            if required:
                raise MetadataError(f"metadata file {path} has no {key}")
            return None
        if not isinstance(value, str):
            raise MetadataError(f"metadata file {path}: {key} is not a string")
        return value

    domain_id = text_key("DomainId", required=True)
    app_type = text_key("AppType", required=True)
    app_name = text_key("ResourceName", required=True)
    space = text_key("SpaceName", required=False)
    user = text_key("UserProfileName", required=False)
    if not space and not user:
        raise MetadataError(f"metadata file {path} has neither SpaceName nor UserProfileName")
    arn = text_key("ResourceArn", required=False)
    region = _region_from_arn(arn) if arn else None
    if arn and region is None:
        log.warning("metadata file %s: ResourceArn %r has no region; using the SDK's", path, arn)
    return AppRef(
        domain_id=str(domain_id),
        app_type=str(app_type),
        app_name=str(app_name),
        space_name=space,
        user_profile_name=None if space else user,
        region=region,
        arn=arn,
    )


async def read_app_ref(path: Path) -> AppRef:
    """Read and parse the metadata file; every problem becomes a MetadataError naming the file."""
    try:  # a FIFO, a device or a hung mount in its place is an error, never a hang
        text = (await read_file(path, MAX_METADATA_BYTES, follow=True)).data.decode("utf-8")
    except FileNotFoundError:
        raise MetadataError(
            f"metadata file {path} does not exist (is this a SageMaker Studio app? "
            "set --metadata-file, or use --dry-run)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MetadataError(f"metadata file {path} cannot be read: {exc}") from None
    return parse_app_ref(text, path)


class SageMakerClient:
    """Deletes one app, mapping the API's answers to outcomes a decision can use."""

    def __init__(self, *, region: str | None = None, endpoint_url: str | None = None) -> None:
        self.region = region
        self.endpoint_url = endpoint_url

    async def delete_app(self, app: AppRef) -> DeleteOutcome:
        """Call ``DeleteApp``; an app already deleted or being deleted counts as success."""
        import aioboto3
        from aiobotocore.config import AioConfig
        from botocore.exceptions import BotoCoreError, ClientError

        config = AioConfig(
            retries={"mode": "standard", "total_max_attempts": TOTAL_MAX_ATTEMPTS},
            connect_timeout=10,
            read_timeout=30,
            user_agent_extra="autostop-async",
        )
        session = aioboto3.Session()
        try:
            async with session.client(
                "sagemaker",
                region_name=self.region or app.region,
                endpoint_url=self.endpoint_url,
                config=config,
            ) as client:
                try:
                    await client.delete_app(**app.api_params())
                    return DeleteOutcome.DELETED
                except ClientError as exc:
                    return await self._classify(client, app, exc)
        except ClientError as exc:
            raise _client_error(app, exc) from None
        except BotoCoreError as exc:  # no credentials, no region, endpoint unreachable
            raise DeleteAppError(f"DeleteApp on {app} failed: {exc}") from None

    async def _classify(self, client: Any, app: AppRef, exc: Any) -> DeleteOutcome:
        """Decide what a DeleteApp error means, by its code and the app's status only (never
        the message's text): already gone, or a failure (raised, and retried by the daemon).

        ``ResourceNotFound`` is gone. ``ResourceInUse`` means busy or in transition: it is gone
        only if ``DescribeApp`` says ``Deleting`` or ``Deleted`` (or ``ResourceNotFound``);
        anything else, a failing ``DescribeApp`` (no permission) included, is a failure to retry.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        code = exc.response.get("Error", {}).get("Code")
        if code == "ResourceNotFound":
            log.info("app %s does not exist any more", app)
            return DeleteOutcome.ALREADY_GONE
        if code == "ResourceInUse":
            try:
                described = await client.describe_app(**app.api_params())
            except ClientError as describe_exc:
                describe_code = describe_exc.response.get("Error", {}).get("Code")
                if describe_code == "ResourceNotFound":
                    log.info("app %s does not exist any more", app)
                    return DeleteOutcome.ALREADY_GONE
                log.debug("DescribeApp after ResourceInUse failed: %s", describe_code)
                raise _client_error(app, exc, status_unknown=str(describe_code)) from None
            except BotoCoreError as describe_exc:
                raise _client_error(app, exc, status_unknown=str(describe_exc)) from None
            status = described.get("Status")
            if status in GONE_STATUSES:
                log.info("app %s is already %s", app, str(status).lower())
                return DeleteOutcome.ALREADY_GONE
            raise _client_error(app, exc, status=str(status))
        raise _client_error(app, exc)


def _client_error(
    app: AppRef, exc: Any, *, status: str | None = None, status_unknown: str | None = None
) -> DeleteAppError:
    """The failure of a DeleteApp call, for the log; ``status`` is what DescribeApp said after
    ``ResourceInUse``, ``status_unknown`` why it could not say."""
    code = exc.response.get("Error", {}).get("Code")
    message = exc.response.get("Error", {}).get("Message", "") or str(exc)
    if status is not None:
        message += f" (the app is {status}: busy or in transition)"
    elif status_unknown is not None:
        message += f" (its status is unknown: DescribeApp failed: {status_unknown})"
    err = DeleteAppError(f"DeleteApp on {app} failed: {code}: {message}", code)
    if err.access_denied:
        target = app.arn or str(app)
        err = DeleteAppError(
            f"access denied: the execution role needs permission sagemaker:DeleteApp on "
            f"{target} ({message})",
            code,
        )
    return err
