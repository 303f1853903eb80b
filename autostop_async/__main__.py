"""Command line: parse the settings, build the daemon, run once or until the app is deleted.

Exit codes: 0 the check ran (active, or idle and handled); 1 idle but DeleteApp failed;
2 bad configuration or input, with one line on stderr naming the setting or file.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import json
import logging
import os
import stat
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .activity import Signal
from .busy import CpuSignal, GpuSignal
from .changes import WorkspaceScanner, WorkspaceSignal, describe_layout
from .config import Config, ConfigError, format_duration, load_config
from .daemon import Daemon
from .editor import EditorSignal, file_echo_window
from .editor_layout import find_editor_layout
from .git_activity import GitSignal
from .keepalive import KeepaliveReader, keepalive_file
from .notice import Notifier
from .sagemaker import AppRef, MetadataError, SageMakerClient, read_app_ref
from .terminals import OwnWrites, TerminalsSignal

__all__ = ["main"]

log = logging.getLogger("autostop_async")

EXIT_OK, EXIT_DELETE_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class _UTCFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created))


def setup_logging(config: Config) -> None:
    """One line per record, UTC timestamps, to ``--log-file`` (appended) or stderr."""
    handler: logging.Handler
    if config.log_file is not None:
        config.log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(config.log_file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        _UTCFormatter("%(asctime)s autostop-async[%(process)d] %(levelname)s %(message)s")
    )
    log.handlers[:] = [handler]
    log.setLevel(os.environ.get("AUTOSTOP_LOG_LEVEL", "INFO").upper())
    log.propagate = False


def own_output_files(config: Config) -> list[Path]:
    """The daemon's own files, which must never count as activity: state, log, redirected output."""
    paths = [config.state_dir]
    if config.log_file is not None:
        paths.append(config.log_file)
    if config.notice_file is not None:
        paths.append(config.notice_file)
    for fd in (1, 2):
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                paths.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        except OSError:
            continue
    return [Path(os.path.abspath(p)) for p in paths]


@dataclass
class MoreSignals:
    """The cheap signals the settings switch on, the names of those off, and the controls."""

    signals: list[Signal]
    off: list[str]
    keepalive: KeepaliveReader
    notifier: Notifier | None
    own_writes: OwnWrites


class _RememberWrites(logging.Filter):
    """Tells :class:`OwnWrites` of each log line: a log file open in an editor tab reloads."""

    def __init__(self, own_writes: OwnWrites) -> None:
        super().__init__()
        self.own_writes = own_writes

    def filter(self, record: logging.LogRecord) -> bool:
        self.own_writes.wrote_file(record.created)
        return True


def use_signals(config: Config) -> MoreSignals:
    """Editor, terminals, CPU and GPU (each unless switched off); keepalive; the warning."""
    # The daemon's own writes (notices to the terminals; notice, state and log files) are
    # nobody's activity, though the editor may echo them.
    own_writes = OwnWrites()
    for handler in log.handlers:
        handler.addFilter(_RememberWrites(own_writes))
    signals: list[Signal] = []
    off: list[str] = []
    if config.editor:
        url, files = config.editor_idle_url, config.editor_idle_files
        window = file_echo_window(config.idle_time)
        signals.append(EditorSignal(url, files, own_writes=own_writes, file_echo_window=window))
    else:
        off.append("editor")
    if config.terminals:
        signals.append(TerminalsSignal(config.terminals_dir, own_writes=own_writes))
    else:
        off.append("terminals")
    if config.busy:
        signals.append(CpuSignal(config.busy_cpu, warmup=1.0 if config.once else 0.0))
        signals.append(GpuSignal(config.busy_gpu))
    else:
        off.extend(["cpu", "gpu"])
    keepalive = KeepaliveReader(keepalive_file(config), config.max_keepalive)
    notifier = None if config.once else Notifier.from_config(config, own_writes)
    return MoreSignals(signals, off, keepalive, notifier, own_writes)


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
    scanner = WorkspaceScanner(
        config.watch_roots,
        exclude=config.exclude,
        excluded_paths=own_output_files(config),
        concurrency=config.concurrency,
        skip_git_ignored=config.skip_git_ignored,
    )
    workspace = WorkspaceSignal(
        scanner,
        find_layout=functools.partial(
            find_editor_layout, config.home, override=config.editor_server_data_dir
        ),
        watch_editor_folders=config.watch_editor_folders,
    )
    # Git's records of the repositories the walk found: asked after the walk, at deadlines.
    signals: list[Signal] = [workspace, GitSignal(lambda: workspace.repos)]
    client = SageMakerClient(region=config.region, endpoint_url=config.endpoint_url)
    more = use_signals(config)
    daemon = Daemon(
        config,
        [*signals, *more.signals],
        app,
        None if config.dry_run else client.delete_app,
        keepalive=more.keepalive,
        notifier=more.notifier,
        own_writes=more.own_writes,
    )
    daemon.controls["off"] = more.off
    workspace.on_layout = lambda layout: daemon.controls.update(editor_data=describe_layout(layout))
    await workspace.refresh_layout()  # logs where the editor keeps its data
    if more.notifier is not None:
        more.notifier.prepare()  # before the daemon starts its clock
    if not config.once:
        log.info(
            "signs of use: %s%s; keepalive up to %s",
            ", ".join(sig.name for sig in daemon.signals),
            f" (off: {', '.join(more.off)})" if more.off else "",
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
        print(json.dumps(result.to_json()))
    return EXIT_DELETE_FAILED if result.error is not None else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m autostop_async`` and ``autostop-async``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("status", "keepalive"):
        from . import keepalive, status  # only what the subcommand needs

        return (status.main if args[0] == "status" else keepalive.main)(args[1:])
    try:
        config = load_config(argv)
        check_watch_roots(config)
        try:
            setup_logging(config)
        except OSError as exc:
            raise ConfigError(f"--log-file {config.log_file}: {exc.strerror or exc}") from None
        return asyncio.run(_run(config))
    except (ConfigError, MetadataError) as exc:
        print(f"autostop-async: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
