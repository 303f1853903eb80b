"""Before → after for each resource in scope (pure: no AWS calls), and the plan's text.

Deploy merges, never replaces: it starts from each resource's settings as described, adds
its LCC to ``LifecycleConfigArns``, makes it the default
(``DefaultResourceSpec.LifecycleConfigArn``), and keeps every other field. When another LCC
is the default, the new default is an LCC that runs that one and then autostop-async's
(see :func:`.lcc.chain`); the other stays in the list.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from .failures import UsageError
from .lcc import Lcc, chain, is_ours, lcc_arn, lcc_name
from .record import Record
from .studio import Resource, Snapshot, default_lcc

__all__ = [
    "MAX_LCC_ARNS",
    "Change",
    "Plan",
    "base_defaults",
    "normalize",
    "plan_deploy",
    "plan_undeploy",
    "to_send",
]

#: Studio's limit on ``LifecycleConfigArns`` (not checked by botocore).
MAX_LCC_ARNS = 30


def normalize(value: Any) -> Any:
    """``value`` without empty lists and objects, ``None`` and the string ``"None"`` (Studio's
    way to clear an ARN): two settings equal after this are the same to Studio."""
    if isinstance(value, dict):
        out = {k: normalize(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, "None", [], {})}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    return value


@dataclass
class Change:
    """One resource's Code Editor settings now (``before``) and as planned (``after``)."""

    resource: Resource
    before: dict[str, Any]
    after: dict[str, Any]
    note: str = ""

    @property
    def changed(self) -> bool:
        """The plan writes this resource."""
        return bool(normalize(self.before) != normalize(self.after))


@dataclass
class Plan:
    """Every resource in scope with its before and after, and the LCCs the after uses."""

    domain_id: str
    changes: list[Change]
    lccs: list[Lcc] = field(default_factory=list)

    @property
    def pending(self) -> list[Change]:
        """The changes that write something."""
        return [c for c in self.changes if c.changed]

    def text(self, existing_lccs: Collection[str] = ()) -> str:
        """The plan as the admin reads it: LCCs to create, then before → after per resource."""
        lines = []
        for lcc in self.lccs:
            state = "exists" if lcc.name in existing_lccs else "create"
            what = (
                f"runs {_short(lcc.chains)}, then autostop-async"
                if lcc.chains
                else "autostop-async"
            )
            lines.append(f"{state:>7} LCC {lcc.name} ({what}; {len(lcc.content):,} base64 chars)")
        for change in self.changes:
            lines.extend(describe(change))
        return "\n".join(lines)


def _short(arn: Any) -> str:
    """An ARN of an LCC as its name; other values as JSON."""
    if isinstance(arn, str) and ":studio-lifecycle-config/" in arn:
        return arn.rsplit("/", 1)[-1]
    if isinstance(arn, list):
        return "[" + ", ".join(_short(a) for a in arn) + "]"
    return json.dumps(arn)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else k))
        return out
    return {prefix: value} if prefix else {}


def describe(change: Change) -> list[str]:
    """``~ domain d-… `` and one line per changed field (``old -> new``), then the kept ones."""
    res = change.resource
    where = {
        "domain": "DefaultUserSettings.CodeEditorAppSettings",
        "user-profile": "UserSettings.CodeEditorAppSettings",
        "space": "SpaceSettings.CodeEditorAppSettings",
    }[res.kind]
    if not change.changed:
        return [f"  = {res.kind} {res.name}: no changes"]
    before, after = _flatten(normalize(change.before)), _flatten(normalize(change.after))
    lines = [f"  ~ {res.kind} {res.name} ({where}){f': {change.note}' if change.note else ''}"]
    for path in sorted(set(before) | set(after)):
        old, new = before.get(path), after.get(path)
        if old != new:
            shown_old = "(unset)" if old is None else _short(old)
            shown_new = "(unset)" if new is None else _short(new)
            lines.append(f"      {path}: {shown_old} -> {shown_new}")
    kept = sorted(p for p in before if before[p] == after.get(p))
    if kept:
        lines.append(f"      kept: {', '.join(kept)}")
    return lines


def to_send(current: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The CodeEditorAppSettings to send so that ``after`` is what Studio holds: the whole
    object (whether Studio merges nested objects is not documented), with a default LCC that
    ``after`` drops cleared explicitly (``"None"``) and a list it drops sent empty."""
    send = copy.deepcopy(after)
    if default_lcc(current) and not default_lcc(after):
        send.setdefault("DefaultResourceSpec", {})["LifecycleConfigArn"] = "None"
    if current.get("LifecycleConfigArns") and not after.get("LifecycleConfigArns"):
        send["LifecycleConfigArns"] = []
    return send


def _base_default(res: Resource, record: Record | None) -> str | None:
    """The default LCC the resource has apart from ours: its own, or (when ours is the
    default) the one it had before the first deploy."""
    current = default_lcc(res.settings)
    if not is_ours(current):
        return current
    before = record.before(res.key) if record is not None else None
    earlier = default_lcc(before) if before else None
    return None if is_ours(earlier) else earlier


def base_defaults(snapshot: Snapshot, record: Record | None) -> set[str]:
    """The admin's own default LCCs in scope: each is chained before ours."""
    found = set()
    for res in snapshot.resources:
        if res.list_only and not is_ours(default_lcc(res.settings)):
            continue
        base = _base_default(res, record)
        if base:
            found.add(base)
    return found


def plan_deploy(
    snapshot: Snapshot, ours: str, scripts: Mapping[str, str], record: Record | None
) -> Plan:
    """Deploy's plan: ``ours`` is the rendered LCC script, ``scripts`` the script of each of
    :func:`base_defaults` (to chain)."""
    name = lcc_name(snapshot.domain_id, ours)
    plain = Lcc(name, ours, lcc_arn(snapshot.domain_arn, name))
    lccs: dict[str, Lcc] = {}

    def target(res: Resource) -> Lcc:
        base = _base_default(res, record)
        if base is None or (res.list_only and not is_ours(default_lcc(res.settings))):
            return plain
        script = chain(base, scripts[base], ours)
        name = lcc_name(snapshot.domain_id, script)
        return Lcc(name, script, lcc_arn(snapshot.domain_arn, name), chains=base)

    targets = {res.key: target(res) for res in snapshot.resources}
    for res in snapshot.resources:
        if not (res.list_only and not is_ours(default_lcc(res.settings))):
            lccs.setdefault(targets[res.key].name, targets[res.key])
    if not lccs:
        lccs[plain.name] = plain
    space_targets = {
        res.key: (res.owner, targets[res.key].arn)
        for res in snapshot.resources
        if res.kind == "space"
    }
    changes = []
    for res in snapshot.resources:
        after = copy.deepcopy(res.settings)
        own = targets[res.key].arn
        sets_default = not res.list_only or is_ours(default_lcc(res.settings))
        if res.kind == "space":
            after.setdefault("DefaultResourceSpec", {})["LifecycleConfigArn"] = own
        else:
            wanted = [own] if sets_default else []
            if res.kind == "domain":
                wanted += [lcc.arn for lcc in lccs.values()]
            else:
                wanted += [arn for owner, arn in space_targets.values() if owner == res.name]
            arns = [a for a in after.get("LifecycleConfigArns", []) if not is_ours(a)]
            arns += [a for a in dict.fromkeys(wanted) if a not in arns]
            if len(arns) > MAX_LCC_ARNS:
                raise UsageError(
                    f"{res.kind} {res.name} would list {len(arns)} LCCs; Studio takes at most "
                    f"{MAX_LCC_ARNS} in LifecycleConfigArns: remove some first"
                )
            after["LifecycleConfigArns"] = arns
            if sets_default:
                after.setdefault("DefaultResourceSpec", {})["LifecycleConfigArn"] = own
        note = ""
        if targets[res.key].chains and sets_default:
            note = f"{_short(targets[res.key].chains)} keeps running first, through the new default"
        changes.append(Change(res, copy.deepcopy(res.settings), after, note))
    return Plan(snapshot.domain_id, changes, list(lccs.values()))


def _strip_ours(current: dict[str, Any], before: dict[str, Any] | None) -> dict[str, Any]:
    """``current`` without our LCCs: the default goes back to what it was before."""
    after = copy.deepcopy(current)
    if "LifecycleConfigArns" in after:
        after["LifecycleConfigArns"] = [a for a in after["LifecycleConfigArns"] if not is_ours(a)]
    if is_ours(default_lcc(after)):
        earlier = default_lcc(before or {})
        spec = after["DefaultResourceSpec"]
        if earlier and not is_ours(earlier):
            spec["LifecycleConfigArn"] = earlier
        else:
            del spec["LifecycleConfigArn"]
    return after


def plan_undeploy(current: Mapping[str, Resource], record: Record) -> Plan:
    """Undeploy's plan: each resource the record names goes back to its before-image when it
    still holds what the deploy wrote; otherwise (changed since) only our LCCs are taken out."""
    changes = []
    for key, entry in record.resources.items():
        res = current.get(key)
        if res is None:
            continue
        before = dict(entry["before"])
        if normalize(res.settings) == normalize(entry["written"]):
            after, note = copy.deepcopy(before), "restored as it was before deploy"
        else:
            after = _strip_ours(res.settings, before)
            note = "changed since deploy: only autostop-async's LCCs taken out"
        changes.append(Change(res, copy.deepcopy(res.settings), after, note))
    return Plan(record.domain_id, changes)
