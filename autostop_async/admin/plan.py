"""Before → after for each resource in scope (pure: no AWS calls), and the plan's text.

Deploy attaches through the **built-in** LCC: it sets the domain's
``DefaultUserSettings.CodeEditorAppSettings.BuiltInLifecycleConfigArn``, which every Code Editor
space runs at every start whatever the user selects (AWS's page "Lifecycle configurations within
Amazon SageMaker Studio"). A user profile with a built-in LCC of its own gets one too. Where a
built-in LCC is already set, ours is chained after it (:func:`.lcc.chain`). Default LCCs and
``LifecycleConfigArns`` lists are left as they are, except that LCCs of ours from the earlier
method (the default LCC) are taken out of every resource that still holds them: the migration.
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
from .studio import Resource, Snapshot, builtin_lcc, default_lcc, ours_in

__all__ = [
    "Change",
    "Plan",
    "builtins_to_chain",
    "normalize",
    "plan_deploy",
    "plan_undeploy",
    "stale_lccs",
    "to_send",
]

_WHERE = {
    "domain": "DefaultUserSettings.CodeEditorAppSettings",
    "user-profile": "UserSettings.CodeEditorAppSettings",
    "space": "SpaceSettings.CodeEditorAppSettings",
}


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
        """The plan as the admin reads it: LCCs to create, then before → after per resource
        (the domain always; profiles and spaces when they change, the others counted)."""
        lines = []
        for lcc in self.lccs:
            state = "exists" if lcc.name in existing_lccs else "create"
            what = (
                f"runs {_short(lcc.chains)}, then autostop-async's loader"
                if lcc.chains
                else "autostop-async's loader"
            )
            lines.append(f"{state:>7} LCC {lcc.name} ({what}; {len(lcc.content):,} base64 chars)")
        same = 0
        for change in self.changes:
            if change.changed or change.resource.kind == "domain":
                lines.extend(describe(change))
            else:
                same += 1
        if same:
            lines.append(f"  = {same} other user profile(s) and space(s): no changes")
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
    if not change.changed:
        return [f"  = {res.kind} {res.name}: no changes"]
    before, after = _flatten(normalize(change.before)), _flatten(normalize(change.after))
    note = f": {change.note}" if change.note else ""
    lines = [f"  ~ {res.kind} {res.name} ({_WHERE[res.kind]}){note}"]
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


#: How to clear a member that ``after`` drops: Studio's "None" for an ARN, [] for a list.
_CLEARED: dict[str, Any] = {
    "BuiltInLifecycleConfigArn": "None",
    "LifecycleConfigArns": [],
    "CustomImages": [],
}


def to_send(current: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The CodeEditorAppSettings to send so that ``after`` is what Studio holds: only the
    members that change (members left out are kept: AWS's "detach" page,
    terraform-provider-aws#43127), each whole; a member dropped is cleared (``"None"``,
    ``[]``), and a default LCC dropped from ``DefaultResourceSpec`` is sent as ``"None"``."""
    send: dict[str, Any] = {}
    for key in sorted(set(current) | set(after)):
        old, new = normalize(current.get(key)), normalize(after.get(key))
        if old == new:
            continue
        if key == "DefaultResourceSpec":
            spec = copy.deepcopy(after.get(key) or {})
            if default_lcc(current) and not default_lcc(after):
                spec["LifecycleConfigArn"] = "None"
            send[key] = spec
        elif new in (None, {}, []):
            if key in _CLEARED:
                send[key] = copy.deepcopy(_CLEARED[key])
        else:
            send[key] = copy.deepcopy(after[key])
    return send


def _restore(
    ours: str, before: dict[str, Any] | None, field: str, chained: Mapping[str, str | None]
) -> str | None:
    """What an LCC ARN of ours in ``field`` (``default`` or ``built-in``) goes back to: the
    value in the before-image when there is one (none, if it had none), else the LCC ours ran
    first, else nothing."""
    if before is not None:
        earlier = default_lcc(before) if field == "default" else builtin_lcc(before)
        return earlier if earlier and not is_ours(earlier) else None
    base = chained.get(ours.rsplit("/", 1)[-1])
    return base if base and not is_ours(base) else None


def _strip_ours(
    current: dict[str, Any], before: dict[str, Any] | None, chained: Mapping[str, str | None]
) -> dict[str, Any]:
    """``current`` without LCCs of ours: a default or built-in of ours goes back to what it
    was (:func:`_restore`), list entries of ours are taken out."""
    after = copy.deepcopy(current)
    if "LifecycleConfigArns" in after:
        after["LifecycleConfigArns"] = [a for a in after["LifecycleConfigArns"] if not is_ours(a)]
    default = default_lcc(after)
    if default and is_ours(default):
        spec = after["DefaultResourceSpec"]
        back = _restore(default, before, "default", chained)
        if back:
            spec["LifecycleConfigArn"] = back
        else:
            del spec["LifecycleConfigArn"]
    built_in = builtin_lcc(after)
    if built_in and is_ours(built_in):
        back = _restore(built_in, before, "built-in", chained)
        if back:
            after["BuiltInLifecycleConfigArn"] = back
        else:
            del after["BuiltInLifecycleConfigArn"]
    return after


def _chained(snapshot: Snapshot, record: Record | None) -> dict[str, str | None]:
    """For each LCC of ours: the LCC it runs first, from its script, else from the record."""
    out: dict[str, str | None] = {}
    if record is not None:
        out.update({n: v.get("runs_first") for n, v in record.lccs.items()})
    out.update({n: v for n, v in snapshot.chained.items() if v or n not in out})
    return out


def _base(settings: dict[str, Any], chained: Mapping[str, str | None]) -> str | None:
    """The built-in LCC a resource runs apart from ours (None: none)."""
    current = builtin_lcc(settings)
    if current is None or not is_ours(current):
        return current
    return chained.get(current.rsplit("/", 1)[-1])


def _targets(snapshot: Snapshot, record: Record | None) -> dict[str, str | None]:
    """The resources that get a built-in LCC of ours, each with the LCC to run first: the
    domain (whole scope); a profile with a built-in LCC of its own (it may take the place of
    the domain's: AWS does not say); in a scoped deploy each profile named (the domain's
    built-in LCC first, when it has none of its own)."""
    chained = _chained(snapshot, record)
    domain = snapshot.resources[0]
    scoped = domain.list_only
    spaces = [r.name for r in snapshot.resources if r.kind == "space"]
    if scoped and spaces:
        raise UsageError(
            f"--space {spaces[0]}: a space has no built-in LCC setting (SpaceSettings."
            "CodeEditorAppSettings has no BuiltInLifecycleConfigArn); deploy to the whole "
            "domain, or to the space owner's --user-profile"
        )
    out: dict[str, str | None] = {}
    if not scoped:
        out[domain.key] = _base(domain.settings, chained)
    for res in snapshot.resources:
        if res.kind != "user-profile":
            continue
        if builtin_lcc(res.settings):
            out[res.key] = _base(res.settings, chained)
        elif scoped:
            out[res.key] = _base(domain.settings, chained)
    return out


def builtins_to_chain(snapshot: Snapshot, record: Record | None) -> set[str]:
    """The built-in LCCs (not ours) that ours runs after: read their scripts to chain them."""
    return {base for base in _targets(snapshot, record).values() if base}


def plan_deploy(
    snapshot: Snapshot, ours: str, scripts: Mapping[str, str], record: Record | None
) -> Plan:
    """Deploy's plan: ``ours`` is the loader (:func:`.lcc.loader`), ``scripts`` the script of
    each of :func:`builtins_to_chain`."""
    chained = _chained(snapshot, record)
    lccs: dict[str, Lcc] = {}

    def lcc_for(base: str | None) -> Lcc:
        script = ours if base is None else chain(base, scripts[base], ours)
        name = lcc_name(snapshot.domain_id, script)
        found = lccs.setdefault(name, Lcc(name, script, lcc_arn(snapshot.domain_arn, name), base))
        return found

    targets = {key: lcc_for(base) for key, base in _targets(snapshot, record).items()}
    migrate = not snapshot.resources[0].list_only
    changes = []
    for res in snapshot.resources:
        before = record.before(res.key) if record is not None else None
        after = copy.deepcopy(res.settings)
        if migrate:
            after = _strip_ours(res.settings, before, chained)
        notes = []
        if ours_in(res.settings) - ({builtin_lcc(res.settings)} - {None}) and migrate:
            notes.append("the earlier method's default LCC of autostop-async taken out")
        target = targets.get(res.key)
        if target is not None:
            after["BuiltInLifecycleConfigArn"] = target.arn
            if target.chains:
                notes.append(f"{_short(target.chains)} keeps running first, in the built-in LCC")
        changes.append(Change(res, copy.deepcopy(res.settings), after, "; ".join(notes)))
    return Plan(snapshot.domain_id, changes, list(lccs.values()))


def stale_lccs(snapshot: Snapshot, record: Record | None, plan: Plan | None) -> dict[str, str]:
    """LCCs of ours (name → ARN) the record knows or a resource names, that the plan does not
    use: deleted once nothing references them."""
    found = {} if record is None else {n: str(v["arn"]) for n, v in record.lccs.items()}
    for res in snapshot.resources:
        found.update({a.rsplit("/", 1)[-1]: a for a in ours_in(res.settings)})
    used = set() if plan is None else {lcc.name for lcc in plan.lccs}
    return {n: a for n, a in sorted(found.items()) if n not in used}


def plan_undeploy(snapshot: Snapshot, record: Record) -> Plan:
    """Undeploy's plan, over every resource read (not only those in the record): a resource
    that still holds what the deploy wrote goes back to its before-image; any other resource
    that names an LCC of ours (changed since, or created after the deploy) has only those taken
    out, each going back to what it was, or to none."""
    chained = _chained(snapshot, record)
    changes = []
    for res in snapshot.resources:
        if res.list_only:
            continue
        entry = record.resources.get(res.key)
        if entry is not None and normalize(res.settings) == normalize(entry["written"]):
            after, note = copy.deepcopy(dict(entry["before"])), "restored as it was before deploy"
        elif ours_in(res.settings):
            after = _strip_ours(res.settings, record.before(res.key), chained)
            note = (
                "changed since deploy: only autostop-async's LCCs taken out"
                if entry is not None
                else "not in the record (created or changed since): autostop-async's LCCs taken out"
            )
        else:
            after, note = copy.deepcopy(res.settings), ""
        changes.append(Change(res, copy.deepcopy(res.settings), after, note))
    return Plan(record.domain_id, changes)
