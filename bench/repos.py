"""Git for the generated workspaces: every commit by the same author at the same date, so the
same seed makes the same repositories."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

#: Who commits, and when: fixed, so that commits do not depend on the machine or the clock.
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
}


def git(repo: Path, *args: str) -> None:
    """Run ``git -C repo ARGS`` quietly (stdout dropped); a failure raises."""
    env = {**os.environ, **GIT_ENV}
    subprocess.run(["git", "-C", str(repo), *args], check=True, env=env, stdout=subprocess.DEVNULL)
