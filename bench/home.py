"""A home folder shaped like a real one: many small folders, a few big ones.

The bench workspaces of ``bench.generate`` are one repository with wide, regular areas. A data
scientist's home in a SageMaker space is made of many small folders instead: a conda installation
(site-packages, where every package folder has its ``__pycache__`` and a ``.dist-info``, and the
package cache beside it), several git repositories, each with its ``.git`` and a ``node_modules``
or a ``.venv``, the editor's extensions, pip's HTTP cache (five levels of one-letter folders per
file) and the Hugging Face cache; and a few big data folders (a flat folder of thousands of
samples, class folders, partitions). ``generate_home(root, n_files)`` makes ``n_files`` empty
files in that shape, the same tree for the same size and seed. The repositories are real (``git
init``, one commit of their sources), so their ``.git`` folders are what git makes; they are not
counted in ``n_files``, since neither the scan nor the ``find`` of the benchmarks descends there.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterable
from pathlib import Path

from bench.repos import git

__all__ = ["SHARES", "generate_home"]

#: The parts of the home and their shares of the files, in the order they are made.
SHARES = (
    ("conda", 0.30),  # miniconda3: site-packages, the package cache, conda-meta
    ("projects", 0.28),  # git repositories with node_modules or a .venv
    ("data", 0.18),  # a few big data folders
    ("cache", 0.10),  # ~/.cache: pip's HTTP cache, the Hugging Face hub
    ("editor", 0.08),  # the editor's extensions (each with its own node_modules)
    ("notebooks", 0.06),  # notebooks, scripts and dotfiles
)

_FLAGS = os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC
_WORDS = (
    "core", "util", "io", "data", "model", "api", "net", "text", "plot", "test", "cli", "config",
    "stats", "image", "cache", "http", "json", "yaml", "auth", "graph", "array", "table", "fast",
)  # fmt: skip
_GITIGNORE = "node_modules/\n.venv/\n__pycache__/\n*.pyc\n.ipynb_checkpoints/\nbuild/\n"


class _Maker:
    """Makes folders and empty files until its budget of files is spent."""

    def __init__(self, rng: random.Random, budget: int) -> None:
        self.rng = rng
        self.left = budget
        self.serial = 0

    def files(self, folder: Path, names: Iterable[str]) -> None:
        """Create ``names`` in ``folder`` (made if needed) while the budget lasts."""
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            if self.left <= 0:
                return
            os.close(os.open(folder / name, _FLAGS, 0o644))
            self.left -= 1

    def word(self) -> str:
        """A name part; with a serial number, so that names in one folder never collide."""
        self.serial += 1
        return f"{self.rng.choice(_WORDS)}{self.serial}"

    def count(self, median: float, spread: float = 1.0, cap: int = 5000) -> int:
        """A heavy-tailed size: most things are small, a few are big (log-normal)."""
        return max(1, min(cap, int(self.rng.lognormvariate(0.0, spread) * median)))

    def tree(
        self,
        folder: Path,
        count: int,
        exts: tuple[str, ...],
        per_folder: tuple[int, int] = (2, 12),
        fan_out: tuple[int, int] = (1, 4),
        depth: int = 3,
        leaf: Callable[[Path, list[str]], None] | None = None,
    ) -> None:
        """``count`` files in a small tree below ``folder``; ``leaf`` adds to each folder made."""
        here = count if depth == 0 else min(count, self.rng.randint(*per_folder))
        names = [f"{self.word()}{self.rng.choice(exts)}" for _ in range(here)]
        self.files(folder, names)
        if leaf is not None:
            leaf(folder, names)
        rest = count - here
        if rest <= 0 or self.left <= 0:
            return
        subs = max(1, min(rest, self.rng.randint(*fan_out)))
        cuts = sorted(self.rng.randint(0, rest) for _ in range(subs - 1))
        for a, b in zip([0, *cuts], [*cuts, rest], strict=True):
            if b > a:
                self.tree(folder / self.word(), b - a, exts, per_folder, fan_out, depth - 1, leaf)


def _pycache(m: _Maker) -> Callable[[Path, list[str]], None]:
    """A ``__pycache__`` beside most Python folders, one ``.pyc`` per module."""

    def add(folder: Path, names: list[str]) -> None:
        mods = [n.removesuffix(".py") for n in names if n.endswith(".py")]
        if mods and m.rng.random() < 0.85:
            m.files(folder / "__pycache__", [f"{n}.cpython-311.pyc" for n in mods])

    return add


def _python_package(m: _Maker, site: Path, files: int | None = None) -> str:
    """One installed distribution: its package tree and its ``.dist-info``; returns its name."""
    name = m.word()
    pkg = site / name
    m.files(pkg, ["__init__.py"])
    exts = (".py", ".py", ".py", ".py", ".pyi", ".so", ".json", ".txt")
    m.tree(pkg, files or m.count(12, 1.3), exts, (3, 24), (1, 4), 4, _pycache(m))
    meta = ["METADATA", "RECORD", "WHEEL", "INSTALLER", "top_level.txt"]
    meta += [n for n in ("LICENSE", "REQUESTED", "entry_points.txt") if m.rng.random() < 0.5]
    m.files(site / f"{name}-{m.rng.randint(0, 9)}.{m.rng.randint(0, 30)}.dist-info", meta)
    return name


def _npm_package(m: _Maker, modules: Path, depth: int = 0) -> None:
    """One package in ``node_modules`` (sometimes scoped, sometimes with its own)."""
    name = m.word()
    folder = modules / f"@{m.word()}" / name if m.rng.random() < 0.15 else modules / name
    m.files(folder, ["package.json", "README.md", "LICENSE", "index.js"][: m.rng.randint(1, 4)])
    exts = (".js", ".js", ".js", ".d.ts", ".map", ".json", ".mjs", ".cjs", ".md")
    m.tree(folder / m.rng.choice(("lib", "dist", "src", "build")), m.count(6, 1.3), exts)
    if depth < 2 and m.rng.random() < 0.08:
        for _ in range(m.rng.randint(1, 4)):
            _npm_package(m, folder / "node_modules", depth + 1)


def _spend(m: _Maker, budget: int, make: Callable[[], object]) -> None:
    """Call ``make`` until it has made ``budget`` files (the last call is cut short)."""
    stop = m.left - budget
    saved, m.left = m.left, budget
    while m.left > 0:
        make()
    m.left = saved - budget
    assert m.left == stop


def _conda(m: _Maker, home: Path, budget: int) -> None:
    base = home / "miniconda3"
    site = base / "lib" / "python3.11" / "site-packages"

    def package() -> None:
        files = m.count(12, 1.3)
        name = _python_package(m, site, files)
        build = f"{name}-1.0-py311_{m.rng.randint(0, 9)}"
        m.files(base / "conda-meta", [f"{build}.json"])
        info = ["index.json", "paths.json", "files", "repodata_record.json", "about.json"]
        m.files(base / "pkgs" / build / "info", info)
        if m.rng.random() < 0.6:  # the extracted copy in the package cache
            pkg_site = base / "pkgs" / build / "lib" / "python3.11" / "site-packages"
            m.tree(pkg_site / name, files, (".py", ".py", ".so", ".txt"), (3, 24), (1, 4), 4)

    _spend(m, budget, package)


def _git_commit(repo: Path) -> None:
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "import"]):
        git(repo, *args)


def _projects(m: _Maker, home: Path, budget: int) -> None:
    exts = (".py", ".py", ".ipynb", ".md", ".yaml", ".json", ".ts", ".sh")
    n = max(2, round(budget / 6000))
    weights = [m.rng.random() ** 2 + 0.1 for _ in range(n)]
    sizes = [int(budget * w / sum(weights)) for w in weights]
    sizes[0] += budget - sum(sizes)
    for size in sizes:
        repo = home / "projects" / m.word()
        source = max(1, size // 8)
        m.files(repo, [".gitignore"])
        (repo / ".gitignore").write_text(_GITIGNORE)
        m.files(repo, ["README.md"])
        _spend(m, source, lambda r=repo: m.tree(r / "src", m.count(120, 1.0), exts, (2, 14)))
        if m.rng.random() < 0.5:
            modules = repo / "node_modules"
            _spend(m, size - source - 2, lambda d=modules: _npm_package(m, d))
        else:
            site = repo / ".venv" / "lib" / "python3.11" / "site-packages"
            _spend(m, size - source - 2, lambda s=site: _python_package(m, s))
        _git_commit(repo)


def _data(m: _Maker, home: Path, budget: int) -> None:
    data = home / "data"
    flat = budget // 2
    part = 0
    while flat > 0:  # flat sample folders of up to 20,000 files
        here = min(flat, 20_000)
        m.files(data / f"samples-{part}", [f"{i:06d}.jpg" for i in range(here)])
        flat, part = flat - here, part + 1
    classes = budget * 3 // 10
    n_classes = max(1, classes // 400)
    for c in range(n_classes):
        here = classes // n_classes + (classes % n_classes if c == 0 else 0)
        folder = data / "imagenet-subset" / "train" / f"n{c:08d}"
        m.files(folder, [f"{i}.JPEG" for i in range(here)])
    left = budget - budget // 2 - classes
    day = 0
    while left > 0:  # partitions: a folder per day, a few files each
        here = min(left, m.rng.randint(1, 4))
        folder = data / "events" / f"year={2024 + day // 365}" / f"day={day % 365:03d}"
        m.files(folder, [f"part-{i:05d}.parquet" for i in range(here)])
        left, day = left - here, day + 1


def _cache(m: _Maker, home: Path, budget: int) -> None:
    cache = home / ".cache"

    def pip_entry() -> None:  # pip's HTTP cache: a/b/c/d/e/<hash>
        digest = f"{m.rng.getrandbits(128):032x}"
        m.files(cache.joinpath("pip", "http-v2", *digest[:5]), [digest, f"{digest}.body"])

    def hf_model() -> None:
        model = cache / "huggingface" / "hub" / f"models--{m.word()}--{m.word()}"
        blobs = [f"{m.rng.getrandbits(160):040x}" for _ in range(m.count(8, 0.8, 60))]
        m.files(model / "blobs", blobs)
        m.files(model / "refs", ["main"])
        snap = model / "snapshots" / f"{m.rng.getrandbits(160):040x}"
        m.files(snap, [f"{m.word()}.{m.rng.choice(('json', 'safetensors', 'txt'))}" for _ in blobs])

    _spend(m, budget * 6 // 10, pip_entry)
    _spend(m, budget * 3 // 10, hf_model)
    rest = budget - budget * 6 // 10 - budget * 3 // 10
    tools = ("jedi", "matplotlib", "pre-commit", "mypy")
    exts = ("", ".json", ".pkl", ".txt")
    _spend(m, rest, lambda: m.tree(cache / m.rng.choice(tools) / m.word(), 40, exts))


def _editor(m: _Maker, home: Path, budget: int) -> None:
    extensions = home / ".local" / "share" / "code-server" / "extensions"

    def extension() -> None:
        ext = extensions / f"{m.word()}.{m.word()}-1.{m.rng.randint(0, 90)}.0"
        m.files(ext, ["package.json", "README.md", "CHANGELOG.md", "LICENSE.txt", ".vsixmanifest"])
        m.tree(ext / "out", m.count(30, 1.0), (".js", ".js.map", ".json"), (2, 14))
        for _ in range(m.rng.randint(0, 12)):
            _npm_package(m, ext / "node_modules")

    _spend(m, budget, extension)


def _notebooks(m: _Maker, home: Path, budget: int) -> None:
    dotfiles = [".bashrc", ".profile", ".gitconfig", ".condarc", ".python_history", ".wget-hsts"]
    m.files(home, dotfiles[: min(len(dotfiles), budget)])
    exts = (".ipynb", ".ipynb", ".py", ".csv", ".png", ".md")
    notebooks = home / "notebooks"
    _spend(m, budget - len(dotfiles), lambda: m.tree(notebooks / m.word(), 30, exts, (2, 15)))


_PARTS: dict[str, Callable[[_Maker, Path, int], None]] = {
    "conda": _conda,
    "projects": _projects,
    "data": _data,
    "cache": _cache,
    "editor": _editor,
    "notebooks": _notebooks,
}


def generate_home(root: Path, n_files: int, rng: random.Random) -> int:
    """Make ``n_files`` files under ``root`` in a home's shape; returns the folders made.

    Every part gets its share of the files (the last one what is left), so the count is exact.
    Folders are counted outside ``.git``, as the scan sees them.
    """
    m = _Maker(rng, n_files)
    placed = 0
    for i, (part, share) in enumerate(SHARES):
        budget = n_files - placed if i == len(SHARES) - 1 else round(n_files * share)
        _spend(m, budget, lambda p=part, b=budget: _PARTS[p](m, root, b))
        placed += budget
    folders = 0
    for _folder, dirs, _names in os.walk(root):
        if ".git" in dirs:
            dirs.remove(".git")
        folders += len(dirs)
    return folders + 1
