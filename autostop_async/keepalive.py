"""The user's ``keepalive`` command: keep the app for a while, or while a job runs.

- ``keepalive 2h``: the app is not stopped before two hours from now (the keepalive record);
- ``keepalive [--then-stop-after GRACE] -- CMD [ARGS...]``: run CMD in the foreground and hold
  the app while it runs; its end counts as activity (the app stops the idle time after, or
  GRACE after);
- ``keepalive --pid PID [--then-stop-after GRACE]``: the same for a process already running;
- ``keepalive --list`` shows the holds; ``keepalive --cancel [ID]`` removes one, or all.

It writes the records the daemon reads (:mod:`autostop_async.holds`), within the daemon's
``--max-keepalive``. A hold that cannot be taken (keepalive off, a hold that cannot be written,
a process the daemon could not see) never stops the work: ``keepalive -- CMD`` runs CMD all the
same, says on stderr that it is not held, and exits with CMD's exit code.

A DURATION is ``2h``, ``90m``, ``45s``; a bare number is seconds (``3600``, as ``--idle-time``
takes it), but one under 60 is refused with a hint (``keepalive 2`` is 2 hours or 2 minutes
meant, never 2 seconds). A keepalive in force is never shortened unless ``--replace`` says so.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .config import Config, command_parser, parse_settings
from .durations import format_duration, parse_duration
from .errors import CommandFailed, CommandNotFound, UsageError
from .holds import (
    HOLD_NAME,
    JobHold,
    cancel_keepalive,
    ensure_holds_dir,
    holds_dir,
    keepalive_file,
    read_holds,
    read_keepalive,
    write_hold,
    write_keepalive,
)
from .processes import (
    PidView,
    ProcessId,
    child_in_proc,
    command_line,
    command_summary,
    identify,
    pid_namespace,
    pid_view,
)
from .safe_output import escape
from .state import DaemonSettings, read_daemon_settings
from .times import utc_iso

__all__ = ["main"]

log = logging.getLogger("autostop_async")

T = TypeVar("T")

#: The signals ``keepalive -- CMD`` passes on to CMD.
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: ``si_code`` of a signal the kernel sent: a terminal's Ctrl-C or hangup, which went to the
#: whole foreground process group, CMD included (passing it on would deliver it twice).
SI_KERNEL = 0x80
#: A bare number below this is refused as a DURATION: seconds, minutes or hours? (A keepalive
#: of seconds is never useful: the daemon polls once a minute.)
BARE_NUMBER_MIN = 60


def _parser() -> argparse.ArgumentParser:
    p = command_parser(
        "keepalive",
        "DURATION [--replace] | [--then-stop-after GRACE] -- CMD [ARGS...] | --pid PID "
        "[--then-stop-after GRACE] | --list | --cancel [ID]",
        "Keep this app from being stopped. DURATION (2h, 90m): not before that long from now, "
        "whatever happens; after that it stops once idle for the idle time. -- CMD: run CMD "
        "here (in the foreground; it works under nohup, setsid, tmux) and keep the app while "
        "it runs; --pid PID: keep it while that process runs. When the job ends, the app stops "
        "once idle for the idle time, or GRACE after the end with --then-stop-after GRACE. "
        "--max-keepalive caps every hold from its start. --state-dir (or AUTOSTOP_STATE_DIR) "
        "finds the daemon when it is not the default.",
        settings=("state_dir", "max_keepalive"),
    )
    p.add_argument("duration", nargs="?", metavar="DURATION", help="how long: 2h, 90m, 3600")
    p.add_argument(
        "--replace",
        action="store_true",
        help="with DURATION: replace a keepalive in force even when it ends later",
    )
    p.add_argument("--pid", type=int, metavar="PID", help="hold while this process runs")
    p.add_argument(
        "--then-stop-after",
        metavar="GRACE",
        help="with -- CMD or --pid: stop the app GRACE after the job ends (10m), unless used",
    )
    p.add_argument("--list", action="store_true", help="show the keepalive and every hold")
    p.add_argument(
        "--cancel",
        nargs="?",
        const="",
        metavar="ID",
        help="remove the hold ID (a pid, as --list shows), or without ID the keepalive and "
        "every hold of yours",
    )
    return p


@dataclass(frozen=True)
class _Limit:
    """The cap on a keepalive or a hold: the daemon's when its state says, else the setting."""

    seconds: float
    where: str
    record: DaemonSettings | None

    def refuse_if_off(self) -> None:
        if self.seconds <= 0:
            raise UsageError(
                f"keepalive is turned off here ({self.where} is 0); "
                "the app stops once idle for the idle time"
            )

    def idle_time(self, config: Config) -> float:
        return (self.record.idle_time if self.record is not None else None) or config.idle_time


def _limit(config: Config) -> _Limit:
    record = read_daemon_settings(config.state_file)
    daemons = record.controls.max_keepalive if record is not None else None
    if daemons is not None:
        return _Limit(daemons, "the daemon's --max-keepalive", record)
    return _Limit(config.max_keepalive, "--max-keepalive", record)


def main(argv: Sequence[str]) -> int:
    """``keepalive DURATION | -- CMD | --pid PID | --list | --cancel [ID]``: 0 done (``-- CMD``:
    CMD's exit code); raises a UsageError when refused (exit 2), CommandFailed when a record
    cannot be written (exit 1), CommandNotFound when there is no CMD (exit 127)."""
    argv = list(argv)
    command: list[str] | None = None
    if "--" in argv:  # what follows is the command to run, its options its own
        at = argv.index("--")
        argv, command = argv[:at], argv[at + 1 :]
    parser = _parser()
    config, args = parse_settings(argv, parser=parser, daemon=False)
    modes = [
        name
        for name, given in (
            ("DURATION", args.duration is not None),
            ("-- CMD", command is not None),
            ("--pid", args.pid is not None),
            ("--list", args.list),
            ("--cancel", args.cancel is not None),
        )
        if given
    ]
    if len(modes) > 1:
        parser.error(
            f"give one of DURATION, -- CMD, --pid, --list, --cancel; not {modes[0]} and {modes[1]}"
        )
    if not modes:
        parser.error("give a DURATION such as 2h, -- CMD, --pid PID, --list, or --cancel")
    if args.then_stop_after is not None and modes[0] not in ("-- CMD", "--pid"):
        parser.error("--then-stop-after goes with -- CMD or --pid")
    if args.replace and modes[0] != "DURATION":
        parser.error("--replace goes with DURATION")
    if args.list:
        return _list(config)
    if args.cancel is not None:
        return _cancel(config, args.cancel)
    limit = _limit(config)
    if command is not None:
        if not command:
            raise UsageError("give the command to run after --: keepalive -- python train.py")
        return _run_held(config, command, _grace(args.then_stop_after, limit), limit)
    if args.pid is not None:
        return _hold_pid(config, args.pid, _grace(args.then_stop_after, limit), limit)
    return _keep_for(config, args.duration, limit, replace_longer=args.replace)


def _duration(text: str, what: str) -> float:
    """``text`` as seconds; a UsageError when it is not a duration, or a bare number under a
    minute (2 seconds is never what ``keepalive 2`` means)."""
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{what}: {exc}") from None
    bare = text.strip().replace(".", "", 1).isdigit()
    if bare and 0 < seconds < BARE_NUMBER_MIN:
        n = text.strip()
        raise UsageError(
            f"{what} {n}: {n}s, {n}m or {n}h? A number alone is seconds; write the unit "
            f"(for example {n}h)"
        )
    return seconds


def _keep_for(config: Config, text: str, limit: _Limit, *, replace_longer: bool) -> int:
    """``keepalive DURATION [--replace]``: never shortens a keepalive in force unless asked."""
    path = keepalive_file(config)
    duration = _duration(text, "DURATION")
    limit.refuse_if_off()
    if duration > limit.seconds:
        raise UsageError(
            f"keepalive {text} is longer than the maximum "
            f"{format_duration(limit.seconds)} ({limit.where}); ask for at most that"
        )
    if duration <= 0:
        raise UsageError("DURATION must be more than 0")
    now = time.time()
    before = read_keepalive(path, limit.seconds)
    if before is not None and before.until <= now:
        before = None
    if before is not None and before.until > now + duration and not replace_longer:
        raise UsageError(
            f"a keepalive by {escape(before.by)} is in force until {utc_iso(before.until)} "
            f"(in {format_duration(before.until - now)}); keepalive {text} would end it sooner. "
            "Add --replace to shorten it, or `keepalive --cancel` to end it"
        )
    kept = _writing(path, config, lambda: write_keepalive(path, duration, now=now))
    replaced = (
        f" It replaces the keepalive by {escape(before.by)} until {utc_iso(before.until)}."
        if before is not None
        else ""
    )
    print(
        f"keepalive: this app is not stopped before {utc_iso(kept.until)} "
        f"(in {format_duration(kept.until - kept.set_at)}); after that it stops once idle for "
        f"{format_duration(limit.idle_time(config))}. `keepalive --cancel` ends it early."
        + replaced
    )
    if limit.record is None:
        print(f"note: no daemon state in {config.state_dir}: it takes effect when the daemon runs")
    return 0


def _grace(text: str | None, limit: _Limit) -> float | None:
    """``--then-stop-after GRACE`` in seconds (None when not given); at most the cap."""
    if text is None:
        return None
    grace = _duration(text, "--then-stop-after")
    if grace < 0:
        raise UsageError("--then-stop-after must be 0 or more")
    if grace > limit.seconds > 0:
        raise UsageError(
            f"--then-stop-after {text} is longer than the maximum "
            f"{format_duration(limit.seconds)} ({limit.where})"
        )
    return grace


def _after_words(grace: float | None, limit: _Limit, config: Config) -> str:
    if grace is not None:
        return f"then it stops {format_duration(grace, compact=True)} after the job ends"
    idle = format_duration(limit.idle_time(config), compact=True)
    return f"then it stops once idle for {idle} after the job ends"


def _prepare_holds(config: Config) -> Path:
    """The holds folder, made if need be; CommandFailed when this user cannot add a hold."""
    folder = holds_dir(config)
    _writing(folder, config, lambda: ensure_holds_dir(folder))
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CommandFailed(
            f"cannot add a hold in {folder}: permission denied (the daemon makes it open to "
            "every user when it starts; start the daemon, or run this with sudo)"
        )
    return folder


def _hold_pid(config: Config, pid: int, grace: float | None, limit: _Limit) -> int:
    """``keepalive --pid PID``: a hold on a process already running."""
    limit.refuse_if_off()
    view = pid_view()
    if view.nested:
        raise UsageError(
            f"--pid {pid}: this shell runs in a pid namespace of its own (unshare --pid, a "
            f"container): its process numbers are not the ones the daemon sees "
            f"({_numbers(view)}). Start the job with `keepalive -- CMD` here, or give --pid "
            "the number `ps` shows outside the namespace"
        )
    process = identify(pid)
    if process is None:
        raise UsageError(f"--pid {pid}: no such process is running")
    folder = _prepare_holds(config)
    args = command_line(pid) or ["?"]
    namespace = pid_namespace()
    _writing(
        folder, config, lambda: write_hold(folder, process, args, grace=grace, namespace=namespace)
    )
    cap = time.time() + limit.seconds
    print(
        f"keepalive: this app is kept while job {pid} `{command_summary(args)}` runs "
        f"(at most until {utc_iso(cap)}); {_after_words(grace, limit, config)}, unless used. "
        f"`keepalive --cancel {pid}` ends the hold."
    )
    return 0


def _numbers(view: PidView) -> str:
    shown = "not shown" if view.in_proc is None else str(view.in_proc)
    return f"this process is {view.own} here, {shown} in /proc"


def _resolve(program: str) -> None:
    """CommandNotFound (exit 127) unless ``program`` can be run; a duration (``2h``) that is
    not a command gets a hint: ``keepalive 2h`` was meant."""
    if os.sep in program:
        if os.path.isfile(program) and os.access(program, os.X_OK):
            return
    elif shutil.which(program) is not None:
        return
    hint = ""
    with contextlib.suppress(ValueError):
        parse_duration(program)
        hint = (
            f". To keep the app for {escape(program)}, write it without --: "
            f"keepalive {escape(program)}"
        )
    raise CommandNotFound(f"{escape(program)}: command not found; nothing was held{hint}")


def _say(text: str) -> None:
    """A line on stderr; a terminal closed meanwhile (EIO) or a closed pipe costs nothing."""
    with contextlib.suppress(OSError, ValueError):
        print(text, file=sys.stderr, flush=True)


def _run_held(config: Config, command: list[str], grace: float | None, limit: _Limit) -> int:
    """``keepalive -- CMD``: run CMD with this process's stdin, stdout and stderr; hold the app
    while it runs; pass SIGINT, SIGTERM and SIGHUP on to it (those ignored here, as under
    ``nohup``, stay ignored for it too); record its exit in the hold; exit with its code."""
    _resolve(command[0])
    unheld: str | None = None
    folder: Path | None = None
    if limit.seconds <= 0:
        unheld = f"keepalive is turned off here ({limit.where} is 0)"
    else:
        try:
            folder = _prepare_holds(config)
        except CommandFailed as exc:
            unheld = str(exc)
    watched = [s for s in FORWARDED if signal.getsignal(s) is not signal.SIG_IGN]
    waited = {*watched, signal.SIGCHLD}
    # Blocked here and waited for below (with who sent them); CMD starts with the mask it had.
    before = signal.pthread_sigmask(signal.SIG_BLOCK, waited)
    try:
        try:
            child = subprocess.Popen(
                command, preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_SETMASK, before)
            )
        except (FileNotFoundError, PermissionError) as exc:
            raise CommandNotFound(f"{command[0]}: {exc.strerror}; nothing was held") from None
        created = time.time()
        held: _Held | None = None
        if folder is not None:
            held, unheld = _hold_child(folder, child.pid, command, grace, created)
        if held is not None:
            cap = utc_iso(created + limit.seconds)
            _say(
                f"autostop-async: this app is kept while job {held.process.pid} runs (at most "
                f"until {cap}); {_after_words(grace, limit, config)}, unless used."
            )
        else:
            _say(
                f"autostop-async: WARNING: `{command_summary(command)}` runs NOT HELD "
                f"({unheld}): the app may be stopped while it runs, once nothing else keeps "
                "it busy"
            )
        code = _wait(child, waited)
        if held is not None:
            _record_end(held, command, grace, created, child.returncode)
        return code
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _wait(child: subprocess.Popen[bytes], waited: set[signal.Signals]) -> int:
    """Wait for ``child``, passing on the signals sent to this process; its exit code (128 +
    the signal's number when a signal ended it, as a shell says it)."""
    while child.poll() is None:
        info = signal.sigtimedwait(waited, 1.0)
        if info is None or info.si_signo == signal.SIGCHLD:
            continue
        if info.si_code == SI_KERNEL or info.si_pid == child.pid:
            continue  # a terminal's signal reached CMD too; or CMD's own
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(info.si_signo)
    code = child.returncode
    return 128 - code if code < 0 else code


@dataclass(frozen=True)
class _Held:
    """The hold ``keepalive -- CMD`` wrote: where, on which process, by which wrapper."""

    folder: Path
    path: Path
    process: ProcessId
    wrapper: ProcessId | None
    namespace: int | None


def _hold_child(
    folder: Path, pid: int, command: list[str], grace: float | None, created: float
) -> tuple[_Held | None, str | None]:
    """Write the hold on the child ``pid`` (numbered as this process sees it), by its number
    in ``/proc``, which the daemon reads: the hold, or why there is none."""
    view = pid_view()
    outer = child_in_proc(pid, view)
    process = identify(outer, zombie=True) if outer is not None else None
    if process is None:
        return None, (
            "its process is not found in /proc, which the daemon reads: a pid namespace of "
            f"its own ({_numbers(view)})"
        )
    me = identify(view.in_proc) if view.in_proc is not None else None
    namespace = None if view.nested else pid_namespace()
    try:
        path = write_hold(
            folder, process, command, grace=grace, wrapper=me, now=created, namespace=namespace
        )
    except OSError as exc:
        return None, f"cannot write the hold: {exc}"
    return _Held(folder, path, process, me, namespace), None


def _record_end(
    held: _Held, command: list[str], grace: float | None, created: float, returncode: int
) -> None:
    """Write how the job ended into its hold, for the daemon (unless it was cancelled)."""
    if not held.path.exists():
        return
    ended = {
        "ended_epoch": time.time(),
        "exit_code": returncode if returncode >= 0 else None,
        "signal": -returncode if returncode < 0 else None,
    }
    try:
        write_hold(
            held.folder,
            held.process,
            command,
            grace=grace,
            wrapper=held.wrapper,
            now=created,
            ended=ended,
            namespace=held.namespace,
        )
    except OSError as exc:  # the daemon sees the process gone: the end counts, without a code
        _say(f"autostop-async: cannot record the job's end ({exc})")


def _list(config: Config) -> int:
    """``keepalive --list``: the keepalive and every hold whose job runs."""
    limit = _limit(config)
    if limit.seconds <= 0:
        print(f"keepalive is turned off here ({limit.where} is 0)")
        return 0
    now = time.time()
    kept = read_keepalive(keepalive_file(config), limit.seconds)
    if kept is not None and kept.until > now:
        print(
            f"keepalive by {escape(kept.by)}: not stopped before {utc_iso(kept.until)} "
            f"(in {format_duration(kept.until - now)})"
        )
    holds = read_holds(holds_dir(config), limit.seconds, now)
    if not holds:
        print("no job holds this app" if kept is None else "no job holds")
        return 0
    print(_hold_table(holds, limit.seconds, now))
    return 0


def _hold_table(holds: list[JobHold], cap: float, now: float) -> str:
    rows = [("ID", "BY", "RUNNING FOR", "CAPPED AT", "THEN", "COMMAND")]
    for hold in holds:
        rows.append(
            (
                hold.id,
                escape(hold.by),
                format_duration(now - hold.process.started_at, compact=True),
                utc_iso(hold.since + cap),
                "idle time" if hold.grace is None else format_duration(hold.grace, compact=True),
                hold.command,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r[:5], widths, strict=True)) + "  " + r[5]
        for r in rows
    )


def _cancel(config: Config, which: str) -> int:
    """``keepalive --cancel [ID]``: the hold on process ID; without ID, the keepalive and every
    hold this user may remove."""
    folder = holds_dir(config)
    names = _hold_names(folder)
    if which:
        if not which.isdigit():
            raise UsageError(f"--cancel {which}: an ID is a process number, as --list shows")
        names = [n for n in names if n.split("-", 1)[0] == which]
        if not names:
            raise UsageError(f"--cancel {which}: no hold on process {which} (see --list)")
    else:
        path = keepalive_file(config)
        had = _writing(path, config, lambda: cancel_keepalive(path))
        print("keepalive cancelled" if had else "there was no keepalive to cancel")
    removed, refused = 0, 0
    for name in names:
        try:
            (folder / name).unlink()
            removed += 1
        except FileNotFoundError:
            continue
        except PermissionError:
            refused += 1
        except OSError as exc:
            raise CommandFailed(f"cannot remove {folder / name}: {exc.strerror}") from None
    if refused and which:
        raise CommandFailed(f"--cancel {which}: the hold is another user's; run it with sudo")
    if removed or which:
        print(f"{removed} hold{'s' if removed != 1 else ''} cancelled")
    if refused:
        print(f"{refused} hold(s) of other users left (sudo removes them)")
    return 0


def _hold_names(folder: Path) -> list[str]:
    try:
        return sorted(n for n in os.listdir(folder) if HOLD_NAME.fullmatch(n))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise CommandFailed(f"cannot read {folder}: {exc.strerror}") from None


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
