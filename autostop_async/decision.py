"""What a check decided, how an idle app is deleted, and when a check is tried again.

:class:`CheckResult` is what ``--once --json`` prints. :func:`delete_idle_app` makes the one
call that ends the app (or says what a dry run would have done). :class:`Retry` holds the
schedule of checks tried again: after an inconclusive check, a failed DeleteApp (a growing
wait), or a dry run's report.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .activity import Activity
from .durations import format_duration
from .errors import DeleteAppError
from .sagemaker import AppRef, DeleteOutcome
from .times import utc_iso

__all__ = [
    "MAX_RETRY_BACKOFF",
    "Action",
    "CheckResult",
    "Deleter",
    "Retry",
    "delete_idle_app",
]

log = logging.getLogger("autostop_async")

#: Longest wait between two attempts of a failing DeleteApp.
MAX_RETRY_BACKOFF = 900.0

Deleter = Callable[[AppRef], Awaitable[DeleteOutcome]]
#: What a check did, as ``--once --json`` prints it.
Action = Literal["none", "deleted", "would-delete", "already-gone"]


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    """One decision: what ``--once --json`` prints."""

    idle_seconds: float
    last: Activity
    idle_time: float
    action: Action = "none"
    #: The app was found idle (whatever the deletion did).
    idle: bool = False
    error: str | None = None
    #: A signal failed or did not answer: nobody can tell whether the app is idle; it is kept.
    inconclusive: bool = False
    #: What keeps the app though it has been idle long enough (a held job, a keepalive).
    kept_by: str | None = None

    @property
    def app_gone(self) -> bool:
        """The app was deleted, or was already gone, as ``DescribeApp`` confirmed
        (:class:`~.sagemaker.SageMakerClient`): the daemon's work is done."""
        return self.action in ("deleted", "already-gone")

    def log_active(self, deadline: float, now: float, *, when: str = "next check at") -> None:
        """The line of a check that found the app in use, or kept by a hold."""
        if self.kept_by is not None:
            log.info(
                "kept: %s; last activity %s (%s ago); %s %s (in %s)",
                self.kept_by,
                self.last.describe(),
                format_duration(self.idle_seconds),
                when,
                utc_iso(deadline),
                format_duration(deadline - now),
            )
            return
        log.info(
            "active: %s (%s ago); %s %s (in %s)",
            self.last.describe(),
            format_duration(self.idle_seconds),
            when,
            utc_iso(deadline),
            format_duration(deadline - now),
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON object of the command-line contract (plus ``error`` when DeleteApp failed
        or the check was inconclusive)."""
        out: dict[str, Any] = {
            "idle": self.idle,
            "idle_seconds": round(self.idle_seconds, 3),
            "last_activity": utc_iso(self.last.at),
            "source": self.last.source,
            "idle_time": self.idle_time,
            "action": self.action,
        }
        if self.error is not None:
            out["error"] = self.error
        if self.kept_by is not None:
            out["kept_by"] = self.kept_by
        return out


async def delete_idle_app(
    app: AppRef | None,
    deleter: Deleter | None,
    *,
    last: Activity,
    idle_for: float,
    metadata_file: Path,
) -> tuple[Action, str | None]:
    """Delete the idle ``app`` (a dry run without ``deleter`` or ``app`` only says so): the
    action taken, and the error of a DeleteApp that failed (the app is kept then)."""
    idle = f"idle for {format_duration(idle_for)} (last activity {last.describe()})"
    if deleter is None or app is None:
        named = (
            app.describe()
            if app is not None
            else f"this app (its domain, space and name are unknown: no metadata file "
            f"{metadata_file})"
        )
        log.info("%s; dry run: would delete %s", idle, named)
        return "would-delete", None
    log.info("%s; deleting app %s", idle, app)
    try:
        outcome = await deleter(app)
    except DeleteAppError as exc:
        return "none", str(exc)
    if outcome is DeleteOutcome.DELETED:
        log.info("deleted app %s", app)
        return "deleted", None
    log.info("app %s is already gone; nothing to delete", app)
    return "already-gone", None


class Retry:
    """When the next check is due other than at the deadline: after a check that could not
    end in a decision (a signal failed, DeleteApp failed) or a dry run's report."""

    def __init__(self, interval: float, idle_time: float) -> None:
        self.interval = interval
        self.idle_time = idle_time
        #: When to check again; None: at the deadline.
        self.at: float | None = None
        #: DeleteApp failures in a row.
        self.failures = 0

    def clear(self) -> None:
        """Activity was seen: the next check is at the (new) deadline, failures forgotten."""
        self.at, self.failures = None, 0

    def backoff(self) -> float:
        """Growing wait after failed deletions: interval, doubled each time, capped at 15
        minutes or the idle time, never under the interval."""
        cap = min(MAX_RETRY_BACKOFF, max(self.interval, self.idle_time))
        return float(min(cap, self.interval * 2 ** min(self.failures - 1, 20)))

    def after(self, result: CheckResult, now: float) -> None:
        """Plan the next check after ``result`` (one that did not end the daemon's work)."""
        if result.inconclusive:  # each failing signal said so: ask again an interval later
            self.at = now + self.interval
        elif result.error is not None:
            self.failures += 1
            backoff = self.backoff()
            self.at = now + backoff
            log.error(
                "DeleteApp failed: %s; retrying in %s", result.error, format_duration(backoff)
            )
        elif result.action == "would-delete":  # report once per idle period
            self.at = now + self.idle_time
        else:  # conclusive: active
            self.at = None
