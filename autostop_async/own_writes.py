"""The daemon's own writes (its warning on the terminals; its notice, state and log files),
remembered so that they never count as a person's activity, though a terminal's time moves and
the editor may echo a file write with a heartbeat."""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field

__all__ = ["FILE_ECHO_WINDOW", "MAX_FILE_WRITES", "OwnWrites", "file_echo_window"]

#: A file of ours open in an editor tab is reloaded when we write it, and the reload is a text
#: change for the idle extension: heartbeats this long after one of our file writes are not
#: counted (the editor notices the change and reloads within a second or two). The daemon uses
#: at most a twentieth of the idle time (:func:`file_echo_window`).
FILE_ECHO_WINDOW = 10.0


def file_echo_window(idle_time: float) -> float:
    """How long after an own file write a heartbeat is taken for its echo: short against the
    idle time, so that a person's heartbeat lost in it moves the stop by little."""
    return min(FILE_ECHO_WINDOW, idle_time / 20)


#: Own file writes remembered for the editor's echo (a burst of writes counts as one).
MAX_FILE_WRITES = 64


@dataclass
class OwnWrites:
    """What the daemon itself wrote: not activity of a person.

    ``mtimes`` maps a terminal's device number to its mtime right after our write; ``at`` is when
    we last wrote to any terminal. ``file_times`` are the recent moments we wrote one of our own
    files (notice, state, log): a file open in an editor tab is reloaded when it changes, and the
    editor's idle extension takes that reload for typing (see ``FILE_ECHO_WINDOW``).

    A write is *prompted* when the newest activity is at most ``echo_window`` older (the state
    saved after a poll found activity, the daemon's start-up lines), and *unprompted* otherwise
    (the warning, a check that found only old activity). The echo of an unprompted write is
    never counted: it could postpone the stop by a whole idle time, again and again. A heartbeat
    soon after a prompted write is counted (it may be a person's next click; an echo would move
    the newest activity by seconds), and the daemon records it with an unprompted write
    (:meth:`may_echo_prompted`), so an echo never feeds itself.
    """

    mtimes: dict[int, float] = field(default_factory=dict)
    at: float = 0.0
    #: ``(moment, prompted)`` of our recent file writes.
    file_times: deque[tuple[float, bool]] = field(
        default_factory=lambda: deque(maxlen=MAX_FILE_WRITES)
    )
    #: How long after a file write of ours a heartbeat may be its echo (``file_echo_window``).
    echo_window: float = FILE_ECHO_WINDOW
    #: The newest activity the daemon knows (None: it is starting), kept by the daemon.
    last_activity: float | None = None

    def wrote_file(self, at: float, *, prompted: bool | None = None) -> None:
        """Remember that one of our own files was written at ``at``; ``prompted`` None: decided
        by how recent the newest activity is."""
        if prompted is None:
            last = self.last_activity
            prompted = last is None or at - last <= self.echo_window
        if self.file_times and at <= self.file_times[-1][0] + 0.5:  # a burst is one write
            prompted = prompted and self.file_times[-1][1]  # unprompted if any part was
            self.file_times[-1] = (at, prompted)
        else:
            self.file_times.append((at, prompted))

    def file_write_near(
        self, at: float, before: float, after: float, *, prompted: bool | None = None
    ) -> float | None:
        """The moment of an own file write (of the kind asked, or any) from ``before`` s after
        ``at`` to ``after`` s before it (the write ``at`` may echo), or None."""
        for wrote, kind in reversed(self.file_times):
            if (prompted is None or kind == prompted) and wrote - before <= at <= wrote + after:
                return wrote
        return None

    def may_echo_prompted(self, activity_at: float) -> bool:
        """Whether a heartbeat at ``activity_at`` may echo a prompted write of ours."""
        near = self.file_write_near(activity_at, 0.05, self.echo_window, prompted=True)
        return near is not None

    def wrote(self, fd: int, at: float) -> None:
        """Remember the time of the device open on ``fd`` right after we wrote to it."""
        try:
            st = os.fstat(fd)
        except OSError:
            return
        self.mtimes[st.st_rdev] = st.st_mtime
        self.at = max(self.at, at)

    def is_ours(self, st: os.stat_result) -> bool:
        """True if the device's time is still the one our own write left."""
        return self.mtimes.get(st.st_rdev) == st.st_mtime
