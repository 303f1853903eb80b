"""Git's records (reached through :mod:`.changes`): a repository's own records as activity,
and the folders its ignore rules exclude.

For each repository the workspace walk came across (a folder holding a ``.git`` folder, or a
``.git`` file for worktrees and submodules), these count as activity:

- the newest entry of the ``HEAD`` reflog (commit, checkout, reset, merge, pull, rebase), at the
  time git wrote in it;
- the index (``git add``, ``git rm``, ``git restore --staged``), at its inode change time;
- local branch refs (``refs/heads``: ``git branch``, ``git branch -f``), at their change times.

``FETCH_HEAD``, remote-tracking refs and ``packed-refs`` do not: an editor's periodic auto-fetch
writes exactly those, and an idle app must not be kept alive by it. (``packed-refs`` is also
rewritten by ``git gc``, which a fetch may start; a branch update always writes a loose ref.)

A check reads a few small files per repository and never starts a ``git`` process: a ``stat`` of
the reflog, the index and ``refs/heads``, and the reflog's last line only when the file changed
(about 30 microseconds per repository, ``bench/``; ``Repo.head.log()`` would parse the whole
reflog every time). gitpython checks and resolves a repository once (``.git`` files, ``commondir``
of worktrees, corrupt or half-cloned repositories) and parses reflog lines.

The index also moves when ``git status`` refreshes the stat data of files changed since the last
write (once after real work in the working tree, never on a repeated ``status``): counted, since
that work was activity anyway.

``IgnoredFolders`` answers, for ``--skip-git-ignored``, which folders of a repository its ignore
rules exclude, with one ``git ls-files`` per repository and scan.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .activity import Activity, newest
from .durations import format_duration
from .errors import RepoError
from .safe_read import open_regular, read_bounded
from .signals.base import OnceLog, SignalBase
from .times import utc_iso

__all__ = ["GitRepo", "GitSignal", "IgnoredFolders", "open_repo"]

log = logging.getLogger("autostop_async")

GIT_DIR = ".git"
#: Bytes read from the end of a reflog to find its last line (doubled until a line fits).
REFLOG_TAIL = 4096
#: A reflog line longer than this is not git's: its end is read, as a damaged line.
MAX_REFLOG_LINE = 1 << 20
#: Seconds one repository's check may take (a hung mount) before its answer is given up; the
#: other repositories are still checked (a healthy one takes microseconds, a slow network
#: folder milliseconds).
REPO_TIMEOUT = 10.0
#: Files of a git folder that gitpython opens when it checks a repository: each must be a
#: regular file (or absent), or the open blocks (a FIFO) or never ends (a device).
GITPYTHON_READS = ("HEAD", "commondir", "gitdir", "config", "config.worktree")
#: A reflog whose change time is this close after its newest entry's time was written by it.
REFLOG_SAME_WRITE = 2.0
#: A ``git ls-files`` for ``--skip-git-ignored`` that takes longer than this is stopped.
IGNORED_TIMEOUT = 300.0


@dataclass
class GitRepo:
    """Where one repository keeps its records, and what was read from its reflog last time.

    ``git_dir`` holds ``HEAD``, its reflog and the index (per worktree); ``common_dir`` holds
    the branch refs (shared by all worktrees of a repository).
    """

    worktree: str
    git_dir: str
    common_dir: str
    _reflog_key: tuple[int, int, int] | None = None
    _reflog_last: tuple[float, str] | None = None

    def records(self) -> list[tuple[float, str]]:
        """(time, what) of each record present: the reflog, the newest branch ref, the index.

        Most telling first: one git command writes several records within milliseconds (a
        commit: the index, the branch ref, the reflog), and the reflog says which command it was.
        Raises OSError when a record exists but cannot be read.
        """
        found: list[tuple[float, str]] = []
        entry = self._last_reflog_entry()
        if entry is not None:
            found.append((entry[0], f"HEAD reflog: {entry[1]}"))
        branch = _newest_loose_ref(os.path.join(self.common_dir, "refs", "heads"))
        if branch is not None:
            found.append((branch[0], f"branch {branch[1]}"))
        index = _ctime(os.path.join(self.git_dir, "index"))
        if index is not None:
            found.append((index, "index"))
        return found

    def activity(self, t: float, now: float) -> Activity | None:
        """Activity newer than ``t`` (clamped to ``now``), or None: the time of the newest record
        that moved, named after the most telling one. Raises OSError like ``records``."""
        return _moved(self.worktree, self.records(), t, now)

    def _last_reflog_entry(self) -> tuple[float, str] | None:
        """(time, action) of the newest ``HEAD`` reflog entry; re-read only when the file moved."""
        path = os.path.join(self.git_dir, "logs", "HEAD")
        try:
            st = os.stat(path)
        except FileNotFoundError:  # no commit yet, or reflogs switched off
            self._reflog_key = self._reflog_last = None
            return None
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        if key != self._reflog_key:
            last = _parse_reflog_line(_last_line(path), st.st_ctime)
            if last is not None and st.st_ctime - last[0] < REFLOG_SAME_WRITE:
                # Reflog times are whole seconds; the file's change time is the same moment,
                # precisely (when git's maintenance rewrote the file later, it is far later).
                # A time after it (a committer date set ahead) is no later than the write: it
                # counts once, as the kernel's time of the write, not at every check till then.
                last = (st.st_ctime, last[1])
            self._reflog_last = last
            self._reflog_key = key
        return self._reflog_last


def _moved(
    worktree: str, records: list[tuple[float, str]], t: float, now: float
) -> Activity | None:
    moved = [r for r in records if r[0] > t]
    if not moved:
        return None
    at = max(r[0] for r in moved)
    return Activity(min(at, now), f"git:{worktree} ({moved[0][1]})")


def _ctime(path: str) -> float | None:
    try:
        return os.stat(path).st_ctime
    except FileNotFoundError:
        return None


def _newest_loose_ref(heads: str) -> tuple[float, str] | None:
    """(ctime, branch) of the most recently written loose branch ref under ``heads``.

    Written by hand: gitpython lists refs but says nothing about when they moved.
    """
    best: tuple[float, str] | None = None
    stack = [heads]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:  # a ref packed or deleted right now
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif best is None or st.st_ctime > best[0]:
                best = (st.st_ctime, os.path.relpath(entry.path, heads))
    return best


def _last_line(path: str) -> bytes:
    """The last non-empty line of a file, reading only its tail (at most MAX_REFLOG_LINE).

    Never blocks: a FIFO or a device in its place is refused (an OSError, see safe_read).
    """
    with os.fdopen(open_regular(path, follow=True), "rb") as f:
        size = f.seek(0, os.SEEK_END)
        tail = REFLOG_TAIL
        while True:
            start = max(0, size - tail)
            f.seek(start)
            lines = f.read(tail).rstrip(b"\n").split(b"\n")
            if len(lines) > 1 or start == 0 or tail >= MAX_REFLOG_LINE:
                return lines[-1]
            tail *= 2


def _parse_reflog_line(line: bytes, fallback_time: float) -> tuple[float, str] | None:
    """(time, action) of a reflog line: ``commit``, ``checkout``, ``reset``, ``pull``, …

    A line gitpython cannot parse (a SHA-256 repository, a damaged line) still counts, at the
    time the reflog was written.
    """
    if not line:
        return None
    from git.refs.log import RefLogEntry

    try:
        entry = RefLogEntry.from_line(line)
        at, message = float(entry.time[0]), entry.message or ""
    except (ValueError, IndexError):
        at = fallback_time
        message = line.split(b"\t", 1)[1].decode(errors="replace") if b"\t" in line else ""
    action = message.split(":", 1)[0].strip() or "update"
    return at, action[:60]


def open_repo(worktree: str) -> GitRepo:
    """Check the repository at ``worktree`` with gitpython and find where its records are.

    Raises RepoError with a reason a person can act on.
    """
    try:
        import git
    except ImportError as exc:  # gitpython missing, or it found no git executable
        raise RepoError(f"gitpython is not usable: {exc}") from None
    _refuse_irregular_records(worktree)
    try:
        repo = git.Repo(worktree)
    except git.NoSuchPathError:
        raise RepoError("it vanished") from None
    except git.InvalidGitRepositoryError:
        raise RepoError("not a valid repository (corrupt or half-cloned .git)") from None
    except (OSError, ValueError, git.GitError) as exc:
        raise RepoError(f"{type(exc).__name__}: {exc}") from None
    try:
        git_dir = os.path.normpath(str(repo.git_dir))
        common_dir = os.path.normpath(str(repo.common_dir))
    finally:
        repo.close()
    return GitRepo(worktree=worktree, git_dir=git_dir, common_dir=common_dir)


def _refuse_irregular_records(worktree: str) -> None:
    """Raise RepoError if a file gitpython would open is a FIFO, a device or a socket.

    ``lstat`` and ``stat`` never block on those; gitpython's ``open`` would wait for a writer.
    """
    dotgit = os.path.join(worktree, GIT_DIR)
    folders = [dotgit]
    try:
        st = os.lstat(dotgit)
        if stat.S_ISREG(st.st_mode):  # a worktree or submodule: "gitdir: <path>"
            text = read_bounded(dotgit, 64 * 1024).data.decode("utf-8", "replace")
            if text.startswith("gitdir: "):
                folders = [os.path.join(worktree, text[8:].strip())]
        common = os.path.join(folders[0], "commondir")
        if os.path.isfile(common):
            target = read_bounded(common, 64 * 1024).data.decode("utf-8", "replace").strip()
            folders.append(os.path.join(folders[0], target))
        for folder in folders:
            for name in GITPYTHON_READS:
                path = os.path.join(folder, name)
                try:
                    mode = os.stat(path).st_mode
                except (FileNotFoundError, NotADirectoryError):
                    continue
                if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                    raise RepoError(f"{path} is not a regular file")
    except FileNotFoundError:
        raise RepoError("it vanished") from None
    except OSError as exc:
        raise RepoError(f"cannot read it: {exc}") from None


class GitSignal(SignalBase):
    """Git's own records in the repositories the workspace walk found, as an activity signal.

    Not ``cheap``: consulted at deadlines, after the walk that finds the repositories (a full
    walk precedes every idle decision). A check costs a few ``stat`` calls per repository.
    ``latest`` is the newest git record of all repositories at the last check, whatever its
    age; ``note`` says how many repositories it read.
    """

    name = "git"
    cheap = False

    def __init__(
        self,
        repos: Callable[[], Iterable[str]],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``repos`` gives the repository folders to look at (``WorkspaceSignal.repos``, a
        frozen set the walk replaces): asked on the event loop at each check, and the folders
        it gives copied, so the walk never changes the list the check is reading."""
        self._repos = repos
        self._clock = clock
        self._open: dict[str, GitRepo] = {}
        #: The repositories that cannot be read, each warned about once.
        self._broken = OnceLog(log)
        #: The repositories that did not answer within REPO_TIMEOUT: since when, and the thread
        #: still reading (or that was).
        self._hung: dict[str, tuple[float, threading.Thread]] = {}
        self._stuck_said = OnceLog(log)

    async def newer_than(self, t: float) -> Activity | None:
        """The newest git record newer than ``t`` in any known repository, or None.

        The repositories are read in a worker thread, each within REPO_TIMEOUT: one that does
        not answer (a hung mount) is given up for this check, and the rest are read by a new
        thread. Its answer is unknown, but bounded: nothing can be written on a mount while it
        hangs, so it is counted as used at the moment it stopped answering (``_hung``), which
        keeps the app at most the idle time from then, whatever it held. While its thread is
        stuck it is not read again; once the thread ends it is, and the moment is forgotten
        only when it answers within the bound.
        """
        repos = sorted(set(self._repos()))
        now = self._clock()
        answers: dict[str, list[tuple[float, str]] | None] = {}
        todo = [r for r in repos if not self._still_stuck(r)]
        while todo:
            stuck = await self._read_batch(todo, answers, t, now)
            if stuck is None:
                break
            todo = todo[todo.index(stuck) + 1 :]
        for worktree in answers:  # answered within the bound (records, or a broken repository)
            if worktree in self._hung:
                del self._hung[worktree]
                if self._stuck_said.forget(worktree):
                    log.info("git repository %s answers again", worktree)
        return self._combine(repos, answers, t, now)

    def _still_stuck(self, worktree: str) -> bool:
        """Whether an earlier read of ``worktree`` is still stuck (then it is not read again)."""
        hung = self._hung.get(worktree)
        return hung is not None and hung[1].is_alive()

    async def _read_batch(
        self,
        repos: list[str],
        answers: dict[str, list[tuple[float, str]] | None],
        t: float,
        now: float,
    ) -> str | None:
        """Read ``repos`` in order in a new thread, filling ``answers``; the repository it got
        stuck on (no answer within REPO_TIMEOUT), or None when all answered."""
        loop = asyncio.get_running_loop()
        progress = asyncio.Event()
        lock = threading.Lock()
        done: list[str] = []  # the repositories read, in order
        given_up = threading.Event()

        def wake() -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                loop.call_soon_threadsafe(progress.set)

        failed: list[BaseException] = []  # what the thread raised, for the caller

        def work() -> None:
            for worktree in repos:
                try:
                    records = self._read(worktree)
                except BaseException as exc:  # handed to the caller: the signal failed
                    failed.append(exc)
                    wake()
                    return
                with lock:
                    if given_up.is_set():
                        return  # the rest is read by another thread
                    answers[worktree] = records
                    done.append(worktree)
                wake()

        thread = threading.Thread(target=work, name="autostop-git", daemon=True)
        thread.start()
        while True:
            if failed:
                raise failed[0]
            with lock:
                if len(done) == len(repos):
                    return None
                count = len(done)
            try:
                await asyncio.wait_for(progress.wait(), REPO_TIMEOUT)
            except asyncio.TimeoutError:
                with lock:
                    if len(done) == count:  # no repository answered within the bound
                        given_up.set()
                        stuck = repos[count]
                        self._mark_stuck(stuck, thread, now)
                        return stuck
            progress.clear()

    def _read(self, worktree: str) -> list[tuple[float, str]] | None:
        """The records of one repository; None when it is gone or broken (warned once)."""
        repo = self._repo(worktree)
        if repo is None:
            return None
        try:
            return repo.records()
        except OSError as exc:
            self._open.pop(worktree, None)
            self._mark_broken(worktree, f"cannot read its records: {exc}")
            return None

    def _mark_stuck(self, worktree: str, thread: threading.Thread, now: float) -> None:
        since = self._hung[worktree][0] if worktree in self._hung else now
        self._hung[worktree] = (since, thread)
        self._stuck_said(
            worktree,
            logging.WARNING,
            "git repository %s does not answer within %s (a hung mount?): counted as used at "
            "%s, when it stopped answering (nothing can be written there while it hangs), so "
            "the app is kept at most the idle time from then; the other repositories still count",
            worktree,
            format_duration(REPO_TIMEOUT),
            utc_iso(since),
        )

    def _combine(
        self,
        repos: list[str],
        answers: dict[str, list[tuple[float, str]] | None],
        t: float,
        now: float,
    ) -> Activity | None:
        found: list[Activity | None] = []
        latest: list[Activity | None] = []
        checked = 0
        for worktree in repos:
            records = answers.get(worktree)
            if records is None:
                hung = None if worktree in answers else self._hung.get(worktree)
                if hung is not None and hung[0] > t:
                    since = utc_iso(hung[0])
                    found.append(Activity(hung[0], f"git:{worktree} (not answering since {since})"))
                continue
            checked += 1
            found.append(_moved(worktree, records, t, now))
            if records:
                at, what = max(records, key=lambda r: r[0])
                latest.append(Activity(min(at, now), f"git:{worktree} ({what})"))
        self.latest = newest(*latest)
        self.note = f"{checked} repositor{'y' if checked == 1 else 'ies'}" + (
            f", {len(self._broken)} unreadable" if self._broken else ""
        )
        not_answering = sum(1 for r in repos if r in self._hung and r not in answers)
        if not_answering:
            self.note += f", {not_answering} not answering"
        return newest(*found)

    def _repo(self, worktree: str) -> GitRepo | None:
        """The opened repository, opening it on first sight; None when gone or broken."""
        repo = self._open.get(worktree)
        if repo is not None:
            if os.path.lexists(os.path.join(worktree, GIT_DIR)):
                return repo
            del self._open[worktree]  # deleted or moved: forget it quietly
            return None
        if not os.path.lexists(os.path.join(worktree, GIT_DIR)):
            self._broken.forget(worktree)
            return None
        try:
            repo = open_repo(worktree)
            repo.records()  # readable only once its records are
        except RepoError as exc:
            self._mark_broken(worktree, str(exc))
            return None
        except OSError as exc:
            self._mark_broken(worktree, f"cannot read its records: {exc}")
            return None
        if self._broken.forget(worktree):
            log.info("git repository %s is readable again", worktree)
        self._open[worktree] = repo
        return repo

    def _mark_broken(self, worktree: str, reason: str) -> None:
        self._broken(worktree, logging.WARNING, "skipping git repository %s: %s", worktree, reason)


class IgnoredFolders:
    """For ``--skip-git-ignored``: the folders a repository's ignore rules exclude.

    One ``git ls-files --others --ignored --exclude-standard --directory`` per repository and scan:
    git's own C walk, which lists an ignored folder once without entering it. gitpython has no
    call for this (``Repo.ignored`` needs the candidate paths, which only a walk would give), and
    its ``git.ls_files()`` would hold the whole output, every ignored file included, in memory;
    this streams it and keeps the folders only. Ignored single files are still looked at.
    A repository git cannot read is warned about once and walked in full.
    """

    def __init__(self, git: str = "git", timeout: float = IGNORED_TIMEOUT) -> None:
        self._git = git
        self._timeout = timeout
        self._warn_once = OnceLog(log)

    def __call__(self, worktree: str) -> list[str]:
        """Absolute paths of the ignored folders of the repository at ``worktree``."""
        cmd = [
            self._git,
            "-C",
            worktree,
            "-c",
            "core.fsmonitor=false",  # never start a repository's fsmonitor hook
            "ls-files",
            "-z",
            "--others",
            "--ignored",
            "--exclude-standard",
            "--directory",
        ]
        env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}
        prefix = worktree.rstrip(os.sep) + os.sep
        folders: list[str] = []
        with tempfile.TemporaryFile() as err:
            try:
                proc = subprocess.Popen(
                    cmd, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, env=env
                )
            except OSError as exc:
                self._warn(worktree, f"cannot run {self._git}: {exc.strerror or exc}")
                return []
            timer = threading.Timer(self._timeout, proc.kill)
            timer.start()
            with proc:  # closes the pipe and reaps git, also on errors
                try:
                    assert proc.stdout is not None
                    rest = b""
                    while chunk := proc.stdout.read(1 << 16):
                        *paths, rest = (rest + chunk).split(b"\0")
                        folders.extend(
                            prefix + os.fsdecode(p[:-1]) for p in paths if p.endswith(b"/")
                        )
                finally:
                    timer.cancel()
            if proc.returncode != 0:
                err.seek(0)
                lines = err.read().decode(errors="replace").strip().splitlines()
                reason = lines[0] if lines else f"exit status {proc.returncode}"
                self._warn(worktree, f"git ls-files failed ({reason}); walking it all")
                return []
        return folders

    def _warn(self, worktree: str, reason: str) -> None:
        self._warn_once(
            worktree, logging.WARNING, "--skip-git-ignored: repository %s: %s", worktree, reason
        )
