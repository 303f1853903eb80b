"""A tree deeper than a path may be long (4,096 bytes) is walked and counted.

The kernel refuses a path of more than 4,096 bytes (ENAMETOOLONG), so a walk that opens each
folder by its full path skips everything below that depth: a job writing there would look idle.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from autostop_async.changes import WorkspaceScanner

pytestmark = pytest.mark.faults

#: Folder names of 200 bytes, 30 deep: about 6,000 bytes of path below the root.
NAME_BYTES, DEPTH = 200, 30


def _deep_chain(root: Path, depth: int) -> list[str]:
    """Create ``depth`` nested folders under ``root`` by descriptor; their names, top first."""
    names = [f"{i:03d}" + "d" * (NAME_BYTES - 3) for i in range(depth)]
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in names:
            os.mkdir(name, dir_fd=fd)
            below = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = below
    finally:
        os.close(fd)
    return names


def _write_at_bottom(root: Path, names: list[str], file: str) -> None:
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in names:
            below = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = below
        out = os.open(file, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(out, b"checkpoint\n")
        os.close(out)
    finally:
        os.close(fd)


@pytest.fixture
def deep(tmp_path: Path) -> tuple[Path, list[str]]:
    root = tmp_path / "home"
    root.mkdir()
    names = _deep_chain(root, DEPTH)
    assert len(os.fsencode(os.path.join(root, *names[:-1]))) > 4096  # even the parent is deep
    return root, names


async def test_a_recent_change_below_4096_bytes_of_path_is_found(
    deep: tuple[Path, list[str]],
) -> None:
    root, names = deep
    time.sleep(0.05)  # ctime has jiffy resolution
    t = time.time()
    time.sleep(0.05)
    _write_at_bottom(root, names, "train.ckpt")
    scanner = WorkspaceScanner([root])
    try:
        result = await scanner.scan(t)
    finally:
        scanner.close()
    found = result.newer_than(t)
    assert found is not None, f"nothing newer than t found; {result.stats}"
    where = found.source.removeprefix("workspace:")
    assert where.startswith(os.path.join(root, *names[:-1])), where
    assert result.stats.skipped == 0, result.stats


async def test_a_deep_tree_is_counted_in_full(deep: tuple[Path, list[str]]) -> None:
    root, names = deep
    time.sleep(0.05)  # the file is the newest change (ctime has jiffy resolution)
    _write_at_bottom(root, names, "train.ckpt")
    scanner = WorkspaceScanner([root])
    try:
        result = await scanner.scan()
    finally:
        scanner.close()
    assert result.stats.dirs == DEPTH + 1, result.stats  # the root and every folder below
    assert result.stats.files == 1, result.stats
    assert result.stats.skipped == 0, result.stats
    assert result.newest is not None  # the file, or its folder (changed in the same instant)
    assert result.newest.source.startswith("workspace:" + os.path.join(root, *names))
