"""The wheelhouse deploy builds installs with ``pip install --no-index --require-hashes`` on this
machine's Python: the package and every locked dependency are in it, as binary wheels for
manylinux x86_64, with the requirements file that pins them; the build leaves nothing behind
but the cached wheelhouse."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

from autostop_async.admin.lock import LOCK_NAME, read_lock
from autostop_async.admin.wheelhouse import build, cache_root, cached, find_source, wheelhouse_key

pytestmark = pytest.mark.skipif(
    platform.machine() != "x86_64" or sys.platform != "linux",
    reason="the wheelhouse holds manylinux x86_64 wheels",
)


def test_built_wheelhouse_installs_with_no_index_and_hashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    source = find_source()
    lock = read_lock(source / LOCK_NAME)
    key = wheelhouse_key(lock, source, [version])
    assert cached(key) is None
    wheelhouse = build(source, lock, [version], key)
    assert sorted(p.name for p in cache_root().iterdir()) == [key]  # no temporary folder left
    names = [f.name for f in wheelhouse.files]
    assert any(n.startswith("autostop_async-") for n in names)
    assert any(n.startswith("aiohttp-") and "manylinux" in n for n in names)
    assert "requirements.txt" in names
    again = cached(key)
    assert again is not None and again.files == wheelhouse.files
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    install = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-index",
            "--find-links",
            str(wheelhouse.folder),
            "--require-hashes",
            "-r",
            str(wheelhouse.folder / "requirements.txt"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PIP_CONFIG_FILE": "/dev/null"},
    )
    assert install.returncode == 0, install.stderr
    help_text = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "autostop_async", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "--idle-time" in help_text
