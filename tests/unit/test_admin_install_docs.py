"""The README's install instructions for CloudShell: the Python they install satisfies the
package's ``requires-python``, and every command after it uses that Python's venv (CloudShell's
own ``python3`` is 3.9, docs/deploy.md cites the sources)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def cloudshell_block() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Install on SageMaker Studio", 1)[1].split("\n## ", 1)[0]
    after = section.split("In CloudShell", 1)[1]
    block = after.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_the_cloudshell_python_satisfies_requires_python() -> None:
    lines = cloudshell_block()
    installed = re.fullmatch(r"sudo dnf install -y python3\.(\d+)", lines[0])
    assert installed, lines[0]
    minor = int(installed.group(1))
    pyproject = (REPO / "pyproject.toml").read_text()
    needed = re.search(r'requires-python = ">=3\.(\d+)"', pyproject)
    assert needed and minor >= int(needed.group(1))
    assert minor > 9  # the system python3 of Amazon Linux 2023 is 3.9


def test_every_cloudshell_command_uses_the_venv_of_that_python() -> None:
    lines = cloudshell_block()
    minor = re.findall(r"python3\.(\d+)", lines[0])[0]
    assert lines[1].startswith(f"python3.{minor} -m venv ~/autostop-venv && ")
    assert "~/autostop-venv/bin/pip install ." in lines[1]
    assert lines[2].startswith("~/autostop-venv/bin/autostop-async deploy --domain-id ")
    assert not [line for line in lines if re.search(r"(^|\s)(pip|python3?|autostop-async) ", line)]
