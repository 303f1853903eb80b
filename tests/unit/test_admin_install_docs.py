"""The install instructions: the README's for CloudShell (the Python they install satisfies the
package's ``requires-python``, and every command after it uses that Python's venv; CloudShell's
own ``python3`` is 3.9, docs/deploy.md cites the sources), and docs/install-by-hand.md's AWS CLI
calls (operations, flags, queries and JSON checked against botocore's model; only the built-in
LCC is sent) and its chained script (theirs first, its status kept, then the loader)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import botocore.session
import pytest

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


# ------------------------------------------------------------------ docs/install-by-hand.md

_GLOBAL = {"region", "query", "output"}  # the AWS CLI's own options, not the operation's


def _by_hand_commands() -> list[tuple[str, str]]:
    """Each ``aws sagemaker OP …`` of docs/install-by-hand.md's bash blocks: the operation and
    the rest of its (backslash-joined) line."""
    text = (REPO / "docs" / "install-by-hand.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    joined = "\n".join(blocks).replace("\\\n", " ")
    return re.findall(r"aws sagemaker ([a-z-]+)([^\n]*)", joined)


def _pascal(flag: str) -> str:
    return "".join(part.title() for part in flag.split("-"))


def _walk(shape: Any, path: list[str], where: str) -> None:
    for name in path:
        assert name in shape.members, f"{where}: {name} is not a member of {shape.name}"
        shape = shape.members[name]


def test_the_by_hand_commands_are_checked_against_botocores_model() -> None:
    model = botocore.session.get_session().get_service_model("sagemaker")
    commands = _by_hand_commands()
    assert {op for op, _ in commands} >= {
        "create-studio-lifecycle-config",
        "describe-studio-lifecycle-config",
        "update-domain",
        "update-user-profile",
        "delete-studio-lifecycle-config",
    }
    for op, rest in commands:
        operation = model.operation_model(_pascal(op))
        where = f"aws sagemaker {op}"
        for flag in re.findall(r"(?:^|\s)--([a-z-]+)", rest):
            if flag not in _GLOBAL:
                _walk(operation.input_shape, [_pascal(flag)], where)
        query = re.search(r"--query '([A-Za-z.]+)'|--query ([A-Za-z.]+)\b", rest)
        if query:
            _walk(operation.output_shape, (query.group(1) or query.group(2)).split("."), where)
        for flag, value in re.findall(r'--([a-z-]+) "(\{.*\})"', rest):
            doc = json.loads(re.sub(r"\$\([^)]*\)|\$[A-Z_]+", "ARN", value.replace('\\"', '"')))
            # only the built-in LCC is sent: members left out are kept (docs/deploy.md)
            assert doc == {"CodeEditorAppSettings": {"BuiltInLifecycleConfigArn": "ARN"}}, rest
            _walk(operation.input_shape, [_pascal(flag), *_path(doc)], where)


def _path(doc: dict[str, Any]) -> list[str]:
    out = []
    while isinstance(doc, dict):
        (name, doc), *_ = doc.items()
        out.append(name)
    return out


def _chain_block() -> str:
    text = (REPO / "docs" / "install-by-hand.md").read_text()
    section = text.split("## 4. ", 1)[1].split("\n## ", 1)[0]
    block = re.findall(r"```bash\n(.*?)```", section, re.S)[1]
    return block[block.index("{\n") :]  # the script's making, without the aws calls


@pytest.mark.parametrize("status", [0, 3])
def test_the_by_hand_chain_runs_theirs_first_keeps_its_status_then_the_loader(
    tmp_path: Path, status: int
) -> None:
    (tmp_path / "theirs.sh").write_text(f'echo theirs >>"$OUT"\nexit {status}')  # no last \n
    (tmp_path / "loader.sh").write_text('#!/bin/bash\necho loader >>"$OUT"\nexit 7\n')
    subprocess.run(["bash", "-c", _chain_block()], cwd=tmp_path, check=True)
    out = tmp_path / "out.txt"
    env = {**os.environ, "OUT": str(out)}
    ran = subprocess.run(["bash", str(tmp_path / "lcc.sh")], env=env, check=False)
    assert ran.returncode == status
    assert out.read_text() == "theirs\nloader\n"
