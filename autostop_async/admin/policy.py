"""The IAM policies: what the admin running deploy needs, what each app's execution role needs
for the daemon (delete its own app, read the wheelhouse), and what ``autostop-async report``
reads (read-only), scoped to the domain."""

from __future__ import annotations

import json
from typing import Any

from .lcc import NAME_PREFIX
from .s3 import Location

__all__ = [
    "REPORT_ACTIONS",
    "admin_policy",
    "check_execution_roles",
    "dumps",
    "execution_role_policy",
    "report_policy",
]


def _arn(domain_arn: str, resource: str) -> str:
    return ":".join([*domain_arn.split(":")[:5], resource])


def execution_role_policy(domain_arn: str, loc: Location) -> dict[str, Any]:
    """What the daemon and the LCC need in the app: DeleteApp/DescribeApp on the domain's apps,
    and read access to the wheelhouse prefix."""
    domain_id = domain_arn.rsplit("/", 1)[-1]
    partition = domain_arn.split(":")[1]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AutostopDeleteOwnDomainApps",
                "Effect": "Allow",
                "Action": ["sagemaker:DeleteApp", "sagemaker:DescribeApp"],
                "Resource": _arn(domain_arn, f"app/{domain_id}/*"),
            },
            {
                "Sid": "AutostopReadWheelhouse",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": f"arn:{partition}:s3:::{loc.bucket}/{loc.prefix}wheelhouse/*",
            },
            {
                "Sid": "AutostopListWheelhouse",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": f"arn:{partition}:s3:::{loc.bucket}",
                "Condition": {"StringLike": {"s3:prefix": f"{loc.prefix}wheelhouse/*"}},
            },
        ],
    }


def admin_policy(domain_arn: str, loc: Location) -> dict[str, Any]:
    """What ``deploy`` and ``undeploy`` call, scoped to the domain, our LCCs and the prefix."""
    domain_id = domain_arn.rsplit("/", 1)[-1]
    partition = domain_arn.split(":")[1]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AutostopReadAndUpdateDomain",
                "Effect": "Allow",
                "Action": [
                    "sagemaker:DescribeDomain",
                    "sagemaker:UpdateDomain",
                    "sagemaker:DescribeUserProfile",
                    "sagemaker:UpdateUserProfile",
                    "sagemaker:DescribeSpace",
                    "sagemaker:UpdateSpace",
                    "sagemaker:DescribeApp",
                ],
                "Resource": [
                    domain_arn,
                    _arn(domain_arn, f"user-profile/{domain_id}/*"),
                    _arn(domain_arn, f"space/{domain_id}/*"),
                    _arn(domain_arn, f"app/{domain_id}/*"),
                ],
            },
            {
                "Sid": "AutostopLifecycleConfigs",
                "Effect": "Allow",
                "Action": [
                    "sagemaker:CreateStudioLifecycleConfig",
                    "sagemaker:DescribeStudioLifecycleConfig",
                    "sagemaker:DeleteStudioLifecycleConfig",
                    "sagemaker:AddTags",
                    "sagemaker:ListTags",
                ],
                "Resource": _arn(domain_arn, f"studio-lifecycle-config/{NAME_PREFIX}*"),
            },
            {
                "Sid": "AutostopListCalls",
                "Effect": "Allow",
                "Action": [
                    "sagemaker:ListUserProfiles",
                    "sagemaker:ListSpaces",
                    "sagemaker:ListApps",
                    "sagemaker:ListStudioLifecycleConfigs",
                    "sts:GetCallerIdentity",
                    "ec2:DescribeVpcEndpoints",
                    "iam:SimulatePrincipalPolicy",
                ],
                "Resource": "*",
            },
            {
                "Sid": "AutostopWheelhouseAndRecord",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": f"arn:{partition}:s3:::{loc.bucket}/{loc.prefix}*",
            },
            {
                "Sid": "AutostopListPrefix",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": f"arn:{partition}:s3:::{loc.bucket}",
            },
        ],
    }


#: Every call ``autostop-async report`` makes, and nothing it could write; report_cli names
#: the one that was refused, and :func:`report_policy` allows exactly these.
REPORT_ACTIONS = (
    "sagemaker:DescribeDomain",
    "sagemaker:ListSpaces",
    "sagemaker:ListApps",
    "sagemaker:DescribeSpace",
    "sagemaker:DescribeUserProfile",
    "sagemaker:DescribeStudioLifecycleConfig",
    "logs:FilterLogEvents",
    "pricing:GetProducts",
)


def report_policy(domain_arn: str) -> dict[str, Any]:
    """The policy for :data:`REPORT_ACTIONS`: the domain's spaces, profiles and apps (List calls
    take no resource ARN), the LCCs (for the last deploy's time), the Studio log group's events,
    and prices (``pricing:GetProducts`` takes no resource either)."""
    domain_id = domain_arn.rsplit("/", 1)[-1]
    parts = domain_arn.split(":")
    partition, region, account = parts[1], parts[3], parts[4]
    group = f"arn:{partition}:logs:{region}:{account}:log-group:/aws/sagemaker/studio"
    sagemaker = [a for a in REPORT_ACTIONS if a.startswith("sagemaker:")]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AutostopReportListStudio",
                "Effect": "Allow",
                "Action": [a for a in sagemaker if a.startswith("sagemaker:List")],
                "Resource": "*",
            },
            {
                "Sid": "AutostopReportDescribeStudio",
                "Effect": "Allow",
                "Action": [a for a in sagemaker if a.startswith("sagemaker:Describe")],
                "Resource": [
                    domain_arn,
                    _arn(domain_arn, f"space/{domain_id}/*"),
                    _arn(domain_arn, f"user-profile/{domain_id}/*"),
                    _arn(domain_arn, f"studio-lifecycle-config/{NAME_PREFIX}*"),
                ],
            },
            {
                "Sid": "AutostopReportStudioLogs",
                "Effect": "Allow",
                "Action": [a for a in REPORT_ACTIONS if a.startswith("logs:")],
                "Resource": [group, f"{group}:*"],
            },
            {
                "Sid": "AutostopReportPrices",
                "Effect": "Allow",
                "Action": [a for a in REPORT_ACTIONS if a.startswith("pricing:")],
                "Resource": "*",
            },
        ],
    }


def check_execution_roles(iam: Any, roles: set[str], domain_arn: str, loc: Location) -> list[str]:
    """Warnings for execution roles that may not delete the domain's apps or read the
    wheelhouse (``iam:SimulatePrincipalPolicy``), or that could not be checked."""
    domain_id = domain_arn.rsplit("/", 1)[-1]
    partition = domain_arn.split(":")[1]
    app = _arn(domain_arn, f"app/{domain_id}/any-space/codeeditor/default")
    wheel = f"arn:{partition}:s3:::{loc.bucket}/{loc.prefix}wheelhouse/any.whl"
    checks = [("sagemaker:DeleteApp", app), ("sagemaker:DescribeApp", app), ("s3:GetObject", wheel)]
    warnings = []
    for role in sorted(roles):
        try:
            missing = []
            for action, resource in checks:
                got = iam.simulate_principal_policy(
                    PolicySourceArn=role, ActionNames=[action], ResourceArns=[resource]
                )
                results = got.get("EvaluationResults", [])
                if not results or results[0].get("EvalDecision") != "allowed":
                    missing.append(f"{action} on {resource}")
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            warnings.append(
                f"could not check execution role {role} ({code}); make sure it has the policy "
                "that `deploy --print-policy` prints"
            )
            continue
        if missing:
            warnings.append(
                f"execution role {role} may not: {'; '.join(missing)}: apps will not stop "
                "(see `deploy --print-policy`)"
            )
    return warnings


def dumps(policy: dict[str, Any]) -> str:
    """A policy as indented JSON."""
    return json.dumps(policy, indent=2)
