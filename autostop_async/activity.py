"""The one idea of the daemon: activity is a timestamp. An :class:`Activity` is a time and where
it was seen; the newest one known sets the deadline (``last + idle_time``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .safe_output import shown
from .times import utc_iso

__all__ = ["Activity", "newest"]


@dataclass(frozen=True, order=True)
class Activity:
    """A sign of use: ``at`` is an epoch time, ``source`` says where it was seen, for people.

    Examples of sources: ``workspace:/home/sagemaker-user/proj/train.py``,
    ``git:/home/sagemaker-user/proj (HEAD reflog: commit)``.
    """

    at: float
    source: str
    #: The app may stop this long after it instead of the idle time: the end of a job held
    #: with ``keepalive --then-stop-after GRACE`` (None: the idle time).
    stop_after: float | None = field(default=None, compare=False)

    def describe(self) -> str:
        """``source at 2026-11-26T13:45:00Z``, for log lines; the source escaped and bounded
        (it names a user's file: :func:`~.safe_output.shown`)."""
        return f"{shown(self.source)} at {utc_iso(self.at)}"


def newest(*items: Activity | None) -> Activity | None:
    """The newest of the given activities, ignoring Nones."""
    present = [a for a in items if a is not None]
    return max(present, key=lambda a: a.at) if present else None
