"""The app this daemon runs in (from the metadata file) and ``DeleteApp`` through aioboto3.

aioboto3 is imported only when an app is actually deleted: botocore's models are large, and the
daemon should not carry them in memory for the hours it spends watching. The check of the app at
start (``DescribeApp``) runs in a child process for the same reason: ``python -m
autostop_async.sagemaker`` reads the request as JSON on stdin and prints the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import AppNotFoundError, DeleteAppError, MetadataError
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
#: What ``_describe`` says of an app DescribeApp found before and no longer finds.
GONE_FROM_LIST = "no longer listed"
#: DescribeApp calls that confirm an accepted DeleteApp, and the seconds between them.
VERIFY_TRIES = 3
VERIFY_DELAY = 2.0
#: Seconds the check of the app at start may take (botocore's retries included).
CHECK_TIMEOUT = 120.0
#: The error codes of a call the execution role is not permitted.
ACCESS_DENIED = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"})
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
        log.warning("metadata file %s: ResourceArn has no region; using the SDK's", path)
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
    """Checks that the app exists (at start) and deletes it, mapping the API's answers to
    outcomes a decision can use. The daemon ends only on a deletion ``DescribeApp`` confirms."""

    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        verify_tries: int = VERIFY_TRIES,
        verify_delay: float = VERIFY_DELAY,
    ) -> None:
        """``verify_tries`` DescribeApp calls, ``verify_delay`` seconds apart, confirm a deletion
        that DeleteApp accepted (the status may lag the call by a moment)."""
        self.region = region
        self.endpoint_url = endpoint_url
        self.verify_tries = max(1, verify_tries)
        self.verify_delay = verify_delay
        #: Apps DescribeApp found under their name, in this region: one that is no longer
        #: found later has gone, whereas one never found may be a wrong name or region.
        self._seen: set[AppRef] = set()

    def _client(self, app: AppRef) -> Any:
        """An aioboto3 SageMaker client (an async context manager) for ``app``'s region."""
        import aioboto3
        from aiobotocore.config import AioConfig

        config = AioConfig(
            retries={"mode": "standard", "total_max_attempts": TOTAL_MAX_ATTEMPTS},
            connect_timeout=10,
            read_timeout=30,
            user_agent_extra="autostop-async",
        )
        return aioboto3.Session().client(
            "sagemaker",
            region_name=self.region or app.region,
            endpoint_url=self.endpoint_url,
            config=config,
        )

    def _where(self, app: AppRef) -> str:
        region = self.region or app.region
        return f"region {region}" if region else "the SDK's region"

    async def check_app(self, app: AppRef) -> None:
        """At start, ``DescribeApp``: an app that does not exist as named is an
        :class:`~.errors.AppNotFoundError` (exit 2); a DescribeApp that is not permitted or
        fails is a warning (the daemon goes on; a deletion then cannot be verified).

        It runs in a child process: aioboto3 and botocore's models (38 MiB measured) stay out of
        the daemon's memory for the hours it watches."""
        answer = await self._describe_in_child(app)
        status, code = answer.get("status"), answer.get("code")
        if isinstance(status, str):
            self._seen.add(app)
            log.info("app %s is %s", app, status)
        elif code == "ResourceNotFound":
            raise AppNotFoundError(
                f"app {app.describe()} does not exist in {self._where(app)} (DescribeApp: "
                "ResourceNotFound): check the metadata file and --region"
            )
        elif code in ACCESS_DENIED:
            log.warning(
                "cannot check that app %s exists: the execution role is not permitted "
                "sagemaker:DescribeApp; without it a deletion cannot be verified, and the "
                "daemon keeps watching after DeleteApp until the app stops",
                app,
            )
        else:
            log.warning(
                "cannot check that app %s exists: DescribeApp failed: %s",
                app,
                answer.get("error", "no answer"),
            )

    async def _describe_in_child(self, app: AppRef) -> dict[str, Any]:
        """``describe_once`` in ``python -m autostop_async.sagemaker``, within CHECK_TIMEOUT:
        ``{"status": …}`` or ``{"code": …, "error": …}``."""
        request = {
            "app": dataclasses.asdict(app),
            "region": self.region,
            "endpoint_url": self.endpoint_url,
        }
        try:
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                __name__,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
            )
        except OSError as exc:
            return {"error": f"cannot start {sys.executable}: {exc}"}
        try:
            out, _ = await asyncio.wait_for(
                child.communicate(json.dumps(request).encode()), CHECK_TIMEOUT
            )
        except asyncio.TimeoutError:
            return {"error": f"no answer within {CHECK_TIMEOUT:g} s"}
        finally:
            if child.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.kill()
                await child.wait()
        try:
            answer = json.loads(out.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            answer = None
        if not isinstance(answer, dict):
            return {"error": f"the check exited {child.returncode} without an answer"}
        return answer

    async def describe_once(self, app: AppRef) -> dict[str, Any]:
        """One ``DescribeApp`` of ``app``: ``{"status": …}``, or ``{"code": …, "error": …}``."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            async with self._client(app) as client:
                described = await client.describe_app(**app.api_params())
        except ClientError as exc:
            return {"code": _code(exc), "error": str(_code(exc))}
        except BotoCoreError as exc:  # no credentials, no region, endpoint unreachable
            return {"error": str(exc)}
        return {"status": _status(described)}

    async def delete_app(self, app: AppRef) -> DeleteOutcome:
        """Call ``DeleteApp`` and confirm with ``DescribeApp``: DELETED or ALREADY_GONE only when
        the app is ``Deleting`` or ``Deleted``, or no longer found though it was found before;
        anything else raises :class:`~.errors.DeleteAppError` (the daemon keeps watching, and
        tries again later)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            async with self._client(app) as client:
                try:
                    await client.delete_app(**app.api_params())
                except ClientError as exc:
                    return await self._classify(client, app, exc)
                return await self._verify(client, app)
        except ClientError as exc:
            raise _client_error(app, exc) from None
        except BotoCoreError as exc:  # no credentials, no region, endpoint unreachable
            raise DeleteAppError(f"DeleteApp on {app} failed: {exc}") from None

    async def _describe(self, client: Any, app: AppRef) -> str:
        """The app's status, or ``GONE_FROM_LIST`` when DescribeApp no longer finds an app it
        found before. Raises ClientError or BotoCoreError otherwise."""
        from botocore.exceptions import ClientError

        try:
            described = await client.describe_app(**app.api_params())
        except ClientError as exc:
            if _code(exc) == "ResourceNotFound" and app in self._seen:
                return GONE_FROM_LIST
            raise
        self._seen.add(app)
        return _status(described)

    async def _verify(self, client: Any, app: AppRef) -> DeleteOutcome:
        """DeleteApp accepted: DELETED once DescribeApp says ``Deleting`` or ``Deleted`` (asked
        up to ``verify_tries`` times); raises DeleteAppError when it does not."""
        from botocore.exceptions import BotoCoreError, ClientError

        self._seen.add(app)  # DeleteApp accepted it: it existed as named
        status = "unknown"
        for attempt in range(self.verify_tries):
            if attempt:
                await asyncio.sleep(self.verify_delay)
            try:
                status = await self._describe(client, app)
            except ClientError as exc:
                raise DeleteAppError(
                    f"DeleteApp on {app} was accepted, but the deletion cannot be verified: "
                    f"DescribeApp failed: {_code(exc)}",
                    _code(exc),
                ) from None
            except BotoCoreError as exc:
                raise DeleteAppError(
                    f"DeleteApp on {app} was accepted, but the deletion cannot be verified: "
                    f"DescribeApp failed: {exc}"
                ) from None
            if status in GONE_STATUSES or status == GONE_FROM_LIST:
                return DeleteOutcome.DELETED
        raise DeleteAppError(
            f"DeleteApp on {app} was accepted, but the app is still {status}", "NotDeleted"
        )

    async def _classify(self, client: Any, app: AppRef, exc: Any) -> DeleteOutcome:
        """Decide what a DeleteApp error means, by its code and the app's status only (never
        the message's text): already gone, or a failure (raised, and retried by the daemon).

        ``ResourceNotFound`` and ``ResourceInUse`` are gone only if ``DescribeApp`` says
        ``Deleting`` or ``Deleted``, or no longer finds an app it found before (a wrong
        ``--region`` or name is never "gone"); anything else, a failing ``DescribeApp`` (no
        permission) included, is a failure to retry.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        code = _code(exc)
        if code not in ("ResourceNotFound", "ResourceInUse"):
            raise _client_error(app, exc)
        if code == "ResourceInUse":
            self._seen.add(app)  # it exists as named: not found a moment later is gone
        try:
            status = await self._describe(client, app)
        except ClientError as describe_exc:
            describe_code = _code(describe_exc)
            log.debug("DescribeApp after %s failed: %s", code, describe_code)
            unknown = (
                f"DescribeApp does not find it in {self._where(app)} either, and never did: "
                "a wrong --region or name?"
                if describe_code == "ResourceNotFound"
                else f"DescribeApp failed: {describe_code}"
            )
            raise _client_error(app, exc, status_unknown=unknown) from None
        except BotoCoreError as describe_exc:
            raise _client_error(
                app, exc, status_unknown=f"DescribeApp failed: {describe_exc}"
            ) from None
        if status == GONE_FROM_LIST:
            log.info("app %s does not exist any more", app)
            return DeleteOutcome.ALREADY_GONE
        if status in GONE_STATUSES:
            log.info("app %s is already %s", app, status.lower())
            return DeleteOutcome.ALREADY_GONE
        raise _client_error(app, exc, status=status)


def _code(exc: Any) -> str | None:
    """The AWS error code of a ClientError."""
    code = exc.response.get("Error", {}).get("Code")
    return str(code) if code is not None else None


def _status(described: Any) -> str:
    """The ``Status`` of a DescribeApp answer (``unknown`` when it has none)."""
    status = described.get("Status") if isinstance(described, dict) else None
    return str(status) if status else "unknown"


def _client_error(
    app: AppRef, exc: Any, *, status: str | None = None, status_unknown: str | None = None
) -> DeleteAppError:
    """The failure of a DeleteApp call, for the log; ``status`` is what DescribeApp said after
    ``ResourceInUse``, ``status_unknown`` why it could not say."""
    code = exc.response.get("Error", {}).get("Code")
    message = exc.response.get("Error", {}).get("Message", "") or str(exc)
    if status is not None:
        message += (
            f" (the app is {status}: busy or in transition)"
            if code == "ResourceInUse"
            else f" (yet DescribeApp finds the app {status}: not deleted)"
        )
    elif status_unknown is not None:
        message += f" (its status is unknown: {status_unknown})"
    err = DeleteAppError(f"DeleteApp on {app} failed: {code}: {message}", code)
    if err.access_denied:
        target = app.arn or str(app)
        err = DeleteAppError(
            f"access denied: the execution role needs permission sagemaker:DeleteApp on "
            f"{target} ({message})",
            code,
        )
    return err


def _child_main() -> int:
    """``python -m autostop_async.sagemaker``: one DescribeApp, asked as JSON on stdin
    (``app``, ``region``, ``endpoint_url``); the answer of :meth:`SageMakerClient.describe_once`
    as JSON on stdout."""
    request = json.loads(sys.stdin.read())
    client = SageMakerClient(region=request["region"], endpoint_url=request["endpoint_url"])
    answer = asyncio.run(client.describe_once(AppRef(**request["app"])))
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(_child_main())
