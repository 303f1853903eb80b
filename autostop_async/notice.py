"""The warning before a stop: a short notice in every open terminal and in a notice file.

``--warn-before 5m``: five minutes before the deadline, once the daemon has checked every signal
and found nothing, it writes when the app will stop and how to postpone it to each terminal
device and to the notice file (``~sagemaker-user/autostop-async-notice.txt`` by default). Once per
deadline: a deadline moved by activity or a keepalive gets its own warning.

None of this may count as activity. Terminal writes are remembered (:class:`OwnWrites`) so the
terminal and editor signals can tell them apart. The notice file is excluded from the walk, and
it is created once when the daemon starts, then only rewritten in place: creating or removing a
file changes its folder, and a folder's change would count as workspace activity.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .activity import Activity
from .config import DEFAULT_STATE_DIR, Config
from .durations import format_duration
from .errors import NotAnsweringError
from .own_writes import OwnWrites
from .safe_output import shown
from .safe_read import open_regular_for_write, run_blocking
from .signals.terminals import terminal_devices
from .times import utc_iso

__all__ = ["Deadline", "Notifier", "WarningSchedule", "keepalive_hint"]

log = logging.getLogger("autostop_async")


class Deadline(Protocol):
    """What the warning needs of the idle clock (:class:`~.idle_clock.IdleClock`)."""

    @property
    def deadline(self) -> float:
        """When the app is stopped if nothing happens."""
        ...

    @property
    def last(self) -> Activity:
        """The newest activity known."""
        ...

    def moved_by(self) -> Activity | None:
        """The activity the deadline counts from; None when a keepalive holds it later."""
        ...


#: Seconds the writes of one warning may take (a terminal or a home folder that hangs).
WRITE_TIMEOUT = 5.0
#: A warning is not worth sending when it would come earlier than this share of the idle time.
MAX_WARN_SHARE = 0.5


def keepalive_hint(config: Config) -> str | None:
    """The command a user types to postpone the stop, or None when keepalive is off."""
    if config.max_keepalive <= 0:
        return None
    duration = "2h" if config.max_keepalive >= 7200 else format_duration(config.max_keepalive)
    state = "" if config.state_dir == DEFAULT_STATE_DIR else f" --state-dir {config.state_dir}"
    return f"{sys.executable} -m autostop_async keepalive {duration}{state}"


@dataclass
class Notifier:
    """Writes the warning; the daemon decides when (:meth:`warn_at`)."""

    warn_before: float
    idle_time: float
    terminals_dir: Path
    notice_file: Path | None
    own_writes: OwnWrites
    hint: str | None = None
    dry_run: bool = False
    clock: Callable[[], float] = time.time
    #: The notice that could not be written (a full disk), as what composes its text when it
    #: is written: :meth:`retry` writes it again (a warning counting down from then).
    _unwritten: Callable[[], bytes] | None = field(default=None, init=False, repr=False)
    _write_failing: bool = field(default=False, init=False, repr=False)

    @classmethod
    def from_config(cls, config: Config, own_writes: OwnWrites) -> Notifier | None:
        """The notifier the settings ask for; None for ``--once`` (one check warns nobody)."""
        if config.once:
            return None
        return cls(
            warn_before=config.warn_before,
            idle_time=config.idle_time,
            terminals_dir=config.terminals_dir,
            notice_file=config.notice_file,
            own_writes=own_writes,
            hint=keepalive_hint(config),
            dry_run=config.dry_run,
        )

    @property
    def enabled(self) -> bool:
        """Warnings are on, and short enough against the idle time to mean something."""
        return 0 < self.warn_before <= self.idle_time * MAX_WARN_SHARE

    def warn_at(self, deadline: float) -> float | None:
        """When to warn of a stop at ``deadline``; None when warnings are off."""
        return deadline - self.warn_before if self.enabled else None

    def _text(self, deadline: float, last: Activity, now: float) -> list[str]:
        stop = "would be stopped (dry run: it will not)" if self.dry_run else "will be stopped"
        lines = [
            f"autostop-async: this app {stop} at {utc_iso(deadline)} "
            f"(in {format_duration(deadline - now)}): nothing has happened since "
            f"{utc_iso(last.at)} ({shown(last.source)}).",
            "To keep it running, use it: type in the editor or a terminal, or save a file.",
        ]
        if self.hint is not None:
            lines.append(f"To postpone the stop without that, run: {self.hint}")
        return lines

    def _calm_text(self, note: str | None = None) -> list[str]:
        lines = [
            f"autostop-async stops this app once nothing has happened for "
            f"{format_duration(self.idle_time)}. No stop is due soon; this file says so "
            f"{format_duration(self.warn_before)} before one is."
        ]
        return [note, *lines] if note else lines

    async def aprepare(self) -> None:
        """:meth:`prepare` in a thread, within WRITE_TIMEOUT: a hung home folder costs a warning."""
        try:
            await run_blocking(self._io_key, self.prepare, timeout=WRITE_TIMEOUT)
        except NotAnsweringError as exc:
            log.warning("cannot create notice file %s: %s", self.notice_file, exc)

    def prepare(self) -> None:
        """Create the notice file if absent, before the daemon starts its clock (see above)."""
        if not self.enabled or self.notice_file is None:
            return
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW  # never through a link
        try:
            fd = os.open(self.notice_file, flags, 0o644)
        except FileExistsError:
            return
        except OSError as exc:
            log.warning("cannot create notice file %s: %s", self.notice_file, exc)
            return
        data = _encode(self._calm_text())
        try:
            if os.geteuid() == 0:  # the daemon runs as root: the file is the home's owner's
                with contextlib.suppress(OSError):
                    home = os.stat(self.notice_file.parent)
                    os.fchown(fd, home.st_uid, home.st_gid)
            _write_all(fd, data)
        except OSError as exc:  # a full disk: the file exists (empty); written again later
            self._write_failed(exc, lambda: data)
        finally:
            os.close(fd)

    def _rewrite_notice(self, lines: list[str]) -> bool:
        """Rewrite the notice file in place; never create it (see the module's docstring)."""
        data = _encode(lines)
        return self._rewrite(lambda: data)

    def _rewrite(self, compose: Callable[[], bytes]) -> bool:
        """Write what ``compose`` gives now; kept for :meth:`retry` when the write fails."""
        if self.notice_file is None:
            return False
        data = compose()
        try:  # never blocks, never through a link; a FIFO or a device is refused
            fd = open_regular_for_write(self.notice_file)
        except FileNotFoundError:
            self._unwritten = None
            log.info(
                "notice file %s was removed; the daemon recreates it when restarted",
                self.notice_file,
            )
            return False
        except OSError as exc:
            self._write_failed(exc, compose)
            return False
        try:
            _write_all(fd, data)
        except OSError as exc:  # ENOSPC, EDQUOT: a full home volume
            self._write_failed(exc, compose)
            return False
        finally:
            os.close(fd)
        if self._write_failing:
            self._write_failing = False
            log.info("notice file %s written again", self.notice_file)
        self._unwritten = None
        self.own_writes.wrote_file(self.clock())  # a tab showing it reloads: not a person
        return True

    def _write_failed(self, exc: OSError, compose: Callable[[], bytes]) -> None:
        """Keep ``compose`` for :meth:`retry`; say so once, not at every try."""
        self._unwritten = compose
        if self._write_failing:
            log.debug("notice file %s still not written: %s", self.notice_file, exc)
            return
        self._write_failing = True
        log.warning(
            "cannot write notice file %s: %s; the daemon keeps deciding and writes it again later",
            self.notice_file,
            exc,
        )

    @property
    def pending(self) -> bool:
        """A notice is waiting to be written (the last write failed)."""
        return self._unwritten is not None

    async def retry(self) -> None:
        """Write the notice that could not be written; a failure keeps it for the next try."""
        compose = self._unwritten
        if compose is None:
            return
        with contextlib.suppress(NotAnsweringError):
            await run_blocking(self._io_key, self._rewrite, compose, timeout=WRITE_TIMEOUT)

    def _warning(self, deadline: float, last: Activity) -> Callable[[], bytes]:
        """The notice file's warning of a stop at ``deadline``, counting down from when it is
        written. Written only after the stop (a full disk held it back), it would announce a
        moment gone by: the file gets the usual text then (the next deadline gets its own)."""

        def compose() -> bytes:
            now = self.clock()
            if now < deadline:
                return _encode(self._text(deadline, last, now))
            log.info(
                "the warning of the stop at %s was never written; the notice file gets "
                "the usual text",
                utc_iso(deadline),
            )
            return _encode(self._calm_text())

        return compose

    def _write_terminals(self, lines: list[str], now: float) -> int:
        """Write to every terminal device without blocking; those that refuse are skipped."""
        data = ("\r\n" + "".join(f"*** {_safe(line)}\r\n" for line in lines)).encode("utf-8")
        written = 0
        for path, _ in terminal_devices(self.terminals_dir):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK)
            except OSError as exc:
                log.debug("cannot open terminal %s: %s", path, exc)
                continue
            try:
                os.write(fd, data)
                written += 1
            except OSError as exc:  # full (nobody reading), hung up
                log.debug("cannot write to terminal %s: %s", path, exc)
            finally:
                self.own_writes.wrote(fd, now)
                os.close(fd)
        return written

    def _warn_now(self, deadline: float, last: Activity) -> tuple[int, bool]:
        now = self.clock()
        terminals = self._write_terminals(self._text(deadline, last, now), now)
        return terminals, self._rewrite(self._warning(deadline, last))

    async def warn(self, deadline: float, last: Activity) -> None:
        """Write the warning of a stop at ``deadline`` to the terminals and the notice file."""
        try:  # a thread stuck on a hung terminal or mount is never waited for (safe_read)
            terminals, wrote_file = await run_blocking(
                self._io_key, self._warn_now, deadline, last, timeout=WRITE_TIMEOUT
            )
        except NotAnsweringError:
            log.warning("writing the warning took over %gs; gave up", WRITE_TIMEOUT)
            return
        log.info(
            "warned %d terminal(s)%s: the app stops at %s (in %s) unless something happens",
            terminals,
            f" and {self.notice_file}" if wrote_file else "",
            utc_iso(deadline),
            format_duration(deadline - self.clock()),
        )

    async def tell(self, lines: list[str]) -> None:
        """Say ``lines`` in every open terminal (a held job ended, a hold reached its cap):
        written like the warning, so it is nobody's activity."""
        if not lines:
            return
        try:
            count = await run_blocking(
                self._io_key, self._write_terminals, lines, self.clock(), timeout=WRITE_TIMEOUT
            )
        except NotAnsweringError:
            log.warning("writing to the terminals took over %gs; gave up", WRITE_TIMEOUT)
            return
        log.debug("told %d terminal(s): %s", count, lines[0])

    async def postponed(self, activity: Activity | None, deadline: float) -> None:
        """After a warning, the stop was postponed: say so in the notice file (not terminals)."""
        why = activity.describe() if activity is not None else "a keepalive"
        note = f"The stop announced earlier was postponed to {utc_iso(deadline)} by {why}."
        try:
            await run_blocking(
                self._io_key, self._rewrite_notice, self._calm_text(note), timeout=WRITE_TIMEOUT
            )
        except NotAnsweringError:
            log.warning("writing the notice file took over %gs; gave up", WRITE_TIMEOUT)

    @property
    def _io_key(self) -> str:
        """What a stuck write is known by: one at a time (safe_read.run_blocking)."""
        return f"notice:{self.notice_file}"


class WarningSchedule:
    """When the warning of a stop goes out: once per deadline, never while checks are being
    retried; and, once a warned stop is postponed, the notice that says so."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        #: The deadline the last warning announced (None: no warning stands).
        self.warned_for: float | None = None

    def due_at(self, deadline: float, *, retrying: bool = False) -> float | None:
        """When the stop at ``deadline`` is to be announced; None if it was, or is not to be
        (nor while a check is being retried: the stop is not at the deadline then)."""
        if retrying or self.warned_for == deadline:
            return None
        return self.notifier.warn_at(deadline)

    async def warn_unless_used(self, idle: Deadline, look: Callable[[], Awaitable[object]]) -> None:
        """Look everywhere first (``look``: every signal, the walk too): announce the stop
        only if nothing moved the deadline meanwhile; else say why there is no warning."""
        deadline = idle.deadline
        await look()
        if idle.deadline == deadline:
            await self.notifier.warn(deadline, idle.last)
            self.warned_for = deadline
            return
        why = idle.last.describe() if idle.moved_by() is not None else "a keepalive"
        log.info("no warning: %s; next check at %s", why, utc_iso(idle.deadline))

    async def moved(self, deadline: float, by: Activity | None) -> None:
        """The deadline is now ``deadline``, moved ``by`` activity (None: a keepalive): if a
        warning announced another, the notice file says the stop is postponed."""
        if self.warned_for is None or self.warned_for == deadline:
            return
        self.warned_for = None
        log.info("the announced stop is postponed to %s", utc_iso(deadline))
        with contextlib.suppress(Exception):
            await self.notifier.postponed(by, deadline)

    async def follow(self, deadline: float, by: Activity | None) -> None:
        """After each poll: :meth:`moved`, and a notice that could not be written tried again."""
        await self.moved(deadline, by)
        if self.notifier.pending:
            await self.notifier.retry()


#: The most characters of one line of the warning (a line names at most a few paths).
MAX_LINE_CHARS = 4 * 1000


def _safe(line: str) -> str:
    """A line as terminals and the notice file get it: names in it come from users' files and
    processes, so no control character (an OSC 52 that writes the clipboard, ``ESC[2J``) gets
    through, and its length is bounded (:func:`~.safe_output.shown`)."""
    return shown(line, MAX_LINE_CHARS)


def _encode(lines: list[str]) -> bytes:
    return ("\n".join(_safe(line) for line in lines) + "\n").encode("utf-8")


def _write_all(fd: int, data: bytes) -> None:
    """``os.write`` until all of ``data`` is written (a short write is not an error)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
