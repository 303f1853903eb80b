"""The writes of deploy and undeploy, in an order that can be undone.

Deploy: upload the wheelhouse and the start script (content-addressed, harmless), create the
LCCs (tagged, unused until referenced), write the deployment record with every before-image,
then update the spaces, the user profiles and the domain, each once Studio has it
``InService``, retrying an update refused as "already being updated", and waiting for
``InService`` again after it. A failure stops at once and says what was changed and the command
that undoes it. Then (deploy and undeploy alike) the LCCs of ours that nothing uses any more are
deleted: only when no resource of the domain references one and no running app uses it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Collection
from typing import Any

from . import studio
from .failures import AdminError, aws_error
from .lcc import Lcc
from .plan import Change, Plan, normalize, to_send
from .record import Record
from .studio import Kind, call, ours_in, wait_in_service

__all__ = [
    "TAGS",
    "apps_using",
    "create_lccs",
    "put_script",
    "remove_unused",
    "update_resource",
    "write_changes",
]

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


def _busy(exc: Exception) -> bool:
    """An update refused because the resource is being updated (AWS's own CDK sample matches
    this message; the code is ResourceInUse or ValidationException, not documented)."""
    response: Any = getattr(exc, "response", None)
    message = str((response or {}).get("Error", {}).get("Message", ""))
    return "already being updated" in message


def _send(sm: Any, domain_id: str, res_kind: Kind, name: str, send: dict[str, Any]) -> None:
    if res_kind == "domain":
        fn, action, what = sm.update_domain, "sagemaker:UpdateDomain", f"domain {domain_id}"
        kwargs: dict[str, Any] = {"DefaultUserSettings": {"CodeEditorAppSettings": send}}
    elif res_kind == "user-profile":
        fn, action = sm.update_user_profile, "sagemaker:UpdateUserProfile"
        what = f"user profile {name} of domain {domain_id}"
        kwargs = {"UserProfileName": name, "UserSettings": {"CodeEditorAppSettings": send}}
    else:
        fn, action = sm.update_space, "sagemaker:UpdateSpace"
        what = f"space {name} of domain {domain_id}"
        kwargs = {"SpaceName": name, "SpaceSettings": {"CodeEditorAppSettings": send}}
    pauses = studio.WAITING.pauses()
    while True:
        try:
            fn(DomainId=domain_id, **kwargs)
            return
        except Exception as exc:
            if not hasattr(exc, "response"):
                raise
            pause = next(pauses, None) if _busy(exc) else None
            if pause is None:
                raise aws_error(exc, action, what) from None
        studio.WAITING.sleep(pause)


def update_resource(sm: Any, domain_id: str, change: Change, say: Say = print) -> None:
    """Send one resource's changed Code Editor settings (and nothing else of its settings),
    once it is ``InService``; wait until it is ``InService`` again."""
    res = change.resource
    wait_in_service(sm, res.kind, domain_id, res.name, say)
    _send(sm, domain_id, res.kind, res.name, to_send(change.before, change.after))
    wait_in_service(sm, res.kind, domain_id, res.name, say)


def write_changes(
    sm: Any, domain_id: str, changes: list[Change], say: Say, undo: str, *, reverse: bool = True
) -> None:
    """Write each pending change in order (spaces, profiles, the domain: a resource's default
    is taken out before the list that offers it; ``reverse=False`` the other way); on a
    failure, say what was changed and how to undo it, and raise."""
    pending = sorted(
        (c for c in changes if c.changed),
        key=lambda c: _ORDER[c.resource.kind],
        reverse=reverse,
    )
    done: list[str] = []
    for change in pending:
        try:
            update_resource(sm, domain_id, change, say)
        except AdminError as exc:
            changed = ", ".join(done) if done else "none of the domain, profiles or spaces"
            raise AdminError(
                f"{exc}\nstopped there. Changed so far: {changed}.\nTo undo: {undo}"
            ) from None
        done.append(f"{change.resource.kind} {change.resource.name}")
        say(f"updated {change.resource.kind} {change.resource.name}")


def put_script(s3: Any, bucket: str, key: str, script: str) -> bool:
    """Upload the rendered start script to ``s3://bucket/key`` unless it is there (its name is
    its content's hash); True when uploaded."""
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return False
    except Exception as exc:
        response: Any = getattr(exc, "response", None)
        code = str((response or {}).get("Error", {}).get("Code", ""))
        if code not in ("404", "NoSuchKey", "NotFound"):
            if response is not None:
                raise aws_error(exc, "s3:GetObject", f"s3://{bucket}/{key}") from None
            raise
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=script.encode(), ContentType="text/plain")
    except Exception as exc:
        raise aws_error(exc, "s3:PutObject", f"s3://{bucket}/{key}") from None
    return True


def record_after(
    record: Record | None, domain_id: str, plan: Plan, gone: Collection[str] = ()
) -> Record:
    """The record with this plan's changes: a resource's before-image is kept from the first
    deploy that changed it; what is written now replaces what was written before; the LCCs
    in ``gone`` (deleted) are left out."""
    out = (
        Record(domain_id)
        if record is None
        else Record(domain_id, dict(record.resources), dict(record.lccs))
    )
    for name in gone:
        out.lccs.pop(name, None)
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
        ran = {(app.get("ResourceSpec") or {}).get("LifecycleConfigArn")}
        ran.add(app.get("BuiltInLifecycleConfigArn"))
        for arn in sorted(a for a in ran if a in arns):
            owner = app.get("SpaceName") or app.get("UserProfileName") or "?"
            name = f"{owner}/{str(app.get('AppType', '')).lower()}/{app.get('AppName')}"
            using.setdefault(str(arn), []).append(f"{name} ({app.get('Status')})")
    return using


def remove_unused(sm: Any, domain_id: str, candidates: dict[str, str], say: Say) -> dict[str, str]:
    """Delete each LCC of ``candidates`` (name → ARN) that no resource of the domain references
    (every profile and space, read again now) and no running app uses; return the ones kept,
    each with what keeps it (also said)."""
    if not candidates:
        return {}
    snapshot = studio.read_snapshot(sm, domain_id)
    referenced: dict[str, list[str]] = {}
    for res in snapshot.resources:
        for arn in ours_in(res.settings):
            referenced.setdefault(arn, []).append(f"{res.kind} {res.name}")
    using = apps_using(sm, domain_id, set(candidates.values()))
    kept: dict[str, str] = {}
    for name, arn in candidates.items():
        if arn in referenced or arn in using:
            why = ", ".join(referenced.get(arn, []))
            if arn in using:
                why = ", ".join(filter(None, [why, "running apps " + ", ".join(using[arn])]))
            kept[name] = f"used by {why}"
            say(f"kept LCC {name}: used by {why}")
            continue
        try:
            call(
                sm.delete_studio_lifecycle_config,
                "sagemaker:DeleteStudioLifecycleConfig",
                f"studio lifecycle config {name}",
                StudioLifecycleConfigName=name,
            )
            say(f"deleted LCC {name}")
        except AdminError as exc:
            if "ResourceNotFound" in str(exc):
                continue
            if "ResourceInUse" not in str(exc):
                raise
            kept[name] = str(exc)
            say(f"kept LCC {name}: {exc}")
    return kept
