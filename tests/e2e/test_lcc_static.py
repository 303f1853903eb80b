"""The LCC and the other shell scripts, without a container: shellcheck, size, settings."""

from __future__ import annotations

import base64
import importlib.metadata
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
LCC = REPO / "lcc" / "on-start.sh"
SCRIPTS = [
    LCC,
    REPO / "docker" / "make-base-image.sh",
    REPO / "docker" / "sim" / "entrypoint.sh",
    REPO / "docker" / "sim" / "fake-editor.sh",
    REPO / "docker" / "install-code-server.sh",
    REPO / "scripts" / "ensure-container-engine.sh",
]
#: Studio's limit on a lifecycle configuration's content (base64).
LCC_LIMIT_CHARS = 16384


def _supervisor() -> str:
    """The supervisor script the LCC writes (a quoted here-document inside it)."""
    match = re.search(r"<<'SUPERVISOR_EOF'\n(.*?)\nSUPERVISOR_EOF\n", LCC.read_text(), re.S)
    assert match, "the supervisor here-document is missing from on-start.sh"
    return match.group(1) + "\n"


def test_shell_scripts_pass_shellcheck(tmp_path: Path) -> None:
    """shellcheck on every script, and on the supervisor the LCC writes."""
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing (scripts/ensure-container-engine.sh installs it)"
    supervisor = tmp_path / "supervise.sh"
    supervisor.write_text(_supervisor())
    proc = subprocess.run(
        [shellcheck, "--shell=bash", *map(str, SCRIPTS), str(supervisor)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_lcc_fits_studio_limit() -> None:
    """The base64 content Studio stores is at most 16,384 characters."""
    assert len(base64.b64encode(LCC.read_bytes())) < LCC_LIMIT_CHARS


def test_lcc_settings_are_at_the_top() -> None:
    """What an admin edits comes first, with the defaults of the original script."""
    head = LCC.read_text().splitlines()[:30]
    assert "IDLE_TIME=3600" in head
    assert "PACKAGE=" in head  # set by deploy: no unpublished index name as default


def _outside_supervisor() -> str:
    """The LCC's own code: what runs before it returns (the supervisor's text left out)."""
    text = LCC.read_text().replace(_supervisor(), "")
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def test_the_lcc_runs_no_install_before_it_returns() -> None:
    """No Python, pip or S3 download runs in the LCC itself: those are the supervisor's, in
    the background, so the LCC returns in seconds whatever the network does."""
    code = _outside_supervisor()
    assert not re.search(r'(^|[;&|(]|\$\()\s*"\$PYTHON"', code, re.M), "the LCC runs Python"
    assert not re.search(r"\bpip\b|\baws s3\b|\bfetch_s3\b", code), "the LCC installs"
    assert re.search(r"setsid nohup .*supervise\.sh.*\n.*</dev/null >>\"\$LOG\" 2>&1 &", code)


def test_the_install_check_imports_every_dependency() -> None:
    """The supervisor trusts an environment only when it imports each of the package's
    dependencies (pyproject.toml), not only when its mark is there."""
    check = re.search(r"^CHECK='import ([^\n]*)", _supervisor(), re.M)
    assert check, "the supervisor has no CHECK of imports"
    imported = {name.strip().split(".")[0] for name in check.group(1).split(",")}
    pyproject = (REPO / "pyproject.toml").read_text()
    block = re.search(r"^dependencies = \[(.*?)\]", pyproject, re.M | re.S)
    assert block, "pyproject.toml has no dependencies list"
    deps = re.findall(r'"([^"]+)"', block.group(1))
    assert deps
    modules = importlib.metadata.packages_distributions()
    for dep in deps:
        dist = re.split(r"[<>=!~ ;\[]", dep, maxsplit=1)[0].lower()
        tops = {m for m, dists in modules.items() if dist in {d.lower() for d in dists}}
        assert tops & imported, f"the CHECK imports none of {dist}'s modules {sorted(tops)}"
    assert "autostop_async" in imported
