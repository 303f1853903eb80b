"""The decision loop: activity is a timestamp, idleness is a deadline.

The daemon keeps ``last``, the newest activity it knows. Nothing can make the app idle before
``last + idle_time``, so the expensive signals (the workspace walk) are consulted only then; cheap
signals are polled every interval in between. At a deadline, any activity newer than ``last`` moves
it forward; none means the app has been idle for ``idle_time``: delete it.

What the daemon is given does the rest: the :class:`~.asking.Asker` asks the signals within
their bounds, :func:`~.decision.delete_idle_app` deletes, :class:`~.decision.Retry` plans checks
tried again, the :class:`~.notice.WarningSchedule` warns, the state file keeps the clock.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from .activity import Activity
from .asking import CHEAP_SIGNAL_TIMEOUT, WALK_TIMEOUT, Asker
from .clock_jumps import ClockWatch
from .config import Config
from .decision import Action, CheckResult, Deleter, Retry, delete_idle_app
from .durations import format_duration
from .hold_news import HoldNews
from .holds import HoldsReader, KeepaliveReader
from .idle_clock import STATE_WRITE_TIMEOUT, IdleClock
from .notice import Notifier, WarningSchedule
from .own_writes import OwnWrites
from .records import GONE, Controls
from .sagemaker import AppRef
from .shutdown import ShutdownOnSignals
from .signals.base import Signal
from .state import app_start_time

__all__ = ["Action", "CheckResult", "Daemon", "Deleter"]

log = logging.getLogger("autostop_async")

#: Time bound of the last write of the state file, at a stop (the process exits within 2 s).
FINAL_SAVE_TIMEOUT = 1.2


class Daemon:
    """Decides: when to look, what to ask, whether the app is idle, and then deletes it.

    The idle clock (:class:`~.idle_clock.IdleClock`), the signals (through the
    :class:`~.asking.Asker`), the deleter, the warning and time itself are given to it.
    """

    def __init__(
        self,
        config: Config,
        signals: Sequence[Signal],
        app: AppRef | None,
        deleter: Deleter | None,
        *,
        keepalive: KeepaliveReader | None = None,
        holds: HoldsReader | None = None,
        notifier: Notifier | None = None,
        own_writes: OwnWrites | None = None,
        off: Sequence[str] = (),
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        cheap_timeout: float = CHEAP_SIGNAL_TIMEOUT,
        walk_timeout: float = WALK_TIMEOUT,
        app_start: Callable[[], float | None] = app_start_time,
    ) -> None:
        """``keepalive`` reads a user's postponement, ``holds`` the user's holds on jobs;
        ``notifier`` warns before a stop (and says when a held job ended); ``own_writes``
        learns when the state file is written (an editor tab showing it reloads, which is not a
        person's doing); ``off`` names the signals turned off (for ``status``).

        ``clock``, ``monotonic`` and ``sleep`` are the daemon's time (tests run it virtually).
        ``cheap_timeout`` and ``walk_timeout`` bound one answer of a cheap signal and of a signal
        consulted at deadlines. ``app_start`` tells when the app started (None: unknown).
        """
        self.config = config
        self.signals = list(signals)
        self.app = app
        self.deleter = deleter
        self.notifier = notifier
        self.warnings = WarningSchedule(notifier) if notifier is not None else None
        self.clock, self.monotonic, self.sleep = clock, monotonic, sleep
        again = "" if config.once else f" (asking again every {format_duration(config.interval)})"
        self.asker = Asker(
            self.signals,
            clock=clock,
            retry_text=again,
            cheap_timeout=cheap_timeout,
            walk_timeout=walk_timeout,
        )
        self.retry = Retry(config.interval, config.idle_time)
        self.idle = IdleClock(
            config,
            self.signals,
            records=self.asker.records,
            controls=Controls(
                max_keepalive=keepalive.max_keepalive if keepalive is not None else 0,
                warn_before=notifier.warn_before if notifier is not None else 0,
                dry_run=config.dry_run,
                off=list(off),
            ),
            keepalive=keepalive,
            holds=holds,
            own_writes=own_writes,
            clock=clock,
            app_start=app_start,
        )
        #: What a user's command needs of the settings; saved in the state file.
        self.controls = self.idle.controls
        self.news = HoldNews(self.idle, notifier, dry_run=config.dry_run, clock=clock)
        self.stopper = ShutdownOnSignals()  # SIGTERM, SIGINT: run() ends

    # -- the idle clock (idle_clock.IdleClock) -----------------------------------------------

    @property
    def last(self) -> Activity:
        """The newest activity known."""
        return self.idle.last

    @property
    def deadline(self) -> float:
        """The earliest moment the app can be idle for ``idle_time`` (and any keepalive over)."""
        return self.idle.deadline

    async def start(self) -> None:
        """Continue the state file's clock, or start one; say which held jobs ended meanwhile."""
        await self.idle.start()
        await self.news.tell(self.idle.jobs)

    async def save(
        self, timeout: float = STATE_WRITE_TIMEOUT, *, prompted: bool | None = None
    ) -> bool:
        """Write the state file (see :meth:`IdleClock.save`); True if it was written."""
        self.asker.dirty = False
        return await self.idle.save(timeout, prompted=prompted)

    def _see(self, activity: Activity) -> bool:
        """Move ``last`` forward to ``activity``; True if it moved (retries are then over)."""
        if not self.idle.see(activity):
            return False
        self.retry.clear()
        return True

    # -- one decision ----------------------------------------------------------------------

    async def poll_cheap(self) -> None:
        """Read the keepalive and the holds; ask the cheap signals for activity newer than
        ``last``; say which held jobs ended or reached their cap (:class:`~.hold_news.HoldNews`)."""
        jobs = await self.idle.refresh_hold()
        if jobs.ended:
            self.retry.clear()  # an end is activity: the next check is at the new deadline
        for sig in self.signals:
            if sig.cheap:
                await self._consult(sig, self.last.at)
        await self.news.tell(jobs)

    async def _look_deeper(self, t: float) -> bool:
        """Ask the signals consulted at deadlines (the walk, git) for activity newer than
        ``t``, until one moves ``last``; True if one did."""
        for sig in self.signals:
            if not sig.cheap and await self._consult(sig, t):
                return True
        return False

    async def _consult(self, sig: Signal, t: float) -> bool:
        found = await self.asker.ask(sig, t)
        if found is None or not self._see(found):
            return False
        log.debug("activity: %s", found.describe())
        return True

    async def check(self) -> CheckResult:
        """Decide once: consult the signals if the deadline has passed, delete if idle.

        After the walk, right before DeleteApp, the cheap signals and the holds are read again:
        the decision is taken on what is true when the app is deleted, not when the check began.
        A signal that failed or did not answer in time makes the check inconclusive unless
        another one found activity: the app is kept, and the result says why.
        """
        self.asker.begin_check()
        await self.poll_cheap()
        now = self.clock()
        if now < self.deadline:
            return self._result(now)
        # Only activity within the last idle_time can keep the app: with an old `last` (a first
        # --once from cron) there is no need to find everything since, just anything recent.
        threshold = max(self.last.at, now - self.config.idle_time)
        if await self._look_deeper(threshold) or self.clock() < self.deadline:
            return self._result(self.clock())  # activity, or the clock moved meanwhile
        # The walk may have taken minutes (a cold volume): a click or a `keepalive` meanwhile
        # decides. Fresh evidence, right before DeleteApp: the cheap signals and the holds.
        await self.poll_cheap()
        if self.clock() < self.deadline:
            return self._result(self.clock())
        now = self.clock()
        if self.asker.failed_now:
            why = "; ".join(f"signal {n} failed: {r}" for n, r in self.asker.failed_now.items())
            return self._result(now, error=f"inconclusive: {why}", inconclusive=True)
        for sig in self.signals:
            # Nothing recent; a signal that walked everything knows the true last activity,
            # older than the threshold: report that rather than the start of the clock.
            if sig.latest is not None and sig.latest.at <= threshold:
                self._see(sig.latest)
        action, error = await delete_idle_app(
            self.app,
            None if self.config.dry_run else self.deleter,
            last=self.last,
            idle_for=now - self.last.at,
            metadata_file=self.config.metadata_file,
        )
        if action in GONE:  # saved: status says so, not that a stop is still due
            self.idle.gone(action, self.clock())
        return self._result(now, action, idle=True, error=error)

    def _result(self, now: float, action: Action = "none", **more: Any) -> CheckResult:
        """The result of this check at ``now``; ``more``: idle, error, inconclusive."""
        idle_for, idle_time = max(0.0, now - self.last.at), self.config.idle_time
        return CheckResult(
            idle_seconds=idle_for,
            last=self.last,
            idle_time=idle_time,
            action=action,
            kept_by=self.idle.kept_by(now),
            **more,
        )

    # -- the warning -----------------------------------------------------------------------

    def _warn_at(self) -> float | None:
        """When the coming deadline is to be announced (:class:`~.notice.WarningSchedule`)."""
        if self.warnings is None:
            return None
        return self.warnings.due_at(self.deadline, retrying=self.retry.at is not None)

    async def _look_everywhere(self) -> None:
        """The cheap signals, then (if the deadline stayed) the walk since ``last``, then the
        cheap signals again."""
        deadline = self.deadline
        await self.poll_cheap()
        if self.deadline == deadline and not await self._look_deeper(self.last.at):
            await self.poll_cheap()  # what happened during a long walk

    # -- the loop --------------------------------------------------------------------------

    def request_stop(self) -> None:
        """End :meth:`run` at once, whatever it awaits (SIGTERM and SIGINT do the same)."""
        self.stopper.request()

    async def run(self) -> int:
        """Watch until the app is deleted, or a stop is requested (exit 0 either way).

        A stop cancels this task (:class:`~.shutdown.ShutdownOnSignals`): whatever the loop awaits
        (a walk, a stuck signal, a slow disk) ends at once; the state is then saved in a bound.
        """
        with self.stopper:
            try:
                await self._watch()
                return 0
            finally:
                await self.asker.aclose()
        saved = self.idle.state is not None and await self.save(timeout=FINAL_SAVE_TIMEOUT)
        log.info(
            "stopped by signal; state %s %s",
            "saved to" if saved else "NOT saved to",
            self.config.state_file,
        )
        return 0

    async def _watch(self) -> None:
        """Decide, poll and wait until the app is gone."""
        await self.start()
        await self.save()
        self.idle.log_watching()
        clock_watch = ClockWatch(self.clock, self.monotonic)
        while True:
            state = self.idle.state
            assert state is not None
            state.last_at = clock_watch.adjust(state.last_at)
            now = self.clock()
            if now >= (self.retry.at if self.retry.at is not None else self.deadline):
                result = await self.check()
                if result.app_gone:
                    await self.save()
                    log.info("done; exiting")
                    return
                self.retry.after(result, self.clock())
                if self.retry.at is None:  # conclusive: active
                    result.log_active(self.deadline, self.clock())
                await self.save()
            elif self.warnings and (warn_at := self._warn_at()) is not None and now >= warn_at:
                await self.warnings.warn_unless_used(self.idle, self._look_everywhere)
                await self.save()
            else:
                await self._poll()
            if self.warnings is not None:
                await self.warnings.follow(self.deadline, self.idle.moved_by())
            await self.sleep(self._next_wake(self.clock()) - self.clock())

    async def _poll(self) -> None:
        """Between deadlines: the cheap signals; the state saved when anything changed."""
        before = self.last.at
        await self.poll_cheap()
        self.news.say_kept(self._result(self.clock()), self.clock())
        if self.last.at != before or self.idle.dirty or self.asker.dirty:
            await self.save()

    def _next_wake(self, now: float) -> float:
        """When to look again: the deadline (or the retry), or sooner for cheap signals."""
        wake = self.retry.at if self.retry.at is not None else self.deadline
        warn_at = self._warn_at()
        if warn_at is not None:
            wake = min(wake, warn_at)
        polled = self.idle.keepalive is not None or self.idle.holds is not None
        if polled or any(sig.cheap for sig in self.signals):
            wake = min(wake, now + self.config.interval)
        return max(wake, now + 0.05)

    async def once(self) -> CheckResult:
        """One check for scripts and cron: decide, save the state, and return the decision."""
        await self.start()
        try:
            result = await self.check()
        finally:
            await self.asker.aclose()
        await self.save()
        if result.error is not None and not result.inconclusive:  # a failing signal said so
            log.error("DeleteApp failed: %s", result.error)
        elif result.action == "none" and not result.inconclusive:
            result.log_active(self.deadline, self.clock(), when="idle at")
        return result
