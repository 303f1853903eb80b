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

import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .activity import Activity, utc_iso
from .config import DEFAULT_STATE_DIR, Config, format_duration
from .terminals import OwnWrites, terminal_devices

__all__ = ["Notifier", "keepalive_hint"]

log = logging.getLogger("autostop_async")

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

    @classmethod
    def from_config(cls, config: Config, own_writes: OwnWrites) -> Notifier:
        """The notifier the settings ask for."""
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
            f"{utc_iso(last.at)} ({last.source}).",
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
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(self._calm_text()) + "\n")
            if os.geteuid() == 0:  # the daemon runs as root: the file is the home's owner's
                with contextlib.suppress(OSError):
                    home = os.stat(self.notice_file.parent)
                    os.fchown(f.fileno(), home.st_uid, home.st_gid)

    def _rewrite_notice(self, lines: list[str]) -> bool:
        """Rewrite the notice file in place; never create it (see the module's docstring)."""
        if self.notice_file is None:
            return False
        try:
            fd = os.open(self.notice_file, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW)
        except FileNotFoundError:
            log.info(
                "notice file %s was removed; the daemon recreates it when restarted",
                self.notice_file,
            )
            return False
        except OSError as exc:
            log.warning("cannot write notice file %s: %s", self.notice_file, exc)
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        self.own_writes.wrote_file(self.clock())  # a tab showing it reloads: not a person
        return True

    def _write_terminals(self, lines: list[str], now: float) -> int:
        """Write to every terminal device without blocking; those that refuse are skipped."""
        data = ("\r\n" + "".join(f"*** {line}\r\n" for line in lines)).encode("utf-8")
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
        lines = self._text(deadline, last, now)
        return self._write_terminals(lines, now), self._rewrite_notice(lines)

    async def warn(self, deadline: float, last: Activity) -> None:
        """Write the warning of a stop at ``deadline`` to the terminals and the notice file."""
        try:
            terminals, wrote_file = await asyncio.wait_for(
                asyncio.to_thread(self._warn_now, deadline, last), WRITE_TIMEOUT
            )
        except asyncio.TimeoutError:
            log.warning("writing the warning took over %gs; gave up", WRITE_TIMEOUT)
            return
        log.info(
            "warned %d terminal(s)%s: the app stops at %s (in %s) unless something happens",
            terminals,
            f" and {self.notice_file}" if wrote_file else "",
            utc_iso(deadline),
            format_duration(deadline - self.clock()),
        )

    async def postponed(self, activity: Activity | None, deadline: float) -> None:
        """After a warning, the stop was postponed: say so in the notice file (not terminals)."""
        why = activity.describe() if activity is not None else "a keepalive"
        note = f"The stop announced earlier was postponed to {utc_iso(deadline)} by {why}."
        await asyncio.to_thread(self._rewrite_notice, self._calm_text(note))
