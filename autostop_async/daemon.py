"""The decision loop: activity is a timestamp, idleness is a deadline.

The daemon keeps ``last``, the newest activity it knows. Nothing can make the app idle before
``last + idle_time``, so the expensive signals (the workspace walk) are consulted only then; cheap
signals are polled every interval in between. At a deadline, any activity newer than ``last`` moves
it forward; none means the app has been idle for ``idle_time``: delete it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from .activity import Activity, Signal, utc_iso
from .config import Config, format_duration
from .keepalive import Keepalive, KeepaliveReader
from .notice import Notifier
from .sagemaker import AppRef, DeleteAppError, DeleteOutcome
from .state import State, app_start_time, load_state, save_state
from .terminals import OwnWrites

__all__ = ["CheckResult", "Daemon", "Deleter"]

log = logging.getLogger("autostop_async")

#: A jump of the wall clock against the monotonic clock larger than this is a clock change.
CLOCK_JUMP_SECONDS = 60.0
#: Longest wait between two attempts of a failing DeleteApp.
MAX_RETRY_BACKOFF = 900.0

Deleter = Callable[[AppRef], Awaitable[DeleteOutcome]]
T = TypeVar("T")


class _Stopped(Exception):
    """SIGTERM or SIGINT arrived."""


@dataclass(frozen=True)
class CheckResult:
    """One decision: what ``--once --json`` prints."""

    idle: bool
    idle_seconds: float
    last: Activity
    idle_time: float
    action: str  # none | deleted | would-delete | already-gone
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON object of the command-line contract (plus ``error`` when DeleteApp failed)."""
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
        return out


class Daemon:
    """Owns time, the state file and the decision; signals and the deleter are given to it."""

    def __init__(
        self,
        config: Config,
        signals: Sequence[Signal],
        app: AppRef | None,
        deleter: Deleter | None,
        *,
        keepalive: KeepaliveReader | None = None,
        notifier: Notifier | None = None,
        own_writes: OwnWrites | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``keepalive`` reads a user's postponement; ``notifier`` warns before a stop;
        ``own_writes`` learns when the state file is written (an editor tab showing it reloads,
        which is not a person's doing)."""
        self.config = config
        self.signals = list(signals)
        self.app = app
        self.deleter = deleter
        self.keepalive = keepalive
        self.notifier = notifier
        self.own_writes = own_writes
        self.clock = clock
        self.monotonic = monotonic
        self.state: State | None = None
        #: Settings a user's command needs, saved in the state file (``status``, ``keepalive``).
        self.controls: dict[str, Any] = {}
        self._stop = asyncio.Event()
        self._failures = 0
        self._retry_at: float | None = None
        self._hold: Keepalive | None = None
        self._warned_for: float | None = None  # the deadline the last warning announced
        self._records: dict[str, dict[str, Any]] = {}  # each signal's newest activity
        self._dirty = False

    # -- clock and state -------------------------------------------------------------------

    @property
    def last(self) -> Activity:
        """The newest activity known."""
        assert self.state is not None, "call start() first"
        return Activity(self.state.last_at, self.state.last_source)

    @property
    def deadline(self) -> float:
        """The earliest moment the app can be idle for ``idle_time`` (and any keepalive over)."""
        idle_at = self.last.at + self.config.idle_time
        return max(idle_at, self._hold.until) if self._hold is not None else idle_at

    def _refresh_hold(self) -> None:
        """Read the user's keepalive (a stat per poll)."""
        if self.keepalive is not None:
            hold = self.keepalive.read()
            if hold != self._hold:
                self._hold, self._dirty = hold, True

    async def start(self) -> None:
        """Load the state file, or start the clock: at the app's start for ``--once``, else now.

        A restarted daemon continues the clock of the state file, never earlier than the first
        daemon of this app started, so restarts neither reset nor forget it.
        """
        now = self.clock()
        app_started = app_start_time()
        state = await load_state(self.config.state_file, app_started)
        if state is None:
            if self.config.once:
                begin = min(app_started, now) if app_started is not None else now
                source = "app-start" if app_started is not None else "check-start"
            else:
                begin, source = now, "daemon-start"
            state = State(
                app_started=app_started if app_started is not None else begin,
                started=begin,
                last_at=begin,
                last_source=source,
            )
        elif state.last_at < state.started:
            state.last_at, state.last_source = state.started, "daemon-start"
        if state.last_at > now:
            log.warning(
                "the last activity recorded (%s) is in the future; the clock is counted from now",
                utc_iso(state.last_at),
            )
            state.last_at = now
        state.idle_time = self.config.idle_time
        if not self.config.once:
            state.pid = os.getpid()
        self.state = state
        for sig in self.signals:
            hints = getattr(sig, "hints", None)
            if isinstance(hints, list) and not hints:
                hints.extend(state.hints)
            saved = state.signals.get(sig.name)
            record = {"cheap": sig.cheap, "at": None, "source": None, "note": None}
            if isinstance(saved, dict):  # a restarted daemon keeps what status showed
                record.update({k: saved.get(k) for k in ("at", "source")})
            self._records[sig.name] = record
        self._refresh_hold()

    def _see(self, activity: Activity) -> bool:
        """Move ``last`` forward to ``activity`` (clamped to now); True if it moved."""
        assert self.state is not None
        at = min(activity.at, self.clock())
        if at <= self.state.last_at:
            return False
        self.state.last_at, self.state.last_source = at, activity.source
        self._failures, self._retry_at = 0, None
        return True

    async def save(self) -> None:
        """Write the state file; a failure is logged, never fatal (the clock is in memory)."""
        assert self.state is not None
        self.state.deadline = self.deadline
        for sig in self.signals:
            hints = getattr(sig, "hints", None)
            if isinstance(hints, list):
                self.state.hints = [str(h) for h in hints]
        self.state.signals = {name: dict(rec) for name, rec in self._records.items()}
        self.state.controls = {
            **self.controls,
            "max_keepalive": self.keepalive.max_keepalive if self.keepalive is not None else 0,
            "keepalive": self._hold.to_json() if self._hold is not None else None,
            "warn_before": self.notifier.warn_before if self.notifier is not None else 0,
            "dry_run": self.config.dry_run,
        }
        self._dirty = False
        try:
            await save_state(self.config.state_file, self.state)
            if self.own_writes is not None:
                self.own_writes.wrote_file(self.clock())
        except OSError as exc:
            log.warning("cannot write state file %s: %s", self.config.state_file, exc)

    # -- one decision ----------------------------------------------------------------------

    async def poll_cheap(self) -> None:
        """Read the keepalive; ask the cheap signals for activity newer than ``last``."""
        self._refresh_hold()
        for sig in self.signals:
            if sig.cheap:
                found = await self._ask(sig, self.last.at)
                if found is not None and self._see(found):
                    log.debug("activity: %s", found.describe())

    async def _ask(self, sig: Signal, t: float) -> Activity | None:
        try:
            found = await sig.newer_than(t)
        except (asyncio.CancelledError, _Stopped):
            raise
        except Exception as exc:  # one broken signal must not stop the others
            log.warning("signal %s failed: %s: %s", sig.name, type(exc).__name__, exc)
            return None
        self._record(sig, found)
        return found

    def _record(self, sig: Signal, found: Activity | None) -> None:
        """Remember the signal's newest activity for ``status``; saved with the next change."""
        seen = sig.latest if sig.latest is not None else found
        record = self._records.setdefault(
            sig.name, {"cheap": sig.cheap, "at": None, "source": None, "note": None}
        )
        if seen is not None and (record["at"] is None or seen.at > record["at"]):
            record["at"], record["source"] = min(seen.at, self.clock()), seen.source
            self._dirty = True
        note = getattr(sig, "note", None)
        if note != record["note"]:
            record["note"] = note
            self._dirty = True

    async def check(self) -> CheckResult:
        """Decide once: consult the signals if the deadline has passed, delete if idle."""
        await self.poll_cheap()
        now = self.clock()
        if now < self.deadline:
            return self._result(now, idle=False, action="none")
        # Only activity within the last idle_time can keep the app: with an old `last` (a first
        # --once from cron) there is no need to find everything since, just anything recent.
        threshold = max(self.last.at, now - self.config.idle_time)
        for sig in self.signals:
            if not sig.cheap:
                found = await self._ask(sig, threshold)
                if found is not None and self._see(found):
                    return self._result(self.clock(), idle=False, action="none")
        now = self.clock()
        if now < self.deadline:  # a slow scan: the clock moved while it ran
            return self._result(now, idle=False, action="none")
        for sig in self.signals:
            # Nothing recent; a signal that walked everything knows the true last activity,
            # older than the threshold: report that rather than the start of the clock.
            if sig.latest is not None and sig.latest.at <= threshold:
                self._see(sig.latest)
        return await self._delete(now)

    async def _delete(self, now: float) -> CheckResult:
        idle_for = now - self.last.at
        target = (
            str(self.app) if self.app is not None else f"the app of {self.config.metadata_file}"
        )
        if self.config.dry_run or self.deleter is None or self.app is None:
            log.info(
                "idle for %s (last activity %s); dry run: would delete app %s",
                format_duration(idle_for),
                self.last.describe(),
                target,
            )
            return self._result(now, idle=True, action="would-delete")
        log.info(
            "idle for %s (last activity %s); deleting app %s",
            format_duration(idle_for),
            self.last.describe(),
            target,
        )
        try:
            outcome = await self.deleter(self.app)
        except DeleteAppError as exc:
            return self._result(now, idle=True, action="none", error=str(exc))
        if outcome is DeleteOutcome.DELETED:
            log.info("deleted app %s", target)
        else:
            log.info("app %s is already gone; nothing to delete", target)
        return self._result(now, idle=True, action=outcome.value)

    def _result(
        self, now: float, *, idle: bool, action: str, error: str | None = None
    ) -> CheckResult:
        return CheckResult(
            idle=idle,
            idle_seconds=max(0.0, now - self.last.at),
            last=self.last,
            idle_time=self.config.idle_time,
            action=action,
            error=error,
        )

    # -- the loop --------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Ask the loop to end at its next await (signal handlers call this)."""
        self._stop.set()

    async def _interruptible(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` unless a stop is requested first; then cancel it and raise _Stopped."""
        task = asyncio.ensure_future(coro)
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise _Stopped

    def _next_wake(self, now: float) -> float:
        """When to look again: the deadline (or the retry), or sooner for cheap signals."""
        wake = self._retry_at if self._retry_at is not None else self.deadline
        warn_at = self._warn_at()
        if warn_at is not None:
            wake = min(wake, warn_at)
        if self.keepalive is not None or any(sig.cheap for sig in self.signals):
            wake = min(wake, now + self.config.interval)
        return max(wake, now + 0.05)

    # -- the warning -----------------------------------------------------------------------

    def _warn_at(self) -> float | None:
        """When the coming deadline is to be announced; None if it was, or is not to be."""
        if self.notifier is None or self._retry_at is not None:
            return None
        if self._warned_for == self.deadline:
            return None
        return self.notifier.warn_at(self.deadline)

    async def _warn(self) -> None:
        """Look everywhere first (the walk too): warn only if nothing happened since ``last``."""
        assert self.notifier is not None
        deadline = self.deadline
        await self.poll_cheap()
        for sig in self.signals:
            if self.deadline != deadline:
                break
            if not sig.cheap:
                found = await self._ask(sig, self.last.at)
                if found is not None:
                    self._see(found)
        if self.deadline != deadline:
            by_activity = self.last.at + self.config.idle_time == self.deadline
            why = self.last.describe() if by_activity else "a keepalive"
            log.info("no warning: %s; next check at %s", why, utc_iso(self.deadline))
            return
        await self.notifier.warn(deadline, self.last)
        self._warned_for = deadline

    async def _tell_postponed(self) -> None:
        """After a warning, a deadline moved by activity or a keepalive: update the notice."""
        if self.notifier is None or self._warned_for is None:
            return
        if self.deadline == self._warned_for:
            return
        self._warned_for = None
        by_activity = self.last.at + self.config.idle_time == self.deadline
        log.info("the announced stop is postponed to %s", utc_iso(self.deadline))
        with contextlib.suppress(Exception):
            await self.notifier.postponed(self.last if by_activity else None, self.deadline)

    def _log_active(self, result: CheckResult, now: float) -> None:
        log.info(
            "active: %s (%s ago); next check at %s (in %s)",
            result.last.describe(),
            format_duration(result.idle_seconds),
            utc_iso(self.deadline),
            format_duration(self.deadline - now),
        )

    def _retry_backoff(self) -> float:
        """Growing wait after failed deletions: interval, doubled each time, capped."""
        cap = min(MAX_RETRY_BACKOFF, max(self.config.interval, self.config.idle_time))
        return float(min(cap, self.config.interval * 2 ** min(self._failures - 1, 20)))

    def _watch_clock(self, wall: float, mono: float, prev: tuple[float, float]) -> None:
        """Shift ``last`` by a forward jump of the wall clock, so the jump is not idle time."""
        jump = (wall - prev[0]) - (mono - prev[1])
        if jump > CLOCK_JUMP_SECONDS and self.state is not None:
            log.warning(
                "the system clock jumped forward by %s; the idle clock moves with it",
                format_duration(jump),
            )
            self.state.last_at = min(wall, self.state.last_at + jump)
        elif jump < -CLOCK_JUMP_SECONDS and self.state is not None:
            log.warning("the system clock jumped back by %s", format_duration(-jump))
            self.state.last_at = min(self.state.last_at, wall)

    async def _close_signals(self) -> None:
        """Let every signal release what it holds; one failing does not stop the others."""
        for sig in self.signals:
            with contextlib.suppress(Exception):
                await sig.aclose()

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, self.request_stop)

    async def run(self) -> int:
        """Watch until the app is deleted (0), or a stop is requested (0)."""
        self._install_signal_handlers()
        await self.start()
        await self.save()
        log.info(
            "watching since %s; last activity %s; first check at %s (in %s)",
            utc_iso(self.state.started if self.state else self.clock()),
            self.last.describe(),
            utc_iso(self.deadline),
            format_duration(self.deadline - self.clock()),
        )
        prev = (self.clock(), self.monotonic())
        try:
            while not self._stop.is_set():
                now, mono = self.clock(), self.monotonic()
                self._watch_clock(now, mono, prev)
                prev = (now, mono)
                due = now >= (self._retry_at if self._retry_at is not None else self.deadline)
                if due:
                    result = await self._interruptible(self.check())
                    now = self.clock()
                    if result.action in ("deleted", "already-gone"):
                        await self.save()
                        log.info("done; exiting")
                        return 0
                    if result.error is not None:
                        self._failures += 1
                        backoff = self._retry_backoff()
                        self._retry_at = now + backoff
                        log.error(
                            "DeleteApp failed: %s; retrying in %s",
                            result.error,
                            format_duration(backoff),
                        )
                    elif result.action == "would-delete":
                        # Dry run: report once per idle period, then wait a full idle time.
                        self._retry_at = now + self.config.idle_time
                    else:
                        self._log_active(result, now)
                    await self.save()
                elif (warn_at := self._warn_at()) is not None and now >= warn_at:
                    await self._interruptible(self._warn())
                    await self.save()
                else:
                    before = self.last.at
                    await self._interruptible(self.poll_cheap())
                    if self.last.at != before or self._dirty:
                        await self.save()
                await self._tell_postponed()
                wait = self._next_wake(self.clock()) - self.clock()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=max(0.0, wait))
        except _Stopped:
            pass
        finally:
            await self._close_signals()
        await self.save()
        log.info("stopped by signal; state saved to %s", self.config.state_file)
        return 0

    async def once(self) -> CheckResult:
        """One check for scripts and cron: decide, save the state, and return the decision."""
        await self.start()
        try:
            result = await self.check()
        finally:
            await self._close_signals()
        await self.save()
        if result.error is not None:
            log.error("DeleteApp failed: %s", result.error)
        elif result.action == "none":
            log.info(
                "active: %s (%s ago); idle at %s (in %s)",
                result.last.describe(),
                format_duration(result.idle_seconds),
                utc_iso(self.deadline),
                format_duration(self.deadline - self.clock()),
            )
        return result
