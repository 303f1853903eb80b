"""What every activity signal shares: an ``Activity`` (a time and where it came from) and the
small interface each signal implements."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["Activity", "Signal", "newest", "utc_iso"]


@dataclass(frozen=True, order=True)
class Activity:
    """A sign of use: ``at`` is an epoch time, ``source`` says where it was seen, for people.

    Examples of sources: ``workspace:/home/sagemaker-user/proj/train.py``,
    ``git:/home/sagemaker-user/proj (HEAD reflog: commit)``.
    """

    at: float
    source: str

    def describe(self) -> str:
        """``source at 2026-11-26T13:45:00Z``, for log lines."""
        return f"{self.source} at {utc_iso(self.at)}"


@runtime_checkable
class Signal(Protocol):
    """One source of activity. It answers a single question: is there activity newer than t?

    ``cheap`` signals are polled every interval; the others only when a deadline is reached.
    A signal may return the first activity newer than ``t`` it finds (not necessarily the newest).
    """

    name: str
    cheap: bool
    #: The newest activity this signal has seen, whatever ``t`` was asked (``status`` shows it;
    #: a full walk's newest tells the true last activity of an idle app).
    latest: Activity | None

    async def newer_than(self, t: float) -> Activity | None:
        """Activity strictly newer than epoch time ``t``, or None when there is none."""
        ...

    async def aclose(self) -> None:
        """Release what the signal holds (threads, sessions)."""
        ...


def newest(*items: Activity | None) -> Activity | None:
    """The newest of the given activities, ignoring Nones."""
    present = [a for a in items if a is not None]
    return max(present, key=lambda a: a.at) if present else None


def utc_iso(at: float) -> str:
    """Epoch seconds as ISO-8601 UTC with a ``Z``, to the second: ``2026-11-26T13:45:00Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
