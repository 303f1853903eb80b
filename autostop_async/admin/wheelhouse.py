"""The wheelhouse: this package's wheel and every dependency as binary wheels for each Python
the images run (manylinux x86_64), so an app installs with ``pip --no-index`` (no internet
needed: VPC-only domains work).

Its key is a hash of the wheels' names and contents: the same wheelhouse has the same key, and
is uploaded once.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .failures import AdminError, UsageError

__all__ = ["DEFAULT_PYTHONS", "Wheelhouse", "build", "find_source", "open_wheelhouse"]

#: CPython versions of the SageMaker Distribution generations in use (1.x: 3.10; 2.x: 3.11 and
#: 3.12; 3.x: 3.12; newer: 3.13).
DEFAULT_PYTHONS = ("3.10", "3.11", "3.12", "3.13")
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64")
PIP_TIMEOUT = 900


@dataclass(frozen=True)
class Wheelhouse:
    """A folder of wheels and its content key."""

    folder: Path
    files: tuple[Path, ...]
    key: str

    @property
    def size(self) -> int:
        """Bytes in all."""
        return sum(f.stat().st_size for f in self.files)


def open_wheelhouse(folder: Path) -> Wheelhouse:
    """The wheels in ``folder`` and their key; :class:`UsageError` if it holds no wheel of ours."""
    files = tuple(sorted(folder.glob("*.whl")))
    if not any(f.name.startswith("autostop_async-") for f in files):
        raise UsageError(f"wheelhouse {folder} holds no autostop_async-*.whl")
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    return Wheelhouse(folder, files, digest.hexdigest()[:16])


def find_source(given: Path | None = None) -> Path:
    """The checkout of this project: ``given``, else the one holding this package, else the
    current folder; it must have ``pyproject.toml`` and ``lcc/on-start.sh``."""
    here = Path(__file__).resolve().parents[2]
    for folder in [given] if given is not None else [here, Path.cwd()]:
        if (folder / "pyproject.toml").is_file() and (folder / "lcc" / "on-start.sh").is_file():
            return folder
    raise UsageError(
        "cannot find the autostop-async checkout (pyproject.toml and lcc/on-start.sh): run "
        "deploy in the clone, or pass --source DIR"
    )


def _pip(args: Sequence[str], what: str) -> None:
    env = {**os.environ, "SOURCE_DATE_EPOCH": "315532800", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", *args],
            capture_output=True,
            text=True,
            timeout=PIP_TIMEOUT,
            check=False,
            env=env,
        )
    except subprocess.TimeoutExpired:
        raise AdminError(f"{what}: pip took over {PIP_TIMEOUT} s") from None
    if proc.returncode != 0:
        tail = " ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise AdminError(f"{what} failed: {tail}")


def build(source: Path, pythons: Sequence[str], dest: Path | None = None) -> Wheelhouse:
    """Build this package's wheel from ``source`` and download every dependency for each
    Python in ``pythons`` (binary wheels only, manylinux x86_64) into ``dest``."""
    folder = dest if dest is not None else Path(tempfile.mkdtemp(prefix="autostop-wheelhouse-"))
    folder.mkdir(parents=True, exist_ok=True)
    _pip(
        ["wheel", "--quiet", "--no-deps", "--wheel-dir", str(folder), str(source)],
        f"building the autostop-async wheel from {source}",
    )
    wheels = sorted(folder.glob("autostop_async-*.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        raise AdminError(f"building from {source} made no autostop_async-*.whl")
    wheel = wheels[-1]
    for version in pythons:
        platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
        _pip(
            [
                "download",
                "--quiet",
                "--only-binary=:all:",
                "--implementation",
                "cp",
                "--python-version",
                version,
                *platforms,
                "--dest",
                str(folder),
                str(wheel),
            ],
            f"downloading dependency wheels for Python {version}",
        )
    return open_wheelhouse(folder)
