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

__all__ = ["AccessDenied", "AdminError", "UsageError", "aws_error"]


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
