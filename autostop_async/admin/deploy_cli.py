"""``autostop-async deploy`` and ``undeploy``: the daemon onto every Code Editor space of a
domain, shown as a plan first, and off again exactly.

``main(["--domain-id", "d-…", …])`` runs deploy (``autostop-async deploy``);
``main(["undeploy", …])`` and :mod:`.undeploy_cli` run undeploy; ``python -m
autostop_async.admin.deploy_cli [deploy|undeploy] …`` the same.

Exit codes: 0 done (or nothing to do, or a dry run); 1 AWS refused or a step failed (the message
says what was changed and how to undo it); 2 a bad flag or daemon setting, found before any AWS
call.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import sys
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
from .failures import AdminError, UsageError, aws_failure
from .lcc import loader, render, script_key
from .plan import builtins_to_chain, plan_deploy, plan_undeploy, stale_lccs
from .policy import admin_policy, check_execution_roles, dumps, execution_role_policy
from .record import Record
from .s3 import (
    Location,
    default_location,
    delete_record,
    parse_s3_uri,
    read_record,
    upload_wheelhouse,
    wheelhouse_uploaded,
    write_record,
)
from .settings import check_daemon_settings
from .studio import read_lcc_script, read_snapshot
from .wheelhouse import DEFAULT_PYTHONS, build, find_source, open_wheelhouse

__all__ = ["main"]

_PYTHON = re.compile(r"3\.\d{1,2}")
_DOMAIN = re.compile(r"d-(-*[a-z0-9]){1,61}")


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
    if command == "deploy":
        p.add_argument("--idle-time", default="1h", help="the daemon's --idle-time (default: 1h)")
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
            default=",".join(DEFAULT_PYTHONS),
            help=f"the images' Pythons to build wheels for (default: {','.join(DEFAULT_PYTHONS)})",
        )
        p.add_argument("--source", type=Path, help="the autostop-async checkout (default: found)")
        p.add_argument(
            "--print-policy",
            action="store_true",
            help="print the IAM policies the admin and the execution roles need, and exit",
        )
    return p


class _Cli:
    """One run of deploy or undeploy: output, confirmation, clients."""

    def __init__(self, args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO) -> None:
        self.args = args
        self.out, self.err, self.stdin = out, err, stdin
        self._session: Any = None

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def warn(self, line: str) -> None:
        print(f"warning: {line}", file=self.err, flush=True)

    def client(self, service: str) -> Any:
        if self._session is None:
            import boto3  # type: ignore[import-untyped]  # only when AWS is called: flag errors need no SDK

            region = self.args.region or os.environ.get("AWS_REGION") or None
            self._session = boto3.session.Session(region_name=region)
        if not self._session.region_name:
            raise UsageError("no region: pass --region or set AWS_REGION")
        return self._session.client(service)

    @property
    def region(self) -> str:
        self.client("sts")
        region = self._session.region_name
        if not region:
            raise UsageError("no region: pass --region or set AWS_REGION")
        return str(region)

    def location(self) -> Location:
        if self.args.s3_uri:
            return parse_s3_uri(self.args.s3_uri)
        return default_location(self.client("sts"), self.client("s3"), self.region)

    def confirm(self, question: str) -> bool:
        if self.args.yes:
            return True
        print(f"{question} [y/N] ", end="", file=self.out, flush=True)
        answer = self.stdin.readline().strip().lower()
        return answer in ("y", "yes")

    def undo_command(self, loc: Location) -> str:
        return f"autostop-async undeploy --domain-id {self.args.domain_id} --s3-uri {loc.uri}"


def _check_flags(args: argparse.Namespace, command: str) -> None:
    if command == "deploy" and args.print_policy:
        return
    if not args.domain_id:
        raise UsageError("--domain-id is required")
    if not _DOMAIN.fullmatch(args.domain_id):
        raise UsageError(f"--domain-id {args.domain_id!r}: a domain ID looks like d-xxxxxxxxxxxx")
    if args.s3_uri:
        parse_s3_uri(args.s3_uri)


def _deploy(cli: _Cli) -> int:
    args = cli.args
    settings = check_daemon_settings(args.idle_time, args.daemon_arg)
    pythons = [v.strip() for v in str(args.python).split(",") if v.strip()]
    bad = [v for v in pythons if not _PYTHON.fullmatch(v)]
    if bad or not pythons:
        raise UsageError(f"--python {args.python!r}: a comma-separated list such as 3.11,3.12")
    if args.print_policy:
        loc = parse_s3_uri(args.s3_uri or "s3://BUCKET/autostop-async/")
        domain = f"arn:aws:sagemaker:REGION:ACCOUNT:domain/{args.domain_id or 'DOMAIN_ID'}"
        cli.say("# the admin who runs deploy and undeploy")
        cli.say(dumps(admin_policy(domain, loc)))
        cli.say("# each execution role of the domain's apps (the daemon and the LCC)")
        cli.say(dumps(execution_role_policy(domain, loc)))
        return 0
    source = find_source(args.source)
    template = source / "lcc" / "on-start.sh"
    # The LCC's size, with a wheelhouse URI as long as the real one can be, before any call.
    prefix = parse_s3_uri(args.s3_uri).prefix if args.s3_uri else "autostop-async/"
    render(template, settings, f"s3://{'b' * 63}/{prefix}wheelhouse/{'0' * 16}/")
    if args.wheelhouse is not None:
        wheelhouse = open_wheelhouse(args.wheelhouse)
    else:
        cli.say(f"building the wheelhouse for Python {', '.join(pythons)} from {source} …")
        wheelhouse = build(source, pythons)
    cli.say(
        f"wheelhouse: {len(wheelhouse.files)} wheels, {wheelhouse.size / 1e6:.1f} MB, "
        f"key {wheelhouse.key}"
    )

    sm = cli.client("sagemaker")
    loc = cli.location()
    s3 = cli.client("s3")
    package = f"s3://{loc.bucket}/{loc.wheelhouse_prefix(wheelhouse.key)}"
    start_script = render(template, settings, package)
    start_key = script_key(loc.prefix, start_script)
    ours = loader(f"s3://{loc.bucket}/{start_key}")
    record = read_record(s3, loc, args.domain_id)
    snapshot = read_snapshot(sm, args.domain_id, args.user_profile, args.space)
    chained = builtins_to_chain(snapshot, record)
    scripts = {arn: read_lcc_script(sm, arn) for arn in sorted(chained)}
    plan = plan_deploy(snapshot, ours, scripts, record)
    upload = not wheelhouse_uploaded(s3, loc, wheelhouse)
    missing = [lcc for lcc in plan.lccs if lcc.name not in snapshot.our_lccs]
    stale = stale_lccs(snapshot, record, plan) if not snapshot.resources[0].list_only else {}

    cli.say(f"domain {args.domain_id} ({snapshot.network}); daemon: {settings.describe()}")
    cli.say(f"  {'upload' if upload else 'exists'} wheelhouse {package}")
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
    stop = _before_writing(cli, pending=bool(upload or missing or plan.pending or stale))
    if stop is not None:
        return stop
    if upload:
        upload_wheelhouse(s3, loc, wheelhouse)
        cli.say(f"uploaded the wheelhouse to {package}")
    if put_script(s3, loc.bucket, start_key, start_script):
        cli.say(f"uploaded the start script to s3://{loc.bucket}/{start_key}")
    # The record first: an undeploy after a failure below finds the LCCs and the before-images.
    uri = write_record(s3, loc, record_after(record, args.domain_id, plan))
    cli.say(f"deployment record (before-images): {uri}")
    try:
        arns = create_lccs(sm, args.domain_id, plan.lccs, snapshot.our_lccs, cli.say)
    except AdminError as exc:
        raise AdminError(
            f"{exc}\nstopped there: no setting of the domain, profiles or spaces was changed.\n"
            f"To delete the LCCs created so far: {cli.undo_command(loc)}"
        ) from None
    if any(old != new for old, new in arns.items()):
        remap(plan, arns)
        write_record(s3, loc, record_after(record, args.domain_id, plan))
    write_changes(sm, args.domain_id, plan.changes, cli.say, cli.undo_command(loc))
    if stale:
        kept = remove_unused(sm, args.domain_id, stale, cli.say)
        gone = set(stale) - set(kept)
        write_record(s3, loc, record_after(record, args.domain_id, plan, gone))
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
    sm = cli.client("sagemaker")
    loc = cli.location()
    s3 = cli.client("s3")
    record = read_record(s3, loc, args.domain_id)
    if record is None:
        cli.say(f"no deployment record for {args.domain_id} under {loc.uri}: nothing to undo")
        return 0
    scoped = bool(args.user_profile or args.space)
    snapshot = read_snapshot(sm, args.domain_id, args.user_profile, args.space)
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
    stop = _before_writing(cli, pending=bool(plan.pending or lccs))
    if stop is not None:
        return stop
    write_changes(sm, args.domain_id, plan.changes, cli.say, cli.undo_command(loc))
    kept = remove_unused(sm, args.domain_id, lccs, cli.say)
    names = {c.resource.key for c in plan.changes}
    remaining = {k: v for k, v in record.resources.items() if scoped and k not in names}
    if remaining or kept or scoped:
        left = {n: record.lccs.get(n, {"arn": lccs[n], "runs_first": None}) for n in kept}
        write_record(s3, loc, Record(record.domain_id, remaining, record.lccs if scoped else left))
        if kept:
            cli.say("run undeploy again once nothing uses them, to delete the kept LCCs")
    else:
        delete_record(s3, loc, args.domain_id)
    cli.say("done: apps started from now on run without autostop-async")
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
        print(f"{prog}: interrupted", file=err)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
