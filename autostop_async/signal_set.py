"""The one place that lists the signals: what counts as a sign of use, built from the settings.

The workspace walk and git's records are consulted at deadlines; the editor's heartbeat, the
terminals, CPU and GPU are polled every interval, each unless a setting switches it off. Beside
the signals, the daemon is given the user's keepalive, the holds on jobs, and the record of its
own writes (which are nobody's activity, though the editor may echo them).
"""

from __future__ import annotations

import functools
import logging
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .changes import GitSignal, WorkspaceScanner, WorkspaceSignal
from .config import Config
from .holds import HoldsReader, KeepaliveReader, holds_dir, keepalive_file
from .own_writes import OwnWrites, file_echo_window
from .signals.base import Signal
from .signals.busy import CpuSignal, GpuSignal
from .signals.editor import EditorSignal
from .signals.editor_layout import find_editor_layout
from .signals.terminals import TerminalsSignal

__all__ = ["SignalSet", "build_signal_set", "own_output_files", "signal_files"]

log = logging.getLogger("autostop_async")


@dataclass(frozen=True)
class SignalSet:
    """What the daemon watches: its signals (in the order they are asked), the names of those
    switched off, and its other inputs."""

    signals: list[Signal]
    off: list[str]
    #: The walk, whose editor layout the daemon shows in ``status``.
    workspace: WorkspaceSignal
    keepalive: KeepaliveReader
    holds: HoldsReader
    own_writes: OwnWrites


def build_signal_set(config: Config) -> SignalSet:
    """The signals the settings switch on, and the daemon's other inputs."""
    own_writes = remember_log_writes()
    own_writes.echo_window = file_echo_window(config.idle_time)
    workspace = workspace_signal(config)
    every: list[tuple[str, bool, Callable[[], Signal]]] = [
        ("workspace", True, lambda: workspace),
        ("git", True, lambda: GitSignal(lambda: workspace.repos)),  # the last walk's repos
        (
            "editor",
            config.editor,
            lambda: EditorSignal(
                config.editor_idle_url,
                config.editor_idle_files,
                own_writes=own_writes,
            ),
        ),
        (
            "terminals",
            config.terminals,
            lambda: TerminalsSignal(
                config.terminals_dir,
                own_writes=own_writes,
                count_output=config.terminal_output,
            ),
        ),
        (
            "cpu",
            config.busy,
            lambda: CpuSignal(
                config.busy_cpu,
                warmup=1.0 if config.once else 0.0,
                cgroup_root=config.busy_cgroup_dir,
            ),
        ),
        ("gpu", config.busy, lambda: GpuSignal(config.busy_gpu)),
    ]
    return SignalSet(
        signals=[make() for _, on, make in every if on],
        off=[name for name, on, _ in every if not on],
        workspace=workspace,
        keepalive=KeepaliveReader(keepalive_file(config), config.max_keepalive),
        holds=HoldsReader(holds_dir(config), config.max_keepalive),
        own_writes=own_writes,
    )


def workspace_signal(config: Config) -> WorkspaceSignal:
    """The walk of the watch folders, the daemon's own files, the files read as signals, the
    image's idle noise and the editor's bookkeeping left out (the editor's data folder is
    looked for before each walk)."""
    scanner = WorkspaceScanner(
        config.watch_roots,
        exclude=config.exclude,
        excluded_paths=[
            *own_output_files(config),
            *signal_files(config),
            *config.idle_noise_files,
        ],
        concurrency=config.concurrency,
        skip_git_ignored=config.skip_git_ignored,
    )
    return WorkspaceSignal(
        scanner,
        find_layout=functools.partial(
            find_editor_layout, config.home, override=config.editor_server_data_dir
        ),
        watch_editor_folders=config.watch_editor_folders,
    )


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


def signal_files(config: Config) -> list[Path]:
    """The files a signal reads (the editor's heartbeat files, wherever they are configured):
    each counts only through its signal, with that signal's guard against echoes of the
    daemon's own warning; the walk never counts them, whether or not the signal is on."""
    return [Path(os.path.abspath(p)) for p in config.editor_idle_files]


class _RememberWrites(logging.Filter):
    """Tells :class:`OwnWrites` of each log line: a log file open in an editor tab reloads."""

    def __init__(self, own_writes: OwnWrites) -> None:
        super().__init__()
        self.own_writes = own_writes

    def filter(self, record: logging.LogRecord) -> bool:
        self.own_writes.wrote_file(record.created)
        return True


def remember_log_writes() -> OwnWrites:
    """A new record of the daemon's own writes, told of each line the log handlers write."""
    own_writes = OwnWrites()
    for handler in log.handlers:
        handler.addFilter(_RememberWrites(own_writes))
    return own_writes
