"""Command line: parse the settings, build the daemon, run once or until the app is deleted.

Exit codes: 0 the check ran (active, or idle and handled); 1 the app was not stopped though it
may be idle: DeleteApp failed, or a signal failed (the check was inconclusive); 2 bad
configuration or input, with one line on stderr naming the setting or file (also: another
daemon holds the state folder).

The process ends with ``os._exit`` once its work is done and its output flushed (:func:`entry`):
a worker thread stuck in a system call (a hung mount, a FIFO) can be neither stopped nor joined,
and a normal interpreter exit would wait for it forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import signal
import sys
import time
from collections.abc import Coroutine, Sequence
from types import FrameType
from typing import Any, TypeVar

from . import __version__
from .config import Config, ConfigError, format_duration, load_config
from .daemon import Daemon
from .editor_layout import EditorLayout, describe_layout
from .safe_output import escape, json_text
from .sagemaker import AppRef, MetadataError, SageMakerClient, read_app_ref
from .signals import build_signals
from .state import StateDirBusy, StateLock, daemon_holding, lock_state_dir

__all__ = ["entry", "main", "run_async"]

T = TypeVar("T")

log = logging.getLogger("autostop_async")

EXIT_OK, EXIT_DELETE_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class _UTCFormatter(logging.Formatter):
    """UTC times; the message escaped (a file name's newline or non-UTF-8 byte cannot make a
    second line, or fail the write), so one record is one line."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape(record.message)
        return super().formatMessage(record)


class _OneLineErrors(logging.StreamHandler):  # type: ignore[type-arg]
    """A log stream that cannot fail loudly: when a line cannot be written (a full disk:
    ENOSPC, EDQUOT), one line on stderr says so, once, instead of a traceback per record;
    the first line written again says that some were lost."""

    failing = False
    _lost = 0  # records lost while failing
    _error = False  # the last write failed

    def emit(self, record: logging.LogRecord) -> None:
        """Write the record; after lost lines, say how many were lost first."""
        if self.failing:
            self._error = False
            super().emit(self._lost_note(record))
            if self._error:  # still failing
                self._lost += 1
                return
            self.failing, self._lost = False, 0
        super().emit(record)

    def _lost_note(self, record: logging.LogRecord) -> logging.LogRecord:
        return logging.makeLogRecord(
            {
                "name": record.name,
                "levelno": logging.WARNING,
                "levelname": "WARNING",
                "msg": "%d log line(s) were lost: the log could not be written",
                "args": (self._lost,),
            }
        )

    def handleError(self, record: logging.LogRecord) -> None:
        """One line on stderr for the first lost record; none for the next ones."""
        self._error = True
        if self.failing:
            return
        self.failing, self._lost = True, 1
        exc = sys.exc_info()[1]
        where = getattr(self, "baseFilename", "stderr")
        with contextlib.suppress(Exception):  # stderr may be on the same full disk
            sys.stderr.write(
                f"autostop-async: cannot write the log ({where}): {exc}; "
                "log lines are lost until it can\n"
            )
            sys.stderr.flush()


class _LogFile(_OneLineErrors, logging.FileHandler):
    """``--log-file``: appended, one line per record; a full disk costs one line on stderr."""


def setup_logging(config: Config) -> None:
    """One line per record, UTC timestamps, to ``--log-file`` (appended) or stderr."""
    handler: logging.Handler
    if config.log_file is not None:
        config.log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = _LogFile(config.log_file, encoding="utf-8", errors="backslashreplace")
    else:
        handler = _OneLineErrors(sys.stderr)
    handler.setFormatter(
        _UTCFormatter("%(asctime)s autostop-async[%(process)d] %(levelname)s %(message)s")
    )
    log.handlers[:] = [handler]
    log.setLevel(os.environ.get("AUTOSTOP_LOG_LEVEL", "INFO").upper())
    log.propagate = False


def check_watch_roots(config: Config) -> None:
    """At least one watch folder must exist, or nothing could ever count as activity."""
    if not any(root.is_dir() for root in config.watch_roots):
        names = ", ".join(str(r) for r in config.watch_roots)
        raise ConfigError(f"--watch: none of the watch folders exists or is a folder: {names}")


async def _load_app(config: Config) -> AppRef | None:
    try:
        return await read_app_ref(config.metadata_file)
    except MetadataError:
        if config.dry_run and not config.metadata_file.exists():
            log.info("dry run without metadata file %s", config.metadata_file)
            return None
        raise


async def _run(config: Config) -> int:
    app = await _load_app(config)
    if not config.dry_run and importlib.util.find_spec("aioboto3") is None:
        raise ConfigError(
            "aioboto3 is not installed: reinstall autostop-async with its dependencies"
        )
    watched = build_signals(config)
    workspace, notifier = watched.workspace, watched.notifier
    client = SageMakerClient(region=config.region, endpoint_url=config.endpoint_url)
    daemon = Daemon(
        config,
        watched.signals,
        app,
        None if config.dry_run else client.delete_app,
        keepalive=watched.keepalive,
        notifier=notifier,
        own_writes=watched.own_writes,
        off=watched.off,
    )

    def show_layout(layout: EditorLayout | None) -> None:
        daemon.controls.editor_data = describe_layout(layout)

    workspace.on_layout = show_layout
    await workspace.refresh_layout()  # logs where the editor keeps its data
    if notifier is not None:
        await notifier.aprepare()  # before the daemon starts its clock
    if not config.once:
        log.info(
            "signs of use: %s%s; keepalive up to %s",
            ", ".join(sig.name for sig in daemon.signals),
            f" (off: {', '.join(watched.off)})" if watched.off else "",
            format_duration(config.max_keepalive) if config.max_keepalive > 0 else "off",
        )
        log.info(
            "autostop-async %s started: app %s; idle time %s; watching %s%s",
            __version__,
            app if app is not None else "(none: dry run)",
            format_duration(config.idle_time),
            ", ".join(str(r) for r in config.watch_roots)
            + (" and the editor's History and Backups" if config.watch_editor_folders else ""),
            "; dry run" if config.dry_run else "",
        )
        return await daemon.run()
    result = await daemon.once()
    if config.json:
        print(json_text(result.to_json()))
    # 1: the app may be idle but was not stopped (DeleteApp failed, or a signal failed).
    return EXIT_DELETE_FAILED if result.error is not None else EXIT_OK


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` without its last step, waiting for the default executor's threads: one
    stuck in a system call would hold the exit forever. Tasks left are cancelled as there."""
    loop = asyncio.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(coro)
    finally:
        try:
            left = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in left:
                task.cancel()
            if left:
                loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()  # the executor is shut down without waiting


def _stop_before_the_loop(signum: int, frame: FrameType | None) -> None:
    """SIGTERM before the daemon's loop handles it: end like SIGINT (exit 0)."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m autostop_async`` and ``autostop-async`` (see :func:`entry`)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("status", "keepalive"):
        from . import keepalive, status  # only what the subcommand needs

        return (status.main if args[0] == "status" else keepalive.main)(args[1:])
    lock: StateLock | None = None
    try:
        config = load_config(argv)
        check_watch_roots(config)
        try:
            setup_logging(config)
        except OSError as exc:
            raise ConfigError(f"--log-file {config.log_file}: {exc.strerror or exc}") from None
        if config.once:
            held, pid = daemon_holding(config.state_dir)
            if held:
                raise StateDirBusy(config.state_dir, pid, once=True)
        else:
            with contextlib.suppress(ValueError):  # not the main thread (tests)
                signal.signal(signal.SIGTERM, _stop_before_the_loop)
            lock = lock_state_dir(config.state_dir)  # held until the process ends
        return run_async(_run(config))
    except (ConfigError, MetadataError, StateDirBusy) as exc:
        print(f"autostop-async: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        if lock is not None:
            lock.release()


def entry() -> None:
    """The program: :func:`main`, then flush what it wrote and end the process at once, so that
    no worker thread stuck in a system call can delay the exit (the state is saved by then)."""
    code = main()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
