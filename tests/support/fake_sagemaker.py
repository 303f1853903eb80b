"""A test-only fake SageMaker Studio endpoint: moto's real server plus the Studio app calls.

moto 5.2.5 implements ``CreateDomain``/``DescribeDomain`` but not the Studio space, user-profile
and app operations, and it has no fault injection. This module

* registers ``CreateSpace``, ``DescribeSpace``, ``CreateUserProfile``, ``DescribeUserProfile``,
  ``CreateApp``, ``DescribeApp``, ``ListApps`` and ``DeleteApp`` on moto's SageMaker response
  handler, keeping their state on moto's per-account, per-region SageMaker backend (so
  ``POST /moto-api/reset`` clears it), and fails loudly if moto ever ships any of them itself;
* wraps moto's WSGI app in a middleware that records every SageMaker call, can answer a queued
  operation with an AWS-shaped JSON error or a bare 5xx (so botocore's real retry logic runs over
  real HTTP), and serves a small control API under ``/_fake/``;
* offers :class:`FakeSageMaker` for pytest, and a command line for containers::

      python fake_sagemaker.py --host 127.0.0.1 --port 5000 \\
          [--seed-app DOMAIN_ID/SPACE_NAME/APP_TYPE/APP_NAME[@REGION]]...

It imports only the standard library, moto and what moto[server] brings (werkzeug), because it is
also copied alone into a container image.

Control routes (JSON in, JSON out):

========================  ==================================================================
``POST /_fake/faults``    queue ``{"operation", "code", "status"=400, "message"="", "count"=1}``;
                          ``count`` -1 means forever, ``operation`` ``"*"`` matches any call,
                          an empty ``code`` with a 5xx ``status`` gives a bare (non-JSON) 5xx
``GET /_fake/faults``     the faults still queued
``DELETE /_fake/faults``  clear them
``GET /_fake/calls``      ``[{"operation", "time", "status", "params", "region", "fault"}]``
``DELETE /_fake/calls``   clear them
``POST /_fake/apps``      seed ``{"DomainId", "SpaceName" | "UserProfileName", "AppType",
                          "AppName", "Region", "AccountId"?, "Status"?}`` (no domain needed)
``GET /_fake/apps``       every app of every account and region, with its status
``POST /_fake/settings``  ``{"deleting_seconds": 0.2}``; ``GET`` shows the settings
``POST /_fake/reset``     moto reset, faults and calls cleared (settings are kept)
========================  ==================================================================
"""

from __future__ import annotations

import argparse
import datetime as dt
import http
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import FrameType, TracebackType
from typing import Any

from moto.core.base_backend import backend_lock
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.core.responses import ActionResult, EmptyResult
from moto.core.utils import camelcase_to_underscores
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.sagemaker.exceptions import ResourceInUseException, ResourceNotFound, ValidationError
from moto.sagemaker.models import SageMakerModelBackend, sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse
from moto.utilities.utils import get_partition
from werkzeug.serving import make_server

__all__ = [
    "APP_STATUSES",
    "DEFAULT_DELETING_SECONDS",
    "STUDIO_OPERATIONS",
    "FakeSageMaker",
    "FaultInjectingApp",
    "install",
    "main",
    "seed_app",
]

#: The operations this module adds to moto's SageMaker handler.
STUDIO_OPERATIONS: tuple[str, ...] = (
    "CreateSpace",
    "DescribeSpace",
    "CreateUserProfile",
    "DescribeUserProfile",
    "CreateApp",
    "DescribeApp",
    "ListApps",
    "DeleteApp",
)
APP_STATUSES: tuple[str, ...] = ("Pending", "InService", "Deleting", "Deleted", "Failed")
DEFAULT_DELETING_SECONDS = 0.5

_MARK = "_fake_sagemaker_studio"  # set on every function this module installs
_STATE_ATTR = "_fake_sagemaker_studio_state"  # the per-backend state attribute
_LOCK = threading.RLock()  # guards all Studio state and the settings
_JSON_CONTENT_TYPE = "application/x-amz-json-1.1"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


# --------------------------------------------------------------------------------------------
# Settings and state
# --------------------------------------------------------------------------------------------


@dataclass
class _Settings:
    deleting_seconds: float = DEFAULT_DELETING_SECONDS

    def as_dict(self) -> dict[str, Any]:
        return {"deleting_seconds": self.deleting_seconds}


_SETTINGS = _Settings()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass
class _App:
    account_id: str
    region: str
    domain_id: str
    owner_kind: str  # "SpaceName" or "UserProfileName"
    owner_name: str
    app_type: str
    app_name: str
    status: str = "InService"
    resource_spec: dict[str, Any] = field(default_factory=dict)
    creation_time: dt.datetime = field(default_factory=_now)
    last_user_activity: dt.datetime = field(default_factory=_now)
    last_health_check: dt.datetime = field(default_factory=_now)
    deleted_after: float | None = None  # time.monotonic() when Deleting becomes Deleted

    @property
    def arn(self) -> str:
        return _app_arn(
            self.account_id,
            self.region,
            self.domain_id,
            self.owner_name,
            self.app_type,
            self.app_name,
        )

    def refresh(self) -> None:
        """Apply the time-driven transition Deleting -> Deleted."""
        if (
            self.status == "Deleting"
            and self.deleted_after is not None
            and time.monotonic() >= self.deleted_after
        ):
            self.status = "Deleted"
            self.deleted_after = None

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "DomainId": self.domain_id,
            self.owner_kind: self.owner_name,
            "AppType": self.app_type,
            "AppName": self.app_name,
            "Status": self.status,
            "CreationTime": self.creation_time,
        }
        if self.resource_spec:
            out["ResourceSpec"] = self.resource_spec
        return out

    def describe(self) -> dict[str, Any]:
        out = self.summary()
        out.update(
            {
                "AppArn": self.arn,
                "LastUserActivityTimestamp": self.last_user_activity,
                "LastHealthCheckTimestamp": self.last_health_check,
            }
        )
        return out

    def as_json(self) -> dict[str, Any]:
        out = self.describe()
        out.update({"Region": self.region, "AccountId": self.account_id})
        return {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in out.items()}


@dataclass
class _Owner:
    """A space or a user profile: only what Describe* needs."""

    kind: str  # "space" or "user-profile"
    account_id: str
    region: str
    domain_id: str
    name: str
    settings: dict[str, Any]
    creation_time: dt.datetime = field(default_factory=_now)

    @property
    def arn(self) -> str:
        partition = get_partition(self.region)
        return (
            f"arn:{partition}:sagemaker:{self.region}:{self.account_id}:"
            f"{self.kind}/{self.domain_id}/{self.name}"
        )


_AppKey = tuple[str, str, str, str, str]  # domain, owner kind, owner name, app type, app name


@dataclass
class _StudioState:
    apps: dict[_AppKey, _App] = field(default_factory=dict)
    spaces: dict[tuple[str, str], _Owner] = field(default_factory=dict)
    user_profiles: dict[tuple[str, str], _Owner] = field(default_factory=dict)


def _studio_state(backend: SageMakerModelBackend) -> _StudioState:
    """The Studio state kept on one moto backend; moto's reset drops it with the backend."""
    with _LOCK:
        state = backend.__dict__.get(_STATE_ATTR)
        if state is None:
            state = _StudioState()
            setattr(backend, _STATE_ATTR, state)
        return state


def _iter_backends() -> Iterator[SageMakerModelBackend]:
    with backend_lock:
        backends = [backend for _, _, backend in sagemaker_backends.iter_backends()]
    yield from backends  # type: ignore[misc]


def _app_arn(
    account_id: str, region: str, domain_id: str, owner: str, app_type: str, app_name: str
) -> str:
    partition = get_partition(region)
    return (
        f"arn:{partition}:sagemaker:{region}:{account_id}:"
        f"app/{domain_id}/{owner}/{app_type.lower()}/{app_name}"
    )


def _default_account_id() -> str:
    return os.environ.get("MOTO_ACCOUNT_ID", DEFAULT_ACCOUNT_ID)


def seed_app(
    domain_id: str,
    *,
    space_name: str | None = None,
    user_profile_name: str | None = None,
    app_type: str = "CodeEditor",
    app_name: str = "default",
    region: str = "us-east-1",
    account_id: str | None = None,
    status: str = "InService",
) -> str:
    """Put an app straight into moto's backend (no domain needed) and return its ARN.

    An app already there under the same key is replaced.
    """
    owner_kind, owner_name = _owner(space_name, user_profile_name)
    if status not in APP_STATUSES:
        raise ValidationError(f"Status must be one of {', '.join(APP_STATUSES)}, not {status!r}")
    for label, value in (("DomainId", domain_id), ("AppType", app_type), ("AppName", app_name)):
        if not value:
            raise ValidationError(f"{label} must not be empty")
    account = account_id or _default_account_id()
    backend = sagemaker_backends[account][region]
    app = _App(
        account_id=account,
        region=region,
        domain_id=domain_id,
        owner_kind=owner_kind,
        owner_name=owner_name,
        app_type=app_type,
        app_name=app_name,
        status=status,
        resource_spec={"InstanceType": "ml.t3.medium"},
    )
    if status == "Deleting":
        app.deleted_after = time.monotonic() + _SETTINGS.deleting_seconds
    with _LOCK:
        _studio_state(backend).apps[
            _app_key(domain_id, owner_kind, owner_name, app_type, app_name)
        ] = app
    return app.arn


def _all_apps() -> list[_App]:
    apps: list[_App] = []
    with _LOCK:
        for backend in _iter_backends():
            for app in _studio_state(backend).apps.values():
                app.refresh()
                apps.append(app)
    return apps


# --------------------------------------------------------------------------------------------
# The operations, installed as methods of moto's SageMakerResponse
# --------------------------------------------------------------------------------------------


def _owner(space_name: str | None, user_profile_name: str | None) -> tuple[str, str]:
    if bool(space_name) == bool(user_profile_name):
        raise ValidationError("Exactly one of SpaceName or UserProfileName must be specified.")
    if space_name:
        return "SpaceName", space_name
    return "UserProfileName", str(user_profile_name)


def _app_key(domain_id: str, kind: str, name: str, app_type: str, app_name: str) -> _AppKey:
    return (domain_id, kind, name, app_type, app_name)


def _require_domain(backend: SageMakerModelBackend, domain_id: str) -> None:
    if not domain_id or domain_id not in backend.domains:
        raise ResourceNotFound(f"Domain {domain_id} does not exist.")


def _require(handler: SageMakerResponse, *names: str) -> list[str]:
    values = []
    for name in names:
        value = handler._get_param(name)
        if not value:
            raise ValidationError(f"1 validation error detected: {name} must not be empty.")
        values.append(str(value))
    return values


def _find_app(handler: SageMakerResponse) -> tuple[_StudioState, _AppKey, _App | None, str]:
    domain_id, app_type, app_name = _require(handler, "DomainId", "AppType", "AppName")
    kind, name = _owner(handler._get_param("SpaceName"), handler._get_param("UserProfileName"))
    state = _studio_state(handler.sagemaker_backend)
    key = _app_key(domain_id, kind, name, app_type, app_name)
    app = state.apps.get(key)
    if app is not None:
        app.refresh()
    arn = _app_arn(handler.current_account, handler.region, domain_id, name, app_type, app_name)
    return state, key, app, arn


def _create_space(self: SageMakerResponse) -> ActionResult:
    domain_id, space_name = _require(self, "DomainId", "SpaceName")
    with _LOCK:
        _require_domain(self.sagemaker_backend, domain_id)
        state = _studio_state(self.sagemaker_backend)
        if (domain_id, space_name) in state.spaces:
            raise ResourceInUseException(f"Space {space_name} already exists in {domain_id}.")
        settings = {
            key: self._get_param(key)
            for key in (
                "SpaceSettings",
                "OwnershipSettings",
                "SpaceSharingSettings",
                "SpaceDisplayName",
            )
            if self._get_param(key) is not None
        }
        space = _Owner("space", self.current_account, self.region, domain_id, space_name, settings)
        state.spaces[(domain_id, space_name)] = space
    return ActionResult({"SpaceArn": space.arn})


def _describe_space(self: SageMakerResponse) -> ActionResult:
    domain_id, space_name = _require(self, "DomainId", "SpaceName")
    with _LOCK:
        space = _studio_state(self.sagemaker_backend).spaces.get((domain_id, space_name))
        if space is None:
            raise ResourceNotFound(f"Space {space_name} does not exist in {domain_id}.")
        out: dict[str, Any] = {
            "DomainId": domain_id,
            "SpaceArn": space.arn,
            "SpaceName": space_name,
            "Status": "InService",
            "CreationTime": space.creation_time,
            "LastModifiedTime": space.creation_time,
            **space.settings,
        }
    return ActionResult(out)


def _create_user_profile(self: SageMakerResponse) -> ActionResult:
    domain_id, profile_name = _require(self, "DomainId", "UserProfileName")
    with _LOCK:
        _require_domain(self.sagemaker_backend, domain_id)
        state = _studio_state(self.sagemaker_backend)
        if (domain_id, profile_name) in state.user_profiles:
            raise ResourceInUseException(
                f"User profile {profile_name} already exists in {domain_id}."
            )
        settings = {}
        if self._get_param("UserSettings") is not None:
            settings["UserSettings"] = self._get_param("UserSettings")
        profile = _Owner(
            "user-profile", self.current_account, self.region, domain_id, profile_name, settings
        )
        state.user_profiles[(domain_id, profile_name)] = profile
    return ActionResult({"UserProfileArn": profile.arn})


def _describe_user_profile(self: SageMakerResponse) -> ActionResult:
    domain_id, profile_name = _require(self, "DomainId", "UserProfileName")
    with _LOCK:
        state = _studio_state(self.sagemaker_backend)
        profile = state.user_profiles.get((domain_id, profile_name))
        if profile is None:
            raise ResourceNotFound(f"User profile {profile_name} does not exist in {domain_id}.")
        out: dict[str, Any] = {
            "DomainId": domain_id,
            "UserProfileArn": profile.arn,
            "UserProfileName": profile_name,
            "Status": "InService",
            "CreationTime": profile.creation_time,
            "LastModifiedTime": profile.creation_time,
            **profile.settings,
        }
    return ActionResult(out)


def _create_app(self: SageMakerResponse) -> ActionResult:
    with _LOCK:
        state, key, existing, arn = _find_app(self)
        _require_domain(self.sagemaker_backend, key[0])
        if existing is not None and existing.status != "Deleted":
            raise ResourceInUseException(f"App {arn} already exists (status {existing.status}).")
        app = _App(
            account_id=self.current_account,
            region=self.region,
            domain_id=key[0],
            owner_kind=key[1],
            owner_name=key[2],
            app_type=key[3],
            app_name=key[4],
            resource_spec=self._get_param("ResourceSpec") or {"InstanceType": "ml.t3.medium"},
        )
        state.apps[key] = app
    return ActionResult({"AppArn": app.arn})


def _describe_app(self: SageMakerResponse) -> ActionResult:
    with _LOCK:
        _, _, app, arn = _find_app(self)
        if app is None:
            raise ResourceNotFound(f"App {arn} does not exist.")
        if app.status == "InService":
            app.last_health_check = _now()
        out = app.describe()
    return ActionResult(out)


def _list_apps(self: SageMakerResponse) -> ActionResult:
    filters = {
        "DomainId": self._get_param("DomainIdEquals"),
        "SpaceName": self._get_param("SpaceNameEquals"),
        "UserProfileName": self._get_param("UserProfileNameEquals"),
    }
    with _LOCK:
        apps = []
        for app in _studio_state(self.sagemaker_backend).apps.values():
            app.refresh()
            if filters["DomainId"] and app.domain_id != filters["DomainId"]:
                continue
            if filters["SpaceName"] and (app.owner_kind, app.owner_name) != (
                "SpaceName",
                filters["SpaceName"],
            ):
                continue
            if filters["UserProfileName"] and (app.owner_kind, app.owner_name) != (
                "UserProfileName",
                filters["UserProfileName"],
            ):
                continue
            apps.append(app)
        descending = (self._get_param("SortOrder") or "Descending") == "Descending"
        apps.sort(key=lambda a: a.creation_time, reverse=descending)
        summaries = [app.summary() for app in apps]
    token = str(self._get_param("NextToken") or "0")
    if not token.isdigit():
        raise ValidationError(f"Invalid NextToken {token!r}.")
    start = int(token)
    max_results = self._get_param("MaxResults")
    end = len(summaries) if not max_results else start + int(max_results)
    out: dict[str, Any] = {"Apps": summaries[start:end]}
    if end < len(summaries):
        out["NextToken"] = str(end)
    return ActionResult(out)


def _delete_app(self: SageMakerResponse) -> ActionResult:
    with _LOCK:
        _, _, app, arn = _find_app(self)
        if app is None or app.status == "Deleted":
            raise ResourceNotFound(f"App {arn} does not exist.")
        if app.status == "Deleting":
            raise ResourceInUseException(f"App {arn} is being deleted (status Deleting).")
        if app.status == "Pending":
            raise ResourceInUseException(f"App {arn} is being created (status Pending).")
        app.status = "Deleting"
        app.deleted_after = time.monotonic() + _SETTINGS.deleting_seconds
    return EmptyResult()


_HANDLERS: dict[str, Callable[[SageMakerResponse], ActionResult]] = {
    "CreateSpace": _create_space,
    "DescribeSpace": _describe_space,
    "CreateUserProfile": _create_user_profile,
    "DescribeUserProfile": _describe_user_profile,
    "CreateApp": _create_app,
    "DescribeApp": _describe_app,
    "ListApps": _list_apps,
    "DeleteApp": _delete_app,
}


def install() -> None:
    """Register the Studio operations on moto's ``SageMakerResponse`` (idempotent).

    moto dispatches a JSON-protocol call to the handler method named
    ``camelcase_to_underscores(<X-Amz-Target operation>)``. If moto already defines one of these
    methods itself, this raises :class:`RuntimeError`: moto has caught up, and the fake should go.
    """
    methods = {camelcase_to_underscores(op): (op, fn) for op, fn in _HANDLERS.items()}
    for method_name, (operation, _) in methods.items():
        existing = getattr(SageMakerResponse, method_name, None)
        if existing is not None and not getattr(existing, _MARK, False):
            raise RuntimeError(
                f"moto now implements SageMaker {operation} "
                f"(SageMakerResponse.{method_name}); remove the fake from "
                f"tests/support/fake_sagemaker.py and use moto's own."
            )
    for method_name, (_, fn) in methods.items():
        setattr(fn, _MARK, True)
        setattr(SageMakerResponse, method_name, fn)


install()


# --------------------------------------------------------------------------------------------
# Middleware: call log, fault injection, control routes
# --------------------------------------------------------------------------------------------


@dataclass
class _Fault:
    operation: str
    code: str
    status: int
    message: str
    count: int  # remaining; -1 = forever

    def as_json(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "code": self.code,
            "status": self.status,
            "message": self.message,
            "count": self.count,
        }


class _BadRequest(Exception):
    pass


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _region_from_auth(environ: dict[str, Any]) -> str | None:
    auth = str(environ.get("HTTP_AUTHORIZATION", ""))
    try:
        return auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")[2]
    except IndexError:
        return None


class FaultInjectingApp:
    """WSGI middleware around moto: logs SageMaker calls, injects faults, serves /_fake/."""

    def __init__(self, app: WSGIApp) -> None:
        """Wrap ``app`` (moto's ``DomainDispatcherApplication``)."""
        self.app = app
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self._calls: list[dict[str, Any]] = []

    # -- state ---------------------------------------------------------------------------------

    def add_fault(
        self, operation: str, code: str, *, status: int = 400, message: str = "", count: int = 1
    ) -> None:
        """Queue a fault for ``operation`` (``"*"`` = any SageMaker call)."""
        if not operation:
            raise _BadRequest("operation is required")
        if count == 0 or count < -1:
            raise _BadRequest("count must be a positive number, or -1 for forever")
        if not 400 <= status <= 599:
            raise _BadRequest("status must be a 4xx or 5xx HTTP status")
        if not code and status < 500:
            raise _BadRequest("code is required unless status is 5xx")
        with self._lock:
            self._faults.append(_Fault(operation, code, status, message, count))

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._faults.clear()

    def faults(self) -> list[dict[str, Any]]:
        """The faults still queued."""
        with self._lock:
            return [f.as_json() for f in self._faults]

    def calls(self) -> list[dict[str, Any]]:
        """A copy of the call log."""
        with self._lock:
            return [dict(c) for c in self._calls]

    def clear_calls(self) -> None:
        """Empty the call log."""
        with self._lock:
            self._calls.clear()

    def _take_fault(self, operation: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.operation in (operation, "*"):
                    if fault.count > 0:
                        fault.count -= 1
                        if fault.count == 0:
                            self._faults.remove(fault)
                    return fault
        return None

    # -- WSGI ----------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Serve /_fake/ routes, inject faults into SageMaker calls, pass the rest to moto."""
        path = str(environ.get("PATH_INFO", ""))
        if path == "/_fake" or path.startswith("/_fake/"):
            return self._control(environ, start_response)
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        if not target.startswith("SageMaker."):
            return self.app(environ, start_response)

        operation = target.split(".", 1)[1]
        raw = self._read_body(environ)
        params: Any
        try:
            params = json.loads(raw) if raw else {}
        except ValueError:
            params = raw.decode("utf-8", "replace")
        record: dict[str, Any] = {
            "operation": operation,
            "time": time.time(),
            "status": None,
            "params": params,
            "region": _region_from_auth(environ),
            "fault": None,
        }
        with self._lock:
            self._calls.append(record)

        fault = self._take_fault(operation)
        if fault is not None:
            record["status"] = fault.status
            record["fault"] = fault.code or str(fault.status)
            return self._fault_response(fault, start_response)

        def recording_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            record["status"] = int(status.split(" ", 1)[0])
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, recording_start_response)
        except BaseException:
            record["status"] = 500  # werkzeug answers an escaped exception with a 500
            raise

    @staticmethod
    def _read_body(environ: dict[str, Any]) -> bytes:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        raw: bytes = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = _BytesInput(raw)
        environ["CONTENT_LENGTH"] = str(len(raw))
        return raw

    @staticmethod
    def _fault_response(fault: _Fault, start_response: Callable[..., Any]) -> list[bytes]:
        request_id = str(uuid.uuid4())
        if fault.code:
            body = json.dumps({"__type": fault.code, "message": fault.message}).encode()
            headers = [
                ("Content-Type", _JSON_CONTENT_TYPE),
                ("x-amzn-ErrorType", fault.code),
                ("x-amzn-RequestId", request_id),
            ]
        else:
            text = fault.message or _reason(fault.status)
            body = f"<html><body><h1>{fault.status} {text}</h1></body></html>\n".encode()
            headers = [("Content-Type", "text/html"), ("x-amzn-RequestId", request_id)]
        headers.append(("Content-Length", str(len(body))))
        start_response(f"{fault.status} {_reason(fault.status)}", headers)
        return [body]

    def _control(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        path = str(environ.get("PATH_INFO", "")).rstrip("/")
        try:
            raw = self._read_body(environ)
            try:
                body = json.loads(raw) if raw else {}
            except ValueError as exc:
                raise _BadRequest(f"body is not JSON: {exc}") from exc
            if not isinstance(body, dict):
                raise _BadRequest("body must be a JSON object")
            status, result = self._route(method, path, body)
        except _BadRequest as exc:
            status, result = 400, {"error": str(exc)}
        except ValidationError as exc:
            status, result = 400, {"error": exc.message}
        except KeyError as exc:
            status, result = 400, {"error": f"unknown key or region: {exc}"}
        payload = json.dumps(result, default=str).encode()
        start_response(
            f"{status} {_reason(status)}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
        )
        return [payload]

    def _route(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        route = (method, path)
        if route == ("POST", "/_fake/faults"):
            self.add_fault(
                str(body.get("operation", "")),
                str(body.get("code") or ""),
                status=_as_int(body.get("status", 400), "status"),
                message=str(body.get("message") or ""),
                count=_as_int(body.get("count", 1), "count"),
            )
            return 200, {"faults": self.faults()}
        if route == ("GET", "/_fake/faults"):
            return 200, self.faults()
        if route == ("DELETE", "/_fake/faults"):
            self.clear_faults()
            return 200, {"ok": True}
        if route == ("GET", "/_fake/calls"):
            return 200, self.calls()
        if route == ("DELETE", "/_fake/calls"):
            self.clear_calls()
            return 200, {"ok": True}
        if route == ("POST", "/_fake/apps"):
            arn = seed_app(
                str(body.get("DomainId") or ""),
                space_name=body.get("SpaceName") or None,
                user_profile_name=body.get("UserProfileName") or None,
                app_type=str(body.get("AppType") or "CodeEditor"),
                app_name=str(body.get("AppName") or "default"),
                region=str(body.get("Region") or "us-east-1"),
                account_id=body.get("AccountId") or None,
                status=str(body.get("Status") or "InService"),
            )
            return 200, {"AppArn": arn}
        if route == ("GET", "/_fake/apps"):
            return 200, [app.as_json() for app in _all_apps()]
        if route == ("POST", "/_fake/settings"):
            if "deleting_seconds" in body:
                seconds = body["deleting_seconds"]
                if not isinstance(seconds, (int, float)) or seconds < 0:
                    raise _BadRequest("deleting_seconds must be a number >= 0")
                with _LOCK:
                    _SETTINGS.deleting_seconds = float(seconds)
            return 200, _SETTINGS.as_dict()
        if route == ("GET", "/_fake/settings"):
            return 200, _SETTINGS.as_dict()
        if route == ("POST", "/_fake/reset"):
            _moto_reset()
            self.clear_faults()
            self.clear_calls()
            return 200, {"ok": True}
        return 404, {"error": f"no route {method} {path}"}


class _BytesInput:
    """A minimal re-readable ``wsgi.input`` holding an already-read body."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._data) if size is None or size < 0 else self._pos + size
        chunk = self._data[self._pos : end]
        self._pos += len(chunk)
        return chunk

    def readline(self, size: int = -1) -> bytes:
        nl = self._data.find(b"\n", self._pos)
        end = len(self._data) if nl < 0 else nl + 1
        if size is not None and size >= 0:
            end = min(end, self._pos + size)
        chunk = self._data[self._pos : end]
        self._pos += len(chunk)
        return chunk

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _BadRequest(f"{name} must be an integer")
    return value


def _moto_reset() -> None:
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()


# --------------------------------------------------------------------------------------------
# Server and Python API
# --------------------------------------------------------------------------------------------


class _QuietHandler(MotoRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class _Server(ThreadedMotoServer):
    """moto's ThreadedMotoServer, serving moto's app wrapped in :class:`FaultInjectingApp`."""

    def __init__(self, host: str, port: int, middleware: FaultInjectingApp, quiet: bool) -> None:
        super().__init__(ip_address=host, port=port, verbose=False)
        self._middleware = middleware
        self._quiet = quiet
        self._start_error: BaseException | None = None

    def _server_entry(self) -> None:
        handler = _QuietHandler if self._quiet else MotoRequestHandler
        try:
            self._server = make_server(
                self._ip_address, self._port, self._middleware, True, request_handler=handler
            )
        except BaseException as exc:
            self._start_error = exc
            self._server_ready_event.set()
            return
        self._server_ready_event.set()
        self._server.serve_forever()

    def start(self) -> None:
        super().start()
        if self._start_error is not None:
            raise RuntimeError(
                f"fake SageMaker could not listen on {self._ip_address}:{self._port}"
            ) from self._start_error


class FakeSageMaker:
    """A running fake SageMaker endpoint (moto + Studio apps + fault injection) over real HTTP.

    moto's state is process-wide, so two instances in one process share domains and apps;
    faults and the call log belong to each instance.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, quiet: bool = True) -> None:
        """Prepare a server on ``host``:``port`` (0 picks a free port); :meth:`start` runs it."""
        self.host = host
        self.port = port
        self.quiet = quiet
        self.middleware = FaultInjectingApp(DomainDispatcherApplication(create_backend_app))
        self._server: _Server | None = None
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start serving in a background thread; returns once the socket listens."""
        if self._server is not None:
            raise RuntimeError("FakeSageMaker already started")
        server = _Server(self.host, self.port, self.middleware, self.quiet)
        server.start()
        self._server = server
        self.port = server.get_host_and_port()[1]

    def stop(self) -> None:
        """Stop serving and close the socket (safe to call twice)."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> FakeSageMaker:
        """Start, and return self."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop."""
        self.stop()

    @property
    def endpoint_url(self) -> str:
        """``http://HOST:PORT`` of the running server."""
        if self._server is None:
            raise RuntimeError("FakeSageMaker is not started")
        return f"http://{self.host}:{self.port}"

    # -- control -------------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.endpoint_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with self._opener.open(request, timeout=10) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            raise RuntimeError(f"{method} {path} failed: {exc.code} {detail}") from exc
        return json.loads(payload) if payload else None

    def reset(self) -> None:
        """Reset moto (domains, spaces, apps), and clear faults and the call log."""
        self._request("POST", "/_fake/reset", {})

    def add_app(
        self,
        domain_id: str,
        *,
        space_name: str | None = None,
        user_profile_name: str | None = None,
        app_type: str = "CodeEditor",
        app_name: str = "default",
        region: str = "us-east-1",
    ) -> str:
        """Seed an InService app (no domain needed; replaces one with the same key); its ARN."""
        body: dict[str, Any] = {
            "DomainId": domain_id,
            "AppType": app_type,
            "AppName": app_name,
            "Region": region,
        }
        if space_name is not None:
            body["SpaceName"] = space_name
        if user_profile_name is not None:
            body["UserProfileName"] = user_profile_name
        return str(self._request("POST", "/_fake/apps", body)["AppArn"])

    def apps(self) -> list[dict[str, Any]]:
        """Every app of every account and region (``GET /_fake/apps``)."""
        result: list[dict[str, Any]] = self._request("GET", "/_fake/apps")
        return result

    def app_status(
        self,
        domain_id: str,
        *,
        space_name: str | None = None,
        user_profile_name: str | None = None,
        app_type: str = "CodeEditor",
        app_name: str = "default",
        region: str = "us-east-1",
    ) -> str | None:
        """The app's status (``InService``, ``Deleting``, ``Deleted``, ...), or None if unknown."""
        for app in self.apps():
            if (
                app["DomainId"] == domain_id
                and app.get("SpaceName") == space_name
                and app.get("UserProfileName") == user_profile_name
                and app["AppType"] == app_type
                and app["AppName"] == app_name
                and app["Region"] == region
            ):
                return str(app["Status"])
        return None

    def inject(
        self, operation: str, code: str, *, status: int = 400, message: str = "", count: int = 1
    ) -> None:
        """Answer the next ``count`` calls of ``operation`` (-1: all) with an error.

        A non-empty ``code`` gives an AWS JSON error (``x-amzn-ErrorType`` + ``__type``); an empty
        ``code`` with a 5xx ``status`` gives a bare HTML 5xx.
        """
        self._request(
            "POST",
            "/_fake/faults",
            {
                "operation": operation,
                "code": code,
                "status": status,
                "message": message,
                "count": count,
            },
        )

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        self._request("DELETE", "/_fake/faults")

    def calls(self, operation: str | None = None) -> list[dict[str, Any]]:
        """The SageMaker calls seen so far, oldest first, optionally of one operation only."""
        calls: list[dict[str, Any]] = self._request("GET", "/_fake/calls")
        if operation is None:
            return calls
        return [c for c in calls if c["operation"] == operation]

    def clear_calls(self) -> None:
        """Empty the call log."""
        self._request("DELETE", "/_fake/calls")

    def set_deleting_seconds(self, seconds: float) -> None:
        """How long a deleted app stays ``Deleting`` before it reads ``Deleted`` (process-wide)."""
        self._request("POST", "/_fake/settings", {"deleting_seconds": seconds})


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _parse_seed(text: str) -> dict[str, str]:
    spec, _, region = text.partition("@")
    parts = spec.split("/")
    if len(parts) != 4 or not all(parts):
        raise argparse.ArgumentTypeError(
            f"--seed-app wants DOMAIN_ID/SPACE_NAME/APP_TYPE/APP_NAME[@REGION], got {text!r}"
        )
    domain_id, space_name, app_type, app_name = parts
    return {
        "domain_id": domain_id,
        "space_name": space_name,
        "app_type": app_type,
        "app_name": app_name,
        "region": region or "us-east-1",
    }


def main(argv: list[str] | None = None) -> int:
    """Run the fake in the foreground until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port to bind; 0 = any (5000)")
    parser.add_argument(
        "--seed-app",
        action="append",
        type=_parse_seed,
        default=[],
        metavar="DOMAIN_ID/SPACE_NAME/APP_TYPE/APP_NAME[@REGION]",
        help="an InService app to create at start (repeatable)",
    )
    parser.add_argument(
        "--deleting-seconds",
        type=float,
        default=None,
        help=f"seconds an app stays Deleting ({DEFAULT_DELETING_SECONDS})",
    )
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    args = parser.parse_args(argv)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    if args.deleting_seconds is not None:
        if args.deleting_seconds < 0:
            parser.error("--deleting-seconds must be >= 0")
        _SETTINGS.deleting_seconds = args.deleting_seconds
    for seed in args.seed_app:
        seed_app(
            seed["domain_id"],
            space_name=seed["space_name"],
            app_type=seed["app_type"],
            app_name=seed["app_name"],
            region=seed["region"],
        )

    fake = FakeSageMaker(args.host, args.port, quiet=args.quiet)
    fake.start()
    print(f"fake-sagemaker listening on {fake.endpoint_url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
