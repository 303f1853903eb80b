"""What deploy and undeploy check before anything slow: the region, the admin's credentials
(``sts:GetCallerIdentity``) and the domain (it exists here, and is ``InService``). Each is one
call or none, so a wrong region, missing credentials or a wrong domain ID cost seconds, and the
message names the thing that is wrong.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from .failures import AdminError, UsageError, aws_error

__all__ = ["Identity", "caller_identity", "check_domain", "check_region"]

_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")


@dataclass(frozen=True)
class Identity:
    """Who the admin's credentials are: the account, the ARN and its partition."""

    account: str
    arn: str

    @property
    def partition(self) -> str:
        """``aws``, ``aws-cn``, ``aws-us-gov`` …"""
        parts = self.arn.split(":")
        return parts[1] if len(parts) > 1 and parts[1] else "aws"


def _endpoint_given() -> bool:
    return any(k.startswith("AWS_ENDPOINT_URL") for k in os.environ)


def check_region(session: Any, region: str) -> None:
    """:class:`UsageError` for a region that is no region, or where botocore knows no
    SageMaker (not checked when ``AWS_ENDPOINT_URL*`` aims the SDK at an emulator)."""
    if not _REGION.fullmatch(region):
        raise UsageError(f"region {region!r}: a region looks like us-east-1")
    if _endpoint_given():
        return
    known: set[str] = set()
    for partition in session.get_available_partitions():
        known.update(session.get_available_regions("sagemaker", partition_name=partition))
    if known and region not in known:
        raise UsageError(
            f"region {region!r}: SageMaker is not in that region (as this botocore knows); "
            "check --region or AWS_REGION"
        )


def caller_identity(sts: Any) -> Identity:
    """``sts:GetCallerIdentity``: the credentials work, and the account they belong to."""
    try:
        got = sts.get_caller_identity()
    except Exception as exc:
        if hasattr(exc, "response"):
            raise aws_error(exc, "sts:GetCallerIdentity", "the admin's credentials") from None
        raise
    return Identity(str(got["Account"]), str(got.get("Arn", "")))


def check_domain(sm: Any, domain_id: str, region: str, account: str) -> dict[str, Any]:
    """``DescribeDomain``: the domain exists in this region and account and is ``InService``;
    its description."""
    try:
        got: dict[str, Any] = sm.describe_domain(DomainId=domain_id)
    except Exception as exc:
        response: Any = getattr(exc, "response", None)
        if not isinstance(response, dict):
            raise
        if response.get("Error", {}).get("Code") in ("ResourceNotFound", "ValidationException"):
            raise AdminError(
                f"domain {domain_id} not found in region {region} of account {account}: check "
                "--domain-id, --region and the credentials' account"
            ) from None
        raise aws_error(exc, "sagemaker:DescribeDomain", f"domain {domain_id}") from None
    status = str(got.get("Status", ""))
    if status != "InService":
        reason = f" ({got['FailureReason']})" if got.get("FailureReason") else ""
        raise AdminError(
            f"domain {domain_id} is {status or 'in no state'}{reason}, not InService: nothing "
            "was changed. Run again once it is (aws sagemaker describe-domain --domain-id "
            f"{domain_id} shows its status)"
        )
    return got
