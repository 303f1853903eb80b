"""The daemon's settings as a deploy passes them on, checked by the daemon's own parser.

A deploy renders ``--idle-time`` and every ``--daemon-arg`` into the lifecycle configuration;
a value the daemon would refuse at each app start is refused here instead, before any AWS call,
with the daemon's own message. So is what is most likely a typo: a bare number (``45``: minutes
or seconds?) and an idle time under ten minutes without ``--allow-short-idle-time`` (one app
deleted a minute after its last keystroke is one too many).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..config import build_parser, parse_settings
from ..durations import format_duration
from ..errors import ConfigError
from .failures import AdminError, UsageError

__all__ = ["SHORT_IDLE_SECONDS", "DaemonSettings", "Deployed", "changes", "check_daemon_settings"]

#: Flags that describe where the daemon runs, set by the LCC itself; a deploy refuses them.
_SET_BY_THE_LCC = ("--log-file", "--once", "--json", "--dry-run", "--metadata-file")
#: Below this idle time a deploy asks for ``--allow-short-idle-time``.
SHORT_IDLE_SECONDS = 600
_BARE_NUMBER = re.compile(r"\s*\d+(\.\d+)?\s*")


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

    def lines(self) -> dict[str, str]:
        """Each setting as the plan shows it, by name."""
        return {
            "idle time": format_duration(self.idle_seconds, compact=True),
            "more daemon flags": " ".join(self.args) if self.args else "none",
        }


def check_daemon_settings(
    idle_time: str, args: Sequence[str], *, allow_short: bool = False
) -> DaemonSettings:
    """Parse the settings as the daemon would; :class:`UsageError` with its message if not,
    for a bare number, and for an idle time under 10 minutes unless ``allow_short``."""
    if _BARE_NUMBER.fullmatch(idle_time):
        n = idle_time.strip()
        raise UsageError(f"--idle-time {n}: {n}m or {n}s? give the unit (s, m, h), e.g. {n}m")
    for arg in args:
        if arg.split("=", 1)[0] == "--idle-time":
            raise UsageError(f"--daemon-arg={arg}: use deploy's own --idle-time")
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
    if config.idle_time < SHORT_IDLE_SECONDS and not allow_short:
        shown = format_duration(config.idle_time, compact=True)
        raise UsageError(
            f"--idle-time {idle_time}: every Code Editor app of the domain would be deleted "
            f"{shown} after its last activity; if you mean it, add --allow-short-idle-time"
        )
    return DaemonSettings(idle_time, tuple(args), config.idle_time)


@dataclass(frozen=True)
class Deployed:
    """What a deploy put in a domain's LCC, kept in S3 beside the deployment record: the daemon
    settings, the package version, the wheelhouse, and every wheelhouse and start script
    (``lcc/on-start-HASH.sh``, relative to ``PREFIX/wheelhouse/``) a deploy of this domain used
    (``undeploy --purge`` removes those no other domain uses). ``scripts`` is None in a file
    written before the start script lived in S3: which scripts it uses is unknown."""

    settings: dict[str, str]  # as DaemonSettings.lines()
    version: str
    wheelhouse: str
    wheelhouses: tuple[str, ...] = field(default=())
    scripts: tuple[str, ...] | None = None

    def to_json(self) -> str:
        """The JSON document kept in S3."""
        doc = {
            "format": 1,
            "settings": self.settings,
            "version": self.version,
            "wheelhouse": self.wheelhouse,
            "wheelhouses": sorted(set(self.wheelhouses) | {self.wheelhouse}),
        }
        if self.scripts is not None:
            doc["scripts"] = sorted(set(self.scripts))
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str) -> Deployed:
        """Read one; :class:`AdminError` naming ``where`` if it is not one."""
        try:
            doc = json.loads(text)
            if doc.get("format") != 1:
                raise ValueError(f"format {doc.get('format')!r}, expected 1")
            settings = {str(k): str(v) for k, v in dict(doc["settings"]).items()}
            houses = tuple(str(k) for k in doc.get("wheelhouses", []))
            scripts = doc.get("scripts")
            used = None if scripts is None else tuple(sorted({str(k) for k in scripts}))
            return cls(settings, str(doc["version"]), str(doc["wheelhouse"]), houses, used)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise AdminError(f"deployed settings {where} cannot be read: {exc}") from None


def changes(old: Deployed | None, new: Deployed) -> list[str]:
    """One plan line per setting: ``idle time: 1h -> 45m`` or ``idle time: 45m (unchanged)``."""
    before = {} if old is None else {**old.settings, "package": old.version}
    before["wheelhouse"] = "" if old is None else old.wheelhouse
    after = {**new.settings, "package": new.version, "wheelhouse": new.wheelhouse}
    lines = []
    for name, value in after.items():
        was = before.get(name)
        if was == value:
            lines.append(f"{name}: {value} (unchanged)")
        else:
            lines.append(f"{name}: {was or '(not deployed)'} -> {value}")
    return lines
