"""Errors of the admin commands, with messages an admin can act on; they sit in the package's
tree (:mod:`autostop_async.errors`) as failed commands and usage errors.

::

    AdminError            exit 1: AWS said no, or something is not as expected (CommandFailed)
    ├── AccessDenied      names the action and the resource
    └── UsageError        exit 2: bad flags or settings, found before any AWS call (UsageError)
"""

from __future__ import annotations

from typing import Any

from .. import errors

__all__ = ["AccessDenied", "AdminError", "UsageError", "aws_error", "aws_failure"]


class AdminError(errors.CommandFailed):
    """Something stops the command; the message says what and what to do."""

    exit_code = 1


class UsageError(AdminError, errors.UsageError):
    """A bad flag or setting, found before any AWS call."""

    exit_code = 2


class AccessDenied(AdminError):
    """The admin's credentials may not do ``action`` on ``resource``."""

    def __init__(self, action: str, resource: str, detail: str = "") -> None:
        """Keep the action and the resource for the message."""
        self.action = action
        self.resource = resource
        message = f"access denied: {action} on {resource}"
        if detail:
            message += f" ({detail})"
        message += "; `autostop-async deploy --print-policy` prints the policy the admin needs"
        super().__init__(message)


_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Forbidden", "403"}


def aws_error(exc: Exception, action: str, resource: str) -> AdminError:
    """An :class:`AdminError` for a botocore ``ClientError`` (anything else: its text)."""
    response: Any = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return AdminError(f"{action} on {resource} failed: {exc}")
    error = response.get("Error", {})
    code = str(error.get("Code", ""))
    message = str(error.get("Message", ""))
    if code in _DENIED:
        return AccessDenied(action, resource, message)
    return AdminError(f"{action} on {resource} failed: {code}: {message}")


def aws_failure(exc: Exception) -> AdminError:
    """An :class:`AdminError` for an SDK error raised outside a named step: no credentials, no
    region, an endpoint that does not answer, or a call's ``ClientError``."""
    operation = str(getattr(exc, "operation_name", "") or "")
    if operation:
        return aws_error(exc, operation, "the account")
    hint = ""
    name = type(exc).__name__
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        hint = ": give the admin's credentials (AWS_PROFILE, `aws configure`, or CloudShell)"
    elif name == "NoRegionError":
        hint = ": give --region or AWS_REGION"
    elif name in ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError"):
        hint = ": check the network, or AWS_ENDPOINT_URL* for an emulator"
    return AdminError(f"{exc}{hint}")
