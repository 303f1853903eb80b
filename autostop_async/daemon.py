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
from typing import Any, Literal, TypeVar

from .activity import Activity, Signal, utc_iso
from .config import Config, format_duration
from .keepalive import Keepalive, KeepaliveReader
from .notice import Notifier
from .sagemaker import AppRef, DeleteAppError, DeleteOutcome
from .state import State, app_start_time, read_state, save_state
from .terminals import OwnWrites

__all__ = ["Action", "CheckResult", "Daemon", "Deleter"]

log = logging.getLogger("autostop_async")

#: A jump of the wall clock against the monotonic clock larger than this is a clock change.
CLOCK_JUMP_SECONDS = 60.0
#: Longest wait between two attempts of a failing DeleteApp.
MAX_RETRY_BACKOFF = 900.0
#: Time bound of one answer of a cheap signal (above the GPU signal's own 5 s for nvidia-smi).
CHEAP_SIGNAL_TIMEOUT = 10.0
#: Time bound of one answer of a signal consulted at deadlines (the workspace walk, git): a
#: million files take about 10 s on a warm cache; a cold network volume can take minutes.
WALK_TIMEOUT = 900.0
#: While a signal keeps failing, how often the log says so again (first failure: at once).
FAILURE_REMINDER = 3600.0
#: Time bound of one write of the state file; the last one, at a stop, gets less (exit in 2 s).
STATE_WRITE_TIMEOUT = 5.0
FINAL_SAVE_TIMEOUT = 1.2

Deleter = Callable[[AppRef], Awaitable[DeleteOutcome]]
#: What a check did, as ``--once --json`` prints it.
Action = Literal["none", "deleted", "would-delete", "already-gone"]
T = TypeVar("T")


class _Stopped(Exception):
    """SIGTERM or SIGINT arrived."""


@dataclass
class _Failing:
    """A signal that raised or did not answer in time, since ``since``; for the log and status."""

    since: float
    reason: str
    tries: int = 1
    said_at: float = 0.0


@dataclass(frozen=True)
class CheckResult:
    """One decision: what ``--once --json`` prints."""

    idle: bool
    idle_seconds: float
    last: Activity
    idle_time: float
    action: Action
    error: str | None = None
    #: A signal failed or did not answer: nobody can tell whether the app is idle; it is kept.
    inconclusive: bool = False

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
        cheap_timeout: float = CHEAP_SIGNAL_TIMEOUT,
        walk_timeout: float = WALK_TIMEOUT,
        app_start: Callable[[], float | None] = app_start_time,
    ) -> None:
        """``keepalive`` reads a user's postponement; ``notifier`` warns before a stop;
        ``own_writes`` learns when the state file is written (an editor tab showing it reloads,
        which is not a person's doing).

        ``cheap_timeout`` and ``walk_timeout`` bound one answer of a cheap signal and of a signal
        consulted at deadlines: a signal that takes longer has failed for that check.
        ``app_start`` tells when the app started (None where that cannot be read).
        """
        self.config = config
        self.signals = list(signals)
        self.app = app
        self.deleter = deleter
        self.keepalive = keepalive
        self.notifier = notifier
        self.own_writes = own_writes
        self.clock = clock
        self.monotonic = monotonic
        self.app_start = app_start
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
        #: The newest activity may be the editor's echo of our last state save (a tab showing
        #: the state file): the save that records it is unprompted, so its echo is not counted.
        self._echo_suspect = False
        self.cheap_timeout = cheap_timeout
        self.walk_timeout = walk_timeout
        self._failing: dict[str, _Failing] = {}  # signals failing now, by name
        self._failed_now: dict[str, str] = {}  # the signals that failed in this check: why
        #: A signal's call that outlived its bound: never a second one beside it (no thread leak).
        self._pending: dict[str, asyncio.Future[Activity | None]] = {}
        self._state_failing = False

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

    async def _refresh_hold(self) -> None:
        """Read the user's keepalive (a stat per poll, off the event loop)."""
        if self.keepalive is not None:
            hold = await self.keepalive.aread()
            if hold != self._hold:
                self._hold, self._dirty = hold, True

    async def start(self) -> None:
        """Load the state file, or start the clock: at the app's start for ``--once``, else now.

        A restarted daemon continues the clock of the state file, never earlier than the first
        daemon of this app started, so restarts neither reset nor forget it.
        """
        now = self.clock()
        app_started = self.app_start()
        state, unusable = await read_state(self.config.state_file, app_started)
        if state is None:
            if self.config.once and app_started is not None and not unusable:
                begin, source = min(app_started, now), "app-start"
            else:  # a state file that could not be used may have known newer activity: now
                begin, source = now, "check-start" if self.config.once else "daemon-start"
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
        if self.own_writes is not None:
            self.own_writes.last_activity = state.last_at
        for sig in self.signals:
            if sig.hints is not None and not sig.hints:
                sig.hints.extend(state.hints)
            saved = state.signals.get(sig.name)
            record = {"cheap": sig.cheap, "at": None, "source": None, "note": None}
            if isinstance(saved, dict):  # a restarted daemon keeps what status showed
                record.update({k: saved.get(k) for k in ("at", "source")})
            self._records[sig.name] = record
        await self._refresh_hold()

    def _see(self, activity: Activity) -> bool:
        """Move ``last`` forward to ``activity`` (clamped to now); True if it moved."""
        assert self.state is not None
        at = min(activity.at, self.clock())
        if at <= self.state.last_at:
            return False
        self.state.last_at, self.state.last_source = at, activity.source
        if self.own_writes is not None:
            self.own_writes.last_activity = at
        self._failures, self._retry_at = 0, None
        return True

    def _may_echo_our_save(self, activity: Activity) -> bool:
        """Whether ``activity`` may be the editor's echo of our own last state save."""
        return (
            self.own_writes is not None
            and activity.source.startswith("editor:")
            and self.own_writes.may_echo_prompted(activity.at)
        )

    async def save(
        self, timeout: float = STATE_WRITE_TIMEOUT, *, prompted: bool | None = None
    ) -> bool:
        """Write the state file; a failure is logged once, never fatal (the clock is in memory),
        and the write is tried again at the next poll; a line says when it works again.
        ``prompted``: False makes the write unprompted (see ``OwnWrites``); None lets the
        time since the last activity decide.
        True if it was written."""
        assert self.state is not None
        self.state.deadline = self.deadline
        for sig in self.signals:
            if sig.hints is not None:
                self.state.hints = list(sig.hints)
        self.state.signals = {name: dict(rec) for name, rec in self._records.items()}
        self.state.controls = {
            **self.controls,
            "max_keepalive": self.keepalive.max_keepalive if self.keepalive is not None else 0,
            "keepalive": self._hold.to_json() if self._hold is not None else None,
            "warn_before": self.notifier.warn_before if self.notifier is not None else 0,
            "dry_run": self.config.dry_run,
        }
        self._dirty = False
        path = self.config.state_file
        try:
            await asyncio.wait_for(save_state(path, self.state), timeout)
            if self.own_writes is not None:
                self.own_writes.wrote_file(self.clock(), prompted=prompted)
        except (OSError, asyncio.TimeoutError) as exc:
            self._dirty = True  # tried again at the next poll
            timed_out = isinstance(exc, asyncio.TimeoutError) and not exc.args
            why = f"no answer within {timeout:g}s" if timed_out else str(exc)
            if not self._state_failing:
                self._state_failing = True
                log.warning(
                    "cannot write state file %s: %s; the daemon keeps deciding (the clock is "
                    "in memory) and tries again at every poll",
                    path,
                    why,
                )
            else:
                log.debug("state file %s still not written: %s", path, why)
            return False
        if self._state_failing:
            self._state_failing = False
            log.info("state file %s written again", path)
        return True

    # -- one decision ----------------------------------------------------------------------

    async def poll_cheap(self) -> None:
        """Read the keepalive; ask the cheap signals for activity newer than ``last``."""
        await self._refresh_hold()
        for sig in self.signals:
            if sig.cheap:
                found = await self._ask(sig, self.last.at)
                if found is not None and self._see(found):
                    log.debug("activity: %s", found.describe())

    async def _ask(self, sig: Signal, t: float) -> Activity | None:
        """The signal's answer within its time bound; None, and the failure noted, otherwise.

        A call that outlives its bound is left to finish (a thread stuck in a system call cannot
        be stopped, and a slow walk is not started again from scratch); until it does, the
        signal is failing, and no second call is made beside it.
        """
        bound = self.cheap_timeout if sig.cheap else self.walk_timeout
        task = self._pending.pop(sig.name, None)
        if task is not None and not task.done():
            self._pending[sig.name] = task
            self._failed(sig, f"no answer within {format_duration(bound)} (still waiting)")
            return None
        if task is not None:
            _discard(task)  # an answer to an old question: ask again
        task = asyncio.ensure_future(sig.newer_than(t))
        try:
            done, _ = await asyncio.wait({task}, timeout=bound)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if not done:
            self._pending[sig.name] = task
            self._failed(sig, f"no answer within {format_duration(bound)}")
            return None
        try:
            found = task.result()
        except asyncio.CancelledError:
            self._failed(sig, "its call was cancelled")
            return None
        except Exception as exc:  # one broken signal must not stop the others
            self._failed(sig, f"{type(exc).__name__}: {exc}")
            return None
        self._recovered(sig)
        self._record(sig, found)
        return found

    def _failed(self, sig: Signal, reason: str) -> None:
        """Note a failure of ``sig``: logged once, again every hour it lasts, shown by status."""
        now = self.clock()
        self._failed_now[sig.name] = reason
        failing = self._failing.get(sig.name)
        if failing is None:
            failing = self._failing[sig.name] = _Failing(now, reason, said_at=now)
            log.warning(
                "signal %s failed: %s; while it fails no check can find the app idle: "
                "the app is kept%s",
                sig.name,
                reason,
                "" if self.config.once else f" (asking again every {self._interval_text()})",
            )
        else:
            failing.tries += 1
            failing.reason = reason
            if now - failing.said_at >= FAILURE_REMINDER:
                failing.said_at = now
                log.warning(
                    "signal %s still fails (since %s, %d tries; last: %s); the app is kept",
                    sig.name,
                    utc_iso(failing.since),
                    failing.tries,
                    reason,
                )
            else:
                log.debug("signal %s failed again: %s", sig.name, reason)
        record = self._records.setdefault(
            sig.name, {"cheap": sig.cheap, "at": None, "source": None, "note": None}
        )
        note = f"failing since {utc_iso(failing.since)}: {reason}"
        if record["note"] != note:
            record["note"] = note
            self._dirty = True

    def _recovered(self, sig: Signal) -> None:
        failing = self._failing.pop(sig.name, None)
        if failing is not None:
            log.info(
                "signal %s answers again (it failed since %s, %d tries)",
                sig.name,
                utc_iso(failing.since),
                failing.tries,
            )

    def _interval_text(self) -> str:
        return format_duration(self.config.interval)

    def _record(self, sig: Signal, found: Activity | None) -> None:
        """Remember the signal's newest activity for ``status``; saved with the next change."""
        seen = sig.latest if sig.latest is not None else found
        record = self._records.setdefault(
            sig.name, {"cheap": sig.cheap, "at": None, "source": None, "note": None}
        )
        if seen is not None and (record["at"] is None or seen.at > record["at"]):
            record["at"], record["source"] = min(seen.at, self.clock()), seen.source
            self._dirty = True
        if sig.note != record["note"]:
            record["note"] = sig.note
            self._dirty = True

    async def check(self) -> CheckResult:
        """Decide once: consult the signals if the deadline has passed, delete if idle.

        A signal that failed or did not answer in time makes the check inconclusive unless
        another one found activity: the app is kept, and the result says why.
        """
        self._failed_now = {}
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
        if self._failed_now:
            why = "; ".join(f"signal {n} failed: {r}" for n, r in self._failed_now.items())
            return self._result(
                now, idle=False, action="none", error=f"inconclusive: {why}", inconclusive=True
            )
        for sig in self.signals:
            # Nothing recent; a signal that walked everything knows the true last activity,
            # older than the threshold: report that rather than the start of the clock.
            if sig.latest is not None and sig.latest.at <= threshold:
                self._see(sig.latest)
        return await self._delete(now)

    async def _delete(self, now: float) -> CheckResult:
        idle_for = now - self.last.at
        target = str(self.app)
        if self.config.dry_run or self.deleter is None or self.app is None:
            named = (
                self.app.describe()
                if self.app is not None
                else f"this app (its domain, space and name are unknown: no metadata file "
                f"{self.config.metadata_file})"
            )
            log.info(
                "idle for %s (last activity %s); dry run: would delete %s",
                format_duration(idle_for),
                self.last.describe(),
                named,
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
            return self._result(now, idle=True, action="deleted")
        log.info("app %s is already gone; nothing to delete", target)
        return self._result(now, idle=True, action="already-gone")

    def _result(
        self,
        now: float,
        *,
        idle: bool,
        action: Action,
        error: str | None = None,
        inconclusive: bool = False,
    ) -> CheckResult:
        return CheckResult(
            idle=idle,
            idle_seconds=max(0.0, now - self.last.at),
            last=self.last,
            idle_time=self.config.idle_time,
            action=action,
            error=error,
            inconclusive=inconclusive,
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
        for task in self._pending.values():
            task.cancel()
        self._pending.clear()
        for sig in self.signals:
            with contextlib.suppress(Exception):
                await sig.aclose()

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, self.request_stop)

    async def run(self) -> int:
        """Watch until the app is deleted (0), or a stop is requested (0).

        Every wait is interruptible: SIGTERM ends the loop at once, whatever it waits on (a walk,
        a stuck signal, a slow disk); the state is then saved within a short bound.
        """
        self._install_signal_handlers()
        try:
            await self._interruptible(self.start())
            await self._interruptible(self.save())
            log.info(
                "watching since %s; last activity %s; first check at %s (in %s)",
                utc_iso(self.state.started if self.state else self.clock()),
                self.last.describe(),
                utc_iso(self.deadline),
                format_duration(self.deadline - self.clock()),
            )
            if await self._loop():
                return 0
        except _Stopped:
            pass
        finally:
            await self._close_signals()
        saved = self.state is not None and await self.save(timeout=FINAL_SAVE_TIMEOUT)
        log.info(
            "stopped by signal; state %s %s",
            "saved to" if saved else "NOT saved to",
            self.config.state_file,
        )
        return 0

    async def _loop(self) -> bool:
        """Decide, poll and wait until the app is gone (True) or a stop is requested (False)."""
        prev = (self.clock(), self.monotonic())
        while not self._stop.is_set():
            now, mono = self.clock(), self.monotonic()
            self._watch_clock(now, mono, prev)
            prev = (now, mono)
            due = now >= (self._retry_at if self._retry_at is not None else self.deadline)
            if due:
                result = await self._interruptible(self.check())
                now = self.clock()
                if result.action in ("deleted", "already-gone"):
                    await self._interruptible(self.save())
                    log.info("done; exiting")
                    return True
                if result.inconclusive:
                    # A signal failed (logged once by _failed): the app is kept; ask again.
                    self._retry_at = now + self.config.interval
                elif result.error is not None:
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
                    self._retry_at = None  # conclusive: active
                    self._log_active(result, now)
                await self._interruptible(self.save())
            elif (warn_at := self._warn_at()) is not None and now >= warn_at:
                await self._interruptible(self._warn())
                await self._interruptible(self.save())
            else:
                before = self.last.at
                await self._interruptible(self.poll_cheap())
                if self.last.at != before:
                    self._echo_suspect = self._may_echo_our_save(self.last)
                if self.last.at != before or self._dirty:
                    # Recording a possible echo is unprompted: its own echo is never counted.
                    prompted = False if self._echo_suspect else None
                    await self._interruptible(self.save(prompted=prompted))
            await self._interruptible(self._tell_postponed())
            if self.notifier is not None and self.notifier.pending:
                await self._interruptible(self.notifier.retry())
            wait = self._next_wake(self.clock()) - self.clock()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=max(0.0, wait))
        return False

    async def once(self) -> CheckResult:
        """One check for scripts and cron: decide, save the state, and return the decision."""
        await self.start()
        try:
            result = await self.check()
        finally:
            await self._close_signals()
        await self.save()
        if result.inconclusive:
            pass  # each failing signal said so, and that the app is kept
        elif result.error is not None:
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


def _discard(task: asyncio.Future[Any]) -> None:
    """Drop a finished call's outcome without asyncio's "exception was never retrieved"."""
    if not task.cancelled():
        task.exception()
