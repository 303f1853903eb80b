"""The workspace walk: ctime semantics, early exit, hints, excludes, and bad input."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from autostop_async import changes
from autostop_async.changes import WorkspaceScanner, WorkspaceSignal


def make_tree(root: Path, dirs: int = 5, files: int = 20) -> list[Path]:
    made = []
    for d in range(dirs):
        folder = root / f"d{d}" / "sub"
        folder.mkdir(parents=True)
        for f in range(files):
            p = folder / f"f{f}.py"
            p.write_text("x")
            made.append(p)
    return made


def past(seconds: float) -> float:
    return time.time() - seconds


async def test_full_scan_counts_every_file_and_finds_the_newest(tmp_path: Path) -> None:
    make_tree(tmp_path, dirs=4, files=10)
    newest = tmp_path / "d2" / "sub" / "latest.txt"
    time.sleep(0.01)  # ctime resolution: make the last write strictly newest
    newest.write_text("new")
    result = await WorkspaceScanner([tmp_path]).scan()
    assert result.stats.files == 41
    assert result.newest is not None
    assert result.newest.source == f"workspace:{newest}"
    assert not result.stats.stopped_early


async def test_nothing_newer_than_now_means_no_activity(tmp_path: Path) -> None:
    make_tree(tmp_path)
    result = await WorkspaceScanner([tmp_path]).scan(time.time() + 1)
    assert result.newer_than(time.time() + 1) is None
    assert result.stats.files == 100


async def test_early_exit_stops_before_walking_everything(tmp_path: Path) -> None:
    make_tree(tmp_path, dirs=40, files=50)
    threshold = time.time() - 3600  # everything is newer: the first batch answers
    scanner = WorkspaceScanner([tmp_path], concurrency=1, batch_entries=64)
    result = await scanner.scan(threshold)
    found = result.newer_than(threshold)
    assert found is not None and found.source.startswith(f"workspace:{tmp_path}")
    assert result.stats.stopped_early
    assert result.stats.files < 2000


async def test_future_and_ancient_mtimes_neither_hide_nor_fake_activity(tmp_path: Path) -> None:
    make_tree(tmp_path, dirs=1, files=3)
    before = time.time()
    future = tmp_path / "from-2030.bin"
    future.write_text("x")
    os.utime(future, (1_900_000_000, 1_900_000_000))  # touch -d 2030
    ancient = tmp_path / "from-1990.bin"
    ancient.write_text("x")
    os.utime(ancient, (631_152_000, 631_152_000))  # cp -p of an old file
    result = await WorkspaceScanner([tmp_path]).scan(before - 1)
    # The writes are seen as happening now (ctime), not in 1990 and not in 2030.
    found = result.newer_than(before - 1)
    assert found is not None
    assert before - 1 < found.at <= time.time()


async def test_clock_skew_future_ctime_is_clamped_to_now(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    now = time.time() - 7200  # the daemon's clock is two hours behind the file system
    result = await WorkspaceScanner([tmp_path], clock=lambda: now).scan()
    assert result.newest is not None
    assert result.newest.at == now


async def test_git_folders_are_not_walked_but_repositories_are_noted(tmp_path: Path) -> None:
    repo = tmp_path / "proj"
    (repo / ".git" / "objects").mkdir(parents=True)
    (repo / ".git" / "objects" / "pack").write_text("x" * 100)
    (repo / "main.py").write_text("x")
    result = await WorkspaceScanner([tmp_path]).scan()
    assert result.stats.files == 1
    assert str(repo) in result.repos


async def test_symlink_loops_are_not_followed(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "loop").symlink_to(tmp_path)
    (tmp_path / "a" / "self").symlink_to(tmp_path / "a")
    (tmp_path / "a" / "dangling").symlink_to(tmp_path / "missing")
    result = await WorkspaceScanner([tmp_path]).scan()
    assert result.stats.dirs == 2
    assert result.stats.files == 3  # the links themselves


async def test_excludes_prune_by_name_or_path_and_own_files_never_count(tmp_path: Path) -> None:
    make_tree(tmp_path, dirs=1, files=1)
    old = past(0)
    (tmp_path / "node_modules" / "x").mkdir(parents=True)
    (tmp_path / "node_modules" / "x" / "index.js").write_text("x")
    (tmp_path / "train.log").write_text("x")
    state_dir = tmp_path / ".autostop"
    state_dir.mkdir()
    (state_dir / "state.json").write_text("{}")
    scanner = WorkspaceScanner(
        [tmp_path], exclude=["node_modules", "*.log"], excluded_paths=[state_dir]
    )
    result = await scanner.scan()
    assert result.stats.files == 1
    assert result.newest is not None
    assert "node_modules" not in result.newest.source
    assert ".autostop" not in result.newest.source
    assert result.newest.at >= old - 5


async def test_missing_root_is_skipped_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "f").write_text("x")
    scanner = WorkspaceScanner([tmp_path / "gone", tmp_path / "real"])
    await scanner.scan()
    result = await scanner.scan()
    assert result.stats.files == 1
    warnings = [r for r in caplog.records if "gone" in r.getMessage()]
    assert len(warnings) == 1


@pytest.mark.parametrize("huge", [False, True])
async def test_unreadable_and_vanishing_entries_are_skipped_and_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, huge: bool
) -> None:
    if huge:  # the path for folders read in chunks
        monkeypatch.setattr(changes, "BIG_FOLDER_BYTES", 0)
        monkeypatch.setattr(changes, "CHUNK", 2)
    make_tree(tmp_path, dirs=3, files=4)
    locked = str(tmp_path / "d1" / "sub")
    real_open, real_lstat = os.open, os.lstat

    def fake_open(path: str, flags: int, *args: object, **kwargs: object) -> int:
        if path == locked:  # tests run as root here, so chmod 000 would not lock it
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    def fake_lstat(path: str, *args: object, **kwargs: object) -> os.stat_result:
        if path == "f0.py" and kwargs.get("dir_fd") is not None:
            raise FileNotFoundError(2, "deleted between listing and stat", path)
        return real_lstat(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(changes.os, "open", fake_open)
    monkeypatch.setattr(changes.os, "lstat", fake_lstat)
    result = await WorkspaceScanner([tmp_path]).scan()
    # d1/sub unreadable (1), f0.py vanished in d0/sub and d2/sub (2)
    assert result.stats.skipped == 3
    assert result.stats.files == 6


async def test_signal_looks_first_where_activity_was_found(tmp_path: Path) -> None:
    make_tree(tmp_path, dirs=30, files=30)
    signal = WorkspaceSignal(WorkspaceScanner([tmp_path], concurrency=1, batch_entries=64))
    t = time.time()
    time.sleep(0.01)
    hot = tmp_path / "d17" / "sub" / "f3.py"
    hot.write_text("changed")
    found = await signal.newer_than(t)
    assert found is not None and found.source == f"workspace:{hot}"
    assert signal.hints[0] == str(hot.parent)
    time.sleep(0.01)
    t2 = time.time()
    time.sleep(0.01)
    hot.write_text("changed again")
    found = await signal.newer_than(t2)
    assert found is not None
    assert signal.last_stats is not None
    assert signal.last_stats.files <= 31  # only the hot folder was looked at
    await signal.aclose()


async def test_a_file_deleted_counts_as_activity_through_its_folder(tmp_path: Path) -> None:
    files = make_tree(tmp_path, dirs=2, files=2)
    time.sleep(0.01)
    t = time.time()
    time.sleep(0.01)
    files[0].unlink()
    found = (await WorkspaceScanner([tmp_path]).scan(t)).newer_than(t)
    assert found is not None
    assert found.source == f"workspace:{files[0].parent}"


async def test_a_walk_that_waits_on_the_disk_spreads_over_more_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tree(tmp_path, dirs=30, files=5)  # more entries than one batch takes
    real_listdir = os.listdir

    def slow_listdir(fd: int) -> list[str]:
        time.sleep(0.01)  # a cold network volume: the thread waits, the CPU does not work
        return real_listdir(fd)

    monkeypatch.setattr(changes.os, "listdir", slow_listdir)
    slow = await WorkspaceScanner([tmp_path], concurrency=4, batch_entries=64).scan()
    assert slow.stats.workers > 1
    assert slow.stats.files == 150
    alone = await WorkspaceScanner([tmp_path], concurrency=1, batch_entries=64).scan()
    assert alone.stats.workers == 1
    assert alone.stats.files == 150


async def test_big_folders_are_read_in_chunks_without_losing_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(changes, "CHUNK", 3)
    monkeypatch.setattr(changes, "BIG_FOLDER_BYTES", 0)  # every folder counts as huge
    repo = tmp_path / "proj"
    (repo / ".git").mkdir(parents=True)
    for i in range(10):
        (repo / f"f{i}.py").write_text("x")
    (repo / "pkg").mkdir()
    (repo / "pkg" / "mod.py").write_text("x")
    time.sleep(0.01)
    (repo / "f4.py").write_text("newest")
    result = await WorkspaceScanner([tmp_path]).scan()
    assert result.stats.files == 11
    assert result.stats.dirs == 3
    assert result.repos == {str(repo)}
    assert result.newest is not None and result.newest.source == f"workspace:{repo / 'f4.py'}"


async def test_overlapping_roots_are_walked_once(tmp_path: Path) -> None:
    make_tree(tmp_path, dirs=2, files=5)
    result = await WorkspaceScanner([tmp_path, tmp_path / "d1", tmp_path]).scan()
    assert result.stats.files == 10


async def test_a_folder_swapped_for_a_symlink_is_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "root" / "a").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("x")
    real_open = os.open

    def swap_then_open(path: str, flags: int, *args: object, **kwargs: object) -> int:
        if path.endswith(os.sep + "a") and os.path.isdir(path) and not os.path.islink(path):
            os.rmdir(path)  # between the listing and the open, "a" becomes a symlink
            os.symlink(tmp_path / "outside", path)
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(changes.os, "open", swap_then_open)
    result = await WorkspaceScanner([tmp_path / "root"]).scan()
    assert result.stats.files == 0
    assert result.stats.skipped == 1


async def test_a_full_walk_tells_the_newest_change_even_when_older_than_asked(
    tmp_path: Path,
) -> None:
    make_tree(tmp_path, dirs=3, files=3)
    time.sleep(0.01)
    last = tmp_path / "d1" / "sub" / "f1.py"
    last.write_text("the last edit")
    signal = WorkspaceSignal(WorkspaceScanner([tmp_path]))
    assert await signal.newer_than(time.time() + 1) is None
    assert signal.latest is not None and signal.latest.source == f"workspace:{last}"
    assert signal.note is not None and signal.note.startswith("9 files in 7 folders")
    await signal.aclose()
