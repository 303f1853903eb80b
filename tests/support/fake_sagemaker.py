"""A test-only fake SageMaker endpoint: moto's server plus the Studio calls moto lacks.

moto 5.2.5 has no Studio apps: it answers ``DeleteApp`` with an HTML 500 that botocore retries,
so a test against stock moto would exercise the error path, not the delete. This module

* adds ``DescribeApp`` and ``DeleteApp`` to moto's SageMaker handler, over a table of apps the
  tests seed, and fails loudly if moto ever ships either itself;
* keeps a stateful domain, user profiles, spaces, lifecycle configs and tags for the admin
  commands (``deploy``, ``undeploy``), each request checked against botocore's service model
  (section "The admin side" below);
* wraps moto's WSGI app in a middleware that logs each SageMaker call and can answer the next
  calls of an operation with an AWS-shaped JSON error, so botocore's real retries run over HTTP;
* offers :class:`FakeSageMaker` for pytest, and a command line for the e2e image::

      python fake_sagemaker.py --host 127.0.0.1 --port 5000 \\
          [--seed-app DOMAIN_ID/SPACE_NAME/APP_TYPE/APP_NAME[@REGION]]...

An app is ``InService`` until ``DeleteApp`` makes it ``Deleting``, where it stays (a real deletion
takes minutes). ``DeleteApp`` of a ``Deleting`` app answers ``ResourceInUse``; of a ``Deleted``
or unknown one, ``ResourceNotFound``. ``DescribeApp`` gives the status, or ``ResourceNotFound``.

Control routes, for the e2e image (JSON in, JSON out):

========================  ==================================================================
``POST /_fake/faults``    queue ``{"operation", "code", "status"=400, "message"="", "count"=1}``
                          (``count`` -1: forever)
``DELETE /_fake/faults``  drop the queued faults
``GET /_fake/calls``      ``[{"operation", "time", "status", "params"}]``, oldest first
``GET /_fake/apps``       ``[{"Region", "DomainId", "SpaceName", "AppType", "AppName", "Status"}]``
``POST /_fake/apps``      seed an app: ``{"DomainId", "SpaceName", "Region", "Status"}``
``POST /_fake/domains``   seed a domain: ``{"DomainId", "DefaultUserSettings", "Region"}``
``POST /_fake/spaces``    seed a space: ``{"DomainId", "SpaceName", "SpaceSettings", "Owner"}``
========================  ==================================================================

It imports only the standard library and moto[server] (with werkzeug), because it is also
copied alone into the e2e image.
"""

from __future__ import annotations

import argparse
import base64
import copy
import io
import json
import re
import signal
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import astuple, dataclass
from types import TracebackType
from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.core.utils import camelcase_to_underscores
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.sagemaker.exceptions import ResourceInUseException, ResourceNotFound, ValidationError
from moto.sagemaker.responses import SageMakerResponse
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

__all__ = ["STATUSES", "FakeSageMaker", "install", "main"]

STATUSES = ("InService", "Deleting", "Deleted")
_MARK = "_fake_sagemaker_app_call"  # set on each handler this module installs on moto


# --------------------------------------------------------------------------------------------
# The apps, and the two operations moto lacks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _AppKey:
    region: str
    domain_id: str
    space_name: str  # or the user profile's name: the one owner the call names
    app_type: str
    app_name: str


class _Apps:
    """Each seeded app's status, process-wide (moto's handlers are too)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._status: dict[_AppKey, str] = {}

    def seed(self, key: _AppKey, status: str = "InService") -> None:
        """Put an app in (replacing one under the same key)."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
        with self._lock:
            self._status[key] = status

    def status(self, key: _AppKey) -> str | None:
        """The app's status, or None if it was never seeded."""
        with self._lock:
            return self._status.get(key)

    def start_deleting(self, key: _AppKey) -> str | None:
        """Make an InService app Deleting; return the status it had (None: unknown)."""
        with self._lock:
            before = self._status.get(key)
            if before == "InService":
                self._status[key] = "Deleting"
            return before

    def clear(self) -> None:
        """Forget every app."""
        with self._lock:
            self._status.clear()

    def as_json(self) -> list[dict[str, str]]:
        """Every app and its status."""
        fields = ("Region", "DomainId", "SpaceName", "AppType", "AppName")
        with self._lock:
            items = list(self._status.items())
        return [{**dict(zip(fields, astuple(key), strict=True)), "Status": s} for key, s in items]


APPS = _Apps()


def _called_app(handler: SageMakerResponse) -> tuple[_AppKey, str]:
    """The app a DescribeApp/DeleteApp call names, and its ARN (for messages)."""
    param = handler._get_param
    key = _AppKey(
        handler.region,
        str(param("DomainId") or ""),
        str(param("SpaceName") or param("UserProfileName") or ""),
        str(param("AppType") or ""),
        str(param("AppName") or ""),
    )
    arn = (
        f"arn:{handler.partition}:sagemaker:{key.region}:{handler.current_account}:app/"
        f"{key.domain_id}/{key.space_name}/{key.app_type.lower()}/{key.app_name}"
    )
    return key, arn


def _describe_app(self: SageMakerResponse) -> ActionResult:
    key, arn = _called_app(self)
    status = APPS.status(key)
    if status is None:
        raise ResourceNotFound(f"App {arn} does not exist.")
    owner = "SpaceName" if self._get_param("SpaceName") else "UserProfileName"
    described = {
        "AppArn": arn,
        "DomainId": key.domain_id,
        owner: key.space_name,
        "AppType": key.app_type,
        "AppName": key.app_name,
        "Status": status,
    }
    lcc = STUDIO.app_lccs.get(key)
    if lcc:
        described["ResourceSpec"] = {"LifecycleConfigArn": lcc}
    built_in = STUDIO.app_builtins.get(key)
    if built_in:
        described["BuiltInLifecycleConfigArn"] = built_in
    return ActionResult(described)


def _delete_app(self: SageMakerResponse) -> ActionResult:
    key, arn = _called_app(self)
    before = APPS.start_deleting(key)
    if before in (None, "Deleted"):
        raise ResourceNotFound(f"App {arn} does not exist.")
    if before == "Deleting":
        raise ResourceInUseException(f"App {arn} is being deleted (status Deleting).")
    return EmptyResult()


# --------------------------------------------------------------------------------------------
# The admin side: a stateful domain, user profiles, spaces, lifecycle configs and tags
# --------------------------------------------------------------------------------------------
#
# moto 5.2.5 has none of UpdateDomain, the user-profile, space and LCC calls, and its domains
# keep no settings a test can change. So the fake owns them (DescribeDomain, AddTags and
# ListTags included, replacing moto's). Every request is checked against botocore's service
# model (required members, unknown members, enums, lengths, patterns, list sizes), plus the
# limits botocore leaves to the service: LCC content base64 of at most 16,384 characters, LCC
# names matching [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}, at most 30 LifecycleConfigArns. Where AWS
# documents nothing, the fake is strict:
#
# * an Update call replaces each member of UserSettings / SpaceSettings it names, whole, except
#   CodeEditorAppSettings, whose members left out are kept (AWS's "detach" page;
#   terraform-provider-aws#43127, aws-toolkit-vscode); each member of it that is sent is
#   replaced whole (nested objects such as DefaultResourceSpec are never merged); a value
#   "None" clears an ARN; empty lists and objects are dropped;
# * every LCC ARN named must exist; a default LCC must be in the resource's LifecycleConfigArns
#   (a space's: in the domain's or its owner's); a BuiltInLifecycleConfigArn must name a
#   CodeEditor LCC (it need not be listed: AWS's pages attach it alone);
# * an update leaves its resource Updating for ``update_seconds`` (0 by default): Describe and
#   List say Status "Updating", and another update meanwhile is refused with ResourceInUse
#   "... is already being updated" (UpdateDomain's model lists ResourceInUse; the message is the
#   one AWS's CDK sample retries on; the code AWS sends is not documented);
# * an LCC is not deleted while any setting names it or an app that is not gone runs with it
#   (ResourceInUse).

_LCC_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
MAX_LCC_CONTENT = 16384
MAX_LCC_ARNS = 30


def _service_model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("sagemaker")


_MODEL = None


def _check_shape(shape: Any, value: Any, path: str, errors: list[str]) -> None:
    """Errors in ``value`` against botocore ``shape`` (what AWS's own validation would say)."""
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        if not isinstance(value, dict):
            errors.append(f"{path}: expected an object")
            return
        for name in shape.required_members:
            if name not in value:
                errors.append(f"{path}.{name}: required")
        for name, item in value.items():
            if name not in shape.members:
                errors.append(f"{path}.{name}: unknown member")
            else:
                _check_shape(shape.members[name], item, f"{path}.{name}", errors)
    elif kind == "list":
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list")
            return
        if "max" in meta and len(value) > meta["max"]:
            errors.append(f"{path}: at most {meta['max']} items")
        if "min" in meta and len(value) < meta["min"]:
            errors.append(f"{path}: at least {meta['min']} items")
        for i, item in enumerate(value):
            _check_shape(shape.member, item, f"{path}[{i}]", errors)
    elif kind == "map":
        if not isinstance(value, dict):
            errors.append(f"{path}: expected an object")
    elif kind == "string":
        if not isinstance(value, str):
            errors.append(f"{path}: expected a string")
            return
        if shape.enum and value not in shape.enum:
            errors.append(f"{path}: {value!r} is not one of {', '.join(shape.enum)}")
        if "max" in meta and len(value) > meta["max"]:
            errors.append(f"{path}: longer than {meta['max']}")
        if "min" in meta and len(value) < meta["min"]:
            errors.append(f"{path}: shorter than {meta['min']}")
        if "pattern" in meta and not re.fullmatch(_python_pattern(meta["pattern"]), value):
            errors.append(f"{path}: {value!r} does not match {meta['pattern']}")
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(f"{path}: expected an integer")
        elif ("max" in meta and value > meta["max"]) or ("min" in meta and value < meta["min"]):
            errors.append(f"{path}: out of range")
    elif kind == "boolean" and not isinstance(value, bool):
        errors.append(f"{path}: expected true or false")


_UNICODE_CLASSES = {
    r"\p{L}": "a-zA-Z\u00aa-\uffff",
    r"\p{Z}": " \u00a0\u2000-\u200a\u2028\u2029\u3000",
    r"\p{N}": "0-9",
}


def _python_pattern(pattern: str) -> str:
    """The model's (Java) pattern in Python's ``re``: its Unicode classes spelled out."""
    for java, python in _UNICODE_CLASSES.items():
        pattern = pattern.replace(java, python)
    return pattern


def _request(handler: SageMakerResponse, operation: str) -> dict[str, Any]:
    """The request body, checked against the model and the limits botocore does not check."""
    global _MODEL
    if _MODEL is None:
        _MODEL = _service_model()
    try:
        body = json.loads(handler.body or "{}")
    except ValueError:
        raise ValidationError("the request body is not JSON") from None
    errors: list[str] = []
    _check_shape(_MODEL.operation_model(operation).input_shape, body, operation, errors)
    _walk_limits(body, operation, errors)
    if errors:
        raise ValidationError("; ".join(errors))
    return dict(body)


def _walk_limits(value: Any, path: str, errors: list[str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "LifecycleConfigArns" and isinstance(v, list) and len(v) > MAX_LCC_ARNS:
                errors.append(f"{path}.{k}: at most {MAX_LCC_ARNS} ARNs")
            if (
                k == "StudioLifecycleConfigName"
                and isinstance(v, str)
                and v
                and not (_LCC_NAME.fullmatch(v))
            ):
                errors.append(f"{path}.{k}: {v!r} does not match {_LCC_NAME.pattern}")
            if k == "StudioLifecycleConfigContent" and isinstance(v, str):
                if len(v) > MAX_LCC_CONTENT:
                    errors.append(f"{path}.{k}: {len(v)} characters, at most {MAX_LCC_CONTENT}")
                try:
                    base64.b64decode(v, validate=True)
                except ValueError:
                    errors.append(f"{path}.{k}: not base64")
            _walk_limits(v, f"{path}.{k}", errors)
    elif isinstance(value, list):
        for item in value:
            _walk_limits(item, path, errors)


def _clean(value: Any) -> Any:
    """What Studio keeps of a value sent: no "None" ARNs, no empty lists or objects."""
    if isinstance(value, dict):
        out = {k: _clean(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, "None", [], {})}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


class _Studio:
    """Domains, user profiles, spaces, LCCs and tags, process-wide like the apps."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.clear()

    def clear(self) -> None:
        """Forget everything."""
        self.domains: dict[str, dict[str, Any]] = {}
        self.profiles: dict[tuple[str, str], dict[str, Any]] = {}
        self.spaces: dict[tuple[str, str], dict[str, Any]] = {}
        self.lccs: dict[str, dict[str, Any]] = {}  # name -> details and content
        self.tags: dict[str, dict[str, str]] = {}
        self.app_lccs: dict[_AppKey, str] = {}
        self.app_builtins: dict[_AppKey, str] = {}
        self.update_seconds = 0.0
        #: Whether "None" clears an LCC ARN (the model's clear value, unverified on AWS); when
        #: False, the fake keeps the ARN, as a Studio that ignored it would.
        self.none_clears = True
        self.busy_until: dict[tuple[str, str, str], float] = {}  # (kind, domain, name) -> time

    def status(self, kind: str, domain_id: str, name: str) -> str:
        """``Updating`` while an update's window lasts, else ``InService``."""
        until = self.busy_until.get((kind, domain_id, name), 0.0)
        return "Updating" if time.monotonic() < until else "InService"

    def start_update(self, kind: str, domain_id: str, name: str, arn: str) -> None:
        """Refuse an update while the last one lasts; else open this one's window."""
        if self.status(kind, domain_id, name) == "Updating":
            raise ResourceInUseException(f"{arn} is already being updated.")
        if self.update_seconds > 0:
            self.busy_until[(kind, domain_id, name)] = time.monotonic() + self.update_seconds

    def domain(self, domain_id: str) -> dict[str, Any]:
        if domain_id not in self.domains:
            raise ResourceNotFound(f"Domain {domain_id} does not exist.")
        return self.domains[domain_id]

    def lcc_exists(self, arn: str) -> bool:
        name = arn.rsplit("/", 1)[-1]
        return name in self.lccs and self.lccs[name]["StudioLifecycleConfigArn"] == arn

    def check_lccs(self, settings: dict[str, Any], allowed: list[str], where: str) -> None:
        """Each ARN must exist; the default must be one of ``allowed`` (plus the resource's own)."""
        ce = settings.get("CodeEditorAppSettings") or {}
        own = list(ce.get("LifecycleConfigArns") or [])
        for arn in own:
            if not self.lcc_exists(arn):
                raise ResourceNotFound(f"{where}: lifecycle config {arn} does not exist.")
        built_in = ce.get("BuiltInLifecycleConfigArn")
        if built_in and built_in != "None":
            if not self.lcc_exists(built_in):
                raise ResourceNotFound(f"{where}: lifecycle config {built_in} does not exist.")
            app_type = self.lccs[built_in.rsplit("/", 1)[-1]]["StudioLifecycleConfigAppType"]
            if app_type != "CodeEditor":
                raise ValidationError(
                    f"{where}: the built-in lifecycle config {built_in} is for {app_type}, "
                    "not CodeEditor"
                )
        default = (ce.get("DefaultResourceSpec") or {}).get("LifecycleConfigArn")
        if default and default != "None":
            if not self.lcc_exists(default):
                raise ResourceNotFound(f"{where}: lifecycle config {default} does not exist.")
            if default not in own + allowed:
                raise ValidationError(
                    f"{where}: the default lifecycle config {default} is not in LifecycleConfigArns"
                )

    def referenced(self, arn: str) -> list[str]:
        """Where settings name ``arn``."""
        found = []
        docs = [(f"domain {d}", v["DefaultUserSettings"]) for d, v in self.domains.items()]
        docs += [(f"user profile {k[1]}", v["UserSettings"]) for k, v in self.profiles.items()]
        docs += [(f"space {k[1]}", v["SpaceSettings"]) for k, v in self.spaces.items()]
        for where, doc in docs:
            if arn in json.dumps(doc):
                found.append(where)
        return found


STUDIO = _Studio()


def _arn(handler: SageMakerResponse, resource: str) -> str:
    return (
        f"arn:{handler.partition}:sagemaker:{handler.region}:{handler.current_account}:{resource}"
    )


_MERGED = ("CodeEditorAppSettings",)


def _replace_members(
    stored: dict[str, Any], sent: dict[str, Any], merge: tuple[str, ...] = _MERGED
) -> dict[str, Any]:
    """``stored`` with each member ``sent`` replaced whole, but the members named in ``merge``
    merged one level down (their own members replaced whole); cleared values dropped."""
    out = dict(stored)
    for key, value in sent.items():
        if key in merge and isinstance(value, dict):
            value = _replace_members(dict(out.get(key) or {}), value, ())
        if not STUDIO.none_clears and not merge:  # "None" taken as no change: keep the ARN
            if value == "None" and key in out:
                continue
            if key == "DefaultResourceSpec" and isinstance(value, dict):
                kept = (out.get(key) or {}).get("LifecycleConfigArn")
                if value.get("LifecycleConfigArn") == "None" and kept:
                    value = {**value, "LifecycleConfigArn": kept}
        cleaned = _clean(value)
        if cleaned in ({}, []):
            out.pop(key, None)
        else:
            out[key] = cleaned
    return out


def _with_status(kind: str, doc: dict[str, Any], domain_id: str, name: str) -> dict[str, Any]:
    """A copy of a stored resource, as Describe answers: its Status now."""
    out: dict[str, Any] = json.loads(json.dumps(doc))
    out["Status"] = STUDIO.status(kind, domain_id, name)
    return out


def _describe_domain(self: SageMakerResponse) -> ActionResult:
    body = _request(self, "DescribeDomain")
    with STUDIO.lock:
        domain_id = body["DomainId"]
        return ActionResult(_with_status("domain", STUDIO.domain(domain_id), domain_id, domain_id))


def _update_domain(self: SageMakerResponse) -> ActionResult:
    body = _request(self, "UpdateDomain")
    with STUDIO.lock:
        domain = STUDIO.domain(body["DomainId"])
        STUDIO.start_update("domain", body["DomainId"], body["DomainId"], domain["DomainArn"])
        settings = _replace_members(
            domain["DefaultUserSettings"], body.get("DefaultUserSettings", {})
        )
        STUDIO.check_lccs(settings, [], f"domain {body['DomainId']}")
        domain["DefaultUserSettings"] = settings
        return ActionResult({"DomainArn": domain["DomainArn"]})


def _profile(domain_id: str, name: str) -> dict[str, Any]:
    STUDIO.domain(domain_id)
    if (domain_id, name) not in STUDIO.profiles:
        raise ResourceNotFound(f"User profile {name} does not exist in {domain_id}.")
    return STUDIO.profiles[(domain_id, name)]


def _space(domain_id: str, name: str) -> dict[str, Any]:
    STUDIO.domain(domain_id)
    if (domain_id, name) not in STUDIO.spaces:
        raise ResourceNotFound(f"Space {name} does not exist in {domain_id}.")
    return STUDIO.spaces[(domain_id, name)]


def _list_user_profiles(self: SageMakerResponse) -> ActionResult:
    body = _request(self, "ListUserProfiles")
    with STUDIO.lock:
        items = [
            {"DomainId": d, "UserProfileName": n, "Status": STUDIO.status("user-profile", d, n)}
            for (d, n) in STUDIO.profiles
            if d == body.get("DomainIdEquals", d)
        ]
    return ActionResult({"UserProfiles": items})


def _describe_user_profile(self: SageMakerResponse) -> ActionResult:
    body = _request(self, "DescribeUserProfile")
    with STUDIO.lock:
        domain_id, name = body["DomainId"], body["UserProfileName"]
        got = _profile(domain_id, name)
        return ActionResult(_with_status("user-profile", got, domain_id, name))


def _update_user_profile(self: SageMakerResponse) -> ActionResult:
    body = _request(self, "UpdateUserProfile")
    with STUDIO.lock:
        domain_id, name = body["DomainId"], body["UserProfileName"]
        profile = _profile(domain_id, name)
        STUDIO.start_update("user-profile", domain_id, name, profile["UserProfileArn"])
        settings = _replace_members(profile["UserSettings"], body.get("UserSettings", {}))
        domain_ce = STUDIO.domain(domain_id)["DefaultUserSettings"].get("CodeEditorAppSettings")
        allowed = list((domain_ce or {}).get("LifecycleConfigArns") or [])
        STUDIO.check_lccs(settings, allowed, f"user profile {name}")
        profile["UserSettings"] = settings
        return ActionResult({"UserProfileArn": profile["UserProfileArn"]})


def _list_spaces(self: SageMakerResponse) -> ActionResult:
    body = _request(self, "ListSpaces")
    with STUDIO.lock:
        items = [
            {"DomainId": d, "SpaceName": n, "Status": STUDIO.status("space", d, n)}
            for (d, n) in STUDIO.spaces
            if d == body.get("DomainIdEquals", d)
        ]
    return ActionResult({"Spaces": items})


def _describe_space(self: SageMakerResponse) -> ActionResult:
    body = _request(self, "DescribeSpace")
    with STUDIO.lock:
        domain_id, name = body["DomainId"], body["SpaceName"]
        return ActionResult(_with_status("space", _space(domain_id, name), domain_id, name))


def _update_space(self: SageMakerResponse) -> ActionResult:
    body = _request(self, "UpdateSpace")
    with STUDIO.lock:
        domain_id, name = body["DomainId"], body["SpaceName"]
        space = _space(domain_id, name)
        STUDIO.start_update("space", domain_id, name, space["SpaceArn"])
        settings = _replace_members(space["SpaceSettings"], body.get("SpaceSettings", {}))
        domain_ce = STUDIO.domain(domain_id)["DefaultUserSettings"].get("CodeEditorAppSettings")
        allowed = list((domain_ce or {}).get("LifecycleConfigArns") or [])
        owner = (space.get("OwnershipSettings") or {}).get("OwnerUserProfileName")
        if owner and (domain_id, owner) in STUDIO.profiles:
            owner_ce = STUDIO.profiles[(domain_id, owner)]["UserSettings"].get(
                "CodeEditorAppSettings"
            )
            allowed += list((owner_ce or {}).get("LifecycleConfigArns") or [])
        STUDIO.check_lccs(settings, allowed, f"space {name}")
        space["SpaceSettings"] = settings
        return ActionResult({"SpaceArn": space["SpaceArn"]})


def _create_studio_lifecycle_config(self: SageMakerResponse) -> ActionResult:
    body = _request(self, "CreateStudioLifecycleConfig")
    name = body["StudioLifecycleConfigName"]
    with STUDIO.lock:
        if name in STUDIO.lccs:
            raise ResourceInUseException(f"Studio lifecycle config {name} already exists.")
        arn = _arn(self, f"studio-lifecycle-config/{name}")
        STUDIO.lccs[name] = {
            "StudioLifecycleConfigArn": arn,
            "StudioLifecycleConfigName": name,
            "StudioLifecycleConfigContent": body["StudioLifecycleConfigContent"],
            "StudioLifecycleConfigAppType": body["StudioLifecycleConfigAppType"],
        }
        STUDIO.tags[arn] = {t["Key"]: t.get("Value", "") for t in body.get("Tags", [])}
    return ActionResult({"StudioLifecycleConfigArn": arn})


def _describe_studio_lifecycle_config(self: SageMakerResponse) -> ActionResult:
    body = _request(self, "DescribeStudioLifecycleConfig")
    with STUDIO.lock:
        got = STUDIO.lccs.get(body["StudioLifecycleConfigName"])
        if got is None:
            raise ResourceNotFound(f"{body['StudioLifecycleConfigName']} does not exist.")
        return ActionResult(dict(got))


def _list_studio_lifecycle_configs(self: SageMakerResponse) -> ActionResult:
    body = _request(self, "ListStudioLifecycleConfigs")
    part = body.get("NameContains", "")
    with STUDIO.lock:
        items = [
            {k: v for k, v in lcc.items() if k != "StudioLifecycleConfigContent"}
            for name, lcc in STUDIO.lccs.items()
            if part in name
        ]
    return ActionResult({"StudioLifecycleConfigs": items})


def _delete_studio_lifecycle_config(self: SageMakerResponse) -> ActionResult:
    body = _request(self, "DeleteStudioLifecycleConfig")
    name = body["StudioLifecycleConfigName"]
    with STUDIO.lock:
        lcc = STUDIO.lccs.get(name)
        if lcc is None:
            raise ResourceNotFound(f"Studio lifecycle config {name} does not exist.")
        arn = lcc["StudioLifecycleConfigArn"]
        running = [
            k.space_name
            for k, a in [*STUDIO.app_lccs.items(), *STUDIO.app_builtins.items()]
            if a == arn and APPS.status(k) in ("InService", "Pending", "Deleting")
        ]
        users = STUDIO.referenced(arn) + [f"app of {s}" for s in running]
        if users:
            raise ResourceInUseException(f"{name} is in use: {', '.join(users)}")
        del STUDIO.lccs[name]
        STUDIO.tags.pop(arn, None)
    return EmptyResult()


def _list_apps(self: SageMakerResponse) -> ActionResult:
    body = _request(self, "ListApps")
    items = []
    for app in APPS.as_json():
        if app["DomainId"] != body.get("DomainIdEquals", app["DomainId"]):
            continue
        # No ResourceSpec in the list (strict: the API may leave it out); DescribeApp has it.
        items.append({k: app[k] for k in ("DomainId", "SpaceName", "AppType", "AppName", "Status")})
    return ActionResult({"Apps": items})


def _add_tags(self: SageMakerResponse) -> ActionResult:
    body = _request(self, "AddTags")
    with STUDIO.lock:
        tags = STUDIO.tags.setdefault(body["ResourceArn"], {})
        tags.update({t["Key"]: t.get("Value", "") for t in body["Tags"]})
        return ActionResult({"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]})


def _list_tags(self: SageMakerResponse) -> ActionResult:
    body = _request(self, "ListTags")
    with STUDIO.lock:
        tags = STUDIO.tags.get(body["ResourceArn"], {})
        return ActionResult({"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]})


_SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")
ACCOUNT = "123456789012"  # moto's default account


_STUDIO_HANDLERS: dict[str, Callable[[SageMakerResponse], ActionResult]] = {
    "DescribeDomain": _describe_domain,
    "UpdateDomain": _update_domain,
    "ListUserProfiles": _list_user_profiles,
    "DescribeUserProfile": _describe_user_profile,
    "UpdateUserProfile": _update_user_profile,
    "ListSpaces": _list_spaces,
    "DescribeSpace": _describe_space,
    "UpdateSpace": _update_space,
    "CreateStudioLifecycleConfig": _create_studio_lifecycle_config,
    "DescribeStudioLifecycleConfig": _describe_studio_lifecycle_config,
    "ListStudioLifecycleConfigs": _list_studio_lifecycle_configs,
    "DeleteStudioLifecycleConfig": _delete_studio_lifecycle_config,
    "ListApps": _list_apps,
    "AddTags": _add_tags,
    "ListTags": _list_tags,
}
#: moto's own handlers the fake replaces on purpose (its domains hold no settings to update).
_REPLACES_MOTO = {"DescribeDomain", "AddTags", "ListTags"}


_HANDLERS: dict[str, Callable[[SageMakerResponse], ActionResult]] = {
    "DescribeApp": _describe_app,
    "DeleteApp": _delete_app,
    **_STUDIO_HANDLERS,
}


def install() -> None:
    """Register the app calls on moto's ``SageMakerResponse`` (idempotent).

    moto dispatches a JSON-protocol call to the handler method named
    ``camelcase_to_underscores(<X-Amz-Target operation>)``. If moto already has one of these
    methods itself, this raises :class:`RuntimeError`: moto has caught up, and the fake should go.
    """
    for operation, handler in _HANDLERS.items():
        name = camelcase_to_underscores(operation)
        existing = getattr(SageMakerResponse, name, None)
        if (
            existing is not None
            and not getattr(existing, _MARK, False)
            and operation not in _REPLACES_MOTO
        ):
            raise RuntimeError(
                f"moto now implements SageMaker {operation} (SageMakerResponse.{name}); "
                "use moto's own and drop it from tests/support/fake_sagemaker.py."
            )
        setattr(handler, _MARK, True)
        setattr(SageMakerResponse, name, handler)


install()


# --------------------------------------------------------------------------------------------
# The endpoint: moto's WSGI app wrapped with the call log, faults and control routes
# --------------------------------------------------------------------------------------------


@dataclass
class _Fault:
    operation: str
    code: str
    status: int
    message: str
    count: int  # answers left; -1 = forever


def _json(value: Any, status: int = 200) -> Response:
    return Response(json.dumps(value), status=status, mimetype="application/json")


class _QuietHandler(MotoRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class FakeSageMaker:
    """A fake SageMaker endpoint over real HTTP: moto's WSGI app, served on a thread by moto's
    request handler, with each SageMaker call logged and queued faults answered first.

    The apps are process-wide (two instances in one process share them); the faults and the
    call log belong to each instance.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, quiet: bool = True) -> None:
        """Prepare a server on ``host``:``port`` (0 picks a free port); :meth:`start` runs it."""
        self.host = host
        self.port = port
        self.quiet = quiet
        self._moto = DomainDispatcherApplication(create_backend_app)
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self._calls: list[dict[str, Any]] = []
        self._http_calls: list[dict[str, Any]] = []
        #: IAM actions SimulatePrincipalPolicy answers as denied for every role.
        self.denied_actions: set[str] = set()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Listen, and serve in a background thread."""
        if self._server is not None:
            raise RuntimeError("FakeSageMaker already started")
        handler = _QuietHandler if self.quiet else MotoRequestHandler
        self._server = make_server(
            self.host, self.port, self, threaded=True, request_handler=handler
        )
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket (safe to call twice)."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

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

    # -- what tests set and read ---------------------------------------------------------------

    def reset(self) -> None:
        """Forget every app, domain, profile, space, LCC, fault and call."""
        APPS.clear()
        with STUDIO.lock:
            STUDIO.clear()
        with self._lock:
            self._faults.clear()
            self._calls.clear()
            self._http_calls.clear()

    # -- the admin side: domains, profiles, spaces, LCCs ---------------------------------------

    def add_domain(
        self,
        domain_id: str,
        default_user_settings: dict[str, Any] | None = None,
        *,
        region: str = "us-east-1",
        network: str = "PublicInternetOnly",
        vpc_id: str = "vpc-0fake",
    ) -> str:
        """Seed a domain with these DefaultUserSettings; return its ARN."""
        arn = f"arn:aws:sagemaker:{region}:{ACCOUNT}:domain/{domain_id}"
        with STUDIO.lock:
            STUDIO.domains[domain_id] = {
                "DomainArn": arn,
                "DomainId": domain_id,
                "DomainName": domain_id,
                "Status": "InService",
                "AuthMode": "IAM",
                "AppNetworkAccessType": network,
                "VpcId": vpc_id,
                "DefaultUserSettings": copy.deepcopy(default_user_settings or {}),
            }
        return arn

    def add_user_profile(
        self, domain_id: str, name: str, user_settings: dict[str, Any] | None = None
    ) -> None:
        """Seed a user profile of ``domain_id`` with these UserSettings."""
        with STUDIO.lock:
            region = STUDIO.domain(domain_id)["DomainArn"].split(":")[3]
            STUDIO.profiles[(domain_id, name)] = {
                "DomainId": domain_id,
                "UserProfileName": name,
                "UserProfileArn": (
                    f"arn:aws:sagemaker:{region}:{ACCOUNT}:user-profile/{domain_id}/{name}"
                ),
                "Status": "InService",
                "UserSettings": copy.deepcopy(user_settings or {}),
            }

    def add_space(
        self,
        domain_id: str,
        name: str,
        space_settings: dict[str, Any] | None = None,
        *,
        owner: str | None = None,
    ) -> None:
        """Seed a space (private to ``owner`` when given) with these SpaceSettings."""
        with STUDIO.lock:
            region = STUDIO.domain(domain_id)["DomainArn"].split(":")[3]
            space: dict[str, Any] = {
                "DomainId": domain_id,
                "SpaceName": name,
                "SpaceArn": f"arn:aws:sagemaker:{region}:{ACCOUNT}:space/{domain_id}/{name}",
                "Status": "InService",
                "SpaceSettings": copy.deepcopy(space_settings or {}),
            }
            if owner:
                space["OwnershipSettings"] = {"OwnerUserProfileName": owner}
                space["SpaceSharingSettings"] = {"SharingType": "Private"}
            STUDIO.spaces[(domain_id, name)] = space

    def add_lcc(
        self, name: str, script: str, *, region: str = "us-east-1", app_type: str = "CodeEditor"
    ) -> str:
        """Seed an LCC (CodeEditor unless ``app_type`` says) with this script; return its ARN."""
        arn = f"arn:aws:sagemaker:{region}:{ACCOUNT}:studio-lifecycle-config/{name}"
        with STUDIO.lock:
            STUDIO.lccs[name] = {
                "StudioLifecycleConfigArn": arn,
                "StudioLifecycleConfigName": name,
                "StudioLifecycleConfigContent": base64.b64encode(script.encode()).decode(),
                "StudioLifecycleConfigAppType": app_type,
            }
        return arn

    def set_app_lcc(
        self,
        domain_id: str,
        *,
        space_name: str,
        lcc_arn: str,
        region: str = "us-east-1",
        built_in: bool = False,
    ) -> None:
        """Say that the space's CodeEditor app ``default`` runs with LCC ``lcc_arn``: its default
        (``ResourceSpec.LifecycleConfigArn``), or with ``built_in`` its built-in LCC."""
        key = _AppKey(region, domain_id, space_name, "CodeEditor", "default")
        with STUDIO.lock:
            (STUDIO.app_builtins if built_in else STUDIO.app_lccs)[key] = lcc_arn

    @property
    def update_seconds(self) -> float:
        """How long an update leaves its domain, profile or space Updating (0: not at all)."""
        return STUDIO.update_seconds

    @update_seconds.setter
    def update_seconds(self, seconds: float) -> None:
        with STUDIO.lock:
            STUDIO.update_seconds = float(seconds)

    @property
    def none_clears(self) -> bool:
        """Whether an update's ``"None"`` clears an LCC ARN (else the ARN is kept)."""
        return STUDIO.none_clears

    @none_clears.setter
    def none_clears(self, clears: bool) -> None:
        with STUDIO.lock:
            STUDIO.none_clears = clears

    def references(self) -> dict[str, list[str]]:
        """Every LCC ARN that some domain, profile or space names, with where it is named."""
        found: dict[str, list[str]] = {}
        with STUDIO.lock:
            profiles = STUDIO.profiles.items()
            docs = [(f"domain {d}", v["DefaultUserSettings"]) for d, v in STUDIO.domains.items()]
            docs += [(f"user profile {k[1]}", v["UserSettings"]) for k, v in profiles]
            docs += [(f"space {k[1]}", v["SpaceSettings"]) for k, v in STUDIO.spaces.items()]
        for where, doc in docs:
            for arn in re.findall(r"arn:[^\"]*:studio-lifecycle-config/[^\"]+", json.dumps(doc)):
                found.setdefault(arn, []).append(where)
        return found

    def domain_settings(self, domain_id: str) -> dict[str, Any]:
        """The domain's DefaultUserSettings as stored."""
        with STUDIO.lock:
            return copy.deepcopy(STUDIO.domain(domain_id)["DefaultUserSettings"])

    def profile_settings(self, domain_id: str, name: str) -> dict[str, Any]:
        """A user profile's UserSettings as stored."""
        with STUDIO.lock:
            return copy.deepcopy(_profile(domain_id, name)["UserSettings"])

    def space_settings(self, domain_id: str, name: str) -> dict[str, Any]:
        """A space's SpaceSettings as stored."""
        with STUDIO.lock:
            return copy.deepcopy(_space(domain_id, name)["SpaceSettings"])

    def lcc_scripts(self) -> dict[str, str]:
        """Every LCC's name and decoded script."""
        with STUDIO.lock:
            return {
                name: base64.b64decode(lcc["StudioLifecycleConfigContent"]).decode()
                for name, lcc in STUDIO.lccs.items()
            }

    def lcc_tags(self, name: str) -> dict[str, str]:
        """The tags of LCC ``name``."""
        with STUDIO.lock:
            return dict(STUDIO.tags.get(STUDIO.lccs[name]["StudioLifecycleConfigArn"], {}))

    def http_calls(self) -> list[dict[str, Any]]:
        """The calls to other services (S3, IAM, STS, EC2): ``{"service", "method", "path"}``."""
        with self._lock:
            return [dict(c) for c in self._http_calls]

    def writes(self) -> list[str]:
        """Every call that changes something: SageMaker Create/Update/Delete/Add calls and S3
        PUT, POST and DELETE requests, as ``SageMaker.UpdateDomain`` or ``s3 PUT /bucket/key``."""
        verbs = ("Create", "Update", "Delete", "Add", "Put", "Start", "Stop")
        found = [
            f"SageMaker.{c['operation']}" for c in self.calls() if c["operation"].startswith(verbs)
        ]
        found += [
            f"{c['service']} {c['method']} {c['path']}"
            for c in self.http_calls()
            if c["service"] == "s3" and c["method"] in ("PUT", "POST", "DELETE")
        ]
        return found

    def add_app(
        self,
        domain_id: str,
        *,
        space_name: str,
        app_type: str = "CodeEditor",
        app_name: str = "default",
        region: str = "us-east-1",
        status: str = "InService",
    ) -> None:
        """Seed an app (replacing one under the same key)."""
        APPS.seed(_AppKey(region, domain_id, space_name, app_type, app_name), status)

    def app_status(
        self,
        domain_id: str,
        *,
        space_name: str,
        app_type: str = "CodeEditor",
        app_name: str = "default",
        region: str = "us-east-1",
    ) -> str | None:
        """The app's status (``InService``, ``Deleting``, ``Deleted``), or None if unknown."""
        return APPS.status(_AppKey(region, domain_id, space_name, app_type, app_name))

    def inject(
        self, operation: str, code: str, *, status: int = 400, message: str = "", count: int = 1
    ) -> None:
        """Answer the next ``count`` calls (-1: all) of ``operation`` with error ``code``."""
        if not operation or not code:
            raise ValueError("operation and code are required")
        if not 400 <= status <= 599:
            raise ValueError("status must be a 4xx or 5xx HTTP status")
        if count == 0 or count < -1:
            raise ValueError("count must be positive, or -1 for forever")
        with self._lock:
            self._faults.append(_Fault(operation, code, status, message, count))

    def clear_calls(self) -> None:
        """Forget the calls seen so far (SageMaker and the other services)."""
        with self._lock:
            self._calls.clear()
            self._http_calls.clear()

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._faults.clear()

    def calls(self, operation: str | None = None) -> list[dict[str, Any]]:
        """The SageMaker calls seen so far, oldest first, optionally of one operation only."""
        with self._lock:
            return [
                dict(c) for c in self._calls if operation is None or c["operation"] == operation
            ]

    # -- WSGI ----------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Serve /_fake/ routes, log SageMaker calls and inject faults, pass the rest to moto."""
        if str(environ.get("PATH_INFO", "")).startswith("/_fake/"):
            return self._control(Request(environ))(environ, start_response)
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        if not target.startswith("SageMaker."):
            scope = _SCOPE.search(str(environ.get("HTTP_AUTHORIZATION", "")))
            if scope and scope.group(1) == "iam":
                length = int(environ.get("CONTENT_LENGTH") or 0)
                raw = environ["wsgi.input"].read(length) if length else b""
                environ["wsgi.input"] = io.BytesIO(raw)
                if b"Action=SimulatePrincipalPolicy" in raw:
                    return self._simulate(raw)(environ, start_response)
            with self._lock:
                self._http_calls.append(
                    {
                        "service": scope.group(1) if scope else "",
                        "method": str(environ.get("REQUEST_METHOD", "")),
                        "path": str(environ.get("PATH_INFO", "")),
                    }
                )
            return self._moto(environ, start_response)

        operation = target.split(".", 1)[1]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(raw)
        try:
            params = json.loads(raw or b"{}")
        except ValueError:
            params = None
        record: dict[str, Any] = {
            "operation": operation,
            "time": time.time(),
            "status": None,
            "params": params,
        }
        with self._lock:
            self._calls.append(record)
        fault = self._take_fault(operation)
        if fault is not None:
            record["status"] = fault.status
            error = Response(
                json.dumps({"__type": fault.code, "message": fault.message}),
                status=fault.status,
                content_type="application/x-amz-json-1.1",
                headers={"x-amzn-ErrorType": fault.code, "x-amzn-RequestId": str(uuid.uuid4())},
            )
            return error(environ, start_response)

        def recording_start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
            record["status"] = int(status.split(" ", 1)[0])
            return start_response(status, headers, exc_info)

        return self._moto(environ, recording_start_response)

    def _simulate(self, raw: bytes) -> Response:
        """IAM SimulatePrincipalPolicy (moto has none): every action named is allowed, unless
        ``denied_actions`` holds it."""
        form = urllib.parse.parse_qs(raw.decode())
        actions = [v[0] for k, v in sorted(form.items()) if k.startswith("ActionNames.member.")]
        resources = [v[0] for k, v in sorted(form.items()) if k.startswith("ResourceArns.member.")]
        results = "".join(
            f"<member><EvalActionName>{a}</EvalActionName>"
            f"<EvalResourceName>{resources[0] if resources else '*'}</EvalResourceName>"
            f"<EvalDecision>{'implicitDeny' if a in self.denied_actions else 'allowed'}"
            "</EvalDecision></member>"
            for a in actions
        )
        body = (
            '<SimulatePrincipalPolicyResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
            f"<SimulatePrincipalPolicyResult><EvaluationResults>{results}</EvaluationResults>"
            "<IsTruncated>false</IsTruncated></SimulatePrincipalPolicyResult>"
            f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
            "</SimulatePrincipalPolicyResponse>"
        )
        return Response(body, status=200, content_type="text/xml")

    def _take_fault(self, operation: str) -> _Fault | None:
        with self._lock:
            fault = next((f for f in self._faults if f.operation == operation), None)
            if fault is not None and fault.count > 0:
                fault.count -= 1
                if fault.count == 0:
                    self._faults.remove(fault)
            return fault

    def _control(self, request: Request) -> Response:
        route = (request.method, request.path.rstrip("/"))
        if route == ("POST", "/_fake/faults"):
            body = request.get_json(force=True, silent=True)
            if not isinstance(body, dict):
                return _json({"error": "the body must be a JSON object"}, 400)
            try:
                self.inject(
                    str(body.get("operation") or ""),
                    str(body.get("code") or ""),
                    status=int(body.get("status", 400)),
                    message=str(body.get("message") or ""),
                    count=int(body.get("count", 1)),
                )
            except (TypeError, ValueError) as exc:
                return _json({"error": str(exc)}, 400)
            return _json({"ok": True})
        if route == ("DELETE", "/_fake/faults"):
            self.clear_faults()
            return _json({"ok": True})
        if route == ("GET", "/_fake/calls"):
            return _json(self.calls())
        if route == ("GET", "/_fake/apps"):
            return _json(APPS.as_json())
        return self._studio_control(request, route)

    def _studio_control(self, request: Request, route: tuple[str, str]) -> Response:
        """The admin side's control routes (seed a domain or a space, re-seed an app)."""
        body = request.get_json(force=True, silent=True) if request.method == "POST" else None
        try:
            if route == ("POST", "/_fake/domains") and isinstance(body, dict):
                arn = self.add_domain(
                    str(body["DomainId"]),
                    dict(body.get("DefaultUserSettings") or {}),
                    region=str(body.get("Region") or "us-east-1"),
                )
                return _json({"DomainArn": arn})
            if route == ("POST", "/_fake/spaces") and isinstance(body, dict):
                self.add_space(
                    str(body["DomainId"]),
                    str(body["SpaceName"]),
                    dict(body.get("SpaceSettings") or {}),
                    owner=body.get("Owner"),
                )
                return _json({"ok": True})
            if route == ("POST", "/_fake/apps") and isinstance(body, dict):
                self.add_app(
                    str(body["DomainId"]),
                    space_name=str(body["SpaceName"]),
                    region=str(body.get("Region") or "us-east-1"),
                    status=str(body.get("Status") or "InService"),
                )
                return _json({"ok": True})
        except (KeyError, TypeError, ValueError, ResourceNotFound) as exc:
            return _json({"error": str(exc)}, 400)
        return _json({"error": f"no route {request.method} {request.path}"}, 404)
        return _json({"error": f"no route {request.method} {request.path}"}, 404)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _parse_seed(text: str) -> _AppKey:
    spec, _, region = text.partition("@")
    parts = spec.split("/")
    if len(parts) != 4 or not all(parts):
        raise argparse.ArgumentTypeError(
            f"--seed-app wants DOMAIN_ID/SPACE_NAME/APP_TYPE/APP_NAME[@REGION], got {text!r}"
        )
    return _AppKey(region or "us-east-1", *parts)


def main(argv: list[str] | None = None) -> int:
    """Serve in the foreground until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port to bind; 0 = any (5000)")
    parser.add_argument(
        "--seed-app",
        action="append",
        type=_parse_seed,
        default=[],
        metavar="DOMAIN_ID/SPACE_NAME/APP_TYPE/APP_NAME[@REGION]",
        help="an InService app to hold from the start (repeatable)",
    )
    args = parser.parse_args(argv)
    for key in args.seed_app:
        APPS.seed(key)

    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)  # the server thread inherits it
    fake = FakeSageMaker(args.host, args.port, quiet=False)
    fake.start()
    print(f"fake-sagemaker listening on {fake.endpoint_url}", flush=True)
    signal.sigwait(stop_signals)
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
