"""The daemon as a command (the default of ``autostop-async``): read the settings, build the
daemon and its signals, and run one check (``--once``) or until the app is deleted.

Exit codes: 0 the check ran (active, or idle and handled); 1 the app was not stopped though it
may be idle: DeleteApp failed, or a signal failed (the check was inconclusive); 2 bad
configuration or input (a :class:`~autostop_async.errors.UsageError`, turned into one line on
stderr by :mod:`autostop_async.cli`; also: another daemon holds the state folder, or
``DescribeApp`` finds no app of the metadata file's name in the region used).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import signal
from collections.abc import Coroutine, Sequence
from types import FrameType
from typing import Any, TypeVar

from . import __version__
from .config import Config, build_parser, parse_settings
from .daemon import Daemon
from .durations import format_duration
from .errors import ConfigError, MetadataError, StateDirBusy
from .holds import ensure_holds_dir
from .logs import setup_logging
from .notice import Notifier
from .safe_output import json_text
from .sagemaker import AppRef, SageMakerClient, read_app_ref
from .signal_set import build_signal_set
from .signals.editor_layout import EditorLayout, describe_layout
from .state import StateLock, daemon_holding, lock_state_dir

__all__ = ["main", "run_async"]

T = TypeVar("T")

log = logging.getLogger("autostop_async")

EXIT_OK, EXIT_DELETE_FAILED = 0, 1


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
    client = SageMakerClient(region=config.region, endpoint_url=config.endpoint_url)
    if app is not None and not config.dry_run:
        await client.check_app(app)  # exit 2 if no app is named so; a warning if unsure
    watched = build_signal_set(config)
    workspace = watched.workspace
    notifier = Notifier.from_config(config, watched.own_writes)
    daemon = Daemon(
        config,
        watched.signals,
        app,
        None if config.dry_run else client.delete_app,
        keepalive=watched.keepalive,
        holds=watched.holds,
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
    if not config.once and config.max_keepalive > 0:
        try:  # open to every user: a hold needs no sudo while the daemon runs as root
            ensure_holds_dir(watched.holds.path)
        except OSError as exc:
            log.warning("cannot prepare holds folder %s: %s", watched.holds.path, exc)
    daemon.events.start()
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
        return await daemon.events.around(daemon.run())
    result = await daemon.events.around(daemon.once(), ended="once")
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


def main(argv: Sequence[str], *, epilog: str | None = None) -> int:
    """Run the daemon, or one check with ``--once``; raises a UsageError for bad settings.
    ``epilog`` ends the ``--help`` (the command line lists the other commands there)."""
    lock: StateLock | None = None
    try:
        config, _ = parse_settings(argv, parser=build_parser(epilog))
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
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        if lock is not None:
            lock.release()
