"""What every activity signal shares: the small interface each signal implements
(:class:`Signal`), its defaults (:class:`SignalBase`), the base of the polled signals
(:class:`PolledSignal`: a subclass writes only ``sample``), and :class:`OnceLog`, which says a
problem once rather than at every poll. The record a signal answers with is
:class:`autostop_async.activity.Activity`."""

from __future__ import annotations

import logging
import threading
from typing import Protocol, runtime_checkable

from ..activity import Activity

__all__ = ["OnceLog", "PolledSignal", "Signal", "SignalBase"]


@runtime_checkable
class Signal(Protocol):
    """One source of activity. It answers a single question: is there activity newer than t?

    ``cheap`` signals are polled every interval; the others only when a deadline is reached.
    A signal may return the first activity newer than ``t`` it finds (not necessarily the newest).
    Everything the daemon reads of a signal is here; :class:`SignalBase` gives the defaults.
    """

    name: str
    cheap: bool
    #: The newest activity this signal has seen, whatever ``t`` was asked (``status`` shows it;
    #: a full walk's newest tells the true last activity of an idle app).
    latest: Activity | None
    #: One line for ``status``: what the last check looked at, or why the signal sees nothing.
    note: str | None

    @property
    def hints(self) -> list[str] | None:
        """Where to look first, kept in the state file across restarts (the workspace's hot
        folders; a restarted daemon fills in an empty list); None for a signal that keeps none."""
        ...

    async def newer_than(self, t: float) -> Activity | None:
        """Activity strictly newer than epoch time ``t``, or None when there is none."""
        ...

    async def aclose(self) -> None:
        """Release what the signal holds (threads, sessions)."""
        ...


class SignalBase:
    """The defaults of a :class:`Signal`: no activity seen yet, no note, no hints, nothing
    held. A subclass sets ``name`` and ``cheap`` and writes ``newer_than``."""

    name: str
    cheap: bool
    latest: Activity | None = None
    note: str | None = None
    hints: list[str] | None = None

    async def newer_than(self, t: float) -> Activity | None:
        """Activity strictly newer than epoch time ``t``, or None when there is none."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Nothing is held between checks."""


class PolledSignal(SignalBase):
    """A cheap signal that samples the newest activity it can see at each poll.

    A subclass writes only :meth:`sample`; ``newer_than`` keeps ``latest`` and answers with the
    sample when it is newer than ``t``.
    """

    cheap = True

    async def sample(self) -> Activity | None:
        """The newest activity visible now, or None when there is none."""
        raise NotImplementedError

    async def newer_than(self, t: float) -> Activity | None:
        """The sample, if it is newer than ``t``; ``latest`` keeps the newest sample seen."""
        found = await self.sample()
        if found is None:
            return None
        if self.latest is None or found.at > self.latest.at:
            self.latest = found
        return found if found.at > t else None


class OnceLog:
    """Says each problem once, not at every poll: a line per key until the key is forgotten
    (the problem went away, so it is said again if it comes back). Safe from worker threads."""

    def __init__(self, logger: logging.Logger) -> None:
        self._log = logger
        self._said: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, key: str, level: int, message: str, *args: object) -> bool:
        """Log ``message % args`` at ``level`` unless ``key`` was said; True if it was logged."""
        with self._lock:
            if key in self._said:
                return False
            self._said.add(key)
        self._log.log(level, message, *args, stacklevel=2)
        return True

    def forget(self, key: str) -> bool:
        """The problem ``key`` is over; True if it had been said."""
        with self._lock:
            if key not in self._said:
                return False
            self._said.discard(key)
            return True

    def __len__(self) -> int:
        """How many problems are said and not forgotten."""
        return len(self._said)
