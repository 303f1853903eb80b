"""The benchmark's own tools: the home-shaped workspace and the daemon's per-scan JSON stats."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from autostop_async.changes import WorkspaceScanner
from bench.daemon_stats import read_stats, record_scans
from bench.generate import Workspace
from bench.home import generate_home


def _listing(root: Path) -> list[str]:
    """Every path below ``root`` outside ``.git``, relative and sorted."""
    found = []
    for folder, dirs, names in os.walk(root):
        if ".git" in dirs:
            dirs.remove(".git")
        rel = os.path.relpath(folder, root)
        found += [os.path.join(rel, n) for n in [*dirs, *names]]
    return sorted(found)


def test_home_tree_has_exactly_the_files_asked_and_is_the_same_every_time(tmp_path: Path) -> None:
    generate_home(tmp_path / "a", 3000, random.Random(1))
    generate_home(tmp_path / "b", 3000, random.Random(1))

    a = _listing(tmp_path / "a")
    assert a == _listing(tmp_path / "b")
    files = [p for p in a if (tmp_path / "a" / p).is_file()]
    assert len(files) == 3000
    top = {p.split(os.sep)[0] for p in a}
    assert {"miniconda3", "projects", "data", ".cache", ".local", "notebooks"} <= top
    assert any(p.endswith(os.sep + "node_modules") for p in a)
    assert any(p.endswith(".dist-info") for p in a)
    assert any((tmp_path / "a" / "projects").glob("*/.git/HEAD")), "the projects are repositories"


def test_workspace_names_give_shape_and_size() -> None:
    assert Workspace.parse("100k") == Workspace(100_000, "bench")
    assert Workspace.parse("home-300k") == Workspace(300_000, "home")
    assert Workspace.parse("home-300k").label == "home-300k"
    assert Workspace.parse("1m").label == "1m"
    with pytest.raises(ValueError, match="shape"):
        Workspace.parse("flat-10k")


async def test_each_scan_appends_one_json_line_of_its_stats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(WorkspaceScanner, "scan", WorkspaceScanner.scan)  # undone after the test
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    for name in ("a", "b", "sub/c"):
        (tree / name).touch()
    stats = tmp_path / "scans.jsonl"
    record_scans(stats)
    scanner = WorkspaceScanner([tree])

    await scanner.scan()  # nothing newer than +inf: a full walk
    await scanner.scan(0.0)  # everything is newer than 0: stops at the first change
    scanner.close()

    first, second = read_stats(stats)
    assert (first["files"], first["folders"], first["stopped_early"]) == (3, 2, False)
    assert second["stopped_early"] in (True, False)  # one line per scan, whatever it found
    assert {"at", "seconds", "workers", "skipped"} <= first.keys()


def test_cold_scans_say_why_they_are_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bench.run

    monkeypatch.setattr(bench.run.os, "geteuid", lambda: 1000)
    assert bench.run.drop_caches() == "not root"
    monkeypatch.setattr(bench.run.os, "geteuid", lambda: 0)
    monkeypatch.setattr(bench.run.os, "sync", lambda: None)
    monkeypatch.setattr(bench.run, "DROP_CACHES", tmp_path / "no" / "drop_caches")
    assert "cannot write" in (bench.run.drop_caches() or "")
