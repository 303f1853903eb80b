"""What the daemon says about the user's holds: which held jobs ended (and how), which reached
their cap, and, once the app is idle long enough but a hold keeps it, the one "kept:" line.

Said to the log and, for a job's end or cap, in every open terminal (written like the warning,
so it is nobody's activity). The daemon decides; this only tells people what it decided.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from .decision import CheckResult
from .durations import format_duration
from .holds import HoldsView
from .idle_clock import IdleClock
from .notice import Notifier
from .times import utc_iso

__all__ = ["HoldNews"]

log = logging.getLogger("autostop_async")


class HoldNews:
    """Tells the log and the terminals what the holds did; the "kept:" line once per idle
    deadline and hold."""

    def __init__(
        self,
        idle: IdleClock,
        notifier: Notifier | None,
        *,
        dry_run: bool,
        clock: Callable[[], float],
    ) -> None:
        self.idle = idle
        self.notifier = notifier
        self.dry_run = dry_run
        self.clock = clock
        #: The idle deadline and the holds' end when a "kept:" line was said (once for each).
        self._kept_said: tuple[float, float | None] | None = None

    async def tell(self, jobs: HoldsView) -> None:
        """The log and the terminals: which held jobs ended (and how), which reached the cap,
        and when the app stops now."""
        if not (jobs.ended or jobs.capped):
            return
        now, deadline = self.clock(), self.idle.deadline
        stop = "would be stopped (dry run)" if self.dry_run else "stops"
        when = (
            f"at {utc_iso(deadline)} (in {format_duration(deadline - now)})"
            if deadline > now
            else "now"
        )
        lines = []
        for end in jobs.ended:
            lasted = format_duration(end.at - end.hold.since, compact=True)
            lines.append(f"{end.hold.describe()} ended ({end.how}) after {lasted} held")
        for hold in jobs.capped:
            cap = format_duration(self.idle.holds.max_keepalive if self.idle.holds else 0)
            lines.append(
                f"{hold.describe()} still runs, but its hold reached the cap (--max-keepalive "
                f"{cap}): it no longer keeps the app"
            )
        if self.idle.jobs.live:
            others = ", ".join(job.describe() for job in self.idle.jobs.live)
            verdict = f"the app is still kept by {others}"
        else:
            verdict = f"the app {stop} {when} unless it is used"
        for line in lines:
            log.info("%s; %s", line, verdict)
        if self.notifier is not None:
            await self.notifier.tell([f"autostop-async: {line}; {verdict}." for line in lines])

    def say_kept(self, result: CheckResult, now: float) -> None:
        """Once the app has been idle long enough but a hold keeps it (``result.kept_by``): the
        decision's line, naming the hold (once per idle deadline and hold)."""
        if result.kept_by is None:
            return
        said = (self.idle.idle_at, self.idle.floor)
        if said != self._kept_said:
            self._kept_said = said
            result.log_active(self.idle.deadline, now)
