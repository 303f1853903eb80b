"""Where a deploy keeps things in S3: the wheelhouse under a content key, the deployment
record beside it; the default place is the account's SageMaker bucket."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .failures import AdminError, UsageError, aws_error
from .record import Record
from .wheelhouse import Wheelhouse

__all__ = [
    "DEFAULT_PREFIX",
    "Location",
    "default_location",
    "delete_record",
    "parse_s3_uri",
    "read_record",
    "upload_wheelhouse",
    "wheelhouse_uploaded",
    "write_record",
]

DEFAULT_PREFIX = "autostop-async/"
MANIFEST = "autostop-wheelhouse.json"
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


def default_location(sts: Any, s3: Any, region: str) -> Location:
    """The account's SageMaker default bucket ``sagemaker-REGION-ACCOUNT``, if it exists."""
    try:
        account = str(sts.get_caller_identity()["Account"])
    except Exception as exc:
        if hasattr(exc, "response"):
            raise aws_error(exc, "sts:GetCallerIdentity", "the admin's credentials") from None
        raise
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


def wheelhouse_uploaded(s3: Any, loc: Location, wheelhouse: Wheelhouse) -> bool:
    """The wheelhouse with this content key is complete in S3 (its manifest, written last)."""
    key = loc.wheelhouse_prefix(wheelhouse.key) + MANIFEST
    try:
        s3.head_object(Bucket=loc.bucket, Key=key)
    except Exception as exc:
        if _code(exc) in ("404", "NoSuchKey", "NotFound"):
            return False
        if hasattr(exc, "response"):
            raise aws_error(exc, "s3:GetObject", f"s3://{loc.bucket}/{key}") from None
        raise
    return True


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
    """Remove the record (after a complete undeploy)."""
    key = loc.record_key(domain_id)
    try:
        s3.delete_object(Bucket=loc.bucket, Key=key)
    except Exception as exc:
        raise aws_error(exc, "s3:DeleteObject", f"s3://{loc.bucket}/{key}") from None
