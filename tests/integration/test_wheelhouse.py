"""The wheelhouse deploy builds installs with ``pip install --no-index`` on this machine's
Python: the package and every dependency are in it, as binary wheels for manylinux x86_64."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

from autostop_async.admin.wheelhouse import build, find_source

pytestmark = pytest.mark.skipif(
    platform.machine() != "x86_64" or sys.platform != "linux",
    reason="the wheelhouse holds manylinux x86_64 wheels",
)


def test_built_wheelhouse_installs_with_no_index(tmp_path: Path) -> None:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    wheelhouse = build(find_source(), [version], tmp_path / "wheelhouse")
    names = [f.name for f in wheelhouse.files]
    assert any(n.startswith("autostop_async-") for n in names)
    assert any(n.startswith("aiohttp-") and "manylinux" in n for n in names)
    assert build(find_source(), [version], tmp_path / "wheelhouse").key == wheelhouse.key
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
            "autostop-async",
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
