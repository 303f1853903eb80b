"""Changes of the system clock, told apart from time passing.

The idle clock counts wall-clock time (activity times are file and device times), but a clock
set forward (an NTP step after a suspended instance resumes) is not idle time, and a clock set
back must not leave the last activity in the future. The monotonic clock never jumps: a
difference between how far the two moved is a change of the clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from .durations import format_duration

__all__ = ["CLOCK_JUMP_SECONDS", "ClockWatch"]

log = logging.getLogger("autostop_async")

#: A jump of the wall clock against the monotonic clock larger than this is a clock change.
CLOCK_JUMP_SECONDS = 60.0


class ClockWatch:
    """Compares the wall clock with the monotonic clock between two calls of :meth:`adjust`."""

    def __init__(self, clock: Callable[[], float], monotonic: Callable[[], float]) -> None:
        self.clock = clock
        self.monotonic = monotonic
        self._prev = (clock(), monotonic())

    def adjust(self, last_at: float) -> float:
        """``last_at`` (the last activity) moved with a change of the clock since the last call:
        forward by a forward jump, so the jump is not idle time; back to now at the latest."""
        wall, mono = self.clock(), self.monotonic()
        jump = (wall - self._prev[0]) - (mono - self._prev[1])
        self._prev = (wall, mono)
        if jump > CLOCK_JUMP_SECONDS:
            log.warning(
                "the system clock jumped forward by %s; the idle clock moves with it",
                format_duration(jump),
            )
            return min(wall, last_at + jump)
        if jump < -CLOCK_JUMP_SECONDS:
            log.warning("the system clock jumped back by %s", format_duration(-jump))
            return min(last_at, wall)
        return last_at
