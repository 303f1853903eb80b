"""Where a deploy keeps things in S3: the wheelhouse under its key, the rendered start scripts
beside the wheelhouses (``PREFIX/wheelhouse/lcc/on-start-HASH.sh``, :func:`.lcc.script_key`), the
deployment record and the daemon settings deployed beside it; the default place is the account's
SageMaker bucket. ``undeploy --purge`` removes them: the record, the settings, and each
wheelhouse and start script no other domain's deployment uses."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .failures import AdminError, UsageError, aws_error
from .record import Record
from .settings import Deployed
from .wheelhouse import MANIFEST, Wheelhouse

__all__ = [
    "DEFAULT_PREFIX",
    "SCRIPTS",
    "InUse",
    "Location",
    "default_location",
    "delete_keys",
    "delete_record",
    "object_exists",
    "parse_s3_uri",
    "read_deployed",
    "read_record",
    "upload_wheelhouse",
    "wheelhouse_uploaded",
    "wheelhouses_in_use",
    "wheelhouses_stored",
    "write_deployed",
    "write_record",
]

DEFAULT_PREFIX = "autostop-async/"
_SETTINGS_SUFFIX = ".settings.json"
#: The start scripts' folder under ``PREFIX/wheelhouse/`` (each script is one stored unit).
SCRIPTS = "lcc/"
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")


@dataclass(frozen=True)
class Location:
    """A bucket and a prefix (empty, or ending in ``/``)."""

    bucket: str
    prefix: str

    @property
    def uri(self) -> str:
        """``s3://BUCKET/PREFIX``."""
        return f"s3://{self.bucket}/{self.prefix}"

    def wheelhouse_prefix(self, key: str) -> str:
        """Where the wheelhouse with content key ``key`` goes."""
        return f"{self.prefix}wheelhouse/{key}/"

    def record_key(self, domain_id: str) -> str:
        """Where the deployment record of ``domain_id`` goes."""
        return f"{self.prefix}deployments/{domain_id}.json"

    def deployed_key(self, domain_id: str) -> str:
        """Where the daemon settings last deployed to ``domain_id`` go."""
        return f"{self.prefix}deployments/{domain_id}{_SETTINGS_SUFFIX}"


def parse_s3_uri(text: str) -> Location:
    """``s3://BUCKET/PREFIX/`` (the prefix may be empty); :class:`UsageError` otherwise."""
    match = re.fullmatch(r"s3://([^/]+)/?(.*)", text)
    if match is None or not _BUCKET.fullmatch(match.group(1)):
        raise UsageError(f"--s3-uri {text!r}: expected s3://BUCKET/PREFIX/")
    prefix = match.group(2)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return Location(match.group(1), prefix)


def _code(exc: Exception) -> str:
    response: Any = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def default_location(s3: Any, region: str, account: str) -> Location:
    """The account's SageMaker default bucket ``sagemaker-REGION-ACCOUNT``, if it exists."""
    bucket = f"sagemaker-{region}-{account}"
    try:
        s3.head_bucket(Bucket=bucket)
    except Exception as exc:
        if _code(exc) in ("404", "NoSuchBucket", "NotFound"):
            raise UsageError(
                f"no --s3-uri given and the SageMaker default bucket {bucket} does not exist: "
                "pass --s3-uri s3://BUCKET/PREFIX/ (a bucket the execution roles may read)"
            ) from None
        if hasattr(exc, "response"):
            raise aws_error(exc, "s3:ListBucket", f"bucket {bucket}") from None
        raise
    return Location(bucket, DEFAULT_PREFIX)


def object_exists(s3: Any, bucket: str, key: str) -> bool:
    """``s3://bucket/key`` exists (``HeadObject``)."""
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        if _code(exc) in ("404", "NoSuchKey", "NotFound"):
            return False
        if hasattr(exc, "response"):
            raise aws_error(exc, "s3:GetObject", f"s3://{bucket}/{key}") from None
        raise
    return True


def wheelhouse_uploaded(s3: Any, loc: Location, wheelhouse_key: str) -> bool:
    """The wheelhouse with this key is complete in S3 (its manifest, written last)."""
    return object_exists(s3, loc.bucket, loc.wheelhouse_prefix(wheelhouse_key) + MANIFEST)


def upload_wheelhouse(s3: Any, loc: Location, wheelhouse: Wheelhouse) -> str:
    """Upload every wheel, then the manifest; return the wheelhouse's ``s3://…/`` URI."""
    prefix = loc.wheelhouse_prefix(wheelhouse.key)
    for path in wheelhouse.files:
        try:
            s3.upload_file(str(path), loc.bucket, prefix + path.name)
        except Exception as exc:
            raise aws_error(exc, "s3:PutObject", f"s3://{loc.bucket}/{prefix}{path.name}") from None
    manifest = json.dumps({"key": wheelhouse.key, "files": [f.name for f in wheelhouse.files]})
    _put(s3, loc.bucket, prefix + MANIFEST, manifest)
    return f"s3://{loc.bucket}/{prefix}"


def _put(s3: Any, bucket: str, key: str, body: str) -> None:
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType="application/json")
    except Exception as exc:
        raise aws_error(exc, "s3:PutObject", f"s3://{bucket}/{key}") from None


def read_record(s3: Any, loc: Location, domain_id: str) -> Record | None:
    """The deployment record of ``domain_id``, or None when there is none."""
    key = loc.record_key(domain_id)
    try:
        body = s3.get_object(Bucket=loc.bucket, Key=key)["Body"].read().decode()
    except Exception as exc:
        if _code(exc) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise aws_error(exc, "s3:GetObject", f"s3://{loc.bucket}/{key}") from None
    record = Record.from_json(body, f"s3://{loc.bucket}/{key}")
    if record.domain_id != domain_id:
        raise AdminError(f"s3://{loc.bucket}/{key} is the record of {record.domain_id}")
    return record


def write_record(s3: Any, loc: Location, record: Record) -> str:
    """Write the record; return its URI."""
    key = loc.record_key(record.domain_id)
    _put(s3, loc.bucket, key, record.to_json())
    return f"s3://{loc.bucket}/{key}"


def delete_record(s3: Any, loc: Location, domain_id: str) -> None:
    """Remove the record and the deployed settings (after a complete undeploy)."""
    for key in (loc.record_key(domain_id), loc.deployed_key(domain_id)):
        try:
            s3.delete_object(Bucket=loc.bucket, Key=key)
        except Exception as exc:
            raise aws_error(exc, "s3:DeleteObject", f"s3://{loc.bucket}/{key}") from None


def read_deployed(s3: Any, loc: Location, domain_id: str) -> Deployed | None:
    """The daemon settings the last deploy to ``domain_id`` put in its LCC, or None."""
    key = loc.deployed_key(domain_id)
    try:
        body = s3.get_object(Bucket=loc.bucket, Key=key)["Body"].read().decode()
    except Exception as exc:
        if _code(exc) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise aws_error(exc, "s3:GetObject", f"s3://{loc.bucket}/{key}") from None
    return Deployed.from_json(body, f"s3://{loc.bucket}/{key}")


def write_deployed(s3: Any, loc: Location, domain_id: str, deployed: Deployed) -> None:
    """Keep the daemon settings of this deploy (the next plan shows old → new)."""
    _put(s3, loc.bucket, loc.deployed_key(domain_id), deployed.to_json())


def _listed(s3: Any, loc: Location, prefix: str) -> list[str]:
    keys: list[str] = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=loc.bucket, Prefix=prefix):
            keys.extend(str(o["Key"]) for o in page.get("Contents", []))
    except Exception as exc:
        if hasattr(exc, "response"):
            raise aws_error(exc, "s3:ListBucket", f"s3://{loc.bucket}/{prefix}") from None
        raise
    return keys


def wheelhouses_stored(s3: Any, loc: Location) -> dict[str, list[str]]:
    """What is stored under ``PREFIX/wheelhouse/``, by unit: each wheelhouse (its key) with its
    objects' keys, and each start script (``lcc/on-start-HASH.sh``) with its own key."""
    found: dict[str, list[str]] = {}
    top = f"{loc.prefix}wheelhouse/"
    for key in _listed(s3, loc, top):
        rel = key[len(top) :]
        unit = rel if rel.startswith(SCRIPTS) else rel.split("/", 1)[0]
        found.setdefault(unit, []).append(key)
    return found


@dataclass
class InUse:
    """What other domains' deployments under a prefix use: wheelhouse keys and start scripts
    (as :func:`wheelhouses_stored` names them); the domains whose wheelhouses are unknown (a
    record without its settings: an older deploy), and those whose start scripts are."""

    used: set[str]
    unknown: list[str]
    scripts_unknown: list[str]


def wheelhouses_in_use(s3: Any, loc: Location, domain_id: str) -> InUse:
    """What the deployments of the domains other than ``domain_id`` under this prefix use."""
    found = InUse(set(), [], [])
    top = f"{loc.prefix}deployments/"
    keys = set(_listed(s3, loc, top))
    for key in sorted(keys):
        name = key[len(top) :]
        if "/" in name or not name.endswith(".json") or name.endswith(_SETTINGS_SUFFIX):
            continue
        other = name[: -len(".json")]
        if other == domain_id:
            continue
        settings_key = loc.deployed_key(other)
        deployed = read_deployed(s3, loc, other) if settings_key in keys else None
        if deployed is None:
            found.unknown.append(other)
            continue
        found.used.update(deployed.wheelhouses)
        if deployed.scripts is None:
            found.scripts_unknown.append(other)
        else:
            found.used.update(deployed.scripts)
    return found


def delete_keys(s3: Any, loc: Location, keys: list[str]) -> None:
    """Delete these objects (1,000 a call)."""
    for start in range(0, len(keys), 1000):
        batch = keys[start : start + 1000]
        try:
            got = s3.delete_objects(
                Bucket=loc.bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
            )
        except Exception as exc:
            raise aws_error(exc, "s3:DeleteObject", f"s3://{loc.bucket}/{batch[0]} …") from None
        errors = got.get("Errors") or []
        if errors:
            first = errors[0]
            raise AdminError(
                f"s3:DeleteObject on s3://{loc.bucket}/{first.get('Key')} failed: "
                f"{first.get('Code')}: {first.get('Message')} ({len(errors)} not deleted)"
            )
