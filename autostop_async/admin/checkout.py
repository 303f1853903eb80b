"""The checkout deploy builds from, and pip run on it: finding the checkout, a digest of what
goes into the package's wheel, and ``python -m pip`` as a subprocess (used by the lock's update
and the wheelhouse's build)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from .failures import AdminError, UsageError

__all__ = ["PLATFORMS", "download_args", "find_source", "pip", "sha256_file", "source_digest"]

PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64")
PIP_TIMEOUT = 900
#: What :func:`source_digest` reads of the checkout: what goes into the wheel.
_SOURCE_PARTS = ("pyproject.toml", "autostop_async")


def sha256_file(path: Path) -> str:
    """The file's sha256, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


def source_digest(source: Path) -> str:
    """sha256 of what the package's wheel is built from (``pyproject.toml`` and the package's
    files, not caches): the same source makes the same key."""
    digest = hashlib.sha256()
    for part in _SOURCE_PARTS:
        top = source / part
        paths = [top] if top.is_file() else sorted(top.rglob("*"))
        for path in paths:
            if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            digest.update(str(path.relative_to(source)).encode() + b"\0")
            digest.update(bytes.fromhex(sha256_file(path)))
    return digest.hexdigest()


def pip(args: Sequence[str], what: str) -> None:
    """``python -m pip ARGS``; :class:`AdminError` with pip's last lines when it fails."""
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


def download_args(version: str, dest: Path) -> list[str]:
    """``pip download`` for Python ``version``'s binary wheels on the images' platforms."""
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    return [
        "download",
        "--quiet",
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        version,
        *platforms,
        "--dest",
        str(dest),
    ]
