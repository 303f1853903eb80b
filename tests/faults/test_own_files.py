"""Class 6: the daemon's own files are known by their real path.

A watch root given through a symlink, or own files named through one, must not make the state,
log or notice files count as activity: the walk names entries by the root as given, so the own
files are matched by their given path, their real path, and their real path under each root.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import Daemon, age_tree, wait_deleted
from tests.support.fake_sagemaker import FakeSageMaker

pytestmark = pytest.mark.faults

IDLE = 3.0


@pytest.mark.parametrize("through_link", ["watch-root", "own-files"])
def test_own_files_inside_a_root_seen_through_a_symlink_are_not_activity(
    tmp_path: Path,
    fake: FakeSageMaker,
    metadata: Path,
    launch: Callable[..., Daemon],
    through_link: str,
) -> None:
    """The log (rewritten at every decision), the notice (written before the stop) and the
    state folder all live inside the watched home; the app is idle and must be deleted."""
    home = tmp_path / "home"
    (home / "proj").mkdir(parents=True)
    (home / "proj" / "train.py").write_text("print('hi')\n")
    link = tmp_path / "link-to-home"
    link.symlink_to(home)
    watch, files = (link, home) if through_link == "watch-root" else (home, link)
    age_tree(home, 1.0)
    daemon = launch(
        "--watch", str(watch),
        "--metadata-file", str(metadata),
        "--state-dir", str(files / ".autostop-state"),
        "--notice-file", str(files / "autostop-async-notice.txt"),
        "--idle-time", str(IDLE), "--interval", "0.2", "--warn-before", "1",
        log=files / "daemon.log",
    )  # fmt: skip
    try:
        wait_deleted(fake, IDLE + 30, "the deletion")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the daemon's log:\n{daemon.text()}") from None
    assert (home / "autostop-async-notice.txt").exists()  # the warning was written inside
    text = daemon.text()
    assert "active:" not in text, text
    stop = next(line for line in text.splitlines() if "idle for" in line)
    # The last activity is the start, or the home folder's own time (the daemon created its
    # state folder in it as it started), never one of its files.
    own = ("daemon.log", "autostop-async-notice.txt", ".autostop-state")
    assert not any(name in stop for name in own), stop
