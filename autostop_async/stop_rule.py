"""When the app stops: the one rule that the daemon decides by and ``status`` shows.

The app is idle long enough ``stop_after`` after its newest activity (the idle time, or the
grace of a held job's end: ``keepalive --then-stop-after``). It is stopped then, or later while
a user's hold is in force: a keepalive's end, a running job's cap (its start plus
``--max-keepalive``), an unusable hold file's cap. The daemon (:class:`~.idle_clock.IdleClock`)
and ``status`` both call :func:`stop_rule`, so what ``status`` says is what the daemon does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["Holder", "Stop", "stop_rule"]

#: What keeps the app past its idle deadline: a held job, an unusable hold file, a keepalive.
Holder = Literal["job", "unusable hold file", "keepalive"]


@dataclass(frozen=True)
class Stop:
    """When the app is idle long enough (``idle_at``), the latest moment a hold keeps it to
    (``floor``, None: no hold) and which hold that is (``held_by``)."""

    idle_at: float
    floor: float | None = None
    held_by: Holder | None = None

    @property
    def at(self) -> float:
        """The earliest moment the app can be stopped: idle long enough, every hold over."""
        return self.idle_at if self.floor is None else max(self.idle_at, self.floor)

    def kept_at(self, now: float) -> bool:
        """Whether, at ``now``, the app is idle long enough and a hold still keeps it."""
        return self.idle_at <= now < self.at


def stop_rule(
    *,
    last_at: float,
    stop_after: float | None,
    idle_time: float,
    keepalive_until: float | None = None,
    job_starts: Sequence[float] = (),
    max_keepalive: float = 0.0,
    unusable_until: Sequence[float] = (),
) -> Stop:
    """The stop after the newest activity at ``last_at`` (``stop_after`` None: the idle time),
    held by a keepalive until ``keepalive_until``, by running jobs started at ``job_starts``
    (each up to ``max_keepalive`` from its start), by unusable hold files until
    ``unusable_until``."""
    idle_at = last_at + (stop_after if stop_after is not None else idle_time)
    floors: list[tuple[float, Holder]] = [(start + max_keepalive, "job") for start in job_starts]
    floors += [(until, "unusable hold file") for until in unusable_until]
    if keepalive_until is not None:
        floors.append((keepalive_until, "keepalive"))
    if not floors:
        return Stop(idle_at)
    floor, held_by = max(floors, key=lambda f: f[0])
    return Stop(idle_at, floor, held_by)
