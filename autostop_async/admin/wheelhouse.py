"""The wheelhouse: this package's wheel and every dependency in the lock file as binary wheels for
each Python the images run (manylinux x86_64), and ``requirements.txt``, so an app installs with
``pip install --no-index --require-hashes`` (no internet needed: VPC-only domains work).

Its key is known before anything is built: a hash of the lock file, the package's source and the
Pythons. A deploy looks for that key in S3, then in the local cache
(``~/.cache/autostop-async/wheelhouses/KEY``), and builds only when neither has it; a build goes
to a temporary folder beside the cache, renamed into place when complete, and removed whatever
happens (a failure, Ctrl-C).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .checkout import download_args, find_source, pip, sha256_file, source_digest
from .failures import AdminError, UsageError
from .lock import DEFAULT_PYTHONS, Lock, wheel_name_version

__all__ = [
    "DEFAULT_PYTHONS",
    "MANIFEST",
    "REQUIREMENTS",
    "Wheelhouse",
    "build",
    "cache_root",
    "cached",
    "check_pythons",
    "download_args",
    "find_source",
    "open_wheelhouse",
    "pip",
    "wheelhouse_key",
]

#: Written last, in the local cache and in S3: a wheelhouse without it is incomplete.
MANIFEST = "autostop-wheelhouse.json"
#: The requirements file with every pin and hash, the app's ``pip install -r``.
REQUIREMENTS = "requirements.txt"


@dataclass(frozen=True)
class Wheelhouse:
    """A folder of wheels (and ``requirements.txt`` when built here) and its key."""

    folder: Path
    files: tuple[Path, ...]
    key: str

    @property
    def size(self) -> int:
        """Bytes in all."""
        return sum(f.stat().st_size for f in self.files)


def open_wheelhouse(folder: Path, key: str | None = None) -> Wheelhouse:
    """The wheels in ``folder`` (and its requirements file) and ``key``, by default a hash of
    their names and contents; :class:`UsageError` if it holds no wheel of ours."""
    files = tuple(sorted([*folder.glob("*.whl"), *folder.glob(REQUIREMENTS)]))
    if not any(f.name.startswith("autostop_async-") for f in files):
        raise UsageError(f"wheelhouse {folder} holds no autostop_async-*.whl")
    if key is None:
        digest = hashlib.sha256()
        for f in files:
            digest.update(f.name.encode() + b"\0" + bytes.fromhex(sha256_file(f)))
        key = digest.hexdigest()[:16]
    return Wheelhouse(folder, files, key)


def wheelhouse_key(lock: Lock, source: Path, pythons: Sequence[str]) -> str:
    """The key of the wheelhouse built from ``source`` with ``lock`` for ``pythons``: 16 hex
    digits, known without building."""
    text = "\0".join([lock.digest, source_digest(source), ",".join(sorted(pythons))])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/autostop-async/wheelhouses`` (``~/.cache/…`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "autostop-async" / "wheelhouses"


def cached(key: str) -> Wheelhouse | None:
    """The complete wheelhouse ``key`` in the local cache (its manifest is written last)."""
    folder = cache_root() / key
    if not (folder / MANIFEST).is_file():
        return None
    try:
        return open_wheelhouse(folder, key)
    except UsageError:
        return None


def _fill(folder: Path, source: Path, lock: Lock, pythons: Sequence[str]) -> None:
    """Build our wheel and download the locked wheels into ``folder``; write the requirements.

    The pip runs wait on the network far more than on the CPU, so they run side by side, each
    into its own folder, merged afterwards (a wheel for several Pythons is the same file)."""
    jobs: list[tuple[list[str], str]] = [
        (
            ["wheel", "--quiet", "--no-deps", "--wheel-dir", str(folder / ".own"), str(source)],
            f"building the autostop-async wheel from {source}",
        )
    ]
    # A pin with one wheel for every Python (pure Python, or abi3) is downloaded once; the
    # others once per Python. Fewer index lookups, which is most of a build's time.
    shared = [p for p in lock.pins if len(p.hashes) == 1 and set(p.pythons) == set(lock.pythons)]
    parts = {pythons[0]: shared} if shared else {}
    for version in pythons:
        rest = [p for p in lock.for_python(version) if p not in shared]
        parts[version] = [*parts.get(version, []), *rest]
    for version, chosen in parts.items():
        if not chosen:
            continue
        listed = folder / f".pins-{version}.txt"
        listed.write_text("\n".join(p.line(lock.pythons, marker=False) for p in chosen) + "\n")
        args = [*download_args(version, folder / f".py{version}"), "--no-deps", "--require-hashes"]
        what = f"downloading the locked wheels for Python {version}"
        jobs.append(([*args, "-r", str(listed)], what))
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        for future in [pool.submit(pip, args, what) for args, what in jobs]:
            future.result()  # the first failure, in order; the others finish or fail alike
    own = sorted((folder / ".own").glob("autostop_async-*.whl"))
    if len(own) != 1:
        raise AdminError(f"building from {source} made {len(own)} autostop_async-*.whl")
    for part in [folder / ".own", *(folder / f".py{v}" for v in pythons)]:
        for wheel in part.glob("*.whl"):
            if not (folder / wheel.name).exists():
                wheel.rename(folder / wheel.name)
        shutil.rmtree(part, ignore_errors=True)
    for listed in folder.glob(".pins-*.txt"):
        listed.unlink()
    _, version = wheel_name_version(own[0].name)
    wheel = folder / own[0].name
    ours = f"autostop-async=={version} \\\n    --hash=sha256:{sha256_file(wheel)}\n"
    (folder / REQUIREMENTS).write_text(ours + lock.requirements())


def check_pythons(lock: Lock, pythons: Sequence[str]) -> None:
    """:class:`UsageError` for a Python the lock file does not cover."""
    missing = [v for v in pythons if v not in lock.pythons]
    if missing:
        raise UsageError(
            f"--python {','.join(missing)}: not in the lock file (it has {' '.join(lock.pythons)});"
            f" run `python -m autostop_async.admin.lock --python {','.join(pythons)}`"
        )


def build(
    source: Path,
    lock: Lock,
    pythons: Sequence[str],
    key: str,
    say: Callable[[str], None] = lambda _: None,
) -> Wheelhouse:
    """Build the wheelhouse ``key`` into the local cache and return it; nothing is left
    behind when the build fails or is interrupted."""
    check_pythons(lock, pythons)
    root = cache_root()
    final = root / key
    try:
        root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{key}.building-", dir=root))
    except OSError as exc:
        raise AdminError(f"cannot write the wheelhouse cache {root}: {exc.strerror}") from None
    try:
        say(f"building wheelhouse {key} for Python {', '.join(pythons)} in {work} …")
        _fill(work, source, lock, pythons)
        files = sorted(f.name for f in work.iterdir())
        (work / MANIFEST).write_text(json.dumps({"key": key, "files": files}))
        if final.exists() and cached(key) is None:  # an incomplete one from an older version
            shutil.rmtree(final, ignore_errors=True)
        try:
            os.rename(work, final)
        except OSError:
            if cached(key) is None:  # not another deploy that finished the same one first
                raise
    except OSError as exc:
        raise AdminError(f"building wheelhouse {key} in {work}: {exc}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    say(f"cached wheelhouse {key} in {final}")
    return open_wheelhouse(final, key)
