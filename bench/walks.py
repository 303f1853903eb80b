"""The walks the benchmarks compare, and a probe that reports a walk's peak memory.

- ``seed_walk``: what the original script does, ``os.walk`` and an ``os.lstat`` of every file;
- ``aiofiles_walk``: an asyncio walk with one thread hop per file (``aiofiles.os.stat``);
- ``find_walk``: GNU ``find -printf '%C@'``, the practical floor (pruning ``.git`` folders, which
  the project's walk does not descend into either: both look at the same entries);
- ``project_scan``: this project's ``WorkspaceScanner``.

``python -m bench.walks rss METHOD ROOT`` walks ROOT in a fresh interpreter and prints its peak
resident memory (``VmHWM``) as JSON; ``METHOD`` ``none`` only imports, for the baseline.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import aiofiles.os

from autostop_async.changes import ScanResult, WorkspaceScanner

__all__ = ["aiofiles_walk", "find_walk", "peak_rss_kib", "project_scan", "seed_walk"]


def seed_walk(root: str) -> tuple[float, int]:
    """(newest time, files): ``os.walk`` plus ``os.lstat`` on every file, as the original does."""
    newest = 0.0
    files = 0
    for folder, _dirs, names in os.walk(root):
        for name in names:
            try:
                t = os.lstat(os.path.join(folder, name)).st_ctime
            except OSError:
                continue
            files += 1
            newest = max(newest, t)
    return newest, files


async def aiofiles_walk(root: str, hops: int = 64) -> tuple[float, int]:
    """(newest time, files): folders listed in a thread, then one ``aiofiles.os.stat`` per file.

    Up to ``hops`` stats of a folder are in flight at once (the default executor's threads).
    """
    newest = 0.0
    files = 0
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = await aiofiles.os.scandir(folder)
            with entries:
                listed = [(e.path, e.is_dir(follow_symlinks=False)) for e in entries]
        except OSError:
            continue
        stack.extend(p for p, is_dir in listed if is_dir and not p.endswith("/.git"))
        paths = [p for p, is_dir in listed if not is_dir]
        for i in range(0, len(paths), hops):
            results = await asyncio.gather(
                *(aiofiles.os.stat(p, follow_symlinks=False) for p in paths[i : i + hops]),
                return_exceptions=True,
            )
            for st in results:
                if isinstance(st, os.stat_result):
                    files += 1
                    newest = max(newest, st.st_ctime)
    return newest, files


FIND_ARGS = ("-name", ".git", "-prune", "-o", "-printf", "%C@\n")


def find_walk(root: str) -> None:
    """GNU find printing every entry's change time (to /dev/null): the floor for a full walk.

    It prunes ``.git`` folders, as the project's walk does (git's records are the git signal's).
    """
    subprocess.run(["find", root, *FIND_ARGS], stdout=subprocess.DEVNULL, check=True)


async def project_scan(scanner: WorkspaceScanner, threshold: float) -> ScanResult:
    """This project's scan, with nothing newer than ``threshold`` (a full walk)."""
    return await scanner.scan(threshold)


def peak_rss_kib() -> int:
    """This process's peak resident memory (VmHWM) in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def _rss_probe(method: str, root: str) -> dict[str, object]:
    started = time.perf_counter()
    files: int | None = None
    if method == "project":
        scanner = WorkspaceScanner([Path(root)])
        result = asyncio.run(scanner.scan(time.time()))
        scanner.close()
        files = result.stats.files
    elif method == "seed":
        files = seed_walk(root)[1]
    elif method != "none":
        raise SystemExit(f"unknown method {method}")
    return {
        "method": method,
        "files": files,
        "seconds": round(time.perf_counter() - started, 3),
        "vmhwm_kib": peak_rss_kib(),
    }


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "rss":
        raise SystemExit("usage: python -m bench.walks rss project|seed|none ROOT")
    print(json.dumps(_rss_probe(sys.argv[2], sys.argv[3])))
