"""The domain's Code Editor apps as the SageMaker API lists them (read calls only): every app
with its space, owner, status, instance type and creation time; the built-in idle shutdown that
applies to a space; when the domain's current autostop-async LCC was created."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .failures import AdminError, aws_error
from .lcc import is_ours

__all__ = ["App", "Fleet", "builtin_idle_minutes", "read_fleet"]

APP_TYPE = "CodeEditor"
_ARN = re.compile(r"arn:[a-z-]+:sagemaker:[a-z0-9-]+:[0-9]+:studio-lifecycle-config/[A-Za-z0-9-]+")


@dataclass(frozen=True)
class App:
    """One Code Editor app of the domain."""

    space: str
    app_name: str
    status: str
    created_at: float | None  # CreationTime, epoch seconds
    instance_type: str | None  # ResourceSpec.InstanceType
    owner: str | None  # a private space's user profile
    lcc_arn: str | None = None  # ResourceSpec.LifecycleConfigArn, when listed


@dataclass
class Fleet:
    """What the read found."""

    domain_id: str
    region: str
    apps: list[App] = field(default_factory=list)
    owners: dict[str, str | None] = field(default_factory=dict)  # space -> owner
    domain_settings: dict[str, Any] = field(default_factory=dict)  # DefaultUserSettings
    deployed_at: float | None = None  # CreationTime of the domain's newest autostop-async LCC
    deployed_lcc: str | None = None
    calls: int = 0
    #: Each owner's idle settings, read once (``builtin_idle_minutes``).
    profile_idle: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    _by_space: dict[str, list[App]] | None = field(default=None, repr=False)

    def apps_of(self, space: str) -> list[App]:
        """The apps of ``space``, oldest first (one without a CreationTime first of all)."""
        if self._by_space is None:
            self._by_space = {}
            for app in sorted(self.apps, key=lambda a: _created(a)):
                self._by_space.setdefault(app.space, []).append(app)
        return self._by_space.get(space, [])

    def later_apps(self, space: str, after: float) -> list[App]:
        """The apps of ``space`` created after ``after``, oldest first."""
        return [a for a in self.apps_of(space) if _created(a) > after]


def _created(app: App) -> float:
    """CreationTime, or the beginning of time when ListApps gave none."""
    return app.created_at if app.created_at is not None else float("-inf")


def _epoch(value: Any) -> float | None:
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
        return aware.timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _pages(sm: Any, fleet: Fleet, operation: str, key: str, **kwargs: Any) -> Iterable[Any]:
    action = "sagemaker:" + "".join(p.title() for p in operation.split("_"))
    try:
        pages = sm.get_paginator(operation).paginate(**kwargs, PaginationConfig={"PageSize": 100})
        for page in pages:
            fleet.calls += 1
            yield from page.get(key) or []
    except Exception as exc:
        if hasattr(exc, "response"):
            raise aws_error(exc, action, f"domain {fleet.domain_id}") from None
        raise


def _call(sm: Any, fleet: Fleet, operation: str, what: str, **kwargs: Any) -> dict[str, Any]:
    action = "sagemaker:" + "".join(p.title() for p in operation.split("_"))
    try:
        fleet.calls += 1
        return dict(getattr(sm, operation)(**kwargs))
    except Exception as exc:
        if hasattr(exc, "response"):
            raise aws_error(exc, action, what) from None
        raise


def read_fleet(sm: Any, domain_id: str) -> Fleet:
    """Describe the domain, list its spaces (owners) and its Code Editor apps, paginated."""
    domain = _call(sm, Fleet(domain_id, ""), "describe_domain", f"domain {domain_id}",
                   DomainId=domain_id)  # fmt: skip
    arn = str(domain.get("DomainArn") or "")
    fleet = Fleet(domain_id, arn.split(":")[3] if arn.count(":") >= 5 else "", calls=1)
    fleet.domain_settings = dict(domain.get("DefaultUserSettings") or {})
    for space in _pages(sm, fleet, "list_spaces", "Spaces", DomainIdEquals=domain_id):
        owner = (space.get("OwnershipSettingsSummary") or {}).get("OwnerUserProfileName")
        fleet.owners[str(space.get("SpaceName"))] = str(owner) if owner else None
    for item in _pages(sm, fleet, "list_apps", "Apps", DomainIdEquals=domain_id):
        if item.get("AppType") != APP_TYPE or not item.get("SpaceName"):
            continue  # Code Editor runs in spaces only
        spec = item.get("ResourceSpec") or {}
        space = str(item["SpaceName"])
        fleet.apps.append(
            App(
                space=space,
                app_name=str(item.get("AppName") or "default"),
                status=str(item.get("Status") or "unknown"),
                created_at=_epoch(item.get("CreationTime")),
                instance_type=str(spec["InstanceType"]) if spec.get("InstanceType") else None,
                owner=fleet.owners.get(space),
                lcc_arn=str(spec["LifecycleConfigArn"]) if spec.get("LifecycleConfigArn") else None,
            )
        )
    fleet.apps.sort(key=lambda a: (a.space, a.created_at or 0.0))
    _read_deploy_time(sm, fleet)
    return fleet


def _read_deploy_time(sm: Any, fleet: Fleet) -> None:
    """When the domain's autostop-async LCC (the newest one its settings name) was created."""
    text = json.dumps(fleet.domain_settings.get("CodeEditorAppSettings"), default=str)
    named = sorted(set(_ARN.findall(text)))
    for arn in (a for a in named if is_ours(a)):
        name = arn.rsplit("/", 1)[-1]
        got = _call(sm, fleet, "describe_studio_lifecycle_config", f"LCC {name}",
                    StudioLifecycleConfigName=name)  # fmt: skip
        created = _epoch(got.get("CreationTime"))
        if created is not None and (fleet.deployed_at is None or created > fleet.deployed_at):
            fleet.deployed_at, fleet.deployed_lcc = created, name


def _described(sm: Any, fleet: Fleet, operation: str, what: str, **kwargs: Any) -> dict[str, Any]:
    """A Describe call's answer; ``{}`` when the resource is gone (a deleted profile)."""
    try:
        return _call(sm, fleet, operation, what, **kwargs)
    except AdminError as exc:
        if "ResourceNotFound" in str(exc):
            return {}
        raise


def _idle_settings(settings: Any) -> dict[str, Any]:
    ce = (settings or {}).get("CodeEditorAppSettings") or {}
    return dict((ce.get("AppLifecycleManagement") or {}).get("IdleSettings") or {})


def builtin_idle_minutes(sm: Any, fleet: Fleet, space: str) -> float | None:
    """The built-in idle shutdown's timeout that may apply to ``space``, in minutes; None when
    nothing turns it on. Only the domain's defaults and a user profile can turn it on (a space's
    ``SpaceIdleSettings`` holds a timeout only). Conservative for savings: on when the domain or
    the space's owner turns it on, with the shortest timeout the domain, the owner or the space
    names (or the 60-minute minimum)."""
    layers = [_idle_settings(fleet.domain_settings)]
    owner = fleet.owners.get(space)
    if owner:
        if owner not in fleet.profile_idle:
            got = _described(sm, fleet, "describe_user_profile", f"user profile {owner}",
                             DomainId=fleet.domain_id, UserProfileName=owner)  # fmt: skip
            fleet.profile_idle[owner] = _idle_settings(got.get("UserSettings"))
        layers.append(fleet.profile_idle[owner])
    if not any(layer.get("LifecycleManagement") == "ENABLED" for layer in layers):
        return None
    got = _described(sm, fleet, "describe_space", f"space {space}",
                     DomainId=fleet.domain_id, SpaceName=space)  # fmt: skip
    layers.append(_idle_settings(got.get("SpaceSettings")))
    timeouts = [
        float(layer[k])
        for layer in layers
        for k in ("IdleTimeoutInMinutes", "MinIdleTimeoutInMinutes")
        if isinstance(layer.get(k), (int, float)) and not isinstance(layer.get(k), bool)
    ]
    return min(timeouts) if timeouts else 60.0
