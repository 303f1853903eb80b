"""Git awareness: what git does in a repository counts as activity, and what an auto-fetch does not.

Every test drives real repositories with the ``git`` command line in temporary folders.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from autostop_async import changes
from autostop_async.changes import WorkspaceScanner, WorkspaceSignal
from autostop_async.config import Config, load_config
from autostop_async.daemon import Daemon
from autostop_async.errors import ConfigError
from autostop_async.git_records import GitSignal, IgnoredFolders
from autostop_async.signal_set import build_signal_set
from tests.support.doubles import app_started_at

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(cwd: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-c", "protocol.file.allow=always", *args],
        cwd=cwd,
        env=GIT_ENV,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("hello\n")
    git(path, "add", "README.md")
    git(path, "commit", "-q", "-m", "initial")
    return path


def moment() -> float:
    """A time strictly after everything done so far, and strictly before what follows.

    Change times come from the kernel's coarse clock (a few ms); step over one tick each side.
    """
    time.sleep(0.02)
    t = time.time()
    time.sleep(0.02)
    return t


def signal_for(*repos: Path) -> GitSignal:
    return GitSignal(lambda: [str(r) for r in repos])


async def test_a_commit_is_activity_named_after_the_repository(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "proj")
    signal = signal_for(repo)
    t = moment()
    assert await signal.newer_than(t) is None
    (repo / "train.py").write_text("print(1)\n")
    git(repo, "add", "train.py")
    t = moment()  # after the staging: only the commit itself can answer
    git(repo, "commit", "-q", "-m", "add training")
    found = await signal.newer_than(t)
    assert found is not None
    assert found.source == f"git:{repo} (HEAD reflog: commit)"
    assert t < found.at <= time.time()


async def test_staging_is_activity(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "proj")
    (repo / "notes.md").write_text("x\n")
    signal = signal_for(repo)
    t = moment()
    git(repo, "add", "notes.md")
    found = await signal.newer_than(t)
    assert found is not None
    assert found.source == f"git:{repo} (index)"


async def test_checkout_and_branch_creation_are_activity(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "proj")
    signal = signal_for(repo)
    t = moment()
    git(repo, "checkout", "-q", "-b", "feature")
    found = await signal.newer_than(t)
    assert found is not None
    assert found.source == f"git:{repo} (HEAD reflog: checkout)"

    t = moment()
    git(repo, "branch", "experiments/next")  # a branch made without checking it out
    found = await signal.newer_than(t)
    assert found is not None
    assert found.source == f"git:{repo} (branch experiments/next)"


async def test_a_reset_is_activity_even_without_new_files(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "proj")
    git(repo, "commit", "-q", "--allow-empty", "-m", "second")
    signal = signal_for(repo)
    t = moment()
    git(repo, "reset", "-q", "--soft", "HEAD~1")
    found = await signal.newer_than(t)
    assert found is not None
    assert "(HEAD reflog: reset)" in found.source


async def test_a_fetch_is_not_activity(tmp_path: Path) -> None:
    upstream = make_repo(tmp_path / "upstream")
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(upstream), str(remote))
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(remote), str(clone))
    git(upstream, "commit", "-q", "--allow-empty", "-m", "upstream work")
    git(upstream, "push", "-q", str(remote), "main")
    signal = signal_for(clone)
    t = moment()
    before = git(clone, "rev-parse", "origin/main")
    git(clone, "fetch", "-q", "origin")  # what an editor's auto-fetch does
    assert git(clone, "rev-parse", "origin/main") != before  # the fetch did move things
    assert (clone / ".git" / "FETCH_HEAD").stat().st_ctime > t
    assert await signal.newer_than(t) is None


async def test_a_pull_is_activity(tmp_path: Path) -> None:
    upstream = make_repo(tmp_path / "upstream")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(upstream), str(clone))
    git(upstream, "commit", "-q", "--allow-empty", "-m", "upstream work")
    signal = signal_for(clone)
    t = moment()
    git(clone, "pull", "-q", "--ff-only")
    found = await signal.newer_than(t)
    assert found is not None
    assert "(HEAD reflog: pull" in found.source


async def test_a_corrupt_repository_warns_once_and_others_still_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = make_repo(tmp_path / "broken")
    (broken / ".git" / "HEAD").write_text("garbage\n")
    half = tmp_path / "half-cloned"
    (half / ".git").mkdir(parents=True)
    (half / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    good = make_repo(tmp_path / "good")
    signal = signal_for(broken, half, good)
    caplog.set_level(logging.WARNING, logger="autostop_async")
    t = moment()
    git(good, "commit", "-q", "--allow-empty", "-m", "work")
    for _ in range(3):
        found = await signal.newer_than(t)
        assert found is not None and found.source.startswith(f"git:{good} ")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len([w for w in warnings if str(broken) in w]) == 1
    assert len([w for w in warnings if str(half) in w]) == 1


async def test_a_repository_that_vanished_is_forgotten_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    repo = make_repo(tmp_path / "proj")
    signal = signal_for(repo)
    found = await signal.newer_than(0)
    assert found is not None and found.source.startswith(f"git:{repo} (")
    shutil.rmtree(repo)
    assert await signal.newer_than(0) is None
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_worktree_with_a_git_file_is_read(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "proj")
    tree = tmp_path / "proj-feature"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(tree))
    assert (tree / ".git").is_file()
    signal = signal_for(repo, tree)
    t = moment()
    git(tree, "commit", "-q", "--allow-empty", "-m", "in the worktree")
    found = await signal.newer_than(t)
    assert found is not None
    # The worktree's own reflog, or the shared branch ref (equally new): either names it.
    assert found.source in (
        f"git:{tree} (HEAD reflog: commit)",
        f"git:{tree} (branch feature)",
        f"git:{repo} (branch feature)",
    )
    assert signal.note == "2 repositories"


async def test_a_submodule_with_a_git_file_is_read(tmp_path: Path) -> None:
    lib = make_repo(tmp_path / "lib")
    app = make_repo(tmp_path / "app")
    git(app, "submodule", "add", "-q", str(lib), "vendor/lib")
    sub = app / "vendor" / "lib"
    assert (sub / ".git").is_file()
    signal = signal_for(app, sub)
    t = moment()
    git(sub, "commit", "-q", "--allow-empty", "-m", "patch the library")
    found = await signal.newer_than(t)
    assert found is not None
    assert found.source.startswith(f"git:{sub} (")


async def test_the_walk_finds_repositories_for_the_git_signal(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "home" / "proj")
    tree = tmp_path / "home" / "proj-wt"
    git(repo, "worktree", "add", "-q", "-b", "wt", str(tree))
    workspace = WorkspaceSignal(WorkspaceScanner([tmp_path / "home"]))
    signal = GitSignal(lambda: workspace.repos)
    t = moment()
    # A commit of what was staged earlier changes no file of the working tree, only git's
    # records: the walk finds nothing, the git signal finds the commit.
    git(tree, "commit", "-q", "--allow-empty", "-m", "only git moves")
    assert await workspace.newer_than(t) is None
    assert workspace.repos == {str(repo), str(tree)}
    found = await signal.newer_than(t)
    assert found is not None
    assert found.source.startswith(f"git:{tree} (") or found.source == f"git:{repo} (branch wt)"
    await workspace.aclose()


async def test_build_signals_gives_git_the_repositories_of_the_last_walk(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "home" / "proj")
    config = Config(watch=(tmp_path / "home",), state_dir=tmp_path / "state", once=True)
    built = build_signal_set(config)
    walk, git_signal = built.signals[0], built.signals[1]
    assert isinstance(git_signal, GitSignal)
    t = moment()
    git(repo, "commit", "-q", "--allow-empty", "-m", "only git moves")
    assert await git_signal.newer_than(t) is None  # no walk yet: no repository known
    before = built.workspace.repos
    assert await walk.newer_than(time.time() + 60) is None  # a full walk, nothing that new
    assert before == frozenset()  # the walk made a new set; the one git may hold is unchanged
    found = await git_signal.newer_than(t)
    assert found is not None and found.source == f"git:{repo} (HEAD reflog: commit)"
    for sig in built.signals:
        await sig.aclose()


def ignored_project(root: Path) -> Path:
    repo = make_repo(root / "proj")
    (repo / ".gitignore").write_text("node_modules/\nbuild/\n*.log\n")
    for folder in ("node_modules/left-pad/lib", "src/pkg", "build/out"):
        (repo / folder).mkdir(parents=True)
    for f in ("node_modules/left-pad/lib/index.js", "src/pkg/mod.py", "build/out/a.o"):
        (repo / f).write_text("x")
    (repo / "train.log").write_text("epoch 1\n")
    return repo


@pytest.mark.parametrize("huge", [False, True])
@pytest.mark.parametrize("skip", [False, True])
async def test_skip_git_ignored_prunes_only_with_the_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, skip: bool, huge: bool
) -> None:
    if huge:  # the path for folders read in chunks
        monkeypatch.setattr(changes, "BIG_FOLDER_BYTES", 0)
        monkeypatch.setattr(changes, "CHUNK", 2)
    repo = ignored_project(tmp_path)
    t = moment()
    (repo / "node_modules" / "left-pad" / "lib" / "index.js").write_text("npm install")
    scanner = WorkspaceScanner([tmp_path], skip_git_ignored=skip)
    result = await scanner.scan()
    found = (await scanner.scan(t)).newer_than(t)
    scanner.close()
    if skip:
        assert found is None  # node_modules is ignored by the repository: not walked
        assert result.stats.ignored_dirs == 2  # node_modules and build, each seen once
        assert result.stats.files == 4  # README, .gitignore, mod.py, train.log: no .js, no .o
    else:
        assert found is not None and "node_modules" in found.source
        assert result.stats.ignored_dirs == 0
        assert result.stats.files == 6


async def test_skip_git_ignored_still_sees_ignored_single_files(tmp_path: Path) -> None:
    repo = ignored_project(tmp_path)
    t = moment()
    with (repo / "train.log").open("a") as f:  # a job logging into an ignored file
        f.write("epoch 2\n")
    scanner = WorkspaceScanner([tmp_path], skip_git_ignored=True)
    found = (await scanner.scan(t)).newer_than(t)
    scanner.close()
    assert found is not None and found.source == f"workspace:{repo / 'train.log'}"


async def test_skip_git_ignored_walks_all_of_a_repository_git_cannot_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    repo = ignored_project(tmp_path)
    failing = IgnoredFolders(git=str(tmp_path / "no-such-git"))
    scanner = WorkspaceScanner([tmp_path], skip_git_ignored=True, ignored_loader=failing)
    for _ in range(2):
        result = await scanner.scan()
        assert result.stats.files == 6
    scanner.close()
    warnings = [r for r in caplog.records if str(repo) in r.getMessage()]
    assert len(warnings) == 1


def test_ignored_folders_lists_folders_not_files(tmp_path: Path) -> None:
    repo = ignored_project(tmp_path)
    assert sorted(IgnoredFolders()(str(repo))) == [str(repo / "build"), str(repo / "node_modules")]


async def test_a_long_reflog_is_read_from_its_end(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "proj")
    log_file = repo / ".git" / "logs" / "HEAD"
    last = log_file.read_bytes().splitlines()[-1]
    log_file.write_bytes((last + b"\n") * 5000)  # an old, long history
    signal = signal_for(repo)
    t = moment()
    git(repo, "checkout", "-q", "-b", "x")
    found = await signal.newer_than(t)
    assert found is not None and found.source.endswith("(HEAD reflog: checkout)")


def test_skip_git_ignored_is_off_by_default_and_set_by_flag_or_environment() -> None:
    assert load_config([], environ={}).skip_git_ignored is False
    assert load_config(["--skip-git-ignored"], environ={}).skip_git_ignored is True
    env = {"AUTOSTOP_SKIP_GIT_IGNORED": "true"}
    assert load_config([], environ=env).skip_git_ignored is True
    with pytest.raises(ConfigError, match="AUTOSTOP_SKIP_GIT_IGNORED"):
        load_config([], environ={"AUTOSTOP_SKIP_GIT_IGNORED": "maybe"})


@pytest.mark.parametrize("commit", [False, True])
async def test_the_daemon_counts_a_commit_that_changed_no_file(
    tmp_path: Path, commit: bool
) -> None:
    idle_time = 1.0
    repo = make_repo(tmp_path / "home" / "proj")
    time.sleep(idle_time + 0.1)  # age the files: only the last idle_time counts
    started = time.time() - idle_time  # the app started long enough ago to be due a check
    if commit:
        git(repo, "commit", "-q", "--allow-empty", "-m", "only git moves")
    config = Config(
        idle_time=idle_time,
        watch=(tmp_path / "home",),
        state_dir=tmp_path / "state",
        once=True,
        dry_run=True,
    )
    workspace = WorkspaceSignal(WorkspaceScanner(config.watch))
    daemon = Daemon(
        config,
        [workspace, GitSignal(lambda: workspace.repos)],
        None,
        None,
        app_start=app_started_at(started),
    )
    result = await daemon.once()
    if commit:
        assert result.action == "none"
        assert result.last.source == f"git:{repo} (HEAD reflog: commit)"
    else:
        assert result.action == "would-delete"


async def test_the_git_signal_tells_its_newest_record_even_when_older_than_asked(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path / "proj")
    signal = signal_for(repo)
    t = moment()
    assert await signal.newer_than(t) is None
    assert signal.latest is not None
    assert signal.latest.source.startswith(f"git:{repo} (") and signal.latest.at < t
    assert signal.note == "1 repository"
