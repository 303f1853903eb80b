"""Asking the signals: each answer within a time bound, each failure said once, each signal's
newest activity kept for ``status``.

A signal that raises or does not answer in time has failed for that check, and the daemon keeps
the app: it cannot tell whether the app is idle (:attr:`Asker.failed_now`). A call that outlives
its bound is left to finish (a thread stuck in a system call cannot be stopped, and a slow walk
is not started again from scratch); until it does, no second call is made beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .activity import Activity
from .durations import format_duration
from .records import SignalRecord
from .signals.base import Signal
from .times import utc_iso

__all__ = ["CHEAP_SIGNAL_TIMEOUT", "FAILURE_REMINDER", "WALK_TIMEOUT", "Asker"]

log = logging.getLogger("autostop_async")

#: Time bound of one answer of a cheap signal (above the GPU signal's own 5 s for nvidia-smi).
CHEAP_SIGNAL_TIMEOUT = 10.0
#: Time bound of one answer of a signal consulted at deadlines (the workspace walk, git): a
#: million files take about 10 s on a warm cache; a cold network volume can take minutes.
WALK_TIMEOUT = 900.0
#: While a signal keeps failing, how often the log says so again (first failure: at once).
FAILURE_REMINDER = 3600.0


@dataclass
class _Failing:
    """A signal that raised or did not answer in time, since ``since``; for the log and status."""

    since: float
    reason: str
    tries: int = 1
    said_at: float = 0.0


class Asker:
    """Asks each signal for activity newer than a time, within its bound; remembers failures
    and, per signal, the newest activity seen (:attr:`records`, saved in the state file)."""

    def __init__(
        self,
        signals: Sequence[Signal],
        *,
        clock: Callable[[], float],
        retry_text: str,
        cheap_timeout: float = CHEAP_SIGNAL_TIMEOUT,
        walk_timeout: float = WALK_TIMEOUT,
    ) -> None:
        """``retry_text`` ends the line of a first failure (when the daemon asks again)."""
        self.signals = list(signals)
        self.clock = clock
        self.retry_text = retry_text
        self.cheap_timeout = cheap_timeout
        self.walk_timeout = walk_timeout
        self.records = {sig.name: SignalRecord(sig.cheap) for sig in self.signals}
        #: A record changed since the state was last saved.
        self.dirty = False
        #: The signals that failed since :meth:`begin_check`, and why.
        self.failed_now: dict[str, str] = {}
        self._failing: dict[str, _Failing] = {}
        self._pending: dict[str, asyncio.Future[Activity | None]] = {}

    def begin_check(self) -> None:
        """Start a check: forget which signals failed in the last one."""
        self.failed_now = {}

    async def ask(self, sig: Signal, t: float) -> Activity | None:
        """The signal's answer within its time bound; None, and the failure noted, otherwise."""
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
        except asyncio.CancelledError:  # the daemon is stopping
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

    async def aclose(self) -> None:
        """Drop the calls still running; let every signal release what it holds (one failing
        does not stop the others)."""
        for task in self._pending.values():
            task.cancel()
        self._pending.clear()
        for sig in self.signals:
            with contextlib.suppress(Exception):
                await sig.aclose()

    def _failed(self, sig: Signal, reason: str) -> None:
        """Note a failure of ``sig``: logged once, again every hour it lasts, shown by status."""
        now = self.clock()
        self.failed_now[sig.name] = reason
        failing = self._failing.get(sig.name)
        if failing is None:
            failing = self._failing[sig.name] = _Failing(now, reason, said_at=now)
            log.warning(
                "signal %s failed: %s; while it fails no check can find the app idle: "
                "the app is kept%s",
                sig.name,
                reason,
                self.retry_text,
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
        self._note(sig, f"failing since {utc_iso(failing.since)}: {reason}")

    def _recovered(self, sig: Signal) -> None:
        failing = self._failing.pop(sig.name, None)
        if failing is not None:
            log.info(
                "signal %s answers again (it failed since %s, %d tries)",
                sig.name,
                utc_iso(failing.since),
                failing.tries,
            )

    def _record(self, sig: Signal, found: Activity | None) -> None:
        """Remember the signal's newest activity (never later than now) and its note."""
        seen = sig.latest if sig.latest is not None else found
        if seen is not None and self._entry(sig).saw(min(seen.at, self.clock()), seen.source):
            self.dirty = True
        self._note(sig, sig.note)

    def _note(self, sig: Signal, note: str | None) -> None:
        record = self._entry(sig)
        if record.note != note:
            record.note, self.dirty = note, True

    def _entry(self, sig: Signal) -> SignalRecord:
        return self.records.setdefault(sig.name, SignalRecord(sig.cheap))


def _discard(task: asyncio.Future[Any]) -> None:
    """Drop a finished call's outcome without asyncio's "exception was never retrieved"."""
    if not task.cancelled():
        task.exception()
