"""``autostop-async deploy`` and ``undeploy``: the daemon onto every Code Editor space of a
domain, shown as a plan first, and off again exactly.

``main(["--domain-id", "d-…", …])`` runs deploy (``autostop-async deploy``);
``main(["undeploy", …])`` and :mod:`.undeploy_cli` run undeploy; ``python -m
autostop_async.admin.deploy_cli [deploy|undeploy] …`` the same.

Order: flags and settings (no call), then the cheap checks (region, credentials, the domain, the
resources in scope, the deployment record: seconds), then the plan, then, once confirmed, the
wheelhouse (found in S3 or the local cache by its key, built only when neither has it) and the
writes.

Exit codes: 0 done (or nothing to do, or a dry run); 1 AWS refused or a step failed, or the
admin interrupted the writes (the message says what was changed and how to undo it); 2 a bad
flag or daemon setting, found before any AWS call.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from ..cli import guarded
from .apply import (
    apps_using,
    create_lccs,
    put_script,
    record_after,
    remap,
    remove_unused,
    write_changes,
)
from .checks import Identity, caller_identity, check_domain, check_region
from .failures import AdminError, UsageError, aws_failure
from .lcc import loader, render, script_key
from .lock import LOCK_NAME, Lock, read_lock, wheel_name_version
from .plan import builtins_to_chain, plan_deploy, plan_undeploy, stale_lccs
from .policy import admin_policy, check_execution_roles, dumps, execution_role_policy, report_policy
from .record import Record
from .s3 import (
    DEFAULT_PREFIX,
    SCRIPTS,
    Location,
    default_location,
    delete_keys,
    delete_record,
    object_exists,
    parse_s3_uri,
    read_deployed,
    read_record,
    upload_wheelhouse,
    wheelhouse_uploaded,
    wheelhouses_in_use,
    wheelhouses_stored,
    write_deployed,
    write_record,
)
from .settings import Deployed, changes, check_daemon_settings
from .studio import read_lcc_script, read_snapshot
from .wheelhouse import (
    DEFAULT_PYTHONS,
    Wheelhouse,
    build,
    cache_root,
    cached,
    check_pythons,
    find_source,
    open_wheelhouse,
    wheelhouse_key,
)

__all__ = ["main"]

_PYTHON = re.compile(r"3\.\d{1,2}")
_DOMAIN = re.compile(r"d-(-*[a-z0-9]){1,61}")
_VERSION = re.compile(r'^version\s*=\s*"([^"]+)"', re.M)
#: How the lines of a write that happened begin (the steps' ``say`` lines).
_WRITES = ("uploaded ", "deployment record", "created ", "updated ", "deleted ")


def _parser(command: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"autostop-async {command}",
        description=(
            "Put autostop-async on every Code Editor space of a SageMaker Studio domain: build "
            "and upload a wheelhouse, create the lifecycle configuration, and merge it into the "
            "domain's, user profiles' and spaces' settings. Shows the plan first."
            if command == "deploy"
            else "Undo deploy: put back each setting it changed, remove its LCCs."
        ),
    )
    p.add_argument("--domain-id", help="the domain (d-…)")
    p.add_argument(
        "--user-profile",
        action="append",
        default=[],
        metavar="NAME",
        help="only this user profile (repeat); default: the whole domain",
    )
    p.add_argument(
        "--space", action="append", default=[], metavar="NAME", help="only this space (repeat)"
    )
    p.add_argument(
        "--s3-uri",
        help="s3://BUCKET/PREFIX/ for the wheelhouse and the deployment record "
        "(default: s3://sagemaker-REGION-ACCOUNT/autostop-async/ if that bucket exists)",
    )
    p.add_argument("--region", help="AWS region (default: the SDK's)")
    p.add_argument("--dry-run", action="store_true", help="show the plan; write nothing")
    p.add_argument("--yes", action="store_true", help="apply without asking")
    if command == "undeploy":
        p.add_argument(
            "--purge",
            action="store_true",
            help="also remove the deployment record and the wheelhouses from S3 (those no "
            "other domain's deployment uses)",
        )
    if command == "deploy":
        p.add_argument(
            "--idle-time",
            default="1h",
            help="the daemon's --idle-time, with its unit: 45m, 2h, 1h30m (default: 1h)",
        )
        p.add_argument(
            "--allow-short-idle-time",
            action="store_true",
            help="accept an --idle-time under 10 minutes",
        )
        p.add_argument(
            "--daemon-arg",
            action="append",
            default=[],
            metavar="ARG",
            help="one more daemon flag, e.g. --daemon-arg=--exclude=*.log (repeat)",
        )
        p.add_argument("--wheelhouse", type=Path, help="upload this folder of wheels as it is")
        p.add_argument(
            "--python",
            help="the images' Pythons to build wheels for (default: those of the lock file, "
            f"{','.join(DEFAULT_PYTHONS)})",
        )
        p.add_argument("--source", type=Path, help="the autostop-async checkout (default: found)")
        p.add_argument(
            "--print-policy",
            action="store_true",
            help="print the IAM policies the admin, the execution roles and `report` need, and "
            "exit",
        )
    return p


class _Cli:
    """One run of deploy or undeploy: output, confirmation, clients, and what was written (for
    the message of an interrupted run)."""

    def __init__(self, args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO) -> None:
        self.args = args
        self.out, self.err, self.stdin = out, err, stdin
        self._session: Any = None
        self._identity: Identity | None = None
        self.writing = False  # past the confirmation: an interruption leaves changes
        self.written: list[str] = []
        self.undo = ""

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def did(self, line: str) -> None:
        """Say a line of the writes; keep the ones that say a write happened (not "waiting
        for …" or "kept LCC …") for an interruption's message."""
        if line.startswith(_WRITES):
            self.written.append(line)
        self.say(line)

    def warn(self, line: str) -> None:
        print(f"warning: {line}", file=self.err, flush=True)

    def session(self) -> Any:
        if self._session is None:
            import boto3  # type: ignore[import-untyped]  # only when AWS is called: flag errors need no SDK

            region = self.args.region or os.environ.get("AWS_REGION") or None
            self._session = boto3.session.Session(region_name=region)
        return self._session

    def client(self, service: str, **config: Any) -> Any:
        session = self.session()
        if not session.region_name:
            raise UsageError("no region: pass --region or set AWS_REGION")
        if config:
            from botocore.config import Config

            return session.client(service, config=Config(**config))
        return session.client(service)

    @property
    def region(self) -> str:
        region = self.session().region_name
        if not region:
            raise UsageError("no region: pass --region or set AWS_REGION")
        return str(region)

    def identity(self) -> Identity:
        """The region checked and the credentials' account (one STS call, remembered)."""
        if self._identity is None:
            check_region(self.session(), self.region)
            sts = self.client("sts", connect_timeout=10, retries={"max_attempts": 2})
            self._identity = caller_identity(sts)
        return self._identity

    def location(self) -> Location:
        if self.args.s3_uri:
            return parse_s3_uri(self.args.s3_uri)
        return default_location(self.client("s3"), self.region, self.identity().account)

    def confirm(self, question: str) -> bool:
        if self.args.yes:
            return True
        print(f"{question} [y/N] ", end="", file=self.out, flush=True)
        answer = self.stdin.readline().strip().lower()
        return answer in ("y", "yes")

    def undo_command(self, loc: Location) -> str:
        return f"autostop-async undeploy --domain-id {self.args.domain_id} --s3-uri {loc.uri}"

    def interrupted(self, prog: str) -> str:
        """The message for Ctrl-C: nothing changed, or what was and how to undo it."""
        if not self.writing:
            return f"{prog}: interrupted; nothing was changed"
        done = "; ".join(self.written) if self.written else "nothing yet"
        return (
            f"{prog}: interrupted while writing. Changed so far: {done}. The step under way "
            f"when interrupted may or may not have been applied.\n{self.undo}"
        )


def _check_flags(args: argparse.Namespace, command: str) -> None:
    if command == "deploy" and args.print_policy and not args.domain_id:
        return
    if not args.domain_id:
        raise UsageError("--domain-id is required")
    if not _DOMAIN.fullmatch(args.domain_id):
        raise UsageError(f"--domain-id {args.domain_id!r}: a domain ID looks like d-xxxxxxxxxxxx")
    if args.s3_uri:
        parse_s3_uri(args.s3_uri)
    if command == "undeploy" and args.purge and (args.user_profile or args.space):
        raise UsageError(
            "--purge removes everything of the domain: leave out --user-profile/--space"
        )


def _pythons(cli: _Cli, lock: Lock | None) -> list[str]:
    """``--python`` as a list (default: the lock's); :class:`UsageError` when malformed."""
    given = cli.args.python
    if given is None:
        return list(lock.pythons) if lock is not None else list(DEFAULT_PYTHONS)
    pythons = [v.strip() for v in str(given).split(",") if v.strip()]
    if not pythons or not all(_PYTHON.fullmatch(v) for v in pythons):
        raise UsageError(f"--python {given!r}: a comma-separated list such as 3.11,3.12")
    if lock is not None:
        check_pythons(lock, pythons)
    return pythons


def _print_policy(cli: _Cli) -> int:
    """The three policies, with the region and account filled in when the credentials tell
    them (``sts:GetCallerIdentity``), placeholders (said so) when they cannot."""
    args = cli.args
    region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    account, partition, why = "ACCOUNT", "aws", ""
    try:
        region = region or cli.session().region_name
        if not region:
            raise UsageError("no region: pass --region or set AWS_REGION")
        sts = cli.client("sts", connect_timeout=5, read_timeout=10, retries={"max_attempts": 1})
        identity = caller_identity(sts)
        account, partition = identity.account, identity.partition
    except (AdminError, BotoCoreError, ClientError) as exc:
        why = str(exc).splitlines()[0]
    missing = [name for name, value in (("REGION", region), ("ACCOUNT", not why)) if not value]
    region = region or "REGION"
    domain_id = args.domain_id or "DOMAIN_ID"
    if args.s3_uri:
        loc = parse_s3_uri(args.s3_uri)
    else:
        loc = Location(f"sagemaker-{region}-{account}", DEFAULT_PREFIX)
    domain_arn = f"arn:{partition}:sagemaker:{region}:{account}:domain/{domain_id}"
    if missing:
        cli.say(f"# placeholders: {' and '.join(missing)} (could not ask STS: {why}); replace them")
    cli.say(f"# the admin who runs deploy and undeploy (S3: {loc.uri})")
    cli.say(dumps(admin_policy(domain_arn, loc)))
    cli.say("# each execution role of the domain's apps (the daemon and the LCC)")
    cli.say(dumps(execution_role_policy(domain_arn, loc)))
    cli.say("# whoever runs `autostop-async report` (read-only)")
    cli.say(dumps(report_policy(domain_arn)))
    return 0


def _source_version(source: Path) -> str:
    match = _VERSION.search((source / "pyproject.toml").read_text())
    return match.group(1) if match else "unknown"


def _deploy(cli: _Cli) -> int:
    args = cli.args
    settings = check_daemon_settings(
        args.idle_time, args.daemon_arg, allow_short=args.allow_short_idle_time
    )
    if args.print_policy:
        return _print_policy(cli)
    source = find_source(args.source)
    template = source / "lcc" / "on-start.sh"
    given: Wheelhouse | None = None
    lock: Lock | None = None
    if args.wheelhouse is not None:
        given = open_wheelhouse(args.wheelhouse)
        own = next(f for f in given.files if f.name.startswith("autostop_async-"))
        version = wheel_name_version(own.name)[1]
    else:
        lock = read_lock(source / LOCK_NAME)
        version = _source_version(source)
    pythons = _pythons(cli, lock)
    # The template filled in (as long a wheelhouse URI as the real one can be), before any
    # call: a template that cannot be is a usage error. Its size does not matter (it is in S3;
    # the LCC is the loader, whose size with a chained LCC is checked in the plan).
    prefix = parse_s3_uri(args.s3_uri).prefix if args.s3_uri else DEFAULT_PREFIX
    render(template, settings, f"s3://{'b' * 63}/{prefix}wheelhouse/{'0' * 16}/")

    # The cheap checks: one call each, before anything is built.
    started = time.monotonic()
    identity = cli.identity()
    sm = cli.client("sagemaker")
    domain = check_domain(sm, args.domain_id, cli.region, identity.account)
    loc = cli.location()
    s3 = cli.client("s3")
    record = read_record(s3, loc, args.domain_id)
    previous = read_deployed(s3, loc, args.domain_id)
    snapshot = read_snapshot(sm, args.domain_id, args.user_profile, args.space, domain=domain)

    if given is not None:
        key = given.key
    else:
        assert lock is not None  # read above when no --wheelhouse is given
        key = wheelhouse_key(lock, source, pythons)
    package = f"s3://{loc.bucket}/{loc.wheelhouse_prefix(key)}"
    start_script = render(template, settings, package)
    start_key = script_key(loc.prefix, start_script)
    ours = loader(f"s3://{loc.bucket}/{start_key}")
    chained = builtins_to_chain(snapshot, record)
    scripts = {arn: read_lcc_script(sm, arn) for arn in sorted(chained)}
    plan = plan_deploy(snapshot, ours, scripts, record)
    uploaded = wheelhouse_uploaded(s3, loc, key)
    local = given if given is not None else (None if uploaded else cached(key))
    missing = [lcc for lcc in plan.lccs if lcc.name not in snapshot.our_lccs]
    stale = stale_lccs(snapshot, record, plan) if not snapshot.resources[0].list_only else {}
    script_there = object_exists(s3, loc.bucket, start_key)
    houses = tuple(sorted({*(previous.wheelhouses if previous else ()), key}))
    script_name = start_key.removeprefix(f"{loc.prefix}wheelhouse/")  # lcc/on-start-HASH.sh
    used_scripts = tuple(sorted({*(previous.scripts or () if previous else ()), script_name}))
    deployed = Deployed(settings.lines(), version, key, houses, used_scripts)

    cli.say(
        f"checked in {time.monotonic() - started:.1f} s: account {identity.account}, "
        f"region {cli.region}, domain {args.domain_id} ({snapshot.network}, InService)"
    )
    cli.say(f"domain {args.domain_id}; daemon: {settings.describe()}")
    cli.say("  daemon settings (from the previous deploy's record):")
    for line in changes(previous, deployed):
        cli.say(f"    {line}")
    if uploaded:
        cli.say(f"  exists wheelhouse {package}")
    elif local is not None:
        cli.say(f"  upload wheelhouse {package} (from {local.folder})")
    else:
        cli.say(
            f"  build  wheelhouse {key} for Python {', '.join(pythons)} (once: kept in "
            f"{cache_root() / key}), then upload it to {package}"
        )
    verb = "exists" if script_there else "upload"
    cli.say(f"  {verb} start script s3://{loc.bucket}/{start_key} (the LCC's loader runs it)")
    cli.say(plan.text(snapshot.our_lccs))
    for name in stale:
        cli.say(f" delete LCC {name} (no longer used; kept if anything still uses it)")
    _network_warnings(cli, snapshot)
    for warning in check_execution_roles(
        cli.client("iam"), snapshot.execution_roles, snapshot.domain_arn, loc
    ):
        cli.warn(warning)
    if not snapshot.resources[0].list_only:
        cli.say(
            "covered: every Code Editor space of the domain at each start, including spaces "
            "and user profiles created later, whatever default LCC a user selects (the "
            "built-in LCC always runs)"
        )
    pending = bool(
        not uploaded or not script_there or missing or plan.pending or stale or deployed != previous
    )
    stop = _before_writing(cli, pending=pending)
    if stop is not None:
        return stop
    if not uploaded and local is None:
        assert lock is not None  # no --wheelhouse: the lock was read
        local = build(source, lock, pythons, key, cli.say)
    cli.writing = True
    cli.undo = f"To undo: {cli.undo_command(loc)}"
    if not uploaded:
        assert local is not None
        upload_wheelhouse(s3, loc, local)
        cli.did(f"uploaded the wheelhouse to {package}")
    if put_script(s3, loc.bucket, start_key, start_script):
        cli.did(f"uploaded the start script to s3://{loc.bucket}/{start_key}")
    # The record first: an undeploy after a failure below finds the LCCs and the before-images.
    uri = write_record(s3, loc, record_after(record, args.domain_id, plan))
    cli.did(f"deployment record (before-images): {uri}")
    try:
        arns = create_lccs(sm, args.domain_id, plan.lccs, snapshot.our_lccs, cli.did)
    except AdminError as exc:
        raise AdminError(
            f"{exc}\nstopped there: no setting of the domain, profiles or spaces was changed.\n"
            f"To delete the LCCs created so far: {cli.undo_command(loc)}"
        ) from None
    if any(old != new for old, new in arns.items()):
        remap(plan, arns)
        write_record(s3, loc, record_after(record, args.domain_id, plan))
    write_changes(sm, args.domain_id, plan.changes, cli.did, cli.undo_command(loc))
    if stale:
        kept = remove_unused(sm, args.domain_id, stale, cli.did)
        gone = set(stale) - set(kept)
        write_record(s3, loc, record_after(record, args.domain_id, plan, gone))
    write_deployed(s3, loc, args.domain_id, deployed)
    cli.writing = False
    cli.say(
        "done: Code Editor apps get autostop-async at their next start; undo with "
        f"`{cli.undo_command(loc)}`"
    )
    return 0


def _network_warnings(cli: _Cli, snapshot: Any) -> None:
    """For a VpcOnly domain: the VPC endpoints the apps need, checked where the admin may."""
    if snapshot.network != "VpcOnly":
        return
    needed = {
        f"com.amazonaws.{snapshot.region}.s3": "S3 (the wheelhouse)",
        f"com.amazonaws.{snapshot.region}.sagemaker.api": "the SageMaker API (DeleteApp)",
    }
    try:
        got = cli.client("ec2").describe_vpc_endpoints(
            Filters=[{"Name": "vpc-id", "Values": [str(snapshot.vpc_id)]}]
        )
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        cli.warn(
            f"VpcOnly domain: could not list the VPC's endpoints ({code}); it needs endpoints "
            f"for {', '.join(f'{k} ({v})' for k, v in needed.items())}"
        )
        return
    have = {e.get("ServiceName") for e in got.get("VpcEndpoints", [])}
    for service, why in needed.items():
        if service not in have:
            cli.warn(f"VpcOnly domain: VPC {snapshot.vpc_id} has no endpoint {service}: {why}")


def _undeploy(cli: _Cli) -> int:
    args = cli.args
    identity = cli.identity()
    sm = cli.client("sagemaker")
    loc = cli.location()
    s3 = cli.client("s3")
    record = read_record(s3, loc, args.domain_id)
    if record is None:
        if args.purge:
            return _purge_only(cli, s3, loc)
        cli.say(f"no deployment record for {args.domain_id} under {loc.uri}: nothing to undo")
        return 0
    scoped = bool(args.user_profile or args.space)
    domain = check_domain(sm, args.domain_id, cli.region, identity.account)
    snapshot = read_snapshot(sm, args.domain_id, args.user_profile, args.space, domain=domain)
    plan = plan_undeploy(snapshot, record)
    lccs = {} if scoped else stale_lccs(snapshot, record, None)
    blocked = apps_using(sm, args.domain_id, set(lccs.values())) if lccs else {}
    cli.say(
        f"undeploy from domain {args.domain_id} (record {loc.uri}deployments/{args.domain_id}.json)"
    )
    cli.say(plan.text())
    for name, arn in lccs.items():
        if arn in blocked:
            cli.say(f"   keep LCC {name}: running apps use it: {', '.join(blocked[arn])}")
        else:
            cli.say(f" delete LCC {name}")
    purge = _purge_plan(cli, s3, loc) if args.purge and not blocked else []
    if args.purge and blocked:
        cli.say(
            "   keep the deployment record and the wheelhouses: an LCC that stays needs them; "
            "run `undeploy --purge` again once those apps have stopped"
        )
    pending = bool(plan.pending or lccs or (args.purge and not blocked))
    stop = _before_writing(cli, pending=pending)
    if stop is not None:
        return stop
    cli.writing = True
    cli.undo = f"To finish: run the same `autostop-async undeploy` again ({cli.undo_command(loc)})"
    write_changes(sm, args.domain_id, plan.changes, cli.did, cli.undo_command(loc))
    kept = remove_unused(sm, args.domain_id, lccs, cli.did)
    names = {c.resource.key for c in plan.changes}
    remaining = {k: v for k, v in record.resources.items() if scoped and k not in names}
    if remaining or kept or scoped:
        left = {n: record.lccs.get(n, {"arn": lccs[n], "runs_first": None}) for n in kept}
        write_record(s3, loc, Record(record.domain_id, remaining, record.lccs if scoped else left))
        if kept:
            cli.say("run undeploy again once nothing uses them, to delete the kept LCCs")
        if purge:
            cli.say("kept the record and the wheelhouses: LCCs stay; run `undeploy --purge` again")
    else:
        delete_record(s3, loc, args.domain_id)
        if not kept and purge:
            delete_keys(s3, loc, purge)
            cli.did(f"deleted {len(purge)} objects under {loc.uri}wheelhouse/")
    cli.writing = False
    cli.say("done: apps started from now on run without autostop-async")
    return 0


def _purge_plan(cli: _Cli, s3: Any, loc: Location) -> list[str]:
    """For ``--purge``: say which wheelhouses and start scripts go and which stay (another
    domain's deployment uses them); the objects to delete."""
    in_use = wheelhouses_in_use(s3, loc, cli.args.domain_id)
    stored = wheelhouses_stored(s3, loc)
    cli.say(f" delete deployment record and settings {loc.uri}deployments/{cli.args.domain_id}.*")
    if in_use.unknown:
        cli.say(
            f"   keep every wheelhouse and start script under {loc.uri}wheelhouse/: the "
            f"deployments of {', '.join(in_use.unknown)} do not say which they use (deployed by "
            "an older version)"
        )
        return []
    if in_use.scripts_unknown:
        cli.say(
            f"   keep every start script under {loc.uri}wheelhouse/{SCRIPTS}: the deployments "
            f"of {', '.join(in_use.scripts_unknown)} do not say which they use (deployed by an "
            "older version)"
        )
    objects: list[str] = []
    for unit, keys in sorted(stored.items()):
        script = unit.startswith(SCRIPTS)
        if script and in_use.scripts_unknown:
            continue
        what = "start script" if script else "wheelhouse"
        if unit in in_use.used:
            cli.say(f"   keep {what} {unit}: another domain's deployment uses it")
        elif script:
            cli.say(f" delete start script {loc.uri}wheelhouse/{unit}")
            objects.extend(keys)
        else:
            cli.say(f" delete wheelhouse {loc.uri}wheelhouse/{unit}/ ({len(keys)} objects)")
            objects.extend(keys)
    cli.say(f"   (the local cache {cache_root()} stays; delete it by hand if you like)")
    return objects


def _purge_only(cli: _Cli, s3: Any, loc: Location) -> int:
    """``undeploy --purge`` when the domain has no record: remove what is left in S3."""
    domain_id = cli.args.domain_id
    cli.say(f"no deployment record for {domain_id} under {loc.uri}: nothing to restore")
    objects = _purge_plan(cli, s3, loc)
    stop = _before_writing(cli, pending=bool(objects))
    if stop is not None:
        return stop
    cli.writing = True
    delete_record(s3, loc, domain_id)
    delete_keys(s3, loc, objects)
    cli.did(f"deleted {len(objects)} objects under {loc.uri}wheelhouse/")
    cli.writing = False
    return 0


def _before_writing(cli: _Cli, *, pending: bool) -> int | None:
    """After the plan: the exit code when nothing is to be written (no changes, a dry run, the
    admin said no), or None to go on and write."""
    if not pending:
        cli.say("no changes")
        return 0
    if cli.args.dry_run:
        cli.say("dry run: nothing written")
        return 0
    if not cli.confirm("Apply these changes?"):
        cli.say("nothing changed")
        return 1
    return None


def main(argv: Sequence[str]) -> int:
    """Deploy with ``argv`` (its first item may name ``deploy`` or ``undeploy``); the exit
    code."""
    return run(argv, sys.stdout, sys.stderr, sys.stdin)


def run(argv: Sequence[str], out: TextIO, err: TextIO, stdin: TextIO) -> int:
    """:func:`main` with its streams given (tests)."""
    args_in = list(argv)
    command = "deploy"
    if args_in and args_in[0] in ("deploy", "undeploy"):
        command = args_in.pop(0)
    prog = f"autostop-async {command}"
    parser = _parser(command)
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(out):
            args = parser.parse_args(args_in)
    except SystemExit as exc:
        err.write(errors.getvalue())
        return int(exc.code or 0)
    cli = _Cli(args, out, err, stdin)

    def work() -> int:
        _check_flags(args, command)
        try:
            return _deploy(cli) if command == "deploy" else _undeploy(cli)
        except (BotoCoreError, ClientError) as exc:  # a call no step wrapped: still one line
            raise aws_failure(exc) from None

    try:  # the command line's one place for errors: one line, exit 2 or the command's code
        return guarded(work, prog=prog, err=err)
    except KeyboardInterrupt:
        print(cli.interrupted(prog), file=err, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
