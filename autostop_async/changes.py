"""Workspace change detection: a concurrent walk of the watch roots by inode change time.

The unit of asynchronous work is a *batch*: a worker thread walks a subtree depth-first with
``os.scandir`` until it has looked at ``batch_entries`` entries, then hands the folders it has not
visited back to the event loop, which spreads them over up to ``concurrency`` workers. One thread
hop per file (``aiofiles.os.stat``) costs far more than the ``stat`` itself; see ``bench/``.

A file's time is its ``st_ctime`` clamped to now: every write, rename, chmod or ``utime`` moves
it to the kernel's clock, so old or future mtimes can neither hide activity nor fake it. The walk
never follows symlinks, never descends into ``.git`` (git's records are their own signal), and
skips what vanishes or cannot be read, counting it. Memory stays bounded by the number of folders
waiting to be walked, never the number of files.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import os
import re
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .activity import Activity

__all__ = ["ScanResult", "ScanStats", "WorkspaceScanner", "WorkspaceSignal"]

log = logging.getLogger("autostop_async")

#: Folders the walk never descends into, by name (git's records are read by the git signal).
GIT_DIR = ".git"
#: How many hot folders (where activity was found last) are remembered and looked at first.
MAX_HINTS = 16


@dataclass
class ScanStats:
    """What one scan looked at; ``skipped`` counts entries that vanished or could not be read."""

    dirs: int = 0
    files: int = 0
    skipped: int = 0
    seconds: float = 0.0
    stopped_early: bool = False

    def add(self, other: ScanStats) -> None:
        """Fold the counters of a batch into these."""
        self.dirs += other.dirs
        self.files += other.files
        self.skipped += other.skipped


@dataclass
class ScanResult:
    """The outcome of a scan: the newest change seen (``None`` if nothing at all) and counters.

    ``newest`` is the newest of everything looked at; after an early exit it is newer than the
    threshold but not necessarily the newest in the workspace.
    """

    newest: Activity | None
    stats: ScanStats
    repos: set[str] = field(default_factory=set)

    def newer_than(self, t: float) -> Activity | None:
        """The newest activity if it is newer than ``t``."""
        return self.newest if self.newest is not None and self.newest.at > t else None


@dataclass
class _Batch:
    """What a worker thread reports for one batch of folders."""

    pending: list[str]
    newest_at: float
    newest_path: str | None
    stats: ScanStats
    repos: list[str]


SkipFn = Callable[[str, str], bool]


def _make_skip(globs: Iterable[str], paths: Iterable[str]) -> SkipFn | None:
    """A predicate ``skip(name, path)`` for the exclude globs and exact excluded paths."""
    patterns = [g for g in globs if g]
    exact = frozenset(os.path.normpath(p) for p in paths)
    regex = re.compile("|".join(fnmatch.translate(g) for g in patterns)) if patterns else None
    if regex is None and not exact:
        return None
    match = regex.match if regex is not None else None

    def skip(name: str, path: str) -> bool:
        if path in exact:
            return True
        return match is not None and (match(name) is not None or match(path) is not None)

    return skip


def _scan_batch(
    start: list[str],
    budget: int,
    threshold: float,
    skip: SkipFn | None,
    visited: set[tuple[int, int]],
    stop: threading.Event,
    descend: bool = True,
) -> _Batch:
    """Walk depth-first from ``start`` until ``budget`` entries were looked at (worker thread).

    With ``descend`` false only the entries of the ``start`` folders themselves are looked at.
    """
    stack = list(start)
    newest_at = float("-inf")
    newest_path: str | None = None
    stats = ScanStats()
    repos: list[str] = []
    s_isdir = stat.S_ISDIR
    while stack and budget > 0 and not stop.is_set():
        folder = stack.pop()
        try:
            entries = os.scandir(folder)
        except FileNotFoundError:
            stats.skipped += 1
            continue
        except OSError as exc:
            stats.skipped += 1
            log.debug("cannot read folder %s: %s", folder, exc)
            continue
        stats.dirs += 1
        with entries:
            for entry in entries:
                budget -= 1
                name = entry.name
                if name == GIT_DIR:
                    repos.append(folder)
                    continue
                path = entry.path
                if skip is not None and skip(name, path):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:  # vanished mid-walk, or no permission on the entry
                    stats.skipped += 1
                    continue
                ctime = st.st_ctime
                if ctime > newest_at:
                    newest_at = ctime
                    newest_path = path
                if s_isdir(st.st_mode):
                    key = (st.st_dev, st.st_ino)
                    if descend and key not in visited:  # bind-mount loops, overlapping roots
                        visited.add(key)
                        stack.append(path)
                else:
                    stats.files += 1
        if newest_at > threshold:
            stats.stopped_early = bool(stack)
            break
    return _Batch(stack, newest_at, newest_path, stats, repos)


class WorkspaceScanner:
    """Answers "what is the newest change under these roots, or the first one newer than t?"."""

    def __init__(
        self,
        roots: Iterable[Path],
        *,
        exclude: Iterable[str] = (),
        excluded_paths: Iterable[Path] = (),
        concurrency: int = 4,
        batch_entries: int = 2048,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.roots = [os.path.normpath(os.path.abspath(r)) for r in roots]
        self._skip = _make_skip(exclude, (os.path.abspath(p) for p in excluded_paths))
        self._concurrency = max(1, concurrency)
        self._batch_entries = max(64, batch_entries)
        self._clock = clock
        self._executor: ThreadPoolExecutor | None = None
        self._missing_reported: set[str] = set()

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self._concurrency, thread_name_prefix="autostop-scan"
            )
        return self._executor

    def close(self) -> None:
        """Stop the worker threads (they hold no files between scans)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def _existing_roots(self) -> list[tuple[str, os.stat_result]]:
        found = []
        for root in self.roots:
            try:
                st = os.stat(root)
            except OSError as exc:
                if root not in self._missing_reported:
                    self._missing_reported.add(root)
                    reason = exc.strerror or type(exc).__name__
                    log.warning("watch folder %s is not readable (%s); skipping it", root, reason)
                continue
            self._missing_reported.discard(root)
            found.append((root, st))
        return found

    async def scan(
        self,
        threshold: float = float("inf"),
        *,
        first: Iterable[str] = (),
    ) -> ScanResult:
        """Walk the roots; stop as soon as a change newer than ``threshold`` is seen.

        ``first`` names folders to look at before anything else (where activity was last seen);
        only their own entries are looked at there, the full walk follows if they hold nothing
        newer. With the default threshold the whole tree is walked and the newest change returned.
        """
        started = time.perf_counter()
        now = self._clock()
        loop = asyncio.get_running_loop()
        stop = threading.Event()
        visited: set[tuple[int, int]] = set()
        stats = ScanStats()
        repos: set[str] = set()
        newest_at = float("-inf")
        newest_path: str | None = None

        hints = [h for h in first if any(_is_under(h, r) for r in self.roots)]
        if hints:
            # Hot folders alone, each with a budget of one folder: cheap, and often enough.
            batch = await loop.run_in_executor(
                self._pool(), _scan_hints, hints, threshold, self._skip
            )
            stats.add(batch.stats)
            newest_at, newest_path = batch.newest_at, batch.newest_path
            if newest_at > threshold:
                stats.stopped_early = True

        if not stats.stopped_early:
            pending: deque[str] = deque()
            for root, st in self._existing_roots():
                key = (st.st_dev, st.st_ino)
                if key in visited:
                    continue
                visited.add(key)
                pending.append(root)
                if st.st_ctime > newest_at and not (
                    self._skip is not None and self._skip(os.path.basename(root), root)
                ):
                    newest_at, newest_path = st.st_ctime, root
            running: set[asyncio.Future[_Batch]] = set()
            try:
                while pending or running:
                    while pending and len(running) < self._concurrency:
                        running.add(
                            loop.run_in_executor(
                                self._pool(),
                                _scan_batch,
                                [pending.pop()],
                                self._batch_entries,
                                threshold,
                                self._skip,
                                visited,
                                stop,
                            )
                        )
                    done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    for fut in done:
                        batch = fut.result()
                        stats.add(batch.stats)
                        repos.update(batch.repos)
                        pending.extend(batch.pending)
                        if batch.newest_at > newest_at:
                            newest_at, newest_path = batch.newest_at, batch.newest_path
                    if newest_at > threshold:
                        stats.stopped_early = bool(pending or running)
                        break
            finally:
                stop.set()  # running batches end at their next folder
        stats.seconds = time.perf_counter() - started
        activity = None
        if newest_path is not None:
            activity = Activity(min(newest_at, now), f"workspace:{newest_path}")
        return ScanResult(activity, stats, repos)


def _scan_hints(hints: list[str], threshold: float, skip: SkipFn | None) -> _Batch:
    """Look at the entries of each hot folder (not below it), stopping at the first newer one."""
    result = _Batch([], float("-inf"), None, ScanStats(), [])
    never = threading.Event()
    for hint in hints:
        batch = _scan_batch([hint], 1 << 30, threshold, skip, set(), never, descend=False)
        result.stats.add(batch.stats)
        if batch.newest_at > result.newest_at:
            result.newest_at, result.newest_path = batch.newest_at, batch.newest_path
        if result.newest_at > threshold:
            break
    return result


def _is_under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class WorkspaceSignal:
    """The workspace as an activity signal: walked only at deadlines, hot folders first."""

    name = "workspace"
    cheap = False

    def __init__(self, scanner: WorkspaceScanner, hints: Iterable[str] = ()) -> None:
        self.scanner = scanner
        self.hints: list[str] = list(hints)[:MAX_HINTS]
        self.last_stats: ScanStats | None = None
        self.repos: set[str] = set()
        #: The newest change seen by any scan so far (a full walk sees the true newest).
        self.latest: Activity | None = None

    async def newer_than(self, t: float) -> Activity | None:
        """The first change newer than ``t`` (hot folders first), or None after a full walk."""
        result = await self.scanner.scan(t, first=self.hints)
        self.last_stats = result.stats
        self.repos |= result.repos
        if result.newest is not None and (self.latest is None or result.newest > self.latest):
            self.latest = result.newest
        found = result.newer_than(t)
        if found is not None:
            self._remember(found.source.removeprefix("workspace:"))
        return found

    def _remember(self, path: str) -> None:
        folder = path if os.path.isdir(path) else os.path.dirname(path)
        self.hints = [folder, *[h for h in self.hints if h != folder][: MAX_HINTS - 1]]

    async def aclose(self) -> None:
        """Stop the scanner's worker threads."""
        self.scanner.close()
