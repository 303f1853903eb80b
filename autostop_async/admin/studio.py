"""What a domain holds now: its Code Editor settings, its user profiles' and spaces' (read
calls only), the scripts of the LCCs to chain, and waiting for Studio to finish an update.

Studio applies an update asynchronously: after ``UpdateDomain``, ``UpdateUserProfile`` or
``UpdateSpace`` the resource is ``Updating`` until it is ``InService`` again, and refuses
another update meanwhile (terraform-provider-aws waits for ``InService`` after every update).
:func:`wait_in_service` waits, bounded, saying so; :data:`WAITING` holds its delays (tests make
them short).
"""

from __future__ import annotations

import base64
import copy
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from .failures import AdminError, aws_error
from .lcc import NAME_PREFIX, is_ours, lcc_arn

__all__ = [
    "WAITING",
    "Kind",
    "Resource",
    "Snapshot",
    "Waiting",
    "builtin_lcc",
    "call",
    "default_lcc",
    "ours_in",
    "read_lcc_script",
    "read_snapshot",
    "wait_in_service",
]

Kind = Literal["domain", "user-profile", "space"]
_T = TypeVar("_T")
_CHAINED = re.compile(r"^# Runs the lifecycle configuration (\S+) \(unchanged\)", re.M)
_ARN = re.compile(r"arn:[^\"]*:studio-lifecycle-config/[^\"]+")


@dataclass
class Waiting:
    """How long to wait for a resource to be ``InService``, and how often to look."""

    first: float = 2.0  # seconds before the first look again
    most: float = 20.0  # the longest pause between looks
    timeout: float = 900.0  # then give up, saying what to do
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def pauses(self) -> Any:
        """Growing pauses (doubling up to :attr:`most`) until :attr:`timeout` has passed."""
        end = self.clock() + self.timeout
        pause = self.first
        while self.clock() < end:
            yield pause
            pause = min(pause * 2, self.most)


#: The delays every wait and retry uses.
WAITING = Waiting()


@dataclass
class Resource:
    """One place that holds Code Editor settings: the domain's defaults for users, a user
    profile's own settings, or a space's."""

    kind: Kind
    name: str  # the domain ID, the profile's or the space's name
    settings: dict[str, Any]  # its CodeEditorAppSettings ({} when it has none)
    owner: str | None = None  # a private space's user profile
    list_only: bool = False  # the domain when only profiles/spaces are in scope
    status: str = "InService"

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
    #: For each LCC of ours that a resource names: the LCC it runs first (None: none).
    chained: dict[str, str | None] = field(default_factory=dict)

    def get(self, key: str) -> Resource | None:
        """The resource ``key`` (``domain:d-…``, …), if in the snapshot."""
        return next((r for r in self.resources if r.key == key), None)


def call(fn: Callable[..., _T], action: str, resource: str, **kwargs: Any) -> _T:
    """``fn(**kwargs)``, with an AWS error turned into an :class:`AdminError` naming both."""
    try:
        return fn(**kwargs)
    except Exception as exc:
        if hasattr(exc, "response"):
            raise aws_error(exc, action, resource) from None
        raise


def _arn_value(value: Any) -> str | None:
    return None if value in (None, "", "None") else str(value)


def default_lcc(settings: dict[str, Any]) -> str | None:
    """``DefaultResourceSpec.LifecycleConfigArn`` of a CodeEditorAppSettings, if set."""
    return _arn_value((settings.get("DefaultResourceSpec") or {}).get("LifecycleConfigArn"))


def builtin_lcc(settings: dict[str, Any]) -> str | None:
    """``BuiltInLifecycleConfigArn`` of a CodeEditorAppSettings, if set."""
    return _arn_value(settings.get("BuiltInLifecycleConfigArn"))


def ours_in(settings: dict[str, Any]) -> set[str]:
    """Every ARN of an LCC of ours that ``settings`` names (built-in, default, list)."""
    return {a for a in _ARN.findall(json.dumps(settings)) if is_ours(a)}


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


def describe(sm: Any, kind: Kind, domain_id: str, name: str) -> dict[str, Any]:
    """DescribeDomain, DescribeUserProfile or DescribeSpace of one resource."""
    if kind == "domain":
        return dict(
            call(
                sm.describe_domain,
                "sagemaker:DescribeDomain",
                f"domain {domain_id}",
                DomainId=domain_id,
            )
        )
    if kind == "user-profile":
        return dict(
            call(
                sm.describe_user_profile,
                "sagemaker:DescribeUserProfile",
                f"user profile {name} of domain {domain_id}",
                DomainId=domain_id,
                UserProfileName=name,
            )
        )
    return dict(
        call(
            sm.describe_space,
            "sagemaker:DescribeSpace",
            f"space {name} of domain {domain_id}",
            DomainId=domain_id,
            SpaceName=name,
        )
    )


def read_snapshot(
    sm: Any,
    domain_id: str,
    profiles: Sequence[str] = (),
    spaces: Sequence[str] = (),
    *,
    domain: dict[str, Any] | None = None,
) -> Snapshot:
    """Describe the domain (unless ``domain`` is its description, read by
    :func:`.checks.check_domain`, which is where a domain not ``InService`` is refused) and, in
    scope, its profiles and spaces. With no ``profiles`` and no ``spaces`` the scope is the
    whole domain: every user profile and every space (listed page by page)."""
    where = f"domain {domain_id}"
    if domain is None:
        domain = describe(sm, "domain", domain_id, domain_id)
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
        got = describe(sm, "user-profile", domain_id, name)
        settings = (got.get("UserSettings") or {}).get("CodeEditorAppSettings") or {}
        role = (got.get("UserSettings") or {}).get("ExecutionRole")
        if role:
            snap.execution_roles.add(str(role))
        status = str(got.get("Status") or "InService")
        snap.resources.append(
            Resource("user-profile", name, copy.deepcopy(settings), status=status)
        )
    space_names = list(spaces)
    if whole:
        listed = _paged(sm, "list_spaces", "Spaces", where, DomainIdEquals=domain_id)
        space_names = [str(s["SpaceName"]) for s in listed]
    for name in space_names:
        got = describe(sm, "space", domain_id, name)
        settings = (got.get("SpaceSettings") or {}).get("CodeEditorAppSettings") or {}
        owner = (got.get("OwnershipSettings") or {}).get("OwnerUserProfileName")
        status = str(got.get("Status") or "InService")
        snap.resources.append(
            Resource("space", name, copy.deepcopy(settings), owner, status=status)
        )
    for lcc in _paged(
        sm,
        "list_studio_lifecycle_configs",
        "StudioLifecycleConfigs",
        "the account's studio lifecycle configs",
        NameContains=NAME_PREFIX.rstrip("-"),
    ):
        if is_ours(str(lcc.get("StudioLifecycleConfigArn", ""))):
            snap.our_lccs.add(str(lcc["StudioLifecycleConfigName"]))
    for found in sorted({a for r in snap.resources for a in ours_in(r.settings)}):
        snap.chained[found.rsplit("/", 1)[-1]] = _runs_first(sm, snap, found)
    return snap


def _runs_first(sm: Any, snap: Snapshot, arn: str) -> str | None:
    """The LCC that our LCC ``arn`` runs first (from its script), or None (none, or gone)."""
    name = arn.rsplit("/", 1)[-1]
    if name not in snap.our_lccs:
        return None
    match = _CHAINED.search(read_lcc_script(sm, arn))
    return lcc_arn(snap.domain_arn, match.group(1)) if match else None


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


_WAIT_FOR = ("Updating", "Pending")


def wait_in_service(
    sm: Any, kind: Kind, domain_id: str, name: str, say: Callable[[str], None]
) -> None:
    """Return once the resource is ``InService``; a line while waiting; :class:`AdminError`
    when it is in a failed state or still busy after :data:`WAITING`'s timeout."""
    what = f"{kind} {name}"
    said = False
    pauses = WAITING.pauses()
    while True:
        got = describe(sm, kind, domain_id, name)
        status = str(got.get("Status") or "InService")
        if status == "InService":
            return
        if status not in _WAIT_FOR:
            reason = f": {got['FailureReason']}" if got.get("FailureReason") else ""
            raise AdminError(f"{what} is {status}{reason}; it must be InService to be updated")
        pause = next(pauses, None)
        if pause is None:
            raise AdminError(
                f"{what} is still {status} after {WAITING.timeout:.0f} s; run the command "
                "again once it is InService"
            )
        if not said:
            say(f"waiting for {what} to be InService (now {status}) …")
            said = True
        WAITING.sleep(pause)
