"""What a domain holds now: its Code Editor settings, its user profiles' and spaces' (read
calls only), and the scripts of the LCCs they use as default."""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from .failures import AdminError, aws_error
from .lcc import NAME_PREFIX, is_ours

__all__ = [
    "Kind",
    "Resource",
    "Snapshot",
    "call",
    "default_lcc",
    "read_lcc_script",
    "read_snapshot",
]

Kind = Literal["domain", "user-profile", "space"]
_T = TypeVar("_T")


@dataclass
class Resource:
    """One place that holds Code Editor settings: the domain's defaults for users, a user
    profile's own settings, or a space's."""

    kind: Kind
    name: str  # the domain ID, the profile's or the space's name
    settings: dict[str, Any]  # its CodeEditorAppSettings ({} when it has none)
    owner: str | None = None  # a private space's user profile
    list_only: bool = False  # the domain when only profiles/spaces are in scope

    @property
    def key(self) -> str:
        """``domain:d-…``, ``user-profile:NAME``, ``space:NAME``."""
        return f"{self.kind}:{self.name}"


@dataclass
class Snapshot:
    """The domain and the profiles and spaces in scope, as described now."""

    domain_id: str
    domain_arn: str
    region: str
    network: str  # AppNetworkAccessType: PublicInternetOnly or VpcOnly
    vpc_id: str | None
    execution_roles: set[str] = field(default_factory=set)
    resources: list[Resource] = field(default_factory=list)
    our_lccs: set[str] = field(default_factory=set)  # names of LCCs a deploy made that exist


def call(fn: Callable[..., _T], action: str, resource: str, **kwargs: Any) -> _T:
    """``fn(**kwargs)``, with an AWS error turned into an :class:`AdminError` naming both."""
    try:
        return fn(**kwargs)
    except Exception as exc:
        if hasattr(exc, "response"):
            raise aws_error(exc, action, resource) from None
        raise


def default_lcc(settings: dict[str, Any]) -> str | None:
    """``DefaultResourceSpec.LifecycleConfigArn`` of a CodeEditorAppSettings, if set."""
    arn = (settings.get("DefaultResourceSpec") or {}).get("LifecycleConfigArn")
    return None if arn in (None, "", "None") else str(arn)


def _overrides(settings: dict[str, Any]) -> bool:
    """Settings of a user profile that take the place of the domain's for Code Editor."""
    return bool(settings.get("DefaultResourceSpec") or settings.get("LifecycleConfigArns"))


def _paged(sm: Any, operation: str, key: str, what: str, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    try:
        for page in sm.get_paginator(operation).paginate(**kwargs):
            items.extend(page.get(key, []))
    except Exception as exc:
        if hasattr(exc, "response"):
            action = "sagemaker:" + "".join(p.title() for p in operation.split("_"))
            raise aws_error(exc, action, what) from None
        raise
    return items


def read_snapshot(
    sm: Any,
    domain_id: str,
    profiles: Sequence[str] = (),
    spaces: Sequence[str] = (),
) -> Snapshot:
    """Describe the domain and, in scope, its profiles and spaces. With no ``profiles`` and no
    ``spaces`` the scope is the whole domain: the profiles whose own Code Editor settings
    override the domain's, and every space that runs Code Editor."""
    where = f"domain {domain_id}"
    domain = call(sm.describe_domain, "sagemaker:DescribeDomain", where, DomainId=domain_id)
    arn = str(domain["DomainArn"])
    user_settings = domain.get("DefaultUserSettings") or {}
    snap = Snapshot(
        domain_id=domain_id,
        domain_arn=arn,
        region=arn.split(":")[3],
        network=str(domain.get("AppNetworkAccessType") or "PublicInternetOnly"),
        vpc_id=domain.get("VpcId"),
    )
    if user_settings.get("ExecutionRole"):
        snap.execution_roles.add(str(user_settings["ExecutionRole"]))
    whole = not profiles and not spaces
    snap.resources.append(
        Resource(
            "domain",
            domain_id,
            copy.deepcopy(user_settings.get("CodeEditorAppSettings") or {}),
            list_only=not whole,
        )
    )
    names = list(profiles)
    if whole:
        listed = _paged(sm, "list_user_profiles", "UserProfiles", where, DomainIdEquals=domain_id)
        names = [str(p["UserProfileName"]) for p in listed]
    for name in names:
        got = call(
            sm.describe_user_profile,
            "sagemaker:DescribeUserProfile",
            f"user profile {name} of {where}",
            DomainId=domain_id,
            UserProfileName=name,
        )
        settings = (got.get("UserSettings") or {}).get("CodeEditorAppSettings") or {}
        role = (got.get("UserSettings") or {}).get("ExecutionRole")
        if role:
            snap.execution_roles.add(str(role))
        if profiles or _overrides(settings):
            snap.resources.append(Resource("user-profile", name, copy.deepcopy(settings)))
    space_names = list(spaces)
    if whole:
        listed = _paged(sm, "list_spaces", "Spaces", where, DomainIdEquals=domain_id)
        space_names = [str(s["SpaceName"]) for s in listed]
    for name in space_names:
        got = call(
            sm.describe_space,
            "sagemaker:DescribeSpace",
            f"space {name} of {where}",
            DomainId=domain_id,
            SpaceName=name,
        )
        space_settings = got.get("SpaceSettings") or {}
        settings = space_settings.get("CodeEditorAppSettings") or {}
        if spaces or space_settings.get("AppType") == "CodeEditor" or settings:
            owner = (got.get("OwnershipSettings") or {}).get("OwnerUserProfileName")
            snap.resources.append(Resource("space", name, copy.deepcopy(settings), owner))
    for lcc in _paged(
        sm,
        "list_studio_lifecycle_configs",
        "StudioLifecycleConfigs",
        "the account's studio lifecycle configs",
        NameContains=NAME_PREFIX.rstrip("-"),
    ):
        if is_ours(str(lcc.get("StudioLifecycleConfigArn", ""))):
            snap.our_lccs.add(str(lcc["StudioLifecycleConfigName"]))
    return snap


def read_lcc_script(sm: Any, arn: str) -> str:
    """The script of the LCC ``arn`` (to chain it)."""
    name = arn.rsplit("/", 1)[-1]
    got = call(
        sm.describe_studio_lifecycle_config,
        "sagemaker:DescribeStudioLifecycleConfig",
        f"studio lifecycle config {name}",
        StudioLifecycleConfigName=name,
    )
    try:
        return base64.b64decode(str(got["StudioLifecycleConfigContent"])).decode()
    except (ValueError, UnicodeDecodeError):
        raise AdminError(f"LCC {name}: its content is not base64 of UTF-8 text") from None
