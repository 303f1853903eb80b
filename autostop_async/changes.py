"""Workspace change detection, the one door to both kinds: the walk of the watch roots by inode
change time (:class:`WorkspaceSignal`, here) and git's own records of each repository the walk
finds (:class:`GitSignal`, kept in :mod:`.git_records`).

The walk is batched in a thread.

The unit of asynchronous work is a *batch*: a worker thread walks a subtree depth-first until it
has looked at ``batch_entries`` entries, then hands the folders it has not visited back to the
event loop, which gives them to the next batch. One thread hop per file (``aiofiles.os.stat``)
costs far more than the ``stat`` itself: 20 times ``find``'s time against 1.3 (``bench/``).

Measured on 2 cores with a warm cache (``python -m bench.tune``), the walk is bound by the
kernel's ``lstat`` and Python's per-entry work under the GIL: a second worker only fights for it
(2 workers: 1.4 to 2 times the CPU; 4 workers: 3 to 5 times). So a scan uses one worker while it
keeps the CPU busy, and spreads batches over up to ``concurrency`` workers only when a batch spends
most of its time waiting (a cold cache on a network or EBS volume), where overlapping waits pays.

Each folder is opened once, listed by name (``os.listdir``: no ``DirEntry`` per entry), and its
entries are ``lstat``-ed relative to that descriptor (``fstatat``), as GNU ``find`` does: the
kernel resolves one name, not the whole path. The newest time and the subfolders are then picked
from the results by C iterators. A huge folder (a dataset) is read in chunks with ``os.scandir``.
A folder whose path is longer than the kernel takes (4,096 bytes) is opened a piece at a time,
each piece relative to the folder the one before opened.

A file's time is its ``st_ctime`` clamped to now: every write, rename, chmod or ``utime`` moves
it to the kernel's clock, so old or future mtimes can neither hide activity nor fake it. The walk
never follows symlinks, never descends into ``.git`` (git's records are their own signal, see
``git_records``), and skips what vanishes or cannot be read, counting it. Memory stays bounded
by the number of folders waiting to be walked (and a chunk of one folder's entries), never the
number of files.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from errno import ENAMETOOLONG
from itertools import compress, islice
from operator import attrgetter
from pathlib import Path
from stat import S_ISDIR

from .activity import Activity
from .git_records import GitSignal, IgnoredFolders
from .signals.base import OnceLog, SignalBase
from .signals.editor_layout import EditorLayout, describe_layout, is_under

__all__ = ["GitSignal", "ScanResult", "ScanStats", "WorkspaceScanner", "WorkspaceSignal"]

log = logging.getLogger("autostop_async")

#: Folders the walk never descends into, by name (git's records are read by the git signal).
GIT_DIR = ".git"
#: How many hot folders (where activity was found last) are remembered and looked at first.
MAX_HINTS = 16
#: Seconds the real path of one excluded file may take to find (a hung mount) at start.
RESOLVE_TIMEOUT = 1.0
#: Entries of a huge folder handled at a time: bounds memory for folders of a million files.
CHUNK = 4096
#: A folder whose size is above this (on ext4 about 8,000 entries) is read in chunks.
BIG_FOLDER_BYTES = 256 * 1024
#: A batch that spent less than this share of its wall time on the CPU was waiting on the disk.
IO_BOUND_CPU_SHARE = 0.5
#: Batches shorter than this say too little about the disk to change the number of workers.
IO_BOUND_MIN_SECONDS = 0.005
#: A folder path longer than this many bytes (the kernel takes 4,096 with the final NUL) is
#: opened piece by piece relative to a descriptor (``_open_deep``).
DEEP_PIECE = 4000

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_MODE = attrgetter("st_mode")
_CTIME = attrgetter("st_ctime")
_DIR_NOFOLLOW = _DIR_FLAGS | getattr(os, "O_NOFOLLOW", 0)


@dataclass
class ScanStats:
    """What one scan looked at; ``skipped`` counts entries that vanished or could not be read.

    ``workers`` is the most batches that ran at the same time (1 unless the disk was slow).
    """

    dirs: int = 0
    files: int = 0
    skipped: int = 0
    seconds: float = 0.0
    stopped_early: bool = False
    workers: int = 1
    ignored_dirs: int = 0

    def add(self, other: ScanStats) -> None:
        """Fold the counters of a batch into these."""
        self.dirs += other.dirs
        self.files += other.files
        self.skipped += other.skipped
        self.ignored_dirs += other.ignored_dirs


@dataclass
class ScanResult:
    """The outcome of a scan: the newest change seen (``None`` if nothing at all) and counters.

    ``newest`` is the newest of everything looked at; after an early exit it is newer than the
    threshold but not necessarily the newest in the workspace. ``repos`` are the folders seen
    to hold a ``.git`` (a folder, or a file for worktrees and submodules).
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
    wall: float = 0.0
    cpu: float = 0.0


@dataclass(frozen=True)
class _Rule:
    """What the walk does in one folder beyond the exclude globs: the editor's bookkeeping."""

    #: Only these entries are looked at (None: all of them).
    allowed: frozenset[str] | None = None
    #: Entries walked into, whose own change time does not count (a folder's time moves when
    #: anything is created or removed in it: the editor's folders above History and Backups).
    silent: frozenset[str] = frozenset()


class _Filter:
    """What the walk leaves out: exclude globs, exact paths (the daemon's own files), the
    editor's bookkeeping (:meth:`leave_out`), and the folders git ignores (with
    ``--skip-git-ignored``)."""

    def __init__(self, globs: Iterable[str], paths: Iterable[str]) -> None:
        patterns = [g for g in globs if g]
        self.match = (
            re.compile("|".join(fnmatch.translate(g) for g in patterns)).match if patterns else None
        )
        self._own = [os.path.normpath(p) for p in paths]
        self.rules: dict[str, _Rule] = {}
        self.by_folder: dict[str, frozenset[str]] = {}
        self.leave_out((), ())

    def leave_out(self, folders: Iterable[str], keep: Iterable[str]) -> None:
        """Never count anything under ``folders`` but what lies under one of ``keep``.

        The folders between a left-out folder and a kept one are walked through, their own
        change times not counted; a left-out folder with nothing kept inside is not walked.
        """
        keep = [os.path.normpath(k) for k in keep]
        allowed: dict[str, set[str]] = {}
        silent: dict[str, set[str]] = {}
        excluded = list(self._own)
        for top in (os.path.normpath(f) for f in folders):
            inner = [k for k in keep if k != top and is_under(k, top)]
            if not inner:
                excluded.append(top)
                continue
            parent, name = os.path.split(top)
            silent.setdefault(parent, set()).add(name)
            for k in inner:
                parts = os.path.relpath(k, top).split(os.sep)
                folder = top
                for i, part in enumerate(parts):
                    allowed.setdefault(folder, set()).add(part)
                    if i < len(parts) - 1:
                        silent.setdefault(folder, set()).add(part)
                    folder = os.path.join(folder, part)
        self.rules = {
            f: _Rule(
                frozenset(allowed[f]) if f in allowed else None,
                frozenset(silent.get(f, ())),
            )
            for f in {*allowed, *silent}
        }
        # Exact paths, grouped by the folder that lists them: one lookup per folder, not per file.
        by_folder: dict[str, frozenset[str]] = {}
        for p in excluded:
            parent, name = os.path.split(p)
            by_folder[parent] = by_folder.get(parent, frozenset()) | {name}
        self.by_folder = by_folder

    def path_excluded(self, path: str) -> bool:
        """Whether ``path`` itself (a root, a hint) is left out."""
        parent, name = os.path.split(path)
        if name in self.by_folder.get(parent, ()):
            return True
        if self.rules and self._outside_allowed(path):
            return True
        return self.match is not None and (
            self.match(name) is not None or self.match(path) is not None
        )

    def time_excluded(self, path: str) -> bool:
        """Whether the change time of ``path`` itself does not count (a root)."""
        parent, name = os.path.split(path)
        rule = self.rules.get(parent)
        return self.path_excluded(path) or (rule is not None and name in rule.silent)

    def _outside_allowed(self, path: str) -> bool:
        """Whether some folder above ``path`` allows only other entries than the one leading
        to it (a path inside the editor's bookkeeping)."""
        head, tail = os.path.split(path)
        while tail:
            rule = self.rules.get(head)
            if rule is not None and rule.allowed is not None and tail not in rule.allowed:
                return True
            head, tail = os.path.split(head)
        return False


IgnoredLoader = Callable[[str], Iterable[str]]


class _Walk:
    """What the batches of one scan share: the question, the filters, and what was found."""

    def __init__(
        self,
        threshold: float,
        filt: _Filter,
        roots: frozenset[str],
        ignored_loader: IgnoredLoader | None,
    ) -> None:
        self.threshold = threshold
        self.filter = filt
        self.roots = roots
        #: Folders walked, as inode numbers per device: bind-mount loops, overlapping roots.
        self.visited: dict[int, set[int]] = {}
        self.stop = threading.Event()
        self.ignored_loader = ignored_loader
        self.ignored: set[str] = set()
        self._lock = threading.Lock()
        self._repos_loaded: set[str] = set()

    def load_ignored(self, repo: str) -> None:
        """Ask git once per scan which folders of ``repo`` its ignore rules exclude."""
        assert self.ignored_loader is not None
        with self._lock:
            if repo in self._repos_loaded:
                return
            self._repos_loaded.add(repo)
        found = self.ignored_loader(repo)
        with self._lock:
            self.ignored.update(found)


def _stat_one_by_one(
    fd: int, names: list[str], stats: ScanStats
) -> tuple[list[str], list[os.stat_result]]:
    """The slow path when an entry vanished or cannot be read: skip and count just those."""
    kept: list[str] = []
    results: list[os.stat_result] = []
    for n in names:
        try:
            results.append(os.lstat(n, dir_fd=fd))
        except OSError:
            stats.skipped += 1
            continue
        kept.append(n)
    return kept, results


def _name_chunks(fd: int) -> Iterator[list[str]]:
    """The names in a huge folder, a chunk at a time: never all of a million names at once."""
    with os.scandir(fd) as listing:
        while names := [e.name for e in islice(listing, CHUNK)]:
            yield names


def _scan_batch(walk: _Walk, start: list[str], budget: int, descend: bool = True) -> _Batch:
    """Walk depth-first from ``start`` until ``budget`` entries were looked at (worker thread).

    With ``descend`` false only the entries of the ``start`` folders themselves are looked at.
    One function with everything in locals: the loop runs once per folder of the workspace
    (8 entries each, typically), where a call or a global lookup costs as much as an entry.
    Per entry there is one ``fstatat`` in a list comprehension; the newest time and the
    subfolders are then picked from the results with C iterators (``map``, ``compress``), no
    Python code per entry.
    """
    wall0, cpu0 = time.perf_counter(), time.thread_time()
    stack = list(start)
    pop, stopped = stack.pop, walk.stop.is_set
    roots, visited, threshold = walk.roots, walk.visited, walk.threshold
    by_folder, match, rules = walk.filter.by_folder, walk.filter.match, walk.filter.rules
    filtering = bool(by_folder) or match is not None
    loader, ignored = walk.ignored_loader, walk.ignored
    lstat, open_dir, close, fstat, listdir = os.lstat, os.open, os.close, os.fstat, os.listdir
    sep, git_dir, big = os.sep, GIT_DIR, BIG_FOLDER_BYTES
    flags_root, flags = _DIR_FLAGS, _DIR_NOFOLLOW
    is_dir, mode_of, ctime_of = S_ISDIR, _MODE, _CTIME
    newest_at = float("-inf")
    newest_path: str | None = None
    stats = ScanStats()
    n_dirs = n_files = n_skipped = n_ignored = 0
    waited = 0.0
    repos: list[str] = []
    while stack and budget > 0 and not stopped():
        folder = pop()
        try:
            fd = open_dir(folder, flags_root if folder in roots else flags)
        except OSError as exc:  # vanished, no permission, or replaced by a symlink (ELOOP)
            fd = _open_deep(folder, roots) if exc.errno == ENAMETOOLONG else -1
            if fd < 0:
                n_skipped += 1
                if not isinstance(exc, FileNotFoundError):
                    log.debug("cannot read folder %s: %s", folder, exc)
                continue
        try:
            st = fstat(fd)
            if descend:
                seen = visited.get(st.st_dev)
                if seen is None:
                    seen = visited[st.st_dev] = set()
                if st.st_ino in seen:  # bind-mount loops, overlapping roots
                    continue
                seen.add(st.st_ino)
            n_dirs += 1
            prefix = folder if folder.endswith(sep) else folder + sep
            rule = rules.get(folder) if rules else None  # the editor's bookkeeping
            if loader is not None and os.path.lexists(prefix + git_dir):
                # The folder must be known to be a repository before its first entry is judged,
                # so ask before listing (one lstat per folder, only with the option on).
                waited -= time.perf_counter()
                walk.load_ignored(folder)
                waited += time.perf_counter()
            # Names only (no DirEntry per entry); a huge folder (a dataset) in chunks.
            for names in (listdir(fd),) if st.st_size <= big else _name_chunks(fd):
                budget -= len(names)
                if git_dir in names:
                    repos.append(folder)
                    names.remove(git_dir)
                if filtering:
                    names = _filtered(names, prefix, by_folder.get(folder), match)
                if rule is not None and rule.allowed is not None:
                    names = [n for n in names if n in rule.allowed]
                if not names:
                    continue
                try:
                    # The hot loop: fstatat relative to the folder, one name to resolve.
                    results = [lstat(n, dir_fd=fd) for n in names]
                except OSError:
                    names, results = _stat_one_by_one(fd, names, stats)
                subdirs = list(compress(names, map(is_dir, map(mode_of, results))))
                if ignored and subdirs and not ignored.isdisjoint(prefix + d for d in subdirs):
                    keep = [prefix + n not in ignored for n in names]
                    n_ignored += keep.count(False)
                    names = list(compress(names, keep))
                    results = list(compress(results, keep))
                    subdirs = [d for d in subdirs if prefix + d not in ignored]
                if not results:
                    continue
                if rule is not None and rule.silent:  # rare: the editor's folders
                    times = [
                        -1.0 if n in rule.silent else ctime_of(r)
                        for n, r in zip(names, results, strict=True)
                    ]
                    top = max(times)
                else:
                    top = max(map(ctime_of, results))
                if top > newest_at:
                    newest_at = top
                    if rule is None or not rule.silent:
                        times = list(map(ctime_of, results))
                    newest_path = prefix + names[times.index(top)]
                n_files += len(results) - len(subdirs)
                if descend and subdirs:
                    stack += [prefix + d for d in subdirs]
        except OSError as exc:  # the folder vanished or broke while being read
            n_skipped += 1
            log.debug("cannot read folder %s: %s", folder, exc)
        finally:
            close(fd)
        if newest_at > threshold:
            stats.stopped_early = bool(stack)
            break
    stats.dirs += n_dirs
    stats.files += n_files
    stats.skipped += n_skipped
    stats.ignored_dirs += n_ignored
    wall = time.perf_counter() - wall0
    return _Batch(
        stack,
        newest_at,
        newest_path,
        stats,
        repos,
        wall=wall - waited,  # git's answer for --skip-git-ignored is not the disk
        cpu=time.thread_time() - cpu0,
    )


def _open_deep(folder: str, roots: frozenset[str]) -> int:
    """A descriptor of a folder whose path is longer than the kernel takes (ENAMETOOLONG), or -1.

    The path is opened a piece at a time, each piece relative to the folder the one before
    opened (``openat``), each shorter than ``PATH_MAX`` and ending at a name, opened like any
    folder of the walk (``O_DIRECTORY | O_NOFOLLOW``). Only such paths come here: the cost of
    the walk elsewhere does not change.
    """
    path = os.fsencode(folder)
    cut = path.rfind(b"/", 1, DEEP_PIECE)
    if cut <= 0:
        return -1
    first, rest = path[:cut], path[cut + 1 :]
    try:
        fd = os.open(first, _DIR_FLAGS if os.fsdecode(first) in roots else _DIR_NOFOLLOW)
    except OSError as exc:
        log.debug("cannot read folder %s: %s", os.fsdecode(first), exc)
        return -1
    try:
        while rest:
            cut = len(rest) if len(rest) < DEEP_PIECE else rest.rfind(b"/", 1, DEEP_PIECE)
            if cut <= 0:
                raise OSError(ENAMETOOLONG, "a name longer than a path may be")
            below = os.open(rest[:cut], _DIR_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd, rest = below, rest[cut + 1 :]
    except OSError as exc:
        os.close(fd)
        log.debug("cannot read folder %s: %s", folder, exc)
        return -1
    return fd


def _filtered(
    names: list[str],
    prefix: str,
    excluded: frozenset[str] | None,
    match: Callable[[str], object] | None,
) -> list[str]:
    """``names`` without the excluded ones (exact paths of this folder, and globs)."""
    return [
        n
        for n in names
        if not (excluded is not None and n in excluded)
        and not (match is not None and (match(n) is not None or match(prefix + n) is not None))
    ]


def own_path_aliases(paths: Iterable[Path], roots: Iterable[str]) -> set[str]:
    """Every path under which the walk may meet each of ``paths`` (the daemon's own files).

    The walk names an entry by the root it came through, as given: with ``--watch`` given
    through a symlink (``/tmp/link-to-home``), the log file ``/home/u/daemon.log`` is met as
    ``/tmp/link-to-home/daemon.log``, and the other way round. So each path counts as given
    (made absolute), by its real path, and by its real path mapped under each root whose real
    path holds it. A file that does not exist yet is resolved as far as its folders exist; one
    on a mount that does not answer, as far as its folder answers (:func:`_resolved`).
    """
    real_roots = [(root, os.path.realpath(root)) for root in roots]
    aliases: set[str] = set()
    for p in paths:
        given = os.path.normpath(os.path.abspath(p))
        real = _resolved(given)
        aliases.update((given, real))
        for root, real_root in real_roots:
            if real == real_root:
                aliases.add(root)
            elif is_under(real, real_root):
                aliases.add(os.path.join(root, os.path.relpath(real, real_root)))
    return aliases


def _resolved(path: str, timeout: float = RESOLVE_TIMEOUT) -> str:
    """``os.path.realpath(path)`` within ``timeout`` seconds (a file on a hung mount, such as the
    heartbeat file in /tmp, must not hold up the start); else the real path of its folder,
    likewise bounded, and its name; else ``path`` itself."""
    for target, name in ((path, ""), (os.path.dirname(path), os.path.basename(path))):
        found: list[str] = []
        worker = threading.Thread(
            target=lambda t=target, out=found: out.append(os.path.realpath(t)),
            name="autostop-resolve",
            daemon=True,  # one stuck in the kernel is never waited for
        )
        worker.start()
        worker.join(timeout)
        if found:
            return os.path.join(found[0], name) if name else found[0]
    return path


class WorkspaceScanner:
    """Answers "what is the newest change under these roots, or the first one newer than t?"."""

    def __init__(
        self,
        roots: Iterable[Path],
        *,
        exclude: Iterable[str] = (),
        excluded_paths: Iterable[Path] = (),
        concurrency: int = 4,
        batch_entries: int = 8192,
        clock: Callable[[], float] = time.time,
        skip_git_ignored: bool = False,
        ignored_loader: IgnoredLoader | None = None,
    ) -> None:
        """``concurrency`` caps the workers used when the disk is slow; ``skip_git_ignored``
        leaves out the folders each repository's ignore rules exclude (``ignored_loader``
        answers that for one repository; by default ``git ls-files``)."""
        self.roots = [os.path.normpath(os.path.abspath(r)) for r in roots]
        self._filter = _Filter(exclude, own_path_aliases(excluded_paths, self.roots))
        self._concurrency = max(1, concurrency)
        self._batch_entries = max(64, batch_entries)
        self._clock = clock
        self._executor: ThreadPoolExecutor | None = None
        self._missing = OnceLog(log)  # roots that are not readable, each said once
        #: Roots added by the editor's layout (History, Backups): skipped quietly when absent.
        self._quiet_roots: list[str] = []
        self._ignored_loader: IgnoredLoader | None = None
        if skip_git_ignored:
            self._ignored_loader = ignored_loader or IgnoredFolders()

    def use_editor_layout(self, layout: EditorLayout | None, *, add_roots: bool) -> None:
        """Leave out the editor's bookkeeping (all of its data folder but History and Backups);
        with ``add_roots``, watch History and Backups wherever they are."""
        keep = [str(p) for p in layout.activity_dirs] if layout is not None else []
        left_out = [str(p) for p in layout.left_out] if layout is not None else []
        self._filter.leave_out(left_out, keep)
        self._quiet_roots = (
            [k for k in keep if k not in self.roots and not any(is_under(k, r) for r in self.roots)]
            if add_roots
            else []
        )

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
        for root in [*self.roots, *self._quiet_roots]:
            try:
                st = os.stat(root)
            except OSError as exc:
                if root in self._quiet_roots:
                    continue  # no save or unsaved edit yet: the editor makes it on the first
                reason = exc.strerror or type(exc).__name__
                self._missing(
                    root,
                    logging.WARNING,
                    "watch folder %s is not readable (%s); skipping it",
                    root,
                    reason,
                )
                continue
            self._missing.forget(root)
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
        roots = [*self.roots, *self._quiet_roots]
        walk = _Walk(threshold, self._filter, frozenset(roots), self._ignored_loader)
        stats = ScanStats()
        repos: set[str] = set()
        newest_at = float("-inf")
        newest_path: str | None = None

        hints = [
            h
            for h in first
            if any(is_under(h, r) for r in roots) and not self._filter.path_excluded(h)
        ]
        if hints:
            # Hot folders alone, without what is below them: cheap, and often enough.
            batch = await loop.run_in_executor(self._pool(), _scan_hints, walk, hints)
            stats.add(batch.stats)
            newest_at, newest_path = batch.newest_at, batch.newest_path
            if newest_at > threshold:
                stats.stopped_early = True

        if not stats.stopped_early:
            pending: deque[str] = deque()
            for root, st in self._existing_roots():
                pending.append(root)
                if st.st_ctime > newest_at and not self._filter.time_excluded(root):
                    newest_at, newest_path = st.st_ctime, root
            running: set[asyncio.Future[_Batch]] = set()
            workers = 1  # until a batch shows the walk waits on the disk
            try:
                while pending or running:
                    while pending and len(running) < workers:
                        running.add(
                            loop.run_in_executor(
                                self._pool(),
                                _scan_batch,
                                walk,
                                [pending.pop()],
                                self._batch_entries,
                            )
                        )
                        stats.workers = max(stats.workers, len(running))
                    done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    for fut in done:
                        batch = fut.result()
                        stats.add(batch.stats)
                        repos.update(batch.repos)
                        pending.extend(batch.pending)
                        if batch.newest_at > newest_at:
                            newest_at, newest_path = batch.newest_at, batch.newest_path
                        if workers == 1 and self._waits_on_disk(batch):
                            workers = self._concurrency
                            log.debug("the walk waits on the disk: %d workers", workers)
                    if newest_at > threshold:
                        stats.stopped_early = bool(pending or running)
                        break
            finally:
                walk.stop.set()  # running batches end at their next folder
        stats.seconds = time.perf_counter() - started
        activity = None
        if newest_path is not None:
            activity = Activity(min(newest_at, now), f"workspace:{newest_path}")
        return ScanResult(activity, stats, repos)

    def _waits_on_disk(self, batch: _Batch) -> bool:
        """Whether a batch (that ran alone) spent most of its time waiting, not computing."""
        return (
            self._concurrency > 1
            and batch.wall >= IO_BOUND_MIN_SECONDS
            and batch.cpu < IO_BOUND_CPU_SHARE * batch.wall
        )


def _scan_hints(walk: _Walk, hints: list[str]) -> _Batch:
    """Look at the entries of each hot folder (not below it), stopping at the first newer one."""
    result = _Batch([], float("-inf"), None, ScanStats(), [])
    for hint in hints:
        batch = _scan_batch(walk, [hint], 1 << 30, descend=False)
        result.stats.add(batch.stats)
        if batch.newest_at > result.newest_at:
            result.newest_at, result.newest_path = batch.newest_at, batch.newest_path
        if result.newest_at > walk.threshold:
            break
    return result


def _folders(layout: EditorLayout | None) -> tuple[Path, tuple[Path, ...]] | None:
    return None if layout is None else (layout.server_data_dir, layout.left_out)


class WorkspaceSignal(SignalBase):
    """The workspace as an activity signal: walked only at deadlines, hot folders first.

    ``repos`` holds the git repositories the walks came across, for the git signal: a frozen
    set, replaced (never changed in place) after each walk. ``hints`` are the hot folders, kept
    in the state file; ``note`` says what the last walk looked at.
    """

    name = "workspace"
    cheap = False

    def __init__(
        self,
        scanner: WorkspaceScanner,
        hints: Iterable[str] = (),
        *,
        find_layout: Callable[[], EditorLayout | None] | None = None,
        watch_editor_folders: bool = False,
    ) -> None:
        """``find_layout`` says where the editor keeps its data (asked before each walk, in a
        worker thread); ``watch_editor_folders`` adds its History and Backups as roots."""
        self.scanner = scanner
        self.find_layout = find_layout
        self.watch_editor_folders = watch_editor_folders
        #: Where the editor keeps its data, as last found (None: no editor data found).
        self.layout: EditorLayout | None = None
        #: Called when the layout found changes (the daemon shows it in ``status``).
        self.on_layout: Callable[[EditorLayout | None], object] | None = None
        self._layout_known = False
        self.hints: list[str] = list(hints)[:MAX_HINTS]
        self.last_stats: ScanStats | None = None
        self.repos: frozenset[str] = frozenset()
        #: The newest change known: what a full walk found, or a newer change seen since.
        self.latest: Activity | None = None

    async def refresh_layout(self) -> None:
        """Look for the editor's data folder again; say so when it was found or moved."""
        if self.find_layout is None:
            return
        layout = await asyncio.to_thread(self.find_layout)
        before, self.layout = self.layout, layout
        if self._layout_known and _folders(layout) == _folders(before):
            return  # the same folders (perhaps found another way now: the editor started)
        self._layout_known = True
        log.info("editor data: %s", describe_layout(layout))
        self.scanner.use_editor_layout(layout, add_roots=self.watch_editor_folders)
        if self.on_layout is not None:
            self.on_layout(layout)

    async def newer_than(self, t: float) -> Activity | None:
        """The first change newer than ``t`` (hot folders first), or None after a full walk."""
        await self.refresh_layout()
        result = await self.scanner.scan(t, first=self.hints)
        self.last_stats = result.stats
        self.repos = self.repos | result.repos  # a new set: the git signal may hold the old
        found = result.newer_than(t)
        if found is not None:
            self._remember(found.source.removeprefix("workspace:"))
        s = result.stats
        if not s.stopped_early and result.newest is not None:
            self.latest = result.newest  # a full walk: the true newest change
        elif found is not None and (self.latest is None or found.at > self.latest.at):
            self.latest = found
        self.note = f"{s.files:,} files in {s.dirs:,} folders, {s.seconds:.1f} s" + (
            ", stopped at the first change" if s.stopped_early else ""
        )
        log.debug(
            "workspace scan: %d folders, %d files in %.3f s%s",
            result.stats.dirs,
            result.stats.files,
            result.stats.seconds,
            "; stopped at the first change" if result.stats.stopped_early else "",
        )
        return found

    def _remember(self, path: str) -> None:
        real_dir = os.path.isdir(path) and not os.path.islink(path)
        folder = path if real_dir else os.path.dirname(path)
        self.hints = [folder, *[h for h in self.hints if h != folder][: MAX_HINTS - 1]]

    async def aclose(self) -> None:
        """Stop the scanner's worker threads."""
        self.scanner.close()
