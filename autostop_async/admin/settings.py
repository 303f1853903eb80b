"""The daemon's settings as a deploy passes them on, checked by the daemon's own parser.

A deploy renders ``--idle-time`` and every ``--daemon-arg`` into the lifecycle configuration;
a value the daemon would refuse at each app start is refused here instead, before any AWS call,
with the daemon's own message.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass

from ..config import build_parser, parse_settings
from ..durations import format_duration
from ..errors import ConfigError
from .failures import UsageError

__all__ = ["DaemonSettings", "check_daemon_settings"]

#: Flags that describe where the daemon runs, set by the LCC itself; a deploy refuses them.
_SET_BY_THE_LCC = ("--log-file", "--once", "--json", "--dry-run", "--metadata-file")


@dataclass(frozen=True)
class DaemonSettings:
    """What the LCC passes to the daemon: the idle time as given, and more flags."""

    idle_time: str
    args: tuple[str, ...]
    idle_seconds: float

    def describe(self) -> str:
        """One line for the plan: ``idle time 45m (2700 s); flags: …``."""
        flags = " ".join(self.args) if self.args else "none"
        return f"idle time {format_duration(self.idle_seconds)}; more daemon flags: {flags}"


def check_daemon_settings(idle_time: str, args: Sequence[str]) -> DaemonSettings:
    """Parse the settings as the daemon would; :class:`UsageError` with its message if not."""
    for arg in args:
        if arg.split("=", 1)[0] in _SET_BY_THE_LCC:
            raise UsageError(
                f"--daemon-arg={arg}: the lifecycle configuration sets {arg.split('=', 1)[0]} "
                "itself; leave it out"
            )
    argv = ["--idle-time", idle_time, *args]
    parser = build_parser()
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            config, _ = parse_settings(argv, environ={}, parser=parser)
    except ConfigError as exc:
        raise UsageError(f"daemon setting refused: {exc}") from None
    except SystemExit:  # argparse: an unknown flag, or a flag without its value
        last = errors.getvalue().strip().splitlines()[-1:] or ["bad daemon flag"]
        raise UsageError(f"daemon setting refused: {last[0]}") from None
    return DaemonSettings(idle_time, tuple(args), config.idle_time)
