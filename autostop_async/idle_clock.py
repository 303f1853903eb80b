"""The idle clock: the newest activity known, the deadline it sets, and the state file that
keeps both across restarts of the daemon.

The deadline is ``last + idle_time``, or the end of a user's keepalive when that is later. A
restarted daemon continues the saved clock (:func:`~.state.begin_state`); each signal's record
and the settings a user's command needs are saved with it, for ``status`` and ``keepalive``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence

from .activity import Activity
from .config import Config
from .durations import format_duration
from .holds import Keepalive, KeepaliveReader
from .own_writes import OwnWrites
from .records import Controls, SignalRecord, State
from .signals.base import Signal
from .state import StateWriter, begin_state, read_state
from .times import utc_iso

__all__ = ["STATE_WRITE_TIMEOUT", "IdleClock"]

log = logging.getLogger("autostop_async")

#: Time bound of one write of the state file.
STATE_WRITE_TIMEOUT = 5.0


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
        return Activity(self.state.last_at, self.state.last_source)

    @property
    def deadline(self) -> float:
        """The earliest moment the app can be idle for ``idle_time`` (and any keepalive over)."""
        idle_at = self.last.at + self.config.idle_time
        return max(idle_at, self.hold.until) if self.hold is not None else idle_at

    def moved_by(self) -> Activity | None:
        """The activity the deadline counts from; None when a keepalive holds it later."""
        return self.last if self.last.at + self.config.idle_time == self.deadline else None

    async def start(self) -> None:
        """Continue the state file's clock, or start one; read the keepalive."""
        app_started = self.app_start()
        saved, unusable = await read_state(self.config.state_file, app_started)
        state = begin_state(
            saved, unusable, now=self.clock(), app_started=app_started, once=self.config.once
        )
        state.idle_time = self.config.idle_time
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

    async def refresh_hold(self) -> None:
        """Read the user's keepalive (a stat per poll, off the event loop)."""
        if self.keepalive is not None:
            hold = await self.keepalive.aread()
            if hold != self.hold:
                self.hold, self.dirty = hold, True

    def see(self, activity: Activity) -> bool:
        """Move ``last`` forward to ``activity`` (clamped to now); True if it moved."""
        assert self.state is not None
        at = min(activity.at, self.clock())
        if at <= self.state.last_at:
            return False
        self.state.last_at, self.state.last_source = at, activity.source
        if self.own_writes is not None:
            self.own_writes.last_activity = at
            self.echo_suspect = activity.source.startswith(
                "editor:"
            ) and self.own_writes.may_echo_prompted(at)
        return True

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
        if self.own_writes is not None:
            self.own_writes.wrote_file(self.clock(), prompted=prompted)
        return True
