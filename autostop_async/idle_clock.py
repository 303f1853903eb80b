"""The idle clock: the newest activity known, the deadline it sets, and the state file that
keeps both across restarts of the daemon.

The deadline is ``last + idle_time`` (or ``last + GRACE`` when ``last`` is the end of a job held
with ``--then-stop-after GRACE``), or later while a user's hold is in force: the end of a
keepalive, the cap of a running job's hold (the rule is :func:`~.stop_rule.stop_rule`, which
``status`` shares). A held job's end is activity. A restarted daemon
continues the saved clock (:func:`~.state.begin_state`); each signal's record and the settings
a user's command needs are saved with it, for ``status`` and ``keepalive``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence

from .activity import Activity
from .config import Config
from .durations import format_duration
from .holds import HoldsReader, HoldsView, Keepalive, KeepaliveReader
from .own_writes import OwnWrites
from .records import Controls, SignalRecord, State
from .signals.base import Signal
from .state import StateWriter, begin_state, read_state
from .stop_rule import Stop, stop_rule
from .times import utc_iso

__all__ = ["JOB_TAIL", "STATE_WRITE_TIMEOUT", "IdleClock"]

log = logging.getLogger("autostop_async")

#: Time bound of one write of the state file.
STATE_WRITE_TIMEOUT = 5.0
#: Seconds after a job's end within which what the polled signals see is the job's own last
#: moments, not a person: a CPU or GPU sample covers the poll interval before it, and a
#: terminal's time moves in steps of 8 s (``signals.terminals``), so a job's last output can
#: look up to 8 s newer than its end. Added to the poll interval.
JOB_TAIL = 8.0
#: The sources of those signals (``busy:cpu``, ``busy:gpu``, ``terminal:/dev/pts/1``).
_JOB_ECHOES = ("busy:", "terminal:")


class IdleClock:
    """``last`` and the deadline, the user's keepalive, and the state file."""

    def __init__(
        self,
        config: Config,
        signals: Sequence[Signal],
        *,
        records: dict[str, SignalRecord],
        controls: Controls,
        keepalive: KeepaliveReader | None,
        holds: HoldsReader | None = None,
        own_writes: OwnWrites | None,
        clock: Callable[[], float],
        app_start: Callable[[], float | None],
    ) -> None:
        """``records`` (each signal's, kept up to date by the caller) and ``controls`` are
        saved with the state; ``own_writes`` learns of each save (an editor tab showing the
        state file reloads, which is not a person's doing)."""
        self.config = config
        self.signals = list(signals)
        self.records = records
        self.controls = controls
        self.keepalive = keepalive
        self.holds = holds
        #: The holds on jobs as read at the last poll.
        self.jobs = HoldsView()
        self.own_writes = own_writes
        self.clock = clock
        self.app_start = app_start
        self.state: State | None = None
        self.hold: Keepalive | None = None
        #: Something to save changed (the keepalive), or the last save failed.
        self.dirty = False
        #: The newest activity may be the editor's echo of our own last save (a tab showing
        #: the state file): the saves that follow are unprompted, so their echoes never count.
        self.echo_suspect = False
        self._writer = StateWriter(config.state_file, clock)

    @property
    def last(self) -> Activity:
        """The newest activity known."""
        assert self.state is not None, "call start() first"
        return Activity(self.state.last_at, self.state.last_source, self.state.last_stop_after)

    @property
    def stop(self) -> Stop:
        """When the app stops, by the rule ``status`` shares (:func:`~.stop_rule.stop_rule`)."""
        last = self.last
        return stop_rule(
            last_at=last.at,
            stop_after=last.stop_after,
            idle_time=self.config.idle_time,
            keepalive_until=self.hold.until if self.hold is not None else None,
            job_starts=[job.since for job in self.jobs.live],
            max_keepalive=self.holds.max_keepalive if self.holds is not None else 0.0,
            unusable_until=[u.until for u in self.jobs.unusable],
        )

    @property
    def idle_at(self) -> float:
        """When the app has been idle long enough: ``idle_time`` (or the grace of a job's end)
        after the newest activity."""
        return self.stop.idle_at

    @property
    def floor(self) -> float | None:
        """The latest moment a user's hold keeps the app to: a keepalive's end, a running
        job's cap, an unusable hold file's cap (None: no hold)."""
        return self.stop.floor

    @property
    def deadline(self) -> float:
        """The earliest moment the app can be idle (and every hold over)."""
        return self.stop.at

    def moved_by(self) -> Activity | None:
        """The activity the deadline counts from; None when a hold keeps it later."""
        return self.last if self.idle_at == self.deadline else None

    def kept_by(self, now: float) -> str | None:
        """What keeps the app at ``now``, though idle long enough: a job, an unusable hold file,
        a keepalive (None: nothing, or the app is not idle long enough)."""
        if not self.stop.kept_at(now):
            return None
        if self.jobs.live:
            job = min(self.jobs.live, key=lambda j: j.process.started_at)
            running = format_duration(now - job.process.started_at, compact=True)
            more = len(self.jobs.live) - 1
            return f"{job.describe()} running for {running}" + (
                f" (and {more} more held job{'s' if more > 1 else ''})" if more else ""
            )
        if self.jobs.unusable:
            until = max(u.until for u in self.jobs.unusable)
            return f"an unusable hold file, at most until {utc_iso(until)}"
        if self.hold is not None:
            return f"keepalive by {self.hold.by} until {utc_iso(self.hold.until)}"
        return None

    async def start(self) -> None:
        """Continue the state file's clock, or start one; read the keepalive."""
        app_started = self.app_start()
        saved, unusable = await read_state(self.config.state_file, app_started)
        state = begin_state(
            saved, unusable, now=self.clock(), app_started=app_started, once=self.config.once
        )
        state.idle_time = self.config.idle_time
        state.gone_at = state.gone = None  # the daemon starts only while the app is there
        if state.last_stop_after is not None and self.holds is not None:
            # A job's grace, capped like the hold's at its end (the file is anyone's to edit).
            state.last_stop_after = min(state.last_stop_after, self.holds.max_keepalive)
        if not self.config.once:
            state.pid = os.getpid()
        for sig in self.signals:
            if sig.hints is not None and not sig.hints:
                sig.hints.extend(state.hints)
        for name, record in self.records.items():  # status keeps what it showed
            old = state.signals.get(name)
            if old is not None:
                record.at, record.source = old.at, old.source
        state.signals, state.controls = self.records, self.controls
        self.state = state
        if self.own_writes is not None:
            self.own_writes.last_activity = state.last_at
        await self.refresh_hold()

    def log_watching(self) -> None:
        """The daemon's first line about the clock: since when, and the first check."""
        assert self.state is not None
        log.info(
            "watching since %s; last activity %s; first check at %s (in %s)",
            utc_iso(self.state.started),
            self.last.describe(),
            utc_iso(self.deadline),
            format_duration(self.deadline - self.clock()),
        )

    async def refresh_hold(self) -> HoldsView:
        """Read the user's keepalive and holds (a listing and a stat per poll, off the event
        loop); a held job's end moves ``last``. The holds as read (ends and caps new)."""
        if self.keepalive is not None:
            hold = await self.keepalive.aread()
            if hold != self.hold:
                self.hold, self.dirty = hold, True
        if self.holds is None:
            return self.jobs
        jobs = await self.holds.aread()
        if jobs.live != self.jobs.live or jobs.unusable != self.jobs.unusable:
            self.dirty = True
        self.jobs = jobs
        for end in jobs.ended:
            grace = end.hold.grace
            if grace is not None:  # the hold is user input: the cap bounds it too
                grace = min(grace, self.holds.max_keepalive)
            source = f"{end.hold.describe()} ended ({end.how})"
            self.see(Activity(end.at, source, grace))
            self.dirty = True
        return jobs

    def gone(self, action: str, at: float) -> None:
        """The daemon's work is done: the app was deleted (or found gone) at ``at``; saved for
        ``status``, which says so instead of a stop still due."""
        assert self.state is not None
        self.state.gone_at, self.state.gone = at, action

    def see(self, activity: Activity) -> bool:
        """Move ``last`` forward to ``activity`` (clamped to now); True if it moved."""
        assert self.state is not None
        at = min(activity.at, self.clock())
        last_at, last_source = self.state.last_at, self.state.last_source
        if activity.stop_after is not None and (
            at >= last_at or self._job_echo(last_source, last_at, at)
        ):  # nothing later, or only the job's last moments (seen before its end): the end rules
            at = max(at, last_at)
        elif at <= last_at:
            return False
        elif self.state.last_stop_after is not None and self._job_echo(
            activity.source, at, last_at
        ):
            return False  # the job's last moments, seen after its end: the grace stands
        self.state.last_at, self.state.last_source = at, activity.source
        self.state.last_stop_after = activity.stop_after
        if self.own_writes is not None:
            self.own_writes.last_activity = at
            self.echo_suspect = activity.source.startswith(
                "editor:"
            ) and self.own_writes.may_echo_prompted(at)
        return True

    def _job_echo(self, source: str, at: float, end: float) -> bool:
        """Whether activity from ``source`` at ``at`` may be what the polled signals saw of the
        last moments of a job that ended at ``end`` (see ``JOB_TAIL``)."""
        return source.startswith(_JOB_ECHOES) and at <= end + self.config.interval + JOB_TAIL

    async def save(
        self, timeout: float = STATE_WRITE_TIMEOUT, *, prompted: bool | None = None
    ) -> bool:
        """Write the state file; a failure is said once (:class:`~.state.StateWriter`) and
        the write tried again at the next poll (``dirty``). ``prompted``: False makes the write
        unprompted (see ``OwnWrites``); None lets the time since the last activity decide.
        True if it was written."""
        assert self.state is not None
        if prompted is None and self.echo_suspect:
            prompted = False
        self.state.deadline = self.deadline
        for sig in self.signals:
            if sig.hints is not None:
                self.state.hints = list(sig.hints)
        self.controls.keepalive = self.hold.to_json() if self.hold is not None else None
        self.dirty = not await self._writer.write(self.state, timeout)
        if self.dirty:
            return False
        if self.holds is not None:  # the ends counted are saved: their files can go
            await self.holds.asettle()
        if self.own_writes is not None:
            self.own_writes.wrote_file(self.clock(), prompted=prompted)
        return True
