"""A file anyone can write never puts its content into the log, and a link planted in a shared
folder never makes the daemon (often root) read a file its planter cannot.

The editor's heartbeat file lives in /tmp, where anyone may put a symbolic link under its name.
The kernel refuses to follow a link in a world-writable sticky folder that belongs to neither the
folder's owner nor the reader (``fs.protected_symlinks``), but a container may have that off; the
daemon applies the same rule itself. (Whatever a heartbeat file holds, the log says what is wrong
with it, never what it says: tests/faults/test_safe_logs.py.)
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autostop_async.errors import UnsafeFileError
from autostop_async.safe_read import read_bounded
from tests.integration.conftest import run_cli

pytestmark = pytest.mark.faults

NOBODY = 65534
SECRET = "root-only SECRET-LINE"
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="a link of another user needs root")


def shared_folder(tmp_path: Path) -> Path:
    """A folder like /tmp: world-writable, sticky, owned by this process's user."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    return shared


def root_only_file(tmp_path: Path) -> Path:
    secret = tmp_path / "secret"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o600)
    return secret


def once(tmp_path: Path, heartbeat: Path) -> str:
    """One dry-run check with the editor signal reading ``heartbeat``; the log's text."""
    (tmp_path / "home").mkdir(exist_ok=True)
    log = tmp_path / "daemon.log"
    done = run_cli(
        "--once", "--dry-run", "--watch", str(tmp_path / "home"),
        "--state-dir", str(tmp_path / "state"), "--idle-time", "1h", "--log-file", str(log),
        "--editor", "--editor-idle-url", "http://127.0.0.1:1/api/idle",
        "--editor-idle-file", str(heartbeat), endpoint=None,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return log.read_text() + done.stderr


@as_root
def test_a_link_planted_in_a_shared_folder_is_not_followed_and_nothing_of_it_is_logged(
    tmp_path: Path,
) -> None:
    shared = shared_folder(tmp_path)
    link = shared / ".sagemaker-last-active-timestamp"
    link.symlink_to(root_only_file(tmp_path))
    os.lchown(link, NOBODY, NOBODY)  # planted by another user
    text = once(tmp_path, link)
    assert "SECRET" not in text, text
    said = [line for line in text.splitlines() if "not followed" in line]
    assert len(said) == 1 and str(link) in said[0], text


@as_root
def test_a_link_of_the_folders_owner_or_the_reader_is_followed(tmp_path: Path) -> None:
    shared = shared_folder(tmp_path)
    target = tmp_path / "real"
    target.write_text("2026-01-01T00:00:00Z")
    mine = shared / "mine"
    mine.symlink_to(target)
    assert read_bounded(mine, 100, follow=True).data.startswith(b"2026")
    planted = shared / "planted"
    planted.symlink_to(target)
    os.lchown(planted, NOBODY, NOBODY)
    with pytest.raises(UnsafeFileError, match="not followed"):
        read_bounded(planted, 100, follow=True)
    shared.chmod(0o755)  # not a shared folder: the kernel's rule does not apply either
    assert read_bounded(planted, 100, follow=True).data.startswith(b"2026")


def test_state_and_keepalive_files_that_are_not_text_are_named_never_quoted(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    for name in ("state.json", "keepalive.json"):
        (state / name).write_bytes(b"\xfe\xff" + SECRET.encode())
    text = once(tmp_path, tmp_path / "absent-heartbeat")
    said = [line for line in text.splitlines() if "not UTF-8" in line]
    assert len(said) == 2, text
    assert "SECRET" not in text and "0xfe" not in text and "0xff" not in text, text
