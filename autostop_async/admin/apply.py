"""The writes of deploy and undeploy, in an order that can be undone.

Deploy: upload the wheelhouse (content-addressed, harmless), create the LCCs (tagged, unused
until referenced), write the deployment record with every before-image, then update the domain,
the user profiles and the spaces. A failure stops at once and says what was changed and the
command that undoes it. Undeploy: the spaces, the profiles, the domain, then the LCCs that no
running app uses.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

from .failures import AdminError, aws_error
from .lcc import Lcc
from .plan import Change, Plan, normalize, to_send
from .record import Record
from .studio import call

__all__ = ["TAGS", "apps_using", "create_lccs", "update_resource", "write_changes"]

#: Tags on every LCC a deploy creates, so that undeploy and fleet tools can find them.
TAGS = {"autostop-async:managed-by": "autostop-async deploy"}
_ORDER = {"domain": 0, "user-profile": 1, "space": 2}

Say = Callable[[str], None]


def create_lccs(
    sm: Any, domain_id: str, lccs: list[Lcc], existing: set[str], say: Say
) -> dict[str, str]:
    """Create the LCCs not in ``existing``; return each one's ARN as the API gives it."""
    arns = {}
    for lcc in lccs:
        if lcc.name in existing:
            arns[lcc.arn] = lcc.arn
            continue
        tags = [{"Key": k, "Value": v} for k, v in TAGS.items()]
        tags.append({"Key": "autostop-async:domain", "Value": domain_id})
        if lcc.chains:
            tags.append({"Key": "autostop-async:runs-first", "Value": lcc.chains})
        got = call(
            sm.create_studio_lifecycle_config,
            "sagemaker:CreateStudioLifecycleConfig",
            f"studio lifecycle config {lcc.name}",
            StudioLifecycleConfigName=lcc.name,
            StudioLifecycleConfigContent=lcc.content,
            StudioLifecycleConfigAppType="CodeEditor",
            Tags=tags,
        )
        arns[lcc.arn] = str(got["StudioLifecycleConfigArn"])
        say(f"created LCC {lcc.name}")
    return arns


def remap(plan: Plan, arns: dict[str, str]) -> None:
    """Use the ARNs the API returned where they differ from the ones the plan assumed."""
    moved = {old: new for old, new in arns.items() if old != new}
    if not moved:
        return
    plan.lccs = [dataclasses.replace(lcc, arn=moved.get(lcc.arn, lcc.arn)) for lcc in plan.lccs]
    for change in plan.changes:
        text = json.dumps(change.after)
        for old, new in moved.items():
            text = text.replace(json.dumps(old), json.dumps(new))
        change.after = json.loads(text)


def update_resource(sm: Any, domain_id: str, change: Change) -> None:
    """Send one resource's new Code Editor settings (and nothing else of its settings)."""
    res = change.resource
    send = to_send(change.before, change.after)
    if res.kind == "domain":
        call(
            sm.update_domain,
            "sagemaker:UpdateDomain",
            f"domain {domain_id}",
            DomainId=domain_id,
            DefaultUserSettings={"CodeEditorAppSettings": send},
        )
    elif res.kind == "user-profile":
        call(
            sm.update_user_profile,
            "sagemaker:UpdateUserProfile",
            f"user profile {res.name} of domain {domain_id}",
            DomainId=domain_id,
            UserProfileName=res.name,
            UserSettings={"CodeEditorAppSettings": send},
        )
    else:
        call(
            sm.update_space,
            "sagemaker:UpdateSpace",
            f"space {res.name} of domain {domain_id}",
            DomainId=domain_id,
            SpaceName=res.name,
            SpaceSettings={"CodeEditorAppSettings": send},
        )


def write_changes(
    sm: Any, domain_id: str, changes: list[Change], say: Say, undo: str, *, reverse: bool = False
) -> None:
    """Write each pending change in order (domain, profiles, spaces; ``reverse`` the other
    way); on a failure, say what was changed and how to undo it, and raise."""
    pending = sorted(
        (c for c in changes if c.changed),
        key=lambda c: _ORDER[c.resource.kind],
        reverse=reverse,
    )
    done: list[str] = []
    for change in pending:
        try:
            update_resource(sm, domain_id, change)
        except AdminError as exc:
            changed = ", ".join(done) if done else "none of the domain, profiles or spaces"
            raise AdminError(
                f"{exc}\nstopped there. Changed so far: {changed}.\nTo undo: {undo}"
            ) from None
        done.append(f"{change.resource.kind} {change.resource.name}")
        say(f"updated {change.resource.kind} {change.resource.name}")


def record_after(record: Record | None, domain_id: str, plan: Plan) -> Record:
    """The record with this plan's changes: a resource's before-image is kept from the first
    deploy that changed it; what is written now replaces what was written before."""
    out = (
        Record(domain_id)
        if record is None
        else Record(domain_id, dict(record.resources), dict(record.lccs))
    )
    for change in plan.pending:
        key = change.resource.key
        before = out.resources.get(key, {}).get("before", change.before)
        out.resources[key] = {
            "kind": change.resource.kind,
            "name": change.resource.name,
            "before": before,
            "written": normalize(change.after),
        }
    for lcc in plan.lccs:
        out.lccs[lcc.name] = {"arn": lcc.arn, "runs_first": lcc.chains}
    return out


def apps_using(sm: Any, domain_id: str, arns: set[str]) -> dict[str, list[str]]:
    """For each LCC ARN, the apps of the domain that run with it and are not gone."""
    using: dict[str, list[str]] = {}
    try:
        pages = sm.get_paginator("list_apps").paginate(DomainIdEquals=domain_id)
        apps = [app for page in pages for app in page.get("Apps", [])]
    except Exception as exc:
        if hasattr(exc, "response"):
            raise aws_error(exc, "sagemaker:ListApps", f"domain {domain_id}") from None
        raise
    for app in apps:
        if app.get("Status") in ("Deleted", "Failed"):
            continue
        if "ResourceSpec" not in app:  # ListApps may leave it out: ask the app
            owner_key = "SpaceName" if app.get("SpaceName") else "UserProfileName"
            app = call(
                sm.describe_app,
                "sagemaker:DescribeApp",
                f"app {app.get(owner_key)}/{app.get('AppType')}/{app.get('AppName')}",
                DomainId=domain_id,
                AppType=app.get("AppType"),
                AppName=app.get("AppName"),
                **{owner_key: app.get(owner_key)},
            )
        arn = (app.get("ResourceSpec") or {}).get("LifecycleConfigArn")
        if arn in arns:
            owner = app.get("SpaceName") or app.get("UserProfileName") or "?"
            name = f"{owner}/{str(app.get('AppType', '')).lower()}/{app.get('AppName')}"
            using.setdefault(str(arn), []).append(f"{name} ({app.get('Status')})")
    return using
