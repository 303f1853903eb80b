"""The user's ``keepalive`` command: postpone the stop, ``autostop-async keepalive 2h``.

It writes the keepalive record that the daemon reads (:mod:`autostop_async.holds`), within the
daemon's ``--max-keepalive``; ``keepalive --cancel`` removes it.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .config import Config, command_parser, parse_settings
from .durations import format_duration, parse_duration
from .errors import CommandFailed, UsageError
from .holds import MAX_FILE_BYTES, cancel_keepalive, keepalive_file, write_keepalive
from .records import Controls, state_idle_time
from .safe_read import read_bounded
from .times import utc_iso

__all__ = ["main"]

log = logging.getLogger("autostop_async")

T = TypeVar("T")


def _parser() -> argparse.ArgumentParser:
    p = command_parser(
        "keepalive",
        "DURATION | --cancel",
        "Postpone the stop of this app: it is not stopped before DURATION from now (2h, 90m), "
        "whatever happens; after that it stops once idle for the idle time. --state-dir (or "
        "AUTOSTOP_STATE_DIR) finds the daemon when it is not the default.",
        settings=("state_dir", "max_keepalive"),
    )
    p.add_argument("duration", nargs="?", metavar="DURATION", help="how long: 2h, 90m, 3600")
    p.add_argument("--cancel", action="store_true", help="remove the keepalive")
    return p


@dataclass(frozen=True)
class _DaemonRecord:
    """What ``keepalive`` needs of the daemon's state file."""

    idle_time: float | None
    controls: Controls


def _daemon_record(config: Config) -> _DaemonRecord | None:
    """The daemon's state file, or None when there is none or it is not usable (a value of
    the wrong kind: then the command's own settings apply)."""
    try:
        raw = json.loads(read_bounded(config.state_file, MAX_FILE_BYTES).data)
        if not isinstance(raw, dict):
            return None
        return _DaemonRecord(state_idle_time(raw), Controls.from_json(raw.get("controls", {})))
    except (OSError, ValueError, RecursionError):
        return None


def main(argv: Sequence[str]) -> int:
    """``keepalive DURATION`` or ``keepalive --cancel``: 0 done; raises a UsageError when
    refused (exit 2), CommandFailed when the record cannot be written (exit 1)."""
    parser = _parser()
    config, args = parse_settings(argv, parser=parser, daemon=False)
    path = keepalive_file(config)
    record = _daemon_record(config)
    daemons = record.controls.max_keepalive if record is not None else None
    limit = daemons if daemons is not None else config.max_keepalive
    where = "--max-keepalive" if daemons is None else "the daemon's --max-keepalive"
    if args.cancel:
        if args.duration is not None:
            parser.error("give a DURATION or --cancel, not both")
        had = _writing(path, config, lambda: cancel_keepalive(path))
        print("keepalive cancelled" if had else "there was no keepalive to cancel")
        return 0
    if args.duration is None:
        parser.error("give a DURATION such as 2h, or --cancel")
    try:
        duration = parse_duration(args.duration)
    except ValueError as exc:
        raise UsageError(f"DURATION: {exc}") from None
    if limit <= 0:
        raise UsageError(
            f"keepalive is turned off here ({where} is 0); "
            "the app stops once idle for the idle time"
        )
    if duration > limit:
        raise UsageError(
            f"keepalive {args.duration} is longer than the maximum "
            f"{format_duration(limit)} ({where}); ask for at most that"
        )
    if duration <= 0:
        raise UsageError("DURATION must be more than 0")
    kept = _writing(path, config, lambda: write_keepalive(path, duration))
    idle_time = (record.idle_time if record is not None else None) or config.idle_time
    print(
        f"keepalive: this app is not stopped before {utc_iso(kept.until)} "
        f"(in {format_duration(kept.until - kept.set_at)}); after that it stops once idle for "
        f"{format_duration(idle_time)}. `keepalive --cancel` ends it early."
    )
    if record is None:
        print(f"note: no daemon state in {config.state_dir}: it takes effect when the daemon runs")
    return 0


def _writing(path: Path, config: Config, write: Callable[[], T]) -> T:
    """``write()``; a failure to write the keepalive is a CommandFailed that says why."""
    try:
        return write()
    except PermissionError as exc:
        raise CommandFailed(
            f"cannot write {exc.filename or path}: permission denied "
            f"(the state folder {config.state_dir} belongs to another user): run it with sudo"
        ) from None
    except OSError as exc:
        raise CommandFailed(f"cannot write {path}: {exc}") from None
