"""Deterministic workspaces for the benchmarks: a home folder as a Code Editor user has it.

``python -m bench.generate 100k`` makes ``bench/.workspaces/100k/`` (once; a marker next to it
records what was made, so a later run reuses it). The same size and seed always give the same
tree: one git repository (``proj``) with committed source, an ignored ``node_modules``, ``.venv``
and ``build``; a wide ``data`` folder; notebooks; a ``.cache``. Files are empty (inodes, no data
blocks), so a million of them cost little disk; only times and names matter to a scan.

A second shape, ``home`` (``python -m bench.generate home-300k``, in ``.workspaces/home-300k``),
is a real home's many small folders: conda's site-packages, several repositories with their
``.git`` and ``node_modules`` or ``.venv``, caches, and a few big data folders (``bench.home``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.home import generate_home
from bench.repos import git

__all__ = ["SIZES", "WORKSPACES", "Area", "Workspace", "ensure_workspace", "parse_size"]

WORKSPACES = Path(__file__).resolve().parent / ".workspaces"
GENERATOR_VERSION = 2
#: The version of the ``home`` shape (``bench.home``): a change there regenerates its trees.
HOME_VERSION = 1
SEED = 20261126
SIZES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}

#: Ignore rules of the benchmark repository (what ``--skip-git-ignored`` prunes).
GITIGNORE = "node_modules/\n.venv/\nbuild/\n__pycache__/\n*.pyc\n.ipynb_checkpoints/\n"


@dataclass(frozen=True)
class Area:
    """One part of the workspace: its share of the files and the shape of its tree."""

    path: str
    share: float
    files_per_dir: tuple[int, int]
    subdirs: tuple[int, int]
    max_depth: int
    names: tuple[str, ...]
    exts: tuple[str, ...]


AREAS = (
    # Source under version control: modest folders, a few levels deep.
    Area(
        "proj/src",
        0.20,
        (3, 14),
        (1, 5),
        7,
        ("model", "train", "util", "io", "test", "api", "core", "data"),
        (".py", ".py", ".py", ".json", ".md", ".yaml"),
    ),
    Area("proj/docs", 0.01, (4, 12), (0, 3), 3, ("guide", "ref", "img"), (".md", ".png")),
    # Ignored by the repository: dependencies and build output, many small files, deep.
    Area(
        "proj/node_modules",
        0.34,
        (2, 16),
        (1, 6),
        9,
        ("lib", "dist", "src", "esm", "cjs", "types", "node_modules", "pkg"),
        (".js", ".js", ".js", ".d.ts", ".json", ".map", ".md"),
    ),
    Area(
        "proj/.venv/lib/python3.11/site-packages",
        0.15,
        (3, 20),
        (1, 5),
        7,
        ("core", "utils", "tests", "_vendor", "io", "__pycache__"),
        (".py", ".py", ".pyc", ".so", ".pyi", ".txt"),
    ),
    Area("proj/build", 0.04, (5, 30), (0, 4), 4, ("lib", "obj", "tmp"), (".o", ".so", ".js")),
    # Outside the repository: a wide data folder, notebooks, caches.
    Area("data", 0.16, (50, 400), (1, 4), 3, ("shard", "part", "split"), (".jpg", ".npy", ".csv")),
    Area("notebooks", 0.02, (2, 10), (0, 3), 3, ("exp", "scratch"), (".ipynb", ".py", ".csv")),
    Area(".cache", 0.08, (5, 40), (1, 6), 5, ("pip", "http", "wheels", "hf"), ("", ".json")),
)


def parse_size(text: str) -> int:
    """``10k``, ``100k``, ``1m`` or a plain number of files."""
    t = text.strip().lower()
    if t in SIZES:
        return SIZES[t]
    mult = {"k": 1_000, "m": 1_000_000}.get(t[-1:], 1)
    return int(float(t.rstrip("km")) * mult)


@dataclass(frozen=True, order=True)
class Workspace:
    """A benchmark workspace: its number of files and its shape (``bench`` or ``home``)."""

    files: int
    shape: str = "bench"

    @classmethod
    def parse(cls, text: str) -> Workspace:
        """``100k`` (the bench shape) or ``home-300k`` (the home shape)."""
        shape, _, size = text.strip().lower().rpartition("-")
        if shape not in ("", "bench", "home"):
            raise ValueError(f"unknown workspace shape {shape!r} in {text!r} (bench or home)")
        return cls(parse_size(size), shape or "bench")

    @property
    def label(self) -> str:
        """Its folder name under ``bench/.workspaces``: ``100k``, ``home-300k``."""
        size = size_label(self.files)
        return size if self.shape == "bench" else f"{self.shape}-{size}"


def size_label(n: int) -> str:
    """The folder name for ``n`` files: ``10k``, ``1m``, ``300k``, or the number."""
    for label, count in SIZES.items():
        if count == n:
            return label
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}m"
    if n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def _capacity(area: Area, depth: int) -> float:
    """About how many files a folder at ``depth`` holds below it at the area's usual shape."""
    files = sum(area.files_per_dir) / 2
    fan = max(1.5, sum(area.subdirs) / 2)
    return files * sum(fan**k for k in range(max(0, area.max_depth - depth) + 1))


def _make_tree(root: Path, area: Area, budget: int, rng: random.Random) -> int:
    """Create ``budget`` empty files under ``root`` in ``area``'s shape; returns folders made."""
    folders = 0
    flags = os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC
    # Explicit stack of (folder, files still to place below it, depth): no recursion limits.
    stack = [(root, budget, 0)]
    serial = 0
    while stack:
        folder, left, depth = stack.pop()
        folder.mkdir(parents=True, exist_ok=True)
        folders += 1
        here = min(left, rng.randint(*area.files_per_dir))
        if depth >= area.max_depth:
            here = left
        for _ in range(here):
            serial += 1
            name = f"{rng.choice(area.names)}_{serial}{rng.choice(area.exts)}"
            os.close(os.open(folder / name, flags, 0o644))
        left -= here
        if left <= 0:
            continue
        # Normal fan-out, widened where the files left would not fit below at normal sizes
        # (the top of a big node_modules holds hundreds of packages): folders keep their size
        # whatever the workspace's size.
        n_sub = max(1, rng.randint(*area.subdirs), math.ceil(left / _capacity(area, depth + 1)))
        # Uneven split, as real trees are: some folders hold most of what is below.
        weights = [rng.random() ** 2 + 0.05 for _ in range(n_sub)]
        total = sum(weights)
        parts = [int(left * w / total) for w in weights]
        parts[0] += left - sum(parts)
        for i, part in enumerate(parts):
            if part > 0:
                sub = folder / f"{rng.choice(area.names)}{i}"
                stack.append((sub, part, depth + 1))
    return folders


def generate(root: Path, n_files: int, seed: int = SEED, shape: str = "bench") -> dict[str, object]:
    """Create the workspace under ``root`` (which must not exist); returns what was made."""
    rng = random.Random(seed)
    started = time.perf_counter()
    root.mkdir(parents=True)
    if shape == "home":
        folders = generate_home(root, n_files, rng)
        return {
            "files": n_files,
            "folders": folders,
            "seed": seed,
            "shape": shape,
            "version": HOME_VERSION,
            "seconds": round(time.perf_counter() - started, 1),
        }
    folders = 0
    placed = 0
    for i, area in enumerate(AREAS):
        budget = n_files - placed if i == len(AREAS) - 1 else round(n_files * area.share)
        folders += _make_tree(root / area.path, area, budget, rng)
        placed += budget
    repo = root / "proj"
    (repo / ".gitignore").write_text(GITIGNORE)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "gc.auto", "0")  # no gc in the background, racing the one below
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial import")
    git(repo, "gc", "-q")
    return {
        "files": placed,
        "folders": folders,
        "seed": seed,
        "version": GENERATOR_VERSION,
        "seconds": round(time.perf_counter() - started, 1),
    }


def ensure_workspace(n_files: int, base: Path = WORKSPACES, shape: str = "bench") -> Path:
    """The workspace of ``n_files`` files, generated on first use and reused after."""
    label = Workspace(n_files, shape).label
    root = base / label
    marker = base / f"{label}.json"
    version = HOME_VERSION if shape == "home" else GENERATOR_VERSION
    want = {"files": n_files, "seed": SEED, "version": version, "shape": shape}
    if marker.exists() and root.is_dir():
        made = {"shape": "bench", **json.loads(marker.read_text())}
        if all(made.get(k) == v for k, v in want.items()):
            return root
    if root.exists():
        shutil.rmtree(root)
    marker.unlink(missing_ok=True)
    print(f"generating {label} workspace ({n_files:,} files) in {root} ...", file=sys.stderr)
    made = generate(root, n_files, shape=shape)
    marker.write_text(json.dumps(made))
    print(f"  done in {made['seconds']} s ({made['folders']:,} folders)", file=sys.stderr)
    return root


def main() -> None:
    """``python -m bench.generate 10k 100k home-300k``: make (or reuse) the named workspaces."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "sizes", nargs="+", help="10k, 100k, 1m or a number of files; home-300k: the home shape"
    )
    for text in parser.parse_args().sizes:
        ws = Workspace.parse(text)
        print(ensure_workspace(ws.files, shape=ws.shape))


if __name__ == "__main__":
    main()
